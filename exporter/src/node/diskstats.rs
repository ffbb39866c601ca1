//! `diskstats`: `node_disk_*{device}` from `/proc/diskstats`, and
//! `node_disk_info` with what udev knows about each disk.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{parse_file, with_file};
use super::{CollectorError, CompiledFilter, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::{diskstats, udev};

/// Kernel sectors are always 512 bytes, whatever the device's block size.
const SECTOR_BYTES: f64 = 512.0;
/// The time fields are in milliseconds.
const SECONDS_PER_TICK: f64 = 0.001;

/// Name (without `_total` for counters), help, type and scale of each
/// `/proc/diskstats` field, in file order.
const FIELDS: [(&str, &str, MetricType, f64); diskstats::MAX_STATS] = [
    ("node_disk_reads_completed", "The total number of reads completed successfully.", MetricType::Counter, 1.0),
    ("node_disk_reads_merged", "The total number of reads merged.", MetricType::Counter, 1.0),
    ("node_disk_read_bytes", "The total number of bytes read successfully.", MetricType::Counter, SECTOR_BYTES),
    (
        "node_disk_read_time_seconds",
        "The total number of seconds spent by all reads.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    ("node_disk_writes_completed", "The total number of writes completed successfully.", MetricType::Counter, 1.0),
    ("node_disk_writes_merged", "The number of writes merged.", MetricType::Counter, 1.0),
    ("node_disk_written_bytes", "The total number of bytes written successfully.", MetricType::Counter, SECTOR_BYTES),
    (
        "node_disk_write_time_seconds",
        "This is the total number of seconds spent by all writes.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    ("node_disk_io_now", "The number of I/Os currently in progress.", MetricType::Gauge, 1.0),
    ("node_disk_io_time_seconds", "Total seconds spent doing I/Os.", MetricType::Counter, SECONDS_PER_TICK),
    (
        "node_disk_io_time_weighted_seconds",
        "The weighted # of seconds spent doing I/Os.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    ("node_disk_discards_completed", "The total number of discards completed successfully.", MetricType::Counter, 1.0),
    ("node_disk_discards_merged", "The total number of discards merged.", MetricType::Counter, 1.0),
    ("node_disk_discarded_sectors", "The total number of sectors discarded successfully.", MetricType::Counter, 1.0),
    (
        "node_disk_discard_time_seconds",
        "This is the total number of seconds spent by all discards.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
    ("node_disk_flush_requests", "The total number of flush requests completed successfully", MetricType::Counter, 1.0),
    (
        "node_disk_flush_requests_time_seconds",
        "This is the total number of seconds spent by all flush requests.",
        MetricType::Counter,
        SECONDS_PER_TICK,
    ),
];

#[derive(Debug)]
struct Diskstats {
    path: PathBuf,
    udev_data: PathBuf,
    devices: CompiledFilter,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Diskstats {
        path: config.proc_path("diskstats"),
        udev_data: config.udev_data.clone(),
        devices: CompiledFilter::new(
            &config.diskstats_devices,
            "collector.diskstats.device-include",
            "collector.diskstats.device-exclude",
        )?,
    }))
}

/// The udev properties of one disk, owned (a few per disk per scrape).
#[derive(Debug, Default)]
struct UdevInfo(Vec<(String, String)>);

impl UdevInfo {
    fn get(&self, key: &str) -> &str {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

/// The ATA properties node_exporter exports, with their metric names and help.
const ATA: [(&str, &str, &str); 3] = [
    ("ID_ATA_ROTATION_RATE_RPM", "node_disk_ata_rotation_rate_rpm", "ATA disk rotation rate in RPMs (0 for SSDs)."),
    ("ID_ATA_WRITE_CACHE", "node_disk_ata_write_cache", "ATA disk has a write cache."),
    ("ID_ATA_WRITE_CACHE_ENABLED", "node_disk_ata_write_cache_enabled", "ATA disk has its write cache enabled."),
];

impl Diskstats {
    fn udev_info(&self, major: u32, minor: u32) -> UdevInfo {
        let file = self.udev_data.join(format!("b{major}:{minor}"));
        let read = with_file(&file, |text| {
            UdevInfo(udev::parse_properties(text).into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        });
        read.unwrap_or_else(|error| {
            tracing::debug!(path = %file.display(), %error, "no udev data for disk");
            UdevInfo::default()
        })
    }
}

/// The optional udev-derived families, created when a disk needs them.
#[derive(Debug, Default)]
struct UdevFamilies {
    filesystem: Option<MetricFamily>,
    device_mapper: Option<MetricFamily>,
    ata: [Option<MetricFamily>; 3],
}

impl UdevFamilies {
    fn add(&mut self, device: &str, udev: &UdevInfo) {
        let fs_type = udev.get("ID_FS_TYPE");
        if !fs_type.is_empty() {
            self.filesystem
                .get_or_insert_with(|| MetricFamily::gauge("node_disk_filesystem_info", "Info about disk filesystem."))
                .push(
                    Labels::new()
                        .with("device", device)
                        .with("type", fs_type)
                        .with("usage", udev.get("ID_FS_USAGE"))
                        .with("uuid", udev.get("ID_FS_UUID"))
                        .with("version", udev.get("ID_FS_VERSION")),
                    1.0,
                );
        }
        let dm_name = udev.get("DM_NAME");
        if !dm_name.is_empty() {
            self.device_mapper
                .get_or_insert_with(|| {
                    MetricFamily::gauge("node_disk_device_mapper_info", "Info about disk device mapper.")
                })
                .push(
                    Labels::new()
                        .with("device", device)
                        .with("lv_layer", udev.get("DM_LV_LAYER"))
                        .with("lv_name", udev.get("DM_LV_NAME"))
                        .with("name", dm_name)
                        .with("uuid", udev.get("DM_UUID"))
                        .with("vg_name", udev.get("DM_VG_NAME")),
                    1.0,
                );
        }
        if udev.get("ID_ATA").is_empty() {
            return;
        }
        for (slot, (key, name, help)) in self.ata.iter_mut().zip(ATA) {
            // node_exporter skips a property that is absent or not a number.
            let Ok(value) = udev.get(key).parse::<f64>() else {
                continue;
            };
            slot.get_or_insert_with(|| MetricFamily::gauge(name, help))
                .push(Labels::new().with("device", device), value);
        }
    }

    fn into_families(self) -> impl Iterator<Item = MetricFamily> {
        [self.filesystem, self.device_mapper].into_iter().chain(self.ata).flatten()
    }
}

impl ScrapeCollector for Diskstats {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut info = MetricFamily::gauge("node_disk_info", "Info of /sys/block/<block_device>.");
        let mut extra = UdevFamilies::default();
        let mut families: Vec<MetricFamily> =
            FIELDS.iter().map(|(name, help, kind, _)| MetricFamily::new(*name, *help, *kind)).collect();
        parse_file(&self.path, |text| {
            for disk in diskstats::parse(text)? {
                if self.devices.ignored(disk.name) {
                    continue;
                }
                let udev = self.udev_info(disk.major, disk.minor);
                // The serial printed on the disk label, else the short serial.
                let serial = match udev.get("SCSI_IDENT_SERIAL") {
                    "" => udev.get("ID_SERIAL_SHORT"),
                    serial => serial,
                };
                info.push(
                    Labels::new()
                        .with("device", disk.name)
                        .with("major", disk.major.to_string())
                        .with("minor", disk.minor.to_string())
                        .with("model", udev.get("ID_MODEL"))
                        .with("path", udev.get("ID_PATH"))
                        .with("revision", udev.get("ID_REVISION"))
                        .with("serial", serial)
                        .with("wwn", udev.get("ID_WWN")),
                    1.0,
                );
                extra.add(disk.name, &udev);
                let device = Labels::new().with("device", disk.name);
                for ((family, field), value) in families.iter_mut().zip(FIELDS.iter()).zip(disk.stats).take(disk.count)
                {
                    family.push(device.clone(), value as f64 * field.3);
                }
            }
            Ok(())
        })?;
        out.push(info);
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        out.extend(extra.into_families());
        Ok(())
    }
}
