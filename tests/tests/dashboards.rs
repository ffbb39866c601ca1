//! Sonde's Grafana dashboards (`dashboards/*.json`) and example
//! configurations, checked against the real parts:
//!
//! * every query of every panel and annotation, and every template
//!   variable, returns data from a REAL Prometheus (Debian's `prometheus`,
//!   2.42) scraping a real `sonde-agent` (the Swarm leader of this one-node
//!   Swarm) and a real go-demo service (the example, as an image, two
//!   replicas with memory and CPU limits), after the agent's scaler has
//!   scaled it once. Grafana is not run: its substitutions are done here
//!   as it does them (`$__rate_interval`, `$__interval`, `$__range`,
//!   `label_values(...)`, "All" as its regex, one value and several);
//!   an empty answer or an error fails, naming the dashboard, the panel
//!   and the query;
//! * each dashboard has a uid, unique panel ids and a data source on every
//!   panel and query, and is what `dashboards/generate.py` writes;
//! * `dashboards/prometheus.yml` as shipped (but for the network's name),
//!   run by the real Prometheus on this one-node Swarm, finds the node's
//!   agent and every task of a service with `com.df.scrapePort`, at the
//!   port and path the labels say, and no other service;
//! * `promtool check config` takes `dashboards/prometheus.yml` (and its
//!   rules) and `amtool check-config` `dashboards/alertmanager.yml`.
//!
//! The scenario needs `/var/run/docker.sock` and an engine that is a Swarm
//! manager or in no Swarm; `SONDE_SKIP_DOCKER_TESTS=1` skips it.
// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use sonde_tests::engine::{
    Network, Service, Swarm, binary_image, docker, docker_available, host_port, wait_for, workload_image,
};
use sonde_tests::process::Process;
use sonde_tests::{TIMEOUT, expect_leader, free_port, http_get, http_post, with_context_on_failure};

const BIN: &str = env!("CARGO_BIN_EXE_sonde-agent-test");

/// How often the test's Prometheus scrapes and evaluates: Grafana's
/// "scrape interval" of the data source, the floor of `$__interval`.
const SCRAPE_SECONDS: u64 = 1;

/// Bound on each wait for the scenario (a task running, a target up), and
/// on all queries returning data. Not a performance threshold.
const LIMIT: Duration = Duration::from_secs(120);

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

/// Every `dashboards/*.json`, by file name.
fn dashboards() -> Vec<(String, Json)> {
    let mut found: Vec<(String, Json)> = std::fs::read_dir(dashboards_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        found.len() >= 4,
        "expected the four dashboards, found {:?}",
        found.iter().map(|d| &d.0).collect::<Vec<_>>()
    );
    found
}

/// The panels of a dashboard, those inside collapsed rows included.
fn panels(dashboard: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

#[test]
fn every_dashboard_has_a_uid_unique_panel_ids_and_a_data_source_everywhere() {
    let mut uids = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        let uid = dashboard["uid"].as_str().unwrap_or_default();
        assert!(!uid.is_empty() && uid.len() <= 40, "{file}: uid {uid:?}");
        assert!(uids.insert(uid.to_owned()), "{file}: uid {uid} is another dashboard's too");
        assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()), "{file}: no title");
        assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 39), "{file}: schemaVersion");
        // A provisioned dashboard gets its id from Grafana.
        assert!(dashboard["id"].is_null(), "{file}: a fixed id");

        let variables = dashboard["templating"]["list"].as_array().unwrap();
        let source = variables
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{file}: no datasource variable"));
        assert_eq!(source["type"], "datasource", "{file}");
        assert_eq!(source["query"], "prometheus", "{file}");
        for variable in variables.iter().filter(|v| v["type"] == "query") {
            assert_eq!(variable["datasource"]["uid"], "${datasource}", "{file}: variable {}", variable["name"]);
        }

        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{file}: a panel without a title: {panel}");
            let id = panel["id"].as_u64().unwrap_or_else(|| panic!("{file}: panel {title:?} has no id"));
            assert!(ids.insert(id), "{file}: panel id {id} ({title:?}) is used twice");
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{file}: panel {title:?}");
            assert!(panel["gridPos"]["w"].as_u64().is_some(), "{file}: panel {title:?} has no place");
            if panel["type"] == "row" {
                continue;
            }
            let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("{file}: panel {title:?} has no query"));
            assert!(!targets.is_empty(), "{file}: panel {title:?} has no query");
            let mut refs = BTreeSet::new();
            for target in targets {
                assert_eq!(target["datasource"]["uid"], "${datasource}", "{file}: panel {title:?}: {target}");
                assert!(target["expr"].as_str().is_some_and(|e| !e.is_empty()), "{file}: panel {title:?}: {target}");
                assert!(refs.insert(target["refId"].as_str().unwrap().to_owned()), "{file}: panel {title:?}: refIds");
            }
        }
        for annotation in dashboard["annotations"]["list"].as_array().unwrap() {
            assert!(annotation["datasource"]["uid"].is_string(), "{file}: annotation {annotation}");
        }
    }
}

