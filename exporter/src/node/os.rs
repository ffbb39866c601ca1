//! `os`: `node_os_info` and `node_os_version` from os-release under `--path.rootfs`.

use std::path::PathBuf;

use sonde_instrument::{Labels, MetricFamily};

use super::read::{io_error, not_found, parse_error, with_file};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};
use crate::procfs::os_release;

/// The `node_os_info` labels and the os-release variables they come from.
const INFO_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

#[derive(Debug)]
struct Os {
    files: [PathBuf; 2],
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Os { files: [config.root_path("etc/os-release"), config.root_path("usr/lib/os-release")] }))
}

/// The leading `major[.minor]` of `VERSION_ID` as a number; 0 when there is none.
fn major_minor(version_id: &str) -> f64 {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let major = digits(version_id);
    if major == 0 {
        return 0.0;
    }
    let mut end = major;
    if version_id[end..].starts_with('.') {
        end += 1 + digits(&version_id[end + 1..]);
    }
    version_id[..end].trim_end_matches('.').parse().unwrap_or(0.0)
}

impl ScrapeCollector for Os {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        for path in &self.files {
            let families = match with_file(path, |text| {
                let vars = os_release::parse(text)?;
                let get = |key: &str| vars.get(key).cloned().unwrap_or_default();
                let mut info = Labels::new();
                for (label, key) in INFO_LABELS {
                    info.push(label, get(key));
                }
                let mut families = vec![MetricFamily::gauge(
                    "node_os_info",
                    "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
                )
                .with_sample(info, 1.0)];
                let version = major_minor(&get("VERSION_ID"));
                if version > 0.0 {
                    let labels =
                        Labels::new().with("id", get("ID")).with("id_like", get("ID_LIKE")).with("name", get("NAME"));
                    families.push(
                        MetricFamily::gauge(
                            "node_os_version",
                            "Metric containing the major.minor part of the OS version.",
                        )
                        .with_sample(labels, version),
                    );
                }
                Ok(families)
            }) {
                Ok(parsed) => parsed.map_err(|e| parse_error(path, e))?,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(io_error(path, e)),
            };
            out.extend(families);
            return Ok(());
        }
        Err(CollectorError::NoData { path: self.files[1].clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_major_and_minor() {
        assert_eq!(major_minor("12"), 12.0);
        assert_eq!(major_minor("22.04"), 22.04);
        assert_eq!(major_minor("3.18.4"), 3.18);
        assert_eq!(major_minor("7."), 7.0);
        assert_eq!(major_minor("rolling"), 0.0);
        assert_eq!(major_minor(""), 0.0);
    }
}
