//! Metrics for Rust services: counters, gauges, histograms, summaries,
//! labelled families and a [`Registry`] that emits them as the shared model.
//!
//! Every handle ([`Counter`], [`Gauge`], [`Histogram`], [`Family`], …) is a
//! cheap `Arc` clone: clone it into the code that records, register a clone
//! in a [`Registry`], and serve the registry through [`encode`](crate::encode())
//! because it implements [`Collector`](crate::Collector).
//!
//! Hot paths are single atomic operations: a counter increment is one
//! relaxed `fetch_add`, a histogram observation is one bucket `fetch_add`
//! plus a compare-and-swap on the sum's bits, in a per-thread shard so
//! threads do not fight over cache lines. A [`Summary`] observation takes
//! its thread's shard lock, which nothing else holds but a scrape copying
//! that shard. Nothing on a hot path waits for a whole scrape.

mod counter;
mod direct;
mod family;
mod gauge;
mod histogram;
mod registry;
mod summary;
mod typed;

pub use counter::{Counter, FloatCounter};
#[cfg(feature = "http")]
pub(crate) use family::hash_values;
pub use family::{ChildRef, Family, OVERFLOW_VALUE, Overflow};
pub use gauge::{FloatGauge, Gauge};
pub use histogram::{DEFAULT_BUCKETS, Histogram};
pub use registry::Registry;
/// `#[derive(LabelSet)]` for a struct with named fields, and
/// `#[derive(LabelValue)]` for an enum of unit variants (feature `derive`).
///
/// Each field is a label named as the field, or as its
/// `#[label(rename = "...")]`; its type must be a [`LabelValue`]. Each
/// variant is rendered as its name, or its `#[label(rename = "...")]`.
/// Names are checked when the type compiles, and lookups of a
/// [`TypedFamily`] cannot fail:
///
/// ```
/// use sonde_instrument::metrics::{Counter, LabelSet, LabelValue, TypedFamily};
///
/// #[derive(LabelValue)]
/// enum Method {
///     #[label(rename = "GET")]
///     Get,
///     #[label(rename = "POST")]
///     Post,
/// }
///
/// #[derive(LabelSet)]
/// struct Request { method: Method, code: u16, path: &'static str }
///
/// let requests = TypedFamily::<Request, Counter>::new();
/// requests.get_or_create(&Request { method: Method::Get, code: 200, path: "/" }).inc();
/// assert_eq!(Request::NAMES, ["method", "code", "path"]);
/// assert_eq!(requests.family().get_or_create(&["GET", "200", "/"]).get(), 1);
/// ```
#[cfg(feature = "derive")]
pub use sonde_instrument_derive::{LabelSet, LabelValue};
pub use summary::{
    COMMON_OBJECTIVES, DEFAULT_AGE_BUCKETS, DEFAULT_MAX_AGE, DEFAULT_SIGNIFICANT_FIGURES, DEFAULT_UNIT_SCALE, Summary,
    SummaryOpts,
};
pub use typed::{LabelSet, LabelValue, TypedFamily};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{Exemplar, Label, Labels, MetricFamily, MetricType, is_valid_label_name, is_valid_metric_name};

