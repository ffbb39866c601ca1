use sonde_rules::LogNotifier;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use sonde_exporter::container::{ContainerInfo, LabelAllowlist, NetworkAddress};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use std::net::SocketAddr;

use sonde_exporter::container::CachedContainer;
use sonde_exporter::container::metadata::SERVICE_NAME_LABEL;

use super::*;
use crate::evaluator::{Evaluator, EvaluatorConfig};
use sonde_promql::Value;

fn container(id: &str, ip: Option<&str>, labels: &[(&str, &str)]) -> ContainerInfo {
    ContainerInfo {
        id: id.to_owned(),
        name: format!("{id}-name"),
        image: "img".to_owned(),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        pid: 0,
        started_at: Some(1.0),
        addresses: ip
            .map(|ip| NetworkAddress { network: "go-demo_default".to_owned(), ip: ip.parse().unwrap() })
            .into_iter()
            .collect(),
    }
}

fn cached(infos: Vec<ContainerInfo>) -> Vec<Arc<CachedContainer>> {
    let cache = MetadataCache::new(LabelAllowlist::default());
    cache.replace_all(infos);
    cache.containers()
}

#[test]
fn a_swarm_task_with_a_scrape_port_is_a_target() {
    let (targets, rejected) = discover(&cached(vec![
        container("a", Some("10.0.1.9"), &[(SERVICE_NAME_LABEL, "go-demo_main"), (SCRAPE_PORT_LABEL, "8080")]),
        container(
            "b",
            Some("172.17.0.4"),
            &[(SCRAPE_PORT_LABEL, " 9100 "), (METRICS_PATH_LABEL, "/custom/metrics?format=prometheus")],
        ),
        container("c", Some("172.17.0.5"), &[(SERVICE_NAME_LABEL, "no-port")]),
        container("d", Some("2001:db8::7"), &[(SCRAPE_PORT_LABEL, "80")]),
    ]));
    assert_eq!(rejected, []);
    let got: Vec<(&str, &str, &str, &str)> =
        targets.iter().map(|t| (t.url.as_str(), t.job.as_str(), t.instance.as_str(), t.origin.name())).collect();
    assert_eq!(
        got,
        [
            ("http://10.0.1.9:8080/metrics", "go-demo_main", "10.0.1.9:8080", "a-name"),
            ("http://172.17.0.4:9100/custom/metrics?format=prometheus", "b-name", "172.17.0.4:9100", "b-name"),
            ("http://[2001:db8::7]:80/metrics", "d-name", "[2001:db8::7]:80", "d-name"),
        ]
    );
    assert_eq!(targets[0].address, SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 9)), 8080));
    assert_eq!(targets[1].path, "/custom/metrics?format=prometheus");
}

#[test]
fn bad_labels_and_missing_addresses_are_rejected_with_a_reason() {
    let (targets, rejected) = discover(&cached(vec![
        container("a", Some("10.0.0.2"), &[(SCRAPE_PORT_LABEL, "http")]),
        container("b", Some("10.0.0.3"), &[(SCRAPE_PORT_LABEL, "0")]),
        container("c", Some("10.0.0.4"), &[(SCRAPE_PORT_LABEL, "70000")]),
        container("d", Some("10.0.0.5"), &[(SCRAPE_PORT_LABEL, "8080"), (METRICS_PATH_LABEL, "metrics")]),
        container("e", Some("10.0.0.6"), &[(SCRAPE_PORT_LABEL, "8080"), (METRICS_PATH_LABEL, "/a b")]),
        container("f", None, &[(SCRAPE_PORT_LABEL, "8080")]),
        container("g", Some("10.0.0.8"), &[(SCRAPE_PORT_LABEL, "")]),
        container("h", Some("10.0.0.9"), &[(SCRAPE_PORT_LABEL, "8080")]),
    ]));
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(targets[0].url, "http://10.0.0.9:8080/metrics");
    let got: Vec<(&str, &str, &str)> = rejected.iter().map(|r| (r.origin.name(), r.label, r.reason.as_str())).collect();
    assert_eq!(
        got,
        [
            ("a-name", SCRAPE_PORT_LABEL, "\"http\" is not a port number (1-65535)"),
            ("b-name", SCRAPE_PORT_LABEL, "\"0\" is not a port number (1-65535)"),
            ("c-name", SCRAPE_PORT_LABEL, "\"70000\" is not a port number (1-65535)"),
            (
                "d-name",
                METRICS_PATH_LABEL,
                "\"metrics\" is not a URL path: it must start with / and have no spaces or control characters"
            ),
            (
                "e-name",
                METRICS_PATH_LABEL,
                "\"/a b\" is not a URL path: it must start with / and have no spaces or control characters"
            ),
            (
                "f-name",
                SCRAPE_PORT_LABEL,
                "the container has no IP address (host network, or no network); it cannot be scraped"
            ),
            ("g-name", SCRAPE_PORT_LABEL, "\"\" is not a port number (1-65535)"),
        ]
    );
}

