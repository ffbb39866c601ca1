//! `bonding`: `node_bonding_slaves{master}` and `node_bonding_active{master}`
//! from `/sys/class/net/bonding_masters` and each master's slaves.

use std::path::{Path, PathBuf};

use sonde_instrument::{Labels, MetricFamily};

use super::read::{io_error, not_found, read_trimmed};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::bonding;

#[derive(Debug)]
struct Bonding {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Bonding { dir: config.sys_path("class/net") }))
}

/// Reads a file; a missing one means no data, as node_exporter treats any
/// missing file of a bond (the driver not loaded, a bond going away).
fn read(path: &Path) -> Result<String, CollectorError> {
    read_trimmed(path).map_err(|e| {
        if not_found(&e) { CollectorError::NoData { path: path.to_path_buf() } } else { io_error(path, e) }
    })
}

/// A slave's `mii_status`, under either name the kernel gives its link.
fn slave_state(master: &Path, slave: &str) -> Result<String, CollectorError> {
    let [lower, legacy] = bonding::slave_state_paths(slave);
    match read_trimmed(&master.join(&lower)) {
        Ok(state) => Ok(state),
        Err(e) if not_found(&e) => read(&master.join(legacy)),
        Err(e) => Err(io_error(&master.join(lower), e)),
    }
}

impl ScrapeCollector for Bonding {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        // Without the bonding driver this is one failed open.
        let masters = read(&self.dir.join("bonding_masters"))?;
        let mut slaves_family =
            MetricFamily::gauge("node_bonding_slaves", "Number of configured slaves per bonding interface.");
        let mut active_family =
            MetricFamily::gauge("node_bonding_active", "Number of active slaves per bonding interface.");
        for master in bonding::parse_names(&masters) {
            let master_dir = self.dir.join(master);
            let slaves = read(&master_dir.join("bonding/slaves"))?;
            let (mut configured, mut active) = (0u32, 0u32);
            for slave in bonding::parse_names(&slaves) {
                configured += 1;
                if bonding::is_up(&slave_state(&master_dir, slave)?) {
                    active += 1;
                }
            }
            let labels = Labels::new().with("master", master);
            slaves_family.push(labels.clone(), f64::from(configured));
            active_family.push(labels, f64::from(active));
        }
        out.extend([slaves_family, active_family].into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}
