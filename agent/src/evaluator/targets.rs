//! Scrape targets: the containers running on this node that carry
//! `com.df.scrapePort` (SPEC §3), scraped into the node window, and on the
//! Swarm leader the tasks of every service and every agent
//! ([`super::cluster::targets`]), scraped into the cluster window. A target
//! both windows want (a task of this node) is scraped once.
//!
//! Every `--rules.evaluation-interval` the targets are read from the
//! container metadata cache ([`discover`]: `http://<container address>:<port><com.df.metricsPath>`,
//! `job` = the Swarm service, or the container name outside Swarm,
//! `instance` = `<address>:<port>`), all are scraped at once, each under
//! `--scrape.timeout` (at most the interval) and `--scrape.body-size-limit`,
//! and each answer is parsed and appended with `job` and `instance` (the
//! target's own labels of those names become `exported_job` and
//! `exported_instance`, as in Prometheus). The store's source id of a
//! target is its URL, so a series the target stops exposing, every series
//! of a failed scrape, and every series of a target that goes away get a
//! staleness marker.
//!
//! With each scrape the window also gets Prometheus' report series
//! `up`, `scrape_duration_seconds` and `scrape_samples_scraped`
//! `{job, instance}`, so rules can say `up == 0`; `/metrics` gets
//! `sonde_scrape_target_up{job, instance}`. A target going down or coming
//! back is one log line, never one per scrape; a failing target never
//! holds up the others.

mod fetch;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sonde_exporter::container::MetadataCache;
use sonde_instrument::{Collector, Labels, MetricFamily};

pub use fetch::{ACCEPT, FetchError};

use super::cluster::SwarmState;
pub use super::discover::{
    DEFAULT_METRICS_PATH, Feeds, METRICS_PATH_LABEL, Origin, Rejected, SCRAPE_PORT_LABEL, Target, discover, merge,
    port_and_path, target_of,
};
use super::now_ms;
use super::windows::{Window, Windows};
use crate::swarm::Role;

/// The default `--scrape.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default `--scrape.body-size-limit`: 10 MiB.
pub const DEFAULT_BODY_SIZE_LIMIT: usize = 10 << 20;

/// How targets are scraped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeConfig {
    /// The deadline of one scrape (`--scrape.timeout`); the evaluation
    /// interval when that is shorter.
    pub timeout: Duration,
    /// The most bytes of body read from a target (`--scrape.body-size-limit`);
    /// 0 means no limit.
    pub body_size_limit: usize,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig { timeout: DEFAULT_TIMEOUT, body_size_limit: DEFAULT_BODY_SIZE_LIMIT }
    }
}

/// What the last scrape of a target said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Not scraped yet.
    Unknown,
    Up,
    Down,
}

#[derive(Debug)]
struct TargetState {
    target: Target,
    health: Health,
    /// The last scrape: when (ms since the epoch), how long, and why it
    /// failed.
    last: Option<(i64, Duration, Option<String>)>,
}

/// One target as `/api/v1/targets` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetStatus {
    /// The target.
    pub target: Target,
    /// `up`, `down`, or `unknown` before its first scrape.
    pub health: &'static str,
    /// When it was last scraped (ms since the epoch), how long that took,
    /// and why it failed; `None` before its first scrape.
    pub last: Option<(i64, Duration, Option<String>)>,
}

#[derive(Debug, Default)]
struct State {
    targets: BTreeMap<String, TargetState>,
    rejected: BTreeSet<Rejected>,
    /// Whether the last round had samples refused by the full store.
    refusing: bool,
}

/// The targets and their health: scraped by [`run`], reported on
/// `/metrics` and `/api/v1/targets`. Its lock is never held while a
/// window is locked: a round records every outcome, then appends.
#[derive(Debug)]
pub struct Targets {
    config: ScrapeConfig,
    /// How often targets are scraped (the evaluation interval).
    interval: Duration,
    state: Mutex<State>,
}

/// One target's answer, before parsing.
#[derive(Debug)]
struct Scraped {
    t_ms: i64,
    duration: Duration,
    result: Result<fetch::Body, FetchError>,
}

