//! Scrape targets: the containers running on this node that carry
//! `com.df.scrapePort` (SPEC §3), scraped into the window store.
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
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sonde_exporter::container::metadata::SERVICE_NAME_LABEL;
use sonde_exporter::container::{CachedContainer, MetadataCache};
use sonde_instrument::{Labels, MetricFamily};

pub use fetch::{ACCEPT, FetchError};

use super::{Evaluator, now_ms};

/// The container label naming the port to scrape.
pub const SCRAPE_PORT_LABEL: &str = "com.df.scrapePort";
/// The container label naming the path to scrape.
pub const METRICS_PATH_LABEL: &str = "com.df.metricsPath";
/// The path scraped when `com.df.metricsPath` is not set.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";
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

/// One container to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http://<address>:<port><path>`; the store's source id.
    pub url: String,
    /// The `job` label: the Swarm service, or the container name.
    pub job: String,
    /// The `instance` label: `<address>:<port>`.
    pub instance: String,
    /// Where to connect.
    pub address: SocketAddr,
    /// The path requested.
    pub path: String,
    /// The container's name, for log lines.
    pub container: String,
}

/// A container whose scrape labels do not make a target, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rejected {
    /// The container's name.
    pub container: String,
    /// The label at fault.
    pub label: &'static str,
    /// What is wrong, in words.
    pub reason: String,
}

/// The targets among `containers` (sorted by URL) and the containers
/// whose `com.df.scrapePort` or `com.df.metricsPath` cannot be used.
/// Containers without `com.df.scrapePort` are neither.
pub fn discover(containers: &[Arc<CachedContainer>]) -> (Vec<Target>, Vec<Rejected>) {
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    let mut rejected = Vec::new();
    for container in containers {
        match target_of(container) {
            Ok(None) => {}
            Ok(Some(target)) => match targets.get(&target.url) {
                // Two containers at one address (one shares the other's
                // network namespace): the first one listed is scraped.
                Some(first) => rejected.push(Rejected {
                    container: target.container.clone(),
                    label: SCRAPE_PORT_LABEL,
                    reason: format!("{} is already scraped for container {}", target.url, first.container),
                }),
                None => {
                    targets.insert(target.url.clone(), target);
                }
            },
            Err(reject) => rejected.push(reject),
        }
    }
    rejected.sort();
    (targets.into_values().collect(), rejected)
}

fn label<'a>(container: &'a CachedContainer, key: &str) -> Option<&'a str> {
    container.rule_labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The target one container describes: `Ok(None)` without `com.df.scrapePort`.
pub fn target_of(container: &CachedContainer) -> Result<Option<Target>, Rejected> {
    let Some(port_text) = label(container, SCRAPE_PORT_LABEL) else { return Ok(None) };
    let name = container.name();
    let reject = |label: &'static str, reason: String| Rejected { container: name.to_owned(), label, reason };
    let port = match port_text.trim().parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => return Err(reject(SCRAPE_PORT_LABEL, format!("{port_text:?} is not a port number (1-65535)"))),
    };
    let path = label(container, METRICS_PATH_LABEL).map_or(DEFAULT_METRICS_PATH, str::trim);
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(reject(
            METRICS_PATH_LABEL,
            format!("{path:?} is not a URL path: it must start with / and have no spaces or control characters"),
        ));
    }
    let Some(ip) = container.address() else {
        return Err(reject(
            SCRAPE_PORT_LABEL,
            "the container has no IP address (host network, or no network); it cannot be scraped".to_owned(),
        ));
    };
    let address = SocketAddr::new(ip, port);
    let job = label(container, SERVICE_NAME_LABEL).filter(|s| !s.is_empty()).unwrap_or(name);
    Ok(Some(Target {
        url: format!("http://{address}{path}"),
        job: job.to_owned(),
        instance: address.to_string(),
        address,
        path: path.to_owned(),
        container: name.to_owned(),
    }))
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
}

#[derive(Debug, Default)]
struct State {
    targets: BTreeMap<String, TargetState>,
    rejected: BTreeSet<Rejected>,
    /// Whether the last round had samples refused by the full store.
    refusing: bool,
}

