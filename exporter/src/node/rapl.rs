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
