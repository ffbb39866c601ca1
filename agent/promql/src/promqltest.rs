//! Prometheus' `promqltest` format: a parser for the DSL and a runner that
//! holds Sonde's evaluator to Prometheus' own test files.
//!
//! The format (`promql/promqltest/README.md` in Prometheus):
//!
//! * `load <step>` followed by indented `<series> <values>` lines: points
//!   at 0, step, 2·step, … in the expanding notation of promtool
//!   ([`parse_series_values`]: `1 2 _ stale 3`, `a+bxn`, `a-bxn`, `axn`,
//!   `_xn`, `Inf`, `NaN`); loads add up; `load_with_nhcb` also builds native
//!   histograms (not in Sonde's subset);
//! * `clear` drops all data;
//! * `eval instant at <t> <expr>` and `eval range from <a> to <b> step <s> <expr>`
//!   (`eval_fail`, `eval_warn`, `eval_info`, `eval_ordered` variants), followed
//!   by expected lines: a bare number (scalar) or `<series> <value(s)>`;
//!   no lines means an empty result;
//! * lines are trimmed and `#` lines count as blank; a blank line ends a block;
//! * values compare with a relative epsilon of 1e-6, NaN equals NaN.
//!
//!
//! The runner is test support (feature `promqltest`): the conformance test
//! holds Sonde to Prometheus' files with it; the agent does not link it.

use std::time::Duration;

use crate::plan::{Node, Plan};
use crate::series::{
    SeqValue, SeriesError, is_native_histogram_token, parse_metric, parse_number, parse_series_values,
    parse_test_duration, split_metric, tokenize_values,
};
use crate::store::{LabelMatcher, LabelSet, StoreConfig, WindowStore};
use crate::{Engine, EvalError, Value};
/// A series to load.
#[derive(Debug, Clone)]
pub struct LoadSeries {
    /// Its labels.
    pub labels: LabelSet,
    /// Its values, one per step (empty for a native histogram series).
    pub values: Vec<SeqValue>,
    /// True when written with native histogram values (not loaded).
    pub native: bool,
}

/// What an eval expects.
#[derive(Debug, Clone)]
pub enum Expected {
    /// A bare number: a scalar result.
    Scalar(f64),
    /// Series lines (none: an empty result).
    Series(Vec<(LabelSet, Vec<SeqValue>)>),
}

/// The kind of evaluation.
#[derive(Debug, Clone, Copy)]
pub enum EvalKind {
    /// `eval instant at <t>`.
    Instant {
        /// Evaluation time, ms.
        at_ms: i64,
    },
    /// `eval range from <a> to <b> step <s>`.
    Range {
        /// First step, ms.
        start_ms: i64,
        /// Last step, ms.
        end_ms: i64,
        /// Step, ms.
        step_ms: i64,
    },
}

/// One `eval` command.
#[derive(Debug, Clone)]
pub struct EvalCmd {
    /// Line number (1-based).
    pub line: usize,
    /// The PromQL text.
    pub expr: String,
    /// Instant or range.
    pub kind: EvalKind,
    /// `eval_fail`: the query must fail.
    pub fail: bool,
    /// `eval_warn`: the query must warn.
    pub warn: bool,
    /// `eval_info`: the query must produce an info annotation.
    pub info: bool,
    /// `eval_ordered`: the result order matters.
    pub ordered: bool,
    /// The expected result.
    pub expected: Expected,
    /// Why the expectation could not be read in Sonde's model (native histograms).
    pub unreadable: Option<String>,
}

/// One command of a test file.
#[derive(Debug, Clone)]
pub enum Command {
    /// `load` / `load_with_nhcb`.
    Load {
        /// Line number.
        line: usize,
        /// Spacing of the points, ms.
        step_ms: i64,
        /// The series.
        series: Vec<LoadSeries>,
        /// `load_with_nhcb`: classic histograms are also loaded as native ones.
        with_nhcb: bool,
    },
    /// `clear`.
    Clear,
    /// An `eval`.
    Eval(EvalCmd),
}

