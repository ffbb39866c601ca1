//! Process metrics with client_golang's names, read from procfs (Linux).
//!
//! [`ProcessCollector`] emits what client_golang's process collector does,
//! with the same names, types and help texts:
//!
//! | metric | type | from |
//! | --- | --- | --- |
//! | `process_cpu_seconds_total` | counter | `stat`: (utime + stime) / USER_HZ |
//! | `process_max_fds` | gauge | `limits`: "Max open files", soft limit |
//! | `process_open_fds` | gauge | entries of `fd/` |
//! | `process_resident_memory_bytes` | gauge | `stat`: rss × page size |
//! | `process_start_time_seconds` | gauge | `stat` starttime / USER_HZ + `btime` of `/proc/stat` |
//! | `process_threads` | gauge | `stat`: num_threads |
//! | `process_virtual_memory_bytes` | gauge | `stat`: vsize |
//! | `process_virtual_memory_max_bytes` | gauge | `limits`: "Max address space", soft limit |
//!
//! `process_threads` is not in client_golang (its Go collector has
//! `go_threads`); the name and help are the `prometheus` crate's. An
//! unlimited limit is exposed as 2^64 − 1, as client_golang does.
//!
//! Parsing is done by pure functions ([`parse_stat`], [`parse_limits`],
//! [`parse_btime`]) tested on fixed text; the collector only reads files
//! below its configured procfs root. A file that cannot be read or parsed
//! leaves out the metrics that need it, silently and without failing the
//! scrape: on a system without procfs the collector emits nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::collector::Collector;
use crate::model::{MetricFamily, MetricType};

/// Why a procfs file could not be parsed.
///
/// ```
/// use sonde_instrument::process::parse_stat;
///
/// let err = parse_stat("not a stat line").unwrap_err();
/// assert_eq!(err.file, "stat");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse {file}: {reason}")]
pub struct ProcParseError {
    /// The file, as procfs names it (`stat`, `limits`, `/proc/stat`).
    pub file: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl ProcParseError {
    fn new(file: &'static str, reason: impl Into<String>) -> Self {
        ProcParseError { file, reason: reason.into() }
    }
}

/// The fields of `/proc/<pid>/stat` the collector uses, in their raw units.
///
/// ```
/// use sonde_instrument::process::parse_stat;
///
/// let line = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 512 18446744073709551615";
/// let stat = parse_stat(line)?;
/// assert_eq!((stat.utime, stat.stime, stat.num_threads), (250, 50, 3));
/// assert_eq!((stat.starttime, stat.vsize, stat.rss), (1000, 123456789, 512));
/// # Ok::<(), sonde_instrument::process::ProcParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcStat {
    /// User-mode CPU time, in clock ticks (field 14).
    pub utime: u64,
    /// Kernel-mode CPU time, in clock ticks (field 15).
    pub stime: u64,
    /// Threads in the process (field 20).
    pub num_threads: u64,
    /// Start time after boot, in clock ticks (field 22).
    pub starttime: u64,
    /// Virtual memory size in bytes (field 23).
    pub vsize: u64,
    /// Resident set size in pages (field 24).
    pub rss: u64,
}

/// Parses `/proc/<pid>/stat`.
///
/// The second field, `comm`, is in parentheses and may itself contain
/// spaces and parentheses, so the fields after it are found from the last
/// `)` of the line.
pub fn parse_stat(text: &str) -> Result<ProcStat, ProcParseError> {
    let (_, rest) = text.rsplit_once(')').ok_or_else(|| ProcParseError::new("stat", "no ')' closing comm"))?;
    // Field 3 (state) is the first after comm; field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize, name: &str| -> Result<u64, ProcParseError> {
        let text =
            fields.get(n - 3).ok_or_else(|| ProcParseError::new("stat", format!("field {n} ({name}) is missing")))?;
        // rss is signed in the kernel's format; a negative value means 0.
        if let Some(negative) = text.strip_prefix('-') {
            if negative.bytes().all(|b| b.is_ascii_digit()) && !negative.is_empty() {
                return Ok(0);
            }
        }
        text.parse().map_err(|_| ProcParseError::new("stat", format!("field {n} ({name}) is not a number: {text:?}")))
    };
    Ok(ProcStat {
        utime: field(14, "utime")?,
        stime: field(15, "stime")?,
        num_threads: field(20, "num_threads")?,
        starttime: field(22, "starttime")?,
        vsize: field(23, "vsize")?,
        rss: field(24, "rss")?,
    })
}

