//! `vmstat`: the `/proc/vmstat` fields matching `--collector.vmstat.fields`.

use std::path::PathBuf;

use regex::Regex;
use sonde_instrument::{MetricFamily, MetricType};

use super::read::{parse_file, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector, compile};
use crate::procfs::{parse_f64, vmstat};

#[derive(Debug)]
struct Vmstat {
    path: PathBuf,
    fields: Regex,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Vmstat {
        path: config.proc_path("vmstat"),
        fields: compile("collector.vmstat.fields", &config.vmstat_fields)?,
    }))
}

impl ScrapeCollector for Vmstat {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        parse_file(&self.path, |text| {
            for (name, value) in vmstat::parse(text)? {
                if !self.fields.is_match(name) {
                    continue;
                }
                let value = parse_f64(value, name)?;
                out.push(single(
                    &format!("node_vmstat_{name}"),
                    &format!("/proc/vmstat information field {name}."),
                    MetricType::Unknown,
                    value,
                ));
            }
            Ok(())
        })
    }
}
