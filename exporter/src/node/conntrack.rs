//! `conntrack`: `node_nf_conntrack_*` (nothing when the module is not loaded).

use std::path::PathBuf;

use sonde_instrument::{MetricFamily, MetricType};

use super::read::{io_error, not_found, parse_error, read_u64, single, with_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::conntrack;

#[derive(Debug)]
struct Conntrack {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Conntrack {
        count: config.proc_path("sys/net/netfilter/nf_conntrack_count"),
        max: config.proc_path("sys/net/netfilter/nf_conntrack_max"),
        stat: config.proc_path("net/stat/nf_conntrack"),
    }))
}

/// A missing file means the conntrack module is not loaded: no data.
fn no_data(err: CollectorError) -> CollectorError {
    match err {
        CollectorError::Io { path, source } if not_found(&source) => CollectorError::NoData { path },
        other => other,
    }
}

impl ScrapeCollector for Conntrack {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let count = read_u64(&self.count).map_err(no_data)?;
        out.push(single(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            MetricType::Gauge,
            count as f64,
        ));
        let max = read_u64(&self.max).map_err(no_data)?;
        out.push(single(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            MetricType::Gauge,
            max as f64,
        ));
        let stat = with_file(&self.stat, conntrack::parse)
            .map_err(|e| no_data(io_error(&self.stat, e)))?
            .map_err(|e| parse_error(&self.stat, e))?;
        let stats = [
            ("found", "Number of searched entries which were successful.", stat.found),
            ("invalid", "Number of packets seen which can not be tracked.", stat.invalid),
            ("ignore", "Number of packets seen which are already connected to a conntrack entry.", stat.ignore),
            ("insert", "Number of entries inserted into the list.", stat.insert),
            (
                "insert_failed",
                "Number of entries for which list insertion was attempted but failed.",
                stat.insert_failed,
            ),
            ("drop", "Number of packets dropped due to conntrack failure.", stat.drop),
            (
                "early_drop",
                "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
                stat.early_drop,
            ),
            (
                "search_restart",
                "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
                stat.search_restart,
            ),
        ];
        for (name, help, value) in stats {
            out.push(single(&format!("node_nf_conntrack_stat_{name}"), help, MetricType::Gauge, value as f64));
        }
        Ok(())
    }
}
