//! Sonde's node collectors against the real peer on the real machine:
//! Debian's node_exporter 1.5.0 (`/usr/bin/prometheus-node-exporter`,
//! installed by `scripts/test.sh`) and `sonde-agent`, both reading the real
//! `/proc`, `/sys` and `/` with the same collectors: every one Sonde has.
//!
//! * Every series both emit with the same name and labels has the same
//!   value: exactly for fixed quantities, inside the bracket of two
//!   node_exporter scrapes for counters, finite for gauges that move.
//! * Every family both emit has the same HELP and TYPE.
//! * Every `node_*` family node_exporter emits with these collectors is in
//!   Sonde's output, and so is every series it emitted in both its scrapes.
//! * `promtool check metrics` finds nothing in Sonde's output that it does
//!   not find in node_exporter's (its camelCase `node_memory_*` names and
//!   `_bits` units).
//!
//! No timing thresholds: every wait is bounded only so that a broken binary
//! fails the test instead of hanging it. Run with `--nocapture` to see the
//! names only one side emits.
// Helpers outside #[test] functions fail the test by panicking too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use sonde_instrument::{Format, MetricFamily, MetricType, Suffix, parse};
use sonde_tests::process::Process;
use sonde_tests::{TIMEOUT, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_sonde-agent-test");

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const PROMTOOL: &str = "/usr/bin/promtool";

/// Sonde's node collectors, each named as node_exporter names its own.
fn collectors() -> Vec<&'static str> {
    sonde_exporter::node::COLLECTORS.iter().map(|c| c.name).collect()
}

/// Quantities that do not change while the machine runs (besides every
/// `*_info` family): both exporters must report the very same value.
const FIXED: &[&str] = &[
    "node_boot_time_seconds",
    "node_entropy_pool_size_bits",
    "node_filefd_maximum",
    "node_filesystem_device_error",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_filesystem_size_bytes",
    "node_memory_CommitLimit_bytes",
    "node_memory_HugePages_Total",
    "node_memory_Hugepagesize_bytes",
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_VmallocTotal_bytes",
    "node_netstat_Ip_Forwarding",
    "node_nf_conntrack_entries_limit",
    "node_os_version",
    "node_textfile_scrape_error",
    "node_time_zone_offset_seconds",
];

/// Families that only grow although node_exporter does not type them as
/// counters (untyped `/proc/vmstat` and `/proc/net/snmp` fields, per-CPU
/// conntrack statistics summed, the clock).
const MONOTONIC_PREFIXES: &[&str] = &["node_vmstat_", "node_netstat_", "node_nf_conntrack_stat_"];
const MONOTONIC: &[&str] = &["node_time_seconds"];
/// Counts of processes and threads by state: a state only a few tasks are
/// in (`R`: often just the exporter that reads) comes and goes between any
/// two reads, so such a series can be in both of node_exporter's scrapes
/// and not in Sonde's between them. Their values are compared as moving
/// gauges; their series need not be on both sides.
const STATE_COUNTS: &[&str] = &["node_processes_state", "node_processes_threads_state"];

/// `/proc/net/snmp` fields that are gauges.
const NOT_MONOTONIC: &[&str] = &["node_netstat_Tcp_CurrEstab"];

/// Slack for per-CPU `idle` and `iowait` times. The kernel computes both
/// for a tickless idle CPU from its sleep time at the moment of the read,
/// and iowait moves between CPUs with the task that waits, so a later read
/// of one CPU's iowait or idle can be lower than an earlier one
/// (Documentation/filesystems/proc.rst: "the iowait field ... can decrease").
/// Each exporter hides this from its own series with its own cache of the
/// last value, but the two caches are separate processes, so one exporter
/// may be a little behind the other. Any other counter must be inside the
/// bracket exactly.
const CPU_IDLE_SLACK_SECONDS: f64 = 1.0;

