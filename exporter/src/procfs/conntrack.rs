//! `/proc/net/stat/nf_conntrack`: per-CPU hexadecimal counters.

use super::ParseError;

/// The counters node_exporter exports, summed over all CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConntrackStat {
    /// Successful searches.
    pub found: u64,
    /// Packets that could not be tracked.
    pub invalid: u64,
    /// Packets already connected to an entry.
    pub ignore: u64,
    /// Entries inserted.
    pub insert: u64,
    /// Failed insertions.
    pub insert_failed: u64,
    /// Packets dropped by conntrack.
    pub drop: u64,
    /// Entries dropped to make room.
    pub early_drop: u64,
    /// Lookups restarted by a table resize.
    pub search_restart: u64,
}

/// Parses the file. Columns are taken by position, as the kernel has kept
/// their positions while renaming some (`searched` became `clashres`).
pub fn parse(text: &str) -> Result<ConntrackStat, ParseError> {
    let mut total = ConntrackStat::default();
    for line in text.lines().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let mut values = [0u64; 17];
        let mut count = 0;
        for field in line.split_ascii_whitespace() {
            let slot = values.get_mut(count).ok_or_else(|| ParseError::new(format!("too many fields in {line:?}")))?;
            *slot =
                u64::from_str_radix(field, 16).map_err(|_| ParseError::new(format!("invalid hex value {field:?}")))?;
            count += 1;
        }
        // Kernels before 2.6.35 lack search_restart.
        if count < 16 {
            return Err(ParseError::new(format!("expected 16 or 17 fields in {line:?}")));
        }
        total.found += values[2];
        total.invalid += values[4];
        total.ignore += values[5];
        total.insert += values[8];
        total.insert_failed += values[9];
        total.drop += values[10];
        total.early_drop += values[11];
        total.search_restart += values[16];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_cpus() {
        let text = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000021  00000000 00000001 00000000 00000002 00000003 00000000 00000000 00000004 00000005 00000006 00000007 00000000  00000000 00000000 00000000 0000000a
00000021  00000000 00000010 00000000 00000020 00000030 00000000 00000000 00000040 00000050 00000060 00000070 00000000  00000000 00000000 00000000 000000a0
";
        let stat = parse(text).unwrap();
        assert_eq!(
            stat,
            ConntrackStat {
                found: 17,
                invalid: 34,
                ignore: 51,
                insert: 68,
                insert_failed: 85,
                drop: 102,
                early_drop: 119,
                search_restart: 170
            }
        );
    }

    #[test]
    fn rejects_bad_rows() {
        assert!(parse("h\n1 2 3\n").is_err());
        assert!(parse("h\n0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 zz\n").is_err());
    }
}
