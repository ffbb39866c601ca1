//! Encodes the 1,000-series registry of `benches/metrics.rs`
//! (`encode_1000_series`) N times, for counting instructions per scrape
//! with callgrind, which criterion's timing loop does not suit:
//!
//! ```text
//! cargo build --release -p sonde-instrument --example encode-scrapes
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/encode-scrapes direct 11
//! ```
//!
//! Instructions per scrape are (I(11 scrapes) − I(1)) / 10. Modes:
//! `direct` (`Collector::encode`, what `MetricsHandler` does for a
//! registry), `model` (`Registry::collect` then a reused `Encoder`),
//! `collect` (`collect` and drop the families, no encoding), and the best
//! peer's two encoders over the same series, `prometheus-client` (its
//! OpenMetrics `text::encode`) and `prometheus-client-text` (its
//! `prometheus_text::encode`).

// An example whose setup fails has nothing to show: stopping is right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family as PcFamily;
use prometheus_client::metrics::gauge::Gauge as PcGauge;
use prometheus_client::metrics::histogram::Histogram as PcHistogram;

use sonde_instrument::encode::Encoder;
use sonde_instrument::metrics::{Counter, Family, Gauge, Histogram, Registry};
use sonde_instrument::{Collector, Format};

const LABELS: [&str; 4] = ["service", "code", "method", "path"];
const SERVICES: [&str; 3] = ["go-demo", "checkout", "search"];
const CODES: [&str; 4] = ["200", "404", "500", "503"];
const METHODS: [&str; 2] = ["GET", "PUT"];

/// The same registry as the bench: 600 counters, 300 gauges and 100
/// default-bucket histograms with 8 observations each (2,300 lines).
fn registry() -> Registry {
    let latencies = latencies();
    let paths = paths();
    let registry = Registry::new();
    let counters = registry.register("http_requests", "Requests answered.", Family::<Counter>::new(&LABELS)).unwrap();
    let mut i = 0u64;
    for service in SERVICES {
        for code in CODES {
            for method in METHODS {
                for path in &paths {
                    counters.with_label_values(&[service, code, method, path]).unwrap().inc_by(i * 7 + 1);
                    i += 1;
                }
            }
        }
    }
    let gauges =
        registry.register("queue_length", "Items waiting.", Family::<Gauge>::new(&["service", "queue"])).unwrap();
    let mut i = 0i64;
    for service in SERVICES {
        for q in 0..100 {
            gauges.with_label_values(&[service, &format!("queue-{q}")]).unwrap().set(i);
            i += 1;
        }
    }
    let histograms = registry
        .register("http_server_resp_time", "Time to answer a request.", Family::<Histogram>::new(&LABELS))
        .unwrap();
    let mut i = 0usize;
    for code in ["200", "500"] {
        for method in METHODS {
            for path in &paths {
                let child = histograms.with_label_values(&["go-demo", code, method, path]).unwrap();
                for k in 0..8 {
                    child.observe(latencies[(i + k * 8) & 63]);
                }
                i += 1;
            }
        }
    }
    registry
}

fn latencies() -> Vec<f64> {
    (0..64).map(|i| 0.001 * 8000f64.powf(f64::from(i) / 63.0)).collect()
}

fn paths() -> Vec<String> {
    (0..25).map(|i| format!("/api/v1/items/{i}")).collect()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GoDemoLabels {
    service: String,
    code: String,
    method: String,
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    service: String,
    queue: String,
}

/// The same series in a `prometheus-client` registry, as the bench builds it.
fn peer_registry() -> prometheus_client::registry::Registry {
    let latencies = latencies();
    let paths = paths();
    let labels = |service: &str, code: &str, method: &str, path: &str| GoDemoLabels {
        service: service.to_owned(),
        code: code.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let counters = PcFamily::<GoDemoLabels, PcCounter>::default();
    let mut i = 0u64;
    for service in SERVICES {
        for code in CODES {
            for method in METHODS {
                for path in &paths {
                    counters.get_or_create(&labels(service, code, method, path)).inc_by(i * 7 + 1);
                    i += 1;
                }
            }
        }
    }
    registry.register("http_requests", "Requests answered.", counters);
    let gauges = PcFamily::<QueueLabels, PcGauge>::default();
    let mut i = 0i64;
    for service in SERVICES {
        for q in 0..100 {
            gauges.get_or_create(&QueueLabels { service: service.to_owned(), queue: format!("queue-{q}") }).set(i);
            i += 1;
        }
    }
    registry.register("queue_length", "Items waiting.", gauges);
    let histograms = PcFamily::<GoDemoLabels, PcHistogram>::new_with_constructor(|| {
        PcHistogram::new(sonde_instrument::metrics::DEFAULT_BUCKETS)
    });
    let mut i = 0usize;
    for code in ["200", "500"] {
        for method in METHODS {
            for path in &paths {
                let child = histograms.get_or_create(&labels("go-demo", code, method, path));
                for k in 0..8 {
                    child.observe(latencies[(i + k * 8) & 63]);
                }
                i += 1;
            }
        }
    }
    registry.register("http_server_resp_time", "Time to answer a request.", histograms);
    registry
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "direct".to_owned());
    let scrapes: usize = args.next().map_or(1, |n| n.parse().expect("scrapes: a number"));
    let registry = registry();
    let peer = peer_registry();
    let mut text = String::with_capacity(256 * 1024);
    let mut out = Vec::with_capacity(256 * 1024);
    let mut encoder = Encoder::new();
    let mut families = Vec::new();
    for _ in 0..scrapes {
        out.clear();
        match mode.as_str() {
            "direct" => {
                black_box(black_box(&registry).encode(Format::Text, &mut out));
            }
            "model" => {
                families.clear();
                black_box(&registry).collect(&mut families);
                black_box(encoder.encode(&families, Format::Text, &mut out));
            }
            "collect" => {
                families.clear();
                black_box(&registry).collect(&mut families);
            }
            "prometheus-client" => {
                text.clear();
                prometheus_client::encoding::text::encode(&mut text, black_box(&peer)).unwrap();
            }
            "prometheus-client-text" => {
                text.clear();
                prometheus_client::encoding::prometheus_text::encode(&mut text, black_box(&peer)).unwrap();
            }
            other => panic!("unknown mode {other:?}: direct, model, collect, prometheus-client(-text)"),
        }
        black_box((&out, &text));
    }
    eprintln!("{mode}: {scrapes} scrapes, {} bytes each", out.len().max(text.len()));
}
