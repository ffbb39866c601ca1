//! A bridge to the `prometheus` crate (0.14), both ways (feature `prometheus`).
//!
//! * [`PrometheusRegistryCollector`] is a Sonde [`Collector`] over a
//!   `prometheus::Registry`: register it in a Sonde
//!   [`Registry`](crate::metrics::Registry) (or give it to any Sonde
//!   `/metrics` handler) and a service's existing `prometheus` metrics are
//!   served on the same endpoint as Sonde's.
//! * [`SondeCollector`] is a `prometheus::core::Collector` over any Sonde
//!   [`Collector`]: register it in a `prometheus::Registry` and Sonde's
//!   families are gathered, and encoded by `prometheus::TextEncoder`, with
//!   the rest.
//! * [`from_prometheus`] and [`to_prometheus`] are the conversions both
//!   use.
//!
//! | Sonde ([`MetricType`]) | `prometheus` (`proto::MetricType`) |
//! |---|---|
//! | `Counter` named `x`, samples `_total` | `COUNTER` named `x_total` |
//! | `Counter` named `x`, samples without suffix | `COUNTER` named `x` |
//! | `Gauge`, `StateSet`, `Unknown` | `GAUGE` |
//! | `Info` named `x` | `GAUGE` named `x_info` |
//! | `Histogram`, `GaugeHistogram` | `HISTOGRAM` (`+Inf` left implicit, as `prometheus` does) |
//! | `Summary` | `SUMMARY` |
//!
//! Going to `prometheus`, `_created` samples are dropped (its model has no
//! place for them) and `Unknown` becomes `GAUGE`, because
//! `prometheus::TextEncoder` panics on `UNTYPED` families. Coming from
//! `prometheus`, `UNTYPED` families are left out: the crate reads an untyped
//! value through an accessor that exists only when its `protobuf` feature is
//! off, and through a field only when it is on, so no code can read it in
//! both builds (and its own encoder cannot write them either).
//!
//! The conversions compile whether or not some crate in the build turns on
//! `prometheus`'s default `protobuf` feature, which changes the types of its
//! `proto` module: they use only accessors both variants share.
//!
//! Do not register each side into the other: collecting would then recurse
//! forever.
//!
//! ```
//! use sonde_instrument::bridge::{PrometheusRegistryCollector, SondeCollector};
//! use sonde_instrument::metrics::{Counter, Registry};
//! use sonde_instrument::{Collector, Format, encode::encode_to_string};
//!
//! // An existing `prometheus` registry, served by Sonde.
//! let legacy = prometheus::Registry::new();
//! let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap();
//! legacy.register(Box::new(jobs.clone())).unwrap();
//! jobs.inc();
//!
//! let registry = Registry::new();
//! let requests = registry.register("requests", "Requests served.", Counter::new()).unwrap();
//! requests.inc_by(2);
//! registry.register_collector(PrometheusRegistryCollector::new(legacy));
//!
//! let mut families = Vec::new();
//! registry.collect(&mut families);
//! let (text, _) = encode_to_string(&families, Format::Text);
//! assert!(text.contains("\nrequests_total 2\n"));
//! assert!(text.contains("\njobs_total 1\n"));
//!
//! // The other way: Sonde's families gathered by a `prometheus` registry.
//! let sonde = Registry::new();
//! sonde.register("hits", "Cache hits.", Counter::new()).unwrap().inc();
//! let prometheus_registry = prometheus::Registry::new();
//! prometheus_registry.register(Box::new(SondeCollector::new(sonde))).unwrap();
//! let text = prometheus::TextEncoder::new().encode_to_string(&prometheus_registry.gather()).unwrap();
//! assert_eq!(text, "# HELP hits_total Cache hits.\n# TYPE hits_total counter\nhits_total 1\n");
//! ```

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::core::Desc;
use prometheus::proto;

use crate::collector::Collector;
use crate::model::{Label, Labels, MetricFamily, MetricType, Sample, Suffix};
use crate::strconv::{FloatFormat, format_float};

