//! A tower layer recording `http_server_resp_time` as go-demo does.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use ::http::{Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::routes::RouteTemplate;
use crate::metrics::{Family, Histogram, MetricError, Registry, hash_values};

/// go-demo's histogram name (client_golang subsystem `http_server`, name
/// `resp_time`); observations are in seconds.
pub const RESP_TIME_NAME: &str = "http_server_resp_time";
/// go-demo's help text, kept as it is so dashboards built on go-demo match.
pub const RESP_TIME_HELP: &str = "Request response time";
/// The histogram's labels, in the order client_golang writes them.
pub const RESP_TIME_LABELS: [&str; 4] = ["code", "method", "path", "service"];

/// A tower [`Layer`] that times every request of the service it wraps and
/// records the seconds in `http_server_resp_time{code,method,path,service}`
/// with client_golang's default buckets, as go-demo does.
///
/// * `service` is the name given to [`RespTimeLayer::new`];
/// * `code` is the response's status; an inner service that fails is
///   recorded as `500`; a request whose future is dropped before it
///   completes (the client went away) is not recorded;
/// * `method` is the request method; the nine standard methods are kept
///   and any other becomes `OTHER`, so clients cannot grow the label set;
/// * `path` is the request path with no query string, mapped through the
///   [`RouteTemplate`] hook when one is set (recommended: [`Routes`](super::Routes)
///   bounds the label to the templates given).
///
/// The time runs from the call into the wrapped service until its response
/// future completes, i.e. until the response head is ready; streaming the
/// body afterwards is not included.
///
/// Per request it costs two clock reads, the route hook, a lock-free
/// lookup of the `(method, path)` row in a table of pre-resolved children,
/// a reference-count increment and one histogram observation: no lock and
/// no allocation once a combination has been seen (see
/// `benches/middleware.rs`). The table holds [`ROW_CAPACITY`] rows of up to
/// [`CODES_PER_ROW`] status codes each; combinations beyond that are still
/// recorded, through a family lookup (and, past the rows, a copy of the
/// path). Since rows keep their children, do not remove children from
/// [`RespTimeLayer::family`] while the layer is in use.
///
/// ```
/// use std::convert::Infallible;
/// use std::future::{Ready, ready};
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
/// use http::{Request, Response};
/// use sonde_instrument::http::{RespTimeLayer, Routes};
/// use sonde_instrument::metrics::Registry;
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// /// The service being measured: answers 200 at once.
/// struct Hello;
/// impl Service<Request<()>> for Hello {
///     type Response = Response<()>;
///     type Error = Infallible;
///     type Future = Ready<Result<Response<()>, Infallible>>;
///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
///         Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, _: Request<()>) -> Self::Future {
///         ready(Ok(Response::new(())))
///     }
/// }
///
/// let registry = Registry::new();
/// // Route templates keep the `path` label bounded: `/users/42` is `/users/:id`.
/// let layer = RespTimeLayer::new("shop").route_template(Routes::new(["/users/:id"])).register(&registry)?;
/// let mut service = layer.layer(Hello);
/// let mut cx = Context::from_waker(Waker::noop());
/// let request = Request::get("/users/42").body(()).unwrap_or_default();
/// let Poll::Ready(Ok(response)) = pin!(service.call(request)).as_mut().poll(&mut cx) else { panic!() };
/// assert_eq!(response.status(), 200);
/// let child = layer.family().get_or_create(&["200", "GET", "/users/:id", "shop"]);
/// assert_eq!(child.count(), 1);
/// # Ok::<(), sonde_instrument::metrics::MetricError>(())
/// ```
#[derive(Clone)]
pub struct RespTimeLayer {
    shared: Arc<Shared>,
}

/// How many `(method, path)` combinations get a pre-resolved row.
pub const ROW_CAPACITY: usize = 512;
/// How many status codes each row resolves ahead.
pub const CODES_PER_ROW: usize = 8;
/// Slots probed for a row before falling back to the family.
const PROBES: usize = 8;

struct Shared {
    service: Box<str>,
    family: Family<Histogram>,
    route: Option<Box<dyn RouteTemplate>>,
    /// Random per layer, so clients cannot aim paths at one probe chain.
    seed: (u64, u64),
    /// Open addressing, filled once per slot and never emptied: lookups
    /// are plain loads.
    rows: Box<[OnceLock<Box<Row>>]>,
}

/// The children of one `(method, path)`, by status code.
struct Row {
    method: &'static str,
    path: Box<str>,
    codes: [OnceLock<(StatusCode, Histogram)>; CODES_PER_ROW],
}

