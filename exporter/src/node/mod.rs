//! The node collectors (a lean node_exporter) and their framework.
//!
//! * [`NodeCollector`]: the one-method trait every collector implements.
//! * [`COLLECTORS`]: the registry, the one place that lists every collector
//!   with its name and whether it is on by default (node_exporter's defaults).
//!   The agent builds `--collector.<name>` / `--no-collector.<name>` from it.
//! * [`NodeConfig`]: plain data (paths, enabled collectors, filters) with
//!   node_exporter 1.5.0's defaults.
//! * [`NodeExporter`]: the executor; it runs the enabled collectors and
//!   always emits `sonde_scrape_collector_success{collector}` and
//!   `sonde_scrape_collector_duration_seconds{collector}`. One failing
//!   collector never stops the others.

use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use sonde_instrument::{Collector, Labels, MetricFamily, MetricType};

use crate::procfs::ParseError;

mod config;
mod conntrack;
mod cpu;
mod diskstats;
mod entropy;
mod filefd;
pub mod filesystem;
mod loadavg;
mod meminfo;
mod netdev;
mod netstat;
mod os;
mod pressure;
mod read;
mod sockstat;
mod stat;
mod textfile;
mod time;
mod uname;
mod vmstat;

pub(crate) use config::{CompiledFilter, compile};
pub use config::{
    DEFAULT_DISKSTATS_DEVICE_EXCLUDE, DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE,
    DEFAULT_MOUNT_TIMEOUT, DEFAULT_NETDEV_DEVICE_EXCLUDE, DEFAULT_NETSTAT_FIELDS,
    DEFAULT_VMSTAT_FIELDS, DeviceFilter, NodeConfig,
};
pub use filesystem::{FsStats, StatfsFn};

/// A node collector: appends its families, or says why it could not.
pub trait NodeCollector: Send + Sync + fmt::Debug {
    /// Appends this collector's families to `out`. On error, whatever was
    /// appended is kept; the executor reports the collector as failed.
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError>;
}

/// Why a collector failed. Every variant names the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// A file or directory could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content did not parse.
    #[error("parsing {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: ParseError,
    },
    /// Nothing to report on this machine (e.g. conntrack not loaded).
    /// Reported as failed, like node_exporter's `ErrNoData`, but logged at
    /// debug level only.
    #[error("no data at {}", path.display())]
    NoData {
        /// The file whose absence means "no data".
        path: PathBuf,
    },
}

/// Why the executor could not be built from a [`NodeConfig`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A pattern flag does not compile.
    #[error("invalid regular expression for {flag}: {source}")]
    Regex {
        /// The flag, e.g. `collector.filesystem.mount-points-exclude`.
        flag: &'static str,
        /// What the regex crate said.
        #[source]
        source: Box<regex::Error>,
    },
    /// Both the include and the exclude form of a filter were given.
    #[error("{include} and {exclude} are mutually exclusive")]
    MutuallyExclusive {
        /// The include flag.
        include: &'static str,
        /// The exclude flag.
        exclude: &'static str,
    },
    /// A collector name that is not in [`COLLECTORS`].
    #[error("unknown collector {0:?}")]
    UnknownCollector(String),
}

/// One entry of the registry.
#[derive(Clone, Copy)]
pub struct CollectorInfo {
    /// The collector's name, as in `--collector.<name>`.
    pub name: &'static str,
    /// Whether node_exporter 1.5.0 enables it by default on Linux.
    pub default_enabled: bool,
    /// Builds the collector from the configuration.
    pub build: fn(&NodeConfig) -> Result<Box<dyn NodeCollector>, ConfigError>,
}

impl fmt::Debug for CollectorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectorInfo")
            .field("name", &self.name)
            .field("default_enabled", &self.default_enabled)
            .finish_non_exhaustive()
    }
}

