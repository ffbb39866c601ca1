//! The Docker watcher: fills the [`MetadataCache`] with one listing, then
//! keeps it current from Docker's events stream.
//!
//! One loop, one connection at a time:
//!
//! 1. connect and note `since`, the time *before* listing;
//! 2. list the running containers and inspect each (`replace_all`, the
//!    cache is now [`SyncState::Synced`](super::SyncState::Synced));
//! 3. follow the events stream from `since`, so nothing that happened
//!    between the listing and the stream is lost: `start` and `rename`
//!    inspect the container and upsert it, `die` and `destroy` remove it.
//!
//! Any failure (connect, a call past its deadline, a stream error, the
//! stream ending because the engine went away) marks the cache
//! disconnected and starts over after an exponential backoff
//! (0.5 s doubling to 30 s, reset by a successful sync). A lost connection
//! is logged once, and so is the sync that ends it, never once per retry.
//!
//! Every call but the events stream has its own deadline
//! ([`DockerConfig::timeout`]); bollard's default (120 s) would stall a
//! sync for minutes. An idle stream is checked with a `/_ping` every
//! [`HEARTBEAT`], so an engine that stops answering without closing the
//! connection (a remote one behind a dead network) is noticed too.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::errors::Error as DockerError;
use bollard::models::{ContainerInspectResponse, EndpointSettings, EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::{API_DEFAULT_VERSION, Docker};
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::metadata::{ContainerInfo, MetadataCache, NetworkAddress, SERVICE_NAME_LABEL};

/// The Docker host used when none is configured.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The deadline of each Docker call when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the events stream may stay silent before the engine is pinged.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How far before the listing the events stream starts. Events replayed
/// twice are harmless (`start` inspects the current state, `die` of a
/// container that started again is followed by its `start`), while a
/// missed one is not; the margin covers the clock of a remote engine
/// running a little behind this host's.
const SINCE_MARGIN_SECS: u64 = 5;

/// Inspects in flight at once during a listing.
const INSPECT_CONCURRENCY: usize = 8;

/// The container events that change what the cache holds. `pause` and
/// `unpause` do not: a paused container is still listed as running.
const EVENTS: &[&str] = &["start", "die", "destroy", "rename"];

/// Where the Docker engine is and how long each call may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfig {
    /// `unix:///path/to/docker.sock` (a bare absolute path works too),
    /// `tcp://host:port` or `http://host:port`.
    pub host: String,
    /// The deadline of each Docker call; the events stream has none.
    pub timeout: Duration,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig { host: DEFAULT_HOST.to_owned(), timeout: DEFAULT_TIMEOUT }
    }
}

/// Why a session with Docker ended.
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("unsupported Docker host {0:?}: expected unix://, tcp:// or http://")]
    UnsupportedHost(String),
    #[error("cannot connect: {0}")]
    Connect(DockerError),
    #[error("{call} timed out after {timeout:?}")]
    Timeout { call: String, timeout: Duration },
    #[error("{call} failed: {source}")]
    Api { call: String, source: DockerError },
    #[error("the events stream ended")]
    StreamEnded,
}

/// Starts [`watch`] on the current tokio runtime.
pub fn spawn_watcher(config: DockerConfig, cache: MetadataCache) -> JoinHandle<()> {
    tokio::spawn(watch(config, cache))
}

