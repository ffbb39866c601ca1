//! `dmi`: `node_dmi_info{bios_date,…,system_vendor} 1` from
//! `/sys/class/dmi/id/`.

use std::path::PathBuf;
use std::sync::OnceLock;

use sonde_instrument::{Labels, MetricFamily};

use super::read::{open_object_dir, read_text_attribute_at};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::dmi::ATTRIBUTES;

const HELP: &str = "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, product_sku, product_uuid, product_version, system_vendor if provided by DMI.";

#[derive(Debug)]
struct Dmi {
    dir: PathBuf,
    /// The labels, read once: the firmware's strings do not change until
    /// the next boot (node_exporter reads them once too). `None` when the
    /// machine has no DMI (most ARM boards, many VMs).
    labels: OnceLock<Option<Labels>>,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Dmi { dir: config.sys_path("class/dmi/id"), labels: OnceLock::new() }))
}

impl Dmi {
    fn read(&self) -> Result<Option<Labels>, CollectorError> {
        let Some(dir) = open_object_dir(self.dir.clone())? else { return Ok(None) };
        let mut labels = Labels::new();
        // An attribute that is missing or only root may read (the serial
        // numbers) is left out, as node_exporter leaves it out.
        for (file, label) in ATTRIBUTES {
            if let Some(value) = read_text_attribute_at(&dir, file)? {
                labels.push(label, value);
            }
        }
        Ok((!labels.is_empty()).then_some(labels))
    }
}

impl ScrapeCollector for Dmi {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let labels = match self.labels.get() {
            Some(labels) => labels,
            // A read that failed is tried again at the next scrape.
            None => {
                let read = self.read()?;
                self.labels.get_or_init(|| read)
            }
        };
        let Some(labels) = labels else {
            return Err(CollectorError::NoData { path: self.dir.clone() });
        };
        out.push(MetricFamily::gauge("node_dmi_info", HELP).with_sample(labels.clone(), 1.0));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_once_and_no_data_without_dmi() {
        let root = tempfile::tempdir().unwrap();
        let config = NodeConfig { sysfs: root.path().to_owned(), ..NodeConfig::default() };
        let collector = build(&config).unwrap();
        let mut out = Vec::new();
        assert!(matches!(collector.update(&mut out), Err(CollectorError::NoData { .. })));

        let dir = root.path().join("class/dmi/id");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sys_vendor"), "QEMU\n").unwrap();
        std::fs::write(dir.join("product_name"), b"Box \xff\xfe\n").unwrap();
        let collector = build(&config).unwrap();
        collector.update(&mut out).unwrap();
        let expected = Labels::new().with("product_name", "Box \u{FFFD}").with("system_vendor", "QEMU");
        assert_eq!(out[0].samples[0].labels, expected);
        // The firmware's strings are not read again.
        std::fs::write(dir.join("sys_vendor"), "changed\n").unwrap();
        out.clear();
        collector.update(&mut out).unwrap();
        assert_eq!(out[0].samples[0].labels, expected);
    }
}
