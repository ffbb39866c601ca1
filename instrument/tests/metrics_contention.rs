//! The metric types under contention, and a registry's exact exposition.

// Tests: a failed setup should stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::thread;

use sonde_instrument::metrics::{Counter, Family, FloatCounter, FloatGauge, Gauge, Histogram, Registry};
use sonde_instrument::{Collector, Format, MetricType, Suffix, encode::encode_to_string, parse};

const THREADS: usize = 4;
const PER_THREAD: usize = 50_000;

/// Runs `work(thread index)` on `THREADS` threads at once.
fn hammer(work: impl Fn(usize) + Sync) {
    thread::scope(|scope| {
        for t in 0..THREADS {
            let work = &work;
            scope.spawn(move || work(t));
        }
    });
}

#[test]
fn counters_are_exact_under_contention() {
    let counter = Counter::new();
    let float = FloatCounter::new();
    hammer(|_| {
        for _ in 0..PER_THREAD {
            counter.inc();
            float.inc_by(0.5);
        }
    });
    assert_eq!(counter.get(), (THREADS * PER_THREAD) as u64);
    // Halves add exactly in binary floating point.
    assert_eq!(float.get(), (THREADS * PER_THREAD) as f64 * 0.5);
}

#[test]
fn gauges_are_exact_under_contention() {
    let gauge = Gauge::new();
    let float = FloatGauge::new();
    hammer(|t| {
        for _ in 0..PER_THREAD {
            // Even threads go up by 3, odd ones down by 1.
            if t % 2 == 0 {
                gauge.add(3);
                float.add(0.25);
            } else {
                gauge.dec();
                float.sub(0.75);
            }
        }
    });
    let pairs = (THREADS / 2 * PER_THREAD) as i64;
    assert_eq!(gauge.get(), pairs * 2);
    assert_eq!(float.get(), pairs as f64 * -0.5);
}

