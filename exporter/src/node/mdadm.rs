//! `mdadm`: `node_md_{state,disks,disks_required,blocks,blocks_synced}{device}`
//! from `/proc/mdstat`, as node_exporter 1.5.0 reports software RAID.
//!
//! Without md support loaded there is no `/proc/mdstat`: one failed open,
//! reported as no data (success 0), as node_exporter does.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily};

use super::read::{absent_is_no_data, parse_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::mdstat::{self, MdActivity};

#[derive(Debug)]
struct Mdadm {
    path: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Mdadm { path: config.proc_path("mdstat") }))
}

/// `node_md_state`'s states, each with the activity it stands for.
const STATES: [(&str, MdActivity); 5] = [
    ("active", MdActivity::Active),
    ("inactive", MdActivity::Inactive),
    ("recovering", MdActivity::Recovering),
    ("resync", MdActivity::Resyncing),
    ("check", MdActivity::Checking),
];

impl ScrapeCollector for Mdadm {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let families = parse_file(&self.path, |text| mdstat::parse(text).map(|devices| families(&devices)))
            .map_err(absent_is_no_data)?;
        out.extend(families);
        Ok(())
    }
}

/// The families of the devices in `/proc/mdstat`, none when it lists none.
fn families(devices: &[mdstat::MdDevice<'_>]) -> Vec<MetricFamily> {
    let mut required = MetricFamily::gauge("node_md_disks_required", "Total number of disks of device.");
    let mut disks = MetricFamily::gauge("node_md_disks", "Number of active/failed/spare disks of device.");
    let mut state = MetricFamily::gauge("node_md_state", "Indicates the state of md-device.");
    let mut blocks = MetricFamily::gauge("node_md_blocks", "Total number of blocks on device.");
    let mut synced = MetricFamily::gauge("node_md_blocks_synced", "Number of blocks synced on device.");
    for md in devices {
        let device = || Labels::new().with("device", md.name);
        required.push(device(), md.disks_total as f64);
        for (name, count) in [("active", md.disks_active), ("failed", md.disks_failed), ("spare", md.disks_spare)] {
            disks.push(device().with("state", name), count as f64);
        }
        for (name, activity) in STATES {
            state.push(device().with("state", name), if md.activity == activity { 1.0 } else { 0.0 });
        }
        blocks.push(device(), md.blocks_total as f64);
        synced.push(device(), md.blocks_synced as f64);
    }
    [required, disks, state, blocks, synced].into_iter().filter(|f| !f.samples.is_empty()).collect()
}
