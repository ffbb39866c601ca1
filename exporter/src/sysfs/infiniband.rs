//! `/sys/class/infiniband/<device>/`: an InfiniBand (or RDMA) adapter
//! (`fw_ver`, `board_id`, `hca_type`) and its ports (`ports/<n>/state`,
//! `phys_state`, `rate`, and the counters under `counters/` and, before
//! Linux 4.5, `counters_ext/`).

use super::parse_go_uint;
use crate::procfs::ParseError;

/// One counter: the directory and file it is read from, the metric it
/// becomes (without `node_infiniband_` and `_total`), whether the value
/// counts 4-byte words (the data counters, which node_exporter multiplies
/// by 4 into bytes), and its help.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    /// `counters` or `counters_ext`.
    pub dir: &'static str,
    /// The file.
    pub file: &'static str,
    /// The metric name, without prefix and `_total`.
    pub metric: &'static str,
    /// The value is in 4-byte words.
    pub words: bool,
    /// The help text.
    pub help: &'static str,
}

const fn counter(dir: &'static str, file: &'static str, metric: &'static str, help: &'static str) -> Counter {
    Counter { dir, file, metric, words: false, help }
}

const fn words(dir: &'static str, file: &'static str, metric: &'static str, help: &'static str) -> Counter {
    Counter { dir, file, metric, words: true, help }
}

/// The counters node_exporter 1.5.0 reports.
pub const COUNTERS: [Counter; 24] = [
    counter(
        "counters_ext",
        "port_multicast_rcv_packets",
        "legacy_multicast_packets_received",
        "Number of multicast packets received",
    ),
    counter(
        "counters_ext",
        "port_multicast_xmit_packets",
        "legacy_multicast_packets_transmitted",
        "Number of multicast packets transmitted",
    ),
    words(
        "counters_ext",
        "port_rcv_data_64",
        "legacy_data_received_bytes",
        "Number of data octets received on all links",
    ),
    counter(
        "counters_ext",
        "port_rcv_packets_64",
        "legacy_packets_received",
        "Number of data packets received on all links",
    ),
    counter(
        "counters_ext",
        "port_unicast_rcv_packets",
        "legacy_unicast_packets_received",
        "Number of unicast packets received",
    ),
    counter(
        "counters_ext",
        "port_unicast_xmit_packets",
        "legacy_unicast_packets_transmitted",
        "Number of unicast packets transmitted",
    ),
    words(
        "counters_ext",
        "port_xmit_data_64",
        "legacy_data_transmitted_bytes",
        "Number of data octets transmitted on all links",
    ),
    // Upstream's help says "received" here too.
    counter(
        "counters_ext",
        "port_xmit_packets_64",
        "legacy_packets_transmitted",
        "Number of data packets received on all links",
    ),
    counter(
        "counters",
        "link_downed",
        "link_downed",
        "Number of times the link failed to recover from an error state and went down",
    ),
    counter(
        "counters",
        "link_error_recovery",
        "link_error_recovery",
        "Number of times the link successfully recovered from an error state",
    ),
    counter(
        "counters",
        "multicast_rcv_packets",
        "multicast_packets_received",
        "Number of multicast packets received (including errors)",
    ),
    counter(
        "counters",
        "multicast_xmit_packets",
        "multicast_packets_transmitted",
        "Number of multicast packets transmitted (including errors)",
    ),
    counter(
        "counters",
        "port_rcv_constraint_errors",
        "port_constraint_errors_received",
        "Number of packets received on the switch physical port that are discarded",
    ),
    counter(
        "counters",
        "port_xmit_constraint_errors",
        "port_constraint_errors_transmitted",
        "Number of packets not transmitted from the switch physical port",
    ),
    words("counters", "port_rcv_data", "port_data_received_bytes", "Number of data octets received on all links"),
    words(
        "counters",
        "port_xmit_data",
        "port_data_transmitted_bytes",
        "Number of data octets transmitted on all links",
    ),
    counter(
        "counters",
        "port_rcv_discards",
        "port_discards_received",
        "Number of inbound packets discarded by the port because the port is down or congested",
    ),
    counter(
        "counters",
        "port_xmit_discards",
        "port_discards_transmitted",
        "Number of outbound packets discarded by the port because the port is down or congested",
    ),
    counter(
        "counters",
        "port_rcv_errors",
        "port_errors_received",
        "Number of packets containing an error that were received on this port",
    ),
    counter(
        "counters",
        "port_rcv_packets",
        "port_packets_received",
        "Number of packets received on all VLs by this port (including errors)",
    ),
    counter(
        "counters",
        "port_xmit_packets",
        "port_packets_transmitted",
        "Number of packets transmitted on all VLs from this port (including errors)",
    ),
    counter(
        "counters",
        "port_xmit_wait",
        "port_transmit_wait",
        "Number of ticks during which the port had data to transmit but no data was sent during the entire tick",
    ),
    counter(
        "counters",
        "unicast_rcv_packets",
        "unicast_packets_received",
        "Number of unicast packets received (including errors)",
    ),
    counter(
        "counters",
        "unicast_xmit_packets",
        "unicast_packets_transmitted",
        "Number of unicast packets transmitted (including errors)",
    ),
];

