//! `meminfo`: one gauge per `/proc/meminfo` line, `node_memory_<Field>[_bytes]`.

use std::path::PathBuf;

use sonde_instrument::{MetricFamily, MetricType};

use super::read::{parse_error, parse_file, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::meminfo;

#[derive(Debug)]
struct Meminfo {
    path: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Meminfo { path: config.proc_path("meminfo") }))
}

/// `Active(anon)` becomes `Active_anon`, as node_exporter names it.
fn field_name(raw: &str, bytes: bool) -> String {
    let mut name = String::with_capacity(raw.len() + 6);
    match raw.split_once('(') {
        Some((head, rest)) => {
            name.push_str(head);
            name.push('_');
            name.push_str(rest.trim_end_matches(')'));
        }
        None => name.push_str(raw),
    }
    if bytes {
        name.push_str("_bytes");
    }
    name
}

impl ScrapeCollector for Meminfo {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let families = parse_file(&self.path, |text| {
            let entries = meminfo::parse(text)?;
            Ok(entries
                .iter()
                .map(|e| {
                    let field = field_name(e.name, e.bytes);
                    let help = format!("Memory information field {field}.");
                    single(&format!("node_memory_{field}"), &help, MetricType::Gauge, e.value)
                })
                .collect::<Vec<_>>())
        })?;
        if families.is_empty() {
            return Err(parse_error(&self.path, crate::procfs::ParseError::new("no fields")));
        }
        out.extend(families);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fields_like_node_exporter() {
        assert_eq!(field_name("Active(anon)", true), "Active_anon_bytes");
        assert_eq!(field_name("HugePages_Total", false), "HugePages_Total");
        assert_eq!(field_name("MemTotal", true), "MemTotal_bytes");
    }
}