/// What can go wrong when building or registering metrics.
///
/// ```
/// use sonde_instrument::metrics::{Counter, MetricError, Registry};
///
/// let registry = Registry::new();
/// let err = registry.register("orders_total", "Orders.", Counter::new()).unwrap_err();
/// assert_eq!(err, MetricError::CounterTotalSuffix("orders_total".into()));
/// assert!(matches!(registry.register("9lives", "", Counter::new()), Err(MetricError::InvalidMetricName(_))));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// A metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name {0:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName(String),
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*` or is reserved.
    #[error("invalid label name {name:?} for metric {metric:?}: {reason}")]
    InvalidLabelName {
        /// The metric the label belongs to (empty for registry constant labels).
        metric: String,
        /// The offending label name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The same label name appears twice in one metric's label set.
    #[error("duplicate label name {name:?} for metric {metric:?}")]
    DuplicateLabelName {
        /// The metric the label belongs to.
        metric: String,
        /// The repeated label name.
        name: String,
    },
    /// A counter was registered with a name ending in `_total`.
    #[error("counter name {0:?} must not end in _total: the suffix is added on exposition")]
    CounterTotalSuffix(String),
    /// A unit was given but the metric name does not end in `_<unit>`.
    #[error("metric name {name:?} must end in _{unit} to carry unit {unit:?}")]
    UnitNotSuffix {
        /// The full metric name.
        name: String,
        /// The unit that was given.
        unit: String,
    },
    /// A metric of the same name (and the same constant labels) is registered already.
    #[error("metric {0:?} is already registered")]
    AlreadyRegistered(String),
    /// `with_label_values` was given the wrong number of values.
    #[error("metric family with labels {expected:?} got {got} label values")]
    LabelCount {
        /// The family's label names.
        expected: Vec<String>,
        /// How many values were given.
        got: usize,
    },
    /// Histogram bucket bounds are empty, unsorted or contain NaN.
    #[error("invalid histogram buckets {0:?}: need at least one finite bound, strictly increasing")]
    InvalidBuckets(Vec<f64>),
    /// Summary options out of range (an objective outside `[0, 1]`, no age
    /// buckets, …); the text says which.
    #[error("invalid summary options: {0}")]
    InvalidSummaryOpts(String),
}

/// A metric the [`Registry`] can emit: a single metric or a [`Family`].
///
/// Implemented by every metric type in this module; implement it for a
/// custom type to register it alongside them.
///
/// ```
/// use sonde_instrument::metrics::{Metric, Registry};
/// use sonde_instrument::{Collector, Labels, MetricFamily, MetricType};
///
/// /// A gauge whose value is computed at scrape time.
/// #[derive(Clone)]
/// struct Uptime(std::time::Instant);
///
/// impl Metric for Uptime {
///     fn metric_type(&self) -> MetricType {
///         MetricType::Gauge
///     }
///     fn write(&self, base: &Labels, out: &mut MetricFamily) {
///         out.push(base.clone(), self.0.elapsed().as_secs_f64().floor());
///     }
/// }
///
/// let registry = Registry::new();
/// registry.register("uptime_seconds", "Seconds since start.", Uptime(std::time::Instant::now()))?;
/// let mut families = Vec::new();
/// registry.collect(&mut families);
/// assert_eq!(families[0].samples[0].value, 0.0);
/// # Ok::<(), sonde_instrument::metrics::MetricError>(())
/// ```
pub trait Metric: Send + Sync {
    /// The type the family is exposed with.
    fn metric_type(&self) -> MetricType;

    /// The label names this metric adds to every sample (a family's labels);
    /// empty for a single metric. The registry checks them against its
    /// constant labels.
    fn label_names(&self) -> &[String] {
        &[]
    }

    /// Appends this metric's samples to `out`, each carrying `base` (the
    /// registry's constant labels, then any family labels) first.
    fn write(&self, base: &Labels, out: &mut MetricFamily);

    /// [`Metric::write`] with `base` given by value, which a [`Family`]
    /// builds for each child: a metric whose last sample carries exactly
    /// `base` keeps it instead of cloning every label name and value again.
    /// The default borrows it.
    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        self.write(&base, out);
    }

    /// [`Metric::write_owned`] plus, after each series, its `_created`
    /// sample (the time it was created, in seconds since the epoch) where
    /// the type has one: counters, histograms, summaries. A [`Registry`]
    /// set to [`Registry::with_created_samples`] calls this instead of
    /// `write_owned`; the default has no `_created` to add.
    fn write_with_created(&self, base: Labels, out: &mut MetricFamily) {
        self.write_owned(base, out);
    }

    /// The metric of this module the registry may write directly in this
    /// one's place (a [`TypedFamily`]'s [`Family`]); `None` for the others.
    #[doc(hidden)]
    fn direct_target(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// A metric that can be a child of a [`Family`]: its type is known without
/// an instance and it is a cheap handle.
///
/// ```
/// use sonde_instrument::metrics::{ChildMetric, Counter, Histogram, Summary};
/// use sonde_instrument::MetricType;
///
/// assert_eq!(Counter::TYPE, MetricType::Counter);
/// assert_eq!(Histogram::TYPE, MetricType::Histogram);
/// assert_eq!(Summary::TYPE, MetricType::Summary);
/// ```
pub trait ChildMetric: Metric + Clone + 'static {
    /// The type a family of these is exposed with.
    const TYPE: MetricType;
}

/// An `f64` stored as bits in an `AtomicU64`: `std` has no atomic float.
#[derive(Debug, Default)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    #[cfg(test)]
    pub(crate) fn new(v: f64) -> Self {
        AtomicF64(AtomicU64::new(v.to_bits()))
    }

    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn add(&self, v: f64) {
        add_f64(&self.0, v);
    }
}

/// Adds `v` to the `f64` whose bits `cell` holds, with a CAS loop. Relaxed
/// ordering suffices: the value is read on its own, never used to publish
/// other memory.
#[inline]
pub(crate) fn add_f64(cell: &AtomicU64, v: f64) {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(current) + v).to_bits();
        match cell.compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

