//! Tests of the alert state machine, driven by scripted query results.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sonde_instrument::{Collector, Labels};

use super::*;
use crate::file::GroupSpec;
use crate::group::{GroupRule, RuleGroup};
use crate::notify::LogNotifier;
use crate::notify::Notifier;
use crate::state::SavedState;
use crate::{AlertRule, RecordRule, Rule};

type Script = Box<dyn Fn(&str, i64) -> Result<Vec<(Labels, f64)>, EvalError>>;

/// A query function answering from a script; it keeps what is appended.
struct FakeQuery {
    script: Script,
    appended: RefCell<Vec<(Labels, f64)>>,
}

impl FakeQuery {
    fn new(script: impl Fn(&str, i64) -> Result<Vec<(Labels, f64)>, EvalError> + 'static) -> Self {
        FakeQuery { script: Box::new(script), appended: RefCell::new(Vec::new()) }
    }
}

impl QueryFn for FakeQuery {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, EvalError> {
        (self.script)(expr, t_ms)
    }
    fn append(&self, samples: &[(Labels, f64)], _t_ms: i64) {
        self.appended.borrow_mut().extend_from_slice(samples);
    }
}

/// A notifier that keeps what it is sent.
#[derive(Default)]
struct FakeNotifier(Mutex<Vec<Alert>>);

impl Notifier for FakeNotifier {
    fn send(&self, alerts: &[Alert]) {
        self.0.lock().unwrap().extend_from_slice(alerts);
    }
}

impl FakeNotifier {
    fn take(&self) -> Vec<Alert> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn alert_rule(name: &str, expr: &str, for_secs: u64) -> AlertRule {
    AlertRule {
        name: name.to_owned(),
        expr: expr.to_owned(),
        for_duration: Duration::from_secs(for_secs),
        keep_firing_for: Duration::ZERO,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
    }
}

fn group(rules: Vec<Rule>, notifier: Arc<dyn Notifier>) -> RuleGroup {
    let spec = GroupSpec {
        name: "g".to_owned(),
        file: "f.yml".to_owned(),
        interval: Some(Duration::from_secs(15)),
        query_offset: Duration::ZERO,
        limit: 0,
        rules,
    };
    RuleGroup::new(spec, Duration::from_secs(60), notifier)
}

fn element(pairs: &[(&str, &str)], value: f64) -> (Labels, f64) {
    (Labels::from_pairs(pairs.iter().copied()), value)
}

const S: i64 = 1000;

fn states(g: &RuleGroup) -> Vec<AlertState> {
    match &g.rules()[0] {
        GroupRule::Alert(r) => r.alerts().map(|a| a.state).collect(),
        GroupRule::Record(_) => vec![],
    }
}

/// Present from `from` to `until` (seconds, `until` excluded).
fn present(from: i64, until: i64) -> FakeQuery {
    FakeQuery::new(move |_, t| {
        Ok(if t >= from * S && t < until * S {
            vec![element(&[("__name__", "up"), ("job", "a")], 0.0)]
        } else {
            vec![]
        })
    })
}

#[test]
fn pending_then_firing_after_for() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut g = group(vec![Rule::Alert(alert_rule("Down", "up == 0", 60))], notifier.clone());
    let q = present(0, 1000);
    for t in [0, 15, 30, 45] {
        g.eval(&q, t * S);
        assert_eq!(states(&g), [AlertState::Pending], "t={t}");
    }
    assert!(notifier.take().is_empty(), "pending alerts are never sent");
    g.eval(&q, 60 * S);
    assert_eq!(states(&g), [AlertState::Firing]);
    let sent = notifier.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].labels, map(&[("alertname", "Down"), ("job", "a")]));
    assert_eq!(sent[0].fired_at_ms, Some(60 * S));
    assert_eq!(sent[0].active_at_ms, 0);
    assert_eq!(sent[0].ends_at_ms(), 60 * S + 4 * 60 * S);
}

