//! The `container` collector: cAdvisor's families for the root cgroup and
//! every running Docker container, read from cgroup files and
//! `<procfs>/<pid>/net/dev`, labelled from the [`MetadataCache`].
//!
//! The families are one table ([`FAMILIES`]); a container's numbers are
//! mapped to it in [`Scrape::container`], the same for the root cgroup and
//! for containers. No Docker call is made here.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use sonde_instrument::{Label, Labels, MetricFamily, MetricType};

use super::metadata::{MetadataCache, SyncState};
use crate::cgroup::{
    CgroupError, CgroupLayout, ContainerCgroup, ContainerStats, read_container_stats, read_root_stats,
};
use crate::kernel_file::with_file;
use crate::procfs::net_dev;
use crate::scrape::{CollectorError, DuplicateCollector, ScrapeCollector, ScrapeExecutor, SelfSeries};

/// Where the collector reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// The cgroup root, normally `<sysfs>/fs/cgroup`.
    pub cgroup_root: PathBuf,
    /// The host's procfs: `meminfo`, `cpuinfo`, `<pid>/net/dev`.
    pub procfs: PathBuf,
    /// The host's sysfs: `dev/block/<major>:<minor>/uevent` names devices.
    pub sysfs: PathBuf,
}

impl ContainerConfig {
    /// The paths under the node collectors' `--path.procfs` and
    /// `--path.sysfs`.
    pub fn from_roots(procfs: &Path, sysfs: &Path) -> Self {
        ContainerConfig {
            cgroup_root: sysfs.join("fs/cgroup"),
            procfs: procfs.to_path_buf(),
            sysfs: sysfs.to_path_buf(),
        }
    }
}

/// The index of each family in [`FAMILIES`].
#[derive(Debug, Clone, Copy)]
enum F {
    CpuUsage,
    CpuUser,
    CpuSystem,
    CfsPeriods,
    CfsThrottledPeriods,
    CfsThrottledSeconds,
    MemoryUsage,
    MemoryMaxUsage,
    MemoryWorkingSet,
    MemoryRss,
    MemoryCache,
    MemorySwap,
    MemoryMappedFile,
    MemoryFailcnt,
    OomEvents,
    SpecMemoryLimit,
    SpecMemoryReservation,
    SpecCpuQuota,
    SpecCpuPeriod,
    SpecCpuShares,
    NetReceiveBytes,
    NetReceivePackets,
    NetReceiveErrors,
    NetReceiveDropped,
    NetTransmitBytes,
    NetTransmitPackets,
    NetTransmitErrors,
    NetTransmitDropped,
    FsReadsBytes,
    FsWritesBytes,
    FsReads,
    FsWrites,
    StartTime,
    LastSeen,
    TasksState,
}