impl Shared {
    fn new(service: Box<str>, family: Family<Histogram>, route: Option<Box<dyn RouteTemplate>>) -> Self {
        let state = RandomState::new();
        Shared {
            service,
            family,
            route,
            seed: (state.hash_one(1u8), state.hash_one(2u8) | 1),
            rows: (0..ROW_CAPACITY).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The index of the row for `method` and `path`, created on first use;
    /// `None` when its probe chain is full.
    fn row(&self, method: &'static str, path: &str) -> Option<usize> {
        let start = hash_values(self.seed, &[method, path]) as usize;
        (0..PROBES).map(|i| start.wrapping_add(i) % ROW_CAPACITY).find(|&index| {
            let Some(slot) = self.rows.get(index) else { return false };
            let row = match slot.get() {
                Some(row) => row,
                // Another thread may fill the slot first, maybe with another
                // key: then this one probes on.
                None => slot.get_or_init(|| Box::new(Row::new(method, path))),
            };
            // Equal methods are almost always the same `&'static str`; the
            // comparison of the text is for copies of it that codegen made.
            (std::ptr::eq(row.method, method) || row.method == method) && *row.path == *path
        })
    }

    fn record(&self, target: Target, status: StatusCode, seconds: f64) {
        match target {
            Target::Row(index) => {
                if let Some(row) = self.rows.get(index).and_then(OnceLock::get) {
                    row.observe(self, status, seconds);
                }
            }
            Target::Overflow { method, path } => self.observe(status, method, &path, seconds),
        }
    }

    /// The slow path: a family lookup.
    fn observe(&self, status: StatusCode, method: &str, path: &str, seconds: f64) {
        self.child(status, method, path).observe(seconds);
    }

    fn child(&self, status: StatusCode, method: &str, path: &str) -> Histogram {
        self.family.get_or_create(&[status.as_str(), method, path, &self.service]).clone()
    }
}

impl Row {
    fn new(method: &'static str, path: &str) -> Self {
        Row { method, path: path.into(), codes: Default::default() }
    }

    fn observe(&self, shared: &Shared, status: StatusCode, seconds: f64) {
        for slot in &self.codes {
            let (code, histogram) = match slot.get() {
                Some(entry) => entry,
                None => slot.get_or_init(|| (status, shared.child(status, self.method, &self.path))),
            };
            if *code == status {
                histogram.observe(seconds);
                return;
            }
        }
        shared.observe(status, self.method, &self.path, seconds);
    }
}

impl fmt::Debug for RespTimeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RespTimeLayer")
            .field("service", &self.shared.service)
            .field("route_template", &self.shared.route.is_some())
            .field("family", &self.shared.family)
            .finish()
    }
}

impl RespTimeLayer {
    /// A layer labelling its observations `service="<service>"`, with
    /// client_golang's default buckets and no route hook. The histogram is
    /// not registered anywhere yet: see [`RespTimeLayer::register`].
    pub fn new(service: &str) -> Self {
        Self::with_family(service, Family::new(&RESP_TIME_LABELS))
    }

    /// Like [`RespTimeLayer::new`] with other bucket bounds (seconds).
    pub fn with_buckets(service: &str, bounds: &[f64]) -> Result<Self, MetricError> {
        Ok(Self::with_family(service, Family::with_buckets(&RESP_TIME_LABELS, bounds)?))
    }

    fn with_family(service: &str, family: Family<Histogram>) -> Self {
        RespTimeLayer { shared: Arc::new(Shared::new(service.into(), family, None)) }
    }

    /// Maps each request path through `hook` before it becomes the `path`
    /// label (builder style), e.g. a [`Routes`](super::Routes).
    pub fn route_template(self, hook: impl RouteTemplate) -> Self {
        self.with_route(Box::new(hook))
    }

    /// [`RespTimeLayer::route_template`] for a closure: this bound lets the
    /// compiler see that the result may borrow from the path.
    pub fn route_fn(self, hook: impl Fn(&str) -> Cow<'_, str> + Send + Sync + 'static) -> Self {
        self.with_route(Box::new(hook))
    }

    fn with_route(self, route: Box<dyn RouteTemplate>) -> Self {
        let shared = Shared::new(self.shared.service.clone(), self.shared.family.clone(), Some(route));
        RespTimeLayer { shared: Arc::new(shared) }
    }