#[test]
fn for_zero_fires_at_once() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut g = group(vec![Rule::Alert(alert_rule("Down", "up == 0", 0))], notifier.clone());
    g.eval(&present(0, 100), 0);
    assert_eq!(states(&g), [AlertState::Firing]);
    assert_eq!(notifier.take().len(), 1);
}

#[test]
fn a_pending_alert_that_disappears_is_dropped_silently() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut g = group(vec![Rule::Alert(alert_rule("Down", "up == 0", 60))], notifier.clone());
    let q = present(0, 30);
    for t in (0..=120).step_by(15) {
        g.eval(&q, t * S);
    }
    assert!(states(&g).is_empty());
    assert!(notifier.take().is_empty());
}

#[test]
fn a_firing_alert_that_disappears_is_resolved_and_resent_for_15_minutes() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut g = group(vec![Rule::Alert(alert_rule("Down", "up == 0", 0))], notifier.clone());
    let q = present(0, 30);
    g.eval(&q, 0);
    g.eval(&q, 15 * S);
    assert_eq!(notifier.take().len(), 1);
    g.eval(&q, 30 * S);
    assert_eq!(states(&g), [AlertState::Inactive]);
    let sent = notifier.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].resolved_at_ms, Some(30 * S));
    assert_eq!(sent[0].ends_at_ms(), 30 * S);
    assert_eq!(sent[0].starts_at_ms(), 0);
    // Re-sent every minute (strictly after the delay, as Prometheus does)
    // while kept, then dropped after 15 minutes.
    let mut resent = Vec::new();
    for t in (45..=30 + 15 * 60 + 15).step_by(15) {
        g.eval(&q, t * S);
        resent.extend(notifier.take().iter().map(|_| t));
    }
    // Every 75 s with a 15 s interval: the first evaluation after 60 s.
    assert_eq!(resent, (1..=12).map(|i| 30 + 75 * i).collect::<Vec<_>>());
    assert!(states(&g).is_empty(), "{:?}", states(&g));
}

#[test]
fn firing_alerts_are_resent_after_the_resend_delay() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut g = group(vec![Rule::Alert(alert_rule("Down", "up == 0", 0))], notifier.clone());
    let q = present(0, 10_000);
    let mut sent_at = Vec::new();
    for t in (0..=300).step_by(15) {
        g.eval(&q, t * S);
        sent_at.extend(notifier.take().iter().map(|_| t));
    }
    assert_eq!(sent_at, [0, 75, 150, 225, 300]);
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut rule = alert_rule("Down", "up == 0", 0);
    rule.keep_firing_for = Duration::from_secs(60);
    let mut g = group(vec![Rule::Alert(rule)], notifier.clone());
    let q = present(0, 30);
    let mut seen = Vec::new();
    for t in (0..=120).step_by(15) {
        g.eval(&q, t * S);
        seen.push((t, states(&g)[0]));
    }
    use AlertState::{Firing, Inactive};
    assert_eq!(
        seen,
        [
            (0, Firing),
            (15, Firing),
            (30, Firing),
            (45, Firing),
            (60, Firing),
            (75, Firing),
            (90, Inactive),
            (105, Inactive),
            (120, Inactive)
        ]
    );
    // Back within keep_firing_for: the alert never stopped.
    let mut g = group(
        vec![Rule::Alert(AlertRule { keep_firing_for: Duration::from_secs(60), ..alert_rule("Down", "up == 0", 0) })],
        notifier.clone(),
    );
    let q = FakeQuery::new(|_, t| {
        Ok(if (30 * S..60 * S).contains(&t) { vec![] } else { vec![element(&[("job", "a")], 0.0)] })
    });
    for t in (0..=120).step_by(15) {
        g.eval(&q, t * S);
        assert_eq!(states(&g), [Firing], "t={t}");
    }
}

