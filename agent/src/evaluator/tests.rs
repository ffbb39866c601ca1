use sonde_rules::LogNotifier;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sonde_exporter::container::{ContainerInfo, LabelAllowlist, MetadataCache};
use sonde_instrument::{Collector, Labels, MetricFamily, find_value};

use super::*;
use sonde_promql::Value;
use sonde_rules::AlertState;

fn config(dir: &Path, files: &[PathBuf]) -> EvaluatorConfig {
    EvaluatorConfig {
        rule_files: files.to_vec(),
        node_rule_files: Vec::new(),
        evaluation_interval: Duration::from_secs(15),
        storage_path: dir.join("data"),
        max_series: 1000,
        max_samples: sonde_promql::limits::DEFAULT_MAX_SAMPLES,
        job: "sonde".to_owned(),
        instance: "node-1".to_owned(),
        scrape: super::ScrapeConfig::default(),
        swarm: None,
    }
}

fn families(up: f64) -> Vec<MetricFamily> {
    vec![MetricFamily::gauge("up_gauge", "A test gauge.").with_sample(Labels::new().with("kind", "test"), up)]
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn metrics(evaluator: &Evaluator) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    evaluator.collect(&mut out);
    out
}

fn gauge(out: &[MetricFamily], name: &str) -> Option<f64> {
    out.iter().find(|f| f.name == name).and_then(|f| f.samples.first()).map(|s| s.value)
}

fn alerts(evaluator: &Evaluator) -> Vec<(String, AlertState, i64)> {
    evaluator.with_groups(|groups| {
        groups
            .flat_map(|g| {
                g.alerts().map(|a| (a.labels["alertname"].clone(), a.state, a.active_at_ms)).collect::<Vec<_>>()
            })
            .collect()
    })
}

#[test]
fn the_agents_own_samples_get_job_and_instance() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let evaluator = Evaluator::new(config(dir.path(), &[]), None, Arc::new(LogNotifier::new()));
    assert_eq!(evaluator.cycle(&families(1.0), t0, Instant::now()), 0);
    let (value, _) = evaluator.instant_query("up_gauge", t0).unwrap();
    let Value::Vector(samples) = value else { panic!("{value:?}") };
    assert_eq!(samples.len(), 1);
    let labels = &samples[0].labels;
    assert_eq!(labels.get("job"), Some("sonde"));
    assert_eq!(labels.get("instance"), Some("node-1"));
    assert_eq!(labels.get("kind"), Some("test"));
    // No rules, no alert: nothing is written under --storage.path.
    assert!(!evaluator.state_path().exists());
    assert_eq!(gauge(&metrics(&evaluator), "sonde_window_series"), Some(1.0));
    // Only the lookback is kept when no rule uses a range.
    assert_eq!(gauge(&metrics(&evaluator), "sonde_window_retention_seconds"), Some(300.0));
}

#[test]
fn an_alert_fires_pends_and_survives_a_restart() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "rules.yml",
        "groups:\n- name: self\n  rules:\n  - alert: Up\n    expr: up_gauge == 1\n  - alert: UpLong\n    expr: up_gauge == 1\n    for: 1h\n  - record: job:up_gauge:sum\n    expr: sum by (job) (rate(up_gauge[10m]))\n",
    );
    let evaluator = Evaluator::new(config(dir.path(), std::slice::from_ref(&file)), None, Arc::new(LogNotifier::new()));
    let start = Instant::now();
    assert_eq!(evaluator.cycle(&families(1.0), t0, start), 1);
    let mut seen = alerts(&evaluator);
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, [("Up".to_owned(), AlertState::Firing, t0), ("UpLong".to_owned(), AlertState::Pending, t0)]);
    assert!(evaluator.state_path().exists());
    // `ALERTS` went into the store.
    let (value, _) = evaluator.instant_query("ALERTS{alertstate=\"firing\"}", t0).unwrap();
    assert!(matches!(value, Value::Vector(ref v) if v.len() == 1), "{value:?}");
    // The store keeps the 10m range plus the lookback.
    assert_eq!(gauge(&metrics(&evaluator), "sonde_window_retention_seconds"), Some(900.0));

    // Not due again before its interval.
    assert_eq!(evaluator.cycle(&families(1.0), t0 + 1000, start + Duration::from_secs(1)), 0);
    assert_eq!(evaluator.cycle(&families(1.0), t0 + 15_000, start + Duration::from_secs(15)), 1);
    drop(evaluator);

    let restarted = Evaluator::new(config(dir.path(), &[file]), None, Arc::new(LogNotifier::new()));
    let mut seen = alerts(&restarted);
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, [("Up".to_owned(), AlertState::Firing, t0), ("UpLong".to_owned(), AlertState::Pending, t0)]);
    restarted.cycle(&families(1.0), t0 + 30_000, Instant::now());
    let long = alerts(&restarted).into_iter().find(|a| a.0 == "UpLong").unwrap();
    assert_eq!((long.1, long.2), (AlertState::Pending, t0), "for progress kept");
}

