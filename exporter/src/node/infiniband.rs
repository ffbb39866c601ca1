//! `infiniband`: `node_infiniband_info{device,…} 1`, each port's
//! `node_infiniband_{state_id,physical_state_id,rate_bytes_per_second}{device,port}`
//! and its counters, from `/sys/class/infiniband/<device>/`.

use std::path::{Path, PathBuf};

use sonde_instrument::{Labels, MetricFamily};

use super::read::{Dir, io_error, list_dir, list_dir_or_no_data, open_object_dir, parse_error, read_attribute_at};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::infiniband::{self, COUNTERS};

#[derive(Debug)]
struct Infiniband {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Infiniband { dir: config.sys_path("class/infiniband") }))
}

/// The families this collector writes, filled device by device.
struct Families {
    info: MetricFamily,
    state: MetricFamily,
    physical_state: MetricFamily,
    rate: MetricFamily,
    counters: Vec<MetricFamily>,
}

impl Families {
    fn new() -> Self {
        Families {
            info: MetricFamily::gauge(
                "node_infiniband_info",
                "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
            ),
            state: MetricFamily::gauge("node_infiniband_state_id", infiniband::STATE_HELP),
            physical_state: MetricFamily::gauge("node_infiniband_physical_state_id", infiniband::PHYSICAL_STATE_HELP),
            rate: MetricFamily::gauge("node_infiniband_rate_bytes_per_second", infiniband::RATE_HELP),
            counters: COUNTERS
                .iter()
                .map(|c| MetricFamily::counter(format!("node_infiniband_{}", c.metric), c.help))
                .collect(),
        }
    }

    fn into_iter(self) -> impl Iterator<Item = MetricFamily> {
        [self.info, self.state, self.physical_state, self.rate].into_iter().chain(self.counters)
    }
}

/// Reads a required attribute.
fn required(dir: &Dir, name: &str) -> Result<String, CollectorError> {
    dir.read_attribute(name).map_err(|e| io_error(&dir.path_of(name), e))
}

impl Infiniband {
    fn device(&self, device: &str, path: &Path, out: &mut Families) -> Result<(), CollectorError> {
        let Some(dir) = open_object_dir(path.to_path_buf())? else { return Ok(()) };
        // Every driver has had `fw_ver` since Linux 4.10; the other two
        // are optional.
        let firmware = required(&dir, "fw_ver")?;
        let board = read_attribute_at(&dir, "board_id")?.unwrap_or_default();
        let hca = read_attribute_at(&dir, "hca_type")?.unwrap_or_default();
        out.info.push(
            Labels::new()
                .with("board_id", board)
                .with("device", device)
                .with("firmware_version", firmware)
                .with("hca_type", hca),
            1.0,
        );
        let ports_dir = path.join("ports");
        let mut ports: Vec<(u32, PathBuf)> = list_dir(&ports_dir, |name| infiniband::port_number(name).is_some())?
            .into_iter()
            .filter_map(|(name, path)| infiniband::port_number(&name).map(|n| (n, path)))
            .collect();
        ports.sort();
        for (port, port_path) in ports {
            self.port(device, port, &port_path, out)?;
        }
        Ok(())
    }

    fn port(&self, device: &str, port: u32, path: &Path, out: &mut Families) -> Result<(), CollectorError> {
        let Some(dir) = open_object_dir(path.to_path_buf())? else { return Ok(()) };
        let parse = |name: &str, text: String, f: fn(&str) -> Result<u64, crate::procfs::ParseError>| {
            f(&text).map_err(|e| parse_error(&dir.path_of(name), e))
        };
        let state = parse("state", required(&dir, "state")?, |t| infiniband::parse_state(t).map(u64::from))?;
        let physical =
            parse("phys_state", required(&dir, "phys_state")?, |t| infiniband::parse_state(t).map(u64::from))?;
        let rate = parse("rate", required(&dir, "rate")?, infiniband::parse_rate)?;
        let labels = Labels::new().with("device", device).with("port", port.to_string());
        out.state.push(labels.clone(), state as f64);
        out.physical_state.push(labels.clone(), physical as f64);
        out.rate.push(labels.clone(), rate as f64);
        // A driver without counters (Intel's irdma) has no such directory.
        let counters = open_object_dir(path.join("counters"))?;
        let counters_ext = open_object_dir(path.join("counters_ext"))?;
        for (family, counter) in out.counters.iter_mut().zip(COUNTERS.iter()) {
            let dir = if counter.dir == "counters" { &counters } else { &counters_ext };
            let Some(dir) = dir else { continue };
            let Some(text) = read_attribute_at(dir, counter.file)? else { continue };
            let value =
                infiniband::parse_counter(counter, &text).map_err(|e| parse_error(&dir.path_of(counter.file), e))?;
            if let Some(value) = value {
                family.push(labels.clone(), value as f64);
            }
        }
        Ok(())
    }
}

impl ScrapeCollector for Infiniband {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut families = Families::new();
        for (device, path) in list_dir_or_no_data(&self.dir)? {
            self.device(&device, &path, &mut families)?;
        }
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}
