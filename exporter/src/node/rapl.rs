//! `rapl`: `node_rapl_<zone>_joules_total{index,path}` (or, with
//! `--collector.rapl.enable-zone-label`, `node_rapl_joules_total{…,rapl_zone}`)
//! from `/sys/class/powercap/<zone>/energy_uj`.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use regex::Regex;
use sonde_instrument::{Labels, MetricFamily};

use super::read::{io_error, list_dir_or_no_data, parse_error, read_trimmed};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::powercap::{ZoneNames, parse_energy_joules};

#[derive(Debug)]
struct Rapl {
    dir: PathBuf,
    zone_label: bool,
    /// node_exporter's `SanitizeMetricName`: a run of characters a metric
    /// name cannot hold, with the underscores around it, becomes one `_`.
    invalid_in_name: Regex,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Rapl {
        dir: config.sys_path("class/powercap"),
        zone_label: config.rapl_zone_label,
        invalid_in_name: super::compile("rapl zone name", "_*[^0-9A-Za-z_]+_*")?,
    }))
}

impl ScrapeCollector for Rapl {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut families: BTreeMap<String, MetricFamily> = BTreeMap::new();
        let mut names = ZoneNames::default();
        for (_, path) in list_dir_or_no_data(&self.dir)? {
            // An entry without a `name` (the `intel-rapl` control type
            // itself) is not a zone.
            let Ok(raw_name) = read_trimmed(&path.join("name")) else { continue };
            let (index, name) = names.next(&raw_name);
            let energy_path = path.join("energy_uj");
            let text = match read_trimmed(&energy_path) {
                Ok(text) => text,
                // Since 5.10 only root may read the counters (a side
                // channel, CVE-2020-8694): node_exporter reports no data.
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Err(CollectorError::NoData { path: energy_path });
                }
                Err(e) => return Err(io_error(&energy_path, e)),
            };
            let joules = parse_energy_joules(&text).map_err(|e| parse_error(&energy_path, e))?;
            let labels = Labels::new().with("index", index.to_string()).with("path", path.display().to_string());
            let (family, help, labels) = if self.zone_label {
                (
                    "node_rapl_joules".to_owned(),
                    "Current RAPL value in joules".to_owned(),
                    labels.with("rapl_zone", name),
                )
            } else {
                let base = self.invalid_in_name.replace_all(&format!("{name}_joules_total"), "_").into_owned();
                let base = base.strip_suffix("_total").map(str::to_owned).unwrap_or(base);
                (format!("node_rapl_{base}"), format!("Current RAPL {name} value in joules"), labels)
            };
            families.entry(family.clone()).or_insert_with(|| MetricFamily::counter(family, help)).push(labels, joules);
        }
        out.extend(families.into_values());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn zone(root: &Path, entry: &str, name: &str, microjoules: &str) {
        let dir = root.join("class/powercap").join(entry);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(dir.join("energy_uj"), format!("{microjoules}\n")).unwrap();
    }

    fn scrape(root: &Path, zone_label: bool) -> Vec<MetricFamily> {
        let config = NodeConfig { sysfs: root.to_owned(), rapl_zone_label: zone_label, ..NodeConfig::default() };
        let mut out = Vec::new();
        build(&config).unwrap().update(&mut out).unwrap();
        out
    }

    #[test]
    fn a_family_per_zone_name_or_one_with_the_zone_as_label() {
        let root = tempfile::tempdir().unwrap();
        zone(root.path(), "intel-rapl:0", "package-0", "2000000");
        zone(root.path(), "intel-rapl:1", "package-1", "3500000");
        zone(root.path(), "intel-rapl:0:0", "dram", "1000000");
        zone(root.path(), "intel-rapl:1:0", "dram", "1500000");
        let names: Vec<_> = scrape(root.path(), false).iter().map(|f| f.name.clone()).collect();
        assert_eq!(names, ["node_rapl_dram_joules", "node_rapl_package_joules"]);
        let by_zone = scrape(root.path(), true);
        assert_eq!(by_zone.len(), 1);
        let family = &by_zone[0];
        assert_eq!((family.name.as_str(), family.help.as_str()), ("node_rapl_joules", "Current RAPL value in joules"));
        let series: Vec<(String, String, String, f64)> = family
            .samples
            .iter()
            .map(|s| {
                let label = |n| s.labels.get(n).unwrap_or_default().to_owned();
                (
                    label("rapl_zone"),
                    label("index"),
                    label("path").rsplit('/').next().unwrap_or_default().to_owned(),
                    s.value,
                )
            })
            .collect();
        // Two zones named `dram` are told apart by their order.
        assert_eq!(
            series,
            [
                ("package".into(), "0".into(), "intel-rapl:0".into(), 2.0),
                ("dram".into(), "0".into(), "intel-rapl:0:0".into(), 1.0),
                ("package".into(), "1".into(), "intel-rapl:1".into(), 3.5),
                ("dram".into(), "1".into(), "intel-rapl:1:0".into(), 1.5),
            ]
        );
    }

    #[test]
    fn no_powercap_class_is_no_data() {
        let root = tempfile::tempdir().unwrap();
        let config = NodeConfig { sysfs: root.path().to_owned(), ..NodeConfig::default() };
        let mut out = Vec::new();
        assert!(matches!(build(&config).unwrap().update(&mut out), Err(CollectorError::NoData { .. })));
    }
}
