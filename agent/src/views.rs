//! What the HTTP side sees of the evaluator: small read-only views, as
//! Prometheus' API sees a query engine, a rules retriever and a targets
//! retriever and never the rule manager. The server, the API and the
//! status page depend on these traits, implemented here for the
//! [`Evaluator`] (which knows nothing of them).

use std::sync::Arc;
use std::time::Duration;

use sonde_promql::{Annotations, EvalError, Value};
use sonde_rules::RuleGroup;

use crate::evaluator::{Evaluator, TargetStatus};
use crate::swarm::Role;

/// Ad-hoc PromQL over the window queries go to.
pub trait Queries: Send + Sync {
    /// An instant query at `t_ms`.
    fn instant_query(&self, text: &str, t_ms: i64) -> Result<(Value, Annotations), EvalError>;
    /// A range query from `start_ms` to `end_ms` every `step_ms`.
    fn range_query(
        &self,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<(Value, Annotations), EvalError>;
}

/// The rule groups and their alerts.
pub trait RuleGroups: Send + Sync {
    /// Calls `f` with the groups, in evaluation order.
    fn with_groups(&self, f: &mut dyn FnMut(&mut dyn Iterator<Item = &RuleGroup>));
}

/// The scrape targets and their last scrape.
pub trait ScrapeTargets: Send + Sync {
    /// Every target with its last scrape.
    fn target_statuses(&self) -> Vec<TargetStatus>;
    /// The scrape interval and timeout.
    fn scrape_schedule(&self) -> (Duration, Duration);
}

/// This node's Swarm role.
pub trait SwarmRole: Send + Sync {
    /// The role, as last seen.
    fn role(&self) -> Role;
}

/// This node's own recent samples, whatever this node's role: the status
/// page's charts. The node window, never the cluster window, so a
/// leader's page shows its own node as a worker's does.
pub trait NodeHistory: Send + Sync {
    /// A range query over the node window from `start_ms` to `end_ms`
    /// every `step_ms`.
    fn node_range_query(&self, text: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Value, EvalError>;
    /// An instant query over the node window at `t_ms`.
    fn node_instant_query(&self, text: &str, t_ms: i64) -> Result<Value, EvalError>;
    /// The `job` and `instance` labels of the agent's own series (the node
    /// window holds its scrape targets' series too).
    fn own_labels(&self) -> (String, String);
    /// How often the agent's own samples enter the window.
    fn sample_interval(&self) -> Duration;
}

/// Whether the evaluation loop goes on (`/-/ready`).
pub trait Progress: Send + Sync {
    /// Why evaluation is stuck, if it is.
    fn stuck(&self) -> Option<String>;
}

/// The views the server is given.
#[derive(Clone)]
pub struct Views {
    /// `/api/v1/query`, `/api/v1/query_range`.
    pub queries: Arc<dyn Queries>,
    /// `/api/v1/rules`, `/api/v1/alerts`, the status page.
    pub rules: Arc<dyn RuleGroups>,
    /// `/api/v1/targets`, the status page.
    pub targets: Arc<dyn ScrapeTargets>,
    /// The status page.
    pub role: Arc<dyn SwarmRole>,
    /// The status page's charts.
    pub node: Arc<dyn NodeHistory>,
    /// `/-/ready`.
    pub progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views").finish_non_exhaustive()
    }
}

impl Views {
    /// Every view from one object that implements them all.
    pub fn of<T: Queries + RuleGroups + ScrapeTargets + SwarmRole + NodeHistory + Progress + 'static>(
        all: Arc<T>,
    ) -> Self {
        Views {
            queries: all.clone(),
            rules: all.clone(),
            targets: all.clone(),
            role: all.clone(),
            node: all.clone(),
            progress: all,
        }
    }

    /// [`RuleGroups::with_groups`] returning what `f` returns.
    pub fn groups<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &RuleGroup>) -> T) -> T {
        let mut f = Some(f);
        let mut out = None;
        self.rules.with_groups(&mut |groups| {
            if let Some(f) = f.take() {
                out = Some(f(groups));
            }
        });
        // `with_groups` always calls back once; an implementation that did
        // not would be a bug, and an empty iterator is the honest answer.
        match out {
            Some(out) => out,
            None => (f.take().map(|f| f(&mut std::iter::empty())))
                .unwrap_or_else(|| unreachable!("the callback ran but left no answer")),
        }
    }
}

impl Queries for Evaluator {
    fn instant_query(&self, text: &str, t_ms: i64) -> Result<(Value, Annotations), EvalError> {
        Evaluator::instant_query(self, text, t_ms)
    }

    fn range_query(
        &self,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<(Value, Annotations), EvalError> {
        Evaluator::range_query(self, text, start_ms, end_ms, step_ms)
    }
}

impl RuleGroups for Evaluator {
    fn with_groups(&self, f: &mut dyn FnMut(&mut dyn Iterator<Item = &RuleGroup>)) {
        Evaluator::with_groups(self, |groups| f(groups));
    }
}

impl ScrapeTargets for Evaluator {
    fn target_statuses(&self) -> Vec<TargetStatus> {
        Evaluator::target_statuses(self)
    }

    fn scrape_schedule(&self) -> (Duration, Duration) {
        Evaluator::scrape_schedule(self)
    }
}

impl SwarmRole for Evaluator {
    fn role(&self) -> Role {
        Evaluator::role(self)
    }
}

impl NodeHistory for Evaluator {
    fn node_range_query(&self, text: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Value, EvalError> {
        self.node_range_query(text, start_ms, end_ms, step_ms).map(|(value, _)| value)
    }

    fn node_instant_query(&self, text: &str, t_ms: i64) -> Result<Value, EvalError> {
        self.node_instant_query(text, t_ms).map(|(value, _)| value)
    }

    fn own_labels(&self) -> (String, String) {
        let labels = self.extra_labels();
        let get = |name: &str| labels.get(name).unwrap_or_default().to_owned();
        (get("job"), get("instance"))
    }

    fn sample_interval(&self) -> Duration {
        self.interval()
    }
}

impl Progress for Evaluator {
    fn stuck(&self) -> Option<String> {
        Evaluator::stuck(self)
    }
}
