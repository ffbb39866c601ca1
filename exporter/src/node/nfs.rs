//! `nfs`: the NFS client's RPC and procedure counters from
//! `/proc/net/rpc/nfs` (`node_nfs_*`), as node_exporter 1.5.0 reports them.
//!
//! Without the NFS client module there is no file: one failed open,
//! reported as no data (success 0), as node_exporter does.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{absent_is_no_data, parse_file, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::nfs_rpc::{self, CLIENT_V4_OPERATIONS, V2_PROCEDURES, V3_PROCEDURES};

#[derive(Debug)]
struct Nfs {
    path: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Nfs { path: config.proc_path("net/rpc/nfs") }))
}

impl ScrapeCollector for Nfs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let stats = parse_file(&self.path, nfs_rpc::parse_client).map_err(absent_is_no_data)?;
        let packets =
            MetricFamily::counter("node_nfs_packets", "Total NFSd network packets (sent+received) by protocol type.")
                .with_sample(Labels::new().with("protocol", "udp"), stats.network.udp as f64)
                .with_sample(Labels::new().with("protocol", "tcp"), stats.network.tcp as f64);
        let counter = |name: &str, help: &str, value: u64| single(name, help, MetricType::Counter, value as f64);
        let mut requests = MetricFamily::counter("node_nfs_requests", "Number of NFS procedures invoked.");
        let versions: [(&str, &[&str], &[u64]); 3] = [
            ("2", &V2_PROCEDURES, &stats.v2),
            ("3", &V3_PROCEDURES, &stats.v3),
            ("4", &CLIENT_V4_OPERATIONS, &stats.v4),
        ];
        for (proto, names, values) in versions {
            for (method, value) in names.iter().zip(values) {
                requests.push(Labels::new().with("method", *method).with("proto", proto), *value as f64);
            }
        }
        out.extend([
            packets,
            counter("node_nfs_connections", "Total number of NFSd TCP connections.", stats.network.tcp_connections),
            counter("node_nfs_rpcs", "Total number of RPCs performed.", stats.rpc_calls),
            counter(
                "node_nfs_rpc_retransmissions",
                "Number of RPC transmissions performed.",
                stats.rpc_retransmissions,
            ),
            counter(
                "node_nfs_rpc_authentication_refreshes",
                "Number of RPC authentication refreshes performed.",
                stats.rpc_auth_refreshes,
            ),
            requests,
        ]);
        Ok(())
    }
}
