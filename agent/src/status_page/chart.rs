//! Small line charts as inline SVG, drawn on the agent when the page is
//! asked for: one `<polyline>` per run of points, numbers only (the one
//! piece of text, the title, is escaped), no script in the browser.

use std::fmt::Write as _;

use super::html::Esc;

/// The drawing's coordinate box; CSS stretches it to the card's width.
const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 48.0;

/// One line of a chart: points `(ms since the epoch, value)`, oldest
/// first, and the CSS class that colours it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub points: &'a [(i64, f64)],
    pub class: &'static str,
}

/// The time span every chart of one page shares, so their x axes line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start_ms: i64,
    pub end_ms: i64,
    /// The distance between two points; a wider gap breaks the line (the
    /// series was absent there).
    pub step_ms: i64,
}

impl Span {
    /// The span from `first_ms` on, when that is later than its start
    /// (and before its end).
    pub(crate) fn since(self, first_ms: Option<i64>) -> Span {
        match first_ms {
            Some(first) if first > self.start_ms && first < self.end_ms => Span { start_ms: first, ..self },
            _ => self,
        }
    }
}

/// An SVG drawing `lines` over `span`; the y axis goes from 0 to
/// `ceiling` (a limit: 100% CPU, the memory limit) or, without one, to the
/// highest point. `title` is the tooltip.
pub(crate) fn chart(lines: &[Line<'_>], span: Span, ceiling: Option<f64>, title: &str) -> String {
    let highest = lines.iter().flat_map(|line| line.points).map(|p| p.1).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let top = match ceiling {
        Some(ceiling) if ceiling.is_finite() && ceiling > 0.0 => ceiling.max(highest),
        _ if highest > 0.0 => highest,
        // All zero (an idle container's network): a flat line at the bottom.
        _ => 1.0,
    };
    let width_ms = (span.end_ms - span.start_ms).max(1) as f64;
    let x = |t: i64| ((t - span.start_ms) as f64 / width_ms * WIDTH).clamp(0.0, WIDTH);
    // 1 unit of margin so a line along 0 or the top stays visible.
    let y = |v: f64| (HEIGHT - 1.0) - (v / top).clamp(0.0, 1.0) * (HEIGHT - 2.0);

    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" preserveAspectRatio=\"none\" role=\"img\"><title>{}</title>",
        Esc(title)
    );
    for line in lines {
        for run in runs(line.points, span.step_ms) {
            let _ = write!(svg, "<polyline class=\"{}\" points=\"", line.class);
            for (i, &(t, v)) in run.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                let _ = write!(svg, "{sep}{:.1},{:.1}", x(t), y(v));
            }
            svg.push_str("\"/>");
        }
    }
    svg.push_str("</svg>");
    svg
}

/// `points` cut where a value is not a number or the next point is more
/// than one and a half steps away: each run is drawn as one line, so a gap
/// in the data is a gap in the drawing, not a straight line across it.
fn runs(points: &[(i64, f64)], step_ms: i64) -> Vec<&[(i64, f64)]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 0..=points.len() {
        let breaks = match (points.get(i), i.checked_sub(1).and_then(|p| points.get(p))) {
            (None, _) => true,
            (Some(point), _) if !point.1.is_finite() => true,
            (Some(point), Some(previous)) => (point.0 - previous.0) * 2 > step_ms.max(1) * 3,
            (Some(_), None) => false,
        };
        if breaks {
            if let Some(run) = points.get(start..i).filter(|run| !run.is_empty()) {
                runs.push(run);
            }
            // A non-number starts no run; a gap starts one at this point.
            start = if points.get(i).is_some_and(|p| !p.1.is_finite()) { i + 1 } else { i };
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: Span = Span { start_ms: 0, end_ms: 4000, step_ms: 2000 };

    /// The `points` attribute of every polyline in `svg`.
    fn polylines(svg: &str) -> Vec<&str> {
        svg.split("points=\"").skip(1).filter_map(|rest| rest.split('"').next()).collect()
    }

    #[test]
    fn points_span_the_box_from_zero_to_the_ceiling() {
        let points = [(0, 0.0), (2000, 0.5), (4000, 1.0)];
        let svg = chart(&[Line { points: &points, class: "cpu" }], SPAN, Some(1.0), "CPU");
        assert_eq!(polylines(&svg), ["0.0,47.0 120.0,24.0 240.0,1.0"], "{svg}");
        assert!(svg.contains("<polyline class=\"cpu\""), "{svg}");
        assert!(svg.contains("<title>CPU</title>"), "{svg}");
    }

    #[test]
    fn without_a_ceiling_the_highest_point_is_the_top() {
        let points = [(0, 10.0), (2000, 20.0)];
        let svg = chart(&[Line { points: &points, class: "rx" }], SPAN, None, "rx");
        assert_eq!(polylines(&svg), ["0.0,24.0 120.0,1.0"], "{svg}");
        // A point above the limit raises the top rather than leave the box.
        let svg = chart(&[Line { points: &points, class: "mem" }], SPAN, Some(10.0), "mem");
        assert_eq!(polylines(&svg), ["0.0,24.0 120.0,1.0"], "{svg}");
    }

    #[test]
    fn all_zero_is_a_flat_line_at_the_bottom() {
        let points = [(0, 0.0), (2000, 0.0), (4000, 0.0)];
        let svg = chart(&[Line { points: &points, class: "tx" }], SPAN, None, "tx");
        assert_eq!(polylines(&svg), ["0.0,47.0 120.0,47.0 240.0,47.0"], "{svg}");
    }

    #[test]
    fn gaps_and_non_numbers_break_the_line() {
        let points = [(0, 1.0), (1000, 1.0), (3000, 1.0), (4000, f64::NAN)];
        assert_eq!(runs(&points, 1000), [&points[0..2], &points[2..3]]);
        let span = Span { step_ms: 1000, ..SPAN };
        let svg = chart(&[Line { points: &points, class: "rx" }], span, None, "rx");
        assert_eq!(polylines(&svg).len(), 2, "{svg}");
        assert!(runs(&[], 1000).is_empty());
        assert!(runs(&[(0, f64::NAN)], 1000).is_empty());
    }

    #[test]
    fn a_span_starts_at_the_first_point_when_that_is_later() {
        assert_eq!(SPAN.since(Some(1000)), Span { start_ms: 1000, ..SPAN });
        assert_eq!(SPAN.since(Some(-5)), SPAN);
        assert_eq!(SPAN.since(Some(4000)), SPAN);
        assert_eq!(SPAN.since(None), SPAN);
    }

    #[test]
    fn the_title_is_escaped() {
        let svg = chart(&[], SPAN, None, "<b>");
        assert!(svg.contains("<title>&lt;b&gt;</title>"), "{svg}");
    }
}
