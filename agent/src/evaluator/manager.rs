//! The rule manager: the rule groups with their schedule and saved
//! state, as Prometheus' `rules/manager.go` keeps them.
//!
//! Groups come from `--rules.node-file` (node rules, every agent), from
//! `--rules.file` (cluster rules: instantiated while this agent evaluates
//! cluster rules) and from `com.df.*` labels (rebuilt when a service's
//! labels or replicas change; its alerts carry over). The alert state is
//! saved to `<--storage.path>/alerts.json` when it changed (at most a
//! minute late) and restored at start, once per group.
//!
//! Its one lock (`rules`) is taken first: a cycle holds it while the
//! queries it makes lock a window, never the other way round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sonde_instrument::{Collector, Labels, MetricFamily};
use sonde_rules::STATE_FILE;
use sonde_rules::{GroupRule, GroupSpec, LabelError, Notifier, RuleGroup, SavedState, load_rule_file};

use super::query::StoreQuery;
use super::windows::{Window, Windows};
use super::{EvaluatorConfig, Scope, label_rules, now_ms};
use crate::swarm::Role;

/// How long a changed alert state may wait before it is saved again.
const SAVE_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

/// Where rules from `com.df.*` labels come from for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSource {
    /// The `com.df.alert*` labels.
    pub labels: BTreeMap<String, String>,
    /// The desired replicas, known for Swarm services read on the leader.
    pub replicas: Option<u64>,
    /// Container labels make node rules; service labels cluster rules.
    pub scope: Scope,
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
    /// Every rule file with its number of errors (0 when it loaded), as of
    /// the start or the last successful reload.
    file_errors: Vec<(String, usize)>,
    reload: ReloadStatus,
}

/// The rule groups, their schedule and their saved state.
pub struct RuleManager {
    interval: Duration,
    state_path: PathBuf,
    /// Whether the Swarm decides who evaluates cluster rules (else this
    /// agent always does).
    swarm_aware: bool,
    /// Where due alerts go: a queue that never waits (the agent's
    /// [`crate::signals::AlertQueue`]).
    notifier: Arc<dyn Notifier>,
    /// The rule files, read at start and on every reload.
    files: RuleFiles,
    rules: Mutex<Rules>,
}

/// `--rules.node-file` and `--rules.file`.
#[derive(Debug, Clone)]
struct RuleFiles {
    node: Vec<PathBuf>,
    cluster: Vec<PathBuf>,
}

/// What the rule files held.
#[derive(Debug)]
struct Loaded {
    node: Vec<GroupSpec>,
    cluster: Vec<GroupSpec>,
    /// Every file with its number of errors (0 when it loaded).
    errors: Vec<(String, usize)>,
}

impl RuleFiles {
    /// Loads every file, logging those that do not load.
    fn load(&self) -> Loaded {
        let mut loaded = Loaded { node: Vec::new(), cluster: Vec::new(), errors: Vec::new() };
        let files = self.node.iter().map(|p| (p, Scope::Node));
        for (path, scope) in files.chain(self.cluster.iter().map(|p| (p, Scope::Cluster))) {
            let file = path.display().to_string();
            match load_rule_file(path) {
                Ok(specs) => {
                    tracing::info!(file = %file, groups = specs.len(), "loaded rule file");
                    loaded.errors.push((file, 0));
                    match scope {
                        Scope::Node => loaded.node.extend(specs),
                        Scope::Cluster => loaded.cluster.extend(specs),
                    }
                }
                Err(errors) => {
                    for err in &errors {
                        tracing::error!(file = %file, err = %err, "rule file not loaded");
                    }
                    loaded.errors.push((file, errors.len().max(1)));
                }
            }
        }
        loaded
    }
}

/// How the last reload went, as Prometheus' `prometheus_config_last_reload_*`.
#[derive(Debug, Clone, Copy)]
struct ReloadStatus {
    successful: bool,
    last_success_ms: i64,
}

impl std::fmt::Debug for RuleManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManager")
            .field("interval", &self.interval)
            .field("state_path", &self.state_path)
            .finish_non_exhaustive()
    }
}

impl RuleManager {
    /// Loads the rule files (logging those that do not load) and restores
    /// the saved alert state. Never fails: a broken rule file or state file
    /// is logged and the agent goes on without it.
    pub fn new(config: &EvaluatorConfig, notifier: Arc<dyn Notifier>) -> Self {
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
        let files = RuleFiles { node: config.node_rule_files.clone(), cluster: config.rule_files.clone() };
        // At start a file that does not load is left out; the others run.
        let loaded = files.load();
        // Without Swarm awareness the node is the cluster for good; with
        // it, the first cycle knows whether this agent leads.
        let cluster_files_active = config.swarm.is_none();
        let manager = RuleManager {
            interval: config.evaluation_interval,
            state_path,
            swarm_aware: config.swarm.is_some(),
            notifier,
            files,
            rules: Mutex::new(Rules {
                groups: Vec::new(),
                next_feed: now,
                services: BTreeMap::new(),
                cluster_files: Vec::new(),
                cluster_files_active,
                label_errors: BTreeMap::new(),
                file_errors: Vec::new(),
                restore_from,
                saved: None,
                save_failing: false,
                save_failures: 0,
                reload: ReloadStatus { successful: true, last_success_ms: t_ms },
            }),
        };
        {
            let mut rules = manager.lock_rules();
            manager.install(&mut rules, loaded, now);
            if let Some(saved) = rules.restore_from.take() {
                let restored: usize = rules.groups.iter_mut().map(|s| s.group.restore(&saved, t_ms)).sum();
                if restored > 0 {
                    tracing::info!(alerts = restored, path = %manager.state_path.display(), "restored alert state");
                }
                rules.restore_from = Some(saved);
            }
        }
        manager
    }

