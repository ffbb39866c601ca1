//! HTTP glue for hyper 1.x and tower services (feature `http`).
//!
//! * [`MetricsHandler`] answers `/metrics`: text 0.0.4 or OpenMetrics by
//!   `Accept`, gzip (level 1) when `Accept-Encoding` allows, and
//!   client_golang's `promhttp_metric_handler_*` metrics about itself.
//! * [`RespTimeLayer`] is a tower layer recording
//!   `http_server_resp_time{code,method,path,service}` the way go-demo
//!   does, with a [`RouteTemplate`] hook (for instance [`Routes`]) that
//!   keeps the `path` label bounded. The query string is never a label.
//! * [`Negotiation`], [`encode_body`] and [`exposition_response`] are the
//!   pieces of the handler for servers that route and collect on their own
//!   (Sonde's agent serves its `/metrics` with them).
//!
//! ```
//! use std::sync::Arc;
//! use sonde_instrument::http::{MetricsHandler, RespTimeLayer, Routes};
//! use sonde_instrument::metrics::Registry;
//!
//! # fn main() -> Result<(), sonde_instrument::metrics::MetricError> {
//! let registry = Registry::new();
//! let layer = RespTimeLayer::new("go-demo")
//!     .route_template(Routes::new(["/demo/hello", "/demo/person/:id"]))
//!     .register(&registry)?;
//! let metrics = MetricsHandler::new(Arc::new(registry.clone())).instrument(&registry)?;
//! // `layer` wraps the service; `metrics` answers `GET /metrics`.
//! # let _ = (layer, metrics);
//! # Ok(())
//! # }
//! ```

mod handler;
mod middleware;
mod routes;

pub use handler::{IN_FLIGHT_HELP, IN_FLIGHT_NAME, MetricsHandler, REQUESTS_HELP, REQUESTS_NAME};
pub use middleware::{
    CODES_PER_ROW, RESP_TIME_HELP, RESP_TIME_LABELS, RESP_TIME_NAME, ROW_CAPACITY, RespTime, RespTimeFuture,
    RespTimeLayer,
};
pub use routes::{RouteTemplate, Routes};

use std::io::Write as _;

use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ::http::{Response, StatusCode};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::Full;

use crate::encode::{EncodeReport, Encoder};
use crate::format::{Format, accepts_gzip, negotiate};
use crate::model::MetricFamily;

/// What a scrape asked for: a format from `Accept` and whether it takes
/// gzip from `Accept-Encoding`.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header};
/// use sonde_instrument::Format;
/// use sonde_instrument::http::Negotiation;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::ACCEPT, HeaderValue::from_static("application/openmetrics-text;version=1.0.0"));
/// headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
/// assert_eq!(Negotiation::from_headers(&headers), Negotiation { format: Format::OpenMetrics, gzip: true });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiation {
    /// The exposition format to answer in.
    pub format: Format,
    /// True when the body is to be gzipped.
    pub gzip: bool,
}

impl Negotiation {
    /// Reads `Accept` and `Accept-Encoding`; each may be split over several
    /// header lines, as HTTP allows for list headers.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Negotiation {
            format: negotiate(joined_header(headers, &header::ACCEPT).as_deref()),
            gzip: accepts_gzip(joined_header(headers, &header::ACCEPT_ENCODING).as_deref()),
        }
    }
}

/// All values of a header joined with commas; values that are not visible
/// ASCII are ignored. Borrows when there is a single value, the usual case.
fn joined_header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<std::borrow::Cow<'a, str>> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    match values.next() {
        None => Some(std::borrow::Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first},{second}");
            for value in values {
                joined.push(',');
                joined.push_str(value);
            }
            Some(std::borrow::Cow::Owned(joined))
        }
    }
}

