//! `test rules` against reports written by promtool 2.42 for the same files.

use std::path::{Path, PathBuf};

use super::test_rules;

const RULES: &str = "groups:
- name: g1
  rules:
  - alert: A
    expr: up == 0
    for: 2m
    keep_firing_for: 3m
    labels: {sev: page}
    annotations: {summary: '{{ $labels.job }} down {{ $value }}'}
  - record: job:up
    expr: up
- name: g2
  rules:
  - alert: B
    expr: job:up == 0
";

/// Writes `r.yml` and `t.yml` (`test`) in a new directory; runs `t.yml`.
fn run(test: &str) -> (bool, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("t.yml"), test).unwrap();
    let (ok, out, err) = run_files(&[dir.path().join("t.yml")]);
    (ok, out, err, dir)
}

fn run_files(files: &[PathBuf]) -> (bool, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let ok = test_rules(files, &mut out, &mut err);
    (ok, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

fn header(dir: &Path) -> String {
    format!("Unit Testing:  {}\n", dir.join("t.yml").display())
}

#[test]
fn alerts_pending_firing_kept_and_resolved() {
    let (ok, out, err, dir) = run("rule_files: [r.yml]
evaluation_interval: 1m
group_eval_order: [g2, g1]
tests:
- interval: 1m
  name: grp
  external_labels: {cluster: c1}
  input_series:
  - series: up{job=\"a\"}
    values: 1 0 0 0 0 1 1 1 1 1 1
  alert_rule_test:
  - eval_time: 3m
    alertname: A
    exp_alerts:
    - exp_labels: {job: a, sev: page}
      exp_annotations: {summary: a down 0}
  - eval_time: 7m
    alertname: A
    exp_alerts:
    - exp_labels: {job: a, sev: page}
      exp_annotations: {summary: a down 0}
  - eval_time: 9m
    alertname: A
    exp_alerts:
    - exp_labels: {job: a, sev: page}
  - eval_time: 3m30s
    alertname: B
    exp_alerts:
    - exp_labels: {job: a, __name__: job:up}
  promql_expr_test:
  - expr: ALERTS
    eval_time: 6m
    exp_samples: []
");
    assert!(!ok);
    // promtool 2.42's report, byte for byte.
    assert_eq!(out, format!("{}\n\n\n\n", header(dir.path())));
    assert_eq!(
        err,
        r#"  FAILED:
    name: grp,
    alertname: B, time: 3m30s, 
        exp:[
            0:
              Labels:{__name__="job:up", alertname="B", job="a"}
              Annotations:{}
            ], 
        got:[
            0:
              Labels:{alertname="B", job="a"}
              Annotations:{}
            ]
    name: grp,
    alertname: A, time: 9m, 
        exp:[
            0:
              Labels:{alertname="A", job="a", sev="page"}
              Annotations:{}
            ], 
        got:[]
    expr: "ALERTS", time: 6m,
        exp: nil
        got: {__name__="ALERTS", alertname="A", alertstate="firing", job="a", sev="page"} 1E+00
"#
    );
}

#[test]
fn a_passing_file_reports_success() {
    let (ok, out, err, dir) = run("rule_files: [r.yml]
tests:
- interval: 1m
  input_series:
  - series: up{job=\"a\"}
    values: 1 0 0 0
  alert_rule_test:
  - eval_time: 2m
    alertname: A
  - eval_time: 3m
    alertname: A
    exp_alerts:
    - exp_labels: {job: a, sev: page}
      exp_annotations: {summary: a down 0}
  promql_expr_test:
  - expr: job:up
    eval_time: 3m
    exp_samples:
    - labels: 'job:up{job=\"a\"}'
      value: 0
  - expr: time()
    eval_time: 90s
    exp_samples:
    - labels: ''
      value: 90
");
    assert!(ok, "{err}");
    assert_eq!(out, format!("{}  SUCCESS\n\n", header(dir.path())));
    assert!(err.is_empty(), "{err}");
}

#[test]
fn values_compare_exactly_and_nan_never_matches() {
    // Without an interval every value lands at 0, and the first one stays.
    let (ok, _, err, _dir) = run("tests:
- input_series:
  - series: up{job=\"a\"}
    values: 5 0 7
  - series: up{job=\"b\"}
    values: 5 _ 7 stale
  promql_expr_test:
  - expr: up
    eval_time: 0m
    exp_samples:
    - labels: up{job=\"a\"}
      value: 0
  - expr: 0/0
    eval_time: 1m
    exp_samples:
    - labels: '{}'
      value: .nan
");
    assert!(!ok);
    assert_eq!(
        err,
        r#"  FAILED:
    expr: "up", time: 0s,
        exp: {__name__="up", job="a"} 0E+00
        got: {__name__="up", job="a"} 5E+00, {__name__="up", job="b"} 5E+00
    expr: "0/0", time: 1m,
        exp: {} NaN
        got: {} NaN
"#
    );
}

#[test]
fn queries_see_samples_up_to_the_last_evaluation_only() {
    // Evaluations at 0 and 1m: the sample at 90s is never loaded.
    let (ok, _, err, _dir) = run("tests:
- interval: 30s
  input_series:
  - series: up
    values: 0 1 2 3 4
  promql_expr_test:
  - expr: up
    eval_time: 90s
    exp_samples:
    - labels: up
      value: 3
");
    assert!(!ok);
    assert_eq!(
        err,
        "  FAILED:\n    expr: \"up\", time: 1m30s,\n        exp: {__name__=\"up\"} 3E+00\n        got: {__name__=\"up\"} 2E+00\n"
    );
}

#[test]
fn group_eval_order_decides_what_later_groups_see() {
    let test = |order: &str| {
        format!(
            "rule_files: [r.yml]
group_eval_order: {order}
tests:
- interval: 1m
  input_series:
  - series: up{{job=\"a\"}}
    values: 1 1 0 0
  alert_rule_test:
  - eval_time: 2m
    alertname: B
    exp_alerts:
    - exp_labels: {{job: a}}
"
        )
    };
    assert!(run(&test("[g1, g2]")).0);
    assert!(!run(&test("[g2, g1]")).0);
    let (ok, _, err, _dir) = run(&test("[g1, g1]"));
    assert!(!ok);
    assert_eq!(err, "  FAILED:\ngroup name repeated in evaluation order: g1\n");
}

#[test]
fn setup_errors_fail_the_file() {
    let (ok, _, err, dir) = run("rule_files: [r.yml, nothere*.yml]
tests:
- interval: 1m
  alert_rule_test:
  - eval_time: 1m
  - eval_time: 2m
    alertname: A
");
    assert!(!ok);
    let pattern = dir.path().join("nothere*.yml");
    assert_eq!(
        err,
        format!(
            "  WARNING: no file match pattern {}\n  FAILED:\nan item under alert_rule_test misses required attribute alertname at eval_time 1m\n",
            pattern.display()
        )
    );

    let (ok, _, err, _dir) = run("rule_files: [r.yml]\nfoo: 1\n");
    assert!(!ok);
    assert!(err.starts_with("  FAILED:\nyaml: unknown field `foo`"), "{err}");

    let (ok, _, err, _dir) = run("tests:\n- interval: 1m\n  input_series:\n  - series: up\n    values: 1 zz\n");
    assert!(!ok);
    assert!(err.contains("bad series value \"zz\""), "{err}");

    let (ok, out, err) = run_files(&[PathBuf::from("/nonexistent/t.yml")]);
    assert!(!ok);
    assert_eq!(out, "Unit Testing:  /nonexistent/t.yml\n\n\n");
    assert!(err.starts_with("  FAILED:\nopen /nonexistent/t.yml: "), "{err}");
}

#[test]
fn a_rule_that_fails_to_evaluate_ends_its_test_group() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "groups:\n- name: g\n  rules:\n  - alert: C\n    expr: up + on() group_left up\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("t.yml"),
        "rule_files: [bad.yml]
tests:
- interval: 1m
  input_series:
  - series: up{job=\"a\"}
    values: 1x5
  - series: up{job=\"b\"}
    values: 1x5
  promql_expr_test:
  - expr: up
    eval_time: 1m
- interval: 1m
",
    )
    .unwrap();
    let (ok, _, err) = run_files(&[dir.path().join("t.yml")]);
    assert!(!ok);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[1].starts_with("    rule: C, time: 0s, err: "), "{err}");
}

#[test]
fn rule_files_come_from_globs_next_to_the_test_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(
        dir.path().join("rules/a.yml"),
        "groups:\n- name: a\n  rules:\n  - record: a\n    expr: vector(1)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules/b.yml"),
        "groups:\n- name: b\n  rules:\n  - record: b\n    expr: vector(2)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tests/t.yml"),
        "rule_files: ['../rules/*.yml']
tests:
- interval: 1m
  promql_expr_test:
  - expr: a + b
    eval_time: 1m
    exp_samples:
    - labels: '{}'
      value: 3
",
    )
    .unwrap();
    let (ok, _, err) = run_files(&[dir.path().join("tests/t.yml")]);
    assert!(ok, "{err}");
}
