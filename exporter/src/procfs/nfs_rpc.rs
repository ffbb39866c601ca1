//! `/proc/net/rpc/nfs` (the NFS client) and `/proc/net/rpc/nfsd` (the NFS
//! server): RPC and NFS procedure counters, one line per kind, a label
//! word then decimal numbers.
//!
//! A `procN` line starts with how many procedures follow; the procedures
//! come in the kernel's order, named here as node_exporter 1.5.0's procfs
//! library names them (those names become the `method` label). A line
//! this parser does not know (newer kernels add some) is skipped, and a
//! missing one reads as zeros, as upstream's zero-valued structs do.

use super::{ParseError, parse_u64};

/// NFSv2 procedures, in the kernel's order.
pub const V2_PROCEDURES: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write", "Create", "Remove",
    "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures, in the kernel's order.
pub const V3_PROCEDURES: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// The NFSv4 client's operations (`proc4` of `nfs`), in the kernel's order.
/// An older kernel lists fewer; the rest read as zero.
pub const CLIENT_V4_OPERATIONS: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// The NFSv4 server's operations (`proc4ops` of `nfsd`) by operation
/// number (RFC 7530's), named as node_exporter 1.5.0 names them: `None`
/// for the numbers it does not report (0–2 are unused, and it leaves out
/// PutPubFH, PutRootFH, SetClientID and SetClientIDConfirm). Its procfs
/// library (v0.8) read Verify, Write and RelLockOwner from 35–37, the
/// counts of SetClientID, SetClientIDConfirm and Verify; later versions
/// read them from 37–39, as here.
pub const SERVER_V4_OPERATIONS: [Option<&str>; 40] = [
    None,
    None,
    None,
    Some("Access"),
    Some("Close"),
    Some("Commit"),
    Some("Create"),
    Some("DelegPurge"),
    Some("DelegReturn"),
    Some("GetAttr"),
    Some("GetFH"),
    Some("Link"),
    Some("Lock"),
    Some("Lockt"),
    Some("Locku"),
    Some("Lookup"),
    Some("LookupRoot"),
    Some("Nverify"),
    Some("Open"),
    Some("OpenAttr"),
    Some("OpenConfirm"),
    Some("OpenDgrd"),
    Some("PutFH"),
    None,
    None,
    Some("Read"),
    Some("ReadDir"),
    Some("ReadLink"),
    Some("Remove"),
    Some("Rename"),
    Some("Renew"),
    Some("RestoreFH"),
    Some("SaveFH"),
    Some("SecInfo"),
    Some("SetAttr"),
    None,
    None,
    Some("Verify"),
    Some("Write"),
    Some("RelLockOwner"),
];

/// The `net` line: packets and connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Network {
    /// UDP packets.
    pub udp: u64,
    /// TCP packets.
    pub tcp: u64,
    /// TCP connections.
    pub tcp_connections: u64,
}

/// `/proc/net/rpc/nfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStats {
    /// `net`.
    pub network: Network,
    /// `rpc`: calls made.
    pub rpc_calls: u64,
    /// `rpc`: retransmissions.
    pub rpc_retransmissions: u64,
    /// `rpc`: authentication refreshes.
    pub rpc_auth_refreshes: u64,
    /// `proc2`, by [`V2_PROCEDURES`].
    pub v2: [u64; 18],
    /// `proc3`, by [`V3_PROCEDURES`].
    pub v3: [u64; 22],
    /// `proc4`, by [`CLIENT_V4_OPERATIONS`].
    pub v4: [u64; 59],
}

/// `/proc/net/rpc/nfsd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStats {
    /// `rc`: reply cache hits.
    pub reply_cache_hits: u64,
    /// `rc`: reply cache misses.
    pub reply_cache_misses: u64,
    /// `rc`: replies not cached (non-idempotent).
    pub reply_cache_nocache: u64,
    /// `fh`: stale file handles.
    pub file_handles_stale: u64,
    /// `io`: bytes read from disk.
    pub bytes_read: u64,
    /// `io`: bytes written to disk.
    pub bytes_written: u64,
    /// `th`: server threads.
    pub threads: u64,
    /// `ra`: read-ahead cache size (gone from kernels ≥ 5.x: then 0).
    pub read_ahead_cache_size: u64,
    /// `ra`: read-ahead cache misses.
    pub read_ahead_cache_not_found: u64,
    /// `net`.
    pub network: Network,
    /// `rpc`: calls received.
    pub rpc_calls: u64,
    /// `rpc`: calls rejected for a bad format.
    pub rpc_bad_format: u64,
    /// `rpc`: calls rejected for bad authentication.
    pub rpc_bad_auth: u64,
    /// `rpc`: calls rejected for a bad client.
    pub rpc_bad_client: u64,
    /// `proc2`, by [`V2_PROCEDURES`].
    pub v2: [u64; 18],
    /// `proc3`, by [`V3_PROCEDURES`].
    pub v3: [u64; 22],
    /// `proc4ops`, by [`SERVER_V4_OPERATIONS`].
    pub v4_ops: [u64; 40],
}

