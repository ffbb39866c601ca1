//! The alert state machine, as Prometheus has it (`rules/alerting.go`):
//! each element of a rule's instant-query result is one alert, *pending*
//! at first, *firing* once it has been active for `for`; a pending alert
//! that disappears is dropped silently, a firing one is *resolved* (after
//! `keep_firing_for`) and kept 15 minutes so the resolution is re-sent.
//! Firing alerts are re-sent every resend delay (1 minute). A
//! [`RuleGroup`](super::group::RuleGroup) runs the rules in order.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sonde_instrument::Labels;

use super::template::{Template, TemplateData, TemplateError};
use super::{AlertRule, QueryFn, RecordRule};
use sonde_promql::EvalError;

/// How long a resolved alert is kept and re-sent (Prometheus' `resolvedRetention`).
pub(crate) const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);
/// How often a firing alert is re-sent (`--rules.alert.resend-delay`).
pub(crate) const DEFAULT_RESEND_DELAY: Duration = Duration::from_secs(60);

/// The state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Present, not yet for `for`.
    Pending,
    /// Present for `for` (or kept by `keep_firing_for`).
    Firing,
    /// Resolved: kept for 15 minutes to re-send the resolution.
    Inactive,
}

impl AlertState {
    /// The name Prometheus' API and `ALERTS{alertstate}` use.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Inactive => "inactive",
        }
    }
}

/// One alert: a rule's result element with the rule's labels applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The element's labels without `__name__`, the rule's labels
    /// (templated) over them, and `alertname`.
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations, templated at the last evaluation.
    pub annotations: BTreeMap<String, String>,
    /// Pending, firing or resolved.
    pub state: AlertState,
    /// The element's value at the last evaluation.
    pub value: f64,
    /// When the element first appeared (ms since the epoch).
    pub active_at_ms: i64,
    /// When the alert started firing.
    pub fired_at_ms: Option<i64>,
    /// When the alert was resolved.
    pub resolved_at_ms: Option<i64>,
    /// When the alert was last handed to the notifier.
    pub last_sent_at_ms: Option<i64>,
    /// Since when a firing alert is missing from the result (`keep_firing_for`).
    pub keep_firing_since_ms: Option<i64>,
    /// Until when a firing alert holds unless re-sent (`EndsAt` of a firing alert).
    pub valid_until_ms: i64,
}

impl Alert {
    /// The alert's identity: its label set, written `{a="b", …}`.
    pub fn key(&self) -> String {
        format_labels(&self.labels)
    }

    /// `StartsAt` as sent: when it fired (its activation when it never did).
    pub fn starts_at_ms(&self) -> i64 {
        self.fired_at_ms.unwrap_or(self.active_at_ms)
    }

    /// `EndsAt` as sent: the resolution, or how long a firing alert holds.
    pub fn ends_at_ms(&self) -> i64 {
        self.resolved_at_ms.unwrap_or(self.valid_until_ms)
    }

    fn needs_sending(&self, t_ms: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        match (self.last_sent_at_ms, self.resolved_at_ms) {
            (None, _) => true,
            (Some(sent), Some(resolved)) if resolved > sent => true,
            (Some(sent), _) => sent + resend_delay_ms < t_ms,
        }
    }
}

/// Labels written as Prometheus prints a label set: `{a="b", c="d"}`.
pub(crate) fn format_labels(labels: &BTreeMap<String, String>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{k}={v:?}");
    }
    out.push('}');
    out
}

/// Whether a rule's last evaluation worked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation worked.
    Ok,
    /// The last evaluation failed with this error.
    Err(String),
}

/// Why one evaluation of a rule failed; the text is the rule's health, as
/// Prometheus words it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleEvalError {
    /// The rule's query failed.
    #[error(transparent)]
    Query(#[from] EvalError),
    /// Two elements have the same labels once the alert's labels are set.
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateAlertLabels,
    /// Two elements have the same labels once the recording rule's labels are set.
    #[error("vector contains metrics with the same labelset after applying rule labels")]
    DuplicateRuleLabels,
    /// More active alerts than the group's `limit`.
    #[error("exceeded limit of {limit} with {count} alerts")]
    TooManyAlerts {
        /// The group's limit.
        limit: usize,
        /// The active alerts.
        count: usize,
    },
    /// More series than the group's `limit`.
    #[error("exceeded limit of {limit} with {count} series")]
    TooManySeries {
        /// The group's limit.
        limit: usize,
        /// The series the rule produced.
        count: usize,
    },
    /// The evaluation panicked (a bug); the rest of the group ran.
    #[error("the evaluation panicked: {0}")]
    Panicked(String),
}

