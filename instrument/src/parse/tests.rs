//! Unit tests of both parsers and the scanner.
#![allow(clippy::indexing_slicing)] // a test that indexes wrongly should fail loudly

use super::number::go_float;
use super::*;
use crate::model::{Label, MetricType, Suffix};

fn text(input: &str) -> Vec<MetricFamily> {
    parse_text(input).unwrap_or_else(|e| panic!("{e}\n{input}"))
}

fn om(input: &str) -> Vec<MetricFamily> {
    parse_openmetrics(input).unwrap_or_else(|e| panic!("{e}\n{input}"))
}

fn text_err(input: &str) -> ParseError {
    parse_text(input).expect_err(input)
}

fn om_err(input: &str) -> ParseError {
    parse_openmetrics(input).expect_err(input)
}

fn suffixes(family: &MetricFamily) -> Vec<Suffix> {
    family.samples.iter().map(|s| s.suffix).collect()
}

// ---- escaping ----

#[test]
fn text_label_values_unescape() {
    let families = text("a{x=\"q\\\"b\\\\s\\nn\",y=\"keep\\t\"} 1\n");
    let labels = &families[0].samples[0].labels;
    assert_eq!(labels.get("x"), Some("q\"b\\s\nn"));
    // Prometheus keeps an unknown escape as written.
    assert_eq!(labels.get("y"), Some("keep\\t"));
}

#[test]
fn help_unescapes_per_format() {
    let families = text("# HELP a one\\ntwo \\\\ \\\" end\na 1\n");
    assert_eq!(families[0].help, "one\ntwo \\ \\\" end");
    let families = om("# HELP a one\\ntwo \\\\ \\\" end\na 1\n# EOF\n");
    assert_eq!(families[0].help, "one\ntwo \\ \" end");
}

#[test]
fn label_values_keep_hashes_braces_and_utf8() {
    let families = om("# TYPE a counter\na_total{foo=\"} x # {y=\\\"☃\\\"}\"} 1\n# EOF\n");
    assert_eq!(families[0].samples[0].labels.get("foo"), Some("} x # {y=\"☃\"}"));
}

