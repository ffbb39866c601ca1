//! The rule evaluator through the real `sonde-agent` binary: rules over
//! the agent's own metrics, `/api/v1/{alerts,rules,query}`, a rule file
//! that does not load, and the alert state kept across a restart.
// Helpers outside #[test] functions fail the test by panicking too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sonde_tests::process::Process;
use sonde_tests::{HttpAnswer, TIMEOUT, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_sonde-agent-test");
const EXPORTER_BIN: &str = env!("CARGO_BIN_EXE_sonde-exporter-test");

const RULES: &str = r#"groups:
- name: self
  rules:
  - alert: BuildInfo
    expr: sonde_build_info == 1
    labels:
      severity: page
    annotations:
      summary: "version {{ $labels.version }} is {{ $value }}"
  - alert: BuildInfoLong
    expr: sonde_build_info == 1
    for: 1h
  - record: job:sonde_build_info:count
    expr: count by (job) (sonde_build_info)
"#;

const BROKEN: &str = "groups:\n- name: broken\n  rules:\n  - alert: Broken\n    expr: sum(\n";

fn start(dir: &Path, extra: &[&str]) -> (Process, SocketAddr) {
    let rules = dir.join("rules.yml");
    let broken = dir.join("broken.yml");
    let storage = dir.join("data");
    let mut args = vec![
        "--web.listen-address=127.0.0.1:0".to_owned(),
        "--collector.disable-defaults".to_owned(),
        format!("--rules.file={}", rules.display()),
        format!("--rules.file={}", broken.display()),
        "--rules.evaluation-interval=200ms".to_owned(),
        format!("--storage.path={}", storage.display()),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = Process::start(BIN, &args);
    let addr = agent.listening_address();
    (agent, addr)
}

/// `GET path`, answered; anything short of a whole answer fails the test.
fn get(addr: SocketAddr, path: &str) -> HttpAnswer {
    http_get(addr, path, &[], TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

fn get_json(addr: SocketAddr, path: &str) -> (u16, Json) {
    let answer = get(addr, path);
    let head = &answer.head;
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    (answer.status, answer.json().unwrap_or_else(|e| panic!("{e}")))
}

fn post_form(addr: SocketAddr, path: &str, form: &str) -> (u16, Json) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), serde_json::from_str(body).unwrap())
}

/// Polls `path` until `done` accepts its JSON; fails after [`TIMEOUT`].
fn poll(addr: SocketAddr, path: &str, done: impl Fn(&Json) -> bool) -> Json {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (status, json) = get_json(addr, path);
        if status == 200 && done(&json) {
            return json;
        }
        assert!(Instant::now() < deadline, "{path} never matched; last answer: {json}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn alert<'a>(alerts: &'a Json, name: &str) -> Option<&'a Json> {
    alerts["data"]["alerts"].as_array()?.iter().find(|a| a["labels"]["alertname"] == name)
}

#[test]
fn rules_over_the_agents_own_metrics_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("broken.yml"), BROKEN).unwrap();
    let (mut agent, addr) = start(dir.path(), &["--agent.job=sonde-agent"]);
    // Without --agent.instance, the host name.
    let host = sonde_agent::evaluator::hostname();
    // Rule files are loaded before the listener is bound.
    assert!(
        agent.seen.iter().any(|l| l.contains("rule file not loaded") && l.contains("broken.yml")),
        "{:?}",
        agent.seen
    );

    // `for: 0s` fires at the first evaluation; `for: 1h` stays pending.
    let alerts = poll(addr, "/api/v1/alerts", |j| {
        alert(j, "BuildInfo").is_some_and(|a| a["state"] == "firing")
            && alert(j, "BuildInfoLong").is_some_and(|a| a["state"] == "pending")
    });
    assert_eq!(alerts["status"], "success");
    let firing = alert(&alerts, "BuildInfo").unwrap();
    assert_eq!(firing["labels"]["severity"], "page");
    assert_eq!(firing["labels"]["job"], "sonde-agent");
    assert_eq!(firing["labels"]["instance"], host.as_str());
    assert_eq!(firing["value"], "1e+00");
    let version = firing["labels"]["version"].as_str().unwrap();
    assert_eq!(firing["annotations"]["summary"], format!("version {version} is 1"));
    let active_at = alert(&alerts, "BuildInfoLong").unwrap()["activeAt"].as_str().unwrap().to_owned();
    assert!(active_at.ends_with('Z'), "{active_at}");

    let (status, rules) = get_json(addr, "/api/v1/rules");
    assert_eq!(status, 200);
    let groups = rules["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "the broken file adds no group: {rules}");
    let group = &groups[0];
    assert_eq!(group["name"], "self");
    assert!(group["file"].as_str().unwrap().ends_with("rules.yml"));
    assert_eq!(group["interval"], 0.2);
    let group_rules = group["rules"].as_array().unwrap();
    assert_eq!(group_rules.len(), 3);
    assert_eq!(group_rules[0]["type"], "alerting");
    assert_eq!(group_rules[0]["state"], "firing");
    assert_eq!(group_rules[0]["health"], "ok");
    assert_eq!(group_rules[0]["query"], "sonde_build_info == 1");
    assert_eq!(group_rules[1]["duration"], 3600);
    assert_eq!(group_rules[1]["alerts"][0]["state"], "pending");
    assert_eq!(group_rules[2]["type"], "recording");
    assert_eq!(group_rules[2]["name"], "job:sonde_build_info:count");
    let (_, only_recording) = get_json(addr, "/api/v1/rules?type=record");
    assert_eq!(only_recording["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);

    // The agent's own series, with job and instance.
    let (status, query) = get_json(addr, "/api/v1/query?query=sonde_build_info&time=1700000000.5");
    assert_eq!(status, 200, "{query}");
    assert_eq!(query["data"]["resultType"], "vector");
    // Long before anything was stored: empty.
    assert_eq!(query["data"]["result"].as_array().unwrap().len(), 0, "{query}");
    let query =
        poll(addr, "/api/v1/query?query=sonde_build_info", |j| !j["data"]["result"].as_array().unwrap().is_empty());
    let sample = &query["data"]["result"][0];
    assert_eq!(sample["metric"]["__name__"], "sonde_build_info");
    assert_eq!(sample["metric"]["job"], "sonde-agent");
    assert_eq!(sample["metric"]["instance"], host.as_str());
    assert!(sample["value"][0].is_f64() || sample["value"][0].is_u64(), "{sample}");
    assert_eq!(sample["value"][1], "1");

    // The recording rule's output is in the window too.
    let recorded = poll(addr, "/api/v1/query?query=job%3Asonde_build_info%3Acount", |j| {
        !j["data"]["result"].as_array().unwrap().is_empty()
    });
    assert_eq!(recorded["data"]["result"][0]["metric"]["job"], "sonde-agent");

    // POST form, and a scalar.
    let (status, scalar) = post_form(addr, "/api/v1/query", "query=1%2B1&time=10");
    assert_eq!(status, 200, "{scalar}");
    assert_eq!(scalar["data"]["resultType"], "scalar");
    assert_eq!(scalar["data"]["result"], serde_json::json!([10, "2"]));

    // Bad queries and times.
    for path in ["/api/v1/query?query=sum(", "/api/v1/query", "/api/v1/query?query=up&time=yesterday"] {
        let (status, error) = get_json(addr, path);
        assert_eq!(status, 400, "{path}: {error}");
        assert_eq!(error["status"], "error");
        assert_eq!(error["errorType"], "bad_data");
        assert!(!error["error"].as_str().unwrap().is_empty());
    }

    // The evaluator's metrics are served with the others.
    let metrics = get(addr, "/metrics").body;
    assert!(metrics.contains("sonde_alerts_firing 1\n"), "{metrics}");
    let broken = dir.path().join("broken.yml");
    assert!(metrics.contains(&format!("sonde_rule_file_errors{{file=\"{}\"}} 1", broken.display())), "{metrics}");
    assert!(metrics.contains("sonde_window_series{window=\"node\"} "), "{metrics}");
    assert!(metrics.contains("sonde_rule_group_last_duration_seconds{rule_group="), "{metrics}");

    // The state file is under --storage.path; a second agent on the same
    // path keeps the pending alert's activeAt.
    let state = dir.path().join("data").join("alerts.json");
    assert!(state.exists(), "no {}", state.display());
    agent.signal("TERM");
    assert!(agent.wait().success());

    let (mut agent, addr) = start(dir.path(), &["--agent.job=sonde-agent"]);
    assert!(agent.seen.iter().any(|l| l.contains("restored alert state")), "{:?}", agent.seen);
    // Once evaluated again (the firing alert re-sent), still the same activeAt.
    // (The first cycle may log before the listener does.)
    if !agent.seen.iter().any(|l| l.contains("alert firing")) {
        agent.wait_for_line("alert firing");
    }
    let (_, alerts) = get_json(addr, "/api/v1/alerts");
    let restored = alert(&alerts, "BuildInfoLong").unwrap();
    assert_eq!(restored["state"], "pending");
    assert_eq!(restored["activeAt"], active_at.as_str());
}

#[test]
fn the_api_is_the_agents_alone() {
    let mut exporter =
        Process::start(EXPORTER_BIN, &["--web.listen-address=127.0.0.1:0", "--collector.disable-defaults"]);
    let addr = exporter.listening_address();
    let answer = get(addr, "/api/v1/query?query=up");
    assert_eq!(answer.status, 404, "{}", answer.head);
}

/// Prometheus, killed and reaped when dropped.
struct Prometheus {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Debian's Prometheus (`$PROMETHEUS` or `/usr/bin/prometheus`, which
/// `scripts/test.sh` installs; the test fails without it) with no targets.
fn start_prometheus(rule_file: Option<&Path>) -> Prometheus {
    let bin = std::env::var("PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    let mut text = "global:\n  scrape_interval: 15s\n  evaluation_interval: 1s\n".to_owned();
    if let Some(file) = rule_file {
        text.push_str(&format!("rule_files: [{:?}]\n", file.display().to_string()));
    }
    std::fs::write(&config, text).unwrap();
    // A port the system just handed out; Prometheus cannot report the one
    // it bound for ":0".
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let child = std::process::Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    let prometheus = Prometheus { child, addr, _dir: dir };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if http_get(addr, "/-/ready", &[], TIMEOUT).is_ok_and(|answer| answer.status == 200) {
            return prometheus;
        }
        assert!(Instant::now() < deadline, "Prometheus did not get ready on {addr}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Answers to queries that need no data are the same bytes as
/// Prometheus' (value formatting, timestamps, result types); errors have
/// the same status and errorType (the parsers' messages differ).
#[test]
fn query_answers_match_prometheus() {
    let prometheus = start_prometheus(None);
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("--storage.path={}", dir.path().display());
    let mut agent =
        Process::start(BIN, &["--web.listen-address=127.0.0.1:0", "--collector.disable-defaults", &storage]);
    let sonde = agent.listening_address();

    let same = [
        "vector(1)",
        "1%2B1",
        "time()",
        "-1%2F0",
        "vector(1)%2F0",
        "-vector(1)%2F0",
        "vector(0)%2F0",
        "vector(0.1%2B0.2)",
        "vector(1e21)",
        "vector(1.2345678901234568e20)",
        "vector(1.5e-7)",
        "vector(1e-6)",
        "-vector(0)",
        "1e21",
        "%22a%20string%22",
        "label_replace(vector(1),%22b%22,%22%5C%22quoted%5C%22%22,%22%22,%22%22)",
        "label_replace(vector(1),%22b%22,%22%3C%26%3E%22,%22%22,%22%22)",
        "vector(1)%20%3E%202",
        "nothing_here",
        "nothing_here%5B5m%5D",
        "absent(nothing_here%7Bjob%3D%22x%22%7D)",
        "sum%20by%20(job)%20(nothing_here)",
    ];
    for time in ["1700000000", "1700000000.781", "1700000000.7805", "-1.5", "2023-11-14T22:13:20.5Z"] {
        for query in same {
            let path = format!("/api/v1/query?query={query}&time={time}");
            let (ours, theirs) = (get(sonde, &path), get(prometheus.addr, &path));
            assert_eq!(ours.status, theirs.status, "{path}");
            assert_eq!(ours.body, theirs.body, "{path}");
        }
    }
    for path in [
        "/api/v1/query?query=sum(",
        "/api/v1/query",
        "/api/v1/query?query=rate(x)",
        "/api/v1/query?query=x&time=yesterday",
    ] {
        let (status_s, error_s) = get_json(sonde, path);
        let (status_p, error_p) = get_json(prometheus.addr, path);
        assert_eq!(status_s, status_p, "{path}: {error_s} / {error_p}");
        assert_eq!(error_s["errorType"], error_p["errorType"], "{path}: {error_s} / {error_p}");
    }
    let (_, time_s) = get_json(sonde, "/api/v1/query?query=x&time=yesterday");
    let (_, time_p) = get_json(prometheus.addr, "/api/v1/query?query=x&time=yesterday");
    assert_eq!(time_s, time_p);

    // Range queries: the same matrices, and the same refusals.
    let ranges = [
        "start=1700000000&end=1700000060&step=15",
        "start=1700000000.5&end=1700000001.7&step=0.25",
        "start=2023-11-14T22:13:20Z&end=2023-11-14T22:15:20Z&step=1m",
        "start=1700000000&end=1700000000&step=1s",
    ];
    for range in ranges {
        for query in
            ["vector(1)", "time()", "1%2B1", "vector(1)%2F0", "nothing_here", "sum%20by%20(job)%20(nothing_here)"]
        {
            let path = format!("/api/v1/query_range?query={query}&{range}");
            let (ours, theirs) = (get(sonde, &path), get(prometheus.addr, &path));
            assert_eq!(ours.status, theirs.status, "{path}");
            assert_eq!(ours.body, theirs.body, "{path}");
        }
    }
    for path in [
        "/api/v1/query_range?query=vector(1)&start=10&end=5&step=1",
        "/api/v1/query_range?query=vector(1)&start=0&end=5&step=0",
        "/api/v1/query_range?query=vector(1)&start=0&end=100000&step=1",
        "/api/v1/query_range?query=vector(1)&start=x&end=5&step=1",
        "/api/v1/query_range?query=vector(1)&start=0&end=5&step=soon",
        "/api/v1/query_range?query=vector(1)&start=0&end=5",
        "/api/v1/query_range?query=vector(1)&start=0&end=5&step=-1",
        "/api/v1/query_range?query=sum(&start=0&end=5&step=1",
    ] {
        let (status_s, error_s) = get_json(sonde, path);
        let (status_p, error_p) = get_json(prometheus.addr, path);
        assert_eq!(status_s, status_p, "{path}: {error_s} / {error_p}");
        assert_eq!(error_s["errorType"], error_p["errorType"], "{path}: {error_s} / {error_p}");
        if !path.contains("sum(") {
            assert_eq!(error_s["error"], error_p["error"], "{path}");
        }
    }
}

const SHAPES: &str = r#"groups:
- name: shapes
  interval: 1s
  rules:
  - alert: Pending
    expr: vector(1)
    for: 1h
    keep_firing_for: 5m
    labels:
      severity: page
    annotations:
      summary: "value {{ $value }}"
  - alert: Firing
    expr: label_replace(vector(0.25), "service", "go-demo_main", "", "")
  - alert: Never
    expr: vector(1) > 2
  - record: shapes:recorded
    expr: vector(3)
    labels:
      x: y
"#;

/// The times and the file path, which differ between the two.
fn mask_volatile(body: &str) -> String {
    let times = regex::Regex::new(r#""(activeAt|lastEvaluation)":"[^"]*""#).unwrap();
    let durations = regex::Regex::new(r#""evaluationTime":[-+.0-9eE]+"#).unwrap();
    let file = regex::Regex::new(r#""file":"[^"]*""#).unwrap();
    let body = times.replace_all(body, r#""$1":"<time>""#);
    let body = durations.replace_all(&body, r#""evaluationTime":0"#);
    file.replace_all(&body, r#""file":"<file>""#).into_owned()
}

/// `/api/v1/rules` and `/api/v1/alerts` are Prometheus' bytes but for the
/// times: the same fields in the same order, the same formats.
#[test]
fn rules_and_alerts_are_shaped_like_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("shapes.yml");
    std::fs::write(&rules, SHAPES).unwrap();
    let prometheus = start_prometheus(Some(&rules));
    let storage = format!("--storage.path={}", dir.path().join("data").display());
    let rule_file = format!("--rules.file={}", rules.display());
    let mut agent = Process::start(
        BIN,
        &["--web.listen-address=127.0.0.1:0", "--collector.disable-defaults", &storage, &rule_file],
    );
    let sonde = agent.listening_address();

    let two_alerts = |j: &Json| j["data"]["alerts"].as_array().is_some_and(|a| a.len() == 2);
    for addr in [sonde, prometheus.addr] {
        poll(addr, "/api/v1/alerts", two_alerts);
    }
    for path in ["/api/v1/alerts", "/api/v1/rules", "/api/v1/rules?type=record"] {
        let (ours, theirs) = (get(sonde, path), get(prometheus.addr, path));
        assert_eq!(mask_volatile(&ours.body), mask_volatile(&theirs.body), "{path}");
    }
}