/// A template parsed once; a parse error renders as Prometheus renders one.
#[derive(Debug, Clone)]
struct Compiled(String, Result<Template, TemplateError>);

impl Compiled {
    fn new(name: &str, text: &str) -> Self {
        Compiled(name.to_owned(), Template::parse(text))
    }

    fn render(&self, data: &TemplateData<'_>) -> String {
        match &self.1 {
            Ok(template) => template.render(data),
            Err(err) => format!("<error expanding template: {err}>"),
        }
    }
}

/// An alerting rule with its alerts.
#[derive(Debug)]
pub struct AlertingRule {
    pub(crate) rule: AlertRule,
    labels: Vec<Compiled>,
    annotations: Vec<Compiled>,
    pub(crate) active: BTreeMap<String, Alert>,
    pub(crate) health: Health,
}

impl AlertingRule {
    pub(crate) fn new(rule: AlertRule) -> Self {
        let labels = rule.labels.iter().map(|(k, v)| Compiled::new(k, v)).collect();
        let annotations = rule.annotations.iter().map(|(k, v)| Compiled::new(k, v)).collect();
        AlertingRule { rule, labels, annotations, active: BTreeMap::new(), health: Health::Unknown }
    }

    /// The rule as written.
    pub fn rule(&self) -> &AlertRule {
        &self.rule
    }

