//! What the page shows of the node and its containers, read from the node
//! window when the page is asked for, never before: PromQL over the
//! samples the evaluator keeps anyway (at least the 5-minute lookback), so
//! the page adds no collection, no storage and no work while nobody looks.
//!
//! Every query keeps `job` and `instance`, and only the agent's own series
//! are used: the node window also holds what the `com.df.scrapePort`
//! targets expose, which may include `node_*` or `container_*` series of
//! another exporter.

use std::collections::BTreeMap;
use std::time::Duration;

use sonde_promql::Value;
use sonde_promql::store::LabelSet;

use super::chart::Span;
use crate::views::NodeHistory;

/// The range of `rate()`: four samples at the default 15-second interval,
/// more when the interval is longer.
fn rate_range(interval: Duration) -> Duration {
    (interval * 4).max(Duration::from_secs(60))
}

/// The charts' span: back as far as the window surely holds the points a
/// rate needs (the 5-minute lookback, less the rate's range), one point
/// per sample.
pub(crate) fn recent(interval: Duration, now_ms: i64) -> Span {
    let kept = sonde_promql::DEFAULT_LOOKBACK.saturating_sub(rate_range(interval));
    let step_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1);
    let kept_ms = i64::try_from(kept.as_millis()).unwrap_or(0).max(step_ms);
    Span { start_ms: now_ms - kept_ms, end_ms: now_ms, step_ms }
}

/// The node at a glance.
#[derive(Debug, Default)]
pub(crate) struct NodeUsage {
    /// CPUs online.
    pub cpus: Option<f64>,
    /// The 1-minute load average.
    pub load1: Option<f64>,
    /// The fraction of CPU time not idle, over all CPUs.
    pub cpu_busy: Vec<(i64, f64)>,
    /// `MemTotal`.
    pub memory_total: Option<f64>,
    /// `MemTotal - MemAvailable`: what `free` calls used.
    pub memory_used: Vec<(i64, f64)>,
    /// Bytes per second received and sent on the node's own interfaces.
    pub receive: Vec<(i64, f64)>,
    pub transmit: Vec<(i64, f64)>,
    /// The mounted filesystems, by mount point.
    pub filesystems: Vec<Filesystem>,
}

impl NodeUsage {
    /// The time of the node's first sample in the span, if any.
    pub(crate) fn first_ms(&self) -> Option<i64> {
        [&self.memory_used, &self.cpu_busy].iter().filter_map(|points| points.first()).map(|p| p.0).min()
    }
}

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filesystem {
    pub mountpoint: String,
    pub device: String,
    pub fstype: String,
    pub size: f64,
    pub available: f64,
}

/// One running container.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ContainerUsage {
    /// The Docker name.
    pub name: String,
    pub image: String,
    /// Its `container_label_*` labels (as `--container.labels` admits
    /// them), without the prefix.
    pub labels: Vec<(String, String)>,
    /// CPU seconds per second.
    pub cpu: Vec<(i64, f64)>,
    /// `container_memory_usage_bytes`.
    pub memory: Vec<(i64, f64)>,
    /// The memory limit; `None` when there is none.
    pub memory_limit: Option<f64>,
    /// Bytes per second received and sent, over all its interfaces.
    pub receive: Vec<(i64, f64)>,
    pub transmit: Vec<(i64, f64)>,
}

/// Interfaces left out of the node's network figure: loopback, and the
/// bridges and veth pairs a container's traffic also crosses before it
/// reaches a physical interface (counting them would count it thrice).
const VIRTUAL_INTERFACES: &str = "lo|veth.*|docker.*|br-.*|docker_gwbridge|virbr.*|cni.*|flannel.*|cali.*|vxlan.*";

/// The agent's own series among a query's answer.
struct Own<'a> {
    history: &'a dyn NodeHistory,
    job: String,
    instance: String,
    span: Span,
    rate: String,
}

impl<'a> Own<'a> {
    fn new(history: &'a dyn NodeHistory, span: Span) -> Self {
        let (job, instance) = history.own_labels();
        let rate = format!("{}s", rate_range(history.sample_interval()).as_secs());
        Own { history, job, instance, span, rate }
    }

    fn is_own(&self, labels: &LabelSet) -> bool {
        labels.get("job") == Some(self.job.as_str()) && labels.get("instance") == Some(self.instance.as_str())
    }

