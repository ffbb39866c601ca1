//! One unit-test file run as promtool 2.42 runs it (`cmd/promtool/unittest.go`):
//! per test group, the input series go into a fresh store, the rule groups
//! are evaluated at every `evaluation_interval` step from 0 to the latest
//! `eval_time`, the firing alerts are compared after the evaluation at or
//! just before each alert test's `eval_time`, then each `promql_expr_test`
//! query runs over what the store holds (input series, recorded series,
//! `ALERTS`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sonde_instrument::Labels;

use super::format::{
    AlertTestCase, AlertView, PromqlTestCase, TestGroup, UnitTestFile, alerts_string, go_quote, indent_lines,
    parse_unit_test_file, samples_string,
};
use super::glob;
use crate::alerts::Alert;
use crate::file::{RuleFileError, Text, load_rule_file};
use crate::{AlertState, GroupRule, Notifier, QueryFn, RuleGroup};
use sonde_instrument::duration::format_go_duration;
use sonde_promql::series::{SeqValue, SeriesError, parse_metric, parse_series_line};
use sonde_promql::store::{StoreConfig, WindowStore};
use sonde_promql::{Engine, EvalError, Value, parse};

/// The evaluation interval when the file sets none (or 0).
const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// Runs every test group of the file at `path`; the failures, each a
/// message as promtool writes it, or nothing when all pass. Warnings
/// (a rule file pattern matching nothing) go to `warn`.
pub(super) fn test_file(path: &Path, warn: &mut dyn Write) -> Vec<String> {
    let text = match sonde_instrument::file::read_regular(path, crate::file::MAX_RULE_FILE_BYTES) {
        Ok(text) => text,
        Err(err) => return vec![format!("open {}: {}", path.display(), err.reason())],
    };
    let file: UnitTestFile = match parse_unit_test_file(&text) {
        Ok(file) => file,
        Err(err) => return vec![err.to_string()],
    };
    let base = glob::dir(&path.to_string_lossy());
    let mut rule_files = Vec::new();
    for Text(pattern) in &file.rule_files {
        let pattern =
            if pattern.is_empty() || pattern.starts_with('/') { pattern.clone() } else { glob::join(&base, pattern) };
        match glob::glob(&pattern) {
            Ok(found) if found.is_empty() => {
                let _ = writeln!(warn, "  WARNING: no file match pattern {pattern}");
            }
            Ok(found) => rule_files.extend(found),
            Err(err) => return vec![err.to_string()],
        }
    }
    let interval = match file.evaluation_interval.0 {
        Duration::ZERO => DEFAULT_EVALUATION_INTERVAL,
        interval => interval,
    };
    let mut order = HashMap::new();
    for (i, Text(name)) in file.group_eval_order.iter().enumerate() {
        if order.insert(name.clone(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {name}")];
        }
    }
    file.tests.iter().flat_map(|group| test_group(group, interval, &order, &rule_files)).collect()
}

/// The rules' storage: input series, recorded series and `ALERTS`.
#[derive(Debug)]
struct TestStore(RefCell<WindowStore>);

impl TestStore {
    fn new() -> Self {
        // Nothing expires: a test spans as long as its latest eval_time.
        TestStore(RefCell::new(WindowStore::new(StoreConfig {
            retention: Duration::from_secs(100 * 365 * 24 * 3600),
            max_series: usize::MAX,
        })))
    }

    /// An instant query as promtool runs one: a vector, or a scalar as one
    /// sample without labels.
    fn instant(&self, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, EvalError> {
        let expr = parse(expr)?;
        match Engine::default().instant(&expr, &self.0.borrow(), t_ms)? {
            Value::Vector(samples) => Ok(samples.into_iter().map(|s| (s.labels.to_labels(), s.value)).collect()),
            Value::Scalar(v) => Ok(vec![(Labels::new(), v)]),
            Value::Matrix(_) | Value::String(_) => {
                Err(EvalError::Execution("rule result is not a vector or scalar".to_owned()))
            }
        }
    }
}

impl QueryFn for TestStore {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, EvalError> {
        self.instant(expr, t_ms)
    }

    fn append(&self, samples: &[(Labels, f64)], t_ms: i64) {
        let mut store = self.0.borrow_mut();
        for (labels, value) in samples {
            store.append(labels, t_ms, *value);
        }
    }
}

/// Alerts go nowhere: the test looks at the rules' state instead.
#[derive(Debug)]
struct NoNotifier;

impl Notifier for NoNotifier {
    fn send(&self, _alerts: &[Alert]) {}
}

fn sorted_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = pairs.map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
    pairs.sort();
    pairs
}

/// Runs one test group; its failures.
fn test_group(
    tg: &TestGroup,
    interval: Duration,
    order: &HashMap<String, usize>,
    rule_files: &[String],
) -> Vec<String> {
    let max_ms = tg
        .alert_rule_test
        .iter()
        .map(|a| a.eval_time.ms())
        .chain(tg.promql_expr_test.iter().map(|p| p.eval_time.ms()))
        .max()
        .unwrap_or(0);
    let step_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1);
    // Like promtool's lazy loader, the store holds samples up to the last
    // evaluation, also for the queries of promql_expr_test.
    let last_eval_ms = max_ms / step_ms * step_ms;
    let store = TestStore::new();
    if let Err(err) = load_series(tg, last_eval_ms, &store) {
        return vec![err.to_string()];
    }
    let mut groups = match load_groups(tg, order, rule_files) {
        Ok(groups) => groups,
        Err(errors) => return errors.iter().map(ToString::to_string).collect(),
    };
    let mut alert_tests: BTreeMap<i64, Vec<&AlertTestCase>> = BTreeMap::new();
    for case in &tg.alert_rule_test {
        if case.alertname.0.is_empty() {
            let in_group = if tg.name.0.is_empty() { String::new() } else { format!(" (in TestGroup {})", tg.name.0) };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                case.eval_time
            )];
        }
        alert_tests.entry(case.eval_time.ms()).or_default().push(case);
    }

    let mut errors = Vec::new();
    let mut pending = alert_tests.into_iter().peekable();
    let mut ts = 0_i64;
    while ts <= max_ms {
        let mut eval_errors = Vec::new();
        for group in &mut groups {
            for (rule, err) in group.eval(&store, ts).errors {
                let time = format_go_duration(Duration::from_millis(u64::try_from(ts).unwrap_or(0)));
                eval_errors.push(format!("    rule: {rule}, time: {time}, err: {err}"));
            }
        }
        if !eval_errors.is_empty() {
            errors.extend(eval_errors);
            return errors;
        }
        let next_ts = ts.saturating_add(step_ms);
        // An alert test is checked against the evaluation at or just before its eval_time.
        while let Some((_, cases)) = pending.next_if(|(t, _)| *t < next_ts) {
            for case in cases {
                check_alerts(tg, case, &groups, &mut errors);
            }
        }
        if next_ts == ts {
            break;
        }
        ts = next_ts;
    }
    for case in &tg.promql_expr_test {
        check_query(case, &store, &mut errors);
    }
    errors
}

