//! Scraping a REAL container through its `com.df.scrapePort` label: the
//! Docker watcher finds its address, the agent's evaluator scrapes it into
//! the window with `job` and `instance`, a rule over `up` fires, and the
//! series go stale when the container goes.
//!
//! The target is the workload image's `serve-metrics` mode (go-demo's
//! `http_server_resp_time` histogram); the container is a plain one
//! carrying the `com.docker.swarm.service.name` label, as a Swarm task
//! would. Needs `/var/run/docker.sock` like `docker_engine.rs`, and a host
//! that reaches the containers' bridge addresses;
//! `SONDE_SKIP_DOCKER_TESTS=1` skips it.
// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use sonde_rules::LogNotifier;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use sonde_agent::evaluator::{self, Evaluator, EvaluatorConfig};
use sonde_agent::server::AgentRoutes;
use sonde_exporter::container::docker::{DockerConfig, spawn_watcher};
use sonde_exporter::container::{LabelAllowlist, MetadataCache};
use sonde_exporter::scrape::ScrapeExecutor;
use sonde_exporter::server::{self, AppState, ServerConfig};
use sonde_tests::engine::{
    Containers, Service, Swarm, WAIT, docker, docker_available, try_docker, unique_name, wait_for, workload_image,
};
use sonde_tests::{HttpAnswer, TIMEOUT, http_get};

/// A 200 answer to `GET path`; anything else fails the test.
fn get(addr: SocketAddr, path: &str) -> HttpAnswer {
    http_get(addr, path, &[], TIMEOUT).and_then(HttpAnswer::ok).unwrap_or_else(|e| panic!("{e}"))
}

/// The samples of an instant query, as `(labels, value)`.
fn query(addr: SocketAddr, expr: &str) -> Vec<(Json, String)> {
    let path = sonde_tests::query_path(expr);
    let json = get(addr, &path).json().unwrap();
    assert_eq!(json["status"], "success", "{expr}: {json}");
    json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["metric"].clone(), s["value"][1].as_str().unwrap().to_owned()))
        .collect()
}

