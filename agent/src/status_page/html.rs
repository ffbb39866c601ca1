//! The status page's building blocks: the one escape every shown value
//! goes through, the units people read, and the page's frame (head with
//! its inline style, header, footer). No external asset: the page must
//! work on an air-gapped node.

use std::fmt;

use sonde_exporter::server::landing::html_escape;

/// A value from outside (a container name, a label, an error) written as
/// HTML text or attribute: `format!("<td>{}</td>", Esc(name))`. Every
/// such value on the page goes through it, and it goes through the
/// exporter's [`html_escape`], the one escaper.
pub(crate) struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&html_escape(self.0))
    }
}

/// Bytes in IEC units, as `free -h` and Grafana's `bytes` unit print them:
/// `512 B`, `1.5 KiB`, `3.2 GiB`.
pub(crate) fn bytes(value: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if !value.is_finite() {
        return "-".to_owned();
    }
    let mut scaled = value;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{scaled:.0} B") } else { format!("{scaled:.1} {}", UNITS[unit]) }
}

/// A byte rate: [`bytes`] per second.
pub(crate) fn byte_rate(value: f64) -> String {
    format!("{}/s", bytes(value))
}

/// A fraction as a percentage with one decimal: `0.123` is `12.3%`.
pub(crate) fn percent(fraction: f64) -> String {
    if fraction.is_finite() { format!("{:.1}%", fraction * 100.0) } else { "-".to_owned() }
}

/// CPU seconds per second, as cAdvisor shows them: `0.25 cores`.
pub(crate) fn cores(value: f64) -> String {
    if value.is_finite() { format!("{value:.2} cores") } else { "-".to_owned() }
}

/// The inline style: a grid of cards that folds to one column on a phone,
/// tables that scroll sideways rather than squeeze.
const STYLE: &str = "\
:root{--fg:#1d2430;--muted:#5b6574;--line:#d8dde5;--bg:#f4f6f9;--cpu:#2f6fde;--mem:#7a3fd1;--rx:#118a5c;--tx:#d9721c;--bad:#c62828;--ok:#2e7d32;--warn:#b26a00}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:var(--fg);color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.2rem 1.2rem;align-items:baseline}
header h1{font-size:1.1rem;margin:0}
header a{color:#cfe0ff}
nav{display:flex;flex-wrap:wrap;gap:.2rem .8rem}
main{padding:0 1rem 2rem;max-width:96rem;margin:0 auto}
h2{font-size:1rem;margin:1.4rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
.grid{display:grid;gap:.7rem;grid-template-columns:repeat(auto-fill,minmax(17rem,1fr))}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.6rem .7rem;min-width:0}
.card h3{font-size:.95rem;margin:0 0 .3rem;overflow-wrap:anywhere}
.figure{font-size:1.3rem;font-weight:600}
.muted{color:var(--muted);font-size:.85em}
svg.chart{display:block;width:100%;height:3rem;background:#fafbfc;border:1px solid #eef0f3;margin:.3rem 0}
svg.chart polyline{fill:none;stroke-width:1.5;vector-effect:non-scaling-stroke}
.cpu{stroke:var(--cpu)}.mem{stroke:var(--mem)}.rx{stroke:var(--rx)}.tx{stroke:var(--tx)}
.key-rx{color:var(--rx)}.key-tx{color:var(--tx)}
meter{width:100%;height:.8rem}
td meter{width:5rem;vertical-align:middle}
.scroll{overflow-x:auto}
table{border-collapse:collapse;background:#fff;width:100%}
td,th{border:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.chip{display:inline-block;background:#eef1f5;border-radius:3px;padding:0 .3rem;margin:.1rem .2rem .1rem 0;font-size:.8em;overflow-wrap:anywhere}
.state-up,.state-ok{color:var(--ok);font-weight:600}
.state-down,.state-firing,.state-err{color:var(--bad);font-weight:600}
.state-pending{color:var(--warn);font-weight:600}
.state-unknown{color:var(--muted)}
@media (max-width:40rem){main{padding:0 .5rem 1rem}td,th{padding:.2rem .3rem}header{padding:.5rem}}
";

/// What the header says.
pub(crate) struct Frame<'a> {
    /// The node's name (the agent's `instance`).
    pub node: &'a str,
    /// The Swarm role.
    pub role: &'a str,
    /// The version and revision line.
    pub version: &'a str,
    /// When the page was built (RFC 3339).
    pub built_at: &'a str,
    /// Seconds between two reloads of the page.
    pub refresh_seconds: u64,
    /// `(href, text)` of the header's links; both written escaped.
    pub links: &'a [(&'a str, &'a str)],
}

/// The page around `body`: the head (viewport for phones, a refresh
/// every `refresh_seconds`, the style) and the header.
pub(crate) fn page(frame: &Frame<'_>, body: &str) -> String {
    let mut page = String::with_capacity(body.len() + STYLE.len() + 1024);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // A meta refresh rather than a script: the page works with scripts
    // off, and nothing runs in the browser between two loads.
    page.push_str(&format!("<meta http-equiv=\"refresh\" content=\"{}\">\n", frame.refresh_seconds));
    page.push_str(&format!("<title>Sonde agent · {}</title>\n", Esc(frame.node)));
    page.push_str("<style>\n");
    page.push_str(STYLE);
    page.push_str("</style>\n</head>\n<body>\n<header>\n");
    page.push_str(&format!(
        "<h1>Sonde agent · <span id=\"node\">{}</span></h1>\n<span>{} · {}</span>\n<span class=\"built\">{}</span>\n<nav>",
        Esc(frame.node),
        Esc(frame.role),
        Esc(frame.version),
        Esc(frame.built_at)
    ));
    for (href, text) in frame.links {
        page.push_str(&format!("<a href=\"{}\">{}</a>", Esc(href), Esc(text)));
    }
    page.push_str("</nav>\n</header>\n<main>\n");
    page.push_str(body);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_for_text_and_attributes() {
        assert_eq!(
            Esc("<script>alert(\"x\")</script>&'").to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }

    #[test]
    fn units_read_as_people_write_them() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.25 * 1024.0 * 1024.0 * 1024.0), "3.2 GiB");
        assert_eq!(bytes(f64::NAN), "-");
        assert_eq!(byte_rate(2048.0), "2.0 KiB/s");
        assert_eq!(percent(0.1234), "12.3%");
        assert_eq!(cores(0.254), "0.25 cores");
    }

    #[test]
    fn the_frame_refreshes_fits_phones_and_escapes_the_node() {
        let frame = Frame {
            node: "n<1>",
            role: "standalone",
            version: "1.0 (abc)",
            built_at: "2026-01-01T00:00:00Z",
            refresh_seconds: 15,
            links: &[("/metrics", "Metrics")],
        };
        let html = page(&frame, "<p>body</p>\n");
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15\">"), "{html}");
        assert!(html.contains("name=\"viewport\""), "{html}");
        assert!(html.contains("<span id=\"node\">n&lt;1&gt;</span>"), "{html}");
        assert!(html.contains("<a href=\"/metrics\">Metrics</a>"), "{html}");
        assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"), "{html}");
        assert!(html.ends_with("<p>body</p>\n</main>\n</body>\n</html>\n"), "{html}");
    }
}
