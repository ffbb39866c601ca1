//! ZFS on Linux's kstats under `/proc/spl/kstat/zfs/`: the named kstats
//! (`arcstats`, a pool's `objset-*`: a header line, `name type data`,
//! then one line per value), a pool's `io` (a row of column names, then a
//! row of values) and a pool's `state` (one word).
//!
//! Nothing here knows what a kstat means: node_exporter maps every name
//! generically (`node_zfs_<subsystem>_<name>`), and so does the collector.

use super::{ParseError, parse_u64};

/// `KSTAT_DATA_INT64`.
pub const INT64: &str = "3";
/// `KSTAT_DATA_UINT64`.
pub const UINT64: &str = "4";
/// `KSTAT_DATA_STRING`.
pub const STRING: &str = "7";

/// One line of a named kstat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named<'a> {
    /// `hits`, `erpt-dropped`.
    pub name: &'a str,
    /// The kstat data type, as written (`4` for an unsigned 64-bit number).
    pub data_type: &'a str,
    /// The value, as written.
    pub data: &'a str,
}

impl Named<'_> {
    /// The value of a 64-bit integer kstat (types 3 and 4); `None` for the
    /// other types, an error for a number that does not parse.
    pub fn integer(&self) -> Option<Result<f64, ParseError>> {
        let what = || ParseError::new(format!("invalid value {:?} of kstat {}", self.data, self.name));
        match self.data_type {
            UINT64 => Some(self.data.parse::<u64>().map(|v| v as f64).map_err(|_| what())),
            INT64 => Some(self.data.parse::<i64>().map(|v| v as f64).map_err(|_| what())),
            _ => None,
        }
    }
}

/// Parses a named kstat: the lines after `name type data`. A file
/// without that header is an error (it is not a named kstat).
pub fn parse_named(text: &str) -> Result<Vec<Named<'_>>, ParseError> {
    let mut lines = text.lines();
    if !lines.by_ref().any(|line| line.split_ascii_whitespace().eq(["name", "type", "data"])) {
        return Err(ParseError::new("no `name type data` header"));
    }
    Ok(lines
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            Some(Named { name: fields.next()?, data_type: fields.next()?, data: fields.next()? })
        })
        .collect())
}

/// Parses a pool's `io`: `(column, value)` for each column of the row
/// after the header (which starts with `nread`). No header, no values.
pub fn parse_io(text: &str) -> Result<Vec<(&str, u64)>, ParseError> {
    let mut lines = text.lines();
    let Some(header) = lines.by_ref().find(|line| line.split_ascii_whitespace().next() == Some("nread")) else {
        return Ok(Vec::new());
    };
    let Some(row) = lines.next() else {
        return Ok(Vec::new());
    };
    let columns: Vec<&str> = header.split_ascii_whitespace().collect();
    let values: Vec<&str> = row.split_ascii_whitespace().collect();
    if values.len() != columns.len() {
        return Err(ParseError::new(format!("{} columns and {} values", columns.len(), values.len())));
    }
    columns.into_iter().zip(values).map(|(column, value)| Ok((column, parse_u64(value, column)?))).collect()
}

/// Parses a pool's `state`: its first line, lowercased (`online`).
pub fn parse_state(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCSTATS: &str =
        include_str!("../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/spl/kstat/zfs/arcstats");
    const OBJSET: &str = include_str!(
        "../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/spl/kstat/zfs/poolz1/objset-2"
    );
    const IO: &str =
        include_str!("../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/spl/kstat/zfs/poolz1/io");
    const STATE: &str = include_str!(
        "../../../tests/conformance/node_exporter-1.5.0/collector/fixtures/proc/spl/kstat/zfs/poolz1/state"
    );

    #[test]
    fn parses_upstreams_named_kstats() {
        let arc = parse_named(ARCSTATS).unwrap();
        assert_eq!(arc[0], Named { name: "hits", data_type: UINT64, data: "8772612" });
        assert_eq!(arc[0].integer(), Some(Ok(8_772_612.0)));
        assert_eq!(arc.len(), 91, "as many as its first line says");
        let objset = parse_named(OBJSET).unwrap();
        assert_eq!(objset[0], Named { name: "dataset_name", data_type: STRING, data: "poolz1/dataset1" });
        assert_eq!(objset[0].integer(), None);
        assert_eq!(objset[2].integer(), Some(Ok(32_806.0)));
    }

    #[test]
    fn parses_upstreams_pool_files() {
        let io = parse_io(IO).unwrap();
        assert_eq!(io.len(), 12);
        assert_eq!(io[0], ("nread", 2_826_240));
        assert_eq!(io[8], ("rlentime", 6_472_105_124_093));
        assert_eq!(parse_state(STATE), "degraded");
    }

    #[test]
    fn rejects_what_is_not_a_kstat() {
        assert!(parse_named("hits 4 1\n").is_err());
        let bad = parse_named("name type data\nhits 4 x\nneg 3 -5\n").unwrap();
        assert!(bad[0].integer().unwrap().is_err());
        assert_eq!(bad[1].integer(), Some(Ok(-5.0)));
        assert!(parse_io("nread nwritten\n1\n").is_err());
        assert!(parse_io("nread nwritten\n1 x\n").is_err());
        assert_eq!(parse_io("").unwrap(), vec![]);
    }
}
