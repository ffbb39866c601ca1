//! Recording speed: Sonde's metric types against `prometheus` 0.14 and
//! `prometheus-client` 0.26, in one process.
//!
//! Run with `cargo bench -p sonde-instrument --bench metrics`. Cases, each
//! for every library:
//! * `counter_inc`: increment through a child resolved once and held;
//! * `lookup_inc`: resolve a child from 4 label values, then increment;
//! * `lookup_inc_2_threads`: the same on two threads at once, same series
//!   (wall time per call per thread);
//! * `observe`: histogram observe with client_golang's default buckets, one
//!   thread;
//! * `observe_2_threads`: the same histogram observed by two threads at once
//!   (wall time per observation per thread).
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
use sonde_instrument::metrics::{Counter, DEFAULT_BUCKETS, Family, Histogram};

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
    group.finish();
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

    let tikv = prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &LABELS).unwrap();
    group.bench_function("prometheus", |b| b.iter(|| tikv.with_label_values(black_box(&VALUES)).inc()));

    let client = PcFamily::<GoDemoLabels, PcCounter>::default();
    let labels = go_demo_labels();
    group.bench_function("prometheus-client", |b| b.iter(|| client.get_or_create(black_box(&labels)).inc()));
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
    group.finish();
}

/// Wall time for `iters` calls on each of two threads at once.
fn contended(iters: u64, observe: &(dyn Fn(f64) + Sync)) -> Duration {
    let values = latencies();
    let start = Instant::now();
    thread::scope(|scope| {
        for t in 0..2 {
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
    let mut group = c.benchmark_group("observe_2_threads");
    let sonde = Histogram::new();
    group.bench_function("sonde", |b| b.iter_custom(|iters| contended(iters, &|v| sonde.observe(v))));
    let tikv = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "h")).unwrap();
    group.bench_function("prometheus", |b| b.iter_custom(|iters| contended(iters, &|v| tikv.observe(v))));
    let client = PcHistogram::new(DEFAULT_BUCKETS);
    group.bench_function("prometheus-client", |b| b.iter_custom(|iters| contended(iters, &|v| client.observe(v))));
    group.finish();
}

fn lookup_inc_2_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup_inc_2_threads");
    let sonde = Family::<Counter>::new(&LABELS);
    group.bench_function("sonde", |b| {
        b.iter_custom(|iters| contended(iters, &|_| sonde.with_label_values(black_box(&VALUES)).unwrap().inc()))
    });
    let tikv = prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &LABELS).unwrap();
    group.bench_function("prometheus", |b| {
        b.iter_custom(|iters| contended(iters, &|_| tikv.with_label_values(black_box(&VALUES)).inc()))
    });
    let client = PcFamily::<GoDemoLabels, PcCounter>::default();
    let labels = go_demo_labels();
    group.bench_function("prometheus-client", |b| {
        b.iter_custom(|iters| {
            contended(iters, &|_| {
                client.get_or_create(black_box(&labels)).inc();
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = counter_inc, lookup_inc, lookup_inc_2_threads, observe, observe_2_threads
}
criterion_main!(benches);
