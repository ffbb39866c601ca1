//! Recording and encoding speed: Sonde's metric types against `prometheus`
//! 0.14, `prometheus-client` 0.26 and the `metrics` 0.24 facade with
//! `metrics-exporter-prometheus` 0.18, in one process.
//!
//! Run with `cargo bench -p sonde-instrument --bench metrics`. Cases, each
//! for every library:
//! * `counter_inc`: increment through a child resolved once and held;
//! * `lookup_inc`: resolve a child from 4 label values, then increment
//!   (Sonde twice: `with_label_values`, which returns a `Result`, and
//!   `get_or_create`, which cannot fail);
//! * `lookup_inc_2_threads` and `lookup_inc_8_threads`: the same on two
//!   and on eight threads at once, same series (wall time per call per
//!   thread; the response-time middleware's case: every request thread
//!   looks up the same few series);
//! * `observe`: histogram observe with client_golang's default buckets, one
//!   thread;
//! * `observe_2_threads` and `observe_8_threads`: the same histogram
//!   observed by two and by eight threads at once (wall time per
//!   observation per thread);
//! * `summary_observe` and `summary_observe_2_threads`: a summary with
//!   objectives 0.5, 0.9, 0.99 over client_golang's 10-minute window, on one
//!   thread and on two at once. Peers: a `Mutex<hdrhistogram::Histogram>`
//!   (the baseline the issue sets: ≤ 0.5× under contention) and the
//!   `metrics` 0.24 facade's histogram handle from
//!   `metrics-exporter-prometheus` 0.18, which that exporter renders as a
//!   summary. Its `record` only appends `(value, Instant::now())` to a
//!   lock-free bucket; the quantile sketch is built at upkeep, which the
//!   bench runs between samples, outside the timing, so its memory stays
//!   bounded.
//!
//! * `encode_1000_series`: a registry holding 1,000 series (600 counters
//!   and 100 default-bucket histograms with the go-demo labels, 300 gauges
//!   with two labels: 2,300 sample lines) encoded as text, from the
//!   registry, into a reused buffer: Sonde's direct path
//!   (`Collector::encode_with` on the registry, what `MetricsHandler`
//!   does) and its model path (`Registry::collect` + encode),
//!   `prometheus`'s `gather` + `TextEncoder`, `prometheus-client`'s two
//!   text encoders, the `metrics` exporter's `render`.
//!
//! The `metrics` peer records through the exporter's recorder installed as
//! the global recorder (with client_golang's default buckets), through the
//! `counter!`/`histogram!` macros with `&'static str` label values, its
//! cheapest path. Its histogram `record` appends the value to a lock-free
//! queue and leaves bucketing to upkeep, which runs between samples,
//! outside the timing.
//!
//! Observed values cycle through 64 latencies spread log-uniformly from 1 ms
//! to 8 s, so every bucket is hit.

// A bench whose setup fails has nothing to measure: stopping is right.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family as PcFamily;
use prometheus_client::metrics::histogram::Histogram as PcHistogram;
use std::sync::Mutex;

use metrics::Recorder as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use prometheus_client::metrics::gauge::Gauge as PcGauge;
use sonde_instrument::encode::Encoder;
use sonde_instrument::metrics::{
    COMMON_OBJECTIVES, Counter, DEFAULT_BUCKETS, Family, Gauge, Histogram, Registry, Summary,
};
use sonde_instrument::{Collector, Format};
use std::sync::OnceLock;

const LABELS: [&str; 4] = ["service", "code", "method", "path"];
const VALUES: [&str; 4] = ["go-demo", "200", "GET", "/demo/hello"];

/// prometheus-client's fastest lookup: a derived label struct, built once.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GoDemoLabels {
    service: String,
    code: String,
    method: String,
    path: String,
}

fn latencies() -> Vec<f64> {
    // 1 ms · 8000^(i/63): log-uniform from 1 ms to 8 s.
    (0..64).map(|i| 0.001 * 8000f64.powf(f64::from(i) / 63.0)).collect()
}

/// Nanoseconds-scale ops on a shared 2-core machine: short runs, medians.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

