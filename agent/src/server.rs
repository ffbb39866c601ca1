//! The agent's routes on the exporter's server: the evaluator's API
//! (`/api/v1/query`, `/api/v1/query_range`, `/api/v1/rules`,
//! `/api/v1/alerts`, `/api/v1/targets`, JSON from [`crate::api`]) and the
//! status page at `/`, over the evaluator's [`Views`].
//!
//! Every answer is built on the agent's query thread, never on the
//! exporter's render thread: a slow query cannot delay a scrape. A query
//! whose client has gone away before its turn is not run.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use sonde_exporter::run::Reload;
use sonde_exporter::server::landing::PageInfo;
use sonde_exporter::server::{Extension, Methods, WorkThread, html_response};
use sonde_instrument::http::text_response;
use sonde_instrument::{Collector, MetricFamily};
use tokio::sync::Semaphore;

use crate::api::{self, ApiError, ErrorKind, RuleFilter};
use crate::evaluator::{Evaluator, now_ms};
use crate::signals::{SignalsApi, intake};
use crate::status_page;
use crate::views::Views;

/// What a query through the API may take (`--query.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// How long the client waits before a 503 `timeout`.
    pub timeout: Duration,
    /// Queries admitted at once, running or waiting; more get a 503.
    pub max_concurrency: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { timeout: Duration::from_secs(30), max_concurrency: 20 }
    }
}

/// The agent's routes and the metrics of its evaluator.
pub struct AgentRoutes {
    views: Views,
    /// `POST /-/reload`, when `--web.enable-lifecycle` is given.
    reload: Option<Reload>,
    limits: QueryLimits,
    /// One permit per admitted query.
    query_slots: Arc<Semaphore>,
    /// The evaluator's own metrics, served on `/metrics`.
    metrics: Arc<dyn Collector + Send + Sync>,
    page: PageInfo,
    /// Where answers are built: one thread, so one malloc arena.
    queries: WorkThread,
    /// The intake and the scaler's audit log.
    signals: Option<Arc<SignalsApi>>,
}

impl std::fmt::Debug for AgentRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRoutes").finish_non_exhaustive()
    }
}

impl AgentRoutes {
    /// Routes over `views`, adding `metrics` to `/metrics`; `page` is what
    /// the status page says about the program. Fails only when the query
    /// thread cannot be started.
    pub fn new(views: Views, metrics: Arc<dyn Collector + Send + Sync>, page: PageInfo) -> std::io::Result<Self> {
        let limits = QueryLimits::default();
        let query_slots = Arc::new(Semaphore::new(limits.max_concurrency));
        Ok(AgentRoutes {
            views,
            reload: None,
            limits,
            query_slots,
            metrics,
            page,
            queries: WorkThread::start("sonde-query")?,
            signals: None,
        })
    }

    /// The same routes with `POST /api/v2/alerts` and `GET /api/v1/scaling`.
    pub fn with_signals(mut self, signals: Arc<SignalsApi>) -> Self {
        self.signals = Some(signals);
        self
    }

    /// The same routes with `POST /-/reload` calling `reload`.
    pub fn with_reload(mut self, reload: Reload) -> Self {
        self.reload = Some(reload);
        self
    }

    /// The same routes with other query limits.
    pub fn with_limits(mut self, limits: QueryLimits) -> Self {
        self.query_slots = Arc::new(Semaphore::new(limits.max_concurrency.max(1)));
        self.limits = limits;
        self
    }

    /// Routes over every view of `evaluator`, with its metrics.
    pub fn for_evaluator(evaluator: &Arc<Evaluator>, page: PageInfo) -> std::io::Result<Self> {
        Self::new(Views::of(Arc::clone(evaluator)), Arc::clone(evaluator) as _, page)
    }

