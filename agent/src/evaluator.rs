//! The evaluation loop: feeds the window store with the agent's own
//! families and evaluates the rule groups over it.
//!
//! Every `--rules.evaluation-interval` (and whenever a group with its own,
//! shorter `interval` is due) one *cycle* runs on the server's render
//! thread ([`AppState::collect_then`]): the agent's families
//! are collected directly, exactly as `/metrics` would serve them (no HTTP),
//! and appended to the [`WindowStore`] with `job` and `instance` labels;
//! series gone for 5 minutes are dropped; then each due group is evaluated
//! through [`StoreQuery`] and the alert state is saved to
//! `<--storage.path>/alerts.json` when it changed (at most a minute late).
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

pub mod cluster;
pub mod label_rules;
mod metrics;
mod query;
pub mod targets;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sonde_exporter::container::MetadataCache;
use sonde_exporter::server::{AppState, WorkThread};
use sonde_instrument::{Labels, MetricFamily};

use crate::swarm::{Role, SwarmView};
use crate::views;
use sonde_promql::store::{StoreConfig, WindowStore};
use sonde_promql::{Annotations, Engine, EvalError, Plan, Value};
use sonde_rules::state::STATE_FILE;
use sonde_rules::{GroupSpec, LabelError, Notifier, RuleGroup, SavedState, load_rule_file};

pub use cluster::SwarmConfig;
pub use query::StoreQuery;
pub use targets::{ScrapeConfig, TargetStatus};

/// The store's source id for the agent's own families.
pub const SELF_SOURCE: &str = "self";

/// How long a changed alert state may wait before it is saved again.
const SAVE_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

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

/// The windows of samples. The cluster window holds data on the Swarm
/// leader only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// This node's samples: its own and its containers'.
    Node,
    /// The leader's view of the cluster: its own samples, every agent and
    /// every task of the services with `com.df.scrapePort`.
    Cluster,
}

impl Window {
    /// The `window` label of the store metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Node => "node",
            Window::Cluster => "cluster",
        }
    }
}

/// Where rules from `com.df.*` labels come from for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelSource {
    /// The `com.df.alert*` labels.
    labels: BTreeMap<String, String>,
    /// The desired replicas, known for Swarm services read on the leader.
    replicas: Option<u64>,
    /// Container labels make node rules; service labels cluster rules.
    scope: Scope,
}

/// A group with its schedule and counters.
#[derive(Debug)]
struct Scheduled {
    group: RuleGroup,
    /// The `rule_group` label: `<file>;<name>`, or the name for rules from labels.
    key: String,
    /// The service whose labels the group came from.
    service: Option<String>,
    scope: Scope,
    next_at: Instant,
    evaluations: u64,
    failures: u64,
}

impl Scheduled {
    fn new(group: RuleGroup, service: Option<String>, scope: Scope, next_at: Instant) -> Self {
        let key = if group.file().is_empty() {
            group.name().to_owned()
        } else {
            format!("{};{}", group.file(), group.name())
        };
        Scheduled { group, key, service, scope, next_at, evaluations: 0, failures: 0 }
    }
}

#[derive(Debug)]
struct Rules {
    groups: Vec<Scheduled>,
    next_feed: Instant,
    /// The `com.df.*` labels the current label groups were built from.
    services: BTreeMap<String, LabelSource>,
    /// The groups of the cluster rule files, instantiated while this agent
    /// evaluates cluster rules.
    cluster_files: Vec<GroupSpec>,
    /// Whether the cluster file groups are in `groups`.
    cluster_files_active: bool,
    /// The labels that rejected a rule, by service.
    label_errors: BTreeMap<String, Vec<LabelError>>,
    /// The state file as read at start, for label groups built later.
    restore_from: Option<SavedState>,
    /// The fingerprint of the alerts as last saved, and when.
    saved: Option<(u64, Instant)>,
    save_failing: bool,
    save_failures: u64,
}