fn counter_inc(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter_inc");
    let sonde = Family::<Counter>::new(&LABELS);
    let child = sonde.with_label_values(&VALUES).unwrap();
    group.bench_function("sonde", |b| b.iter(|| black_box(&child).inc()));

    let tikv = prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &LABELS).unwrap();
    let tikv_child = tikv.with_label_values(&VALUES);
    group.bench_function("prometheus", |b| b.iter(|| black_box(&tikv_child).inc()));

    let client = PcFamily::<GoDemoLabels, PcCounter>::default();
    let client_child = client.get_or_create_owned(&go_demo_labels());
    group.bench_function("prometheus-client", |b| b.iter(|| black_box(&client_child).inc()));

    global_metrics();
    let metrics_child = metrics::counter!("counter_inc", "service" => VALUES[0], "code" => VALUES[1],
        "method" => VALUES[2], "path" => VALUES[3]);
    group.bench_function("metrics", |b| b.iter(|| black_box(&metrics_child).increment(1)));
    group.finish();
}

/// The `metrics` exporter's recorder, installed once as the global
/// recorder, with client_golang's default buckets; the handle runs upkeep.
fn global_metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().set_buckets(&DEFAULT_BUCKETS).unwrap().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).unwrap();
        handle
    })
}

/// The `metrics` facade's lookup: a key from the name and four labels
/// (`&'static str` values, so no copies), resolved by the global recorder.
#[inline(always)]
fn metrics_lookup(name: &'static str) -> metrics::Counter {
    metrics::counter!(name, "service" => black_box(VALUES[0]), "code" => black_box(VALUES[1]),
        "method" => black_box(VALUES[2]), "path" => black_box(VALUES[3]))
}

fn go_demo_labels() -> GoDemoLabels {
    GoDemoLabels {
        service: VALUES[0].to_owned(),
        code: VALUES[1].to_owned(),
        method: VALUES[2].to_owned(),
        path: VALUES[3].to_owned(),
    }
}

fn lookup_inc(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup_inc");
    let sonde = Family::<Counter>::new(&LABELS);
    // A few siblings so the lookup is not trivially the only entry.
    for code in ["404", "500", "503"] {
        sonde.with_label_values(&["go-demo", code, "GET", "/demo/hello"]).unwrap();
    }
    group.bench_function("sonde", |b| b.iter(|| sonde.with_label_values(black_box(&VALUES)).unwrap().inc()));
    group.bench_function("sonde get_or_create", |b| b.iter(|| sonde.get_or_create(black_box(&VALUES)).inc()));

    let tikv = prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &LABELS).unwrap();
    group.bench_function("prometheus", |b| b.iter(|| tikv.with_label_values(black_box(&VALUES)).inc()));

    let client = PcFamily::<GoDemoLabels, PcCounter>::default();
    let labels = go_demo_labels();
    group.bench_function("prometheus-client", |b| b.iter(|| client.get_or_create(black_box(&labels)).inc()));

    global_metrics();
    for code in ["404", "500", "503"] {
        let _ = metrics::counter!("lookup_inc", "service" => "go-demo", "code" => code, "method" => "GET",
            "path" => "/demo/hello");
    }
    group.bench_function("metrics", |b| b.iter(|| metrics_lookup("lookup_inc").increment(1)));
    group.finish();
}

fn observe(c: &mut Criterion) {
    let values = latencies();
    let mut group = c.benchmark_group("observe");
    let sonde = Histogram::new();
    let mut i = 0usize;
    group.bench_function("sonde", |b| {
        b.iter(|| {
            i = (i + 1) & 63;
            sonde.observe(black_box(values[i]));
        })
    });

    let tikv = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "h")).unwrap();
    group.bench_function("prometheus", |b| {
        b.iter(|| {
            i = (i + 1) & 63;
            tikv.observe(black_box(values[i]));
        })
    });

    let client = PcHistogram::new(DEFAULT_BUCKETS);
    group.bench_function("prometheus-client", |b| {
        b.iter(|| {
            i = (i + 1) & 63;
            client.observe(black_box(values[i]));
        })
    });

    let handle = global_metrics();
    let histogram = metrics::histogram!("observe");
    group.bench_function("metrics", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for n in 0..iters {
                histogram.record(black_box(values[n as usize & 63]));
            }
            let elapsed = start.elapsed();
            handle.run_upkeep();
            elapsed
        })
    });
    group.finish();
}

/// Wall time for `iters` calls on each of two threads at once.
fn contended(iters: u64, observe: &(dyn Fn(f64) + Sync)) -> Duration {
    contended_on(2, iters, observe)
}

