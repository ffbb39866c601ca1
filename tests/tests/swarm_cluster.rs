//! The Swarm leader's cluster mode on the REAL engine: `sonde-agent`
//! itself, in a `FROM scratch` image, runs as a two-replica Swarm service
//! next to a three-replica workload service on one attachable overlay
//! network.
//!
//! * The agents see the node as the Swarm leader (both replicas run on this
//!   one node, so both are leaders: each scrapes the other as "the other
//!   agent", which is what a multi-node Swarm does with every agent).
//! * They find the workload's tasks through `tasks.<service>` (Docker's
//!   embedded DNS, inside the network) from its `com.df.scrapePort`
//!   service label, and scrape them into the cluster window.
//! * They build rules from the workload's `com.df.alert*` service labels:
//!   a plain PromQL alert over the scraped `up` fires, and
//!   `@replicas_running` follows the service's desired replicas when it is
//!   scaled from 3 to 2.
//!
//! Each agent task publishes its port in `host` mode on a port the engine
//! chooses (the routing mesh needs IPVS, which this machine's kernel
//! lacks), and the test asks every agent, several rounds in a row. A
//! failure says what the last answer was and shows the tasks and the
//! agents' logs.
//!
//! Needs `/var/run/docker.sock` like `docker_engine.rs` and an engine that
//! is a Swarm manager or in no Swarm (it initialises one on 127.0.0.1 and
//! leaves it afterwards); `SONDE_SKIP_DOCKER_TESTS=1` skips it.
//!
//! Run with `cargo test -p sonde-tests --test swarm_cluster`.
// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sonde_tests::engine::{Network, Service, Swarm, binary_image, docker, docker_available, host_port, workload_image};
use sonde_tests::{HttpAnswer, http_get};

/// The port the workload serves its metrics on (`com.df.scrapePort`).
const SCRAPE_PORT: u16 = 8080;

/// The agent's default `--web.listen-address` port.
const AGENT_PORT: u16 = 9097;

/// How many agent replicas run.
const AGENTS: usize = 2;

/// Bound on each stage: tasks starting, DNS answering, the first scrapes
/// and evaluations. Not a performance threshold.
const LIMIT: Duration = Duration::from_secs(90);

/// How many rounds in a row every agent must agree: a condition that
/// holds once may be a moment between two evaluations.
const IN_A_ROW: usize = 3;

/// Bound on one request to an agent.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How many of each agent task's log lines a failure shows, at most.
const LOG_LINES: usize = 80;

#[test]
fn the_leader_scrapes_every_task_and_agent_and_follows_the_replicas() {
    if !docker_available("the_leader_scrapes_every_task_and_agent_and_follows_the_replicas") {
        return;
    }
    let workload_image = workload_image(Path::new(env!("CARGO_BIN_EXE_sonde-workload")));
    let agent_image = binary_image(Path::new(env!("CARGO_BIN_EXE_sonde-agent-test")), "sonde-agent");

    // Dropped in reverse: the agents, the workload, the network, the swarm.
    let _swarm = Swarm::ensure();
    let network = Network::overlay();
    let scrape_port = SCRAPE_PORT.to_string();
    let workload_name = Service::unique_name();
    let labels = [
        format!("com.df.scrapePort={scrape_port}"),
        "com.df.alertName.1=scraped".to_owned(),
        format!("com.df.alertIf.1=count(up{{job=\"{workload_name}\"}} == 1) >= 1"),
        "com.df.alertName.2=replicas".to_owned(),
        "com.df.alertIf.2=@replicas_running".to_owned(),
        // Never fires while the test runs: only its expression is checked.
        "com.df.alertFor.2=1h".to_owned(),
    ];
    let mut options = vec!["--network", network.name.as_str(), "--replicas", "3"];
    for label in &labels {
        options.extend(["--label", label.as_str()]);
    }
    let workload = Service::create_named(workload_name, &options, workload_image, &["serve-metrics", &scrape_port]);

    let agent_name = Service::unique_name();
    let job = format!("--agent.job={agent_name}");
    let replicas = AGENTS.to_string();
    let publish = format!("mode=host,target={AGENT_PORT}");
    let agents = Service::create_named(
        agent_name,
        &[
            "--network",
            &network.name,
            "--replicas",
            &replicas,
            "--mount",
            "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock",
            "--publish",
            &publish,
        ],
        agent_image,
        &[&job, "--rules.evaluation-interval=1s", "--log.level=debug"],
    );
    eprintln!("workload {}, agents {}, network {}", workload.name, agents.name, network.name);

    sonde_tests::with_context_on_failure(
        || scenario(&workload, &agents),
        || {
            format!(
                "--- tasks of the workload {}:\n{}\n--- tasks of the agents {}:\n{}\n\
                 --- the agents' logs (each debug message once, the last {LOG_LINES} lines of each task):\n{}",
                workload.name,
                workload.tasks(),
                agents.name,
                agents.tasks(),
                readable_logs(&agents),
            )
        },
    );
}