impl Targets {
    /// No target yet; scraped every `interval`.
    pub fn new(config: ScrapeConfig, interval: Duration) -> Self {
        Targets { config, interval, state: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a discovery: logs new targets and new rejections, returns the
    /// URLs whose series must leave a window (the target is gone, or that
    /// window no longer wants it).
    fn rediscover(&self, targets: &[Target], rejected: Vec<Rejected>) -> Vec<(String, Feeds)> {
        let mut state = self.lock();
        let rejected: BTreeSet<Rejected> = rejected.into_iter().collect();
        for r in rejected.difference(&state.rejected) {
            tracing::warn!(from = %r.origin, label = r.label, reason = %r.reason, "not scraped");
        }
        state.rejected = rejected;
        let wanted: BTreeMap<&str, Feeds> = targets.iter().map(|t| (t.url.as_str(), t.windows)).collect();
        let mut cleared = Vec::new();
        state.targets.retain(|url, known| {
            let now = wanted.get(url.as_str()).copied().unwrap_or_default();
            let before = known.target.windows;
            let lost = Feeds { node: before.node && !now.node, cluster: before.cluster && !now.cluster };
            if lost != Feeds::default() {
                cleared.push((url.clone(), lost));
            }
            let keep = now != Feeds::default();
            if !keep {
                tracing::info!(url = %url, job = %known.target.job, from = %known.target.origin, "scrape target gone");
            }
            keep
        });
        for target in targets {
            match state.targets.get_mut(&target.url) {
                Some(known) => known.target = target.clone(),
                None => {
                    tracing::info!(url = %target.url, job = %target.job, from = %target.origin, "new scrape target");
                    state.targets.insert(
                        target.url.clone(),
                        TargetState { target: target.clone(), health: Health::Unknown, last: None },
                    );
                }
            }
        }
        cleared
    }

    /// Records a scrape's outcome; one log line when the health changes.
    fn record(&self, url: &str, scraped: &Scraped, error: Option<&FetchError>) {
        let mut state = self.lock();
        let Some(known) = state.targets.get_mut(url) else { return };
        known.last = Some((scraped.t_ms, scraped.duration, error.map(ToString::to_string)));
        let health = if error.is_some() { Health::Down } else { Health::Up };
        let before = std::mem::replace(&mut known.health, health);
        match (before, error) {
            (Health::Down, None) => tracing::info!(url = %url, job = %known.target.job, "scrape target up again"),
            (Health::Up | Health::Unknown, Some(err)) => {
                tracing::warn!(url = %url, job = %known.target.job, err = %err, "scrape target down");
            }
            _ => {}
        }
    }

    fn note_refused(&self, refused: u64, max_series: usize) {
        let refusing = refused > 0;
        let mut state = self.lock();
        if std::mem::replace(&mut state.refusing, refusing) != refusing {
            if refusing {
                tracing::warn!(
                    max_series,
                    refused,
                    "the window store is full: samples of scraped series are dropped; raise --window.max-series"
                );
            } else {
                tracing::info!("the window store takes scraped series again");
            }
        }
    }

    /// Every target and how its last scrape went (`/api/v1/targets`), by URL.
    pub fn statuses(&self) -> Vec<TargetStatus> {
        let state = self.lock();
        state
            .targets
            .values()
            .map(|known| TargetStatus {
                target: known.target.clone(),
                health: match known.health {
                    Health::Unknown => "unknown",
                    Health::Up => "up",
                    Health::Down => "down",
                },
                last: known.last.clone(),
            })
            .collect()
    }

    /// How often targets are scraped, and the deadline of one scrape.
    pub fn schedule(&self) -> (Duration, Duration) {
        (self.interval, self.config.timeout.min(self.interval))
    }
}

/// `sonde_scrape_target_up{job,instance}` and
/// `sonde_scrape_target_label_errors{container,label}`.
impl Collector for Targets {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let state = self.lock();
        let mut up = MetricFamily::gauge(
            "sonde_scrape_target_up",
            "Whether the last scrape of a com.df.scrapePort target succeeded (1) or failed (0).",
        );
        for known in state.targets.values() {
            let value = match known.health {
                Health::Unknown => continue,
                Health::Up => 1.0,
                Health::Down => 0.0,
            };
            up.push(
                Labels::new().with("instance", known.target.instance.as_str()).with("job", known.target.job.as_str()),
                value,
            );
        }
        let mut errors = MetricFamily::gauge(
            "sonde_scrape_target_label_errors",
            "Containers (or, on the Swarm leader, services) whose com.df.scrapePort or com.df.metricsPath label cannot be used (1 per label).",
        );
        for r in &state.rejected {
            errors.push(Labels::new().with(r.origin.kind(), r.origin.name()).with("label", r.label), 1.0);
        }
        out.extend([up, errors].into_iter().filter(|f| !f.samples.is_empty()));
    }
}

impl Targets {
    /// One scrape round: discovers the targets in `cache` (and on the
    /// leader the cluster's), marks the series of vanished ones stale,
    /// scrapes the others at once and appends what they answer. Returns
    /// how many targets were up.
    pub async fn scrape(self: &Arc<Self>, cache: &MetadataCache, windows: &Arc<Windows>, swarm: &SwarmState) -> usize {
        let (mut targets, mut rejected) = discover(&cache.containers());
        let (_, timeout) = self.schedule();
        if let Some(config) = swarm.config().filter(|_| swarm.role() == Role::Leader) {
            let services = swarm.services();
            let job = windows.extra_labels().get("job").unwrap_or_default().to_owned();
            let (cluster, failed) = super::cluster::targets(&services, config, &job, timeout).await;
            merge(&mut targets, cluster);
            rejected.extend(failed);
        }
        let cleared = self.rediscover(&targets, rejected);
        if !cleared.is_empty() {
            let t_ms = now_ms();
            for window in [Window::Node, Window::Cluster] {
                let mut store = windows.write(window);
                for (url, _) in cleared.iter().filter(|(_, lost)| lost.has(window)) {
                    store.remove_source(url, t_ms);
                }
            }
        }
        if targets.is_empty() {
            return 0;
        }
        let config = self.config;
        let scrapes = targets.iter().map(|target| async move {
            let t_ms = now_ms();
            let started = Instant::now();
            let result = fetch::fetch(target.address, &target.path, timeout, config.body_size_limit).await;
            Scraped { t_ms, duration: started.elapsed(), result }
        });
        let scraped = futures_util::future::join_all(scrapes).await;
        // Parsing a large exposition is CPU work: off the async workers.
        let (this, windows) = (Arc::clone(self), Arc::clone(windows));
        tokio::task::spawn_blocking(move || this.ingest(&windows, &targets, scraped)).await.unwrap_or(0)
    }

