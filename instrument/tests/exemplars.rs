//! Exemplars and `_created` from Sonde's metric types, in OpenMetrics
//! output: the exact lines, the same bytes from the registry's direct path
//! and from its model, Sonde's parser (held to the OpenMetrics conformance
//! corpus by `openmetrics_corpus.rs`) reading them back, and a real
//! Prometheus 2.42 scraping them with `--enable-feature=exemplar-storage`
//! and answering `/api/v1/query_exemplars` and `/api/v1/query`.
//!
//! `prometheus_stores_exemplars_and_created` needs `prometheus` (Debian
//! package `prometheus`, which `scripts/test.sh` installs): without it the
//! test is skipped with a note, except under CI (`CI` set), where it fails.

// A test stops at the first thing that is not as expected.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sonde_instrument::encode::encode_to_string;
use sonde_instrument::metrics::{Counter, Family, FloatCounter, Histogram, Registry, Summary};
use sonde_instrument::{Collector, Format, Suffix, parse};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A registry with `_created` on, holding a counter family, a histogram
/// and a summary, each recorded into; exemplars on the counter child
/// `{code="200"}` and on the histogram's `le="0.5"` bucket.
fn shop() -> (Registry, Counter, Histogram, Summary) {
    let registry = Registry::with_prefix("shop").unwrap().with_created_samples();
    let orders = registry.register("orders", "Orders placed.", Family::<Counter>::new(&["code"])).unwrap();
    let ok = orders.get_or_create(&["200"]).clone();
    ok.inc_by_with_exemplar(2, &[("trace_id", TRACE)]);
    orders.get_or_create(&["500"]).inc();
    let checkout =
        registry.register("checkout_seconds", "Time to check out.", Histogram::with_buckets(&[0.1, 0.5]).unwrap());
    let checkout = checkout.unwrap();
    checkout.observe(0.05);
    checkout.observe_with_exemplar(0.25, &[("trace_id", TRACE), ("span_id", "00f067aa0ba902b7")]);
    let basket = registry.register("basket_items", "Items per order.", Summary::new()).unwrap();
    basket.observe(3.0);
    (registry, ok, checkout, basket)
}

/// `value` written the way Sonde writes every float (Go's shortest form).
fn float(value: f64) -> String {
    let mut out = Vec::new();
    encode(&[sonde_instrument::MetricFamily::gauge("x", "").with_sample(Default::default(), value)], &mut out);
    let text = String::from_utf8(out).unwrap();
    text.trim_end().rsplit(' ').next().unwrap().to_owned()
}

fn encode(families: &[sonde_instrument::MetricFamily], out: &mut Vec<u8>) {
    sonde_instrument::encode(families, Format::Text, out);
}

#[test]
fn openmetrics_lines_carry_exemplars_and_created() {
    let (registry, ok, checkout, basket) = shop();
    let exemplar = ok.exemplar().unwrap();
    let bucket = checkout.exemplars()[1].clone().unwrap();
    let expected = format!(
        "# TYPE shop_orders counter\n\
         # HELP shop_orders Orders placed.\n\
         shop_orders_total{{code=\"200\"}} 2 # {{trace_id=\"{TRACE}\"}} 2 {ok_ts}\n\
         shop_orders_created{{code=\"200\"}} {ok_created}\n\
         shop_orders_total{{code=\"500\"}} 1\n\
         shop_orders_created{{code=\"500\"}} {err_created}\n\
         # TYPE shop_checkout_seconds histogram\n\
         # HELP shop_checkout_seconds Time to check out.\n\
         shop_checkout_seconds_bucket{{le=\"0.1\"}} 1\n\
         shop_checkout_seconds_bucket{{le=\"0.5\"}} 2 # {{trace_id=\"{TRACE}\",span_id=\"00f067aa0ba902b7\"}} 0.25 {bucket_ts}\n\
         shop_checkout_seconds_bucket{{le=\"+Inf\"}} 2\n\
         shop_checkout_seconds_sum 0.3\n\
         shop_checkout_seconds_count 2\n\
         shop_checkout_seconds_created {checkout_created}\n\
         # TYPE shop_basket_items summary\n\
         # HELP shop_basket_items Items per order.\n\
         shop_basket_items_sum 3\n\
         shop_basket_items_count 1\n\
         shop_basket_items_created {basket_created}\n\
         # EOF\n",
        ok_ts = float(exemplar.timestamp.unwrap()),
        ok_created = float(ok.created()),
        err_created = float(registry_child_created(&registry, "500")),
        bucket_ts = float(bucket.timestamp.unwrap()),
        checkout_created = float(checkout.created()),
        basket_created = float(basket.created()),
    );
    let mut direct = Vec::new();
    registry.encode(Format::OpenMetrics, &mut direct);
    assert_eq!(String::from_utf8(direct).unwrap(), expected);
    // The model path writes the same bytes.
    let mut families = Vec::new();
    registry.collect(&mut families);
    assert_eq!(encode_to_string(&families, Format::OpenMetrics).0, expected);

    // Text 0.0.4 has a place for neither.
    let mut text = Vec::new();
    registry.encode(Format::Text, &mut text);
    let text = String::from_utf8(text).unwrap();
    assert!(!text.contains("_created") && !text.contains(" # {"), "{text}");
    assert_eq!(encode_to_string(&families, Format::Text).0, text);
}

