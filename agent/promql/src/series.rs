//! promtool's series notation, as Prometheus' test files and promtool's
//! rule unit tests (`input_series`) write it: `metric{a="b"} 1+2x3 _ stale`.
//!
//! [`parse_series_values`] expands the values (`1 2 _ stale 3`, `a+bxn`,
//! `a-bxn`, `axn`, `_xn`, `Inf`, `NaN`); [`parse_series_line`] reads a whole
//! line. `sonde-agent test rules` and the `promqltest` runner both use them.

use crate::store::{LabelSet, stale_nan};

/// One value of a series description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this step.
    Omitted,
    /// A value (`stale` is the staleness-marker NaN).
    Value(f64),
}

/// Why a series description did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SeriesError(pub String);

/// True for a value written as a native histogram (`{{…}}`), which Sonde does not load.
pub fn is_native_histogram_token(token: &str) -> bool {
    token.starts_with("{{")
}

pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match body.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        "stale" => return (sign > 0.0 && !s.starts_with('+')).then(stale_nan),
        _ => body.parse::<f64>().ok()?,
    };
    Some(sign * v)
}

/// Splits `a+b` / `a-b` at the sign that starts the increment (not a leading
/// sign, not an exponent's sign).
fn split_increment(s: &str) -> Option<(&str, f64, &str)> {
    let bytes = s.as_bytes();
    for i in 1..bytes.len() {
        let c = bytes.get(i).copied()?;
        if (c == b'+' || c == b'-') && !matches!(bytes.get(i - 1), Some(b'e' | b'E')) {
            let (a, rest) = s.split_at(i);
            let sign = if c == b'+' { 1.0 } else { -1.0 };
            return Some((a, sign, rest.get(1..)?));
        }
    }
    None
}

/// Parses one value token of the expanding notation into `out`.
fn expand_token(token: &str, out: &mut Vec<SeqValue>) -> Result<(), SeriesError> {
    let err = || SeriesError(format!("bad series value {token:?}"));
    // `<item>x<n>`: the last 'x' followed only by digits.
    let (item, times) = match token.rfind('x') {
        Some(i)
            if i > 0 && token.get(i + 1..).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) =>
        {
            let n: u64 = token.get(i + 1..).and_then(|d| d.parse().ok()).ok_or_else(err)?;
            (token.get(..i).ok_or_else(err)?, Some(n))
        }
        _ => (token, None),
    };
    if item == "_" {
        let n = times.unwrap_or(1);
        out.extend(std::iter::repeat_n(SeqValue::Omitted, n as usize));
        return Ok(());
    }
    let Some(n) = times else {
        out.push(SeqValue::Value(parse_number(item).ok_or_else(err)?));
        return Ok(());
    };
    if let Some(v) = parse_number(item) {
        out.extend(std::iter::repeat_n(SeqValue::Value(v), n as usize + 1));
        return Ok(());
    }
    let (start, sign, inc) = split_increment(item).ok_or_else(err)?;
    let mut v = parse_number(start).ok_or_else(err)?;
    let inc = sign * parse_number(inc).ok_or_else(err)?;
    for _ in 0..=n {
        out.push(SeqValue::Value(v));
        v += inc;
    }
    Ok(())
}

/// Splits value text into tokens; a `{{…}}` native histogram is one token.
pub(crate) fn tokenize_values(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let mut depth = 0i32;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                _ if b.is_ascii_whitespace() && depth <= 0 => break,
                _ => {}
            }
            i += 1;
        }
        if let Some(t) = text.get(start..i) {
            out.push(t);
        }
    }
    out
}

/// Parses the values of a series description in promtool's expanding
/// notation: `1 2 3`, `1+2x3` (1 3 5 7), `5-1x2` (5 4 3), `7x2` (7 7 7),
/// `_` and `_x3` (no sample), `stale`, `Inf`, `-Inf`, `NaN`.
pub fn parse_series_values(text: &str) -> Result<Vec<SeqValue>, SeriesError> {
    let mut out = Vec::new();
    for token in tokenize_values(text) {
        if is_native_histogram_token(token) {
            return Err(SeriesError(format!("native histogram value {token:?} is not supported")));
        }
        expand_token(token, &mut out)?;
    }
    Ok(out)
}

