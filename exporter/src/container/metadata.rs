//! The container metadata cache: what the scrape path knows about each
//! running container without asking Docker.
//!
//! It is filled by one listing at start and kept current by the Docker
//! events stream ([`super::docker`]); the collector only reads it. Labels
//! are filtered through the allowlist when a container is stored, so
//! labels outside it (and environment variables, which are never read) are
//! not even held in memory. Its size is bounded by the number of running
//! containers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use sonde_instrument::Label;

use super::labels::LabelAllowlist;

/// The prefix of the Docker labels rules come from (`com.df.alertIf`, …).
pub const RULE_LABEL_PREFIX: &str = "com.df.";
/// The Docker label naming a Swarm task's service.
pub const SERVICE_NAME_LABEL: &str = "com.docker.swarm.service.name";

/// One address of a container: the network it is on and its IP there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAddress {
    /// The network's name as inspect lists it (`bridge`, `go-demo_default`, …).
    pub network: String,
    /// The container's address on it.
    pub ip: IpAddr,
}

/// What Docker says about one running container, as the collector needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    /// The full 64-character container id.
    pub id: String,
    /// The container name without Docker's leading `/`
    /// (Swarm tasks: `<service>.<slot>.<task id>`).
    pub name: String,
    /// The image as the container was created with it (`Config.Image`).
    pub image: String,
    /// Docker labels, `(key, value)`, before the allowlist is applied.
    pub labels: Vec<(String, String)>,
    /// The host pid of the container's first process; 0 when unknown.
    pub pid: u32,
    /// When the container last started, in seconds since the Unix epoch.
    pub started_at: Option<f64>,
    /// Its addresses, the one to reach it at first (see
    /// [`super::docker::container_info`] for the order); empty on the host
    /// network or with no network.
    pub addresses: Vec<NetworkAddress>,
}

/// A container as the cache holds it: the allowlisted labels already
/// turned into `container_label_<key>` series labels.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedContainer {
    /// The full container id.
    pub id: String,
    /// `name`, `image` and the allowlisted `container_label_*` labels, in
    /// that order: the labels every series of this container carries after
    /// `id`.
    pub labels: Vec<Label>,
    /// The raw Docker labels rules are read from, `(key, value)` sorted by
    /// key: the admitted `com.df.*` labels and, when admitted,
    /// `com.docker.swarm.service.name`.
    pub rule_labels: Vec<(String, String)>,
    /// Host pid of the first process; 0 when unknown.
    pub pid: u32,
    /// Start time in seconds since the Unix epoch.
    pub started_at: Option<f64>,
    /// Its addresses, the one to reach it at first.
    pub addresses: Vec<NetworkAddress>,
}

impl CachedContainer {
    /// The container name (the `name` label).
    pub fn name(&self) -> &str {
        self.labels.iter().find(|l| l.name == "name").map_or("", |l| l.value.as_str())
    }

    /// The address to reach the container at, when it has one.
    pub fn address(&self) -> Option<IpAddr> {
        self.addresses.first().map(|a| a.ip)
    }
}

/// Whether the cache is in step with Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// No listing has completed yet.
    Starting,
    /// Listed, and the events stream is open.
    Synced,
    /// The connection to Docker is lost; the reason, for the scrape's error.
    Disconnected(String),
}

#[derive(Debug)]
struct Inner {
    containers: BTreeMap<String, Arc<CachedContainer>>,
    state: SyncState,
}

/// The shared cache: cheap to clone, written by the Docker watcher, read by
/// the collector.
#[derive(Debug, Clone)]
pub struct MetadataCache {
    allowlist: Arc<LabelAllowlist>,
    inner: Arc<RwLock<Inner>>,
}

impl MetadataCache {
    /// An empty cache that keeps only the labels `allowlist` admits.
    pub fn new(allowlist: LabelAllowlist) -> Self {
        MetadataCache {
            allowlist: Arc::new(allowlist),
            inner: Arc::new(RwLock::new(Inner { containers: BTreeMap::new(), state: SyncState::Starting })),
        }
    }

    fn cached(&self, info: ContainerInfo) -> CachedContainer {
        let mut labels = Vec::with_capacity(2 + info.labels.len());
        labels.push(Label::new("name", info.name));
        labels.push(Label::new("image", info.image));
        labels.extend(self.allowlist.series_labels(&info.labels));
        let mut rule_labels: Vec<(String, String)> = info
            .labels
            .into_iter()
            .filter(|(key, _)| {
                (key.starts_with(RULE_LABEL_PREFIX) || key == SERVICE_NAME_LABEL) && self.allowlist.admits(key)
            })
            .collect();
        rule_labels.sort();
        CachedContainer {
            id: info.id,
            labels,
            rule_labels,
            pid: info.pid,
            started_at: info.started_at,
            addresses: info.addresses,
        }
    }

