//! `/proc/<pid>/stat`: the two fields the `processes` collector counts.

use super::{ParseError, parse_u64};

/// A process's scheduling state and thread count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidStat {
    /// Field 3: `R`, `S`, `D`, `Z`, `T`, `t`, `X`, `I`, …
    pub state: char,
    /// Field 20.
    pub threads: u64,
}

/// Parses a process's `stat` line. The command (field 2) is in parentheses
/// and may hold spaces and parentheses itself, so the fields after it are
/// found from the last `)`.
pub fn parse(text: &str) -> Result<PidStat, ParseError> {
    let (_, after) = text.rsplit_once(')').ok_or_else(|| ParseError::new("no command in parentheses"))?;
    let mut fields = after.split_ascii_whitespace();
    let state = fields.next().and_then(|f| f.chars().next()).ok_or_else(|| ParseError::new("no state field"))?;
    // `threads` is field 20: the 17th after the state.
    let threads = fields.nth(16).ok_or_else(|| ParseError::new("no thread count field"))?;
    Ok(PidStat { state, threads: parse_u64(threads, "thread count")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_after_the_command() {
        let line = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 1 0 0 0 3 4 0 0 20 0 7 0 100 1000 50 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(parse(line).unwrap(), PidStat { state: 'S', threads: 7 });
    }

    #[test]
    fn a_short_line_is_an_error() {
        assert!(parse("1 (init) S 0 1").is_err());
        assert!(parse("garbage").is_err());
    }
}
