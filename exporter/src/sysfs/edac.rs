//! `/sys/devices/system/edac/mc/`: memory controllers (`mc<N>`) and their
//! chip-select rows (`csrow<N>`), each with error counts (`ce_count`,
//! `ue_count`, and per controller `ce_noinfo_count`, `ue_noinfo_count`).

use crate::procfs::ParseError;

/// The number of a `mc<N>` entry, as node_exporter's glob `mc[0-9]*` and
/// regex `mc([0-9]*)` take it: the digits after the prefix.
pub fn controller_number(entry: &str) -> Option<&str> {
    leading_digits(entry.strip_prefix("mc")?)
}

/// The number of a `csrow<N>` entry (glob `csrow[0-9]*`).
pub fn csrow_number(entry: &str) -> Option<&str> {
    leading_digits(entry.strip_prefix("csrow")?)
}

fn leading_digits(rest: &str) -> Option<&str> {
    let end = rest.bytes().take_while(u8::is_ascii_digit).count();
    (end > 0).then(|| &rest[..end])
}

/// An error count.
pub fn parse_count(text: &str) -> Result<u64, ParseError> {
    let text = text.trim();
    text.parse().map_err(|_| ParseError::new(format!("invalid error count {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_counts() {
        assert_eq!(controller_number("mc0"), Some("0"));
        assert_eq!(controller_number("mc12"), Some("12"));
        assert_eq!(controller_number("mc"), None);
        assert_eq!(controller_number("power"), None);
        assert_eq!(csrow_number("csrow3"), Some("3"));
        assert_eq!(csrow_number("ce_count"), None);
        assert_eq!(parse_count("5\n").unwrap(), 5);
        assert!(parse_count("x").is_err());
    }
}
