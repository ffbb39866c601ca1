//! Go's `strconv.FormatFloat` for `f64`: the one float formatter of Sonde
//! for every text that must match what a Go program (Prometheus, promtool,
//! client_golang, Go templates) writes.
//!
//! [`format_float`]`(v, fmt, prec)` is `strconv.FormatFloat(v, fmt, prec,
//! 64)`, with `None` for Go's precision `-1` (the fewest digits that parse
//! back to `v`):
//!
//! ```
//! use sonde_instrument::strconv::{FloatFormat::{E, F, G, UpperE}, format_float};
//!
//! // strconv.FormatFloat(v, 'g', -1, 64), also fmt's `%v`:
//! // client_golang's `le` and `quantile` labels, Go templates' `{{ $value }}`.
//! let g = |v| format_float(v, G, None);
//! assert_eq!(g(1.0), "1");
//! assert_eq!(g(0.1), "0.1");
//! assert_eq!(g(1e21), "1e+21");
//! assert_eq!(g(1e-7), "1e-07");
//! assert_eq!(g(123456.0), "123456");
//! assert_eq!(g(1234567.0), "1.234567e+06");
//! assert_eq!(g(f64::INFINITY), "+Inf");
//! assert_eq!(g(f64::NEG_INFINITY), "-Inf");
//! assert_eq!(g(f64::NAN), "NaN");
//! assert_eq!(g(-0.0), "-0");
//!
//! // strconv.FormatFloat(v, 'f', -1, 64): never an exponent.
//! let f = |v| format_float(v, F, None);
//! assert_eq!(f(1.0), "1");
//! assert_eq!(f(0.1), "0.1");
//! assert_eq!(f(1e21), "1000000000000000000000");
//! assert_eq!(f(1e-7), "0.0000001");
//! assert_eq!(f(f64::INFINITY), "+Inf");
//! assert_eq!(f(f64::NEG_INFINITY), "-Inf");
//! assert_eq!(f(f64::NAN), "NaN");
//! assert_eq!(f(-0.0), "-0");
//!
//! // strconv.FormatFloat(v, 'e', -1, 64) and 'E': always an exponent, of at
//! // least two digits.
//! let e = |v| format_float(v, E, None);
//! assert_eq!(e(1.0), "1e+00");
//! assert_eq!(e(0.1), "1e-01");
//! assert_eq!(e(1e21), "1e+21");
//! assert_eq!(e(1e-7), "1e-07");
//! assert_eq!(e(-0.0), "-0e+00");
//! assert_eq!(e(f64::NAN), "NaN");
//! assert_eq!(format_float(2.5e-7, UpperE, None), "2.5E-07");
//!
//! // A precision rounds to that many digits after the point ('e', 'f') or
//! // significant digits ('g'), as fmt's `%.3e`, `%.2f`, `%.4g` do.
//! assert_eq!(format_float(2.5, E, Some(3)), "2.500e+00");
//! assert_eq!(format_float(2.0 / 3.0, F, Some(2)), "0.67");
//! assert_eq!(format_float(12345.0, G, Some(4)), "1.234e+04");
//! assert_eq!(format_float(2.0, G, Some(4)), "2");
//! ```
//!
//! Floats that are not Go's `strconv` text do not use this module: the
//! exposition encoder ([`encode`](mod@crate::encode)) writes the shortest
//! text that parses back to the same `f64`, integers without an exponent
//! (`16777216`, where client_golang writes `1.6777216e+07`), on purpose and
//! faster; JSON numbers follow JSON (`serde_json`).

use std::fmt::{self, Write as _};

/// The `fmt` byte of Go's `strconv.FormatFloat`.
///
/// ```
/// use sonde_instrument::strconv::{FloatFormat, format_float};
///
/// assert_eq!(format_float(1e21, FloatFormat::G, None), "1e+21");
/// assert_eq!(format_float(0.5, FloatFormat::E, Some(2)), "5.00e-01");
/// assert_eq!(format_float(2.0, FloatFormat::F, None), "2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FloatFormat {
    /// `'e'`: `-d.dddde±dd`.
    E,
    /// `'E'`: `-d.ddddE±dd`.
    UpperE,
    /// `'f'`: `-ddd.dddd`, no exponent.
    F,
    /// `'g'`: `'e'` when the decimal exponent is below -4 or at least the
    /// precision (6 for the shortest digits), `'f'` otherwise.
    G,
}

