//! The Docker watcher (`sonde_exporter::container::docker`) against a fake
//! engine serving recorded responses, and once against the real engine.
//!
//! Every wait polls the cache with a bound ([`TIMEOUT`]): a broken watcher
//! fails a test, it never hangs it, and no test sleeps for a guessed time.
// Helpers outside #[test] functions fail by panicking too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sonde_exporter::container::docker::{DockerConfig, spawn_watcher};
use sonde_exporter::container::{CachedContainer, LabelAllowlist, MetadataCache, SyncState};
use sonde_tests::TIMEOUT;
use sonde_tests::engine;
use sonde_tests::fake_docker::{self, Endpoint, FakeDocker, PLAIN_ID, PLAIN_NAME, SWARM_ID, SWARM_NAME};
use tokio::task::JoinHandle;

const NEW_ID: &str = "5eed0000aaaabbbbccccddddeeeeffff00001111222233334444555566667777";
const OTHER_ID: &str = "0ddba11000000000000000000000000000000000000000000000000000000000";

/// A running watcher, aborted when dropped so a failing test leaks none.
struct Watcher {
    cache: MetadataCache,
    task: JoinHandle<()>,
}

impl Watcher {
    fn start(host: String, timeout: Duration) -> Watcher {
        let cache = MetadataCache::new(LabelAllowlist::default());
        let task = spawn_watcher(DockerConfig { host, timeout }, cache.clone());
        Watcher { cache, task }
    }

    fn on(fake: &FakeDocker) -> Watcher {
        Watcher::start(fake.host(), Duration::from_secs(5))
    }

