//! Lints exposition text like `promtool check metrics`, and more.
//!
//! The rules and their wording are client_golang's `promlint` as shipped in
//! promtool 2.42, so output can be compared line for line. On top of those,
//! Sonde reports the two mistakes promtool 2.42 lets through although the
//! format forbids them: the same series exposed twice, and a family whose
//! lines are split into two groups.

use std::fmt;

use crate::format::Format;
use crate::model::{MetricFamily, MetricType, Suffix};
use crate::parse::{FindingKind, ParseError, parse_detailed};

/// One thing wrong with a metric family.
///
/// ```
/// use sonde_instrument::Format;
/// use sonde_instrument::lint::check;
///
/// let problems = check("# TYPE jobs counter\njobs 1\n", Format::Text)?;
/// assert_eq!(problems[0].metric, "jobs");
/// assert!(problems[0].text.contains("_total"), "{}", problems[0].text);
/// # Ok::<(), sonde_instrument::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The metric name as exposed (a counter's name includes `_total`).
    pub metric: String,
    /// What is wrong, in promlint's words where promlint has the rule.
    pub text: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.metric, self.text)
    }
}

/// Parses `input` and lints it. `Err` means it does not parse (promtool's
/// exit code 1); an empty list means it is clean (exit 0); anything else is
/// a list of problems, sorted by metric and text (exit 3).
pub fn check(input: &str, format: Format) -> Result<Vec<Problem>, ParseError> {
    let parsed = parse_detailed(input, format)?;
    let mut problems = Vec::new();
    for family in &parsed.families {
        lint_family(family, &mut problems);
    }
    for finding in parsed.findings {
        let (metric, text) = match finding.kind {
            FindingKind::DuplicateSeries { name, labels } => {
                let labels: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
                (name, format!("duplicate series {{{}}} at line {}", labels.join(","), finding.line))
            }
            FindingKind::SplitFamily { name, first_line } => (
                name,
                format!("family split into two groups: first at line {first_line}, again at line {}", finding.line),
            ),
        };
        problems.push(Problem { metric, text });
    }
    problems.sort();
    problems.dedup();
    Ok(problems)
}

/// The name a family goes by in text 0.0.4, which is what promlint sees.
fn exposed_name(family: &MetricFamily) -> String {
    let suffix = match family.metric_type {
        // A counter read from 0.0.4 without `_total` keeps its bare name.
        MetricType::Counter
            if !family.samples.is_empty() && family.samples.iter().all(|s| s.suffix == Suffix::None) =>
        {
            ""
        }
        MetricType::Counter => "_total",
        MetricType::Info => "_info",
        _ => "",
    };
    format!("{}{suffix}", family.name)
}

/// The promlint type name, as client_model's `MetricType` spells it.
fn promlint_type(metric_type: MetricType) -> &'static str {
    match metric_type {
        MetricType::Counter => "counter",
        MetricType::Gauge | MetricType::Info | MetricType::StateSet => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::GaugeHistogram => "gauge_histogram",
        MetricType::Summary => "summary",
        MetricType::Unknown => "untyped",
    }
}