/// Go's `strconv.FormatFloat(v, fmt, prec, 64)`; `prec` `None` is Go's `-1`,
/// the fewest digits that parse back to `v`. NaN is `NaN` and the
/// infinities `+Inf` and `-Inf` in every format.
pub fn format_float(v: f64, fmt: FloatFormat, prec: Option<usize>) -> String {
    let mut out = String::new();
    append_float(&mut out, v, fmt, prec);
    out
}

/// Go's `strconv.AppendFloat(out, v, fmt, prec, 64)`: [`format_float`]
/// appended to `out`.
pub fn append_float(out: &mut String, v: f64, fmt: FloatFormat, prec: Option<usize>) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let v = v.abs();
    match (fmt, prec) {
        (_, None) => {
            // Rust's `{:e}` writes the same shortest digits as Go.
            let mut text = StackText::default();
            let _ = write!(text, "{v:e}");
            let mut buf = [0u8; StackText::CAPACITY];
            let digits = Decimal::parse(text.as_str(), &mut buf);
            format_decimal(out, &digits, fmt, None);
        }
        // Rust's fixed-point formatting rounds exactly, as Go's does. An
        // f64 has at most 1,074 decimals, so past that the digits are
        // zeros (and Rust's formatter refuses precisions past 65,535).
        (FloatFormat::F, Some(prec)) => {
            let exact = prec.min(EXACT_DECIMALS);
            let _ = write!(out, "{v:.exact$}");
            out.extend(std::iter::repeat_n('0', prec - exact));
        }
        (FloatFormat::E | FloatFormat::UpperE | FloatFormat::G, Some(prec)) => {
            let significant = if fmt == FloatFormat::G { prec.max(1) } else { prec + 1 };
            // At most 767 significant digits are not zeros; the rest is
            // padding `format_decimal` adds.
            let significant = significant.min(EXACT_SIGNIFICANT);
            let text = format!("{v:.prec$e}", prec = significant - 1);
            let mut buf = vec![0u8; text.len()];
            let digits = Decimal::parse(&text, &mut buf);
            format_decimal(out, &digits, fmt, Some(prec));
        }
    }
}

/// More decimals than any f64 has (its smallest subnormal has 1,074).
const EXACT_DECIMALS: usize = 1_100;
/// More significant digits than any f64 has (767 at most).
const EXACT_SIGNIFICANT: usize = 800;

/// `0.d₁d₂…dₙ × 10^dp` without trailing zeros (Go's `decimalSlice`); no
/// digits at all for zero.
#[derive(Debug)]
struct Decimal<'a> {
    d: &'a [u8],
    dp: i64,
}

