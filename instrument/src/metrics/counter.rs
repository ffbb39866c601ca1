//! Counters: monotonically increasing totals, exposed with `_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{AtomicF64, ChildMetric, Metric};
use crate::model::{Labels, MetricFamily, MetricType};

/// An integer counter: one relaxed `fetch_add` per increment.
///
/// Clones share the value.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    value: Arc<AtomicU64>,
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `v`.
    #[inline]
    pub fn inc_by(&self, v: u64) {
        self.value.fetch_add(v, Ordering::Relaxed);
    }

    /// The current total.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Metric for Counter {
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        // Exact up to 2^53, which a counter of events does not reach in practice.
        out.push(base.clone(), self.get() as f64);
    }

    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        out.push(base, self.get() as f64);
    }
}

impl ChildMetric for Counter {
    const TYPE: MetricType = MetricType::Counter;
}

/// A floating-point counter (seconds, bytes as fractions, …), stored as the
/// bits of an `f64` and added with a compare-and-swap.
#[derive(Debug, Clone, Default)]
pub struct FloatCounter {
    value: Arc<AtomicF64>,
}

impl FloatCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.value.add(1.0);
    }

    /// Adds `v`. A counter never goes down, so a negative or NaN `v` is
    /// ignored rather than corrupting the total (or panicking).
    #[inline]
    pub fn inc_by(&self, v: f64) {
        if v >= 0.0 {
            self.value.add(v);
        }
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        self.value.get()
    }
}

impl Metric for FloatCounter {
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        out.push(base.clone(), self.get());
    }

    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        out.push(base, self.get());
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