/// The evaluator: the window store, the rule groups and their state.
/// Shared between the loop ([`run`]), the HTTP API and the self metrics.
pub struct Evaluator {
    interval: Duration,
    state_path: PathBuf,
    extra_labels: Labels,
    engine: Engine,
    node_window: RwLock<WindowStore>,
    cluster_window: RwLock<WindowStore>,
    /// What the Swarm said last; standalone until it answers.
    swarm_view: Mutex<SwarmView>,
    swarm: Option<SwarmConfig>,
    /// Times the engine did not say this node's Swarm role.
    swarm_failures: AtomicU64,
    plans: Mutex<HashMap<String, Result<Arc<Plan>, EvalError>>>,
    rules: Mutex<Rules>,
    /// Where due alerts go: a queue that never waits (the agent's
    /// [`crate::signals::AlertQueue`]).
    notifier: Arc<dyn Notifier>,
    /// Every `--rules.file` with its number of errors (0 when it loaded).
    file_errors: Vec<(String, usize)>,
    containers: Option<MetadataCache>,
    store_refusing: AtomicBool,
    targets: targets::Targets,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("interval", &self.interval)
            .field("state_path", &self.state_path)
            .field("extra_labels", &self.extra_labels)
            .finish_non_exhaustive()
    }
}

impl Evaluator {
    /// Loads the rule files (logging those that do not load), restores the
    /// saved alert state and sizes the store. `containers`, when the
    /// container collector runs, is where rules from `com.df.*` labels are
    /// read; due alerts go to `notifier`, which must not wait. Never fails:
    /// a broken rule file or state file is logged and the agent goes on
    /// without it.
    pub fn new(config: EvaluatorConfig, containers: Option<MetadataCache>, notifier: Arc<dyn Notifier>) -> Self {
        let now = Instant::now();
        let t_ms = now_ms();
        let state_path = config.storage_path.join(STATE_FILE);
        let restore_from = match SavedState::load(&state_path) {
            Ok(state) => state,
            Err(err) => {
                tracing::warn!(err = %err, "the saved alert state cannot be read; starting without it");
                None
            }
        };

        let mut file_errors = Vec::new();
        let mut groups = Vec::new();
        let mut cluster_files = Vec::new();
        let files = config.node_rule_files.iter().map(|p| (p, Scope::Node));
        for (path, scope) in files.chain(config.rule_files.iter().map(|p| (p, Scope::Cluster))) {
            let file = path.display().to_string();
            match load_rule_file(path) {
                Ok(specs) => {
                    tracing::info!(file = %file, groups = specs.len(), "loaded rule file");
                    file_errors.push((file, 0));
                    match scope {
                        Scope::Node => groups.extend(specs.into_iter().map(|spec| {
                            let group = RuleGroup::new(spec, config.evaluation_interval, Arc::clone(&notifier));
                            Scheduled::new(group, None, Scope::Node, now)
                        })),
                        Scope::Cluster => cluster_files.extend(specs),
                    }
                }
                Err(errors) => {
                    for err in &errors {
                        tracing::error!(file = %file, err = %err, "rule file not loaded");
                    }
                    file_errors.push((file, errors.len().max(1)));
                }
            }
        }
        // Without Swarm awareness the node is the cluster for good; with
        // it, the first cycle knows whether this agent leads.
        let cluster_files_active = config.swarm.is_none();
        if cluster_files_active {
            groups.extend(cluster_files.iter().map(|spec| {
                let group = RuleGroup::new(spec.clone(), config.evaluation_interval, Arc::clone(&notifier));
                Scheduled::new(group, None, Scope::Cluster, now)
            }));
        }
        if let Some(saved) = &restore_from {
            let restored: usize = groups.iter_mut().map(|s| s.group.restore(saved, t_ms)).sum();
            if restored > 0 {
                tracing::info!(alerts = restored, path = %state_path.display(), "restored alert state");
            }
        }

        let extra_labels = Labels::new().with("instance", config.instance.as_str()).with("job", config.job.as_str());
        let store_config = StoreConfig { retention: sonde_promql::DEFAULT_LOOKBACK, max_series: config.max_series };
        let evaluator = Evaluator {
            interval: config.evaluation_interval,
            state_path,
            extra_labels,
            engine: Engine::default(),
            node_window: RwLock::new(WindowStore::new(store_config)),
            cluster_window: RwLock::new(WindowStore::new(store_config)),
            swarm_view: Mutex::new(SwarmView::standalone()),
            swarm: config.swarm,
            swarm_failures: AtomicU64::new(0),
            plans: Mutex::new(HashMap::new()),
            rules: Mutex::new(Rules {
                groups,
                next_feed: now,
                services: BTreeMap::new(),
                cluster_files,
                cluster_files_active,
                label_errors: BTreeMap::new(),
                restore_from,
                saved: None,
                save_failing: false,
                save_failures: 0,
            }),
            notifier,
            file_errors,
            containers,
            store_refusing: AtomicBool::new(false),
            targets: targets::Targets::new(config.scrape),
        };
        {
            let rules = evaluator.lock_rules();
            evaluator.rules_changed(&rules);
        }
        evaluator
    }