    /// Registers the histogram in `registry` as `http_server_resp_time`
    /// (after the registry's prefix, if any) and returns the layer.
    pub fn register(self, registry: &Registry) -> Result<Self, MetricError> {
        registry.register(RESP_TIME_NAME, RESP_TIME_HELP, self.shared.family.clone())?;
        Ok(self)
    }

    /// The histogram family the layer records into, to register it under
    /// another name or to read it in tests.
    pub fn family(&self) -> &Family<Histogram> {
        &self.shared.family
    }

    /// The value of the `service` label.
    pub fn service(&self) -> &str {
        &self.shared.service
    }
}

impl<S> Layer<S> for RespTimeLayer {
    type Service = RespTime<S>;

    fn layer(&self, inner: S) -> RespTime<S> {
        RespTime { inner, shared: Arc::clone(&self.shared) }
    }
}

/// The service [`RespTimeLayer`] wraps around `S`.
///
/// ```
/// use sonde_instrument::http::RespTimeLayer;
/// use tower_layer::Layer;
///
/// #[derive(Debug, PartialEq)]
/// struct Inner(u8);
/// let mut service = RespTimeLayer::new("shop").layer(Inner(1));
/// service.get_mut().0 = 2;
/// assert_eq!(service.get_ref(), &Inner(2));
/// assert_eq!(service.into_inner(), Inner(2));
/// ```
#[derive(Clone)]
pub struct RespTime<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for RespTime<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RespTime").field("inner", &self.inner).field("service", &self.shared.service).finish()
    }
}

impl<S> RespTime<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RespTime<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RespTimeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let shared = &*self.shared;
        let method = method_label(request.method());
        // Resolved while the request is still here, so the future needs
        // neither the URI nor a copy of the path.
        let path = request.uri().path();
        let path = match &shared.route {
            Some(route) => route.template(path),
            None => Cow::Borrowed(path),
        };
        let target = match shared.row(method, &path) {
            Some(index) => Target::Row(index),
            None => Target::Overflow { method, path: path.into_owned() },
        };
        let pending = Pending { start, target, shared: Arc::clone(&self.shared) };
        RespTimeFuture { inner: self.inner.call(request), pending: Some(pending) }
    }
}

/// What the future needs to record once the response is there.
struct Pending {
    start: Instant,
    target: Target,
    shared: Arc<Shared>,
}

/// Where an observation goes.
enum Target {
    /// A row of the table.
    Row(usize),
    /// No row left: the labels themselves.
    Overflow { method: &'static str, path: String },
}

impl Pending {
    fn record(self, status: StatusCode) {
        let seconds = self.start.elapsed().as_secs_f64();
        self.shared.record(self.target, status, seconds);
    }
}

pin_project! {
    /// The response future of [`RespTime`]: the inner future, recording
    /// the elapsed time when it completes.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::future::{Future, Ready, ready};
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use http::{Request, Response, StatusCode};
    /// use sonde_instrument::http::{RespTimeFuture, RespTimeLayer};
    /// use tower_layer::Layer;
    /// use tower_service::Service;
    ///
    /// struct NotFound;
    /// impl Service<Request<()>> for NotFound {
    ///     type Response = Response<()>;
    ///     type Error = Infallible;
    ///     type Future = Ready<Result<Response<()>, Infallible>>;
    ///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    ///     fn call(&mut self, _: Request<()>) -> Self::Future {
    ///         let mut response = Response::new(());
    ///         *response.status_mut() = StatusCode::NOT_FOUND;
    ///         ready(Ok(response))
    ///     }
    /// }
    ///
    /// let layer = RespTimeLayer::new("shop");
    /// let mut service = layer.layer(NotFound);
    /// let future: RespTimeFuture<_> = service.call(Request::get("/nope").body(()).unwrap_or_default());
    /// // Nothing is recorded until the future completes.
    /// assert!(layer.family().is_empty());
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(pin!(future).poll(&mut cx).is_ready());
    /// assert_eq!(layer.family().get_or_create(&["404", "GET", "/nope", "shop"]).count(), 1);
    /// ```
    pub struct RespTimeFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F> fmt::Debug for RespTimeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RespTimeFuture").field("done", &self.pending.is_none()).finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for RespTimeFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some(pending) = this.pending.take() {
            let status = match &result {
                Ok(response) => response.status(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            pending.record(status);
        }
        Poll::Ready(result)
    }
}

/// The `method` label: the standard methods as they are, anything else
/// `OTHER` (extension methods are client-chosen strings).
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::future::{Ready, ready};

