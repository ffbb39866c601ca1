//! Reads Prometheus text 0.0.4 and OpenMetrics 1.0 into the model.
//!
//! Both parsers scan line by line without regexes, borrow names from the
//! input while they look families up, and allocate only the strings the
//! model keeps. They never panic: every failure is a [`ParseError`] naming
//! the line.
//!
//! * Text 0.0.4 is read the way Prometheus' scraper reads it: `# HELP` and
//!   `# TYPE` are optional, other comments and blank lines are ignored,
//!   timestamps are milliseconds, values use Go's float syntax. What is legal
//!   to read but wrong to expose — a family split into several groups, a
//!   series written twice — is kept and reported by [`parse_detailed`].
//! * OpenMetrics 1.0 is read strictly, as its specification and conformance
//!   corpus demand: `# EOF` last, metadata before samples, grouping, counter
//!   and histogram value rules, exemplars only where allowed.
//!
//! ```
//! use sonde_instrument::parse::parse_text;
//! use sonde_instrument::{MetricType, Suffix};
//!
//! let families = parse_text("# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 7\n")?;
//! assert_eq!(families[0].name, "http_requests");
//! assert_eq!(families[0].metric_type, MetricType::Counter);
//! assert_eq!(families[0].samples[0].suffix, Suffix::Total);
//! # Ok::<(), sonde_instrument::ParseError>(())
//! ```
// Indexing is banned here so that no input can make the parser panic.
#![deny(clippy::indexing_slicing)]

use std::fmt;

use crate::format::Format;
use crate::model::{Labels, MetricFamily};

mod number;
mod openmetrics;
mod scan;
mod text;

#[cfg(test)]
mod tests;

/// The most characters of a parse error message.
pub const MAX_MESSAGE: usize = 300;

/// Why an exposition could not be parsed.
///
/// ```
/// use sonde_instrument::{Format, parse};
///
/// let err = parse("up 1\nup{ 2\n", Format::Text).unwrap_err();
/// assert_eq!(err.line, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number where the problem is.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// A message quotes at most [`MAX_MESSAGE`] characters of it: a
    /// 100 MB junk line must not become a 100 MB log line.
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if let Some((at, _)) = message.char_indices().nth(MAX_MESSAGE) {
            message.truncate(at);
            message.push('…');
        }
        ParseError { line, message }
    }
}

/// The families of an exposition and what it does that is legal to parse
/// but wrong to expose (text 0.0.4 only; OpenMetrics rejects those inputs).
///
/// ```
/// use sonde_instrument::Format;
/// use sonde_instrument::parse::{FindingKind, parse_detailed};
///
/// let parsed = parse_detailed("a 1\nb 2\na 3\n", Format::Text)?;
/// assert_eq!(parsed.families.len(), 2);
/// assert!(matches!(parsed.findings[0].kind, FindingKind::SplitFamily { first_line: 1, .. }));
/// # Ok::<(), sonde_instrument::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// The families, in the order their first line appears.
    pub families: Vec<MetricFamily>,
    /// What the exposition does wrong, in line order.
    pub findings: Vec<Finding>,
}

/// One thing a text 0.0.4 exposition does wrong, at a line.
///
/// ```
/// use sonde_instrument::Format;
/// use sonde_instrument::parse::parse_detailed;
///
/// let parsed = parse_detailed("up 1\nup 0\n", Format::Text)?;
/// assert_eq!(parsed.findings.len(), 1);
/// assert_eq!(parsed.findings[0].line, 2);
/// assert_eq!(parsed.findings[0].to_string(), "line 2: duplicate series up{}");
/// # Ok::<(), sonde_instrument::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line of the offending sample or metadata line.
    pub line: usize,
    /// What is wrong.
    pub kind: FindingKind,
}

/// What is wrong; names are written as in the exposition.
///
/// ```
/// use sonde_instrument::Format;
/// use sonde_instrument::parse::{FindingKind, parse_detailed};
///
/// let parsed = parse_detailed("up{job=\"a\"} 1\nup{job=\"a\"} 0\n", Format::Text)?;
/// let FindingKind::DuplicateSeries { name, labels } = &parsed.findings[0].kind else { panic!() };
/// assert_eq!((name.as_str(), labels.get("job")), ("up", Some("a")));
/// # Ok::<(), sonde_instrument::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// A sample repeats the name and label set (in any order) of an earlier
    /// sample. Both are kept; Prometheus silently keeps only the first.
    DuplicateSeries {
        /// The sample name, suffix included (`http_requests_total`).
        name: String,
        /// The labels as this sample writes them.
        labels: Labels,
    },
    /// A family's lines come back after another family's lines. The parser
    /// merges them into the first group.
    SplitFamily {
        /// The family's name as its `# TYPE` line or samples write it.
        name: String,
        /// The line where the family first appeared.
        first_line: usize,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FindingKind::DuplicateSeries { name, labels } => {
                write!(f, "line {}: duplicate series {name}{{", self.line)?;
                for (i, label) in labels.iter().enumerate() {
                    let comma = if i == 0 { "" } else { "," };
                    write!(f, "{comma}{}={:?}", label.name, label.value)?;
                }
                f.write_str("}")
            }
            FindingKind::SplitFamily { name, first_line } => write!(
                f,
                "line {}: metric family {name} continues here but its lines started at line {first_line} and were interrupted by another family",
                self.line
            ),
        }
    }
}

/// Parses `input` written in `format`.
pub fn parse(input: &str, format: Format) -> Result<Vec<MetricFamily>, ParseError> {
    match format {
        Format::Text => text::parse(input, false).map(|parsed| parsed.families),
        Format::OpenMetrics => openmetrics::parse(input),
    }
}

/// Parses Prometheus text format 0.0.4.
pub fn parse_text(input: &str) -> Result<Vec<MetricFamily>, ParseError> {
    parse(input, Format::Text)
}

/// Parses OpenMetrics 1.0 text.
pub fn parse_openmetrics(input: &str) -> Result<Vec<MetricFamily>, ParseError> {
    parse(input, Format::OpenMetrics)
}

/// Parses `input` and reports what is legal to parse but wrong to expose
/// (split families, duplicate series). OpenMetrics makes both errors, so its
/// findings are always empty.
pub fn parse_detailed(input: &str, format: Format) -> Result<Parsed, ParseError> {
    match format {
        Format::Text => text::parse(input, true),
        Format::OpenMetrics => openmetrics::parse(input).map(|families| Parsed { families, findings: Vec::new() }),
    }
}

/// Parses raw bytes as scraped: invalid UTF-8 is an error naming its line.
pub fn parse_bytes(input: &[u8], format: Format) -> Result<Vec<MetricFamily>, ParseError> {
    parse(utf8(input)?, format)
}

/// [`parse_detailed`] for raw bytes.
pub fn parse_bytes_detailed(input: &[u8], format: Format) -> Result<Parsed, ParseError> {
    parse_detailed(utf8(input)?, format)
}

fn utf8(input: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(input).map_err(|e| {
        let valid = input.get(..e.valid_up_to()).unwrap_or_default();
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        ParseError::new(line, format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })
}

/// The lines of `input` with their 1-based numbers. A final `\n` ends the
/// last line rather than starting an empty one.
fn lines(input: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = input.strip_suffix('\n').unwrap_or(input);
    let empty = input.is_empty();
    body.split('\n').enumerate().filter(move |_| !empty).map(|(i, line)| (i + 1, line))
}