/// The soft limits of `/proc/<pid>/limits` the collector uses;
/// `unlimited` is `u64::MAX`. A limit the file does not list is `None`.
///
/// ```
/// use sonde_instrument::process::parse_limits;
///
/// let limits = parse_limits(concat!(
///     "Limit                     Soft Limit           Hard Limit           Units\n",
///     "Max open files            1024                 524288               files\n",
///     "Max address space         unlimited            unlimited            bytes\n",
/// ))?;
/// // `unlimited` reads as the largest number, as client_golang reads it.
/// assert_eq!((limits.max_open_files, limits.max_address_space), (Some(1024), Some(u64::MAX)));
/// # Ok::<(), sonde_instrument::process::ProcParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcLimits {
    /// "Max open files".
    pub max_open_files: Option<u64>,
    /// "Max address space", in bytes.
    pub max_address_space: Option<u64>,
}

/// Parses `/proc/<pid>/limits`: a header, then one line per limit with
/// the name, the soft limit, the hard limit and sometimes a unit, in
/// columns.
pub fn parse_limits(text: &str) -> Result<ProcLimits, ProcParseError> {
    let mut limits = ProcLimits::default();
    for line in text.lines() {
        let (slot, rest) = match (line.strip_prefix("Max open files"), line.strip_prefix("Max address space")) {
            (Some(rest), _) => (&mut limits.max_open_files, rest),
            (_, Some(rest)) => (&mut limits.max_address_space, rest),
            _ => continue,
        };
        let soft = rest.split_whitespace().next().unwrap_or("");
        *slot = Some(match soft {
            "unlimited" => u64::MAX,
            number => number
                .parse()
                .map_err(|_| ProcParseError::new("limits", format!("soft limit {number:?} is not a number")))?,
        });
    }
    if limits == ProcLimits::default() {
        return Err(ProcParseError::new("limits", "neither \"Max open files\" nor \"Max address space\" found"));
    }
    Ok(limits)
}

/// Parses the boot time, in seconds since the epoch, from the `btime`
/// line of `/proc/stat`.
pub fn parse_btime(text: &str) -> Result<u64, ProcParseError> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .ok_or_else(|| ProcParseError::new("/proc/stat", "no btime line"))?
        .trim();
    value.parse().map_err(|_| ProcParseError::new("/proc/stat", format!("btime {value:?} is not a number")))
}

/// Emits client_golang's `process_*` metrics for one process at scrape
/// time. Register it with
/// [`Registry::register_collector`](crate::metrics::Registry::register_collector).
///
/// ```
/// use sonde_instrument::metrics::Registry;
/// use sonde_instrument::process::ProcessCollector;
///
/// let registry = Registry::new();
/// registry.register_collector(ProcessCollector::new());
/// ```
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    /// `<procfs>/<pid>` (or `/proc/self`).
    process_dir: PathBuf,
    /// `<procfs>/stat`, for `btime`.
    system_stat: PathBuf,
    /// `btime` once read: the boot time does not change, and `/proc/stat`
    /// is long on a machine with many CPUs and interrupts.
    btime: OnceLock<u64>,
    /// Prepended to every name with `_`; empty for none.
    namespace: String,
    /// Clock ticks per second (`USER_HZ`).
    ticks_per_second: f64,
    /// Bytes per page.
    page_size: f64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

impl ProcessCollector {
    /// The collector for this process, from `/proc/self`.
    pub fn new() -> Self {
        Self::at(Path::new("/proc"), "self")
    }

    /// The collector for process `pid` of the procfs mounted at `procfs`
    /// (`/proc`, or a fixture tree in tests): it reads `<procfs>/<pid>/stat`,
    /// `<procfs>/<pid>/limits`, `<procfs>/<pid>/fd/` and `<procfs>/stat`.
    pub fn for_pid_at(procfs: impl AsRef<Path>, pid: u32) -> Self {
        Self::at(procfs.as_ref(), &pid.to_string())
    }

    fn at(procfs: &Path, process: &str) -> Self {
        ProcessCollector {
            process_dir: procfs.join(process),
            system_stat: procfs.join("stat"),
            btime: OnceLock::new(),
            namespace: String::new(),
            ticks_per_second: ticks_per_second(),
            page_size: page_size(),
        }
    }

    /// Prefixes every name with `namespace_`, like client_golang's
    /// `ProcessCollectorOpts.Namespace` (builder style).
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    fn family(&self, name: &str, help: &str, metric_type: MetricType, value: f64) -> MetricFamily {
        let name = if self.namespace.is_empty() { name.to_owned() } else { format!("{}_{name}", self.namespace) };
        MetricFamily::new(name, help, metric_type).with_sample(Default::default(), value)
    }

