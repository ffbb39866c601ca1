//! One scrape over HTTP: a GET with Prometheus' `Accept` header, under a
//! deadline and a body size cap, on a fresh connection that is closed
//! afterwards (a target is scraped once per interval; keeping connections
//! would hold a socket per target for nothing).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::rt::TokioIo;
use sonde_instrument::Format;
use sonde_instrument::strconv::{FloatFormat, format_float};

/// The `Accept` header Prometheus 2.x sends without native histograms:
/// OpenMetrics 1.0 first, then text 0.0.4, then anything.
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Why a scrape failed: the reason logged and shown for a target that is down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No TCP connection.
    #[error("connecting: {0}")]
    Connect(String),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The target answered, but not 200.
    #[error("server returned HTTP status {0}")]
    Status(StatusCode),
    /// The body was larger than the cap.
    #[error("body size limit of {0} bytes exceeded")]
    TooLarge(usize),
    /// No answer within the deadline.
    #[error("no answer within {0:?} (--scrape.timeout)")]
    Timeout(Duration),
    /// The body is not a valid exposition.
    #[error("parsing the exposition: {0}")]
    Parse(String),
}

/// What one target answered.
#[derive(Debug)]
pub(super) struct Body {
    /// The exposition as sent.
    pub(super) bytes: Bytes,
    /// The format its `Content-Type` names; text 0.0.4 when it names none
    /// Sonde reads, as Prometheus falls back.
    pub(super) format: Format,
}

/// GETs `http://<address><path>` within `timeout`, reading at most
/// `limit` bytes of body (0: no limit).
pub(super) async fn fetch(
    address: SocketAddr,
    path: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Body, FetchError> {
    match tokio::time::timeout(timeout, exchange(address, path, timeout, limit)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout(timeout)),
    }
}

async fn exchange(address: SocketAddr, path: &str, timeout: Duration, limit: usize) -> Result<Body, FetchError> {
    let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| FetchError::Connect(e.to_string()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let request = Request::get(path)
        .header(header::HOST, address.to_string())
        .header(header::ACCEPT, ACCEPT)
        .header(header::USER_AGENT, concat!("Sonde/", env!("CARGO_PKG_VERSION")))
        .header("X-Prometheus-Scrape-Timeout-Seconds", format_float(timeout.as_secs_f64(), FloatFormat::F, None))
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let exchange = async {
        let response = sender.send_request(request).await.map_err(|e| FetchError::Http(e.to_string()))?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status(response.status()));
        }
        let format = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Format::from_content_type)
            .unwrap_or(Format::Text);
        let body = response.into_body();
        let collected = if limit == 0 {
            body.collect().await.map_err(|e| FetchError::Http(e.to_string()))?
        } else {
            Limited::new(body, limit).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError::TooLarge(limit)
                } else {
                    FetchError::Http(e.to_string())
                }
            })?
        };
        Ok(Body { bytes: collected.to_bytes(), format })
    };
    // The connection is driven here, not on a task of its own, so that a
    // deadline or an error drops it with everything else. Once it ends
    // cleanly the response is complete and buffered: wait for the reader.
    let drive = async {
        match connection.await {
            Ok(()) => std::future::pending().await,
            Err(e) => FetchError::Http(e.to_string()),
        }
    };
    tokio::select! {
        biased;
        result = exchange => result,
        err = drive => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A one-connection server that answers `response` and returns the
    /// request it read.
    async fn serve_once(response: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let _ = socket.write_all(&response).await;
            let _ = socket.shutdown().await;
            String::from_utf8_lossy(&request).into_owned()
        });
        (address, task)
    }

    fn ok(content_type: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            .into_bytes()
    }

    #[tokio::test]
    async fn sends_prometheus_headers_and_reads_the_format() {
        let (address, request) = serve_once(ok("application/openmetrics-text; version=1.0.0", "up 1\n# EOF\n")).await;
        let body = fetch(address, "/custom/metrics", Duration::from_secs(5), 1024).await.unwrap();
        assert_eq!(body.format, Format::OpenMetrics);
        assert_eq!(&body.bytes[..], b"up 1\n# EOF\n");
        let request = request.await.unwrap();
        assert!(request.starts_with("GET /custom/metrics HTTP/1.1\r\n"), "{request}");
        assert!(
            request.to_ascii_lowercase().contains(&format!("accept: {}", ACCEPT.to_ascii_lowercase())),
            "{request}"
        );
        assert!(
            request.contains("X-Prometheus-Scrape-Timeout-Seconds: 5")
                || request.contains("x-prometheus-scrape-timeout-seconds: 5"),
            "{request}"
        );

        let (address, _) = serve_once(ok("text/html", "up 1\n")).await;
        let body = fetch(address, "/metrics", Duration::from_secs(5), 0).await.unwrap();
        assert_eq!(body.format, Format::Text, "an unknown type is read as text 0.0.4");
    }

    #[tokio::test]
    async fn status_size_and_connection_errors() {
        let (address, _) = serve_once(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
        assert_eq!(
            fetch(address, "/metrics", Duration::from_secs(5), 1024).await.unwrap_err(),
            FetchError::Status(StatusCode::SERVICE_UNAVAILABLE)
        );

        let (address, _) = serve_once(ok("text/plain", &"x 1\n".repeat(100))).await;
        assert_eq!(
            fetch(address, "/metrics", Duration::from_secs(5), 100).await.unwrap_err(),
            FetchError::TooLarge(100)
        );

        // A port nobody listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(fetch(closed, "/metrics", Duration::from_secs(5), 0).await, Err(FetchError::Connect(_))));
    }

    #[tokio::test]
    async fn a_silent_target_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(socket);
        });
        let started = std::time::Instant::now();
        assert_eq!(
            fetch(address, "/metrics", Duration::from_millis(200), 0).await.unwrap_err(),
            FetchError::Timeout(Duration::from_millis(200))
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