/// An input series that does not parse, as promtool reports it.
#[derive(Debug, thiserror::Error)]
#[error("input series {}: {error}", go_quote(.line))]
struct InputSeriesError {
    /// `<series> <values>`.
    line: String,
    error: SeriesError,
}

/// Loads the input series up to `until_ms` as promtool's `load <interval>`
/// does: values at 0, interval, 2·interval, …; a series given twice keeps
/// its last definition; at one timestamp the first value stays.
fn load_series(tg: &TestGroup, until_ms: i64, store: &TestStore) -> Result<(), InputSeriesError> {
    let mut series = HashMap::new();
    let mut order = Vec::new();
    for input in &tg.input_series {
        let line = format!("{} {}", input.series.0, input.values.0);
        let (labels, values) = match parse_series_line(&line) {
            Ok(parsed) => parsed,
            Err(error) => return Err(InputSeriesError { line, error }),
        };
        if series.insert(labels.clone(), values).is_none() {
            order.push(labels);
        }
    }
    let step_ms = tg.interval.ms();
    let mut store = store.0.borrow_mut();
    for labels in order {
        let mut last = None;
        for (i, value) in series.get(&labels).into_iter().flatten().enumerate() {
            let t = i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(step_ms);
            if t > until_ms {
                break;
            }
            if let SeqValue::Value(v) = value
                && last.is_none_or(|last| t > last)
            {
                store.append_set(&labels, t, *v);
                last = Some(t);
            }
        }
    }
    Ok(())
}

