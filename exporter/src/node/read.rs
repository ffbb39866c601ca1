//! File reading for collectors ([`with_file`]), errors that name the path,
//! and small builders for the families collectors emit.

use std::io;
use std::path::{Path, PathBuf};

use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::CollectorError;
use crate::procfs::ParseError;

pub(crate) fn io_error(path: &Path, source: io::Error) -> CollectorError {
    CollectorError::Io { path: path.to_path_buf(), source }
}

pub(crate) fn parse_error(path: &Path, source: ParseError) -> CollectorError {
    CollectorError::Parse { path: path.to_path_buf(), source }
}

pub(crate) use crate::kernel_file::{Dir, with_file};

/// Reads a file, parses it with `parse`, and maps both kinds of failure to
/// a [`CollectorError`] naming the path.
pub(crate) fn parse_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, CollectorError> {
    with_file(path, parse).map_err(|e| io_error(path, e))?.map_err(|e| parse_error(path, e))
}

/// Reads a small file whole into its own string, trimmed (sysfs attributes).
pub(crate) fn read_trimmed(path: &Path) -> io::Result<String> {
    with_file(path, |text| text.trim().to_owned())
}

/// Reads a file holding one unsigned number.
pub(crate) fn read_u64(path: &Path) -> Result<u64, CollectorError> {
    let text = with_file(path, |t| t.trim().parse::<u64>()).map_err(|e| io_error(path, e))?;
    text.map_err(|_| parse_error(path, ParseError::new("expected an unsigned integer")))
}

/// `err` is "file not found" (what node_exporter treats as "no data").
pub(crate) fn not_found(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
}

/// Reads a sysfs attribute, trimmed. `None` when the attribute has no
/// value to give: missing, not readable by this user, or refused by its
/// driver (`EINVAL`, `EOPNOTSUPP`: a down link's `speed`, a virtual
/// device's `duplex`), which node_exporter skips too.
pub(crate) fn read_attribute(path: &Path) -> Result<Option<String>, CollectorError> {
    attribute_value(read_trimmed(path), path)
}

/// [`read_attribute`] for file `name` of directory `dir`.
pub(crate) fn read_attribute_at(dir: &Dir, name: &str) -> Result<Option<String>, CollectorError> {
    attribute_value(dir.read_attribute(name), &dir.path_of(name))
}

/// [`read_attribute_at`] for firmware text that may not be UTF-8 (see
/// [`Dir::read_attribute_lossy`]).
pub(crate) fn read_text_attribute_at(dir: &Dir, name: &str) -> Result<Option<String>, CollectorError> {
    attribute_value(dir.read_attribute_lossy(name), &dir.path_of(name))
}

/// Opens the directory of one object (a device, a zone) to read its
/// attributes; `None` when it went away since it was listed.
pub(crate) fn open_object_dir(path: PathBuf) -> Result<Option<Dir>, CollectorError> {
    match Dir::open(path.clone()) {
        Ok(dir) => Ok(Some(dir)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(io_error(&path, e)),
    }
}

pub(crate) fn attribute_value(read: io::Result<String>, path: &Path) -> Result<Option<String>, CollectorError> {
    match read {
        Ok(value) => Ok(Some(value)),
        Err(e) if no_value(&e) => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

pub(crate) fn no_value(err: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied)
        || matches!(Errno::from_io_error(err), Some(Errno::INVAL | Errno::OPNOTSUPP))
}

/// A family holding one unlabelled sample.
pub(crate) fn single(name: &str, help: &str, metric_type: MetricType, value: f64) -> MetricFamily {
    MetricFamily::new(name, help, metric_type).with_sample(Labels::new(), value)
}

/// Opens directory `dir` for listing; its absence (or a permission the
/// agent lacks) means the machine has nothing of this kind: no data.
pub(crate) fn read_dir_or_no_data(dir: &Path) -> Result<std::fs::ReadDir, CollectorError> {
    std::fs::read_dir(dir).map_err(|e| {
        if not_found(&e) || e.kind() == io::ErrorKind::PermissionDenied {
            CollectorError::NoData { path: dir.to_path_buf() }
        } else {
            io_error(dir, e)
        }
    })
}

/// Lists the entries of class directory `dir` (`/sys/class/nvme`), sorted
/// by name; its absence means the machine has nothing of this kind: no
/// data, for one failed `open`.
pub(crate) fn list_dir_or_no_data(dir: &Path) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    let entries = read_dir_or_no_data(dir)?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// `cpu<N>`: the entries of `/sys/devices/system/cpu` that are CPUs.
pub(crate) fn is_cpu_dir(name: &str) -> bool {
    name.strip_prefix("cpu").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Lists the entries of `dir` whose names satisfy `keep`, sorted by name.
/// A missing directory yields an empty list.
pub(crate) fn list_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if keep(&name) {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Turns "file not found" into [`CollectorError::NoData`]: the file is
/// absent when the machine lacks the feature (no md arrays, no IPVS, no
/// NFS module), which node_exporter reports as no data.
pub(crate) fn absent_is_no_data(err: CollectorError) -> CollectorError {
    match err {
        CollectorError::Io { path, source } if not_found(&source) => CollectorError::NoData { path },
        other => other,
    }
}
