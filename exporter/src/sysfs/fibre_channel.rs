//! `/sys/class/fc_host/<host>/`: a Fibre Channel host adapter's port
//! (text attributes) and its `statistics/` counters (hexadecimal).

use super::parse_go_uint;
use crate::procfs::ParseError;

/// The text attributes of `node_fibrechannel_info`, each with its label,
/// in the order node_exporter writes labels (`fc_host` goes between
/// `fabric_name` and `port_id`).
pub const INFO_ATTRIBUTES: [&str; 10] = [
    "dev_loss_tmo",
    "fabric_name",
    "port_id",
    "port_name",
    "port_state",
    "port_type",
    "speed",
    "supported_classes",
    "supported_speeds",
    "symbolic_name",
];

/// The counters: the file under `statistics/`, the metric it becomes
/// (without `node_fibrechannel_` and `_total`) and its help.
pub const COUNTERS: [(&str, &str, &str); 14] = [
    ("dumped_frames", "dumped_frames", "Number of dumped frames"),
    ("error_frames", "error_frames", "Number of errors in frames"),
    ("fcp_packet_aborts", "fcp_packet_aborts", "Number of aborted packets"),
    ("invalid_crc_count", "invalid_crc", "Invalid Cyclic Redundancy Check count"),
    ("invalid_tx_word_count", "invalid_tx_words", "Number of invalid words transmitted by host port"),
    ("link_failure_count", "link_failure", "Number of times the host port link has failed"),
    ("loss_of_signal_count", "loss_of_signal", "Number of times signal has been lost"),
    ("loss_of_sync_count", "loss_of_sync", "Number of failures on either bit or transmission word boundaries"),
    ("nos_count", "nos", "Number Not_Operational Primitive Sequence received by host port"),
    ("rx_frames", "rx_frames", "Number of frames received"),
    ("rx_words", "rx_words", "Number of words received by host port"),
    ("seconds_since_last_reset", "seconds_since_last_reset", "Number of seconds since last host port reset"),
    ("tx_frames", "tx_frames", "Number of frames transmitted by host port"),
    ("tx_words", "tx_words", "Number of words transmitted by host port"),
];

/// An info attribute's label value: the names and the port id are written
/// `0x…`, which node_exporter drops (leaving `0` of `0x0`).
pub fn info_value(attribute: &str, text: &str) -> String {
    let hex = matches!(attribute, "fabric_name" | "node_name" | "port_id" | "port_name");
    if hex && text.len() > 2 { text.get(2..).unwrap_or(text).to_owned() } else { text.to_owned() }
}

/// A counter; `None` when the adapter's firmware does not keep it (it
/// writes all ones, `0xffffffffffffffff`), which node_exporter leaves out.
pub fn parse_counter(text: &str) -> Result<Option<u64>, ParseError> {
    let text = text.trim();
    let value = parse_go_uint(text).ok_or_else(|| ParseError::new(format!("invalid counter {text:?}")))?;
    Ok((value != u64::MAX).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_upstreams_host0() {
        assert_eq!(info_value("port_name", "0x1000e0071bce95f2"), "1000e0071bce95f2");
        assert_eq!(info_value("fabric_name", "0x0"), "0");
        assert_eq!(info_value("port_id", "0x000002"), "000002");
        assert_eq!(info_value("speed", "16 Gbit"), "16 Gbit");
        assert_eq!(parse_counter("0x13\n").unwrap(), Some(19));
        assert_eq!(parse_counter("0x0").unwrap(), Some(0));
        assert_eq!(parse_counter("0xffffffffffffffff").unwrap(), None);
        assert!(parse_counter("lots").is_err());
    }

    #[test]
    fn info_labels_are_in_name_order_around_fc_host() {
        let mut labels = INFO_ATTRIBUTES.to_vec();
        labels.push("fc_host");
        labels.sort_unstable();
        assert_eq!(labels[2], "fc_host");
    }
}