#[test]
fn labels_and_annotations_are_templated_and_the_rule_wins() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut rule = alert_rule("Slow", "x > 0.5", 0);
    rule.labels =
        map(&[("job", "overridden"), ("instance", "{{ $labels.instance }}-x"), ("empty", "{{ $labels.none }}")]);
    rule.annotations = map(&[
        ("summary", "{{ $labels.job }} on {{ .Labels.instance }} is {{ $value }}"),
        ("name", "{{ $labels.__name__ }}"),
        ("pct", "{{ $value | humanizePercentage }}"),
    ]);
    let mut g = group(vec![Rule::Alert(rule)], notifier.clone());
    let q = FakeQuery::new(|_, _| Ok(vec![element(&[("__name__", "x"), ("job", "api"), ("instance", "h:1")], 0.75)]));
    g.eval(&q, 0);
    let sent = notifier.take();
    assert_eq!(sent[0].labels, map(&[("alertname", "Slow"), ("instance", "h:1-x"), ("job", "overridden")]));
    assert_eq!(sent[0].annotations, map(&[("name", "x"), ("pct", "75%"), ("summary", "api on h:1 is 0.75")]));
    // ALERTS and ALERTS_FOR_STATE are appended like Prometheus writes them.
    let appended = q.appended.borrow();
    assert!(
        appended
            .iter()
            .any(|(l, v)| l.get("__name__") == Some("ALERTS") && l.get("alertstate") == Some("firing") && *v == 1.0)
    );
    assert!(appended.iter().any(|(l, v)| l.get("__name__") == Some("ALERTS_FOR_STATE") && *v == 0.0));
}

#[test]
fn annotations_follow_the_latest_value() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut rule = alert_rule("A", "x", 0);
    rule.annotations = map(&[("v", "{{ $value }}")]);
    let mut g = group(vec![Rule::Alert(rule)], notifier.clone());
    g.eval(&FakeQuery::new(|_, _| Ok(vec![element(&[], 1.0)])), 0);
    g.eval(&FakeQuery::new(|_, _| Ok(vec![element(&[], 2.0)])), 15 * S);
    assert_eq!(g.alerts().next().unwrap().annotations["v"], "2");
}

#[test]
fn a_failing_rule_does_not_stop_the_others() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut dup = alert_rule("Dup", "dup", 0);
    dup.labels = map(&[("instance", "same")]);
    let rules = vec![
        Rule::Alert(alert_rule("Broken", "broken", 0)),
        Rule::Alert(dup),
        Rule::Alert(alert_rule("Fine", "fine", 0)),
    ];
    let mut g = group(rules, notifier.clone());
    let q = FakeQuery::new(|expr, _| match expr {
        "broken" => Err(EvalError::Execution("bad data".to_owned())),
        "dup" => Ok(vec![element(&[("instance", "a")], 1.0), element(&[("instance", "b")], 1.0)]),
        _ => Ok(vec![element(&[], 1.0)]),
    });
    let report = g.eval(&q, 0);
    assert_eq!(
        report.errors,
        [
            ("Broken".to_owned(), "bad data".to_owned()),
            ("Dup".to_owned(), "vector contains metrics with the same labelset after applying alert labels".to_owned())
        ]
    );
    assert_eq!(g.rules()[0].health(), &Health::Err("bad data".to_owned()));
    assert_eq!(g.rules()[2].health(), &Health::Ok);
    let sent = notifier.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].labels["alertname"], "Fine");
}

#[test]
fn the_limit_clears_the_alerts() {
    let notifier = Arc::new(FakeNotifier::default());
    let spec = GroupSpec {
        name: "g".to_owned(),
        file: String::new(),
        interval: None,
        query_offset: Duration::ZERO,
        limit: 1,
        rules: vec![Rule::Alert(alert_rule("A", "x", 0))],
    };
    let mut g = RuleGroup::new(spec, Duration::from_secs(15), notifier.clone());
    assert_eq!(g.interval(), Duration::from_secs(15));
    let q = FakeQuery::new(|_, _| Ok(vec![element(&[("i", "1")], 1.0), element(&[("i", "2")], 1.0)]));
    let report = g.eval(&q, 0);
    assert_eq!(report.errors[0].1, "exceeded limit of 1 with 2 alerts");
    assert_eq!(g.alerts().count(), 0);
}