#[test]
fn a_broken_rule_file_is_left_out() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up_gauge > 5\n");
    let bad = write(dir.path(), "bad.yml", "groups:\n- name: g\n  rules:\n  - alert: B\n    expr: up_gauge >\n");
    let missing = dir.path().join("missing.yml");
    let evaluator = Evaluator::new(
        config(dir.path(), &[good.clone(), bad.clone(), missing.clone()]),
        None,
        Arc::new(LogNotifier::new()),
    );
    assert_eq!(evaluator.cycle(&families(1.0), t0, Instant::now()), 1);
    let out = metrics(&evaluator);
    let errors = |file: &Path| find_value(&out, "sonde_rule_file_errors", "file", &file.display().to_string());
    assert_eq!(errors(&good), Some(0.0));
    assert!(errors(&bad).is_some_and(|n| n >= 1.0));
    assert!(errors(&missing).is_some_and(|n| n >= 1.0));
    let key = format!("{};g", good.display());
    assert_eq!(find_value(&out, "sonde_rule_evaluations", "rule_group", &key), Some(1.0));
    assert_eq!(find_value(&out, "sonde_rule_evaluation_failures", "rule_group", &key), Some(0.0));
    // Each part reports its own families, and none twice.
    let mut names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "a family is emitted twice: {names:?}");
}

#[test]
fn a_failing_rule_is_counted() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    // Valid PromQL outside Sonde's subset fails at evaluation.
    let file =
        write(dir.path(), "r.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up_gauge offset 5m > 0\n");
    let evaluator = Evaluator::new(config(dir.path(), std::slice::from_ref(&file)), None, Arc::new(LogNotifier::new()));
    evaluator.cycle(&families(1.0), t0, Instant::now());
    let out = metrics(&evaluator);
    let key = format!("{};g", file.display());
    assert_eq!(find_value(&out, "sonde_rule_evaluation_failures", "rule_group", &key), Some(1.0));
}

#[test]
fn the_series_cap_refuses_and_counts() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &[]);
    cfg.max_series = 2;
    let evaluator = Evaluator::new(cfg, None, Arc::new(LogNotifier::new()));
    let mut family = MetricFamily::gauge("many", "Many series.");
    for i in 0..5 {
        family.push(Labels::new().with("i", i.to_string()), 1.0);
    }
    evaluator.cycle(&[family], t0, Instant::now());
    let out = metrics(&evaluator);
    assert_eq!(gauge(&out, "sonde_window_series"), Some(2.0));
    assert_eq!(gauge(&out, "sonde_window_dropped_series"), Some(3.0));
}

fn container(id: &str, labels: &[(&str, &str)]) -> ContainerInfo {
    ContainerInfo {
        id: id.to_owned(),
        name: format!("{id}.1.x"),
        image: "img".to_owned(),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        pid: 0,
        started_at: Some(1.0),
        addresses: Vec::new(),
    }
}

