//! Container resource numbers from cgroup files, for v2 (unified), v1 and
//! hybrid hosts.
//!
//! The split follows [`crate::procfs`]: [`v2`] and [`v1`] hold pure parsers
//! of one cgroup file each (text in, typed value out); [`layout`] finds, once
//! at start, which hierarchy the host has and where a container's cgroup
//! directory is; [`stats`] reads one container's files and returns a
//! [`ContainerStats`] that has the same shape on every hierarchy, in base
//! units, so the collector maps it to families without knowing the version.
//!
//! Every path comes from the caller (the configured sysfs root), never from
//! a constant, which is what lets the fixture trees under
//! `tests/fixtures/cgroup/` stand in for a real host.

use std::path::PathBuf;

use crate::procfs::{ParseError, parse_u64};

pub mod layout;
pub mod stats;
pub mod v1;
pub mod v2;

pub use layout::{CgroupDriver, CgroupLayout, ContainerCgroup, Hierarchy};
pub use stats::{
    ContainerStats, CpuSpec, CpuUsage, DeviceIo, MemorySpec, MemoryUsage, read_container_stats, read_root_stats,
};

/// Why a cgroup hierarchy or a container's cgroup could not be read. Every
/// variant names the path or container it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file or directory could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content did not parse.
    #[error("parsing {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: ParseError,
    },
    /// The root holds neither a unified hierarchy nor the v1 controllers
    /// Sonde needs (`cpu`, `cpuacct`, `memory`).
    #[error("no cgroup hierarchy under {}", root.display())]
    NoHierarchy {
        /// The cgroup root that was searched.
        root: PathBuf,
    },
    /// A container id was not found in either the systemd or the cgroupfs
    /// layout.
    #[error("no cgroup for container {id:?} (tried {})", display_paths(tried))]
    ContainerNotFound {
        /// The container id.
        id: String,
        /// The directories that were looked at.
        tried: Vec<PathBuf>,
    },
}

impl From<CgroupError> for crate::scrape::CollectorError {
    fn from(error: CgroupError) -> Self {
        use crate::scrape::CollectorError;
        match error {
            CgroupError::Io { path, source } => CollectorError::Io { path, source },
            CgroupError::Parse { path, source } => CollectorError::Parse { path, source },
            CgroupError::NoHierarchy { root } => CollectorError::NoData { path: root },
            CgroupError::ContainerNotFound { id, tried } => CollectorError::Io {
                path: tried.into_iter().next().unwrap_or_default(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("no cgroup for container {id}")),
            },
        }
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// Parses the flat keyed format shared by `cpu.stat`, `memory.stat`,
/// `memory.events`, `cpuacct.stat` and `memory.oom_control`: one
/// `key value` pair per line.
pub(crate) fn parse_keyed<'a>(text: &'a str, what: &str) -> Result<Vec<(&'a str, u64)>, ParseError> {
    let mut pairs = Vec::with_capacity(48);
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let (Some(value), None) = (fields.next(), fields.next()) else {
            return Err(ParseError::new(format!("invalid {what} line {line:?}")));
        };
        pairs.push((key, parse_u64(value, what)?));
    }
    Ok(pairs)
}

/// Looks a key up in pairs from [`parse_keyed`].
pub(crate) fn lookup(pairs: &[(&str, u64)], key: &str) -> Option<u64> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Parses a file that holds one unsigned number (`memory.current`,
/// `cpuacct.usage`, `cpu.shares`, ...).
pub(crate) fn parse_single(text: &str, what: &str) -> Result<u64, ParseError> {
    parse_u64(text.trim(), what)
}

/// Parses a `major:minor` device number.
pub(crate) fn parse_device(field: &str) -> Result<(u32, u32), ParseError> {
    let invalid = || ParseError::new(format!("invalid device {field:?}"));
    let (major, minor) = field.split_once(':').ok_or_else(invalid)?;
    Ok((major.parse().map_err(|_| invalid())?, minor.parse().map_err(|_| invalid())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_skips_blank_lines_and_rejects_junk() {
        let pairs = parse_keyed("a 1\n\nb 2\n", "test").unwrap();
        assert_eq!(pairs, vec![("a", 1), ("b", 2)]);
        assert_eq!(lookup(&pairs, "b"), Some(2));
        assert_eq!(lookup(&pairs, "c"), None);
        assert!(parse_keyed("a\n", "test").is_err());
        assert!(parse_keyed("a 1 2\n", "test").is_err());
        assert!(parse_keyed("a -1\n", "test").is_err());
    }

    #[test]
    fn devices_and_single_values() {
        assert_eq!(parse_device("259:0").unwrap(), (259, 0));
        assert!(parse_device("259").is_err());
        assert!(parse_device("a:0").is_err());
        assert_eq!(parse_single("154607616\n", "usage").unwrap(), 154607616);
        assert!(parse_single("max\n", "usage").is_err());
    }

    #[test]
    fn errors_name_their_paths() {
        let err = CgroupError::ContainerNotFound {
            id: "abc".into(),
            tried: vec!["/a/docker/abc".into(), "/a/system.slice/docker-abc.scope".into()],
        };
        assert_eq!(
            err.to_string(),
            "no cgroup for container \"abc\" (tried /a/docker/abc, /a/system.slice/docker-abc.scope)"
        );
    }
}

#[cfg(test)]
mod fixture_tests;