/// An agent in this process, with `rule_files`, evaluating every 200 ms;
/// returns its address.
fn start_agent(runtime: &tokio::runtime::Runtime, storage: &Path, rule_files: Vec<std::path::PathBuf>) -> SocketAddr {
    runtime.block_on(async {
        let cache = MetadataCache::new(LabelAllowlist::default());
        spawn_watcher(DockerConfig::default(), cache.clone());
        let config = EvaluatorConfig {
            rule_files,
            evaluation_interval: Duration::from_millis(200),
            storage_path: storage.to_owned(),
            instance: "node-1".to_owned(),
            ..EvaluatorConfig::default()
        };
        let evaluator = Arc::new(Evaluator::new(config, Some(cache), Arc::new(LogNotifier::new())));
        let state = AppState::new(ServerConfig::default(), ScrapeExecutor::new()).unwrap();
        let routes = AgentRoutes::for_evaluator(&evaluator, state.page_info()).unwrap();
        let state = Arc::new(state.with_extension(Arc::new(routes)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(server::serve(listener, Arc::clone(&state), std::future::pending()));
        tokio::spawn(evaluator::run(evaluator, state));
        addr
    })
}

#[test]
fn a_container_with_a_scrape_port_is_scraped_into_the_window() {
    if !docker_available("a_container_with_a_scrape_port_is_scraped_into_the_window") {
        return;
    }
    let image = workload_image(Path::new(env!("CARGO_BIN_EXE_sonde-workload")));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let service = format!("{}_main", unique_name());
    let rules = storage.path().join("rules.yml");
    std::fs::write(
        &rules,
        format!("groups:\n- name: scraped\n  rules:\n  - alert: TargetUp\n    expr: up{{job=\"{service}\"}} == 1\n"),
    )
    .unwrap();

    let addr = start_agent(&runtime, storage.path(), vec![rules.clone()]);

    let containers = Containers::new();
    let service_label = format!("com.docker.swarm.service.name={service}");
    let container = containers.run(
        &["--label", &service_label, "--label", "com.df.scrapePort=8080"],
        image,
        &["serve-metrics", "8080"],
    );
    container.wait_ready();
    let ip =
        docker(&["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", &container.id]);
    let instance = format!("{}:8080", ip.split_whitespace().next().unwrap());

    // The target's own series, with job and instance.
    let selector = format!("http_server_resp_time_count{{job=\"{service}\"}}");
    let samples = wait_for("the scraped series in the window", WAIT, || {
        let samples = query(addr, &selector);
        (!samples.is_empty()).then_some(samples)
    });
    assert_eq!(samples.len(), 1, "{samples:?}");
    let labels = &samples[0].0;
    assert_eq!(labels["instance"], instance.as_str(), "{labels}");
    assert_eq!(labels["path"], "/demo/hello", "{labels}");
    assert_eq!(labels["service"], "go-demo", "{labels}");
    assert!(samples[0].1.parse::<f64>().unwrap() >= 1.0);

    // `up` is in the window, a rule over it fires, and /metrics says so.
    let up = query(addr, &format!("up{{job=\"{service}\"}}"));
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!((up[0].0["instance"].as_str(), up[0].1.as_str()), (Some(instance.as_str()), "1"));
    wait_for("the alert over up", WAIT, || {
        let alerts = get(addr, "/api/v1/alerts").json().unwrap();
        alerts["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "TargetUp" && a["labels"]["instance"] == instance.as_str())
            .then_some(())
    });
    let metrics = get(addr, "/metrics").body;
    let line = format!("sonde_scrape_target_up{{instance=\"{instance}\",job=\"{service}\"}} 1");
    assert!(metrics.contains(&line), "no {line} in:\n{metrics}");

    // The container goes: its series go stale, and the target with them.
    containers.remove(&container);
    wait_for("up to go stale", WAIT, || query(addr, &format!("up{{job=\"{service}\"}}")).is_empty().then_some(()));
    assert_eq!(query(addr, &selector), []);
    let metrics = get(addr, "/metrics").body;
    assert!(!metrics.contains(&format!("job=\"{service}\"")), "{metrics}");
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// An overlay network, removed when dropped (after the services on it).
struct Network(String);

impl Drop for Network {
    fn drop(&mut self) {
        let _ = try_docker(&["network", "rm", &self.0]);
    }
}

/// A Swarm task on an overlay network, with a published port (so also on
/// `ingress`): the target's address is the one on the service's overlay
/// network. The agent runs on the host here, outside that network, so the
/// target may well be down; the point is where it is looked for.
#[test]
fn a_swarm_task_is_scraped_at_its_overlay_address() {
    if !docker_available("a_swarm_task_is_scraped_at_its_overlay_address") {
        return;
    }
    let image = workload_image(Path::new(env!("CARGO_BIN_EXE_sonde-workload")));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let storage = tempfile::tempdir().unwrap();
    // Dropped in reverse: the service, the network, then the swarm.
    let _swarm = Swarm::ensure();
    let network = Network(format!("{}-net", unique_name()));
    docker(&["network", "create", "--driver", "overlay", &network.0]);
    let addr = start_agent(&runtime, storage.path(), Vec::new());
    let service = Service::create(
        &[
            "--network",
            &network.0,
            "--publish",
            "published=0,target=8080",
            "--container-label",
            "com.df.scrapePort=8080",
        ],
        image,
        &["serve-metrics", "8080"],
    );
    let id = wait_for("the service's task", WAIT, || service.running_containers().into_iter().next());
    let format = format!("{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}", network.0);
    let overlay_ip = docker(&["inspect", "--format", &format, &id]);
    assert!(!overlay_ip.is_empty(), "task {id} has no address on {}", network.0);
    let networks = docker(&["inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", &id]);
    assert!(networks.split_whitespace().any(|n| n == "ingress"), "the task is not on ingress: {networks}");

    let wanted = format!("instance=\"{overlay_ip}:8080\",job=\"{}\"", service.name);
    wait_for("the task as a scrape target at its overlay address", WAIT, || {
        let metrics = get(addr, "/metrics").body;
        metrics.lines().any(|l| l.starts_with("sonde_scrape_target_up{") && l.contains(&wanted)).then_some(())
    });
    let up = query(addr, &format!("up{{job=\"{}\"}}", service.name));
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0].0["instance"], format!("{overlay_ip}:8080").as_str());
    drop(service);
    runtime.shutdown_timeout(Duration::from_secs(1));
}