/// The numbers of one line, after its label word.
fn numbers(label: &str, fields: &[&str]) -> Result<Vec<u64>, ParseError> {
    fields.iter().map(|f| parse_u64(f, label)).collect()
}

/// At least `n` numbers, or an error naming the line.
fn at_least<'a>(label: &str, values: &'a [u64], n: usize) -> Result<&'a [u64], ParseError> {
    values.get(..n).ok_or_else(|| ParseError::new(format!("{label} line has {} values, {n} expected", values.len())))
}

/// A `procN` line: the count, then that many values, copied into `out`
/// (fewer values leave zeros, more are ignored).
fn procedures(label: &str, values: &[u64], out: &mut [u64]) -> Result<(), ParseError> {
    let (&count, rest) = values.split_first().ok_or_else(|| ParseError::new(format!("empty {label} line")))?;
    if usize::try_from(count).ok() != Some(rest.len()) {
        return Err(ParseError::new(format!("{label} line says {count} values and has {}", rest.len())));
    }
    for (slot, value) in out.iter_mut().zip(rest) {
        *slot = *value;
    }
    Ok(())
}

fn network(values: &[u64]) -> Result<Network, ParseError> {
    let v = at_least("net", values, 4)?;
    Ok(Network { udp: v[1], tcp: v[2], tcp_connections: v[3] })
}

/// The lines of the file as `(label, fields after it)`.
fn lines(text: &str) -> impl Iterator<Item = (&str, Vec<&str>)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        fields.next().map(|label| (label, fields.collect()))
    })
}

/// Parses `/proc/net/rpc/nfs`.
pub fn parse_client(text: &str) -> Result<ClientStats, ParseError> {
    let mut stats = ClientStats {
        network: Network::default(),
        rpc_calls: 0,
        rpc_retransmissions: 0,
        rpc_auth_refreshes: 0,
        v2: [0; 18],
        v3: [0; 22],
        v4: [0; 59],
    };
    for (label, fields) in lines(text) {
        match label {
            "net" => stats.network = network(&numbers(label, &fields)?)?,
            "rpc" => {
                let values = numbers(label, &fields)?;
                let v = at_least(label, &values, 3)?;
                (stats.rpc_calls, stats.rpc_retransmissions, stats.rpc_auth_refreshes) = (v[0], v[1], v[2]);
            }
            "proc2" => procedures(label, &numbers(label, &fields)?, &mut stats.v2)?,
            "proc3" => procedures(label, &numbers(label, &fields)?, &mut stats.v3)?,
            "proc4" => procedures(label, &numbers(label, &fields)?, &mut stats.v4)?,
            _ => {}
        }
    }
    Ok(stats)
}

