//! The collectors one scrape runs, and the per-collector report
//! `sonde_scrape_collector_success` / `sonde_scrape_collector_duration_seconds`.
//!
//! A collector registered with a name is timed and reported; its output is
//! kept only when it completes, and a panicking collector costs its own
//! families, never the scrape. Untimed collectors run as they are: the
//! agent's self metrics, and executors that time their own collectors (the
//! node exporter's). Their `sonde_scrape_collector_*` samples and the
//! registry's end up in one family each, never two families of one name.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sonde_instrument::{Collector, Labels, MetricFamily};

/// A collector name was registered twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("collector {0:?} is already registered")]
pub struct DuplicateCollector(pub String);

struct Named {
    name: String,
    collector: Arc<dyn Collector>,
    /// Whether the last run succeeded, so a failure is logged once when it
    /// starts and once when it ends, not on every scrape.
    healthy: AtomicBool,
}

/// The collectors of one agent.
#[derive(Default)]
pub struct Registry {
    named: Vec<Named>,
    untimed: Vec<Arc<dyn Collector>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("named", &self.names().collect::<Vec<_>>())
            .field("untimed", &self.untimed.len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a collector reported as `sonde_scrape_collector_*{collector=name}`.
    pub fn register(&mut self, name: impl Into<String>, collector: Arc<dyn Collector>) -> Result<(), DuplicateCollector> {
        let name = name.into();
        if self.named.iter().any(|n| n.name == name) {
            return Err(DuplicateCollector(name));
        }
        self.named.push(Named { name, collector, healthy: AtomicBool::new(true) });
        Ok(())
    }

    /// Adds a collector that is not timed or reported by the registry:
    /// self metrics, or an executor that reports its own collectors.
    pub fn register_untimed(&mut self, collector: Arc<dyn Collector>) {
        self.untimed.push(collector);
    }

    /// Names of the reported collectors, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.named.iter().map(|n| n.name.as_str())
    }
}

impl Collector for Registry {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        // Help texts match the node exporter's executor, whose samples
        // these may join.
        let mut success = MetricFamily::gauge(SUCCESS, "sonde: Whether a collector succeeded.");
        let mut duration =
            MetricFamily::gauge(DURATION, "sonde: Duration of a collector scrape.").with_unit("seconds");

        for named in &self.named {
            let mut families = Vec::new();
            let start = Instant::now();
            // The trait has no error channel yet, so a panic is the only
            // failure a collector can signal; it must not take the scrape
            // (or the process) with it.
            let ok = catch_unwind(AssertUnwindSafe(|| named.collector.collect(&mut families))).is_ok();
            let seconds = start.elapsed().as_secs_f64();
            if ok {
                out.append(&mut families);
            }
            let labels = Labels::new().with("collector", named.name.as_str());
            duration.push(labels.clone(), seconds);
            success.push(labels, if ok { 1.0 } else { 0.0 });

            if named.healthy.swap(ok, Ordering::Relaxed) != ok {
                if ok {
                    tracing::info!(name = %named.name, duration_seconds = seconds, "collector recovered");
                } else {
                    tracing::warn!(name = %named.name, duration_seconds = seconds, "collector failed");
                }
            }
        }

        for collector in &self.untimed {
            collector.collect(out);
        }
        for report in [success, duration] {
            merge(out, report);
        }
    }
}

const SUCCESS: &str = "sonde_scrape_collector_success";
const DURATION: &str = "sonde_scrape_collector_duration_seconds";

/// Adds `report`'s samples to the family of the same name and type already
/// in `out`, or appends it; an empty report adds nothing.
fn merge(out: &mut Vec<MetricFamily>, mut report: MetricFamily) {
    if report.samples.is_empty() {
        return;
    }
    match out.iter_mut().find(|f| f.name == report.name && f.metric_type == report.metric_type) {
        Some(family) => family.samples.append(&mut report.samples),
        None => out.push(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_instrument::Suffix;

    struct Fixed(&'static str);
    impl Collector for Fixed {
        fn collect(&self, out: &mut Vec<MetricFamily>) {
            out.push(MetricFamily::gauge(self.0, "A test gauge.").with_sample(Labels::new(), 1.0));
        }
    }

    struct Broken;
    impl Collector for Broken {
        fn collect(&self, out: &mut Vec<MetricFamily>) {
            out.push(MetricFamily::gauge("half_written", "Never seen."));
            panic!("collector bug");
        }
    }

    fn value(families: &[MetricFamily], name: &str, collector: &str) -> f64 {
        let family = families.iter().find(|f| f.name == name).unwrap();
        let sample = family.samples.iter().find(|s| s.labels.get("collector") == Some(collector)).unwrap();
        assert_eq!(sample.suffix, Suffix::None);
        sample.value
    }

    #[test]
    fn each_named_collector_is_reported() {
        let mut registry = Registry::new();
        registry.register("good", Arc::new(Fixed("test_good"))).unwrap();
        registry.register("broken", Arc::new(Broken)).unwrap();
        registry.register_untimed(Arc::new(Fixed("test_self")));

        let mut out = Vec::new();
        registry.collect(&mut out);
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["test_good", "test_self", SUCCESS, DURATION]);
        assert_eq!(value(&out, SUCCESS, "good"), 1.0);
        assert_eq!(value(&out, SUCCESS, "broken"), 0.0);
        assert!(value(&out, DURATION, "broken") >= 0.0);
    }

    /// Stands in for an executor that reports its own collectors.
    struct SelfReporting;
    impl Collector for SelfReporting {
        fn collect(&self, out: &mut Vec<MetricFamily>) {
            out.push(
                MetricFamily::gauge(SUCCESS, "sonde: Whether a collector succeeded.")
                    .with_sample(Labels::new().with("collector", "cpu"), 1.0),
            );
        }
    }

    #[test]
    fn reports_merge_with_an_executor_of_their_own() {
        let mut registry = Registry::new();
        registry.register("good", Arc::new(Fixed("test_good"))).unwrap();
        registry.register_untimed(Arc::new(SelfReporting));
        let mut out = Vec::new();
        registry.collect(&mut out);
        let successes: Vec<&MetricFamily> = out.iter().filter(|f| f.name == SUCCESS).collect();
        assert_eq!(successes.len(), 1, "{out:?}");
        assert_eq!(successes[0].samples.len(), 2);
        assert_eq!(value(&out, SUCCESS, "cpu"), 1.0);
        assert_eq!(value(&out, SUCCESS, "good"), 1.0);
    }

    #[test]
    fn no_named_collectors_means_no_report_families() {
        let mut registry = Registry::new();
        registry.register_untimed(Arc::new(Fixed("test_self")));
        let mut out = Vec::new();
        registry.collect(&mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn names_are_unique() {
        let mut registry = Registry::new();
        registry.register("cpu", Arc::new(Fixed("a"))).unwrap();
        assert_eq!(registry.register("cpu", Arc::new(Fixed("b"))), Err(DuplicateCollector("cpu".into())));
        assert_eq!(registry.names().collect::<Vec<_>>(), ["cpu"]);
    }
}