/// A Sonde [`Collector`] that gathers a `prometheus::Registry` at each
/// scrape and converts its families with [`from_prometheus`].
///
/// The registry is a cheap `Arc` clone: keep a clone to go on registering
/// `prometheus` metrics into it.
///
/// ```
/// use sonde_instrument::bridge::PrometheusRegistryCollector;
/// use sonde_instrument::metrics::Registry;
/// use sonde_instrument::Collector;
///
/// let theirs = prometheus::Registry::new();
/// let legacy = prometheus::IntCounter::new("legacy_jobs_total", "Jobs from old code.").unwrap();
/// theirs.register(Box::new(legacy.clone())).unwrap();
/// legacy.inc();
///
/// let ours = Registry::new();
/// ours.register_collector(PrometheusRegistryCollector::new(theirs));
/// let mut families = Vec::new();
/// ours.collect(&mut families);
/// assert_eq!(families[0].name, "legacy_jobs");
/// assert_eq!(families[0].samples[0].value, 1.0);
/// ```
#[derive(Debug, Clone)]
pub struct PrometheusRegistryCollector(pub prometheus::Registry);

impl PrometheusRegistryCollector {
    /// A collector over `registry`.
    pub fn new(registry: prometheus::Registry) -> Self {
        PrometheusRegistryCollector(registry)
    }

    /// The registry this collector gathers.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.0
    }
}

impl Collector for PrometheusRegistryCollector {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        from_prometheus(&self.0.gather(), out);
    }
}

/// A `prometheus::core::Collector` over a Sonde [`Collector`] (usually a
/// Sonde [`Registry`](crate::metrics::Registry)): each `gather` collects it
/// and converts its families with [`to_prometheus`].
///
/// `prometheus` checks descriptors when a collector is registered. This one
/// describes the families its collector emits when it is created (name,
/// help, label names), so registering it where one of those names is taken
/// fails as it would for a native `prometheus` metric. Families that get
/// their first series later are exposed too, but were not checked. A
/// collector with no families yet gets one placeholder descriptor of its
/// own (`sonde_collector{sonde_collector="<n>"}`, never exposed), so that
/// several of them can be registered in one `prometheus::Registry`.
///
/// ```
/// use sonde_instrument::bridge::SondeCollector;
/// use sonde_instrument::metrics::{Counter, Registry};
///
/// let ours = Registry::new();
/// ours.register("orders", "Orders placed.", Counter::new())?.inc_by(3);
/// let theirs = prometheus::Registry::new();
/// theirs.register(Box::new(SondeCollector::new(ours))).unwrap();
/// let gathered = theirs.gather();
/// assert_eq!(gathered[0].name(), "orders_total");
/// assert_eq!(gathered[0].get_metric()[0].get_counter().get_value(), 3.0);
/// # Ok::<(), sonde_instrument::metrics::MetricError>(())
/// ```
pub struct SondeCollector<C> {
    collector: C,
    descs: Vec<Desc>,
}

impl<C: fmt::Debug> fmt::Debug for SondeCollector<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SondeCollector").field("collector", &self.collector).field("descs", &self.descs).finish()
    }
}

impl<C: Collector> SondeCollector<C> {
    /// Wraps `collector`, describing what it emits now.
    pub fn new(collector: C) -> Self {
        let mut families = Vec::new();
        collector.collect(&mut families);
        let descs = describe(&to_prometheus(&families));
        SondeCollector { collector, descs }
    }

    /// The wrapped collector.
    pub fn get_ref(&self) -> &C {
        &self.collector
    }

    /// Unwraps the collector.
    pub fn into_inner(self) -> C {
        self.collector
    }
}

impl<C: Collector> prometheus::core::Collector for SondeCollector<C> {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let mut families = Vec::new();
        self.collector.collect(&mut families);
        to_prometheus(&families)
    }
}

/// Descriptors for `families`; a placeholder when there are none.
fn describe(families: &[proto::MetricFamily]) -> Vec<Desc> {
    let mut descs: Vec<Desc> = families
        .iter()
        .filter_map(|family| {
            let label_names =
                family.get_metric().first().map(|m| m.get_label().iter().map(|l| l.name().to_owned()).collect());
            // `prometheus` requires a help text; the name stands in for a missing one.
            let help = if family.help().is_empty() { family.name() } else { family.help() };
            // A name `prometheus` rejects is still exposed, just not described.
            Desc::new(family.name().to_owned(), help.to_owned(), label_names.unwrap_or_default(), HashMap::new()).ok()
        })
        .collect();
    if descs.is_empty() {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed).to_string();
        let placeholder = Desc::new(
            "sonde_collector".to_owned(),
            "A Sonde collector that had no families when it was wrapped.".to_owned(),
            Vec::new(),
            HashMap::from([("sonde_collector".to_owned(), id)]),
        );
        descs.extend(placeholder.ok());
    }
    descs
}

