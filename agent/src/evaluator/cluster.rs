//! The evaluator's Swarm side: which role this agent has, and on the
//! leader, the cluster targets.
//!
//! Every evaluation interval the engine is asked for this node's role
//! ([`crate::swarm`]); the first answer comes before the first cycle, so a
//! worker never evaluates cluster rules, even once. An engine that does not
//! answer leaves the last role in place (one log line,
//! `sonde_swarm_observe_failures`).
//!
//! The leader scrapes, like a central Prometheus with `dns_sd_configs`:
//! * every task of each service with a `com.df.scrapePort` service label,
//!   at the addresses `tasks.<service>` resolves to (Docker's embedded DNS
//!   answers with the tasks on the networks the agent shares with the
//!   service), `job` = the service;
//! * every other agent, at `tasks.<--agent.job>` on the agent's own port and
//!   telemetry path, `job` = `--agent.job`, when a service of that name
//!   exists. The leader's own address is left out: its own samples enter
//!   the cluster window directly.
//!
//! A service that does not resolve (the agent is on none of its networks)
//! is reported like a bad label: one log line and
//! `sonde_scrape_target_label_errors{service,label}`.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt as _;
use sonde_exporter::container::docker::DockerConfig;
use sonde_instrument::{Collector, Labels, MetricFamily};
use tokio::task::JoinHandle;

use super::discover::{Feeds, METRICS_PATH_LABEL, Origin, Rejected, SCRAPE_PORT_LABEL, Target, port_and_path};
use super::windows::Windows;
use crate::swarm::{Role, SwarmClient, SwarmService, SwarmView};

/// How many `tasks.<service>` lookups run at once.
const CONCURRENT_LOOKUPS: usize = 4;

/// The label a failure to find the agents is reported under.
const AGENT_JOB_FLAG: &str = "--agent.job";

/// How the agent finds the Swarm and the other agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmConfig {
    /// The engine to ask (`--docker.host`, `--docker.timeout`).
    pub docker: DockerConfig,
    /// The port every agent listens on (`--web.listen-address`).
    pub agent_port: u16,
    /// The path every agent serves metrics on (`--web.telemetry-path`).
    pub agent_path: String,
}

/// What the Swarm said last about this node, and how often it did not
/// answer. Its lock is held only to copy the view in or out.
#[derive(Debug)]
pub struct SwarmState {
    config: Option<SwarmConfig>,
    view: Mutex<SwarmView>,
    failures: AtomicU64,
}

impl SwarmState {
    /// Standalone until the engine answers; `config` is `None` without
    /// Swarm awareness (the node is the cluster for good).
    pub fn new(config: Option<SwarmConfig>) -> Self {
        SwarmState { config, view: Mutex::new(SwarmView::standalone()), failures: AtomicU64::new(0) }
    }

    /// Where the Swarm is asked, when the agent is Swarm-aware.
    pub fn config(&self) -> Option<&SwarmConfig> {
        self.config.as_ref()
    }

    /// This node's role, as last seen.
    pub fn role(&self) -> Role {
        self.lock().role
    }

    /// The services, as the leader last read them (none elsewhere).
    pub fn services(&self) -> Vec<SwarmService> {
        self.lock().services.clone()
    }

    /// Takes what the Swarm said, and starts or stops the cluster window
    /// of `windows` when this agent starts or stops leading.
    pub fn take_view(&self, view: SwarmView, windows: &Windows) {
        let role = view.role;
        let before = std::mem::replace(&mut *self.lock(), view).role;
        if before != role {
            tracing::info!(from = before.as_str(), to = role.as_str(), "Swarm role changed");
        }
        windows.set_leading(role == Role::Leader);
    }

