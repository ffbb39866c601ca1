//! Helpers shared by the tests that start the real binaries: a running
//! process whose log lines arrive on a channel, the address it logged, and
//! a minimal HTTP client.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The agent binary.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_sonde-agent");
/// The exporter-only binary, a binary of the `sonde-exporter` package:
/// cargo builds it beside the agent's for `cargo test --workspace`.
pub(crate) fn exporter_bin() -> &'static str {
    static PATH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let path = Path::new(BIN).with_file_name("sonde-exporter");
        assert!(path.exists(), "{} is not built: run the tests with --workspace", path.display());
        path.display().to_string()
    });
    &PATH
}

/// Bound on every wait so a broken binary fails the test instead of hanging
/// it; not a performance threshold.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// A running agent whose stderr lines arrive on a channel.
pub(crate) struct Agent {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub(crate) seen: Vec<String>,
}

impl Agent {
    /// Starts `sonde-agent` with `args`.
    pub(crate) fn start(args: &[&str]) -> Agent {
        Agent::start_bin(BIN, args, None)
    }

    /// Starts `bin` with `args`, in `dir` when given.
    pub(crate) fn start_bin(bin: &str, args: &[&str], dir: Option<&Path>) -> Agent {
        let mut command = Command::new(bin);
        command.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().unwrap();
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
    pub(crate) fn wait_for_line(&mut self, needle: &str) -> String {
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

    /// Waits for the logfmt `listening` line and returns the bound address.
    pub(crate) fn listening_address(&mut self) -> SocketAddr {
        let line = self.wait_for_line("msg=listening");
        logfmt_value(&line, "address").parse().unwrap()
    }

    /// Sends `signal` (`TERM`, `INT`) with kill(1): the crate forbids the
    /// unsafe code a direct kill(2) would need.
    pub(crate) fn signal(&mut self, signal: &str) {
        let status = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit and keeps the rest of its log.
    pub(crate) fn wait(&mut self) -> ExitStatus {
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
                panic!("the process did not exit; log:\n{}", self.seen.join("\n"));
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
pub(crate) fn logfmt_value<'a>(line: &'a str, key: &str) -> &'a str {
    let prefix = format!(" {key}=");
    let start = line.find(&prefix).map(|i| i + prefix.len()).unwrap_or_else(|| panic!("no {key} in {line}"));
    line[start..].split(' ').next().unwrap().trim_matches('"')
}

/// A minimal HTTP/1.1 GET; returns the head and the body.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    try_http_get(addr, path).unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"))
}

/// [`http_get`] that says why it failed instead of panicking: for a server
/// still starting, which may accept a connection and then reset it.
pub(crate) fn try_http_get(addr: SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("no end of head in {response:?}"))
    })?;
    Ok((head.to_owned(), body.to_owned()))
}
