//! `/proc/net/ip_vs_stats` (IPVS totals) and `/proc/net/ip_vs` (each
//! virtual service and its real servers, the "backends").
//!
//! Both print numbers in hexadecimal except the backends' weight and
//! connection counts; IPv4 addresses are 8 hexadecimal digits, IPv6 ones
//! `[2001:db8::1]` (32 digits in old kernels), ports 4 digits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{ParseError, parse_u64};

/// `/proc/net/ip_vs_stats`: totals since IPVS was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpvsStats {
    /// Connections scheduled.
    pub connections: u64,
    /// Packets in.
    pub incoming_packets: u64,
    /// Packets out.
    pub outgoing_packets: u64,
    /// Bytes in.
    pub incoming_bytes: u64,
    /// Bytes out.
    pub outgoing_bytes: u64,
}

/// One real server of one virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend<'a> {
    /// `TCP`, `UDP`, `SCTP` or `FWM` (a firewall-mark service).
    pub proto: &'a str,
    /// The virtual address; none for a firewall-mark service.
    pub local_address: Option<IpAddr>,
    /// The virtual port; 0 for a firewall-mark service.
    pub local_port: u16,
    /// The firewall mark, as written (hexadecimal); empty for an address.
    pub local_mark: &'a str,
    /// The real server's address.
    pub remote_address: IpAddr,
    /// The real server's port.
    pub remote_port: u16,
    /// Its weight.
    pub weight: u64,
    /// Its active connections.
    pub active_connections: u64,
    /// Its inactive connections.
    pub inactive_connections: u64,
}

fn hex(field: &str, what: &str) -> Result<u64, ParseError> {
    u64::from_str_radix(field, 16).map_err(|_| ParseError::new(format!("invalid hexadecimal {what} {field:?}")))
}

/// Parses `ip_vs_stats`: the totals are the third line.
pub fn parse_stats(text: &str) -> Result<IpvsStats, ParseError> {
    let line = text.lines().nth(2).ok_or_else(|| ParseError::new("ip_vs_stats has fewer than 3 lines"))?;
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let [connections, incoming_packets, outgoing_packets, incoming_bytes, outgoing_bytes] = fields[..] else {
        return Err(ParseError::new(format!("{} totals in {line:?}, 5 expected", fields.len())));
    };
    Ok(IpvsStats {
        connections: hex(connections, "connections")?,
        incoming_packets: hex(incoming_packets, "incoming packets")?,
        outgoing_packets: hex(outgoing_packets, "outgoing packets")?,
        incoming_bytes: hex(incoming_bytes, "incoming bytes")?,
        outgoing_bytes: hex(outgoing_bytes, "outgoing bytes")?,
    })
}

/// `ADDR:PORT` with the address as 8 or 32 hexadecimal digits or in
/// brackets (`[2001:db8::1]:0050`), the port in hexadecimal.
fn address_port(field: &str) -> Result<(IpAddr, u16), ParseError> {
    let invalid = || ParseError::new(format!("invalid address:port {field:?}"));
    let (address, port) = field.rsplit_once(':').ok_or_else(invalid)?;
    let port = u16::from_str_radix(port, 16).map_err(|_| invalid())?;
    let address = if let Some(v6) = address.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        IpAddr::V6(v6.parse::<Ipv6Addr>().map_err(|_| invalid())?)
    } else if address.len() == 8 {
        IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(address, 16).map_err(|_| invalid())?))
    } else if address.len() == 32 {
        IpAddr::V6(Ipv6Addr::from(u128::from_str_radix(address, 16).map_err(|_| invalid())?))
    } else {
        return Err(invalid());
    };
    // An IPv4-mapped IPv6 address is written as IPv4, as Go writes it.
    Ok((address.to_canonical(), port))
}

