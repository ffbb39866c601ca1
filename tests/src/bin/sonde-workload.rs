//! `sonde-workload`: the only program of the image the real-engine tests
//! run. It does one kind of work a container metric should see, on request:
//!
//! * `hold <bytes>`: allocates and touches that many bytes, prints `ready`,
//!   then sleeps forever (memory usage);
//! * `burn <millis>`: spins one CPU until it has used that much CPU time,
//!   then exits (CPU time);
//! * `write <path> <bytes>`: writes that many bytes with `O_DIRECT`, then
//!   fsyncs (block IO charged to the writer's cgroup);
//! * `read <path>`: reads a file back with `O_DIRECT` (block IO reads);
//! * `send <addr:port> <bytes>`: sends UDP datagrams totalling that many
//!   bytes of payload (network transmit counters; needs no listener);
//! * `serve-metrics <port>`: serves a small fixed exposition (go-demo's
//!   `http_server_resp_time` histogram, with a count that grows by one per
//!   request) on `0.0.0.0:<port>`, any path, prints `ready` and serves
//!   forever (a scrape target);
//! * `sleep`: prints `ready` and sleeps forever.
//!
//! Every subcommand prints one line saying what it did, so a test can read
//! it from `docker logs` or `docker exec`.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::OpenOptionsExt as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `O_DIRECT` on x86_64 and most other Linux architectures (not arm/aarch64,
/// where it is 0o200000).
#[cfg(not(any(target_arch = "arm", target_arch = "aarch64")))]
const O_DIRECT: i32 = 0o40000;
#[cfg(any(target_arch = "arm", target_arch = "aarch64"))]
const O_DIRECT: i32 = 0o200000;

/// Alignment `O_DIRECT` asks of buffers, offsets and lengths (a page covers
/// every logical block size in use).
const ALIGN: usize = 4096;
/// Size of one write or read.
const CHUNK: usize = 1 << 20;
/// Payload of one UDP datagram: below any Ethernet MTU, so no fragments.
const DATAGRAM: usize = 1400;

const USAGE: &str = "usage: sonde-workload hold <bytes> | burn <millis> | write <path> <bytes> | read <path> | send <addr:port> <bytes> | serve-metrics <port> | sleep";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["hold", bytes] => number(bytes).and_then(|bytes| hold(bytes as usize)),
        ["burn", millis] => number(millis).map(burn),
        ["write", path, bytes] => number(bytes).and_then(|bytes| write(path, bytes)),
        ["read", path] => read(path),
        ["send", addr, bytes] => number(bytes).and_then(|bytes| send(addr, bytes)),
        ["serve-metrics", port] => number(port).and_then(serve_metrics),
        ["sleep"] => {
            say("ready");
            sleep_forever()
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sonde-workload: {message}");
            ExitCode::FAILURE
        }
    }
}

fn number(text: &str) -> Result<u64, String> {
    text.parse().map_err(|e| format!("{text:?} is not a number: {e}"))
}

/// Prints a line and flushes it at once: stdout is a pipe under Docker.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn hold(bytes: usize) -> Result<(), String> {
    let mut block: Vec<u8> = Vec::new();
    block.try_reserve_exact(bytes).map_err(|e| format!("allocating {bytes} bytes: {e}"))?;
    // Writing a non-zero byte to every page makes the kernel back each one
    // with real memory (zero-filled pages from calloc are not even mapped).
    block.resize(bytes, 0);
    for page in block.chunks_mut(ALIGN) {
        page[0] = 1;
    }
    std::hint::black_box(&block);
    say("ready");
    sleep_forever()
}

