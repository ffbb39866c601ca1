//! Graceful shutdown: in-flight requests finish, idle connections do not
//! hold the server open, new connections are refused.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use sonde_exporter::scrape::ScrapeExecutor;
use sonde_exporter::server::ServerConfig;
use sonde_tests::{GateCollector, TestServer, executor_with, within};
use tokio::net::TcpStream;

#[tokio::test]
async fn in_flight_scrape_finishes_during_shutdown() {
    let (collector, mut gate) = GateCollector::new();
    let mut server = TestServer::start_with(ServerConfig::default(), executor_with("gate", collector)).await;
    let addr = server.addr;
    let state = Arc::clone(&server.state);

    let scrape = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
        tokio::spawn(connection);
        let request = Request::get("/metrics").header("host", "test").body(Empty::<Bytes>::new()).expect("request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    });

    gate.entered().await;
    server.begin_shutdown();
    within("readiness to drop", async {
        while state.is_ready() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(TcpStream::connect(addr).await.is_err(), "a new connection was accepted during shutdown");

    gate.release();
    let (status, body) = within("the in-flight scrape", scrape).await.expect("scrape task");
    assert_eq!(status, 200);
    let body = String::from_utf8(body.to_vec()).expect("UTF-8");
    assert!(body.contains("sonde_test_gate"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_block_shutdown() {
    // A grace period far beyond the test's timeout: shutdown only finishes
    // in time if it closes the idle connection instead of waiting for it.
    let config = ServerConfig { shutdown_grace: Duration::from_secs(3600), ..ServerConfig::default() };
    let server = TestServer::start_with(config, ScrapeExecutor::new()).await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    let connection = tokio::spawn(connection);
    let request = Request::get("/-/healthy").header("host", "test").body(Empty::<Bytes>::new()).expect("request");
    let response = within("request", sender.send_request(request)).await.expect("response");
    assert_eq!(response.status(), 200);
    drop(response);

    server.stop().await;
    let _ = within("the server to close the idle connection", connection).await;
    drop(sender);
}