#[test]
fn the_committed_dashboards_are_what_generate_py_writes() {
    let script = dashboards_dir().join("generate.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): install Debian's python3 (scripts/test.sh does)"));
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `program args…`; fails with its output unless it succeeds.
fn check_with(program: &str, args: &[&str], package: &str) {
    let output =
        Command::new(program).args(args).current_dir(dashboards_dir()).output().unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install Debian's {package} (scripts/test.sh does)")
        });
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{program} {}:\n{said}", args.join(" "));
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn promtool_accepts_the_prometheus_config_and_its_rules() {
    check_with(&sonde_tests::promtool_path(), &["check", "config", "prometheus.yml"], "prometheus");
    check_with(&sonde_tests::promtool_path(), &["check", "rules", "rules.yml"], "prometheus");
}

#[test]
fn amtool_accepts_the_alertmanager_config() {
    let amtool = std::env::var("AMTOOL").unwrap_or_else(|_| "/usr/bin/amtool".to_owned());
    check_with(&amtool, &["check-config", "alertmanager.yml"], "prometheus-alertmanager");
}

#[test]
fn the_provisioning_files_give_grafana_the_data_source_and_the_dashboards() {
    let read = |path: &str| -> Json {
        let text = std::fs::read_to_string(dashboards_dir().join(path)).unwrap();
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let sources = read("provisioning/datasources/prometheus.yml");
    assert_eq!(sources["apiVersion"], 1);
    let source = &sources["datasources"][0];
    assert_eq!(source["type"], "prometheus", "{source}");
    // The dashboards' `datasource` variable starts on the default one.
    assert_eq!(source["isDefault"], true, "{source}");
    let providers = read("provisioning/dashboards/sonde.yml");
    assert_eq!(providers["apiVersion"], 1);
    assert_eq!(providers["providers"][0]["type"], "file", "{providers}");
    assert!(providers["providers"][0]["options"]["path"].is_string(), "{providers}");
}

// --- Grafana's substitutions ---------------------------------------------

/// One template variable as the dashboard defines it.
#[derive(Debug)]
struct Variable {
    name: String,
    query: String,
    multi: bool,
    include_all: bool,
    all_value: Option<String>,
}

fn variables(dashboard: &Json) -> Vec<Variable> {
    dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| Variable {
            name: v["name"].as_str().unwrap().to_owned(),
            query: v["query"].as_str().or_else(|| v["query"]["query"].as_str()).unwrap().to_owned(),
            multi: v["multi"].as_bool().unwrap_or(false),
            include_all: v["includeAll"].as_bool().unwrap_or(false),
            all_value: v["allValue"].as_str().filter(|a| !a.is_empty()).map(str::to_owned),
        })
        .collect()
}

