//! `/proc/meminfo`.

use super::{ParseError, parse_f64};

/// One line of `/proc/meminfo`, borrowed from the file's text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeminfoEntry<'a> {
    /// The field name as the kernel writes it, without the colon
    /// (`Active(anon)`, `HugePages_Total`).
    pub name: &'a str,
    /// The value, converted to bytes when the line has a `kB` unit.
    pub value: f64,
    /// True when the line had a unit (the value is in bytes).
    pub bytes: bool,
}

/// Parses `/proc/meminfo`. Empty lines, which some old kernels print, are skipped.
pub fn parse(text: &str) -> Result<Vec<MeminfoEntry<'_>>, ParseError> {
    let mut entries = Vec::with_capacity(64);
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let name = key.strip_suffix(':').unwrap_or(key);
        let value = fields.next().ok_or_else(|| ParseError::new(format!("invalid line {line:?}")))?;
        let mut value = parse_f64(value, "meminfo value")?;
        let bytes = match (fields.next(), fields.next()) {
            (None, _) => false,
            // The kernel writes `kB` but means KiB.
            (Some(_unit), None) => {
                value *= 1024.0;
                true
            }
            _ => return Err(ParseError::new(format!("invalid line {line:?}"))),
        };
        entries.push(MeminfoEntry { name, value, bytes });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       24684084 kB
MemFree:        23065280 kB
Active(anon):       1548 kB
HugePages_Total:       0
Hugepagesize:       2048 kB

DirectMap1G:    17825792 kB
";

    #[test]
    fn parses_a_real_file() {
        let entries = parse(MEMINFO).unwrap();
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[0], MeminfoEntry { name: "MemTotal", value: 25276502016.0, bytes: true });
        assert_eq!(entries[2].name, "Active(anon)");
        assert_eq!(entries[3], MeminfoEntry { name: "HugePages_Total", value: 0.0, bytes: false });
        assert_eq!(entries[5].value, 17825792.0 * 1024.0);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse("MemTotal: x kB\n").is_err());
        assert!(parse("MemTotal:\n").is_err());
        assert!(parse("MemTotal: 1 kB extra\n").is_err());
    }
}
