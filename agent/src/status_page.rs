//! The status page at `/` (DESIGN, "Interfaces"): what cAdvisor's UI and
//! Prometheus' `/targets` and `/alerts` pages show, on one page: the node
//! at a glance (CPU, memory, network, filesystems) and each container
//! (CPU, memory against its limit, network), with charts of the last
//! minutes; the scrape targets with their health and last error; the rule
//! groups and the alerts; the scaler's last decisions.
//!
//! Everything is computed when the page is asked for, on the query thread,
//! from what the agent keeps anyway (the node window: `usage`): while
//! nobody looks, the page costs nothing. The charts are inline SVG drawn
//! here (`chart`) rather than by a script from a JSON endpoint: one
//! request per look, a page that works with scripts off and on an
//! air-gapped node, and no second place where user text must be escaped
//! (values inside a script are the hard case). The page reloads itself
//! with a meta refresh every sampling interval. Every value from outside
//! (container names and labels, rule and alert labels, errors) is written
//! through `html::Esc`.

mod chart;
mod html;
mod usage;

use std::fmt::Write as _;

use sonde_exporter::server::landing::PageInfo;
use sonde_rules::AlertState;
use sonde_rules::Health;

use crate::api::format_rfc3339;
use crate::evaluator::now_ms;
use crate::signals::scaler::{Decision, Direction};
use crate::views::Views;
use chart::{Line, Span, chart};
use html::{Esc, byte_rate, bytes, cores, percent};
use usage::{ContainerUsage, NodeUsage};

/// The page, as of now.
pub fn render(info: &PageInfo, views: &Views, decisions: &[Decision]) -> String {
    render_at(info, views, decisions, now_ms())
}

/// The page as of `now_ms`.
fn render_at(info: &PageInfo, views: &Views, decisions: &[Decision], now_ms: i64) -> String {
    let interval = views.node.sample_interval();
    let span = usage::recent(interval, now_ms);
    let node_usage = usage::node(views.node.as_ref(), span);
    // An agent that started a minute ago has a minute of samples: the
    // charts begin at the first, rather than squeeze it to the right.
    let span = span.since(node_usage.first_ms());
    let mut body = String::new();
    node(&mut body, &node_usage, span);
    containers(&mut body, &usage::containers(views.node.as_ref(), span), span);
    targets(&mut body, views);
    alerts(&mut body, views);
    rules(&mut body, views);
    scaling(&mut body, decisions);
    collectors(&mut body, info);

    let (_, instance) = views.node.own_labels();
    let version = format!("Sonde {} ({})", info.version, info.revision);
    let links = [
        (info.telemetry_path.as_str(), "Metrics"),
        ("/-/healthy", "Health"),
        ("/-/ready", "Readiness"),
        ("/api/v1/rules", "Rules"),
        ("/api/v1/alerts", "Alerts"),
        ("/api/v1/targets", "Targets"),
        ("/api/v1/scaling", "Scaling"),
    ];
    let frame = html::Frame {
        node: &instance,
        role: views.role.role().as_str(),
        version: &version,
        built_at: &format_rfc3339(now_ms),
        // At most one page per sample: a faster reload shows nothing new.
        refresh_seconds: interval.as_secs().max(5),
        links: &links,
    };
    html::page(&frame, &body)
}

/// The last value of `points`, when it is a number.
fn last(points: &[(i64, f64)]) -> Option<f64> {
    points.last().map(|p| p.1).filter(|v| v.is_finite())
}

/// `format` of the last value of `points`, or `-`.
fn last_shown(points: &[(i64, f64)], format: fn(f64) -> String) -> String {
    last(points).map_or_else(|| "-".to_owned(), format)
}

/// A `<meter>` of `used` out of `total`, when both are known.
fn meter(used: Option<f64>, total: Option<f64>) -> String {
    match (used, total) {
        (Some(used), Some(total)) if total > 0.0 => {
            format!(
                "<meter min=\"0\" max=\"{total}\" low=\"{}\" high=\"{}\" value=\"{used}\"></meter>",
                total * 0.7,
                total * 0.9
            )
        }
        _ => String::new(),
    }
}

