//! Unit tests of the evaluator over a small store.

use std::time::Duration;

use sonde_instrument::Labels;

use super::*;
use crate::store::{StoreConfig, WindowStore};

fn store() -> WindowStore {
    let mut s = WindowStore::new(StoreConfig { retention: Duration::from_secs(3600), max_series: 1000 });
    for (job, code, per_s) in [("a", "200", 1.0), ("a", "500", 0.1), ("b", "200", 2.0)] {
        let l = Labels::from_pairs([("__name__", "http_requests_total"), ("job", job), ("code", code)]);
        for i in 0..=60 {
            s.append(&l, i * 15_000, per_s * 15.0 * i as f64);
        }
    }
    s
}

fn q(s: &WindowStore, text: &str, t: i64) -> Vec<(Labels, f64)> {
    let mut v = query(s, text, t).unwrap();
    v.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
    v
}

#[test]
fn rate_sum_by_and_ratio() {
    let s = store();
    let t = 900_000;
    let r = q(&s, "sum by (job) (rate(http_requests_total[5m]))", t);
    assert_eq!(r.len(), 2);
    assert!((r[0].1 - 1.1).abs() < 1e-9, "{r:?}");
    let r = q(&s, r#"sum(rate(http_requests_total{code=~"^5..$$"}[5m])) / sum(rate(http_requests_total[5m]))"#, t);
    // `$$` is two end anchors (as in Go's RE2): the shortcut's `^5..$$` matches 500.
    assert_eq!(r.len(), 1, "{r:?}");
    assert!((r[0].1 - 0.1 / 3.1).abs() < 1e-9);
    let r = q(&s, r#"sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.02"#, t);
    assert_eq!(r.len(), 1);
    assert!((r[0].1 - 0.1 / 3.1).abs() < 1e-9);
}

#[test]
fn nan_compares_false() {
    let s = store();
    let r = q(&s, "sum(rate(nothing_total[5m])) / sum(rate(nothing_total[5m]))", 900_000);
    assert!(r.is_empty());
    let r = q(&s, "(0 * sum(http_requests_total)) / (0 * sum(http_requests_total)) > 0", 900_000);
    assert!(r.is_empty());
    let r = q(&s, "(0 * sum(http_requests_total)) / (0 * sum(http_requests_total)) < 1", 900_000);
    assert!(r.is_empty());
}

#[test]
fn scalar_result_is_one_sample() {
    let s = store();
    let r = q(&s, "1 + 2", 0);
    assert_eq!(r, vec![(Labels::new(), 3.0)]);
}

#[test]
fn unsupported_is_an_error_not_a_panic() {
    let s = store();
    for text in ["x offset 5m", "x @ 100", "rate(x[5m:1m])", "histogram_count(x)", "sort_by_label(x, \"a\")"] {
        match query(&s, text, 0) {
            Err(EvalError::Unsupported(_)) => {}
            other => panic!("{text}: {other:?}"),
        }
    }
    assert!(matches!(query(&s, "sum(", 0), Err(EvalError::Parse(_))));
}

/// A rough evaluation benchmark: 100 rules over 10,000 series of 30 points.
/// `cargo test --release -p sonde-agent --lib bench_100_rules -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_100_rules() {
    let mut s = WindowStore::new(StoreConfig { retention: Duration::from_secs(600), max_series: 20_000 });
    for m in 0..100 {
        for job in 0..10 {
            for inst in 0..10 {
                let l = Labels::from_pairs([
                    ("__name__", format!("metric_{m}_total")),
                    ("job", format!("job{job}")),
                    ("instance", format!("10.0.0.{inst}:8080")),
                ]);
                for p in 0..30 {
                    s.append(&l, p * 15_000, (p * (inst + 1)) as f64);
                }
            }
        }
    }
    assert_eq!(s.series_count(), 10_000);
    let engine = Engine::default();
    let plans: Vec<Plan> = (0..100)
        .map(|k| {
            let text = format!(
                "sum by (job) (rate(metric_{k}_total{{job=~\"job[0-4]\"}}[5m])) / sum by (job) (rate(metric_{}_total[5m])) > 0.5",
                (k + 1) % 100
            );
            engine.prepare(&parse(&text).unwrap()).unwrap()
        })
        .collect();
    let t = 29 * 15_000;
    let start = std::time::Instant::now();
    let rounds = 20;
    let mut n = 0;
    for _ in 0..rounds {
        for p in &plans {
            let (v, _) = engine.instant_plan(p, &s, t).unwrap();
            if let Value::Vector(v) = v {
                n += v.len();
            }
        }
    }
    let per_cycle = start.elapsed() / rounds;
    eprintln!("100 rules over 10,000 series x 30 points: {per_cycle:?} per cycle ({n} results)");
}

#[test]
fn extreme_inputs_do_not_panic() {
    let s = store();
    let exprs = [
        "rate(http_requests_total[5m])",
        "http_requests_total",
        "predict_linear(http_requests_total[1h], 3600)",
        "topk(1e300, http_requests_total)",
        "quantile(NaN, http_requests_total)",
        "histogram_quantile(0.9, http_requests_total)",
        "count_values(\"v\", http_requests_total)",
        "label_replace(http_requests_total, \"x\", \"$1$2${9}\", \"job\", \"(.*)\")",
        "day_of_week(vector(1e300))",
        "1 / 0 > bool Inf",
    ];
    for t in [i64::MIN, -1, 0, i64::MAX] {
        for e in exprs {
            let _ = query(&s, e, t);
        }
    }
    let engine = Engine::default();
    let expr = parse("http_requests_total").unwrap();
    assert!(engine.range(&expr, &s, 0, i64::MAX, Duration::from_millis(1)).is_err());
    assert!(engine.range(&expr, &s, 10, 0, Duration::from_secs(1)).is_err());
    assert!(engine.range(&expr, &s, 0, 10, Duration::ZERO).is_err());
}

/// `a{job="x"}` and `b{job="x"}`: one label set once the name is gone;
/// `c{job="y"}`; and `http_requests_total` from [`store`].
fn collision_store() -> WindowStore {
    let mut s = store();
    for (name, job, per_min) in [("a", "x", 1.0), ("b", "x", 2.0), ("c", "y", 0.0)] {
        let l = Labels::from_pairs([("__name__", name), ("job", job)]);
        for i in 0..=10 {
            s.append(&l, i * 60_000, per_min * i as f64 + 1.0);
        }
    }
    s
}

const SAME_LABELSET: &str = "vector cannot contain metrics with the same labelset";

fn execution_error(engine: Engine, s: &WindowStore, text: &str) -> Option<String> {
    let expr = parse(text).unwrap();
    match engine.instant(&expr, s, 630_000) {
        Ok(_) => None,
        Err(EvalError::Execution(m)) => Some(m),
        Err(other) => panic!("{text}: {other:?}"),
    }
}

/// Prometheus (2.x, and 3.0 by default) drops the name where the function or
/// operator is, and refuses the collision there, before an aggregation above
/// could hide it.
#[test]
fn collision_inside_the_expression_is_an_error() {
    let s = collision_store();
    for text in [
        r#"min(count_over_time({__name__=~"a|b"}[5m]))"#,
        r#"count_over_time({__name__=~"a|b"}[5m])"#,
        r#"sum(rate({__name__=~"a|b"}[5m]))"#,
        r#"sum(-{__name__=~"a|b"})"#,
        r#"max({__name__=~"a|b"} * 2)"#,
        r#"sum({__name__=~"a|b"} > bool 0)"#,
        r#"count(abs({__name__=~"a|b"}))"#,
        r#"count(timestamp({__name__=~"a|b"}))"#,
        r#"sum(label_replace({__name__=~"a|b"}, "__name__", "same", "", ""))"#,
        r#"sum(label_join({__name__=~"a|b"}, "__name__", "", "job"))"#,
    ] {
        assert_eq!(execution_error(Engine::default(), &s, text).as_deref(), Some(SAME_LABELSET), "{text}");
    }
    // Range queries fail the same way at the step that collides.
    let expr = parse(r#"min(count_over_time({__name__=~"a|b"}[5m]))"#).unwrap();
    let r = Engine::default().range(&expr, &s, 300_000, 600_000, Duration::from_secs(60));
    assert_eq!(r, Err(EvalError::Execution(SAME_LABELSET.into())));
}

#[test]
fn duplicate_match_group_is_an_error() {
    let s = collision_store();
    let m = execution_error(Engine::default(), &s, r#"c / on() {__name__=~"a|b"}"#);
    assert!(
        m.as_deref()
            .is_some_and(|m| m.starts_with("found duplicate series for the match group {} on the right hand-side")),
        "{m:?}"
    );
}

#[test]
fn distinct_label_sets_are_not_an_error() {
    let s = collision_store();
    let t = 630_000;
    let r = q(&s, "sum(rate(http_requests_total[5m]))", t);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(q(&s, "count_over_time(a[5m])", t), vec![(Labels::from_pairs([("job", "x")]), 5.0)]);
    // The collision only appears once the aggregation removes the name.
    assert_eq!(q(&s, r#"sum by (job) ({__name__=~"a|b"})"#, 600_000), vec![(Labels::from_pairs([("job", "x")]), 32.0)]);
    assert_eq!(q(&s, r#"sum({__name__=~"a|b"})"#, 600_000).len(), 1);
    // The name stays: comparisons without `bool`, last_over_time.
    assert_eq!(q(&s, r#"count({__name__=~"a|b"} > 0)"#, t).len(), 1);
    assert_eq!(q(&s, r#"last_over_time({__name__=~"a|b"}[5m])"#, t).len(), 2);
    // One name per label set after rate: no collision.
    assert_eq!(q(&s, r#"rate({__name__=~"a|c"}[5m])"#, t).len(), 2);
}

/// Prometheus' experimental delayed name removal (its test suite's
/// setting) keeps the name to the end: only the result is checked.
#[test]
fn delayed_name_removal_checks_the_result_only() {
    let s = collision_store();
    let delayed = Engine { delayed_name_removal: true, ..Engine::default() };
    assert_eq!(execution_error(delayed, &s, r#"min(count_over_time({__name__=~"a|b"}[5m]))"#), None);
    assert_eq!(
        execution_error(delayed, &s, r#"count_over_time({__name__=~"a|b"}[5m])"#).as_deref(),
        Some(SAME_LABELSET)
    );
    // label_replace checks in either mode.
    assert_eq!(
        execution_error(delayed, &s, r#"sum(label_replace({__name__=~"a|b"}, "__name__", "same", "", ""))"#).as_deref(),
        Some(SAME_LABELSET)
    );
}