/// node_exporter, killed (by its PID) and reaped when dropped, so a failing
/// assertion leaves nothing running. (`Process` does the same for Sonde.)
struct NodeExporter {
    child: Child,
    addr: SocketAddr,
    log: tempfile::NamedTempFile,
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl NodeExporter {
    /// Starts node_exporter 1.5.0 on loopback with `collector_args` and
    /// waits until it accepts connections.
    fn start(collector_args: &[String]) -> NodeExporter {
        assert!(
            Path::new(NODE_EXPORTER).exists(),
            "{NODE_EXPORTER} is missing: install Debian's prometheus-node-exporter (scripts/test.sh does)"
        );
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address={addr}"))
            .args(["--path.procfs=/proc", "--path.sysfs=/sys", "--path.rootfs=/"])
            .args(collector_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut server = NodeExporter { child, addr, log };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if TcpStream::connect(addr).is_ok() {
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("node_exporter exited with {status}; log:\n{}", server.log());
            }
            assert!(Instant::now() < deadline, "node_exporter did not listen on {addr}; log:\n{}", server.log());
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn scrape(&self) -> String {
        scrape("node_exporter", self.addr)
    }
}

/// Sonde, and the address it logged.
struct Sonde {
    agent: Process,
    addr: SocketAddr,
}

impl Sonde {
    /// Starts `sonde-agent` on 127.0.0.1:0 and reads the bound address from
    /// its `msg=listening` log line.
    fn start(args: &[String]) -> Sonde {
        let mut all = vec!["--web.listen-address", "127.0.0.1:0"];
        all.extend(args.iter().map(String::as_str));
        let mut agent = Process::start(BIN, &all);
        let addr = agent.listening_address();
        Sonde { agent, addr }
    }

    fn log(&self) -> String {
        self.agent.seen.join("\n")
    }

    fn scrape(&self) -> String {
        scrape("sonde-agent", self.addr)
    }
}

/// A port that was free a moment ago (node_exporter cannot report the port
/// it bound when given port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET /metrics` in text 0.0.4, without compression (node_exporter's Go
/// server sends it chunked).
fn scrape(name: &str, addr: SocketAddr) -> String {
    let answer = http_get(addr, "/metrics", &[("Accept", "text/plain;version=0.0.4")], TIMEOUT)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let head = &answer.head;
    assert_eq!(answer.status, 200, "{name}: {head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{name}: {head}");
    answer.body
}

/// Parts of collectors that are off by default, on for both sides so that
/// they are compared too.
const OPTIONS: &[&str] = &[
    "--collector.stat.softirq",
    "--collector.cpu.info",
    "--collector.cpu.info.flags-include=^(aes|avx.?|constant_tsc|hypervisor)$",
    "--collector.cpu.info.bugs-include=^(spectre_.*|mds|retbleed)$",
];

fn sonde_args(collectors: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["--collector.disable-defaults", "--path.procfs", "/proc", "--path.sysfs", "/sys", "--path.rootfs", "/"]
            .map(String::from)
            .into();
    args.extend(collectors.iter().map(|c| format!("--collector.{c}")));
    args.extend(OPTIONS.iter().map(|o| (*o).to_owned()));
    args
}

fn node_exporter_args(collectors: &[&str]) -> Vec<String> {
    let mut args = vec!["--collector.disable-defaults".to_owned()];
    args.extend(collectors.iter().map(|c| format!("--collector.{c}")));
    args.extend(OPTIONS.iter().map(|o| (*o).to_owned()));
    args
}

/// One series: the full sample name and its labels sorted by name.
type SeriesKey = (String, Vec<(String, String)>);

/// What a scrape holds, indexed for comparison.
struct Scrape {
    families: BTreeMap<String, MetricFamily>,
    series: BTreeMap<SeriesKey, f64>,
    /// Full sample name → family name.
    family_of: BTreeMap<String, String>,
}

/// The family's name as text 0.0.4 writes it in `# TYPE`: the parser drops
/// a counter's `_total` (so `go_memstats_alloc_bytes_total` and the gauge
/// `go_memstats_alloc_bytes` would collide); put it back.
fn text_name(family: &MetricFamily) -> String {
    if family.metric_type == MetricType::Counter && family.samples.iter().any(|s| s.suffix == Suffix::Total) {
        family.sample_name(Suffix::Total)
    } else {
        family.name.clone()
    }
}

fn index(name: &str, text: &str) -> Scrape {
    let families = parse(text, Format::Text).unwrap_or_else(|e| panic!("{name}'s output does not parse: {e}"));
    let mut scrape = Scrape { families: BTreeMap::new(), series: BTreeMap::new(), family_of: BTreeMap::new() };
    for family in families {
        for sample in &family.samples {
            let sample_name = family.sample_name(sample.suffix);
            let labels = sample.labels.sorted().iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            let old = scrape.series.insert((sample_name.clone(), labels), sample.value);
            assert!(old.is_none(), "{name}: duplicate series {sample_name}{:?}", sample.labels);
            scrape.family_of.insert(sample_name, text_name(&family));
        }
        let family_name = text_name(&family);
        let old = scrape.families.insert(family_name.clone(), family);
        assert!(old.is_none(), "{name}: family {family_name} appears twice");
    }
    scrape
}

/// node_exporter's own series, which Sonde names `sonde_*` or does not have.
fn is_node_exporter_self(name: &str) -> bool {
    ["node_scrape_collector_", "node_exporter_", "go_", "process_", "promhttp_"].iter().any(|p| name.starts_with(p))
}

/// Sonde's own series: `sonde_*`, and those it shares with node_exporter
/// (`node_scrape_collector_*`, `process_*`), whose values are each
/// process's own.
fn is_sonde_self(name: &str) -> bool {
    ["sonde_", "node_scrape_collector_", "process_"].iter().any(|p| name.starts_with(p))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fixed,
    Counter,
    Moving,
}

fn kind(family: &MetricFamily, sample_name: &str) -> Kind {
    let name = family.name.as_str();
    if sample_name.ends_with("_info") || FIXED.contains(&sample_name) {
        Kind::Fixed
    } else if NOT_MONOTONIC.contains(&sample_name) {
        Kind::Moving
    } else if family.metric_type == MetricType::Counter
        || MONOTONIC.contains(&name)
        || MONOTONIC_PREFIXES.iter().any(|p| name.starts_with(p))
    {
        Kind::Counter
    } else {
        Kind::Moving
    }
}

fn show(key: &SeriesKey) -> String {
    let labels: Vec<String> = key.1.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{}{{{}}}", key.0, labels.join(","))
}

/// Runs promtool on `text`; returns its exit code and its findings, one per
/// line, as `name message`.
fn promtool(text: &str) -> (Option<i32>, BTreeSet<String>) {
    assert!(Path::new(PROMTOOL).exists(), "{PROMTOOL} is missing: install Debian's prometheus package");
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = text.to_owned();
    let writer = thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let mut findings = BTreeSet::new();
    for stream in [&output.stdout, &output.stderr] {
        for line in String::from_utf8_lossy(stream).lines() {
            if !line.trim().is_empty() {
                findings.insert(line.trim().to_owned());
            }
        }
    }
    (output.status.code(), findings)
}

/// Sonde's self metrics under the names node_exporter gives its own.
fn as_node_exporter_finding(finding: &str) -> String {
    for (sonde, peer) in [("sonde_build_info", "node_exporter_build_info")] {
        if let Some(rest) = finding.strip_prefix(sonde) {
            return format!("{peer}{rest}");
        }
    }
    finding.to_owned()
}

#[test]
fn sonde_agrees_with_node_exporter_on_this_machine() {
    let collectors = collectors();
    let peer = NodeExporter::start(&node_exporter_args(&collectors));
    let sonde = Sonde::start(&sonde_args(&collectors));

    // Warm up both (first-scrape caches, lazy initialisation), then bracket
    // Sonde's scrape between two of node_exporter's.
    peer.scrape();
    sonde.scrape();
    let before_text = peer.scrape();
    let sonde_text = sonde.scrape();
    let after_text = peer.scrape();
    let before = index("node_exporter", &before_text);
    let ours = index("sonde-agent", &sonde_text);
    let after = index("node_exporter", &after_text);

    let mut failures = Vec::new();

    // Families: names on one side only, HELP and TYPE of shared ones.
    let peer_names: BTreeSet<&str> =
        before.families.keys().map(String::as_str).filter(|n| !is_node_exporter_self(n)).collect();
    let our_names: BTreeSet<&str> = ours.families.keys().map(String::as_str).filter(|n| !is_sonde_self(n)).collect();
    let only_peer: Vec<&str> = peer_names.difference(&our_names).copied().collect();
    let only_ours: Vec<&str> = our_names.difference(&peer_names).copied().collect();
    println!("families only node_exporter 1.5.0 emits ({}): {only_peer:?}", only_peer.len());
    println!("families only Sonde emits ({}): {only_ours:?}", only_ours.len());
    // node_timex_* comes from node_exporter's timex collector, which is not
    // one of Sonde's (the other test lists it with the rest).
    let timex: Vec<&&str> = only_peer.iter().filter(|n| n.starts_with("node_timex_")).collect();
    println!("node_timex_* belongs to node_exporter's timex collector, not one of Sonde's (emitted here: {timex:?})");
    for name in only_peer.iter().filter(|n| n.starts_with("node_") && !n.starts_with("node_timex_")) {
        failures.push(format!("family {name} of Sonde's collectors is missing from Sonde"));
    }
    for name in only_ours.iter().filter(|n| n.starts_with("node_")) {
        failures.push(format!("family {name} is Sonde's only"));
    }
    // Each collector succeeds, or fails, on both sides alike: a missing
    // piece of hardware is a failure (no data) to node_exporter, and so to
    // Sonde.
    for collector in &collectors {
        let success = |scrape: &Scrape| {
            let key =
                ("node_scrape_collector_success".to_owned(), vec![("collector".to_owned(), (*collector).to_owned())]);
            scrape.series.get(&key).copied()
        };
        if success(&before) != success(&ours) {
            failures.push(format!(
                "collector {collector}: success {:?}, node_exporter's {:?}",
                success(&ours),
                success(&before)
            ));
        }
    }
    for name in peer_names.intersection(&our_names) {
        let (theirs, mine) = (&before.families[*name], &ours.families[*name]);
        if theirs.help != mine.help {
            failures.push(format!("{name}: HELP {:?} != node_exporter's {:?}", mine.help, theirs.help));
        }
        if theirs.metric_type != mine.metric_type {
            failures.push(format!("{name}: TYPE {} != node_exporter's {}", mine.metric_type, theirs.metric_type));
        }
    }

    // Series: values of shared ones; node_exporter's series Sonde lacks.
    let mut compared = BTreeMap::<&str, usize>::new();
    for (key, &theirs) in &before.series {
        let family_name = &before.family_of[&key.0];
        if is_node_exporter_self(family_name) {
            continue;
        }
        let later = after.series.get(key).copied();
        let Some(&mine) = ours.series.get(key) else {
            // A series present in both peer scrapes (not a device that
            // came or went) must be in Sonde's scrape taken between them.
            if later.is_some()
                && our_names.contains(family_name.as_str())
                && !STATE_COUNTS.contains(&family_name.as_str())
            {
                failures.push(format!("series {} is missing from Sonde", show(key)));
            }
            continue;
        };
        let family = &before.families[family_name];
        match kind(family, &key.0) {
            Kind::Fixed => {
                compared.entry("fixed (equal)").and_modify(|n| *n += 1).or_insert(1);
                if mine != theirs && mine.to_bits() != theirs.to_bits() {
                    failures.push(format!("{}: Sonde {mine} != node_exporter {theirs}", show(key)));
                }
                if later.is_some_and(|l| l != theirs) {
                    println!("note: fixed quantity {} changed between node_exporter's scrapes", show(key));
                }
            }
            Kind::Counter => {
                compared.entry("counters (bracketed)").and_modify(|n| *n += 1).or_insert(1);
                let idle = key.0 == "node_cpu_seconds_total"
                    && key.1.iter().any(|(n, v)| n == "mode" && (v == "idle" || v == "iowait"));
                let slack = if idle { CPU_IDLE_SLACK_SECONDS } else { 0.0 };
                let upper = later.unwrap_or(f64::INFINITY).max(theirs);
                if !(theirs - slack <= mine && mine <= upper + slack) {
                    failures.push(format!(
                        "{}: Sonde {mine} outside node_exporter's bracket [{theirs}, {upper}] (slack {slack})",
                        show(key)
                    ));
                }
            }
            Kind::Moving => {
                compared.entry("moving gauges (finite)").and_modify(|n| *n += 1).or_insert(1);
                if !mine.is_finite() || !theirs.is_finite() {
                    failures.push(format!("{}: Sonde {mine}, node_exporter {theirs}: not finite", show(key)));
                }
            }
        }
    }
    let only_our_series: Vec<String> = ours
        .series
        .keys()
        .filter(|k| !is_sonde_self(&ours.family_of[&k.0]) && !before.series.contains_key(*k))
        .map(show)
        .collect();
    let only_peer_series: Vec<String> = before
        .series
        .keys()
        .filter(|k| !is_node_exporter_self(&before.family_of[&k.0]) && !ours.series.contains_key(*k))
        .map(show)
        .collect();
    println!("series compared: {compared:?}");
    println!("series only node_exporter emits ({}): {only_peer_series:?}", only_peer_series.len());
    println!("series only Sonde emits ({}): {only_our_series:?}", only_our_series.len());

    // promtool: no parse error, and only findings node_exporter has too.
    let (code, our_findings) = promtool(&sonde_text);
    let (_, peer_findings) = promtool(&before_text);
    assert!(matches!(code, Some(0 | 3)), "promtool failed on Sonde's output ({code:?}): {our_findings:?}");
    let extra: Vec<String> =
        our_findings.iter().map(|f| as_node_exporter_finding(f)).filter(|f| !peer_findings.contains(f)).collect();
    println!("promtool findings: Sonde {}, node_exporter {}", our_findings.len(), peer_findings.len());
    for finding in extra {
        failures.push(format!("promtool finding node_exporter does not have: {finding}"));
    }

    assert!(
        failures.is_empty(),
        "{} problems:\n{}\nnode_exporter log:\n{}\nsonde log:\n{}",
        failures.len(),
        failures.join("\n"),
        peer.log(),
        sonde.log()
    );
    assert!(compared.values().sum::<usize>() > 0, "no series compared");
}

/// Which `node_*` names node_exporter 1.5.0 emits here with Debian's
/// default collectors that Sonde (all its collectors on) does not, grouped by
/// the node_exporter collector that emits them. Informational: the README
/// lists them. Each other collector runs alone to attribute its names.
#[test]
fn names_only_node_exporter_emits_with_debian_defaults() {
    let collectors = collectors();
    let sonde = Sonde::start(&sonde_args(&collectors));
    let ours = index("sonde-agent", &sonde.scrape());
    drop(sonde);

    let defaults = NodeExporter::start(&[]);
    let full = index("node_exporter", &defaults.scrape());
    drop(defaults);
    let mut enabled: Vec<String> = full
        .series
        .keys()
        .filter(|(name, _)| name == "node_scrape_collector_success")
        .filter_map(|(_, labels)| labels.iter().find(|(n, _)| n == "collector").map(|(_, v)| v.clone()))
        .collect();
    enabled.sort();
    println!("node_exporter's default collectors here ({}): {enabled:?}", enabled.len());

    let mut owner = BTreeMap::<String, String>::new();
    for collector in enabled.iter().filter(|c| !collectors.contains(&c.as_str())) {
        let alone = NodeExporter::start(&node_exporter_args(&[collector.as_str()]));
        for name in index("node_exporter", &alone.scrape()).families.into_keys() {
            owner.entry(name).or_insert_with(|| collector.clone());
        }
    }

    let mut missing = BTreeMap::<String, Vec<String>>::new();
    for name in full.families.keys() {
        if name.starts_with("node_") && !is_node_exporter_self(name) && !ours.families.contains_key(name) {
            let collector = owner.get(name).cloned().unwrap_or_else(|| "(one of Sonde's)".to_owned());
            missing.entry(collector).or_default().push(name.clone());
        }
    }
    println!("node_* families node_exporter emits here that Sonde does not, by collector:");
    for (collector, names) in &missing {
        println!("  {collector} ({}): {}", names.len(), names.join(", "));
    }
    assert!(
        !missing.contains_key("(one of Sonde's)"),
        "families of Sonde's collectors missing from Sonde: {:?}",
        missing["(one of Sonde's)"]
    );
}