    /// The labels added to the agent's own series (`job`, `instance`).
    pub fn extra_labels(&self) -> &Labels {
        &self.extra_labels
    }

    /// Where the alert state is saved.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// How often the store is fed and groups without an interval run.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the next cycle is due: the next feed or the next due group.
    pub fn next_wake(&self) -> Instant {
        let rules = self.lock_rules();
        rules.groups.iter().map(|s| s.next_at).fold(rules.next_feed, Instant::min)
    }

    /// One cycle at wall time `t_ms` and monotonic time `now`: appends
    /// `families` (the agent's own), drops old series, refreshes the rules
    /// from container labels, evaluates the due groups and saves the alert
    /// state. Returns how many groups were evaluated.
    pub fn cycle(&self, families: &[MetricFamily], t_ms: i64, now: Instant) -> usize {
        let role = self.role();
        self.feed(families, t_ms, role);
        let mut rules = self.lock_rules();
        rules.next_feed = now + self.interval;
        let files_changed = self.refresh_cluster_files(&mut rules, role, t_ms, now);
        if self.refresh_label_rules(&mut rules, role, t_ms, now) || files_changed {
            self.rules_changed(&rules);
        }
        let mut evaluated = 0;
        for scheduled in rules.groups.iter_mut().filter(|s| s.next_at <= now) {
            let query = StoreQuery::new(self, window_of(scheduled.scope, role));
            let report = scheduled.group.eval(&query, t_ms);
            scheduled.evaluations += scheduled.group.rules().len() as u64;
            scheduled.failures += report.errors.len() as u64;
            let interval = scheduled.group.interval().max(Duration::from_millis(1));
            while scheduled.next_at <= now {
                scheduled.next_at += interval;
            }
            evaluated += 1;
        }
        if evaluated > 0 {
            self.save_state(&mut rules, t_ms, now);
        }
        evaluated
    }

    /// Appends the agent's own families to the node window, and on the
    /// leader to the cluster window too; drops old series from both.
    fn feed(&self, families: &[MetricFamily], t_ms: i64, role: Role) {
        if role == Role::Leader {
            let mut store = self.write_window(Window::Cluster);
            store.append_families_from(SELF_SOURCE, families, t_ms, &self.extra_labels);
            store.gc(t_ms);
        }
        let (refused, series, max) = {
            let mut store = self.write_window(Window::Node);
            let stats = store.append_families_from(SELF_SOURCE, families, t_ms, &self.extra_labels);
            store.gc(t_ms);
            (stats.refused, store.series_count(), store.config().max_series)
        };
        let refusing = refused > 0;
        if self.store_refusing.swap(refusing, Ordering::Relaxed) != refusing {
            if refusing {
                tracing::warn!(
                    max_series = max,
                    refused,
                    "the window store is full: samples of new series are dropped; raise --window.max-series"
                );
            } else {
                tracing::info!(series, "the window store takes new series again");
            }
        }
    }

