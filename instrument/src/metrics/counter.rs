//! Counters: monotonically increasing totals, exposed with `_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{AtomicF64, ChildMetric, ExemplarSlot, Metric, exemplar, now_seconds};
use crate::model::{Exemplar, Labels, MetricFamily, MetricType, Sample, Suffix};

/// An integer counter: one relaxed `fetch_add` per increment.
///
/// It also keeps the time it was created, exposed as `_created` by a
/// registry set to [`Registry::with_created_samples`](super::Registry::with_created_samples),
/// and the latest exemplar given with [`Counter::inc_with_exemplar`],
/// which OpenMetrics output writes after the `_total` line.
///
/// Clones share the value.
///
/// ```
/// use sonde_instrument::metrics::Counter;
///
/// let jobs = Counter::new();
/// jobs.inc();
/// jobs.clone().inc_by(2);
/// jobs.inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6")]);
/// assert_eq!(jobs.get(), 4);
/// assert_eq!(jobs.exemplar().map(|e| e.value), Some(1.0));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Counter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    value: AtomicU64,
    /// Seconds since the epoch when the counter was made.
    created: f64,
    exemplar: ExemplarSlot,
}

impl Default for Inner {
    fn default() -> Self {
        Inner { value: AtomicU64::new(0), created: now_seconds(), exemplar: ExemplarSlot::default() }
    }
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.inner.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `v`.
    #[inline]
    pub fn inc_by(&self, v: u64) {
        self.inner.value.fetch_add(v, Ordering::Relaxed);
    }

    /// Adds one and keeps `labels` (e.g. `[("trace_id", id)]`) as the
    /// counter's exemplar, with the value 1 and the time now, replacing
    /// the one before. An exemplar OpenMetrics forbids (a name that is not
    /// a label name, more than
    /// [`MAX_EXEMPLAR_LABELS_CHARS`](super::MAX_EXEMPLAR_LABELS_CHARS)
    /// characters) is dropped; the increment counts either way.
    pub fn inc_with_exemplar(&self, labels: &[(&str, &str)]) {
        self.inc_by_with_exemplar(1, labels);
    }

    /// [`Counter::inc_by`] with an exemplar of value `v` (see
    /// [`Counter::inc_with_exemplar`]).
    pub fn inc_by_with_exemplar(&self, v: u64, labels: &[(&str, &str)]) {
        self.inc_by(v);
        if let Some(exemplar) = exemplar(labels, v as f64) {
            self.inner.exemplar.store(exemplar);
        }
    }

    /// The current total.
    pub fn get(&self) -> u64 {
        self.inner.value.load(Ordering::Relaxed)
    }

    /// The latest exemplar, if one was given.
    pub fn exemplar(&self) -> Option<Exemplar> {
        self.inner.exemplar.get()
    }

    /// When the counter was made, in seconds since the epoch (its
    /// `_created` value).
    pub fn created(&self) -> f64 {
        self.inner.created
    }

    fn sample(&self, base: Labels) -> Sample {
        // Exact up to 2^53, which a counter of events does not reach in practice.
        Sample { exemplar: self.exemplar(), ..Sample::new(Suffix::Total, base, self.get() as f64) }
    }
}

impl Metric for Counter {
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        out.push_sample(self.sample(base.clone()));
    }

    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        out.push_sample(self.sample(base));
    }

    fn write_with_created(&self, base: Labels, out: &mut MetricFamily) {
        out.push_sample(self.sample(base.clone()));
        out.push_sample(Sample::new(Suffix::Created, base, self.created()));
    }
}

impl ChildMetric for Counter {
    const TYPE: MetricType = MetricType::Counter;
}

/// A floating-point counter (seconds, bytes as fractions, …), stored as the
/// bits of an `f64` and added with a compare-and-swap. Like [`Counter`], it
/// keeps its creation time (`_created`) and its latest exemplar.
///
/// ```
/// use sonde_instrument::metrics::FloatCounter;
///
/// let cpu_seconds = FloatCounter::new();
/// cpu_seconds.inc_by(0.25);
/// cpu_seconds.inc_by(-1.0); // a counter never goes down: ignored
/// cpu_seconds.inc_by_with_exemplar(0.5, &[("trace_id", "4bf92f3577b34da6")]);
/// assert_eq!(cpu_seconds.get(), 0.75);
/// assert_eq!(cpu_seconds.exemplar().map(|e| e.value), Some(0.5));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FloatCounter {
    inner: Arc<FloatInner>,
}

#[derive(Debug)]
struct FloatInner {
    value: AtomicF64,
    /// Seconds since the epoch when the counter was made.
    created: f64,
    exemplar: ExemplarSlot,
}

impl Default for FloatInner {
    fn default() -> Self {
        FloatInner { value: AtomicF64::default(), created: now_seconds(), exemplar: ExemplarSlot::default() }
    }
}

impl FloatCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.inner.value.add(1.0);
    }

    /// Adds `v`. A counter never goes down, so a negative or NaN `v` is
    /// ignored rather than corrupting the total (or panicking).
    #[inline]
    pub fn inc_by(&self, v: f64) {
        if v >= 0.0 {
            self.inner.value.add(v);
        }
    }

    /// [`FloatCounter::inc_by`] keeping `labels` as the exemplar, with the
    /// value `v` and the time now (see [`Counter::inc_with_exemplar`]). A
    /// `v` the counter ignores records no exemplar either.
    pub fn inc_by_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) {
        if v >= 0.0 {
            self.inner.value.add(v);
            if let Some(exemplar) = exemplar(labels, v) {
                self.inner.exemplar.store(exemplar);
            }
        }
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        self.inner.value.get()
    }

    /// The latest exemplar, if one was given.
    pub fn exemplar(&self) -> Option<Exemplar> {
        self.inner.exemplar.get()
    }

    /// When the counter was made, in seconds since the epoch (its
    /// `_created` value).
    pub fn created(&self) -> f64 {
        self.inner.created
    }

    fn sample(&self, base: Labels) -> Sample {
        Sample { exemplar: self.exemplar(), ..Sample::new(Suffix::Total, base, self.get()) }
    }
}

impl Metric for FloatCounter {
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        out.push_sample(self.sample(base.clone()));
    }

    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        out.push_sample(self.sample(base));
    }

    fn write_with_created(&self, base: Labels, out: &mut MetricFamily) {
        out.push_sample(self.sample(base.clone()));
        out.push_sample(Sample::new(Suffix::Created, base, self.created()));
    }
}

impl ChildMetric for FloatCounter {
    const TYPE: MetricType = MetricType::Counter;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_and_share() {
        let c = Counter::new();
        let clone = c.clone();
        c.inc();
        clone.inc_by(41);
        assert_eq!(c.get(), 42);

        let f = FloatCounter::new();
        f.inc();
        f.inc_by(0.5);
        f.inc_by(-3.0);
        f.inc_by(f64::NAN);
        assert_eq!(f.get(), 1.5);
    }
}