/// Name (counters without `_total`, which the encoder adds), type and
/// cAdvisor's help text of every per-container family, in [`F`]'s order.
#[rustfmt::skip]
const FAMILIES: [(&str, MetricType, &str); 35] = [
    ("container_cpu_usage_seconds", MetricType::Counter, "Cumulative cpu time consumed in seconds."),
    ("container_cpu_user_seconds", MetricType::Counter, "Cumulative user cpu time consumed in seconds."),
    ("container_cpu_system_seconds", MetricType::Counter, "Cumulative system cpu time consumed in seconds."),
    ("container_cpu_cfs_periods", MetricType::Counter, "Number of elapsed enforcement period intervals."),
    ("container_cpu_cfs_throttled_periods", MetricType::Counter, "Number of throttled period intervals."),
    ("container_cpu_cfs_throttled_seconds", MetricType::Counter, "Total time duration the container has been throttled."),
    ("container_memory_usage_bytes", MetricType::Gauge, "Current memory usage in bytes, including all memory regardless of when it was accessed"),
    ("container_memory_max_usage_bytes", MetricType::Gauge, "Maximum memory usage recorded in bytes"),
    ("container_memory_working_set_bytes", MetricType::Gauge, "Current working set in bytes."),
    ("container_memory_rss", MetricType::Gauge, "Size of RSS in bytes."),
    ("container_memory_cache", MetricType::Gauge, "Number of bytes of page cache memory."),
    ("container_memory_swap", MetricType::Gauge, "Container swap usage in bytes."),
    ("container_memory_mapped_file", MetricType::Gauge, "Size of memory mapped files in bytes."),
    // cAdvisor types it a counter but names it without `_total`; untyped
    // keeps the name dashboards query and stays valid OpenMetrics.
    ("container_memory_failcnt", MetricType::Unknown, "Number of memory usage hits limits"),
    ("container_oom_events", MetricType::Counter, "Count of out of memory events observed for the container"),
    ("container_spec_memory_limit_bytes", MetricType::Gauge, "Memory limit for the container."),
    ("container_spec_memory_reservation_limit_bytes", MetricType::Gauge, "Memory reservation limit for the container."),
    ("container_spec_cpu_quota", MetricType::Gauge, "CPU quota of the container."),
    ("container_spec_cpu_period", MetricType::Gauge, "CPU period of the container."),
    ("container_spec_cpu_shares", MetricType::Gauge, "CPU share of the container."),
    ("container_network_receive_bytes", MetricType::Counter, "Cumulative count of bytes received"),
    ("container_network_receive_packets", MetricType::Counter, "Cumulative count of packets received"),
    ("container_network_receive_errors", MetricType::Counter, "Cumulative count of errors encountered while receiving"),
    ("container_network_receive_packets_dropped", MetricType::Counter, "Cumulative count of packets dropped while receiving"),
    ("container_network_transmit_bytes", MetricType::Counter, "Cumulative count of bytes transmitted"),
    ("container_network_transmit_packets", MetricType::Counter, "Cumulative count of packets transmitted"),
    ("container_network_transmit_errors", MetricType::Counter, "Cumulative count of errors encountered while transmitting"),
    ("container_network_transmit_packets_dropped", MetricType::Counter, "Cumulative count of packets dropped while transmitting"),
    ("container_fs_reads_bytes", MetricType::Counter, "Cumulative count of bytes read"),
    ("container_fs_writes_bytes", MetricType::Counter, "Cumulative count of bytes written"),
    ("container_fs_reads", MetricType::Counter, "Cumulative count of reads completed"),
    ("container_fs_writes", MetricType::Counter, "Cumulative count of writes completed"),
    ("container_start_time_seconds", MetricType::Gauge, "Start time of the container since unix epoch in seconds."),
    ("container_last_seen", MetricType::Gauge, "Last time a container was seen by the exporter"),
    ("container_tasks_state", MetricType::Gauge, "Number of tasks in given state"),
];

/// The `state` values of `container_tasks_state`, in cAdvisor's order.
const TASK_STATES: [&str; 5] = ["sleeping", "running", "stopped", "uninterruptible", "iowaiting"];

/// `/proc/net/dev` columns (see [`net_dev::FIELD_NAMES`]) of each network
/// family.
const NETWORK: [(F, usize); 8] = [
    (F::NetReceiveBytes, 0),
    (F::NetReceivePackets, 1),
    (F::NetReceiveErrors, 2),
    (F::NetReceiveDropped, 3),
    (F::NetTransmitBytes, 8),
    (F::NetTransmitPackets, 9),
    (F::NetTransmitErrors, 10),
    (F::NetTransmitDropped, 11),
];

/// Interfaces cAdvisor leaves out: loopback, and on the host the bridge
/// and veth ends that only mirror the containers' own traffic.
const SKIPPED_INTERFACES: [&str; 4] = ["lo", "veth", "docker", "nerdctl"];

/// The container collector. Register it as `container` in a
/// [`crate::scrape::ScrapeExecutor`].
#[derive(Debug)]
pub struct ContainerCollector {
    config: ContainerConfig,
    layout: CgroupLayout,
    cache: MetadataCache,
    /// Where each container's cgroup was found, so the systemd/cgroupfs
    /// probe runs once per container, not once per scrape. Pruned to the
    /// cached containers on every scrape.
    cgroups: Mutex<HashMap<String, ContainerCgroup>>,
    /// `major:minor` → `/dev/<name>`; devices do not change names while
    /// they exist, and a host has few.
    devices: Mutex<HashMap<(u32, u32), String>>,
    /// Read once: `/proc/cpuinfo` costs tens of microseconds per CPU to
    /// generate, and neither number changes while the host runs.
    machine: OnceLock<Machine>,
}

