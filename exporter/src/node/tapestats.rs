//! `tapestats`: `node_tape_{io_now,reads_completed_total,…}{device}` from
//! `/sys/class/scsi_tape/st<N>/stats/`.

use std::path::PathBuf;

use regex::Regex;
use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{list_dir_or_no_data, open_object_dir, parse_error, read_attribute_at};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector, compile};
use crate::sysfs::scsi_tape::{self, Kind, STATS};

#[derive(Debug)]
struct Tapestats {
    dir: PathBuf,
    ignored: Regex,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Tapestats {
        dir: config.sys_path("class/scsi_tape"),
        ignored: compile("collector.tapestats.ignored-devices", &config.tapestats_ignored_devices)?,
    }))
}

impl ScrapeCollector for Tapestats {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut families: Vec<MetricFamily> = STATS
            .iter()
            .map(|(_, name, kind, help)| {
                let metric_type = if *kind == Kind::Gauge { MetricType::Gauge } else { MetricType::Counter };
                let base = name.strip_suffix("_total").unwrap_or(name);
                MetricFamily::new(format!("node_tape_{base}"), *help, metric_type)
            })
            .collect();
        for (device, path) in list_dir_or_no_data(&self.dir)? {
            if !scsi_tape::is_tape(&device) || self.ignored.is_match(&device) {
                continue;
            }
            let Some(stats) = open_object_dir(path.join("stats"))? else { continue };
            for (family, (file, _, kind, _)) in families.iter_mut().zip(STATS) {
                // A statistic this kernel lacks counts as 0, as in node_exporter.
                let value = match read_attribute_at(&stats, file)? {
                    Some(text) => {
                        scsi_tape::parse_stat(kind, &text).map_err(|e| parse_error(&stats.path_of(file), e))?
                    }
                    None => 0.0,
                };
                family.push(Labels::new().with("device", device.as_str()), value);
            }
        }
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}