    /// Parses each answer and appends it, with the report series, under
    /// the target's URL. Returns how many targets were up.
    fn ingest(&self, windows: &Windows, targets: &[Target], scraped: Vec<Scraped>) -> usize {
        let parsed: Vec<(Scraped, Result<Vec<MetricFamily>, FetchError>)> = scraped
            .into_iter()
            .map(|s| {
                let families = match &s.result {
                    Ok(body) => sonde_instrument::parse::parse_bytes(&body.bytes, body.format)
                        .map_err(|e| FetchError::Parse(e.to_string())),
                    Err(err) => Err(err.clone()),
                };
                (s, families)
            })
            .collect();
        let mut up_count = 0;
        let mut answers = Vec::with_capacity(targets.len());
        for (target, (scraped, result)) in targets.iter().zip(parsed) {
            let (mut families, error) = match result {
                Ok(families) => (families, None),
                Err(err) => (Vec::new(), Some(err)),
            };
            let samples: usize = families.iter().map(|f| f.samples.len()).sum();
            let up = if error.is_none() { 1.0 } else { 0.0 };
            // Last, so that a target's own `up` cannot hide Sonde's.
            families.extend(report(up, scraped.duration, samples));
            let extra = Labels::new().with("instance", target.instance.as_str()).with("job", target.job.as_str());
            self.record(&target.url, &scraped, error.as_ref());
            up_count += usize::from(error.is_none());
            answers.push((target, scraped.t_ms, families, extra));
        }
        // A leader that stepped down while scraping keeps nothing for the
        // cluster window it dropped.
        let leading = windows.leading();
        let mut refused = 0;
        let mut max_series = 0;
        for window in [Window::Node, Window::Cluster].into_iter().filter(|w| *w == Window::Node || leading) {
            let mut store = windows.write(window);
            for (target, t_ms, families, extra) in answers.iter().filter(|a| a.0.windows.has(window)) {
                refused += store.append_families_from(&target.url, families, *t_ms, extra).refused;
            }
            max_series = store.config().max_series;
        }
        for window in [Window::Node, Window::Cluster].into_iter().filter(|w| *w == Window::Node || leading) {
            windows.record_stats(window);
        }
        self.note_refused(refused, max_series);
        up_count
    }
}

/// Prometheus' report series of one scrape.
fn report(up: f64, duration: Duration, samples: usize) -> [MetricFamily; 3] {
    [
        MetricFamily::gauge("up", "Whether the target answered the scrape.").with_sample(Labels::new(), up),
        MetricFamily::gauge("scrape_duration_seconds", "How long the scrape took.")
            .with_sample(Labels::new(), duration.as_secs_f64()),
        MetricFamily::gauge("scrape_samples_scraped", "Samples the target exposed.")
            .with_sample(Labels::new(), samples as f64),
    ]
}

/// Scrapes the targets every interval until the task is dropped.
pub async fn run(targets: Arc<Targets>, cache: MetadataCache, windows: Arc<Windows>, swarm: Arc<SwarmState>) {
    let mut ticker = tokio::time::interval(targets.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        targets.scrape(&cache, &windows, &swarm).await;
    }
}

#[cfg(test)]
mod tests;