    fn lock(&self) -> MutexGuard<'_, SwarmView> {
        self.view.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `sonde_swarm_role{role}` and `sonde_swarm_observe_failures`, when the
/// agent is Swarm-aware; on the leader, `sonde_swarm_service_desired_replicas`.
impl Collector for SwarmState {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        if self.config.is_none() {
            return;
        }
        let (role, services) = {
            let view = self.lock();
            (view.role, desired_replicas(&view.services))
        };
        // Only the leader reads the services, so across all agents each
        // service has one such series: dashboards set the replicas that
        // containers run against it (`max by (service)` covers a change of
        // leader between two scrapes).
        if let Some(services) = services.filter(|_| role == Role::Leader) {
            out.push(services);
        }
        let mut roles = MetricFamily::gauge(
            "sonde_swarm_role",
            "This node's Swarm role as the agent last saw it (1 for the current one); the leader evaluates the cluster rules.",
        );
        for candidate in [Role::Standalone, Role::Worker, Role::Manager, Role::Leader] {
            roles.push(Labels::new().with("role", candidate.as_str()), f64::from(u8::from(candidate == role)));
        }
        out.push(roles);
        out.push(
            MetricFamily::counter(
                "sonde_swarm_observe_failures",
                "Times the Docker engine did not say this node's Swarm role; the last one is kept.",
            )
            .with_sample(Labels::new(), self.failures.load(Ordering::Relaxed) as f64),
        );
    }
}

/// The desired replicas of every replicated service; `None` when there is
/// none. A global service has no such number (it runs on every eligible
/// node), so it has no series.
fn desired_replicas(services: &[SwarmService]) -> Option<MetricFamily> {
    let mut family = MetricFamily::gauge(
        "sonde_swarm_service_desired_replicas",
        "Replicas a replicated Swarm service's spec asks for, as the leader last read them.",
    );
    for service in services {
        if let Some(replicas) = service.replicas {
            family.push(Labels::new().with("service", service.name.as_str()), replicas as f64);
        }
    }
    (!family.samples.is_empty()).then_some(family)
}

/// Asks the engine once, then starts a task that asks again every
/// `interval`. `None` without Swarm awareness.
pub(super) async fn start(swarm: Arc<SwarmState>, windows: Arc<Windows>, interval: Duration) -> Option<JoinHandle<()>> {
    let config = swarm.config.clone()?;
    let mut watcher = Watcher { config, client: None, failing: false };
    watcher.observe(&swarm, &windows).await;
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            watcher.observe(&swarm, &windows).await;
        }
    }))
}

#[derive(Debug)]
struct Watcher {
    config: SwarmConfig,
    client: Option<SwarmClient>,
    failing: bool,
}

impl Watcher {
    async fn observe(&mut self, swarm: &SwarmState, windows: &Windows) {
        let result = match &self.client {
            Some(client) => client.observe().await,
            None => match SwarmClient::new(&self.config.docker) {
                Ok(client) => self.client.insert(client).observe().await,
                Err(err) => Err(err),
            },
        };
        match result {
            Ok(view) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("the Swarm role can be read again");
                }
                swarm.take_view(view, windows);
            }
            Err(err) => {
                swarm.failures.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(err = %err, role = swarm.role().as_str(), "cannot read the Swarm role; keeping the last one");
                }
            }
        }
    }
}

/// The leader's targets: the tasks of every service with a
/// `com.df.scrapePort` service label and every other agent, each resolved
/// under `timeout`; and the services that could not be resolved or whose
/// labels cannot be used.
pub async fn targets(
    services: &[SwarmService],
    config: &SwarmConfig,
    agent_job: &str,
    timeout: Duration,
) -> (Vec<Target>, Vec<Rejected>) {
    let mut wanted = Vec::new();
    let mut rejected = Vec::new();
    for service in services.iter().filter(|s| s.name != agent_job) {
        let Some(port_text) = service.label(SCRAPE_PORT_LABEL) else { continue };
        let origin = Origin::Service(service.name.clone());
        match port_and_path(port_text, service.label(METRICS_PATH_LABEL)) {
            // No task to find: not an error.
            Ok(_) if service.replicas == Some(0) => {}
            Ok((port, path)) => wanted.push((origin, service.name.as_str(), port, path, SCRAPE_PORT_LABEL)),
            Err((label, reason)) => rejected.push(Rejected { origin, label, reason }),
        }
    }
    // Agents outside the Swarm (a host process on the leader) have no
    // service, and no one to find.
    let agents = Origin::Service(agent_job.to_owned());
    if services.iter().any(|s| s.name == agent_job) {
        wanted.push((agents.clone(), agent_job, config.agent_port, config.agent_path.as_str(), AGENT_JOB_FLAG));
    }

    // A few at a time: each lookup is a blocking getaddrinfo on a tokio
    // blocking thread, and every such thread keeps a malloc arena of its
    // own; Docker's embedded DNS answers in well under a millisecond.
    let hosts: Vec<(String, u16)> = wanted.iter().map(|(_, name, port, _, _)| ((*name).to_owned(), *port)).collect();
    let lookups = hosts.into_iter().map(|(name, port)| async move { resolve(&name, port, timeout).await });
    let resolved: Vec<_> = futures_util::stream::iter(lookups).buffered(CONCURRENT_LOOKUPS).collect().await;
    let own = own_addresses();
    let mut targets = Vec::new();
    for ((origin, name, _, path, label), addresses) in wanted.into_iter().zip(resolved) {
        match addresses {
            Ok(addresses) => {
                let is_agent = origin == agents;
                targets.extend(
                    addresses
                        .into_iter()
                        .filter(|a| !(is_agent && own.contains(&a.ip())))
                        .map(|a| Target::new(a, path, name, origin.clone(), Feeds { node: false, cluster: true })),
                );
            }
            Err(reason) => rejected.push(Rejected { origin, label, reason }),
        }
    }
    targets.sort_by(|a, b| a.url.cmp(&b.url));
    targets.dedup_by(|a, b| a.url == b.url);
    (targets, rejected)
}

