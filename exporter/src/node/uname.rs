//! `uname`: `node_uname_info`, from the uname(2) system call (not a file, so
//! no path root applies, as in node_exporter).

use sonde_instrument::{Labels, MetricFamily};

use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};

#[derive(Debug)]
struct Uname;

pub(super) fn build(_config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Uname))
}

impl ScrapeCollector for Uname {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let uts = rustix::system::uname();
        let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
        let labels = Labels::new()
            .with("domainname", text(uts.domainname()))
            .with("machine", text(uts.machine()))
            .with("nodename", text(uts.nodename()))
            .with("release", text(uts.release()))
            .with("sysname", text(uts.sysname()))
            .with("version", text(uts.version()));
        out.push(
            MetricFamily::gauge("node_uname_info", "Labeled system information as provided by the uname system call.")
                .with_sample(labels, 1.0),
        );
        Ok(())
    }
}