fn lint_family(family: &MetricFamily, problems: &mut Vec<Problem>) {
    let name = exposed_name(family);
    let mut report = |text: &str| problems.push(Problem { metric: name.clone(), text: text.to_owned() });
    let kind = promlint_type(family.metric_type);

    if family.help.is_empty() {
        report("no help text");
    }

    if let Some((unit, base)) = metric_unit(&name) {
        if unit != base {
            report(&format!("use base unit {base:?} instead of {unit:?}"));
        }
    }

    let is_counter = kind == "counter";
    let is_untyped = kind == "untyped";
    let has_total = name.ends_with("_total");
    if is_counter && !has_total {
        report(r#"counter metrics should have "_total" suffix"#);
    } else if !is_untyped && !is_counter && has_total {
        report(r#"non-counter metrics should not have "_total" suffix"#);
    }

    if !is_untyped {
        let is_histogram = kind == "histogram";
        let is_summary = kind == "summary";
        if !is_histogram && name.ends_with("_bucket") {
            report(r#"non-histogram metrics should not have "_bucket" suffix"#);
        }
        if !is_histogram && !is_summary && name.ends_with("_count") {
            report(r#"non-histogram and non-summary metrics should not have "_count" suffix"#);
        }
        if !is_histogram && !is_summary && name.ends_with("_sum") {
            report(r#"non-histogram and non-summary metrics should not have "_sum" suffix"#);
        }
        let label_names = || family.samples.iter().flat_map(|s| s.labels.iter()).map(|l| l.name.as_str());
        if !is_histogram && label_names().any(|l| l == "le") {
            report(r#"non-histogram metrics should not have "le" label"#);
        }
        if !is_summary && label_names().any(|l| l == "quantile") {
            report(r#"non-summary metrics should not have "quantile" label"#);
        }
    }

    let lower = name.to_ascii_lowercase();
    let has_word = |word: &str| lower.ends_with(&format!("_{word}")) || lower.contains(&format!("_{word}_"));
    for type_name in ["counter", "gauge", "summary", "histogram", "gauge_histogram"] {
        if has_word(type_name) {
            report(&format!("metric name should not include type '{type_name}'"));
        }
    }

    if name.contains(':') {
        report("metric names should not contain ':'");
    }

    if is_camel_case(&name) {
        report("metric names should be written in 'snake_case' not 'camelCase'");
    }
    let camel_labels = family.samples.iter().flat_map(|s| s.labels.iter()).any(|l| is_camel_case(&l.name));
    if camel_labels {
        report("label names should be written in 'snake_case' not 'camelCase'");
    }

    if UNIT_ABBREVIATIONS.iter().any(|abbreviation| has_word(abbreviation)) {
        report("metric names should not contain abbreviated units");
    }
}

/// A lower-case letter followed by an upper-case one, promlint's test.
fn is_camel_case(name: &str) -> bool {
    name.as_bytes().windows(2).any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// Units promlint knows, each with the base unit it should be written in.
const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega", "mibi", "giga", "gibi",
    "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &["s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"];

fn base_unit(word: &str) -> Option<&'static str> {
    UNITS.iter().find(|(unit, _)| *unit == word).map(|(_, base)| *base)
}

/// The first `_`-separated word of `name` that is a known unit, possibly
/// with an SI or binary prefix, and its base unit.
fn metric_unit(name: &str) -> Option<(&str, &'static str)> {
    name.split('_').find_map(|word| {
        if let Some(base) = base_unit(word) {
            return Some((word, base));
        }
        UNIT_PREFIXES.iter().find_map(|prefix| word.strip_prefix(prefix).and_then(base_unit)).map(|base| (word, base))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(input: &str) -> Vec<String> {
        check(input, Format::Text).expect("parses").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn clean_input_has_no_problems() {
        let input = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 3\n";
        assert_eq!(lint(input), Vec::<String>::new());
    }

    #[test]
    fn promlint_rules_match_promtool_2_42() {
        // The same input given to promtool 2.42 printed exactly these lines.
        let input = "# HELP fooMs x\n# TYPE fooMs counter\nfooMs 1\nbar_total{le=\"1\"} 2\n\
            # HELP baz_milliseconds y\n# TYPE baz_milliseconds gauge\nbaz_milliseconds 1\n\
            # HELP a_counter a\n# TYPE a_counter gauge\na_counter{fooBar=\"1\"} 1\n\
            # HELP x:y z\n# TYPE x:y gauge\nx:y 1\n";
        assert_eq!(
            lint(input),
            [
                "a_counter label names should be written in 'snake_case' not 'camelCase'",
                "a_counter metric name should not include type 'counter'",
                "bar_total no help text",
                "baz_milliseconds use base unit \"seconds\" instead of \"milliseconds\"",
                "fooMs counter metrics should have \"_total\" suffix",
                "fooMs metric names should be written in 'snake_case' not 'camelCase'",
                "x:y metric names should not contain ':'",
            ]
        );
    }

    #[test]
    fn reserved_suffixes_and_labels() {
        let input = "# HELP a_bucket h\n# TYPE a_bucket gauge\na_bucket{quantile=\"1\"} 1\n\
            # HELP b_seconds h\n# TYPE b_seconds summary\nb_seconds{le=\"1\"} 1\n";
        assert_eq!(
            lint(input),
            [
                "a_bucket non-histogram metrics should not have \"_bucket\" suffix",
                "a_bucket non-summary metrics should not have \"quantile\" label",
                "b_seconds non-histogram metrics should not have \"le\" label",
            ]
        );
    }

    #[test]
    fn abbreviations_and_non_counter_total() {
        let input = "# HELP latency_ms h\n# TYPE latency_ms gauge\nlatency_ms 1\n\
            # HELP queue_total h\n# TYPE queue_total gauge\nqueue_total 1\n";
        assert_eq!(
            lint(input),
            [
                "latency_ms metric names should not contain abbreviated units",
                "queue_total non-counter metrics should not have \"_total\" suffix",
            ]
        );
    }

    #[test]
    fn finds_what_promtool_2_42_misses() {
        let input = "# HELP a_seconds h\n# TYPE a_seconds gauge\na_seconds{x=\"1\"} 1\n\
            # HELP b_bytes h\n# TYPE b_bytes gauge\nb_bytes 2\n\
            a_seconds{x=\"2\"} 3\na_seconds{x=\"2\"} 4\n";
        let problems = lint(input);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("a_seconds duplicate series {x=\"2\"}"), "{problems:?}");
        assert!(problems[1].starts_with("a_seconds family split into two groups"), "{problems:?}");
    }

    #[test]
    fn openmetrics_counters_are_linted_by_their_sample_name() {
        let input = "# TYPE jobs counter\n# HELP jobs Jobs run.\njobs_total 1\n# EOF\n";
        assert_eq!(check(input, Format::OpenMetrics).expect("parses"), Vec::<Problem>::new());
    }

    #[test]
    fn parse_errors_are_errors() {
        assert!(check("bad{a=\"x} 1\n", Format::Text).is_err());
    }
}
