//! The `/metrics` handler, with promhttp's metrics about itself.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use ::http::header::HeaderMap;
use ::http::{Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::Full;
use tower_service::Service;

use super::{Negotiation, compress_body, exposition_response, text_response};
use crate::collector::Collector;
use crate::encode::Encoder;
use crate::metrics::{Counter, Family, Gauge, MetricError, Registry};

/// client_golang's name for scrapes served, by status code (exposed with `_total`).
pub const REQUESTS_NAME: &str = "promhttp_metric_handler_requests";
/// client_golang's help text for [`REQUESTS_NAME`].
pub const REQUESTS_HELP: &str = "Total number of scrapes by HTTP status code.";
/// client_golang's name for scrapes being served.
pub const IN_FLIGHT_NAME: &str = "promhttp_metric_handler_requests_in_flight";
/// client_golang's help text for [`IN_FLIGHT_NAME`].
pub const IN_FLIGHT_HELP: &str = "Current number of scrapes being served.";

/// Answers scrapes of a [`Collector`] (usually a [`Registry`]).
///
/// Each request is answered in the format its `Accept` header prefers
/// (text 0.0.4 unless it asks for OpenMetrics) and gzipped at level 1 when
/// `Accept-Encoding` allows. The method and path are not checked: route
/// to it what should be answered with metrics.
///
/// Collection runs inline in [`MetricsHandler::respond`], as promhttp's
/// handler does; a service whose collectors block for long should call it
/// from `tokio::task::spawn_blocking`. As a tower [`Service`] it is always
/// ready and never fails. Clones share everything.
///
/// ```
/// use std::sync::Arc;
/// use http::{HeaderMap, HeaderValue, header};
/// use sonde_instrument::http::MetricsHandler;
/// use sonde_instrument::metrics::{Counter, Registry};
///
/// let registry = Registry::new();
/// registry.register("jobs", "Jobs run.", Counter::new())?.inc();
/// let handler = MetricsHandler::new(Arc::new(registry));
/// let mut headers = HeaderMap::new();
/// headers.insert(header::ACCEPT, HeaderValue::from_static("application/openmetrics-text"));
/// let response = handler.respond(&headers);
/// assert_eq!(response.status(), 200);
/// assert!(response.headers()[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("application/openmetrics-text"));
/// # Ok::<(), sonde_instrument::metrics::MetricError>(())
/// ```
#[derive(Clone)]
pub struct MetricsHandler {
    collector: Arc<dyn Collector>,
    metrics: Option<HandlerMetrics>,
    max_in_flight: usize,
    shared: Arc<Shared>,
}

/// promhttp's `InstrumentMetricHandler` metrics, with the children for the
/// codes this handler answers with resolved up front.
#[derive(Clone)]
struct HandlerMetrics {
    ok: Counter,
    internal_error: Counter,
    unavailable: Counter,
    in_flight: Gauge,
}

#[derive(Default)]
struct Shared {
    in_flight: AtomicUsize,
    /// Kept between scrapes so its tables need not grow again; a scrape
    /// that finds it busy uses a fresh one.
    encoder: Mutex<Encoder>,
    /// The size of the last uncompressed body, to allocate once.
    last_size: AtomicUsize,
}

impl fmt::Debug for MetricsHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHandler")
            .field("instrumented", &self.metrics.is_some())
            .field("max_in_flight", &self.max_in_flight)
            .field("in_flight", &self.shared.in_flight.load(Ordering::Relaxed))
            .finish()
    }
}

impl MetricsHandler {
    /// A handler serving `collector`, without metrics about itself and
    /// without a limit on concurrent scrapes.
    pub fn new(collector: Arc<dyn Collector>) -> Self {
        MetricsHandler { collector, metrics: None, max_in_flight: 0, shared: Arc::default() }
    }

