//! The bridge to the `prometheus` crate, both ways: what each side's own
//! encoder writes must parse to the same samples, escapes included.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;

use prometheus::core::{Collector as _, Desc};
use prometheus::{Encoder as _, proto};
use sonde_instrument::bridge::{PrometheusRegistryCollector, SondeCollector, from_prometheus, to_prometheus};
use sonde_instrument::encode::encode_to_string;
use sonde_instrument::metrics::{Counter, Family, FloatGauge, Gauge, Histogram, Registry, Summary};
use sonde_instrument::parse::{parse_openmetrics, parse_text};
use sonde_instrument::strconv::{FloatFormat, format_float};
use sonde_instrument::{Collector, Format, MetricFamily, MetricType, Suffix};

/// A label value with every character text 0.0.4 escapes.
const NASTY: &str = "C:\\dir \"quoted\"\nnext line";
const NASTY_HELP: &str = "Requests \\ served.\nSecond line.";

/// The samples of an exposition as canonical lines, sorted: full name,
/// labels sorted by name (`le` and `quantile` re-formatted from their
/// numeric value, since the two encoders spell bounds differently), value.
fn samples(text: &str) -> Vec<String> {
    let families = parse_text(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut lines = Vec::new();
    for family in &families {
        for sample in &family.samples {
            let mut labels: Vec<(String, String)> = sample
                .labels
                .iter()
                .map(|l| {
                    let value = if l.name == "le" || l.name == "quantile" {
                        format_float(l.value.parse::<f64>().unwrap(), FloatFormat::G, None)
                    } else {
                        l.value.clone()
                    };
                    (l.name.clone(), value)
                })
                .collect();
            labels.sort();
            lines.push(format!("{}{labels:?} {:?}", family.sample_name(sample.suffix), sample.value));
        }
    }
    lines.sort();
    lines
}

fn sonde_text(families: &[MetricFamily]) -> String {
    let (text, report) = encode_to_string(families, Format::Text);
    assert_eq!(report, Default::default(), "{text}");
    text
}

fn collect(collector: &impl Collector) -> Vec<MetricFamily> {
    let mut families = Vec::new();
    collector.collect(&mut families);
    families
}

fn prometheus_text(registry: &prometheus::Registry) -> String {
    prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap()
}

/// `prometheus` has no summary type of its own; services build one in a
/// custom collector.
struct ProtoSummary(Desc);

impl prometheus::core::Collector for ProtoSummary {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0]
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let mut metrics = Vec::new();
        for (path, scale) in [("/a", 1.0), (NASTY, 2.0)] {
            let quantiles = [(0.5, 0.05), (0.9, 0.09), (0.99, 0.099)]
                .into_iter()
                .map(|(q, v)| {
                    let mut quantile = proto::Quantile::default();
                    quantile.set_quantile(q);
                    quantile.set_value(v * scale);
                    quantile
                })
                .collect();
            let mut summary = proto::Summary::default();
            summary.set_quantile(quantiles);
            summary.set_sample_count(100);
            summary.set_sample_sum(5.25 * scale);
            let mut label = proto::LabelPair::default();
            label.set_name("path".into());
            label.set_value(path.into());
            let mut metric = proto::Metric::from_label(vec![label]);
            metric.set_summary(summary);
            metrics.push(metric);
        }
        let mut family = proto::MetricFamily::default();
        family.set_name("rpc_duration_seconds".into());
        family.set_help("RPC latency.".into());
        family.set_field_type(proto::MetricType::SUMMARY);
        family.set_metric(metrics);
        vec![family]
    }
}