/// Spins until this thread has run on a CPU for `millis` (per the
/// kernel's own accounting, so a busy host makes it take longer rather
/// than burn less), or for 20 times that in wall time at most.
fn burn(millis: u64) {
    let wanted = Duration::from_millis(millis);
    let start = Instant::now();
    let cpu_start = cpu_time();
    let mut spins: u64 = 0;
    loop {
        for _ in 0..100_000 {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
        let elapsed = match (cpu_start, cpu_time()) {
            (Some(from), Some(now)) => now.saturating_sub(from),
            _ => start.elapsed(),
        };
        if elapsed >= wanted || start.elapsed() >= wanted * 20 {
            break;
        }
    }
    say(&format!("burned {millis} ms of CPU in {} ms", start.elapsed().as_millis()));
}

/// CPU time of this thread: the first field of `schedstat`, nanoseconds.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// A buffer of `len` bytes whose start is `ALIGN`-aligned, as `O_DIRECT`
/// needs, without unsafe code: a larger vector, sliced at the aligned spot.
fn aligned(storage: &mut Vec<u8>, len: usize, fill: u8) -> &mut [u8] {
    storage.clear();
    storage.resize(len + ALIGN, fill);
    let offset = storage.as_ptr().align_offset(ALIGN).min(ALIGN);
    &mut storage[offset..offset + len]
}

fn write(path: &str, bytes: u64) -> Result<(), String> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(O_DIRECT)
        .open(path)
        .map_err(|e| format!("opening {path} with O_DIRECT: {e}"))?;
    let mut storage = Vec::new();
    let buffer = aligned(&mut storage, CHUNK, 0x5a);
    let mut left = bytes;
    while left > 0 {
        // O_DIRECT lengths must be block multiples: round the last one up.
        let len = (left.min(CHUNK as u64) as usize).next_multiple_of(ALIGN);
        file.write_all(&buffer[..len]).map_err(|e| format!("writing {path}: {e}"))?;
        left = left.saturating_sub(len as u64);
    }
    file.sync_all().map_err(|e| format!("fsync of {path}: {e}"))?;
    say(&format!("wrote {bytes} bytes to {path}"));
    Ok(())
}

fn read(path: &str) -> Result<(), String> {
    let mut file: File = OpenOptions::new()
        .read(true)
        .custom_flags(O_DIRECT)
        .open(path)
        .map_err(|e| format!("opening {path} with O_DIRECT: {e}"))?;
    let mut storage = Vec::new();
    let buffer = aligned(&mut storage, CHUNK, 0);
    let mut total: u64 = 0;
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading {path}: {e}")),
        }
    }
    say(&format!("read {total} bytes from {path}"));
    Ok(())
}

fn send(addr: &str, bytes: u64) -> Result<(), String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("binding a UDP socket: {e}"))?;
    let payload = [0x42u8; DATAGRAM];
    let mut left = bytes;
    while left > 0 {
        let len = left.min(DATAGRAM as u64) as usize;
        // An unconnected socket does not report ICMP port-unreachable, so a
        // destination without a listener is fine.
        let sent = socket.send_to(&payload[..len], addr).map_err(|e| format!("sending to {addr}: {e}"))?;
        left = left.saturating_sub(sent as u64);
    }
    say(&format!("sent {bytes} bytes to {addr}"));
    Ok(())
}

fn serve_metrics(port: u64) -> Result<(), String> {
    let port = u16::try_from(port).map_err(|_| format!("{port} is not a port number"))?;
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("listening on port {port}: {e}"))?;
    say("ready");
    let mut requests: u64 = 0;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        requests += 1;
        // One request at a time is plenty for a scrape every interval.
        let _ = answer(stream, requests);
    }
    Ok(())
}

fn answer(mut stream: TcpStream, count: u64) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = format!(
        "# HELP http_server_resp_time Response time of the HTTP server.\n\
         # TYPE http_server_resp_time histogram\n\
         http_server_resp_time_bucket{{code=\"200\",method=\"GET\",path=\"/demo/hello\",service=\"go-demo\",le=\"0.1\"}} {count}\n\
         http_server_resp_time_bucket{{code=\"200\",method=\"GET\",path=\"/demo/hello\",service=\"go-demo\",le=\"+Inf\"}} {count}\n\
         http_server_resp_time_sum{{code=\"200\",method=\"GET\",path=\"/demo/hello\",service=\"go-demo\"}} {sum}\n\
         http_server_resp_time_count{{code=\"200\",method=\"GET\",path=\"/demo/hello\",service=\"go-demo\"}} {count}\n",
        sum = count as f64 * 0.01,
    );
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
