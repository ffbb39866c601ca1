//! `/sys/class/powercap/<zone>/`: RAPL power zones (`name`, and the energy
//! counter `energy_uj` in microjoules).

use std::collections::HashMap;

use crate::procfs::ParseError;

/// Tells zones apart: a zone's `name` may end in its index (`package-0`,
/// `package-1`), or several zones may share one (`dram` on each socket).
/// The index is the one in the name, else how many zones of that name came
/// before, as node_exporter (procfs' `getIndexAndName`) numbers them.
#[derive(Debug, Default)]
pub struct ZoneNames {
    seen: HashMap<String, i64>,
}

impl ZoneNames {
    /// The `(index, name)` of the next zone, whose `name` file says `raw`
    /// (trimmed).
    pub fn next(&mut self, raw: &str) -> (i64, String) {
        let (index, name) = match raw.split('-').collect::<Vec<_>>()[..] {
            // Go's `strconv.Atoi` takes a sign too.
            [base, index] => match index.parse::<i64>() {
                Ok(index) => (index, base.to_owned()),
                Err(_) => (self.count(raw), raw.to_owned()),
            },
            _ => (self.count(raw), raw.to_owned()),
        };
        self.seen.insert(name.clone(), index.wrapping_add(1));
        (index, name)
    }

    fn count(&self, name: &str) -> i64 {
        self.seen.get(name).copied().unwrap_or(0)
    }
}

/// A zone's `energy_uj` in joules.
pub fn parse_energy_joules(text: &str) -> Result<f64, ParseError> {
    let text = text.trim();
    let microjoules: u64 = text.parse().map_err(|_| ParseError::new(format!("invalid energy {text:?}")))?;
    Ok(microjoules as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_numbered_as_upstream_numbers_them() {
        let mut names = ZoneNames::default();
        assert_eq!(names.next("package-0"), (0, "package".to_owned()));
        assert_eq!(names.next("core"), (0, "core".to_owned()));
        assert_eq!(names.next("dram"), (0, "dram".to_owned()));
        assert_eq!(names.next("dram"), (1, "dram".to_owned()));
        assert_eq!(names.next("package-1"), (1, "package".to_owned()));
        assert_eq!(names.next("a-b-c"), (0, "a-b-c".to_owned()));
        assert_eq!(names.next("psys-x"), (0, "psys-x".to_owned()));
    }

    #[test]
    fn energy_of_upstreams_fixture() {
        assert_eq!(parse_energy_joules("240422366267\n").unwrap(), 240422.366267);
        assert!(parse_energy_joules("-1").is_err());
    }
}
