//! Reading kernel files (procfs, sysfs, cgroupfs) the cheap way, for
//! every collector.

use std::cell::RefCell;
use std::io::{self, Read};
use std::path::Path;

thread_local! {
    /// Kernel files are read whole on every scrape; reusing one buffer per
    /// scraping thread keeps that free of allocations after the first scrape.
    static BUFFER: RefCell<String> = RefCell::new(String::with_capacity(16 * 1024));
}

fn read_into(path: &Path, buf: &mut String) -> io::Result<()> {
    buf.clear();
    // `read_to_string` on a `File` first asks for the file's size (a `statx`
    // and an `lseek`), which procfs, sysfs and cgroupfs always report as 0
    // or 4096: reading through `take` skips those two syscalls for every
    // file.
    std::fs::File::open(path)?.take(u64::MAX).read_to_string(buf)?;
    Ok(())
}

/// Reads `path` into the thread's reused buffer and hands its text to `f`.
/// A nested call (a closure that reads another file) gets a fresh buffer.
pub(crate) fn with_file<T>(path: &Path, f: impl FnOnce(&str) -> T) -> io::Result<T> {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            read_into(path, &mut buf)?;
            Ok(f(&buf))
        }
        Err(_) => {
            let mut buf = String::new();
            read_into(path, &mut buf)?;
            Ok(f(&buf))
        }
    })
}
