//! `/proc/vmstat`: one `name value` pair a line.

use super::ParseError;

/// Parses `/proc/vmstat` into `(name, value)` pairs borrowed from the text.
/// Values stay text: the collector parses only the fields it keeps.
pub fn parse(text: &str) -> Result<Vec<(&str, &str)>, ParseError> {
    let mut pairs = Vec::with_capacity(192);
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_ascii_whitespace();
        match (fields.next(), fields.next(), fields.next()) {
            (Some(name), Some(value), None) => pairs.push((name, value)),
            _ => return Err(ParseError::new(format!("invalid line {line:?}"))),
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_lines() {
        let text = "nr_free_pages 5766320\npgpgin 2639465\npswpin 0\noom_kill 0\n";
        let pairs = parse(text).unwrap();
        assert_eq!(
            pairs,
            vec![("nr_free_pages", "5766320"), ("pgpgin", "2639465"), ("pswpin", "0"), ("oom_kill", "0")]
        );
    }

    #[test]
    fn rejects_lines_without_a_value() {
        assert!(parse("pgpgin\n").is_err());
        assert!(parse("pgpgin 1 2\n").is_err());
    }
}
