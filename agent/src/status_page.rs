//! The status page at `/` (DESIGN, "Interfaces"): the version, the
//! enabled collectors and, with the evaluator, this node's Swarm role, the
//! scrape targets and the rule groups with their state. Plain HTML, no
//! script; the JSON behind each table is linked (`/api/v1/…`).

use std::fmt::Write as _;

use crate::api::format_rfc3339;
use crate::evaluator::Evaluator;
use sonde_rules::AlertState;
use sonde_rules::alerts::Health;

/// What the page says besides the evaluator's state.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// The program's version.
    pub version: &'static str,
    /// The source revision it was built from.
    pub revision: &'static str,
    /// Where the metrics are (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// The enabled collectors, in the order they run.
    pub collectors: Vec<&'static str>,
}

/// The page, with the evaluator's sections when there is one.
pub fn render(info: &PageInfo, evaluator: Option<&Evaluator>) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Sonde Agent</title>\n\
         <style>table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style>\n\
         </head>\n<body>\n<h1>Sonde Agent</h1>\n",
    );
    let _ = writeln!(page, "<p>Version {} (revision {})</p>", html_escape(info.version), html_escape(info.revision));
    let _ = writeln!(
        page,
        "<ul>\n<li><a href=\"{}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li>",
        html_escape(&info.telemetry_path)
    );
    if evaluator.is_some() {
        page.push_str(
            "<li><a href=\"/api/v1/rules\">Rules</a></li>\n<li><a href=\"/api/v1/alerts\">Alerts</a></li>\n\
             <li><a href=\"/api/v1/targets\">Targets</a></li>\n",
        );
    }
    page.push_str("</ul>\n<h2>Collectors</h2>\n<p>");
    page.push_str(&html_escape(&info.collectors.join(", ")));
    page.push_str(
        "</p>\n<p>Each one's last success and duration: <code>sonde_scrape_collector_success</code>, \
         <code>sonde_scrape_collector_duration_seconds</code>.</p>\n",
    );
    if let Some(evaluator) = evaluator {
        let _ = writeln!(page, "<h2>Swarm role</h2>\n<p>{}</p>", evaluator.role().as_str());
        targets(&mut page, evaluator);
        rules(&mut page, evaluator);
    }
    page.push_str("</body>\n</html>\n");
    page
}

fn targets(page: &mut String, evaluator: &Evaluator) {
    let statuses = evaluator.target_statuses();
    let _ = writeln!(page, "<h2>Targets ({})</h2>", statuses.len());
    if statuses.is_empty() {
        page.push_str(
            "<p>None: no container here (and, on the Swarm leader, no service) has <code>com.df.scrapePort</code>.</p>\n",
        );
        return;
    }
    page.push_str(
        "<table>\n<tr><th>job</th><th>instance</th><th>URL</th><th>health</th><th>last scrape</th>\
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
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&target.job),
            html_escape(&target.instance),
            html_escape(&target.url),
            status.health,
            at,
            took,
            html_escape(&error)
        );
    }
    page.push_str("</table>\n");
}

fn rules(page: &mut String, evaluator: &Evaluator) {
    evaluator.with_groups(|groups| {
        let groups: Vec<_> = groups.collect();
        let _ = writeln!(page, "<h2>Rule groups ({})</h2>", groups.len());
        if groups.is_empty() {
            page.push_str("<p>None.</p>\n");
            return;
        }
        page.push_str(
            "<table>\n<tr><th>group</th><th>file</th><th>rules</th><th>interval (s)</th>\
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
                html_escape(group.name()),
                html_escape(group.file()),
                group.rules().len(),
                group.interval().as_secs_f64(),
                at,
                took,
                count(AlertState::Firing),
                count(AlertState::Pending),
                html_escape(&errors.join("; "))
            );
        }
        page.push_str("</table>\n");
    });
}

/// `text` with the five HTML special characters escaped.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use sonde_instrument::{Labels, MetricFamily};

    use super::*;
    use crate::evaluator::{EvaluatorConfig, now_ms};

    fn info() -> PageInfo {
        PageInfo {
            version: "1.0",
            revision: "abc",
            telemetry_path: "/metrics".to_owned(),
            collectors: vec!["cpu", "meminfo"],
        }
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(html_escape("/a\"<b>&'"), "/a&quot;&lt;b&gt;&amp;&#39;");
    }

    #[test]
    fn without_an_evaluator_the_page_lists_the_collectors() {
        let page = render(&info(), None);
        assert!(page.contains("<p>Version 1.0 (revision abc)</p>"), "{page}");
        assert!(page.contains("<p>cpu, meminfo</p>"), "{page}");
        assert!(!page.contains("Rule groups"), "{page}");
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
        let evaluator = Evaluator::new(config, None);
        let before = render(&info(), Some(&evaluator));
        assert!(before.contains("<td>g&lt;1&gt;</td>"), "names are escaped: {before}");
        assert!(before.contains("<td>never</td>"), "{before}");
        assert!(before.contains("<h2>Targets (0)</h2>"), "{before}");
        assert!(before.contains("<p>standalone</p>"), "{before}");

        let up = MetricFamily::gauge("up_gauge", "A test gauge.").with_sample(Labels::new(), 1.0);
        evaluator.cycle(&[up], now_ms(), Instant::now());
        let after = render(&info(), Some(&evaluator));
        // 3 rules, one firing, one pending, one failing.
        let row = after.lines().find(|l| l.starts_with("<tr><td>g&lt;1&gt;</td>")).unwrap();
        assert!(row.contains("<td>3</td><td>15</td>"), "{row}");
        assert!(row.contains("<td>1</td><td>1</td><td>Broken: "), "{row}");
    }
}