/// Wall time for `iters` calls on each of `threads` threads at once.
fn contended_on(threads: usize, iters: u64, observe: &(dyn Fn(f64) + Sync)) -> Duration {
    let values = latencies();
    let start = Instant::now();
    thread::scope(|scope| {
        for t in 0..threads {
            let values = &values;
            scope.spawn(move || {
                for n in 0..iters {
                    observe(black_box(values[(n as usize + t * 32) & 63]));
                }
            });
        }
    });
    start.elapsed()
}

fn observe_2_threads(c: &mut Criterion) {
    observe_threads(c, 2);
}

fn observe_8_threads(c: &mut Criterion) {
    observe_threads(c, 8);
}

/// The same histogram observed by `threads` threads at once.
fn observe_threads(c: &mut Criterion, threads: usize) {
    let name = format!("observe_{threads}_threads");
    let mut group = c.benchmark_group(&name);
    let sonde = Histogram::new();
    group.bench_function("sonde", |b| b.iter_custom(|iters| contended_on(threads, iters, &|v| sonde.observe(v))));
    let tikv = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "h")).unwrap();
    group.bench_function("prometheus", |b| b.iter_custom(|iters| contended_on(threads, iters, &|v| tikv.observe(v))));
    let client = PcHistogram::new(DEFAULT_BUCKETS);
    group.bench_function("prometheus-client", |b| {
        b.iter_custom(|iters| contended_on(threads, iters, &|v| client.observe(v)))
    });
    let handle = global_metrics();
    let histogram = metrics::histogram!(name.clone());
    group.bench_function("metrics", |b| {
        b.iter_custom(|iters| {
            let elapsed = contended_on(threads, iters, &|v| histogram.record(v));
            handle.run_upkeep();
            elapsed
        })
    });
    group.finish();
}

fn lookup_inc_2_threads(c: &mut Criterion) {
    lookup_inc_threads(c, 2);
}

fn lookup_inc_8_threads(c: &mut Criterion) {
    lookup_inc_threads(c, 8);
}

/// Lookup + inc of the same series by `threads` threads at once.
fn lookup_inc_threads(c: &mut Criterion, threads: usize) {
    let mut group = c.benchmark_group(format!("lookup_inc_{threads}_threads"));
    let sonde = Family::<Counter>::new(&LABELS);
    for code in ["404", "500", "503"] {
        sonde.get_or_create(&["go-demo", code, "GET", "/demo/hello"]).inc();
    }
    group.bench_function("sonde", |b| {
        b.iter_custom(|iters| {
            contended_on(threads, iters, &|_| sonde.with_label_values(black_box(&VALUES)).unwrap().inc())
        })
    });
    group.bench_function("sonde get_or_create", |b| {
        b.iter_custom(|iters| contended_on(threads, iters, &|_| sonde.get_or_create(black_box(&VALUES)).inc()))
    });
    let tikv = prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &LABELS).unwrap();
    group.bench_function("prometheus", |b| {
        b.iter_custom(|iters| contended_on(threads, iters, &|_| tikv.with_label_values(black_box(&VALUES)).inc()))
    });
    let client = PcFamily::<GoDemoLabels, PcCounter>::default();
    let labels = go_demo_labels();
    group.bench_function("prometheus-client", |b| {
        b.iter_custom(|iters| {
            contended_on(threads, iters, &|_| {
                client.get_or_create(black_box(&labels)).inc();
            })
        })
    });
    global_metrics();
    // A `&'static str` name, the facade's cheapest key.
    let name = if threads == 2 { "lookup_inc_2_threads" } else { "lookup_inc_n_threads" };
    group.bench_function("metrics", |b| {
        b.iter_custom(|iters| contended_on(threads, iters, &|_| metrics_lookup(name).increment(1)))
    });
    group.finish();
}

/// The baseline: one hdrhistogram behind one lock, values in nanoseconds
/// at 3 significant figures like Sonde's default.
struct MutexHdr(Mutex<hdrhistogram::Histogram<u64>>);

impl MutexHdr {
    fn new() -> Self {
        MutexHdr(Mutex::new(hdrhistogram::Histogram::new(3).unwrap()))
    }

    fn observe(&self, v: f64) {
        let mut hist = self.0.lock().unwrap();
        let units = (v * 1e9 + 0.5) as u64;
        if hist.record(units).is_err() {
            hist.saturating_record(units);
        }
    }
}

