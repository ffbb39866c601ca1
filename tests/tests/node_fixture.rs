//! The fixture end-to-end test, as node_exporter does it: the real
//! `sonde-agent` binary started on a random port with every `--path.*` and
//! `--collector.textfile.directory` pointed at the committed fake root
//! `tests/fixtures/node` and every collector on; `/metrics` fetched, the
//! volatile lines masked by one regex, and the result compared with
//! `tests/golden/node.txt`, printing a unified diff on mismatch.
//!
//! `UPDATE_GOLDEN=1 cargo test -p sonde-tests --test node_fixture`
//! rewrites the golden file (the rule of every golden test, in
//! `sonde_tests::golden`); review its diff like code. Because every
//! `node_scrape_collector_success{collector="…"} 1` line is in it, the
//! test also proves that each collector works on the fixture.
// Helpers outside #[test] functions fail the test by panicking too.
#![allow(clippy::unwrap_used, clippy::panic)]

use regex::Regex;
use sonde_exporter::node::COLLECTORS;
use sonde_tests::process::Process;
use sonde_tests::{TIMEOUT, golden, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_sonde-agent-test");

/// The fixture tree: `tests/fixtures/node`, golden file `tests/golden/node.txt`.
const TREE: &str = "node";

/// Mount points of the fixture's mountinfo that statfs must find under
/// `root/`: git keeps no empty directories, so the test makes them. The
/// fixture's `/srv/nfs` stays missing, so its statfs fails the way a dead
/// server's does and it is reported with `node_filesystem_device_error 1`.
const MOUNT_POINTS: &[&str] = &["boot", "var/lib/docker", "home/user/with space"];

/// Masks what changes from run to run or machine to machine, keeping the
/// series: durations, the process's own `process_*`, build info, the clock and its zone, the real kernel's
/// uname, file mtimes, when the rules were loaded, the sizes statfs reads from the real disk that
/// holds the fixture, and the window store's size (the scrape races the
/// evaluator's first cycle).
fn mask(text: &str) -> String {
    let volatile = Regex::new(
        r"(?m)^(?P<keep>(?:node_scrape_collector_duration_seconds|node_textfile_mtime_seconds|node_filesystem_(?:size_bytes|free_bytes|avail_bytes|files|files_free))\{[^}]*\}|node_time_seconds|sonde_build_info|sonde_config_last_reload_success_timestamp_seconds|sonde_window_series|sonde_window_memory_bytes|node_time_zone_offset_seconds|node_uname_info|process_[a-z_]+)(?:\{[^}]*\})? \S+$",
    )
    .unwrap();
    volatile.replace_all(text, "${keep} <masked>").into_owned()
}

fn scrape_fixture() -> String {
    let root = golden::fixture(TREE);
    for mount_point in MOUNT_POINTS {
        std::fs::create_dir_all(root.join("root").join(mount_point)).unwrap();
    }
    let mut args = vec![
        "--web.listen-address",
        "127.0.0.1:0",
        // Relative to the fixture, so no path of this checkout shows in the
        // output.
        "--path.procfs",
        "proc",
        "--path.sysfs",
        "sys",
        "--path.rootfs",
        "root",
        "--path.udev.data",
        "udev",
        "--collector.textfile.directory",
        "textfile",
        // Container metrics have their own fixture test (tests/tests/container_fixture.rs).
        "--no-collector.container",
        // The parts of collectors that are off by default, on here so the
        // golden file holds them too.
        "--collector.stat.softirq",
        "--collector.bcache.priorityStats",
        "--collector.cpu.info",
        "--collector.cpu.info.flags-include=^(aes|avx.?|constant_tsc)$",
        "--collector.cpu.info.bugs-include=^(spectre_.*|mds)$",
    ];
    let enable: Vec<String> = COLLECTORS.iter().map(|c| format!("--collector.{}", c.name)).collect();
    args.extend(enable.iter().map(String::as_str));

    let mut agent = Process::start_in(BIN, &args, &root);
    let addr = agent.listening_address();
    let answer = http_get(addr, "/metrics", &[], TIMEOUT).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.head);
    agent.signal("TERM");
    assert_eq!(agent.wait().code(), Some(0), "log:\n{}", agent.seen.join("\n"));
    answer.body
}

#[test]
fn output_matches_the_golden_file() {
    let actual = mask(&scrape_fixture());
    golden::check(TREE, &actual);
    // The golden file equals `actual` now.
    for info in COLLECTORS {
        let line = format!("node_scrape_collector_success{{collector=\"{}\"}} 1", info.name);
        assert!(actual.lines().any(|l| l == line), "the golden file lacks {line}");
    }
}

#[test]
fn the_mask_keeps_the_series() {
    let text = "node_scrape_collector_duration_seconds{collector=\"cpu\"} 0.000123\n\
                process_resident_memory_bytes 1.2345e+07\n\
                node_uname_info{machine=\"x86_64\"} 1\n\
                node_time_seconds 1.7e+09\n\
                node_filesystem_size_bytes{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 1.2e+10\n\
                node_filesystem_files_free{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 7\n\
                node_filesystem_device_error{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 0\n\
                sonde_build_info{revision=\"abc\",rustversion=\"1.95.0\",version=\"0.1.0\"} 1\n\
                node_load1 0.77\n";
    assert_eq!(
        mask(text),
        "node_scrape_collector_duration_seconds{collector=\"cpu\"} <masked>\n\
         process_resident_memory_bytes <masked>\n\
         node_uname_info <masked>\n\
         node_time_seconds <masked>\n\
         node_filesystem_size_bytes{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} <masked>\n\
         node_filesystem_files_free{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} <masked>\n\
         node_filesystem_device_error{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 0\n\
         sonde_build_info <masked>\n\
         node_load1 0.77\n"
    );
}
