//! The registry: named metrics with help, a prefix, constant labels and
//! sub-registries, emitted as the shared model at scrape time.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Metric, MetricError, validate_label_names, validate_metric_name};
use crate::model::{Collector, Label, Labels, MetricFamily, MetricType};

/// A set of named metrics that emits them as [`MetricFamily`]s.
///
/// Registration validates metric and label names and rejects a second
/// metric with the same full name and constant labels. The registry is a
/// cheap `Arc` clone; registering works through `&self`, so a registry
/// already handed to a `/metrics` handler can still grow.
///
/// ```
/// use sonde_instrument::metrics::{Counter, Family, Registry};
/// use sonde_instrument::{Format, encode::encode_to_string, Collector};
///
/// let registry = Registry::with_prefix("demo").unwrap();
/// let requests = registry
///     .register("requests", "Requests served.", Family::<Counter>::new(&["code"]))
///     .unwrap();
/// requests.with_label_values(&["200"]).unwrap().inc();
///
/// let mut families = Vec::new();
/// registry.collect(&mut families);
/// let (text, _) = encode_to_string(&families, Format::Text);
/// let expected = concat!(
///     "# HELP demo_requests_total Requests served.\n",
///     "# TYPE demo_requests_total counter\n",
///     "demo_requests_total{code=\"200\"} 1\n",
/// );
/// assert_eq!(text, expected);
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    /// Prepended to every name with `_`; empty for none.
    prefix: String,
    const_labels: Labels,
    entries: Mutex<Vec<Arc<Entry>>>,
    collectors: Mutex<Vec<Arc<dyn Collector>>>,
    subs: Mutex<Vec<Registry>>,
    /// Full names plus constant labels of everything registered anywhere in
    /// this registry's tree, so a sub-registry cannot shadow its parent.
    taken: Arc<Mutex<HashSet<String>>>,
}

struct Entry {
    name: String,
    help: String,
    unit: Option<String>,
    metric: Box<dyn Metric>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("prefix", &self.inner.prefix)
            .field("const_labels", &self.inner.const_labels)
            .field("metrics", &lock(&self.inner.entries).len())
            .field("collectors", &lock(&self.inner.collectors).len())
            .field("sub_registries", &lock(&self.inner.subs).len())
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// An empty registry without prefix or constant labels.
    pub fn new() -> Self {
        Registry::build(String::new(), Labels::new(), Arc::default())
    }

    /// A registry whose metric names all start with `prefix_`.
    pub fn with_prefix(prefix: &str) -> Result<Self, MetricError> {
        Registry::new_custom(Some(prefix), &[])
    }

    /// A registry that adds `labels` to every sample it emits.
    pub fn with_const_labels(labels: &[(&str, &str)]) -> Result<Self, MetricError> {
        Registry::new_custom(None, labels)
    }

    /// A registry with an optional name prefix and constant labels.
    pub fn new_custom(prefix: Option<&str>, labels: &[(&str, &str)]) -> Result<Self, MetricError> {
        let prefix = prefix.unwrap_or("");
        if !prefix.is_empty() {
            validate_metric_name(prefix)?;
        }
        let const_labels = Labels::from_pairs(labels.iter().copied());
        validate_label_names("", MetricType::Unknown, const_labels.iter().map(|l| l.name.as_str()))?;
        Ok(Registry::build(prefix.to_owned(), const_labels, Arc::default()))
    }

    fn build(prefix: String, const_labels: Labels, taken: Arc<Mutex<HashSet<String>>>) -> Self {
        Registry {
            inner: Arc::new(Inner {
                prefix,
                const_labels,
                entries: Mutex::default(),
                collectors: Mutex::default(),
                subs: Mutex::default(),
                taken,
            }),
        }
    }

    /// A sub-registry whose names are this registry's prefix, then
    /// `prefix`; it keeps this registry's constant labels and is collected
    /// with it.
    pub fn sub_registry_with_prefix(&self, prefix: &str) -> Result<Registry, MetricError> {
        validate_metric_name(prefix)?;
        let full = self.full_name(prefix);
        let sub = Registry::build(full, self.inner.const_labels.clone(), self.inner.taken.clone());
        lock(&self.inner.subs).push(sub.clone());
        Ok(sub)
    }

