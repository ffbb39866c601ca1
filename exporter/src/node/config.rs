//! [`NodeConfig`]: what the agent's flags set, as plain data with
//! node_exporter 1.5.0's defaults, and the compiled device filters.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use super::{COLLECTORS, ConfigError, collector_info};

/// An include/exclude pair of device-name patterns (node_exporter's
/// `--collector.<name>.device-include` / `device-exclude`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceFilter {
    /// Only devices matching this are kept.
    pub include: Option<String>,
    /// Devices matching this are dropped. Setting both is an error, as in
    /// node_exporter: clear the default `exclude` when a user gives `include`.
    pub exclude: Option<String>,
}

/// `--collector.filesystem.mount-points-exclude` default (Debian's 1.5.0 build).
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// `--collector.filesystem.fs-types-exclude` default.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// `--collector.netdev.device-exclude` default.
pub const DEFAULT_NETDEV_DEVICE_EXCLUDE: &str = "^lo$";
/// `--collector.diskstats.device-exclude` default.
pub const DEFAULT_DISKSTATS_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// `--collector.netclass.ignored-devices` default: none.
pub const DEFAULT_NETCLASS_IGNORED_DEVICES: &str = "^$";
/// `--collector.powersupply.ignored-supplies` default: none.
pub const DEFAULT_POWERSUPPLY_IGNORED_SUPPLIES: &str = "^$";
/// `--collector.tapestats.ignored-devices` default: none.
pub const DEFAULT_TAPESTATS_IGNORED_DEVICES: &str = "^$";
/// `--collector.netstat.fields` default.
pub const DEFAULT_NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";
/// `--collector.vmstat.fields` default.
pub const DEFAULT_VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";
/// `--collector.filesystem.mount-timeout` default.
pub const DEFAULT_MOUNT_TIMEOUT: Duration = Duration::from_secs(5);

/// Configuration of the node collectors: plain data with node_exporter
/// 1.5.0's defaults ([`NodeConfig::default`]). Flag names in the field docs
/// are node_exporter's; the agent maps its flags onto these fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// `--path.procfs` (`/proc`).
    pub procfs: PathBuf,
    /// `--path.sysfs` (`/sys`).
    pub sysfs: PathBuf,
    /// `--path.rootfs` (`/`): mount points are reported without this prefix.
    pub rootfs: PathBuf,
    /// `--path.udev.data` (`/run/udev/data`): disk model, serial, path.
    pub udev_data: PathBuf,
    /// Names of the enabled collectors (see [`COLLECTORS`]).
    pub enabled: BTreeSet<String>,
    /// `--collector.filesystem.mount-points-exclude`.
    pub mount_points_exclude: String,
    /// `--collector.filesystem.fs-types-exclude`.
    pub fs_types_exclude: String,
    /// `--collector.filesystem.mount-timeout` (5s).
    pub mount_timeout: Duration,
    /// `--collector.netdev.device-include` / `device-exclude` (`^lo$`).
    pub netdev_devices: DeviceFilter,
    /// `--collector.diskstats.device-include` / `device-exclude`.
    pub diskstats_devices: DeviceFilter,
    /// `--collector.arp.device-include` / `device-exclude` (none).
    pub arp_devices: DeviceFilter,
    /// `--collector.ipvs.backend-labels`: the labels of the backend series,
    /// comma-separated; backends that agree on them are summed.
    pub ipvs_backend_labels: String,
    /// `--collector.netstat.fields`.
    pub netstat_fields: String,
    /// `--collector.vmstat.fields`.
    pub vmstat_fields: String,
    /// `--collector.cpu.guest` (on): `node_cpu_guest_seconds_total`.
    pub cpu_guest: bool,
    /// `--collector.cpu.info` (off): `node_cpu_info` from `/proc/cpuinfo`.
    pub cpu_info: bool,
    /// `--collector.cpu.info.flags-include`: the first CPU's flags that
    /// match are reported as `node_cpu_flag_info{flag}`; none without it.
    pub cpu_info_flags_include: Option<String>,
    /// `--collector.cpu.info.bugs-include`: the same for `bugs`.
    pub cpu_info_bugs_include: Option<String>,
    /// `--collector.stat.softirq` (off): `node_softirqs_total{vector}`.
    pub stat_softirq: bool,
    /// `--collector.bcache.priorityStats` (off): each cache device's
    /// `priority_stats`, which the kernel computes by walking every bucket.
    pub bcache_priority_stats: bool,
    /// `--collector.netclass.ignored-devices` (`^$`).
    pub netclass_ignored_devices: String,
    /// `--collector.netclass.ignore-invalid-speed` (off): leave out
    /// `node_network_speed_bytes` of an interface whose speed is unknown
    /// (-1) rather than report -125000.
    pub netclass_ignore_invalid_speed: bool,
    /// `--collector.powersupply.ignored-supplies` (`^$`).
    pub powersupply_ignored_supplies: String,
    /// `--collector.rapl.enable-zone-label` (off): one family
    /// `node_rapl_joules_total` with the zone as label `rapl_zone`, rather
    /// than a family per zone name.
    pub rapl_zone_label: bool,
    /// `--collector.tapestats.ignored-devices` (`^$`).
    pub tapestats_ignored_devices: String,
    /// `--collector.textfile.directory`; none means the collector only
    /// reports `node_textfile_scrape_error 0`.
    pub textfile_directory: Option<PathBuf>,
    /// `--collector.textfile.max-size`: a larger file is skipped and
    /// reported as an error.
    pub textfile_max_size: u64,
}

