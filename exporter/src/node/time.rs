//! `time`: `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}`
//! and the clocksources from sysfs.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use sonde_instrument::{Labels, MetricFamily, MetricType};

use super::read::{io_error, list_dir, read_trimmed, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};

#[derive(Debug)]
struct Time {
    clocksource_dir: PathBuf,
    /// Resolved once, from TZ or /etc/localtime, as Go resolves its local zone.
    zone: jiff::tz::TimeZone,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Time {
        clocksource_dir: config.sys_path("devices/system/clocksource"),
        zone: jiff::tz::TimeZone::system(),
    }))
}

impl Time {
    fn clocksources(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let devices = list_dir(&self.clocksource_dir, |name| {
            name.strip_prefix("clocksource").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })?;
        if devices.is_empty() {
            return Ok(());
        }
        let mut available = MetricFamily::gauge(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
        );
        let mut current = MetricFamily::gauge(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        );
        for (name, dir) in devices {
            let device = name.trim_start_matches("clocksource");
            let path = dir.join("available_clocksource");
            let list = read_trimmed(&path).map_err(|e| io_error(&path, e))?;
            for source in list.split_ascii_whitespace() {
                available.push(Labels::new().with("clocksource", source).with("device", device), 1.0);
            }
            let path = dir.join("current_clocksource");
            let source = read_trimmed(&path).map_err(|e| io_error(&path, e))?;
            current.push(Labels::new().with("clocksource", source).with("device", device), 1.0);
        }
        out.push(available);
        out.push(current);
        Ok(())
    }
}

impl ScrapeCollector for Time {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        out.push(single("node_time_seconds", "System time in seconds since epoch (1970).", MetricType::Gauge, now));
        let info = self.zone.to_offset_info(jiff::Timestamp::now());
        out.push(
            MetricFamily::gauge("node_time_zone_offset_seconds", "System time zone offset in seconds.")
                .with_sample(Labels::new().with("time_zone", info.abbreviation()), f64::from(info.offset().seconds())),
        );
        self.clocksources(out)
    }
}