    /// The own series of a range query over the span. A query that fails
    /// (it should not: the texts are fixed) is no data, and a debug line.
    fn range(&self, text: &str) -> Vec<(LabelSet, Vec<(i64, f64)>)> {
        let Span { start_ms, end_ms, step_ms } = self.span;
        match self.history.node_range_query(text, start_ms, end_ms, step_ms) {
            Ok(Value::Matrix(series)) => {
                series.into_iter().filter(|s| self.is_own(&s.labels)).map(|s| (s.labels, s.points)).collect()
            }
            Ok(_) => Vec::new(),
            Err(err) => {
                tracing::debug!(query = text, err = %err, "a status page query failed");
                Vec::new()
            }
        }
    }

    /// The one own series of a range query, or none.
    fn range_one(&self, text: &str) -> Vec<(i64, f64)> {
        self.range(text).into_iter().next().map(|(_, points)| points).unwrap_or_default()
    }

    /// The own samples of an instant query at the span's end.
    fn instant(&self, text: &str) -> Vec<(LabelSet, f64)> {
        match self.history.node_instant_query(text, self.span.end_ms) {
            Ok(Value::Vector(samples)) => {
                samples.into_iter().filter(|s| self.is_own(&s.labels)).map(|s| (s.labels, s.value)).collect()
            }
            Ok(_) => Vec::new(),
            Err(err) => {
                tracing::debug!(query = text, err = %err, "a status page query failed");
                Vec::new()
            }
        }
    }

    fn instant_one(&self, text: &str) -> Option<f64> {
        self.instant(text).into_iter().next().map(|(_, value)| value)
    }
}

/// The node's figures over `span`.
pub(crate) fn node(history: &dyn NodeHistory, span: Span) -> NodeUsage {
    let own = Own::new(history, span);
    let rate = &own.rate;
    let net = |direction: &str| {
        own.range_one(&format!(
            "sum by (job, instance) (rate(node_network_{direction}_bytes_total{{device!~\"{VIRTUAL_INTERFACES}\"}}[{rate}]))"
        ))
    };
    let sizes = own.instant("node_filesystem_size_bytes");
    let available: BTreeMap<(String, String), f64> = own
        .instant("node_filesystem_avail_bytes")
        .into_iter()
        .map(|(labels, value)| ((label(&labels, "mountpoint"), label(&labels, "device")), value))
        .collect();
    let mut filesystems: Vec<Filesystem> = sizes
        .into_iter()
        .filter(|(_, size)| *size > 0.0)
        .map(|(labels, size)| {
            let (mountpoint, device) = (label(&labels, "mountpoint"), label(&labels, "device"));
            let available = available.get(&(mountpoint.clone(), device.clone())).copied().unwrap_or(f64::NAN);
            Filesystem { mountpoint, device, fstype: label(&labels, "fstype"), size, available }
        })
        .collect();
    filesystems.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    NodeUsage {
        cpus: own.instant_one("count by (job, instance) (node_cpu_seconds_total{mode=\"idle\"})"),
        load1: own.instant_one("node_load1"),
        cpu_busy: own
            .range_one(&format!("1 - avg by (job, instance) (rate(node_cpu_seconds_total{{mode=\"idle\"}}[{rate}]))")),
        memory_total: own.instant_one("node_memory_MemTotal_bytes"),
        memory_used: own.range_one("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes"),
        receive: net("receive"),
        transmit: net("transmit"),
        filesystems,
    }
}

/// The containers running now, by name, with their figures over `span`.
pub(crate) fn containers(history: &dyn NodeHistory, span: Span) -> Vec<ContainerUsage> {
    let own = Own::new(history, span);
    let rate = &own.rate;
    // The containers there now: a container gone has a stale marker, and
    // no sample at the span's end.
    let mut containers: BTreeMap<String, ContainerUsage> = BTreeMap::new();
    for (labels, _) in own.instant("container_memory_usage_bytes{name!=\"\"}") {
        let name = label(&labels, "name");
        let labels_shown = labels
            .iter()
            .filter_map(|(key, value)| {
                key.strip_prefix("container_label_").map(|key| (key.to_owned(), value.to_owned()))
            })
            .collect();
        let container = ContainerUsage {
            name: name.clone(),
            image: label(&labels, "image"),
            labels: labels_shown,
            ..ContainerUsage::default()
        };
        containers.insert(name, container);
    }
    if containers.is_empty() {
        return Vec::new();
    }
    let mut fill = |text: &str, field: fn(&mut ContainerUsage) -> &mut Vec<(i64, f64)>| {
        for (labels, points) in own.range(text) {
            if let Some(container) = labels.get("name").and_then(|name| containers.get_mut(name)) {
                *field(container) = points;
            }
        }
    };
    fill(
        &format!("sum by (job, instance, name) (rate(container_cpu_usage_seconds_total{{name!=\"\"}}[{rate}]))"),
        |c| &mut c.cpu,
    );
    fill("container_memory_usage_bytes{name!=\"\"}", |c| &mut c.memory);
    fill(
        &format!("sum by (job, instance, name) (rate(container_network_receive_bytes_total{{name!=\"\"}}[{rate}]))"),
        |c| &mut c.receive,
    );
    fill(
        &format!("sum by (job, instance, name) (rate(container_network_transmit_bytes_total{{name!=\"\"}}[{rate}]))"),
        |c| &mut c.transmit,
    );
    for (labels, limit) in own.instant("container_spec_memory_limit_bytes{name!=\"\"}") {
        // No limit is no series (cgroup v2's `max`) or 0 (cAdvisor's
        // convention some cgroup v1 readings follow).
        if let Some(container) = labels.get("name").and_then(|name| containers.get_mut(name)) {
            container.memory_limit = (limit > 0.0 && limit.is_finite()).then_some(limit);
        }
    }
    containers.into_values().collect()
}