/// Keeps `cache` in step with the Docker engine at `config.host`, until
/// the task running it is aborted. Never returns and never panics:
/// failures become [`SyncState::Disconnected`](super::SyncState) and a
/// retry.
pub async fn watch(config: DockerConfig, cache: MetadataCache) {
    let mut backoff = BACKOFF_MIN;
    // Starts true so that failing to reach Docker at all is logged once.
    let mut connected = true;
    loop {
        let error = match sync(&config, &cache).await {
            Ok((docker, since)) => {
                info!(
                    host = %config.host,
                    containers = cache.len(),
                    "Docker metadata synced"
                );
                connected = true;
                backoff = BACKOFF_MIN;
                follow(&docker, &config, &cache, since).await
            }
            Err(error) => error,
        };
        if connected {
            warn!(
                host = %config.host,
                reason = %error,
                "Docker unreachable; container metadata may be stale until it is back"
            );
            connected = false;
        } else {
            debug!(
                host = %config.host,
                reason = %error,
                retry_in = ?backoff,
                "Docker still unreachable"
            );
        }
        cache.set_disconnected(format!("Docker at {}: {error}", config.host));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Connects, lists and inspects the running containers and replaces the
/// cache. Returns the client and the `since` of the events stream.
async fn sync(config: &DockerConfig, cache: &MetadataCache) -> Result<(Docker, u64), WatchError> {
    let docker = connect(config)?;
    let since = unix_now().saturating_sub(SINCE_MARGIN_SECS);
    let listed = deadline(
        config.timeout,
        || "listing containers".to_owned(),
        docker.list_containers(Some(ListContainersOptions::default())),
    )
    .await?;
    let mut inspections = futures_util::stream::iter(listed.into_iter().filter_map(|c| c.id))
        .map(|id| {
            let docker = &docker;
            async move { inspect(docker, config.timeout, &id).await }
        })
        .buffer_unordered(INSPECT_CONCURRENCY);
    let mut infos = Vec::new();
    while let Some(info) = inspections.next().await {
        // A container that went away since the listing is simply skipped.
        infos.extend(info?);
    }
    drop(inspections);
    cache.replace_all(infos);
    Ok((docker, since))
}

/// Follows the events stream until it fails or ends; returns why.
async fn follow(docker: &Docker, config: &DockerConfig, cache: &MetadataCache, since: u64) -> WatchError {
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        ("event".to_owned(), EVENTS.iter().map(|e| (*e).to_owned()).collect()),
    ]);
    let options = EventsOptions { since: Some(since.to_string()), until: None, filters: Some(filters) };
    let mut events = docker.events(Some(options));
    loop {
        // `next()` is cancel-safe: an event arriving as the heartbeat fires
        // stays in the stream.
        let Ok(next) = tokio::time::timeout(HEARTBEAT, events.next()).await else {
            let ping = deadline(config.timeout, || "pinging the idle engine".to_owned(), docker.ping()).await;
            match ping {
                Ok(_) => continue,
                Err(error) => return error,
            }
        };
        let result = match next {
            Some(Ok(event)) => apply(docker, config.timeout, cache, &event).await,
            Some(Err(source)) => Err(WatchError::Api { call: "the events stream".to_owned(), source }),
            None => Err(WatchError::StreamEnded),
        };
        if let Err(error) = result {
            return error;
        }
    }
}

/// Applies one event to the cache.
async fn apply(
    docker: &Docker,
    timeout: Duration,
    cache: &MetadataCache,
    event: &EventMessage,
) -> Result<(), WatchError> {
    if event.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return Ok(());
    }
    let Some(id) = event.actor.as_ref().and_then(|actor| actor.id.as_deref()) else {
        return Ok(());
    };
    match event.action.as_deref() {
        Some("start" | "rename") => match inspect(docker, timeout, id).await? {
            Some(info) => cache.upsert(info),
            // Gone again, or a stopped container renamed.
            None => cache.remove(id),
        },
        Some("die" | "destroy") => cache.remove(id),
        _ => {}
    }
    Ok(())
}

