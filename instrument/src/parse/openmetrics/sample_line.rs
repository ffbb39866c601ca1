//! One OpenMetrics sample line:
//! `name[{labels}] value[ timestamp][ # {labels} value[ timestamp]]`,
//! single spaces only.

use crate::model::{Exemplar, Labels};
use crate::parse::number;
use crate::parse::scan::{self, Cursor, Dialect};

/// The longest an exemplar's label names and values may be together, in
/// characters (code points).
const EXEMPLAR_MAX_CHARS: usize = 128;

#[derive(Debug)]
pub(super) struct ParsedSample<'a> {
    pub(super) name: &'a str,
    pub(super) labels: Labels,
    pub(super) value: f64,
    pub(super) timestamp: Option<f64>,
    pub(super) exemplar: Option<Exemplar>,
}

pub(super) fn parse(line: &str) -> Result<ParsedSample<'_>, String> {
    let mut cur = Cursor::new(line);
    let name = scan::metric_name(&mut cur);
    if name.is_empty() {
        return Err(format!("invalid metric name at {:?}", scan::preview(line)));
    }
    let braces = cur.peek() == Some(b'{');
    let labels = if braces { scan::label_set(&mut cur, Dialect::OpenMetrics)? } else { Labels::new() };
    if !cur.eat(b' ') {
        return Err(match cur.peek() {
            None => format!("sample {name} has no value"),
            Some(_) if !braces => {
                let c = cur.rest().chars().next().unwrap_or(' ');
                format!("invalid character {c:?} after metric name {name}")
            }
            Some(_) => format!("expected one space before the value at {:?}", scan::preview(cur.rest())),
        });
    }
    let value = number(&mut cur, "value")?;
    let mut timestamp = None;
    let mut exemplar = None;
    if cur.eat(b' ') {
        if cur.peek() != Some(b'#') {
            timestamp = Some(self::timestamp(&mut cur)?);
            if cur.eat(b' ') && cur.peek() != Some(b'#') {
                return Err(format!("expected an exemplar (\" # {{...}}\") at {:?}", scan::preview(cur.rest())));
            }
        }
        if cur.eat(b'#') {
            exemplar = Some(self::exemplar(&mut cur)?);
        }
    }
    if !cur.is_empty() {
        return Err(format!("unexpected text at {:?}", scan::preview(cur.rest())));
    }
    Ok(ParsedSample { name, labels, value, timestamp, exemplar })
}

/// A space-delimited number token.
fn number(cur: &mut Cursor<'_>, what: &str) -> Result<f64, String> {
    let token = cur.take_while(|b| b != b' ');
    if token.is_empty() {
        return Err(format!("missing {what} (or an extra space)"));
    }
    number::om_number(token).ok_or_else(|| format!("invalid {what} {:?}", scan::preview(token)))
}

/// Timestamps are seconds and must be finite.
fn timestamp(cur: &mut Cursor<'_>) -> Result<f64, String> {
    let ts = number(cur, "timestamp")?;
    if ts.is_finite() { Ok(ts) } else { Err(format!("timestamp must be a finite number, not {ts}")) }
}

/// After the `#`: ` {labels} value[ timestamp]`.
fn exemplar(cur: &mut Cursor<'_>) -> Result<Exemplar, String> {
    if !cur.eat(b' ') || cur.peek() != Some(b'{') {
        return Err("an exemplar is written \" # {labels} value\"".into());
    }
    let labels = scan::label_set(cur, Dialect::OpenMetrics).map_err(|m| format!("exemplar: {m}"))?;
    let length: usize = labels.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum();
    if length > EXEMPLAR_MAX_CHARS {
        return Err(format!(
            "exemplar labels are {length} characters long; names and values together may have at most {EXEMPLAR_MAX_CHARS}"
        ));
    }
    if !cur.eat(b' ') {
        return Err("expected one space after the exemplar's labels".into());
    }
    let value = number(cur, "exemplar value")?;
    let timestamp = if cur.eat(b' ') { Some(timestamp(cur).map_err(|m| format!("exemplar {m}"))?) } else { None };
    Ok(Exemplar { labels, value, timestamp })
}
