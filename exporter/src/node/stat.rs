//! `stat`: boot time, context switches, forks, interrupts, process states.

use std::path::PathBuf;

use sonde_instrument::{MetricFamily, MetricType};

use super::read::{parse_file, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::stat;

#[derive(Debug)]
struct Stat {
    path: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Stat { path: config.proc_path("stat") }))
}

impl ScrapeCollector for Stat {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let stat = parse_file(&self.path, stat::parse)?;
        out.push(single("node_intr", "Total number of interrupts serviced.", MetricType::Counter, stat.intr as f64));
        out.push(single(
            "node_context_switches",
            "Total number of context switches.",
            MetricType::Counter,
            stat.ctxt as f64,
        ));
        out.push(single("node_forks", "Total number of forks.", MetricType::Counter, stat.processes as f64));
        out.push(single(
            "node_boot_time_seconds",
            "Node boot time, in unixtime.",
            MetricType::Gauge,
            stat.btime as f64,
        ));
        out.push(single(
            "node_procs_running",
            "Number of processes in runnable state.",
            MetricType::Gauge,
            stat.procs_running as f64,
        ));
        out.push(single(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            MetricType::Gauge,
            stat.procs_blocked as f64,
        ));
        Ok(())
    }
}
