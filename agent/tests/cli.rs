//! Tests of the real `sonde-agent` binary: `check metrics` exit codes, the
//! agent's lifecycle under SIGTERM, and flag errors.
// Helpers outside #[test] functions fail the test by panicking too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sonde-agent");

/// Bound on every wait so a broken binary fails the test instead of hanging
/// it; not a performance threshold.
const TIMEOUT: Duration = Duration::from_secs(30);

const CLEAN: &str = "# HELP sonde_test_value A test value.\n# TYPE sonde_test_value gauge\nsonde_test_value 1\n";
const UNPARSABLE: &str = "bad{a=\"x} 1\n";
const LINT_PROBLEMS: &str = "# TYPE sonde_testValue gauge\nsonde_testValue 1\n";
const CLEAN_OPENMETRICS: &str =
    "# HELP sonde_test_value A test value.\n# TYPE sonde_test_value gauge\nsonde_test_value 1\n# EOF\n";

fn check_file(args: &[&str], input: &str) -> Output {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(input.as_bytes()).unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    Command::new(BIN)
        .args(["check", "metrics"])
        .args(args)
        .arg(&path)
        .output()
        .unwrap()
}

fn check_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["check", "metrics"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_metrics_exit_codes_from_a_file() {
    let clean = check_file(&[], CLEAN);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert!(clean.stderr.is_empty(), "{}", stderr(&clean));

    let unparsable = check_file(&[], UNPARSABLE);
    assert_eq!(unparsable.status.code(), Some(1), "{}", stderr(&unparsable));
    assert!(stderr(&unparsable).starts_with("error while linting: "), "{}", stderr(&unparsable));

    let problems = check_file(&[], LINT_PROBLEMS);
    assert_eq!(problems.status.code(), Some(3), "{}", stderr(&problems));
    let text = stderr(&problems);
    assert!(!text.is_empty());
    assert!(text.lines().all(|line| line.starts_with("sonde_testValue ")), "{text}");
}

#[test]
fn check_metrics_exit_codes_from_stdin() {
    for args in [&[][..], &["-"]] {
        assert_eq!(check_stdin(args, CLEAN).status.code(), Some(0), "{args:?}");
        let unparsable = check_stdin(args, UNPARSABLE);
        assert_eq!(unparsable.status.code(), Some(1), "{args:?}");
        assert!(stderr(&unparsable).starts_with("error while linting: "), "{}", stderr(&unparsable));
        let problems = check_stdin(args, LINT_PROBLEMS);
        assert_eq!(problems.status.code(), Some(3), "{args:?}: {}", stderr(&problems));
    }
}

#[test]
fn check_metrics_openmetrics() {
    let clean = check_stdin(&["--openmetrics"], CLEAN_OPENMETRICS);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    // OpenMetrics requires `# EOF`; text 0.0.4 input lacks it.
    let missing_eof = check_stdin(&["--openmetrics"], CLEAN);
    assert_eq!(missing_eof.status.code(), Some(1), "{}", stderr(&missing_eof));
}

#[test]
fn check_metrics_unreadable_file() {
    let output = Command::new(BIN)
        .args(["check", "metrics", "/nonexistent/sonde/metrics.prom"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("/nonexistent/sonde/metrics.prom"), "{}", stderr(&output));
}

/// A running agent whose stderr lines arrive on a channel.
struct Agent {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Agent {
    fn start(args: &[&str]) -> Agent {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Agent { child, lines, seen: Vec::new() }
    }

    /// Waits for a log line containing `needle` and returns it.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(err) => {
                    let _ = self.child.kill();
                    panic!("no log line with {needle:?} ({err}); saw:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// Sends `signal` (`TERM`, `INT`) with kill(1): the crate forbids the
    /// unsafe code a direct kill(2) would need.
    fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread ends at EOF; keep what it read.
                while let Ok(line) = self.lines.recv_timeout(TIMEOUT) {
                    self.seen.push(line);
                }
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("sonde-agent did not exit; log:\n{}", self.seen.join("\n"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of `key=` in a logfmt line.
fn logfmt_value<'a>(line: &'a str, key: &str) -> &'a str {
    let prefix = format!(" {key}=");
    let start = line.find(&prefix).map(|i| i + prefix.len()).unwrap_or_else(|| panic!("no {key} in {line}"));
    line[start..].split(' ').next().unwrap().trim_matches('"')
}

/// A minimal HTTP/1.1 GET; returns the head and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[test]
fn agent_serves_and_exits_cleanly_on_sigterm() {
    let mut agent = Agent::start(&["--web.listen-address", "127.0.0.1:0"]);
    let line = agent.wait_for_line("msg=listening");
    assert!(line.starts_with("ts="), "{line}");
    assert!(line.contains(" level=info "), "{line}");
    let addr: SocketAddr = logfmt_value(&line, "address").parse().unwrap();

    let (head, body) = http_get(addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    assert!(body.contains("sonde_build_info"), "{body}");

    agent.signal("TERM");
    let status = agent.wait();
    assert_eq!(status.code(), Some(0), "log:\n{}", agent.seen.join("\n"));
    assert!(
        agent.seen.iter().any(|l| l.contains("msg=\"received signal\" signal=SIGTERM")),
        "{}",
        agent.seen.join("\n")
    );
}

#[test]
fn sigint_stops_the_agent_cleanly_too() {
    let mut agent = Agent::start(&["--web.listen-address", "127.0.0.1:0"]);
    agent.wait_for_line("msg=listening");
    agent.signal("INT");
    assert_eq!(agent.wait().code(), Some(0), "log:\n{}", agent.seen.join("\n"));
    assert!(agent.seen.iter().any(|l| l.contains("signal=SIGINT")), "{}", agent.seen.join("\n"));
}

#[test]
fn agent_logs_json_on_request() {
    let mut agent = Agent::start(&["--web.listen-address", "127.0.0.1:0", "--log.format", "json"]);
    let line = agent.wait_for_line("\"msg\":\"listening\"");
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["level"], "info");
    let addr: SocketAddr = value["address"].as_str().unwrap().parse().unwrap();
    let (head, _) = http_get(addr, "/-/ready");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    agent.signal("TERM");
    assert_eq!(agent.wait().code(), Some(0));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut agent = Agent::start(&["--web.listen-address", &addr]);
    let status = agent.wait();
    assert_eq!(status.code(), Some(1));
    let log = agent.seen.join("\n");
    assert!(log.contains("level=error") && log.contains(&addr), "{log}");
}

#[test]
fn bad_flag_values_are_refused_clearly() {
    for (args, expected) in [
        (&["--log.level", "verbose"][..], "--log.level"),
        (&["--log.format", "xml"], "--log.format"),
        (&["--web.listen-address", "9097"], "missing port"),
        (&["--web.telemetry-path", "metrics"], "must start with /"),
        (&["--no-such-flag"], "--no-such-flag"),
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn version_names_revision_and_compiler() {
    let output = Command::new(BIN).arg("--version").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with(&format!("sonde-agent {}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("revision ") && text.contains("rustc "), "{text}");
}
