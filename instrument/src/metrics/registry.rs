//! The registry: named metrics with help, a prefix, constant labels and
//! sub-registries, emitted as the shared model at scrape time.

use std::collections::HashSet;
use std::collections::hash_map::{Entry as MapEntry, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::direct::{DirectMetric, Lines, direct_of, render_label_set};
use super::{Metric, MetricError, validate_label_names, validate_metric_name};
use crate::collector::Collector;
use crate::encode::{EncodeReport, Encoder, Header, write_eof, write_header};
use crate::format::Format;
use crate::model::{Label, Labels, MetricFamily, MetricType, Suffix, is_metric_name_byte};

/// A set of named metrics that emits them as [`MetricFamily`]s.
///
/// [`Collector::encode`] (and `encode_with`) on a registry write the same
/// bytes as encoding what [`Collector::collect`] gives, but straight from
/// the metrics: each child's label set is rendered once, when the child is
/// created, so a scrape allocates nothing per sample. Custom [`Metric`]s and
/// registered collectors go through the model for their part.
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
    /// `const_labels` rendered for the direct path (`a="b",c="d"`).
    const_rendered: Box<[u8]>,
    entries: Mutex<Vec<Arc<Entry>>>,
    collectors: Mutex<Vec<Arc<dyn Collector>>>,
    subs: Mutex<Vec<Registry>>,
    /// Full names plus constant labels of everything registered anywhere in
    /// this registry's tree, so a sub-registry cannot shadow its parent.
    taken: Arc<Mutex<HashSet<String>>>,
    /// Whether OpenMetrics output has `_created` lines; shared by the tree.
    created: Arc<AtomicBool>,
}

struct Entry {
    name: String,
    help: String,
    unit: Option<String>,
    metric_type: MetricType,
    metric: Box<dyn Metric>,
    /// The direct path's writer, for this module's metric types.
    direct: Option<Box<dyn DirectMetric>>,
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
        Registry::build(String::new(), Labels::new(), Arc::default(), Arc::default())
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
        Ok(Registry::build(prefix.to_owned(), const_labels, Arc::default(), Arc::default()))
    }

    /// This registry, writing `_created` lines in OpenMetrics output (see
    /// [`Registry::set_created_samples`]).
    #[must_use]
    pub fn with_created_samples(self) -> Self {
        self.set_created_samples(true);
        self
    }

    /// Whether OpenMetrics output (and [`Collector::collect`]) has a
    /// `_created` sample, the time the series was created in seconds since
    /// the epoch, after each series of a counter, histogram or summary, as
    /// client_golang writes them when its handler's
    /// `EnableOpenMetricsTextCreatedSamples` is set. Off by default, as
    /// there: a Prometheus that does not read them as creation times stores
    /// them as series of their own. Text 0.0.4 never has them. The setting
    /// is shared by this registry's sub-registries and parents.
    ///
    /// ```
    /// use sonde_instrument::metrics::{Counter, Registry};
    /// use sonde_instrument::{Collector, Format};
    ///
    /// let registry = Registry::new().with_created_samples();
    /// let jobs = registry.register("jobs", "Jobs run.", Counter::new())?;
    /// jobs.inc();
    /// let mut out = Vec::new();
    /// registry.encode(Format::OpenMetrics, &mut out);
    /// let text = String::from_utf8(out).unwrap_or_default();
    /// let created = format!("jobs_total 1\njobs_created {}\n", jobs.created());
    /// assert!(text.contains(&created), "{text}");
    /// let mut out = Vec::new();
    /// registry.encode(Format::Text, &mut out);
    /// assert!(!String::from_utf8_lossy(&out).contains("_created"));
    /// # Ok::<(), sonde_instrument::metrics::MetricError>(())
    /// ```
    pub fn set_created_samples(&self, on: bool) {
        self.inner.created.store(on, Ordering::Relaxed);
    }

    fn build(
        prefix: String,
        const_labels: Labels,
        taken: Arc<Mutex<HashSet<String>>>,
        created: Arc<AtomicBool>,
    ) -> Self {
        Registry {
            inner: Arc::new(Inner {
                prefix,
                const_rendered: render_label_set(&const_labels),
                const_labels,
                entries: Mutex::default(),
                collectors: Mutex::default(),
                subs: Mutex::default(),
                taken,
                created,
            }),
        }
    }

    /// A sub-registry whose names are this registry's prefix, then
    /// `prefix`; it keeps this registry's constant labels and is collected
    /// with it.
    pub fn sub_registry_with_prefix(&self, prefix: &str) -> Result<Registry, MetricError> {
        validate_metric_name(prefix)?;
        let full = self.full_name(prefix);
        let sub = Registry::build(
            full,
            self.inner.const_labels.clone(),
            self.inner.taken.clone(),
            self.inner.created.clone(),
        );
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
        let sub = Registry::build(
            self.inner.prefix.clone(),
            const_labels,
            self.inner.taken.clone(),
            self.inner.created.clone(),
        );
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
            let valid_unit = !unit.is_empty() && unit.bytes().all(is_metric_name_byte);
            if !valid_unit || !full.strip_suffix(unit).is_some_and(|rest| rest.ends_with('_')) {
                return Err(MetricError::UnitNotSuffix { name: full, unit: unit.to_owned() });
            }
        }
        let const_names = self.inner.const_labels.iter().map(|l| l.name.as_str());
        validate_label_names(&full, metric_type, const_names.chain(metric.label_names().iter().map(String::as_str)))?;

        if !lock(&self.inner.taken).insert(identity(&full, &self.inner.const_labels)) {
            return Err(MetricError::AlreadyRegistered(full));
        }
        let direct = direct_of(&metric);
        lock(&self.inner.entries).push(Arc::new(Entry {
            name: full,
            help: help.to_owned(),
            unit: unit.map(str::to_owned),
            metric_type,
            metric: Box::new(metric),
            direct,
        }));
        Ok(())
    }

    fn full_name(&self, name: &str) -> String {
        if self.inner.prefix.is_empty() { name.to_owned() } else { format!("{}_{}", self.inner.prefix, name) }
    }
}