#[test]
fn labels_the_allowlist_refuses_make_no_target() {
    let cache = MetadataCache::new(LabelAllowlist::new(["com.docker.swarm.*"]));
    cache.upsert(container("a", Some("10.0.0.2"), &[(SCRAPE_PORT_LABEL, "8080")]));
    assert_eq!(discover(&cache.containers()), (Vec::new(), Vec::new()));
}

#[test]
fn two_containers_at_one_address_are_scraped_once() {
    let (targets, rejected) = discover(&cached(vec![
        container("a", Some("10.0.0.2"), &[(SCRAPE_PORT_LABEL, "8080")]),
        container("b", Some("10.0.0.2"), &[(SCRAPE_PORT_LABEL, "8080")]),
    ]));
    assert_eq!(targets.len(), 1);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].origin, Origin::Container("b-name".to_owned()));
    assert!(rejected[0].reason.contains("already scraped for container a-name"), "{}", rejected[0].reason);
}

/// A server answering every connection with `body` as text 0.0.4 (or a
/// 500 while `fail` is set), until dropped.
struct FakeTarget {
    port: u16,
    fail: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeTarget {
    async fn start(body: &'static str) -> FakeTarget {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let failing = Arc::clone(&fail);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let failing = failing.load(std::sync::atomic::Ordering::Relaxed);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.ends_with(b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = if failing {
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_owned()
                    } else {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        FakeTarget { port, fail, task }
    }
}

impl Drop for FakeTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn evaluator(dir: &Path, cache: &MetadataCache) -> Arc<Evaluator> {
    let config =
        EvaluatorConfig { storage_path: dir.to_owned(), instance: "node-1".to_owned(), ..EvaluatorConfig::default() };
    Arc::new(Evaluator::new(config, Some(cache.clone()), Arc::new(LogNotifier::new())))
}

fn query(evaluator: &Evaluator, expr: &str) -> Vec<(String, f64)> {
    let (value, _) = evaluator.instant_query(expr, now_ms()).unwrap();
    let Value::Vector(samples) = value else { panic!("{value:?}") };
    samples.iter().map(|s| (s.labels.to_string(), s.value)).collect()
}

fn metric_lines(evaluator: &Evaluator) -> String {
    let mut out = Vec::new();
    sonde_instrument::Collector::collect(evaluator, &mut out);
    sonde_instrument::encode::encode_to_string(&out, sonde_instrument::Format::Text).0
}

const EXPOSITION: &str = "# TYPE http_server_resp_time histogram\n\
http_server_resp_time_bucket{le=\"0.1\",job=\"own\"} 3\n\
http_server_resp_time_bucket{le=\"+Inf\",job=\"own\"} 4\n\
http_server_resp_time_sum{job=\"own\"} 0.5\n\
http_server_resp_time_count{job=\"own\"} 4\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_series_get_job_and_instance_and_go_stale_with_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start(EXPOSITION).await;
    let port = target.port.to_string();
    let cache = MetadataCache::new(LabelAllowlist::default());
    cache.upsert(container(
        "a",
        Some("127.0.0.1"),
        &[(SERVICE_NAME_LABEL, "go-demo_main"), (SCRAPE_PORT_LABEL, port.as_str())],
    ));
    let evaluator = evaluator(dir.path(), &cache);
    assert_eq!(evaluator.scrape_targets(&cache).await, 1);

    let instance = format!("127.0.0.1:{port}");
    let count = query(&evaluator, "http_server_resp_time_count");
    assert_eq!(
        count,
        [(
            format!(
                "http_server_resp_time_count{{exported_job=\"own\", instance=\"{instance}\", job=\"go-demo_main\"}}"
            ),
            4.0
        )]
    );
    assert_eq!(
        query(&evaluator, "up{job=\"go-demo_main\"}"),
        [(format!("up{{instance=\"{instance}\", job=\"go-demo_main\"}}"), 1.0)]
    );
    assert_eq!(query(&evaluator, "scrape_samples_scraped").first().map(|s| s.1), Some(4.0));
    assert_eq!(query(&evaluator, "scrape_duration_seconds").len(), 1);
    let metrics = metric_lines(&evaluator);
    let line = format!("sonde_scrape_target_up{{instance=\"{instance}\",job=\"go-demo_main\"}} 1");
    assert!(metrics.contains(&line), "no {line} in:\n{metrics}");