/// Parses a whole test file.
pub fn parse_file(text: &str) -> Result<Vec<Command>, SeriesError> {
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') { String::new() } else { l.to_string() }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines.get(i).map(String::as_str).unwrap_or("");
        let lineno = i + 1;
        i += 1;
        if line.is_empty() {
            continue;
        }
        let err = |m: String| SeriesError(format!("line {lineno}: {m}"));
        let mut words = line.split_whitespace();
        let head = words.next().unwrap_or("");
        // The block of a load or eval: the following non-blank lines.
        let mut block: Vec<&str> = Vec::new();
        if head != "clear" {
            while let Some(l) = lines.get(i).filter(|l| !l.is_empty()) {
                block.push(l);
                i += 1;
            }
        }
        match head {
            "clear" => cmds.push(Command::Clear),
            "load" | "load_with_nhcb" => {
                let step = words.next().ok_or_else(|| err("load without a step".into()))?;
                let step_ms = parse_test_duration(step).map_err(|e| err(e.0))?;
                let mut series = Vec::new();
                for l in &block {
                    let (metric, rest) = split_metric(l).map_err(|e| err(e.0))?;
                    let labels = parse_metric(metric).map_err(|e| err(e.0))?;
                    if tokenize_values(rest).iter().any(|t| is_native_histogram_token(t)) {
                        series.push(LoadSeries { labels, values: Vec::new(), native: true });
                    } else {
                        let values = parse_series_values(rest).map_err(|e| err(e.0))?;
                        series.push(LoadSeries { labels, values, native: false });
                    }
                }
                cmds.push(Command::Load { line: lineno, step_ms, series, with_nhcb: head == "load_with_nhcb" });
            }
            h if h.starts_with("eval") => {
                cmds.push(Command::Eval(parse_eval(lineno, line, &block).map_err(|e| err(e.0))?));
            }
            other => return Err(err(format!("unknown command {other:?}"))),
        }
    }
    Ok(cmds)
}

fn parse_eval(lineno: usize, line: &str, block: &[&str]) -> Result<EvalCmd, SeriesError> {
    let bad = |message: &str| SeriesError(message.to_owned());
    let (head, rest) = line.split_once(char::is_whitespace).ok_or_else(|| bad("eval without arguments"))?;
    let mut cmd = EvalCmd {
        line: lineno,
        expr: String::new(),
        kind: EvalKind::Instant { at_ms: 0 },
        fail: head == "eval_fail",
        warn: head == "eval_warn",
        info: head == "eval_info",
        ordered: head == "eval_ordered",
        expected: Expected::Series(Vec::new()),
        unreadable: None,
    };
    if !matches!(head, "eval" | "eval_fail" | "eval_warn" | "eval_info" | "eval_ordered") {
        return Err(SeriesError(format!("unknown command {head:?}")));
    }
    let rest = rest.trim();
    if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim_start();
        let r = r.strip_prefix("at").ok_or_else(|| bad("expected `at`"))?.trim_start();
        let (at, expr) = r.split_once(char::is_whitespace).ok_or_else(|| bad("missing expression"))?;
        cmd.kind = EvalKind::Instant { at_ms: parse_test_duration(at)? };
        cmd.expr = expr.trim().to_string();
    } else if let Some(r) = rest.strip_prefix("range") {
        let r = r.trim_start().strip_prefix("from").ok_or_else(|| bad("expected `from`"))?.trim_start();
        let (from, r) = r.split_once(" to ").ok_or_else(|| bad("expected `to`"))?;
        let (to, r) = r.trim().split_once(" step ").ok_or_else(|| bad("expected `step`"))?;
        let (step, expr) = r.trim().split_once(char::is_whitespace).ok_or_else(|| bad("missing expression"))?;
        cmd.kind = EvalKind::Range {
            start_ms: parse_test_duration(from)?,
            end_ms: parse_test_duration(to)?,
            step_ms: parse_test_duration(step)?,
        };
        cmd.expr = expr.trim().to_string();
    } else {
        return Err(SeriesError(format!("bad eval line {line:?}")));
    }
    let mut series = Vec::new();
    for l in block {
        if let Some(e) = l.strip_prefix("expect ") {
            let e = e.trim();
            match e.split_whitespace().next() {
                Some("fail") => cmd.fail = true,
                Some("warn") => cmd.warn = true,
                Some("info") => cmd.info = true,
                Some("ordered") => cmd.ordered = true,
                _ => cmd.unreadable = Some(format!("expect line {e:?}")),
            }
            continue;
        }
        if l.starts_with("expected_fail_message") || l.starts_with("expected_fail_regexp") {
            continue;
        }
        if let Some(v) = parse_number(l).filter(|_| !l.contains(char::is_whitespace)) {
            cmd.expected = Expected::Scalar(v);
            continue;
        }
        let (metric, rest) = split_metric(l)?;
        let labels = parse_metric(metric)?;
        if tokenize_values(rest).iter().any(|t| is_native_histogram_token(t)) {
            cmd.unreadable = Some("native histograms in the expected result".into());
            continue;
        }
        let values = parse_series_values(rest)?;
        series.push((labels, values));
    }
    if !series.is_empty() {
        cmd.expected = Expected::Series(series);
    }
    Ok(cmd)
}

/// The outcome of one eval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// As expected.
    Passed,
    /// Not as expected, with what differed.
    Failed(String),
    /// Outside Sonde's subset, with the feature.
    Skipped(String),
}

