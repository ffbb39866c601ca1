//! Byte-level scanning shared by both formats: a cursor over one line,
//! names, label sets, escapes, numbers and label-set hashing.
//!
//! Every token the grammars split on is ASCII, so cutting a `&str` at the
//! position of such a byte always lands on a character boundary; the cursor
//! still goes through `get`/`split_at_checked` so that a mistake here costs
//! an error, not a panic.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::model::{Label, Labels, is_label_name_byte, is_label_name_start, is_metric_name_byte, is_metric_name_start};

/// The remainder of one line, consumed from the front.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(line: &'a str) -> Self {
        Cursor { rest: line }
    }

    pub(super) fn rest(&self) -> &'a str {
        self.rest
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.rest.as_bytes().first().copied()
    }

    /// Skips `n` bytes; callers only skip ASCII bytes they have looked at.
    pub(super) fn advance(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or("");
    }

    pub(super) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.advance(1);
            true
        } else {
            false
        }
    }

    pub(super) fn eat_str(&mut self, prefix: &str) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Takes the longest prefix of bytes matching `pred` (which must only
    /// accept ASCII bytes).
    pub(super) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let end = self.rest.bytes().position(|b| !pred(b)).unwrap_or(self.rest.len());
        match self.rest.split_at_checked(end) {
            Some((head, tail)) => {
                self.rest = tail;
                head
            }
            None => "",
        }
    }

    /// Skips spaces and tabs (text 0.0.4 separators).
    pub(super) fn skip_blanks(&mut self) -> bool {
        !self.take_while(is_blank).is_empty()
    }
}

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Scans a metric name; empty when the cursor is not on one.
pub(super) fn metric_name<'a>(cur: &mut Cursor<'a>) -> &'a str {
    if cur.peek().is_some_and(is_metric_name_start) { cur.take_while(is_metric_name_byte) } else { "" }
}

fn label_name<'a>(cur: &mut Cursor<'a>) -> &'a str {
    if cur.peek().is_some_and(is_label_name_start) { cur.take_while(is_label_name_byte) } else { "" }
}

/// The two dialects of label sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// Text 0.0.4: blanks around tokens and a trailing comma are allowed.
    Text,
    /// OpenMetrics: no blanks, no trailing comma.
    OpenMetrics,
}

/// Parses `{name="value",...}` with the cursor on `{`; returns a message on
/// failure.
pub(super) fn label_set(cur: &mut Cursor<'_>, dialect: Dialect) -> Result<Labels, String> {
    if !cur.eat(b'{') {
        return Err("expected '{'".into());
    }
    let lenient = dialect == Dialect::Text;
    let mut labels: Vec<Label> = Vec::new();
    // Past a few dozen labels the duplicate check keeps a set, so a line
    // with 200,000 labels parses in linear time, not quadratic.
    let mut names: Option<HashSet<String>> = None;
    loop {
        if lenient {
            cur.skip_blanks();
        }
        if cur.eat(b'}') {
            if !lenient && !labels.is_empty() {
                return Err("trailing comma in label set".into());
            }
            break;
        }
        let name = label_name(cur);
        if name.is_empty() {
            return Err(match cur.peek() {
                None => "label set is not closed with '}'".into(),
                Some(b',') => "empty label name (extra comma?)".into(),
                Some(_) => format!("invalid label name at {:?}", preview(cur.rest())),
            });
        }
        if lenient {
            cur.skip_blanks();
        }
        if !cur.eat(b'=') {
            return Err(format!("expected '=' after label name {name:?}"));
        }
        if lenient {
            cur.skip_blanks();
        }
        if cur.peek() != Some(b'"') {
            return Err(format!("label {name:?}: value must be in double quotes"));
        }
        let value = quoted(cur).map_err(|m| format!("label {name:?}: {m}"))?;
        let duplicate = if labels.len() < 32 {
            labels.iter().any(|l| l.name == name)
        } else {
            let names = names.get_or_insert_with(|| labels.iter().map(|l| l.name.clone()).collect());
            !names.insert(name.to_owned())
        };
        if duplicate {
            return Err(format!("duplicate label name {name:?}"));
        }
        labels.push(Label { name: name.to_owned(), value });
        if lenient {
            cur.skip_blanks();
        }
        if cur.eat(b',') {
            continue;
        }
        if cur.eat(b'}') {
            break;
        }
        return Err(match cur.peek() {
            None => "label set is not closed with '}'".into(),
            Some(_) => format!("expected ',' or '}}' after label {name:?}"),
        });
    }
    Ok(Labels(labels))
}

/// Reads a double-quoted label value with the cursor on the opening quote.
fn quoted(cur: &mut Cursor<'_>) -> Result<String, String> {
    cur.advance(1);
    let rest = cur.rest();
    let mut escaped = false;
    for (i, b) in rest.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            let raw = rest.get(..i).unwrap_or("");
            cur.advance(i + 1);
            return Ok(unescape(raw, true));
        }
    }
    Err("label value is not closed with '\"' (a new-line in a label value must be written as \\n)".into())
}

/// Undoes `\\`, `\n` and (when `quote`) `\"`. Other backslashes are kept as
/// written, as Prometheus' scraper and the OpenMetrics reference parser do.
pub(super) fn unescape(raw: &str, quote: bool) -> String {
    if !raw.contains('\\') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut lookahead = chars.clone();
        match lookahead.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars = lookahead;
    }
    out
}

/// At most 40 characters of `s`, for error messages.
pub(super) fn preview(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// Which label a family leaves out of a sample's group identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Skip<'a> {
    Nothing,
    Label(&'a str),
    /// Info families have one group whatever the labels.
    Everything,
}

fn counts(label: &Label, skip: Skip<'_>) -> bool {
    match skip {
        Skip::Nothing => true,
        Skip::Label(name) => label.name != name,
        Skip::Everything => false,
    }
}

/// An order-independent hash of `labels` minus `skip`, so label sets written
/// in different orders land in the same bucket without sorting.
pub(super) fn set_hash(labels: &Labels, skip: Skip<'_>, seed: u64) -> u64 {
    let mut acc = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for label in labels.iter().filter(|l| counts(l, skip)) {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in label.name.bytes().chain(std::iter::once(0xff)).chain(label.value.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        acc = acc.wrapping_add(mix(h));
    }
    acc
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Set equality of `a` minus `skip_a` and `b` minus `skip_b`.
pub(super) fn set_eq(a: &Labels, skip_a: Skip<'_>, b: &Labels, skip_b: Skip<'_>) -> bool {
    let len_a = a.iter().filter(|l| counts(l, skip_a)).count();
    let len_b = b.iter().filter(|l| counts(l, skip_b)).count();
    len_a == len_b && a.iter().filter(|l| counts(l, skip_a)).all(|l| counts(l, skip_b) && b.0.contains(l))
}

/// A map keyed by [`set_hash`] values, which are mixed already: hashing
/// them again with SipHash would only cost time.
pub(super) type ByHash<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// The hasher of [`ByHash`]: passes a `u64` key through.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