/// The received and sent rates, coloured as the chart's lines.
fn rx_tx(receive: &[(i64, f64)], transmit: &[(i64, f64)]) -> String {
    format!(
        "<span class=\"key-rx\">↓ {}</span> <span class=\"key-tx\">↑ {}</span>",
        last_shown(receive, byte_rate),
        last_shown(transmit, byte_rate)
    )
}

/// How far back the charts go, for their titles.
fn minutes(span: Span) -> String {
    let seconds = (span.end_ms - span.start_ms) / 1000;
    if seconds < 90 { format!("last {seconds} s") } else { format!("last {:.0} min", seconds as f64 / 60.0) }
}

/// The node at a glance: CPU, memory and network cards, then the
/// filesystems.
fn node(page: &mut String, node: &NodeUsage, span: Span) {
    page.push_str("<h2>Node</h2>\n<div class=\"grid\">\n");
    let cpus = node.cpus.map_or_else(String::new, |n| format!("of {n} CPUs"));
    let load = node.load1.map_or_else(String::new, |l| format!(" · load {l:.2}"));
    let _ = writeln!(
        page,
        "<div class=\"card\" id=\"node-cpu\"><h3>CPU</h3><div class=\"figure\">{}</div><div class=\"muted\">busy {cpus}{load}</div>{}</div>",
        last_shown(&node.cpu_busy, percent),
        chart(
            &[Line { points: &node.cpu_busy, class: "cpu" }],
            span,
            Some(1.0),
            &format!("CPU busy, {}", minutes(span))
        )
    );
    let used = last(&node.memory_used);
    let of = match (used, node.memory_total) {
        (Some(used), Some(total)) if total > 0.0 => format!("used of {} ({})", bytes(total), percent(used / total)),
        (_, Some(total)) => format!("of {}", bytes(total)),
        _ => String::new(),
    };
    let _ = writeln!(
        page,
        "<div class=\"card\" id=\"node-memory\"><h3>Memory</h3><div class=\"figure\">{}</div><div class=\"muted\">{of}</div>{}{}</div>",
        used.map_or_else(|| "-".to_owned(), bytes),
        meter(used, node.memory_total),
        chart(
            &[Line { points: &node.memory_used, class: "mem" }],
            span,
            node.memory_total,
            &format!("Memory used, {}", minutes(span))
        )
    );
    let _ = writeln!(
        page,
        "<div class=\"card\" id=\"node-network\"><h3>Network</h3><div class=\"figure\">{}</div>\
         <div class=\"muted\">received, sent (physical interfaces)</div>{}</div>",
        rx_tx(&node.receive, &node.transmit),
        chart(
            &[Line { points: &node.receive, class: "rx" }, Line { points: &node.transmit, class: "tx" }],
            span,
            None,
            &format!("Network received and sent, {}", minutes(span))
        )
    );
    page.push_str("</div>\n");
    filesystems(page, node);
}

fn filesystems(page: &mut String, node: &NodeUsage) {
    let _ = writeln!(page, "<h3>Filesystems ({})</h3>", node.filesystems.len());
    if node.filesystems.is_empty() {
        page.push_str("<p>None: the filesystem collector is off, or has not been sampled yet.</p>\n");
        return;
    }
    page.push_str(
        "<div class=\"scroll\"><table id=\"filesystems\">\n<tr><th>mount point</th><th>device</th><th>type</th>\
         <th>size</th><th>available</th><th>used</th></tr>\n",
    );
    for fs in &node.filesystems {
        let used = fs.size - fs.available;
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{} {}</td></tr>",
            Esc(&fs.mountpoint),
            Esc(&fs.device),
            Esc(&fs.fstype),
            bytes(fs.size),
            bytes(fs.available),
            percent(used / fs.size),
            meter(used.is_finite().then_some(used), Some(fs.size)),
        );
    }
    page.push_str("</table></div>\n");
}

