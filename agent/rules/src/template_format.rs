//! Go's number formatting (`%v`, `%g`, `%f`, `%e`), Prometheus' `humanize*`
//! functions and a small `printf`, so templates print what Prometheus
//! prints.

use sonde_instrument::strconv::{FloatFormat, format_float};

use super::template::Value;

/// Go's `%.4g`, the format of Prometheus' `humanize*` functions.
fn g4(v: f64) -> String {
    format_float(v, FloatFormat::G, Some(4))
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub(crate) fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanize1024`: binary prefixes, 4 significant digits.
pub(crate) fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanizePercentage`: a ratio as a percentage.
pub(crate) fn humanize_percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// Prometheus' `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.5ms`.
pub(crate) fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return "0s".to_owned();
    }
    if v.abs() < 1.0 {
        let mut v = v;
        let mut prefix = "";
        for p in ["m", "u", "n"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
        return format!("{}{prefix}s", g4(v));
    }
    let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
    let whole = v as i64;
    let (seconds, minutes, hours, days) = (whole % 60, whole / 60 % 60, whole / 3600 % 24, whole / 86_400);
    if days != 0 {
        format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
    } else if hours != 0 {
        format!("{sign}{hours}h {minutes}m {seconds}s")
    } else if minutes != 0 {
        format!("{sign}{minutes}m {seconds}s")
    } else {
        format!("{sign}{}s", g4(v))
    }
}

/// A subset of Go's `fmt.Sprintf`: flags `-+0`, width, precision and the
/// verbs `v s d f F e g q %`.
pub(crate) fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut plus, mut zero) = (false, false, false);
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => left = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        // As Go's `parsenum`: a number past a million is "crazy long",
        // and the rest of the format goes with it.
        let Some(width) = parse_number(&mut chars) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        let mut prec = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let Some(p) = parse_number(&mut chars) else {
                out.push_str("%!(NOVERB)");
                break;
            };
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let number = arg.as_number();
        let mut text = match (verb, arg, number) {
            ('v' | 's', _, _) => arg.to_string(),
            ('q', _, _) => format!("{:?}", arg.to_string()),
            ('d', _, Some(n)) if n.fract() == 0.0 && n.is_finite() => format!("{}", n as i64),
            ('f' | 'F', _, Some(n)) => format_float(n, FloatFormat::F, Some(prec.unwrap_or(6))),
            ('e', _, Some(n)) => format_float(n, FloatFormat::E, Some(prec.unwrap_or(6))),
            ('g', _, Some(n)) => format_float(n, FloatFormat::G, prec),
            (_, arg, _) => format!("%!{verb}({})", arg.go_type_and_value()),
        };
        if plus && number.is_some_and(|n| n >= 0.0) && matches!(verb, 'd' | 'f' | 'F' | 'e' | 'g' | 'v') {
            text.insert(0, '+');
        }
        let len = text.chars().count();
        if len < width {
            let pad = width - len;
            if left {
                text.extend(std::iter::repeat_n(' ', pad));
            } else if zero && number.is_some() && verb != 's' {
                let at = usize::from(text.starts_with(['-', '+']));
                text.insert_str(at, &"0".repeat(pad));
            } else {
                text.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&text);
    }
    let extra: Vec<String> = args.map(Value::go_type_and_value).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// The digits at the front of `chars` as a number (0 without digits), or
/// `None` once it passes Go's `tooLarge` bound of a million, with every
/// remaining character consumed, as Go's `fmt` does.
fn parse_number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut number = 0usize;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        if number > 1_000_000 {
            chars.for_each(drop);
            return None;
        }
        number = number * 10 + d as usize;
        chars.next();
    }
    Some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_prometheus() {
        assert_eq!(humanize(1234.0), "1.234k");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1.0e9), "1G");
        assert_eq!(humanize1024(1024.0 * 1024.0), "1Mi");
        assert_eq!(humanize_percentage(0.1234), "12.34%");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.0015), "1.5ms");
    }

    #[test]
    fn printf_like_go() {
        let n = |v| Value::Num(v);
        assert_eq!(printf("%.2f", &[n(0.12345)]), "0.12");
        assert_eq!(printf("%d%%", &[n(42.0)]), "42%");
        assert_eq!(printf("%s is %v", &[Value::Str("a".into()), n(1.5)]), "a is 1.5");
        assert_eq!(printf("%5.1f|%-4s|", &[n(4.25), Value::Str("x".into())]), "  4.2|x   |");
        assert_eq!(printf("%e", &[n(1234.5)]), "1.234500e+03");
        assert_eq!(printf("%d", &[]), "%!d(MISSING)");
    }

    #[test]
    fn widths_and_precisions_past_a_million_are_refused_as_go_refuses_them() {
        let n = |v| Value::Num(v);
        for format in ["%1000000000000000000d", "%1000000000d", "%.1000000000f", "%100000000s and more"] {
            let out = printf(format, &[n(1.0)]);
            assert!(out.starts_with("%!(NOVERB)%!(EXTRA "), "{format}: {out}");
            assert!(out.len() < 100, "{format}: {} bytes", out.len());
        }
        // Go checks the bound before each digit: a million and one more
        // digit is still allowed.
        assert_eq!(printf("%1000000d", &[n(7.0)]).len(), 1_000_000);
        let wide = printf("%.1000000f", &[n(0.5)]);
        assert_eq!(wide.len(), 1_000_002);
        assert!(wide.starts_with("0.5000") && wide.ends_with("000"));
        assert_eq!(printf("%.3f|%3d", &[n(1.0), n(2.0)]), "1.000|  2");
    }
}
