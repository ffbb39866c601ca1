//! The landing page, health endpoints, and what the server refuses.

use bytes::Bytes;
use http::Method;
use sonde_exporter::scrape::ScrapeExecutor;
use sonde_exporter::server::ServerConfig;
use std::sync::Arc;

use sonde_tests::{GateCollector, TestServer, executor_with, raw_exchange};

#[tokio::test]
async fn landing_page_links_to_the_telemetry_path() {
    let server = TestServer::start().await;
    let response = server.get("/", &[]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.single_header("content-type"), "text/html; charset=utf-8");
    let page = response.text();
    assert!(page.contains("href=\"/metrics\""), "{page}");
    assert!(page.contains(env!("CARGO_PKG_VERSION")), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn a_custom_telemetry_path_moves_metrics_and_the_link() {
    let config = ServerConfig { telemetry_path: "/custom/path".to_owned(), ..ServerConfig::default() };
    let server = TestServer::start_with(config, ScrapeExecutor::new()).await;
    assert!(server.get("/", &[]).await.text().contains("href=\"/custom/path\""));
    let metrics = server.get("/custom/path", &[]).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("sonde_build_info"), "{}", metrics.text());
    assert_eq!(server.get("/metrics", &[]).await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn healthy_and_ready_while_serving() {
    let server = TestServer::start().await;
    for path in ["/-/healthy", "/-/ready"] {
        let response = server.get(path, &[]).await;
        assert_eq!(response.status, 200, "{path}");
        let head = server.request(Method::HEAD, path, &[], Bytes::new()).await;
        assert_eq!(head.status, 200, "HEAD {path}");
    }
    assert!(server.state.is_ready());
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let server = TestServer::start().await;
    for path in ["/nope", "/metrics/", "/-/", "/-/reload"] {
        assert_eq!(server.get(path, &[]).await.status, 404, "{path}");
    }
    assert_eq!(server.request(Method::POST, "/nope", &[], Bytes::new()).await.status, 404);
    for (method, path) in
        [(Method::POST, "/metrics"), (Method::PUT, "/-/healthy"), (Method::DELETE, "/-/ready"), (Method::OPTIONS, "/")]
    {
        let response = server.request(method.clone(), path, &[], Bytes::from_static(b"x")).await;
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.single_header("allow"), "GET, HEAD");
    }
    server.stop().await;
}

#[tokio::test]
async fn request_bodies_are_capped() {
    let server = TestServer::start().await;
    // Declared too large: refused before any of it is read.
    let response =
        raw_exchange(server.addr, b"GET /-/healthy HTTP/1.1\r\nHost: test\r\nContent-Length: 1048576\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    // Chunked, so only reading finds out.
    let mut request = b"GET /-/healthy HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'x'; sonde_exporter::server::MAX_REQUEST_BODY + 100];
    request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
    request.extend_from_slice(&chunk);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let response = raw_exchange(server.addr, &request).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    // A small stray body is tolerated.
    let response = server.request(Method::GET, "/-/healthy", &[], Bytes::from_static(b"{}")).await;
    assert_eq!(response.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn garbage_does_not_hurt_the_server() {
    let server = TestServer::start().await;
    let response = raw_exchange(server.addr, b"\x00\x01\x02 not http at all\r\n\r\n").await;
    assert!(response.is_empty() || response.starts_with("HTTP/1.1 400"), "{response}");
    assert_eq!(server.get("/-/healthy", &[]).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn scrapes_beyond_max_requests_get_503() {
    let (collector, mut gate) = GateCollector::new();
    let config = ServerConfig { max_requests: 1, ..ServerConfig::default() };
    let server = Arc::new(TestServer::start_with(config, executor_with("gate", collector)).await);

    let first = tokio::spawn({
        let server = Arc::clone(&server);
        async move { server.get("/metrics", &[]).await }
    });
    gate.entered().await;
    let second = server.get("/metrics", &[]).await;
    assert_eq!(second.status, 503, "{}", second.text());
    // Health does not count against the scrape limit.
    assert_eq!(server.get("/-/healthy", &[]).await.status, 200);

    gate.release();
    let first = sonde_tests::within("the first scrape", first).await.expect("scrape task");
    assert_eq!(first.status, 200);
}

/// `/-/ready` answered 200 while a FIFO stalled every scrape: now a
/// collection running past `stuck_after` turns it to 503, with the reason,
/// and it is 200 again once the collection ends. `/-/healthy` stays 200.
#[tokio::test]
async fn ready_is_503_while_a_collection_is_stuck() {
    let (collector, mut gate) = GateCollector::new();
    let config = ServerConfig { stuck_after: std::time::Duration::from_millis(100), ..ServerConfig::default() };
    let server = Arc::new(TestServer::start_with(config, executor_with("gate", collector)).await);
    assert_eq!(server.get("/-/ready", &[]).await.status, 200);

    let scrape = tokio::spawn({
        let server = Arc::clone(&server);
        async move { server.get("/metrics", &[]).await }
    });
    gate.entered().await;
    // Not a threshold: the collection is held until released below, and
    // `within` only turns a readiness that never changes into a failure.
    let ready = sonde_tests::within("/-/ready turning 503", async {
        loop {
            let ready = server.get("/-/ready", &[]).await;
            if ready.status != 200 {
                return ready;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(ready.status, 503);
    assert!(ready.text().contains("a collection has been running for"), "{}", ready.text());
    assert_eq!(server.get("/-/healthy", &[]).await.status, 200);

    gate.release();
    let scrape = sonde_tests::within("the held scrape", scrape).await.expect("scrape task");
    assert_eq!(scrape.status, 200);
    assert_eq!(server.get("/-/ready", &[]).await.status, 200);
}
