//! The container collector over the fixture cgroup trees
//! (`tests/fixtures/cgroup/{v2,v1,hybrid}`, each with one container in the
//! systemd layout and one in the cgroupfs layout), with names and labels
//! from a fake Docker engine serving recorded responses, against one golden
//! file per tree (`tests/golden/cgroup-{v2,v1,hybrid}.txt`).
//! `UPDATE_GOLDEN=1 cargo test -p sonde-tests --test container_fixture`
//! rewrites them (the rule of every golden test, in `sonde_tests::golden`).
//!
//! Only two things vary between runs, and both are checked before they are
//! masked: `container_last_seen` (the scrape time) and the collector's
//! duration.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sonde_exporter::container::docker::{DockerConfig, spawn_watcher};
use sonde_exporter::container::{ContainerCollector, ContainerConfig, LabelAllowlist, MetadataCache, SyncState};
use sonde_exporter::scrape::ScrapeExecutor;
use sonde_instrument::encode::encode_to_string;
use sonde_instrument::{Collector, Format, MetricFamily, find_value};
use sonde_tests::fake_docker::FakeDocker;
use sonde_tests::{TIMEOUT, golden};
use tokio::task::JoinHandle;

/// The collector of one fixture tree, its cache filled by a watcher on
/// `fake`.
struct Setup {
    cache: MetadataCache,
    watcher: JoinHandle<()>,
    executor: ScrapeExecutor,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl Setup {
    /// `tree` is a cgroup fixture tree: `cgroup/v2`, `cgroup/v1` or
    /// `cgroup/hybrid`.
    fn new(fake: &FakeDocker, tree: &str) -> Setup {
        let cache = MetadataCache::new(LabelAllowlist::default());
        let docker = DockerConfig { host: fake.host(), timeout: Duration::from_secs(5) };
        let watcher = spawn_watcher(docker, cache.clone());
        let config = ContainerConfig {
            cgroup_root: golden::fixture(tree),
            procfs: golden::fixture("container/proc"),
            sysfs: golden::fixture("container/sys"),
        };
        let collector = ContainerCollector::new(config, cache.clone()).unwrap();
        let mut executor = ScrapeExecutor::new();
        sonde_exporter::container::register(&mut executor, Box::new(collector)).unwrap();
        Setup { cache, watcher, executor }
    }

    async fn wait_for(&self, what: &str, done: impl Fn(&MetadataCache) -> bool) {
        let start = Instant::now();
        while !done(&self.cache) {
            assert!(start.elapsed() < TIMEOUT, "{what}: not within {TIMEOUT:?}; state {:?}", self.cache.state());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn synced(&self) {
        self.wait_for("the recorded containers", |cache| cache.state() == SyncState::Synced && cache.len() == 2).await;
    }

    fn scrape(&self) -> Vec<MetricFamily> {
        let mut families = Vec::new();
        self.executor.collect(&mut families);
        families
    }
}

fn container_success(families: &[MetricFamily]) -> Option<f64> {
    find_value(families, "sonde_scrape_collector_success", "collector", "container")
}

/// Checks the volatile values, then replaces them with a fixed word.
fn masked(text: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let volatile = ["container_last_seen{", "sonde_scrape_collector_duration_seconds{"]
            .iter()
            .any(|prefix| line.starts_with(prefix));
        match line.rsplit_once(' ') {
            Some((series, value)) if volatile => {
                let value: f64 = value.parse().unwrap();
                if series.starts_with("container_last_seen") {
                    assert!((now - value).abs() < 60.0, "{line}: not the scrape time");
                } else {
                    assert!(value >= 0.0, "{line}");
                }
                out.push_str(series);
                out.push_str(" <masked>");
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The collector's output over `tree` is its golden file's.
async fn matches_golden(tree: &str) {
    let fake = FakeDocker::start().await;
    let setup = Setup::new(&fake, tree);
    setup.synced().await;
    let families = setup.scrape();
    assert_eq!(container_success(&families), Some(1.0), "{tree}");
    let (text, report) = encode_to_string(&families, Format::Text);
    assert_eq!(report, Default::default(), "{tree}: the encoder dropped series");
    golden::check(tree, &masked(&text));
}

#[tokio::test]
async fn cgroup_v2_tree() {
    matches_golden("cgroup/v2").await;
}

#[tokio::test]
async fn cgroup_v1_tree() {
    matches_golden("cgroup/v1").await;
}

#[tokio::test]
async fn cgroup_hybrid_tree() {
    matches_golden("cgroup/hybrid").await;
}

/// Metadata comes from the cache: a hundred scrapes make no Docker call.
#[tokio::test]
async fn scrapes_make_no_docker_api_calls() {
    let fake = FakeDocker::start().await;
    let setup = Setup::new(&fake, "cgroup/v1");
    setup.synced().await;
    let before = fake.request_log();
    for _ in 0..100 {
        let families = setup.scrape();
        assert_eq!(container_success(&families), Some(1.0));
    }
    assert_eq!(fake.request_log(), before, "a scrape called the Docker API");
    // The log is not empty: the fake did see the start-up calls, so an
    // empty "after" could not pass by accident.
    assert!(before.iter().any(|r| r.contains("/containers/json")), "{before:?}");
}

/// While Docker is away the collector reports failure, keeps the root
/// cgroup and the cached containers, and recovers by itself.
#[tokio::test]
async fn docker_down_is_a_failed_collector_not_a_failed_scrape() {
    let mut fake = FakeDocker::start().await;
    let setup = Setup::new(&fake, "cgroup/v1");
    setup.synced().await;
    fake.stop().await;
    setup.wait_for("disconnected", |cache| matches!(cache.state(), SyncState::Disconnected(_))).await;
    let families = setup.scrape();
    assert_eq!(container_success(&families), Some(0.0));
    assert_eq!(scrape_error(&families), Some(1.0), "cAdvisor's container_scrape_error says it too");
    assert!(find_value(&families, "container_memory_usage_bytes", "id", "/").is_some());
    fake.restart().await;
    setup.wait_for("synced again", |cache| cache.state() == SyncState::Synced).await;
    let families = setup.scrape();
    assert_eq!(container_success(&families), Some(1.0));
    assert_eq!(scrape_error(&families), Some(0.0));
}

/// The one sample of `container_scrape_error`.
fn scrape_error(families: &[MetricFamily]) -> Option<f64> {
    let family = families.iter().find(|family| family.name == "container_scrape_error")?;
    family.samples.first().map(|sample| sample.value)
}
