//! What `sonde-agent check rules FILE…` (like `promtool check rules`) and
//! `sonde-agent expand '<alertIf>' --service S …` (what a `com.df.*`
//! label becomes, as a rule file) print; the agent's CLI calls them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::file::load_rule_file;
use super::labels::{LabelError, rules_from_labels};
use super::{AlertRule, Rule};
use sonde_instrument::duration::format_prometheus_duration;

/// Checks each file like `promtool check rules`: `Checking FILE` and
/// `  SUCCESS: N rules found` and a blank line on `out`, `  FAILED:` and
/// one line per problem on `err`, as promtool 2.42 writes them. True when every file is valid.
pub fn check_rules(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> bool {
    let mut ok = true;
    // A closed stdout or stderr must not turn a verdict into a panic; the
    // exit code still carries it.
    for file in files {
        let _ = writeln!(out, "Checking {}", file.display());
        match load_rule_file(file) {
            Ok(groups) => {
                let rules: usize = groups.iter().map(|g| g.rules.len()).sum();
                let _ = writeln!(out, "  SUCCESS: {rules} rules found");
                let _ = writeln!(out);
            }
            Err(errors) => {
                ok = false;
                let _ = writeln!(err, "  FAILED:");
                for error in errors {
                    let _ = writeln!(err, "{error}");
                }
                let _ = writeln!(out);
            }
        }
    }
    ok
}

/// What `sonde-agent expand` is given: the values of the `com.df.*`
/// labels of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpandRequest {
    /// `com.df.alertIf`.
    pub alert_if: String,
    /// The service's name.
    pub service: String,
    /// The service's desired replicas (`@replicas_*` need it).
    pub replicas: Option<u64>,
    /// `com.df.alertName`; by default the (first) shortcut's name, or
    /// `alert` for a PromQL expression.
    pub name: Option<String>,
    /// `com.df.alertFor`.
    pub for_duration: Option<String>,
    /// `com.df.alertLabels`.
    pub labels: Option<String>,
    /// `com.df.alertAnnotations`.
    pub annotations: Option<String>,
}

/// The rule the labels describe, as a Prometheus rule file with one group
/// named after the service; or why the labels are refused.
pub fn expand_to_yaml(request: &ExpandRequest) -> Result<String, Vec<LabelError>> {
    let name = request.name.clone().unwrap_or_else(|| default_name(&request.alert_if));
    let mut labels = BTreeMap::new();
    labels.insert("com.df.alertName".to_owned(), name);
    labels.insert("com.df.alertIf".to_owned(), request.alert_if.clone());
    for (key, value) in [
        ("com.df.alertFor", &request.for_duration),
        ("com.df.alertLabels", &request.labels),
        ("com.df.alertAnnotations", &request.annotations),
    ] {
        if let Some(value) = value {
            labels.insert(key.to_owned(), value.clone());
        }
    }
    let (rules, errors) = rules_from_labels(&request.service, request.replicas, &labels);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(rules_to_yaml(&request.service, &rules.into_iter().map(Rule::Alert).collect::<Vec<_>>()))
}

fn default_name(alert_if: &str) -> String {
    match alert_if.strip_prefix('@') {
        Some(rest) => rest.split([':', '_']).next().map_or("alert", |_| {
            let end = rest.find(':').unwrap_or(rest.len());
            let first = &rest[..end];
            ["_and_", "_or_", "_unless_"].iter().filter_map(|op| first.find(op)).min().map_or(first, |at| &first[..at])
        }),
        None => "alert",
    }
    .to_owned()
}

#[derive(Serialize)]
struct YamlFile<'a> {
    groups: Vec<YamlGroup<'a>>,
}

#[derive(Serialize)]
struct YamlGroup<'a> {
    name: &'a str,
    rules: Vec<YamlRule<'a>>,
}

#[derive(Serialize)]
struct YamlRule<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a str>,
    expr: &'a str,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_for: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// `rules` as a Prometheus rule file with one group named `group`.
