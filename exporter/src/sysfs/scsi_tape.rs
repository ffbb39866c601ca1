//! `/sys/class/scsi_tape/st<N>/stats/`: a tape drive's I/O counters, one
//! number per file.

use super::parse_go_uint;
use crate::procfs::ParseError;

/// How a counter is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `node_tape_io_now`: a gauge.
    Gauge,
    /// A count, reported as it is.
    Counter,
    /// Nanoseconds, reported in seconds.
    Nanoseconds,
}

/// The statistics: the file, the metric it becomes (without `node_tape_`),
/// how it is reported and its help, as node_exporter words it.
pub const STATS: [(&str, &str, Kind, &str); 10] = [
    ("in_flight", "io_now", Kind::Gauge, "The number of I/Os currently outstanding to this device."),
    (
        "io_ns",
        "io_time_seconds_total",
        Kind::Nanoseconds,
        "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.",
    ),
    (
        "other_cnt",
        "io_others_total",
        Kind::Counter,
        "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total",
    ),
    ("read_byte_cnt", "read_bytes_total", Kind::Counter, "The number of bytes read from the tape drive."),
    ("read_cnt", "reads_completed_total", Kind::Counter, "The number of read requests issued to the tape drive."),
    (
        "read_ns",
        "read_time_seconds_total",
        Kind::Nanoseconds,
        "The amount of time spent waiting for read requests to complete.",
    ),
    (
        "resid_cnt",
        "residual_total",
        Kind::Counter,
        "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.",
    ),
    ("write_byte_cnt", "written_bytes_total", Kind::Counter, "The number of bytes written to the tape drive."),
    ("write_cnt", "writes_completed_total", Kind::Counter, "The number of write requests issued to the tape drive."),
    (
        "write_ns",
        "write_time_seconds_total",
        Kind::Nanoseconds,
        "The amount of time spent waiting for write requests to complete.",
    ),
];

/// `st<N>`: the entries node_exporter reads. The same drive's other nodes
/// (`nst0`, `st0a`, …) carry the same statistics.
pub fn is_tape(entry: &str) -> bool {
    entry.strip_prefix("st").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A statistic's value as reported.
pub fn parse_stat(kind: Kind, text: &str) -> Result<f64, ParseError> {
    let text = text.trim();
    let raw = parse_go_uint(text).ok_or_else(|| ParseError::new(format!("invalid tape statistic {text:?}")))?;
    Ok(match kind {
        Kind::Nanoseconds => raw as f64 * 1e-9,
        Kind::Gauge | Kind::Counter => raw as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_values_of_upstreams_st0() {
        assert!(is_tape("st0"));
        assert!(is_tape("st12"));
        for other in ["nst0", "st0a", "st0l", "st", "stx"] {
            assert!(!is_tape(other), "{other}");
        }
        assert_eq!(parse_stat(Kind::Counter, "53772916\n").unwrap(), 53772916.0);
        assert_eq!(parse_stat(Kind::Nanoseconds, "33788355744").unwrap(), 33.788355744);
        assert!(parse_stat(Kind::Gauge, "-1").is_err());
    }
}