/// `prometheus` 0.14 reads a counter's or gauge's value with `get_value()`
/// when its `protobuf` feature is off and with `value()` when it is on, and
/// any crate in the build may turn it on. Each method here calls the other
/// name: the one the type has as an inherent method wins method resolution,
/// so one hop reaches the field in either build. (In each build one of the
/// two methods is shadowed and never called.)
#[allow(dead_code)]
trait ValueCompat {
    fn value(&self) -> f64;
    fn get_value(&self) -> f64;
}

impl ValueCompat for proto::Counter {
    fn value(&self) -> f64 {
        self.get_value()
    }
    fn get_value(&self) -> f64 {
        self.value()
    }
}

impl ValueCompat for proto::Gauge {
    fn value(&self) -> f64 {
        self.get_value()
    }
    fn get_value(&self) -> f64 {
        self.value()
    }
}

/// Appends Sonde families for `families` (as `prometheus::Registry::gather`
/// returns them) to `out`; see the [module docs](self) for the mapping.
pub fn from_prometheus(families: &[proto::MetricFamily], out: &mut Vec<MetricFamily>) {
    for source in families {
        let name = source.name();
        let help = source.help();
        let family = match source.get_field_type() {
            proto::MetricType::COUNTER => {
                // The model names a counter without `_total`; its samples carry it.
                let (base, suffix) = match name.strip_suffix("_total") {
                    Some(base) if !base.is_empty() => (base, Suffix::Total),
                    _ => (name, Suffix::None),
                };
                let mut family = MetricFamily::new(base, help, MetricType::Counter);
                for m in source.get_metric() {
                    family.push_sample(sample(m, suffix, labels(m), m.get_counter().value()));
                }
                family
            }
            proto::MetricType::GAUGE => {
                let mut family = MetricFamily::new(name, help, MetricType::Gauge);
                for m in source.get_metric() {
                    family.push_sample(sample(m, Suffix::None, labels(m), m.get_gauge().value()));
                }
                family
            }
            proto::MetricType::HISTOGRAM => {
                let mut family = MetricFamily::new(name, help, MetricType::Histogram);
                for m in source.get_metric() {
                    push_histogram(&mut family, m);
                }
                family
            }
            proto::MetricType::SUMMARY => {
                let mut family = MetricFamily::new(name, help, MetricType::Summary);
                for m in source.get_metric() {
                    let base = labels(m);
                    let summary = m.get_summary();
                    for q in summary.get_quantile() {
                        let labels = with_label(&base, "quantile", format_float(q.quantile(), FloatFormat::G, None));
                        family.push_sample(sample(m, Suffix::None, labels, q.value()));
                    }
                    family.push_sample(sample(m, Suffix::Sum, base.clone(), summary.sample_sum()));
                    family.push_sample(sample(m, Suffix::Count, base, summary.sample_count() as f64));
                }
                family
            }
            // UNTYPED: no accessor common to both builds (see the module docs).
            _ => continue,
        };
        if !family.samples.is_empty() {
            out.push(family);
        }
    }
}

/// A histogram's buckets (with `+Inf` added when `prometheus` leaves it
/// implicit, as its own metrics do), `_sum` and `_count`.
fn push_histogram(family: &mut MetricFamily, m: &proto::Metric) {
    let base = labels(m);
    let histogram = m.get_histogram();
    let count = histogram.get_sample_count();
    let mut saw_inf = false;
    for bucket in histogram.get_bucket() {
        let bound = bucket.upper_bound();
        saw_inf |= bound == f64::INFINITY;
        let labels = with_label(&base, "le", format_float(bound, FloatFormat::G, None));
        family.push_sample(sample(m, Suffix::Bucket, labels, bucket.cumulative_count() as f64));
    }
    if !saw_inf {
        let labels = with_label(&base, "le", "+Inf".to_owned());
        family.push_sample(sample(m, Suffix::Bucket, labels, count as f64));
    }
    family.push_sample(sample(m, Suffix::Sum, base.clone(), histogram.get_sample_sum()));
    family.push_sample(sample(m, Suffix::Count, base, count as f64));
}