    use crate::collector::Collector;
    use crate::http::Routes;
    use crate::model::{MetricFamily, Suffix};

    /// Answers each request with the status its query (`?code=404`) or
    /// path (`/status/404`) names, 200 otherwise; fails for `/fail`.
    #[derive(Clone)]
    struct Echo;

    impl Service<Request<()>> for Echo {
        type Response = Response<()>;
        type Error = &'static str;
        type Future = Ready<Result<Response<()>, &'static str>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<()>) -> Self::Future {
            if request.uri().path() == "/fail" {
                return ready(Err("failed"));
            }
            let uri = request.uri();
            let status = uri
                .query()
                .and_then(|query| query.strip_prefix("code="))
                .or_else(|| uri.path().strip_prefix("/status/"))
                .and_then(|code| code.parse::<u16>().ok())
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::OK);
            let mut response = Response::new(());
            *response.status_mut() = status;
            ready(Ok(response))
        }
    }

    fn send<S>(service: &mut S, method: Method, uri: &str) -> Result<Response<()>, &'static str>
    where
        S: Service<Request<()>, Response = Response<()>, Error = &'static str>,
    {
        let request = Request::builder().method(method).uri(uri).body(()).unwrap();
        let mut future = std::pin::pin!(service.call(request));
        match future.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("Echo is always ready"),
        }
    }

    /// `(code, method, path, service) -> count` for every series.
    fn series(registry: &Registry) -> Vec<(String, String, String, String, f64)> {
        let mut families = Vec::new();
        registry.collect(&mut families);
        let family: &MetricFamily = families.iter().find(|f| f.name == RESP_TIME_NAME).unwrap();
        assert_eq!(family.help, RESP_TIME_HELP);
        family
            .samples
            .iter()
            .filter(|s| s.suffix == Suffix::Count)
            .map(|s| {
                let get = |name| s.labels.get(name).unwrap().to_owned();
                (get("code"), get("method"), get("path"), get("service"), s.value)
            })
            .collect()
    }

    fn row(code: &str, method: &str, path: &str, count: f64) -> (String, String, String, String, f64) {
        (code.into(), method.into(), path.into(), "go-demo".into(), count)
    }

    #[test]
    fn labels_for_200_404_and_500() {
        let registry = Registry::new();
        let layer = RespTimeLayer::new("go-demo").register(&registry).unwrap();
        let mut service = layer.layer(Echo);
        assert_eq!(send(&mut service, Method::GET, "/demo/hello").unwrap().status(), StatusCode::OK);
        assert_eq!(send(&mut service, Method::GET, "/demo/hello").unwrap().status(), StatusCode::OK);
        assert_eq!(send(&mut service, Method::GET, "/status/404").unwrap().status(), StatusCode::NOT_FOUND);
        send(&mut service, Method::POST, "/status/500").unwrap();
        assert_eq!(send(&mut service, Method::PUT, "/fail").err(), Some("failed"));
        assert_eq!(
            series(&registry),
            vec![
                row("200", "GET", "/demo/hello", 2.0),
                row("404", "GET", "/status/404", 1.0),
                row("500", "POST", "/status/500", 1.0),
                row("500", "PUT", "/fail", 1.0),
            ]
        );
    }

    #[test]
    fn the_query_string_is_never_a_label() {
        let registry = Registry::new();
        let layer = RespTimeLayer::new("go-demo").register(&registry).unwrap();
        let mut service = layer.layer(Echo);
        send(&mut service, Method::GET, "/demo/hello?delay=10").unwrap();
        send(&mut service, Method::GET, "/demo/hello?delay=20&x=%2F").unwrap();
        send(&mut service, Method::GET, "http://example.com/demo/hello?delay=30").unwrap();
        assert_eq!(series(&registry), vec![row("200", "GET", "/demo/hello", 3.0)]);
    }

    #[test]
    fn route_templates_bound_the_path_label() {
        let registry = Registry::new();
        let layer = RespTimeLayer::new("go-demo")
            .route_template(Routes::new(["/demo/person", "/demo/person/:id"]).fallback("other"))
            .register(&registry)
            .unwrap();
        let mut service = layer.layer(Echo);
        for uri in ["/demo/person/42", "/demo/person/7?name=x", "/demo/person", "/random/1", "/random/2"] {
            send(&mut service, Method::GET, uri).unwrap();
        }
        assert_eq!(
            series(&registry),
            vec![
                row("200", "GET", "/demo/person", 1.0),
                row("200", "GET", "/demo/person/:id", 2.0),
                row("200", "GET", "other", 2.0),
            ]
        );

        // A closure hook works the same way.
        let registry = Registry::new();
        let layer = RespTimeLayer::new("go-demo")
            .route_fn(|path| match path.rsplit_once('/') {
                Some((parent, id)) if id.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty() => {
                    Cow::Owned(format!("{parent}/:id"))
                }
                _ => Cow::Borrowed(path),
            })
            .register(&registry)
            .unwrap();
        let mut service = layer.layer(Echo);
        send(&mut service, Method::GET, "/demo/person/42").unwrap();
        send(&mut service, Method::GET, "/demo/person/43").unwrap();
        assert_eq!(series(&registry), vec![row("200", "GET", "/demo/person/:id", 2.0)]);
    }

    #[test]
    fn combinations_beyond_the_table_are_still_recorded() {
        let registry = Registry::new();
        let layer = RespTimeLayer::new("go-demo").register(&registry).unwrap();
        let mut service = layer.layer(Echo);
        // More rows than the table holds, each path twice.
        let paths = ROW_CAPACITY + 100;
        for round in 0..2 {
            for i in 0..paths {
                send(&mut service, Method::GET, &format!("/p/{i}?round={round}")).unwrap();
            }
        }
        // More codes than a row holds, on one path.
        let codes: Vec<u16> = (200..200 + CODES_PER_ROW as u16 + 3).collect();
        for &code in codes.iter().chain(&codes) {
            send(&mut service, Method::GET, &format!("/codes?code={code}")).unwrap();
        }
        let series = series(&registry);
        assert_eq!(series.len(), paths + codes.len());
        assert!(series.iter().all(|(.., count)| *count == 2.0), "{series:?}");
        for code in codes {
            assert!(series.contains(&row(&code.to_string(), "GET", "/codes", 2.0)), "{code}");
        }
    }

    #[test]
    fn rows_created_by_racing_threads_count_exactly() {
        let registry = Registry::new();
        let layer = RespTimeLayer::new("go-demo").register(&registry).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let mut service = layer.layer(Echo);
                scope.spawn(move || {
                    for i in 0..1000 {
                        let code = [200, 404, 500][i % 3];
                        send(&mut service, Method::GET, &format!("/r/{}?code={code}", i % 50)).unwrap();
                    }
                });
            }
        });
        let series = series(&registry);
        let total: f64 = series.iter().map(|(.., count)| count).sum();
        assert_eq!(total, 4000.0);
        // i % 50 and i % 3 together repeat every 150 requests: 150 series.
        assert_eq!(series.len(), 150);
    }

    #[test]
    fn extension_methods_are_other() {
        let registry = Registry::new();
        let layer = RespTimeLayer::new("go-demo").register(&registry).unwrap();
        let mut service = layer.layer(Echo);
        send(&mut service, Method::from_bytes(b"BREW").unwrap(), "/").unwrap();
        send(&mut service, Method::HEAD, "/").unwrap();
        assert_eq!(series(&registry), vec![row("200", "HEAD", "/", 1.0), row("200", "OTHER", "/", 1.0)]);
    }

    #[test]
    fn observations_are_seconds_in_default_buckets() {
        struct Slow;
        impl Service<Request<()>> for Slow {
            type Response = Response<()>;
            type Error = Infallible;
            type Future = Ready<Result<Response<()>, Infallible>>;
            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, _request: Request<()>) -> Self::Future {
                std::thread::sleep(std::time::Duration::from_millis(30));
                ready(Ok(Response::new(())))
            }
        }
        let layer = RespTimeLayer::new("s");
        let mut service = layer.layer(Slow);
        let mut future = std::pin::pin!(service.call(Request::new(())));
        assert!(future.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop())).is_ready());
        let histogram = layer.family().with_label_values(&["200", "GET", "/", "s"]).unwrap();
        assert_eq!(histogram.bounds(), &crate::metrics::DEFAULT_BUCKETS);
        // 30 ms: above le="0.025", within le="0.05" unless the machine stalls.
        let counts = histogram.cumulative_counts();
        assert_eq!(counts[2], 0, "le=0.025");
        assert_eq!(counts[11], 1, "+Inf");
        assert!(histogram.sum() >= 0.030 && histogram.sum() < 1.0, "{}", histogram.sum());
        assert_eq!(layer.service(), "s");
        assert!(RespTimeLayer::with_buckets("s", &[]).is_err());
    }
}
