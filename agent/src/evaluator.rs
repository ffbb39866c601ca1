//! The evaluator, in parts that each report their own metrics:
//!
//! * [`windows`]: the node and cluster windows of samples, the PromQL
//!   engine and the plan cache;
//! * [`manager`]: the rule groups with their schedule and saved state;
//! * [`cluster`]: the Swarm watcher (this node's role, the services) and
//!   the leader's cluster targets;
//! * [`targets`]: the scrape targets and the task that scrapes them.
//!
//! [`Evaluator`] wires them. Every `--rules.evaluation-interval` (and
//! whenever a group with its own, shorter `interval` is due) one *cycle*
//! runs ([`run`]): the agent's families are collected on the server's
//! render thread, exactly as `/metrics` would serve them (no HTTP), then,
//! on the evaluator's own thread, appended to the windows with `job` and
//! `instance` labels (series gone for 5 minutes are dropped) and each due
//! group is evaluated through [`StoreQuery`]; due alerts go to the
//! notifier, which only enqueues ([`crate::signals`]).
//!
//! Rules come from `--rules.file` and `--rules.node-file` (loaded once at
//! start; a file that does not load is logged with its errors and skipped,
//! and `sonde_rule_file_errors{file}` says how many errors it had), from
//! the `com.df.*` labels of the containers running on this node and, on
//! the Swarm leader, from the `com.df.*` labels of the Swarm services
//! ([`label_rules`]), re-read at every cycle.
//!
//! Where a rule is evaluated (DESIGN): *node rules* (`--rules.node-file`,
//! container labels) by every agent over its own node's data, the *node
//! window*; *cluster rules* (`--rules.file`, service labels) by the Swarm
//! leader alone, over the *cluster window*: its own samples, every task of
//! the services with a `com.df.scrapePort` service label and every other
//! agent ([`cluster`]). Outside a Swarm the node is the cluster: every rule
//! runs over the node window, and there is no cluster window. An agent
//! that stops leading drops its cluster rules and window; the new leader
//! starts them.
//!
//! The containers with `com.df.scrapePort` are scraped into the node window
//! every interval by a task of their own ([`targets`]), so a slow target
//! never delays a rule evaluation; on the leader the same round scrapes
//! the cluster targets, a target both windows want only once.
//!
//! The windows keep the longest range any rule uses plus the 5-minute
//! lookback, recomputed when the rules change (rules from labels come and
//! go); with no range selector at all, the lookback alone.
//!
//! Locks, in the only order they are ever nested: the rule manager's,
//! then one window's, then (inside a query) none; the plan cache, the
//! Swarm view and the targets' state are each held alone, to copy in or
//! out.

pub mod cluster;
pub mod discover;
pub mod label_rules;
pub mod manager;
mod query;
pub mod targets;
pub mod windows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sonde_exporter::container::MetadataCache;
use sonde_exporter::server::{AppState, WorkThread};
use sonde_instrument::{Collector, Labels, MetricFamily};
use sonde_promql::store::{StoreConfig, WindowStore};
use sonde_promql::{Annotations, EvalError, Value};
use sonde_rules::{Notifier, RuleGroup};

use crate::swarm::{Role, SwarmView};

pub use cluster::{SwarmConfig, SwarmState};
use manager::{LabelSource, RuleManager, window_of};
pub use query::StoreQuery;
pub use targets::{ScrapeConfig, TargetStatus, Targets};
pub use windows::{Window, Windows};

/// The store's source id for the agent's own families.
pub const SELF_SOURCE: &str = "self";