fn labels(m: &proto::Metric) -> Labels {
    Labels(m.get_label().iter().map(|pair| Label::new(pair.name(), pair.value())).collect())
}

fn with_label(base: &Labels, name: &str, value: String) -> Labels {
    let mut labels = Labels(Vec::with_capacity(base.len() + 1));
    labels.0.extend_from_slice(&base.0);
    labels.0.push(Label { name: name.to_owned(), value });
    labels
}

/// A sample carrying `m`'s timestamp (milliseconds in `prometheus`, 0 for
/// none).
fn sample(m: &proto::Metric, suffix: Suffix, labels: Labels, value: f64) -> Sample {
    let mut sample = Sample::new(suffix, labels, value);
    let millis = m.timestamp_ms();
    if millis != 0 {
        sample.timestamp = Some(millis as f64 / 1000.0);
    }
    sample
}

/// `prometheus` families for Sonde's `families`; see the [module
/// docs](self) for the mapping.
///
/// Families that share a name are merged into the first, as Sonde's
/// encoder does; a later one of another type is left out. Samples of one
/// series (the same labels, `le` and `quantile` aside) become one
/// `proto::Metric`. Families without samples are left out, since
/// `prometheus::TextEncoder` rejects them.
pub fn to_prometheus(families: &[MetricFamily]) -> Vec<proto::MetricFamily> {
    let mut out: Vec<proto::MetricFamily> = Vec::new();
    let mut types: Vec<proto::MetricType> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for family in families {
        let (name, metric_type) = exposed(family);
        let metrics = metrics(family, metric_type);
        if metrics.is_empty() {
            continue;
        }
        match by_name.entry(name) {
            Entry::Occupied(entry) => {
                let index = *entry.get();
                if types.get(index) == Some(&metric_type) {
                    if let Some(merged) = out.get_mut(index) {
                        merged.mut_metric().extend(metrics);
                    }
                }
            }
            Entry::Vacant(entry) => {
                let mut converted = proto::MetricFamily::default();
                converted.set_name(entry.key().clone());
                converted.set_help(family.help.clone());
                converted.set_field_type(metric_type);
                converted.set_metric(metrics);
                entry.insert(out.len());
                out.push(converted);
                types.push(metric_type);
            }
        }
    }
    out
}

/// The name and type `family` takes in `prometheus`.
fn exposed(family: &MetricFamily) -> (String, proto::MetricType) {
    match family.metric_type {
        MetricType::Counter => {
            // Named after the first value sample, as the text encoder does.
            let first = family.samples.iter().find(|s| matches!(s.suffix, Suffix::None | Suffix::Total));
            let total = first.is_none_or(|s| s.suffix == Suffix::Total);
            (family.sample_name(if total { Suffix::Total } else { Suffix::None }), proto::MetricType::COUNTER)
        }
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => {
            (family.name.clone(), proto::MetricType::GAUGE)
        }
        MetricType::Info => (family.sample_name(Suffix::Info), proto::MetricType::GAUGE),
        MetricType::Histogram | MetricType::GaugeHistogram => (family.name.clone(), proto::MetricType::HISTOGRAM),
        MetricType::Summary => (family.name.clone(), proto::MetricType::SUMMARY),
    }
}

/// One series while its samples are gathered.
#[derive(Default)]
struct Series<'a> {
    labels: Vec<&'a Label>,
    timestamp: Option<f64>,
    value: Option<f64>,
    sum: f64,
    count: Option<f64>,
    /// `(upper bound, cumulative count)` or `(quantile, value)`.
    points: Vec<(f64, f64)>,
}

