//! Exposition speed: Sonde's encoder and parser against the Rust peers, on
//! the same series in one process.
//!
//! Run with `cargo bench -p sonde-instrument --bench exposition`; see
//! `BENCHMARKS.md` at the repository root for the numbers and how to read
//! them. Every peer writes into a buffer reused across iterations, as a
//! `/metrics` handler would.
//!
//! The series (`N` = 1,000 or 10,000 sample lines): 48% counters with 2–3
//! labels, 24% gauges, 28% lines of a go-demo style histogram with
//! client_golang's 11 default buckets (14 lines per series).

// A bench whose setup fails has nothing to measure: stopping is right.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family as PcFamily;
use prometheus_client::metrics::gauge::Gauge as PcGauge;
use prometheus_client::metrics::histogram::Histogram as PcHistogram;
use sonde_instrument::encode::Encoder;
use sonde_instrument::{Format, Labels, MetricFamily, MetricType, Sample, Suffix, encode};

/// client_golang's `DefBuckets`.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const BUCKET_LABELS: [&str; 12] =
    ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];
/// Lines per histogram series: 12 buckets, `_sum`, `_count`.
const HISTOGRAM_LINES: usize = 14;

/// A counter or gauge family as plain data, before any library sees it.
struct Plain {
    name: &'static str,
    help: &'static str,
    counter: bool,
    label_names: &'static [&'static str],
    series: Vec<(Vec<String>, f64)>,
}

/// A histogram family: label values and the observations of each series.
struct PlainHistogram {
    name: &'static str,
    help: &'static str,
    label_names: &'static [&'static str],
    series: Vec<(Vec<String>, Vec<f64>)>,
}

/// The same series for every library.
struct Data {
    plain: Vec<Plain>,
    histogram: PlainHistogram,
    lines: usize,
}

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const CODES: [&str; 5] = ["200", "201", "404", "500", "503"];

fn data(lines: usize) -> Data {
    let share = |percent: usize| lines * percent / 100;
    let requests = (0..share(36))
        .map(|i| {
            let labels =
                vec![METHODS[i % 4].to_owned(), CODES[(i / 4) % 5].to_owned(), format!("/api/v1/resource{}", i / 20)];
            (labels, ((i * 7919) % 1_000_003) as f64)
        })
        .collect();
    let bytes = (0..share(12))
        .map(|i| {
            let direction = if i % 2 == 0 { "receive" } else { "transmit" };
            (vec![format!("veth{:07x}", i / 2), direction.to_owned()], (i as f64) * 1_048_576.0 + 17.0)
        })
        .collect();
    let memory = (0..share(20))
        .map(|i| {
            let labels = vec![format!("go-demo_{}.{}", i, i % 3), format!("vfarcic/go-demo:{}", i % 7)];
            (labels, 12_582_912.0 + (i as f64) * 4096.0)
        })
        .collect();
    let load = (0..share(4)).map(|i| (vec![i.to_string()], 0.25 + (i % 13) as f64 / 7.0)).collect();
    let observations: Vec<f64> = (0..64).map(|k| 0.001 * 8000f64.powf(f64::from(k) / 63.0)).collect();
    let histogram_series = (0..share(28) / HISTOGRAM_LINES)
        .map(|i| {
            let labels = vec![
                "go-demo".to_owned(),
                CODES[i % 5].to_owned(),
                METHODS[(i / 5) % 4].to_owned(),
                format!("/demo/path{}", i / 20),
            ];
            let n = 20 + i % 40;
            (labels, observations.iter().cycle().skip(i).take(n).copied().collect())
        })
        .collect();
    let plain = vec![
        Plain {
            name: "sonde_http_requests",
            help: "Requests served.",
            counter: true,
            label_names: &["method", "code", "path"],
            series: requests,
        },
        Plain {
            name: "sonde_network_bytes",
            help: "Bytes through a container interface.",
            counter: true,
            label_names: &["device", "direction"],
            series: bytes,
        },
        Plain {
            name: "sonde_container_memory_usage_bytes",
            help: "Memory in use by a container.",
            counter: false,
            label_names: &["name", "image"],
            series: memory,
        },
        Plain {
            name: "sonde_cpu_load_ratio",
            help: "Load of one CPU.",
            counter: false,
            label_names: &["cpu"],
            series: load,
        },
    ];
    let histogram = PlainHistogram {
        name: "http_server_resp_time",
        help: "Request response time",
        label_names: &["service", "code", "method", "path"],
        series: histogram_series,
    };
    let mut data = Data { plain, histogram, lines: 0 };
    data.lines =
        data.plain.iter().map(|p| p.series.len()).sum::<usize>() + data.histogram.series.len() * HISTOGRAM_LINES;
    data
}

