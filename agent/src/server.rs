//! The one HTTP listener: metrics, landing page, health and readiness.
//!
//! [`serve`] runs the accept loop until its shutdown future resolves, then
//! stops accepting, lets in-flight requests finish within a grace period and
//! returns. Tests run it in-process on a port-0 listener.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sonde_exporter::scrape::ScrapeExecutor;
use sonde_instrument::{Collector, Format, MetricFamily, accepts_gzip, negotiate};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::self_metrics::{ExpositionStats, SelfMetrics};
use crate::version;

/// Request bodies larger than this are refused: no endpoint takes a body,
/// so anything beyond a stray few bytes is a misbehaving client.
pub const MAX_REQUEST_BODY: usize = 4096;

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
}

impl AppState {
    /// State serving `executor`'s collectors plus the agent's self metrics.
    pub fn new(config: ServerConfig, executor: ScrapeExecutor) -> Self {
        let stats = Arc::new(ExpositionStats::default());
        let self_metrics = SelfMetrics::new(Arc::clone(&stats));
        let scrape_slots = (config.max_requests > 0).then(|| Arc::new(Semaphore::new(config.max_requests)));
        AppState { config, executor, self_metrics, stats, ready: AtomicBool::new(false), scrape_slots }
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
        self.executor.collect(&mut families);
        self.self_metrics.collect(&mut families);
        let mut body = Vec::with_capacity(16 * 1024);
        let report = sonde_instrument::encode(&families, format, &mut body);
        self.stats.record(&report);
        if !gzip {
            return Ok(body);
        }
        let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
        encoder.write_all(&body)?;
        encoder.finish()
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
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            let mut response = text_response(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let (parts, body) = request.into_parts();
        if let Err(response) = self.drain_body(&parts.headers, body).await {
            return response;
        }
        match route {
            Route::Telemetry => self.metrics(&parts.headers).await,
            Route::Landing => self.landing_page(),
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
            _ => Route::NotFound,
        }
    }

    /// Reads and discards a body of at most [`MAX_REQUEST_BODY`] bytes, so
    /// the connection can be reused; refuses larger or slow ones.
    async fn drain_body<B>(&self, headers: &HeaderMap, body: B) -> Result<(), Response<Full<Bytes>>>
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
        if declared.is_some_and(|len| len > MAX_REQUEST_BODY as u64) {
            return Err(too_large());
        }
        let collect = Limited::new(body, MAX_REQUEST_BODY).collect();
        match tokio::time::timeout(self.config.body_read_timeout, collect).await {
            Ok(Ok(_)) => Ok(()),
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
        let format = negotiate(joined_header(headers, &header::ACCEPT).as_deref());
        let gzip = accepts_gzip(joined_header(headers, &header::ACCEPT_ENCODING).as_deref());

        let state = Arc::clone(self);
        let rendered = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            state.render(format, gzip)
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

        let mut response = Response::new(Full::new(Bytes::from(body)));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
        headers.insert(header::VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }

    fn landing_page(&self) -> Response<Full<Bytes>> {
        let path = html_escape(&self.config.telemetry_path);
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Sonde Agent</title></head>\n\
             <body>\n<h1>Sonde Agent</h1>\n<p>Version {version} (revision {revision})</p>\n\
             <ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n\
             <li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n</body>\n</html>\n",
            version = html_escape(version::VERSION),
            revision = html_escape(version::REVISION),
        );
        let mut response = Response::new(Full::new(Bytes::from(page)));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        response
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Telemetry,
    Landing,
    Healthy,
    Ready,
    NotFound,
}

fn text_response(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// All values of a header joined with commas, as HTTP allows a list header
/// to be split over several lines. Values that are not visible ASCII are
/// ignored.
fn joined_header(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Serves `state` on `listener` until `shutdown` resolves, then stops
/// accepting, waits up to the grace period for in-flight requests and
/// returns.
pub async fn serve<F>(listener: TcpListener, state: Arc<AppState>, shutdown: F)
where
    F: Future<Output = ()>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout);
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
        Arc::new(AppState::new(ServerConfig::default(), ScrapeExecutor::new()))
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
        let request = Request::get("/-/healthy")
            .body(Full::new(Bytes::from(vec![b'x'; MAX_REQUEST_BODY + 1])))
            .unwrap();
        assert_eq!(state.handle(request).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let request = Request::get("/-/healthy").body(Full::new(Bytes::from_static(b"small"))).unwrap();
        assert_eq!(state.handle(request).await.status(), StatusCode::OK);
    }

    #[test]
    fn list_headers_are_joined() {
        let mut headers = HeaderMap::new();
        headers.append(header::ACCEPT, HeaderValue::from_static("text/plain;q=0.5"));
        headers.append(header::ACCEPT, HeaderValue::from_static("application/openmetrics-text"));
        assert_eq!(
            joined_header(&headers, &header::ACCEPT).as_deref(),
            Some("text/plain;q=0.5,application/openmetrics-text")
        );
        assert_eq!(joined_header(&headers, &header::ACCEPT_ENCODING), None);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(html_escape("/a\"<b>&'"), "/a&quot;&lt;b&gt;&amp;&#39;");
    }
}
