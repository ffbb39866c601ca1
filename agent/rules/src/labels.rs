//! Alert rules from `com.df.alert*` service labels (SPEC §3): indexed
//! forms `.1`, `.2`, … without an upper limit next to the unindexed form,
//! shortcut expansion, default labels and summary, and strict validation
//! where one malformed label rejects only the rule it belongs to.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::file::template_problems;
use super::shortcuts::expand;
use super::{AlertRule, check_expr};
use sonde_instrument::duration::parse_prometheus_duration;
use sonde_instrument::model::is_valid_label_name;

const PREFIX: &str = "com.df.";
const FIELDS: [&str; 5] = ["alertName", "alertIf", "alertFor", "alertLabels", "alertAnnotations"];

/// A label that rejected its rule: the service, the label and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LabelError {
    /// The service whose label it is.
    pub service: String,
    /// The full label key (`com.df.alertIf.3`).
    pub label: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service {}: {}: {}", self.service, self.label, self.message)
    }
}

/// The index of a label: none (`com.df.alertIf`) sorts before every number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Index {
    None,
    /// Digits without leading zeros, ordered by length then text: numeric
    /// order with no upper limit.
    Number(usize, String),
}

impl Index {
    fn suffix(&self) -> String {
        match self {
            Index::None => String::new(),
            Index::Number(_, digits) => format!(".{digits}"),
        }
    }
}

/// The alert rules the `com.df.*` labels of `service` describe, and the
/// labels that were rejected. `replicas` is the service's desired replica
/// count (None for a global service), which `@replicas_*` need.
pub fn rules_from_labels(
    service: &str,
    replicas: Option<u64>,
    labels: &BTreeMap<String, String>,
) -> (Vec<AlertRule>, Vec<LabelError>) {
    let error =
        |label: &str, message: String| LabelError { service: service.to_owned(), label: label.to_owned(), message };
    let mut errors = Vec::new();
    // index -> field -> (label key, value)
    let mut by_index: BTreeMap<Index, BTreeMap<&str, (&str, &str)>> = BTreeMap::new();
    for (key, value) in labels {
        let Some(rest) = key.strip_prefix(PREFIX) else { continue };
        let (field, index) = match rest.split_once('.') {
            Some((field, index)) => (field, Some(index)),
            None => (rest, None),
        };
        let Some(field) = FIELDS.iter().copied().find(|f| *f == field) else { continue };
        let index = match index {
            None => Index::None,
            Some(digits)
                if !digits.is_empty()
                    && digits.chars().all(|c| c.is_ascii_digit())
                    && (digits == "0" || !digits.starts_with('0')) =>
            {
                Index::Number(digits.len(), digits.to_owned())
            }
            Some(_) => {
                errors.push(error(key, "the index must be a number without leading zeros, like .1".to_owned()));
                continue;
            }
        };
        by_index.entry(index).or_default().insert(field, (key.as_str(), value.as_str()));
    }
    let mut rules = Vec::new();
    for (index, fields) in by_index {
        let suffix = index.suffix();
        let name = fields.get("alertName");
        let alert_if = fields.get("alertIf");
        let (Some(&(name_key, name)), Some(&(if_key, alert_if))) = (name, alert_if) else {
            let (present, missing) = match (name, alert_if) {
                (Some((key, _)), None) => (*key, format!("{PREFIX}alertIf{suffix}")),
                (None, Some((key, _))) => (*key, format!("{PREFIX}alertName{suffix}")),
                _ => {
                    for (key, _) in fields.values() {
                        errors.push(error(
                            key,
                            format!("no {PREFIX}alertName{suffix} and {PREFIX}alertIf{suffix} beside it"),
                        ));
                    }
                    continue;
                }
            };
            errors.push(error(present, format!("no {missing} beside it")));
            continue;
        };
        let before = errors.len();
        if name.is_empty() {
            errors.push(error(name_key, "the alert name is empty".to_owned()));
        }
        let expansion = if alert_if.is_empty() {
            errors.push(error(if_key, "the expression is empty".to_owned()));
            None
        } else {
            match expand(alert_if, service, replicas) {
                Ok(expansion) => match check_expr(&expansion.expr) {
                    Ok(()) => Some(expansion),
                    Err(err) => {
                        errors.push(error(if_key, format!("the expression does not parse: {err}")));
                        None
                    }
                },
                Err(err) => {
                    errors.push(error(if_key, err.to_string()));
                    None
                }
            }
        };
        let for_duration = match fields.get("alertFor") {
            None => Duration::ZERO,
            Some(&(key, text)) => parse_prometheus_duration(text).unwrap_or_else(|err| {
                errors.push(error(key, err.to_string()));
                Duration::ZERO
            }),
        };
        let mut pairs = |field: &str| -> BTreeMap<String, String> {
            let Some(&(key, text)) = fields.get(field) else { return BTreeMap::new() };
            match parse_pairs(text) {
                Ok(map) => {
                    let kind = if field == "alertLabels" {
                        ("label", BTreeMap::new())
                    } else {
                        ("annotation", BTreeMap::new())
                    };
                    let (labels, annotations) = if kind.0 == "label" { (&map, &kind.1) } else { (&kind.1, &map) };
                    let problems = template_problems(labels, annotations);
                    if problems.is_empty() {
                        return map;
                    }
                    errors.extend(problems.into_iter().map(|p| error(key, p)));
                }
                Err(err) => errors.push(error(key, err.to_string())),
            }
            BTreeMap::new()
        };
        let user_labels = pairs("alertLabels");
        let user_annotations = pairs("alertAnnotations");
        let Some(expansion) = expansion else { continue };
        if errors.len() > before {
            continue;
        }
        let mut labels: BTreeMap<String, String> =
            [("receiver", "system"), ("service", service)].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        labels.extend(expansion.labels);
        labels.extend(user_labels);
        let mut annotations = BTreeMap::new();
        if let Some(summary) = expansion.summary {
            annotations.insert("summary".to_owned(), summary);
        }
        annotations.extend(user_annotations);
        rules.push(AlertRule {
            name: alert_name(service, name),
            expr: expansion.expr,
            for_duration,
            keep_firing_for: Duration::ZERO,
            labels,
            annotations,
        });
    }
    (rules, errors)
}