fn label(labels: &LabelSet, name: &str) -> String {
    labels.get(name).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use sonde_instrument::{Labels, MetricFamily, MetricType};
    use sonde_rules::LogNotifier;

    use super::*;
    use crate::evaluator::{Evaluator, EvaluatorConfig};

    /// An evaluator with `instance="here"`, fed `families(i)` every second
    /// for `samples` seconds ending at `end_ms`.
    fn fed(
        samples: i64,
        end_ms: i64,
        families: impl Fn(i64) -> Vec<MetricFamily>,
    ) -> (tempfile::TempDir, Arc<Evaluator>) {
        let dir = tempfile::tempdir().unwrap();
        let config = EvaluatorConfig {
            storage_path: dir.path().join("data"),
            evaluation_interval: Duration::from_secs(1),
            instance: "here".to_owned(),
            ..EvaluatorConfig::default()
        };
        let evaluator = Arc::new(Evaluator::new(config, None, Arc::new(LogNotifier::new())));
        for i in 0..samples {
            evaluator.cycle(&families(i), end_ms - (samples - 1 - i) * 1000, Instant::now());
        }
        (dir, evaluator)
    }

    fn family(name: &str, metric_type: MetricType, samples: &[(&[(&str, &str)], f64)]) -> MetricFamily {
        let mut family = MetricFamily::new(name, "A test family.", metric_type);
        for (labels, value) in samples {
            let mut set = Labels::new();
            for (k, v) in *labels {
                set.push(*k, *v);
            }
            family.push(set, *value);
        }
        family
    }

    /// A counter: `name` without `_total`, which the family adds.
    fn counter(name: &str, samples: &[(&[(&str, &str)], f64)]) -> MetricFamily {
        family(name, MetricType::Counter, samples)
    }

    fn gauge(name: &str, samples: &[(&[(&str, &str)], f64)]) -> MetricFamily {
        family(name, MetricType::Gauge, samples)
    }

    #[test]
    fn the_span_reaches_back_as_far_as_a_rate_has_points() {
        let span = recent(Duration::from_secs(15), 1_000_000);
        assert_eq!(span, Span { start_ms: 1_000_000 - 240_000, end_ms: 1_000_000, step_ms: 15_000 });
        // A long interval: a longer rate, a shorter span, never nothing.
        let span = recent(Duration::from_secs(90), 1_000_000);
        assert_eq!((span.end_ms - span.start_ms, span.step_ms), (90_000, 90_000));
    }

    #[test]
    fn node_figures_come_from_the_agents_own_series() {
        let end_ms = 1_700_000_000_000;
        let (_dir, evaluator) = fed(120, end_ms, |i| {
            let i = i as f64;
            vec![
                // Two CPUs, each idle half the time.
                counter(
                    "node_cpu_seconds",
                    &[(&[("cpu", "0"), ("mode", "idle")], i * 0.5), (&[("cpu", "1"), ("mode", "idle")], i * 0.5)],
                ),
                gauge("node_memory_MemTotal_bytes", &[(&[], 1000.0)]),
                gauge("node_memory_MemAvailable_bytes", &[(&[], 750.0)]),
                gauge("node_load1", &[(&[], 0.5)]),
                counter(
                    "node_network_receive_bytes",
                    &[(&[("device", "eth0")], i * 100.0), (&[("device", "veth1")], i * 1e6), (&[("device", "lo")], i)],
                ),
                counter("node_network_transmit_bytes", &[(&[("device", "eth0")], i * 10.0)]),
                gauge(
                    "node_filesystem_size_bytes",
                    &[(&[("mountpoint", "/"), ("device", "/dev/vda"), ("fstype", "ext4")], 100.0)],
                ),
                gauge(
                    "node_filesystem_avail_bytes",
                    &[(&[("mountpoint", "/"), ("device", "/dev/vda"), ("fstype", "ext4")], 40.0)],
                ),
            ]
        });
        // Another exporter's series scraped into the window are not the node's.
        evaluator.write_window(crate::evaluator::Window::Node).append_set(
            &LabelSet::from_pairs([("__name__", "node_load1"), ("job", "other"), ("instance", "here")]),
            end_ms,
            99.0,
        );
        let span = Span { start_ms: end_ms - 30_000, end_ms, step_ms: 1000 };
        let node = node(evaluator.as_ref(), span);
        assert_eq!(node.cpus, Some(2.0));
        assert_eq!(node.load1, Some(0.5));
        assert_eq!(node.memory_total, Some(1000.0));
        assert_eq!(node.cpu_busy.len(), 31, "{:?}", node.cpu_busy);
        assert_eq!(node.first_ms(), Some(end_ms - 30_000));
        assert!(node.cpu_busy.iter().all(|p| (p.1 - 0.5).abs() < 1e-9), "{:?}", node.cpu_busy);
        assert!(node.memory_used.iter().all(|p| p.1 == 250.0), "{:?}", node.memory_used);
        // eth0 alone: lo and the veth are left out.
        assert!(node.receive.iter().all(|p| (p.1 - 100.0).abs() < 1e-9), "{:?}", node.receive);
        assert!(node.transmit.iter().all(|p| (p.1 - 10.0).abs() < 1e-9), "{:?}", node.transmit);
        let root = Filesystem {
            mountpoint: "/".to_owned(),
            device: "/dev/vda".to_owned(),
            fstype: "ext4".to_owned(),
            size: 100.0,
            available: 40.0,
        };
        assert_eq!(node.filesystems, [root]);
    }

    #[test]
    fn containers_have_their_figures_labels_and_limit() {
        let end_ms = 1_700_000_000_000;
        let evil: &[(&str, &str)] = &[
            ("id", "/docker/1"),
            ("name", "web"),
            ("image", "img:1"),
            ("container_label_com_df_note", "<script>\"x\"</script>"),
        ];
        let plain: &[(&str, &str)] = &[("id", "/docker/2"), ("name", "db"), ("image", "img:2")];
        let (_dir, evaluator) = fed(90, end_ms, |i| {
            let i = i as f64;
            vec![
                counter("container_cpu_usage_seconds", &[(evil, i * 0.25), (plain, i), (&[("id", "/")], i * 2.0)]),
                gauge("container_memory_usage_bytes", &[(evil, 100.0), (plain, 300.0), (&[("id", "/")], 1e9)]),
                gauge("container_spec_memory_limit_bytes", &[(evil, 400.0)]),
                counter("container_network_receive_bytes", &[(evil, i * 8.0)]),
                counter("container_network_transmit_bytes", &[(evil, i * 4.0)]),
            ]
        });
        let span = Span { start_ms: end_ms - 10_000, end_ms, step_ms: 1000 };
        let containers = containers(evaluator.as_ref(), span);
        let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["db", "web"], "by name; the root cgroup is not a container");
        let (db, web) = (&containers[0], &containers[1]);
        assert_eq!(web.image, "img:1");
        assert_eq!(web.labels, [("com_df_note".to_owned(), "<script>\"x\"</script>".to_owned())]);
        assert_eq!(web.memory_limit, Some(400.0));
        assert_eq!(db.memory_limit, None);
        assert_eq!(web.cpu.len(), 11);
        assert!(web.cpu.iter().all(|p| (p.1 - 0.25).abs() < 1e-9), "{:?}", web.cpu);
        assert!(db.cpu.iter().all(|p| (p.1 - 1.0).abs() < 1e-9), "{:?}", db.cpu);
        assert!(web.memory.iter().all(|p| p.1 == 100.0), "{:?}", web.memory);
        assert!(web.receive.iter().all(|p| (p.1 - 8.0).abs() < 1e-9), "{:?}", web.receive);
        assert!(web.transmit.iter().all(|p| (p.1 - 4.0).abs() < 1e-9), "{:?}", web.transmit);
        assert!(db.receive.is_empty());
    }
}
