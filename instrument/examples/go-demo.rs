//! go-demo, the demo service of the Docker Flow Monitor tutorials, in Rust
//! on `sonde-instrument`.
//!
//! * `GET /demo/hello` answers `hello, world!`, after sleeping `delay`
//!   milliseconds when the query has `delay=N`;
//! * `/demo/random-error` answers `500 ERROR: Something, somewhere, went
//!   wrong!` one time in ten, `Everything is still OK` otherwise;
//! * `PUT /demo/person?name=X` stores a name, `GET /demo/person` lists them
//!   one per line (in memory, where go-demo used MongoDB);
//! * `/metrics` serves `http_server_resp_time{code,method,path,service}`,
//!   process metrics and promhttp's handler metrics.
//!
//! Environment: `PORT` (default 8080; 0 picks a free port), `SERVICE_NAME`
//! (default `go-demo`: the `service` label), `SELF_PING_INTERVAL` (a Go
//! duration such as `5s` or `1m30s`: request the own `/demo/hello` that
//! often; unset or 0 disables it).
//!
//! Run with `cargo run -p sonde-instrument --features http --example go-demo`.
//! It logs one line to stderr once it listens: `go-demo: listening on
//! <address> (service <name>)`; the end-to-end test reads the address
//! from it.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::{Future, ready};
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use sonde_instrument::http::{MetricsHandler, RespTime, RespTimeLayer, Routes, text_response as text};
use sonde_instrument::metrics::Registry;
use sonde_instrument::process::ProcessCollector;
use tokio::net::{TcpListener, TcpStream};
use tower_layer::Layer as _;
use tower_service::Service;

/// The routes go-demo serves; any other path is labelled `unmatched`, so
/// scanners cannot grow the `path` label.
const ROUTES: [&str; 3] = ["/demo/hello", "/demo/random-error", "/demo/person"];
/// The in-memory person store keeps at most this many names.
const MAX_PEOPLE: usize = 10_000;

type Body = Full<Bytes>;
type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("go-demo: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Config {
    port: u16,
    service: String,
    self_ping: Option<Duration>,
}

fn config() -> Result<Config, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let port = match var("PORT") {
        Some(port) => port.trim().parse().map_err(|_| format!("PORT={port:?} is not a port number"))?,
        None => 8080,
    };
    let service = var("SERVICE_NAME").unwrap_or_else(|| "go-demo".to_owned());
    let self_ping = match var("SELF_PING_INTERVAL") {
        Some(text) => {
            let interval = parse_go_duration(&text).map_err(|err| format!("SELF_PING_INTERVAL={text:?}: {err}"))?;
            (!interval.is_zero()).then_some(interval)
        }
        None => None,
    };
    Ok(Config { port, service, self_ping })
}

async fn run() -> Result<(), String> {
    let config = config()?;
    seed_random();

    let registry = Registry::new();
    registry.register_collector(ProcessCollector::new());
    let resp_time = RespTimeLayer::new(&config.service)
        .route_template(Routes::new(ROUTES))
        .register(&registry)
        .map_err(|err| err.to_string())?;
    let metrics =
        MetricsHandler::new(Arc::new(registry.clone())).instrument(&registry).map_err(|err| err.to_string())?;
    let router = Router { demo: resp_time.layer(Demo::default()), metrics };

    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, config.port))
        .await
        .map_err(|err| format!("cannot listen on port {}: {err}", config.port))?;
    let address = listener.local_addr().map_err(|err| err.to_string())?;
    eprintln!("go-demo: listening on {address} (service {})", config.service);

    if let Some(interval) = config.self_ping {
        tokio::spawn(self_ping(SocketAddr::from((Ipv4Addr::LOCALHOST, address.port())), interval));
    }

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                // Out of file descriptors, mostly: wait for some to close.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            // A client that goes away mid-request is not worth a log line.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends PID 1).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// `/metrics` to the handler, everything else to the timed demo routes
/// (as in go-demo, scrapes are not in `http_server_resp_time`).
#[derive(Clone)]
struct Router {
    demo: RespTime<Demo>,
    metrics: MetricsHandler,
}

impl Service<Request<Incoming>> for Router {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.demo.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> BoxFuture {
        if request.uri().path() == "/metrics" {
            Box::pin(ready(Ok(self.metrics.respond(request.headers()))))
        } else {
            Box::pin(self.demo.call(request))
        }
    }
}

/// go-demo's handlers.
#[derive(Clone, Default)]
struct Demo {
    people: Arc<Mutex<Vec<String>>>,
}

