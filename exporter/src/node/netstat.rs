//! `netstat`: `node_netstat_<Proto>_<Field>` from `/proc/net/{netstat,snmp,snmp6}`,
//! the fields matching `--collector.netstat.fields`.

use std::path::{Path, PathBuf};

use regex::Regex;
use sonde_instrument::{MetricFamily, MetricType};

use super::read::{io_error, not_found, parse_error, single, with_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector, compile};
use crate::procfs::{ParseError, netstat, parse_f64};

#[derive(Debug)]
struct Netstat {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    fields: Regex,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Netstat {
        netstat: config.proc_path("net/netstat"),
        snmp: config.proc_path("net/snmp"),
        snmp6: config.proc_path("net/snmp6"),
        fields: compile("collector.netstat.fields", &config.netstat_fields)?,
    }))
}

impl Netstat {
    fn emit(&self, stats: &[netstat::NetStat<'_>], out: &mut Vec<MetricFamily>) -> Result<(), ParseError> {
        let mut key = String::with_capacity(48);
        for stat in stats {
            key.clear();
            key.push_str(stat.protocol);
            key.push('_');
            key.push_str(stat.name);
            let value = parse_f64(stat.value, "netstat value")?;
            if !self.fields.is_match(&key) {
                continue;
            }
            out.push(single(
                &format!("node_netstat_{key}"),
                &format!("Statistic {}{}.", stat.protocol, stat.name),
                MetricType::Unknown,
                value,
            ));
        }
        Ok(())
    }

    fn read(
        &self,
        path: &Path,
        parse: for<'a> fn(&'a str) -> Result<Vec<netstat::NetStat<'a>>, ParseError>,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectorError> {
        with_file(path, |text| parse(text).and_then(|stats| self.emit(&stats, out)))
            .map_err(|e| io_error(path, e))?
            .map_err(|e| parse_error(path, e))
    }
}

impl ScrapeCollector for Netstat {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        self.read(&self.netstat, netstat::parse_pairs, out)?;
        self.read(&self.snmp, netstat::parse_pairs, out)?;
        // No snmp6 file means IPv6 is disabled: nothing to report, not an error.
        match self.read(&self.snmp6, netstat::parse_snmp6, out) {
            Err(CollectorError::Io { source, .. }) if not_found(&source) => Ok(()),
            other => other,
        }
    }
}
