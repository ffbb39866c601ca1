//! Listen addresses written the way Go programs take them (`:9097`,
//! `127.0.0.1:9097`, `[::1]:9097`, `localhost:9097`).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use tokio::net::TcpListener;

/// Where the HTTP listener binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:PORT`: every interface, IPv6 and IPv4.
    AllInterfaces(u16),
    /// A literal IP address and port.
    Socket(SocketAddr),
    /// A host name resolved at bind time, and a port.
    Host {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

/// Why a listen address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenAddressError {
    /// No `:PORT` at the end.
    #[error("missing port in address {0:?} (expected HOST:PORT or :PORT)")]
    MissingPort(String),
    /// The port is not a number in 0..=65535.
    #[error("invalid port {port:?} in address {address:?}")]
    InvalidPort {
        /// The whole address.
        address: String,
        /// The part after the last colon.
        port: String,
    },
    /// An IPv6 address without brackets.
    #[error("IPv6 address {0:?} needs brackets, e.g. [::1]:9097")]
    BareIpv6(String),
}

impl FromStr for ListenAddress {
    type Err = ListenAddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(socket) = s.parse::<SocketAddr>() {
            return Ok(ListenAddress::Socket(socket));
        }
        let Some((host, port_text)) = s.rsplit_once(':') else {
            return Err(ListenAddressError::MissingPort(s.to_owned()));
        };
        if host.contains(':') {
            return Err(ListenAddressError::BareIpv6(s.to_owned()));
        }
        let port = port_text
            .parse::<u16>()
            .map_err(|_| ListenAddressError::InvalidPort { address: s.to_owned(), port: port_text.to_owned() })?;
        if host.is_empty() {
            Ok(ListenAddress::AllInterfaces(port))
        } else {
            Ok(ListenAddress::Host { host: host.to_owned(), port })
        }
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::AllInterfaces(port) => write!(f, ":{port}"),
            ListenAddress::Socket(socket) => write!(f, "{socket}"),
            ListenAddress::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl ListenAddress {
    /// The port (0: any free port).
    pub fn port(&self) -> u16 {
        match self {
            ListenAddress::AllInterfaces(port) | ListenAddress::Host { port, .. } => *port,
            ListenAddress::Socket(socket) => socket.port(),
        }
    }

    /// Binds a TCP listener on this address.
    pub async fn bind(&self) -> io::Result<TcpListener> {
        match self {
            ListenAddress::AllInterfaces(port) => {
                // `[::]` is dual-stack on Linux by default, which is what Go
                // does for `:PORT`; hosts with IPv6 disabled refuse it, so
                // fall back to IPv4 unless the port itself is the problem.
                match TcpListener::bind((Ipv6Addr::UNSPECIFIED, *port)).await {
                    Ok(listener) => Ok(listener),
                    Err(err) if matches!(err.kind(), io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied) => {
                        Err(err)
                    }
                    Err(_) => TcpListener::bind((Ipv4Addr::UNSPECIFIED, *port)).await,
                }
            }
            ListenAddress::Socket(socket) => TcpListener::bind(socket).await,
            ListenAddress::Host { host, port } => TcpListener::bind((host.as_str(), *port)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_addresses_parse() {
        assert_eq!(":9097".parse(), Ok(ListenAddress::AllInterfaces(9097)));
        assert_eq!("127.0.0.1:0".parse(), Ok(ListenAddress::Socket(SocketAddr::from(([127, 0, 0, 1], 0)))));
        assert_eq!("[::1]:9097".parse(), Ok(ListenAddress::Socket("[::1]:9097".parse().unwrap())));
        assert_eq!("localhost:9097".parse(), Ok(ListenAddress::Host { host: "localhost".into(), port: 9097 }));
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        assert!(matches!("9097".parse::<ListenAddress>(), Err(ListenAddressError::MissingPort(_))));
        assert!(matches!(":http".parse::<ListenAddress>(), Err(ListenAddressError::InvalidPort { .. })));
        assert!(matches!(":70000".parse::<ListenAddress>(), Err(ListenAddressError::InvalidPort { .. })));
        assert!(matches!("::1:9097".parse::<ListenAddress>(), Err(ListenAddressError::BareIpv6(_))));
    }

    #[test]
    fn the_port_is_the_last_part() {
        for (text, port) in [(":9097", 9097), ("127.0.0.1:0", 0), ("[::1]:80", 80), ("localhost:9100", 9100)] {
            assert_eq!(text.parse::<ListenAddress>().unwrap().port(), port, "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [":9097", "127.0.0.1:9097", "[::1]:9097", "localhost:9097"] {
            assert_eq!(text.parse::<ListenAddress>().unwrap().to_string(), text);
        }
    }
}