/// `family`'s samples as `prometheus` metrics of `metric_type`.
fn metrics(family: &MetricFamily, metric_type: proto::MetricType) -> Vec<proto::Metric> {
    let point_label = match metric_type {
        proto::MetricType::HISTOGRAM => "le",
        proto::MetricType::SUMMARY => "quantile",
        _ => "",
    };
    let mut series: Vec<Series<'_>> = Vec::new();
    let mut index: HashMap<Vec<&Label>, usize> = HashMap::new();
    for sample in &family.samples {
        let mut point = None;
        let mut labels = Vec::with_capacity(sample.labels.len());
        for label in &sample.labels {
            if !point_label.is_empty() && label.name == point_label {
                point = Some(label.value.as_str());
            } else {
                labels.push(label);
            }
        }
        let at = *index.entry(labels).or_insert_with_key(|labels| {
            series.push(Series { labels: labels.clone(), ..Series::default() });
            series.len() - 1
        });
        let Some(s) = series.get_mut(at) else { continue };
        let bound = point.and_then(|p| p.parse::<f64>().ok());
        match (family.metric_type, sample.suffix, bound) {
            (MetricType::Histogram | MetricType::GaugeHistogram, Suffix::Bucket, Some(bound))
            | (MetricType::Summary, Suffix::None, Some(bound)) => s.points.push((bound, sample.value)),
            (_, Suffix::Count | Suffix::Gcount, _) => s.count = Some(sample.value),
            (_, Suffix::Sum | Suffix::Gsum, _) => s.sum = sample.value,
            (MetricType::Counter, Suffix::None | Suffix::Total, _)
            | (MetricType::Gauge | MetricType::StateSet | MetricType::Unknown, Suffix::None, _)
            | (MetricType::Info, Suffix::None | Suffix::Info, _) => s.value = Some(sample.value),
            // `_created`, and anything the type does not allow.
            _ => continue,
        }
        if sample.timestamp.is_some() {
            s.timestamp = sample.timestamp;
        }
    }
    series.into_iter().filter_map(|s| series_metric(s, metric_type)).collect()
}

