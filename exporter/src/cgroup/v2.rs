//! Parsers of cgroup v2 (unified hierarchy) files, in the formats of the
//! kernel's `Documentation/admin-guide/cgroup-v2.rst`.

use super::{lookup, parse_device, parse_keyed, parse_single};
use crate::procfs::{ParseError, parse_u64};

/// `cpu.stat`. The throttling fields exist only when the `cpu` controller
/// is enabled for the cgroup; without it they read as 0, which is also what
/// they would count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuStat {
    /// `usage_usec`: CPU time used, in microseconds.
    pub usage_usec: u64,
    /// `user_usec`.
    pub user_usec: u64,
    /// `system_usec`.
    pub system_usec: u64,
    /// `nr_periods`: enforcement periods that elapsed.
    pub nr_periods: u64,
    /// `nr_throttled`: periods in which the cgroup was throttled.
    pub nr_throttled: u64,
    /// `throttled_usec`: total time throttled, in microseconds.
    pub throttled_usec: u64,
}

/// Parses `cpu.stat`. `usage_usec`, `user_usec` and `system_usec` are
/// always written by the kernel, so their absence means a wrong file.
pub fn parse_cpu_stat(text: &str) -> Result<CpuStat, ParseError> {
    let pairs = parse_keyed(text, "cpu.stat value")?;
    let required = |key: &str| lookup(&pairs, key).ok_or_else(|| ParseError::new(format!("cpu.stat has no {key}")));
    Ok(CpuStat {
        usage_usec: required("usage_usec")?,
        user_usec: required("user_usec")?,
        system_usec: required("system_usec")?,
        nr_periods: lookup(&pairs, "nr_periods").unwrap_or(0),
        nr_throttled: lookup(&pairs, "nr_throttled").unwrap_or(0),
        throttled_usec: lookup(&pairs, "throttled_usec").unwrap_or(0),
    })
}

/// The `memory.stat` fields Sonde reports, in bytes. A field missing from
/// the file (older kernels lack some) reads as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStat {
    /// `anon`: anonymous memory (cAdvisor's rss).
    pub anon: u64,
    /// `file`: page cache (cAdvisor's cache).
    pub file: u64,
    /// `file_mapped`: page cache mapped into processes.
    pub file_mapped: u64,
    /// `active_file`.
    pub active_file: u64,
    /// `inactive_file`: reclaimable cache, subtracted for the working set.
    pub inactive_file: u64,
}

/// Parses `memory.stat`.
pub fn parse_memory_stat(text: &str) -> Result<MemoryStat, ParseError> {
    let pairs = parse_keyed(text, "memory.stat value")?;
    let get = |key: &str| lookup(&pairs, key).unwrap_or(0);
    Ok(MemoryStat {
        anon: get("anon"),
        file: get("file"),
        file_mapped: get("file_mapped"),
        active_file: get("active_file"),
        inactive_file: get("inactive_file"),
    })
}

/// Parses `memory.current` or `memory.swap.current`: bytes.
pub fn parse_memory_current(text: &str) -> Result<u64, ParseError> {
    parse_single(text, "memory.current value")
}

/// Parses a v2 limit file (`memory.max`, `memory.min`, `memory.swap.max`):
/// `max` is unlimited and becomes `None`.
pub fn parse_limit(text: &str) -> Result<Option<u64>, ParseError> {
    match text.trim() {
        "max" => Ok(None),
        value => parse_u64(value, "limit").map(Some),
    }
}

/// `memory.events`. Missing fields (e.g. `oom_group_kill` on older
/// kernels) read as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEvents {
    /// `low`: times the cgroup was reclaimed below its low boundary.
    pub low: u64,
    /// `high`: times the cgroup went over `memory.high`.
    pub high: u64,
    /// `max`: times the cgroup hit `memory.max`.
    pub max: u64,
    /// `oom`: times the OOM killer was invoked for the cgroup.
    pub oom: u64,
    /// `oom_kill`: processes killed by the OOM killer (cAdvisor's
    /// `container_oom_events_total`).
    pub oom_kill: u64,
}

/// Parses `memory.events`.
pub fn parse_memory_events(text: &str) -> Result<MemoryEvents, ParseError> {
    let pairs = parse_keyed(text, "memory.events value")?;
    let get = |key: &str| lookup(&pairs, key).unwrap_or(0);
    Ok(MemoryEvents { low: get("low"), high: get("high"), max: get("max"), oom: get("oom"), oom_kill: get("oom_kill") })
}

/// One device line of `io.stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStat {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// `rbytes`: bytes read.
    pub rbytes: u64,
    /// `wbytes`: bytes written.
    pub wbytes: u64,
    /// `rios`: read operations.
    pub rios: u64,
    /// `wios`: write operations.
    pub wios: u64,
}

/// Parses `io.stat`: `MAJ:MIN key=value ...` per device. Keys Sonde does
/// not report (`dbytes`, `dios`, the iocost ones) are skipped, so newer
/// kernels that add keys still parse.
pub fn parse_io_stat(text: &str) -> Result<Vec<IoStat>, ParseError> {
    let mut devices = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(device) = fields.next() else {
            continue;
        };
        let (major, minor) = parse_device(device)?;
        let mut stat = IoStat { major, minor, ..IoStat::default() };
        for field in fields {
            let (key, value) =
                field.split_once('=').ok_or_else(|| ParseError::new(format!("invalid io.stat field {field:?}")))?;
            let slot = match key {
                "rbytes" => &mut stat.rbytes,
                "wbytes" => &mut stat.wbytes,
                "rios" => &mut stat.rios,
                "wios" => &mut stat.wios,
                _ => continue,
            };
            *slot = parse_u64(value, "io.stat value")?;
        }
        devices.push(stat);
    }
    Ok(devices)
}