/// Results of one file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// Evals that passed.
    pub passed: usize,
    /// `(line, expression, what differed)`.
    pub failed: Vec<(usize, String, String)>,
    /// `(line, expression, reason)`.
    pub skipped: Vec<(usize, String, String)>,
}

fn new_store() -> WindowStore {
    WindowStore::new(StoreConfig { retention: Duration::from_secs(1_000 * 24 * 3600), max_series: usize::MAX })
}

/// Runs every command of a test file.
pub fn run_file(text: &str) -> Result<FileReport, SeriesError> {
    let cmds = parse_file(text)?;
    let mut report = FileReport::default();
    let mut store = new_store();
    let mut native: Vec<LabelSet> = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                store = new_store();
                native.clear();
            }
            Command::Load { step_ms, series, with_nhcb, .. } => {
                for s in series {
                    if s.native {
                        native.push(s.labels);
                        continue;
                    }
                    if with_nhcb && let Some(base) = s.labels.metric_name().and_then(|n| n.strip_suffix("_bucket")) {
                        native.push(s.labels.filter(|n| n != "le").with("__name__", base));
                    }
                    for (i, v) in s.values.iter().enumerate() {
                        if let SeqValue::Value(v) = v {
                            store.append_set(&s.labels, i as i64 * step_ms, *v);
                        }
                    }
                }
            }
            Command::Eval(e) => {
                let outcome = run_eval(&e, &store, &native);
                match outcome {
                    Outcome::Passed => report.passed += 1,
                    Outcome::Failed(m) => report.failed.push((e.line, e.expr.clone(), m)),
                    Outcome::Skipped(r) => report.skipped.push((e.line, e.expr.clone(), r)),
                }
            }
        }
    }
    Ok(report)
}

fn collect_selectors<'a>(node: &'a Node, out: &mut Vec<&'a [LabelMatcher]>) {
    match node {
        Node::Number(_) | Node::Str(_) => {}
        Node::Vector(s) | Node::Matrix(s, _) => out.push(&s.matchers),
        Node::Neg(n) => collect_selectors(n, out),
        Node::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Node::Aggregate(a) => {
            collect_selectors(&a.expr, out);
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
        }
        Node::Call(c) => c.args.iter().for_each(|a| collect_selectors(a, out)),
    }
}

/// Evaluates one command and compares.
pub fn run_eval(e: &EvalCmd, store: &WindowStore, native: &[LabelSet]) -> Outcome {
    if let Some(why) = &e.unreadable {
        return Outcome::Skipped(why.clone());
    }
    let expr = match crate::parse(&e.expr) {
        Ok(x) => x,
        Err(EvalError::Parse(_)) if e.fail => return Outcome::Passed,
        Err(err) => return Outcome::Skipped(format!("promql-parser does not parse it: {err}")),
    };
    let plan = match Plan::new(&expr) {
        Ok(p) => p,
        Err(EvalError::Unsupported(what)) => return Outcome::Skipped(what),
        Err(_) if e.fail => return Outcome::Passed,
        Err(err) => return Outcome::Failed(format!("refused: {err}")),
    };
    let mut sels = Vec::new();
    collect_selectors(&plan.root, &mut sels);
    if sels.iter().any(|ms| native.iter().any(|n| ms.iter().all(|m| m.matches_set(n)))) {
        return Outcome::Skipped("selects native histograms".into());
    }
    // Prometheus' `promqltest.NewTestEngine` turns delayed name removal on;
    // `name_label_dropping.test` depends on it.
    let engine = Engine { delayed_name_removal: true, ..Engine::default() };
    let result = match e.kind {
        EvalKind::Instant { at_ms } => engine.instant_plan(&plan, store, at_ms),
        EvalKind::Range { start_ms, end_ms, step_ms } => engine.range_plan(
            &plan,
            store,
            start_ms,
            end_ms,
            Duration::from_millis(u64::try_from(step_ms).unwrap_or(0)),
        ),
    };
    let (value, annos) = match result {
        Err(EvalError::Unsupported(what)) => return Outcome::Skipped(what),
        Err(_) if e.fail => return Outcome::Passed,
        Err(err) => return Outcome::Failed(format!("error: {err}")),
        Ok(_) if e.fail => return Outcome::Failed("expected an error, got a result".into()),
        Ok(r) => r,
    };
    if e.warn && annos.warnings.is_empty() {
        return Outcome::Failed("expected warnings, got none".into());
    }
    if !e.warn && !annos.warnings.is_empty() {
        return Outcome::Failed(format!("unexpected warnings: {:?}", annos.warnings));
    }
    if e.info && annos.infos.is_empty() {
        return Outcome::Failed("expected info annotations, got none".into());
    }
    let scalar_result = matches!(value, Value::Scalar(_));
    if let Err(m) = compare(e, value) {
        return Outcome::Failed(m);
    }
    // As Prometheus' runner does: the instant query again as a range query
    // from t-1m to t+1m, step 1m, must give the same result at t.
    if let EvalKind::Instant { at_ms } = e.kind
        && !e.ordered
    {
        let ranged = engine.range_plan(
            &plan,
            store,
            at_ms.saturating_sub(60_000),
            at_ms.saturating_add(60_000),
            Duration::from_secs(60),
        );
        let matrix = match ranged {
            Ok((Value::Matrix(m), _)) => m,
            Ok(_) => return Outcome::Failed("range mode: not a matrix".into()),
            Err(err) => return Outcome::Failed(format!("range mode: error: {err}")),
        };
        let vector: Vec<crate::Sample> = matrix
            .into_iter()
            .filter_map(|s| s.points.iter().find(|p| p.0 == at_ms).map(|p| crate::Sample::new(s.labels.clone(), p.1)))
            .collect();
        let as_value = if scalar_result {
            Value::Scalar(vector.first().map_or(f64::NAN, |s| s.value))
        } else {
            Value::Vector(vector)
        };
        if let Err(m) = compare(e, as_value) {
            return Outcome::Failed(format!("range mode: {m}"));
        }
    }
    Outcome::Passed
}