fn series_metric(s: Series<'_>, metric_type: proto::MetricType) -> Option<proto::Metric> {
    let pairs = s
        .labels
        .iter()
        .map(|label| {
            let mut pair = proto::LabelPair::default();
            pair.set_name(label.name.clone());
            pair.set_value(label.value.clone());
            pair
        })
        .collect();
    let mut metric = proto::Metric::from_label(pairs);
    match metric_type {
        proto::MetricType::COUNTER => {
            let mut counter = proto::Counter::default();
            counter.set_value(s.value?);
            metric.set_counter(counter);
        }
        proto::MetricType::HISTOGRAM => {
            let mut points = s.points;
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            // `prometheus` leaves `+Inf` implicit: its count is the total.
            let inf = match points.last() {
                Some(&(bound, count)) if bound == f64::INFINITY => {
                    points.pop();
                    Some(count)
                }
                _ => None,
            };
            let buckets = points
                .into_iter()
                .map(|(bound, count)| {
                    let mut bucket = proto::Bucket::default();
                    bucket.set_upper_bound(bound);
                    bucket.set_cumulative_count(count as u64);
                    bucket
                })
                .collect();
            let mut histogram = proto::Histogram::default();
            histogram.set_bucket(buckets);
            histogram.set_sample_count(s.count.or(inf).unwrap_or(0.0) as u64);
            histogram.set_sample_sum(s.sum);
            metric.set_histogram(histogram);
        }
        proto::MetricType::SUMMARY => {
            let quantiles = s
                .points
                .into_iter()
                .map(|(q, value)| {
                    let mut quantile = proto::Quantile::default();
                    quantile.set_quantile(q);
                    quantile.set_value(value);
                    quantile
                })
                .collect();
            let mut summary = proto::Summary::default();
            summary.set_quantile(quantiles);
            summary.set_sample_count(s.count.unwrap_or(0.0) as u64);
            summary.set_sample_sum(s.sum);
            metric.set_summary(summary);
        }
        _ => {
            let mut gauge = proto::Gauge::default();
            gauge.set_value(s.value?);
            metric.set_gauge(gauge);
        }
    }
    if let Some(seconds) = s.timestamp {
        metric.set_timestamp_ms((seconds * 1000.0).round() as i64);
    }
    Some(metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(name: &str, metric_type: MetricType, samples: Vec<Sample>) -> MetricFamily {
        MetricFamily { name: name.into(), help: "Help.".into(), unit: None, metric_type, samples }
    }

    fn s(suffix: Suffix, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample::new(suffix, Labels::from_pairs(labels.iter().copied()), value)
    }

    #[test]
    fn counter_names_follow_their_samples() {
        let with_total =
            family("a", MetricType::Counter, vec![s(Suffix::Total, &[], 1.0), s(Suffix::Created, &[], 9.0)]);
        let without = family("b", MetricType::Counter, vec![s(Suffix::None, &[("x", "1")], 2.0)]);
        let converted = to_prometheus(&[with_total, without]);
        let names: Vec<&str> = converted.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["a_total", "b"]);
        // `_created` does not make a second series.
        assert_eq!(converted[0].get_metric().len(), 1);

        let mut back = Vec::new();
        from_prometheus(&converted, &mut back);
        assert_eq!((back[0].name.as_str(), back[0].samples[0].suffix), ("a", Suffix::Total));
        assert_eq!((back[1].name.as_str(), back[1].samples[0].suffix), ("b", Suffix::None));
        assert_eq!(back[1].samples[0].labels.get("x"), Some("1"));
    }

    #[test]
    fn other_types_map_to_what_prometheus_has() {
        let info = family("build", MetricType::Info, vec![s(Suffix::Info, &[("version", "1")], 1.0)]);
        let unknown = family("u", MetricType::Unknown, vec![s(Suffix::None, &[], 3.0)]);
        let gauge_histogram = family(
            "queue",
            MetricType::GaugeHistogram,
            vec![
                s(Suffix::Bucket, &[("le", "1")], 2.0),
                s(Suffix::Bucket, &[("le", "+Inf")], 5.0),
                s(Suffix::Gcount, &[], 5.0),
                s(Suffix::Gsum, &[], 7.5),
            ],
        );
        let converted = to_prometheus(&[info, unknown, gauge_histogram]);
        let got: Vec<(&str, proto::MetricType)> = converted.iter().map(|f| (f.name(), f.get_field_type())).collect();
        assert_eq!(
            got,
            [
                ("build_info", proto::MetricType::GAUGE),
                ("u", proto::MetricType::GAUGE),
                ("queue", proto::MetricType::HISTOGRAM)
            ]
        );
        let histogram = converted[2].get_metric()[0].get_histogram();
        assert_eq!(histogram.get_bucket().len(), 1);
        assert_eq!(histogram.get_sample_count(), 5);
        assert_eq!(histogram.get_sample_sum(), 7.5);
    }

    #[test]
    fn same_names_merge_and_conflicts_are_dropped() {
        let a = family("g", MetricType::Gauge, vec![s(Suffix::None, &[("shard", "1")], 1.0)]);
        let b = family("g", MetricType::Gauge, vec![s(Suffix::None, &[("shard", "2")], 2.0)]);
        let c = family("g", MetricType::Summary, vec![s(Suffix::Count, &[], 2.0)]);
        let empty = family("e", MetricType::Gauge, Vec::new());
        let converted = to_prometheus(&[a, b, c, empty]);
        assert_eq!(converted.len(), 1);
        assert_eq!(converted[0].get_metric().len(), 2);
    }

    #[test]
    fn timestamps_are_milliseconds() {
        let mut sample = s(Suffix::None, &[], 1.0);
        sample.timestamp = Some(1_700_000_000.5);
        let converted = to_prometheus(&[family("t", MetricType::Gauge, vec![sample])]);
        assert_eq!(converted[0].get_metric()[0].timestamp_ms(), 1_700_000_000_500);
        let mut back = Vec::new();
        from_prometheus(&converted, &mut back);
        assert_eq!(back[0].samples[0].timestamp, Some(1_700_000_000.5));
    }

    #[test]
    fn descriptors_come_from_the_families() {
        let converted = to_prometheus(&[family("g", MetricType::Gauge, vec![s(Suffix::None, &[("a", "1")], 1.0)])]);
        let descs = describe(&converted);
        assert_eq!(descs.len(), 1);
        assert_eq!(descs[0].fq_name, "g");
        assert_eq!(descs[0].variable_labels, ["a"]);
        // Two empty collectors get distinct placeholders.
        let (one, two) = (describe(&[]), describe(&[]));
        assert_eq!(one[0].fq_name, "sonde_collector");
        assert_ne!(one[0].id, two[0].id);
    }
}
