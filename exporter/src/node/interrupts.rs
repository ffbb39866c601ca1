//! `interrupts` (off by default, as upstream):
//! `node_interrupts_total{cpu,devices,info,type}` from `/proc/interrupts`,
//! one series per interrupt source and CPU.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily};

use super::read::parse_file;
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::{ParseError, interrupts, parse_f64};

#[derive(Debug)]
struct Interrupts {
    path: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Interrupts { path: config.proc_path("interrupts") }))
}

impl ScrapeCollector for Interrupts {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let family = parse_file(&self.path, |text| -> Result<MetricFamily, ParseError> {
            let mut family = MetricFamily::counter("node_interrupts", "Interrupt details.");
            for source in interrupts::parse(text)? {
                for (cpu, count) in source.counts.iter().enumerate() {
                    let labels = Labels::new()
                        .with("cpu", cpu.to_string())
                        .with("devices", source.devices.as_str())
                        .with("info", source.info.as_str())
                        .with("type", source.name);
                    family.push(labels, parse_f64(count, "interrupt count")?);
                }
            }
            Ok(family)
        })?;
        out.push(family);
        Ok(())
    }
}