/// `machine_cpu_cores` and `machine_memory_bytes`.
#[derive(Debug, Clone, Copy)]
struct Machine {
    cpu_cores: f64,
    memory_bytes: f64,
}

impl Machine {
    fn read(procfs: &Path) -> Result<Machine, CollectorError> {
        let cpuinfo = procfs.join("cpuinfo");
        let cpu_cores = with_file(&cpuinfo, |text| text.lines().filter(|line| line.starts_with("processor")).count())
            .map_err(|source| CollectorError::Io { path: cpuinfo.clone(), source })?;
        let meminfo = procfs.join("meminfo");
        let total = with_file(&meminfo, |text| {
            crate::procfs::meminfo::parse(text)
                .map(|entries| entries.iter().find(|e| e.name == "MemTotal").map(|e| e.value))
        });
        let memory_bytes = match total {
            Ok(Ok(Some(total))) => total,
            Ok(Ok(None)) => {
                return Err(CollectorError::NoData { path: meminfo });
            }
            Ok(Err(source)) => return Err(CollectorError::Parse { path: meminfo, source }),
            Err(source) => return Err(CollectorError::Io { path: meminfo, source }),
        };
        Ok(Machine { cpu_cores: cpu_cores as f64, memory_bytes })
    }
}

impl ContainerCollector {
    /// Detects the cgroup hierarchy under `config.cgroup_root`.
    pub fn new(config: ContainerConfig, cache: MetadataCache) -> Result<Self, CgroupError> {
        let layout = CgroupLayout::detect(&config.cgroup_root)?;
        Ok(ContainerCollector {
            config,
            layout,
            cache,
            cgroups: Mutex::new(HashMap::new()),
            devices: Mutex::new(HashMap::new()),
            machine: OnceLock::new(),
        })
    }

    /// The hierarchy found at start.
    pub fn layout(&self) -> &CgroupLayout {
        &self.layout
    }

    fn cgroup_of(&self, id: &str) -> Result<ContainerCgroup, CgroupError> {
        let mut cgroups = self.cgroups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cgroup) = cgroups.get(id) {
            return Ok(cgroup.clone());
        }
        let cgroup = self.layout.find_container(id)?;
        cgroups.insert(id.to_owned(), cgroup.clone());
        Ok(cgroup)
    }

    fn device_name(&self, major: u32, minor: u32) -> String {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        devices
            .entry((major, minor))
            .or_insert_with(|| {
                let uevent = self.config.sysfs.join(format!("dev/block/{major}:{minor}/uevent"));
                std::fs::read_to_string(uevent)
                    .ok()
                    .and_then(|text| devname(&text))
                    .unwrap_or_else(|| format!("{major}:{minor}"))
            })
            .clone()
    }

    fn machine(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let machine = match self.machine.get() {
            Some(machine) => *machine,
            None => {
                let machine = Machine::read(&self.config.procfs)?;
                let _ = self.machine.set(machine);
                machine
            }
        };
        out.push(
            MetricFamily::gauge("machine_cpu_cores", "Number of logical CPU cores.")
                .with_sample(Labels::new(), machine.cpu_cores),
        );
        out.push(
            MetricFamily::gauge("machine_memory_bytes", "Amount of memory installed on the machine.")
                .with_sample(Labels::new(), machine.memory_bytes),
        );
        Ok(())
    }
}

impl ScrapeCollector for ContainerCollector {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let result = self.families(out);
        out.push(scrape_error(result.is_err()));
        result
    }
}