/// Everything the test checks, with the services running; a panic here
/// gets the tasks and the logs added by the caller.
fn scenario(workload: &Service, agents: &Service) {
    let service = workload.name.as_str();
    let up_workload = format!("count(up{{job=\"{service}\"}}==1)");
    let up_agents = format!("count(up{{job=\"{}\"}}==1)", agents.name);

    // The agents are leaders, scrape the three tasks and each other (an
    // agent leaves its own address out).
    every_agent(agents, "to be a leader and scrape 3 tasks and 1 other agent", |addr| {
        let metrics = get(addr, "/metrics")?.body;
        sonde_tests::expect_leader(&metrics)?;
        let targets: Vec<&str> = metrics.lines().filter(|l| l.starts_with("sonde_scrape_target_up{")).collect();
        expect_value(addr, &up_workload, "3").map_err(|e| format!("{e}; targets: {targets:?}"))?;
        expect_value(addr, &up_agents, "1").map_err(|e| format!("{e}; targets: {targets:?}"))?;
        // The same, as `/api/v1/targets` lists them.
        let listed = get(addr, "/api/v1/targets")?.json()?;
        let healthy = |job: &str| {
            listed["data"]["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["labels"]["job"] == job && t["health"] == "up")
                .count()
        };
        if (healthy(service), healthy(&agents.name)) != (3, 1) {
            return Err(format!("not 3 tasks and 1 agent up in /api/v1/targets: {listed}"));
        }
        Ok(())
    });

    // The rules from the service labels: `R` = 3, and the plain alert fires.
    let prefix = service.replace('-', "");
    let replicas_rule = format!("{prefix}_replicas");
    let scraped_alert = format!("{prefix}_scraped");
    every_agent(agents, "to have the rules from the workload's labels, with R = 3", |addr| {
        expect_rule_query_ends(addr, service, &replicas_rule, "!= 3")?;
        let alerts = get(addr, "/api/v1/alerts")?.json()?;
        let alert = alerts["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["labels"]["alertname"] == scraped_alert.as_str() && a["state"] == "firing")
            .ok_or_else(|| format!("no firing {scraped_alert} in /api/v1/alerts: {alerts}"))?;
        if alert["labels"]["service"] != service || alert["labels"]["receiver"] != "system" {
            return Err(format!("{scraped_alert} lacks service={service} or receiver=system: {alert}"));
        }
        Ok(())
    });

    // Scaled down: `R` is re-read and the removed task is no longer up.
    docker(&["service", "scale", "--detach", &format!("{service}=2")]);
    every_agent(agents, "to say R = 2 and scrape 2 tasks", |addr| {
        expect_rule_query_ends(addr, service, &replicas_rule, "!= 2")?;
        expect_value(addr, &up_workload, "2")
    });
}

/// Polls until `check` has held for every one of the [`AGENTS`] running
/// agent tasks (each asked at the host port its task publishes) for
/// [`IN_A_ROW`] rounds in a row; fails with `what` and the last complaint
/// after [`LIMIT`].
fn every_agent(agents: &Service, what: &str, mut check: impl FnMut(SocketAddr) -> Result<(), String>) {
    let started = Instant::now();
    let deadline = started + LIMIT;
    let mut held = 0;
    let mut last = String::from("(never checked)");
    loop {
        match agent_addresses(agents).and_then(|addresses| {
            addresses
                .into_iter()
                .try_for_each(|(id, addr)| check(addr).map_err(|e| format!("agent {id:.12} at {addr}: {e}")))
        }) {
            Ok(()) => {
                held += 1;
                if held == IN_A_ROW {
                    eprintln!("every agent {what}: after {:?}", started.elapsed());
                    return;
                }
            }
            Err(complaint) => {
                held = 0;
                last = complaint;
            }
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {LIMIT:?} waiting for every agent {what} ({held} good rounds in a row); last: {last}"
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The running agent task containers and where each one answers on this
/// host; an `Err` until all [`AGENTS`] run and publish their port.
fn agent_addresses(agents: &Service) -> Result<Vec<(String, SocketAddr)>, String> {
    let running = agents.running_containers();
    if running.len() != AGENTS {
        return Err(format!("{} agent tasks run, not {AGENTS}: {running:?}", running.len()));
    }
    running
        .into_iter()
        .map(|id| match host_port(&id, AGENT_PORT) {
            Some(port) => Ok((id, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))),
            None => Err(format!("agent {id:.12} does not publish port {AGENT_PORT} (yet)")),
        })
        .collect()
}

/// A 200 answer to `GET path` from an agent, or why there is none.
fn get(addr: SocketAddr, path: &str) -> Result<HttpAnswer, String> {
    http_get(addr, path, &[], REQUEST_TIMEOUT)?.ok()
}

/// Checks that the instant query `expr` answers with one sample of value
/// `want`.
fn expect_value(addr: SocketAddr, expr: &str, want: &str) -> Result<(), String> {
    let path = sonde_tests::query_path(expr);
    let json = get(addr, &path)?.json()?;
    let values: Vec<&Json> = json["data"]["result"].as_array().into_iter().flatten().map(|s| &s["value"][1]).collect();
    if json["status"] != "success" || values.len() != 1 || values[0] != want {
        return Err(format!("{expr} should be {want}: {json}"));
    }
    Ok(())
}

/// Checks that a group of `/api/v1/rules` named after `service` holds the
/// rule `name` and that its query ends with `end`.
fn expect_rule_query_ends(addr: SocketAddr, service: &str, name: &str, end: &str) -> Result<(), String> {
    let rules = get(addr, "/api/v1/rules")?.json()?;
    let groups = rules["data"]["groups"].as_array().into_iter().flatten();
    let rule = groups
        .filter(|g| g["name"] == service)
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["name"] == name)
        .ok_or_else(|| format!("no rule {name} in a group {service} of /api/v1/rules: {rules}"))?;
    let query = rule["query"].as_str().unwrap_or_default();
    if !query.trim_end().ends_with(end) {
        return Err(format!("the query of {name} does not end with {end:?}: {query:?}"));
    }
    Ok(())
}

/// The agents' task logs cut down to what explains a failure: the node
/// collectors log the same debug lines at every evaluation, so a debug
/// message is kept only the first time a task logs it; every other line
/// stays; then the last [`LOG_LINES`] of each task.
fn readable_logs(agents: &Service) -> String {
    let mut out = String::new();
    for (container, log) in agents.task_logs() {
        let mut seen = BTreeSet::new();
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| {
                // `<timestamp> ts=… level=debug msg="…" …`
                !line.contains("level=debug") || {
                    let message =
                        line.split_once("msg=\"").map_or(*line, |(_, rest)| rest.split('"').next().unwrap_or(rest));
                    seen.insert(message)
                }
            })
            .collect();
        out.push_str(&format!("-- {container}:\n"));
        for line in &lines[lines.len().saturating_sub(LOG_LINES)..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