impl Registry {
    /// The family [`Collector::collect`] emits for `entry`; `None` while it
    /// has no series (like client_golang, a family with none is not exposed).
    fn entry_family(&self, entry: &Entry) -> Option<MetricFamily> {
        let mut family = MetricFamily::new(entry.name.clone(), entry.help.clone(), entry.metric_type);
        family.unit = entry.unit.clone();
        if self.inner.created.load(Ordering::Relaxed) {
            entry.metric.write_with_created(self.inner.const_labels.clone(), &mut family);
        } else {
            entry.metric.write(&self.inner.const_labels, &mut family);
        }
        (!family.samples.is_empty()).then_some(family)
    }

    /// Appends the registered collectors' families, this registry's
    /// constant labels put first on each of their samples.
    fn collect_collectors(&self, out: &mut Vec<MetricFamily>) {
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
    }

    /// Lists, in the order [`Collector::collect`] emits them, what this
    /// registry's tree exposes: entries the direct path writes, and model
    /// families (custom metrics, collectors) in `scrape.families`.
    fn gather(&self, scrape: &mut Scrape) {
        let entries: Vec<Arc<Entry>> = lock(&self.inner.entries).clone();
        for entry in entries {
            match &entry.direct {
                Some(direct) => {
                    if direct.has_samples() {
                        scrape.parts.push(Part::Direct(self.clone(), entry.clone()));
                    }
                }
                None => {
                    if let Some(family) = self.entry_family(&entry) {
                        scrape.parts.push(Part::Model(scrape.families.len()));
                        scrape.families.push(family);
                    }
                }
            }
        }
        let first = scrape.families.len();
        self.collect_collectors(&mut scrape.families);
        scrape.parts.extend((first..scrape.families.len()).map(Part::Model));
        let subs: Vec<Registry> = lock(&self.inner.subs).clone();
        for sub in subs {
            sub.gather(scrape);
        }
    }
}

impl Collector for Registry {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        // Snapshot under the locks, write without them: a metric's `write`
        // may then register into this registry without deadlocking.
        let entries: Vec<Arc<Entry>> = lock(&self.inner.entries).clone();
        for entry in entries {
            if let Some(family) = self.entry_family(&entry) {
                out.push(family);
            }
        }
        self.collect_collectors(out);
        let subs: Vec<Registry> = lock(&self.inner.subs).clone();
        for sub in subs {
            sub.collect(out);
        }
    }

    /// Writes what encoding [`Collector::collect`]'s families would, byte
    /// for byte, straight from the metrics where it can.
    ///
    /// Families are grouped by name in order of first appearance, as the
    /// encoder groups them. A group made only of this module's metric types
    /// whose series cannot collide (one entry, or entries whose registries'
    /// constant labels differ in a value) is written directly; any other
    /// group (custom metrics, collectors, possible duplicates) is built as
    /// the model and encoded by `encoder`, which merges it and drops
    /// duplicates as it always does.
    fn encode_with(&self, encoder: &mut Encoder, format: Format, out: &mut Vec<u8>) -> EncodeReport {
        let mut scrape = Scrape::default();
        self.gather(&mut scrape);
        let report = scrape.write(encoder, format, out);
        if format == Format::OpenMetrics {
            write_eof(out);
        }
        report
    }
}

