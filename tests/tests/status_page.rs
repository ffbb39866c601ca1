//! The status page at `/` as a person sees it: the real agent binary with
//! a few REAL containers, the page loaded in headless Chromium (Debian's
//! `chromium`; `$CHROMIUM` names another), and what the browser built
//! checked: the node's figures, each container's card with its charts
//! drawn from the window, the scrape targets (one up, one down with its
//! error), the alerts, and every user-supplied value shown as text.
//!
//! Docker refuses a container name holding `<` or quotes, so the hostile
//! values come in container labels, which `--container.labels` copies to
//! series and the page shows (and alerts carry).
//!
//! The screenshot is written to the test's temporary directory; with
//! `UPDATE_GOLDEN=1` also to `docs/status-page.png`, which README.md
//! embeds. Needs `/var/run/docker.sock` like `docker_engine.rs`;
//! `SONDE_SKIP_DOCKER_TESTS=1` skips it.
// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sonde_tests::engine::{Containers, WAIT, docker_available, wait_for, workload_image};
use sonde_tests::process::Process;
use sonde_tests::{TIMEOUT, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_sonde-agent-test");

/// A label value a page that does not escape would run as a script.
const HOSTILE: &str = "<script>alert(\"owned\")</script>";
/// How the browser's DOM serializes [`HOSTILE`] shown as text.
const HOSTILE_AS_TEXT: &str = "&lt;script&gt;alert(\"owned\")&lt;/script&gt;";
/// A label value with both quotes, which would end an attribute.
const QUOTES: &str = "it's \"quoted\"";

/// The window the screenshot is taken in: a laptop's width, tall enough
/// for the node, the containers and the targets.
const SCREEN: (u32, u32) = (1280, 1560);

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// Runs headless Chromium on `url` with `args`, in a profile of its own
/// under `dir`; returns its stdout. Fails (never skips) when Chromium is
/// missing or does not finish within two minutes.
fn run_chromium(dir: &Path, url: &str, args: &[&str]) -> String {
    let profile = format!("--user-data-dir={}", dir.join("chromium-profile").display());
    let mut child = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .arg(&profile)
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {} ({e}): install Debian's `chromium` package, or set CHROMIUM to its path", chromium())
        });
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish in two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The page's HTML as the agent sends it.
fn page(addr: SocketAddr) -> String {
    let answer = http_get(addr, "/", &[], TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(answer.header("content-type"), Some("text/html; charset=utf-8"), "{}", answer.head);
    answer.body
}

/// The card of the container `name` in `dom`.
fn card<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    dom.split("<div class=\"card container\">").skip(1).find(|card| card.starts_with(&format!("<h3>{name}</h3>")))
}

