//! Reading kernel files (procfs, sysfs, cgroupfs) the cheap way, for
//! every collector.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

thread_local! {
    /// Kernel files are read whole on every scrape; reusing one buffer per
    /// scraping thread keeps that free of allocations after the first scrape.
    static BUFFER: RefCell<String> = RefCell::new(String::with_capacity(16 * 1024));
}

fn read_into(file: File, buf: &mut String) -> io::Result<()> {
    buf.clear();
    // `read_to_string` on a `File` first asks for the file's size (a `statx`
    // and an `lseek`), which procfs, sysfs and cgroupfs always report as 0
    // or 4096: reading through `take` skips those two syscalls for every
    // file.
    file.take(u64::MAX).read_to_string(buf)?;
    Ok(())
}

/// Opens a file with `open`, reads it into the thread's reused buffer and
/// hands its text to `f`. A nested call (a closure that reads another
/// file) gets a fresh buffer.
fn with_opened<T>(open: impl FnOnce() -> io::Result<File>, f: impl FnOnce(&str) -> T) -> io::Result<T> {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            read_into(open()?, &mut buf)?;
            Ok(f(&buf))
        }
        Err(_) => {
            let mut buf = String::new();
            read_into(open()?, &mut buf)?;
            Ok(f(&buf))
        }
    })
}

/// Reads `path` into the thread's reused buffer and hands its text to `f`.
pub(crate) fn with_file<T>(path: &Path, f: impl FnOnce(&str) -> T) -> io::Result<T> {
    with_opened(|| File::open(path), f)
}

/// A directory held open (`O_PATH`) so that its files are opened by name
/// alone: the kernel resolves one component instead of walking the whole
/// path again, which is a third of the cost of reading a sysfs attribute
/// (a network interface's two dozen, every scrape).
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Opens directory `path`.
    pub(crate) fn open(path: PathBuf) -> io::Result<Dir> {
        let fd = rustix::fs::open(&path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Dir { fd, path })
    }

    /// The path of file `name` in this directory, for messages.
    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads sysfs attribute `name` of this directory, trimmed, with one
    /// `read`: the kernel renders an attribute whole (at most a page) on
    /// the first read, so the second, end-of-file read that a read loop
    /// makes is skipped, as node_exporter's procfs library skips it.
    pub(crate) fn read_attribute(&self, name: &str) -> io::Result<String> {
        self.read_raw(name, |bytes| {
            let text = std::str::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            Ok(text.trim().to_owned())
        })
    }

    /// [`Dir::read_attribute`] for attributes that hold text from firmware
    /// (DMI strings, a battery's model name), which is not always UTF-8:
    /// each run of invalid bytes becomes one `U+FFFD`, as node_exporter's
    /// `strings.ToValidUTF8` makes it.
    pub(crate) fn read_attribute_lossy(&self, name: &str) -> io::Result<String> {
        self.read_raw(name, |bytes| Ok(crate::sysfs::to_valid_utf8(bytes.trim_ascii())))
    }

    fn read_raw<T>(&self, name: &str, convert: impl FnOnce(&[u8]) -> io::Result<T>) -> io::Result<T> {
        let fd = rustix::fs::openat(&self.fd, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        let mut buf = [0u8; 4096];
        let n = rustix::io::read(&fd, &mut buf)?;
        convert(&buf[..n])
    }

    /// Opens sysfs attribute `name` of this directory to be held and read
    /// again ([`HeldAttribute`]).
    pub(crate) fn hold(&self, name: &str) -> io::Result<HeldAttribute> {
        let fd = rustix::fs::openat(&self.fd, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(HeldAttribute(fd))
    }
}

/// A sysfs attribute held open between scrapes and read from offset 0
/// each time (`pread`): sysfs renders an attribute afresh on every read
/// at offset 0 (how programs wait on `sysfs_notify`), so the value is
/// current, and each scrape saves the `openat` and `close`, three
/// quarters of what reading an attribute costs (`BENCHMARKS.md`). Once
/// its device is gone, a read fails with `ENODEV`.
#[derive(Debug)]
pub(crate) struct HeldAttribute(OwnedFd);

impl HeldAttribute {
    /// The attribute's value now, trimmed, in one `pread`.
    pub(crate) fn read(&self) -> io::Result<String> {
        let mut buf = [0u8; 4096];
        let n = rustix::io::pread(&self.0, &mut buf, 0)?;
        let text = std::str::from_utf8(&buf[..n]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(text.trim().to_owned())
    }
}