/// The rule groups of every rule file, those named in `group_eval_order`
/// in that order, the others first in file order.
fn load_groups(
    tg: &TestGroup,
    order: &HashMap<String, usize>,
    rule_files: &[String],
) -> Result<Vec<RuleGroup>, Vec<RuleFileError>> {
    let notifier: Arc<dyn Notifier> = Arc::new(NoNotifier);
    let external_labels = tg.external_labels.clone().into_strings();
    let mut groups: Vec<RuleGroup> = Vec::new();
    for file in rule_files {
        let specs = load_rule_file(Path::new(file))?;
        for spec in specs {
            if groups.iter().any(|g| g.file() == spec.file && g.name() == spec.name) {
                continue;
            }
            groups.push(
                RuleGroup::new(spec, tg.interval.0, Arc::clone(&notifier))
                    .with_external(external_labels.clone(), tg.external_url.0.clone()),
            );
        }
    }
    groups.sort_by_key(|g| order.get(g.name()).copied().unwrap_or(0));
    Ok(groups)
}

/// Compares the firing alerts named in `case` with the expected ones.
fn check_alerts(tg: &TestGroup, case: &AlertTestCase, groups: &[RuleGroup], errors: &mut Vec<String>) {
    let name = &case.alertname.0;
    let mut got: Vec<AlertView> = groups
        .iter()
        .flat_map(RuleGroup::rules)
        .filter_map(|rule| match rule {
            GroupRule::Alert(rule) if rule.rule().name == *name => Some(rule.alerts()),
            _ => None,
        })
        .flatten()
        .filter(|alert| alert.state == AlertState::Firing)
        .map(|alert| AlertView::new(&alert.labels, &alert.annotations))
        .collect();
    let mut expected: Vec<AlertView> = case
        .exp_alerts
        .iter()
        .map(|alert| {
            let mut labels = alert.exp_labels.clone().into_strings();
            labels.insert("alertname".to_owned(), name.clone());
            AlertView::new(&labels, &alert.exp_annotations.clone().into_strings())
        })
        .collect();
    got.sort();
    expected.sort();
    if got != expected {
        let test_name = if tg.name.0.is_empty() { String::new() } else { format!("    name: {},\n", tg.name.0) };
        let indent = " ".repeat(12);
        errors.push(format!(
            "{test_name}    alertname: {name}, time: {}, \n        exp:{}, \n        got:{}",
            case.eval_time,
            indent_lines(&alerts_string(&expected), &indent),
            indent_lines(&alerts_string(&got), &indent),
        ));
    }
}

/// Runs the query of `case` and compares its samples, exactly, with the
/// expected ones.
fn check_query(case: &PromqlTestCase, store: &TestStore, errors: &mut Vec<String>) {
    let expr = go_quote(&case.expr.0);
    let time = &case.eval_time;
    let got = match store.instant(&case.expr.0, case.eval_time.ms()) {
        Ok(samples) => samples,
        Err(err) => {
            errors.push(format!("    expr: {expr}, time: {time}, err: {err}"));
            return;
        }
    };
    let mut got: Vec<(Vec<(String, String)>, f64)> = got
        .iter()
        .map(|(labels, v)| (sorted_pairs(labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))), *v))
        .collect();
    let mut expected = Vec::new();
    for sample in &case.exp_samples {
        match parse_metric(&sample.labels.0) {
            Ok(labels) => expected.push((sorted_pairs(labels.iter()), sample.value)),
            Err(err) => {
                errors
                    .push(format!("    expr: {expr}, time: {time}, err: labels {}: {err}", go_quote(&sample.labels.0)));
                return;
            }
        }
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    // Values compare with ==, as Go's reflect.DeepEqual does: NaN never matches.
    let same = got.len() == expected.len() && got.iter().zip(&expected).all(|(g, e)| g.0 == e.0 && g.1 == e.1);
    if !same {
        errors.push(format!(
            "    expr: {expr}, time: {time},\n        exp: {}\n        got: {}",
            samples_string(&expected),
            samples_string(&got)
        ));
    }
}