/// Prometheus' `almost.Equal` with NaN equal to NaN.
pub fn values_equal(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || crate::functions::almost_equal(a, b, 1e-6)
}

fn compare(e: &EvalCmd, value: Value) -> Result<(), String> {
    match (&e.expected, value, e.kind) {
        (Expected::Scalar(want), Value::Scalar(got), EvalKind::Instant { .. }) => {
            if values_equal(*want, got) {
                Ok(())
            } else {
                Err(format!("expected scalar {want}, got {got}"))
            }
        }
        (Expected::Scalar(want), other, _) => Err(format!("expected scalar {want}, got {other:?}")),
        (Expected::Series(want), Value::Vector(got), EvalKind::Instant { .. }) => {
            let mut seen = vec![false; want.len()];
            for (pos, s) in got.iter().enumerate() {
                let Some(i) = want.iter().position(|(l, _)| *l == s.labels) else {
                    return Err(format!("unexpected metric {} in result, has value {}", s.labels, s.value));
                };
                if e.ordered && i != pos {
                    return Err(format!("expected metric {} at position {} but was at {}", s.labels, i + 1, pos + 1));
                }
                let exp = match want.get(i).map(|w| w.1.as_slice()) {
                    Some([SeqValue::Value(v)]) => *v,
                    _ => return Err(format!("expected exactly one value for {}", s.labels)),
                };
                if !values_equal(exp, s.value) {
                    return Err(format!("expected {exp} for {} but got {}", s.labels, s.value));
                }
                if let Some(flag) = seen.get_mut(i) {
                    *flag = true;
                }
            }
            all_seen(&seen, want)
        }
        (Expected::Series(want), Value::Scalar(got), EvalKind::Instant { .. }) => {
            Err(format!("expected series {want:?}, got scalar {got}"))
        }
        (Expected::Series(want), Value::Matrix(got), EvalKind::Range { start_ms, end_ms, step_ms }) => {
            let mut seen = vec![false; want.len()];
            for s in &got {
                let Some(i) = want.iter().position(|(l, _)| *l == s.labels) else {
                    return Err(format!("unexpected metric {} in result, has {:?}", s.labels, s.points));
                };
                let mut expected = Vec::new();
                for (k, v) in want.get(i).map(|w| w.1.as_slice()).unwrap_or(&[]).iter().enumerate() {
                    let t = start_ms + k as i64 * step_ms;
                    if t > end_ms {
                        return Err(format!("more expected points than steps for {}", s.labels));
                    }
                    if let SeqValue::Value(v) = v {
                        expected.push((t, *v));
                    }
                }
                if expected.len() != s.points.len()
                    || expected.iter().zip(&s.points).any(|(a, b)| a.0 != b.0 || !values_equal(a.1, b.1))
                {
                    return Err(format!("for {}: expected {:?}, got {:?}", s.labels, expected, s.points));
                }
                if let Some(flag) = seen.get_mut(i) {
                    *flag = true;
                }
            }
            all_seen(&seen, want)
        }
        (_, other, _) => Err(format!("unexpected result type {other:?}")),
    }
}

/// Fails naming the first expected series the result did not contain.
fn all_seen<T>(seen: &[bool], want: &[(LabelSet, T)]) -> Result<(), String> {
    match seen.iter().position(|s| !s) {
        Some(i) => {
            Err(format!("expected metric {} not found", want.get(i).map(|w| w.0.to_string()).unwrap_or_default()))
        }
        None => Ok(()),
    }
}