#[test]
fn rules_come_and_go_with_container_labels() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let cache = MetadataCache::new(LabelAllowlist::default());
    let evaluator = Evaluator::new(config(dir.path(), &[]), Some(cache.clone()), Arc::new(LogNotifier::new()));
    cache.upsert(container(
        "a",
        &[
            ("com.docker.swarm.service.name", "go-demo_main"),
            ("com.df.alertName.1", "up"),
            ("com.df.alertIf.1", "up_gauge == 1"),
            ("com.df.alertName.2", "replicas"),
            ("com.df.alertIf.2", "@replicas_running"),
            ("com.df.alertName.3", "slow"),
            ("com.df.alertIf.3", "@resp_time_above:0.1,5m,0.99"),
        ],
    ));
    let now = Instant::now();
    assert_eq!(evaluator.cycle(&families(1.0), t0, now), 1);
    let seen = alerts(&evaluator);
    assert_eq!(seen, [("godemo_main_up".to_owned(), AlertState::Firing, t0)]);
    let out = metrics(&evaluator);
    assert_eq!(find_value(&out, "sonde_rule_label_errors", "label", "com.df.alertIf.2"), Some(1.0));
    assert_eq!(find_value(&out, "sonde_rule_group_rules", "rule_group", "go-demo_main"), Some(2.0));
    // `@resp_time_above`'s 5m range plus the lookback.
    assert_eq!(gauge(&out, "sonde_window_retention_seconds"), Some(600.0));

    // A label change rebuilds the group and keeps the alert.
    cache.upsert(container(
        "a",
        &[
            ("com.docker.swarm.service.name", "go-demo_main"),
            ("com.df.alertName.1", "up"),
            ("com.df.alertIf.1", "up_gauge == 1"),
        ],
    ));
    evaluator.cycle(&families(1.0), t0 + 1000, now + Duration::from_secs(1));
    assert_eq!(alerts(&evaluator), [("godemo_main_up".to_owned(), AlertState::Firing, t0)]);
    let out = metrics(&evaluator);
    assert_eq!(find_value(&out, "sonde_rule_label_errors", "label", "com.df.alertIf.2"), None);
    assert_eq!(gauge(&out, "sonde_window_retention_seconds"), Some(300.0));

    cache.remove("a");
    evaluator.cycle(&families(1.0), t0 + 2000, now + Duration::from_secs(2));
    assert!(evaluator.with_groups(|groups| groups.count()) == 0);
}

fn swarm_config(dir: &Path, cluster_files: &[PathBuf], node_files: &[PathBuf]) -> EvaluatorConfig {
    let mut cfg = config(dir, cluster_files);
    cfg.node_rule_files = node_files.to_vec();
    // Never asked in these tests: the view is set by hand.
    cfg.swarm = Some(SwarmConfig {
        docker: sonde_exporter::container::docker::DockerConfig {
            host: "unix:///nonexistent/docker.sock".to_owned(),
            timeout: Duration::from_millis(100),
        },
        agent_port: 9097,
        agent_path: "/metrics".to_owned(),
    });
    cfg
}

/// A service as the tests write it: name, desired replicas, labels.
type ServiceRow<'a> = (&'a str, Option<u64>, &'a [(&'a str, &'a str)]);

