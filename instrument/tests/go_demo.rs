//! go-demo end to end: the example binary, built by the test with the same
//! cargo into the same target directory, runs on a free port (`PORT=0`;
//! the address comes from its one start-up line on stderr) and is talked
//! to over real TCP with a minimal HTTP/1.1 client.
//!
//! `promtool_accepts_metrics` needs `promtool` (Debian package
//! `prometheus`, which `scripts/test.sh` installs): without it the test is
//! skipped with a note, except under CI (`CI` set), where it fails.

// A test stops at the first thing that is not as expected.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sonde_instrument::{Format, MetricFamily, Suffix, parse};

/// Builds the example once for all tests; returns its path.
fn example_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // This test runs as <target>/<profile>/deps/go_demo-<hash>.
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("profile directory");
            let target_dir = profile_dir.parent().expect("target directory");
            let mut build = Command::new(env!("CARGO"));
            build
                .args(["build", "--quiet", "-p", "sonde-instrument", "--features", "http", "--example", "go-demo"])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if profile_dir.file_name().is_some_and(|name| name == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("running cargo build");
            assert!(status.success(), "cargo build --example go-demo failed: {status}");
            profile_dir.join("examples").join(format!("go-demo{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// A running go-demo, killed when dropped.
struct Demo {
    child: Child,
    port: u16,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(env: &[(&str, &str)]) -> Demo {
        let mut command = Command::new(example_binary());
        command.env("PORT", "0").env_remove("SELF_PING_INTERVAL").env_remove("SERVICE_NAME");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[go-demo] {line}");
                if lines.send(line).is_err() {
                    // Keep draining so the demo never blocks on a full pipe.
                    continue;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = received.recv_timeout(left).expect("go-demo did not log its address within 30 s");
            // "go-demo: listening on 0.0.0.0:PORT (service NAME)"
            if let Some(rest) = line.split("listening on ").nth(1) {
                let address = rest.split_whitespace().next().unwrap();
                break address.rsplit(':').next().unwrap().parse().unwrap();
            }
        };
        Demo { child, port }
    }

    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        Reply::parse(&raw)
    }

    fn get(&self, target: &str) -> Reply {
        self.request("GET", target, &[])
    }

    fn metrics(&self) -> (String, Vec<MetricFamily>) {
        let reply = self.get("/metrics");
        assert_eq!(reply.status, 200);
        let text = String::from_utf8(reply.body).unwrap();
        let families = parse(&text, Format::Text).unwrap_or_else(|err| panic!("{err}\n{text}"));
        (text, families)
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// Parses a response with a `Content-Length` body (all go-demo sends).
    fn parse(raw: &[u8]) -> Reply {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of head");
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let body = raw[split + 4..].to_vec();
        let reply = Reply { status, headers, body };
        if let Some(length) = reply.header("content-length") {
            assert_eq!(reply.body.len(), length.parse::<usize>().unwrap(), "truncated body");
        }
        reply
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// The value of `http_server_resp_time<suffix>` for the series with these
/// `code` and `path` labels (and `le` for buckets).
fn resp_time(families: &[MetricFamily], suffix: Suffix, code: &str, path: &str, le: Option<&str>) -> Option<f64> {
    families
        .iter()
        .filter(|f| f.name == "http_server_resp_time")
        .flat_map(|f| &f.samples)
        .find(|s| {
            s.suffix == suffix
                && s.labels.get("code") == Some(code)
                && s.labels.get("path") == Some(path)
                && s.labels.get("le") == le
        })
        .map(|s| s.value)
}

#[test]
fn delays_land_in_the_right_buckets() {
    let demo = Demo::start(&[("SERVICE_NAME", "e2e-demo")]);
    for _ in 0..5 {
        let reply = demo.get("/demo/hello");
        assert_eq!((reply.status, reply.text()), (200, "hello, world!\n"));
    }
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let started = Instant::now();
                let reply = demo.get("/demo/hello?delay=300");
                assert_eq!((reply.status, reply.text()), (200, "hello, world!\n"));
                assert!(started.elapsed() >= Duration::from_millis(300));
            });
        }
    });

    let (text, families) = demo.metrics();
    let bucket = |le| resp_time(&families, Suffix::Bucket, "200", "/demo/hello", Some(le));
    // 5 quick answers are far below 250 ms; the 3 delayed ones take at
    // least 300 ms (a sleep is never shorter) and, bar a 200 ms stall,
    // less than 500 ms.
    assert_eq!(bucket("0.25"), Some(5.0), "{text}");
    assert_eq!(bucket("0.5"), Some(8.0), "{text}");
    assert_eq!(bucket("+Inf"), Some(8.0), "{text}");
    assert_eq!(resp_time(&families, Suffix::Count, "200", "/demo/hello", None), Some(8.0));
    let sum = resp_time(&families, Suffix::Sum, "200", "/demo/hello", None).unwrap();
    assert!((0.9..2.5).contains(&sum), "sum {sum}");

    // Every series carries the configured service, and the query string
    // never reaches a label.
    let family = families.iter().find(|f| f.name == "http_server_resp_time").unwrap();
    assert_eq!(family.help, "Request response time");
    for sample in &family.samples {
        assert_eq!(sample.labels.get("service"), Some("e2e-demo"));
        assert_eq!(sample.labels.get("method"), Some("GET"));
        assert!(sample.labels.iter().all(|l| !l.value.contains('?') && !l.value.contains("delay")), "{sample:?}");
    }
    // Scrapes are not timed, as in go-demo.
    assert!(!text.contains("path=\"/metrics\""));
}