    /// Registers promhttp's handler metrics in `registry` and keeps them
    /// up to date (builder style): `promhttp_metric_handler_requests_total{code}`,
    /// with codes 200, 500 and 503 present from the start as in
    /// client_golang, and `promhttp_metric_handler_requests_in_flight`,
    /// which counts the scrape that reads it.
    pub fn instrument(mut self, registry: &Registry) -> Result<Self, MetricError> {
        let requests = registry.register(REQUESTS_NAME, REQUESTS_HELP, Family::<Counter>::new(&["code"]))?;
        let in_flight = registry.register(IN_FLIGHT_NAME, IN_FLIGHT_HELP, Gauge::new())?;
        self.metrics = Some(HandlerMetrics {
            ok: requests.with_label_values(&["200"])?,
            internal_error: requests.with_label_values(&["500"])?,
            unavailable: requests.with_label_values(&["503"])?,
            in_flight,
        });
        Ok(self)
    }

    /// Answers `503 Service Unavailable` while `max` scrapes are being
    /// served already (builder style); 0, the default, means no limit.
    pub fn max_requests_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// Answers a scrape whose request carries `headers`.
    pub fn respond(&self, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let _in_flight = InFlight::enter(self);
        let running = self.shared.in_flight.load(Ordering::Relaxed);
        let (response, counter) = if self.max_in_flight > 0 && running > self.max_in_flight {
            let text = format!("Limit of concurrent requests reached ({}), try again later.\n", self.max_in_flight);
            (text_response(StatusCode::SERVICE_UNAVAILABLE, text), self.metrics.as_ref().map(|m| &m.unavailable))
        } else {
            match self.render(Negotiation::from_headers(headers)) {
                Ok(response) => (response, self.metrics.as_ref().map(|m| &m.ok)),
                Err(err) => {
                    let text = format!("An error has occurred while serving metrics:\n\n{err}\n");
                    (
                        text_response(StatusCode::INTERNAL_SERVER_ERROR, text),
                        self.metrics.as_ref().map(|m| &m.internal_error),
                    )
                }
            }
        };
        if let Some(counter) = counter {
            counter.inc();
        }
        response
    }

    fn render(&self, negotiation: Negotiation) -> std::io::Result<Response<Full<Bytes>>> {
        let last = self.shared.last_size.load(Ordering::Relaxed);
        let mut text = Vec::with_capacity(last + last / 8 + 256);
        // `encode_with`: a registry writes its lines straight from its
        // metrics; any other collector is collected and encoded.
        let _report = match self.shared.encoder.try_lock() {
            Ok(mut encoder) => self.collector.encode_with(&mut encoder, negotiation.format, &mut text),
            Err(_) => self.collector.encode_with(&mut Encoder::new(), negotiation.format, &mut text),
        };
        self.shared.last_size.store(text.len(), Ordering::Relaxed);
        let body = compress_body(text, negotiation)?;
        Ok(exposition_response(body, negotiation))
    }
}

/// Counts a scrape in flight for as long as it lives.
struct InFlight<'a>(&'a MetricsHandler);

impl<'a> InFlight<'a> {
    fn enter(handler: &'a MetricsHandler) -> Self {
        handler.shared.in_flight.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = &handler.metrics {
            metrics.in_flight.inc();
        }
        InFlight(handler)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(metrics) = &self.0.metrics {
            metrics.in_flight.dec();
        }
    }
}

impl<B> Service<Request<B>> for MetricsHandler {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(request.headers())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    use ::http::header::{self, HeaderValue};
    use http_body_util::BodyExt as _;

    use crate::format::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
    use crate::model::{Labels, MetricFamily};