    /// Polls until `done` holds; fails the test after [`TIMEOUT`], saying
    /// what the cache held.
    async fn wait(&self, what: &str, done: impl Fn(&MetadataCache) -> bool) {
        let start = Instant::now();
        while !done(&self.cache) {
            assert!(!self.task.is_finished(), "the watcher task ended while waiting for {what}");
            if start.elapsed() > TIMEOUT {
                panic!(
                    "{what}: not within {TIMEOUT:?}; state {:?}, containers {:#?}",
                    self.cache.state(),
                    self.cache.containers()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_synced(&self, ids: &[&str]) {
        let want: Vec<&str> = {
            let mut want = ids.to_vec();
            want.sort_unstable();
            want
        };
        self.wait(&format!("synced with {want:?}"), |cache| {
            cache.state() == SyncState::Synced && ids_of(cache) == want
        })
        .await;
    }

    /// Waits until the cache is disconnected; returns the reason.
    async fn wait_disconnected(&self) -> String {
        self.wait("disconnected", |cache| matches!(cache.state(), SyncState::Disconnected(_))).await;
        match self.cache.state() {
            SyncState::Disconnected(reason) => reason,
            other => panic!("state went from Disconnected to {other:?}"),
        }
    }

    fn get(&self, id: &str) -> Option<Arc<CachedContainer>> {
        self.cache.containers().into_iter().find(|c| c.id == id)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ids_of(cache: &MetadataCache) -> Vec<String> {
    cache.containers().iter().map(|c| c.id.clone()).collect()
}

fn labels(container: &CachedContainer) -> Vec<(&str, &str)> {
    container.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect()
}

fn name_of(cache: &MetadataCache, id: &str) -> Option<String> {
    let container = cache.containers().into_iter().find(|c| c.id == id)?;
    let name = container.labels.iter().find(|l| l.name == "name")?;
    Some(name.value.clone())
}

#[tokio::test]
async fn syncs_the_recorded_containers_with_allowlisted_labels_only() {
    let fake = FakeDocker::start().await;
    let watcher = Watcher::on(&fake);
    watcher.wait_synced(&[SWARM_ID, PLAIN_ID]).await;

    let swarm = watcher.get(SWARM_ID).unwrap();
    assert_eq!(
        labels(&swarm),
        [
            ("name", SWARM_NAME),
            ("image", "vfarcic/go-demo:latest"),
            ("container_label_com_df_notify", "true"),
            ("container_label_com_df_scrapePort", "8080"),
            ("container_label_com_docker_stack_namespace", "go-demo"),
            ("container_label_com_docker_swarm_node_id", "nd0k2m4x7q9z1b3c5e7g9h1j3"),
            ("container_label_com_docker_swarm_service_name", "go-demo_main"),
            ("container_label_com_docker_swarm_task_id", "p1kf8a0lzq3w2vbn6rx7tye4d"),
        ]
    );
    assert_eq!(swarm.pid, 4242);
    // 2024-05-06T07:08:09.123456789Z
    let started = swarm.started_at.unwrap();
    assert!((started - 1_714_979_289.123_456_7).abs() < 1e-6, "started_at {started}");

    let plain = watcher.get(PLAIN_ID).unwrap();
    assert_eq!(labels(&plain), [("name", PLAIN_NAME), ("image", "sonde-fixture-sleeper:rec")]);
    assert_eq!(plain.pid, 4343);
    assert_eq!(plain.started_at, Some(1_714_979_400.0));

    // The address a scrape target is reached at: inspect's
    // `NetworkSettings.Networks` (both recorded on the default bridge).
    assert_eq!(swarm.address().map(|ip| ip.to_string()).as_deref(), Some("172.17.0.2"));
    assert_eq!(plain.address().map(|ip| ip.to_string()).as_deref(), Some("172.17.0.3"));
    assert_eq!(swarm.addresses[0].network, "bridge");

    // The label outside the allowlist and the environment never reach the
    // cache (the fixture has `maintainer` and `SECRET=hunter2`).
    let everything = format!("{:?}", watcher.cache.containers());
    for secret in ["maintainer", "someone@example.com", "SECRET", "hunter2", "PATH="] {
        assert!(!everything.contains(secret), "{secret:?} leaked into the cache: {everything}");
    }

    // One listing, one inspect per container, one events stream that
    // starts before the listing and asks for container events only.
    watcher.wait("the events stream to open", |_| fake.open_streams() == 1).await;
    let log = fake.request_log();
    let path = |r: &String| fake_docker_path(r);
    assert_eq!(log.iter().filter(|r| path(r) == "/containers/json").count(), 1, "{log:#?}");
    assert_eq!(
        log.iter()
            .filter(|r| path(r).ends_with("/json")
                && path(r).starts_with("/containers/")
                && path(r) != "/containers/json")
            .count(),
        2,
        "{log:#?}"
    );
    let events: Vec<&String> = log.iter().filter(|r| path(r) == "/events").collect();
    assert_eq!(events.len(), 1, "{log:#?}");
    assert!(events[0].contains("since="), "{events:?}");
    assert!(events[0].contains("container"), "no type filter in {events:?}");
    assert_eq!(fake.requests(), log.len());
}

/// The path of a logged request, without the method, the query and an
/// optional `/v1.xx` prefix.
fn fake_docker_path(request: &str) -> String {
    let target = request.split_once(' ').map_or(request, |(_, t)| t);
    let path = target.split('?').next().unwrap_or(target);
    match path.strip_prefix("/v").and_then(|rest| rest.split_once('/')) {
        Some((version, rest)) if version.chars().all(|c| c.is_ascii_digit() || c == '.') => {
            format!("/{rest}")
        }
        _ => path.to_owned(),
    }
}

#[tokio::test]
async fn events_add_rename_and_remove_containers() {
    let fake = FakeDocker::start().await;
    let watcher = Watcher::on(&fake);
    watcher.wait_synced(&[SWARM_ID, PLAIN_ID]).await;
    watcher.wait("the events stream to open", |_| fake.open_streams() == 1).await;

    fake.add_container(fake_docker::plain_container(NEW_ID, "web", 4444));
    fake.emit("start", NEW_ID);
    watcher.wait("a start event to add the container", |c| name_of(c, NEW_ID).as_deref() == Some("web")).await;
    assert_eq!(watcher.get(NEW_ID).unwrap().pid, 4444);

    fake.rename_container(NEW_ID, "web-renamed");
    fake.emit("rename", NEW_ID);
    watcher.wait("a rename event to rename it", |c| name_of(c, NEW_ID).as_deref() == Some("web-renamed")).await;

    fake.stop_container(NEW_ID);
    fake.emit("die", NEW_ID);
    watcher.wait("a die event to remove it", |c| !ids_of(c).contains(&NEW_ID.to_owned())).await;

    // A late `start` of a container that is no longer running adds
    // nothing. Events are applied in order, so once the next container
    // shows up the late one has been handled.
    fake.emit("start", NEW_ID);
    fake.add_container(fake_docker::plain_container(OTHER_ID, "other", 4545));
    fake.emit("start", OTHER_ID);
    watcher.wait("the next start event", |c| ids_of(c).contains(&OTHER_ID.to_owned())).await;
    assert!(watcher.get(NEW_ID).is_none(), "a stopped container was added back");

    fake.remove_container(PLAIN_ID);
    fake.emit("destroy", PLAIN_ID);
    watcher.wait("a destroy event to remove it", |c| !ids_of(c).contains(&PLAIN_ID.to_owned())).await;

    assert_eq!(watcher.cache.state(), SyncState::Synced);
    assert_eq!(ids_of(&watcher.cache), [OTHER_ID, SWARM_ID]);
}

#[tokio::test]
async fn reconnects_with_backoff_when_the_engine_comes_back() {
    let mut fake = FakeDocker::start().await;
    let watcher = Watcher::on(&fake);
    watcher.wait_synced(&[SWARM_ID, PLAIN_ID]).await;
    watcher.wait("the events stream to open", |_| fake.open_streams() == 1).await;

    // The engine dies: its socket closes under the open events stream.
    fake.stop().await;
    let reason = watcher.wait_disconnected().await;
    assert!(reason.contains(&fake.host()), "the reason names the host: {reason}");
    // What was known is kept: the cgroups still answer until they go away.
    assert_eq!(watcher.cache.len(), 2);

    // While it is down, a container goes and another comes; nobody sends
    // events for them. The relisting after the restart must notice.
    fake.remove_container(PLAIN_ID);
    fake.add_container(fake_docker::plain_container(NEW_ID, "web", 4444));
    fake.restart().await;
    watcher.wait_synced(&[SWARM_ID, NEW_ID]).await;
    assert!(!watcher.task.is_finished());

    // And the new stream works.
    watcher.wait("the events stream to reopen", |_| fake.open_streams() == 1).await;
    fake.stop_container(NEW_ID);
    fake.emit("die", NEW_ID);
    watcher.wait("a die event after the reconnect", |c| !ids_of(c).contains(&NEW_ID.to_owned())).await;
}

#[tokio::test]
async fn a_hanging_inspect_hits_the_deadline_and_the_watcher_recovers() {
    let fake = FakeDocker::start().await;
    fake.set_hang(Endpoint::Inspect, true);
    let started = Instant::now();
    let watcher = Watcher::start(fake.host(), Duration::from_millis(300));
    let reason = watcher.wait_disconnected().await;
    assert!(reason.contains("timed out after 300ms"), "{reason}");
    // Far below bollard's own 120 s default: the deadline is ours.
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());

    fake.set_hang(Endpoint::Inspect, false);
    watcher.wait_synced(&[SWARM_ID, PLAIN_ID]).await;

    // An inspect that hangs while following events: disconnected too, and
    // the relisting picks the container up once the engine answers.
    watcher.wait("the events stream to open", |_| fake.open_streams() == 1).await;
    fake.set_hang(Endpoint::Inspect, true);
    fake.add_container(fake_docker::plain_container(NEW_ID, "web", 4444));
    fake.emit("start", NEW_ID);
    let reason = watcher.wait_disconnected().await;
    assert!(reason.contains(&format!("inspecting container {NEW_ID} timed out")), "{reason}");
    fake.set_hang(Endpoint::Inspect, false);
    watcher.wait_synced(&[SWARM_ID, PLAIN_ID, NEW_ID]).await;
}

#[tokio::test]
async fn a_hanging_listing_or_events_stream_is_not_waited_for_forever() {
    let fake = FakeDocker::start().await;
    fake.set_hang(Endpoint::List, true);
    let watcher = Watcher::start(fake.host(), Duration::from_millis(300));
    let reason = watcher.wait_disconnected().await;
    assert!(reason.contains("listing containers timed out after 300ms"), "{reason}");
    fake.set_hang(Endpoint::List, false);

    // An events stream whose headers never come: bollard's own timeout
    // (whole seconds, at least 1) ends it.
    fake.set_hang(Endpoint::Events, true);
    watcher.wait("a listing once the engine answers", |c| c.len() == 2).await;
    let reason = watcher.wait_disconnected().await;
    assert!(reason.contains("events stream"), "{reason}");
    fake.set_hang(Endpoint::Events, false);
    watcher.wait_synced(&[SWARM_ID, PLAIN_ID]).await;
    watcher.wait("the events stream to open", |_| fake.open_streams() == 1).await;
}

#[tokio::test]
async fn unreachable_or_unsupported_hosts_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let missing = format!("unix://{}", socket.display());
    let waiting = Watcher::start(missing.clone(), Duration::from_millis(300));
    let reason = waiting.wait_disconnected().await;
    assert!(reason.starts_with(&format!("Docker at {missing}: cannot connect")), "{reason}");

    let unsupported = Watcher::start("ssh://somewhere".into(), Duration::from_millis(300));
    let reason = unsupported.wait_disconnected().await;
    assert!(reason.contains("unsupported Docker host"), "{reason}");

    // The engine comes up at the missing path later: the retries find it.
    let _fake = FakeDocker::start_at(&socket).await;
    waiting.wait_synced(&[SWARM_ID, PLAIN_ID]).await;
}

/// The real engine: a container of this test, with a label on the
/// allowlist, shows up under its name, and leaves when it is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_engine_lists_and_follows_a_test_container() {
    const TEST: &str = "real_engine_lists_and_follows_a_test_container";
    if std::env::var(engine::SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("{TEST}: skipped, {}=1", engine::SKIP_ENV);
        return;
    }
    if !Path::new(engine::DOCKER_SOCKET).exists() {
        eprintln!("{TEST}: skipped, {} does not exist (no Docker engine here)", engine::DOCKER_SOCKET);
        return;
    }
    // The `docker` CLI blocks; `block_in_place` keeps the watcher's worker free.
    let containers = engine::Containers::new();
    let container = tokio::task::block_in_place(|| {
        let image = engine::workload_image(Path::new(env!("CARGO_BIN_EXE_sonde-workload")));
        let container = containers.run(
            &["--label", "com.df.sondeTest=docker_watcher", "--label", "not.allowed=1"],
            image,
            &["sleep"],
        );
        // Fails here, saying so, if the workload did not stay up.
        container.wait_ready();
        container
    });

    let watcher = Watcher::start(format!("unix://{}", engine::DOCKER_SOCKET), Duration::from_secs(5));
    watcher
        .wait("the test container in the cache", |c| {
            name_of(c, &container.id).as_deref() == Some(container.name.as_str())
        })
        .await;
    assert_eq!(watcher.cache.state(), SyncState::Synced);
    let cached = watcher.get(&container.id).unwrap();
    let cached_labels = labels(&cached);
    assert!(cached_labels.contains(&("container_label_com_df_sondeTest", "docker_watcher")), "{cached_labels:?}");
    assert!(!cached_labels.iter().any(|(name, _)| name.contains("not_allowed")), "{cached_labels:?}");
    assert!(cached.pid > 0, "pid {}", cached.pid);
    assert!(cached.started_at.is_some_and(|t| t > 1.5e9), "started_at {:?}", cached.started_at);

    // Removing it reaches the cache through the real events stream.
    tokio::task::block_in_place(|| containers.remove(&container));
    watcher.wait("the removed container to leave the cache", |c| !ids_of(c).contains(&container.id)).await;
    assert_eq!(watcher.cache.state(), SyncState::Synced);
}