/// `cpu.max`: the CFS bandwidth limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMax {
    /// Microseconds the cgroup may run per period; `None` for `max`.
    pub quota_usec: Option<u64>,
    /// The period, in microseconds.
    pub period_usec: u64,
}

/// Parses `cpu.max`: `max 100000` or `<quota> <period>`.
pub fn parse_cpu_max(text: &str) -> Result<CpuMax, ParseError> {
    let mut fields = text.split_ascii_whitespace();
    let (Some(quota), Some(period), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(ParseError::new(format!("invalid cpu.max {text:?}")));
    };
    let quota_usec = match quota {
        "max" => None,
        quota => Some(parse_u64(quota, "cpu.max quota")?),
    };
    Ok(CpuMax { quota_usec, period_usec: parse_u64(period, "cpu.max period")? })
}

/// Parses `cpu.weight` (1 to 10000, default 100).
pub fn parse_cpu_weight(text: &str) -> Result<u64, ParseError> {
    let weight = parse_single(text, "cpu.weight")?;
    if !(1..=10_000).contains(&weight) {
        return Err(ParseError::new(format!("cpu.weight {weight} out of range")));
    }
    Ok(weight)
}

/// Converts a `cpu.weight` to v1 `cpu.shares`, with cAdvisor's formula, so
/// `container_spec_cpu_shares` means the same on both hierarchies (the
/// default weight 100 gives 2597).
pub fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight.saturating_sub(1) * 262_142) / 9_999
}

#[cfg(test)]
mod tests {
    use super::*;

    // From a Docker container on a v2 host (Debian 12, kernel 6.1).
    const CPU_STAT: &str = "usage_usec 8470120
user_usec 6012345
system_usec 2457775
core_sched.force_idle_usec 0
nr_periods 1200
nr_throttled 31
throttled_usec 2514009
nr_bursts 0
burst_usec 0
";

    #[test]
    fn cpu_stat() {
        assert_eq!(
            parse_cpu_stat(CPU_STAT).unwrap(),
            CpuStat {
                usage_usec: 8470120,
                user_usec: 6012345,
                system_usec: 2457775,
                nr_periods: 1200,
                nr_throttled: 31,
                throttled_usec: 2514009,
            }
        );
    }

    #[test]
    fn cpu_stat_without_the_cpu_controller() {
        // This host's /sys/fs/cgroup/unified/cpu.stat: no cpu controller,
        // so no throttling fields.
        let text = "usage_usec 4028170153
user_usec 3473890428
system_usec 554279725
nice_usec 151765113
";
        let stat = parse_cpu_stat(text).unwrap();
        assert_eq!(stat.usage_usec, 4028170153);
        assert_eq!(stat.nr_periods, 0);
        assert!(parse_cpu_stat("nr_periods 1\n").is_err());
    }

    const MEMORY_STAT: &str = "anon 4386816
file 10903552
kernel 1077248
kernel_stack 49152
pagetables 110592
sec_pagetables 0
percpu 0
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 5267456
file_dirty 0
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon 4370432
active_anon 16384
inactive_file 8384512
active_file 2519040
unevictable 0
slab_reclaimable 626144
slab_unreclaimable 182808
slab 808952
workingset_refault_anon 0
workingset_refault_file 0
pgfault 3894
pgmajfault 105
";

    #[test]
    fn memory_stat() {
        assert_eq!(
            parse_memory_stat(MEMORY_STAT).unwrap(),
            MemoryStat {
                anon: 4386816,
                file: 10903552,
                file_mapped: 5267456,
                active_file: 2519040,
                inactive_file: 8384512,
            }
        );
        assert!(parse_memory_stat("anon x\n").is_err());
    }

    #[test]
    fn limits_and_current() {
        assert_eq!(parse_memory_current("16543744\n").unwrap(), 16543744);
        assert_eq!(parse_limit("max\n").unwrap(), None);
        assert_eq!(parse_limit("268435456\n").unwrap(), Some(268435456));
        assert_eq!(parse_limit("0\n").unwrap(), Some(0));
        assert!(parse_limit("-1\n").is_err());
    }

    #[test]
    fn memory_events() {
        let text = "low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_memory_events(text).unwrap(), MemoryEvents { low: 0, high: 0, max: 17, oom: 2, oom_kill: 1 });
    }

    #[test]
    fn io_stat() {
        let text = "259:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0
253:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0
";
        assert_eq!(
            parse_io_stat(text).unwrap(),
            vec![
                IoStat { major: 259, minor: 0, rbytes: 1459200, wbytes: 314773504, rios: 192, wios: 353 },
                IoStat { major: 253, minor: 0, rbytes: 4096, wbytes: 0, rios: 1, wios: 0 },
            ]
        );
        assert_eq!(parse_io_stat("").unwrap(), vec![]);
        assert!(parse_io_stat("259:0 rbytes\n").is_err());
        assert!(parse_io_stat("sda rbytes=1\n").is_err());
    }

    #[test]
    fn cpu_max_and_weight() {
        assert_eq!(parse_cpu_max("max 100000\n").unwrap(), CpuMax { quota_usec: None, period_usec: 100000 });
        assert_eq!(parse_cpu_max("50000 100000\n").unwrap(), CpuMax { quota_usec: Some(50000), period_usec: 100000 });
        assert!(parse_cpu_max("max\n").is_err());
        assert!(parse_cpu_max("1 2 3\n").is_err());
        assert_eq!(parse_cpu_weight("100\n").unwrap(), 100);
        assert!(parse_cpu_weight("0\n").is_err());
        assert!(parse_cpu_weight("10001\n").is_err());
        assert_eq!(weight_to_shares(100), 2597);
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
    }
}