/// What the evaluator is set up with; [`crate::cli::RulesArgs`] fills it.
#[derive(Debug, Clone)]
pub struct EvaluatorConfig {
    /// Prometheus rule files of cluster rules (`--rules.file`).
    pub rule_files: Vec<PathBuf>,
    /// Prometheus rule files of node rules (`--rules.node-file`).
    pub node_rule_files: Vec<PathBuf>,
    /// How often groups without their own `interval` are evaluated, and
    /// how often the store is fed.
    pub evaluation_interval: Duration,
    /// The directory the alert state is saved in (`--storage.path`).
    pub storage_path: PathBuf,
    /// The most series the window store holds (`--window.max-series`).
    pub max_series: usize,
    /// The most samples one query, a rule's or the API's, may hold at once
    /// (`--query.max-samples`).
    pub max_samples: usize,
    /// The `job` label of the agent's own series.
    pub job: String,
    /// The `instance` label of the agent's own series.
    pub instance: String,
    /// How the `com.df.scrapePort` targets are scraped.
    pub scrape: ScrapeConfig,
    /// Where the Swarm is asked about this node's role and the services;
    /// `None`: no Swarm awareness, the node is the cluster.
    pub swarm: Option<SwarmConfig>,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        EvaluatorConfig {
            rule_files: Vec::new(),
            node_rule_files: Vec::new(),
            evaluation_interval: Duration::from_secs(15),
            storage_path: PathBuf::from("data/"),
            max_series: StoreConfig::default().max_series,
            max_samples: sonde_promql::limits::DEFAULT_MAX_SAMPLES,
            job: "sonde".to_owned(),
            instance: hostname(),
            scrape: ScrapeConfig::default(),
            swarm: None,
        }
    }
}

/// This machine's host name (`uname -n`), the default `instance`.
pub fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Which data a rule looks at, and so which agents evaluate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One node's data: every agent, over its node window.
    Node,
    /// The whole cluster's: the Swarm leader (or a lone node), over the
    /// cluster window.
    Cluster,
}

impl Scope {
    /// The name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Node => "node",
            Scope::Cluster => "cluster",
        }
    }
}

/// The evaluator's parts, wired: shared between the loop ([`run`]), the
/// HTTP views and the self metrics.
#[derive(Debug)]
pub struct Evaluator {
    interval: Duration,
    windows: Arc<Windows>,
    rules: RuleManager,
    swarm: Arc<SwarmState>,
    targets: Arc<Targets>,
    /// Where container labels (rules, scrape targets) are read, when the
    /// container collector runs.
    containers: Option<MetadataCache>,
    /// When the cycle running now started (ms since the epoch); 0 between
    /// cycles.
    cycle_since_ms: AtomicI64,
}

impl Evaluator {
    /// Loads the rules, restores their saved state and sizes the windows.
    /// `containers`, when the container collector runs, is where rules
    /// from `com.df.*` labels and scrape targets are read; due alerts go to
    /// `notifier`, which must not wait. Never fails: a broken rule file or
    /// state file is logged and the agent goes on without it.
    pub fn new(config: EvaluatorConfig, containers: Option<MetadataCache>, notifier: Arc<dyn Notifier>) -> Self {
        let extra_labels = Labels::new().with("instance", config.instance.as_str()).with("job", config.job.as_str());
        let store = StoreConfig { retention: sonde_promql::DEFAULT_LOOKBACK, max_series: config.max_series };
        let windows = Arc::new(Windows::new(store, config.max_samples, extra_labels));
        let rules = RuleManager::new(&config, notifier);
        rules.fit(&windows);
        Evaluator {
            interval: config.evaluation_interval,
            windows,
            rules,
            swarm: Arc::new(SwarmState::new(config.swarm)),
            targets: Arc::new(Targets::new(config.scrape, config.evaluation_interval)),
            containers,
            cycle_since_ms: AtomicI64::new(0),
        }
    }

    /// Loads the rule files again, keeping their alerts; on an error the
    /// rules stay as they were ([`RuleManager::reload`]).
    pub fn reload(&self) -> Result<(), String> {
        self.rules.reload(&self.windows)
    }

