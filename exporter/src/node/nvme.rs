//! `nvme`: `node_nvme_info{device,firmware_revision,model,serial,state} 1`
//! from `/sys/class/nvme/<device>/`.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily};

use super::read::{Dir, io_error, list_dir_or_no_data, open_object_dir};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::nvme::ATTRIBUTES;

#[derive(Debug)]
struct Nvme {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Nvme { dir: config.sys_path("class/nvme") }))
}

/// Reads attribute `file`: every controller has all four, so a missing
/// one is an error, as in node_exporter.
fn attribute(dir: &Dir, file: &str) -> Result<String, CollectorError> {
    dir.read_attribute(file).map_err(|e| io_error(&dir.path_of(file), e))
}

impl ScrapeCollector for Nvme {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut info =
            MetricFamily::gauge("node_nvme_info", "Non-numeric data from /sys/class/nvme/<device>, value is always 1.");
        for (device, path) in list_dir_or_no_data(&self.dir)? {
            let Some(dir) = open_object_dir(path)? else { continue };
            let mut labels = Labels::new().with("device", device);
            for (file, label) in ATTRIBUTES {
                labels.push(label, attribute(&dir, file)?);
            }
            info.push(labels, 1.0);
        }
        if !info.samples.is_empty() {
            out.push(info);
        }
        Ok(())
    }
}
