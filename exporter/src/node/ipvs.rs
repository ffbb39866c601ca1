//! `ipvs`: IPVS totals (`node_ipvs_{connections,incoming_packets,…}_total`)
//! from `/proc/net/ip_vs_stats` and each backend's connections and weight
//! (`node_ipvs_backend_*`) from `/proc/net/ip_vs`, labelled by
//! `--collector.ipvs.backend-labels`: backends that agree on those labels
//! are summed, as node_exporter 1.5.0 sums them.
//!
//! Without IPVS loaded there is no `ip_vs_stats`: one failed open,
//! reported as no data (success 0), as node_exporter does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{absent_is_no_data, parse_file, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::ipvs::{self, Backend};

/// The labels `--collector.ipvs.backend-labels` may name, in the order
/// they are written (by name, as node_exporter's client library writes them).
const BACKEND_LABELS: [&str; 6] =
    ["local_address", "local_mark", "local_port", "proto", "remote_address", "remote_port"];

/// `--collector.ipvs.backend-labels` default: all of them, in upstream's order.
pub const DEFAULT_IPVS_BACKEND_LABELS: &str = "local_address,local_port,remote_address,remote_port,proto,local_mark";

#[derive(Debug)]
struct Ipvs {
    stats: PathBuf,
    backends: PathBuf,
    /// The backend labels to report, in [`BACKEND_LABELS`] order.
    labels: Vec<&'static str>,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Ipvs {
        stats: config.proc_path("net/ip_vs_stats"),
        backends: config.proc_path("net/ip_vs"),
        labels: backend_labels(&config.ipvs_backend_labels)?,
    }))
}

/// The labels a comma-separated list names, in output order; a name that
/// is not a backend label is an error, as in node_exporter.
pub(crate) fn backend_labels(list: &str) -> Result<Vec<&'static str>, ConfigError> {
    let names: Vec<&str> = list.split(',').filter(|n| !n.is_empty()).collect();
    if let Some(unknown) = names.iter().find(|n| !BACKEND_LABELS.contains(n)) {
        return Err(ConfigError::Invalid {
            flag: "collector.ipvs.backend-labels",
            reason: format!("unknown IPVS backend label {unknown:?}"),
        });
    }
    Ok(BACKEND_LABELS.into_iter().filter(|l| names.contains(l)).collect())
}

fn label_value(backend: &Backend<'_>, label: &str) -> String {
    match label {
        "local_address" => backend.local_address.map(|a| a.to_string()).unwrap_or_default(),
        "local_mark" => backend.local_mark.to_owned(),
        "local_port" => backend.local_port.to_string(),
        "proto" => backend.proto.to_owned(),
        "remote_address" => backend.remote_address.to_string(),
        _ => backend.remote_port.to_string(),
    }
}

impl ScrapeCollector for Ipvs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let stats = parse_file(&self.stats, ipvs::parse_stats).map_err(absent_is_no_data)?;
        // (active, inactive, weight) per distinct set of label values.
        let sums = parse_file(&self.backends, |text| {
            let mut sums: BTreeMap<Vec<String>, (u64, u64, u64)> = BTreeMap::new();
            for backend in ipvs::parse_backends(text)? {
                let key = self.labels.iter().map(|l| label_value(&backend, l)).collect();
                let sum = sums.entry(key).or_default();
                // Saturating: the counts come from the kernel's text, which
                // this must not panic on however large.
                sum.0 = sum.0.saturating_add(backend.active_connections);
                sum.1 = sum.1.saturating_add(backend.inactive_connections);
                sum.2 = sum.2.saturating_add(backend.weight);
            }
            Ok(sums)
        })?;
        let counter = |name: &str, help: &str, value: u64| single(name, help, MetricType::Counter, value as f64);
        out.extend([
            counter("node_ipvs_connections", "The total number of connections made.", stats.connections),
            counter("node_ipvs_incoming_packets", "The total number of incoming packets.", stats.incoming_packets),
            counter("node_ipvs_outgoing_packets", "The total number of outgoing packets.", stats.outgoing_packets),
            counter("node_ipvs_incoming_bytes", "The total amount of incoming data.", stats.incoming_bytes),
            counter("node_ipvs_outgoing_bytes", "The total amount of outgoing data.", stats.outgoing_bytes),
        ]);
        let mut active = MetricFamily::gauge(
            "node_ipvs_backend_connections_active",
            "The current active connections by local and remote address.",
        );
        let mut inactive = MetricFamily::gauge(
            "node_ipvs_backend_connections_inactive",
            "The current inactive connections by local and remote address.",
        );
        let mut weight =
            MetricFamily::gauge("node_ipvs_backend_weight", "The current backend weight by local and remote address.");
        for (values, (active_sum, inactive_sum, weight_sum)) in sums {
            let labels = Labels::from_pairs(self.labels.iter().copied().zip(values));
            active.push(labels.clone(), active_sum as f64);
            inactive.push(labels.clone(), inactive_sum as f64);
            weight.push(labels, weight_sum as f64);
        }
        out.extend([active, inactive, weight].into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_labels_keep_output_order_and_refuse_unknown_names() {
        assert_eq!(backend_labels(DEFAULT_IPVS_BACKEND_LABELS).unwrap(), BACKEND_LABELS);
        assert_eq!(backend_labels("remote_port,local_port").unwrap(), ["local_port", "remote_port"]);
        assert_eq!(backend_labels("").unwrap(), Vec::<&str>::new());
        assert!(backend_labels("local_port,nope").is_err());
    }

    #[test]
    fn backends_agreeing_on_the_chosen_labels_are_summed() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("net");
        std::fs::create_dir(&net).unwrap();
        std::fs::write(net.join("ip_vs_stats"), "h\nh\n 1 2 3 4 5\n").unwrap();
        std::fs::write(
            net.join("ip_vs"),
            "TCP  C0A80016:0CEA wlc\n  -> C0A85216:0CEA Tunnel 100 248 2\n  -> C0A85318:0CEA Tunnel 50 10 1\n\
             UDP  C0A80016:0035 rr\n  -> C0A85216:0035 Route 1 3 0\n",
        )
        .unwrap();
        let mut config = NodeConfig { procfs: dir.path().to_owned(), ..NodeConfig::default() };
        config.ipvs_backend_labels = "local_port,proto".into();
        let collector = build(&config).unwrap();
        let mut out = Vec::new();
        collector.update(&mut out).unwrap();
        let weight = out.iter().find(|f| f.name == "node_ipvs_backend_weight").unwrap();
        let series: Vec<(Vec<(&str, &str)>, f64)> = weight
            .samples
            .iter()
            .map(|s| (s.labels.0.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect(), s.value))
            .collect();
        assert_eq!(
            series,
            [
                (vec![("local_port", "3306"), ("proto", "TCP")], 150.0),
                (vec![("local_port", "53"), ("proto", "UDP")], 1.0)
            ]
        );
        assert_eq!(out.iter().find(|f| f.name == "node_ipvs_incoming_bytes").unwrap().samples[0].value, 4.0);
    }
}