    /// A sub-registry that adds `labels` to this registry's constant labels
    /// (e.g. one per shard or tenant: the same names may be registered in
    /// each); it is collected with this registry.
    pub fn sub_registry_with_labels(&self, labels: &[(&str, &str)]) -> Result<Registry, MetricError> {
        let mut const_labels = self.inner.const_labels.clone();
        for &(name, value) in labels {
            const_labels.push(name, value);
        }
        validate_label_names("", MetricType::Unknown, const_labels.iter().map(|l| l.name.as_str()))?;
        let sub = Registry::build(self.inner.prefix.clone(), const_labels, self.inner.taken.clone());
        lock(&self.inner.subs).push(sub.clone());
        Ok(sub)
    }

    /// Registers `metric` as `name` (after the prefix) with help text and
    /// returns it, so a new handle can be registered and kept in one step.
    ///
    /// Give counters without `_total`: exposition adds it.
    pub fn register<M: Metric + Clone + 'static>(&self, name: &str, help: &str, metric: M) -> Result<M, MetricError> {
        self.add(name, help, None, metric.clone())?;
        Ok(metric)
    }

    /// Like [`Registry::register`], with an OpenMetrics unit; the name must
    /// end in `_<unit>` (e.g. `request_duration_seconds` with `seconds`).
    pub fn register_with_unit<M: Metric + Clone + 'static>(
        &self,
        name: &str,
        help: &str,
        unit: &str,
        metric: M,
    ) -> Result<M, MetricError> {
        self.add(name, help, Some(unit), metric.clone())?;
        Ok(metric)
    }

    /// Adds a [`Collector`] whose families are computed at scrape time
    /// (process metrics, values read from elsewhere). Its names are used as
    /// they are, without this registry's prefix, and are not checked for
    /// duplicates; this registry's constant labels are put first on each of
    /// its samples.
    pub fn register_collector(&self, collector: impl Collector + 'static) {
        lock(&self.inner.collectors).push(Arc::new(collector));
    }

    fn add(
        &self,
        name: &str,
        help: &str,
        unit: Option<&str>,
        metric: impl Metric + 'static,
    ) -> Result<(), MetricError> {
        let full = self.full_name(name);
        validate_metric_name(&full)?;
        let metric_type = metric.metric_type();
        if metric_type == MetricType::Counter && full.ends_with("_total") {
            return Err(MetricError::CounterTotalSuffix(full));
        }
        if let Some(unit) = unit {
            let valid_unit =
                !unit.is_empty() && unit.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
            if !valid_unit || !full.strip_suffix(unit).is_some_and(|rest| rest.ends_with('_')) {
                return Err(MetricError::UnitNotSuffix { name: full, unit: unit.to_owned() });
            }
        }
        let const_names = self.inner.const_labels.iter().map(|l| l.name.as_str());
        validate_label_names(&full, metric_type, const_names.chain(metric.label_names().iter().map(String::as_str)))?;

        if !lock(&self.inner.taken).insert(identity(&full, &self.inner.const_labels)) {
            return Err(MetricError::AlreadyRegistered(full));
        }
        lock(&self.inner.entries).push(Arc::new(Entry {
            name: full,
            help: help.to_owned(),
            unit: unit.map(str::to_owned),
            metric: Box::new(metric),
        }));
        Ok(())
    }

    fn full_name(&self, name: &str) -> String {
        if self.inner.prefix.is_empty() { name.to_owned() } else { format!("{}_{}", self.inner.prefix, name) }
    }
}

impl Collector for Registry {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        // Snapshot under the locks, write without them: a metric's `write`
        // may then register into this registry without deadlocking.
        let entries: Vec<Arc<Entry>> = lock(&self.inner.entries).clone();
        for entry in entries {
            let mut family = MetricFamily::new(entry.name.clone(), entry.help.clone(), entry.metric.metric_type());
            family.unit = entry.unit.clone();
            entry.metric.write(&self.inner.const_labels, &mut family);
            // Like client_golang: a family with no series yet is not exposed.
            if !family.samples.is_empty() {
                out.push(family);
            }
        }
        let collectors: Vec<Arc<dyn Collector>> = lock(&self.inner.collectors).clone();
        for collector in collectors {
            let first = out.len();
            collector.collect(out);
            if !self.inner.const_labels.is_empty() {
                for sample in out.iter_mut().skip(first).flat_map(|family| family.samples.iter_mut()) {
                    let mut labels = self.inner.const_labels.clone();
                    labels.0.append(&mut sample.labels.0);
                    sample.labels = labels;
                }
            }
        }
        let subs: Vec<Registry> = lock(&self.inner.subs).clone();
        for sub in subs {
            sub.collect(out);
        }
    }
}