/// The `_created` value of `shop_orders{code=...}`, read from the model.
fn registry_child_created(registry: &Registry, code: &str) -> f64 {
    let mut families = Vec::new();
    registry.collect(&mut families);
    families
        .iter()
        .flat_map(|f| &f.samples)
        .find(|s| s.suffix == Suffix::Created && s.labels.get("code") == Some(code))
        .map(|s| s.value)
        .unwrap()
}

#[test]
fn created_is_off_by_default_and_the_setting_is_shared_by_the_tree() {
    let registry = Registry::new();
    let sub = registry.sub_registry_with_prefix("sub").unwrap();
    sub.register("jobs", "Jobs.", Counter::new()).unwrap().inc_with_exemplar(&[("trace_id", "a")]);
    let mut out = Vec::new();
    registry.encode(Format::OpenMetrics, &mut out);
    let off = String::from_utf8(out).unwrap();
    // The exemplar is there; `_created` is not, as in client_golang's default.
    assert!(off.contains("sub_jobs_total 1 # {trace_id=\"a\"} 1 "), "{off}");
    assert!(!off.contains("_created"), "{off}");
    sub.set_created_samples(true);
    let mut out = Vec::new();
    registry.encode(Format::OpenMetrics, &mut out);
    assert!(String::from_utf8(out).unwrap().contains("\nsub_jobs_created "));
}

#[test]
fn float_counters_have_both_too() {
    let registry = Registry::new().with_created_samples();
    let cpu = registry.register("cpu_seconds", "CPU time.", FloatCounter::new()).unwrap();
    cpu.inc_by_with_exemplar(0.25, &[("trace_id", TRACE)]);
    cpu.inc_by_with_exemplar(-1.0, &[("trace_id", "ignored")]);
    let exemplar = cpu.exemplar().unwrap();
    let expected = format!(
        "# TYPE cpu_seconds counter\n# HELP cpu_seconds CPU time.\n\
         cpu_seconds_total 0.25 # {{trace_id=\"{TRACE}\"}} 0.25 {}\ncpu_seconds_created {}\n# EOF\n",
        float(exemplar.timestamp.unwrap()),
        float(cpu.created()),
    );
    let mut direct = Vec::new();
    registry.encode(Format::OpenMetrics, &mut direct);
    assert_eq!(String::from_utf8(direct).unwrap(), expected);
    let mut families = Vec::new();
    registry.collect(&mut families);
    assert_eq!(encode_to_string(&families, Format::OpenMetrics).0, expected);
}

#[test]
fn exemplars_openmetrics_forbids_are_dropped_and_the_value_still_counts() {
    let counter = Counter::new();
    // 8 + 121 characters: one over OpenMetrics' 128.
    let long = "x".repeat(121);
    counter.inc_with_exemplar(&[("trace_id", &long)]);
    counter.inc_with_exemplar(&[("not a name", "v")]);
    assert_eq!((counter.get(), counter.exemplar()), (2, None));
    // 8 + 120 characters: exactly the limit, kept.
    counter.inc_with_exemplar(&[("trace_id", &long[..120])]);
    assert_eq!(counter.exemplar().map(|e| e.labels.len()), Some(1));
    let long_unicode = "é".repeat(119);
    counter.inc_with_exemplar(&[("trace_id", &long_unicode)]);
    assert_eq!(counter.get(), 4);
    // 127 characters in 246 bytes: the limit counts characters, so it is kept.
    assert_eq!(counter.exemplar().unwrap().labels.get("trace_id"), Some(long_unicode.as_str()));
}

