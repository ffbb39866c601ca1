//! The OpenMetrics conformance corpus (`tests/openmetrics/parsers`):
//! every good case parses, every bad case is rejected, and every good case
//! survives parse → encode → parse unchanged.
// Helpers of a test harness fail by panicking, like the tests they serve.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use sonde_instrument::model::{Exemplar, Labels, MetricFamily, Sample};
use sonde_instrument::parse::{parse_bytes, parse_openmetrics};
use sonde_instrument::{Format, encode};

/// The OpenMetrics parser cases (`tests/openmetrics/`, Apache-2.0; its
/// README says where they come from).
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openmetrics/parsers");

struct Case {
    name: String,
    should_parse: bool,
    metrics: Vec<u8>,
}

/// Every case of the corpus, sorted by name. Panics when the corpus is
/// missing or empty: a test that finds nothing to check must not pass.
fn corpus() -> Vec<Case> {
    let dir = Path::new(CORPUS);
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("OpenMetrics corpus not found at {}: {e}", dir.display()));
    let mut dirs: Vec<PathBuf> = entries.map(|e| e.expect("corpus entry").path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let cases: Vec<Case> = dirs
        .iter()
        .map(|path| {
            let name = path.file_name().expect("case name").to_string_lossy().into_owned();
            let json = fs::read_to_string(path.join("test.json")).unwrap_or_else(|e| panic!("{name}/test.json: {e}"));
            let json: serde_json::Value =
                serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}/test.json: {e}"));
            assert_eq!(json["type"], "text", "{name}: only text cases are expected");
            let file = json["file"].as_str().unwrap_or("metrics");
            let should_parse = json["shouldParse"].as_bool().unwrap_or_else(|| panic!("{name}: no shouldParse"));
            let metrics = fs::read(path.join(file)).unwrap_or_else(|e| panic!("{name}/{file}: {e}"));
            Case { name, should_parse, metrics }
        })
        .collect();
    assert!(!cases.is_empty(), "OpenMetrics corpus at {} has no cases", dir.display());
    cases
}

#[test]
fn openmetrics_corpus() {
    let cases = corpus();
    let (mut good, mut bad) = (0, 0);
    let mut failed = Vec::new();
    // `SHOW_REJECTIONS=1` prints why each bad case was rejected.
    let show = std::env::var_os("SHOW_REJECTIONS").is_some();
    for case in &cases {
        match (case.should_parse, parse_bytes(&case.metrics, Format::OpenMetrics)) {
            (true, Ok(_)) => good += 1,
            (false, Err(e)) => {
                if show {
                    println!("  {}: {e}", case.name);
                }
                bad += 1;
            }
            (true, Err(e)) => failed.push(format!("{} (should parse): {e}", case.name)),
            (false, Ok(_)) => failed.push(format!("{} (should be rejected): parsed", case.name)),
        }
    }
    println!("openmetrics corpus: {good} good parsed, {bad} bad rejected, {} failed", failed.len());
    for failure in &failed {
        println!("  FAILED {failure}");
    }
    assert!(good > 0 && bad > 0, "the corpus must hold good and bad cases");
    assert!(failed.is_empty(), "{} corpus case(s) failed:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn openmetrics_corpus_round_trip() {
    let mut checked = 0;
    let mut failed = Vec::new();
    for case in corpus().iter().filter(|c| c.should_parse) {
        let text = String::from_utf8(case.metrics.clone()).expect("good cases are UTF-8");
        let Ok(first) = parse_openmetrics(&text) else { continue };
        let mut out = Vec::new();
        encode(&first, Format::OpenMetrics, &mut out);
        let encoded = String::from_utf8_lossy(&out);
        match parse_openmetrics(&encoded) {
            Ok(second) => match same_families(&first, &second) {
                Ok(()) => checked += 1,
                Err(diff) => failed.push(format!("{}: {diff}\n--- encoded:\n{encoded}", case.name)),
            },
            Err(e) => failed.push(format!("{}: re-parse failed: {e}\n--- encoded:\n{encoded}", case.name)),
        }
    }
    println!("openmetrics round trip: {checked} good cases unchanged, {} failed", failed.len());
    assert!(checked > 0 || !failed.is_empty(), "no good case to round-trip");
    assert!(failed.is_empty(), "{} round trip(s) failed:\n{}", failed.len(), failed.join("\n"));
}

/// Float equality where NaN equals NaN (derived `PartialEq` says it does not).
fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn same_ts(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_f64(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_exemplar(a: &Option<Exemplar>, b: &Option<Exemplar>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.labels == b.labels && same_f64(a.value, b.value) && same_ts(a.timestamp, b.timestamp),
        (None, None) => true,
        _ => false,
    }
}

fn same_sample(a: &Sample, b: &Sample) -> bool {
    a.suffix == b.suffix
        && a.labels == b.labels
        && same_f64(a.value, b.value)
        && same_ts(a.timestamp, b.timestamp)
        && same_exemplar(&a.exemplar, &b.exemplar)
}

fn show(labels: &Labels) -> String {
    labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect::<Vec<_>>().join(",")
}

/// Compares two parses, NaN-aware; the error names the first difference.
fn same_families(a: &[MetricFamily], b: &[MetricFamily]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} families became {}", a.len(), b.len()));
    }
    for (fa, fb) in a.iter().zip(b) {
        if (&fa.name, &fa.help, &fa.unit, fa.metric_type) != (&fb.name, &fb.help, &fb.unit, fb.metric_type) {
            return Err(format!(
                "family {:?} {:?} {:?} {} became {:?} {:?} {:?} {}",
                fa.name, fa.help, fa.unit, fa.metric_type, fb.name, fb.help, fb.unit, fb.metric_type
            ));
        }
        if fa.samples.len() != fb.samples.len() {
            return Err(format!("family {}: {} samples became {}", fa.name, fa.samples.len(), fb.samples.len()));
        }
        for (sa, sb) in fa.samples.iter().zip(&fb.samples) {
            if !same_sample(sa, sb) {
                return Err(format!(
                    "family {}: sample {:?}{{{}}} {} {:?} became {:?}{{{}}} {} {:?}",
                    fa.name,
                    sa.suffix,
                    show(&sa.labels),
                    sa.value,
                    sa.timestamp,
                    sb.suffix,
                    show(&sb.labels),
                    sb.value,
                    sb.timestamp
                ));
            }
        }
    }
    Ok(())
}
