//! `loadavg`: `node_load1`, `node_load5`, `node_load15`.

use std::path::PathBuf;

use sonde_instrument::{MetricFamily, MetricType};

use super::read::{parse_file, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::loadavg;

#[derive(Debug)]
struct LoadAvg {
    path: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(LoadAvg { path: config.proc_path("loadavg") }))
}

impl ScrapeCollector for LoadAvg {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let load = parse_file(&self.path, loadavg::parse)?;
        out.push(single("node_load1", "1m load average.", MetricType::Gauge, load.load1));
        out.push(single("node_load5", "5m load average.", MetricType::Gauge, load.load5));
        out.push(single("node_load15", "15m load average.", MetricType::Gauge, load.load15));
        Ok(())
    }
}