/// Inspects one container: `None` when it no longer exists or no longer
/// runs.
async fn inspect(docker: &Docker, timeout: Duration, id: &str) -> Result<Option<ContainerInfo>, WatchError> {
    let call = || format!("inspecting container {id}");
    match deadline(timeout, call, docker.inspect_container(id, None)).await {
        Ok(response) => Ok(container_info(&response)),
        Err(WatchError::Api { source: DockerError::DockerResponseServerError { status_code: 404, .. }, .. }) => {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Runs one Docker call under `timeout`; `call` names it in errors.
async fn deadline<T>(
    timeout: Duration,
    call: impl FnOnce() -> String,
    future: impl Future<Output = Result<T, DockerError>>,
) -> Result<T, WatchError> {
    match tokio::time::timeout(timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(WatchError::Api { call: call(), source }),
        Err(_) => Err(WatchError::Timeout { call: call(), timeout }),
    }
}

/// A client for `config.host`, for other parts of the agent that talk to
/// the same engine (the Swarm API). Nothing is sent yet; an unsupported
/// scheme or a missing socket is an error in words.
pub fn client(config: &DockerConfig) -> Result<Docker, String> {
    connect(config).map_err(|e| e.to_string())
}

/// A client for `config.host`. Nothing is sent yet.
///
/// Bollard builds its URLs by joining an absolute path onto
/// `/v<version>`, which drops the version prefix: every request is
/// unversioned and the engine answers with its own API version, so no
/// negotiation is needed and old (20.10, API 1.41) and new engines (which
/// refuse versions below their minimum) are both served.
fn connect(config: &DockerConfig) -> Result<Docker, WatchError> {
    // Bollard's own timeout counts whole seconds (0 would fail every call)
    // and only bounds the response headers; the precise deadline is ours.
    let secs = config.timeout.as_secs() + u64::from(config.timeout.subsec_nanos() > 0);
    let secs = secs.max(1);
    let host = config.host.as_str();
    let docker = if let Some(path) = host.strip_prefix("unix://") {
        Docker::connect_with_unix(path, secs, API_DEFAULT_VERSION)
    } else if host.starts_with('/') {
        Docker::connect_with_unix(host, secs, API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, secs, API_DEFAULT_VERSION)
    } else {
        return Err(WatchError::UnsupportedHost(config.host.clone()));
    };
    docker.map_err(WatchError::Connect)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What the cache needs from an inspect response: `None` when the
/// response has no id or the container is not running (a `start` event
/// inspected after the container died again).
///
/// `Config.Env` is never read. The addresses come from
/// `NetworkSettings.Networks`, ordered by [`network_addresses`].
pub fn container_info(inspect: &ContainerInspectResponse) -> Option<ContainerInfo> {
    let id = inspect.id.as_deref().filter(|id| !id.is_empty())?;
    let state = inspect.state.as_ref();
    if state.and_then(|s| s.running) == Some(false) {
        return None;
    }
    let name = inspect.name.as_deref().unwrap_or_default();
    let config = inspect.config.as_ref();
    let mut labels: Vec<(String, String)> = config
        .and_then(|c| c.labels.as_ref())
        .map(|labels| labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    labels.sort();
    let swarm_task = labels.iter().any(|(key, _)| key == SERVICE_NAME_LABEL || key == SWARM_TASK_LABEL);
    let addresses = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|networks| network_addresses(networks, swarm_task))
        .unwrap_or_default();
    Some(ContainerInfo {
        id: id.to_owned(),
        name: name.strip_prefix('/').unwrap_or(name).to_owned(),
        image: config.and_then(|c| c.image.clone()).unwrap_or_default(),
        labels,
        pid: state.and_then(|s| s.pid).and_then(|pid| u32::try_from(pid).ok()).unwrap_or(0),
        started_at: state.and_then(|s| s.started_at.as_deref()).and_then(parse_time),
        addresses,
    })
}

/// The Docker label every Swarm task carries.
const SWARM_TASK_LABEL: &str = "com.docker.swarm.task.id";

/// A container's addresses, the one to reach it at first: for a Swarm
/// task, the networks of its service (the overlay networks an agent
/// attached to the same network reaches on any node) before the per-node
/// bridges (`bridge`, `docker_gwbridge`), and the routing mesh's `ingress`
/// (whose addresses answer only inside the mesh) last; for a plain
/// container, by network name. Networks without an address (`host`,
/// `none`) are left out; an IPv4 address is used when there is one, else
/// the global IPv6 address.
///
/// Inspect does not say which driver a network has, so "the service's
/// networks" means every network but those three.
pub fn network_addresses(networks: &HashMap<String, EndpointSettings>, swarm_task: bool) -> Vec<NetworkAddress> {
    let rank = |network: &str| -> u8 {
        match network {
            _ if !swarm_task => 0,
            "bridge" | "docker_gwbridge" => 1,
            "ingress" => 2,
            _ => 0,
        }
    };
    let mut addresses: Vec<NetworkAddress> = networks
        .iter()
        .filter_map(|(network, endpoint)| {
            let parsed = |text: Option<&String>| text.and_then(|t| t.parse::<IpAddr>().ok());
            let ip = parsed(endpoint.ip_address.as_ref()).or_else(|| parsed(endpoint.global_ipv6_address.as_ref()))?;
            Some(NetworkAddress { network: network.clone(), ip })
        })
        .collect();
    addresses.sort_by(|a, b| rank(&a.network).cmp(&rank(&b.network)).then_with(|| a.network.cmp(&b.network)));
    addresses
}

/// An RFC 3339 time in seconds since the epoch; `None` for Docker's zero
/// time (`0001-01-01T00:00:00Z`, never started) and anything unparsable.
fn parse_time(text: &str) -> Option<f64> {
    let timestamp = text.parse::<jiff::Timestamp>().ok()?;
    (timestamp > jiff::Timestamp::UNIX_EPOCH).then(|| timestamp.as_duration().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, ContainerState};

    fn response() -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("3f9a".into()),
            name: Some("/go-demo_main.1.p1kf8a0lzq3w2vbn6rx7tye4d".into()),
            image: Some("sha256:064c".into()),
            config: Some(ContainerConfig {
                image: Some("vfarcic/go-demo:latest".into()),
                labels: Some(HashMap::from([
                    ("maintainer".into(), "someone".into()),
                    ("com.docker.swarm.service.name".into(), "go-demo_main".into()),
                ])),
                env: Some(vec!["SECRET=hunter2".into()]),
                ..Default::default()
            }),
            state: Some(ContainerState {
                running: Some(true),
                pid: Some(4242),
                started_at: Some("2024-05-06T07:08:09.5Z".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn maps_name_image_labels_pid_and_start_time() {
        let info = container_info(&response()).unwrap();
        assert_eq!(
            info,
            ContainerInfo {
                id: "3f9a".into(),
                name: "go-demo_main.1.p1kf8a0lzq3w2vbn6rx7tye4d".into(),
                image: "vfarcic/go-demo:latest".into(),
                labels: vec![
                    ("com.docker.swarm.service.name".into(), "go-demo_main".into()),
                    ("maintainer".into(), "someone".into()),
                ],
                pid: 4242,
                started_at: Some(1_714_979_289.5),
                addresses: Vec::new(),
            }
        );
        assert!(!format!("{info:?}").contains("hunter2"));
    }

    fn networks(entries: &[(&str, &str, &str)]) -> HashMap<String, EndpointSettings> {
        entries
            .iter()
            .map(|(name, v4, v6)| {
                let endpoint = EndpointSettings {
                    ip_address: Some((*v4).to_owned()),
                    global_ipv6_address: Some((*v6).to_owned()),
                    ..Default::default()
                };
                ((*name).to_owned(), endpoint)
            })
            .collect()
    }

    fn ips(addresses: &[NetworkAddress]) -> Vec<(&str, String)> {
        addresses.iter().map(|a| (a.network.as_str(), a.ip.to_string())).collect()
    }

    #[test]
    fn a_swarm_task_is_reached_on_its_service_network_first() {
        let attached = networks(&[
            ("ingress", "10.0.0.7", ""),
            ("go-demo_default", "10.0.1.9", ""),
            ("docker_gwbridge", "172.18.0.3", ""),
            ("host", "", ""),
        ]);
        assert_eq!(
            ips(&network_addresses(&attached, true)),
            [
                ("go-demo_default", "10.0.1.9".to_owned()),
                ("docker_gwbridge", "172.18.0.3".to_owned()),
                ("ingress", "10.0.0.7".to_owned()),
            ]
        );
        // A plain container: by network name; IPv6 when there is no IPv4.
        let attached = networks(&[("zeta", "172.20.0.2", ""), ("bridge", "", "2001:db8::5"), ("none", "", "")]);
        assert_eq!(
            ips(&network_addresses(&attached, false)),
            [("bridge", "2001:db8::5".to_owned()), ("zeta", "172.20.0.2".to_owned())]
        );
    }

    #[test]
    fn the_address_comes_from_inspect() {
        let mut task = response();
        task.network_settings = Some(bollard::models::NetworkSettings {
            networks: Some(networks(&[("ingress", "10.0.0.7", ""), ("go-demo_default", "10.0.1.9", "")])),
            ..Default::default()
        });
        let info = container_info(&task).unwrap();
        assert_eq!(info.addresses.first().map(|a| a.ip.to_string()), Some("10.0.1.9".to_owned()));
    }

    #[test]
    fn zero_or_invalid_start_time_is_none() {
        for text in ["0001-01-01T00:00:00Z", "", "yesterday", "1970-01-01T00:00:00Z"] {
            assert_eq!(parse_time(text), None, "{text:?}");
        }
        assert_eq!(parse_time("2024-05-06T09:08:09.25+02:00"), Some(1_714_979_289.25));
    }

    #[test]
    fn missing_parts_degrade_and_stopped_or_idless_containers_are_skipped() {
        let bare = ContainerInspectResponse { id: Some("abc".into()), ..Default::default() };
        assert_eq!(
            container_info(&bare),
            Some(ContainerInfo {
                id: "abc".into(),
                name: String::new(),
                image: String::new(),
                labels: Vec::new(),
                pid: 0,
                started_at: None,
                addresses: Vec::new(),
            })
        );

        let mut negative_pid = response();
        if let Some(state) = negative_pid.state.as_mut() {
            state.pid = Some(-1);
        }
        assert_eq!(container_info(&negative_pid).unwrap().pid, 0);

        let mut stopped = response();
        if let Some(state) = stopped.state.as_mut() {
            state.running = Some(false);
        }
        assert_eq!(container_info(&stopped), None);

        for id in [None, Some(String::new())] {
            let idless = ContainerInspectResponse { id, ..response() };
            assert_eq!(container_info(&idless), None);
        }
    }

    #[test]
    fn default_config_is_the_local_socket_with_a_short_deadline() {
        let config = DockerConfig::default();
        assert_eq!(config.host, "unix:///var/run/docker.sock");
        assert_eq!(config.timeout, Duration::from_secs(5));
    }

    #[test]
    fn hosts_are_recognised_by_scheme() {
        let with = |host: &str| DockerConfig { host: host.into(), timeout: Duration::from_millis(300) };
        assert!(connect(&with("tcp://127.0.0.1:2375")).is_ok());
        assert!(connect(&with("http://127.0.0.1:2375")).is_ok());
        assert!(matches!(connect(&with("ssh://host")), Err(WatchError::UnsupportedHost(_))));
        // Bollard checks that a socket exists before any request.
        assert!(matches!(connect(&with("unix:///nonexistent/docker.sock")), Err(WatchError::Connect(_))));
    }
}