/// One card per running container: CPU, memory against its limit,
/// network, each with its chart.
fn containers(page: &mut String, containers: &[ContainerUsage], span: Span) {
    let _ = writeln!(page, "<h2>Containers ({})</h2>", containers.len());
    if containers.is_empty() {
        page.push_str("<p>None running, or the container collector is off (<code>--collector.container</code>).</p>\n");
        return;
    }
    page.push_str("<div class=\"grid\" id=\"containers\">\n");
    let window = minutes(span);
    for c in containers {
        let memory = last(&c.memory);
        let limit = match (memory, c.memory_limit) {
            (Some(memory), Some(limit)) => format!(" of {} ({})", bytes(limit), percent(memory / limit)),
            (None, Some(limit)) => format!(" of {}", bytes(limit)),
            (_, None) => " (no limit)".to_owned(),
        };
        let _ = write!(
            page,
            "<div class=\"card container\"><h3>{}</h3><div class=\"muted\">{}</div><div>",
            Esc(&c.name),
            Esc(&c.image)
        );
        for (key, value) in &c.labels {
            let _ = write!(page, "<span class=\"chip\">{}={}</span>", Esc(key), Esc(value));
        }
        let _ = writeln!(
            page,
            "</div>\n<div>CPU <b>{}</b></div>{}\n<div>Memory <b>{}</b>{limit}</div>{}{}\n<div>Network {}</div>{}</div>",
            last_shown(&c.cpu, cores),
            chart(&[Line { points: &c.cpu, class: "cpu" }], span, None, &format!("CPU of {}, {window}", c.name)),
            memory.map_or_else(|| "-".to_owned(), bytes),
            meter(memory, c.memory_limit),
            chart(
                &[Line { points: &c.memory, class: "mem" }],
                span,
                c.memory_limit,
                &format!("Memory of {}, {window}", c.name)
            ),
            rx_tx(&c.receive, &c.transmit),
            chart(
                &[Line { points: &c.receive, class: "rx" }, Line { points: &c.transmit, class: "tx" }],
                span,
                None,
                &format!("Network of {}, {window}", c.name)
            ),
        );
    }
    page.push_str("</div>\n");
}

/// The alerts pending or firing, as Prometheus' `/alerts` lists them.
fn alerts(page: &mut String, views: &Views) {
    views.groups(|groups| {
        let mut active: Vec<_> = groups.flat_map(|g| g.alerts()).filter(|a| a.state != AlertState::Inactive).collect();
        // Firing first, then by name and labels.
        active.sort_by(|a, b| {
            (a.state != AlertState::Firing, &a.labels).cmp(&(b.state != AlertState::Firing, &b.labels))
        });
        let firing = active.iter().filter(|a| a.state == AlertState::Firing).count();
        let _ = writeln!(page, "<h2>Alerts ({firing} firing, {} pending)</h2>", active.len() - firing);
        if active.is_empty() {
            page.push_str("<p>None.</p>\n");
            return;
        }
        page.push_str(
            "<div class=\"scroll\"><table id=\"alerts\">\n<tr><th>alert</th><th>state</th><th>labels</th>\
             <th>active since</th><th>value</th><th>summary</th></tr>\n",
        );
        for alert in active.iter().take(SHOWN_ALERTS) {
            let name = alert.labels.get("alertname").map_or("", String::as_str);
            let _ =
                write!(page, "<tr><td>{}</td><td class=\"state-{1}\">{1}</td><td>", Esc(name), alert.state.as_str());
            for (key, value) in alert.labels.iter().filter(|(key, _)| *key != "alertname") {
                let _ = write!(page, "<span class=\"chip\">{}={}</span>", Esc(key), Esc(value));
            }
            let summary = alert.annotations.get("summary").or_else(|| alert.annotations.get("description"));
            let _ = writeln!(
                page,
                "</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                format_rfc3339(alert.active_at_ms),
                alert.value,
                Esc(summary.map_or("", String::as_str))
            );
        }
        page.push_str("</table></div>\n");
        if active.len() > SHOWN_ALERTS {
            let _ = writeln!(
                page,
                "<p>And {} more: <a href=\"/api/v1/alerts\">/api/v1/alerts</a> has them all.</p>",
                active.len() - SHOWN_ALERTS
            );
        }
    });
}