/// Every node collector, in name order. The one place to register one.
pub const COLLECTORS: &[CollectorInfo] = &[
    CollectorInfo {
        name: "conntrack",
        default_enabled: true,
        build: conntrack::build,
    },
    CollectorInfo {
        name: "cpu",
        default_enabled: true,
        build: cpu::build,
    },
    CollectorInfo {
        name: "diskstats",
        default_enabled: true,
        build: diskstats::build,
    },
    CollectorInfo {
        name: "entropy",
        default_enabled: true,
        build: entropy::build,
    },
    CollectorInfo {
        name: "filefd",
        default_enabled: true,
        build: filefd::build,
    },
    CollectorInfo {
        name: "filesystem",
        default_enabled: true,
        build: filesystem::build,
    },
    CollectorInfo {
        name: "loadavg",
        default_enabled: true,
        build: loadavg::build,
    },
    CollectorInfo {
        name: "meminfo",
        default_enabled: true,
        build: meminfo::build,
    },
    CollectorInfo {
        name: "netdev",
        default_enabled: true,
        build: netdev::build,
    },
    CollectorInfo {
        name: "netstat",
        default_enabled: true,
        build: netstat::build,
    },
    CollectorInfo {
        name: "os",
        default_enabled: true,
        build: os::build,
    },
    CollectorInfo {
        name: "pressure",
        default_enabled: true,
        build: pressure::build,
    },
    CollectorInfo {
        name: "sockstat",
        default_enabled: true,
        build: sockstat::build,
    },
    CollectorInfo {
        name: "stat",
        default_enabled: true,
        build: stat::build,
    },
    CollectorInfo {
        name: "textfile",
        default_enabled: true,
        build: textfile::build,
    },
    CollectorInfo {
        name: "time",
        default_enabled: true,
        build: time::build,
    },
    CollectorInfo {
        name: "uname",
        default_enabled: true,
        build: uname::build,
    },
    CollectorInfo {
        name: "vmstat",
        default_enabled: true,
        build: vmstat::build,
    },
];

/// Looks a collector up by name.
pub fn collector_info(name: &str) -> Option<&'static CollectorInfo> {
    COLLECTORS.iter().find(|c| c.name == name)
}

const STATE_UNKNOWN: u8 = 0;
const STATE_OK: u8 = 1;
const STATE_FAILED: u8 = 2;
const STATE_NO_DATA: u8 = 3;

/// One enabled collector and what the executor remembers about it.
#[derive(Debug)]
struct Slot {
    name: &'static str,
    collector: Box<dyn NodeCollector>,
    /// Last outcome, so a recurring failure logs once, not every scrape.
    state: AtomicU8,
}

/// The executor: runs the enabled node collectors on every `collect`.
#[derive(Debug)]
pub struct NodeExporter {
    slots: Vec<Slot>,
    /// Serializes scrapes: collectors keep per-scrape buffers and the cpu
    /// collector's monotonic cache, and two concurrent scrapes would only
    /// race for the same files.
    scrape: Mutex<()>,
}

impl NodeExporter {
    /// Builds every enabled collector. Fails on an unknown collector name or
    /// a pattern that does not compile.
    pub fn new(config: &NodeConfig) -> Result<Self, ConfigError> {
        Self::build(config, None)
    }

    /// Like [`NodeExporter::new`], with the filesystem collector's `statfs`
    /// call replaced (tests inject fake sizes or a call that hangs).
    pub fn with_statfs(config: &NodeConfig, statfs: StatfsFn) -> Result<Self, ConfigError> {
        Self::build(config, Some(statfs))
    }

    fn build(config: &NodeConfig, statfs: Option<StatfsFn>) -> Result<Self, ConfigError> {
        if let Some(unknown) = config.enabled.iter().find(|n| collector_info(n).is_none()) {
            return Err(ConfigError::UnknownCollector(unknown.clone()));
        }
        let mut slots = Vec::with_capacity(config.enabled.len());
        for info in COLLECTORS
            .iter()
            .filter(|c| config.enabled.contains(c.name))
        {
            let collector = match (&statfs, info.name) {
                (Some(statfs), "filesystem") => {
                    Box::new(filesystem::Filesystem::new(config, statfs.clone())?)
                        as Box<dyn NodeCollector>
                }
                _ => (info.build)(config)?,
            };
            slots.push(Slot {
                name: info.name,
                collector,
                state: AtomicU8::new(STATE_UNKNOWN),
            });
        }
        Ok(NodeExporter {
            slots,
            scrape: Mutex::new(()),
        })
    }

