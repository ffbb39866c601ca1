//! JSON string literals: the one JSON string escaper of Sonde, for the
//! JSON it writes by hand (the query API's bodies, JSON log lines).
//!
//! Two flavours, as Go writes them:
//!
//! * [`write_string`] escapes what JSON requires: `"`, `\` and the control
//!   characters (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00XX`). That is
//!   `serde_json`'s output, and Go's `encoding/json` with
//!   `SetEscapeHTML(false)` (as go-kit's JSON logger sets it) for all but
//!   U+2028 and U+2029.
//! * [`write_string_html`] also escapes `<`, `>`, `&`, U+2028 and U+2029,
//!   as Go's `encoding/json` does by default and so Prometheus' HTTP API;
//!   [`html_escape`] does the same to JSON text written by `serde_json`
//!   (Go's `json.HTMLEscape`).
//!
//! ```
//! use sonde_instrument::json::{html_escape, write_string, write_string_html};
//!
//! let mut out = String::new();
//! write_string(&mut out, "a \"b\"\n<c>");
//! assert_eq!(out, r#""a \"b\"\n<c>""#);
//!
//! let mut out = String::new();
//! write_string_html(&mut out, "x > y & z\u{2028}");
//! assert_eq!(out, r#""x \u003e y \u0026 z\u2028""#);
//!
//! assert_eq!(html_escape(r#"{"error":"a<b"}"#), r#"{"error":"a\u003cb"}"#);
//! assert_eq!(html_escape(r#"{"ok":1}"#), r#"{"ok":1}"#);
//! ```

use std::borrow::Cow;

/// Appends `s` as a JSON string literal, quotes included, escaping what
/// JSON requires (`serde_json`'s escaping).
pub fn write_string(out: &mut String, s: &str) {
    write_quoted(out, s, false);
}

/// Appends `s` as a JSON string literal as Go's `encoding/json` writes it
/// by default: [`write_string`], and `<`, `>`, `&`, U+2028 and U+2029 as
/// `\u` escapes.
pub fn write_string_html(out: &mut String, s: &str) {
    write_quoted(out, s, true);
}

/// Go's `json.HTMLEscape`: JSON text with `<`, `>`, `&`, U+2028 and U+2029
/// as `\u` escapes. They can only occur inside strings, so the whole text
/// is safe to scan; borrowed when there is nothing to escape.
pub fn html_escape(json: &str) -> Cow<'_, str> {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match html_escape_of(c) {
            Some(escaped) => out.push_str(escaped),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn html_escape_of(c: char) -> Option<&'static str> {
    match c {
        '<' => Some("\\u003c"),
        '>' => Some("\\u003e"),
        '&' => Some("\\u0026"),
        '\u{2028}' => Some("\\u2028"),
        '\u{2029}' => Some("\\u2029"),
        _ => None,
    }
}

fn write_quoted(out: &mut String, s: &str, html: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let mut plain = 0;
    for (at, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c => match html.then(|| html_escape_of(c)).flatten() {
                Some(escaped) => escaped,
                None if u32::from(c) < 0x20 => "",
                None => continue,
            },
        };
        out.push_str(s.get(plain..at).unwrap_or_default());
        plain = at + c.len_utf8();
        if escaped.is_empty() {
            // The other control characters: `\u00XX`.
            let b = u32::from(c) as usize;
            out.push_str("\\u00");
            out.push(char::from(HEX[b >> 4]));
            out.push(char::from(HEX[b & 0xf]));
        } else {
            out.push_str(escaped);
        }
    }
    out.push_str(s.get(plain..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, s);
        out
    }

    fn html(s: &str) -> String {
        let mut out = String::new();
        write_string_html(&mut out, s);
        out
    }

    #[test]
    fn escapes() {
        assert_eq!(plain(""), r#""""#);
        assert_eq!(plain("\u{0}\u{1f}\u{7f}é"), "\"\\u0000\\u001f\u{7f}é\"");
        assert_eq!(plain("\u{8}\u{c}\r\t\\"), r#""\b\f\r\t\\""#);
        assert_eq!(html("a<b>&c\u{2028}\u{2029}"), r#""a\u003cb\u003e\u0026c\u2028\u2029""#);
        assert_eq!(html("\"\n"), r#""\"\n""#);
    }

    proptest::proptest! {
        // The plain flavour is serde_json's; the HTML one is serde_json's
        // followed by `html_escape`.
        #[test]
        fn same_as_serde_json(s in "(?s).{0,40}", t in "[\"\\\\<>&\u{0}-\u{1f}\u{2028}\u{2029}aé]{0,12}") {
            for s in [s.as_str(), t.as_str()] {
                let serde = serde_json::to_string(s).unwrap_or_default();
                proptest::prop_assert_eq!(plain(s), serde.clone());
                proptest::prop_assert_eq!(html(s), html_escape(&serde).into_owned());
            }
        }
    }
}
