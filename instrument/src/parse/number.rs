//! Number syntax: OpenMetrics' strict grammar and Go's `strconv.ParseFloat`,
//! which Prometheus applies to text 0.0.4 values.

/// Parses an OpenMetrics number: `[sign] digits [. digits] [e [sign] digits]`,
/// `Inf`/`Infinity` with an optional sign and `NaN`, case-insensitive. That
/// is exactly the grammar `f64::from_str` accepts.
pub(super) fn om_number(token: &str) -> Option<f64> {
    token.parse().ok()
}

/// Parses a number as Go's `strconv.ParseFloat` does, which is what
/// Prometheus uses for text 0.0.4 values: decimal or hexadecimal (`0x1p-3`)
/// literals, `_` between digits, `Inf`/`Infinity` with an optional sign,
/// unsigned `NaN`. A finite literal too large for f64 is an error, as in Go.
pub(super) fn go_float(token: &str) -> Option<f64> {
    let (negative, body) = match token.as_bytes().first() {
        Some(b'+') => (false, token.get(1..)?),
        Some(b'-') => (true, token.get(1..)?),
        _ => (false, token),
    };
    let magnitude = if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if body.eq_ignore_ascii_case("nan") {
        if body.len() != token.len() {
            return None;
        }
        f64::NAN
    } else {
        if !body.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        let value = match body.get(..2) {
            Some("0x" | "0X") => hex_float(&body.get(2..)?.to_ascii_lowercase())?,
            _ if body.contains('_') => {
                if !underscores_ok(body, false) {
                    return None;
                }
                body.replace('_', "").parse::<f64>().ok()?
            }
            _ => body.parse::<f64>().ok()?,
        };
        if value.is_infinite() {
            return None;
        }
        value
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Go allows `_` only between two digits (or after a base prefix).
fn underscores_ok(s: &str, after_prefix: bool) -> bool {
    let mut prev_digit = after_prefix;
    let mut prev_underscore = false;
    for b in s.bytes() {
        let digit = b.is_ascii_digit() || (after_prefix && b.is_ascii_hexdigit());
        if b == b'_' {
            if !prev_digit {
                return false;
            }
            prev_underscore = true;
            prev_digit = false;
        } else {
            if prev_underscore && !digit {
                return false;
            }
            prev_underscore = false;
            prev_digit = digit;
        }
    }
    !prev_underscore
}

/// `hexdigits [. hexdigits] p [sign] digits` (lower case, prefix removed);
/// Go requires the `p` exponent.
fn hex_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscores_ok(s, true) {
        return None;
    }
    let s = s.replace('_', "");
    let (mantissa, exponent) = s.split_once('p')?;
    let exponent: i32 = match exponent.strip_prefix('+') {
        Some(e) if !e.starts_with(['+', '-']) => e.parse().ok()?,
        Some(_) => return None,
        None => exponent.parse().ok()?,
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut bits: u64 = 0;
    let mut shift: i64 = 0;
    for (i, c) in int_part.chars().chain(frac_part.chars()).enumerate() {
        let digit = u64::from(c.to_digit(16)?);
        let fractional = i >= int_part.len();
        if bits < (1 << 56) {
            bits = bits * 16 + digit;
            if fractional {
                shift -= 4;
            }
        } else if !fractional {
            // Digits beyond f64's precision only scale the value.
            shift += 4;
        }
    }
    let total = (i64::from(exponent) + shift).clamp(-1200, 1200) as i32;
    // Two steps keep 2^total from under- or overflowing on its own.
    let half = total / 2;
    Some(bits as f64 * 2f64.powi(half) * 2f64.powi(total - half))
}
