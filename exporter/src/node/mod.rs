//! The node collectors (a lean node_exporter) and their framework.
//!
//! * Every collector implements [`ScrapeCollector`] and runs in the
//!   [`ScrapeExecutor`] (see [`crate::scrape`]), which times it and reports
//!   `node_scrape_collector_success` / `_duration_seconds{collector}`.
//! * [`COLLECTORS`]: the registry, the one place that lists every collector
//!   with its name and whether it is on by default (node_exporter's defaults).
//!   The agent builds `--collector.<name>` / `--no-collector.<name>` from it.
//! * [`NodeConfig`]: plain data (paths, enabled collectors, filters) with
//!   node_exporter 1.5.0's defaults.
//! * [`register`]: builds the enabled collectors into an executor.

use std::fmt;

pub use crate::scrape::{CollectorError, ScrapeCollector};
use crate::scrape::{DuplicateCollector, ScrapeExecutor};

mod arp;
mod bcache;
mod bonding;
mod btrfs;
mod config;
mod conntrack;
mod cpu;
mod cpufreq;
mod diskstats;
mod dmi;
mod edac;
mod entropy;
mod fibrechannel;
mod filefd;
pub mod filesystem;
mod hwmon;
mod infiniband;
mod interrupts;
mod ipvs;
mod loadavg;
mod mdadm;
mod meminfo;
mod netclass;
mod netdev;
mod netstat;
mod nfs;
mod nfsd;
mod nvme;
mod os;
mod powersupplyclass;
mod pressure;
mod processes;
mod rapl;
mod read;
mod schedstat;
mod selinux;
mod sockstat;
mod softnet;
mod stat;
mod tapestats;
mod textfile;
mod thermal_zone;
mod time;
mod udp_queues;
mod uname;
mod vmstat;
mod xfs;
mod zfs;

pub(crate) use config::{CompiledFilter, compile};
pub use config::{
    DEFAULT_DISKSTATS_DEVICE_EXCLUDE, DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE, DEFAULT_MOUNT_TIMEOUT,
    DEFAULT_NETCLASS_IGNORED_DEVICES, DEFAULT_NETDEV_DEVICE_EXCLUDE, DEFAULT_NETSTAT_FIELDS,
    DEFAULT_POWERSUPPLY_IGNORED_SUPPLIES, DEFAULT_TAPESTATS_IGNORED_DEVICES, DEFAULT_VMSTAT_FIELDS, DeviceFilter,
    NodeConfig,
};
pub use filesystem::{FsStats, StatfsFn};
pub use ipvs::DEFAULT_IPVS_BACKEND_LABELS;
pub(crate) use ipvs::backend_labels as ipvs_backend_labels;