/// The addresses of `tasks.<service>`, sorted.
async fn resolve(service: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let host = format!("tasks.{service}");
    let no_answer = |err: String| {
        format!("{host} does not resolve here ({err}); is the agent attached to one of the service's networks?")
    };
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port))).await {
        Ok(Ok(found)) => {
            let set: BTreeSet<SocketAddr> = found.collect();
            Ok(set.into_iter().collect())
        }
        Ok(Err(err)) => Err(no_answer(err.to_string())),
        Err(_) => Err(no_answer(format!("no answer within {timeout:?}"))),
    }
}

/// This host's (this container's) interface addresses.
fn own_addresses() -> BTreeSet<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.iter().map(if_addrs::Interface::ip).collect(),
        Err(err) => {
            tracing::debug!(err = %err, "cannot list this host's addresses");
            BTreeSet::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn service(name: &str, replicas: Option<u64>, labels: &[(&str, &str)]) -> SwarmService {
        SwarmService {
            name: name.to_owned(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
            replicas,
        }
    }

    fn config() -> SwarmConfig {
        SwarmConfig { docker: DockerConfig::default(), agent_port: 9097, agent_path: "/metrics".to_owned() }
    }

    #[tokio::test]
    async fn an_unknown_service_says_why_and_loopback_is_one_of_ours() {
        // `tasks.<name>` only resolves inside a Swarm network; the Swarm
        // test in sonde-tests runs the real lookup.
        let found = resolve("localhost-does-not-exist.invalid", 80, Duration::from_secs(5)).await;
        assert!(found.is_err(), "{found:?}");
        let err = found.unwrap_err();
        assert!(err.contains("tasks.localhost-does-not-exist.invalid does not resolve here"), "{err}");
        assert!(own_addresses().contains(&IpAddr::from([127, 0, 0, 1])));
    }

    #[tokio::test]
    async fn bad_labels_and_unresolvable_services_are_rejected_by_name() {
        let services = [
            service("web", Some(2), &[(SCRAPE_PORT_LABEL, "http")]),
            service("api", Some(2), &[(SCRAPE_PORT_LABEL, "8080"), (METRICS_PATH_LABEL, "metrics")]),
            service("idle", Some(0), &[(SCRAPE_PORT_LABEL, "8080")]),
            service("quiet", Some(3), &[]),
            service("sonde", None, &[(SCRAPE_PORT_LABEL, "9097")]),
        ];
        let (_, no_agents) = targets(&services[..4], &config(), "sonde", Duration::from_secs(5)).await;
        assert_eq!(no_agents.len(), 2, "no agent service, no agent to find: {no_agents:?}");
        let (found, rejected) = targets(&services, &config(), "sonde", Duration::from_secs(5)).await;
        assert!(found.is_empty(), "{found:?}");
        let got: Vec<(String, &str)> = rejected.iter().map(|r| (r.origin.to_string(), r.label)).collect();
        assert_eq!(
            got,
            [
                ("service web".to_owned(), SCRAPE_PORT_LABEL),
                ("service api".to_owned(), METRICS_PATH_LABEL),
                // Outside a Swarm network the agents do not resolve either.
                ("service sonde".to_owned(), AGENT_JOB_FLAG),
            ]
        );
    }
}