#[test]
fn unescaped_newline_in_label_value_is_an_error() {
    let e = text_err("ok 1\na{x=\"one\ntwo\"} 1\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("\\n"), "{e}");
}

// ---- OpenMetrics types ----

#[test]
fn openmetrics_every_type() {
    let input = "\
# TYPE c counter
# UNIT c seconds
# HELP c A counter.
c_total 3 # {trace_id=\"x\"} 1 1.5
c_created 1.7e9
# TYPE g gauge
g{a=\"b\"} -2.5
# TYPE h histogram
h_bucket{le=\"0.5\"} 1
h_bucket{le=\"+Inf\"} 2
h_count 2
h_sum 1.5
h_created 12
# TYPE gh gaugehistogram
gh_bucket{le=\"1.0\"} 1
gh_bucket{le=\"+Inf\"} 2
gh_gcount 2
gh_gsum 3
# TYPE s summary
s{quantile=\"0.5\"} 0.1
s_count 4
s_sum 2
s_created 12
# TYPE i info
i_info{version=\"1.2\"} 1
# TYPE st stateset
st{st=\"on\"} 1
st{st=\"off\"} 0
# TYPE u unknown
u 7
# EOF
";
    let e = om_err(input);
    // The unit of c must be a suffix of its name.
    assert_eq!(e.line, 2, "{e}");
    let families = om(&input.replace("# UNIT c seconds\n", ""));
    let types: Vec<MetricType> = families.iter().map(|f| f.metric_type).collect();
    use MetricType::*;
    assert_eq!(types, [Counter, Gauge, Histogram, GaugeHistogram, Summary, Info, StateSet, Unknown]);
    let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["c", "g", "h", "gh", "s", "i", "st", "u"]);
    assert_eq!(suffixes(&families[0]), [Suffix::Total, Suffix::Created]);
    assert_eq!(families[0].help, "A counter.");
    let exemplar = families[0].samples[0].exemplar.as_ref().expect("exemplar");
    assert_eq!(exemplar.labels.get("trace_id"), Some("x"));
    assert_eq!((exemplar.value, exemplar.timestamp), (1.0, Some(1.5)));
    assert_eq!(families[0].samples[1].value, 1.7e9);
    assert_eq!(suffixes(&families[2]), [Suffix::Bucket, Suffix::Bucket, Suffix::Count, Suffix::Sum, Suffix::Created]);
    // `le` is kept exactly as written.
    assert_eq!(families[3].samples[0].labels.get("le"), Some("1.0"));
    assert_eq!(suffixes(&families[3]), [Suffix::Bucket, Suffix::Bucket, Suffix::Gcount, Suffix::Gsum]);
    assert_eq!(suffixes(&families[4]), [Suffix::None, Suffix::Count, Suffix::Sum, Suffix::Created]);
    assert_eq!(suffixes(&families[5]), [Suffix::Info]);
    assert_eq!(suffixes(&families[6]), [Suffix::None, Suffix::None]);
    assert_eq!(families[7].samples[0].value, 7.0);
}

#[test]
fn openmetrics_unit_and_no_metadata() {
    let families = om("# TYPE a_seconds gauge\n# UNIT a_seconds seconds\na_seconds 1\nb 2\n# EOF");
    assert_eq!(families[0].unit.as_deref(), Some("seconds"));
    assert_eq!((families[1].name.as_str(), families[1].metric_type), ("b", MetricType::Unknown));
}

#[test]
fn openmetrics_histogram_needs_inf_bucket() {
    let e = om_err("# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"2\"} 1\n# EOF\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("+Inf"), "{e}");
    let e = om_err("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 1\n# EOF\n");
    assert!(e.message.contains("differs"), "{e}");
    let e = om_err("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_bucket{le=\"1\"} 1\n# EOF\n");
    assert!(e.message.contains("increasing"), "{e}");
}

#[test]
fn openmetrics_histogram_groups_per_label_set() {
    let families = om("# TYPE h histogram\n\
        h_bucket{a=\"1\",le=\"+Inf\"} 1\nh_count{a=\"1\"} 1\nh_sum{a=\"1\"} 1\n\
        h_bucket{le=\"+Inf\",a=\"2\"} 3\nh_count{a=\"2\"} 3\nh_sum{a=\"2\"} 1\n# EOF\n");
    assert_eq!(families[0].samples.len(), 6);
    let e = om_err("# TYPE h histogram\nh_sum{a=\"1\"} 0\nh_sum{a=\"2\"} 0\nh_count{a=\"1\"} 0\n# EOF\n");
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn openmetrics_duplicates_and_split_families_are_errors() {
    let e = om_err("a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n# EOF\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("duplicate"), "{e}");
    let e = om_err("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n");
    assert_eq!(e.line, 5, "{e}");
    // Points of one series at increasing timestamps are fine.
    let families = om("a 1 10\na 2 20\n# EOF\n");
    assert_eq!(families[0].samples[1].timestamp, Some(20.0));
    let parsed = parse_detailed("a 1 10\na 2 20\n# EOF\n", Format::OpenMetrics).expect("parses");
    assert!(parsed.findings.is_empty());
}

#[test]
fn openmetrics_eof_rules() {
    assert_eq!(om_err("a 1\n").message, "missing \"# EOF\" at the end of the exposition");
    assert_eq!(om_err("").line, 1);
    assert_eq!(om_err("a 1\n# EOF\n\n").line, 3);
    assert!(om("# EOF").is_empty());
    assert_eq!(om_err("a 1\r\n# EOF\n").line, 1);
}

// ---- summaries ----

#[test]
fn summaries_in_both_formats() {
    let input = "# TYPE rpc summary\nrpc{quantile=\"0.5\"} 0.2\nrpc{quantile=\"0.9\"} 0.4\nrpc_sum 9\nrpc_count 30\n";
    for families in [text(input), om(&format!("{input}# EOF\n"))] {
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].metric_type, MetricType::Summary);
        assert_eq!(suffixes(&families[0]), [Suffix::None, Suffix::None, Suffix::Sum, Suffix::Count]);
        assert_eq!(families[0].samples[1].labels.get("quantile"), Some("0.9"));
    }
    assert!(om_err("# TYPE s summary\ns{quantile=\"2\"} 1\n# EOF\n").message.contains("outside"));
}

// ---- text 0.0.4 ----

#[test]
fn text_counter_with_total() {
    let families = text(
        "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 7\n",
    );
    assert_eq!(families.len(), 1);
    let f = &families[0];
    assert_eq!((f.name.as_str(), f.metric_type, f.help.as_str()), ("http_requests", MetricType::Counter, "Requests."));
    assert_eq!(f.samples[0].suffix, Suffix::Total);
    assert_eq!(f.sample_name(f.samples[0].suffix), "http_requests_total");
}

#[test]
fn text_counter_without_total_keeps_its_name() {
    let families = text("# TYPE errors counter\nerrors 3\n");
    assert_eq!((families[0].name.as_str(), families[0].samples[0].suffix), ("errors", Suffix::None));
    // `_total` alone is not a name to strip.
    let families = text("# TYPE _total counter\n_total 3\n");
    assert_eq!((families[0].name.as_str(), families[0].samples[0].suffix), ("_total", Suffix::None));
}

#[test]
fn text_histogram_suffixes_and_untyped() {
    let families = text(
        "# comment\n\n  # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n# TYPE u untyped\nu 1\nloose 2\n",
    );
    assert_eq!(families.len(), 3);
    assert_eq!(suffixes(&families[0]), [Suffix::Bucket, Suffix::Bucket, Suffix::Sum, Suffix::Count]);
    assert_eq!(families[1].metric_type, MetricType::Unknown);
    assert_eq!((families[2].name.as_str(), families[2].metric_type), ("loose", MetricType::Unknown));
    let e = text_err("# TYPE h histogram\nh 1\n");
    assert_eq!(e.line, 2);
}

#[test]
fn text_timestamps_are_milliseconds() {
    let families = text("a 1 1700000000123\nb 2 -5\n");
    assert_eq!(families[0].samples[0].timestamp, Some(1_700_000_000.123));
    assert_eq!(families[1].samples[0].timestamp, Some(-0.005));
    let e = text_err("a 1 1.5\n");
    assert!(e.message.contains("milliseconds"), "{e}");
}

#[test]
fn text_is_lenient_with_blanks() {
    let families = text("a { x = \"1\" , y=\"2\", }\t3   \n");
    assert_eq!(families[0].samples[0].labels, Labels::from_pairs([("x", "1"), ("y", "2")]));
    assert_eq!(families[0].samples[0].value, 3.0);
}

#[test]
fn text_values_follow_go() {
    for (token, value) in [("1", 1.0), ("-2.5e3", -2500.0), ("+Inf", f64::INFINITY), ("Inf", f64::INFINITY)] {
        assert_eq!(go_float(token), Some(value), "{token}");
    }
    assert_eq!(go_float("-infinity"), Some(f64::NEG_INFINITY));
    assert!(go_float("NaN").is_some_and(f64::is_nan));
    assert!(go_float("nan").is_some_and(f64::is_nan));
    assert_eq!(go_float("0x1p-3"), Some(0.125));
    assert_eq!(go_float("0x1.8P1"), Some(3.0));
    assert_eq!(go_float("1_000.5"), Some(1000.5));
    assert_eq!(go_float(".5"), Some(0.5));
    for bad in ["", "+", "-NaN", "0x1", "1__0", "_1", "1_", "1e", "1e999", "0b1", "1,5", "abc", "1.2.3"] {
        assert_eq!(go_float(bad).map(f64::to_bits), None, "{bad}");
    }
    let families = text("a NaN\nb -Inf\nc 0x10p0\n");
    assert!(families[0].samples[0].value.is_nan());
    assert_eq!(families[1].samples[0].value, f64::NEG_INFINITY);
    assert_eq!(families[2].samples[0].value, 16.0);
}

#[test]
fn split_family_is_merged_and_reported() {
    let input = "# TYPE a gauge\na{x=\"1\"} 1\n# TYPE b gauge\nb 2\na{x=\"2\"} 3\n";
    let parsed = parse_detailed(input, Format::Text).expect("parses");
    assert_eq!(parsed.families.len(), 2);
    assert_eq!(parsed.families[0].samples.len(), 2);
    assert_eq!(parsed.families[0].samples[1].value, 3.0);
    assert_eq!(
        parsed.findings,
        [Finding { line: 5, kind: FindingKind::SplitFamily { name: "a".into(), first_line: 1 } }]
    );
    // Histogram samples find their family through the suffix.
    let input = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nother 1\nh_count 1\n";
    let parsed = parse_detailed(input, Format::Text).expect("parses");
    assert_eq!(suffixes(&parsed.families[0]), [Suffix::Bucket, Suffix::Count]);
    assert_eq!(parsed.findings[0].line, 4);
    // A plain parse merges the same way without collecting findings.
    assert_eq!(parse_text(input).expect("parses"), parsed.families);
}

#[test]
fn duplicate_series_are_kept_and_reported() {
    let input = "# TYPE a_total counter\na_total{x=\"1\",y=\"2\"} 1\na_total{x=\"2\"} 1\na_total{y=\"2\",x=\"1\"} 5\n";
    let parsed = parse_detailed(input, Format::Text).expect("parses");
    assert_eq!(parsed.families[0].samples.len(), 3);
    assert_eq!(
        parsed.findings,
        [Finding {
            line: 4,
            kind: FindingKind::DuplicateSeries {
                name: "a_total".into(),
                labels: Labels(vec![Label::new("y", "2"), Label::new("x", "1")]),
            },
        }]
    );
    assert_eq!(parsed.findings[0].to_string(), "line 4: duplicate series a_total{y=\"2\",x=\"1\"}");
}

#[test]
fn text_errors_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("a 1\n# TYPE a gauge\n", 2, "after its samples"),
        ("# TYPE a gauge\n# TYPE a counter\n", 2, "second TYPE"),
        ("# HELP a x\n# HELP a y\n", 2, "second HELP"),
        ("# TYPE a gauge\n\n# TYPE a bogus\n", 3, "invalid metric type"),
        ("# TYPE a\n", 1, "no type"),
        ("a 1\n0a 1\n", 2, "invalid metric name"),
        ("a-b 1\n", 1, "invalid character"),
        ("ok 1\na\n", 2, "no value"),
        ("a{x=\"1\" 1\n", 1, "expected ','"),
        ("a{x=\"1\",x=\"2\"} 1\n", 1, "duplicate label"),
        ("a{1x=\"1\"} 1\n", 1, "invalid label name"),
        ("a{x=1} 1\n", 1, "double quotes"),
        ("a one\n", 1, "invalid value"),
        ("a 1 2 3\n", 1, "after the timestamp"),
    ];
    for &(input, line, message) in cases {
        let e = text_err(input);
        assert_eq!(e.line, line, "{input:?}: {e}");
        assert!(e.message.contains(message), "{input:?}: {e}");
    }
}

#[test]
fn parse_bytes_rejects_invalid_utf8_with_its_line() {
    let e = parse_bytes(b"a 1\nb{x=\"\xff\"} 1\n", Format::Text).expect_err("invalid UTF-8");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("UTF-8"), "{e}");
    assert_eq!(parse_bytes(b"a 1\n", Format::Text).expect("valid").len(), 1);
}

#[test]
fn empty_text_input_has_no_families() {
    assert!(text("").is_empty());
    assert!(text("\n\n# just a comment\n").is_empty());
}

#[test]
fn many_copies_of_one_series_stay_linear() {
    let input = "a{x=\"1\"} 1\n".repeat(20_000);
    let parsed = parse_detailed(&input, Format::Text).expect("parses");
    assert_eq!(parsed.families[0].samples.len(), 20_000);
    assert_eq!(parsed.findings.len(), 19_999);
}

#[test]
fn many_labels_still_find_a_duplicate_name() {
    let names: Vec<String> = (0..2_000).map(|i| format!("l{i}=\"v\"")).collect();
    let line = format!("m{{{}}} 1\n", names.join(","));
    let parsed = parse(&line, Format::Text).unwrap();
    assert_eq!(parsed[0].samples[0].labels.0.len(), 2_000);
    let line = format!("m{{{},l1999=\"again\"}} 1\n", names.join(","));
    let err = parse(&line, Format::Text).unwrap_err();
    assert!(err.message.contains("duplicate label name \"l1999\""), "{err}");
    let line = format!("m{{{},l5=\"again\"}} 1\n", names[..40].join(","));
    assert!(parse(&line, Format::Text).unwrap_err().message.contains("duplicate label name \"l5\""));
}