#[test]
fn sondes_parser_reads_the_exemplars_back() {
    let (registry, ok, checkout, _) = shop();
    let mut out = Vec::new();
    registry.encode(Format::OpenMetrics, &mut out);
    let families = parse(std::str::from_utf8(&out).unwrap(), Format::OpenMetrics).unwrap();
    let orders = families.iter().find(|f| f.name == "shop_orders").unwrap();
    let total = orders.samples.iter().find(|s| s.suffix == Suffix::Total && s.labels.get("code") == Some("200"));
    assert_eq!(total.unwrap().exemplar, ok.exemplar());
    let histogram = families.iter().find(|f| f.name == "shop_checkout_seconds").unwrap();
    let with: Vec<_> = histogram.samples.iter().filter(|s| s.exemplar.is_some()).collect();
    assert_eq!(with.len(), 1);
    assert_eq!(with[0].labels.get("le"), Some("0.5"));
    assert_eq!(with[0].exemplar, checkout.exemplars()[1]);
}

/// Serves `registry` as OpenMetrics on a free port of 127.0.0.1, one
/// response per connection, until the test process ends.
fn serve(registry: Registry) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let mut body = Vec::new();
            registry.encode(Format::OpenMetrics, &mut body);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                Format::OpenMetrics.content_type(),
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
        }
    });
    addr
}

/// `GET path` on `addr`; the body, or `None` when nothing answers yet.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn prometheus_stores_exemplars_and_created() {
    let prometheus = ["/usr/bin/prometheus", "prometheus"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(prometheus) = prometheus else {
        assert!(std::env::var_os("CI").is_none(), "prometheus is missing; scripts/test.sh installs it");
        eprintln!("skipped: prometheus not installed (Debian package `prometheus`)");
        return;
    };
    let (registry, ok, checkout, _) = shop();
    let target = serve(registry);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - job_name: shop\n    static_configs: [{{targets: ['{target}']}}]\n"
        ),
    )
    .unwrap();
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={web}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let range = format!("start={}&end={}", now - 3600, now + 3600);
    // Wait for a scrape that stored both exemplars (a generous bound, so a
    // loaded machine does not fail the test; what is checked is content).
    let deadline = Instant::now() + Duration::from_secs(120);
    let (counters, buckets) = loop {
        let counters = get(web, &format!("/api/v1/query_exemplars?query=shop_orders_total&{range}"));
        let buckets = get(web, &format!("/api/v1/query_exemplars?query=shop_checkout_seconds_bucket&{range}"));
        let found = |body: &Option<String>| body.as_deref().is_some_and(|b| b.contains(TRACE));
        if found(&counters) && found(&buckets) {
            break (counters.unwrap(), buckets.unwrap());
        }
        let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "no exemplars stored: {counters:?} {buckets:?}\n{log}");
        thread::sleep(Duration::from_millis(250));
    };

    let counters: serde_json::Value = serde_json::from_str(&counters).unwrap();
    let series = counters["data"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{counters}");
    assert_eq!(series[0]["seriesLabels"]["code"], "200");
    let stored = &series[0]["exemplars"][0];
    let exemplar = ok.exemplar().unwrap();
    assert_eq!(stored["labels"], serde_json::json!({ "trace_id": TRACE }));
    assert_eq!(stored["value"], "2");
    // Prometheus keeps whole milliseconds (it cuts the rest off).
    let stored_ms = (stored["timestamp"].as_f64().unwrap() * 1000.0).round() as i64;
    let given_ms = exemplar.timestamp.unwrap() * 1000.0;
    assert!((stored_ms as f64 - given_ms).abs() < 1.0, "{stored_ms} ms stored for {given_ms} ms");

    let buckets: serde_json::Value = serde_json::from_str(&buckets).unwrap();
    let series = buckets["data"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{buckets}");
    assert_eq!(series[0]["seriesLabels"]["le"], "0.5");
    let stored = &series[0]["exemplars"][0];
    assert_eq!(stored["labels"], serde_json::json!({ "trace_id": TRACE, "span_id": "00f067aa0ba902b7" }));
    assert_eq!(stored["value"], "0.25");

    // Prometheus 2.42 stores a `_created` line as a series of its own
    // (which is why it is off by default): its value is the creation time.
    let created = get(web, "/api/v1/query?query=shop_checkout_seconds_created").unwrap();
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let value = created["data"]["result"][0]["value"][1].as_str().unwrap_or_else(|| panic!("{created}"));
    assert_eq!(value.parse::<f64>().unwrap(), checkout.created());
}
