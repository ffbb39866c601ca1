//! "Instrument a Rust service in five lines", the README's example, kept
//! here so that CI compiles it.
//!
//! `cargo run -p sonde-instrument --features http --example five-lines`,
//! then `curl -s localhost:9100/hello` and `curl -s localhost:9100/metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sonde_instrument::http::MetricsHandler;
use sonde_instrument::metrics::{Counter, Family, Histogram, Registry};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The five lines (four to set up, one per value recorded below).
    let registry = Registry::new();
    let requests = registry.register("requests", "Requests answered.", Family::<Counter>::new(&["code"]))?;
    let latency = registry.register("request_duration_seconds", "Time to answer a request.", Histogram::new())?;
    let metrics = MetricsHandler::new(Arc::new(registry.clone())); // a tower Service: route GET /metrics to it

    let ok = requests.get_or_create(&["200"]).clone(); // an owned handle, kept for the whole run
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (metrics, ok, latency) = (metrics.clone(), ok.clone(), latency.clone());
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let started = Instant::now();
            let response = if request.uri().path() == "/metrics" {
                metrics.respond(request.headers())
            } else {
                let response = Response::new(Full::new(Bytes::from_static(b"hello, world!\n")));
                // Where a request is answered:
                ok.inc();
                latency.observe(started.elapsed().as_secs_f64());
                response
            };
            async move { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
