//! The fixture end-to-end test, as node_exporter does it: every collector on,
//! every path pointed at the committed fake root `tests/fixtures/node`, the
//! output encoded as text 0.0.4, volatile lines masked by one regex, and the
//! result compared with `tests/golden/node.txt`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p sonde-exporter --test node_fixture`
//! rewrites the golden file; review its diff like code.

// Helpers of a test binary may fail loudly; clippy only exempts `#[test]` fns.
#![allow(clippy::unwrap_used)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;
use sonde_exporter::node::{COLLECTORS, FsStats, NodeConfig, NodeExporter, StatfsFn};
use sonde_instrument::{Collector, Format, MetricFamily};

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/node")
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/node.txt")
}

/// Fixed sizes per mount point, so the golden file does not depend on the
/// disks of the machine running the test; `/srv/nfs` fails like a dead server.
fn fake_statfs(rootfs: PathBuf) -> StatfsFn {
    Arc::new(move |path: &Path| {
        let mount_point = Path::new("/").join(path.strip_prefix(&rootfs).unwrap_or(path));
        let mib = 1024.0 * 1024.0;
        let (size, free, avail, files, files_free) = match mount_point.to_str() {
            Some("/") | Some("/var/lib/docker") => (
                256_000.0 * mib,
                204_800.0 * mib,
                191_488.0 * mib,
                16_777_216.0,
                16_376_129.0,
            ),
            Some("/boot") => (512.0 * mib, 256.0 * mib, 200.0 * mib, 32_768.0, 32_000.0),
            Some("/home/user/with space") => (
                10_240.0 * mib,
                9_216.0 * mib,
                8_704.0 * mib,
                655_360.0,
                655_000.0,
            ),
            _ => return Err(io::Error::from_raw_os_error(110)),
        };
        Ok(FsStats {
            size_bytes: size,
            free_bytes: free,
            avail_bytes: avail,
            files,
            files_free,
        })
    })
}

fn fixture_config(root: &Path) -> NodeConfig {
    let mut config = NodeConfig {
        procfs: root.join("proc"),
        sysfs: root.join("sys"),
        rootfs: root.join("root"),
        udev_data: root.join("udev"),
        textfile_directory: Some(root.join("textfile")),
        ..NodeConfig::default()
    };
    config.enable_all();
    config
}

fn scrape() -> Vec<MetricFamily> {
    let root = fixture_root();
    let config = fixture_config(&root);
    let exporter = NodeExporter::with_statfs(&config, fake_statfs(config.rootfs.clone())).unwrap();
    let mut families = Vec::new();
    exporter.collect(&mut families);
    families
}

/// Masks what changes from run to run or machine to machine: durations, the
/// clock, file mtimes (values only), and the zone and uname labels.
fn mask(text: &str) -> String {
    let volatile = Regex::new(
        r"(?m)^(?P<keep>(?:sonde_scrape_collector_duration_seconds|node_textfile_mtime_seconds|node_time_seconds)(?:\{[^}]*\})?|node_time_zone_offset_seconds|node_uname_info)(?:\{[^}]*\})? \S+$",
    )
    .unwrap();
    volatile.replace_all(text, "${keep} <masked>").into_owned()
}

/// A short line diff: enough to see what changed without a diff crate.
fn diff(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for line in &expected {
        if !actual.contains(line) {
            out.push_str(&format!("-{line}\n"));
        }
    }
    for line in &actual {
        if !expected.contains(line) {
            out.push_str(&format!("+{line}\n"));
        }
    }
    if out.is_empty() {
        out.push_str("(same lines, different order)\n");
    }
    out
}

#[test]
fn every_collector_succeeds_on_the_fixture() {
    let families = scrape();
    let success = families
        .iter()
        .find(|f| f.name == "sonde_scrape_collector_success")
        .unwrap();
    for info in COLLECTORS {
        let sample = success
            .samples
            .iter()
            .find(|s| s.labels.get("collector") == Some(info.name));
        assert_eq!(
            sample.map(|s| s.value),
            Some(1.0),
            "collector {} did not succeed",
            info.name
        );
    }
}

#[test]
fn output_matches_the_golden_file() {
    let families = scrape();
    let mut encoded = Vec::new();
    sonde_instrument::encode(&families, Format::Text, &mut encoded);
    // Textfile paths name the checkout; the golden file names the fixture.
    let root = fixture_root().display().to_string();
    let actual = mask(
        &String::from_utf8(encoded)
            .unwrap()
            .replace(&root, "<fixture>"),
    );

    let golden = golden_path();
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&golden, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            golden.display()
        )
    });
    assert!(
        expected == actual,
        "output differs from {} (UPDATE_GOLDEN=1 rewrites it):\n{}",
        golden.display(),
        diff(&expected, &actual)
    );
    for info in COLLECTORS {
        let line = format!(
            "sonde_scrape_collector_success{{collector=\"{}\"}} 1",
            info.name
        );
        assert!(
            expected.lines().any(|l| l == line),
            "golden file lacks {line}"
        );
    }
}

#[test]
fn the_mask_keeps_labels_that_do_not_vary() {
    let text = "sonde_scrape_collector_duration_seconds{collector=\"cpu\"} 0.000123\nnode_uname_info{machine=\"x86_64\"} 1\nnode_time_seconds 1.7e+09\nnode_load1 0.77\n";
    assert_eq!(
        mask(text),
        "sonde_scrape_collector_duration_seconds{collector=\"cpu\"} <masked>\nnode_uname_info <masked>\nnode_time_seconds <masked>\nnode_load1 0.77\n"
    );
}