    /// Why evaluation is stuck: a cycle running for longer than four
    /// intervals (and at least a minute). `None` while it goes on.
    pub fn stuck(&self) -> Option<String> {
        let since = self.cycle_since_ms.load(Ordering::Relaxed);
        let running = Duration::from_millis(u64::try_from(now_ms() - since).unwrap_or(0));
        let limit = (self.interval * 4).max(Duration::from_secs(60));
        (since > 0 && running > limit)
            .then(|| format!("a rule evaluation cycle has been running for {}s", running.as_secs()))
    }

    /// The labels added to the agent's own series (`job`, `instance`).
    pub fn extra_labels(&self) -> &Labels {
        self.windows.extra_labels()
    }

    /// Where the alert state is saved.
    pub fn state_path(&self) -> &Path {
        self.rules.state_path()
    }

    /// How often the windows are fed and groups without an interval run.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the next cycle is due.
    pub fn next_wake(&self) -> Instant {
        self.rules.next_wake()
    }

    /// One cycle at wall time `t_ms` and monotonic time `now`: appends
    /// `families` (the agent's own), drops old series, refreshes the rules
    /// from labels, evaluates the due groups and saves the alert state.
    /// Returns how many groups were evaluated.
    pub fn cycle(&self, families: &[MetricFamily], t_ms: i64, now: Instant) -> usize {
        let role = self.role();
        self.windows.feed(families, t_ms);
        let evaluated = self.rules.cycle(&self.windows, role, self.label_sources(role), t_ms, now);
        // What the rules wrote (recordings, `ALERTS`) counts too.
        self.windows.record_stats(Window::Node);
        if self.windows.leading() {
            self.windows.record_stats(Window::Cluster);
        }
        evaluated
    }

    /// The `com.df.alert*` labels rules are built from, by service: the
    /// containers' here (node rules) and, on the leader, the Swarm
    /// services' (cluster rules), which win for a service that has both.
    fn label_sources(&self, role: Role) -> BTreeMap<String, LabelSource> {
        let mut wanted = BTreeMap::new();
        if let Some(cache) = &self.containers {
            for (service, labels) in label_rules::services(&cache.containers()) {
                wanted.insert(service, LabelSource { labels, replicas: None, scope: Scope::Node });
            }
        }
        if role == Role::Leader {
            for service in &self.swarm.services() {
                let labels = label_rules::alert_labels(&service.labels);
                if !labels.is_empty() {
                    let source = LabelSource { labels, replicas: service.replicas, scope: Scope::Cluster };
                    wanted.insert(service.name.clone(), source);
                }
            }
        }
        wanted
    }

    /// An ad-hoc instant query (`/api/v1/query`) at `t_ms`, over the
    /// cluster window on the leader and the node window elsewhere.
    pub fn instant_query(&self, text: &str, t_ms: i64) -> Result<(Value, Annotations), EvalError> {
        self.windows.instant_query(self.query_window(), text, t_ms)
    }

    /// An ad-hoc range query (`/api/v1/query_range`) from `start_ms` to
    /// `end_ms` every `step_ms`, over the same window as [`Self::instant_query`].
    pub fn range_query(
        &self,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<(Value, Annotations), EvalError> {
        self.windows.range_query(self.query_window(), text, start_ms, end_ms, step_ms)
    }

    /// A range query over the node window, whatever this node's role
    /// (the status page's charts).
    pub fn node_range_query(
        &self,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<(Value, Annotations), EvalError> {
        self.windows.range_query(Window::Node, text, start_ms, end_ms, step_ms)
    }

    /// An instant query over the node window at `t_ms`.
    pub fn node_instant_query(&self, text: &str, t_ms: i64) -> Result<(Value, Annotations), EvalError> {
        self.windows.instant_query(Window::Node, text, t_ms)
    }

    /// The window queries go to: the cluster window on the leader, the
    /// node window elsewhere.
    fn query_window(&self) -> Window {
        window_of(Scope::Cluster, self.role())
    }

    /// This node's Swarm role, as last seen.
    pub fn role(&self) -> Role {
        self.swarm.role()
    }

    /// Takes what the Swarm said. Starting or stopping to lead empties
    /// the cluster window.
    pub fn set_swarm_view(&self, view: SwarmView) {
        self.swarm.take_view(view, &self.windows);
    }

    /// Runs `f` over the rule groups, in evaluation order.
    pub fn with_groups<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &RuleGroup>) -> T) -> T {
        self.rules.with_groups(f)
    }

