//! `/proc/net/sockstat` and `/proc/net/sockstat6`.

use super::{ParseError, parse_u64};

/// One protocol line: `TCP: inuse 4 orphan 0 tw 0 alloc 4 mem 205`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockstatProtocol<'a> {
    /// Protocol name (`TCP`, `UDP6`, `FRAG`).
    pub protocol: &'a str,
    /// `(state, value)` pairs in file order.
    pub fields: Vec<(&'a str, u64)>,
}

/// The parsed content of a sockstat file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sockstat<'a> {
    /// `sockets: used N` (only in the IPv4 file).
    pub sockets_used: Option<u64>,
    /// Every other line.
    pub protocols: Vec<SockstatProtocol<'a>>,
}

/// Parses a sockstat file.
pub fn parse(text: &str) -> Result<Sockstat<'_>, ParseError> {
    let mut stat = Sockstat::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (protocol, rest) = line.split_once(':').ok_or_else(|| ParseError::new(format!("invalid line {line:?}")))?;
        let mut words = rest.split_ascii_whitespace();
        let mut fields = Vec::with_capacity(6);
        while let Some(key) = words.next() {
            let value = words.next().ok_or_else(|| ParseError::new(format!("odd number of fields in {line:?}")))?;
            fields.push((key, parse_u64(value, "sockstat value")?));
        }
        if protocol == "sockets" {
            stat.sockets_used = fields.iter().find(|(k, _)| *k == "used").map(|&(_, v)| v);
        } else {
            stat.protocols.push(SockstatProtocol { protocol, fields });
        }
    }
    Ok(stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_files() {
        let v4 = "sockets: used 36\nTCP: inuse 4 orphan 0 tw 0 alloc 4 mem 272\nUDP: inuse 0 mem 0\nFRAG: inuse 0 memory 0\n";
        let stat = parse(v4).unwrap();
        assert_eq!(stat.sockets_used, Some(36));
        assert_eq!(stat.protocols.len(), 3);
        assert_eq!(stat.protocols[0].protocol, "TCP");
        assert_eq!(stat.protocols[0].fields[4], ("mem", 272));
        assert_eq!(stat.protocols[2].fields, vec![("inuse", 0), ("memory", 0)]);
        let v6 = parse("TCP6: inuse 1\nUDP6: inuse 0\n").unwrap();
        assert_eq!(v6.sockets_used, None);
        assert_eq!(v6.protocols[0].fields, vec![("inuse", 1)]);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse("TCP: inuse\n").is_err());
        assert!(parse("TCP inuse 1\n").is_err());
        assert!(parse("TCP: inuse x\n").is_err());
    }
}
