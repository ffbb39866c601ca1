//! One container's numbers, read from its cgroup files on any hierarchy.

use std::io::ErrorKind;
use std::path::Path;

use super::layout::LegacyCgroupDirs;
use super::{CgroupError, CgroupLayout, ContainerCgroup, v1, v2};
use crate::kernel_file::with_file;
use crate::procfs::ParseError;

/// Everything SPEC §2 reports from a container's cgroup, in base units and
/// with the same shape on v1 and v2. What a hierarchy does not have is
/// `None` rather than 0, so the collector can leave the series out.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStats {
    /// CPU time and CFS throttling.
    pub cpu: CpuUsage,
    /// CPU limits.
    pub cpu_spec: CpuSpec,
    /// Memory use.
    pub memory: MemoryUsage,
    /// Memory limits.
    pub memory_spec: MemorySpec,
    /// Block IO per device, in the kernel's order.
    pub io: Vec<DeviceIo>,
}

/// CPU time and CFS throttling.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuUsage {
    /// Total CPU time, in seconds.
    pub usage_seconds: f64,
    /// CPU time in user mode, in seconds.
    pub user_seconds: f64,
    /// CPU time in kernel mode, in seconds.
    pub system_seconds: f64,
    /// CFS enforcement periods that elapsed.
    pub cfs_periods: u64,
    /// CFS periods in which the container was throttled.
    pub cfs_throttled_periods: u64,
    /// Time throttled, in seconds.
    pub cfs_throttled_seconds: f64,
}

/// CPU limits, kept in the kernel's microseconds because cAdvisor's
/// `container_spec_cpu_{quota,period}` export them unconverted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSpec {
    /// CFS quota per period in microseconds; `None` when unlimited.
    pub quota_us: Option<u64>,
    /// CFS period in microseconds.
    pub period_us: u64,
    /// `cpu.shares`; on v2 converted from `cpu.weight` the way cAdvisor does.
    pub shares: u64,
}

/// Memory use, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// `memory.current` / `memory.usage_in_bytes`.
    pub usage_bytes: u64,
    /// Usage minus inactive file cache, floored at 0 (cAdvisor's working set).
    pub working_set_bytes: u64,
    /// Anonymous memory (v2 `anon`, v1 `total_rss`).
    pub rss_bytes: u64,
    /// Page cache (v2 `file`, v1 `total_cache`).
    pub cache_bytes: u64,
    /// Mapped page cache (v2 `file_mapped`, v1 `total_mapped_file`).
    pub mapped_file_bytes: u64,
    /// Swap in use (v2 `memory.swap.current`, v1 `total_swap`); `None` when
    /// the v2 host has no swap accounting.
    pub swap_bytes: Option<u64>,
    /// The highest usage seen (v1 `memory.max_usage_in_bytes`, v2
    /// `memory.peak` on kernels ≥ 5.19).
    pub max_usage_bytes: Option<u64>,
    /// `memory.failcnt`: times the limit was hit. v1 only.
    pub failcnt: Option<u64>,
    /// Processes killed by the OOM killer (v2 `memory.events` `oom_kill`,
    /// v1 `memory.oom_control` `oom_kill` on kernels ≥ 4.13).
    pub oom_kills: Option<u64>,
}

/// Memory limits, in bytes; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemorySpec {
    /// `memory.max` / `memory.limit_in_bytes`.
    pub limit_bytes: Option<u64>,
    /// `memory.min` / `memory.soft_limit_in_bytes`.
    pub reservation_bytes: Option<u64>,
}

/// Block IO of one device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceIo {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Read operations.
    pub reads: u64,
    /// Write operations.
    pub writes: u64,
}

/// Reads every number of `cgroup` under `layout`.
pub fn read_container_stats(layout: &CgroupLayout, cgroup: &ContainerCgroup) -> Result<ContainerStats, CgroupError> {
    match (layout.unified_dir(cgroup), layout.legacy_dirs(cgroup)) {
        (Some(dir), _) => read_v2(&dir),
        (None, Some(dirs)) => read_v1(&dirs),
        // Unreachable by construction: a layout is one or the other. An
        // error rather than a panic keeps the scrape alive regardless.
        (None, None) => Err(CgroupError::NoHierarchy { root: layout.root().to_path_buf() }),
    }
}