/// Which values of each variable a run selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Selection {
    /// "All": the variable's `allValue`, or every value as one regex.
    All,
    /// The first value only.
    First,
    /// The first two values (one when there is one).
    FirstTwo,
}

/// A value escaped as Grafana's Prometheus data source escapes it for a
/// regex matcher: regex metacharacters get a backslash, written twice so
/// that the PromQL string keeps one.
fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\^$*+?.()|{}[]'".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// What `$name` becomes for the selected `values`.
fn selected(variable: &Variable, values: &[String], selection: Selection) -> String {
    let pick: Vec<&String> = match selection {
        Selection::All if variable.include_all => {
            if let Some(all) = &variable.all_value {
                return all.clone();
            }
            values.iter().collect()
        }
        Selection::All | Selection::First => values.iter().take(1).collect(),
        Selection::FirstTwo => values.iter().take(if variable.multi { 2 } else { 1 }).collect(),
    };
    if pick.len() == 1 && !variable.multi && !variable.include_all {
        return pick[0].clone();
    }
    let escaped: Vec<String> = pick.iter().map(|v| regex_escape(v)).collect();
    if escaped.len() == 1 { escaped[0].clone() } else { format!("({})", escaped.join("|")) }
}

/// `text` with `$name`, `${name}` and `[[name]]` replaced from `values`;
/// other `$…` (such as label_replace's `$1`) left as they are, as Grafana
/// leaves a name it does not know.
fn interpolate(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(['$', '[']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let word_end = |s: &str| s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
        let (name, len) = if let Some(braced) = tail.strip_prefix("${") {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 3),
                None => ("", 1),
            }
        } else if let Some(bracketed) = tail.strip_prefix("[[") {
            match bracketed.find("]]") {
                Some(end) => (&bracketed[..end], end + 4),
                None => ("", 1),
            }
        } else if let Some(plain) = tail.strip_prefix('$') {
            let end = word_end(plain);
            (&plain[..end], end + 1)
        } else {
            ("", 1)
        };
        match values.get(name) {
            Some(value) => out.push_str(value),
            None => out.push_str(&tail[..len]),
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// The time range a dashboard is looked at over, and Grafana's built-in
/// variables for it.
#[derive(Debug, Clone, Copy)]
struct Range {
    start: u64,
    end: u64,
}

impl Range {
    fn seconds(&self) -> u64 {
        (self.end - self.start).max(1)
    }

    /// `$__interval`: the range over the points a graph shows (about a
    /// thousand), never below the data source's scrape interval; rounded
    /// up to whole seconds (Grafana rounds to a nearby round number: the
    /// same 1 s for the few minutes the scenario looks at).
    fn interval(&self) -> u64 {
        self.seconds().div_ceil(1000).max(SCRAPE_SECONDS)
    }

    /// Grafana's built-ins: `$__rate_interval` is max(4 × scrape interval,
    /// `$__interval` + scrape interval).
    fn builtins(&self) -> BTreeMap<String, String> {
        let rate = (4 * SCRAPE_SECONDS).max(self.interval() + SCRAPE_SECONDS);
        BTreeMap::from([
            ("__interval".to_owned(), format!("{}s", self.interval())),
            ("__rate_interval".to_owned(), format!("{rate}s")),
            ("__range".to_owned(), format!("{}s", self.seconds())),
        ])
    }
}

/// `application/x-www-form-urlencoded` of one query parameter.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET path` from Prometheus: its `data`, or what went wrong.
fn prometheus_api(prometheus: SocketAddr, path: &str) -> Result<Json, String> {
    let answer = http_get(prometheus, path, &[], TIMEOUT)?;
    let json = answer.json()?;
    if json["status"] != "success" {
        return Err(format!("{} {}: {}", json["errorType"], json["error"], answer.body));
    }
    Ok(json["data"].clone())
}

/// The values a variable query gives, as Grafana's Prometheus data source
/// asks for them: `label_values(label)`, `label_values(selector, label)`
/// from the label values API, `query_result(expr)` from an instant query.
fn variable_values(prometheus: SocketAddr, query: &str, range: Range) -> Result<Vec<String>, String> {
    let query = query.trim();
    let times = format!("start={}&end={}", range.start, range.end);
    if let Some(inner) = query.strip_prefix("label_values(").and_then(|q| q.strip_suffix(')')) {
        let (matcher, label) = match inner.rsplit_once(',') {
            Some((selector, label)) => (format!("&match[]={}", encode(selector.trim())), label.trim()),
            None => (String::new(), inner.trim()),
        };
        let data = prometheus_api(prometheus, &format!("/api/v1/label/{label}/values?{times}{matcher}"))?;
        return Ok(data.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect());
    }
    if let Some(expr) = query.strip_prefix("query_result(").and_then(|q| q.strip_suffix(')')) {
        let data = prometheus_api(prometheus, &format!("/api/v1/query?query={}&time={}", encode(expr), range.end))?;
        return Ok(data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|series| {
                let metric = series["metric"].as_object().cloned().unwrap_or_default();
                let name = metric.get("__name__").and_then(Json::as_str).unwrap_or_default().to_owned();
                let labels: Vec<String> =
                    metric.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| format!("{k}={v}")).collect();
                format!("{name}{{{}}} {} {}", labels.join(","), series["value"][1], series["value"][0])
            })
            .collect());
    }
    Err(format!("a variable query this test does not know: {query}"))
}