    /// The rule's alerts: pending, firing and recently resolved.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// How the last evaluation went.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Evaluates the rule at `t_ms`; the error leaves the alerts as they were.
    pub(crate) fn eval(
        &mut self,
        query: &dyn QueryFn,
        t_ms: i64,
        offset_ms: i64,
        limit: usize,
        ctx: &EvalContext<'_>,
    ) -> Result<(), RuleEvalError> {
        let samples = query.query(&self.rule.expr, t_ms - offset_ms)?;
        let mut current: BTreeMap<String, Alert> = BTreeMap::new();
        for (labels, value) in samples {
            let element: BTreeMap<String, String> = labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            let data = TemplateData {
                labels: &element,
                value,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
            };
            let mut alert_labels = element.clone();
            alert_labels.remove("__name__");
            for compiled in &self.labels {
                let value = compiled.render(&data);
                if value.is_empty() {
                    alert_labels.remove(&compiled.0);
                } else {
                    alert_labels.insert(compiled.0.clone(), value);
                }
            }
            alert_labels.insert("alertname".to_owned(), self.rule.name.clone());
            let annotations = self.annotations.iter().map(|c| (c.0.clone(), c.render(&data))).collect();
            let key = format_labels(&alert_labels);
            let alert = Alert {
                labels: alert_labels,
                annotations,
                state: AlertState::Pending,
                value,
                active_at_ms: t_ms,
                fired_at_ms: None,
                resolved_at_ms: None,
                last_sent_at_ms: None,
                keep_firing_since_ms: None,
                valid_until_ms: 0,
            };
            if current.insert(key, alert).is_some() {
                return Err(RuleEvalError::DuplicateAlertLabels);
            }
        }
        let for_ms = duration_ms(self.rule.for_duration);
        let keep_ms = duration_ms(self.rule.keep_firing_for);
        let retention_ms = duration_ms(RESOLVED_RETENTION);
        for (key, alert) in &current {
            match self.active.get_mut(key) {
                Some(existing) if existing.state != AlertState::Inactive => {
                    existing.value = alert.value;
                    existing.annotations = alert.annotations.clone();
                }
                _ => {
                    tracing::debug!(alertname = %self.rule.name, labels = %key, "alert pending");
                    self.active.insert(key.clone(), alert.clone());
                }
            }
        }
        let mut active_count = 0;
        self.active.retain(|key, alert| {
            if !current.contains_key(key) {
                let mut keep_firing = false;
                if alert.state == AlertState::Firing && keep_ms > 0 {
                    let since = *alert.keep_firing_since_ms.get_or_insert(t_ms);
                    keep_firing = t_ms - since < keep_ms;
                }
                if alert.state == AlertState::Pending {
                    tracing::debug!(alertname = %alert.labels.get("alertname").map_or("", String::as_str), labels = %key, "pending alert gone");
                    return false;
                }
                if alert.resolved_at_ms.is_some_and(|at| t_ms - at > retention_ms) {
                    return false;
                }
                if alert.state != AlertState::Inactive && !keep_firing {
                    alert.state = AlertState::Inactive;
                    alert.resolved_at_ms = Some(t_ms);
                }
                if !keep_firing {
                    return true;
                }
            } else {
                alert.keep_firing_since_ms = None;
            }
            active_count += 1;
            if alert.state == AlertState::Pending && t_ms - alert.active_at_ms >= for_ms {
                alert.state = AlertState::Firing;
                alert.fired_at_ms = Some(t_ms);
            }
            true
        });
        if limit > 0 && active_count > limit {
            self.active.clear();
            return Err(RuleEvalError::TooManyAlerts { limit, count: active_count });
        }
        let series: Vec<(Labels, f64)> = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .flat_map(|a| {
                let mut labels = Labels::from_pairs(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let for_state = labels.clone().with("__name__", "ALERTS_FOR_STATE");
                labels.push("__name__", "ALERTS");
                labels.push("alertstate", a.state.as_str());
                [(labels.sorted(), 1.0), (for_state.sorted(), (a.active_at_ms / 1000) as f64)]
            })
            .collect();
        if !series.is_empty() {
            query.append(&series, t_ms);
        }
        Ok(())
    }

    /// The alerts due to be sent at `t_ms`, marked as sent.
    pub(crate) fn due(&mut self, t_ms: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let mut due = Vec::new();
        for alert in self.active.values_mut() {
            if alert.needs_sending(t_ms, resend_delay_ms) {
                alert.last_sent_at_ms = Some(t_ms);
                alert.valid_until_ms = t_ms + 4 * resend_delay_ms.max(interval_ms);
                due.push(alert.clone());
            }
        }
        due
    }
}

/// A recording rule.
#[derive(Debug)]
pub struct RecordingRule {
    pub(crate) rule: RecordRule,
    pub(crate) health: Health,
}

impl RecordingRule {
    /// The rule as written.
    pub fn rule(&self) -> &RecordRule {
        &self.rule
    }

    /// How the last evaluation went.
    pub fn health(&self) -> &Health {
        &self.health
    }

    pub(crate) fn eval(
        &self,
        query: &dyn QueryFn,
        t_ms: i64,
        offset_ms: i64,
        limit: usize,
    ) -> Result<usize, RuleEvalError> {
        let samples = query.query(&self.rule.expr, t_ms - offset_ms)?;
        let mut out: BTreeMap<String, (Labels, f64)> = BTreeMap::new();
        for (labels, value) in samples {
            let mut map: BTreeMap<String, String> = labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            map.insert("__name__".to_owned(), self.rule.record.clone());
            for (k, v) in &self.rule.labels {
                if v.is_empty() {
                    map.remove(k);
                } else {
                    map.insert(k.clone(), v.clone());
                }
            }
            let key = format_labels(&map);
            let labels = Labels::from_pairs(map);
            if out.insert(key, (labels, value)).is_some() {
                return Err(RuleEvalError::DuplicateRuleLabels);
            }
        }
        if limit > 0 && out.len() > limit {
            return Err(RuleEvalError::TooManySeries { limit, count: out.len() });
        }
        let samples: Vec<(Labels, f64)> = out.into_values().collect();
        if !samples.is_empty() {
            query.append(&samples, t_ms);
        }
        Ok(samples.len())
    }
}

/// What templates see besides the element.
pub(crate) struct EvalContext<'a> {
    pub(crate) external_labels: &'a BTreeMap<String, String>,
    pub(crate) external_url: &'a str,
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
