//! `btrfs`: `node_btrfs_{info,global_rsv_size_bytes,device_size_bytes,reserved_bytes,used_bytes,size_bytes,allocation_ratio}`
//! from `/sys/fs/btrfs/<uuid>/`.
//!
//! node_exporter 1.5.0 also asks each mounted btrfs filesystem for its
//! devices' error counters through `BTRFS_IOC_*` ioctls; Sonde cannot
//! issue those without `unsafe`, so it reports what node_exporter reports
//! when the ioctls fail: the device sizes sysfs gives.

use std::io;
use std::path::{Path, PathBuf};

use sonde_instrument::{Labels, MetricFamily};

use super::read::{io_error, list_dir, not_found, read_trimmed};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::sysfs::btrfs::{self, BLOCK_GROUP_TYPES, SECTOR_SIZE};

#[derive(Debug)]
struct Btrfs {
    dir: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Btrfs { dir: config.sys_path("fs/btrfs") }))
}

/// Reads a text attribute; a missing one is empty, as in node_exporter.
fn text(path: &Path) -> Result<String, CollectorError> {
    match read_trimmed(path) {
        Ok(text) => Ok(text),
        Err(e) if not_found(&e) => Ok(String::new()),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Reads a number attribute; a missing (or unparsable) one is 0.
fn value(path: &Path) -> Result<f64, CollectorError> {
    Ok(btrfs::parse_value(&text(path)?) as f64)
}

/// The entries of a directory the filesystem must have.
fn entries(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<(String, PathBuf)>, CollectorError> {
    // `list_dir` takes a missing directory for an empty one; node_exporter
    // fails on it.
    if let Err(e) = std::fs::symlink_metadata(dir) {
        return Err(io_error(dir, e));
    }
    list_dir(dir, keep)
}

struct Families {
    info: MetricFamily,
    global_rsv: MetricFamily,
    device_size: MetricFamily,
    reserved: MetricFamily,
    used: MetricFamily,
    size: MetricFamily,
    ratio: MetricFamily,
}

impl Families {
    fn new() -> Self {
        let gauge = MetricFamily::gauge;
        Families {
            info: gauge("node_btrfs_info", "Filesystem information"),
            global_rsv: gauge("node_btrfs_global_rsv_size_bytes", "Size of global reserve."),
            device_size: gauge("node_btrfs_device_size_bytes", "Size of a device that is part of the filesystem."),
            reserved: gauge("node_btrfs_reserved_bytes", "Amount of space reserved for a data type"),
            used: gauge("node_btrfs_used_bytes", "Amount of used space by a layout/data type"),
            size: gauge("node_btrfs_size_bytes", "Amount of space allocated for a layout/data type"),
            ratio: gauge("node_btrfs_allocation_ratio", "Data allocation ratio for a layout/data type"),
        }
    }

    fn filesystem(&mut self, entry: &str, dir: &Path) -> Result<(), CollectorError> {
        let devices = entries(&dir.join("devices"), |_| true)?;
        let mut uuid = text(&dir.join("metadata_uuid"))?;
        if uuid.is_empty() {
            uuid = entry.to_owned();
        }
        let label = text(&dir.join("label"))?;
        self.info.push(Labels::new().with("label", label).with("uuid", uuid.as_str()), 1.0);
        self.global_rsv
            .push(Labels::new().with("uuid", uuid.as_str()), value(&dir.join("allocation/global_rsv_size"))?);
        for (device, device_dir) in &devices {
            let bytes = value(&device_dir.join("size"))? * SECTOR_SIZE as f64;
            self.device_size.push(Labels::new().with("device", device.as_str()).with("uuid", uuid.as_str()), bytes);
        }
        for block_group in BLOCK_GROUP_TYPES {
            let group_dir = dir.join("allocation").join(block_group);
            let group = Labels::new().with("block_group_type", block_group);
            self.reserved.push(group.clone().with("uuid", uuid.as_str()), value(&group_dir.join("bytes_reserved"))?);
            // Each subdirectory is a layout in use (`single`, `raid1`, …).
            let layouts = entries(&group_dir, |_| true)?;
            for (layout, layout_dir) in layouts.iter().filter(|(_, path)| path.is_dir()) {
                let labels = group.clone().with("mode", layout.as_str()).with("uuid", uuid.as_str());
                self.used.push(labels.clone(), value(&layout_dir.join("used_bytes"))?);
                self.size.push(labels.clone(), value(&layout_dir.join("total_bytes"))?);
                self.ratio.push(labels, btrfs::allocation_ratio(layout, devices.len()));
            }
        }
        Ok(())
    }
}

impl ScrapeCollector for Btrfs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        // Without btrfs this is one failed open and nothing to say, which
        // node_exporter (a glob that matches nothing) reports as success.
        let filesystems = match list_dir(&self.dir, btrfs::is_filesystem) {
            Err(CollectorError::Io { source, .. }) if source.kind() == io::ErrorKind::PermissionDenied => Vec::new(),
            other => other?,
        };
        let mut families = Families::new();
        for (entry, dir) in &filesystems {
            families.filesystem(entry, dir)?;
        }
        let Families { info, global_rsv, device_size, reserved, used, size, ratio } = families;
        out.extend(
            [info, global_rsv, device_size, reserved, used, size, ratio].into_iter().filter(|f| !f.samples.is_empty()),
        );
        Ok(())
    }
}