/// The key that must be unique in a registry tree: full name plus the
/// constant labels, sorted.
fn identity(name: &str, const_labels: &Labels) -> String {
    let mut key = name.to_owned();
    for Label { name, value } in const_labels.sorted().iter() {
        key.push('\0');
        key.push_str(name);
        key.push('\0');
        key.push_str(value);
    }
    key
}

/// Locks, ignoring poisoning: every critical section here leaves the data
/// consistent, so a panic elsewhere must not take metrics down with it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Counter, Family, Gauge, Histogram};

    #[test]
    fn duplicate_names_are_rejected() {
        let registry = Registry::new();
        registry.register("a", "A.", Counter::new()).unwrap();
        assert_eq!(
            registry.register("a", "A again.", Gauge::new()).unwrap_err(),
            MetricError::AlreadyRegistered("a".into())
        );
        let sub = registry.sub_registry_with_prefix("x").unwrap();
        sub.register("a", "", Counter::new()).unwrap();
        assert!(registry.register("x_a", "", Counter::new()).is_err());
        // Different constant labels make a different series set.
        let shard = registry.sub_registry_with_labels(&[("shard", "1")]).unwrap();
        shard.register("a", "", Counter::new()).unwrap();
        assert!(shard.register("a", "", Counter::new()).is_err());
    }

    #[test]
    fn names_are_validated() {
        let registry = Registry::new();
        assert!(matches!(registry.register("bad-name", "", Counter::new()), Err(MetricError::InvalidMetricName(_))));
        assert!(matches!(registry.register("c_total", "", Counter::new()), Err(MetricError::CounterTotalSuffix(_))));
        assert!(registry.register("g_total", "", Gauge::new()).is_ok());
        assert!(matches!(
            registry.register("f", "", Family::<Counter>::new(&["ok", "not-ok"])),
            Err(MetricError::InvalidLabelName { .. })
        ));
        assert!(matches!(
            registry.register("h", "", Family::<Histogram>::new(&["le"])),
            Err(MetricError::InvalidLabelName { .. })
        ));
        assert!(matches!(
            registry.register_with_unit("latency", "", "seconds", Histogram::new()),
            Err(MetricError::UnitNotSuffix { .. })
        ));
        assert!(matches!(
            registry.register_with_unit("xseconds", "", "seconds", Histogram::new()),
            Err(MetricError::UnitNotSuffix { .. })
        ));
        assert!(registry.register_with_unit("latency_seconds", "", "seconds", Histogram::new()).is_ok());
        assert!(Registry::with_prefix("9").is_err());
        assert!(Registry::with_const_labels(&[("__x", "1")]).is_err());
        assert!(Registry::with_const_labels(&[("a", "1"), ("a", "2")]).is_err());

        let labelled = Registry::with_const_labels(&[("service", "s")]).unwrap();
        assert!(matches!(
            labelled.register("f", "", Family::<Counter>::new(&["service"])),
            Err(MetricError::DuplicateLabelName { .. })
        ));
        assert!(labelled.sub_registry_with_labels(&[("service", "t")]).is_err());
    }

    #[test]
    fn collectors_get_constant_labels() {
        struct Up;
        impl Collector for Up {
            fn collect(&self, out: &mut Vec<MetricFamily>) {
                out.push(MetricFamily::gauge("up", "Up.").with_sample(Labels::new().with("job", "j"), 1.0));
            }
        }
        let registry = Registry::new_custom(Some("ignored"), &[("service", "s")]).unwrap();
        registry.register_collector(Up);
        let mut out = Vec::new();
        registry.collect(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "up");
        let names: Vec<&str> = out[0].samples[0].labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["service", "job"]);
    }

    #[test]
    fn failed_registration_leaves_the_name_free() {
        let registry = Registry::new();
        assert!(registry.register("f", "", Family::<Counter>::new(&["__bad"])).is_err());
        assert!(registry.register("f", "", Counter::new()).is_ok());
    }
}