    /// Reads the window queries go to.
    pub fn read_store(&self) -> RwLockReadGuard<'_, WindowStore> {
        self.windows.read(self.query_window())
    }

    /// Reads one window.
    pub fn read_window(&self, window: Window) -> RwLockReadGuard<'_, WindowStore> {
        self.windows.read(window)
    }

    /// Writes one window (tests put samples in).
    pub fn write_window(&self, window: Window) -> RwLockWriteGuard<'_, WindowStore> {
        self.windows.write(window)
    }

    /// Every scrape target and how its last scrape went (`/api/v1/targets`).
    pub fn target_statuses(&self) -> Vec<TargetStatus> {
        self.targets.statuses()
    }

    /// How often targets are scraped, and the deadline of one scrape.
    pub fn scrape_schedule(&self) -> (Duration, Duration) {
        self.targets.schedule()
    }

    /// One scrape round of the targets in `cache` (and on the leader the
    /// cluster's). Returns how many targets were up.
    pub async fn scrape_targets(&self, cache: &MetadataCache) -> usize {
        self.targets.scrape(cache, &self.windows, &self.swarm).await
    }
}

/// Every part's metrics.
impl Collector for Evaluator {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        self.rules.collect(out);
        self.windows.collect(out);
        self.swarm.collect(out);
        self.targets.collect(out);
    }
}

/// Aborts a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs cycles until the task is dropped: waits for the next due time,
/// collects the agent's families on `state`'s render thread (as a scrape
/// would), then runs [`Evaluator::cycle`] on a thread of its own, so an
/// evaluation never holds up a scrape. The scrape targets are scraped by
/// a task of their own ([`targets::run`]) that ends with this one.
pub async fn run(evaluator: Arc<Evaluator>, state: Arc<AppState>) {
    // The first cycle must know whether this agent leads.
    let swarm = cluster::start(Arc::clone(&evaluator.swarm), Arc::clone(&evaluator.windows), evaluator.interval);
    let _swarm = swarm.await.map(AbortOnDrop);
    let _scrapes = evaluator.containers.clone().map(|cache| {
        let (windows, swarm) = (Arc::clone(&evaluator.windows), Arc::clone(&evaluator.swarm));
        AbortOnDrop(tokio::spawn(targets::run(Arc::clone(&evaluator.targets), cache, windows, swarm)))
    });
    let rules_thread = match WorkThread::start("sonde-rules") {
        Ok(thread) => thread,
        Err(err) => {
            tracing::error!(err = %err, "the rule evaluation thread did not start; no rule is evaluated");
            return;
        }
    };
    let mut lost = false;
    loop {
        let wake = tokio::time::Instant::from_std(evaluator.next_wake());
        tokio::time::sleep_until(wake).await;
        let ev = Arc::clone(&evaluator);
        evaluator.cycle_since_ms.store(now_ms(), Ordering::Relaxed);
        let result = match state.collect_then(|families| families).await {
            Ok(families) => rules_thread.run(move || ev.cycle(&families, now_ms(), Instant::now())).await,
            Err(err) => Err(err),
        };
        evaluator.cycle_since_ms.store(0, Ordering::Relaxed);
        match result {
            Ok(_) => {
                if std::mem::take(&mut lost) {
                    tracing::info!("rule evaluation runs again");
                }
            }
            Err(err) => {
                if !std::mem::replace(&mut lost, true) {
                    tracing::error!(err = %err, "a rule evaluation cycle was lost");
                }
                // A cycle that panicked (a bug) must not be retried at once.
                tokio::time::sleep(evaluator.interval()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
