//! `zfs`: ZFS on Linux's kstats from `/proc/spl/kstat/zfs/`, named as
//! node_exporter 1.5.0 names them, generically: every 64-bit integer
//! kstat `<name>` of file `<file>` becomes the untyped family
//! `node_<subsystem>_<name>` (`-` turned into `_`) with help
//! `kstat.zfs.misc.<file>.<name>`, so kstats a newer ZFS adds appear
//! without a change here. Per pool: the columns of `<pool>/io`
//! (`node_zfs_zpool_<column>{zpool}`), each dataset's `objset-*`
//! (`node_zfs_zpool_dataset_<name>{dataset,zpool}`) and `<pool>/state`
//! (`node_zfs_zpool_state{state,zpool}`).
//!
//! Without the ZFS module there is no `/proc/spl/kstat/zfs`: one failed
//! open, reported as no data (success 0), as node_exporter does.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use sonde_instrument::model::is_valid_metric_name;
use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{io_error, not_found, parse_error, with_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::kstat::{self, UINT64};

/// The kstat files read, each with the subsystem its families are named
/// after: node_exporter 1.5.0's list. A file this ZFS lacks is skipped.
const SUBSYSTEMS: [(&str, &str); 11] = [
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbuf_stats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

/// The states `node_zfs_zpool_state` has a series for, in upstream's
/// order (1.5.0's: a suspended pool has all six at 0).
const POOL_STATES: [&str; 6] = ["online", "degraded", "faulted", "offline", "removed", "unavail"];

#[derive(Debug)]
struct Zfs {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Zfs { dir: config.proc_path("spl/kstat/zfs") }))
}

/// The families of one scrape by name: pools add samples to the same ones.
#[derive(Default)]
struct Families(BTreeMap<String, MetricFamily>);

impl Families {
    /// Adds a sample to family `name`, made untyped with `help` if new.
    /// A name that is not a valid metric name (a kstat with a character
    /// Prometheus refuses) is left out.
    fn push(
        &mut self,
        name: String,
        help: impl FnOnce() -> String,
        metric_type: MetricType,
        labels: Labels,
        value: f64,
    ) {
        if !is_valid_metric_name(&name) {
            return;
        }
        self.0
            .entry(name)
            .or_insert_with_key(|name| MetricFamily::new(name.clone(), help(), metric_type))
            .push(labels, value);
    }
}

/// The name node_exporter gives kstat `name`.
fn metric_name(subsystem: &str, name: &str) -> String {
    format!("node_{subsystem}_{}", name.replace('-', "_"))
}

/// Reads `path` with `read`; `None` when the file is gone (a kstat this
/// ZFS lacks, or a pool exported meanwhile).
fn read_optional<T>(
    path: &Path,
    read: impl FnOnce(&str) -> Result<T, crate::procfs::ParseError>,
) -> Result<Option<T>, CollectorError> {
    match with_file(path, read) {
        Ok(parsed) => parsed.map(Some).map_err(|e| parse_error(path, e)),
        Err(e) if not_found(&e) || e.kind() == io::ErrorKind::NotADirectory => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

impl Zfs {
    fn subsystems(&self, families: &mut Families) -> Result<(), CollectorError> {
        for (subsystem, file) in SUBSYSTEMS {
            let path = self.dir.join(file);
            read_optional(&path, |text| {
                for named in kstat::parse_named(text)? {
                    if let Some(value) = named.integer() {
                        let help = || format!("kstat.zfs.misc.{file}.{}", named.name);
                        families.push(
                            metric_name(subsystem, named.name),
                            help,
                            MetricType::Unknown,
                            Labels::new(),
                            value?,
                        );
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn pool(&self, pool: &str, dir: &Path, families: &mut Families) -> Result<(), CollectorError> {
        read_optional(&dir.join("io"), |text| {
            for (column, value) in kstat::parse_io(text)? {
                let help = || format!("kstat.zfs.misc.io.{column}");
                let labels = Labels::new().with("zpool", pool);
                families.push(metric_name("zfs_zpool", column), help, MetricType::Unknown, labels, value as f64);
            }
            Ok(())
        })?;
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            // Exported since the pools were listed.
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(io_error(dir, e)),
        };
        let mut objsets = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(dir, e))?;
            if entry.file_name().to_str().is_some_and(|name| name.starts_with("objset-")) {
                objsets.push(entry.path());
            }
        }
        objsets.sort();
        for path in objsets {
            read_optional(&path, |text| {
                let named = kstat::parse_named(text)?;
                let dataset = named.iter().find(|n| n.name == "dataset_name").map_or("", |n| n.data);
                // Only the unsigned ones, as upstream reads a dataset.
                for n in named.iter().filter(|n| n.data_type == UINT64) {
                    if let Some(value) = n.integer() {
                        let help = || format!("kstat.zfs.misc.objset.{}", n.name);
                        let labels = Labels::new().with("dataset", dataset).with("zpool", pool);
                        families.push(
                            metric_name("zfs_zpool_dataset", n.name),
                            help,
                            MetricType::Unknown,
                            labels,
                            value?,
                        );
                    }
                }
                Ok(())
            })?;
        }
        if let Some(state) = read_optional(&dir.join("state"), |text| Ok(kstat::parse_state(text)))? {
            for name in POOL_STATES {
                let labels = Labels::new().with("state", name).with("zpool", pool);
                let help = || "kstat.zfs.misc.state".to_owned();
                let active = if state == name { 1.0 } else { 0.0 };
                families.push("node_zfs_zpool_state".to_owned(), help, MetricType::Gauge, labels, active);
            }
        }
        Ok(())
    }
}

impl ScrapeCollector for Zfs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        // One directory read tells whether ZFS is loaded and lists the
        // pools (the directories among the kstat files).
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            if not_found(&e) { CollectorError::NoData { path: self.dir.clone() } } else { io_error(&self.dir, e) }
        })?;
        let mut pools = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Ok(name) = entry.file_name().into_string()
            {
                pools.push((name, entry.path()));
            }
        }
        pools.sort();
        let mut families = Families::default();
        self.subsystems(&mut families)?;
        for (pool, dir) in &pools {
            self.pool(pool, dir, &mut families)?;
        }
        out.extend(families.0.into_values());
        Ok(())
    }
}