/// cAdvisor's `container_scrape_error`: 1 when this scrape's container
/// numbers are incomplete (the collector failed; the reason is in the log
/// and in `sonde_scrape_collector_success{collector="container"}`).
fn scrape_error(failed: bool) -> MetricFamily {
    MetricFamily::gauge(
        "container_scrape_error",
        "1 if there was an error while getting container metrics, 0 otherwise",
    )
    .with_sample(Labels::new(), if failed { 1.0 } else { 0.0 })
}

impl ContainerCollector {
    /// Everything but `container_scrape_error`.
    fn families(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let containers = self.cache.containers();
        let mut scrape = Scrape::new(containers.len() + 1);
        let mut first_error: Option<CollectorError> = None;

        let meminfo = self.config.procfs.join("meminfo");
        match read_root_stats(&self.layout, &meminfo) {
            Ok(stats) => {
                let labels = vec![Label::new("id", "/")];
                let net = self.config.procfs.join("1/net/dev");
                if let Err(error) = scrape.container(&labels, &stats, None, &net, self) {
                    first_error = Some(error);
                }
            }
            Err(error) => first_error = Some(error.into()),
        }

        {
            let mut cgroups = self.cgroups.lock().unwrap_or_else(|e| e.into_inner());
            // `containers()` is sorted by id: a binary search, not a scan
            // per cached entry.
            cgroups.retain(|id, _| containers.binary_search_by(|c| c.id.as_str().cmp(id.as_str())).is_ok());
        }
        for container in &containers {
            let stats = self
                .cgroup_of(&container.id)
                .and_then(|cgroup| read_container_stats(&self.layout, &cgroup).map(|stats| (cgroup, stats)));
            let (cgroup, stats) = match stats {
                Ok(found) => found,
                // Gone between the event and the scrape: the container was
                // removed, its series go with it.
                Err(error) if is_gone(&error) => {
                    self.forget(&container.id);
                    continue;
                }
                Err(error) => {
                    first_error.get_or_insert(error.into());
                    continue;
                }
            };
            let mut labels = Vec::with_capacity(1 + container.labels.len());
            labels.push(Label::new("id", cgroup.path()));
            labels.extend(container.labels.iter().cloned());
            let net = self.config.procfs.join(format!("{}/net/dev", container.pid));
            let net = (container.pid != 0).then_some(net);
            let net = net.as_deref().unwrap_or(Path::new(""));
            if let Err(error) = scrape.container(&labels, &stats, container.started_at, net, self) {
                first_error.get_or_insert(error);
            }
        }

        scrape.finish(out);
        if let Err(error) = self.machine(out) {
            first_error.get_or_insert(error);
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        match self.cache.state() {
            SyncState::Synced => Ok(()),
            SyncState::Starting => Err(CollectorError::Unavailable {
                source_name: "docker",
                reason: "no container listing yet".to_owned(),
            }),
            SyncState::Disconnected(reason) => Err(CollectorError::Unavailable { source_name: "docker", reason }),
        }
    }
}

/// Registers `collector` as `container`, reported as
/// `sonde_scrape_collector_*{collector="container"}`: node_exporter has no
/// such collector, and a Docker daemon out of reach is no failure of the
/// node's (see [`SelfSeries::Sonde`]).
pub fn register(executor: &mut ScrapeExecutor, collector: Box<dyn ScrapeCollector>) -> Result<(), DuplicateCollector> {
    executor.register_as("container", collector, SelfSeries::Sonde)
}

/// The collector to register as `container`: the real one, or, when no
/// cgroup hierarchy is found at start, one that reports why on every
/// scrape, so the failure shows in `sonde_scrape_collector_success`
/// instead of stopping the agent.
pub fn build(config: ContainerConfig, cache: MetadataCache) -> Box<dyn ScrapeCollector> {
    match ContainerCollector::new(config, cache) {
        Ok(collector) => Box::new(collector),
        Err(error) => Box::new(NoCgroups { reason: error.to_string() }),
    }
}

/// Stands in for the container collector on a host without cgroups.
#[derive(Debug)]
struct NoCgroups {
    reason: String,
}

impl ScrapeCollector for NoCgroups {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        out.push(scrape_error(true));
        Err(CollectorError::Unavailable { source_name: "cgroup", reason: self.reason.clone() })
    }
}

