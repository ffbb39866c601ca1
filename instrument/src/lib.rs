//! Sonde's exposition core and metrics for Rust services.
//!
//! One model of metrics ([`MetricFamily`], [`Sample`], [`Labels`]) is shared
//! by everything in Sonde: collectors produce it, the [`parse`](mod@parse)
//! module reads scraped text into it, the [`encode`](mod@encode) module
//! writes it as Prometheus text 0.0.4 or OpenMetrics 1.0, and the agent's
//! evaluator reads it.
//!
//! Services record with the [`metrics`] module's types, register them in a
//! [`Registry`](metrics::Registry) and serve what it collects:
//!
//! ```
//! use sonde_instrument::metrics::{Counter, Family, Histogram, Registry};
//! use sonde_instrument::{Collector, Format, encode::encode_to_string};
//!
//! let registry = Registry::with_prefix("shop")?;
//! let orders = registry.register("orders", "Orders placed.", Family::<Counter>::new(&["method"]))?;
//! let checkout = registry.register(
//!     "checkout_duration_seconds",
//!     "Time to check out.",
//!     Histogram::with_buckets(&[0.1, 0.5, 1.0])?,
//! )?;
//!
//! // Hold a child where its labels are fixed; look it up where they vary.
//! let by_card = orders.get_or_create(&["card"]);
//! by_card.inc();
//! by_card.inc();
//! orders.get_or_create(&["invoice \"B2B\""]).inc();
//! checkout.observe(0.25);
//! checkout.observe(0.75);
//!
//! let mut families = Vec::new();
//! registry.collect(&mut families);
//! let (text, _report) = encode_to_string(&families, Format::Text);
//! assert_eq!(
//!     text,
//!     concat!(
//!         "# HELP shop_orders_total Orders placed.\n",
//!         "# TYPE shop_orders_total counter\n",
//!         "shop_orders_total{method=\"card\"} 2\n",
//!         "shop_orders_total{method=\"invoice \\\"B2B\\\"\"} 1\n",
//!         "# HELP shop_checkout_duration_seconds Time to check out.\n",
//!         "# TYPE shop_checkout_duration_seconds histogram\n",
//!         "shop_checkout_duration_seconds_bucket{le=\"0.1\"} 0\n",
//!         "shop_checkout_duration_seconds_bucket{le=\"0.5\"} 1\n",
//!         "shop_checkout_duration_seconds_bucket{le=\"1\"} 2\n",
//!         "shop_checkout_duration_seconds_bucket{le=\"+Inf\"} 2\n",
//!         "shop_checkout_duration_seconds_sum 1\n",
//!         "shop_checkout_duration_seconds_count 2\n",
//!     )
//! );
//! # Ok::<(), sonde_instrument::metrics::MetricError>(())
//! ```
//!
//! # A guide for service authors
//!
//! ## The five-line service
//!
//! A registry, the metrics registered in it (each `register` returns the
//! handle to record with), and `http::MetricsHandler` (feature
//! `http`) answering `/metrics` from it; route `GET /metrics` of any hyper
//! or tower server to the handler. `examples/five-lines.rs` is the whole
//! server.
//!
//! ```
//! # #[cfg(feature = "http")] {
//! use std::sync::Arc;
//! use sonde_instrument::http::MetricsHandler;
//! use sonde_instrument::metrics::{Counter, Family, Histogram, Registry};
//!
//! let registry = Registry::new();
//! let requests = registry.register("requests", "Requests answered.", Family::<Counter>::new(&["code"]))?;
//! let latency = registry.register("request_duration_seconds", "Time to answer a request.", Histogram::new())?;
//! let metrics = MetricsHandler::new(Arc::new(registry.clone()));
//! // Where a request is answered:
//! requests.get_or_create(&["200"]).inc();
//! latency.observe(0.042);
//!
//! let response = metrics.respond(&http::HeaderMap::new());
//! assert_eq!(response.status(), 200);
//! # }
//! # Ok::<(), sonde_instrument::metrics::MetricError>(())
//! ```
//!
//! ## Lookups and cardinality
//!
//! [`Family::get_or_create`](metrics::Family::get_or_create) cannot fail
//! and, for a child that exists, takes no lock and allocates nothing; it
//! returns a [`ChildRef`](metrics::ChildRef) that dereferences to the
//! metric (`.clone()` it to keep an owned handle). Where label values come
//! from outside (paths, user input), bound the series:
//! [`Family::with_max_children`](metrics::Family::with_max_children) with
//! an [`Overflow`](metrics::Overflow) setting refuses or folds what is
//! beyond, and counts it in
//! [`Family::overflows`](metrics::Family::overflows).
//!
//! ## Typed labels with the derive
//!
//! With the `derive` feature, a struct names a family's labels once and the
//! compiler checks every lookup: `#[derive(LabelSet)]` on a struct whose
//! fields are [`LabelValue`](metrics::LabelValue)s (strings, integers,
//! bools, enums with `#[derive(LabelValue)]`), looked up through a
//! [`TypedFamily`](metrics::TypedFamily):
//!
//! ```
//! # #[cfg(feature = "derive")] {
//! use sonde_instrument::metrics::{Counter, LabelSet, LabelValue, Registry, TypedFamily};
//!
//! #[derive(LabelValue)]
//! enum Method {
//!     #[label(rename = "GET")]
//!     Get,
//!     #[label(rename = "POST")]
//!     Post,
//! }
//!
//! #[derive(LabelSet)]
//! struct Request {
//!     method: Method,
//!     code: u16,
//! }
//!
//! let registry = Registry::new();
//! let requests = registry.register("requests", "Requests.", TypedFamily::<Request, Counter>::new())?;
//! requests.get_or_create(&Request { method: Method::Post, code: 201 }).inc();
//! assert_eq!(requests.family().get_or_create(&["POST", "201"]).get(), 1);
//! assert_eq!(requests.family().label_names(), ["method", "code"]);
//! # let _ = Method::Get;
//! # }
//! # Ok::<(), sonde_instrument::metrics::MetricError>(())
//! ```
//!
//! ## Summaries
//!
//! A [`Summary`](metrics::Summary) exposes quantiles over a sliding window
//! (client_golang's 10 minutes in 5 age buckets by default) besides
//! `_sum` and `_count`; choose the objectives, e.g.
//! [`COMMON_OBJECTIVES`](metrics::COMMON_OBJECTIVES) (0.5, 0.9, 0.99).
//! Quantiles cannot be added up across instances: where they must be
//! (several replicas), prefer a histogram.
//!
//! ```
//! use sonde_instrument::metrics::{COMMON_OBJECTIVES, Registry, Summary};
//!
//! let registry = Registry::new();
//! let sizes = registry.register("payload_bytes", "Request sizes.", Summary::with_objectives(&COMMON_OBJECTIVES)?)?;
//! for size in 1..=1000 {
//!     sizes.observe(f64::from(size));
//! }
//! let quantiles = sizes.quantiles();
//! assert_eq!(quantiles.len(), 3);
//! assert!((quantiles[1].1 - 900.0).abs() <= 1.0, "{quantiles:?}");
//! assert_eq!((sizes.count(), sizes.sum()), (1000, 500_500.0));
//! # Ok::<(), sonde_instrument::metrics::MetricError>(())
//! ```
//!
//! ## Exemplars and `_created`
//!
//! [`Counter::inc_with_exemplar`](metrics::Counter::inc_with_exemplar) and
//! [`Histogram::observe_with_exemplar`](metrics::Histogram::observe_with_exemplar)
//! attach a trace id to a value; OpenMetrics output writes it after the
//! line (`# {trace_id="…"} 1 1700000000.5`), so a Prometheus run with
//! `--enable-feature=exemplar-storage` links the series to the trace.
//! [`Registry::with_created_samples`](metrics::Registry::with_created_samples)
//! adds client_golang's `_created` lines to OpenMetrics output.
//!
//! ```
//! use sonde_instrument::metrics::{Counter, Registry};
//! use sonde_instrument::{Collector, Format};
//!
//! let registry = Registry::new();
//! let orders = registry.register("orders", "Orders placed.", Counter::new())?;
//! orders.inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6")]);
//! let mut out = Vec::new();
//! registry.encode(Format::OpenMetrics, &mut out);
//! let text = String::from_utf8_lossy(&out);
//! assert!(text.contains("orders_total 1 # {trace_id=\"4bf92f3577b34da6\"} 1 "), "{text}");
//! # Ok::<(), sonde_instrument::metrics::MetricError>(())
//! ```
//!
//! ## The bridge to the `prometheus` crate
//!
//! With the `prometheus` feature, the `bridge` module joins
//! a `prometheus::Registry` to Sonde's, both ways: a service that already
//! has one exposes it on the same endpoint, and Sonde's metrics can be
//! registered into it.
//!
//! ```
//! # #[cfg(feature = "prometheus")] {
//! use sonde_instrument::bridge::PrometheusRegistryCollector;
//! use sonde_instrument::metrics::Registry;
//! use sonde_instrument::{Collector, Format};
//!
//! let theirs = prometheus::Registry::new();
//! let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap_or_else(|e| panic!("{e}"));
//! theirs.register(Box::new(jobs.clone())).unwrap_or_else(|e| panic!("{e}"));
//! jobs.inc();
//! let ours = Registry::new();
//! ours.register_collector(PrometheusRegistryCollector::new(theirs));
//! let mut out = Vec::new();
//! ours.encode(Format::Text, &mut out);
//! assert_eq!(out, b"# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total 1\n");
//! # }
//! ```
//!
//! ## The middleware with route templates
//!
//! With the `http` feature, `http::RespTimeLayer` is a tower
//! layer recording go-demo's `http_server_resp_time{code, method, path,
//! service}` histogram for every request. A `http::Routes`
//! hook maps request paths to route templates, so the `path` label stays
//! bounded whatever paths clients send.
//!
//! ```
//! # #[cfg(feature = "http")] {
//! use std::convert::Infallible;
//! use std::future::{Future, Ready, ready};
//! use std::pin::pin;
//! use std::task::{Context, Poll, Waker};
//! use http::{Request, Response};
//! use sonde_instrument::http::{RespTimeLayer, Routes};
//! use sonde_instrument::metrics::Registry;
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! /// The service being measured: answers 200 at once.
//! struct Hello;
//! impl Service<Request<()>> for Hello {
//!     type Response = Response<()>;
//!     type Error = Infallible;
//!     type Future = Ready<Result<Response<()>, Infallible>>;
//!     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
//!         Poll::Ready(Ok(()))
//!     }
//!     fn call(&mut self, _: Request<()>) -> Self::Future {
//!         ready(Ok(Response::new(())))
//!     }
//! }
//!
//! let registry = Registry::new();
//! let routes = Routes::new(["/demo/person/:id", "/demo/hello"]);
//! let layer = RespTimeLayer::new("go-demo").route_template(routes).register(&registry)?;
//! let mut service = layer.layer(Hello);
//! let mut cx = Context::from_waker(Waker::noop());
//! for path in ["/demo/person/1", "/demo/person/2", "/wp-login.php"] {
//!     let request = Request::get(path).body(()).unwrap_or_default();
//!     assert!(pin!(service.call(request)).poll(&mut cx).is_ready());
//! }
//! let by_route = |path: &str| layer.family().get_or_create(&["200", "GET", path, "go-demo"]).count();
//! assert_eq!((by_route("/demo/person/:id"), by_route(Routes::DEFAULT_FALLBACK)), (2, 1));
//! # }
//! # Ok::<(), sonde_instrument::metrics::MetricError>(())
//! ```
//!
//! ## Test helpers
//!
//! The `testing` feature (on by default; a service can leave it out with
//! `default-features = false`) has `testing`'s lookups
//! over collected metrics, for assertions in tests.
#![deny(missing_docs)]

#[cfg(feature = "prometheus")]
pub mod bridge;
pub mod collector;
pub mod duration;
pub mod encode;
pub mod file;
pub mod format;
#[cfg(feature = "http")]
pub mod http;
pub mod json;
pub mod lint;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod process;
pub mod strconv;
#[cfg(feature = "testing")]
pub mod testing;

pub use collector::Collector;
pub use encode::{EncodeReport, encode};
pub use format::{Format, accepts_gzip, negotiate};
pub use model::{Exemplar, Label, Labels, MetricFamily, MetricType, Sample, Suffix};
// Where the workspace's tests have imported it from; new code uses `testing`.
pub use parse::{ParseError, parse};
pub use process::ProcessCollector;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use testing::find_value;
