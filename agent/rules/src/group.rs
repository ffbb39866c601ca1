//! A group of rules evaluated together, in order, every interval: the
//! alerts that are due go to the [`Notifier`] after each alerting rule.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::alerts::{
    Alert, AlertState, AlertingRule, DEFAULT_RESEND_DELAY, EvalContext, Health, RecordingRule, RuleEvalError,
    duration_ms,
};
use super::file::GroupSpec;
use super::notify::Notifier;
use super::{QueryFn, Rule};
use sonde_instrument::Labels;
use sonde_promql::EvalError;
use sonde_promql::store::stale_nan;

/// One rule of a [`RuleGroup`] with its evaluation state.
#[derive(Debug)]
pub enum GroupRule {
    /// An alerting rule and its alerts.
    Alert(AlertingRule),
    /// A recording rule.
    Record(RecordingRule),
}

impl GroupRule {
    /// The alert name or recorded metric name.
    pub fn name(&self) -> &str {
        match self {
            GroupRule::Alert(r) => &r.rule.name,
            GroupRule::Record(r) => &r.rule.record,
        }
    }

    /// How the last evaluation went.
    pub fn health(&self) -> &Health {
        match self {
            GroupRule::Alert(r) => &r.health,
            GroupRule::Record(r) => &r.health,
        }
    }
}

/// What one evaluation of a group did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupEval {
    /// The rules that failed, by name, with the error.
    pub errors: Vec<(String, String)>,
    /// Series written by recording rules.
    pub recorded: usize,
    /// Alerts handed to the notifier.
    pub sent: usize,
    /// How long the evaluation took.
    pub duration: Duration,
}

/// A group of rules evaluated together, in order, every `interval`.
pub struct RuleGroup {
    name: String,
    file: String,
    interval: Duration,
    query_offset: Duration,
    limit: usize,
    pub(crate) rules: Vec<GroupRule>,
    notifier: Arc<dyn Notifier>,
    resend_delay: Duration,
    external_labels: BTreeMap<String, String>,
    external_url: String,
    last_eval: Option<(i64, Duration)>,
    /// Per rule, the series it wrote at its last successful evaluation.
    written: Vec<BTreeMap<String, Labels>>,
}

