//! The one HTTP listener: metrics, the status page, health and readiness,
//! and the evaluator's API (`/api/v1/query`, `/api/v1/rules`,
//! `/api/v1/alerts`, `/api/v1/targets`, JSON from [`crate::api`]) when one
//! is attached.
//!
//! [`serve`] runs the accept loop until its shutdown future resolves, then
//! stops accepting, lets in-flight requests finish within a grace period and
//! returns. Tests run it in-process on a port-0 listener.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sonde_exporter::scrape::ScrapeExecutor;
use sonde_instrument::http::{Negotiation, encode_body, exposition_response, text_response};
use sonde_instrument::{Collector, Format, MetricFamily};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::api::{self, ApiError, RuleFilter};
use crate::evaluator::{Evaluator, now_ms};
use crate::render_thread::{JobLost, RenderThread};
use crate::self_metrics::{ExpositionStats, SelfMetrics};
use crate::status_page::{self, PageInfo};
use crate::version;

/// Request bodies larger than this are refused: only `/api/v1/query`
/// takes a body, so anything beyond a stray few bytes is a misbehaving
/// client.
pub const MAX_REQUEST_BODY: usize = 4096;

/// The largest form body `POST /api/v1/query` accepts.
pub const MAX_QUERY_BODY: usize = 64 * 1024;

/// How the server behaves; [`crate::cli::WebArgs::server_config`] fills it
/// from flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where metrics are served, e.g. `/metrics`.
    pub telemetry_path: String,
    /// Scrapes served at once; more get 503. 0 means no limit.
    pub max_requests: usize,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's (small) body.
    pub body_read_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            telemetry_path: "/metrics".to_owned(),
            max_requests: 40,
            // Below Docker's 10 s between SIGTERM and SIGKILL, so the agent
            // gets to log its own exit.
            shutdown_grace: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything a request handler needs, shared by all connections.
#[derive(Debug)]
pub struct AppState {
    config: ServerConfig,
    /// Every timed collector (node, and containers next); it reports
    /// `sonde_scrape_collector_*` and contains their failures and panics.
    executor: ScrapeExecutor,
    /// The agent's own metrics, which cannot fail.
    self_metrics: SelfMetrics,
    stats: Arc<ExpositionStats>,
    ready: AtomicBool,
    scrape_slots: Option<Arc<Semaphore>>,
    render_thread: RenderThread,
    /// The rule evaluator, when the agent runs one: its metrics join the
    /// self metrics and its API is served.
    evaluator: Option<Arc<Evaluator>>,
}

impl AppState {
    /// State serving `executor`'s collectors plus the agent's self metrics.
    ///
    /// Fails only when the render thread cannot be started.
    pub fn new(config: ServerConfig, executor: ScrapeExecutor) -> std::io::Result<Self> {
        let stats = Arc::new(ExpositionStats::default());
        let self_metrics = SelfMetrics::new(Arc::clone(&stats));
        let scrape_slots = (config.max_requests > 0).then(|| Arc::new(Semaphore::new(config.max_requests)));
        let render_thread = RenderThread::start("sonde-render")?;
        Ok(AppState {
            config,
            executor,
            self_metrics,
            stats,
            ready: AtomicBool::new(false),
            scrape_slots,
            render_thread,
            evaluator: None,
        })
    }

    /// Attaches the rule evaluator: its metrics are served with the self
    /// metrics and `/api/v1/{query,rules,alerts}` answer from it.
    pub fn with_evaluator(mut self, evaluator: Arc<Evaluator>) -> Self {
        self.evaluator = Some(evaluator);
        self
    }

    /// The attached rule evaluator.
    pub fn evaluator(&self) -> Option<&Arc<Evaluator>> {
        self.evaluator.as_ref()
    }

    /// The settings in use.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// What the encoder dropped so far.
    pub fn exposition_stats(&self) -> &ExpositionStats {
        &self.stats
    }

