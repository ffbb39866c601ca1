//! Pure parsers of sysfs attributes: text in, typed value out.
//!
//! A sysfs attribute is a file holding one value; these modules turn the
//! attributes of one object (a network interface, a sensor) into a struct.
//! Nothing here touches the filesystem: the collectors read the files.

pub mod bcache;
pub mod bonding;
pub mod btrfs;
pub mod cpufreq;
pub mod dmi;
pub mod edac;
pub mod fibre_channel;
pub mod hwmon;
pub mod infiniband;
pub mod net_class;
pub mod nvme;
pub mod power_supply;
pub mod powercap;
pub mod scsi_tape;
pub mod selinux;
pub mod thermal;
pub mod xfs;

/// Turns bytes into text the way Go's `strings.ToValidUTF8(s, "\u{FFFD}")`
/// does, which node_exporter applies to firmware strings before they
/// become label values: each run of bytes that is not UTF-8 becomes one
/// `U+FFFD` (where `String::from_utf8_lossy` writes one per bad sequence).
pub fn to_valid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut in_invalid_run = false;
    for chunk in bytes.utf8_chunks() {
        if !chunk.valid().is_empty() {
            out.push_str(chunk.valid());
            in_invalid_run = false;
        }
        if !chunk.invalid().is_empty() && !in_invalid_run {
            out.push(char::REPLACEMENT_CHARACTER);
            in_invalid_run = true;
        }
    }
    out
}

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
    let magnitude = parse_go_magnitude(unsigned)?;
    if negative { 0i64.checked_sub_unsigned(magnitude) } else { i64::try_from(magnitude).ok() }
}

/// Parses an unsigned integer as Go's `strconv.ParseUint(s, 0, 64)` does:
/// the prefixes of [`parse_go_int`], no sign. Counters that firmware
/// writes in hexadecimal (`0xffffffffffffffff`) need all 64 bits.
pub fn parse_go_uint(text: &str) -> Option<u64> {
    parse_go_magnitude(text)
}

fn parse_go_magnitude(unsigned: &str) -> Option<u64> {
    let lower = unsigned.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &unsigned[2..]),
        Some("0o") => (8, &unsigned[2..]),
        Some("0b") => (2, &unsigned[2..]),
        _ if unsigned.len() > 1 && unsigned.starts_with('0') => (8, &unsigned[1..]),
        _ => (10, unsigned),
    };
    // `from_str_radix` takes a sign of its own; the callers took theirs.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_runs_become_one_replacement_each() {
        // The bytes of upstream's fixtures: DMI's product_version and a
        // battery's model_name.
        assert_eq!(to_valid_utf8(b"\xc0\x1c[\x87"), "\u{FFFD}\x1c[\u{FFFD}");
        assert_eq!(to_valid_utf8(b"LNV-45N1\xc0\xc0"), "LNV-45N1\u{FFFD}");
        assert_eq!(to_valid_utf8("Dell Inc. é".as_bytes()), "Dell Inc. é");
        assert_eq!(to_valid_utf8(b""), "");
    }

    #[test]
    fn unsigned_integers_as_go_reads_them() {
        assert_eq!(parse_go_uint("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_go_uint("0x13"), Some(19));
        assert_eq!(parse_go_uint("1496246784000"), Some(1_496_246_784_000));
        assert_eq!(parse_go_uint("-1"), None);
        assert_eq!(parse_go_uint("+1"), None);
        assert_eq!(parse_go_uint("N/A (no PMA)"), None);
    }

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