    /// Names of the enabled collectors, in the order they run.
    pub fn collector_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.slots.iter().map(|s| s.name)
    }

    fn run(&self, slot: &Slot, out: &mut Vec<MetricFamily>) -> bool {
        // A panicking collector (a bug) must not take the scrape down.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.collector.update(out)));
        let (new_state, ok) = match &result {
            Ok(Ok(())) => (STATE_OK, true),
            Ok(Err(CollectorError::NoData { .. })) => (STATE_NO_DATA, false),
            Ok(Err(_)) | Err(_) => (STATE_FAILED, false),
        };
        let old_state = slot.state.swap(new_state, Ordering::Relaxed);
        match result {
            Ok(Ok(())) if old_state == STATE_FAILED => {
                tracing::info!(collector = slot.name, "collector recovered");
            }
            Ok(Ok(())) => {}
            Ok(Err(CollectorError::NoData { path })) => {
                tracing::debug!(collector = slot.name, path = %path.display(), "collector returned no data");
            }
            Ok(Err(error)) if old_state != STATE_FAILED => {
                tracing::warn!(collector = slot.name, %error, "collector failed");
            }
            Err(_) if old_state != STATE_FAILED => {
                tracing::warn!(collector = slot.name, "collector panicked");
            }
            Ok(Err(_)) | Err(_) => {}
        }
        ok
    }
}

impl Collector for NodeExporter {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        // A poisoned lock only means an earlier scrape panicked; the data
        // it guards is `()`, so carry on.
        let _guard = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let start = out.len();
        let mut duration = MetricFamily::gauge(
            "sonde_scrape_collector_duration_seconds",
            "sonde: Duration of a collector scrape.",
        )
        .with_unit("seconds");
        let mut success = MetricFamily::gauge(
            "sonde_scrape_collector_success",
            "sonde: Whether a collector succeeded.",
        );
        for slot in &self.slots {
            let began = Instant::now();
            let ok = self.run(slot, out);
            let labels = Labels::new().with("collector", slot.name);
            duration.push(labels.clone(), began.elapsed().as_secs_f64());
            success.push(labels, if ok { 1.0 } else { 0.0 });
        }
        out.push(duration);
        out.push(success);
        sort_families(&mut out[start..]);
    }
}

/// The name a family's samples are written with: a counter's carry `_total`.
fn exposed_name(family: &MetricFamily) -> impl Iterator<Item = u8> + '_ {
    let suffix = if family.metric_type == MetricType::Counter {
        "_total"
    } else {
        ""
    };
    family.name.bytes().chain(suffix.bytes())
}

