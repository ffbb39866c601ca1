//! Pure parsers of sysfs attributes: text in, typed value out.
//!
//! A sysfs attribute is a file holding one value; these modules turn the
//! attributes of one object (a network interface, a sensor) into a struct.
//! Nothing here touches the filesystem: the collectors read the files.

pub mod cpufreq;
pub mod hwmon;
pub mod net_class;
pub mod selinux;
pub mod thermal;
pub mod xfs;

/// Parses an integer the way Go's `strconv.ParseInt(s, 0, 64)` does, which
/// is how node_exporter reads sysfs numbers: `0x` hexadecimal, `0o` or a
/// leading `0` octal, `0b` binary, otherwise decimal, with an optional
/// sign. `None` when it is none of those (Go's `_` between digits, which
/// no kernel writes, included).
pub fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &unsigned[2..]),
        Some("0o") => (8, &unsigned[2..]),
        Some("0b") => (2, &unsigned[2..]),
        _ if unsigned.len() > 1 && unsigned.starts_with('0') => (8, &unsigned[1..]),
        _ => (10, unsigned),
    };
    // `from_str_radix` takes a sign of its own; the sign was taken above.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative { 0i64.checked_sub_unsigned(magnitude) } else { i64::try_from(magnitude).ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_go_reads_them() {
        for (text, value) in [
            ("1500", Some(1500)),
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("+7", Some(7)),
            ("0x1303", Some(4867)),
            ("0X20", Some(32)),
            ("010", Some(8)),
            ("0o17", Some(15)),
            ("0b101", Some(5)),
            ("1_000", None),
            ("0x", None),
            ("", None),
            ("-", None),
            ("08", None),
            ("12a", None),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            (" 1", None),
        ] {
            assert_eq!(parse_go_int(text), value, "{text:?}");
        }
    }
}