impl std::fmt::Debug for RuleGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleGroup")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("interval", &self.interval)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl RuleGroup {
    /// A group from a validated spec; `default_interval` applies when the
    /// spec sets none (`--rules.evaluation-interval`).
    pub fn new(spec: GroupSpec, default_interval: Duration, notifier: Arc<dyn Notifier>) -> Self {
        let rules = spec
            .rules
            .into_iter()
            .map(|rule| match rule {
                Rule::Alert(rule) => GroupRule::Alert(AlertingRule::new(rule)),
                Rule::Record(rule) => GroupRule::Record(RecordingRule { rule, health: Health::Unknown }),
            })
            .collect();
        RuleGroup {
            name: spec.name,
            file: spec.file,
            interval: spec.interval.unwrap_or(default_interval),
            query_offset: spec.query_offset,
            limit: spec.limit,
            rules,
            notifier,
            resend_delay: DEFAULT_RESEND_DELAY,
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            last_eval: None,
            written: Vec::new(),
        }
    }

    /// Sets how often firing alerts are re-sent (default 1 minute).
    pub fn with_resend_delay(mut self, delay: Duration) -> Self {
        self.resend_delay = delay;
        self
    }

    /// Sets what `$externalLabels` and `$externalURL` are in templates.
    pub fn with_external(mut self, labels: BTreeMap<String, String>, url: impl Into<String>) -> Self {
        self.external_labels = labels;
        self.external_url = url.into();
        self
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file the group came from (empty for rules from labels).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// How often the group is evaluated.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The most alerts or series a rule may produce; 0 means no limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The rules with their state, in evaluation order.
    pub fn rules(&self) -> &[GroupRule] {
        &self.rules
    }

    /// Every alert of the group that is pending or firing.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.rules
            .iter()
            .filter_map(|r| match r {
                GroupRule::Alert(a) => Some(a.active.values()),
                GroupRule::Record(_) => None,
            })
            .flatten()
            .filter(|a| a.state != AlertState::Inactive)
    }

    /// When the group was last evaluated (ms) and how long that took.
    pub fn last_eval(&self) -> Option<(i64, Duration)> {
        self.last_eval
    }

    /// Evaluates every rule at `t_ms`, in order, and hands the alerts that
    /// are due to the notifier. A failing rule is reported and the others
    /// still run. As in Prometheus, a series a rule wrote at its previous
    /// evaluation (recorded, or `ALERTS`) and not at this one gets a
    /// staleness marker at `t_ms`, so queries stop seeing it at once.
    pub fn eval(&mut self, query: &dyn QueryFn, t_ms: i64) -> GroupEval {
        let started = Instant::now();
        let mut report = GroupEval::default();
        let offset_ms = duration_ms(self.query_offset);
        let resend_ms = duration_ms(self.resend_delay);
        let interval_ms = duration_ms(self.interval);
        let ctx = EvalContext { external_labels: &self.external_labels, external_url: &self.external_url };
        self.written.resize_with(self.rules.len(), BTreeMap::new);
        for (index, rule) in self.rules.iter_mut().enumerate() {
            let tracked = Written { inner: query, series: RefCell::new(BTreeMap::new()) };
            let query = &tracked as &dyn QueryFn;
            let name = match rule {
                GroupRule::Alert(r) => r.rule.name.clone(),
                GroupRule::Record(r) => r.rule.record.clone(),
            };
            // A panic inside one rule (a bug, reachable through its
            // expression or templates) fails that rule alone; the rest of
            // the group runs.
            let evaluated = catch_unwind(AssertUnwindSafe(|| match &mut *rule {
                GroupRule::Alert(r) => r.eval(query, t_ms, offset_ms, self.limit, &ctx).map(|()| {
                    let due = r.due(t_ms, resend_ms, interval_ms);
                    if !due.is_empty() {
                        report.sent += due.len();
                        self.notifier.send(&due);
                    }
                }),
                GroupRule::Record(r) => r.eval(query, t_ms, offset_ms, self.limit).map(|n| report.recorded += n),
            }));
            let result = evaluated.unwrap_or_else(|panic| Err(RuleEvalError::Panicked(panic_message(&*panic))));
            let health = match result {
                Ok(()) => {
                    let written = tracked.series.into_inner();
                    if let Some(previous) = self.written.get_mut(index) {
                        let gone: Vec<(Labels, f64)> = previous
                            .iter()
                            .filter(|(key, _)| !written.contains_key(*key))
                            .map(|(_, labels)| (labels.clone(), stale_nan()))
                            .collect();
                        if !gone.is_empty() {
                            tracked.inner.append(&gone, t_ms);
                        }
                        *previous = written;
                    }
                    Health::Ok
                }
                Err(err) => {
                    let err = err.to_string();
                    if !matches!(rule.health(), Health::Err(e) if *e == err) {
                        tracing::warn!(group = %self.name, rule = %name, error = %err, "rule evaluation failed");
                    }
                    report.errors.push((name, err.clone()));
                    Health::Err(err)
                }
            };
            match rule {
                GroupRule::Alert(r) => r.health = health,
                GroupRule::Record(r) => r.health = health,
            }
        }
        report.duration = started.elapsed();
        self.last_eval = Some((t_ms, report.duration));
        report
    }
}

/// Passes a rule's queries through and notes the series it writes.
struct Written<'a> {
    inner: &'a dyn QueryFn,
    series: RefCell<BTreeMap<String, Labels>>,
}

impl QueryFn for Written<'_> {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, EvalError> {
        self.inner.query(expr, t_ms)
    }

    fn append(&self, samples: &[(Labels, f64)], t_ms: i64) {
        let mut series = self.series.borrow_mut();
        for (labels, _) in samples {
            let labels = labels.sorted();
            let key =
                labels.iter().flat_map(|l| [l.name.as_str(), "\u{ff}", l.value.as_str(), "\u{ff}"]).collect::<String>();
            series.insert(key, labels);
        }
        self.inner.append(samples, t_ms);
    }
}

/// What a panic said, for the rule's error.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    // A panic message may quote input; a few hundred bytes say enough.
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}