    /// True while the server accepts and serves requests.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Marks the server ready (serving) or not (starting, shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Collects every family and encodes it, gzipped on request. Blocking:
    /// collectors read files, so callers run it off the async threads.
    pub fn render(&self, format: Format, gzip: bool) -> std::io::Result<Vec<u8>> {
        let mut families: Vec<MetricFamily> = Vec::new();
        self.collect_all(&mut families);
        let (body, report) = encode_body(&families, Negotiation { format, gzip })?;
        self.stats.record(&report);
        Ok(body)
    }

    /// Collects every family `/metrics` serves: the collectors, the self
    /// metrics and the evaluator's. Blocking, like [`AppState::render`].
    pub fn collect_all(&self, out: &mut Vec<MetricFamily>) {
        self.executor.collect(out);
        self.self_metrics.collect(out);
        if let Some(evaluator) = &self.evaluator {
            evaluator.collect(out);
        }
    }

    /// Collects every family (as a scrape would, without HTTP) on the
    /// render thread, then runs `then` with them on that thread: how the
    /// evaluator feeds its window store.
    pub async fn collect_then<T, F>(self: &Arc<Self>, then: F) -> Result<T, JobLost>
    where
        T: Send + 'static,
        F: FnOnce(Vec<MetricFamily>) -> T + Send + 'static,
    {
        let state = Arc::clone(self);
        self.render_thread
            .run(move || {
                let mut families = Vec::new();
                state.collect_all(&mut families);
                then(families)
            })
            .await
    }