impl Service<Request<Incoming>> for Demo {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> BoxFuture {
        let query = request.uri().query().unwrap_or("").to_owned();
        match request.uri().path() {
            "/demo/hello" => Box::pin(hello(query)),
            "/demo/random-error" => Box::pin(ready(Ok(random_error()))),
            "/demo/person" => Box::pin(ready(Ok(self.person(request.method(), &query)))),
            _ => Box::pin(ready(Ok(text(StatusCode::NOT_FOUND, "404 page not found\n")))),
        }
    }
}

async fn hello(query: String) -> Result<Response<Body>, Infallible> {
    // Like Go's strconv.Atoi: anything but a positive integer means no delay.
    let delay = query_param(&query, "delay").and_then(|d| d.parse::<u64>().ok()).unwrap_or(0);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    Ok(text(StatusCode::OK, "hello, world!\n"))
}

fn random_error() -> Response<Body> {
    if random_below(10) == 0 {
        text(StatusCode::INTERNAL_SERVER_ERROR, "ERROR: Something, somewhere, went wrong!\n")
    } else {
        text(StatusCode::OK, "Everything is still OK\n")
    }
}

impl Demo {
    fn person(&self, method: &Method, query: &str) -> Response<Body> {
        let mut people = self.people.lock().unwrap_or_else(PoisonError::into_inner);
        if method == Method::PUT {
            // go-demo upserts by name: storing a name twice keeps one.
            let name = query_param(query, "name").unwrap_or_default();
            if !people.iter().any(|p| *p == name) {
                if people.len() >= MAX_PEOPLE {
                    return text(StatusCode::INSUFFICIENT_STORAGE, "the person store is full\n");
                }
                people.push(name.into_owned());
            }
            return text(StatusCode::OK, "");
        }
        let mut list = String::new();
        for name in people.iter() {
            list.push_str(name);
            list.push('\n');
        }
        text(StatusCode::OK, list)
    }
}

/// The first value of `key` in a query string, percent-decoded with `+` as
/// a space, as Go's `URL.Query().Get` does.
fn query_param<'a>(query: &'a str, key: &str) -> Option<Cow<'a, str>> {
    query.split(['&', ';']).find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&h| char::from(h).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.extend(u8::try_from(hi * 16 + lo));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Parses a Go duration (`300ms`, `5s`, `1m30s`, `1.5h`, `0`): decimal
/// numbers each followed by a unit among `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
fn parse_go_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut seconds = 0.0f64;
    if rest.is_empty() {
        return Err("empty duration".to_owned());
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().map_err(|_| format!("expected a number at {rest:?}"))?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("missing unit after {number:?} (use ms, s, m, …)")),
            other => return Err(format!("unknown unit {other:?}")),
        };
        seconds += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(seconds).map_err(|err| err.to_string())
}

/// Requests the own `/demo/hello` every `interval`, so the service always
/// has traffic to show. Logs when it starts failing and when it recovers.
async fn self_ping(address: SocketAddr, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the first ping comes one interval in.
    ticker.tick().await;
    let mut failing = false;
    loop {
        ticker.tick().await;
        match ping(address).await {
            Ok(()) if failing => {
                failing = false;
                eprintln!("go-demo: self-ping of {address} works again");
            }
            Err(err) if !failing => {
                failing = true;
                eprintln!("go-demo: self-ping of {address} failed: {err}");
            }
            _ => {}
        }
    }
}

async fn ping(address: SocketAddr) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(address).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let request = Request::get("/demo/hello").header(header::HOST, address.to_string()).body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    response.into_body().collect().await?;
    drop(sender);
    connection.await??;
    Ok(())
}

static RANDOM: AtomicU64 = AtomicU64::new(0);

fn seed_random() {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    RANDOM.store((nanos as u64) ^ (u64::from(std::process::id()) << 32), Ordering::Relaxed);
}

/// A uniform number in `0..n` from SplitMix64 over a shared counter:
/// lock-free, and plenty for picking one request in ten.
fn random_below(n: u64) -> u64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut z = RANDOM.fetch_add(GAMMA, Ordering::Relaxed).wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // Multiply-shift maps 64 random bits onto 0..n without a modulo.
    ((u128::from(z) * u128::from(n)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5 s").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("1d").is_err());
    }

    #[test]
    fn query_params_decode_like_go() {
        assert_eq!(query_param("delay=300", "delay").as_deref(), Some("300"));
        assert_eq!(query_param("a=1&name=Jo+Doe%21", "name").as_deref(), Some("Jo Doe!"));
        assert_eq!(query_param("name=a&name=b", "name").as_deref(), Some("a"));
        assert_eq!(query_param("name", "name").as_deref(), Some(""));
        assert_eq!(query_param("", "name"), None);
        assert_eq!(query_param("x=%zz", "x").as_deref(), Some("%zz"));
    }

    #[test]
    fn random_is_roughly_uniform() {
        seed_random();
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            if let Some(count) = counts.get_mut(random_below(10) as usize) {
                *count += 1;
            }
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }
}