    fn read(&self, file: &str) -> Option<String> {
        fs::read_to_string(self.process_dir.join(file)).ok()
    }

    /// The boot time, read once it can be.
    fn btime(&self) -> Option<u64> {
        if let Some(&btime) = self.btime.get() {
            return Some(btime);
        }
        let btime = fs::read_to_string(&self.system_stat).ok().and_then(|text| parse_btime(&text).ok())?;
        Some(*self.btime.get_or_init(|| btime))
    }

    /// The number of entries in `fd/`, including the one reading it (as
    /// client_golang counts).
    fn open_fds(&self) -> Option<usize> {
        fs::read_dir(self.process_dir.join("fd")).ok().map(Iterator::count)
    }
}

impl Collector for ProcessCollector {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        use MetricType::{Counter, Gauge};
        let stat = self.read("stat").and_then(|text| parse_stat(&text).ok());
        let limits = self.read("limits").and_then(|text| parse_limits(&text).ok());
        let hz = self.ticks_per_second;
        // In client_golang's output order: sorted by name.
        if let Some(stat) = &stat {
            let cpu = (stat.utime.saturating_add(stat.stime)) as f64 / hz;
            out.push(self.family(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                Counter,
                cpu,
            ));
        }
        if let Some(max) = limits.and_then(|l| l.max_open_files) {
            out.push(self.family("process_max_fds", "Maximum number of open file descriptors.", Gauge, max as f64));
        }
        if let Some(open) = self.open_fds() {
            out.push(self.family("process_open_fds", "Number of open file descriptors.", Gauge, open as f64));
        }
        if let Some(stat) = &stat {
            let rss = stat.rss as f64 * self.page_size;
            out.push(self.family("process_resident_memory_bytes", "Resident memory size in bytes.", Gauge, rss));
            if let Some(btime) = self.btime() {
                let start = btime as f64 + stat.starttime as f64 / hz;
                let help = "Start time of the process since unix epoch in seconds.";
                out.push(self.family("process_start_time_seconds", help, Gauge, start));
            }
            let threads = stat.num_threads as f64;
            out.push(self.family("process_threads", "Number of OS threads in the process.", Gauge, threads));
            let vsize = stat.vsize as f64;
            out.push(self.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", Gauge, vsize));
        }
        if let Some(max) = limits.and_then(|l| l.max_address_space) {
            let help = "Maximum amount of virtual memory available in bytes.";
            out.push(self.family("process_virtual_memory_max_bytes", help, Gauge, max as f64));
        }
    }
}

/// `USER_HZ`, the unit of `stat`'s times: 100 on every Linux platform.
#[cfg(unix)]
fn ticks_per_second() -> f64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100.0,
        hz => hz as f64,
    }
}

#[cfg(not(unix))]
fn ticks_per_second() -> f64 {
    100.0
}

#[cfg(unix)]
fn page_size() -> f64 {
    rustix::param::page_size() as f64
}