/// A `prometheus` registry with every type it can hold, labelled, with a
/// prefix and constant labels.
fn prometheus_registry() -> prometheus::Registry {
    let registry =
        prometheus::Registry::new_custom(Some("app".into()), Some(HashMap::from([("zone".into(), "eu".into())])))
            .unwrap();
    let requests =
        prometheus::IntCounterVec::new(prometheus::Opts::new("http_requests_total", NASTY_HELP), &["code", "path"])
            .unwrap();
    registry.register(Box::new(requests.clone())).unwrap();
    requests.with_label_values(&["200", "/a"]).inc_by(1027);
    requests.with_label_values(&["500", NASTY]).inc();

    let jobs = prometheus::Counter::new("jobs_done", "Jobs done, a counter named without _total.").unwrap();
    registry.register(Box::new(jobs.clone())).unwrap();
    jobs.inc_by(2.5);

    let temperature =
        prometheus::GaugeVec::new(prometheus::Opts::new("temperature_celsius", "Heat."), &["sensor"]).unwrap();
    registry.register(Box::new(temperature.clone())).unwrap();
    temperature.with_label_values(&["a"]).set(21.5);
    temperature.with_label_values(&[NASTY]).set(-3.0);

    let latency = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("resp_time_seconds", "Latency.").buckets(vec![0.005, 0.1, 1.0]),
        &["path"],
    )
    .unwrap();
    registry.register(Box::new(latency.clone())).unwrap();
    for v in [0.001, 0.05, 0.05, 0.5, 3.0] {
        latency.with_label_values(&[NASTY]).observe(v);
    }
    latency.with_label_values(&["/a"]).observe(0.2);

    let desc =
        Desc::new("rpc_duration_seconds".into(), "RPC latency.".into(), vec!["path".into()], HashMap::new()).unwrap();
    registry.register(Box::new(ProtoSummary(desc))).unwrap();
    registry
}

/// A Sonde registry with every metric type, labelled, with a sub-registry
/// carrying constant labels.
fn sonde_registry() -> Registry {
    let registry = Registry::with_prefix("svc").unwrap();
    let requests = registry.register("http_requests", NASTY_HELP, Family::<Counter>::new(&["code", "path"])).unwrap();
    requests.with_label_values(&["200", "/a"]).unwrap().inc_by(1027);
    requests.with_label_values(&["500", NASTY]).unwrap().inc();
    registry.register("jobs", "Jobs run.", Counter::new()).unwrap().inc_by(3);
    registry.register("queue_length", "Queued.", Gauge::new()).unwrap().set(7);
    registry.register("temperature_celsius", "Heat.", FloatGauge::new()).unwrap().set(21.5);

    let latency = registry
        .register(
            "resp_time_seconds",
            "Latency.",
            Family::<Histogram>::with_buckets(&["path"], &[0.005, 0.1, 1.0]).unwrap(),
        )
        .unwrap();
    for v in [0.001, 0.05, 0.05, 0.5, 3.0] {
        latency.with_label_values(&[NASTY]).unwrap().observe(v);
    }
    latency.with_label_values(&["/a"]).unwrap().observe(0.2);

    let rpc =
        registry.register("rpc_seconds", "RPC latency.", Summary::with_objectives(&[0.5, 0.9, 0.99]).unwrap()).unwrap();
    for ms in 1..=100 {
        rpc.observe(f64::from(ms) / 1000.0);
    }

    let shard = registry.sub_registry_with_labels(&[("shard", "1")]).unwrap();
    shard.register("jobs", "Jobs run.", Counter::new()).unwrap().inc();
    registry
}

#[test]
fn a_prometheus_registry_is_served_by_sonde() {
    let registry = prometheus_registry();
    let expected = prometheus_text(&registry);

    let sonde = Registry::new();
    sonde.register_collector(PrometheusRegistryCollector::new(registry));
    let families = collect(&sonde);
    let text = sonde_text(&families);
    assert_eq!(samples(&text), samples(&expected), "\nsonde:\n{text}\nprometheus:\n{expected}");
    assert_eq!(samples(&text).len(), 2 + 1 + 2 + 2 * 6 + 2 * 5);

    // The model keeps counter names without `_total`, help and escapes intact.
    let requests = families.iter().find(|f| f.name == "app_http_requests").unwrap();
    assert_eq!(requests.metric_type, MetricType::Counter);
    assert_eq!(requests.help, NASTY_HELP);
    assert!(requests.samples.iter().all(|s| s.suffix == Suffix::Total));
    assert!(requests.samples.iter().any(|s| s.labels.get("path") == Some(NASTY)));
    let jobs = families.iter().find(|f| f.name == "app_jobs_done").unwrap();
    assert_eq!(jobs.samples[0].suffix, Suffix::None);

    // OpenMetrics from the same families is valid too (counters get `_total`).
    let (om, _) = encode_to_string(&families, Format::OpenMetrics);
    let parsed = parse_openmetrics(&om).unwrap_or_else(|e| panic!("{e}\n{om}"));
    assert!(parsed.iter().any(|f| f.name == "app_jobs_done" && f.samples[0].suffix == Suffix::Total));
}

