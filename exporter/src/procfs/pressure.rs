//! `/proc/pressure/{cpu,io,memory}` (pressure stall information).

use super::{ParseError, parse_f64, parse_u64};

/// One line: `some avg10=0.08 avg60=0.33 avg300=0.50 total=7682974`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiLine {
    /// Share of the last 10 s, in percent.
    pub avg10: f64,
    /// Share of the last 60 s, in percent.
    pub avg60: f64,
    /// Share of the last 300 s, in percent.
    pub avg300: f64,
    /// Total stall time in microseconds.
    pub total: u64,
}

/// A pressure file: the `some` and (except for CPU on old kernels) `full` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Psi {
    /// Some tasks stalled.
    pub some: Option<PsiLine>,
    /// All non-idle tasks stalled.
    pub full: Option<PsiLine>,
}

/// Parses one pressure file.
pub fn parse(text: &str) -> Result<Psi, ParseError> {
    let mut psi = Psi::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(kind) = fields.next() else { continue };
        let mut parsed = PsiLine::default();
        for field in fields {
            let (key, value) =
                field.split_once('=').ok_or_else(|| ParseError::new(format!("invalid field {field:?}")))?;
            match key {
                "avg10" => parsed.avg10 = parse_f64(value, key)?,
                "avg60" => parsed.avg60 = parse_f64(value, key)?,
                "avg300" => parsed.avg300 = parse_f64(value, key)?,
                "total" => parsed.total = parse_u64(value, key)?,
                _ => {}
            }
        }
        match kind {
            "some" => psi.some = Some(parsed),
            "full" => psi.full = Some(parsed),
            _ => return Err(ParseError::new(format!("unknown line {line:?}"))),
        }
    }
    Ok(psi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_file() {
        let text = "some avg10=0.08 avg60=0.33 avg300=0.50 total=7682974\nfull avg10=0.01 avg60=0.27 avg300=0.46 total=7226153\n";
        let psi = parse(text).unwrap();
        assert_eq!(psi.some.unwrap().total, 7682974);
        assert_eq!(psi.some.unwrap().avg60, 0.33);
        assert_eq!(psi.full.unwrap().total, 7226153);
    }

    #[test]
    fn cpu_on_old_kernels_has_no_full_line() {
        let psi = parse("some avg10=0.02 avg60=1.93 avg300=1.82 total=15602238\n").unwrap();
        assert!(psi.full.is_none());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse("some total\n").is_err());
        assert!(parse("some total=x\n").is_err());
        assert!(parse("half total=1\n").is_err());
    }
}