/// Whether an answer holds at least one number that is not NaN.
fn has_data(data: &Json) -> bool {
    let number = |point: &Json| point[1].as_str().is_some_and(|v| v.parse::<f64>().is_ok_and(|v| !v.is_nan()));
    data["result"].as_array().into_iter().flatten().any(|series| {
        series["values"].as_array().is_some_and(|points| points.iter().any(number))
            || (series["value"].is_array() && number(&series["value"]))
    })
}

/// One query a dashboard makes, before substitution.
#[derive(Debug, Clone)]
struct Query {
    /// `<file>: panel "<title>" <refId>` or `<file>: annotation "<name>"`.
    place: String,
    expr: String,
    instant: bool,
    /// A fixed step (an annotation's); otherwise `$__interval`.
    step: Option<u64>,
}

fn queries(file: &str, dashboard: &Json) -> Vec<Query> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(Query {
                place: format!(
                    "{file}: panel {:?} query {}",
                    panel["title"].as_str().unwrap_or_default(),
                    target["refId"]
                ),
                expr: target["expr"].as_str().unwrap_or_default().to_owned(),
                instant: target["instant"].as_bool().unwrap_or(false) && !target["range"].as_bool().unwrap_or(false),
                step: None,
            });
        }
    }
    for annotation in dashboard["annotations"]["list"].as_array().into_iter().flatten() {
        let Some(expr) = annotation["expr"].as_str() else { continue };
        let step = annotation["step"].as_str().and_then(|s| s.strip_suffix('s')).and_then(|s| s.parse().ok());
        out.push(Query {
            place: format!("{file}: annotation {:?}", annotation["name"].as_str().unwrap_or_default()),
            expr: expr.to_owned(),
            instant: false,
            step: Some(step.unwrap_or(60)),
        });
    }
    out
}