/// One family of a scrape on the direct path.
enum Part {
    /// An entry written straight from its metric, with its registry's
    /// constant labels.
    Direct(Registry, Arc<Entry>),
    /// A family of [`Scrape::families`].
    Model(usize),
}

/// What a registry tree exposes in one scrape, in `collect` order.
#[derive(Default)]
struct Scrape {
    parts: Vec<Part>,
    families: Vec<MetricFamily>,
}

impl Scrape {
    fn name<'a>(&'a self, part: &'a Part) -> &'a str {
        match part {
            Part::Direct(_, entry) => &entry.name,
            Part::Model(f) => self.families.get(*f).map_or("", |family| family.name.as_str()),
        }
    }

    /// The parts grouped by family name, in order of first appearance.
    fn groups(&self) -> Vec<Vec<usize>> {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(self.parts.len());
        let mut groups: Vec<Vec<usize>> = Vec::with_capacity(self.parts.len());
        for (p, part) in self.parts.iter().enumerate() {
            match index.entry(self.name(part)) {
                MapEntry::Occupied(group) => {
                    if let Some(group) = groups.get_mut(*group.get()) {
                        group.push(p);
                    }
                }
                MapEntry::Vacant(slot) => {
                    slot.insert(groups.len());
                    groups.push(vec![p]);
                }
            }
        }
        groups
    }

    fn write(mut self, encoder: &mut Encoder, format: Format, out: &mut Vec<u8>) -> EncodeReport {
        let mut report = EncodeReport::default();
        let mut counts = Vec::new();
        let mut model = Vec::new();
        for group in self.groups() {
            if self.write_direct(&group, format, out, &mut counts, &mut report) {
                continue;
            }
            model.clear();
            for &p in &group {
                match self.parts.get(p) {
                    Some(Part::Direct(registry, entry)) => model.extend(registry.entry_family(entry)),
                    Some(&Part::Model(f)) => model.extend(self.families.get_mut(f).map(std::mem::take)),
                    None => {}
                }
            }
            encoder.encode_groups(&model, format, out, &mut report);
        }
        report
    }

    /// Writes `group` straight from its metrics when it is only direct
    /// entries whose series cannot collide; `false` (having written
    /// nothing) otherwise.
    fn write_direct(
        &self,
        group: &[usize],
        format: Format,
        out: &mut Vec<u8>,
        counts: &mut Vec<u64>,
        report: &mut EncodeReport,
    ) -> bool {
        let mut members: Vec<(&Registry, &Entry, &dyn DirectMetric)> = Vec::with_capacity(group.len());
        let mut conflicting = 0;
        for &p in group {
            let Some(Part::Direct(registry, entry)) = self.parts.get(p) else { return false };
            let Some(direct) = &entry.direct else { return false };
            // As the encoder does: a family whose type differs from the
            // group's first is left out.
            if members.first().is_some_and(|(_, first, _)| first.metric_type != entry.metric_type) {
                conflicting += 1;
                continue;
            }
            let constants = &registry.inner.const_labels;
            if members.iter().any(|(other, _, _)| !distinct_series(&other.inner.const_labels, constants)) {
                return false;
            }
            members.push((registry, entry, direct.as_ref()));
        }
        let Some((_, first, _)) = members.first() else { return false };
        let header = Header {
            name: &first.name,
            help: &first.help,
            unit: first.unit.as_deref(),
            metric_type: first.metric_type,
        };
        // This module's counters always write `_total`.
        write_header(out, format, &header, Suffix::Total);
        for (registry, entry, direct) in members {
            let mut lines = Lines {
                out: &mut *out,
                name: entry.name.as_bytes(),
                base: &registry.inner.const_rendered,
                counts: &mut *counts,
                openmetrics: format == Format::OpenMetrics,
                created: format == Format::OpenMetrics && registry.inner.created.load(Ordering::Relaxed),
            };
            direct.write_direct(&mut lines);
        }
        report.conflicting_families += conflicting;
        true
    }
}

