//! Gauges: values that go up and down.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::{AtomicF64, ChildMetric, Metric};
use crate::model::{Labels, MetricFamily, MetricType};

/// An integer gauge (in-flight requests, queue depth). Clones share the value.
///
/// ```
/// use sonde_instrument::metrics::Gauge;
///
/// let in_flight = Gauge::new();
/// in_flight.inc();
/// in_flight.add(2);
/// in_flight.dec();
/// assert_eq!(in_flight.get(), 2);
/// in_flight.set(-1);
/// assert_eq!(in_flight.get(), -1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Gauge {
    value: Arc<AtomicI64>,
}

impl Gauge {
    /// A gauge at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.value.store(v, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.sub(1);
    }

    /// Adds `v` (wrapping on overflow, as the atomic does).
    #[inline]
    pub fn add(&self, v: i64) {
        self.value.fetch_add(v, Ordering::Relaxed);
    }

    /// Subtracts `v` (wrapping on overflow, as the atomic does).
    #[inline]
    pub fn sub(&self, v: i64) {
        self.value.fetch_sub(v, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Metric for Gauge {
    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        out.push(base.clone(), self.get() as f64);
    }

    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        out.push(base, self.get() as f64);
    }
}

impl ChildMetric for Gauge {
    const TYPE: MetricType = MetricType::Gauge;
}

/// A floating-point gauge (temperatures, ratios), stored as `f64` bits;
/// `add`/`sub` use a compare-and-swap. Clones share the value.
///
/// ```
/// use sonde_instrument::metrics::FloatGauge;
///
/// let temperature = FloatGauge::new();
/// temperature.set(21.5);
/// temperature.sub(0.5);
/// assert_eq!(temperature.get(), 21.0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FloatGauge {
    value: Arc<AtomicF64>,
}

impl FloatGauge {
    /// A gauge at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.value.set(v);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.value.add(1.0);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.value.add(-1.0);
    }

    /// Adds `v`.
    #[inline]
    pub fn add(&self, v: f64) {
        self.value.add(v);
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        self.value.add(-v);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.value.get()
    }
}

impl Metric for FloatGauge {
    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        out.push(base.clone(), self.get());
    }

    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        out.push(base, self.get());
    }
}

impl ChildMetric for FloatGauge {
    const TYPE: MetricType = MetricType::Gauge;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_move_both_ways() {
        let g = Gauge::new();
        g.set(10);
        g.inc();
        g.dec();
        g.dec();
        g.add(5);
        g.sub(20);
        assert_eq!(g.get(), -6);

        let f = FloatGauge::new();
        f.set(1.5);
        f.inc();
        f.dec();
        f.add(0.25);
        f.sub(1.0);
        assert_eq!(f.get(), 0.75);
    }
}