#[test]
fn recording_rule_errors_read_like_prometheus() {
    let record = RecordRule { record: "r".to_owned(), expr: "x".to_owned(), labels: map(&[("i", "same")]) };
    let rule = RecordingRule { rule: record, health: Health::Unknown };
    let q = FakeQuery::new(|_, _| Ok(vec![element(&[("i", "1")], 1.0), element(&[("i", "2")], 1.0)]));
    let err = rule.eval(&q, 0, 0, 0).unwrap_err();
    assert_eq!(err, RuleEvalError::DuplicateRuleLabels);
    assert_eq!(err.to_string(), "vector contains metrics with the same labelset after applying rule labels");
    let record = RecordRule { record: "r".to_owned(), expr: "x".to_owned(), labels: BTreeMap::new() };
    let err = RecordingRule { rule: record, health: Health::Unknown }.eval(&q, 0, 0, 1).unwrap_err();
    assert_eq!(err.to_string(), "exceeded limit of 1 with 2 series");
    let broken = FakeQuery::new(|_, _| Err(EvalError::Parse("1:1: bad".to_owned())));
    let record = RecordRule { record: "r".to_owned(), expr: "x".to_owned(), labels: BTreeMap::new() };
    let err = RecordingRule { rule: record, health: Health::Unknown }.eval(&broken, 0, 0, 0).unwrap_err();
    assert_eq!(err.to_string(), "parse error: 1:1: bad");
}

#[test]
fn recording_rules_append_their_result() {
    let notifier = Arc::new(FakeNotifier::default());
    let rule = RecordRule {
        record: "job:up:sum".to_owned(),
        expr: "sum by (job) (up)".to_owned(),
        labels: map(&[("team", "ops")]),
    };
    let mut g = group(vec![Rule::Record(rule)], notifier);
    let q = FakeQuery::new(|_, _| Ok(vec![element(&[("job", "a")], 3.0)]));
    let report = g.eval(&q, 0);
    assert_eq!(report.recorded, 1);
    let appended = q.appended.borrow();
    assert_eq!(appended.len(), 1);
    assert!(appended[0].0.same_set(&Labels::from_pairs([("__name__", "job:up:sum"), ("job", "a"), ("team", "ops")])));
    assert_eq!(appended[0].1, 3.0);
}

#[test]
fn series_a_rule_stops_writing_get_a_staleness_marker() {
    let notifier = Arc::new(FakeNotifier::default());
    let record = RecordRule { record: "job:up".to_owned(), expr: "up".to_owned(), labels: BTreeMap::new() };
    let mut g = group(vec![Rule::Record(record), Rule::Alert(alert_rule("Down", "down", 60))], notifier);
    // job "b" and the alert are there at 0 only; the alert is pending then.
    let q = FakeQuery::new(|expr, t| {
        Ok(match (expr, t) {
            ("up", 0) => vec![element(&[("job", "a")], 1.0), element(&[("job", "b")], 1.0)],
            ("up", _) => vec![element(&[("job", "a")], 1.0)],
            (_, 0) => vec![element(&[("job", "c")], 1.0)],
            _ => vec![],
        })
    });
    g.eval(&q, 0);
    assert!(q.appended.borrow().iter().all(|(_, v)| !sonde_promql::store::is_stale(*v)));
    q.appended.borrow_mut().clear();
    g.eval(&q, 15_000);
    let appended = q.appended.borrow();
    let mut stale: Vec<String> = appended
        .iter()
        .filter(|(_, v)| sonde_promql::store::is_stale(*v))
        .map(|(l, _)| format!("{}{{{}}}", l.get("__name__").unwrap_or(""), l.get("job").unwrap_or("")))
        .collect();
    stale.sort();
    assert_eq!(stale, ["ALERTS_FOR_STATE{c}", "ALERTS{c}", "job:up{b}"]);
    assert!(appended.iter().any(|(l, v)| l.get("job") == Some("a") && *v == 1.0));
    drop(appended);
    // Nothing more to mark once they are gone.
    q.appended.borrow_mut().clear();
    g.eval(&q, 30_000);
    assert!(q.appended.borrow().iter().all(|(_, v)| !sonde_promql::store::is_stale(*v)));
}