/// Splits `metric{labels} rest` into the metric part and the rest.
pub(crate) fn split_metric(line: &str) -> Result<(&str, &str), SeriesError> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut in_quote: Option<u8> = None;
    let mut in_braces = false;
    while let Some(&b) = bytes.get(i) {
        match in_quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    in_quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' | b'`' if in_braces => in_quote = Some(b),
                b'{' => in_braces = true,
                b'}' => {
                    i += 1;
                    break;
                }
                _ if b.is_ascii_whitespace() && !in_braces => break,
                _ => {}
            },
        }
        i += 1;
    }
    if in_quote.is_some() {
        return Err(SeriesError(format!("unterminated quote in {line:?}")));
    }
    let (m, rest) = line.split_at(i.min(line.len()));
    Ok((m.trim(), rest))
}

fn unquote(s: &str) -> Result<String, SeriesError> {
    let err = || SeriesError(format!("bad quoted string {s:?}"));
    let mut chars = s.chars();
    let q = chars.next().ok_or_else(err)?;
    if !matches!(q, '"' | '\'' | '`') || !s.ends_with(q) || s.len() < 2 {
        return Err(err());
    }
    let inner = s.get(1..s.len() - 1).ok_or_else(err)?;
    if q == '`' {
        return Ok(inner.to_string());
    }
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => return Err(err()),
        }
    }
    Ok(out)
}

/// Parses `name{a="b", …}` (name optional) into a label set with `__name__`.
pub fn parse_metric(text: &str) -> Result<LabelSet, SeriesError> {
    let err = |m: &str| SeriesError(format!("{m} in {text:?}"));
    let text = text.trim();
    let (name, body) = match text.find('{') {
        Some(i) => {
            let inner = text.get(i + 1..).and_then(|r| r.strip_suffix('}')).ok_or_else(|| err("missing }"))?;
            (text.get(..i).unwrap_or("").trim(), inner)
        }
        None => (text, ""),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.to_string()));
    }
    // Split the body at commas outside quotes.
    let mut items = Vec::new();
    let mut start = 0;
    let mut in_quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if let Some(q) = in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                in_quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => in_quote = Some(c),
            ',' => {
                items.push(body.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(body.get(start..).unwrap_or(""));
    for item in items.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
        match item.find('=') {
            Some(eq) if !item.starts_with('"') || item.get(..eq).is_some_and(|n| n.ends_with('"')) => {
                let n = item.get(..eq).unwrap_or("").trim();
                let n = if n.starts_with('"') { unquote(n)? } else { n.to_string() };
                let v = unquote(item.get(eq + 1..).unwrap_or("").trim())?;
                pairs.push((n, v));
            }
            _ => pairs.push(("__name__".into(), unquote(item)?)),
        }
    }
    Ok(LabelSet::from_pairs(pairs))
}

/// Parses a series line `metric{labels} values…`.
pub fn parse_series_line(line: &str) -> Result<(LabelSet, Vec<SeqValue>), SeriesError> {
    let (metric, rest) = split_metric(line.trim())?;
    Ok((parse_metric(metric)?, parse_series_values(rest)?))
}

/// Parses a duration as the DSL writes it: `5m`, `1h30m`, `0`, or seconds.
pub fn parse_test_duration(s: &str) -> Result<i64, SeriesError> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1000.0).round() as i64);
    }
    sonde_instrument::duration::parse_prometheus_duration(s)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|e| SeriesError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(text: &str) -> Vec<SeqValue> {
        parse_series_values(text).unwrap()
    }

    #[test]
    fn expanding_notation() {
        use SeqValue::{Omitted as O, Value as V};
        assert_eq!(vals("1+2x3"), vec![V(1.0), V(3.0), V(5.0), V(7.0)]);
        assert_eq!(vals("5-1x2"), vec![V(5.0), V(4.0), V(3.0)]);
        assert_eq!(vals("7x2 _ _x2 -1"), vec![V(7.0), V(7.0), V(7.0), O, O, O, V(-1.0)]);
        assert_eq!(vals("-2+1.5x1"), vec![V(-2.0), V(-0.5)]);
        assert_eq!(vals("1e3+1e2x1"), vec![V(1000.0), V(1100.0)]);
        let v = vals("stale Inf -Inf NaN");
        assert!(matches!(v[0], V(x) if crate::store::is_stale(x)));
        assert_eq!(v[1], V(f64::INFINITY));
        assert_eq!(v[2], V(f64::NEG_INFINITY));
        assert!(matches!(v[3], V(x) if x.is_nan()));
        assert!(parse_series_values("1+x").is_err());
        assert!(parse_series_values("{{schema:0 sum:1}}").is_err());
    }

    #[test]
    fn series_lines() {
        let (l, v) = parse_series_line(r#"http_requests{job="api server", instance="0"} 0+10x2"#).unwrap();
        assert_eq!(l.metric_name(), Some("http_requests"));
        assert_eq!(l.get("job"), Some("api server"));
        assert_eq!(v.len(), 3);
        let (l, _) = parse_series_line("{} 1").unwrap();
        assert!(l.is_empty());
        let (l, _) = parse_series_line(r#"{__name__="a", b="c,d"} 1"#).unwrap();
        assert_eq!(l.get("b"), Some("c,d"));
    }
}
