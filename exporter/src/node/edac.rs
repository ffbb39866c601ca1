//! `edac`: `node_edac_{correctable,uncorrectable}_errors_total{controller}`
//! and `node_edac_csrow_{correctable,uncorrectable}_errors_total{controller,csrow}`
//! from `/sys/devices/system/edac/mc/`.

use std::path::{Path, PathBuf};

use sonde_instrument::{Labels, MetricFamily};

use super::read::{list_dir, parse_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::edac;

#[derive(Debug)]
struct Edac {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Edac { dir: config.sys_path("devices/system/edac/mc") }))
}

fn count(dir: &Path, file: &str) -> Result<f64, CollectorError> {
    Ok(parse_file(&dir.join(file), edac::parse_count)? as f64)
}

impl ScrapeCollector for Edac {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut ce = MetricFamily::counter("node_edac_correctable_errors", "Total correctable memory errors.");
        let mut ue = MetricFamily::counter("node_edac_uncorrectable_errors", "Total uncorrectable memory errors.");
        let mut csrow_ce = MetricFamily::counter(
            "node_edac_csrow_correctable_errors",
            "Total correctable memory errors for this csrow.",
        );
        let mut csrow_ue = MetricFamily::counter(
            "node_edac_csrow_uncorrectable_errors",
            "Total uncorrectable memory errors for this csrow.",
        );
        // Without EDAC this is one failed open and nothing to say, which
        // node_exporter (a glob that matches nothing) reports as success.
        for (entry, dir) in list_dir(&self.dir, |name| edac::controller_number(name).is_some())? {
            let Some(controller) = edac::controller_number(&entry) else { continue };
            let labels = Labels::new().with("controller", controller);
            ce.push(labels.clone(), count(&dir, "ce_count")?);
            ue.push(labels.clone(), count(&dir, "ue_count")?);
            // Errors the driver could not place on a row.
            csrow_ce.push(labels.clone().with("csrow", "unknown"), count(&dir, "ce_noinfo_count")?);
            csrow_ue.push(labels.clone().with("csrow", "unknown"), count(&dir, "ue_noinfo_count")?);
            for (row_entry, row_dir) in list_dir(&dir, |name| edac::csrow_number(name).is_some())? {
                let Some(row) = edac::csrow_number(&row_entry) else { continue };
                let row_labels = labels.clone().with("csrow", row);
                csrow_ce.push(row_labels.clone(), count(&row_dir, "ce_count")?);
                csrow_ue.push(row_labels, count(&row_dir, "ue_count")?);
            }
        }
        out.extend([ce, ue, csrow_ce, csrow_ue].into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}