impl<'a> Decimal<'a> {
    /// From Rust's `{:e}` text of a non-negative number (`1.25e-7`), the
    /// digits copied into `buf`, which must be as long as `text`.
    fn parse(text: &str, buf: &'a mut [u8]) -> Decimal<'a> {
        let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
        let exp: i64 = exp.parse().unwrap_or(0);
        let mut nd = 0;
        for (slot, digit) in buf.iter_mut().zip(mantissa.bytes().filter(u8::is_ascii_digit)) {
            *slot = digit;
            nd += 1;
        }
        let d = buf.get(..nd).unwrap_or_default();
        let d = match d.iter().rposition(|&b| b != b'0') {
            Some(last) => d.get(..=last).unwrap_or_default(),
            None => return Decimal { d: &[], dp: 0 },
        };
        Decimal { d, dp: exp + 1 }
    }

    fn nd(&self) -> usize {
        self.d.len()
    }
}

/// Go's `formatDigits`: the digits in `fmt`; `prec` `None` when they are
/// the shortest.
fn format_decimal(out: &mut String, digits: &Decimal<'_>, fmt: FloatFormat, prec: Option<usize>) {
    let nd = digits.nd();
    let dp = digits.dp;
    match fmt {
        FloatFormat::E => fmt_e(out, digits, prec.unwrap_or(nd.saturating_sub(1)), 'e'),
        FloatFormat::UpperE => fmt_e(out, digits, prec.unwrap_or(nd.saturating_sub(1)), 'E'),
        FloatFormat::F => fmt_f(out, digits, prec.unwrap_or(to_usize(nd as i64 - dp))),
        FloatFormat::G => {
            let shortest = prec.is_none();
            let mut prec = prec.map_or(nd, |p| p.max(1));
            // "%e is used if the exponent from the conversion is less than
            // -4 or greater than or equal to the precision. If precision
            // was the shortest possible, use precision 6 for this decision."
            let mut eprec = prec;
            if eprec > nd && nd as i64 >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec as i64 {
                prec = prec.min(nd);
                fmt_e(out, digits, prec.saturating_sub(1), 'e');
            } else {
                if prec as i64 > dp {
                    prec = nd;
                }
                fmt_f(out, digits, to_usize(prec as i64 - dp));
            }
        }
    }
}

/// Go's `fmtE`: `d.ddddde±dd` with `prec` digits after the point.
fn fmt_e(out: &mut String, digits: &Decimal<'_>, prec: usize, e: char) {
    let d = digits.d;
    out.push(d.first().map_or('0', |&b| char::from(b)));
    if prec > 0 {
        out.push('.');
        let m = d.len().min(prec + 1);
        out.extend(d.iter().take(m).skip(1).map(|&b| char::from(b)));
        out.extend(std::iter::repeat_n('0', prec + 1 - m.max(1)));
    }
    out.push(e);
    // Zero has exponent 0.
    let exp = if d.is_empty() { 0 } else { digits.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
}

/// Go's `fmtF`: `ddd.dddd` with `prec` digits after the point.
fn fmt_f(out: &mut String, digits: &Decimal<'_>, prec: usize) {
    let d = digits.d;
    let dp = digits.dp;
    if dp > 0 {
        let whole = to_usize(dp);
        out.extend(d.iter().take(whole).map(|&b| char::from(b)));
        out.extend(std::iter::repeat_n('0', whole.saturating_sub(d.len())));
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        out.extend((0..prec).map(|i| {
            let j = dp + i as i64;
            usize::try_from(j).ok().and_then(|j| d.get(j)).map_or('0', |&b| char::from(b))
        }));
    }
}

/// `n` if positive, else 0 (Go's `max(n, 0)`).
fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// A fixed buffer for Rust's shortest `{:e}` text of an `f64`, at most 24
/// bytes (`-2.2250738585072014e-308`).
#[derive(Debug)]
struct StackText {
    buf: [u8; StackText::CAPACITY],
    len: usize,
}

impl StackText {
    const CAPACITY: usize = 32;

    fn as_str(&self) -> &str {
        self.buf.get(..self.len).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default()
    }
}

impl Default for StackText {
    fn default() -> Self {
        StackText { buf: [0; StackText::CAPACITY], len: 0 }
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::FloatFormat::{E, F, G, UpperE};
    use super::*;

    #[test]
    fn huge_precisions_pad_with_the_zeros_go_writes() {
        // Rust's formatter refuses precisions past 65,535; Go writes them.
        let f = format_float(0.1, FloatFormat::F, Some(70_000));
        assert_eq!(f.len(), 70_002);
        assert!(f.starts_with("0.1000000000000000055511151231257827"), "{}", &f[..40]);
        assert!(f[1_200..].bytes().all(|b| b == b'0'));
        let exact = format_float(5e-324, FloatFormat::F, Some(1_074));
        assert!(exact.ends_with("18265533447265625"), "the last decimals are exact: 5^1074 ends so");
        assert_eq!(format_float(5e-324, FloatFormat::F, Some(1_200)), format!("{exact}{}", "0".repeat(126)));
        let e = format_float(0.1, FloatFormat::E, Some(2_000));
        assert!(e.starts_with("1.000000000000000055511151231257827") && e.ends_with("e-01"), "{e}");
        assert_eq!(e.len(), "1.".len() + 2_000 + "e-01".len());
    }

    #[test]
    fn g_shortest_like_go() {
        for (v, want) in [
            // client_golang's default bucket bounds.
            (0.005, "0.005"),
            (0.01, "0.01"),
            (2.5, "2.5"),
            (10.0, "10"),
            (-0.5, "-0.5"),
            (0.5, "0.5"),
            (1.0, "1"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.0, "0"),
            (-0.0, "-0"),
        ] {
            assert_eq!(format_float(v, G, None), want, "{v}");
        }
    }

    #[test]
    fn g_with_precision_like_go() {
        for (v, prec, want) in [
            (1.5, 4, "1.5"),
            (1234.0, 4, "1234"),
            (12345.0, 4, "1.234e+04"),
            (0.000123456, 4, "0.0001235"),
            (2.0, 4, "2"),
            (0.0, 4, "0"),
            (-0.0, 4, "-0"),
            (123.0, 0, "1e+02"),
            (9.99999, 3, "10"),
            (1e-5, 4, "1e-05"),
        ] {
            assert_eq!(format_float(v, G, Some(prec)), want, "{v} {prec}");
        }
    }

    #[test]
    fn e_like_go() {
        for (v, want) in [
            (1.0, "1e+00"),
            (0.0, "0e+00"),
            (-0.0, "-0e+00"),
            (1.5e-7, "1.5e-07"),
            (123456.0, "1.23456e+05"),
            (1e300, "1e+300"),
            (-2.5, "-2.5e+00"),
        ] {
            assert_eq!(format_float(v, E, None), want, "{v}");
        }
        // promtool's sample values.
        for (v, want) in [
            (1.0, "1E+00"),
            (0.25, "2.5E-01"),
            (123.456, "1.23456E+02"),
            (1e21, "1E+21"),
            (1.5e-7, "1.5E-07"),
            (1e100, "1E+100"),
            (-0.0, "-0E+00"),
            (0.0, "0E+00"),
        ] {
            assert_eq!(format_float(v, UpperE, None), want, "{v}");
        }
        for (v, prec, want) in [
            (2.5, 3, "2.500e+00"),
            (0.0, 2, "0.00e+00"),
            (123456.0, 2, "1.23e+05"),
            (9.999, 2, "1.00e+01"),
            (1.0, 0, "1e+00"),
        ] {
            assert_eq!(format_float(v, E, Some(prec)), want, "{v} {prec}");
        }
    }

    #[test]
    fn f_like_go() {
        for (v, want) in [
            (1e21, "1000000000000000000000"),
            (1.234_567_890_123_456_8e20, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-0.0, "-0"),
        ] {
            assert_eq!(format_float(v, F, None), want, "{v}");
        }
        assert_eq!(format_float(2.0 / 3.0, F, Some(3)), "0.667");
        assert_eq!(format_float(-1.0, F, Some(0)), "-1");
        assert_eq!(format_float(f64::NAN, F, Some(2)), "NaN");
    }

    #[test]
    fn appends() {
        let mut out = String::from("le=");
        append_float(&mut out, 0.25, G, None);
        assert_eq!(out, "le=0.25");
    }

    proptest::proptest! {
        // Go's 'f' with the shortest digits is Rust's `Display`; every
        // format parses back to the same number.
        #[test]
        fn shortest_round_trips(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite());
            proptest::prop_assert_eq!(format_float(v, F, None), v.to_string());
            for fmt in [E, UpperE, F, G] {
                let text = format_float(v, fmt, None);
                let back: f64 = text.parse().map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{text}: {e}")))?;
                proptest::prop_assert_eq!(back.to_bits(), v.to_bits(), "{:?} {}", fmt, text);
            }
        }
    }
}
