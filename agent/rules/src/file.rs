//! Prometheus rule files, read as Prometheus reads them and checked as
//! strictly as `promtool check rules`: unknown fields, repeated group
//! names, `alert` with `record` (or neither), expressions that do not
//! parse, bad durations, label names and templates are all errors, each
//! naming the file, the group and the rule.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use sonde_instrument::file::read_regular;
use std::time::Duration;

use serde::Deserialize;

use super::template::Template;
use super::{AlertRule, RecordRule, Rule, check_expr};
use sonde_instrument::duration::parse_prometheus_duration;
use sonde_instrument::model::{is_valid_label_name, is_valid_metric_name};

/// One group of a rule file, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// The group's name, unique in its file.
    pub name: String,
    /// The file it came from (for messages and the rules API).
    pub file: String,
    /// How often the group is evaluated; None means the global interval.
    pub interval: Option<Duration>,
    /// How far in the past the group's queries look (`query_offset`).
    pub query_offset: Duration,
    /// The most alerts or series a rule may produce; 0 means no limit.
    pub limit: usize,
    /// The rules, in file order (evaluated in that order).
    pub rules: Vec<Rule>,
}

/// What is wrong in a rule file, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleFileError {
    /// The file.
    pub file: String,
    /// The group's name, when the problem is inside a group.
    pub group: Option<String>,
    /// The rule's position in its group (from 1) and its name.
    pub rule: Option<(usize, String)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        match (&self.group, &self.rule) {
            (Some(group), Some((index, name))) => write!(f, "group {group:?}, rule {index}, {name:?}: ")?,
            (Some(group), None) => write!(f, "group {group:?}: ")?,
            (None, Some((index, name))) => write!(f, "rule {index}, {name:?}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

/// A YAML scalar read as text, as Go's YAML decoder fills a string from
/// any scalar (`severity: 1` is the label value `"1"`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Text(pub(super) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A mapping of names to texts that refuses a name given twice, as Go's
/// YAML decoder does (`mapping key "a" already defined`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct TextMap(BTreeMap<String, Text>);

impl<'de> Deserialize<'de> for TextMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TextMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to strings")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<TextMap, E> {
                Ok(TextMap::default())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<TextMap, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((key, value)) = access.next_entry::<String, Text>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("mapping key {key:?} already defined")));
                    }
                    map.insert(key, value);
                }
                Ok(TextMap(map))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl TextMap {
    /// The names and their texts.
    pub(super) fn into_strings(self) -> BTreeMap<String, String> {
        self.0.into_iter().map(|(k, v)| (k, v.0)).collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: Text,
    interval: Option<Text>,
    query_offset: Option<Text>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    labels: TextMap,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    record: Option<Text>,
    alert: Option<Text>,
    expr: Option<Text>,
    #[serde(rename = "for")]
    for_duration: Option<Text>,
    keep_firing_for: Option<Text>,
    #[serde(default)]
    labels: TextMap,
    #[serde(default)]
    annotations: TextMap,
}

/// The largest rule file read: many times any real one, and a bound on
/// what a file pointed at by mistake makes the agent parse.
pub(crate) const MAX_RULE_FILE_BYTES: u64 = 16 << 20;

/// Reads and validates the rule file at `path`.
pub fn load_rule_file(path: &Path) -> Result<Vec<GroupSpec>, Vec<RuleFileError>> {
    let file = path.display().to_string();
    match read_regular(path, MAX_RULE_FILE_BYTES) {
        Ok(text) => parse_rule_file(&text, &file),
        Err(err) => Err(vec![RuleFileError { file, group: None, rule: None, message: err.reason() }]),
    }
}

/// How deep `[…]` and `{…}` may nest in a YAML file. The YAML parser takes
/// time quadratic in the nesting (a 300 KB file of nested lists kept it
/// busy for minutes); a rule file or a unit-test file nests a few levels.
const MAX_YAML_NESTING: usize = 64;

/// Refuses YAML whose flow collections nest more than [`MAX_YAML_NESTING`]
/// deep, in one linear pass before the parser sees it. Quoted strings and
/// comments are skipped.
pub(crate) fn check_yaml_nesting(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let mut previous = '\n';
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                // To the closing quote: `\"` escapes in double quotes, `''`
                // in single quotes (its second quote opens again, harmlessly).
                while let Some(d) = chars.next() {
                    if c == '"' && d == '\\' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
            }
            '#' if previous.is_whitespace() => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth > MAX_YAML_NESTING {
                    return Err(format!("YAML nested more than {MAX_YAML_NESTING} levels deep"));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    Ok(())
}

/// Parses and validates rule file text; `file` names it in errors.
pub fn parse_rule_file(text: &str, file: &str) -> Result<Vec<GroupSpec>, Vec<RuleFileError>> {
    let error = |group: Option<&str>, rule: Option<(usize, &str)>, message: String| RuleFileError {
        file: file.to_owned(),
        group: group.map(str::to_owned),
        rule: rule.map(|(i, n)| (i, n.to_owned())),
        message,
    };
    check_yaml_nesting(text).map_err(|message| vec![error(None, None, message)])?;
    // An empty file (or one holding only comments) has no groups, as in Prometheus.
    let raw: RawFile =
        if text.trim().is_empty() || serde_norway::from_str::<serde_norway::Value>(text).is_ok_and(|v| v.is_null()) {
            RawFile { groups: Vec::new() }
        } else {
            serde_norway::from_str(text).map_err(|err| vec![error(None, None, err.to_string())])?
        };
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut seen = HashSet::new();
    for group in raw.groups {
        let name = group.name.0;
        let g = Some(name.as_str());
        if name.is_empty() {
            errors.push(error(None, None, "Groupname must not be empty".to_owned()));
        } else if !seen.insert(name.clone()) {
            errors.push(error(g, None, format!("groupname: {name:?} is repeated in the same file")));
        }
        let mut duration = |field: &str, value: Option<Text>| match value {
            None => None,
            Some(Text(text)) => match parse_prometheus_duration(&text) {
                Ok(d) => Some(d),
                Err(err) => {
                    errors.push(error(g, None, format!("{field}: {err}")));
                    None
                }
            },
        };
        let interval = duration("interval", group.interval);
        let query_offset = duration("query_offset", group.query_offset).unwrap_or_default();
        let group_labels = group.labels.into_strings();
        for key in group_labels.keys() {
            if !is_valid_label_name(key) || key == "__name__" {
                errors.push(error(g, None, format!("invalid label name: {key}")));
            }
        }
        let mut rules = Vec::new();
        for (index, raw_rule) in group.rules.into_iter().enumerate() {
            let rule_name =
                raw_rule.alert.as_ref().or(raw_rule.record.as_ref()).map(|t| t.0.clone()).unwrap_or_default();
            match validate_rule(raw_rule, &group_labels) {
                Ok(rule) => rules.push(rule),
                Err(messages) => {
                    errors.extend(messages.into_iter().map(|m| error(g, Some((index + 1, &rule_name)), m)));
                }
            }
        }
        groups.push(GroupSpec { name, file: file.to_owned(), interval, query_offset, limit: group.limit, rules });
    }
    if errors.is_empty() { Ok(groups) } else { Err(errors) }
}

/// Checks one rule; every problem found, as promtool lists them.
fn validate_rule(raw: RawRule, group_labels: &BTreeMap<String, String>) -> Result<Rule, Vec<String>> {
    let mut problems = Vec::new();
    let non_empty = |t: Option<Text>| t.map(|t| t.0).filter(|s| !s.is_empty());
    let (alert, record) = (non_empty(raw.alert), non_empty(raw.record));
    match (&alert, &record) {
        (Some(_), Some(_)) => problems.push("only one of 'record' and 'alert' must be set".to_owned()),
        (None, None) => problems.push("one of 'record' or 'alert' must be set".to_owned()),
        _ => {}
    }
    let expr = non_empty(raw.expr).unwrap_or_default();
    if expr.is_empty() {
        problems.push("field 'expr' must be set in rule".to_owned());
    } else if let Err(err) = check_expr(&expr) {
        problems.push(format!("could not parse expression: {err}"));
    }
    let mut duration = |field: &str, value: Option<Text>| match value {
        None => Duration::ZERO,
        Some(Text(text)) => parse_prometheus_duration(&text).unwrap_or_else(|err| {
            problems.push(format!("{field}: {err}"));
            Duration::ZERO
        }),
    };
    let for_duration = duration("for", raw.for_duration);
    let keep_firing_for = duration("keep_firing_for", raw.keep_firing_for);
    let mut labels = group_labels.clone();
    labels.extend(raw.labels.into_strings());
    let annotations = raw.annotations.into_strings();
    if let Some(record) = &record {
        if !annotations.is_empty() {
            problems.push("invalid field 'annotations' in recording rule".to_owned());
        }
        if !for_duration.is_zero() {
            problems.push("invalid field 'for' in recording rule".to_owned());
        }
        if !keep_firing_for.is_zero() {
            problems.push("invalid field 'keep_firing_for' in recording rule".to_owned());
        }
        if !is_valid_metric_name(record) {
            problems.push(format!("invalid recording rule name: {record}"));
        }
    }
    for name in labels.keys() {
        if !is_valid_label_name(name) || name == "__name__" {
            problems.push(format!("invalid label name: {name}"));
        }
    }
    for name in annotations.keys() {
        if !is_valid_label_name(name) {
            problems.push(format!("invalid annotation name: {name}"));
        }
    }
    if alert.is_some() {
        problems.extend(template_problems(&labels, &annotations));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(match (alert, record) {
        (Some(name), _) => Rule::Alert(AlertRule { name, expr, for_duration, keep_firing_for, labels, annotations }),
        (None, Some(record)) => Rule::Record(RecordRule { record, expr, labels }),
        (None, None) => return Err(vec!["one of 'record' or 'alert' must be set".to_owned()]),
    })
}

/// The templates among label and annotation values that do not parse.
pub(crate) fn template_problems(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Vec<String> {
    let labels = labels.iter().map(|(k, v)| ("label", k, v));
    let annotations = annotations.iter().map(|(k, v)| ("annotation", k, v));
    labels
        .chain(annotations)
        .filter_map(|(kind, key, value)| Template::parse(value).err().map(|err| format!("{kind} {key:?}: {err}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
groups:
  - name: go-demo
    interval: 30s
    rules:
      - alert: godemo_main_mem_limit
        expr: container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.8
        for: 5m
        keep_firing_for: 1h30m
        labels:
          service: go-demo_main
          priority: 1
        annotations:
          summary: "Memory of {{ $labels.service }} is {{ $value | humanizePercentage }}"
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_server_resp_time_count[5m]))
  - name: nodes
    limit: 10
    rules:
      - alert: NodeDown
        expr: up == 0
        for: 1d
"#;

    fn errors(text: &str) -> Vec<String> {
        parse_rule_file(text, "rules.yml").unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_prometheus_rule_file_is_read_as_it_is() {
        let groups = parse_rule_file(GOOD, "rules.yml").unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].interval, Some(Duration::from_secs(30)));
        assert_eq!(groups[1].interval, None);
        assert_eq!(groups[1].limit, 10);
        let Rule::Alert(alert) = &groups[0].rules[0] else { panic!("not an alert") };
        assert_eq!(alert.name, "godemo_main_mem_limit");
        assert_eq!(alert.for_duration, Duration::from_secs(300));
        assert_eq!(alert.keep_firing_for, Duration::from_secs(5400));
        assert_eq!(alert.labels["priority"], "1");
        let Rule::Record(record) = &groups[0].rules[1] else { panic!("not a record") };
        assert_eq!(record.record, "job:http_requests:rate5m");
        let Rule::Alert(node) = &groups[1].rules[0] else { panic!("not an alert") };
        assert_eq!(node.for_duration, Duration::from_secs(86_400));
    }

    #[test]
    fn empty_files_have_no_groups() {
        assert_eq!(parse_rule_file("", "f"), Ok(vec![]));
        assert_eq!(parse_rule_file("# nothing\n", "f"), Ok(vec![]));
        assert_eq!(parse_rule_file("groups: []\n", "f"), Ok(vec![]));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let errs =
            errors("groups:\n  - name: a\n    rules:\n      - alert: x\n        expr: up\n        severity: page\n");
        assert!(errs[0].starts_with("rules.yml: ") && errs[0].contains("unknown field `severity`"), "{errs:?}");
        let errs = errors("groups:\n  - name: a\n    evaluation: 1m\n");
        assert!(errs[0].contains("unknown field `evaluation`"), "{errs:?}");
        let errs = errors("group:\n  - name: a\n");
        assert!(errs[0].contains("unknown field `group`"), "{errs:?}");
    }

    #[test]
    fn every_problem_names_the_file_group_and_rule() {
        let text = r#"
groups:
  - name: a
    rules:
      - alert: Both
        record: both
        expr: up
      - expr: up
      - alert: BadExpr
        expr: sum(up
      - alert: BadFor
        expr: up
        for: 1.5m
      - alert: BadLabel
        expr: up
        labels:
          bad-name: x
        annotations:
          summary: "{{ $labels.x"
      - record: bad name
        expr: up
        for: 5m
        annotations:
          a: b
      - alert: NoExpr
  - name: a
    interval: 5x
"#;
        let errs = errors(text);
        let expect = [
            "rules.yml: group \"a\", rule 1, \"Both\": only one of 'record' and 'alert' must be set",
            "rules.yml: group \"a\", rule 2, \"\": one of 'record' or 'alert' must be set",
            "rules.yml: group \"a\", rule 3, \"BadExpr\": could not parse expression: ",
            "rules.yml: group \"a\", rule 4, \"BadFor\": for: invalid duration \"1.5m\"",
            "rules.yml: group \"a\", rule 5, \"BadLabel\": invalid label name: bad-name",
            "rules.yml: group \"a\", rule 5, \"BadLabel\": annotation \"summary\": template: ",
            "rules.yml: group \"a\", rule 6, \"bad name\": invalid field 'annotations' in recording rule",
            "rules.yml: group \"a\", rule 6, \"bad name\": invalid field 'for' in recording rule",
            "rules.yml: group \"a\", rule 6, \"bad name\": invalid recording rule name: bad name",
            "rules.yml: group \"a\", rule 7, \"NoExpr\": field 'expr' must be set in rule",
            "rules.yml: group \"a\": groupname: \"a\" is repeated in the same file",
            "rules.yml: group \"a\": interval: invalid duration \"5x\"",
        ];
        for e in expect {
            assert!(errs.iter().any(|got| got.starts_with(e)), "missing {e:?} in {errs:#?}");
        }
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    }

    #[test]
    fn group_labels_and_query_offset_are_prometheus_3_fields() {
        let text = "groups:\n  - name: a\n    query_offset: 1m\n    labels:\n      team: x\n    rules:\n      - alert: A\n        expr: up\n        labels:\n          team: y\n      - alert: B\n        expr: up\n";
        let groups = parse_rule_file(text, "f").unwrap();
        assert_eq!(groups[0].query_offset, Duration::from_secs(60));
        let Rule::Alert(a) = &groups[0].rules[0] else { panic!() };
        let Rule::Alert(b) = &groups[0].rules[1] else { panic!() };
        assert_eq!(a.labels["team"], "y");
        assert_eq!(b.labels["team"], "x");
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let errs = errors(
            "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        labels:\n          a: 1\n          a: 2\n",
        );
        assert!(errs[0].contains("mapping key \"a\" already defined"), "{errs:?}");
        let errs = errors("groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        expr: down\n");
        assert!(errs[0].contains("duplicate field `expr`"), "{errs:?}");
    }

    #[test]
    fn yaml_syntax_errors_name_the_file() {
        let errs = errors("groups:\n  - name: [\n");
        assert!(errs[0].starts_with("rules.yml: "), "{errs:?}");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let errs = load_rule_file(Path::new("/nonexistent/rules.yml")).unwrap_err();
        assert!(errs[0].to_string().starts_with("/nonexistent/rules.yml: "), "{}", errs[0]);
    }

    #[test]
    fn yaml_nested_too_deep_is_refused_at_once() {
        let deep = format!("groups: {}{}\n", "[ ".repeat(100_000), "]".repeat(100_000));
        let errors = parse_rule_file(&deep, "deep.yml").unwrap_err();
        assert_eq!(errors[0].to_string(), "deep.yml: YAML nested more than 64 levels deep");
        // Brackets in strings and comments do not count.
        let text = format!(
            "# {}\ngroups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'up{{a=\"[[[\"}}'\n    annotations:\n      x: \"{}\"\n",
            "[".repeat(100),
            "[".repeat(100)
        );
        assert!(parse_rule_file(&text, "ok.yml").is_ok(), "{:?}", parse_rule_file(&text, "ok.yml"));
    }
}