#[test]
fn histogram_is_exact_under_contention() {
    let histogram = Histogram::new();
    // Every thread observes the same cycle of values: one per default
    // bucket plus one above 10, all multiples of 1/8 or exact in binary.
    let values = [0.001953125, 0.0078125, 0.015625, 0.03125, 0.0625, 0.125, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
    hammer(|_| {
        for i in 0..PER_THREAD {
            histogram.observe(values[i % values.len()]);
        }
    });
    let total = (THREADS * PER_THREAD) as u64;
    assert_eq!(histogram.count(), total);
    let per_value = (PER_THREAD / values.len()) as u64 * THREADS as u64;
    let leftover = PER_THREAD % values.len();
    let expected_sum: f64 = THREADS as f64
        * (values.iter().sum::<f64>() * (PER_THREAD / values.len()) as f64 + values[..leftover].iter().sum::<f64>());
    assert_eq!(histogram.sum(), expected_sum);
    let cumulative = histogram.cumulative_counts();
    assert_eq!(cumulative.len(), 12);
    assert_eq!(*cumulative.last().unwrap(), total);
    // Where each value of the cycle lands, by the Prometheus rule (v <= le).
    let mut expected_in_bucket = [0u64; 12];
    for (i, &v) in values.iter().enumerate() {
        let bucket = sonde_instrument::metrics::DEFAULT_BUCKETS.iter().position(|&b| v <= b).unwrap_or(11);
        let extra = u64::from(i < leftover) * THREADS as u64;
        expected_in_bucket[bucket] += per_value + extra;
    }
    let mut running = 0;
    let expected: Vec<u64> = expected_in_bucket
        .iter()
        .map(|n| {
            running += n;
            running
        })
        .collect();
    assert_eq!(cumulative, expected);
}

#[test]
fn family_children_are_exact_under_contention() {
    let family = Family::<Counter>::new(&["service", "code", "method", "path"]);
    let codes = ["200", "404", "500"];
    hammer(|t| {
        for i in 0..PER_THREAD / 10 {
            family.with_label_values(&["go-demo", codes[(i + t) % 3], "GET", "/demo/hello"]).unwrap().inc();
        }
    });
    assert_eq!(family.len(), 3);
    let total: u64 =
        codes.iter().map(|c| family.with_label_values(&["go-demo", c, "GET", "/demo/hello"]).unwrap().get()).sum();
    assert_eq!(total, (THREADS * PER_THREAD / 10) as u64);
}

/// Threads creating new children (so the lock-free snapshot is replaced
/// again and again, and big families keep some children only in the
/// locked map for a while) while every thread also counts into children
/// made by the others: no increment may be lost or land in a second child.
#[test]
fn a_growing_family_loses_no_increment() {
    const PATHS: usize = 2_000;
    let family = Family::<Counter>::new(&["path", "method"]);
    let paths: Vec<String> = (0..PATHS).map(|i| format!("/items/{i}")).collect();
    hammer(|t| {
        for (i, path) in paths.iter().enumerate() {
            // Each thread starts in another quarter, so creations race.
            let own = &paths[(i + t * PATHS / THREADS) % PATHS];
            family.get_or_create(&[own, "GET"]).inc();
            family.get_or_create(&[path, "GET"]).inc();
        }
    });
    assert_eq!(family.len(), PATHS);
    for path in &paths {
        assert_eq!(family.get_or_create(&[path, "GET"]).get(), 2 * THREADS as u64, "{path}");
    }
    assert_eq!(family.overflows().get(), 0);
}

/// A child removed while other threads look it up is made anew, once; a
/// handle taken before the removal keeps counting where it was.
#[test]
fn removal_is_seen_by_every_later_lookup() {
    let family = Family::<Counter>::new(&["code"]);
    let before = family.get_or_create(&["500"]).clone();
    before.inc();
    assert_eq!(family.remove_label_values(&["500"]), Ok(true));
    hammer(|_| {
        for _ in 0..1_000 {
            family.get_or_create(&["500"]).inc();
        }
    });
    assert_eq!(family.get_or_create(&["500"]).get(), (THREADS * 1_000) as u64);
    assert_eq!(before.get(), 1);
    assert_eq!(family.len(), 1);
}

fn small_registry() -> Registry {
    let registry = Registry::new_custom(Some("demo"), &[("service", "go-demo")]).unwrap();
    let requests =
        registry.register("http_requests", "Requests served.", Family::<Counter>::new(&["code", "method"])).unwrap();
    requests.with_label_values(&["500", "GET"]).unwrap().inc();
    requests.with_label_values(&["200", "GET"]).unwrap().inc_by(41);
    let in_flight = registry.register("in_flight", "Requests in flight.", Gauge::new()).unwrap();
    in_flight.set(3);
    let latency = registry
        .register_with_unit(
            "latency_seconds",
            "Request latency.",
            "seconds",
            Family::<Histogram>::with_buckets(&["path"], &[0.1, 1.0]).unwrap(),
        )
        .unwrap();
    let hello = latency.with_label_values(&["/demo/hello"]).unwrap();
    for v in [0.05, 0.1, 0.5, 2.5] {
        hello.observe(v);
    }
    // Registered but never used: not exposed, as in client_golang.
    registry.register("unused", "Never touched.", Family::<Gauge>::new(&["x"])).unwrap();
    let build = registry.sub_registry_with_prefix("build").unwrap();
    build.register("temperature_celsius", "A float gauge.", FloatGauge::new()).unwrap().set(-1.5);
    registry
}

const EXPECTED_TEXT: &str = r#"# HELP demo_http_requests_total Requests served.
# TYPE demo_http_requests_total counter
demo_http_requests_total{service="go-demo",code="200",method="GET"} 41
demo_http_requests_total{service="go-demo",code="500",method="GET"} 1
# HELP demo_in_flight Requests in flight.
# TYPE demo_in_flight gauge
demo_in_flight{service="go-demo"} 3
# HELP demo_latency_seconds Request latency.
# TYPE demo_latency_seconds histogram
demo_latency_seconds_bucket{service="go-demo",path="/demo/hello",le="0.1"} 2
demo_latency_seconds_bucket{service="go-demo",path="/demo/hello",le="1"} 3
demo_latency_seconds_bucket{service="go-demo",path="/demo/hello",le="+Inf"} 4
demo_latency_seconds_sum{service="go-demo",path="/demo/hello"} 3.15
demo_latency_seconds_count{service="go-demo",path="/demo/hello"} 4
# HELP demo_build_temperature_celsius A float gauge.
# TYPE demo_build_temperature_celsius gauge
demo_build_temperature_celsius{service="go-demo"} -1.5
"#;

#[test]
fn registry_exposition_is_exact_and_parses_back() {
    let registry = small_registry();
    let mut families = Vec::new();
    registry.collect(&mut families);
    let (text, report) = encode_to_string(&families, Format::Text);
    assert_eq!(report.duplicate_series, 0);
    assert_eq!(text, EXPECTED_TEXT);

    let parsed = parse(&text, Format::Text).unwrap();
    let names: Vec<(&str, MetricType)> = parsed.iter().map(|f| (f.name.as_str(), f.metric_type)).collect();
    assert_eq!(
        names,
        vec![
            ("demo_http_requests", MetricType::Counter),
            ("demo_in_flight", MetricType::Gauge),
            ("demo_latency_seconds", MetricType::Histogram),
            ("demo_build_temperature_celsius", MetricType::Gauge),
        ]
    );
    let histogram = &parsed[2];
    let inf = histogram.samples.iter().find(|s| s.suffix == Suffix::Bucket && s.labels.get("le") == Some("+Inf"));
    assert_eq!(inf.map(|s| s.value), Some(4.0));
    assert_eq!(sonde_instrument::testing::find_value(&parsed, "demo_http_requests", "code", "200"), Some(41.0));
}

#[test]
fn openmetrics_output_parses_back_with_unit() {
    let registry = small_registry();
    let mut families = Vec::new();
    registry.collect(&mut families);
    let (text, _) = encode_to_string(&families, Format::OpenMetrics);
    assert!(text.contains("# UNIT demo_latency_seconds seconds\n"), "{text}");
    assert!(text.ends_with("# EOF\n"));
    let parsed = parse(&text, Format::OpenMetrics).unwrap();
    assert_eq!(parsed.len(), 4);
    assert_eq!(parsed[2].unit.as_deref(), Some("seconds"));
}