fn view(role: Role, services: &[ServiceRow<'_>]) -> SwarmView {
    SwarmView {
        role,
        services: services
            .iter()
            .map(|(name, replicas, labels)| crate::swarm::SwarmService {
                name: (*name).to_owned(),
                labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                replicas: *replicas,
            })
            .collect(),
    }
}

fn group_names(evaluator: &Evaluator) -> Vec<String> {
    let mut names: Vec<String> = evaluator.with_groups(|groups| groups.map(|g| g.name().to_owned()).collect());
    names.sort();
    names
}

fn rule_exprs(evaluator: &Evaluator, group: &str) -> Vec<String> {
    evaluator.with_groups(|groups| {
        groups
            .filter(|g| g.name() == group)
            .flat_map(|g| {
                g.rules().iter().map(|r| match r {
                    sonde_rules::GroupRule::Alert(a) => a.rule().expr.clone(),
                    sonde_rules::GroupRule::Record(r) => r.rule().expr.clone(),
                })
            })
            .collect()
    })
}

#[test]
fn only_the_leader_evaluates_cluster_rules() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(
        dir.path(),
        "cluster.yml",
        "groups:\n- name: cluster\n  rules:\n  - alert: Up\n    expr: up_gauge == 1\n",
    );
    let node =
        write(dir.path(), "node.yml", "groups:\n- name: node\n  rules:\n  - alert: NodeUp\n    expr: up_gauge == 1\n");
    let evaluator = Evaluator::new(swarm_config(dir.path(), &[cluster], &[node]), None, Arc::new(LogNotifier::new()));
    let start = Instant::now();
    let at = |s: u64| (t0 + i64::try_from(s).unwrap() * 1000, start + Duration::from_secs(s));

    evaluator.set_swarm_view(view(Role::Worker, &[]));
    let (t, now) = at(0);
    assert_eq!(evaluator.cycle(&families(1.0), t, now), 1);
    assert_eq!(group_names(&evaluator), ["node"]);
    assert_eq!(alerts(&evaluator), [("NodeUp".to_owned(), AlertState::Firing, t)]);
    let out = metrics(&evaluator);
    assert_eq!(find_value(&out, "sonde_swarm_role", "role", "worker"), Some(1.0));
    assert_eq!(find_value(&out, "sonde_swarm_role", "role", "leader"), Some(0.0));
    assert_eq!(find_value(&out, "sonde_window_series", "window", "cluster"), None, "no cluster window on a worker");

    // Elected: the cluster groups start, over the cluster window.
    evaluator.set_swarm_view(view(Role::Leader, &[]));
    let (t, now) = at(15);
    assert_eq!(evaluator.cycle(&families(1.0), t, now), 2);
    assert_eq!(group_names(&evaluator), ["cluster", "node"]);
    let mut seen = alerts(&evaluator);
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, [("NodeUp".to_owned(), AlertState::Firing, t0), ("Up".to_owned(), AlertState::Firing, t)]);
    let out = metrics(&evaluator);
    // The leader's own sample, and `ALERTS`/`ALERTS_FOR_STATE` of the
    // cluster rule; the node rule's went to the node window.
    assert_eq!(find_value(&out, "sonde_window_series", "window", "cluster"), Some(3.0));
    assert_eq!(find_value(&out, "sonde_window_series", "window", "node"), Some(3.0));

    // A series only the cluster window has is seen by `/api/v1/query`
    // there, not in the node window.
    evaluator.write_window(Window::Cluster).append(&Labels::new().with("__name__", "remote_only"), t, 1.0);
    assert!(matches!(evaluator.instant_query("remote_only", t).unwrap().0, Value::Vector(ref v) if v.len() == 1));
    assert_eq!(evaluator.read_window(Window::Node).series_count(), 3);

    // Stepping down drops the cluster rules, their alerts and the window.
    evaluator.set_swarm_view(view(Role::Manager, &[]));
    let (t, now) = at(30);
    assert_eq!(evaluator.cycle(&families(1.0), t, now), 1);
    assert_eq!(group_names(&evaluator), ["node"]);
    assert_eq!(alerts(&evaluator), [("NodeUp".to_owned(), AlertState::Firing, t0)]);
    assert_eq!(evaluator.read_window(Window::Cluster).series_count(), 0);
    assert!(matches!(evaluator.instant_query("remote_only", t).unwrap().0, Value::Vector(ref v) if v.is_empty()));
}

#[test]
fn the_leader_builds_rules_from_service_labels_with_their_replicas() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let cache = MetadataCache::new(LabelAllowlist::default());
    let evaluator =
        Evaluator::new(swarm_config(dir.path(), &[], &[]), Some(cache.clone()), Arc::new(LogNotifier::new()));
    // The same service's containers carry other alert labels: node rules
    // on a worker, replaced by the service's own labels on the leader.
    cache.upsert(container(
        "a",
        &[
            ("com.docker.swarm.service.name", "go-demo_main"),
            ("com.df.alertName", "up"),
            ("com.df.alertIf", "up_gauge == 1"),
        ],
    ));
    let labels: &[(&str, &str)] = &[
        ("com.df.alertName.1", "replicas"),
        ("com.df.alertIf.1", "@replicas_running"),
        ("com.df.alertFor.1", "1h"),
        ("com.df.scrapePort", "8080"),
    ];
    let global: &[(&str, &str)] = &[("com.df.alertName", "replicas"), ("com.df.alertIf", "@replicas_less_than")];
    let start = Instant::now();

    evaluator.set_swarm_view(view(Role::Worker, &[("go-demo_main", Some(3), labels)]));
    evaluator.cycle(&families(1.0), t0, start);
    assert_eq!(rule_exprs(&evaluator, "go-demo_main"), ["up_gauge == 1"], "a worker sees container labels only");

    evaluator.set_swarm_view(view(Role::Leader, &[("go-demo_main", Some(3), labels), ("agent", None, global)]));
    evaluator.cycle(&families(1.0), t0 + 1000, start + Duration::from_secs(1));
    let selector = r#"container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}"#;
    assert_eq!(rule_exprs(&evaluator, "go-demo_main"), [format!("count({selector}) != 3")]);
    // A global service has no desired replicas.
    let out = metrics(&evaluator);
    assert_eq!(find_value(&out, "sonde_rule_label_errors", "service", "agent"), Some(1.0));

    // Scaled: R follows.
    evaluator.set_swarm_view(view(Role::Leader, &[("go-demo_main", Some(2), labels)]));
    evaluator.cycle(&families(1.0), t0 + 2000, start + Duration::from_secs(2));
    assert_eq!(rule_exprs(&evaluator, "go-demo_main"), [format!("count({selector}) != 2")]);
    let out = metrics(&evaluator);
    assert_eq!(find_value(&out, "sonde_rule_label_errors", "service", "agent"), None, "the service is gone");

    // No longer leading: back to the containers' labels.
    evaluator.set_swarm_view(view(Role::Worker, &[]));
    evaluator.cycle(&families(1.0), t0 + 3000, start + Duration::from_secs(3));
    assert_eq!(rule_exprs(&evaluator, "go-demo_main"), ["up_gauge == 1"]);
}

