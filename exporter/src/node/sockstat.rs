//! `sockstat`: `node_sockstat_*` from `/proc/net/sockstat` and `sockstat6`.

use std::path::{Path, PathBuf};

use sonde_instrument::{MetricFamily, MetricType};

use super::read::{io_error, not_found, parse_error, single, with_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::sockstat;

/// The states node_exporter knows, in the order it emits them.
const STATES: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];

#[derive(Debug)]
struct Sockstat {
    v4: PathBuf,
    v6: PathBuf,
    page_size: f64,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Sockstat {
        v4: config.proc_path("net/sockstat"),
        v6: config.proc_path("net/sockstat6"),
        page_size: rustix::param::page_size() as f64,
    }))
}

fn gauge(protocol: &str, state: &str, value: f64) -> MetricFamily {
    single(
        &format!("node_sockstat_{protocol}_{state}"),
        &format!("Number of {protocol} sockets in state {state}."),
        MetricType::Gauge,
        value,
    )
}

impl Sockstat {
    fn read(&self, path: &Path, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let parsed = with_file(path, |text| {
            let stat = sockstat::parse(text)?;
            if let Some(used) = stat.sockets_used {
                out.push(single(
                    "node_sockstat_sockets_used",
                    "Number of IPv4 sockets in use.",
                    MetricType::Gauge,
                    used as f64,
                ));
            }
            for proto in &stat.protocols {
                for state in STATES {
                    let Some(&(_, value)) = proto.fields.iter().find(|(k, _)| *k == state) else {
                        continue;
                    };
                    out.push(gauge(proto.protocol, state, value as f64));
                }
                // `mem` is in pages; node_exporter adds it in bytes too.
                if let Some(&(_, pages)) = proto.fields.iter().find(|(k, _)| *k == "mem") {
                    out.push(gauge(proto.protocol, "mem_bytes", pages as f64 * self.page_size));
                }
            }
            Ok(())
        });
        match parsed {
            Ok(result) => result.map_err(|e| parse_error(path, e)),
            Err(e) if not_found(&e) => {
                tracing::debug!(path = %path.display(), "sockstat statistics not found, skipping");
                Ok(())
            }
            Err(e) => Err(io_error(path, e)),
        }
    }
}

impl ScrapeCollector for Sockstat {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        self.read(&self.v4, out)?;
        self.read(&self.v6, out)
    }
}
