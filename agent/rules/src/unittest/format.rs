//! promtool's unit-test file, read as strictly as promtool 2.42 reads it
//! (`yaml.UnmarshalStrict`: unknown fields are errors, a null is the zero
//! value, any scalar fills a string), and the pieces of its failure
//! messages written the way Go writes them.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::file::{Text, TextMap};
use sonde_instrument::duration::parse_prometheus_duration;
use sonde_instrument::strconv::{FloatFormat, format_float};

/// A whole unit-test file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UnitTestFile {
    /// Rule files (globs), relative to the test file.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) rule_files: Vec<Text>,
    /// How often the rules are evaluated; 0 (the default) means 1 minute.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) evaluation_interval: PromDuration,
    /// Groups evaluated first, in this order.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) group_eval_order: Vec<Text>,
    /// The test groups.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) tests: Vec<TestGroup>,
}

/// One test group: input series and what to expect of them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestGroup {
    /// The step between the input series' values.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) interval: PromDuration,
    /// The input series.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) input_series: Vec<InputSeries>,
    /// Alerts expected at given times.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) alert_rule_test: Vec<AlertTestCase>,
    /// Query results expected at given times.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) promql_expr_test: Vec<PromqlTestCase>,
    /// `$externalLabels` in templates.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) external_labels: TextMap,
    /// `$externalURL` in templates.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) external_url: Text,
    /// Named in failure messages.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) name: Text,
}

/// `series: 'metric{…}'` with `values: '1+1x10 _ stale'`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InputSeries {
    /// The series, as PromQL writes one.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) series: Text,
    /// Its values in promtool's expanding notation.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) values: Text,
}

/// The firing alerts of one alert name expected at one time.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertTestCase {
    /// When.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) eval_time: PromDuration,
    /// Which alert (required).
    #[serde(default, deserialize_with = "or_default")]
    pub(super) alertname: Text,
    /// The firing alerts; none means none may fire.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) exp_alerts: Vec<ExpectedAlert>,
}

/// One expected alert.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectedAlert {
    /// Its labels, `alertname` aside.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) exp_labels: TextMap,
    /// Its annotations, all of them.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) exp_annotations: TextMap,
}

/// A query and its expected result.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PromqlTestCase {
    /// The query.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) expr: Text,
    /// When it is evaluated.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) eval_time: PromDuration,
    /// The expected samples, in any order.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) exp_samples: Vec<ExpectedSample>,
}

/// One expected sample.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectedSample {
    /// The series, as PromQL writes one (`metric{a="b"}`, `{a="b"}`).
    #[serde(default, deserialize_with = "or_default")]
    pub(super) labels: Text,
    /// The value, compared exactly.
    #[serde(default, deserialize_with = "or_default")]
    pub(super) value: f64,
}

/// A Prometheus duration (`5m`, `1h30m`, `0`) as `model.Duration` reads it
/// from YAML: any scalar as text, then parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct PromDuration(pub(super) Duration);

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Text(text) = Text::deserialize(deserializer)?;
        if text.is_empty() {
            return Ok(PromDuration::default());
        }
        parse_prometheus_duration(&text)
            .map(PromDuration)
            .map_err(|_| serde::de::Error::custom(format_args!("not a valid duration string: {}", go_quote(&text))))
    }
}

impl PromDuration {
    /// Milliseconds.
    pub(super) fn ms(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sonde_instrument::duration::format_prometheus_duration(self.0))
    }
}

/// A field that may be written as null: null is its zero value, as in Go.
fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(deserializer: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// A unit-test file that is not the YAML promtool reads.
#[derive(Debug, thiserror::Error)]
pub(super) enum UnitTestFileError {
    /// The YAML parser's error.
    #[error("yaml: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// Nested too deep to hand to the parser.
    #[error("yaml: {0}")]
    Nesting(String),
}

/// Parses a unit-test file's text; an empty document is an empty file.
pub(super) fn parse_unit_test_file(text: &str) -> Result<UnitTestFile, UnitTestFileError> {
    crate::file::check_yaml_nesting(text).map_err(UnitTestFileError::Nesting)?;
    Ok(serde_norway::from_str::<Option<UnitTestFile>>(text)?.unwrap_or_default())
}

/// A string quoted as Go's `strconv.Quote` (and `%q`) quotes it.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Sorted label pairs written as Prometheus' `labels.Labels.String()`:
/// `{a="b", c="d"}`.
pub(super) fn labels_string(pairs: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&go_quote(value));
    }
    out.push('}');
    out
}

