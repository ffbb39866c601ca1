//! Exposition formats and HTTP content negotiation, as Prometheus does it.
//!
//! A scraper names the formats it accepts in `Accept`, with `q` weights.
//! The target picks the highest-weighted format it supports, falls back to
//! text 0.0.4, and answers with exactly one concrete `Content-Type`.

/// An exposition format Sonde reads and writes.
///
/// ```
/// use sonde_instrument::{Format, negotiate};
///
/// assert_eq!(negotiate(Some("application/openmetrics-text; version=1.0.0")), Format::OpenMetrics);
/// assert_eq!(negotiate(None), Format::Text);
/// assert_eq!(Format::Text.content_type(), "text/plain; version=0.0.4; charset=utf-8");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

/// `Content-Type` of text 0.0.4 responses.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics 1.0 responses.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Format {
    /// The one `Content-Type` a response in this format carries.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// The format a response `Content-Type` announces, if Sonde reads it.
    /// A missing version means text 0.0.4 for `text/plain`.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let range = MediaRange::parse(content_type)?;
        range.format()
    }
}

/// One entry of an `Accept` or `Accept-Encoding` header.
#[derive(Debug)]
struct MediaRange<'a> {
    essence: &'a str,
    version: Option<&'a str>,
    q: f32,
}

impl<'a> MediaRange<'a> {
    fn parse(entry: &'a str) -> Option<MediaRange<'a>> {
        let mut parts = entry.split(';');
        let essence = parts.next()?.trim();
        if essence.is_empty() {
            return None;
        }
        let mut range = MediaRange { essence, version: None, q: 1.0 };
        for param in parts {
            let Some((key, value)) = param.split_once('=') else { continue };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "version" => range.version = Some(value),
                // A weight that does not parse makes the entry unusable, as
                // in Go's goautoneg; RFC 9110 allows 0..=1 with 3 decimals.
                "q" => range.q = value.parse().ok().filter(|q: &f32| (0.0..=1.0).contains(q))?,
                _ => {}
            }
        }
        Some(range)
    }

    /// The format this entry asks for, if Sonde serves it.
    fn format(&self) -> Option<Format> {
        let essence = self.essence.to_ascii_lowercase();
        match essence.as_str() {
            "application/openmetrics-text" => match self.version {
                None | Some("1.0.0") | Some("0.0.1") => Some(Format::OpenMetrics),
                Some(_) => None,
            },
            "text/plain" => match self.version {
                None | Some("0.0.4") => Some(Format::Text),
                Some(_) => None,
            },
            "text/*" | "*/*" => Some(Format::Text),
            _ => None,
        }
    }
}

/// Entries of a comma-separated header with their weights, highest weight
/// first; equal weights keep the order the client wrote them in.
fn weighted_entries(header: &str) -> Vec<MediaRange<'_>> {
    let mut entries: Vec<MediaRange<'_>> =
        header.split(',').filter_map(MediaRange::parse).filter(|entry| entry.q > 0.0).collect();
    // A stable sort keeps the client's order among equal weights.
    entries.sort_by(|a, b| b.q.total_cmp(&a.q));
    entries
}

/// Picks the response format for an `Accept` header: the highest-weighted
/// entry Sonde serves, else text 0.0.4 (also for a missing header).
pub fn negotiate(accept: Option<&str>) -> Format {
    accept.and_then(|header| weighted_entries(header).iter().find_map(MediaRange::format)).unwrap_or(Format::Text)
}

/// True when an `Accept-Encoding` header allows gzip (`gzip`, `x-gzip` or
/// `*` with a non-zero weight, unless gzip itself is refused with `q=0`).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else { return false };
    let mut wildcard = false;
    for entry in header.split(',').filter_map(MediaRange::parse) {
        match entry.essence.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => return entry.q > 0.0,
            "*" => wildcard = entry.q > 0.0,
            _ => {}
        }
    }
    wildcard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_header_means_text() {
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(negotiate(Some("")), Format::Text);
        assert_eq!(negotiate(Some("*/*")), Format::Text);
        assert_eq!(negotiate(Some("application/json")), Format::Text);
    }

    #[test]
    fn prometheus_2_header_prefers_openmetrics() {
        let header = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(header)), Format::OpenMetrics);
    }

    #[test]
    fn weights_decide_over_order() {
        let header = "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9";
        assert_eq!(negotiate(Some(header)), Format::Text);
    }

    #[test]
    fn unknown_versions_are_skipped() {
        assert_eq!(negotiate(Some("application/openmetrics-text;version=9.9.9")), Format::Text);
        assert_eq!(negotiate(Some("text/plain;version=1.0.0,application/openmetrics-text")), Format::OpenMetrics);
    }

    #[test]
    fn zero_weight_refuses_a_format() {
        assert_eq!(negotiate(Some("application/openmetrics-text;q=0")), Format::Text);
    }

    #[test]
    fn content_types_round_trip() {
        for format in [Format::Text, Format::OpenMetrics] {
            assert_eq!(Format::from_content_type(format.content_type()), Some(format));
        }
        assert_eq!(Format::from_content_type("text/plain"), Some(Format::Text));
        assert_eq!(Format::from_content_type("application/json"), None);
    }

    #[test]
    fn gzip_acceptance() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("*, gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}