/// Help of `node_infiniband_state_id`.
pub const STATE_HELP: &str =
    "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)";
/// Help of `node_infiniband_physical_state_id`.
pub const PHYSICAL_STATE_HELP: &str = "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)";
/// Help of `node_infiniband_rate_bytes_per_second`.
pub const RATE_HELP: &str = "Maximum signal transfer rate";

/// A port's `state` or `phys_state` (`4: ACTIVE`): its number.
pub fn parse_state(text: &str) -> Result<u32, ParseError> {
    let invalid = || ParseError::new(format!("invalid port state {text:?}"));
    let mut parts = text.split(':');
    let (Some(id), Some(_name), None) = (parts.next(), parts.next(), parts.next()) else { return Err(invalid()) };
    id.trim().parse().map_err(|_| invalid())
}

/// A port's `rate` (`40 Gb/sec (4X QDR)`) in bytes per second. The number
/// is read at single precision, as node_exporter reads it.
pub fn parse_rate(text: &str) -> Result<u64, ParseError> {
    let invalid = || ParseError::new(format!("invalid port rate {text:?}"));
    let (number, _unit) = text.split_once(' ').ok_or_else(invalid)?;
    let gigabits: f32 = number.trim().parse().map_err(|_| invalid())?;
    // Go's `uint64(float)` truncates; Rust's `as` does too, and saturates
    // where Go's result is unspecified.
    Ok((f64::from(gigabits) * 125_000_000.0) as u64)
}

/// A counter's value; `None` for a port without a performance management
/// agent, whose counters read `N/A (no PMA)`.
pub fn parse_counter(counter: &Counter, text: &str) -> Result<Option<u64>, ParseError> {
    let text = text.trim();
    match parse_go_uint(text) {
        Some(value) if counter.words => Ok(Some(value.wrapping_mul(4))),
        Some(value) => Ok(Some(value)),
        None if text.contains("N/A (no PMA)") => Ok(None),
        None => Err(ParseError::new(format!("invalid counter {text:?}"))),
    }
}

/// A port directory's name (`1`) as its number.
pub fn port_number(entry: &str) -> Option<u32> {
    entry.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_file(file: &str) -> Counter {
        COUNTERS.iter().copied().find(|c| c.file == file).unwrap()
    }

    #[test]
    fn values_of_upstreams_mlx4_0_and_i40iw0() {
        assert_eq!(parse_state("4: ACTIVE\n").unwrap(), 4);
        assert_eq!(parse_state("5: LinkUp").unwrap(), 5);
        assert!(parse_state("ACTIVE").is_err());
        assert!(parse_state("4: A: B").is_err());
        assert_eq!(parse_rate("40 Gb/sec (4X QDR)\n").unwrap(), 5_000_000_000);
        assert_eq!(parse_rate("10 Gb/sec (4X)").unwrap(), 1_250_000_000);
        assert_eq!(parse_rate("2.5 Gb/sec (1X SDR)").unwrap(), 312_500_000);
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_counter(&by_file("port_rcv_data"), "4631917\n").unwrap(), Some(18_527_668));
        assert_eq!(parse_counter(&by_file("port_rcv_data_64"), "4631917").unwrap(), Some(18_527_668));
        assert_eq!(parse_counter(&by_file("port_xmit_wait"), "4294967295").unwrap(), Some(4_294_967_295));
        assert_eq!(parse_counter(&by_file("link_downed"), "N/A (no PMA)\n").unwrap(), None);
        assert!(parse_counter(&by_file("link_downed"), "many").is_err());
        assert_eq!(port_number("2"), Some(2));
        assert_eq!(port_number("x"), None);
    }

    #[test]
    fn one_counter_per_metric() {
        let mut metrics: Vec<&str> = COUNTERS.iter().map(|c| c.metric).collect();
        metrics.sort_unstable();
        metrics.dedup();
        assert_eq!(metrics.len(), COUNTERS.len());
    }
}
