//! `nfsd`: the NFS server's reply cache, I/O, thread, RPC and procedure
//! counters from `/proc/net/rpc/nfsd` (`node_nfsd_*`), as node_exporter
//! 1.5.0 reports them.
//!
//! Without the NFS server module there is no file: one failed open,
//! reported as no data (success 0), as node_exporter does.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{absent_is_no_data, parse_file, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::nfs_rpc::{self, SERVER_V4_OPERATIONS, V2_PROCEDURES, V3_PROCEDURES};

#[derive(Debug)]
struct Nfsd {
    path: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Nfsd { path: config.proc_path("net/rpc/nfsd") }))
}

impl ScrapeCollector for Nfsd {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let s = parse_file(&self.path, nfs_rpc::parse_server).map_err(absent_is_no_data)?;
        let counter = |name: &str, help: &str, value: u64| single(name, help, MetricType::Counter, value as f64);
        let gauge = |name: &str, help: &str, value: u64| single(name, help, MetricType::Gauge, value as f64);
        let packets =
            MetricFamily::counter("node_nfsd_packets", "Total NFSd network packets (sent+received) by protocol type.")
                .with_sample(Labels::new().with("proto", "udp"), s.network.udp as f64)
                .with_sample(Labels::new().with("proto", "tcp"), s.network.tcp as f64);
        let rpc_errors =
            MetricFamily::counter("node_nfsd_rpc_errors", "Total number of NFSd RPC errors by error type.")
                .with_sample(Labels::new().with("error", "fmt"), s.rpc_bad_format as f64)
                .with_sample(Labels::new().with("error", "auth"), s.rpc_bad_auth as f64)
                .with_sample(Labels::new().with("error", "cInt"), s.rpc_bad_client as f64);
        // The server's NFSv2 and v3 Null procedure is left out, as upstream
        // leaves it out.
        let mut requests =
            MetricFamily::counter("node_nfsd_requests", "Total number NFSd Requests by method and protocol.");
        let v2 = V2_PROCEDURES.iter().zip(&s.v2).skip(1).map(|(m, v)| ("2", *m, *v));
        let v3 = V3_PROCEDURES.iter().zip(&s.v3).skip(1).map(|(m, v)| ("3", *m, *v));
        let v4 = SERVER_V4_OPERATIONS.iter().zip(&s.v4_ops).filter_map(|(m, v)| m.map(|m| ("4", m, *v)));
        for (proto, method, value) in v2.chain(v3).chain(v4) {
            requests.push(Labels::new().with("method", method).with("proto", proto), value as f64);
        }
        out.extend([
            counter(
                "node_nfsd_reply_cache_hits",
                "Total number of NFSd Reply Cache hits (client lost server response).",
                s.reply_cache_hits,
            ),
            counter(
                "node_nfsd_reply_cache_misses",
                "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
                s.reply_cache_misses,
            ),
            counter(
                "node_nfsd_reply_cache_nocache",
                "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
                s.reply_cache_nocache,
            ),
            counter("node_nfsd_file_handles_stale", "Total number of NFSd stale file handles", s.file_handles_stale),
            counter("node_nfsd_disk_bytes_read", "Total NFSd bytes read.", s.bytes_read),
            counter("node_nfsd_disk_bytes_written", "Total NFSd bytes written.", s.bytes_written),
            gauge("node_nfsd_server_threads", "Total number of NFSd kernel threads that are running.", s.threads),
            gauge(
                "node_nfsd_read_ahead_cache_size_blocks",
                "How large the read ahead cache is in blocks.",
                s.read_ahead_cache_size,
            ),
            counter(
                "node_nfsd_read_ahead_cache_not_found",
                "Total number of NFSd read ahead cache not found.",
                s.read_ahead_cache_not_found,
            ),
            packets,
            counter("node_nfsd_connections", "Total number of NFSd TCP connections.", s.network.tcp_connections),
            rpc_errors,
            counter("node_nfsd_server_rpcs", "Total number of NFSd RPCs.", s.rpc_calls),
            requests,
        ]);
        Ok(())
    }
}
