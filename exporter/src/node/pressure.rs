//! `pressure`: `node_pressure_*_seconds_total` from `/proc/pressure/*`.

use std::path::PathBuf;

use sonde_instrument::{MetricFamily, MetricType};

use super::read::{io_error, not_found, parse_error, single, with_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::pressure;

#[derive(Debug)]
struct Pressure {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Pressure { dir: config.proc_path("pressure") }))
}

/// Microseconds to seconds in two steps, as node_exporter computes it, so
/// both print the same digits.
fn seconds(micros: u64) -> f64 {
    micros as f64 / 1000.0 / 1000.0
}

impl ScrapeCollector for Pressure {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        for resource in ["cpu", "io", "memory"] {
            let path = self.dir.join(resource);
            let psi = match with_file(&path, pressure::parse) {
                Ok(parsed) => parsed.map_err(|e| parse_error(&path, e))?,
                Err(e) if not_found(&e) => {
                    tracing::debug!(
                        path = %path.display(),
                        "pressure information is unavailable, you need a Linux kernel >= 4.20 and/or CONFIG_PSI enabled for your kernel"
                    );
                    return Ok(());
                }
                Err(e) => return Err(io_error(&path, e)),
            };
            let (waiting_help, stalled_help) = match resource {
                "cpu" => ("Total time in seconds that processes have waited for CPU time", None),
                "io" => (
                    "Total time in seconds that processes have waited due to IO congestion",
                    Some("Total time in seconds no process could make progress due to IO congestion"),
                ),
                _ => (
                    "Total time in seconds that processes have waited for memory",
                    Some("Total time in seconds no process could make progress due to memory congestion"),
                ),
            };
            if let Some(some) = psi.some {
                out.push(single(
                    &format!("node_pressure_{resource}_waiting_seconds"),
                    waiting_help,
                    MetricType::Counter,
                    seconds(some.total),
                ));
            }
            if let (Some(help), Some(full)) = (stalled_help, psi.full) {
                out.push(single(
                    &format!("node_pressure_{resource}_stalled_seconds"),
                    help,
                    MetricType::Counter,
                    seconds(full.total),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_like_node_exporter() {
        assert_eq!(seconds(6_664_819), 6.6648190000000005);
        assert_eq!(seconds(15_528_930), 15.52893);
    }
}