/// Runs one query as Grafana would over `range`; `Ok(false)` for an empty
/// answer.
fn run(prometheus: SocketAddr, query: &Query, expr: &str, range: Range) -> Result<bool, String> {
    let data = if query.instant {
        prometheus_api(prometheus, &format!("/api/v1/query?query={}&time={}", encode(expr), range.end))?
    } else {
        let step = query.step.unwrap_or_else(|| range.interval());
        // Grafana aligns the start of a range query to the step.
        let start = range.start - range.start % step;
        let path = format!("/api/v1/query_range?query={}&start={start}&end={}&step={step}", encode(expr), range.end);
        prometheus_api(prometheus, &path)?
    };
    Ok(has_data(&data))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Every variable and query of every dashboard under every selection,
/// over the range from `since` to now; returns what still fails (each
/// naming the dashboard, the panel and the query as run). A selection of
/// one value takes the first of `ours` a variable has, if any; of two,
/// that one and the next. Queries already seen with data (`passed`) are
/// not asked again.
fn check_all(prometheus: SocketAddr, since: u64, ours: &[String], passed: &mut BTreeSet<String>) -> Vec<String> {
    let range = Range { start: since, end: now() };
    let mut failures = Vec::new();
    for (file, dashboard) in dashboards() {
        let variables = variables(&dashboard);
        let queries = queries(&file, &dashboard);
        for selection in [Selection::All, Selection::First, Selection::FirstTwo] {
            let mut values = range.builtins();
            let mut complete = true;
            for variable in &variables {
                let query = interpolate(&variable.query, &values);
                match variable_values(prometheus, &query, range) {
                    Ok(mut found) if !found.is_empty() => {
                        // The scenario's own values first (stable): other
                        // containers and services on this machine (a
                        // sleeping one without limits, say) have no data
                        // for some panels, as in Grafana.
                        found.sort_by_key(|value| !ours.contains(value));
                        values.insert(variable.name.clone(), selected(variable, &found, selection));
                    }
                    Ok(_) => {
                        failures.push(format!(
                            "{file}: variable ${} ({selection:?}): no values for {query}",
                            variable.name
                        ));
                        complete = false;
                    }
                    Err(err) => {
                        failures.push(format!("{file}: variable ${} ({selection:?}): {query}: {err}", variable.name));
                        complete = false;
                    }
                }
            }
            if !complete {
                continue;
            }
            for query in &queries {
                let expr = interpolate(&query.expr, &values);
                let key = format!("{} ({selection:?}): {expr}", query.place);
                if passed.contains(&key) {
                    continue;
                }
                match run(prometheus, query, &expr, range) {
                    Ok(true) => {
                        passed.insert(key);
                    }
                    Ok(false) => failures.push(format!("{key}: no data")),
                    Err(err) => failures.push(format!("{key}: {err}")),
                }
            }
        }
    }
    failures
}

// --- the scenario ------------------------------------------------------------

/// The go-demo example, built once with the same cargo into the same
/// target directory as this test.
fn go_demo_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // This test runs as <target>/<profile>/deps/dashboards-<hash>.
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
            let target_dir = profile_dir.parent().unwrap();
            let mut build = Command::new(env!("CARGO"));
            build
                .args(["build", "--quiet", "-p", "sonde-instrument", "--features", "http", "--example", "go-demo"])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if profile_dir.file_name().is_some_and(|name| name == "release") {
                build.arg("--release");
            }
            let status = build.status().unwrap();
            assert!(status.success(), "cargo build --example go-demo failed: {status}");
            profile_dir.join("examples").join("go-demo")
        })
        .clone()
}

/// Debian's Prometheus (`$PROMETHEUS` or `/usr/bin/prometheus`) with
/// `config`, on a free port.
fn start_prometheus(dir: &Path, config: &str) -> (Process, SocketAddr) {
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    let bin = std::env::var("PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".to_owned());
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let process = Process::start(
        &bin,
        &[
            &format!("--config.file={}", path.display()),
            &format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            &format!("--web.listen-address={addr}"),
        ],
    );
    (process, addr)
}

/// The host ports of the service's running tasks (published in host mode).
fn task_ports(service: &Service) -> Vec<u16> {
    service.running_containers().iter().filter_map(|id| host_port(id, 8080)).collect()
}