#[test]
fn a_restart_halfway_through_for_fires_when_the_original_would_have() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join(crate::state::STATE_FILE);
    let rule = || vec![Rule::Alert(alert_rule("Mem", "mem > 0.8", 300))];
    let q = present(0, 10_000);

    // The original, never restarted.
    let original_notifier = Arc::new(FakeNotifier::default());
    let mut original = group(rule(), original_notifier.clone());
    let mut original_fired = None;
    for t in (0..=600).step_by(15) {
        original.eval(&q, t * S);
        if original_fired.is_none() && !original_notifier.take().is_empty() {
            original_fired = Some(t);
        }
    }
    assert_eq!(original_fired, Some(300));

    // Evaluated to halfway through `for`, saved, stopped.
    let mut before = group(rule(), Arc::new(FakeNotifier::default()));
    for t in (0..=150).step_by(15) {
        before.eval(&q, t * S);
    }
    SavedState::from_groups([&before], 150 * S).save(&path).unwrap();
    drop(before);

    // A new group loads the state and carries on.
    let notifier = Arc::new(FakeNotifier::default());
    let mut after = group(rule(), notifier.clone());
    let saved = SavedState::load(&path).unwrap().unwrap();
    assert_eq!(after.restore(&saved, 165 * S), 1);
    let mut fired = None;
    for t in (165..=600).step_by(15) {
        after.eval(&q, t * S);
        assert_eq!(states(&after), [if t < 300 { AlertState::Pending } else { AlertState::Firing }], "t={t}");
        if fired.is_none() && !notifier.take().is_empty() {
            fired = Some(t);
        }
    }
    assert_eq!(fired, original_fired);
    assert_eq!(after.alerts().next().unwrap().active_at_ms, 0);
}

#[test]
fn a_restored_firing_alert_is_resent_and_resolves_if_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.json");
    let mut before = group(vec![Rule::Alert(alert_rule("A", "x", 0))], Arc::new(FakeNotifier::default()));
    before.eval(&present(0, 100), 0);
    SavedState::from_groups([&before], 0).save(&path).unwrap();

    let notifier = Arc::new(FakeNotifier::default());
    let mut after = group(vec![Rule::Alert(alert_rule("A", "x", 0))], notifier.clone());
    after.restore(&SavedState::load(&path).unwrap().unwrap(), 30 * S);
    after.eval(&present(0, 0), 30 * S);
    let sent = notifier.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].resolved_at_ms, Some(30 * S));
    assert_eq!(sent[0].fired_at_ms, Some(0));
}

#[test]
fn old_or_missing_state_is_not_restored() {
    let dir = tempfile::tempdir().unwrap();
    assert!(SavedState::load(&dir.path().join("none.json")).unwrap().is_none());
    let mut before = group(vec![Rule::Alert(alert_rule("A", "x", 60))], Arc::new(FakeNotifier::default()));
    before.eval(&present(0, 100), 0);
    let saved = SavedState::from_groups([&before], 0);
    let mut after = group(vec![Rule::Alert(alert_rule("A", "x", 60))], Arc::new(FakeNotifier::default()));
    assert_eq!(after.restore(&saved, 2 * 3600 * S), 0);
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "{").unwrap();
    assert!(SavedState::load(&path).unwrap_err().to_string().contains("bad.json"));
}

#[test]
fn the_log_notifier_counts_firing_alerts() {
    let notifier = Arc::new(LogNotifier::new());
    let mut g = group(vec![Rule::Alert(alert_rule("Down", "up == 0", 0))], notifier.clone());
    let q = FakeQuery::new(|_, t| {
        Ok(match t / S {
            0..30 => vec![element(&[("job", "a")], 0.0), element(&[("job", "b")], 0.0)],
            30..60 => vec![element(&[("job", "a")], 0.0)],
            _ => vec![],
        })
    });
    let firing = |n: &LogNotifier| {
        let mut out = Vec::new();
        n.collect(&mut out);
        assert_eq!(out[0].name, "sonde_alerts_firing");
        out[0].samples[0].value
    };
    g.eval(&q, 0);
    assert_eq!(firing(&notifier), 2.0);
    g.eval(&q, 30 * S);
    assert_eq!(firing(&notifier), 1.0);
    g.eval(&q, 60 * S);
    assert_eq!(firing(&notifier), 0.0);
}

