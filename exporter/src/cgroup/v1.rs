//! Parsers of cgroup v1 controller files (`cpu`, `cpuacct`, `memory`,
//! `blkio`).

use super::{lookup, parse_device, parse_keyed, parse_single};
use crate::procfs::{ParseError, parse_u64};

/// v1 memory limits at or above 2^62 mean "no limit": the kernel writes
/// `PAGE_COUNTER_MAX` rounded down to a page (9223372036854771712 on 4 KiB
/// pages), and cAdvisor uses the same threshold.
pub const UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// Parses `cpuacct.usage`: CPU time in nanoseconds.
pub fn parse_cpuacct_usage(text: &str) -> Result<u64, ParseError> {
    parse_single(text, "cpuacct.usage value")
}

/// `cpuacct.stat`, in USER_HZ ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuacctStat {
    /// `user`: ticks in user mode.
    pub user_ticks: u64,
    /// `system`: ticks in kernel mode.
    pub system_ticks: u64,
}

/// Parses `cpuacct.stat`.
pub fn parse_cpuacct_stat(text: &str) -> Result<CpuacctStat, ParseError> {
    let pairs = parse_keyed(text, "cpuacct.stat value")?;
    let required = |key: &str| lookup(&pairs, key).ok_or_else(|| ParseError::new(format!("cpuacct.stat has no {key}")));
    Ok(CpuacctStat { user_ticks: required("user")?, system_ticks: required("system")? })
}

/// `cpu.stat`: CFS bandwidth statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CfsStat {
    /// `nr_periods`.
    pub nr_periods: u64,
    /// `nr_throttled`.
    pub nr_throttled: u64,
    /// `throttled_time`, in nanoseconds.
    pub throttled_time_ns: u64,
}

/// Parses `cpu.stat`. All three fields exist on every kernel with CFS
/// bandwidth control, so a missing one means a wrong file.
pub fn parse_cpu_stat(text: &str) -> Result<CfsStat, ParseError> {
    let pairs = parse_keyed(text, "cpu.stat value")?;
    let required = |key: &str| lookup(&pairs, key).ok_or_else(|| ParseError::new(format!("cpu.stat has no {key}")));
    Ok(CfsStat {
        nr_periods: required("nr_periods")?,
        nr_throttled: required("nr_throttled")?,
        throttled_time_ns: required("throttled_time")?,
    })
}

/// Parses `cpu.cfs_quota_us`: microseconds per period, `-1` (no quota)
/// becomes `None`.
pub fn parse_cfs_quota(text: &str) -> Result<Option<u64>, ParseError> {
    match text.trim() {
        "-1" => Ok(None),
        value => parse_u64(value, "cpu.cfs_quota_us").map(Some),
    }
}

/// Parses `cpu.cfs_period_us`, `cpu.shares`, `memory.usage_in_bytes` or
/// `memory.failcnt`: one unsigned number.
pub fn parse_value(text: &str) -> Result<u64, ParseError> {
    parse_single(text, "value")
}

/// Parses `memory.limit_in_bytes` or `memory.soft_limit_in_bytes`; a value
/// at or above [`UNLIMITED_THRESHOLD`] is `None`.
pub fn parse_memory_limit(text: &str) -> Result<Option<u64>, ParseError> {
    let value = parse_single(text, "memory limit")?;
    Ok((value < UNLIMITED_THRESHOLD).then_some(value))
}

/// The `memory.stat` fields Sonde reports, in bytes, hierarchical
/// (`total_*`) where the kernel writes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStat {
    /// `total_rss`.
    pub rss: u64,
    /// `total_cache`.
    pub cache: u64,
    /// `total_mapped_file`.
    pub mapped_file: u64,
    /// `total_swap` (absent without swap accounting: 0).
    pub swap: u64,
    /// `total_inactive_file`, subtracted for the working set.
    pub inactive_file: u64,
}

/// Parses `memory.stat`. Like cAdvisor, each field falls back to its
/// non-`total_` form, which is all a cgroup without `use_hierarchy` has
/// meaningful numbers for; a field absent in both forms reads as 0.
pub fn parse_memory_stat(text: &str) -> Result<MemoryStat, ParseError> {
    let pairs = parse_keyed(text, "memory.stat value")?;
    let get = |key: &str| lookup(&pairs, &format!("total_{key}")).or_else(|| lookup(&pairs, key)).unwrap_or(0);
    Ok(MemoryStat {
        rss: get("rss"),
        cache: get("cache"),
        mapped_file: get("mapped_file"),
        swap: get("swap"),
        inactive_file: get("inactive_file"),
    })
}

/// Parses `memory.oom_control` and returns `oom_kill`, which kernels before
/// 4.13 do not write (`None`).
pub fn parse_oom_kill(text: &str) -> Result<Option<u64>, ParseError> {
    let pairs = parse_keyed(text, "memory.oom_control value")?;
    Ok(lookup(&pairs, "oom_kill"))
}

/// One device of a `blkio` file: the `Read` and `Write` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkioDevice {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// The `Read` line (bytes or operations, depending on the file).
    pub read: u64,
    /// The `Write` line.
    pub write: u64,
}