/// `<service>_<alertName>` with every `-` removed, as Docker Flow Monitor
/// names it: `go-demo_main` + `mem_limit` is `godemo_main_mem_limit`.
pub(crate) fn alert_name(service: &str, name: &str) -> String {
    format!("{service}_{name}").replace('-', "")
}

/// Why a `k=v,k=v` list does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PairsError {
    /// An item without `=`.
    #[error("item {0:?} has no \"=\" (expected k=v,k=v)")]
    NoEquals(String),
    /// An item whose name is not a label name.
    #[error("invalid name {name:?} in item {item:?}")]
    InvalidName {
        /// The name.
        name: String,
        /// The whole item.
        item: String,
    },
    /// A name given twice.
    #[error("{0:?} is given twice")]
    Repeated(String),
}

/// Parses `k=v,k=v`: every item needs `=` and a valid name; a name given
/// twice is refused. Spaces around names and values are dropped.
pub(crate) fn parse_pairs(text: &str) -> Result<BTreeMap<String, String>, PairsError> {
    let mut map = BTreeMap::new();
    for item in text.split(',') {
        let Some((name, value)) = item.split_once('=') else {
            return Err(PairsError::NoEquals(item.to_owned()));
        };
        let (name, value) = (name.trim(), value.trim());
        if !is_valid_label_name(name) {
            return Err(PairsError::InvalidName { name: name.to_owned(), item: item.to_owned() });
        }
        if map.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(PairsError::Repeated(name.to_owned()));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// The labels the reference stack used for go-demo (SPEC §3).
    fn demo_labels() -> BTreeMap<String, String> {
        map(&[
            ("com.df.notify", "true"),
            ("com.df.scaleMin", "2"),
            ("com.df.scaleMax", "4"),
            ("com.df.scrapePort", "8080"),
            ("com.df.alertName.1", "mem_limit"),
            ("com.df.alertIf.1", "@service_mem_limit:0.8"),
            ("com.df.alertFor.1", "5m"),
            ("com.df.alertName.2", "resp_time_above"),
            ("com.df.alertIf.2", "@resp_time_above:0.1,5m,0.99"),
            ("com.df.alertName.3", "resp_time_below"),
            ("com.df.alertIf.3", "@resp_time_below:0.025,5m,0.75"),
            ("com.df.alertName.4", "errors"),
            ("com.df.alertIf.4", "@resp_time_server_error:5m,0.001"),
            ("com.df.alertName.5", "replicas"),
            ("com.df.alertIf.5", "@replicas_running"),
            ("com.df.alertFor.5", "10m"),
        ])
    }

    #[test]
    fn the_reference_demo_labels_give_five_rules() {
        let (rules, errors) = rules_from_labels("go-demo_main", Some(3), &demo_labels());
        assert_eq!(errors, vec![]);
        let expected = [
            (
                "godemo_main_mem_limit",
                r#"container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.8"#,
                300,
                &[][..],
                "Memory of the service go-demo_main is over 0.8",
            ),
            (
                "godemo_main_resp_time_above",
                r#"sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) < 0.99"#,
                0,
                &[("scale", "up"), ("type", "service")][..],
                "Response time of the service go-demo_main is above 0.1",
            ),
            (
                "godemo_main_resp_time_below",
                r#"sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.025"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) > 0.75"#,
                0,
                &[("scale", "down"), ("type", "service")][..],
                "Response time of the service go-demo_main is below 0.025",
            ),
            (
                "godemo_main_errors",
                r#"sum(rate(http_server_resp_time_count{job="go-demo_main", code=~"^5..$"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) > 0.001"#,
                0,
                &[("type", "errors")][..],
                "Error rate of the service go-demo_main is above 0.001",
            ),
            (
                "godemo_main_replicas",
                r#"count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}) != 3"#,
                600,
                &[("scale", "up"), ("type", "node")][..],
                "The number of running replicas of the service go-demo_main is not 3",
            ),
        ];
        assert_eq!(rules.len(), expected.len());
        for (rule, (name, expr, for_secs, extra, summary)) in rules.iter().zip(expected) {
            assert_eq!(rule.name, name);
            assert_eq!(rule.expr, expr, "{name}");
            assert_eq!(rule.for_duration, Duration::from_secs(for_secs), "{name}");
            let mut labels = map(&[("receiver", "system"), ("service", "go-demo_main")]);
            labels.extend(map(extra));
            assert_eq!(rule.labels, labels, "{name}");
            assert_eq!(rule.annotations, map(&[("summary", summary)]), "{name}");
        }
    }

    #[test]
    fn unindexed_and_large_indexes_in_numeric_order() {
        let labels = map(&[
            ("com.df.alertName", "first"),
            ("com.df.alertIf", "up == 0"),
            ("com.df.alertName.10", "ten"),
            ("com.df.alertIf.10", "up == 10"),
            ("com.df.alertName.9", "nine"),
            ("com.df.alertIf.9", "up == 9"),
            ("com.df.alertName.123456789012345678901234567890", "huge"),
            ("com.df.alertIf.123456789012345678901234567890", "up == 1"),
        ]);
        let (rules, errors) = rules_from_labels("svc", None, &labels);
        assert_eq!(errors, vec![]);
        let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["svc_first", "svc_nine", "svc_ten", "svc_huge"]);
        // A plain expression gets the default labels and no summary.
        assert_eq!(rules[0].labels, map(&[("receiver", "system"), ("service", "svc")]));
        assert!(rules[0].annotations.is_empty());
    }

    #[test]
    fn user_labels_and_annotations_win_over_defaults() {
        let labels = map(&[
            ("com.df.alertName.1", "up"),
            ("com.df.alertIf.1", "@resp_time_above:0.1,5m,0.99"),
            ("com.df.alertLabels.1", "receiver=ops, scale=none,severity=page"),
            ("com.df.alertAnnotations.1", "summary=Slow {{ $labels.service }},runbook=http://x/y"),
        ]);
        let (rules, errors) = rules_from_labels("go-demo_main", None, &labels);
        assert_eq!(errors, vec![]);
        assert_eq!(
            rules[0].labels,
            map(&[
                ("receiver", "ops"),
                ("scale", "none"),
                ("service", "go-demo_main"),
                ("severity", "page"),
                ("type", "service")
            ])
        );
        assert_eq!(rules[0].annotations, map(&[("runbook", "http://x/y"), ("summary", "Slow {{ $labels.service }}")]));
    }

    #[test]
    fn a_compound_alert_keeps_only_service_and_receiver() {
        let labels = map(&[
            ("com.df.alertName", "scale_down"),
            ("com.df.alertIf", "@resp_time_below:0.025,5m,0.75_unless_@resp_time_above:0.1,5m,0.99"),
        ]);
        let (rules, errors) = rules_from_labels("go-demo_main", None, &labels);
        assert_eq!(errors, vec![]);
        assert_eq!(rules[0].name, "godemo_main_scale_down");
        assert_eq!(rules[0].labels, map(&[("receiver", "system"), ("service", "go-demo_main")]));
        assert_eq!(
            rules[0].annotations["summary"],
            "Response time of the service go-demo_main is below 0.025 unless Response time of the service go-demo_main is above 0.1"
        );
    }

    #[test]
    fn pairs_errors_have_kinds() {
        assert_eq!(parse_pairs("a=1, b = 2"), Ok([("a", "1"), ("b", "2")].map(|(k, v)| (k.into(), v.into())).into()));
        assert_eq!(parse_pairs("a"), Err(PairsError::NoEquals("a".to_owned())));
        assert_eq!(
            parse_pairs("a-b=1"),
            Err(PairsError::InvalidName { name: "a-b".to_owned(), item: "a-b=1".to_owned() })
        );
        let twice = parse_pairs("a=1,a=2").unwrap_err();
        assert_eq!(twice, PairsError::Repeated("a".to_owned()));
        assert_eq!(twice.to_string(), r#""a" is given twice"#);
    }

    #[test]
    fn each_malformed_label_rejects_only_its_rule() {
        let mut labels = demo_labels();
        let bad = [
            ("6", "com.df.alertIf.6", "@foo", "unknown shortcut @foo"),
            ("7", "com.df.alertIf.7", "@service_mem_limit:0.8,0.9", "@service_mem_limit takes 1 argument (v0), got 2"),
            ("8", "com.df.alertIf.8", "sum(up", "the expression does not parse: "),
            ("9", "com.df.alertLabels.9", "severity", "item \"severity\" has no \"=\""),
            ("10", "com.df.alertAnnotations.10", "summary=a,b", "item \"b\" has no \"=\""),
            ("11", "com.df.alertFor.11", "5 minutes", "invalid duration \"5 minutes\""),
            ("12", "com.df.alertLabels.12", "bad-name=x", "invalid name \"bad-name\""),
            ("13", "com.df.alertAnnotations.13", "summary={{ $labels.x", "annotation \"summary\": template: "),
            ("14", "com.df.alertIf.14", "@replicas_running:2", "@replicas_running takes no arguments, got 1"),
        ];
        for (index, key, value, _) in bad {
            labels.insert(format!("com.df.alertName.{index}"), format!("bad{index}"));
            if !key.starts_with("com.df.alertIf") {
                labels.insert(format!("com.df.alertIf.{index}"), "up == 0".to_owned());
            }
            labels.insert(key.to_owned(), value.to_owned());
        }
        labels.insert("com.df.alertName.15".to_owned(), "lonely".to_owned());
        labels.insert("com.df.alertIf.16".to_owned(), "up == 0".to_owned());
        labels.insert("com.df.alertFor.17".to_owned(), "5m".to_owned());
        labels.insert("com.df.alertIf.x".to_owned(), "up == 0".to_owned());
        labels.insert("com.df.alertName.01".to_owned(), "zero".to_owned());

        let (rules, errors) = rules_from_labels("go-demo_main", Some(3), &labels);
        let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "godemo_main_mem_limit",
                "godemo_main_resp_time_above",
                "godemo_main_resp_time_below",
                "godemo_main_errors",
                "godemo_main_replicas"
            ]
        );
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for (_, key, _, message) in bad {
            let want = format!("service go-demo_main: {key}: {message}");
            assert!(messages.iter().any(|m| m.starts_with(&want)), "missing {want:?} in {messages:#?}");
        }
        for want in [
            "service go-demo_main: com.df.alertName.15: no com.df.alertIf.15 beside it",
            "service go-demo_main: com.df.alertIf.16: no com.df.alertName.16 beside it",
            "service go-demo_main: com.df.alertFor.17: no com.df.alertName.17 and com.df.alertIf.17 beside it",
            "service go-demo_main: com.df.alertIf.x: the index must be a number",
            "service go-demo_main: com.df.alertName.01: the index must be a number",
        ] {
            assert!(messages.iter().any(|m| m.starts_with(want)), "missing {want:?} in {messages:#?}");
        }
        assert_eq!(errors.len(), bad.len() + 5, "{messages:#?}");
    }

    #[test]
    fn the_first_example_message_of_the_brief() {
        let labels = map(&[("com.df.alertName.3", "x"), ("com.df.alertIf.3", "@foo")]);
        let (rules, errors) = rules_from_labels("go-demo_main", None, &labels);
        assert!(rules.is_empty());
        assert_eq!(errors[0].to_string(), "service go-demo_main: com.df.alertIf.3: unknown shortcut @foo");
    }

    #[test]
    fn dashes_are_removed_from_the_name() {
        assert_eq!(alert_name("go-demo_main", "mem_limit"), "godemo_main_mem_limit");
    }
}