#[test]
fn about_one_in_ten_random_errors_fail() {
    let demo = Demo::start(&[]);
    let mut failures = 0;
    for _ in 0..300 {
        let reply = demo.get("/demo/random-error");
        match reply.status {
            500 => {
                assert_eq!(reply.text(), "ERROR: Something, somewhere, went wrong!\n");
                failures += 1;
            }
            200 => assert_eq!(reply.text(), "Everything is still OK\n"),
            other => panic!("unexpected status {other}"),
        }
    }
    // Binomial(300, 0.1): mean 30, sd 5.2. P(X < 10) = 3.2e-6 and
    // P(X > 60) = 7.1e-8, so a correct service fails this about 3 times in
    // a million runs.
    assert!((10..=60).contains(&failures), "{failures} of 300 failed");

    let (_, families) = demo.metrics();
    let count = |code| resp_time(&families, Suffix::Count, code, "/demo/random-error", None).unwrap_or(0.0);
    assert_eq!(count("500"), f64::from(failures));
    assert_eq!(count("200"), f64::from(300 - failures));
}

#[test]
fn person_store_and_unknown_paths() {
    let demo = Demo::start(&[]);
    assert_eq!(demo.get("/demo/person").text(), "");
    assert_eq!(demo.request("PUT", "/demo/person?name=Viktor", &[]).status, 200);
    assert_eq!(demo.request("PUT", "/demo/person?name=Jo+Doe", &[]).status, 200);
    assert_eq!(demo.request("PUT", "/demo/person?name=Viktor", &[]).status, 200);
    let reply = demo.get("/demo/person");
    assert_eq!((reply.status, reply.text()), (200, "Viktor\nJo Doe\n"));
    assert_eq!(reply.header("content-type"), Some("text/plain; charset=utf-8"));

    let reply = demo.get("/wp-login.php?user=admin");
    assert_eq!((reply.status, reply.text()), (404, "404 page not found\n"));
    let (_, families) = demo.metrics();
    assert_eq!(resp_time(&families, Suffix::Count, "404", "unmatched", None), Some(1.0));
    let puts = families
        .iter()
        .filter(|f| f.name == "http_server_resp_time")
        .flat_map(|f| &f.samples)
        .find(|s| s.suffix == Suffix::Count && s.labels.get("method") == Some("PUT"))
        .map(|s| (s.labels.get("path"), s.value));
    assert_eq!(puts, Some((Some("/demo/person"), 3.0)));
}

#[test]
fn metrics_negotiate_openmetrics_and_gzip() {
    let demo = Demo::start(&[]);
    demo.get("/demo/hello");
    let reply = demo.request(
        "GET",
        "/metrics",
        &[
            ("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            ("Accept-Encoding", "gzip"),
        ],
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&reply.body[..]).read_to_string(&mut text).unwrap();
    let families = parse(&text, Format::OpenMetrics).unwrap_or_else(|err| panic!("{err}\n{text}"));
    assert!(families.iter().any(|f| f.name == "http_server_resp_time"));
    // The process collector and promhttp's handler metrics are registered.
    for name in ["process_cpu_seconds", "process_resident_memory_bytes", "promhttp_metric_handler_requests"] {
        assert!(families.iter().any(|f| f.name == name), "no {name} in\n{text}");
    }

    let plain = demo.get("/metrics");
    assert_eq!(plain.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(plain.header("content-encoding"), None);
}

#[test]
fn self_ping_requests_hello() {
    let demo = Demo::start(&[("SELF_PING_INTERVAL", "100ms")]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (text, families) = demo.metrics();
        let pings = resp_time(&families, Suffix::Count, "200", "/demo/hello", None).unwrap_or(0.0);
        if pings >= 3.0 {
            break;
        }
        assert!(Instant::now() < deadline, "only {pings} self-pings after 20 s:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_settings_exit_with_a_message() {
    let output = Command::new(example_binary()).env("PORT", "0").env("SELF_PING_INTERVAL", "5").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SELF_PING_INTERVAL=\"5\""), "{stderr}");
}

#[test]
fn promtool_accepts_metrics() {
    let promtool = ["/usr/bin/promtool", "promtool"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(promtool) = promtool else {
        assert!(std::env::var_os("CI").is_none(), "promtool is missing; scripts/test.sh installs it");
        eprintln!("skipped: promtool not installed (Debian package `prometheus`)");
        return;
    };
    let demo = Demo::start(&[]);
    demo.get("/demo/hello?delay=5");
    for _ in 0..20 {
        demo.get("/demo/random-error");
    }
    demo.request("PUT", "/demo/person?name=x", &[]);
    demo.get("/nope");
    let (text, _) = demo.metrics();

    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = check.wait_with_output().unwrap();
    // Exit 0: parsed, and no lint problem either (3 would mean lint warnings).
    assert!(
        output.status.success(),
        "promtool check metrics: {}\n{}{}\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