    /// Loads the rule files again (SIGHUP, `/-/reload`), as Prometheus
    /// reloads its configuration: if every file loads, the file groups are
    /// replaced and their alerts carried over; if one does not, the rules
    /// stay as they were and `sonde_config_last_reload_successful` says 0.
    /// Groups from `com.df.*` labels are not touched.
    pub fn reload(&self, windows: &Windows) -> Result<(), String> {
        let loaded = self.files.load();
        let now = Instant::now();
        let t_ms = now_ms();
        let mut rules = self.lock_rules();
        if let Some((file, errors)) = loaded.errors.iter().find(|(_, errors)| *errors > 0) {
            rules.reload.successful = false;
            return Err(format!("{file} has {errors} error(s); the rules loaded before stay"));
        }
        let carried =
            SavedState::from_groups(rules.groups.iter().filter(|s| s.service.is_none()).map(|s| &s.group), t_ms);
        rules.groups.retain(|s| s.service.is_some());
        self.install(&mut rules, loaded, now);
        for scheduled in rules.groups.iter_mut().filter(|s| s.service.is_none()) {
            scheduled.group.restore(&carried, t_ms);
        }
        rules.reload = ReloadStatus { successful: true, last_success_ms: t_ms };
        Self::rules_changed(&rules, windows);
        let groups = rules.groups.iter().filter(|s| s.service.is_none()).count();
        tracing::info!(groups, "rule files reloaded");
        Ok(())
    }

    /// Puts loaded file groups in place: node groups at once, cluster
    /// groups while this agent evaluates cluster rules.
    fn install(&self, rules: &mut Rules, loaded: Loaded, now: Instant) {
        let new = |spec: GroupSpec, scope| {
            Scheduled::new(RuleGroup::new(spec, self.interval, Arc::clone(&self.notifier)), None, scope, now)
        };
        rules.groups.extend(loaded.node.into_iter().map(|spec| new(spec, Scope::Node)));
        if rules.cluster_files_active {
            rules.groups.extend(loaded.cluster.iter().cloned().map(|spec| new(spec, Scope::Cluster)));
        }
        rules.cluster_files = loaded.cluster;
        rules.file_errors = loaded.errors;
    }

    /// Sizes `windows` for the rules loaded at start.
    pub fn fit(&self, windows: &Windows) {
        Self::rules_changed(&self.lock_rules(), windows);
    }

    /// Where the alert state is saved.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// When the next cycle is due: the next feed or the next due group.
    pub fn next_wake(&self) -> Instant {
        let rules = self.lock_rules();
        rules.groups.iter().map(|s| s.next_at).fold(rules.next_feed, Instant::min)
    }