#[test]
fn every_query_of_every_dashboard_returns_data() {
    if !docker_available("every_query_of_every_dashboard_returns_data") {
        return;
    }
    let _swarm = Swarm::ensure();
    let image = binary_image(&go_demo_binary(), "go-demo");
    let dir = tempfile::tempdir().unwrap();

    // The agent, on this host like the scaler test's, with one rule group
    // whose alert fires (notifications, the firing gauge).
    let rules = dir.path().join("agent-rules.yml");
    std::fs::write(&rules, "groups:\n- name: dashboards\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n")
        .unwrap();
    let mut agent = Process::start(
        BIN,
        &[
            "--web.listen-address=127.0.0.1:0",
            &format!("--storage.path={}", dir.path().join("data").display()),
            &format!("--rules.file={}", rules.display()),
            "--rules.evaluation-interval=1s",
        ],
    );
    let agent_addr = agent.listening_address();
    wait_for("the agent to lead the Swarm", LIMIT, || {
        expect_leader(&http_get(agent_addr, "/metrics", &[], TIMEOUT).ok()?.body).ok()
    });

    // go-demo as a Swarm service the scaler may take from 2 to 3 replicas;
    // its tasks carry com.df.scrapePort, so the agent scrapes them too.
    let name = Service::unique_name();
    let service = Service::create_named(
        name.clone(),
        &[
            "--replicas=2",
            "--limit-memory=64M",
            "--limit-cpu=0.5",
            "--publish=mode=host,target=8080",
            "--container-label=com.df.scrapePort=8080",
            "--label=com.df.scaleMin=1",
            "--label=com.df.scaleMax=3",
            &format!("--env=SERVICE_NAME={name}"),
            "--env=SELF_PING_INTERVAL=200ms",
        ],
        image,
        &[],
    );

    let scenario = || {
        let ports = wait_for("two go-demo tasks with their host ports", LIMIT, || {
            let ports = task_ports(&service);
            (ports.len() == 2).then_some(ports)
        });
        let demo_targets: Vec<String> = ports.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let dashboards_rules = dashboards_dir().join("rules.yml").canonicalize().unwrap();
        let config = format!(
            "global:\n  scrape_interval: {SCRAPE_SECONDS}s\n  scrape_timeout: {SCRAPE_SECONDS}s\n  evaluation_interval: {SCRAPE_SECONDS}s\n\
             rule_files:\n  - {}\nscrape_configs:\n\
             - job_name: sonde\n  static_configs:\n  - targets: ['{agent_addr}']\n\
             - job_name: {name}\n  static_configs:\n  - targets: [{}]\n",
            dashboards_rules.display(),
            demo_targets.join(", "),
        );
        let (mut prometheus, prometheus_addr) = start_prometheus(dir.path(), &config);
        let since = now();
        let up = format!("count(up == 1) == {}", 1 + ports.len());
        wait_for("Prometheus to scrape the agent and both tasks", LIMIT, || {
            if prometheus.exited().is_some() {
                prometheus.has_logged("");
                panic!("Prometheus exited:\n{}", prometheus.seen.join("\n"));
            }
            let data = prometheus_api(prometheus_addr, &format!("/api/v1/query?query={}", encode(&up))).ok()?;
            has_data(&data).then_some(())
        });

        // A server error, so the 5xx share is computed from 5xx series and
        // not only from its fallback to 0: one answer in ten is a 500.
        let demo: SocketAddr = format!("127.0.0.1:{}", ports[0]).parse().unwrap();
        wait_for("a 500 from /demo/random-error", LIMIT, || {
            let answer = http_get(demo, "/demo/random-error", &[], TIMEOUT).ok()?;
            (answer.status == 500).then_some(())
        });

        // A scaling decision, as a Prometheus or an agent would send it,
        // made while Prometheus watches the agent (its counter is born at
        // 1 between two scrapes, as in a running cluster).
        std::thread::sleep(Duration::from_secs(3 * SCRAPE_SECONDS));
        let alert = serde_json::json!([{
            "labels": {"alertname": "resp_time_above", "service": name, "scale": "up"},
            "annotations": {"summary": "dashboards test"},
        }]);
        let posted = http_post(agent_addr, "/api/v2/alerts", &[], alert.to_string().as_bytes(), TIMEOUT).unwrap();
        assert_eq!(posted.status, 200, "{}", posted.body);
        wait_for("the scaler to take go-demo to 3 running tasks", LIMIT, || {
            (service.running_containers().len() == 3).then_some(())
        });

        let ours = ["sonde".to_owned(), agent_addr.to_string(), name.clone()];
        let deadline = Instant::now() + LIMIT;
        let mut passed = BTreeSet::new();
        loop {
            let failures = check_all(prometheus_addr, since, &ours, &mut passed);
            if failures.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                panic!("{} queries without data after {LIMIT:?}:\n{}", failures.len(), failures.join("\n"));
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        eprintln!("{} queries answered with data", passed.len());
    };
    with_context_on_failure(scenario, || {
        let _ = agent.has_logged("");
        format!(
            "tasks:\n{}\nagent log (last 40 lines):\n{}",
            service.tasks(),
            agent.seen.iter().rev().take(40).rev().cloned().collect::<Vec<_>>().join("\n")
        )
    });
}

/// The active targets of `job` in Prometheus' `/api/v1/targets`.
fn active_targets(prometheus: SocketAddr, job: &str) -> Vec<Json> {
    prometheus_api(prometheus, "/api/v1/targets?state=active")
        .map(|data| data["activeTargets"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t["scrapePool"] == job)
        .collect()
}

#[test]
fn the_prometheus_config_finds_the_nodes_and_the_labelled_services_of_a_swarm() {
    if !docker_available("the_prometheus_config_finds_the_nodes_and_the_labelled_services_of_a_swarm") {
        return;
    }
    let _swarm = Swarm::ensure();
    let image = workload_image(Path::new(env!("CARGO_BIN_EXE_sonde-workload")));
    let network = Network::overlay();
    let on_network = format!("--network={}", network.name);
    // Found: two tasks with a scrape port and a path. Not found: a
    // service without the label.
    let labelled = Service::create(
        &["--replicas=2", &on_network, "--label=com.df.scrapePort=8080", "--label=com.df.metricsPath=/custom"],
        image,
        &["sleep"],
    );
    let unlabelled = Service::create(&["--replicas=1", &on_network], image, &["sleep"]);
    let dir = tempfile::tempdir().unwrap();

    let scenario = || {
        let addresses = wait_for("the labelled service's two tasks on the network", LIMIT, || {
            let ids = labelled.running_containers();
            let format = format!("{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}", network.name);
            let found: BTreeSet<String> = ids
                .iter()
                .map(|id| docker(&["inspect", "--format", &format, id]))
                .filter(|ip| !ip.is_empty())
                .collect();
            (ids.len() == 2 && found.len() == 2).then_some(found)
        });
        wait_for("the other service's task", LIMIT, || (unlabelled.running_containers().len() == 1).then_some(()));

        // The file as shipped, but for the network's name; its rules
        // beside it, as it names them.
        let shipped = std::fs::read_to_string(dashboards_dir().join("prometheus.yml")).unwrap();
        assert_eq!(shipped.matches("regex: monitor").count(), 1, "the network's name is in one place");
        std::fs::copy(dashboards_dir().join("rules.yml"), dir.path().join("rules.yml")).unwrap();
        let config = shipped.replace("regex: monitor", &format!("regex: {}", network.name));
        let (mut prometheus, prometheus_addr) = start_prometheus(dir.path(), &config);

        // Discovery runs at start: the targets are there at once, though
        // the overlay addresses do not answer from this host.
        let services = wait_for("the two tasks as targets", LIMIT, || {
            if prometheus.exited().is_some() {
                prometheus.has_logged("");
                panic!("Prometheus exited:\n{}", prometheus.seen.join("\n"));
            }
            let targets = active_targets(prometheus_addr, "swarm-services");
            (targets.len() >= 2).then_some(targets)
        });
        let urls: BTreeSet<String> = services.iter().map(|t| t["scrapeUrl"].as_str().unwrap().to_owned()).collect();
        let expected: BTreeSet<String> = addresses.iter().map(|ip| format!("http://{ip}:8080/custom")).collect();
        assert_eq!(urls, expected, "{services:#?}");
        for target in &services {
            assert_eq!(target["labels"]["job"], labelled.name.as_str(), "{target:#}");
            assert!(target["labels"]["instance"].as_str().unwrap().ends_with(":8080"), "{target:#}");
        }

        // One agent target per node, at its address on the stack's port,
        // named after the node.
        let agents = wait_for("the node as an agent target", LIMIT, || {
            let targets = active_targets(prometheus_addr, "sonde");
            (!targets.is_empty()).then_some(targets)
        });
        let nodes = docker(&["node", "ls", "--format", "{{.Hostname}} {{.Availability}}"]);
        let hostnames: BTreeSet<&str> =
            nodes.lines().filter(|l| !l.ends_with("Drain")).filter_map(|l| l.split_whitespace().next()).collect();
        let instances: BTreeSet<&str> = agents.iter().map(|t| t["labels"]["instance"].as_str().unwrap()).collect();
        assert_eq!(instances, hostnames, "{agents:#?}");
        let address = docker(&["node", "inspect", "self", "--format", "{{.Status.Addr}}"]);
        let own =
            agents.iter().find(|t| t["labels"]["instance"] == docker(&["info", "--format", "{{.Name}}"]).as_str());
        assert_eq!(own.unwrap()["scrapeUrl"], format!("http://{address}:9097/metrics").as_str(), "{agents:#?}");
    };
    with_context_on_failure(scenario, || format!("tasks:\n{}\n{}", labelled.tasks(), unlabelled.tasks()));
}

#[test]
fn grafana_substitutions_are_done_as_grafana_does_them() {
    let values = BTreeMap::from([
        ("job".to_owned(), "sonde".to_owned()),
        ("instance".to_owned(), "(a\\\\.b|c)".to_owned()),
        ("__rate_interval".to_owned(), "4s".to_owned()),
    ]);
    assert_eq!(
        interpolate(r#"rate(x{job=~"$job", instance=~"${instance}"}[$__rate_interval]) $1 [[job]] $unknown"#, &values),
        r#"rate(x{job=~"sonde", instance=~"(a\\.b|c)"}[4s]) $1 sonde $unknown"#
    );
    let variable = |multi, include_all, all: Option<&str>| Variable {
        name: "v".to_owned(),
        query: String::new(),
        multi,
        include_all,
        all_value: all.map(str::to_owned),
    };
    let found = ["127.0.0.1:9097".to_owned(), "node-2".to_owned()];
    assert_eq!(selected(&variable(true, true, Some(".*")), &found, Selection::All), ".*");
    assert_eq!(selected(&variable(true, true, None), &found, Selection::All), "(127\\\\.0\\\\.0\\\\.1:9097|node-2)");
    assert_eq!(selected(&variable(true, true, None), &found, Selection::First), "127\\\\.0\\\\.0\\\\.1:9097");
    assert_eq!(
        selected(&variable(true, false, None), &found, Selection::FirstTwo),
        "(127\\\\.0\\\\.0\\\\.1:9097|node-2)"
    );
    assert_eq!(selected(&variable(false, false, None), &found, Selection::FirstTwo), "127.0.0.1:9097");
    let range = Range { start: 1000, end: 1000 + 3600 };
    assert_eq!(range.builtins()["__interval"], "4s");
    assert_eq!(range.builtins()["__rate_interval"], "5s");
    assert_eq!(range.builtins()["__range"], "3600s");
}
