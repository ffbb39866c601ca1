//! `netdev`: `node_network_{receive,transmit}_*_total{device}`.
//!
//! node_exporter 1.5.0 reads these over netlink; `/proc/net/dev` carries the
//! same counters except `rx_nohandler`, which comes from sysfs.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily};

use super::read::{parse_file, read_u64};
use super::{CollectorError, CompiledFilter, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::net_dev;

#[derive(Debug)]
struct Netdev {
    path: PathBuf,
    class_net: PathBuf,
    devices: CompiledFilter,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Netdev {
        path: config.proc_path("net/dev"),
        class_net: config.sys_path("class/net"),
        devices: CompiledFilter::new(
            &config.netdev_devices,
            "collector.netdev.device-include",
            "collector.netdev.device-exclude",
        )?,
    }))
}

fn family(stat: &str) -> MetricFamily {
    MetricFamily::counter(format!("node_network_{stat}"), format!("Network device statistic {stat}."))
}

impl ScrapeCollector for Netdev {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut families: Vec<MetricFamily> = net_dev::FIELD_NAMES.iter().map(|s| family(s)).collect();
        let mut nohandler = family("receive_nohandler");
        parse_file(&self.path, |text| {
            for dev in net_dev::parse(text)? {
                if self.devices.ignored(dev.name) {
                    continue;
                }
                let labels = Labels::new().with("device", dev.name);
                for (family, value) in families.iter_mut().zip(dev.values) {
                    family.push(labels.clone(), value as f64);
                }
                // Kernels before 4.6 have no such counter; netlink reports 0 there.
                let path = self.class_net.join(dev.name).join("statistics/rx_nohandler");
                nohandler.push(labels, read_u64(&path).unwrap_or(0) as f64);
            }
            Ok(())
        })?;
        families.push(nohandler);
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}