    async fn answer(self: Arc<Self>, request: Request<Bytes>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        match parts.uri.path() {
            "/api/v1/query" => self.api_query(&parts, &body).await,
            "/api/v1/query_range" => self.api_query_range(&parts, &body).await,
            "/api/v1/rules" => self.api_rules(&parts).await,
            "/api/v1/alerts" => self.api_json(|views| views.groups(|groups| api::alerts(groups))).await,
            "/api/v1/targets" => {
                self.api_json(|views| {
                    let (interval, timeout) = views.targets.scrape_schedule();
                    api::targets(&views.targets.target_statuses(), interval, timeout)
                })
                .await
            }
            "/" => self.status_page().await,
            "/-/reload" => self.reload().await,
            "/api/v2/alerts" => match (&self.signals, &parts.method) {
                (Some(signals), &Method::POST) => {
                    let (status, message) = signals.intake(&parts.headers, &body);
                    text_response(status, message)
                }
                (Some(_), _) => text_response(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n"),
                (None, _) => text_response(StatusCode::NOT_FOUND, "404 page not found\n"),
            },
            "/api/v1/scaling" => match &self.signals {
                Some(signals) => json_response(StatusCode::OK, api::scaling(&signals.decisions())),
                None => text_response(StatusCode::NOT_FOUND, "404 page not found\n"),
            },
            _ => text_response(StatusCode::NOT_FOUND, "404 page not found\n"),
        }
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
        self.api_query_answer(move |views| {
            views
                .queries
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
        self.api_query_answer(move |views| {
            views
                .queries
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
        self.api_json(move |views| views.groups(|groups| api::rules(groups, filter))).await
    }

    /// Builds a JSON body from the views on the query thread.
    async fn api_json<F>(self: &Arc<Self>, build: F) -> Response<Full<Bytes>>
    where
        F: FnOnce(&Views) -> String + Send + 'static,
    {
        self.api_answer(move |views| Ok(build(views))).await
    }

    /// [`Self::api_json`] for answers that can be an API error (a query
    /// that does not parse or evaluate).
    async fn api_answer<F>(self: &Arc<Self>, build: F) -> Response<Full<Bytes>>
    where
        F: FnOnce(&Views) -> Result<String, ApiError> + Send + 'static,
    {
        let views = self.views.clone();
        match self.queries.run(move || build(&views)).await {
            Ok(Ok(body)) => json_response(StatusCode::OK, body),
            Ok(Err(err)) => api_error(&err),
            Err(err) => {
                tracing::error!(err = %err, "building an API answer failed");
                api_error(&ApiError::new(ErrorKind::Internal, err.to_string()))
            }
        }
    }

    /// [`Self::api_answer`] for a query: admitted only while fewer than
    /// `max_concurrency` are, answered within `timeout` (a 503 otherwise,
    /// as Prometheus answers). A query still waiting for the thread when
    /// its time is up is never run; one already running finishes on the
    /// thread, and its answer is dropped.
    async fn api_query_answer<F>(self: &Arc<Self>, build: F) -> Response<Full<Bytes>>
    where
        F: FnOnce(&Views) -> Result<String, ApiError> + Send + 'static,
    {
        let Ok(_slot) = Arc::clone(&self.query_slots).try_acquire_owned() else {
            let message = "too many queries in flight; raise --query.max-concurrency";
            return api_error(&ApiError::new(ErrorKind::Unavailable, message));
        };
        match tokio::time::timeout(self.limits.timeout, self.api_answer(build)).await {
            Ok(response) => response,
            Err(_) => api_error(&ApiError::new(ErrorKind::Timeout, "query timed out in expression evaluation")),
        }
    }

    /// `POST /-/reload`: the rule files, loaded again on a blocking thread;
    /// Prometheus' answers (403 when the lifecycle API is off, 500 with the
    /// error when a file does not load).
    async fn reload(&self) -> Response<Full<Bytes>> {
        let Some(reload) = self.reload.clone() else {
            return text_response(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n");
        };
        tracing::info!("reload requested over HTTP");
        match tokio::task::spawn_blocking(move || reload()).await {
            Ok(Ok(())) => text_response(StatusCode::OK, ""),
            Ok(Err(err)) => {
                tracing::error!(err = %err, "reload failed; the previous configuration stays");
                text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {err}\n"))
            }
            Err(err) => text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {err}\n")),
        }
    }

    /// `/`: the status page, built on the query thread.
    async fn status_page(self: &Arc<Self>) -> Response<Full<Bytes>> {
        let (views, page) = (self.views.clone(), self.page.clone());
        let decisions = self.signals.as_ref().map(|signals| signals.decisions()).unwrap_or_default();
        match self.queries.run(move || status_page::render(&page, &views, &decisions)).await {
            Ok(page) => html_response(page),
            Err(err) => {
                tracing::error!(err = %err, "building the status page failed");
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "500 the status page could not be built\n")
            }
        }
    }
}

impl Extension for AgentRoutes {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        self.metrics.collect(out);
    }

    fn route(&self, path: &str) -> Option<Methods> {
        match path {
            "/api/v1/query" | "/api/v1/query_range" => Some(Methods::GetAndPost),
            "/api/v1/rules" | "/api/v1/alerts" | "/api/v1/targets" | "/" => Some(Methods::Get),
            "/-/reload" => Some(Methods::Post),
            "/api/v2/alerts" if self.signals.is_some() => Some(Methods::Post),
            "/api/v1/scaling" if self.signals.is_some() => Some(Methods::Get),
            _ => None,
        }
    }

    fn body_limit(&self, path: &str) -> usize {
        match path {
            "/api/v2/alerts" => intake::MAX_BODY,
            _ => sonde_exporter::server::MAX_QUERY_BODY,
        }
    }

    fn handle(self: Arc<Self>, request: Request<Bytes>) -> BoxFuture<'static, Response<Full<Bytes>>> {
        self.answer(request).boxed()
    }

    fn ready(&self) -> Result<(), String> {
        self.views.progress.stuck().map_or(Ok(()), Err)
    }
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
    json_response(err.kind.status(), err.to_json())
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt as _, Empty};
    use sonde_exporter::scrape::ScrapeExecutor;
    use sonde_exporter::server::{AppState, ServerConfig};

    use super::*;
    use crate::evaluator::EvaluatorConfig;
    use sonde_rules::LogNotifier;

    fn get(path: &str) -> Request<Empty<Bytes>> {
        Request::get(path).body(Empty::new()).unwrap()
    }

    fn plain() -> Arc<AppState> {
        Arc::new(AppState::new(ServerConfig::default(), ScrapeExecutor::new()).unwrap())
    }

    fn with_routes() -> Arc<AppState> {
        let dir = std::env::temp_dir().join("sonde-server-test-unused");
        let config = EvaluatorConfig { storage_path: dir, ..Default::default() };
        let evaluator = Arc::new(Evaluator::new(config, None, Arc::new(LogNotifier::new())));
        let state = AppState::new(ServerConfig::default(), ScrapeExecutor::new()).unwrap();
        let routes = AgentRoutes::for_evaluator(&evaluator, state.page_info()).unwrap();
        Arc::new(state.with_extension(Arc::new(routes)))
    }

    #[tokio::test]
    async fn the_api_needs_the_agent_and_only_query_takes_post() {
        assert_eq!(plain().handle(get("/api/v1/rules")).await.status(), StatusCode::NOT_FOUND);
        let state = with_routes();
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

    #[tokio::test]
    async fn the_status_page_is_the_agents() {
        let plain = plain().handle(get("/")).await.into_body().collect().await.unwrap().to_bytes();
        assert!(!String::from_utf8_lossy(&plain).contains("Targets"));
        let agent = with_routes().handle(get("/")).await.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&agent).contains("<h2>Targets (0)</h2>"));
    }

    /// Queries that wait in the engine until the test releases them: a
    /// query slower than any limit, on demand.
    struct BlockingQueries {
        entered: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
        release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl crate::views::Queries for BlockingQueries {
        fn instant_query(
            &self,
            _text: &str,
            _t_ms: i64,
        ) -> Result<(sonde_promql::Value, sonde_promql::Annotations), sonde_promql::EvalError> {
            let _ = self.entered.lock().unwrap().send(());
            let _ = self.release.lock().unwrap().recv();
            Ok((sonde_promql::Value::Scalar(1.0), sonde_promql::Annotations::default()))
        }

        fn range_query(
            &self,
            text: &str,
            start_ms: i64,
            _end_ms: i64,
            _step_ms: i64,
        ) -> Result<(sonde_promql::Value, sonde_promql::Annotations), sonde_promql::EvalError> {
            self.instant_query(text, start_ms)
        }
    }

    fn blocking(limits: QueryLimits) -> (Arc<AppState>, std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
        let dir = std::env::temp_dir().join("sonde-server-test-unused");
        let config = EvaluatorConfig { storage_path: dir, ..Default::default() };
        let evaluator = Arc::new(Evaluator::new(config, None, Arc::new(LogNotifier::new())));
        let (entered, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release) = std::sync::mpsc::channel();
        let queries = Arc::new(BlockingQueries {
            entered: std::sync::Mutex::new(entered),
            release: std::sync::Mutex::new(release),
        });
        let mut views = Views::of(Arc::clone(&evaluator));
        views.queries = queries;
        let state = AppState::new(ServerConfig::default(), ScrapeExecutor::new()).unwrap();
        let routes = AgentRoutes::new(views, evaluator, state.page_info()).unwrap().with_limits(limits);
        (Arc::new(state.with_extension(Arc::new(routes))), entered_rx, release_tx)
    }

    async fn json_error(response: Response<Full<Bytes>>) -> (StatusCode, serde_json::Value) {
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queries_past_max_concurrency_get_a_503() {
        let (state, entered, release) =
            blocking(QueryLimits { timeout: Duration::from_secs(3600), max_concurrency: 1 });
        let first = tokio::spawn({
            let state = Arc::clone(&state);
            async move { state.handle(get("/api/v1/query?query=up")).await }
        });
        let entered = tokio::task::spawn_blocking(move || {
            entered.recv().unwrap();
            entered
        })
        .await
        .unwrap();
        let (status, json) =
            json_error(state.handle(get("/api/v1/query_range?query=up&start=0&end=1&step=1")).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["errorType"], "unavailable");
        assert!(json["error"].as_str().unwrap().contains("--query.max-concurrency"), "{json}");
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().status(), StatusCode::OK);
        // Its slot is free again.
        let next = tokio::spawn({
            let state = Arc::clone(&state);
            async move { state.handle(get("/api/v1/query?query=up")).await }
        });
        tokio::task::spawn_blocking(move || entered.recv().unwrap()).await.unwrap();
        release.send(()).unwrap();
        assert_eq!(next.await.unwrap().status(), StatusCode::OK);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_past_its_timeout_gets_a_503_timeout() {
        let (state, entered, release) =
            blocking(QueryLimits { timeout: Duration::from_millis(50), max_concurrency: 5 });
        let (status, json) = json_error(state.handle(get("/api/v1/query?query=up")).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["errorType"], "timeout");
        assert_eq!(json["error"], "query timed out in expression evaluation");
        // The query was running; released, the thread serves the next one.
        entered.recv().unwrap();
        release.send(()).unwrap();
        let queued = tokio::spawn({
            let state = Arc::clone(&state);
            async move { state.handle(get("/api/v1/query?query=up")).await }
        });
        tokio::task::spawn_blocking(move || entered.recv().unwrap()).await.unwrap();
        release.send(()).unwrap();
        assert_eq!(queued.await.unwrap().status(), StatusCode::OK);
    }
}