impl ContainerCollector {
    fn forget(&self, id: &str) {
        let mut cgroups = self.cgroups.lock().unwrap_or_else(|e| e.into_inner());
        cgroups.remove(id);
    }
}

/// One scrape's families, filled container by container.
struct Scrape {
    families: Vec<MetricFamily>,
    now: f64,
}

impl Scrape {
    fn new(containers: usize) -> Self {
        let families = FAMILIES
            .iter()
            .map(|(name, metric_type, help)| {
                let mut family = MetricFamily::new(*name, *help, *metric_type);
                family.samples.reserve(containers);
                family
            })
            .collect();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Scrape { families, now }
    }

    fn push(&mut self, family: F, labels: &[Label], value: f64) {
        self.families[family as usize].push(Labels(labels.to_vec()), value);
    }

    fn push_with(&mut self, family: F, labels: &[Label], extra: Label, value: f64) {
        let mut all = Vec::with_capacity(labels.len() + 1);
        all.extend_from_slice(labels);
        all.push(extra);
        self.families[family as usize].push(Labels(all), value);
    }

    /// Maps one container's (or the root's) numbers to the families.
    /// `net_dev` is its network namespace's `net/dev`; a container whose
    /// file is missing (no pid yet, or already exited) has no network
    /// series.
    fn container(
        &mut self,
        labels: &[Label],
        stats: &ContainerStats,
        started_at: Option<f64>,
        net_dev: &Path,
        collector: &ContainerCollector,
    ) -> Result<(), CollectorError> {
        let cpu = &stats.cpu;
        self.push_with(F::CpuUsage, labels, Label::new("cpu", "total"), cpu.usage_seconds);
        self.push(F::CpuUser, labels, cpu.user_seconds);
        self.push(F::CpuSystem, labels, cpu.system_seconds);
        // No CFS quota means the kernel never throttles: cAdvisor reports
        // the throttling counters only for containers that have one.
        if stats.cpu_spec.quota_us.is_some() {
            self.push(F::CfsPeriods, labels, cpu.cfs_periods as f64);
            self.push(F::CfsThrottledPeriods, labels, cpu.cfs_throttled_periods as f64);
            self.push(F::CfsThrottledSeconds, labels, cpu.cfs_throttled_seconds);
        }

        let memory = &stats.memory;
        self.push(F::MemoryUsage, labels, memory.usage_bytes as f64);
        self.push(F::MemoryWorkingSet, labels, memory.working_set_bytes as f64);
        self.push(F::MemoryRss, labels, memory.rss_bytes as f64);
        self.push(F::MemoryCache, labels, memory.cache_bytes as f64);
        self.push(F::MemoryMappedFile, labels, memory.mapped_file_bytes as f64);
        if let Some(max_usage) = memory.max_usage_bytes {
            self.push(F::MemoryMaxUsage, labels, max_usage as f64);
        }
        if let Some(swap) = memory.swap_bytes {
            self.push(F::MemorySwap, labels, swap as f64);
        }
        if let Some(failcnt) = memory.failcnt {
            self.push(F::MemoryFailcnt, labels, failcnt as f64);
        }
        if let Some(kills) = memory.oom_kills {
            self.push(F::OomEvents, labels, kills as f64);
        }

        // Unlimited is no series (cAdvisor writes 0, which turns
        // usage / limit into +Inf).
        if let Some(limit) = stats.memory_spec.limit_bytes {
            self.push(F::SpecMemoryLimit, labels, limit as f64);
        }
        if let Some(reservation) = stats.memory_spec.reservation_bytes {
            self.push(F::SpecMemoryReservation, labels, reservation as f64);
        }
        let spec = &stats.cpu_spec;
        if let Some(quota) = spec.quota_us {
            self.push(F::SpecCpuQuota, labels, quota as f64);
        }
        if spec.period_us > 0 {
            self.push(F::SpecCpuPeriod, labels, spec.period_us as f64);
        }
        if spec.shares > 0 {
            self.push(F::SpecCpuShares, labels, spec.shares as f64);
        }

        for io in &stats.io {
            let device = Label::new("device", collector.device_name(io.major, io.minor));
            self.push_with(F::FsReadsBytes, labels, device.clone(), io.read_bytes as f64);
            self.push_with(F::FsWritesBytes, labels, device.clone(), io.write_bytes as f64);
            self.push_with(F::FsReads, labels, device.clone(), io.reads as f64);
            self.push_with(F::FsWrites, labels, device, io.writes as f64);
        }

        self.network(labels, net_dev)?;

        if let Some(started_at) = started_at {
            self.push(F::StartTime, labels, started_at);
        }
        let now = self.now;
        self.push(F::LastSeen, labels, now);
        // cAdvisor counts tasks by state only with `--enable_load_reader`
        // (a netlink query per container per scrape, off by default) and
        // writes zeros otherwise; Swarm dashboards count these series to
        // count containers, so they are here, zeros as cAdvisor's.
        for state in TASK_STATES {
            self.push_with(F::TasksState, labels, Label::new("state", state), 0.0);
        }
        Ok(())
    }