    /// Runs `f` over the rule groups, in evaluation order.
    pub fn with_groups<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &RuleGroup>) -> T) -> T {
        let rules = self.lock_rules();
        f(&mut rules.groups.iter().map(|s| &s.group))
    }

    /// Refreshes the rules (the cluster files for `role`, the groups from
    /// `labels`), evaluates the due groups over `windows` and saves the
    /// alert state. Returns how many groups were evaluated.
    ///
    /// Holds the rules' lock throughout, and takes a window's lock for
    /// each query or append inside it (never the reverse order).
    pub fn cycle(
        &self,
        windows: &Windows,
        role: Role,
        labels: BTreeMap<String, LabelSource>,
        t_ms: i64,
        now: Instant,
    ) -> usize {
        let mut rules = self.lock_rules();
        rules.next_feed = now + self.interval;
        let files_changed = self.refresh_cluster_files(&mut rules, role, self.swarm_aware, t_ms, now);
        if self.refresh_label_rules(&mut rules, labels, t_ms, now) || files_changed {
            Self::rules_changed(&rules, windows);
        }
        let mut evaluated = 0;
        for scheduled in rules.groups.iter_mut().filter(|s| s.next_at <= now) {
            let query = StoreQuery::new(windows, window_of(scheduled.scope, role));
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

    /// Adds the groups of the cluster rule files when this agent starts
    /// evaluating cluster rules, removes them when it stops. True when
    /// groups were added or removed.
    fn refresh_cluster_files(&self, rules: &mut Rules, role: Role, swarm_aware: bool, t_ms: i64, now: Instant) -> bool {
        let wanted = !swarm_aware || role.evaluates_cluster_rules();
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

    /// Rebuilds the groups of services whose `com.df.*` labels (or desired
    /// replicas) changed. True when any group was added, removed or replaced.
    fn refresh_label_rules(
        &self,
        rules: &mut Rules,
        wanted: BTreeMap<String, LabelSource>,
        t_ms: i64,
        now: Instant,
    ) -> bool {
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

    /// Sizes the windows for the rules and forgets plans no rule uses.
    fn rules_changed(rules: &Rules, windows: &Windows) {
        let exprs = rules.groups.iter().flat_map(|s| s.group.rules()).map(|rule| match rule {
            GroupRule::Alert(r) => r.rule().expr.as_str(),
            GroupRule::Record(r) => r.rule().expr.as_str(),
        });
        windows.fit(exprs);
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

    // A panic while the lock was held (a bug) leaves groups that are still
    // consistent enough to go on with.
    fn lock_rules(&self) -> MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The window a rule of `scope` looks at: the cluster window is the
/// leader's; a lone node is its own cluster.
pub(super) fn window_of(scope: Scope, role: Role) -> Window {
    match (scope, role) {
        (Scope::Cluster, Role::Leader) => Window::Cluster,
        _ => Window::Node,
    }
}

/// The rule metrics, named after Prometheus' `prometheus_rule_*`.
impl Collector for RuleManager {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        {
            let rules = self.lock_rules();
            let mut evaluations = MetricFamily::counter("sonde_rule_evaluations", "Rule evaluations, per rule group.");
            let mut failures = MetricFamily::counter(
                "sonde_rule_evaluation_failures",
                "Rule evaluations that failed, per rule group.",
            );
            let mut duration = MetricFamily::gauge(
                "sonde_rule_group_last_duration_seconds",
                "How long the last evaluation of the rule group took.",
            )
            .with_unit("seconds");
            let mut last = MetricFamily::gauge(
                "sonde_rule_group_last_evaluation_timestamp_seconds",
                "When the rule group was last evaluated, in seconds since the Unix epoch.",
            )
            .with_unit("seconds");
            let mut interval =
                MetricFamily::gauge("sonde_rule_group_interval_seconds", "How often the rule group is evaluated.")
                    .with_unit("seconds");
            let mut count = MetricFamily::gauge("sonde_rule_group_rules", "Rules in the rule group.");
            for scheduled in &rules.groups {
                let labels = Labels::new().with("rule_group", scheduled.key.as_str());
                evaluations.push(labels.clone(), scheduled.evaluations as f64);
                failures.push(labels.clone(), scheduled.failures as f64);
                let (at_ms, took) = scheduled.group.last_eval().unwrap_or_default();
                duration.push(labels.clone(), took.as_secs_f64());
                last.push(labels.clone(), at_ms as f64 / 1000.0);
                interval.push(labels.clone(), scheduled.group.interval().as_secs_f64());
                count.push(labels, scheduled.group.rules().len() as f64);
            }
            // Like client_golang's vectors, a family without series is left out.
            let per_group = [evaluations, failures, duration, last, interval, count];
            out.extend(per_group.into_iter().filter(|f| !f.samples.is_empty()));

            let mut label_errors = MetricFamily::gauge(
                "sonde_rule_label_errors",
                "Service labels that rejected a rule from com.df.* labels (1 per label).",
            );
            for err in rules.label_errors.values().flatten() {
                label_errors
                    .push(Labels::new().with("label", err.label.as_str()).with("service", err.service.as_str()), 1.0);
            }
            if !label_errors.samples.is_empty() {
                out.push(label_errors);
            }
            out.push(
                MetricFamily::counter(
                    "sonde_rule_state_save_failures",
                    "Times the alert state could not be saved under --storage.path.",
                )
                .with_sample(Labels::new(), rules.save_failures as f64),
            );
            let mut file_errors = MetricFamily::gauge(
                "sonde_rule_file_errors",
                "Errors in a --rules.file; a file with errors is not evaluated.",
            );
            for (file, errors) in &rules.file_errors {
                file_errors.push(Labels::new().with("file", file.as_str()), *errors as f64);
            }
            if !file_errors.samples.is_empty() {
                out.push(file_errors);
            }
            out.push(
                MetricFamily::gauge(
                    "sonde_config_last_reload_successful",
                    "Whether the last reload of the rule files (SIGHUP) succeeded.",
                )
                .with_sample(Labels::new(), f64::from(u8::from(rules.reload.successful))),
            );
            out.push(
                MetricFamily::gauge(
                    "sonde_config_last_reload_success_timestamp_seconds",
                    "When the rule files were last loaded successfully, in seconds since the Unix epoch.",
                )
                .with_unit("seconds")
                .with_sample(Labels::new(), rules.reload.last_success_ms as f64 / 1000.0),
            );
        }
    }
}