/// The `metrics` exporter's summary: a recorder built (not installed
/// globally) with the same quantiles and window as Sonde's.
fn metrics_summary() -> (metrics::Histogram, metrics_exporter_prometheus::PrometheusHandle) {
    let recorder = PrometheusBuilder::new()
        .set_quantiles(&COMMON_OBJECTIVES)
        .unwrap()
        .set_bucket_duration(Duration::from_secs(120))
        .unwrap()
        .set_bucket_count(std::num::NonZeroU32::new(5).unwrap())
        .build_recorder();
    let key = metrics::Key::from_name("request_duration_seconds");
    let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    (recorder.register_histogram(&key, &metadata), recorder.handle())
}

fn summary_observe(c: &mut Criterion) {
    let values = latencies();
    let mut group = c.benchmark_group("summary_observe");
    let sonde = Summary::with_objectives(&COMMON_OBJECTIVES).unwrap();
    let mut i = 0usize;
    group.bench_function("sonde", |b| {
        b.iter(|| {
            i = (i + 1) & 63;
            sonde.observe(black_box(values[i]));
        })
    });
    let baseline = MutexHdr::new();
    group.bench_function("mutex-hdrhistogram", |b| {
        b.iter(|| {
            i = (i + 1) & 63;
            baseline.observe(black_box(values[i]));
        })
    });
    let (histogram, handle) = metrics_summary();
    group.bench_function("metrics-exporter-prometheus", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for n in 0..iters {
                histogram.record(black_box(values[n as usize & 63]));
            }
            let elapsed = start.elapsed();
            handle.run_upkeep();
            elapsed
        })
    });
    group.finish();
}

fn summary_observe_2_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("summary_observe_2_threads");
    let sonde = Summary::with_objectives(&COMMON_OBJECTIVES).unwrap();
    group.bench_function("sonde", |b| b.iter_custom(|iters| contended(iters, &|v| sonde.observe(v))));
    let baseline = MutexHdr::new();
    group.bench_function("mutex-hdrhistogram", |b| b.iter_custom(|iters| contended(iters, &|v| baseline.observe(v))));
    let (histogram, handle) = metrics_summary();
    group.bench_function("metrics-exporter-prometheus", |b| {
        b.iter_custom(|iters| {
            let elapsed = contended(iters, &|v| histogram.record(v));
            handle.run_upkeep();
            elapsed
        })
    });
    group.finish();
}

const SERVICES: [&str; 3] = ["go-demo", "checkout", "search"];
const CODES: [&str; 4] = ["200", "404", "500", "503"];
const METHODS: [&str; 2] = ["GET", "PUT"];

/// The 1,000 series, as label values: 600 counters `{service, code, method,
/// path}`, 300 gauges `{service, queue}`, 100 histograms `{service, code,
/// method, path}` (go-demo, codes 200 and 500).
struct Series {
    counters: Vec<[String; 4]>,
    gauges: Vec<[String; 2]>,
    histograms: Vec<[String; 4]>,
}

fn series() -> Series {
    let paths: Vec<String> = (0..25).map(|i| format!("/api/v1/items/{i}")).collect();
    let mut counters = Vec::new();
    for service in SERVICES {
        for code in CODES {
            for method in METHODS {
                for path in &paths {
                    counters.push([service.to_owned(), code.to_owned(), method.to_owned(), path.clone()]);
                }
            }
        }
    }
    let gauges = SERVICES.iter().flat_map(|s| (0..100).map(move |q| [(*s).to_owned(), format!("queue-{q}")])).collect();
    let mut histograms = Vec::new();
    for code in ["200", "500"] {
        for method in METHODS {
            for path in &paths {
                histograms.push(["go-demo".to_owned(), code.to_owned(), method.to_owned(), path.clone()]);
            }
        }
    }
    Series { counters, gauges, histograms }
}

fn refs<const N: usize>(values: &[String; N]) -> [&str; N] {
    values.each_ref().map(String::as_str)
}

const COUNTER_HELP: &str = "Requests answered.";
const GAUGE_HELP: &str = "Items waiting.";
const HISTOGRAM_HELP: &str = "Time to answer a request.";

