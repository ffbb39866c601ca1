//! `netclass`: `node_network_{up,info,mtu_bytes,speed_bytes,carrier,…}{device}`
//! from `/sys/class/net/<iface>/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use regex::Regex;
use rustix::io::Errno;
use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{Dir, attribute_value, io_error, no_value, not_found, read_dir_or_no_data};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector, compile};
use crate::kernel_file::HeldAttribute;
use crate::sysfs::net_class::{ATTRIBUTES, NetClassIface};

#[derive(Debug)]
struct Netclass {
    dir: PathBuf,
    ignored: Regex,
    ignore_invalid_speed: bool,
    held: Mutex<Held>,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Netclass {
        dir: config.sys_path("class/net"),
        ignored: compile("collector.netclass.ignored-devices", &config.netclass_ignored_devices)?,
        ignore_invalid_speed: config.netclass_ignore_invalid_speed,
        held: Mutex::new(Held { budget: held_budget(), ..Held::default() }),
    }))
}

/// The attribute files of each interface, held open between scrapes:
/// reading a held attribute is one `pread` instead of `openat`, `read`
/// and `close` (0.8 ms of a scrape with five interfaces, `BENCHMARKS.md`).
/// `None` where the interface has no such attribute.
#[derive(Debug, Default)]
struct Held {
    interfaces: HashMap<String, Vec<Option<HeldAttribute>>>,
    /// Files held now, and at most.
    files: usize,
    budget: usize,
}

impl Held {
    fn forget(&mut self, device: &str) {
        if let Some(files) = self.interfaces.remove(device) {
            self.files -= files.iter().flatten().count();
        }
    }
}

/// How many attribute files to hold at most: an eighth of the soft
/// `RLIMIT_NOFILE`, and never more than 1,024 (46 interfaces), so that a
/// host with hundreds of veth interfaces does not spend the descriptors
/// the server needs; interfaces beyond are read by opening their files on
/// every scrape, as before. Under systemd's default soft limit (1,024)
/// that is 128 files: five interfaces.
fn held_budget() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
    usize::try_from((soft / 8).min(1024)).unwrap_or(1024)
}

/// Reads one number of an interface.
type Property = fn(&NetClassIface) -> Option<i64>;

/// The numeric properties, as node_exporter names and types them, each
/// with the attribute it comes from; one family each.
const PROPERTIES: [(&str, MetricType, Property); 16] = [
    ("address_assign_type", MetricType::Gauge, |i| i.addr_assign_type),
    ("carrier", MetricType::Gauge, |i| i.carrier),
    ("carrier_changes_total", MetricType::Counter, |i| i.carrier_changes),
    ("carrier_up_changes_total", MetricType::Counter, |i| i.carrier_up_count),
    ("carrier_down_changes_total", MetricType::Counter, |i| i.carrier_down_count),
    ("device_id", MetricType::Gauge, |i| i.dev_id),
    ("dormant", MetricType::Gauge, |i| i.dormant),
    ("flags", MetricType::Gauge, |i| i.flags),
    ("iface_id", MetricType::Gauge, |i| i.ifindex),
    ("iface_link", MetricType::Gauge, |i| i.iflink),
    ("iface_link_mode", MetricType::Gauge, |i| i.link_mode),
    ("mtu_bytes", MetricType::Gauge, |i| i.mtu),
    ("name_assign_type", MetricType::Gauge, |i| i.name_assign_type),
    ("net_dev_group", MetricType::Gauge, |i| i.netdev_group),
    ("transmit_queue_length", MetricType::Gauge, |i| i.tx_queue_len),
    ("protocol_type", MetricType::Gauge, |i| i.protocol_type),
];

fn property_family(name: &str, metric_type: MetricType) -> MetricFamily {
    // node_exporter's help names the property with its `_total`.
    let help = format!("Network device property: {name}");
    let base = name.strip_suffix("_total").unwrap_or(name);
    MetricFamily::new(format!("node_network_{base}"), help, metric_type)
}

