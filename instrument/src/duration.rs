//! Durations written as Go's `time.ParseDuration` reads them (`5s`,
//! `500ms`, `1m30s`, `1.5h`), so flags take the values node_exporter and
//! Prometheus users already write.

use std::time::Duration;

/// Why a duration was refused.
///
/// ```
/// use sonde_instrument::duration::parse_prometheus_duration;
///
/// let err = parse_prometheus_duration("5 minutes").unwrap_err();
/// assert!(err.to_string().starts_with("invalid duration \"5 minutes\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason}")]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

/// Nanoseconds per unit, longest spelling first where one is a prefix of
/// another (`ms` before `m`).
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's largest duration, about 292 years.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a non-negative Go duration: one or more decimal numbers, each
/// with an optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`,
/// `h`); `0` needs no unit.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let refuse = |reason| DurationError { text: text.to_owned(), reason };
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(refuse("it must not be negative"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(refuse("it is empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (whole, after) = rest.split_at(digits);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
                after.split_at(digits)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(refuse("expected a number, like 5s or 500ms"));
        }
        let Some(&(unit, nanos)) = UNITS.iter().find(|(unit, _)| after.starts_with(unit)) else {
            return Err(refuse(if after.is_empty() {
                "a unit is missing (ns, us, ms, s, m or h)"
            } else {
                "unknown unit; use ns, us, ms, s, m or h"
            }));
        };
        rest = &after[unit.len()..];

        let too_long = || refuse("it is longer than 292 years");
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_long())? };
        let mut value = whole.checked_mul(nanos).ok_or_else(too_long)?;
        // Fraction digits beyond a nanosecond's resolution are dropped, as Go does.
        let mut scale = nanos;
        for digit in fraction.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            value += u128::from(digit - b'0') * scale;
        }
        total = total.checked_add(value).filter(|t| *t <= MAX_NANOS).ok_or_else(too_long)?;
    }
    // `total` is at most i64::MAX nanoseconds, so it fits.
    Ok(Duration::from_nanos(u64::try_from(total).unwrap_or(u64::MAX)))
}

/// Writes `duration` the way Go prints one, for help texts (`5s`, `1m30s`,
/// `500ms`).
pub fn format_go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        for (unit, per) in [("ms", 1_000_000), ("µs", 1_000), ("ns", 1)] {
            if nanos % per == 0 {
                return format!("{}{unit}", nanos / per);
            }
        }
    }
    let mut out = String::new();
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = nanos % 60_000_000_000;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    let whole = seconds / 1_000_000_000;
    let fraction = seconds % 1_000_000_000;
    if fraction == 0 {
        out.push_str(&format!("{whole}s"));
    } else {
        let digits = format!("{fraction:09}");
        out.push_str(&format!("{whole}.{}s", digits.trim_end_matches('0')));
    }
    out
}

/// Milliseconds per unit of a Prometheus duration, in the order the units
/// must appear.
const PROMETHEUS_UNITS: &[(&str, u64)] = &[
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration as Prometheus' configuration and rule files write it
/// (`model.ParseDuration`): whole numbers with the units `y`, `w`, `d`,
/// `h`, `m`, `s`, `ms`, each at most once and in that order (`1h30m`,
/// `1d`, `90s`); `0` needs no unit; no fractions, no sign.
///
/// Go's syntax ([`parse_go_duration`]) differs: it has fractions and
/// `us`/`ns` but no `d`, `w` or `y`, so rule files need this one.
pub fn parse_prometheus_duration(text: &str) -> Result<Duration, DurationError> {
    let refuse = |reason| DurationError { text: text.to_owned(), reason };
    if text.is_empty() {
        return Err(refuse("it is empty"));
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(refuse("expected a whole number with a unit, like 5m or 1h30m"));
        }
        let (number, after) = rest.split_at(digits);
        // `ms` before `m`: the longer spelling wins where both match.
        let found = PROMETHEUS_UNITS
            .iter()
            .enumerate()
            .filter(|(_, (unit, _))| after.starts_with(unit))
            .max_by_key(|(_, (unit, _))| unit.len());
        let Some((index, &(unit, millis))) = found else {
            return Err(refuse(if after.is_empty() {
                "a unit is missing (y, w, d, h, m, s or ms)"
            } else {
                "unknown unit; use y, w, d, h, m, s or ms"
            }));
        };
        if index < next_unit {
            return Err(refuse("units must appear once each, largest first (y w d h m s ms)"));
        }
        next_unit = index + 1;
        let too_long = || refuse("it is too long");
        let value: u64 = number.parse().map_err(|_| too_long())?;
        total = value
            .checked_mul(millis)
            .and_then(|v| total.checked_add(v))
            .filter(|t| *t <= i64::MAX as u64 / 1_000_000)
            .ok_or_else(too_long)?;
        rest = &after[unit.len()..];
    }
    Ok(Duration::from_millis(total))
}

/// Writes `duration` the way Prometheus prints one (`5m`, `1h30m`, `1d`,
/// `0s`), to the millisecond.
pub fn format_prometheus_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (index, &(unit, per)) in PROMETHEUS_UNITS.iter().enumerate() {
        let per = u128::from(per);
        // Years and weeks only when exact: `90d` reads better than `12w6d`.
        if index < 2 && millis % per != 0 {
            continue;
        }
        let count = millis / per;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            millis -= count * per;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_examples_parse() {
        for (text, expected) in [
            ("5s", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("0", Duration::ZERO),
            ("+1m", Duration::from_secs(60)),
            ("1h2m3s", Duration::from_secs(3723)),
            ("1.5h", Duration::from_secs(5400)),
            (".5s", Duration::from_millis(500)),
            ("2.s", Duration::from_secs(2)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("1.0000000001s", Duration::from_secs(1)),
            ("2562047h", Duration::from_secs(2_562_047 * 3600)),
        ] {
            assert_eq!(parse_go_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn bad_durations_are_refused() {
        for text in ["", "5", "-5s", "5 s", "5sec", "s", ".s", "1d", "5s3", "3000000h", "1e3s"] {
            assert!(parse_go_duration(text).is_err(), "{text:?} was accepted");
        }
        let err = parse_go_duration("5").unwrap_err().to_string();
        assert!(err.contains("\"5\"") && err.contains("unit"), "{err}");
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["5s", "500ms", "1m30s", "1h0m0s", "1.5s", "0s", "250µs"] {
            let duration = parse_go_duration(text).unwrap();
            assert_eq!(format_go_duration(duration), text);
        }
    }

    #[test]
    fn prometheus_durations_parse() {
        for (text, secs) in [
            ("0", 0),
            ("5m", 300),
            ("1h30m", 5400),
            ("1d", 86_400),
            ("1w", 604_800),
            ("1y", 31_536_000),
            ("2h0m10s", 7210),
            ("90s", 90),
        ] {
            assert_eq!(parse_prometheus_duration(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        assert_eq!(parse_prometheus_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_prometheus_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_prometheus_durations_are_refused() {
        for text in ["", "5", "1.5h", "-5m", "+5m", "30m1h", "5m5m", "5 m", "5us", "1e3s", "m", "99999999999999999999y"]
        {
            assert!(parse_prometheus_duration(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn prometheus_formatting_round_trips() {
        for text in ["0s", "5m", "1h30m", "1d", "1w", "1y", "90d", "1s500ms", "10m"] {
            let duration = parse_prometheus_duration(text).unwrap();
            assert_eq!(format_prometheus_duration(duration), text);
        }
    }
}