#[test]
fn sonde_families_are_gathered_by_a_prometheus_registry() {
    let sonde = sonde_registry();
    let expected = sonde_text(&collect(&sonde));

    let registry = prometheus::Registry::new();
    let native = prometheus::IntGauge::new("native_gauge", "A prometheus gauge beside Sonde's.").unwrap();
    registry.register(Box::new(native.clone())).unwrap();
    native.set(5);
    registry.register(Box::new(SondeCollector::new(sonde))).unwrap();

    let text = prometheus_text(&registry);
    let mut got = samples(&text);
    let native_line = got.iter().position(|line| line.starts_with("native_gauge")).unwrap();
    assert_eq!(got.remove(native_line), "native_gauge[] 5.0");
    assert_eq!(got, samples(&expected), "\nprometheus:\n{text}\nsonde:\n{expected}");
    assert!(text.contains("# HELP svc_http_requests_total Requests \\\\ served.\\nSecond line.\n"), "{text}");
}

#[test]
fn conversions_round_trip_byte_for_byte() {
    // Sonde → prometheus → Sonde: Sonde's encoder writes the same text.
    let families = collect(&sonde_registry());
    let mut back = Vec::new();
    from_prometheus(&to_prometheus(&families), &mut back);
    assert_eq!(sonde_text(&back), sonde_text(&families));

    // prometheus → Sonde → prometheus: TextEncoder writes the same text.
    let gathered = prometheus_registry().gather();
    let mut sonde = Vec::new();
    from_prometheus(&gathered, &mut sonde);
    let encoder = prometheus::TextEncoder::new();
    let mut original = Vec::new();
    encoder.encode(&gathered, &mut original).unwrap();
    let mut again = Vec::new();
    encoder.encode(&to_prometheus(&sonde), &mut again).unwrap();
    assert_eq!(String::from_utf8(again).unwrap(), String::from_utf8(original).unwrap());
}

#[test]
fn registration_checks_names_like_prometheus_does() {
    let sonde = Registry::new();
    sonde.register("requests", "Requests.", Family::<Counter>::new(&["code"])).unwrap();
    sonde.register("up", "Up.", Gauge::new()).unwrap().set(1);

    let registry = prometheus::Registry::new();
    let collector = SondeCollector::new(sonde.clone());
    assert_eq!(collector.desc().iter().map(|d| d.fq_name.as_str()).collect::<Vec<_>>(), ["up"]);
    registry.register(Box::new(collector)).unwrap();
    // The same families again, or a native metric of a described name, conflict.
    assert!(registry.register(Box::new(SondeCollector::new(sonde.clone()))).is_err());
    assert!(registry.register(Box::new(prometheus::IntGauge::new("up", "Up.").unwrap())).is_err());

    // Collectors with nothing to describe yet each get their own placeholder.
    registry.register(Box::new(SondeCollector::new(Registry::new()))).unwrap();
    registry.register(Box::new(SondeCollector::new(Registry::new()))).unwrap();

    // A family that gets its first series after registration is gathered too.
    sonde.register("late", "Registered later.", Counter::new()).unwrap().inc();
    let text = prometheus_text(&registry);
    assert!(text.contains("\nlate_total 1\n"), "{text}");
    assert!(text.contains("\nup 1\n"), "{text}");
    assert!(!text.contains("sonde_collector"), "{text}");
}
