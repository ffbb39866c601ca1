//! Pure parsers of kernel (and a few userspace) files: text in, typed value out.
//!
//! Nothing here touches the filesystem, so every parser is tested on real
//! lines copied from a machine. Parsers borrow from their input where they
//! can, so a scrape allocates only the strings the metric model keeps.

pub mod arp;
pub mod conntrack;
pub mod cpu_list;
pub mod cpuinfo;
pub mod diskstats;
pub mod file_nr;
pub mod interrupts;
pub mod ipvs;
pub mod kstat;
pub mod loadavg;
pub mod mdstat;
pub mod meminfo;
pub mod mountinfo;
pub mod net_dev;
pub mod net_udp;
pub mod netstat;
pub mod nfs_rpc;
pub mod os_release;
pub mod pid_stat;
pub mod pressure;
pub mod schedstat;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod udev;
pub mod vmstat;

/// Why a file's text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ParseError(message.into())
    }
}

/// Parses an unsigned decimal field, naming the field on failure.
pub(crate) fn parse_u64(field: &str, what: &str) -> Result<u64, ParseError> {
    field.parse().map_err(|_| ParseError(format!("invalid {what} {field:?}")))
}

/// Parses a float field the way Go's `strconv.ParseFloat` accepts kernel numbers.
pub(crate) fn parse_f64(field: &str, what: &str) -> Result<f64, ParseError> {
    field.parse().map_err(|_| ParseError(format!("invalid {what} {field:?}")))
}