    fn network(&mut self, labels: &[Label], net_dev: &Path) -> Result<(), CollectorError> {
        if net_dev.as_os_str().is_empty() {
            return Ok(());
        }
        let read = with_file(net_dev, |text| {
            let devices =
                net_dev::parse(text).map_err(|source| CollectorError::Parse { path: net_dev.to_path_buf(), source })?;
            self.interfaces(labels, &devices);
            Ok(())
        });
        match read {
            Ok(result) => result,
            // The process exited between the listing and now.
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CollectorError::Io { path: net_dev.to_path_buf(), source }),
        }
    }

    fn interfaces(&mut self, labels: &[Label], devices: &[net_dev::NetDev<'_>]) {
        for device in devices {
            if SKIPPED_INTERFACES.iter().any(|prefix| device.name.starts_with(prefix)) {
                continue;
            }
            let interface = Label::new("interface", device.name);
            for (family, column) in NETWORK {
                self.push_with(family, labels, interface.clone(), device.values[column] as f64);
            }
        }
    }

    /// Appends the families that have samples.
    fn finish(self, out: &mut Vec<MetricFamily>) {
        out.extend(self.families.into_iter().filter(|family| !family.samples.is_empty()));
    }
}

/// Whether a read failed because the cgroup no longer exists.
fn is_gone(error: &CgroupError) -> bool {
    match error {
        CgroupError::ContainerNotFound { .. } => true,
        CgroupError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
        _ => false,
    }
}

/// `DEVNAME=sda` in a sysfs `uevent` file → `/dev/sda`, cAdvisor's device
/// label.
fn devname(uevent: &str) -> Option<String> {
    uevent.lines().find_map(|line| line.strip_prefix("DEVNAME=")).map(|name| format!("/dev/{}", name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_index() {
        assert_eq!(FAMILIES[F::CpuUsage as usize].0, "container_cpu_usage_seconds");
        assert_eq!(FAMILIES[F::MemoryFailcnt as usize].0, "container_memory_failcnt");
        assert_eq!(FAMILIES[F::SpecCpuShares as usize].0, "container_spec_cpu_shares");
        assert_eq!(FAMILIES[F::NetTransmitDropped as usize].0, "container_network_transmit_packets_dropped");
        assert_eq!(FAMILIES[F::FsWrites as usize].0, "container_fs_writes");
        assert_eq!(FAMILIES[F::LastSeen as usize].0, "container_last_seen");
        assert_eq!(FAMILIES[F::TasksState as usize].0, "container_tasks_state");
        assert_eq!(FAMILIES.len(), F::TasksState as usize + 1);
        for (column, name) in [(0, "receive_bytes"), (3, "receive_drop"), (8, "transmit_bytes"), (11, "transmit_drop")]
        {
            assert_eq!(net_dev::FIELD_NAMES[column], name);
        }
    }

    #[test]
    fn device_names_from_uevent() {
        assert_eq!(devname("MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n").as_deref(), Some("/dev/sda"));
        assert_eq!(devname("MAJOR=8\n"), None);
    }
}
