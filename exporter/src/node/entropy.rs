//! `entropy`: `node_entropy_{available,pool_size}_bits`.

use std::path::PathBuf;

use sonde_instrument::{MetricFamily, MetricType};

use super::read::{read_u64, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};

#[derive(Debug)]
struct Entropy {
    available: PathBuf,
    pool_size: PathBuf,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Entropy {
        available: config.proc_path("sys/kernel/random/entropy_avail"),
        pool_size: config.proc_path("sys/kernel/random/poolsize"),
    }))
}

impl ScrapeCollector for Entropy {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let available = read_u64(&self.available)?;
        out.push(single(
            "node_entropy_available_bits",
            "Bits of available entropy.",
            MetricType::Gauge,
            available as f64,
        ));
        let pool_size = read_u64(&self.pool_size)?;
        out.push(single("node_entropy_pool_size_bits", "Bits of entropy pool.", MetricType::Gauge, pool_size as f64));
        Ok(())
    }
}
