//! `filefd`: `node_filefd_{allocated,maximum}` from `/proc/sys/fs/file-nr`.

use std::path::PathBuf;

use sonde_instrument::{MetricFamily, MetricType};

use super::read::{parse_file, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::file_nr;

#[derive(Debug)]
struct Filefd {
    path: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Filefd { path: config.proc_path("sys/fs/file-nr") }))
}

impl ScrapeCollector for Filefd {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let nr = parse_file(&self.path, file_nr::parse)?;
        out.push(single(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            MetricType::Gauge,
            nr.allocated,
        ));
        out.push(single("node_filefd_maximum", "File descriptor statistics: maximum.", MetricType::Gauge, nr.maximum));
        Ok(())
    }
}