#[test]
fn the_fingerprint_follows_states_not_values() {
    let q = FakeQuery::new(|_, _| Ok(vec![element(&[("__name__", "up"), ("job", "a")], 0.0)]));
    let changing = |v: f64| FakeQuery::new(move |_, _| Ok(vec![element(&[("__name__", "up"), ("job", "a")], v)]));
    let mut g = group(vec![Rule::Alert(alert_rule("A", "x", 30))], Arc::new(FakeNotifier::default()));
    let empty = SavedState::fingerprint([&g]);
    assert_eq!(empty.1, 0);
    g.eval(&q, 0);
    let pending = SavedState::fingerprint([&g]);
    assert_eq!(pending.1, 1);
    assert_ne!(pending, empty);
    // Another value, same state: nothing worth saving.
    g.eval(&changing(2.0), 15 * S);
    assert_eq!(SavedState::fingerprint([&g]), pending);
    // Firing: saved again.
    g.eval(&q, 30 * S);
    assert_eq!(states(&g), [AlertState::Firing]);
    assert_ne!(SavedState::fingerprint([&g]), pending);
}

#[test]
fn a_panicking_rule_fails_alone_and_the_group_runs_on() {
    let notifier = Arc::new(FakeNotifier::default());
    let rules = vec![Rule::Alert(alert_rule("Boom", "boom", 0)), Rule::Alert(alert_rule("Fine", "fine", 0))];
    let mut g = group(rules, notifier.clone());
    let q = FakeQuery::new(|expr, _| {
        if expr == "boom" {
            panic!("a bug reached through {expr}");
        }
        Ok(vec![element(&[("job", "a")], 1.0)])
    });
    for cycle in 0..2 {
        let report = g.eval(&q, cycle * 15 * S);
        assert_eq!(report.errors.len(), 1, "counted every time");
        assert_eq!(report.errors[0].0, "Boom");
        assert!(
            report.errors[0].1.contains("the evaluation panicked: a bug reached through boom"),
            "{:?}",
            report.errors
        );
    }
    let fine = notifier.take();
    assert!(fine.iter().all(|a| a.labels["alertname"] == "Fine") && !fine.is_empty(), "{fine:?}");
    assert!(matches!(g.rules()[0].health(), Health::Err(e) if e.contains("panicked")));
    assert!(matches!(g.rules()[1].health(), Health::Ok));
}

#[test]
fn a_template_asking_for_a_gigabyte_gets_an_error_text() {
    let notifier = Arc::new(FakeNotifier::default());
    let mut rule = alert_rule("Big", "big", 0);
    for (i, format) in
        ["%1000000000000000000d", "%1000000000d", "%.1000000000f", "%.1000000f", "%1000000d"].iter().enumerate()
    {
        rule.annotations.insert(format!("a{i}"), format!("{{{{ printf \"{format}\" 1 }}}}"));
    }
    rule.labels.insert("nested".to_owned(), format!("{{{{ {}1{} }}}}", "(".repeat(50_000), ")".repeat(50_000)));
    let mut g = group(vec![Rule::Alert(rule)], notifier.clone());
    let q = FakeQuery::new(|_, _| Ok(vec![element(&[("job", "a")], 1.0)]));
    let report = g.eval(&q, 0);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let sent = notifier.take();
    let alert = &sent[0];
    for (name, text) in alert.annotations.iter().chain(&alert.labels) {
        assert!(text.len() < 1000, "{name} is {} bytes", text.len());
    }
    assert!(alert.annotations["a0"].starts_with("%!(NOVERB)"), "{:?}", alert.annotations);
    assert!(alert.annotations["a3"].contains("longer than"), "{:?}", alert.annotations);
    assert!(alert.labels["nested"].contains("nested more than"), "{:?}", alert.labels);
}