    /// Adds or replaces one container (a `start` or `rename` event).
    pub fn upsert(&self, info: ContainerInfo) {
        let cached = Arc::new(self.cached(info));
        self.write().containers.insert(cached.id.clone(), cached);
    }

    /// Forgets one container (a `die` or `destroy` event).
    pub fn remove(&self, id: &str) {
        self.write().containers.remove(id);
    }

    /// Replaces every container with a fresh listing and marks the cache
    /// synced: what the listing does not name is gone.
    pub fn replace_all(&self, infos: Vec<ContainerInfo>) {
        let containers = infos
            .into_iter()
            .map(|info| {
                let cached = self.cached(info);
                (cached.id.clone(), Arc::new(cached))
            })
            .collect();
        let mut inner = self.write();
        inner.containers = containers;
        inner.state = SyncState::Synced;
    }

    /// Records that the connection to Docker is lost, keeping the
    /// containers: their cgroups still answer until they go away.
    pub fn set_disconnected(&self, reason: String) {
        self.write().state = SyncState::Disconnected(reason);
    }

    /// The sync state.
    pub fn state(&self) -> SyncState {
        self.read().state.clone()
    }

    /// The containers, sorted by id.
    pub fn containers(&self) -> Vec<Arc<CachedContainer>> {
        self.read().containers.values().cloned().collect()
    }

    /// How many containers are cached.
    pub fn len(&self) -> usize {
        self.read().containers.len()
    }

    /// True when no container is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A writer that panicked mid-update leaves a map that is still a valid
    // map, so a poisoned lock is recovered rather than propagated.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, labels: &[(&str, &str)]) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: format!("name-{id}"),
            image: "img:1".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            pid: 42,
            started_at: Some(1.5),
            addresses: Vec::new(),
        }
    }

    #[test]
    fn keeps_only_allowlisted_labels_in_order() {
        let cache = MetadataCache::new(LabelAllowlist::default());
        cache.upsert(info(
            "a",
            &[("com.df.notify", "true"), ("maintainer", "someone"), ("com.docker.swarm.service.name", "go-demo_main")],
        ));
        let containers = cache.containers();
        let names: Vec<(&str, &str)> =
            containers[0].labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(
            names,
            vec![
                ("name", "name-a"),
                ("image", "img:1"),
                ("container_label_com_df_notify", "true"),
                ("container_label_com_docker_swarm_service_name", "go-demo_main"),
            ]
        );
    }

    #[test]
    fn keeps_the_raw_rule_labels() {
        let cache = MetadataCache::new(LabelAllowlist::default());
        cache.upsert(info(
            "a",
            &[
                ("com.df.alertIf", "@service_mem_limit:0.8"),
                ("maintainer", "someone"),
                ("com.docker.swarm.service.name", "go-demo_main"),
                ("com.docker.swarm.task.id", "t1"),
                ("com.df.alertName", "mem"),
            ],
        ));
        assert_eq!(
            cache.containers()[0].rule_labels,
            [
                ("com.df.alertIf".to_owned(), "@service_mem_limit:0.8".to_owned()),
                ("com.df.alertName".to_owned(), "mem".to_owned()),
                ("com.docker.swarm.service.name".to_owned(), "go-demo_main".to_owned()),
            ]
        );
        let cache = MetadataCache::new(LabelAllowlist::new(["com.docker.swarm.*"]));
        cache.upsert(info("b", &[("com.df.alertIf", "x"), ("com.docker.swarm.service.name", "s")]));
        assert_eq!(cache.containers()[0].rule_labels, [("com.docker.swarm.service.name".to_owned(), "s".to_owned())]);
    }

    #[test]
    fn listing_replaces_and_events_update() {
        let cache = MetadataCache::new(LabelAllowlist::default());
        assert_eq!(cache.state(), SyncState::Starting);
        cache.upsert(info("old", &[]));
        cache.replace_all(vec![info("b", &[]), info("a", &[])]);
        assert_eq!(cache.state(), SyncState::Synced);
        let ids: Vec<String> = cache.containers().iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids, ["a", "b"]);
        cache.remove("a");
        cache.set_disconnected("connection refused".into());
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.state(), SyncState::Disconnected("connection refused".into()));
    }
}
