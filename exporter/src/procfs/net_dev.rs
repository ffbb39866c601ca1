//! `/proc/net/dev`.

use super::{ParseError, parse_u64};

/// The names of the 16 counters of a line, in file order, as node_exporter
/// names them (`receive_bytes` … `transmit_compressed`).
pub const FIELD_NAMES: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// One interface's counters, borrowed from the file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetDev<'a> {
    /// Interface name.
    pub name: &'a str,
    /// Counters in the order of [`FIELD_NAMES`].
    pub values: [u64; 16],
}

/// Parses `/proc/net/dev` (two header lines, then one line per interface).
pub fn parse(text: &str) -> Result<Vec<NetDev<'_>>, ParseError> {
    let mut devices = Vec::new();
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        // Old kernels glue large counters to the colon (`eth0:123`).
        let (name, rest) = line.split_once(':').ok_or_else(|| ParseError::new(format!("invalid line {line:?}")))?;
        let mut dev = NetDev { name: name.trim(), values: [0; 16] };
        let mut count = 0;
        for field in rest.split_ascii_whitespace() {
            let slot =
                dev.values.get_mut(count).ok_or_else(|| ParseError::new(format!("too many fields in {line:?}")))?;
            *slot = parse_u64(field, "net/dev counter")?;
            count += 1;
        }
        if count != 16 {
            return Err(ParseError::new(format!("expected 16 counters in {line:?}")));
        }
        devices.push(dev);
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   65554      62    0    0    0     0          0         0    65554      62    0    0    0     0       0          0
  eth0: 192099027    6199    0    0    0     0          0         0   412166    3746    0    0    0     0       0          0
docker0:       0       0    0    0    0     0          0         0        0       0    0    2    0     0       0          0
";

    #[test]
    fn parses_a_real_file() {
        let devs = parse(NET_DEV).unwrap();
        assert_eq!(devs.len(), 3);
        assert_eq!(devs[1].name, "eth0");
        assert_eq!(devs[1].values[0], 192099027);
        assert_eq!(devs[1].values[9], 3746);
        assert_eq!(devs[2].name, "docker0");
        assert_eq!(devs[2].values[11], 2);
    }

    #[test]
    fn reads_counters_glued_to_the_name() {
        let text = "h\nh\neth0:123 1 0 0 0 0 0 0 4 1 0 0 0 0 0 0\n";
        assert_eq!(parse(text).unwrap()[0].values[0], 123);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse("h\nh\neth0 1 2\n").is_err());
        assert!(parse("h\nh\neth0: 1 2 3\n").is_err());
        assert!(parse("h\nh\neth0: 1 0 0 0 0 0 0 0 1 0 0 0 0 0 0 x\n").is_err());
    }
}