#[cfg(not(unix))]
fn page_size() -> f64 {
    4096.0
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::{Format, encode::encode_to_string, lint};

    /// A real line from a process whose name has spaces and parentheses.
    const STAT: &str = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 2385 0 12 0 \
        1234 567 0 0 20 0 7 0 89012 1057742848 4321 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17665 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            1024                 524288               files     
Max locked memory         8388608              8388608              bytes     
Max address space         unlimited            unlimited            bytes     
Max processes             127590               127590               processes 
";

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(
            stat,
            ProcStat { utime: 1234, stime: 567, num_threads: 7, starttime: 89012, vsize: 1_057_742_848, rss: 4321 }
        );
        let tricky = STAT.replace("my (odd) name", ") ) 1 2 3 (");
        assert_eq!(parse_stat(&tricky).unwrap(), stat);
    }

    #[test]
    fn bad_stat_is_an_error() {
        assert!(parse_stat("").is_err());
        assert!(parse_stat("1 (x) S 1 2").unwrap_err().reason.contains("utime"));
        let garbled = STAT.replace(" 1234 ", " 12x4 ");
        let error = parse_stat(&garbled).unwrap_err();
        assert_eq!(error.to_string(), "cannot parse stat: field 14 (utime) is not a number: \"12x4\"");
        let negative_rss = STAT.replace(" 4321 ", " -1 ");
        assert_eq!(parse_stat(&negative_rss).unwrap().rss, 0);
    }

    #[test]
    fn limits_soft_values() {
        let limits = parse_limits(LIMITS).unwrap();
        assert_eq!(limits, ProcLimits { max_open_files: Some(1024), max_address_space: Some(u64::MAX) });
        let only_files = "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_limits(only_files).unwrap().max_open_files, Some(u64::MAX));
        assert!(parse_limits("Limit Soft Hard\n").is_err());
        assert!(parse_limits("Max open files            lots        lots          files\n").is_err());
    }

    #[test]
    fn btime_line() {
        let stat = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1700000000\nprocesses 7\n";
        assert_eq!(parse_btime(stat), Ok(1_700_000_000));
        assert!(parse_btime("cpu 1\n").is_err());
        assert!(parse_btime("btime soon\n").is_err());
    }

    /// A fake procfs with process 4242 in `dir`.
    fn fixture(dir: &Path, with_limits: bool) {
        let process = dir.join("4242");
        fs::create_dir_all(process.join("fd")).unwrap();
        fs::write(process.join("stat"), STAT).unwrap();
        if with_limits {
            fs::write(process.join("limits"), LIMITS).unwrap();
        }
        for fd in ["0", "1", "2", "5"] {
            fs::write(process.join("fd").join(fd), "").unwrap();
        }
        fs::write(dir.join("stat"), "cpu  1 2 3 4\nbtime 1700000000\n").unwrap();
    }

    #[test]
    fn fixture_tree_gives_client_golangs_exposition() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), true);
        let mut collector = ProcessCollector::for_pid_at(dir.path(), 4242);
        // Fixed, so the expected text does not depend on the machine.
        collector.ticks_per_second = 100.0;
        collector.page_size = 4096.0;
        let mut families = Vec::new();
        collector.collect(&mut families);
        let (text, _) = encode_to_string(&families, Format::Text);
        let expected = "\
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 18.01
# HELP process_max_fds Maximum number of open file descriptors.
# TYPE process_max_fds gauge
process_max_fds 1024
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 4
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 17698816
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1700000890.12
# HELP process_threads Number of OS threads in the process.
# TYPE process_threads gauge
process_threads 7
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 1057742848
# HELP process_virtual_memory_max_bytes Maximum amount of virtual memory available in bytes.
# TYPE process_virtual_memory_max_bytes gauge
process_virtual_memory_max_bytes 1.8446744073709552e19
";
        assert_eq!(text, expected);
        assert_eq!(lint::check(&text, Format::Text).unwrap(), vec![]);

        // The boot time is read once: a later /proc/stat is not read again.
        fs::write(dir.path().join("stat"), "btime 1\n").unwrap();
        let mut again = Vec::new();
        collector.collect(&mut again);
        let start = again.iter().find(|f| f.name == "process_start_time_seconds").map(|f| f.samples[0].value);
        assert_eq!(start, Some(1700000890.12));
    }

    #[test]
    fn missing_files_leave_out_only_their_metrics() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), false);
        fs::write(dir.path().join("stat"), "no boot time here\n").unwrap();
        let collector = ProcessCollector::for_pid_at(dir.path(), 4242).with_namespace("demo");
        let mut families = Vec::new();
        collector.collect(&mut families);
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "demo_process_cpu_seconds",
                "demo_process_open_fds",
                "demo_process_resident_memory_bytes",
                "demo_process_threads",
                "demo_process_virtual_memory_bytes",
            ]
        );

        let mut nothing = Vec::new();
        ProcessCollector::for_pid_at(dir.path().join("absent"), 1).collect(&mut nothing);
        assert!(nothing.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_values_are_plausible() {
        // A second thread, so there are at least two.
        let (stop, wait) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || wait.recv());
        let mut families = Vec::new();
        ProcessCollector::new().collect(&mut families);
        drop(stop);
        let _ = helper.join();

        let value = |name: &str| {
            families
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.samples.first())
                .map(|s| s.value)
                .unwrap_or_else(|| panic!("{name} missing from {families:?}"))
        };
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_threads") >= 2.0);
        assert!(value("process_resident_memory_bytes") > 0.0);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_virtual_memory_max_bytes") > 0.0);
        assert!(value("process_cpu_seconds") >= 0.0);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(start <= now + 1.0 && start > now - 3600.0, "start {start}, now {now}");

        let (text, _) = encode_to_string(&families, Format::Text);
        assert_eq!(lint::check(&text, Format::Text).unwrap(), vec![], "{text}");
        let (open, _) = encode_to_string(&families, Format::OpenMetrics);
        assert_eq!(lint::check(&open, Format::OpenMetrics).unwrap(), vec![], "{open}");
    }
}