fn sonde_registry(data: &Series) -> Registry {
    let registry = Registry::new();
    let counters = registry.register("http_requests", COUNTER_HELP, Family::<Counter>::new(&LABELS)).unwrap();
    for (i, values) in data.counters.iter().enumerate() {
        counters.with_label_values(&refs(values)).unwrap().inc_by(i as u64 * 7 + 1);
    }
    let gauges = registry.register("queue_length", GAUGE_HELP, Family::<Gauge>::new(&["service", "queue"])).unwrap();
    for (i, values) in data.gauges.iter().enumerate() {
        gauges.with_label_values(&refs(values)).unwrap().set(i as i64);
    }
    let histograms =
        registry.register("http_server_resp_time", HISTOGRAM_HELP, Family::<Histogram>::new(&LABELS)).unwrap();
    let values = latencies();
    for (i, labels) in data.histograms.iter().enumerate() {
        let child = histograms.with_label_values(&refs(labels)).unwrap();
        for k in 0..8 {
            child.observe(values[(i + k * 8) & 63]);
        }
    }
    registry
}

fn prometheus_registry(data: &Series) -> prometheus::Registry {
    let registry = prometheus::Registry::new();
    let counters =
        prometheus::IntCounterVec::new(prometheus::Opts::new("http_requests_total", COUNTER_HELP), &LABELS).unwrap();
    for (i, values) in data.counters.iter().enumerate() {
        counters.with_label_values(&refs(values)).inc_by(i as u64 * 7 + 1);
    }
    registry.register(Box::new(counters)).unwrap();
    let gauges =
        prometheus::IntGaugeVec::new(prometheus::Opts::new("queue_length", GAUGE_HELP), &["service", "queue"]).unwrap();
    for (i, values) in data.gauges.iter().enumerate() {
        gauges.with_label_values(&refs(values)).set(i as i64);
    }
    registry.register(Box::new(gauges)).unwrap();
    let histograms =
        prometheus::HistogramVec::new(prometheus::HistogramOpts::new("http_server_resp_time", HISTOGRAM_HELP), &LABELS)
            .unwrap();
    let values = latencies();
    for (i, labels) in data.histograms.iter().enumerate() {
        let child = histograms.with_label_values(&refs(labels));
        for k in 0..8 {
            child.observe(values[(i + k * 8) & 63]);
        }
    }
    registry.register(Box::new(histograms)).unwrap();
    registry
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    service: String,
    queue: String,
}

fn prometheus_client_registry(data: &Series) -> prometheus_client::registry::Registry {
    let mut registry = prometheus_client::registry::Registry::default();
    let go_demo = |v: &[String; 4]| GoDemoLabels {
        service: v[0].clone(),
        code: v[1].clone(),
        method: v[2].clone(),
        path: v[3].clone(),
    };
    let counters = PcFamily::<GoDemoLabels, PcCounter>::default();
    for (i, values) in data.counters.iter().enumerate() {
        counters.get_or_create(&go_demo(values)).inc_by(i as u64 * 7 + 1);
    }
    registry.register("http_requests", COUNTER_HELP, counters);
    let gauges = PcFamily::<QueueLabels, PcGauge>::default();
    for (i, v) in data.gauges.iter().enumerate() {
        gauges.get_or_create(&QueueLabels { service: v[0].clone(), queue: v[1].clone() }).set(i as i64);
    }
    registry.register("queue_length", GAUGE_HELP, gauges);
    let histograms = PcFamily::<GoDemoLabels, PcHistogram>::new_with_constructor(|| PcHistogram::new(DEFAULT_BUCKETS));
    let values = latencies();
    for (i, labels) in data.histograms.iter().enumerate() {
        let child = histograms.get_or_create(&go_demo(labels));
        for k in 0..8 {
            child.observe(values[(i + k * 8) & 63]);
        }
    }
    registry.register("http_server_resp_time", HISTOGRAM_HELP, histograms);
    registry
}