/// Encodes `families` as `negotiation` asks, gzipped at level 1 (fastest;
/// exposition text compresses well even so) when it asks for gzip.
///
/// The report says what the encoder had to leave out (duplicate series,
/// conflicting families). Compressing into memory cannot fail in practice;
/// the error is flate2's, passed on rather than unwrapped.
pub fn encode_body(families: &[MetricFamily], negotiation: Negotiation) -> std::io::Result<(Vec<u8>, EncodeReport)> {
    encode_body_with(&mut Encoder::new(), families, negotiation, 16 * 1024)
}

/// [`encode_body`] with a caller's encoder and a capacity hint for the
/// uncompressed text.
pub(crate) fn encode_body_with(
    encoder: &mut Encoder,
    families: &[MetricFamily],
    negotiation: Negotiation,
    capacity: usize,
) -> std::io::Result<(Vec<u8>, EncodeReport)> {
    let mut text = Vec::with_capacity(capacity);
    let report = encoder.encode(families, negotiation.format, &mut text);
    Ok((compress_body(text, negotiation)?, report))
}

/// `text` gzipped at level 1 when `negotiation` asks for gzip, else as it is.
pub(crate) fn compress_body(text: Vec<u8>, negotiation: Negotiation) -> std::io::Result<Vec<u8>> {
    if !negotiation.gzip {
        return Ok(text);
    }
    let mut gzip = GzEncoder::new(Vec::with_capacity(text.len() / 4), Compression::fast());
    gzip.write_all(&text)?;
    gzip.finish()
}

/// A `200 OK` carrying an encoded exposition: the format's one
/// `Content-Type`, `Content-Encoding: gzip` when compressed, and
/// `Vary: Accept, Accept-Encoding` for caches.
pub fn exposition_response(body: Vec<u8>, negotiation: Negotiation) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(negotiation.format.content_type()));
    headers.insert(header::VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    if negotiation.gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A plain-text response (`text/plain; charset=utf-8`) with `status`: what
/// handlers answer errors, health checks and demo routes with.
pub fn text_response(status: StatusCode, text: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(text.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    use crate::model::Labels;

    fn families() -> Vec<MetricFamily> {
        vec![MetricFamily::gauge("up", "Up.").with_sample(Labels::new(), 1.0)]
    }

    #[test]
    fn list_headers_are_joined() {
        let mut headers = HeaderMap::new();
        assert_eq!(joined_header(&headers, &header::ACCEPT), None);
        headers.append(header::ACCEPT, HeaderValue::from_static("text/plain;q=0.5"));
        assert_eq!(joined_header(&headers, &header::ACCEPT).as_deref(), Some("text/plain;q=0.5"));
        headers.append(header::ACCEPT, HeaderValue::from_static("application/openmetrics-text"));
        headers.append(header::ACCEPT, HeaderValue::from_static("*/*;q=0.1"));
        assert_eq!(
            joined_header(&headers, &header::ACCEPT).as_deref(),
            Some("text/plain;q=0.5,application/openmetrics-text,*/*;q=0.1")
        );
        assert_eq!(Negotiation::from_headers(&headers), Negotiation { format: Format::OpenMetrics, gzip: false });
    }

    #[test]
    fn gzip_round_trips() {
        let plain = Negotiation { format: Format::Text, gzip: false };
        let (text, report) = encode_body(&families(), plain).unwrap();
        assert_eq!(report, EncodeReport::default());
        assert_eq!(text, b"# HELP up Up.\n# TYPE up gauge\nup 1\n");

        let (gzipped, _) = encode_body(&families(), Negotiation { gzip: true, ..plain }).unwrap();
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gzipped[..]).read_to_end(&mut unzipped).unwrap();
        assert_eq!(unzipped, text);
    }

    #[test]
    fn response_headers() {
        let response = exposition_response(Vec::new(), Negotiation { format: Format::OpenMetrics, gzip: true });
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::format::OPENMETRICS_CONTENT_TYPE);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        let response = exposition_response(Vec::new(), Negotiation { format: Format::Text, gzip: false });
        assert_eq!(response.headers()[header::CONTENT_TYPE], crate::format::TEXT_CONTENT_TYPE);
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
