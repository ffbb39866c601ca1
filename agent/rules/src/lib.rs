//! Rules: Prometheus rule files, rules from `com.df.*` service labels
//! (with the `@shortcut` expansions of SPEC §3), and the Prometheus alert
//! state machine with its notifier interface and saved state.
//!
//! The PromQL evaluator is reached through [`QueryFn`] only, so rules are
//! checked and driven without a window store (tests use scripted results).
//!
//! * [`load_rule_file`], [`parse_rule_file`]: rule files, validated like
//!   `promtool check rules` ([`check`] prints its verdicts).
//! * [`rules_from_labels`]: `com.df.alert*` labels (and `@shortcuts`)
//!   become [`AlertRule`]s.
//! * [`RuleGroup`]: evaluates its rules, moves each [`Alert`] through its
//!   [`AlertState`]s and hands the due ones to its [`Notifier`], which
//!   must only enqueue ([`LogNotifier`] logs and counts them).
//! * [`SavedState`]: alert states saved to a JSON file and restored at start.
//! * Templates: `{{ $labels.x }}` / `{{ $value }}` in labels and annotations.
//! * [`unittest`]: rule unit tests in promtool's format (`sonde-agent test rules`).
//!
//! A service's `com.df.*` labels become alerting rules:
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! let labels = BTreeMap::from([
//!     ("com.df.alertName".to_owned(), "mem_limit".to_owned()),
//!     ("com.df.alertIf".to_owned(), "@service_mem_limit:0.8".to_owned()),
//!     ("com.df.alertFor".to_owned(), "5m".to_owned()),
//! ]);
//! let (rules, errors) = sonde_rules::rules_from_labels("go-demo_main", Some(3), &labels);
//! assert!(errors.is_empty());
//! assert_eq!(rules[0].name, "godemo_main_mem_limit");
//! assert_eq!(rules[0].labels["service"], "go-demo_main");
//! assert!(rules[0].expr.ends_with("> 0.8"));
//!
//! let bad = BTreeMap::from([("com.df.alertIf".to_owned(), "@no_such_shortcut".to_owned())]);
//! let (rules, errors) = sonde_rules::rules_from_labels("go-demo_main", None, &bad);
//! assert!(rules.is_empty());
//! assert_eq!(errors[0].service, "go-demo_main");
//! ```
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use sonde_instrument::Labels;
use sonde_promql::EvalError;

mod alerts;
pub mod check;
mod file;
mod group;
mod labels;
mod notify;
mod shortcuts;
mod state;
mod template;

mod template_format;
mod template_parse;
pub mod unittest;

pub use alerts::{Alert, AlertState, Health, RuleEvalError};
pub use file::{GroupSpec, RuleFileError, load_rule_file, parse_rule_file};
pub use group::{GroupEval, GroupRule, RuleGroup};
pub use labels::{LabelError, rules_from_labels};
pub use notify::{LogNotifier, Notifier};
pub use state::{STATE_FILE, SavedState, StateError};

/// The instant-query side of the PromQL evaluator, as the rules use it.
pub trait QueryFn {
    /// Evaluates `expr` at `t_ms` (milliseconds since the epoch): one label
    /// set (possibly with `__name__`) and value per element of the resulting
    /// instant vector; a scalar result is one element with no labels. The
    /// error is the evaluator's, whose text becomes the rule's health.
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, EvalError>;

    /// Stores what a recording rule computed (and the `ALERTS` series), so
    /// later rules of the group see it. Does nothing unless implemented.
    fn append(&self, _samples: &[(Labels, f64)], _t_ms: i64) {}
}

/// An alerting rule: from a rule file or from `com.df.*` labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    /// The alert's name (`alertname`).
    pub name: String,
    /// The PromQL expression; each element of its result is one alert.
    pub expr: String,
    /// How long an element must be present before the alert fires.
    pub for_duration: Duration,
    /// How long a firing alert keeps firing after its element disappears.
    pub keep_firing_for: Duration,
    /// Labels added to every alert (templates allowed in values).
    pub labels: BTreeMap<String, String>,
    /// Annotations of every alert (templates allowed in values).
    pub annotations: BTreeMap<String, String>,
}

/// A recording rule: the expression's result stored under a new name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRule {
    /// The name the result is stored under (`__name__`).
    pub record: String,
    /// The PromQL expression.
    pub expr: String,
    /// Labels added to (and overriding those of) every element.
    pub labels: BTreeMap<String, String>,
}

/// One rule of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `alert:`.
    Alert(AlertRule),
    /// `record:`.
    Record(RecordRule),
}

impl Rule {
    /// The alert name or the recorded metric name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Alert(rule) => &rule.name,
            Rule::Record(rule) => &rule.record,
        }
    }

    /// The PromQL expression.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Alert(rule) => &rule.expr,
            Rule::Record(rule) => &rule.expr,
        }
    }
}

/// PromQL text that does not parse: the parser's message, as promtool
/// prints it after `could not parse expression: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExprError(pub String);

/// Checks that `expr` parses as PromQL, within Sonde's bounds
/// (`sonde_promql::limits`): what the agent would refuse at evaluation,
/// `check rules` refuses too.
pub fn check_expr(expr: &str) -> Result<(), ExprError> {
    match sonde_promql::parse(expr) {
        Ok(_) => Ok(()),
        Err(sonde_promql::EvalError::Parse(message)) => Err(ExprError(message)),
        Err(err) => Err(ExprError(err.to_string())),
    }
}