/// The default `--collector.textfile.max-size`: 16 MiB, far beyond the
/// few kilobytes a textfile usually holds, and a bound on what one file
/// can make the agent allocate.
pub(crate) const DEFAULT_TEXTFILE_MAX_SIZE: u64 = 16 << 20;

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: PathBuf::from("/run/udev/data"),
            enabled: COLLECTORS.iter().filter(|c| c.default_enabled).map(|c| c.name.to_owned()).collect(),
            mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE.to_owned(),
            fs_types_exclude: DEFAULT_FS_TYPES_EXCLUDE.to_owned(),
            mount_timeout: DEFAULT_MOUNT_TIMEOUT,
            netdev_devices: DeviceFilter { include: None, exclude: Some(DEFAULT_NETDEV_DEVICE_EXCLUDE.to_owned()) },
            diskstats_devices: DeviceFilter {
                include: None,
                exclude: Some(DEFAULT_DISKSTATS_DEVICE_EXCLUDE.to_owned()),
            },
            arp_devices: DeviceFilter::default(),
            ipvs_backend_labels: super::DEFAULT_IPVS_BACKEND_LABELS.to_owned(),
            netstat_fields: DEFAULT_NETSTAT_FIELDS.to_owned(),
            vmstat_fields: DEFAULT_VMSTAT_FIELDS.to_owned(),
            cpu_guest: true,
            cpu_info: false,
            cpu_info_flags_include: None,
            cpu_info_bugs_include: None,
            stat_softirq: false,
            bcache_priority_stats: false,
            netclass_ignored_devices: DEFAULT_NETCLASS_IGNORED_DEVICES.to_owned(),
            netclass_ignore_invalid_speed: false,
            powersupply_ignored_supplies: DEFAULT_POWERSUPPLY_IGNORED_SUPPLIES.to_owned(),
            rapl_zone_label: false,
            tapestats_ignored_devices: DEFAULT_TAPESTATS_IGNORED_DEVICES.to_owned(),
            textfile_directory: None,
            textfile_max_size: DEFAULT_TEXTFILE_MAX_SIZE,
        }
    }
}

impl NodeConfig {
    /// `--collector.<name>`.
    pub fn enable(&mut self, name: &str) -> Result<(), ConfigError> {
        let info = collector_info(name).ok_or_else(|| ConfigError::UnknownCollector(name.to_owned()))?;
        self.enabled.insert(info.name.to_owned());
        Ok(())
    }

    /// `--no-collector.<name>`.
    pub fn disable(&mut self, name: &str) -> Result<(), ConfigError> {
        collector_info(name).ok_or_else(|| ConfigError::UnknownCollector(name.to_owned()))?;
        self.enabled.remove(name);
        Ok(())
    }

    /// `--collector.disable-defaults`: starts from no collector at all.
    pub fn disable_defaults(&mut self) {
        self.enabled.clear();
    }

    /// Enables every registered collector (the benchmark uses this).
    pub fn enable_all(&mut self) {
        self.enabled = COLLECTORS.iter().map(|c| c.name.to_owned()).collect();
    }

    pub(crate) fn proc_path(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }

    pub(crate) fn sys_path(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    pub(crate) fn root_path(&self, rel: &str) -> PathBuf {
        self.rootfs.join(rel.trim_start_matches('/'))
    }
}

pub(crate) fn compile(flag: &'static str, pattern: &str) -> Result<regex::Regex, ConfigError> {
    regex::Regex::new(pattern).map_err(|e| ConfigError::Regex { flag, source: Box::new(e) })
}

/// A compiled [`DeviceFilter`].
#[derive(Debug)]
pub(crate) struct CompiledFilter {
    include: Option<regex::Regex>,
    exclude: Option<regex::Regex>,
}

impl CompiledFilter {
    pub(crate) fn new(
        filter: &DeviceFilter,
        include_flag: &'static str,
        exclude_flag: &'static str,
    ) -> Result<Self, ConfigError> {
        let include = filter.include.as_deref().filter(|p| !p.is_empty());
        let exclude = filter.exclude.as_deref().filter(|p| !p.is_empty());
        if include.is_some() && exclude.is_some() {
            return Err(ConfigError::MutuallyExclusive { include: include_flag, exclude: exclude_flag });
        }
        Ok(CompiledFilter {
            include: include.map(|p| compile(include_flag, p)).transpose()?,
            exclude: exclude.map(|p| compile(exclude_flag, p)).transpose()?,
        })
    }

    pub(crate) fn ignored(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            || self.include.as_ref().is_some_and(|r| !r.is_match(name))
    }
}
