//! `netclass` on the real `/sys/class/net`, with an interface this test
//! makes and changes (a veth pair, `ip link`, which needs root as the
//! Docker tests do): the collector holds each interface's attribute files
//! open between scrapes and reads them again from offset 0, so this checks
//! that a held attribute follows a change, that an interface removed and
//! made again under the same name is read from its new files (the old
//! ones answer `ENODEV`), and that a removed one is gone from the output.
// Helpers outside #[test] functions fail the test by panicking too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::Command;

use sonde_tests::process::Process;
use sonde_tests::{TIMEOUT, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_sonde-exporter-test");

/// A veth pair, removed when dropped.
struct Veth {
    name: String,
}

impl Veth {
    fn add(name: &str, mtu: u32) -> Veth {
        ip(&["link", "add", name, "type", "veth", "peer", "name", &format!("{name}p")]);
        ip(&["link", "set", name, "mtu", &mtu.to_string()]);
        Veth { name: name.to_owned() }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.name]).status();
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("ip (iproute2) runs");
    assert!(
        output.status.success(),
        "ip {} failed (the test needs root and veth): {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `node_network_mtu_bytes{device="<device>"}` in one scrape, if there.
fn mtu(addr: SocketAddr, device: &str) -> Option<String> {
    let answer = http_get(addr, "/metrics", &[], TIMEOUT).unwrap();
    assert_eq!(answer.status, 200, "{}", answer.head);
    let prefix = format!("node_network_mtu_bytes{{device=\"{device}\"}} ");
    answer.body.lines().find_map(|line| line.strip_prefix(prefix.as_str()).map(str::to_owned))
}

#[test]
fn held_attributes_follow_changes_and_new_interfaces() {
    // Names are at most 15 bytes; the pid keeps parallel runs apart.
    let name = format!("sn{}", std::process::id() % 10_000_000);
    let veth = Veth::add(&name, 1400);
    let mut exporter = Process::start(
        BIN,
        &["--web.listen-address", "127.0.0.1:0", "--collector.disable-defaults", "--collector.netclass"],
    );
    let addr = exporter.listening_address();

    assert_eq!(mtu(addr, &name).as_deref(), Some("1400"));
    // The second scrape reads the files the first one opened and kept.
    ip(&["link", "set", &name, "mtu", "1300"]);
    assert_eq!(mtu(addr, &name).as_deref(), Some("1300"), "a held attribute reads the value now");

    // Removed and made again under the same name, between two scrapes.
    drop(veth);
    let veth = Veth::add(&name, 1280);
    assert_eq!(mtu(addr, &name).as_deref(), Some("1280"), "the new interface's files, not the old ones");

    drop(veth);
    assert_eq!(mtu(addr, &name), None, "a removed interface has no series");
    let answer = http_get(addr, "/metrics", &[], TIMEOUT).unwrap();
    assert!(answer.body.contains("node_scrape_collector_success{collector=\"netclass\"} 1"), "{}", answer.body);
}