/// Reads the root cgroup (`id="/"`). On v1 and hybrid hosts the root
/// has the same files as a container. A v2 root has only `cpu.stat` and
/// `io.stat`: there is no `memory.current` and no limits, so memory comes
/// from `meminfo` the way runc fills it for the root cgroup (usage = total −
/// free), and the limits are absent (unlimited).
pub fn read_root_stats(layout: &CgroupLayout, meminfo: &Path) -> Result<ContainerStats, CgroupError> {
    let root = ContainerCgroup::root();
    let Some(dir) = layout.unified_dir(&root) else {
        return read_container_stats(layout, &root);
    };
    let cpu = parse(&dir.join("cpu.stat"), v2::parse_cpu_stat)?;
    let io = parse_optional(&dir.join("io.stat"), v2::parse_io_stat)?.unwrap_or_default();
    let mem = parse(meminfo, |text| {
        crate::procfs::meminfo::parse(text)
            .map(|entries| entries.iter().map(|e| (e.name.to_owned(), e.value as u64)).collect::<Vec<_>>())
    })?;
    let field = |name: &str| mem.iter().find(|(key, _)| key == name).map_or(0, |(_, value)| *value);
    let usage = field("MemTotal").saturating_sub(field("MemFree"));
    Ok(ContainerStats {
        cpu: CpuUsage {
            usage_seconds: micros(cpu.usage_usec),
            user_seconds: micros(cpu.user_usec),
            system_seconds: micros(cpu.system_usec),
            ..CpuUsage::default()
        },
        cpu_spec: CpuSpec::default(),
        memory: MemoryUsage {
            usage_bytes: usage,
            working_set_bytes: usage.saturating_sub(field("Inactive(file)")),
            rss_bytes: field("AnonPages"),
            cache_bytes: field("Cached"),
            mapped_file_bytes: field("Mapped"),
            swap_bytes: Some(field("SwapTotal").saturating_sub(field("SwapFree"))),
            max_usage_bytes: None,
            failcnt: None,
            oom_kills: None,
        },
        memory_spec: MemorySpec::default(),
        io: io.into_iter().map(device_io).collect(),
    })
}

fn device_io(d: v2::IoStat) -> DeviceIo {
    DeviceIo {
        major: d.major,
        minor: d.minor,
        read_bytes: d.rbytes,
        write_bytes: d.wbytes,
        reads: d.rios,
        writes: d.wios,
    }
}

fn read_v2(dir: &Path) -> Result<ContainerStats, CgroupError> {
    let cpu = parse(&dir.join("cpu.stat"), v2::parse_cpu_stat)?;
    let cpu_max = parse(&dir.join("cpu.max"), v2::parse_cpu_max)?;
    let weight = parse(&dir.join("cpu.weight"), v2::parse_cpu_weight)?;
    let usage = parse(&dir.join("memory.current"), v2::parse_memory_current)?;
    let stat = parse(&dir.join("memory.stat"), v2::parse_memory_stat)?;
    let swap = parse_optional(&dir.join("memory.swap.current"), v2::parse_memory_current)?;
    let peak = parse_optional(&dir.join("memory.peak"), v2::parse_memory_current)?;
    let events = parse(&dir.join("memory.events"), v2::parse_memory_events)?;
    let limit = parse(&dir.join("memory.max"), v2::parse_limit)?;
    let reservation = parse(&dir.join("memory.min"), v2::parse_limit)?;
    // Without the io controller enabled there is no io.stat: no devices.
    let io = parse_optional(&dir.join("io.stat"), v2::parse_io_stat)?.unwrap_or_default();
    Ok(ContainerStats {
        cpu: CpuUsage {
            usage_seconds: micros(cpu.usage_usec),
            user_seconds: micros(cpu.user_usec),
            system_seconds: micros(cpu.system_usec),
            cfs_periods: cpu.nr_periods,
            cfs_throttled_periods: cpu.nr_throttled,
            cfs_throttled_seconds: micros(cpu.throttled_usec),
        },
        cpu_spec: CpuSpec {
            quota_us: cpu_max.quota_usec,
            period_us: cpu_max.period_usec,
            shares: v2::weight_to_shares(weight),
        },
        memory: MemoryUsage {
            usage_bytes: usage,
            working_set_bytes: usage.saturating_sub(stat.inactive_file),
            rss_bytes: stat.anon,
            cache_bytes: stat.file,
            mapped_file_bytes: stat.file_mapped,
            swap_bytes: swap,
            max_usage_bytes: peak,
            failcnt: None,
            oom_kills: Some(events.oom_kill),
        },
        memory_spec: MemorySpec { limit_bytes: limit, reservation_bytes: reservation },
        io: io.into_iter().map(device_io).collect(),
    })
}