/// Parses `blkio.throttle.io_service_bytes_recursive`,
/// `blkio.throttle.io_serviced_recursive` or their non-throttle twins:
/// `MAJ:MIN Op value` lines and a final `Total value`. Devices keep the
/// order of their first line; `Sync`, `Async`, `Discard` and `Total` are
/// skipped because `Read` + `Write` already cover them.
pub fn parse_blkio(text: &str) -> Result<Vec<BlkioDevice>, ParseError> {
    let mut devices: Vec<BlkioDevice> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields[..] {
            [] | ["Total", _] => {}
            [device, op, value] => {
                let (major, minor) = parse_device(device)?;
                let value = parse_u64(value, "blkio value")?;
                let index = match devices.iter().position(|d| d.major == major && d.minor == minor) {
                    Some(index) => index,
                    None => {
                        devices.push(BlkioDevice { major, minor, ..BlkioDevice::default() });
                        devices.len() - 1
                    }
                };
                match op {
                    "Read" => devices[index].read = value,
                    "Write" => devices[index].write = value,
                    _ => {}
                }
            }
            _ => return Err(ParseError::new(format!("invalid blkio line {line:?}"))),
        }
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuacct() {
        // This host's /sys/fs/cgroup/cpuacct.
        assert_eq!(parse_cpuacct_usage("4068693157298\n").unwrap(), 4068693157298);
        assert_eq!(
            parse_cpuacct_stat("user 350903\nsystem 55966\n").unwrap(),
            CpuacctStat { user_ticks: 350903, system_ticks: 55966 }
        );
        assert!(parse_cpuacct_stat("user 1\n").is_err());
    }

    #[test]
    fn cpu_stat_and_spec() {
        // This host's /sys/fs/cgroup/cpu/cpu.stat (kernel 6.18).
        let text = "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nnr_bursts 0\nburst_time 0\n";
        assert_eq!(parse_cpu_stat(text).unwrap(), CfsStat::default());
        let text = "nr_periods 2318\nnr_throttled 117\nthrottled_time 9012345678\n";
        assert_eq!(
            parse_cpu_stat(text).unwrap(),
            CfsStat { nr_periods: 2318, nr_throttled: 117, throttled_time_ns: 9012345678 }
        );
        assert!(parse_cpu_stat("nr_periods 1\n").is_err());
        assert_eq!(parse_cfs_quota("-1\n").unwrap(), None);
        assert_eq!(parse_cfs_quota("50000\n").unwrap(), Some(50000));
        assert!(parse_cfs_quota("-2\n").is_err());
        assert_eq!(parse_value("100000\n").unwrap(), 100000);
        assert_eq!(parse_value("1024\n").unwrap(), 1024);
    }

    #[test]
    fn memory_limits() {
        // This host's root memory.limit_in_bytes.
        assert_eq!(parse_memory_limit("9223372036854771712\n").unwrap(), None);
        assert_eq!(parse_memory_limit("4611686018427387904\n").unwrap(), None);
        assert_eq!(parse_memory_limit("4611686018427387903\n").unwrap(), Some(4611686018427387903));
        assert_eq!(parse_memory_limit("268435456\n").unwrap(), Some(268435456));
        assert!(parse_memory_limit("max\n").is_err());
    }

    // This host's /sys/fs/cgroup/memory/memory.stat (kernel 6.18), cut.
    const MEMORY_STAT: &str = "cache 9220096
rss 5324800
rss_huge 0
shmem 9084928
mapped_file 7499776
dirty 4096
writeback 0
swap 0
inactive_anon 0
active_anon 1531904
inactive_file 12288
active_file 122880
unevictable 12877824
hierarchical_memory_limit 9223372036854771712
hierarchical_memsw_limit 9223372036854771712
total_cache 114069504
total_rss 40660992
total_rss_huge 0
total_shmem 9084928
total_mapped_file 92729344
total_dirty 86016
total_writeback 0
total_swap 0
total_inactive_anon 35266560
total_active_anon 1572864
total_inactive_file 89079808
total_active_file 13770752
total_unevictable 12886016
";

    #[test]
    fn memory_stat_prefers_totals() {
        assert_eq!(
            parse_memory_stat(MEMORY_STAT).unwrap(),
            MemoryStat { rss: 40660992, cache: 114069504, mapped_file: 92729344, swap: 0, inactive_file: 89079808 }
        );
        let flat = parse_memory_stat("cache 1\nrss 2\nmapped_file 3\ninactive_file 4\n").unwrap();
        assert_eq!(flat, MemoryStat { rss: 2, cache: 1, mapped_file: 3, swap: 0, inactive_file: 4 });
    }

    #[test]
    fn oom_control() {
        // This host's memory.oom_control.
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n";
        assert_eq!(parse_oom_kill(text).unwrap(), Some(0));
        assert_eq!(parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n").unwrap(), None);
    }

    #[test]
    fn blkio() {
        let text = "8:0 Read 1212416
8:0 Write 40960
8:0 Sync 1253376
8:0 Async 0
8:0 Discard 0
8:0 Total 1253376
253:1 Read 4096
253:1 Write 0
253:1 Sync 4096
253:1 Async 0
253:1 Discard 0
253:1 Total 4096
Total 1257472
";
        assert_eq!(
            parse_blkio(text).unwrap(),
            vec![
                BlkioDevice { major: 8, minor: 0, read: 1212416, write: 40960 },
                BlkioDevice { major: 253, minor: 1, read: 4096, write: 0 },
            ]
        );
        // This host's root blkio.throttle.io_service_bytes_recursive.
        assert_eq!(parse_blkio("Total 0\n").unwrap(), vec![]);
        assert!(parse_blkio("8:0 Read\n").is_err());
        assert!(parse_blkio("8:0 Read x\n").is_err());
    }
}