/// The number of points of each line drawn in `html`.
fn line_points(html: &str) -> Vec<usize> {
    html.split("<polyline")
        .skip(1)
        .filter_map(|rest| rest.split("points=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(|points| points.split_whitespace().count())
        .collect()
}

/// The three charts of a container card (CPU, memory, network) each have
/// a line of at least `points` points.
fn charted(card: &str, points: usize) -> bool {
    let charts: Vec<&str> = card.split("<svg class=\"chart\"").skip(1).collect();
    charts.len() == 3 && charts.iter().all(|chart| line_points(chart).iter().any(|&n| n >= points))
}

#[test]
fn the_status_page_shows_the_node_its_containers_targets_and_alerts_escaped() {
    if !docker_available("the_status_page_shows_the_node_its_containers_targets_and_alerts_escaped") {
        return;
    }
    let image = workload_image(Path::new(env!("CARGO_BIN_EXE_sonde-workload")));
    let dir = tempfile::tempdir().unwrap();
    let containers = Containers::new();
    let note = format!("com.df.note={HOSTILE}");
    let quote = format!("com.df.quote={QUOTES}");
    // Memory against a limit, with the hostile labels.
    let holder =
        containers.run(&["--memory", "128m", "--label", &note, "--label", &quote], image, &["hold", "33554432"]);
    // CPU: a quarter of a CPU, for longer than the test runs.
    let burner = containers.run(&["--cpus", "0.25"], image, &["burn", "3600000"]);
    // A scrape target that answers, and one nothing listens on.
    let served = containers.run(
        &["--label", "com.df.scrapePort=8080", "--label", "com.docker.swarm.service.name=status_demo"],
        image,
        &["serve-metrics", "8080"],
    );
    let silent = containers.run(&["--label", "com.df.scrapePort=9"], image, &["sleep"]);
    for container in [&holder, &served, &silent] {
        container.wait_ready();
    }

    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        format!(
            "groups:\n- name: status-page\n  rules:\n  - alert: ContainerUsesMemory\n    \
             expr: container_memory_usage_bytes{{name=\"{}\"}} > 0\n    annotations:\n      \
             summary: '{{{{ $labels.name }}}} uses memory'\n  - alert: TargetDown\n    expr: up == 0\n    for: 1h\n",
            holder.name
        ),
    )
    .unwrap();
    // Node rules: every agent evaluates them over its own node's window,
    // where this node's targets are, even on a Swarm leader (whose
    // `--rules.file` rules see the cluster window).
    let rules_flag = format!("--rules.node-file={}", rules.display());
    let storage = format!("--storage.path={}", dir.path().join("data").display());
    let mut agent = Process::start(
        BIN,
        &[
            "--web.listen-address=127.0.0.1:0",
            "--rules.evaluation-interval=1s",
            "--scrape.timeout=1s",
            "--agent.instance=status-node",
            rules_flag.as_str(),
            storage.as_str(),
        ],
    );
    let addr = agent.listening_address();

    // Until the window holds enough samples for every container's charts,
    // both targets were scraped and both rules have alerts.
    wait_for("every container charted, both targets scraped, both alerts", WAIT * 2, || {
        let html = page(addr);
        let all_charted =
            [&holder, &burner, &served, &silent].iter().all(|c| card(&html, &c.name).is_some_and(|c| charted(c, 5)));
        let scraped = html.contains("state-up\">up<") && html.contains("state-down\">down<");
        let alerts = html.contains("<td>ContainerUsesMemory</td>") && html.contains("<td>TargetDown</td>");
        (all_charted && scraped && alerts).then_some(())
    });

    let url = format!("http://{addr}/");
    let dom = run_chromium(dir.path(), &url, &["--dump-dom"]);

    // Nothing shown became markup: the page has no script of its own, so
    // any script element is an injected one.
    assert!(!dom.contains("<script"), "a script element in the page:\n{dom}");
    assert!(!dom.contains("alert(\"owned\")</script>"), "{dom}");

    // The node at a glance, with its charts.
    assert!(dom.contains("<span id=\"node\">status-node</span>"), "{dom}");
    for id in ["node-cpu", "node-memory", "node-network"] {
        let card = dom.split(&format!("id=\"{id}\"")).nth(1).unwrap_or_else(|| panic!("no {id} card:\n{dom}"));
        let card = card.split("</svg>").next().unwrap();
        assert!(line_points(card).iter().any(|&n| n >= 5), "{id} has no chart with points:\n{card}");
    }
    let cpu = dom.split("id=\"node-cpu\"").nth(1).unwrap();
    let busy = cpu.split("<div class=\"figure\">").nth(1).and_then(|s| s.split("%</div>").next()).unwrap();
    let busy: f64 = busy.parse().unwrap_or_else(|e| panic!("CPU busy {busy:?}: {e}"));
    assert!((0.0..=100.0).contains(&busy), "{busy}");
    assert!(dom.contains("<td>/</td>"), "the root filesystem is listed:\n{dom}");

    // Each container, by name, with its figures.
    for container in [&holder, &burner, &served, &silent] {
        let card = card(&dom, &container.name).unwrap_or_else(|| panic!("no card for {}:\n{dom}", container.name));
        assert!(charted(card, 5), "{}: {card}", container.name);
    }
    let holder_card = card(&dom, &holder.name).unwrap();
    assert!(
        holder_card.contains(&format!("<span class=\"chip\">com_df_note={HOSTILE_AS_TEXT}</span>")),
        "{holder_card}"
    );
    assert!(holder_card.contains(&format!("<span class=\"chip\">com_df_quote={QUOTES}</span>")), "{holder_card}");
    assert!(holder_card.contains(" of 128.0 MiB ("), "the limit: {holder_card}");
    let memory = holder_card.split("<div>Memory <b>").nth(1).and_then(|s| s.split(" MiB</b>").next()).unwrap();
    let memory: f64 = memory.parse().unwrap_or_else(|e| panic!("memory {memory:?}: {e}"));
    assert!(memory >= 32.0, "the 32 MiB the holder touched: {holder_card}");
    // The burner's CPU chart rises off the bottom (y 47 in the drawing's
    // box is zero): its figure has two decimals, the chart none.
    let burner_card = card(&dom, &burner.name).unwrap();
    assert!(burner_card.contains("<div>CPU <b>") && burner_card.contains(" cores</b>"), "{burner_card}");
    let cpu_chart = burner_card.split("<svg class=\"chart\"").nth(1).unwrap().split("</svg>").next().unwrap();
    let heights: Vec<f64> = cpu_chart
        .split("points=\"")
        .skip(1)
        .flat_map(|rest| rest.split('"').next().unwrap().split_whitespace())
        .map(|point| point.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(heights.iter().any(|&y| y < 47.0), "the burner uses CPU: {cpu_chart}");

    // The targets: one up, one down with its error.
    let targets = dom.split("<table id=\"targets\">").nth(1).unwrap().split("</table>").next().unwrap();
    let up = targets.split("<tr>").find(|row| row.contains("<td>status_demo</td>")).unwrap();
    assert!(up.contains("state-up\">up<"), "{up}");
    let down = targets.split("<tr>").find(|row| row.contains(&format!("<td>{}</td>", silent.name))).unwrap();
    assert!(down.contains("state-down\">down<"), "{down}");
    let error = down.rsplit("<td>").next().unwrap().trim_end_matches("</tr>").trim_end_matches("</td>");
    assert!(!error.is_empty(), "the down target's error: {down}");

    // The alerts: the firing one carries the hostile label, as text.
    let alerts = dom.split("<table id=\"alerts\">").nth(1).unwrap().split("</table>").next().unwrap();
    let firing = alerts
        .split("<tr>")
        .find(|row| row.contains("<td>ContainerUsesMemory</td>"))
        .unwrap_or_else(|| panic!("no ContainerUsesMemory alert:\n{alerts}"));
    assert!(firing.contains("state-firing\">firing<"), "{firing}");
    assert!(firing.contains(&format!("com_df_note={HOSTILE_AS_TEXT}")), "{firing}");
    assert!(firing.contains(&format!("<td>{} uses memory</td>", holder.name)), "{firing}");
    let pending = alerts
        .split("<tr>")
        .find(|row| row.contains("<td>TargetDown</td>"))
        .unwrap_or_else(|| panic!("no TargetDown alert:\n{alerts}"));
    assert!(pending.contains("state-pending\">pending<"), "{pending}");
    assert!(dom.contains("<table id=\"rule-groups\">"), "{dom}");

    // What a person sees: the screenshot README.md embeds.
    let shot = dir.path().join("status-page.png");
    let size = format!("--window-size={},{}", SCREEN.0, SCREEN.1);
    run_chromium(dir.path(), &url, &[&format!("--screenshot={}", shot.display()), &size, "--hide-scrollbars"]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // The IHDR chunk: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, SCREEN.0, "the screenshot's width");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/status-page.png");
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(&docs, &png).unwrap();
    }
    assert!(agent.exited().is_none(), "the agent is still running");
}