/// Parses `ip_vs`: a service line (`TCP  C0A80016:0CEA wlc`, or
/// `FWM  10001000 wlc`) followed by its backends
/// (`  -> C0A85216:0CEA      Tunnel  100    248        2`).
pub fn parse_backends(text: &str) -> Result<Vec<Backend<'_>>, ParseError> {
    let mut backends = Vec::new();
    // The service the backend lines belong to: (proto, address, port, mark).
    let mut service: Option<(&str, Option<IpAddr>, u16, &str)> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields[..] {
            ["->", "RemoteAddress:Port", ..] => {}
            ["->", remote, _forward, weight, active, inactive, ..] => {
                let Some((proto, local_address, local_port, local_mark)) = service else {
                    return Err(ParseError::new(format!("backend before any service: {line:?}")));
                };
                let (remote_address, remote_port) = address_port(remote)?;
                backends.push(Backend {
                    proto,
                    local_address,
                    local_port,
                    local_mark,
                    remote_address,
                    remote_port,
                    weight: parse_u64(weight, "weight")?,
                    active_connections: parse_u64(active, "active connections")?,
                    inactive_connections: parse_u64(inactive, "inactive connections")?,
                });
            }
            ["FWM", mark, ..] => service = Some(("FWM", None, 0, mark)),
            [proto @ ("TCP" | "UDP" | "SCTP"), local, ..] => {
                let (address, port) = address_port(local)?;
                service = Some((proto, Some(address), port, ""));
            }
            // The header lines (`IP Virtual Server …`, `Prot …`).
            _ => {}
        }
    }
    Ok(backends)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str =
        include_str!("../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/net/ip_vs_stats");
    const BACKENDS: &str =
        include_str!("../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/net/ip_vs");

    #[test]
    fn parses_upstreams_stats_fixture() {
        assert_eq!(
            parse_stats(STATS).unwrap(),
            IpvsStats {
                connections: 23_765_872,
                incoming_packets: 3_811_989_221,
                outgoing_packets: 0,
                incoming_bytes: 89_991_519_156_915,
                outgoing_bytes: 0,
            }
        );
        assert!(parse_stats("a\nb\n").is_err());
        assert!(parse_stats("a\nb\n 1 2 3\n").is_err());
        assert!(parse_stats("a\nb\n 1 2 3 4 G\n").is_err());
    }

    #[test]
    fn parses_upstreams_backends_fixture() {
        let backends = parse_backends(BACKENDS).unwrap();
        assert_eq!(backends.len(), 10);
        assert_eq!(
            backends[0],
            Backend {
                proto: "TCP",
                local_address: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 22))),
                local_port: 3306,
                local_mark: "",
                remote_address: IpAddr::V4(Ipv4Addr::new(192, 168, 82, 22)),
                remote_port: 3306,
                weight: 100,
                active_connections: 248,
                inactive_connections: 2,
            }
        );
        let fwm = &backends[9];
        assert_eq!((fwm.proto, fwm.local_address, fwm.local_port, fwm.local_mark), ("FWM", None, 0, "10001000"));
        assert_eq!(
            (fwm.remote_address.to_string(), fwm.weight, fwm.active_connections),
            ("192.168.49.32".into(), 100, 321)
        );
    }

    #[test]
    fn reads_ipv6_services_in_both_notations() {
        let text = "TCP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0050 rr\n  -> [2001:db8::2]:0050 Masq 1 2 3\n\
                    UDP  20010DB8000000000000000000000001:0035 rr\n  -> 00000000000000000000FFFF0A000001:0035 Route 1 0 0\n";
        let backends = parse_backends(text).unwrap();
        assert_eq!(backends[0].local_address.map(|a| a.to_string()).as_deref(), Some("2001:db8::1"));
        assert_eq!((backends[0].remote_address.to_string(), backends[0].remote_port), ("2001:db8::2".into(), 80));
        assert_eq!(backends[1].local_address.map(|a| a.to_string()).as_deref(), Some("2001:db8::1"));
        assert_eq!(backends[1].remote_address.to_string(), "10.0.0.1");
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse_backends("  -> C0A85216:0CEA Tunnel 100 248 2\n").is_err(), "no service yet");
        assert!(parse_backends("TCP C0A800:0CEA wlc\n").is_err());
        assert!(parse_backends("TCP C0A80016:0CEA wlc\n  -> C0A85216:0CEA Tunnel x 248 2\n").is_err());
        assert_eq!(parse_backends("IP Virtual Server version 1.2.1 (size=4096)\n").unwrap(), vec![]);
    }
}