impl Netclass {
    /// The interfaces: every entry of `class/net` but its regular files
    /// (`bonding_masters`), sorted, less the ignored ones.
    fn devices(&self) -> Result<Vec<String>, CollectorError> {
        let entries = read_dir_or_no_data(&self.dir)?;
        let mut devices = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if entry.file_type().is_ok_and(|t| t.is_file()) || self.ignored.is_match(&name) {
                continue;
            }
            devices.push(name);
        }
        devices.sort();
        Ok(devices)
    }

    /// An interface's attributes; `None` when it went away since the
    /// listing. Read from its held files when it has them, else by
    /// opening them, and held then if the budget allows.
    fn read(&self, device: &str, held: &mut Held) -> Result<Option<NetClassIface>, CollectorError> {
        let path = self.dir.join(device);
        if let Some(files) = held.interfaces.get(device) {
            match read_held(files, &path)? {
                Some(iface) => return Ok(Some(iface)),
                // Removed, perhaps made again under the same name: open anew.
                None => held.forget(device),
            }
        }
        let dir = match Dir::open(path.clone()) {
            Ok(dir) => dir,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let mut iface = NetClassIface::default();
        let mut files = Vec::with_capacity(ATTRIBUTES.len());
        for attribute in ATTRIBUTES {
            let file = match dir.hold(attribute) {
                Ok(file) => file,
                // Not an attribute of this interface (or not readable by
                // this user): it will not become one.
                Err(e) if no_value(&e) => {
                    files.push(None);
                    continue;
                }
                Err(e) => return Err(io_error(&dir.path_of(attribute), e)),
            };
            if let Some(value) = attribute_value(file.read(), &dir.path_of(attribute))? {
                iface.set(attribute, &value);
            }
            files.push(Some(file));
        }
        let count = files.iter().flatten().count();
        if held.files + count <= held.budget {
            held.files += count;
            held.interfaces.insert(device.to_owned(), files);
        }
        Ok(Some(iface))
    }
}

/// An interface's attributes from its held files; `None` once the
/// interface is gone (`ENODEV`).
fn read_held(files: &[Option<HeldAttribute>], dir: &Path) -> Result<Option<NetClassIface>, CollectorError> {
    let mut iface = NetClassIface::default();
    for (attribute, file) in ATTRIBUTES.iter().zip(files) {
        let Some(file) = file else { continue };
        let read = file.read();
        if read.as_ref().is_err_and(|e| Errno::from_io_error(e) == Some(Errno::NODEV)) {
            return Ok(None);
        }
        if let Some(value) = attribute_value(read, &dir.join(attribute))? {
            iface.set(attribute, &value);
        }
    }
    Ok(Some(iface))
}

impl ScrapeCollector for Netclass {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut up = MetricFamily::gauge("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.");
        let mut info = MetricFamily::gauge(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        );
        let mut properties: Vec<MetricFamily> = PROPERTIES.iter().map(|(n, t, _)| property_family(n, *t)).collect();
        let mut speed = property_family("speed_bytes", MetricType::Gauge);
        let devices = self.devices()?;
        // One scrape at a time (the executor's lock): never contended.
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let gone: Vec<String> = held.interfaces.keys().filter(|d| !devices.contains(d)).cloned().collect();
        for device in &gone {
            held.forget(device);
        }
        for device in devices {
            let Some(iface) = self.read(&device, &mut held)? else { continue };
            let labels = Labels::new().with("device", device.as_str());
            up.push(labels.clone(), if iface.operstate == "up" { 1.0 } else { 0.0 });
            info.push(
                Labels::new()
                    .with("address", iface.address.as_str())
                    .with("broadcast", iface.broadcast.as_str())
                    .with("device", device.as_str())
                    .with("duplex", iface.duplex.as_str())
                    .with("ifalias", iface.ifalias.as_str())
                    .with("operstate", iface.operstate.as_str()),
                1.0,
            );
            for (family, (_, _, value)) in properties.iter_mut().zip(PROPERTIES) {
                if let Some(value) = value(&iface) {
                    family.push(labels.clone(), value as f64);
                }
            }
            // Mbit/s to bytes/s in integers, as node_exporter computes it;
            // -1 is "unknown", left out with --collector.netclass.ignore-invalid-speed.
            if let Some(mbits) = iface.speed.filter(|s| *s >= 0 || !self.ignore_invalid_speed) {
                speed.push(labels, (mbits.saturating_mul(1_000_000) / 8) as f64);
            }
        }
        properties.extend([up, info, speed]);
        out.extend(properties.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}