    /// Answers one request. Never fails: every problem becomes a status.
    pub async fn handle<B>(self: &Arc<Self>, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let route = self.route(request.uri().path());
        if route == Route::NotFound {
            return text_response(StatusCode::NOT_FOUND, "404 page not found\n");
        }
        let takes_post = matches!(route, Route::Query | Route::QueryRange);
        let method = request.method();
        if !(matches!(*method, Method::GET | Method::HEAD) || (takes_post && *method == Method::POST)) {
            let mut response = text_response(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
            let allow = if takes_post { "GET, HEAD, POST" } else { "GET, HEAD" };
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
            return response;
        }
        let (parts, body) = request.into_parts();
        let limit = if takes_post { MAX_QUERY_BODY } else { MAX_REQUEST_BODY };
        let body = match self.read_body(&parts.headers, body, limit).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        match route {
            Route::Query => self.api_query(&parts, &body).await,
            Route::QueryRange => self.api_query_range(&parts, &body).await,
            Route::Rules => self.api_rules(&parts).await,
            Route::Alerts => self.api_alerts().await,
            Route::Targets => self.api_targets().await,
            Route::Telemetry => self.metrics(&parts.headers).await,
            Route::Landing => self.status_page().await,
            Route::Healthy => text_response(StatusCode::OK, "Sonde Agent is Healthy.\n"),
            Route::Ready if self.is_ready() => text_response(StatusCode::OK, "Sonde Agent is Ready.\n"),
            Route::Ready => text_response(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n"),
            Route::NotFound => text_response(StatusCode::NOT_FOUND, "404 page not found\n"),
        }
    }

    fn route(&self, path: &str) -> Route {
        if path == self.config.telemetry_path {
            return Route::Telemetry;
        }
        match path {
            "/" => Route::Landing,
            "/-/healthy" => Route::Healthy,
            "/-/ready" => Route::Ready,
            "/api/v1/query" if self.evaluator.is_some() => Route::Query,
            "/api/v1/query_range" if self.evaluator.is_some() => Route::QueryRange,
            "/api/v1/rules" if self.evaluator.is_some() => Route::Rules,
            "/api/v1/alerts" if self.evaluator.is_some() => Route::Alerts,
            "/api/v1/targets" if self.evaluator.is_some() => Route::Targets,
            _ => Route::NotFound,
        }
    }

    /// Reads a body of at most `limit` bytes (so the connection can be
    /// reused, and for the query form); refuses larger or slow ones.
    async fn read_body<B>(&self, headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Response<Full<Bytes>>>
    where
        B: Body,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let too_large = || {
            let mut response = text_response(StatusCode::PAYLOAD_TOO_LARGE, "413 request body too large\n");
            // The rest of the body is still on the wire; the connection
            // cannot carry another request.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let collect = Limited::new(body, limit).collect();
        match tokio::time::timeout(self.config.body_read_timeout, collect).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(err)) if err.is::<LengthLimitError>() => Err(too_large()),
            Ok(Err(_)) | Err(_) => {
                let mut response = text_response(StatusCode::BAD_REQUEST, "400 could not read request body\n");
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                Err(response)
            }
        }
    }

    async fn metrics(self: &Arc<Self>, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let permit = match &self.scrape_slots {
            None => None,
            Some(slots) => match Arc::clone(slots).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return text_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many scrapes in flight; raise --web.max-requests\n",
                    );
                }
            },
        };
        let negotiation = Negotiation::from_headers(headers);

        let state = Arc::clone(self);
        let rendered = self
            .render_thread
            .run(move || {
                let _permit = permit;
                state.render(negotiation.format, negotiation.gzip)
            })
            .await;

        let body = match rendered {
            Ok(Ok(body)) => body,
            Ok(Err(err)) => {
                tracing::error!(err = %err, "compressing the response failed");
                return text_response(StatusCode::INTERNAL_SERVER_ERROR, "500 internal server error\n");
            }
            Err(err) => {
                // A panic in the encoder (a bug) costs this scrape only.
                tracing::error!(err = %err, "rendering metrics failed");
                return text_response(StatusCode::INTERNAL_SERVER_ERROR, "500 internal server error\n");
            }
        };

        exposition_response(body, negotiation)
    }

    /// `/api/v1/query`: an instant query over the window store.
    async fn api_query(self: &Arc<Self>, parts: &http::request::Parts, body: &Bytes) -> Response<Full<Bytes>> {
        let params = query_params(parts, body);
        // A missing query is the empty one, which the parser refuses as
        // Prometheus' does.
        let query = api::param(&params, "query").unwrap_or_default().to_owned();
        let t_ms = match api::param(&params, "time").filter(|t| !t.is_empty()) {
            None => now_ms(),
            Some(text) => match api::parse_time(text) {
                Ok(t) => t,
                Err(err) => return api_error(&err),
            },
        };
        self.api_answer(move |evaluator| {
            evaluator
                .instant_query(&query, t_ms)
                .map(|(value, annotations)| api::query_success(&value, &annotations, t_ms))
                .map_err(ApiError::from_eval)
        })
        .await
    }

    /// `/api/v1/query_range`: a range query over the window store, with
    /// Prometheus' parameters and limits.
    async fn api_query_range(self: &Arc<Self>, parts: &http::request::Parts, body: &Bytes) -> Response<Full<Bytes>> {
        let params = query_params(parts, body);
        let param = |name: &str| api::param(&params, name).unwrap_or_default().to_owned();
        let (start_ms, end_ms, step_ms) = match api::range_params(&param("start"), &param("end"), &param("step")) {
            Ok(range) => range,
            Err(err) => return api_error(&err),
        };
        let query = param("query");
        self.api_answer(move |evaluator| {
            evaluator
                .range_query(&query, start_ms, end_ms, step_ms)
                .map(|(value, annotations)| api::query_success(&value, &annotations, end_ms))
                .map_err(ApiError::from_eval)
        })
        .await
    }

    /// `/api/v1/rules`: the groups and their rules' state.
    async fn api_rules(self: &Arc<Self>, parts: &http::request::Parts) -> Response<Full<Bytes>> {
        let params = api::form_params(parts.uri.query(), None);
        let filter = match RuleFilter::from_param(api::param(&params, "type")) {
            Ok(filter) => filter,
            Err(err) => return api_error(&err),
        };
        self.api_json(move |evaluator| evaluator.with_groups(|groups| api::rules(groups, filter))).await
    }

    /// `/api/v1/alerts`: every pending and firing alert.
    async fn api_alerts(self: &Arc<Self>) -> Response<Full<Bytes>> {
        self.api_json(|evaluator| evaluator.with_groups(|groups| api::alerts(groups))).await
    }

    /// `/api/v1/targets`: the scrape targets and their last scrape.
    async fn api_targets(self: &Arc<Self>) -> Response<Full<Bytes>> {
        self.api_json(|evaluator| {
            let (interval, timeout) = evaluator.scrape_schedule();
            api::targets(&evaluator.target_statuses(), interval, timeout)
        })
        .await
    }

    /// Builds a JSON body from the evaluator on the render thread, after
    /// any evaluation cycle in progress.
    async fn api_json<F>(self: &Arc<Self>, build: F) -> Response<Full<Bytes>>
    where
        F: FnOnce(&Evaluator) -> String + Send + 'static,
    {
        self.api_answer(move |evaluator| Ok(build(evaluator))).await
    }

    /// [`Self::api_json`] for answers that can be an API error (a query
    /// that does not parse or evaluate).
    async fn api_answer<F>(self: &Arc<Self>, build: F) -> Response<Full<Bytes>>
    where
        F: FnOnce(&Evaluator) -> Result<String, ApiError> + Send + 'static,
    {
        let Some(evaluator) = self.evaluator.clone() else {
            return text_response(StatusCode::NOT_FOUND, "404 page not found\n");
        };
        match self.render_thread.run(move || build(&evaluator)).await {
            Ok(Ok(body)) => json_response(StatusCode::OK, body),
            Ok(Err(err)) => api_error(&err),
            Err(err) => {
                tracing::error!(err = %err, "building an API answer failed");
                api_error(&ApiError { error_type: "internal", message: err.to_string() })
            }
        }
    }

    /// `/`: the status page, built on the render thread (after any
    /// evaluation cycle in progress) when there is an evaluator.
    async fn status_page(self: &Arc<Self>) -> Response<Full<Bytes>> {
        let info = PageInfo {
            version: version::VERSION,
            revision: version::REVISION,
            telemetry_path: self.config.telemetry_path.clone(),
            collectors: self.executor.collector_names().collect(),
        };
        let page = match self.evaluator.clone() {
            None => status_page::render(&info, None),
            Some(evaluator) => match self.render_thread.run(move || status_page::render(&info, Some(&evaluator))).await
            {
                Ok(page) => page,
                Err(err) => {
                    tracing::error!(err = %err, "building the status page failed");
                    return text_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "500 the status page could not be built\n",
                    );
                }
            },
        };
        let mut response = Response::new(Full::new(Bytes::from(page)));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        response
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Telemetry,
    Landing,
    Healthy,
    Ready,
    Query,
    QueryRange,
    Rules,
    Alerts,
    Targets,
    NotFound,
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The parameters of a query: the URL's, and a form body's when the
/// request is a form POST.
fn query_params(parts: &http::request::Parts, body: &Bytes) -> Vec<(String, String)> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let form = (parts.method == Method::POST && is_form).then_some(&body[..]);
    api::form_params(parts.uri.query(), form)
}