/// The targets and their health: owned by the [`Evaluator`], updated by
/// [`run`], reported on `/metrics`.
#[derive(Debug, Default)]
pub(super) struct Targets {
    config: ScrapeConfig,
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
    pub(super) fn new(config: ScrapeConfig) -> Self {
        Targets { config, state: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a discovery: logs new targets and new rejections, returns the
    /// URLs of the targets that are gone.
    fn rediscover(&self, targets: &[Target], rejected: Vec<Rejected>) -> Vec<String> {
        let mut state = self.lock();
        let rejected: BTreeSet<Rejected> = rejected.into_iter().collect();
        for r in rejected.difference(&state.rejected) {
            tracing::warn!(container = %r.container, label = r.label, reason = %r.reason, "container not scraped");
        }
        state.rejected = rejected;
        let wanted: BTreeSet<&str> = targets.iter().map(|t| t.url.as_str()).collect();
        let gone: Vec<String> = state.targets.keys().filter(|url| !wanted.contains(url.as_str())).cloned().collect();
        for url in &gone {
            if let Some(old) = state.targets.remove(url) {
                tracing::info!(url = %url, job = %old.target.job, container = %old.target.container, "scrape target gone");
            }
        }
        for target in targets {
            match state.targets.get_mut(&target.url) {
                Some(known) => known.target = target.clone(),
                None => {
                    tracing::info!(url = %target.url, job = %target.job, container = %target.container, "new scrape target");
                    state
                        .targets
                        .insert(target.url.clone(), TargetState { target: target.clone(), health: Health::Unknown });
                }
            }
        }
        gone
    }

    /// Records a scrape's outcome; one log line when the health changes.
    fn record(&self, url: &str, error: Option<&FetchError>) {
        let mut state = self.lock();
        let Some(known) = state.targets.get_mut(url) else { return };
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

    /// `sonde_scrape_target_up{job,instance}` and
    /// `sonde_scrape_target_label_errors{container,label}`.
    pub(super) fn collect(&self, out: &mut Vec<MetricFamily>) {
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
            "Containers whose com.df.scrapePort or com.df.metricsPath label cannot be used (1 per label).",
        );
        for r in &state.rejected {
            errors.push(Labels::new().with("container", r.container.as_str()).with("label", r.label), 1.0);
        }
        out.extend([up, errors].into_iter().filter(|f| !f.samples.is_empty()));
    }
}

impl Evaluator {
    /// One scrape round: discovers the targets in `cache`, marks the
    /// series of vanished ones stale, scrapes the others at once and
    /// appends what they answer. Returns how many targets were up.
    pub async fn scrape_targets(self: &Arc<Self>, cache: &MetadataCache) -> usize {
        let (targets, rejected) = discover(&cache.containers());
        let gone = self.targets.rediscover(&targets, rejected);
        if !gone.is_empty() {
            let t_ms = now_ms();
            let mut store = self.write_store();
            for url in &gone {
                store.remove_source(url, t_ms);
            }
        }
        if targets.is_empty() {
            return 0;
        }
        let config = self.targets.config;
        let timeout = config.timeout.min(self.interval);
        let scrapes = targets.iter().map(|target| async move {
            let t_ms = now_ms();
            let started = Instant::now();
            let result = fetch::fetch(target.address, &target.path, timeout, config.body_size_limit).await;
            Scraped { t_ms, duration: started.elapsed(), result }
        });
        let scraped = futures_util::future::join_all(scrapes).await;
        // Parsing a large exposition is CPU work: off the async workers.
        let evaluator = Arc::clone(self);
        tokio::task::spawn_blocking(move || evaluator.ingest(&targets, scraped)).await.unwrap_or(0)
    }

    /// Parses each answer and appends it, with the report series, under
    /// the target's URL. Returns how many targets were up.
    fn ingest(&self, targets: &[Target], scraped: Vec<Scraped>) -> usize {
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
        let mut refused = 0;
        let max_series = {
            let mut store = self.write_store();
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
                refused += store.append_families_from(&target.url, &families, scraped.t_ms, &extra).refused;
                self.targets.record(&target.url, error.as_ref());
                up_count += usize::from(error.is_none());
            }
            store.config().max_series
        };
        self.targets.note_refused(refused, max_series);
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

/// Scrapes the targets every evaluation interval until the task is
/// dropped. Does nothing without a container metadata cache.
pub async fn run(evaluator: Arc<Evaluator>) {
    let Some(cache) = evaluator.containers.clone() else { return };
    let mut ticker = tokio::time::interval(evaluator.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        evaluator.scrape_targets(&cache).await;
    }
}

#[cfg(test)]
mod tests;
