//! `/sys/fs/xfs/<device>/stats/stats`: one XFS filesystem's counters, in
//! the format of `/proc/fs/xfs/stat`: a line per section, a section name
//! then decimal counters (`extent_alloc 1 872 0 0`).
//!
//! The parser keeps every section as it is; which counter of which
//! section means what is the collector's table (after the XFS wiki's
//! "Runtime Stats"), so a kernel that adds sections or counters needs no
//! change here.

use crate::procfs::{ParseError, parse_u64};

/// The sections of one stats file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XfsStats<'a> {
    sections: Vec<(&'a str, Vec<u64>)>,
}

impl XfsStats<'_> {
    /// Counter `index` (from 0) of section `name`, if the file has it.
    pub fn get(&self, name: &str, index: usize) -> Option<u64> {
        self.sections.iter().find(|(n, _)| *n == name).and_then(|(_, values)| values.get(index).copied())
    }
}

/// Parses a stats file.
pub fn parse(text: &str) -> Result<XfsStats<'_>, ParseError> {
    let mut sections = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(name) = fields.next() else {
            continue;
        };
        let values = fields.map(|f| parse_u64(f, name)).collect::<Result<Vec<_>, _>>()?;
        sections.push((name, values));
    }
    Ok(XfsStats { sections })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str =
        include_str!("../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/sys/fs/xfs/sda1/stats/stats");

    #[test]
    fn parses_upstreams_fixture() {
        let stats = parse(FIXTURE).unwrap();
        assert_eq!(stats.get("extent_alloc", 1), Some(872));
        assert_eq!(stats.get("blk_map", 5), Some(91));
        // `rw` counts writes first, then reads.
        assert_eq!((stats.get("rw", 0), stats.get("rw", 1)), (Some(28), Some(0)));
        assert_eq!(stats.get("xpc", 0), Some(3_571_712));
        assert_eq!(stats.get("debug", 0), Some(0));
        assert_eq!(stats.get("debug", 1), None);
        assert_eq!(stats.get("nope", 0), None);
    }

    #[test]
    fn rejects_a_counter_that_is_not_a_number() {
        assert!(parse("extent_alloc 1 x 0 0\n").is_err());
        assert_eq!(parse("").unwrap().get("rw", 0), None);
    }
}