fn api_error(err: &ApiError) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, err.to_json())
}

/// Serves `state` on `listener` until `shutdown` resolves, then stops
/// accepting, waits up to the grace period for in-flight requests and
/// returns.
pub async fn serve<F>(listener: TcpListener, state: Arc<AppState>, shutdown: F)
where
    F: Future<Output = ()>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(state.config.header_read_timeout);
    let graceful = GracefulShutdown::new();

    match listener.local_addr() {
        Ok(address) => {
            tracing::info!(address = %address, telemetry_path = %state.config.telemetry_path, "listening");
        }
        Err(err) => tracing::warn!(err = %err, "listening on an unknown address"),
    }
    state.set_ready(true);

    tokio::pin!(shutdown);
    // Accept errors (out of file descriptors, mostly) are retried after a
    // pause; the flag keeps it to one warning per episode.
    let mut accept_failing = false;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(connection) => {
                if std::mem::take(&mut accept_failing) {
                    tracing::info!("accepting connections again");
                }
                connection
            }
            Err(err) => {
                if !std::mem::replace(&mut accept_failing, true) {
                    tracing::warn!(err = %err, "accepting a connection failed");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handler_state = Arc::clone(&state);
        let service = service_fn(move |request| {
            let state = Arc::clone(&handler_state);
            async move { Ok::<_, Infallible>(state.handle(request).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(peer = %peer, err = %err, "connection ended with an error");
            }
        });
    }

    // Closed before readiness drops, so anyone who sees "not ready" also
    // sees new connections refused.
    drop(listener);
    state.set_ready(false);
    let grace = state.config.shutdown_grace;
    tracing::info!(
        connections = graceful.count() as u64,
        grace_period_seconds = grace.as_secs_f64(),
        "shutting down: stopped accepting, finishing in-flight requests"
    );
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!(
            grace_period_seconds = grace.as_secs_f64(),
            "grace period over; abandoning requests still in flight"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;

    fn state() -> Arc<AppState> {
        Arc::new(AppState::new(ServerConfig::default(), ScrapeExecutor::new()).unwrap())
    }

    fn get(path: &str) -> Request<Empty<Bytes>> {
        Request::get(path).body(Empty::new()).unwrap()
    }

    #[tokio::test]
    async fn ready_follows_the_serving_state() {
        let state = state();
        assert_eq!(state.handle(get("/-/ready")).await.status(), StatusCode::SERVICE_UNAVAILABLE);
        state.set_ready(true);
        assert_eq!(state.handle(get("/-/ready")).await.status(), StatusCode::OK);
        state.set_ready(false);
        assert_eq!(state.handle(get("/-/ready")).await.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(state.handle(get("/-/healthy")).await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_paths_and_methods() {
        let state = state();
        assert_eq!(state.handle(get("/nope")).await.status(), StatusCode::NOT_FOUND);
        let post = Request::post("/metrics").body(Empty::<Bytes>::new()).unwrap();
        let response = state.handle(post).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let state = state();
        let request =
            Request::get("/-/healthy").body(Full::new(Bytes::from(vec![b'x'; MAX_REQUEST_BODY + 1]))).unwrap();
        assert_eq!(state.handle(request).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let request = Request::get("/-/healthy").body(Full::new(Bytes::from_static(b"small"))).unwrap();
        assert_eq!(state.handle(request).await.status(), StatusCode::OK);
    }

    fn with_evaluator() -> Arc<AppState> {
        let dir = std::env::temp_dir().join("sonde-server-test-unused");
        let config = crate::evaluator::EvaluatorConfig { storage_path: dir, ..Default::default() };
        let evaluator = Arc::new(Evaluator::new(config, None));
        Arc::new(AppState::new(ServerConfig::default(), ScrapeExecutor::new()).unwrap().with_evaluator(evaluator))
    }

    #[tokio::test]
    async fn the_api_needs_an_evaluator_and_only_query_takes_post() {
        assert_eq!(state().handle(get("/api/v1/rules")).await.status(), StatusCode::NOT_FOUND);
        let state = with_evaluator();
        let response = state.handle(get("/api/v1/rules")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"status":"success","data":{"groups":[]}}"#);
        let post = Request::post("/api/v1/alerts").body(Empty::<Bytes>::new()).unwrap();
        let response = state.handle(post).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
        let post = Request::post("/api/v1/query")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from_static(b"query=time()&time=1.5")))
            .unwrap();
        let response = state.handle(post).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"1.5"]}}"#);
        let response = state.handle(get("/api/v1/query?query=rate(")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