/// Now, in seconds since the epoch: the `_created` value of a new metric
/// and the timestamp of an exemplar. A clock before 1970 gives 0.
pub(crate) fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// The most an exemplar's label names and values may hold together, in
/// characters (OpenMetrics 1.0: 128 UTF-8 code points).
pub const MAX_EXEMPLAR_LABELS_CHARS: usize = 128;

/// An exemplar of `value` now, with `labels`; `None` (and nothing is
/// recorded) when a name is not a valid label name or the set is longer
/// than [`MAX_EXEMPLAR_LABELS_CHARS`], which OpenMetrics forbids.
pub(crate) fn exemplar(labels: &[(&str, &str)], value: f64) -> Option<Exemplar> {
    let chars: usize = labels.iter().map(|(name, value)| name.chars().count() + value.chars().count()).sum();
    if chars > MAX_EXEMPLAR_LABELS_CHARS || labels.iter().any(|(name, _)| !is_valid_label_name(name)) {
        return None;
    }
    let labels = Labels(labels.iter().map(|&(name, value)| Label::new(name, value)).collect());
    Some(Exemplar { labels, value, timestamp: Some(now_seconds()) })
}

/// The latest exemplar of a counter or of one histogram bucket. Boxed and
/// made on first use, so a metric that never gets one pays one word.
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlot(OnceLock<Box<Mutex<Option<Exemplar>>>>);

impl ExemplarSlot {
    pub(crate) fn store(&self, exemplar: Exemplar) {
        let slot = self.0.get_or_init(Box::default);
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(exemplar);
    }

    /// A copy of the latest exemplar; a single load when there is none.
    pub(crate) fn get(&self) -> Option<Exemplar> {
        self.0.get()?.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Checks a metric name against `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn validate_metric_name(name: &str) -> Result<(), MetricError> {
    if is_valid_metric_name(name) { Ok(()) } else { Err(MetricError::InvalidMetricName(name.to_owned())) }
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*`; `__` names are
/// reserved for Prometheus itself.
pub(crate) fn validate_label_name(metric: &str, name: &str) -> Result<(), MetricError> {
    let invalid = |reason| MetricError::InvalidLabelName { metric: metric.to_owned(), name: name.to_owned(), reason };
    if !is_valid_label_name(name) {
        return Err(invalid("must match [a-zA-Z_][a-zA-Z0-9_]*"));
    }
    if name.starts_with("__") {
        return Err(invalid("names starting with __ are reserved"));
    }
    Ok(())
}

/// Validates a label set: each name, no repeats, and no label the type
/// writes itself (`le` on histograms, `quantile` on summaries).
pub(crate) fn validate_label_names<'a>(
    metric: &str,
    metric_type: MetricType,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), MetricError> {
    let mut seen: Vec<&str> = Vec::new();
    for name in names {
        validate_label_name(metric, name)?;
        let reserved = match metric_type {
            MetricType::Histogram | MetricType::GaugeHistogram => name == "le",
            MetricType::Summary => name == "quantile",
            _ => false,
        };
        if reserved {
            return Err(MetricError::InvalidLabelName {
                metric: metric.to_owned(),
                name: name.to_owned(),
                reason: "reserved by the metric type",
            });
        }
        if seen.contains(&name) {
            return Err(MetricError::DuplicateLabelName { metric: metric.to_owned(), name: name.to_owned() });
        }
        seen.push(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_metric_name("http_server:resp_time").is_ok());
        assert!(validate_metric_name("_x9").is_ok());
        assert!(validate_metric_name("").is_err());
        assert!(validate_metric_name("9x").is_err());
        assert!(validate_metric_name("a-b").is_err());
        assert!(validate_label_name("m", "path").is_ok());
        assert!(validate_label_name("m", "a:b").is_err());
        assert!(validate_label_name("m", "__name__").is_err());
        assert!(validate_label_names("m", MetricType::Histogram, ["a", "le"]).is_err());
        assert!(validate_label_names("m", MetricType::Counter, ["le"]).is_ok());
        assert_eq!(
            validate_label_names("m", MetricType::Counter, ["a", "a"]),
            Err(MetricError::DuplicateLabelName { metric: "m".into(), name: "a".into() })
        );
    }

    #[test]
    fn atomic_f64() {
        let a = AtomicF64::new(1.5);
        a.add(2.25);
        assert_eq!(a.get(), 3.75);
        a.set(-1.0);
        assert_eq!(a.get(), -1.0);
    }
}
