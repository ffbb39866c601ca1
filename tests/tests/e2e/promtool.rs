//! The agent's text output passes promtool, the reference linter.

use sonde_tests::{TestServer, promtool_check_metrics, promtool_path};

#[tokio::test]
async fn metrics_pass_promtool_check_metrics() {
    let server = TestServer::start().await;
    let response = server.get("/metrics", &[("accept", "text/plain;version=0.0.4")]).await;
    assert_eq!(response.status, 200);
    let text = response.text().to_owned();
    server.stop().await;

    let result = tokio::task::spawn_blocking(move || promtool_check_metrics(&text)).await.expect("promtool task");
    println!("{} check metrics exited {}:\n{}", promtool_path(), result.code, result.output);
    assert_ne!(result.code, 1, "promtool could not parse the agent's output:\n{}", result.output);
}
