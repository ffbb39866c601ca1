//! `/proc/sys/fs/file-nr`: allocated, free (always 0 since 2.6) and maximum handles.

use super::{ParseError, parse_f64};

/// The two numbers node_exporter exports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileNr {
    /// Allocated file handles.
    pub allocated: f64,
    /// Maximum file handles.
    pub maximum: f64,
}

/// Parses `file-nr` (`512\t0\t2466170`).
pub fn parse(text: &str) -> Result<FileNr, ParseError> {
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    let [allocated, _free, maximum] = fields[..] else {
        return Err(ParseError::new(format!("expected 3 fields, got {:?}", text.trim())));
    };
    Ok(FileNr { allocated: parse_f64(allocated, "allocated")?, maximum: parse_f64(maximum, "maximum")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_line() {
        assert_eq!(parse("512\t0\t2466170\n").unwrap(), FileNr { allocated: 512.0, maximum: 2466170.0 });
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse("512 0\n").is_err());
        assert!(parse("a 0 1\n").is_err());
    }
}