/// How many alerts the page lists, firing first: a rule that matches
/// every series of a big family must not make the page that big.
const SHOWN_ALERTS: usize = 200;

/// The enabled collectors, folded: they rarely change.
fn collectors(page: &mut String, info: &PageInfo) {
    let _ = writeln!(
        page,
        "<h2>Collectors ({})</h2>\n<details><summary>{}</summary>\n<p>Each one's last success and duration: \
         <code>node_scrape_collector_success</code>, <code>node_scrape_collector_duration_seconds</code> \
         (the container collector's: <code>sonde_scrape_collector_*</code>).</p></details>",
        info.collectors.len(),
        Esc(&info.collectors.join(", "))
    );
}

/// The scaler's last decisions, newest first (at most [`SHOWN_DECISIONS`]).
fn scaling(page: &mut String, decisions: &[Decision]) {
    let _ = writeln!(page, "<h2>Scaling decisions ({})</h2>", decisions.len());
    if decisions.is_empty() {
        page.push_str("<p>None yet.</p>\n");
        return;
    }
    page.push_str(
        "<div class=\"scroll\"><table id=\"scaling\">\n<tr><th>time</th><th>service</th><th>direction</th><th>replicas</th><th>bounds</th>\
         <th>outcome</th><th>alert</th><th>reason</th></tr>\n",
    );
    for decision in decisions.iter().rev().take(SHOWN_DECISIONS) {
        let count = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let replicas = match (decision.from, decision.to) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (from, _) => count(from),
        };
        let bounds = format!("{}..{}", count(decision.min), count(decision.max));
        let outcome = serde_json::to_value(decision.outcome).ok();
        let outcome = outcome.as_ref().and_then(|v| v.as_str()).unwrap_or("");
        let direction = if decision.direction == Direction::Up { "up" } else { "down" };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{direction}</td><td>{replicas}</td><td>{bounds}</td><td>{outcome}</td>\
             <td>{}</td><td>{}</td></tr>",
            Esc(&decision.time),
            Esc(&decision.service),
            Esc(&decision.alertname),
            Esc(&decision.reason),
        );
    }
    page.push_str("</table></div>\n");
}

/// How many decisions the page shows; `/api/v1/scaling` has them all.
const SHOWN_DECISIONS: usize = 20;

fn targets(page: &mut String, views: &Views) {
    let statuses = views.targets.target_statuses();
    let _ = writeln!(page, "<h2>Targets ({})</h2>", statuses.len());
    if statuses.is_empty() {
        page.push_str(
            "<p>None: no container here (and, on the Swarm leader, no service) has <code>com.df.scrapePort</code>.</p>\n",
        );
        return;
    }
    page.push_str(
        "<div class=\"scroll\"><table id=\"targets\">\n<tr><th>job</th><th>instance</th><th>URL</th><th>health</th><th>last scrape</th>\
         <th>took (s)</th><th>error</th></tr>\n",
    );
    for status in &statuses {
        let target = &status.target;
        let (at, took, error) = match &status.last {
            Some((t_ms, took, error)) => {
                (format_rfc3339(*t_ms), format!("{:.3}", took.as_secs_f64()), error.clone().unwrap_or_default())
            }
            None => ("never".to_owned(), String::new(), String::new()),
        };
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"state-{health}\">{health}</td><td>{at}</td>\
             <td class=\"num\">{took}</td><td>{}</td></tr>",
            Esc(&target.job),
            Esc(&target.instance),
            Esc(&target.url),
            Esc(&error),
            health = status.health,
        );
    }
    page.push_str("</table></div>\n");
}