    fn body(response: Response<Full<Bytes>>) -> Vec<u8> {
        // `Full` is ready at once; no runtime needed.
        let mut collect = std::pin::pin!(response.into_body().collect());
        let waker = std::task::Waker::noop();
        match collect.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Ready(Ok(collected)) => collected.to_bytes().to_vec(),
            other => panic!("body not ready: {other:?}"),
        }
    }

    fn text(response: Response<Full<Bytes>>) -> String {
        String::from_utf8(body(response)).unwrap()
    }

    fn handler() -> (Registry, MetricsHandler) {
        let registry = Registry::new();
        registry.register("demo_events", "Events.", Counter::new()).unwrap().inc_by(3);
        let handler = MetricsHandler::new(Arc::new(registry.clone())).instrument(&registry).unwrap();
        (registry, handler)
    }

    #[test]
    fn text_by_default_with_promhttp_metrics() {
        let (_registry, handler) = handler();
        let response = handler.respond(&HeaderMap::new());
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], TEXT_CONTENT_TYPE);
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
        let text = text(response);
        assert!(text.contains("# TYPE demo_events_total counter\ndemo_events_total 3\n"), "{text}");
        // The scrape being answered is in flight; none has finished yet.
        assert!(text.contains(
            "# HELP promhttp_metric_handler_requests_in_flight Current number of scrapes being served.\n\
             # TYPE promhttp_metric_handler_requests_in_flight gauge\n\
             promhttp_metric_handler_requests_in_flight 1\n"
        ));
        assert!(text.contains(
            "# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.\n\
             # TYPE promhttp_metric_handler_requests_total counter\n\
             promhttp_metric_handler_requests_total{code=\"200\"} 0\n\
             promhttp_metric_handler_requests_total{code=\"500\"} 0\n\
             promhttp_metric_handler_requests_total{code=\"503\"} 0\n"
        ));
        let text = self::text(handler.respond(&HeaderMap::new()));
        assert!(text.contains("promhttp_metric_handler_requests_total{code=\"200\"} 1\n"), "{text}");
    }

    #[test]
    fn openmetrics_and_gzip_on_request() {
        let (_registry, handler) = handler();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
        );
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate"));
        let response = handler.respond(&headers);
        assert_eq!(response.headers()[header::CONTENT_TYPE], OPENMETRICS_CONTENT_TYPE);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body(response)[..]).read_to_string(&mut text).unwrap();
        assert!(
            text.contains("# TYPE demo_events counter\n# HELP demo_events Events.\ndemo_events_total 3\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn limit_answers_503_and_counts_it() {
        struct Nested(Mutex<Option<MetricsHandler>>, Mutex<Option<Response<Full<Bytes>>>>);
        impl Collector for Nested {
            fn collect(&self, _out: &mut Vec<MetricFamily>) {
                // A second scrape while this one is in flight.
                let handler = self.0.lock().unwrap().take();
                if let Some(handler) = handler {
                    *self.1.lock().unwrap() = Some(handler.respond(&HeaderMap::new()));
                }
            }
        }
        let registry = Registry::new();
        let nested = Arc::new(Nested(Mutex::new(None), Mutex::new(None)));
        registry.register_collector(ArcCollector(nested.clone()));
        let handler =
            MetricsHandler::new(Arc::new(registry.clone())).instrument(&registry).unwrap().max_requests_in_flight(1);
        *nested.0.lock().unwrap() = Some(handler.clone());
        assert_eq!(handler.respond(&HeaderMap::new()).status(), StatusCode::OK);
        let refused = nested.1.lock().unwrap().take().unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(text(refused), "Limit of concurrent requests reached (1), try again later.\n");
        let text = text(handler.respond(&HeaderMap::new()));
        assert!(text.contains("promhttp_metric_handler_requests_total{code=\"503\"} 1\n"), "{text}");
        assert!(text.contains("promhttp_metric_handler_requests_total{code=\"200\"} 1\n"), "{text}");
        assert_eq!(handler.shared.in_flight.load(Ordering::Relaxed), 0);
    }

    struct ArcCollector<C>(Arc<C>);
    impl<C: Collector> Collector for ArcCollector<C> {
        fn collect(&self, out: &mut Vec<MetricFamily>) {
            self.0.collect(out);
        }
    }

    #[test]
    fn serves_as_a_tower_service() {
        let collector = Arc::new(|out: &mut Vec<MetricFamily>| {
            out.push(MetricFamily::gauge("up", "Up.").with_sample(Labels::new(), 1.0));
        });
        let mut handler = MetricsHandler::new(Arc::new(FnCollector(collector)));
        let request = Request::get("/metrics").body(()).unwrap();
        let mut future = std::pin::pin!(handler.call(request));
        let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop())) else {
            panic!("not ready")
        };
        assert_eq!(text(response), "# HELP up Up.\n# TYPE up gauge\nup 1\n");
    }

    struct FnCollector<F>(Arc<F>);
    impl<F: Fn(&mut Vec<MetricFamily>) + Send + Sync> Collector for FnCollector<F> {
        fn collect(&self, out: &mut Vec<MetricFamily>) {
            (self.0)(out)
        }
    }
}
