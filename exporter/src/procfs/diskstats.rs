//! `/proc/diskstats` (Documentation/admin-guide/iostats.rst).

use super::{ParseError, parse_u64};

/// The most statistics a line carries (kernel 5.5+: 17 after the device name).
pub const MAX_STATS: usize = 17;

/// One block device's line, borrowed from the file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskStats<'a> {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Device name (`vda`, `nvme0n1`).
    pub name: &'a str,
    /// The statistics in file order: reads completed, reads merged, sectors
    /// read, ms reading, writes completed, writes merged, sectors written,
    /// ms writing, I/Os in progress, ms doing I/O, weighted ms doing I/O,
    /// discards completed, discards merged, sectors discarded, ms discarding,
    /// flushes completed, ms flushing.
    pub stats: [u64; MAX_STATS],
    /// How many of `stats` the kernel wrote (11, 15 or 17).
    pub count: usize,
}

/// Parses `/proc/diskstats`.
pub fn parse(text: &str) -> Result<Vec<DiskStats<'_>>, ParseError> {
    let mut disks = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(major), Some(minor), Some(name)) = (fields.next(), fields.next(), fields.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(ParseError::new(format!("invalid line {line:?}")));
        };
        let mut disk = DiskStats {
            major: parse_u64(major, "major number")? as u32,
            minor: parse_u64(minor, "minor number")? as u32,
            name,
            stats: [0; MAX_STATS],
            count: 0,
        };
        for field in fields.take(MAX_STATS) {
            disk.stats[disk.count] = parse_u64(field, "diskstats field")?;
            disk.count += 1;
        }
        if disk.count < 11 {
            return Err(ParseError::new(format!("too few fields in {line:?}")));
        }
        disks.push(disk);
    }
    Ok(disks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_of_every_length() {
        let text = " 254       0 vda 90292 25403 5278946 22216 14225 26506 3936896 12094 0 10948 34639 2002 0 346688 269 1710 58
   7       0 loop0 1 0 2 3 0 0 0 0 0 4 5
   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
";
        let disks = parse(text).unwrap();
        assert_eq!(disks.len(), 3);
        assert_eq!(disks[0].name, "vda");
        assert_eq!((disks[0].major, disks[0].minor), (254, 0));
        assert_eq!(disks[0].count, 17);
        assert_eq!(disks[0].stats[2], 5278946);
        assert_eq!(disks[0].stats[16], 58);
        assert_eq!(disks[1].count, 11);
        assert_eq!(disks[2].count, 15);
        assert_eq!(disks[2].stats[14], 15);
    }

    #[test]
    fn rejects_short_or_bad_lines() {
        assert!(parse("8 0 sda 1 2 3\n").is_err());
        assert!(parse("8 0\n").is_err());
        assert!(parse("8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n").is_err());
    }
}