fn read_v1(dirs: &LegacyCgroupDirs) -> Result<ContainerStats, CgroupError> {
    let usage_ns = parse(&dirs.cpuacct.join("cpuacct.usage"), v1::parse_cpuacct_usage)?;
    let ticks = parse(&dirs.cpuacct.join("cpuacct.stat"), v1::parse_cpuacct_stat)?;
    let cfs = parse(&dirs.cpu.join("cpu.stat"), v1::parse_cpu_stat)?;
    let quota = parse(&dirs.cpu.join("cpu.cfs_quota_us"), v1::parse_cfs_quota)?;
    let period = parse(&dirs.cpu.join("cpu.cfs_period_us"), v1::parse_value)?;
    let shares = parse(&dirs.cpu.join("cpu.shares"), v1::parse_value)?;
    let mem = &dirs.memory;
    let usage = parse(&mem.join("memory.usage_in_bytes"), v1::parse_value)?;
    let stat = parse(&mem.join("memory.stat"), v1::parse_memory_stat)?;
    let failcnt = parse(&mem.join("memory.failcnt"), v1::parse_value)?;
    let max_usage = parse_optional(&mem.join("memory.max_usage_in_bytes"), v1::parse_value)?;
    let oom_kills = parse_optional(&mem.join("memory.oom_control"), v1::parse_oom_kill)?.flatten();
    let limit = parse(&mem.join("memory.limit_in_bytes"), v1::parse_memory_limit)?;
    let soft = parse(&mem.join("memory.soft_limit_in_bytes"), v1::parse_memory_limit)?;
    let io = match &dirs.blkio {
        Some(dir) => read_blkio(dir)?,
        None => Vec::new(),
    };
    // USER_HZ is what cpuacct.stat counts in; it is 100 on every Linux
    // architecture, but asking costs nothing and documents the unit.
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Ok(ContainerStats {
        cpu: CpuUsage {
            usage_seconds: usage_ns as f64 / 1e9,
            user_seconds: ticks.user_ticks as f64 / hz,
            system_seconds: ticks.system_ticks as f64 / hz,
            cfs_periods: cfs.nr_periods,
            cfs_throttled_periods: cfs.nr_throttled,
            cfs_throttled_seconds: cfs.throttled_time_ns as f64 / 1e9,
        },
        cpu_spec: CpuSpec { quota_us: quota, period_us: period, shares },
        memory: MemoryUsage {
            usage_bytes: usage,
            working_set_bytes: usage.saturating_sub(stat.inactive_file),
            rss_bytes: stat.rss,
            cache_bytes: stat.cache,
            mapped_file_bytes: stat.mapped_file,
            swap_bytes: Some(stat.swap),
            max_usage_bytes: max_usage,
            failcnt: Some(failcnt),
            oom_kills,
        },
        memory_spec: MemorySpec { limit_bytes: limit, reservation_bytes: soft },
        io,
    })
}

/// Joins the bytes and operations files of `blkio` per device. The
/// throttle files are the ones every kernel fills; the plain
/// `blkio.io_service_bytes_recursive` exists only under CFQ/BFQ.
fn read_blkio(dir: &Path) -> Result<Vec<DeviceIo>, CgroupError> {
    let bytes_path = dir.join("blkio.throttle.io_service_bytes_recursive");
    let ops_path = dir.join("blkio.throttle.io_serviced_recursive");
    let bytes = parse_optional(&bytes_path, v1::parse_blkio)?.unwrap_or_default();
    let ops = parse_optional(&ops_path, v1::parse_blkio)?.unwrap_or_default();
    let mut devices: Vec<DeviceIo> = bytes
        .iter()
        .map(|d| DeviceIo {
            major: d.major,
            minor: d.minor,
            read_bytes: d.read,
            write_bytes: d.write,
            ..DeviceIo::default()
        })
        .collect();
    for op in ops {
        let position = devices.iter().position(|d| d.major == op.major && d.minor == op.minor);
        let device = match position {
            Some(index) => &mut devices[index],
            None => {
                devices.push(DeviceIo { major: op.major, minor: op.minor, ..DeviceIo::default() });
                let last = devices.len() - 1;
                &mut devices[last]
            }
        };
        device.reads = op.read;
        device.writes = op.write;
    }
    Ok(devices)
}

fn micros(value: u64) -> f64 {
    value as f64 / 1e6
}

fn parse<T>(path: &Path, parser: impl FnOnce(&str) -> Result<T, ParseError>) -> Result<T, CgroupError> {
    match parse_optional(path, parser)? {
        Some(value) => Ok(value),
        None => Err(CgroupError::Io { path: path.to_path_buf(), source: std::io::Error::from(ErrorKind::NotFound) }),
    }
}

/// Like [`parse`], but a file that does not exist is `None`: for files that
/// depend on kernel version or on an optional controller.
fn parse_optional<T>(
    path: &Path,
    parser: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, CgroupError> {
    match with_file(path, parser) {
        Ok(parsed) => parsed.map(Some).map_err(|source| CgroupError::Parse { path: path.to_path_buf(), source }),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Io { path: path.to_path_buf(), source }),
    }
}