/// A histogram series as a Sonde collector would hold it: cumulative bucket
/// counts, sum and count (what atomics hold in a live histogram).
struct HistogramState {
    labels: Vec<String>,
    buckets: [u64; 12],
    sum: f64,
    count: u64,
}

fn histogram_states(data: &Data) -> Vec<HistogramState> {
    data.histogram
        .series
        .iter()
        .map(|(labels, observations)| {
            let mut buckets = [0u64; 12];
            let mut sum = 0.0;
            for &v in observations {
                let first = BUCKETS.iter().position(|&b| v <= b).unwrap_or(BUCKETS.len());
                for bucket in &mut buckets[first..] {
                    *bucket += 1;
                }
                sum += v;
            }
            HistogramState { labels: labels.clone(), buckets, sum, count: observations.len() as u64 }
        })
        .collect()
}

/// Builds Sonde's model from the plain data, cloning every label string as
/// a collector does at scrape time.
fn sonde_families(data: &Data, histograms: &[HistogramState]) -> Vec<MetricFamily> {
    let mut families = Vec::with_capacity(data.plain.len() + 1);
    for plain in &data.plain {
        let metric_type = if plain.counter { MetricType::Counter } else { MetricType::Gauge };
        let mut family = MetricFamily::new(plain.name, plain.help, metric_type);
        family.samples.reserve(plain.series.len());
        for (values, value) in &plain.series {
            let labels = Labels::from_pairs(plain.label_names.iter().copied().zip(values.iter().map(String::as_str)));
            family.push(labels, *value);
        }
        families.push(family);
    }
    let hist = &data.histogram;
    let mut family = MetricFamily::new(hist.name, hist.help, MetricType::Histogram);
    family.samples.reserve(histograms.len() * HISTOGRAM_LINES);
    for state in histograms {
        let base = Labels::from_pairs(hist.label_names.iter().copied().zip(state.labels.iter().map(String::as_str)));
        for (le, &count) in BUCKET_LABELS.iter().zip(&state.buckets) {
            let labels = base.clone().with("le", *le);
            family.push_sample(Sample::new(Suffix::Bucket, labels, count as f64));
        }
        family.push_sample(Sample::new(Suffix::Sum, base.clone(), state.sum));
        family.push_sample(Sample::new(Suffix::Count, base, state.count as f64));
    }
    families.push(family);
    families
}

fn prometheus_registry(data: &Data) -> prometheus::Registry {
    let registry = prometheus::Registry::new();
    for plain in &data.plain {
        if plain.counter {
            let opts = prometheus::Opts::new(format!("{}_total", plain.name), plain.help);
            let Ok(vec) = prometheus::CounterVec::new(opts, plain.label_names) else { continue };
            for (values, value) in &plain.series {
                vec.with_label_values(values).inc_by(*value);
            }
            let _ = registry.register(Box::new(vec));
        } else {
            let opts = prometheus::Opts::new(plain.name, plain.help);
            let Ok(vec) = prometheus::GaugeVec::new(opts, plain.label_names) else { continue };
            for (values, value) in &plain.series {
                vec.with_label_values(values).set(*value);
            }
            let _ = registry.register(Box::new(vec));
        }
    }
    let hist = &data.histogram;
    let opts = prometheus::HistogramOpts::new(hist.name, hist.help).buckets(BUCKETS.to_vec());
    if let Ok(vec) = prometheus::HistogramVec::new(opts, hist.label_names) {
        for (values, observations) in &hist.series {
            let child = vec.with_label_values(values);
            for &v in observations {
                child.observe(v);
            }
        }
        let _ = registry.register(Box::new(vec));
    }
    registry
}

type PcLabels = Vec<(String, String)>;

fn prometheus_client_registry(data: &Data) -> prometheus_client::registry::Registry {
    let mut registry = prometheus_client::registry::Registry::default();
    let pairs = |names: &[&str], values: &[String]| -> PcLabels {
        names.iter().zip(values).map(|(n, v)| ((*n).to_owned(), v.clone())).collect()
    };
    for plain in &data.plain {
        if plain.counter {
            let family = PcFamily::<PcLabels, PcCounter<f64>>::default();
            for (values, value) in &plain.series {
                family.get_or_create(&pairs(plain.label_names, values)).inc_by(*value);
            }
            registry.register(plain.name, plain.help, family);
        } else {
            let family = PcFamily::<PcLabels, PcGauge<f64, std::sync::atomic::AtomicU64>>::default();
            for (values, value) in &plain.series {
                family.get_or_create(&pairs(plain.label_names, values)).set(*value);
            }
            registry.register(plain.name, plain.help, family);
        }
    }
    let hist = &data.histogram;
    let family = PcFamily::<PcLabels, PcHistogram>::new_with_constructor(|| PcHistogram::new(BUCKETS));
    for (values, observations) in &hist.series {
        let child = family.get_or_create(&pairs(hist.label_names, values));
        for &v in observations {
            child.observe(v);
        }
    }
    registry.register(hist.name, hist.help, family);
    registry
}

