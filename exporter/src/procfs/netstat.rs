//! `/proc/net/netstat`, `/proc/net/snmp` (header/value line pairs) and
//! `/proc/net/snmp6` (one `Name value` pair a line).

use super::ParseError;

/// One statistic: protocol (`Tcp`, `TcpExt`, `Ip6`), field (`InSegs`) and
/// the value as the kernel wrote it (some are negative, e.g. `Tcp MaxConn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetStat<'a> {
    /// Protocol, without the colon.
    pub protocol: &'a str,
    /// Field name.
    pub name: &'a str,
    /// Value text.
    pub value: &'a str,
}

/// Parses `/proc/net/netstat` or `/proc/net/snmp`: for each protocol, a line
/// of names followed by a line of values, both prefixed with `Proto:`.
pub fn parse_pairs(text: &str) -> Result<Vec<NetStat<'_>>, ParseError> {
    let mut stats = Vec::with_capacity(256);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(names) = lines.next() {
        let values = lines.next().ok_or_else(|| ParseError::new(format!("no value line after {names:?}")))?;
        let mut names = names.split_ascii_whitespace();
        let mut values = values.split_ascii_whitespace();
        let (Some(proto_n), Some(proto_v)) = (names.next(), values.next()) else {
            return Err(ParseError::new("empty line"));
        };
        if proto_n != proto_v {
            return Err(ParseError::new(format!("protocol mismatch: {proto_n} and {proto_v}")));
        }
        let protocol = proto_n.strip_suffix(':').unwrap_or(proto_n);
        loop {
            match (names.next(), values.next()) {
                (Some(name), Some(value)) => stats.push(NetStat { protocol, name, value }),
                (None, None) => break,
                _ => {
                    return Err(ParseError::new(format!("field count mismatch for {protocol}")));
                }
            }
        }
    }
    Ok(stats)
}

/// Parses `/proc/net/snmp6`, splitting each name after its first `6`
/// (`Icmp6InMsgs` is protocol `Icmp6`, field `InMsgs`), as node_exporter does.
pub fn parse_snmp6(text: &str) -> Result<Vec<NetStat<'_>>, ParseError> {
    let mut stats = Vec::with_capacity(128);
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        // Lines without a `6` (none today) are not statistics node_exporter knows.
        let Some(six) = key.find('6') else { continue };
        let (protocol, name) = key.split_at(six + 1);
        stats.push(NetStat { protocol, name, value });
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 4929
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens
Tcp: 1 200 120000 -1 55
";

    #[test]
    fn parses_header_value_pairs() {
        let stats = parse_pairs(SNMP).unwrap();
        assert_eq!(stats.len(), 8);
        assert_eq!(stats[0], NetStat { protocol: "Ip", name: "Forwarding", value: "1" });
        assert_eq!(stats[6], NetStat { protocol: "Tcp", name: "MaxConn", value: "-1" });
    }

    #[test]
    fn rejects_mismatched_pairs() {
        assert!(parse_pairs("Ip: A B\nIp: 1\n").is_err());
        assert!(parse_pairs("Ip: A B\nTcp: 1 2\n").is_err());
        assert!(parse_pairs("Ip: A B\n").is_err());
    }

    #[test]
    fn splits_snmp6_names_after_the_six() {
        let text = "Ip6InReceives                   \t2\nIcmp6InMsgs 1\nUdpLite6InErrors 0\nIcmp6InType133 4\n";
        let stats = parse_snmp6(text).unwrap();
        assert_eq!(stats[0], NetStat { protocol: "Ip6", name: "InReceives", value: "2" });
        assert_eq!(stats[1], NetStat { protocol: "Icmp6", name: "InMsgs", value: "1" });
        assert_eq!(stats[2], NetStat { protocol: "UdpLite6", name: "InErrors", value: "0" });
        assert_eq!(stats[3].name, "InType133");
    }
}
