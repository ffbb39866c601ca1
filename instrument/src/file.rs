//! Reading a file a user points Sonde at (a textfile, a rule file, the
//! saved state) without letting it stall or bloat the process: only a
//! regular file (or a symlink to one) is read, never a FIFO, a device or a
//! directory, and never more than a stated number of bytes.
//!
//! ```
//! use sonde_instrument::file::{ReadError, read_regular};
//!
//! let dir = std::env::temp_dir().join(format!("sonde-file-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("a.prom");
//! std::fs::write(&path, "up 1\n")?;
//! assert_eq!(read_regular(&path, 1024)?, "up 1\n");
//! assert!(matches!(read_regular(&path, 3), Err(ReadError::TooLarge { limit: 3, .. })));
//! assert!(matches!(read_regular(&dir, 1024), Err(ReadError::NotRegular { .. })));
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file was not read.
///
/// ```
/// use std::path::Path;
/// use sonde_instrument::file::read_regular;
///
/// let err = read_regular(Path::new("/nonexistent/metrics.prom"), 1024).unwrap_err();
/// assert!(err.is_not_found());
/// let err = read_regular(Path::new("/dev/zero"), 1024).unwrap_err();
/// assert!(!err.is_not_found(), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Not a regular file: reading a FIFO would wait for a writer, a
    /// device like `/dev/zero` would never end.
    #[error("{path} is a {kind}, not a regular file")]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// Larger than the limit.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    NotText {
        /// The file.
        path: PathBuf,
    },
}

impl ReadError {
    /// What went wrong, without the path (for messages that name it
    /// already).
    pub fn reason(&self) -> String {
        match self {
            ReadError::Io { source, .. } => source.to_string(),
            ReadError::NotRegular { kind, .. } => format!("a {kind}, not a regular file"),
            ReadError::TooLarge { limit, .. } => format!("larger than {limit} bytes"),
            ReadError::NotText { .. } => "not UTF-8 text".to_owned(),
        }
    }

    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Reads `path` whole as text if it is a regular file (symlinks followed)
/// of at most `limit` bytes. Opening never blocks: a FIFO is opened
/// non-blocking and refused.
pub fn read_regular(path: &Path, limit: u64) -> Result<String, ReadError> {
    let io = |source| ReadError::Io { path: path.to_owned(), source };
    let file = open_regular(path)?;
    let size = file.metadata().map_err(io)?.len();
    if size > limit {
        return Err(ReadError::TooLarge { path: path.to_owned(), limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may grow between the stat and the read: read one byte past
    // the limit to notice.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { path: path.to_owned(), limit });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText { path: path.to_owned() })
}

/// Opens `path` for reading if it is a regular file.
fn open_regular(path: &Path) -> Result<File, ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|source| ReadError::Io { path: path.to_owned(), source })?;
    let kind = file.metadata().map_err(|source| ReadError::Io { path: path.to_owned(), source })?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let kind = if kind.is_dir() {
        "directory"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    };
    Err(ReadError::NotRegular { path: path.to_owned(), kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_devices_are_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.prom");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        // Without a writer, a blocking open would wait here for ever.
        assert!(matches!(read_regular(&fifo, 1024), Err(ReadError::NotRegular { kind: "FIFO", .. })));
        let zero = dir.path().join("zero.prom");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(matches!(read_regular(&zero, 1024), Err(ReadError::NotRegular { kind: "character device", .. })));
        let missing = read_regular(&dir.path().join("missing"), 1024).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }

    #[test]
    fn a_symlink_to_a_regular_file_is_read_and_the_limit_holds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("real");
        std::fs::write(&file, "x".repeat(100)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular(&link, 100).unwrap().len(), 100);
        let err = read_regular(&link, 99).unwrap_err();
        assert_eq!(err.to_string(), format!("{} is larger than 99 bytes", link.display()));
        std::fs::write(&file, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_regular(&file, 100), Err(ReadError::NotText { .. })));
    }
}