/// Parses `/proc/net/rpc/nfsd`.
pub fn parse_server(text: &str) -> Result<ServerStats, ParseError> {
    let mut stats = ServerStats {
        reply_cache_hits: 0,
        reply_cache_misses: 0,
        reply_cache_nocache: 0,
        file_handles_stale: 0,
        bytes_read: 0,
        bytes_written: 0,
        threads: 0,
        read_ahead_cache_size: 0,
        read_ahead_cache_not_found: 0,
        network: Network::default(),
        rpc_calls: 0,
        rpc_bad_format: 0,
        rpc_bad_auth: 0,
        rpc_bad_client: 0,
        v2: [0; 18],
        v3: [0; 22],
        v4_ops: [0; 40],
    };
    for (label, fields) in lines(text) {
        match label {
            "rc" => {
                let values = numbers(label, &fields)?;
                let v = at_least(label, &values, 3)?;
                (stats.reply_cache_hits, stats.reply_cache_misses, stats.reply_cache_nocache) = (v[0], v[1], v[2]);
            }
            "fh" => stats.file_handles_stale = at_least(label, &numbers(label, &fields)?, 1)?[0],
            "io" => {
                let values = numbers(label, &fields)?;
                let v = at_least(label, &values, 2)?;
                (stats.bytes_read, stats.bytes_written) = (v[0], v[1]);
            }
            // The thread count, then (on older kernels) usage histogram
            // floats, which nothing reports.
            "th" => stats.threads = at_least(label, &numbers(label, fields.get(..1).unwrap_or_default())?, 1)?[0],
            "ra" => {
                let values = numbers(label, &fields)?;
                let v = at_least(label, &values, 12)?;
                (stats.read_ahead_cache_size, stats.read_ahead_cache_not_found) = (v[0], v[11]);
            }
            "net" => stats.network = network(&numbers(label, &fields)?)?,
            "rpc" => {
                let values = numbers(label, &fields)?;
                let v = at_least(label, &values, 5)?;
                (stats.rpc_calls, stats.rpc_bad_format, stats.rpc_bad_auth, stats.rpc_bad_client) =
                    (v[0], v[2], v[3], v[4]);
            }
            "proc2" => procedures(label, &numbers(label, &fields)?, &mut stats.v2)?,
            "proc3" => procedures(label, &numbers(label, &fields)?, &mut stats.v3)?,
            "proc4ops" => procedures(label, &numbers(label, &fields)?, &mut stats.v4_ops)?,
            _ => {}
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str =
        include_str!("../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/net/rpc/nfs");
    const SERVER: &str =
        include_str!("../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/net/rpc/nfsd");

    fn value_of<const N: usize>(names: &[&str; N], values: &[u64; N], name: &str) -> u64 {
        values[names.iter().position(|n| *n == name).unwrap()]
    }

    #[test]
    fn parses_upstreams_client_fixture() {
        let stats = parse_client(CLIENT).unwrap();
        assert_eq!(stats.network, Network { udp: 70, tcp: 69, tcp_connections: 45 });
        assert_eq!(
            (stats.rpc_calls, stats.rpc_retransmissions, stats.rpc_auth_refreshes),
            (1_218_785_755, 374_636, 1_218_815_394)
        );
        assert_eq!(value_of(&V2_PROCEDURES, &stats.v2, "Null"), 16);
        assert_eq!(value_of(&V2_PROCEDURES, &stats.v2, "FsStat"), 82);
        assert_eq!(value_of(&V3_PROCEDURES, &stats.v3, "GetAttr"), 1_061_909_262);
        assert_eq!(value_of(&V3_PROCEDURES, &stats.v3, "Commit"), 23_729);
        // 48 operations listed: the 11 newer ones read as zero.
        assert_eq!(value_of(&CLIENT_V4_OPERATIONS, &stats.v4, "Null"), 98);
        assert_eq!(value_of(&CLIENT_V4_OPERATIONS, &stats.v4, "LayoutGet"), 90);
        assert_eq!(value_of(&CLIENT_V4_OPERATIONS, &stats.v4, "Clone"), 0);
    }

    #[test]
    fn parses_upstreams_server_fixture() {
        let stats = parse_server(SERVER).unwrap();
        assert_eq!((stats.reply_cache_hits, stats.reply_cache_misses, stats.reply_cache_nocache), (0, 6, 18_622));
        assert_eq!((stats.bytes_read, stats.bytes_written, stats.threads), (157_286_400, 72_864, 8));
        assert_eq!((stats.read_ahead_cache_size, stats.read_ahead_cache_not_found), (32, 0));
        assert_eq!(stats.network, Network { udp: 55, tcp: 917, tcp_connections: 1 });
        assert_eq!(
            (stats.rpc_calls, stats.rpc_bad_format, stats.rpc_bad_auth, stats.rpc_bad_client),
            (18_628, 1, 2, 0)
        );
        assert_eq!(value_of(&V2_PROCEDURES, &stats.v2, "Lookup"), 4410);
        assert_eq!(value_of(&V3_PROCEDURES, &stats.v3, "ReadDirPlus"), 216);
        let op = |name| stats.v4_ops[SERVER_V4_OPERATIONS.iter().position(|n| *n == Some(name)).unwrap()];
        assert_eq!((op("Access"), op("GetAttr"), op("PutFH"), op("Renew")), (1098, 8179, 9609, 1236));
        // Operations 35 and 36 (SetClientID, SetClientIDConfirm) are not
        // reported; 37 and 38 are Verify and Write.
        assert_eq!(stats.v4_ops[35..39], [3, 3, 0, 0]);
        assert_eq!((op("Verify"), op("Write")), (0, 0));
    }

    #[test]
    fn unknown_lines_are_skipped_and_missing_ones_are_zero() {
        let stats = parse_server("th 4 0\nwdeleg_getattr 7\n").unwrap();
        assert_eq!(stats.threads, 4);
        assert_eq!(stats.v3, [0; 22]);
        let stats = parse_client("proc3 2 5 6\n").unwrap();
        assert_eq!(stats.v3[..3], [5, 6, 0]);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse_client("net 1 2\n").is_err());
        assert!(parse_client("rpc 1 x 3\n").is_err());
        assert!(parse_client("proc2 3 1 2\n").is_err(), "count says 3, two values follow");
        assert!(parse_server("rc 1 2\n").is_err());
        assert!(parse_server("proc4ops\n").is_err());
    }
}
