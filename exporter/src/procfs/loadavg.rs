//! `/proc/loadavg`.

use super::{ParseError, parse_f64};

/// The three load averages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAvg {
    /// Over 1 minute.
    pub load1: f64,
    /// Over 5 minutes.
    pub load5: f64,
    /// Over 15 minutes.
    pub load15: f64,
}

/// Parses `/proc/loadavg` (`0.77 0.50 0.21 1/130 9999`).
pub fn parse(text: &str) -> Result<LoadAvg, ParseError> {
    let mut fields = text.split_ascii_whitespace();
    let mut next = |what| {
        fields
            .next()
            .ok_or_else(|| ParseError::new(format!("unexpected content {:?}", text.trim())))
            .and_then(|f| parse_f64(f, what))
    };
    Ok(LoadAvg { load1: next("load1")?, load5: next("load5")?, load15: next("load15")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_line() {
        let load = parse("2.08 0.82 0.36 4/132 13733\n").unwrap();
        assert_eq!(load, LoadAvg { load1: 2.08, load5: 0.82, load15: 0.36 });
    }

    #[test]
    fn rejects_short_or_bad_input() {
        assert!(parse("1.0 2.0\n").is_err());
        assert!(parse("a b c\n").is_err());
        assert!(parse("").is_err());
    }
}