#[test]
fn the_leader_says_the_desired_replicas_of_replicated_services() {
    const DESIRED: &str = "sonde_swarm_service_desired_replicas";
    let dir = tempfile::tempdir().unwrap();
    let evaluator = Evaluator::new(swarm_config(dir.path(), &[], &[]), None, Arc::new(LogNotifier::new()));
    let services: [ServiceRow<'_>; 3] = [("web", Some(3), &[]), ("idle", Some(0), &[]), ("agent", None, &[])];

    evaluator.set_swarm_view(view(Role::Leader, &services));
    let out = metrics(&evaluator);
    assert_eq!(find_value(&out, DESIRED, "service", "web"), Some(3.0));
    assert_eq!(find_value(&out, DESIRED, "service", "idle"), Some(0.0), "scaled to zero is still a number");
    assert_eq!(find_value(&out, DESIRED, "service", "agent"), None, "a global service has no desired count");

    // Any other role says nothing of the services, even with a view that
    // still holds them: one series per service across all agents.
    evaluator.set_swarm_view(view(Role::Manager, &services));
    assert!(metrics(&evaluator).iter().all(|f| f.name != DESIRED));
    // A leader of global services only has no family at all.
    evaluator.set_swarm_view(view(Role::Leader, &services[2..]));
    assert!(metrics(&evaluator).iter().all(|f| f.name != DESIRED));
}

#[test]
fn without_swarm_awareness_every_rule_runs_here() {
    let t0 = now_ms();
    let dir = tempfile::tempdir().unwrap();
    let cluster = write(
        dir.path(),
        "cluster.yml",
        "groups:\n- name: cluster\n  rules:\n  - alert: Up\n    expr: up_gauge == 1\n",
    );
    let node =
        write(dir.path(), "node.yml", "groups:\n- name: node\n  rules:\n  - alert: NodeUp\n    expr: up_gauge == 1\n");
    let mut cfg = config(dir.path(), &[cluster]);
    cfg.node_rule_files = vec![node];
    let evaluator = Evaluator::new(cfg, None, Arc::new(LogNotifier::new()));
    // Before any cycle too: the groups are there from the start.
    assert_eq!(group_names(&evaluator), ["cluster", "node"]);
    assert_eq!(evaluator.cycle(&families(1.0), t0, Instant::now()), 2);
    assert_eq!(evaluator.role(), Role::Standalone);
    assert_eq!(
        find_value(&metrics(&evaluator), "sonde_swarm_role", "role", "standalone"),
        None,
        "not asked, not reported"
    );
}

#[test]
fn a_cycle_running_past_four_intervals_and_a_minute_is_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let evaluator = Evaluator::new(config(dir.path(), &[]), None, Arc::new(LogNotifier::new()));
    assert_eq!(evaluator.stuck(), None, "no cycle running");
    evaluator.cycle_since_ms.store(now_ms() - 30_000, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(evaluator.stuck(), None, "30 s is within a minute");
    evaluator.cycle_since_ms.store(now_ms() - 90_000, std::sync::atomic::Ordering::Relaxed);
    let why = evaluator.stuck().expect("stuck");
    assert!(why.starts_with("a rule evaluation cycle has been running for 9"), "{why}");
}