/// True when no series under constant labels `a` can equal one under `b`:
/// some label is in both with different values. Family labels never
/// repeat a constant label's name, so that label tells their series apart.
fn distinct_series(a: &Labels, b: &Labels) -> bool {
    a.iter().any(|label| b.get(&label.name).is_some_and(|value| value != label.value))
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
    use crate::metrics::{Counter, Family, FloatCounter, FloatGauge, Gauge, Histogram, Summary, SummaryOpts};
    use crate::model::Sample;

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

    /// The direct path's output and report against the model's, in both formats.
    fn assert_paths_agree(registry: &Registry) {
        for format in [Format::Text, Format::OpenMetrics] {
            let mut families = Vec::new();
            registry.collect(&mut families);
            let mut model = Vec::new();
            let model_report = crate::encode::encode(&families, format, &mut model);
            let mut direct = Vec::new();
            let direct_report = registry.encode(format, &mut direct);
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&model),
                "{format:?}: direct path differs from the model path"
            );
            assert_eq!(direct_report, model_report, "{format:?}");
            // Reusing an encoder changes nothing.
            let mut again = Vec::new();
            registry.encode_with(&mut Encoder::new(), format, &mut again);
            assert_eq!(again, direct);
        }
    }

    /// splitmix64: a small deterministic generator for building registries.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }

        fn chance(&mut self, one_in: usize) -> bool {
            self.below(one_in) == 0
        }

        fn float(&mut self) -> f64 {
            self.pick(&[0.0, -0.0, 0.25, 1.5, -3.0, 1e-7, 12345.678, 1e300, f64::INFINITY, f64::NAN])
        }
    }

    const NAMES: [&str; 5] = ["a", "b", "c", "lat_seconds", "x_a"];
    const HELPS: [&str; 4] = ["", "Plain help.", "Help \\ with\na newline and \"quotes\".", "Ünïcode ✓"];
    const VALUES: [&str; 9] =
        ["", "GET", "a\\b", "q\"uote", "new\nline", "ünï €", "/api/v1/items/1234567890", "\\\"\n", "1"];
    const LABEL_NAMES: [&str; 4] = ["method", "path", "shard", "zone"];

    /// A metric that is none of this module's types: written through the model.
    #[derive(Clone)]
    struct Custom(Vec<(Vec<(&'static str, &'static str)>, f64)>);

    impl Metric for Custom {
        fn metric_type(&self) -> MetricType {
            MetricType::Gauge
        }

        fn write(&self, base: &Labels, out: &mut MetricFamily) {
            for (labels, value) in &self.0 {
                let mut all = base.clone();
                for &(name, v) in labels {
                    all.push(name, v);
                }
                out.push(all, *value);
            }
        }
    }

    /// A collector emitting fixed families (which may merge with, conflict
    /// with or repeat the registry's own).
    struct Fixed(Vec<MetricFamily>);

    impl Collector for Fixed {
        fn collect(&self, out: &mut Vec<MetricFamily>) {
            out.extend(self.0.iter().cloned());
        }
    }

    fn random_labels(rng: &mut Rng) -> Vec<(&'static str, &'static str)> {
        let mut labels: Vec<(&str, &str)> = Vec::new();
        for _ in 0..rng.below(3) {
            let name = rng.pick(&LABEL_NAMES);
            if labels.iter().all(|(n, _)| *n != name) {
                labels.push((name, rng.pick(&VALUES)));
            }
        }
        labels
    }

    fn random_collector(rng: &mut Rng) -> Fixed {
        let mut families = Vec::new();
        for _ in 0..rng.below(3) + 1 {
            let types = [MetricType::Counter, MetricType::Gauge, MetricType::Histogram, MetricType::Summary];
            let metric_type = rng.pick(&types);
            let mut family = MetricFamily::new(rng.pick(&NAMES), rng.pick(&HELPS), metric_type);
            for _ in 0..rng.below(4) {
                let suffix = match metric_type {
                    MetricType::Counter => rng.pick(&[Suffix::Total, Suffix::None, Suffix::Created]),
                    MetricType::Gauge => Suffix::None,
                    MetricType::Histogram => rng.pick(&[Suffix::Bucket, Suffix::Sum, Suffix::Count, Suffix::Created]),
                    _ => rng.pick(&[Suffix::None, Suffix::Sum, Suffix::Count, Suffix::Created]),
                };
                let mut labels = Labels::from_pairs(random_labels(rng));
                if suffix == Suffix::Bucket {
                    labels.push("le", rng.pick(&["0.5", "+Inf"]));
                }
                family.push_sample(Sample::new(suffix, labels, rng.float()));
            }
            families.push(family);
        }
        Fixed(families)
    }

    fn random_metric(rng: &mut Rng, registry: &Registry) {
        let name = rng.pick(&NAMES);
        let help = rng.pick(&HELPS);
        let mut label_names: Vec<&str> = Vec::new();
        for _ in 0..rng.below(3) + 1 {
            let n = rng.pick(&LABEL_NAMES);
            if !label_names.contains(&n) {
                label_names.push(n);
            }
        }
        // Often just the label the sub-registries use as a constant, with
        // their values, so that a family may repeat a shard's series.
        let shard_values = ["1", "q\"uote"];
        let pool: &[&str] = if rng.chance(3) {
            label_names = vec!["shard"];
            &shard_values
        } else {
            &VALUES
        };
        let children: Vec<Vec<&str>> =
            (0..rng.below(5)).map(|_| label_names.iter().map(|_| rng.pick(pool)).collect()).collect();
        let bounds: &[f64] = rng.pick(&[&[0.5, 1.0, 2.5][..], &[1e-5, 1e6], &DEFAULT_BUCKETS_REF]);
        let observations: Vec<f64> = (0..rng.below(6)).map(|_| rng.float()).collect();
        let objectives = [0.5, 0.9, 0.99];
        let register = |metric_kind: usize, rng: &mut Rng| -> Result<(), MetricError> {
            let unit = (name == "lat_seconds" && rng.chance(2)).then_some("seconds");
            macro_rules! reg {
                ($m:expr) => {{
                    let m = $m;
                    match unit {
                        Some(unit) => registry.register_with_unit(name, help, unit, m),
                        None => registry.register(name, help, m),
                    }
                }};
            }
            match metric_kind {
                0 => reg!(Counter::new())?.inc_by(rng.next() >> 12),
                1 => reg!(FloatCounter::new())?.inc_by(rng.float().abs()),
                2 => reg!(Gauge::new())?.set(rng.next() as i64),
                3 => reg!(FloatGauge::new())?.set(rng.float()),
                4 => {
                    let h = reg!(Histogram::with_buckets(bounds)?)?;
                    observations.iter().for_each(|&v| h.observe(v));
                }
                5 => {
                    let s = reg!(Summary::with_objectives(&objectives[..rng.below(4)])?)?;
                    observations.iter().for_each(|&v| s.observe(v));
                }
                6 => {
                    let f = reg!(Family::<Counter>::new(&label_names))?;
                    for c in &children {
                        f.with_label_values(c)?.inc_by(rng.next() >> 40);
                    }
                }
                7 => {
                    let f = reg!(Family::<FloatCounter>::new(&label_names))?;
                    for c in &children {
                        f.with_label_values(c)?.inc_by(rng.float().abs());
                    }
                }
                8 => {
                    let f = reg!(Family::<Gauge>::new(&label_names))?;
                    for c in &children {
                        f.with_label_values(c)?.set(rng.next() as i64 >> 20);
                    }
                }
                9 => {
                    let f = reg!(Family::<FloatGauge>::new(&label_names))?;
                    for c in &children {
                        f.with_label_values(c)?.set(rng.float());
                    }
                }
                10 => {
                    let f = reg!(Family::<Histogram>::with_buckets(&label_names, bounds)?)?;
                    for c in &children {
                        let h = f.with_label_values(c)?;
                        observations.iter().for_each(|&v| h.observe(v));
                    }
                }
                11 => {
                    let opts = SummaryOpts::default().with_objectives(&objectives[..rng.below(4)]);
                    let f = reg!(Family::<Summary>::with_opts(&label_names, opts)?)?;
                    for c in &children {
                        let s = f.with_label_values(c)?;
                        observations.iter().for_each(|&v| s.observe(v));
                    }
                }
                _ => {
                    let samples = (0..rng.below(3)).map(|_| (random_labels(rng), rng.float())).collect();
                    reg!(Custom(samples))?;
                }
            }
            Ok(())
        };
        let kind = rng.below(13);
        // Many draws are invalid on purpose (a name taken, `shard` both a
        // constant and a family label); the registry refuses them.
        let _ = register(kind, rng);
    }

    const DEFAULT_BUCKETS_REF: [f64; 11] = crate::metrics::DEFAULT_BUCKETS;

    fn random_tree(rng: &mut Rng, registry: &Registry, depth: usize) {
        for _ in 0..rng.below(6) {
            random_metric(rng, registry);
        }
        if rng.chance(3) {
            registry.register_collector(random_collector(rng));
        }
        if depth < 2 {
            for _ in 0..rng.below(3) {
                let sub = if rng.chance(2) {
                    registry.sub_registry_with_prefix(rng.pick(&["x", "y"]))
                } else {
                    let value = rng.pick(&["1", "q\"uote"]);
                    registry.sub_registry_with_labels(&[(rng.pick(&["shard", "zone"]), value)])
                };
                if let Ok(sub) = sub {
                    random_tree(rng, &sub, depth + 1);
                }
            }
        }
    }

    fn random_registry(seed: u64) -> Registry {
        let mut rng = Rng(seed);
        let prefix = rng.pick(&[None, Some("app")]);
        let const_labels: &[(&str, &str)] = match rng.below(3) {
            0 => &[],
            1 => &[("env", "prod")],
            _ => &[("env", "q\"a\\\n"), ("zone", "ünï")],
        };
        let registry = Registry::new_custom(prefix, const_labels).unwrap();
        random_tree(&mut rng, &registry, 0);
        registry
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn direct_path_matches_the_model(seed in proptest::prelude::any::<u64>()) {
            assert_paths_agree(&random_registry(seed));
        }
    }

    #[test]
    fn direct_path_cases() {
        // Empty registry, and an empty family (not exposed).
        let registry = Registry::new();
        assert_paths_agree(&registry);
        let family = registry.register("f", "F.", Family::<Gauge>::new(&["a"])).unwrap();
        assert_paths_agree(&registry);
        family.with_label_values(&["x\"\\\ny"]).unwrap().set(-2);
        // Shards of one name written as one group, directly.
        for shard in ["1", "2"] {
            let sub = registry.sub_registry_with_labels(&[("shard", shard)]).unwrap();
            sub.register("g", "G.", Counter::new()).unwrap().inc();
        }
        // The parent's `g` may repeat a shard's series: the model's check decides.
        let parent_g = registry.register("g", "", Family::<Counter>::new(&["shard"])).unwrap();
        parent_g.with_label_values(&["1"]).unwrap().inc();
        let sub = registry.sub_registry_with_labels(&[("shard", "3")]).unwrap();
        sub.register("f", "", Gauge::new()).unwrap();
        sub.register_with_unit("t_seconds", "", "seconds", Summary::new()).unwrap();
        assert_paths_agree(&registry);
        let mut text = Vec::new();
        let report = registry.encode(Format::Text, &mut text);
        assert_eq!(report.duplicate_series, 1);
        assert_eq!(
            String::from_utf8_lossy(&text),
            concat!(
                "# HELP f F.\n# TYPE f gauge\n",
                "f{a=\"x\\\"\\\\\\ny\"} -2\n",
                "f{shard=\"3\"} 0\n",
                "# TYPE g_total counter\n",
                "g_total{shard=\"1\"} 1\n",
                "g_total{shard=\"2\"} 1\n",
                "# TYPE t_seconds summary\n",
                "t_seconds_sum{shard=\"3\"} 0\n",
                "t_seconds_count{shard=\"3\"} 0\n",
            )
        );
    }

    #[test]
    fn direct_path_follows_children_added_and_removed() {
        let registry = Registry::with_const_labels(&[("service", "s")]).unwrap();
        let family = registry.register("requests", "", Family::<Counter>::new(&["code"])).unwrap();
        assert_paths_agree(&registry);
        family.with_label_values(&["500"]).unwrap().inc();
        assert_paths_agree(&registry);
        family.with_label_values(&["200"]).unwrap().inc_by(2);
        assert_paths_agree(&registry);
        let mut text = Vec::new();
        registry.encode(Format::Text, &mut text);
        assert_eq!(
            String::from_utf8_lossy(&text),
            "# TYPE requests_total counter\n\
             requests_total{service=\"s\",code=\"200\"} 2\n\
             requests_total{service=\"s\",code=\"500\"} 1\n"
        );
        family.remove_label_values(&["200"]).unwrap();
        assert_paths_agree(&registry);
        family.with_label_values(&["404"]).unwrap();
        assert_paths_agree(&registry);
        family.clear();
        assert_paths_agree(&registry);
        family.with_label_values(&["200"]).unwrap();
        assert_paths_agree(&registry);
    }
}
