//! `os-release(5)`: shell-style `KEY=value` assignments.

use std::collections::HashMap;

use super::ParseError;

/// Parses an os-release file into its assignments. Values may be unquoted,
/// double-quoted (with `\"`, `\\`, `` \` `` and `\$` escapes) or
/// single-quoted (literal); comments and blank lines are skipped.
pub fn parse(text: &str) -> Result<HashMap<&str, String>, ParseError> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, raw) = line.split_once('=').ok_or_else(|| ParseError::new(format!("invalid line {line:?}")))?;
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ParseError::new(format!("invalid variable name in {line:?}")));
        }
        vars.insert(
            key,
            unquote(raw.trim()).ok_or_else(|| ParseError::new(format!("unterminated quote in {line:?}")))?,
        );
    }
    Ok(vars)
}

fn unquote(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        c @ ('"' | '\\' | '`' | '$') => out.push(c),
                        c => {
                            out.push('\\');
                            out.push(c);
                        }
                    },
                    c => out.push(c),
                }
            },
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_12() {
        let text = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;
        let vars = parse(text).unwrap();
        assert_eq!(vars["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(vars["VERSION_CODENAME"], "bookworm");
        assert_eq!(vars["ID"], "debian");
        assert_eq!(vars.len(), 7);
    }

    #[test]
    fn handles_quotes_escapes_and_comments() {
        let text = "# comment\n\nA='it''s'\nB=\"say \\\"hi\\\" \\n\"\nC=a\\ b\n";
        let vars = parse(text).unwrap();
        assert_eq!(vars["A"], "its");
        assert_eq!(vars["B"], "say \"hi\" \\n");
        assert_eq!(vars["C"], "a b");
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse("NAME\n").is_err());
        assert!(parse("NAME=\"open\n").is_err());
        assert!(parse("BAD-KEY=1\n").is_err());
    }
}