/// Why the node collectors could not be built from a [`NodeConfig`].
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
    /// A flag's value that the collector cannot use.
    #[error("invalid value for {flag}: {reason}")]
    Invalid {
        /// The flag, e.g. `collector.ipvs.backend-labels`.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A collector name that is not in [`COLLECTORS`].
    #[error("unknown collector {0:?}")]
    UnknownCollector(String),
    /// The executor already holds a collector of that name.
    #[error(transparent)]
    Duplicate(#[from] DuplicateCollector),
}

/// One entry of the registry.
#[derive(Clone, Copy)]
pub struct CollectorInfo {
    /// The collector's name, as in `--collector.<name>`.
    pub name: &'static str,
    /// Whether node_exporter 1.5.0 enables it by default on Linux.
    pub default_enabled: bool,
    /// Builds the collector from the configuration.
    pub build: fn(&NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError>,
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
    CollectorInfo { name: "arp", default_enabled: true, build: arp::build },
    CollectorInfo { name: "bcache", default_enabled: true, build: bcache::build },
    CollectorInfo { name: "bonding", default_enabled: true, build: bonding::build },
    CollectorInfo { name: "btrfs", default_enabled: true, build: btrfs::build },
    CollectorInfo { name: "conntrack", default_enabled: true, build: conntrack::build },
    CollectorInfo { name: "cpu", default_enabled: true, build: cpu::build },
    CollectorInfo { name: "cpufreq", default_enabled: true, build: cpufreq::build },
    CollectorInfo { name: "diskstats", default_enabled: true, build: diskstats::build },
    CollectorInfo { name: "dmi", default_enabled: true, build: dmi::build },
    CollectorInfo { name: "edac", default_enabled: true, build: edac::build },
    CollectorInfo { name: "entropy", default_enabled: true, build: entropy::build },
    CollectorInfo { name: "fibrechannel", default_enabled: true, build: fibrechannel::build },
    CollectorInfo { name: "filefd", default_enabled: true, build: filefd::build },
    CollectorInfo { name: "filesystem", default_enabled: true, build: filesystem::build },
    CollectorInfo { name: "hwmon", default_enabled: true, build: hwmon::build },
    CollectorInfo { name: "infiniband", default_enabled: true, build: infiniband::build },
    CollectorInfo { name: "interrupts", default_enabled: false, build: interrupts::build },
    CollectorInfo { name: "ipvs", default_enabled: true, build: ipvs::build },
    CollectorInfo { name: "loadavg", default_enabled: true, build: loadavg::build },
    CollectorInfo { name: "mdadm", default_enabled: true, build: mdadm::build },
    CollectorInfo { name: "meminfo", default_enabled: true, build: meminfo::build },
    CollectorInfo { name: "netclass", default_enabled: true, build: netclass::build },
    CollectorInfo { name: "netdev", default_enabled: true, build: netdev::build },
    CollectorInfo { name: "netstat", default_enabled: true, build: netstat::build },
    CollectorInfo { name: "nfs", default_enabled: true, build: nfs::build },
    CollectorInfo { name: "nfsd", default_enabled: true, build: nfsd::build },
    CollectorInfo { name: "nvme", default_enabled: true, build: nvme::build },
    CollectorInfo { name: "os", default_enabled: true, build: os::build },
    CollectorInfo { name: "powersupplyclass", default_enabled: true, build: powersupplyclass::build },
    CollectorInfo { name: "pressure", default_enabled: true, build: pressure::build },
    CollectorInfo { name: "processes", default_enabled: false, build: processes::build },
    CollectorInfo { name: "rapl", default_enabled: true, build: rapl::build },
    CollectorInfo { name: "schedstat", default_enabled: true, build: schedstat::build },
    CollectorInfo { name: "selinux", default_enabled: true, build: selinux::build },
    CollectorInfo { name: "sockstat", default_enabled: true, build: sockstat::build },
    CollectorInfo { name: "softnet", default_enabled: true, build: softnet::build },
    CollectorInfo { name: "stat", default_enabled: true, build: stat::build },
    CollectorInfo { name: "tapestats", default_enabled: true, build: tapestats::build },
    CollectorInfo { name: "textfile", default_enabled: true, build: textfile::build },
    CollectorInfo { name: "thermal_zone", default_enabled: true, build: thermal_zone::build },
    CollectorInfo { name: "time", default_enabled: true, build: time::build },
    CollectorInfo { name: "udp_queues", default_enabled: true, build: udp_queues::build },
    CollectorInfo { name: "uname", default_enabled: true, build: uname::build },
    CollectorInfo { name: "vmstat", default_enabled: true, build: vmstat::build },
    CollectorInfo { name: "xfs", default_enabled: true, build: xfs::build },
    CollectorInfo { name: "zfs", default_enabled: true, build: zfs::build },
];

/// Looks a collector up by name.
pub fn collector_info(name: &str) -> Option<&'static CollectorInfo> {
    COLLECTORS.iter().find(|c| c.name == name)
}

/// Builds every enabled collector into `executor`, in name order. Fails
/// on an unknown collector name, a pattern that does not compile, or a name
/// the executor already holds; `executor` is unchanged then.
pub fn register(executor: &mut ScrapeExecutor, config: &NodeConfig) -> Result<(), ConfigError> {
    if let Some(unknown) = config.enabled.iter().find(|n| collector_info(n).is_none()) {
        return Err(ConfigError::UnknownCollector(unknown.clone()));
    }
    let mut built = Vec::with_capacity(config.enabled.len());
    for info in COLLECTORS.iter().filter(|c| config.enabled.contains(c.name)) {
        if executor.collector_names().any(|n| n == info.name) {
            return Err(DuplicateCollector(info.name.to_owned()).into());
        }
        built.push((info.name, (info.build)(config)?));
    }
    for (name, collector) in built {
        executor.register(name, collector)?;
    }
    Ok(())
}

/// An executor running the node collectors `config` enables.
pub fn executor(config: &NodeConfig) -> Result<ScrapeExecutor, ConfigError> {
    let mut executor = ScrapeExecutor::new();
    register(&mut executor, config)?;
    Ok(executor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::SUCCESS;
    use sonde_instrument::{Collector, MetricFamily, find_value};
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    #[test]
    fn defaults_match_node_exporter() {
        let config = NodeConfig::default();
        assert_eq!(config.procfs, Path::new("/proc"));
        assert_eq!(config.rootfs, Path::new("/"));
        assert_eq!(config.mount_timeout, Duration::from_secs(5));
        // Every collector node_exporter 1.5.0 enables by default, and only those.
        let defaults: Vec<&str> = COLLECTORS.iter().filter(|c| c.default_enabled).map(|c| c.name).collect();
        assert_eq!(config.enabled.iter().map(String::as_str).collect::<Vec<_>>(), defaults);
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
        let exporter = executor(&config).unwrap();
        assert_eq!(exporter.collector_names().collect::<Vec<_>>(), vec!["cpu"]);
        config.enabled.insert("bogus".into());
        assert!(matches!(executor(&config), Err(ConfigError::UnknownCollector(_))));
    }

    #[test]
    fn registering_twice_is_refused_and_changes_nothing() {
        let mut config = NodeConfig::default();
        config.disable_defaults();
        config.enable("loadavg").unwrap();
        let mut exporter = executor(&config).unwrap();
        config.enable("cpu").unwrap();
        assert!(matches!(register(&mut exporter, &config), Err(ConfigError::Duplicate(_))));
        assert_eq!(exporter.collector_names().collect::<Vec<_>>(), ["loadavg"]);
    }

    #[test]
    fn include_and_exclude_are_mutually_exclusive() {
        let mut config = NodeConfig::default();
        config.netdev_devices.include = Some("^eth".into());
        assert!(matches!(executor(&config), Err(ConfigError::MutuallyExclusive { .. })));
        config.netdev_devices.exclude = None;
        assert!(executor(&config).is_ok());
        config.fs_types_exclude = "(".into();
        assert!(matches!(executor(&config), Err(ConfigError::Regex { .. })));
    }

    fn success_of(families: &[MetricFamily], name: &str) -> Option<f64> {
        find_value(families, SUCCESS, "collector", name)
    }

    #[test]
    fn the_core_collectors_work_on_this_machine() {
        let mut config = NodeConfig::default();
        config.disable_defaults();
        for name in ["cpu", "stat", "loadavg", "meminfo", "vmstat", "netdev", "filesystem", "uname", "time"] {
            config.enable(name).unwrap();
        }
        let exporter = executor(&config).unwrap();
        let mut out = Vec::new();
        exporter.collect(&mut out);
        for name in exporter.collector_names() {
            assert_eq!(success_of(&out, name), Some(1.0), "{name} failed on this machine");
        }
        assert!(out.iter().any(|f| f.name == "node_memory_MemTotal_bytes"));
        assert!(out.iter().any(|f| f.name == "node_cpu_seconds"));
    }

    #[test]
    fn absent_hardware_is_no_data_or_nothing_as_in_node_exporter() {
        // node_exporter 1.5.0 reports these as failed (no data) …
        let no_data = [
            "bonding",
            "dmi",
            "fibrechannel",
            "hwmon",
            "infiniband",
            "ipvs",
            "mdadm",
            "netclass",
            "nfs",
            "nfsd",
            "nvme",
            "powersupplyclass",
            "rapl",
            "schedstat",
            "tapestats",
            "udp_queues",
            "zfs",
        ];
        // … and these as working, with nothing (or "disabled") to say.
        let nothing = ["bcache", "btrfs", "cpufreq", "edac", "selinux", "thermal_zone", "xfs"];
        let mut config = NodeConfig::default();
        config.disable_defaults();
        for name in no_data.iter().chain(&nothing) {
            config.enable(name).unwrap();
        }
        let empty = tempfile::tempdir().unwrap();
        config.sysfs = empty.path().to_owned();
        config.procfs = empty.path().to_owned();
        config.rootfs = empty.path().to_owned();
        let exporter = executor(&config).unwrap();
        let mut out = Vec::new();
        exporter.collect(&mut out);
        for name in no_data {
            assert_eq!(success_of(&out, name), Some(0.0), "{name}");
        }
        for name in nothing {
            assert_eq!(success_of(&out, name), Some(1.0), "{name}");
        }
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).filter(|n| !n.starts_with("node_scrape_")).collect();
        assert_eq!(names, ["node_selinux_enabled"]);
        assert_eq!(out.iter().find(|f| f.name == "node_selinux_enabled").map(|f| f.samples[0].value), Some(0.0));
    }

    #[test]
    fn a_failing_collector_reports_zero_and_others_go_on() {
        let mut config = NodeConfig::default();
        config.disable_defaults();
        config.enable("loadavg").unwrap();
        config.enable("uname").unwrap();
        config.procfs = PathBuf::from("/nonexistent-procfs");
        let exporter = executor(&config).unwrap();
        let mut out = Vec::new();
        exporter.collect(&mut out);
        assert_eq!(success_of(&out, "loadavg"), Some(0.0));
        assert_eq!(success_of(&out, "uname"), Some(1.0));
        assert!(out.iter().any(|f| f.name == "node_uname_info"));
    }
}
