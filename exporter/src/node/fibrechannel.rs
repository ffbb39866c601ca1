//! `fibrechannel`: `node_fibrechannel_info{fc_host,…} 1` and
//! `node_fibrechannel_<counter>_total{fc_host}` from `/sys/class/fc_host/<host>/`.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily};

use super::read::{Dir, io_error, list_dir_or_no_data, open_object_dir, parse_error, read_attribute_at};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::fibre_channel::{COUNTERS, INFO_ATTRIBUTES, info_value, parse_counter};

#[derive(Debug)]
struct FibreChannel {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(FibreChannel { dir: config.sys_path("class/fc_host") }))
}

impl FibreChannel {
    /// The info labels of one host: every attribute is required, as in
    /// node_exporter.
    fn info(dir: &Dir, host: &str) -> Result<Labels, CollectorError> {
        let mut pairs = vec![("fc_host", host.to_owned())];
        for attribute in INFO_ATTRIBUTES {
            let text = dir.read_attribute(attribute).map_err(|e| io_error(&dir.path_of(attribute), e))?;
            pairs.push((attribute, info_value(attribute, &text)));
        }
        pairs.sort();
        Ok(Labels::from_pairs(pairs))
    }
}

impl ScrapeCollector for FibreChannel {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut info = MetricFamily::gauge(
            "node_fibrechannel_info",
            "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
        );
        let mut counters: Vec<MetricFamily> = COUNTERS
            .iter()
            .map(|(_, name, help)| MetricFamily::counter(format!("node_fibrechannel_{name}"), *help))
            .collect();
        for (host, path) in list_dir_or_no_data(&self.dir)? {
            let Some(dir) = open_object_dir(path.clone())? else { continue };
            info.push(Self::info(&dir, &host)?, 1.0);
            let statistics = path.join("statistics");
            let Some(stats) = open_object_dir(statistics.clone())? else {
                return Err(io_error(&statistics, std::io::ErrorKind::NotFound.into()));
            };
            for (family, (file, _, _)) in counters.iter_mut().zip(COUNTERS) {
                // A counter the driver lacks (or that is write-only) counts
                // as 0, as node_exporter reports it.
                let value = match read_attribute_at(&stats, file)? {
                    Some(text) => parse_counter(&text).map_err(|e| parse_error(&stats.path_of(file), e))?,
                    None => Some(0),
                };
                if let Some(value) = value {
                    family.push(Labels::new().with("fc_host", host.as_str()), value as f64);
                }
            }
        }
        out.extend(std::iter::once(info).chain(counters).filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}