fn sample_lines(text: &str) -> usize {
    text.lines().filter(|l| !l.starts_with('#')).count()
}

fn bench_encode(c: &mut Criterion) {
    for lines in [1_000, 10_000] {
        let data = data(lines);
        let histograms = histogram_states(&data);
        let families = sonde_families(&data, &histograms);
        let tikv = prometheus_registry(&data);
        let client = prometheus_client_registry(&data);

        // Every library must write the same series, or the race is unfair.
        let (sonde_text, report) = sonde_instrument::encode::encode_to_string(&families, Format::Text);
        assert_eq!(report, sonde_instrument::EncodeReport::default());
        let mut tikv_text = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &tikv.gather(), &mut tikv_text).unwrap();
        let mut client_text = String::new();
        prometheus_client::encoding::text::encode(&mut client_text, &client).unwrap();
        for (who, text) in [
            ("sonde", sonde_text.as_str()),
            ("prometheus", std::str::from_utf8(&tikv_text).unwrap()),
            ("prometheus-client", client_text.as_str()),
        ] {
            assert_eq!(sample_lines(text), data.lines, "{who} wrote another number of lines");
            eprintln!("{} lines: {who} writes {} bytes", data.lines, text.len());
        }

        let mut group = c.benchmark_group(format!("encode/{}", data.lines));
        group.throughput(Throughput::Elements(data.lines as u64));
        let mut out: Vec<u8> = Vec::with_capacity(sonde_text.len() * 2);
        let mut out_string = String::with_capacity(sonde_text.len() * 2);

        group.bench_function("sonde text", |b| {
            b.iter(|| {
                out.clear();
                black_box(encode(black_box(&families), Format::Text, &mut out));
            })
        });
        group.bench_function("sonde openmetrics", |b| {
            b.iter(|| {
                out.clear();
                black_box(encode(black_box(&families), Format::OpenMetrics, &mut out));
            })
        });
        let mut encoder = Encoder::new();
        group.bench_function("sonde text, reused Encoder", |b| {
            b.iter(|| {
                out.clear();
                black_box(encoder.encode(black_box(&families), Format::Text, &mut out));
            })
        });
        group.bench_function("sonde build model + text", |b| {
            b.iter(|| {
                out.clear();
                let families = sonde_families(black_box(&data), &histograms);
                black_box(encode(&families, Format::Text, &mut out));
            })
        });
        group.bench_function("prometheus gather + text", |b| {
            let encoder = prometheus::TextEncoder::new();
            b.iter(|| {
                out.clear();
                let gathered = black_box(&tikv).gather();
                black_box(prometheus::Encoder::encode(&encoder, &gathered, &mut out))
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
        group.finish();
    }
}

fn bench_parse(c: &mut Criterion) {
    let data = data(10_000);
    let families = sonde_families(&data, &histogram_states(&data));
    let (text, _) = sonde_instrument::encode::encode_to_string(&families, Format::Text);

    match sonde_instrument::parse(&text, Format::Text) {
        Ok(parsed) => {
            let lines: usize = parsed.iter().map(|f| f.samples.len()).sum();
            if lines != data.lines {
                eprintln!(
                    "warning: sonde_instrument::parse read {lines} of {} samples; its time below is not comparable",
                    data.lines
                );
            }
        }
        Err(e) => eprintln!("warning: sonde_instrument::parse failed: {e}"),
    }
    // prometheus-parse folds the buckets of a histogram series into one
    // sample, beside `_sum` and `_count`.
    let scraped = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let histogram_series = data.histogram.series.len();
    assert_eq!(scraped.samples.len(), data.lines - histogram_series * (BUCKET_LABELS.len() - 1));

    let mut group = c.benchmark_group(format!("parse/{}", data.lines));
    group.throughput(Throughput::Elements(data.lines as u64));
    group.bench_function(BenchmarkId::from_parameter("sonde"), |b| {
        b.iter(|| black_box(sonde_instrument::parse(black_box(&text), Format::Text)))
    });
    // prometheus-parse takes owned lines; building them is part of its cost
    // for any caller holding a response body.
    group.bench_function(BenchmarkId::from_parameter("prometheus-parse"), |b| {
        b.iter(|| black_box(prometheus_parse::Scrape::parse(black_box(&text).lines().map(|l| Ok(l.to_owned())))))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs so the whole bench takes about two minutes on two cores;
    // use the ratios, the absolute times are noisy on a shared machine.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench_encode, bench_parse
}
criterion_main!(benches);
