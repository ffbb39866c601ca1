//! `powersupplyclass`: `node_power_supply_<attribute>{power_supply}` and
//! `node_power_supply_info{power_supply,type,…}` from
//! `/sys/class/power_supply/<supply>/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use regex::Regex;
use rustix::io::Errno;
use sonde_instrument::{Labels, MetricFamily};

use super::read::{Dir, io_error, list_dir_or_no_data, open_object_dir, parse_error, read_text_attribute_at};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector, compile};
use crate::sysfs::power_supply::{self, Kind};

#[derive(Debug)]
struct PowerSupplyClass {
    dir: PathBuf,
    ignored: Regex,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(PowerSupplyClass {
        dir: config.sys_path("class/power_supply"),
        ignored: compile("collector.powersupply.ignored-supplies", &config.powersupply_ignored_supplies)?,
    }))
}

/// Reads attribute `file`; `None` when it has no value to give. A battery
/// that is not inserted answers some attributes with `ENODEV`, which
/// node_exporter skips too.
fn attribute(dir: &Dir, file: &str) -> Result<Option<String>, CollectorError> {
    match read_text_attribute_at(dir, file) {
        Err(CollectorError::Io { source, .. }) if Errno::from_io_error(&source) == Some(Errno::NODEV) => Ok(None),
        other => other,
    }
}

/// The names of the regular files in a supply's directory: only those are
/// read, so an absent attribute costs nothing.
fn files(path: &std::path::Path) -> Result<Vec<String>, CollectorError> {
    let entries = std::fs::read_dir(path).map_err(|e| io_error(path, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(path, e))?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            files.push(name);
        }
    }
    Ok(files)
}

impl ScrapeCollector for PowerSupplyClass {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut families: BTreeMap<&'static str, MetricFamily> = BTreeMap::new();
        let mut info = MetricFamily::gauge("node_power_supply_info", "info of /sys/class/power_supply/<power_supply>.");
        for (supply, path) in list_dir_or_no_data(&self.dir)? {
            if self.ignored.is_match(&supply) {
                continue;
            }
            let Some(dir) = open_object_dir(path.clone())? else { continue };
            let mut labels = vec![("power_supply", supply.clone())];
            for file in files(&path)? {
                let Some((name, kind)) = power_supply::attribute(&file) else { continue };
                let Some(text) = attribute(&dir, &file)? else { continue };
                if kind == Kind::Label {
                    if !text.is_empty() {
                        labels.push((name, text));
                    }
                    continue;
                }
                let value = power_supply::parse_value(kind, &text).map_err(|e| parse_error(&dir.path_of(&file), e))?;
                families
                    .entry(name)
                    .or_insert_with(|| {
                        MetricFamily::gauge(format!("node_power_supply_{name}"), power_supply::help(name))
                    })
                    .push(Labels::new().with("power_supply", supply.as_str()), value);
            }
            labels.sort();
            info.push(Labels::from_pairs(labels), 1.0);
        }
        out.extend(families.into_values());
        if !info.samples.is_empty() {
            out.push(info);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supply(root: &std::path::Path, name: &str, files: &[(&str, &str)]) {
        let dir = root.join("class/power_supply").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, value) in files {
            std::fs::write(dir.join(file), format!("{value}\n")).unwrap();
        }
    }

    fn scrape(root: &std::path::Path, ignored: &str) -> Result<Vec<MetricFamily>, CollectorError> {
        let config = NodeConfig {
            sysfs: root.to_owned(),
            powersupply_ignored_supplies: ignored.to_owned(),
            ..NodeConfig::default()
        };
        let mut out = Vec::new();
        build(&config).unwrap().update(&mut out).map(|()| out)
    }

    #[test]
    fn ignored_supplies_are_left_out_and_bad_numbers_fail() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(scrape(root.path(), "^$"), Err(CollectorError::NoData { .. })));
        supply(root.path(), "AC", &[("type", "Mains"), ("online", "1")]);
        supply(root.path(), "hidpp_battery_0", &[("type", "Battery"), ("capacity", "40"), ("model_name", "")]);
        let out = scrape(root.path(), "^hidpp_").unwrap();
        let info = out.iter().find(|f| f.name == "node_power_supply_info").unwrap();
        assert_eq!(info.samples.len(), 1);
        assert_eq!(info.samples[0].labels, Labels::new().with("power_supply", "AC").with("type", "Mains"));
        assert!(out.iter().all(|f| f.name != "node_power_supply_capacity"));
        let out = scrape(root.path(), "^$").unwrap();
        let info = out.iter().find(|f| f.name == "node_power_supply_info").unwrap();
        // An empty label value is left out, as node_exporter leaves it out.
        assert_eq!(
            info.samples[1].labels,
            Labels::new().with("power_supply", "hidpp_battery_0").with("type", "Battery")
        );
        supply(root.path(), "AC", &[("online", "maybe")]);
        assert!(matches!(scrape(root.path(), "^$"), Err(CollectorError::Parse { .. })));
    }
}
