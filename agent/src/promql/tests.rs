//! Unit tests of the evaluator over a small store.

use std::time::Duration;

use sonde_instrument::Labels;

use super::*;
use crate::store::{StoreConfig, WindowStore};

fn store() -> WindowStore {
    let mut s = WindowStore::new(StoreConfig {
        retention: Duration::from_secs(3600),
        max_series: 1000,
    });
    for (job, code, per_s) in [("a", "200", 1.0), ("a", "500", 0.1), ("b", "200", 2.0)] {
        let l = Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", job),
            ("code", code),
        ]);
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
    let r = q(
        &s,
        r#"sum(rate(http_requests_total{code=~"^5..$$"}[5m])) / sum(rate(http_requests_total[5m]))"#,
        t,
    );
    // `$$` is two end anchors (as in Go's RE2): the shortcut's `^5..$$` matches 500.
    assert_eq!(r.len(), 1, "{r:?}");
    assert!((r[0].1 - 0.1 / 3.1).abs() < 1e-9);
    let r = q(
        &s,
        r#"sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.02"#,
        t,
    );
    assert_eq!(r.len(), 1);
    assert!((r[0].1 - 0.1 / 3.1).abs() < 1e-9);
}

#[test]
fn nan_compares_false() {
    let s = store();
    let r = q(
        &s,
        "sum(rate(nothing_total[5m])) / sum(rate(nothing_total[5m]))",
        900_000,
    );
    assert!(r.is_empty());
    let r = q(
        &s,
        "(0 * sum(http_requests_total)) / (0 * sum(http_requests_total)) > 0",
        900_000,
    );
    assert!(r.is_empty());
    let r = q(
        &s,
        "(0 * sum(http_requests_total)) / (0 * sum(http_requests_total)) < 1",
        900_000,
    );
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
    for text in [
        "x offset 5m",
        "x @ 100",
        "rate(x[5m:1m])",
        "histogram_count(x)",
        "sort_by_label(x, \"a\")",
    ] {
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
    let mut s = WindowStore::new(StoreConfig {
        retention: Duration::from_secs(600),
        max_series: 20_000,
    });
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
    assert!(
        engine
            .range(&expr, &s, 0, i64::MAX, Duration::from_millis(1))
            .is_err()
    );
    assert!(
        engine
            .range(&expr, &s, 10, 0, Duration::from_secs(1))
            .is_err()
    );
    assert!(engine.range(&expr, &s, 0, 10, Duration::ZERO).is_err());
}