fn rules(page: &mut String, views: &Views) {
    views.groups(|groups| {
        let groups: Vec<_> = groups.collect();
        let _ = writeln!(page, "<h2>Rule groups ({})</h2>", groups.len());
        if groups.is_empty() {
            page.push_str("<p>None.</p>\n");
            return;
        }
        page.push_str(
            "<div class=\"scroll\"><table id=\"rule-groups\">\n<tr><th>group</th><th>file</th><th>rules</th><th>interval (s)</th>\
             <th>last evaluation</th><th>took (s)</th><th>firing</th><th>pending</th><th>errors</th></tr>\n",
        );
        for group in groups {
            let (at, took) = match group.last_eval() {
                Some((at_ms, took)) => (format_rfc3339(at_ms), format!("{:.3}", took.as_secs_f64())),
                None => ("never".to_owned(), String::new()),
            };
            let count = |state: AlertState| group.alerts().filter(|a| a.state == state).count();
            let errors: Vec<String> = group
                .rules()
                .iter()
                .filter_map(|rule| match rule.health() {
                    Health::Err(err) => Some(format!("{}: {err}", rule.name())),
                    Health::Ok | Health::Unknown => None,
                })
                .collect();
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                Esc(group.name()),
                Esc(group.file()),
                group.rules().len(),
                group.interval().as_secs_f64(),
                at,
                took,
                count(AlertState::Firing),
                count(AlertState::Pending),
                Esc(&errors.join("; "))
            );
        }
        page.push_str("</table></div>\n");
    });
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use sonde_instrument::{Labels, MetricFamily};

    use super::*;
    use std::sync::Arc;

    use crate::evaluator::{Evaluator, EvaluatorConfig, now_ms};
    use sonde_rules::LogNotifier;

    fn info() -> PageInfo {
        PageInfo {
            version: "1.0",
            revision: "abc",
            telemetry_path: "/metrics".to_owned(),
            collectors: vec!["cpu", "meminfo"],
        }
    }

    #[test]
    fn the_rule_groups_show_their_alerts_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.yml");
        std::fs::write(
            &file,
            "groups:\n- name: g<1>\n  rules:\n  - alert: Up\n    expr: up_gauge == 1\n  - alert: Long\n    expr: up_gauge == 1\n    for: 1h\n  - alert: Broken\n    expr: up_gauge offset 5m > 0\n",
        )
        .unwrap();
        let config = EvaluatorConfig {
            rule_files: vec![file],
            storage_path: dir.path().join("data"),
            ..EvaluatorConfig::default()
        };
        let evaluator = Arc::new(Evaluator::new(config, None, Arc::new(LogNotifier::new())));
        let views = Views::of(Arc::clone(&evaluator));
        let before = render(&info(), &views, &[]);
        assert!(before.contains("<td>g&lt;1&gt;</td>"), "names are escaped: {before}");
        assert!(before.contains("<td>never</td>"), "{before}");
        assert!(before.contains("<h2>Targets (0)</h2>"), "{before}");
        assert!(before.contains("<span>standalone · Sonde 1.0 (abc)</span>"), "{before}");
        assert!(before.contains("<h2>Alerts (0 firing, 0 pending)</h2>"), "{before}");
        assert!(before.contains("<h2>Containers (0)</h2>"), "{before}");

        let up = MetricFamily::gauge("up_gauge", "A test gauge.").with_sample(Labels::new(), 1.0);
        evaluator.cycle(&[up], now_ms(), Instant::now());
        let after = render(&info(), &views, &[]);
        // 3 rules, one firing, one pending, one failing.
        let row = after.lines().find(|l| l.starts_with("<tr><td>g&lt;1&gt;</td>")).unwrap();
        assert!(row.contains("<td>3</td><td>15</td>"), "{row}");
        assert!(row.contains("<td>1</td><td>1</td><td>Broken: "), "{row}");
        assert!(after.contains("<h2>Alerts (1 firing, 1 pending)</h2>"), "{after}");
        let firing = after.find("<tr><td>Up</td><td class=\"state-firing\">firing</td>").unwrap();
        let pending = after.find("<tr><td>Long</td><td class=\"state-pending\">pending</td>").unwrap();
        assert!(firing < pending, "firing first: {after}");
    }

    #[test]
    fn the_alerts_listed_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.yml");
        std::fs::write(&file, "groups:\n- name: many\n  rules:\n  - alert: Each\n    expr: many_gauge > 0\n").unwrap();
        let config = EvaluatorConfig {
            rule_files: vec![file],
            storage_path: dir.path().join("data"),
            ..EvaluatorConfig::default()
        };
        let evaluator = Arc::new(Evaluator::new(config, None, Arc::new(LogNotifier::new())));
        let mut many = MetricFamily::gauge("many_gauge", "A test gauge.");
        for i in 0..SHOWN_ALERTS + 7 {
            many.push(Labels::new().with("i", i.to_string()), 1.0);
        }
        evaluator.cycle(&[many], now_ms(), Instant::now());
        let mut page = String::new();
        alerts(&mut page, &Views::of(evaluator));
        assert!(page.contains(&format!("<h2>Alerts ({} firing, 0 pending)</h2>", SHOWN_ALERTS + 7)), "{page}");
        assert_eq!(page.matches("<tr><td>Each</td>").count(), SHOWN_ALERTS);
        assert!(page.contains("<p>And 7 more: "), "{page}");
    }

    #[test]
    fn containers_show_their_figures_with_every_value_escaped() {
        let evil = "<script>alert(\"x\")</script>'";
        let span = Span { start_ms: 0, end_ms: 240_000, step_ms: 15_000 };
        let points: Vec<(i64, f64)> = (0..=16).map(|i| (i * 15_000, 1e6 * i as f64)).collect();
        let container = ContainerUsage {
            name: "web.1".to_owned(),
            image: evil.to_owned(),
            labels: vec![("com_df_note".to_owned(), evil.to_owned())],
            cpu: points.iter().map(|&(t, _)| (t, 0.25)).collect(),
            memory: points.clone(),
            memory_limit: Some(64e6),
            receive: points.clone(),
            transmit: Vec::new(),
        };
        let mut page = String::new();
        containers(&mut page, &[container], span);
        assert!(!page.contains("<script"), "{page}");
        let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;";
        assert!(page.contains(&format!("<div class=\"muted\">{escaped}</div>")), "{page}");
        assert!(page.contains(&format!("<span class=\"chip\">com_df_note={escaped}</span>")), "{page}");
        assert!(page.contains("<div>CPU <b>0.25 cores</b></div>"), "{page}");
        assert!(page.contains("<div>Memory <b>15.3 MiB</b> of 61.0 MiB (25.0%)</div><meter"), "{page}");
        // Three charts: CPU, memory, network with one line (nothing sent).
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 3, "{page}");
        assert_eq!(page.matches("<polyline").count(), 3, "{page}");
    }

    #[test]
    fn scaling_decisions_show_newest_first_and_escaped() {
        use crate::signals::scaler::Outcome;
        let decision = |time: &str, service: &str, outcome: Outcome| Decision {
            time: time.to_owned(),
            alertname: "busy".to_owned(),
            fingerprint: "f".to_owned(),
            service: service.to_owned(),
            direction: Direction::Up,
            value: None,
            from: Some(2),
            to: Some(3),
            min: Some(1),
            max: None,
            outcome,
            reason: format!("{service} was scaled"),
        };
        let mut page = String::new();
        scaling(
            &mut page,
            &[decision("t1", "old", Outcome::Scaled), decision("t2", "<script>x</script>", Outcome::Cooldown)],
        );
        assert!(page.contains("<h2>Scaling decisions (2)</h2>"), "{page}");
        let newest = page.find("t2").unwrap();
        assert!(newest < page.find("t1").unwrap(), "{page}");
        assert!(page.contains("<td>&lt;script&gt;x&lt;/script&gt;</td>"), "{page}");
        assert!(page.contains("<td>2 → 3</td><td>1..-</td><td>cooldown</td>"), "{page}");
    }
}
