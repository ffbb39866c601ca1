//! `processes` (off by default, as upstream): `node_processes_pids`,
//! `node_processes_threads`, `node_processes_state{state}` from every
//! `/proc/<pid>/stat`, `node_processes_threads_state{thread_state}` from
//! every `/proc/<pid>/task/<tid>/stat`, and the limits `node_processes_max_processes`
//! (`kernel/pid_max`) and `node_processes_max_threads`
//! (`kernel/threads-max`).
//!
//! One file read per thread: on a busy host this is the costliest
//! collector there is, which is why node_exporter leaves it off too.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{list_dir, not_found, parse_file, read_u64, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::pid_stat;

#[derive(Debug)]
struct Processes {
    proc: PathBuf,
    pid_max: PathBuf,
    threads_max: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Processes {
        proc: config.proc_path(""),
        pid_max: config.proc_path("sys/kernel/pid_max"),
        threads_max: config.proc_path("sys/kernel/threads-max"),
    }))
}

impl ScrapeCollector for Processes {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut pids = 0_u64;
        let mut threads = 0_u64;
        let mut states = BTreeMap::<char, u64>::new();
        let mut thread_states = BTreeMap::<char, u64>::new();
        for (pid, dir) in list_dir(&self.proc, is_id)? {
            let Some(stat) = read_stat(&dir)? else {
                continue;
            };
            pids += 1;
            threads += stat.threads;
            *states.entry(stat.state).or_default() += 1;
            // A missing `task` directory (an exited process) lists empty.
            for (tid, task) in list_dir(&dir.join("task"), is_id)? {
                let state = if tid == pid {
                    stat.state
                } else {
                    match read_stat(&task)? {
                        Some(thread) => thread.state,
                        None => continue,
                    }
                };
                *thread_states.entry(state).or_default() += 1;
            }
        }
        let threads_max = read_u64(&self.threads_max)?;
        let pid_max = read_u64(&self.pid_max)?;

        out.push(single("node_processes_threads", "Allocated threads in system", MetricType::Gauge, threads as f64));
        out.push(single(
            "node_processes_max_threads",
            "Limit of threads in the system",
            MetricType::Gauge,
            threads_max as f64,
        ));
        let mut state = MetricFamily::gauge("node_processes_state", "Number of processes in each state.");
        for (name, count) in states {
            state.push(Labels::new().with("state", name.to_string()), count as f64);
        }
        out.push(state);
        let mut thread_state = MetricFamily::gauge("node_processes_threads_state", "Number of threads in each state.");
        for (name, count) in thread_states {
            thread_state.push(Labels::new().with("thread_state", name.to_string()), count as f64);
        }
        if !thread_state.samples.is_empty() {
            out.push(thread_state);
        }
        out.push(single("node_processes_pids", "Number of PIDs", MetricType::Gauge, pids as f64));
        out.push(single("node_processes_max_processes", "Number of max PIDs limit", MetricType::Gauge, pid_max as f64));
        Ok(())
    }
}

/// `<pid>` and `<tid>` entries.
fn is_id(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// `<dir>/stat` of a process or thread; `None` when it has exited.
fn read_stat(dir: &std::path::Path) -> Result<Option<pid_stat::PidStat>, CollectorError> {
    match parse_file(&dir.join("stat"), pid_stat::parse) {
        Ok(stat) => Ok(Some(stat)),
        Err(CollectorError::Io { source, .. }) if gone(&source) => Ok(None),
        Err(err) => Err(err),
    }
}

/// A process that exited: its directory is gone (`ENOENT`) or its files
/// answer `ESRCH`.
fn gone(err: &std::io::Error) -> bool {
    not_found(err) || rustix::io::Errno::from_io_error(err) == Some(rustix::io::Errno::SRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exited_process_is_skipped() {
        assert!(gone(&std::io::Error::from(std::io::ErrorKind::NotFound)));
        assert!(gone(&std::io::Error::from_raw_os_error(rustix::io::Errno::SRCH.raw_os_error())));
        assert!(!gone(&std::io::Error::from(std::io::ErrorKind::PermissionDenied)));
    }
}