/// Orders families by name and samples by label values, as the Go client
/// does, so output is stable whatever order files and maps yield.
fn sort_families(families: &mut [MetricFamily]) {
    families.sort_by(|a, b| exposed_name(a).cmp(exposed_name(b)));
    for family in families {
        // Buckets and quantiles (from textfiles) keep their order: `le`
        // values do not sort as text.
        if matches!(
            family.metric_type,
            MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary
        ) {
            continue;
        }
        family.samples.sort_by(|a, b| {
            a.suffix.cmp(&b.suffix).then_with(|| {
                a.labels
                    .iter()
                    .map(|l| l.value.as_str())
                    .cmp(b.labels.iter().map(|l| l.value.as_str()))
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn defaults_match_node_exporter() {
        let config = NodeConfig::default();
        assert_eq!(config.procfs, Path::new("/proc"));
        assert_eq!(config.rootfs, Path::new("/"));
        assert_eq!(config.mount_timeout, Duration::from_secs(5));
        assert_eq!(config.enabled.len(), COLLECTORS.len());
        let names: Vec<_> = COLLECTORS.iter().map(|c| c.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "registry must stay sorted and unique");
    }

    #[test]
    fn enable_disable_and_unknown_names() {
        let mut config = NodeConfig::default();
        config.disable_defaults();
        config.enable("cpu").unwrap();
        config.enable("loadavg").unwrap();
        config.disable("loadavg").unwrap();
        assert!(config.enable("nope").is_err());
        let exporter = NodeExporter::new(&config).unwrap();
        assert_eq!(exporter.collector_names().collect::<Vec<_>>(), vec!["cpu"]);
        config.enabled.insert("bogus".into());
        assert!(matches!(
            NodeExporter::new(&config),
            Err(ConfigError::UnknownCollector(_))
        ));
    }

    #[test]
    fn include_and_exclude_are_mutually_exclusive() {
        let mut config = NodeConfig::default();
        config.netdev_devices.include = Some("^eth".into());
        assert!(matches!(
            NodeExporter::new(&config),
            Err(ConfigError::MutuallyExclusive { .. })
        ));
        config.netdev_devices.exclude = None;
        assert!(NodeExporter::new(&config).is_ok());
        config.fs_types_exclude = "(".into();
        assert!(matches!(
            NodeExporter::new(&config),
            Err(ConfigError::Regex { .. })
        ));
    }

    #[test]
    fn the_core_collectors_work_on_this_machine() {
        let mut config = NodeConfig::default();
        config.disable_defaults();
        for name in [
            "cpu",
            "stat",
            "loadavg",
            "meminfo",
            "vmstat",
            "netdev",
            "filesystem",
            "uname",
            "time",
        ] {
            config.enable(name).unwrap();
        }
        let exporter = NodeExporter::new(&config).unwrap();
        let mut out = Vec::new();
        exporter.collect(&mut out);
        for name in exporter.collector_names() {
            assert_eq!(
                success_of(&out, name),
                Some(1.0),
                "{name} failed on this machine"
            );
        }
        assert!(out.iter().any(|f| f.name == "node_memory_MemTotal_bytes"));
        assert!(out.iter().any(|f| f.name == "node_cpu_seconds"));
    }

    #[derive(Debug)]
    struct Flaky(std::sync::atomic::AtomicBool);

    impl NodeCollector for Flaky {
        fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
            if self.0.load(Ordering::Relaxed) {
                out.push(MetricFamily::gauge("flaky_up", "Up.").with_sample(Labels::new(), 1.0));
                Ok(())
            } else {
                Err(CollectorError::Io {
                    path: PathBuf::from("/nowhere"),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                })
            }
        }
    }

    #[derive(Debug)]
    struct Panicky;

    impl NodeCollector for Panicky {
        fn update(&self, _out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
            panic!("collector bug");
        }
    }

    #[test]
    fn a_panicking_collector_does_not_stop_the_scrape() {
        let mut config = NodeConfig::default();
        config.disable_defaults();
        config.enable("uname").unwrap();
        let mut exporter = NodeExporter::new(&config).unwrap();
        exporter.slots.insert(
            0,
            Slot {
                name: "panicky",
                collector: Box::new(Panicky),
                state: AtomicU8::new(0),
            },
        );
        let mut out = Vec::new();
        exporter.collect(&mut out);
        assert_eq!(success_of(&out, "panicky"), Some(0.0));
        assert_eq!(success_of(&out, "uname"), Some(1.0));
    }

    fn success_of(families: &[MetricFamily], name: &str) -> Option<f64> {
        families
            .iter()
            .find(|f| f.name == "sonde_scrape_collector_success")?
            .samples
            .iter()
            .find(|s| s.labels.get("collector") == Some(name))
            .map(|s| s.value)
    }

    #[test]
    fn a_failing_collector_reports_zero_and_others_go_on() {
        let mut config = NodeConfig::default();
        config.disable_defaults();
        config.enable("loadavg").unwrap();
        config.procfs = PathBuf::from("/nonexistent-procfs");
        let mut exporter = NodeExporter::new(&config).unwrap();
        exporter.slots.push(Slot {
            name: "flaky",
            collector: Box::new(Flaky(false.into())),
            state: AtomicU8::new(STATE_UNKNOWN),
        });
        let mut out = Vec::new();
        exporter.collect(&mut out);
        assert_eq!(success_of(&out, "loadavg"), Some(0.0));
        assert_eq!(success_of(&out, "flaky"), Some(0.0));
        let durations = out
            .iter()
            .find(|f| f.name == "sonde_scrape_collector_duration_seconds")
            .unwrap();
        assert_eq!(durations.samples.len(), 2);

        let Some(slot) = exporter.slots.iter().find(|s| s.name == "flaky") else {
            panic!("no slot")
        };
        assert_eq!(slot.state.load(Ordering::Relaxed), STATE_FAILED);
        let flaky = format!("{:?}", slot.collector);
        assert!(flaky.contains("Flaky"));
        exporter.slots.retain(|s| s.name != "flaky");
        exporter.slots.push(Slot {
            name: "flaky",
            collector: Box::new(Flaky(true.into())),
            state: AtomicU8::new(STATE_FAILED),
        });
        let mut out = Vec::new();
        exporter.collect(&mut out);
        assert_eq!(success_of(&out, "flaky"), Some(1.0));
        assert!(out.iter().any(|f| f.name == "flaky_up"));
    }
}