    // A failing scrape: up 0, the target's series stale.
    target.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(evaluator.scrape_targets(&cache).await, 0);
    assert_eq!(query(&evaluator, "up").first().map(|s| s.1), Some(0.0));
    assert_eq!(query(&evaluator, "http_server_resp_time_count"), []);
    assert!(
        metric_lines(&evaluator)
            .contains(&format!("sonde_scrape_target_up{{instance=\"{instance}\",job=\"go-demo_main\"}} 0"))
    );

    // Back up, then the container goes: every series of it is stale.
    target.fail.store(false, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(evaluator.scrape_targets(&cache).await, 1);
    assert_eq!(query(&evaluator, "http_server_resp_time_count").len(), 1);
    cache.remove("a");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(evaluator.scrape_targets(&cache).await, 0);
    assert_eq!(query(&evaluator, "up"), []);
    assert_eq!(query(&evaluator, "http_server_resp_time_count"), []);
    assert!(!metric_lines(&evaluator).contains("sonde_scrape_target_up"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dead_target_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let target = FakeTarget::start("some_gauge 7\n").await;
    let port = target.port.to_string();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let cache = MetadataCache::new(LabelAllowlist::default());
    cache.replace_all(vec![
        container("live", Some("127.0.0.1"), &[(SCRAPE_PORT_LABEL, port.as_str())]),
        container("dead", Some("127.0.0.1"), &[(SCRAPE_PORT_LABEL, closed.as_str())]),
        container("bad", Some("127.0.0.1"), &[(SCRAPE_PORT_LABEL, "nope")]),
    ]);
    let evaluator = evaluator(dir.path(), &cache);
    assert_eq!(evaluator.scrape_targets(&cache).await, 1);
    let up = query(&evaluator, "up");
    assert_eq!(up.len(), 2, "{up:?}");
    assert_eq!(query(&evaluator, "up{job=\"live-name\"}").first().map(|s| s.1), Some(1.0));
    assert_eq!(query(&evaluator, "up{job=\"dead-name\"}").first().map(|s| s.1), Some(0.0));
    assert_eq!(query(&evaluator, "some_gauge").first().map(|s| s.1), Some(7.0));
    let metrics = metric_lines(&evaluator);
    assert!(
        metrics.contains("sonde_scrape_target_label_errors{container=\"bad-name\",label=\"com.df.scrapePort\"} 1"),
        "{metrics}"
    );

    // `/api/v1/targets`, Prometheus-shaped.
    let (interval, timeout) = evaluator.scrape_schedule();
    let body: serde_json::Value =
        serde_json::from_str(&crate::api::targets(&evaluator.target_statuses(), interval, timeout)).unwrap();
    assert_eq!(body["status"], "success");
    let active = body["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 2, "{body}");
    let by_job =
        |job: &str| active.iter().find(|t| t["labels"]["job"] == job).unwrap_or_else(|| panic!("{job}: {body}"));
    let live = by_job("live-name");
    assert_eq!(live["health"], "up");
    assert_eq!(live["lastError"], "");
    assert_eq!(live["scrapeUrl"], format!("http://127.0.0.1:{port}/metrics"));
    assert_eq!(live["labels"]["instance"], format!("127.0.0.1:{port}"));
    assert_eq!(live["discoveredLabels"]["__address__"], format!("127.0.0.1:{port}"));
    assert_eq!(live["scrapePool"], "live-name");
    assert_eq!((live["scrapeInterval"].as_str(), live["scrapeTimeout"].as_str()), (Some("15s"), Some("10s")));
    assert!(live["lastScrape"].as_str().unwrap().starts_with("20"), "{live}");
    assert!(live["lastScrapeDuration"].as_f64().unwrap() > 0.0, "{live}");
    let dead = by_job("dead-name");
    assert_eq!(dead["health"], "down");
    assert!(!dead["lastError"].as_str().unwrap().is_empty(), "{dead}");
    assert_eq!(body["data"]["droppedTargets"], serde_json::json!([]));
}