    /// Adds the groups of the cluster rule files when this agent starts
    /// evaluating cluster rules, removes them when it stops. True when
    /// groups were added or removed.
    fn refresh_cluster_files(&self, rules: &mut Rules, role: Role, t_ms: i64, now: Instant) -> bool {
        let wanted = self.swarm.is_none() || role.evaluates_cluster_rules();
        if wanted == rules.cluster_files_active {
            return false;
        }
        rules.cluster_files_active = wanted;
        if !wanted {
            rules.groups.retain(|s| s.scope == Scope::Node || s.service.is_some());
            tracing::info!(
                role = role.as_str(),
                "not the Swarm leader: its cluster rules stop here (the leader's agent evaluates them)"
            );
            return true;
        }
        tracing::info!(role = role.as_str(), groups = rules.cluster_files.len(), "evaluating the cluster rules here");
        for spec in rules.cluster_files.clone() {
            let name = spec.name.clone();
            let mut group = RuleGroup::new(spec, self.interval, Arc::clone(&self.notifier));
            // Once only, as for rules from labels.
            if let Some(saved) = &mut rules.restore_from {
                group.restore(saved, t_ms);
                saved.alerts.retain(|a| a.group != name);
            }
            rules.groups.push(Scheduled::new(group, None, Scope::Cluster, now));
        }
        true
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
            for service in &self.lock_view().services {
                let labels = label_rules::alert_labels(&service.labels);
                if !labels.is_empty() {
                    let source = LabelSource { labels, replicas: service.replicas, scope: Scope::Cluster };
                    wanted.insert(service.name.clone(), source);
                }
            }
        }
        wanted
    }

    /// Rebuilds the groups of services whose `com.df.*` labels (or desired
    /// replicas) changed. True when any group was added, removed or replaced.
    fn refresh_label_rules(&self, rules: &mut Rules, role: Role, t_ms: i64, now: Instant) -> bool {
        let wanted = self.label_sources(role);
        if wanted == rules.services {
            return false;
        }
        let services: Vec<String> = rules.services.keys().chain(wanted.keys()).cloned().collect();
        for service in services {
            let old = rules.services.get(&service);
            let new = wanted.get(&service);
            if old == new {
                continue;
            }
            // The alerts of the group being replaced carry over; a service
            // seen for the first time gets what the state file had.
            let position = rules.groups.iter().position(|s| s.service.as_deref() == Some(&service));
            let previous = position.map(|i| rules.groups.remove(i));
            let saved = previous.as_ref().map(|p| SavedState::from_groups([&p.group], t_ms));
            let Some(source) = new else {
                tracing::info!(service = %service, "the service's com.df.* labels are gone from here, and its rules with them");
                rules.label_errors.remove(&service);
                continue;
            };
            let (alert_rules, errors) = label_rules::build(&service, source.replicas, &source.labels);
            let before = rules.label_errors.remove(&service).unwrap_or_default();
            for err in errors.iter().filter(|e| !before.contains(e)) {
                tracing::warn!(service = %err.service, label = %err.label, err = %err.message, "rule from a service label rejected");
            }
            if !errors.is_empty() {
                rules.label_errors.insert(service.clone(), errors);
            }
            if alert_rules.is_empty() {
                continue;
            }
            let scope = source.scope;
            let replicas = source.replicas.map_or_else(|| "unknown".to_owned(), |r| r.to_string());
            tracing::info!(service = %service, rules = alert_rules.len(), replicas = %replicas, scope = scope.as_str(), "rules from com.df.* labels");
            let spec = GroupSpec {
                name: service.clone(),
                file: String::new(),
                interval: None,
                query_offset: Duration::ZERO,
                limit: 0,
                rules: alert_rules.into_iter().map(sonde_rules::Rule::Alert).collect(),
            };
            let mut group = RuleGroup::new(spec, self.interval, Arc::clone(&self.notifier));
            let mut scheduled = match previous {
                Some(previous) => {
                    let mut s = Scheduled::new(group, Some(service.clone()), scope, previous.next_at.min(now));
                    s.evaluations = previous.evaluations;
                    s.failures = previous.failures;
                    s
                }
                None => {
                    // Once only: a service that goes and comes back later
                    // starts afresh, as after any removal.
                    if let Some(saved) = &mut rules.restore_from {
                        group.restore(saved, t_ms);
                        saved.alerts.retain(|a| a.group != service);
                    }
                    Scheduled::new(group, Some(service.clone()), scope, now)
                }
            };
            if let Some(saved) = saved {
                scheduled.group.restore(&saved, t_ms);
            }
            rules.groups.push(scheduled);
        }
        rules.services = wanted;
        true
    }

    /// Resizes the windows for the rules and forgets plans no rule uses.
    fn rules_changed(&self, rules: &Rules) {
        let mut longest = Duration::ZERO;
        let mut exprs = std::collections::HashSet::new();
        for scheduled in &rules.groups {
            for rule in scheduled.group.rules() {
                let expr = match rule {
                    sonde_rules::GroupRule::Alert(r) => &r.rule().expr,
                    sonde_rules::GroupRule::Record(r) => &r.rule().expr,
                };
                if let Ok(plan) = self.plan(expr) {
                    longest = longest.max(plan.max_range());
                }
                exprs.insert(expr.clone());
            }
        }
        self.lock_plans().retain(|expr, _| exprs.contains(expr));
        let retention = longest + self.engine.lookback;
        for window in [Window::Node, Window::Cluster] {
            let mut store = self.write_window(window);
            if store.config().retention != retention {
                tracing::debug!(
                    window = window.as_str(),
                    retention_seconds = retention.as_secs_f64(),
                    "window store retention"
                );
                store.set_retention(retention);
            }
        }
    }

    fn save_state(&self, rules: &mut Rules, t_ms: i64, now: Instant) {
        let (fingerprint, alerts) = SavedState::fingerprint(rules.groups.iter().map(|s| &s.group));
        let due = match &rules.saved {
            // Nothing was ever saved: only an alert makes a file worth writing.
            None => alerts > 0 || rules.restore_from.as_ref().is_some_and(|s| !s.alerts.is_empty()),
            Some((last, at)) => *last != fingerprint || (alerts > 0 && now.duration_since(*at) >= SAVE_AT_LEAST_EVERY),
        };
        if !due {
            return;
        }
        let state = SavedState::from_groups(rules.groups.iter().map(|s| &s.group), t_ms);
        match state.save(&self.state_path) {
            Ok(()) => {
                if std::mem::take(&mut rules.save_failing) {
                    tracing::info!(path = %self.state_path.display(), "alert state saved again");
                }
                rules.saved = Some((fingerprint, now));
            }
            Err(err) => {
                rules.save_failures += 1;
                if !std::mem::replace(&mut rules.save_failing, true) {
                    tracing::warn!(err = %err, "saving the alert state failed");
                }
            }
        }
    }

    /// The prepared plan of `expr`, from the cache.
    fn plan(&self, expr: &str) -> Result<Arc<Plan>, EvalError> {
        if let Some(plan) = self.lock_plans().get(expr) {
            return plan.clone();
        }
        let plan = sonde_promql::parse(expr).and_then(|e| self.engine.prepare(&e)).map(Arc::new);
        self.lock_plans().insert(expr.to_owned(), plan.clone());
        plan
    }

    /// An ad-hoc instant query (`/api/v1/query`) at `t_ms`, over the
    /// cluster window on the leader and the node window elsewhere.
    pub fn instant_query(&self, text: &str, t_ms: i64) -> Result<(Value, Annotations), EvalError> {
        let expr = sonde_promql::parse(text)?;
        let plan = self.engine.prepare(&expr)?;
        let store = self.read_store();
        self.engine.instant_plan(&plan, &store, t_ms)
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
        let expr = sonde_promql::parse(text)?;
        let plan = self.engine.prepare(&expr)?;
        let step = Duration::from_millis(u64::try_from(step_ms).unwrap_or(1));
        let store = self.read_store();
        self.engine.range_plan(&plan, &store, start_ms, end_ms, step)
    }

    /// This node's Swarm role, as last seen.
    pub fn role(&self) -> Role {
        self.lock_view().role
    }

    /// Takes what the Swarm said. Starting or stopping to lead empties
    /// the cluster window: a new leader starts from fresh scrapes, and one
    /// that no longer leads frees the memory.
    pub fn set_swarm_view(&self, view: SwarmView) {
        let mut current = self.lock_view();
        let (before, after) = (current.role, view.role);
        if before != after {
            tracing::info!(from = before.as_str(), to = after.as_str(), "Swarm role changed");
            if before == Role::Leader || after == Role::Leader {
                let mut store = self.write_window(Window::Cluster);
                let config = store.config();
                *store = WindowStore::new(config);
            }
        }
        *current = view;
    }

    fn lock_view(&self) -> MutexGuard<'_, SwarmView> {
        self.swarm_view.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` over the rule groups, in evaluation order.
    pub fn with_groups<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &RuleGroup>) -> T) -> T {
        let rules = self.lock_rules();
        f(&mut rules.groups.iter().map(|s| &s.group))
    }

    /// Reads the window queries go to: the cluster window on the leader,
    /// the node window elsewhere.
    pub fn read_store(&self) -> RwLockReadGuard<'_, WindowStore> {
        self.read_window(window_of(Scope::Cluster, self.role()))
    }

    /// Reads one window.
    pub fn read_window(&self, window: Window) -> RwLockReadGuard<'_, WindowStore> {
        self.lock_window(window).read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_window(&self, window: Window) -> RwLockWriteGuard<'_, WindowStore> {
        self.lock_window(window).write().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_window(&self, window: Window) -> &RwLock<WindowStore> {
        match window {
            Window::Node => &self.node_window,
            Window::Cluster => &self.cluster_window,
        }
    }

    // A panic while a lock was held (a bug) leaves data that is still
    // consistent enough to go on with: the groups and the cache.
    fn lock_rules(&self) -> MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_plans(&self) -> MutexGuard<'_, HashMap<String, Result<Arc<Plan>, EvalError>>> {
        self.plans.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The window a rule of `scope` looks at: the cluster window is the
/// leader's; a lone node is its own cluster.
fn window_of(scope: Scope, role: Role) -> Window {
    match (scope, role) {
        (Scope::Cluster, Role::Leader) => Window::Cluster,
        _ => Window::Node,
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
    let _swarm = cluster::start(&evaluator).await.map(AbortOnDrop);
    let _scrapes = AbortOnDrop(tokio::spawn(targets::run(Arc::clone(&evaluator))));
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
        let result = match state.collect_then(|families| families).await {
            Ok(families) => rules_thread.run(move || ev.cycle(&families, now_ms(), Instant::now())).await,
            Err(err) => Err(err),
        };
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

impl views::Queries for Evaluator {
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

impl views::RuleGroups for Evaluator {
    fn with_groups(&self, f: &mut dyn FnMut(&mut dyn Iterator<Item = &RuleGroup>)) {
        Evaluator::with_groups(self, |groups| f(groups));
    }
}

impl views::ScrapeTargets for Evaluator {
    fn target_statuses(&self) -> Vec<TargetStatus> {
        Evaluator::target_statuses(self)
    }

    fn scrape_schedule(&self) -> (Duration, Duration) {
        Evaluator::scrape_schedule(self)
    }
}

impl views::SwarmRole for Evaluator {
    fn role(&self) -> Role {
        Evaluator::role(self)
    }
}

#[cfg(test)]
mod tests;
