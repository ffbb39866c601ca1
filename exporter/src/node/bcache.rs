//! `bcache`: `node_bcache_*{uuid}` of each cache set, `{backing_device,uuid}`
//! of its backing devices and `{cache_device,uuid}` of its cache devices,
//! from `/sys/fs/bcache/<uuid>/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sonde_instrument::MetricType::{Counter, Gauge};
use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{list_dir, parse_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::bcache;

#[derive(Debug)]
struct Bcache {
    dir: PathBuf,
    priority_stats: bool,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Bcache { dir: config.sys_path("fs/bcache"), priority_stats: config.bcache_priority_stats }))
}

/// A cache set's own values: file, metric, type, help.
const CACHE_SET: [(&str, &str, MetricType, &str); 10] = [
    ("average_key_size", "average_key_size_sectors", Gauge, "Average data per key in the btree (sectors)."),
    ("btree_cache_size", "btree_cache_size_bytes", Gauge, "Amount of memory currently used by the btree cache."),
    (
        "cache_available_percent",
        "cache_available_percent",
        Gauge,
        "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).",
    ),
    ("congested", "congested", Gauge, "Congestion."),
    (
        "root_usage_percent",
        "root_usage_percent",
        Gauge,
        "Percentage of the root btree node in use (tree depth increases if too high).",
    ),
    ("tree_depth", "tree_depth", Gauge, "Depth of the btree."),
    (
        "internal/active_journal_entries",
        "active_journal_entries",
        Gauge,
        "Number of journal entries that are newer than the index.",
    ),
    ("internal/btree_nodes", "btree_nodes", Gauge, "Total nodes in the btree."),
    // Microseconds, which node_exporter scales as nanoseconds; kept so
    // that dashboards see the same number.
    (
        "internal/btree_read_average_duration_us",
        "btree_read_average_duration_seconds",
        Gauge,
        "Average btree read duration.",
    ),
    (
        "internal/cache_read_races",
        "cache_read_races",
        Counter,
        "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.",
    ),
];

/// A backing device's totals under `stats_total/`: file, metric, help.
const BACKING_TOTALS: [(&str, &str, &str); 7] = [
    ("bypassed", "bypassed_bytes", "Amount of IO (both reads and writes) that has bypassed the cache."),
    ("cache_hits", "cache_hits", "Hits counted per individual IO as bcache sees them."),
    ("cache_misses", "cache_misses", "Misses counted per individual IO as bcache sees them."),
    ("cache_bypass_hits", "cache_bypass_hits", "Hits for IO intended to skip the cache."),
    ("cache_bypass_misses", "cache_bypass_misses", "Misses for IO intended to skip the cache."),
    (
        "cache_miss_collisions",
        "cache_miss_collisions",
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
    ("cache_readaheads", "cache_readaheads", "Count of times readahead occurred."),
];

/// A cache device's values: file, metric, type, help.
const CACHE_DEVICE: [(&str, &str, MetricType, &str); 3] = [
    ("io_errors", "io_errors", Gauge, "Number of errors that have occurred, decayed by io_error_halflife."),
    (
        "metadata_written",
        "metadata_written_bytes",
        Counter,
        "Sum of all non data writes (btree writes and all other metadata).",
    ),
    ("written", "written_bytes", Counter, "Sum of all data that has been written to the cache."),
];

/// The families, by name, filled cache set by cache set.
#[derive(Default)]
struct Families(BTreeMap<&'static str, MetricFamily>);

impl Families {
    fn push(&mut self, name: &'static str, metric_type: MetricType, help: &str, labels: Labels, value: f64) {
        self.0
            .entry(name)
            .or_insert_with(|| MetricFamily::new(format!("node_bcache_{name}"), help, metric_type))
            .push(labels, value);
    }
}

/// Reads a value bcache writes, plain or humanized; every one is required.
fn value(path: &Path) -> Result<f64, CollectorError> {
    parse_file(path, bcache::dehumanize)
}

impl Bcache {
    fn cache_set(&self, uuid: &str, dir: &Path, out: &mut Families) -> Result<(), CollectorError> {
        let set = Labels::new().with("uuid", uuid);
        for (file, name, metric_type, help) in CACHE_SET {
            let mut value = value(&dir.join(file))?;
            if name == "btree_read_average_duration_seconds" {
                value *= 1e-9;
            }
            out.push(name, metric_type, help, set.clone(), value);
        }
        for (device, device_dir) in list_dir(dir, bcache::is_backing_device)? {
            let labels = Labels::new().with("backing_device", device).with("uuid", uuid);
            out.push(
                "dirty_data_bytes",
                Gauge,
                "Amount of dirty data for this backing device in the cache.",
                labels.clone(),
                value(&device_dir.join("dirty_data"))?,
            );
            let debug = parse_file(&device_dir.join("writeback_rate_debug"), bcache::parse_writeback_rate_debug)?;
            for (name, help, value) in [
                (
                    "dirty_target_bytes",
                    "Current dirty data target threshold for this backing device in bytes.",
                    debug.target,
                ),
                ("writeback_rate", "Current writeback rate for this backing device in bytes.", debug.rate),
                (
                    "writeback_rate_proportional_term",
                    "Current result of proportional controller, part of writeback rate",
                    debug.proportional,
                ),
                (
                    "writeback_rate_integral_term",
                    "Current result of integral controller, part of writeback rate",
                    debug.integral,
                ),
                ("writeback_change", "Last writeback rate change step for this backing device.", debug.change),
            ] {
                out.push(name, Gauge, help, labels.clone(), value);
            }
            for (file, name, help) in BACKING_TOTALS {
                let total = value(&device_dir.join("stats_total").join(file))?;
                out.push(name, Counter, help, labels.clone(), total);
            }
        }
        for (device, device_dir) in list_dir(dir, bcache::is_cache_device)? {
            let labels = Labels::new().with("cache_device", device).with("uuid", uuid);
            for (file, name, metric_type, help) in CACHE_DEVICE {
                out.push(name, metric_type, help, labels.clone(), value(&device_dir.join(file))?);
            }
            // Reading priority_stats makes the kernel walk every bucket of
            // the cache, hence upstream's flag.
            if self.priority_stats {
                let path = device_dir.join("priority_stats");
                let stats = parse_file(&path, bcache::parse_priority_stats)?;
                out.push(
                    "priority_stats_unused_percent",
                    Gauge,
                    "The percentage of the cache that doesn't contain any data.",
                    labels.clone(),
                    stats.unused_percent as f64,
                );
                out.push(
                    "priority_stats_metadata_percent",
                    Gauge,
                    "Bcache's metadata overhead.",
                    labels,
                    stats.metadata_percent as f64,
                );
            }
        }
        Ok(())
    }
}

impl ScrapeCollector for Bcache {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        // Without bcache this is one failed open and nothing to say, which
        // node_exporter (a glob that matches nothing) reports as success.
        let mut families = Families::default();
        for (uuid, dir) in list_dir(&self.dir, bcache::is_cache_set)? {
            self.cache_set(&uuid, &dir, &mut families)?;
        }
        out.extend(families.0.into_values());
        Ok(())
    }
}
