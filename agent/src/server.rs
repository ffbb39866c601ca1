//! The agent's routes on the exporter's server: the evaluator's API
//! (`/api/v1/query`, `/api/v1/query_range`, `/api/v1/rules`,
//! `/api/v1/alerts`, `/api/v1/targets`, JSON from [`crate::api`]) and the
//! status page at `/`, over the evaluator's [`Views`].
//!
//! Every answer is built on the agent's query thread, never on the
//! exporter's render thread: a slow query cannot delay a scrape. A query
//! whose client has gone away before its turn is not run.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use sonde_exporter::server::landing::PageInfo;
use sonde_exporter::server::{Extension, Methods, WorkThread, html_response};
use sonde_instrument::http::text_response;
use sonde_instrument::{Collector, MetricFamily};

use crate::api::{self, ApiError, ErrorKind, RuleFilter};
use crate::evaluator::{Evaluator, now_ms};
use crate::status_page;
use crate::views::Views;

/// The agent's routes and the metrics of its evaluator.
pub struct AgentRoutes {
    views: Views,
    /// The evaluator's own metrics, served on `/metrics`.
    metrics: Arc<dyn Collector + Send + Sync>,
    page: PageInfo,
    /// Where answers are built: one thread, so one malloc arena.
    queries: WorkThread,
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
        Ok(AgentRoutes { views, metrics, page, queries: WorkThread::start("sonde-query")? })
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
        self.api_answer(move |views| {
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
        self.api_answer(move |views| {
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

    /// `/`: the status page, built on the query thread.
    async fn status_page(self: &Arc<Self>) -> Response<Full<Bytes>> {
        let (views, page) = (self.views.clone(), self.page.clone());
        match self.queries.run(move || status_page::render(&page, &views)).await {
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
            _ => None,
        }
    }

    fn handle(self: Arc<Self>, request: Request<Bytes>) -> BoxFuture<'static, Response<Full<Bytes>>> {
        self.answer(request).boxed()
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
        assert!(!String::from_utf8_lossy(&plain).contains("Swarm role"));
        let agent = with_routes().handle(get("/")).await.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&agent).contains("<h2>Swarm role</h2>"));
    }
}