pub fn rules_to_yaml(group: &str, rules: &[Rule]) -> String {
    let duration = |d: std::time::Duration| (!d.is_zero()).then(|| format_prometheus_duration(d));
    let rules = rules
        .iter()
        .map(|rule| match rule {
            Rule::Alert(AlertRule { name, expr, for_duration, keep_firing_for, labels, annotations }) => YamlRule {
                alert: Some(name),
                record: None,
                expr,
                for_duration: duration(*for_duration),
                keep_firing_for: duration(*keep_firing_for),
                labels,
                annotations,
            },
            Rule::Record(record) => YamlRule {
                alert: None,
                record: Some(&record.record),
                expr: &record.expr,
                for_duration: None,
                keep_firing_for: None,
                labels: &record.labels,
                annotations: EMPTY,
            },
        })
        .collect();
    let file = YamlFile { groups: vec![YamlGroup { name: group, rules }] };
    serde_norway::to_string(&file).unwrap_or_else(|err| format!("# cannot write YAML: {err}\n"))
}

const EMPTY: &BTreeMap<String, String> = &BTreeMap::new();

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_rule_file;

    #[test]
    fn check_rules_reports_like_promtool() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yml");
        std::fs::write(&good, "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up == 0\n      - record: b\n        expr: sum(up)\n").unwrap();
        let bad = dir.path().join("bad.yml");
        std::fs::write(&bad, "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: sum(up\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(check_rules(std::slice::from_ref(&good), &mut out, &mut err));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("Checking {}\n  SUCCESS: 2 rules found\n\n", good.display())
        );
        assert!(err.is_empty());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(!check_rules(&[bad.clone(), good], &mut out, &mut err));
        let err = String::from_utf8(err).unwrap();
        assert!(
            err.starts_with(&format!(
                "  FAILED:\n{}: group \"a\", rule 1, \"A\": could not parse expression",
                bad.display()
            )),
            "{err}"
        );
        assert!(String::from_utf8(out).unwrap().contains("SUCCESS: 2 rules found"));
    }

    #[test]
    fn expand_prints_a_rule_file_that_checks() {
        let request = ExpandRequest {
            alert_if: "@resp_time_above:0.1,5m,0.99".to_owned(),
            service: "go-demo_main".to_owned(),
            for_duration: Some("1m".to_owned()),
            annotations: Some("runbook=http://wiki/x".to_owned()),
            ..ExpandRequest::default()
        };
        let yaml = expand_to_yaml(&request).unwrap();
        let groups = parse_rule_file(&yaml, "expanded").unwrap();
        assert_eq!(groups[0].name, "go-demo_main");
        let Rule::Alert(rule) = &groups[0].rules[0] else { panic!("{yaml}") };
        assert_eq!(rule.name, "godemo_main_resp_time_above");
        assert_eq!(rule.for_duration, std::time::Duration::from_secs(60));
        assert_eq!(rule.labels["scale"], "up");
        assert_eq!(rule.annotations["summary"], "Response time of the service go-demo_main is above 0.1");
        assert_eq!(rule.annotations["runbook"], "http://wiki/x");
        assert!(yaml.contains("for: 1m"), "{yaml}");
    }

    #[test]
    fn expand_refuses_malformed_labels() {
        let request =
            ExpandRequest { alert_if: "@foo".to_owned(), service: "s".to_owned(), ..ExpandRequest::default() };
        let errors = expand_to_yaml(&request).unwrap_err();
        assert_eq!(errors[0].to_string(), "service s: com.df.alertIf: unknown shortcut @foo");
    }

    #[test]
    fn default_names_come_from_the_shortcut() {
        assert_eq!(default_name("@resp_time_above:0.1,5m,0.99"), "resp_time_above");
        assert_eq!(default_name("@replicas_running"), "replicas_running");
        assert_eq!(
            default_name("@resp_time_below:0.025,5m,0.75_unless_@resp_time_above:0.1,5m,0.99"),
            "resp_time_below"
        );
        assert_eq!(default_name("@replicas_less_than_or_@replicas_more_than"), "replicas_less_than");
        assert_eq!(default_name("up == 0"), "alert");
    }
}