/// Prefixes every line but the first with `indent` (promtool's `indentLines`).
pub(super) fn indent_lines(lines: &str, indent: &str) -> String {
    let mut out = String::with_capacity(lines.len());
    for (i, line) in lines.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(line);
    }
    out
}

/// One alert as the comparison sees it: sorted labels, sorted annotations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct AlertView {
    /// The labels, `alertname` included.
    pub(super) labels: Vec<(String, String)>,
    /// The annotations.
    pub(super) annotations: Vec<(String, String)>,
}

impl AlertView {
    /// From label and annotation maps.
    pub(super) fn new(labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> Self {
        let pairs = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        AlertView { labels: pairs(labels), annotations: pairs(annotations) }
    }
}

/// A list of alerts as promtool prints one in a failure message.
pub(super) fn alerts_string(alerts: &[AlertView]) -> String {
    if alerts.is_empty() {
        return "[]".to_owned();
    }
    let mut out = String::from("[");
    for (i, alert) in alerts.iter().enumerate() {
        let one =
            format!("\nLabels:{}\nAnnotations:{}", labels_string(&alert.labels), labels_string(&alert.annotations));
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\n{i}:{}", indent_lines(&one, "  "));
    }
    out.push_str("\n]");
    out
}

/// Samples as promtool prints them: `{a="b"} 1E+00, …` (the value with
/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`), or `nil`.
pub(super) fn samples_string(samples: &[(Vec<(String, String)>, f64)]) -> String {
    if samples.is_empty() {
        return "nil".to_owned();
    }
    samples
        .iter()
        .map(|(labels, value)| format!("{} {}", labels_string(labels), format_float(*value, FloatFormat::UpperE, None)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_written_like_promtool() {
        let one = AlertView {
            labels: vec![("alertname".into(), "A".into()), ("job".into(), "a".into())],
            annotations: vec![("summary".into(), "x \"y\"".into())],
        };
        assert_eq!(alerts_string(&[]), "[]");
        assert_eq!(
            indent_lines(&alerts_string(&[one.clone(), one]), "            "),
            "[\n            0:\n              Labels:{alertname=\"A\", job=\"a\"}\n              Annotations:{summary=\"x \\\"y\\\"\"}\
             ,\n            1:\n              Labels:{alertname=\"A\", job=\"a\"}\n              Annotations:{summary=\"x \\\"y\\\"\"}\n            ]"
        );
    }

    #[test]
    fn the_file_is_read_strictly() {
        let file = parse_unit_test_file(
            "rule_files: [a.yml]\nevaluation_interval: 30s\ntests:\n- interval: 1m\n  input_series:\n  - series: up\n    values: 1\n  \
             alert_rule_test:\n  - eval_time: 0\n    alertname: A\n    exp_alerts:\n    - exp_labels: {code: 500}\n  \
             promql_expr_test:\n  - expr: up\n    eval_time: 5m\n    exp_samples:\n    - labels: up\n      value: .nan\n",
        )
        .unwrap();
        assert_eq!(file.evaluation_interval.0, Duration::from_secs(30));
        let group = &file.tests[0];
        assert_eq!(group.input_series[0].values.0, "1");
        assert_eq!(group.alert_rule_test[0].eval_time.0, Duration::ZERO);
        assert_eq!(group.alert_rule_test[0].exp_alerts[0].exp_labels.clone().into_strings()["code"], "500");
        assert!(group.promql_expr_test[0].exp_samples[0].value.is_nan());
        assert_eq!(group.promql_expr_test[0].eval_time.to_string(), "5m");

        assert!(parse_unit_test_file("").unwrap().tests.is_empty());
        assert!(parse_unit_test_file("# nothing\n").unwrap().tests.is_empty());
        assert!(parse_unit_test_file("tests:\nrule_files:\n").unwrap().tests.is_empty());
        for bad in [
            "foo: 1\n",
            "tests:\n- intervall: 1m\n",
            "tests:\n- promql_expr_test:\n  - expr: up\n    eval_time: 10\n",
            "tests:\n- promql_expr_test:\n  - exp_samples:\n    - value: NaN\n",
            "tests:\n- alert_rule_test:\n  - exp_alerts:\n    - exp_labels: {a: 1, a: 2}\n",
        ] {
            assert!(parse_unit_test_file(bad).is_err(), "{bad:?} was accepted");
        }
        let err = parse_unit_test_file("tests:\n- promql_expr_test:\n  - eval_time: 10\n").unwrap_err().to_string();
        assert!(err.contains("not a valid duration string: \"10\""), "{err}");
    }

    #[test]
    fn quoting_follows_go() {
        assert_eq!(go_quote("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\x01é\"");
    }
}