/// The `metrics` exporter with the same series, recorded through its
/// recorder directly (not the global one the recording benches use).
fn metrics_exporter(data: &Series) -> PrometheusHandle {
    let recorder = PrometheusBuilder::new().set_buckets(&DEFAULT_BUCKETS).unwrap().build_recorder();
    let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    let key = |name: &'static str, names: &[&'static str], values: &[String]| {
        let labels: Vec<metrics::Label> =
            names.iter().zip(values).map(|(n, v)| metrics::Label::new(*n, v.clone())).collect();
        metrics::Key::from_parts(name, labels)
    };
    recorder.describe_counter("http_requests_total".into(), None, COUNTER_HELP.into());
    recorder.describe_gauge("queue_length".into(), None, GAUGE_HELP.into());
    recorder.describe_histogram("http_server_resp_time".into(), None, HISTOGRAM_HELP.into());
    for (i, values) in data.counters.iter().enumerate() {
        recorder.register_counter(&key("http_requests_total", &LABELS, values), &metadata).increment(i as u64 * 7 + 1);
    }
    for (i, values) in data.gauges.iter().enumerate() {
        recorder.register_gauge(&key("queue_length", &["service", "queue"], values), &metadata).set(i as f64);
    }
    let values = latencies();
    for (i, labels) in data.histograms.iter().enumerate() {
        let child = recorder.register_histogram(&key("http_server_resp_time", &LABELS, labels), &metadata);
        for k in 0..8 {
            child.record(values[(i + k * 8) & 63]);
        }
    }
    let handle = recorder.handle();
    handle.run_upkeep();
    handle
}

fn sample_lines(text: &str) -> usize {
    text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count()
}

fn encode_1000_series(c: &mut Criterion) {
    let data = series();
    let sonde = sonde_registry(&data);
    let tikv = prometheus_registry(&data);
    let client = prometheus_client_registry(&data);
    let exporter = metrics_exporter(&data);

    // Every library must write the same series, or the race is unfair.
    let mut families = Vec::new();
    sonde.collect(&mut families);
    let (sonde_text, _) = sonde_instrument::encode::encode_to_string(&families, Format::Text);
    let mut direct = Vec::new();
    sonde.encode(Format::Text, &mut direct);
    assert_eq!(direct, sonde_text.as_bytes(), "Sonde's direct path differs from its model path");
    let tikv_text = prometheus::TextEncoder::new().encode_to_string(&tikv.gather()).unwrap();
    let mut client_text = String::new();
    prometheus_client::encoding::text::encode(&mut client_text, &client).unwrap();
    let exporter_text = exporter.render();
    for (who, text) in [
        ("sonde", &sonde_text),
        ("prometheus", &tikv_text),
        ("prometheus-client", &client_text),
        ("metrics-exporter-prometheus", &exporter_text),
    ] {
        assert_eq!(sample_lines(text), 2_300, "{who} wrote another number of lines:\n{text}");
        eprintln!("encode_1000_series: {who} writes {} bytes", text.len());
    }

    let mut group = c.benchmark_group("encode_1000_series");
    let mut out: Vec<u8> = Vec::with_capacity(sonde_text.len() * 2);
    let mut out_string = String::with_capacity(sonde_text.len() * 2);
    let mut encoder = Encoder::new();
    let mut collected = Vec::new();
    group.bench_function("sonde", |b| {
        b.iter(|| {
            out.clear();
            black_box(black_box(&sonde).encode_with(&mut encoder, Format::Text, &mut out));
        })
    });
    group.bench_function("sonde collect + encode", |b| {
        b.iter(|| {
            out.clear();
            collected.clear();
            black_box(&sonde).collect(&mut collected);
            black_box(encoder.encode(&collected, Format::Text, &mut out));
        })
    });
    group.bench_function("sonde collect only", |b| {
        b.iter(|| {
            collected.clear();
            black_box(&sonde).collect(&mut collected);
            black_box(&collected);
        })
    });
    group.bench_function("prometheus", |b| {
        let encoder = prometheus::TextEncoder::new();
        b.iter(|| {
            out.clear();
            let gathered = black_box(&tikv).gather();
            black_box(prometheus::Encoder::encode(&encoder, &gathered, &mut out)).unwrap();
        })
    });
    group.bench_function("prometheus-client text", |b| {
        b.iter(|| {
            out_string.clear();
            black_box(prometheus_client::encoding::prometheus_text::encode(&mut out_string, black_box(&client)))
        })
    });
    group.bench_function("prometheus-client openmetrics", |b| {
        b.iter(|| {
            out_string.clear();
            black_box(prometheus_client::encoding::text::encode(&mut out_string, black_box(&client)))
        })
    });
    group.bench_function("metrics-exporter-prometheus", |b| {
        b.iter(|| {
            out.clear();
            black_box(black_box(&exporter).render_to_write(&mut out)).unwrap();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = counter_inc, lookup_inc, lookup_inc_2_threads, lookup_inc_8_threads, observe, observe_2_threads,
        observe_8_threads, summary_observe, summary_observe_2_threads, encode_1000_series
}
criterion_main!(benches);
