//! The `@shortcut` values of `com.df.alertIf`, expanded exactly as SPEC §3
//! lists them (Docker Flow Monitor's table with current node metric
//! names), and compound shortcuts joined with `_and_`, `_or_`, `_unless_`.

use std::collections::BTreeMap;

use sonde_instrument::duration::parse_prometheus_duration;

/// What an argument of a shortcut must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// A number compared with the expression (`0.8`).
    Threshold,
    /// A histogram bucket bound (`le="0.1"`).
    Bucket,
    /// A range (`5m`).
    Range,
}

/// One row of the shortcut table. In the texts, `{S}` is the service name,
/// `{R}` its desired replicas and `{v0}`… the arguments.
#[derive(Debug)]
struct Shortcut {
    name: &'static str,
    args: &'static [Arg],
    expr: &'static str,
    labels: &'static [(&'static str, &'static str)],
    summary: &'static str,
}

const SERVICE_MEMORY: &str = r#"container_memory_usage_bytes{container_label_com_docker_swarm_service_name="{S}"}"#;

/// `@node_mem_limit*`: `{sum}` is `sum by (instance) ` or `sum`.
const NODE_MEMORY: &str = r#"({sum}(node_memory_MemTotal_bytes{job="{S}"}) - {sum}(node_memory_MemFree_bytes{job="{S}"} + node_memory_Buffers_bytes{job="{S}"} + node_memory_Cached_bytes{job="{S}"})) / {sum}(node_memory_MemTotal_bytes{job="{S}"})"#;

const RESP_TIME: &str = r#"sum(rate(http_server_resp_time_bucket{job="{S}", le="{v0}"}[{v1}])) / sum(rate(http_server_resp_time_count{job="{S}"}[{v1}]))"#;

const UP: (&str, &str) = ("scale", "up");
const DOWN: (&str, &str) = ("scale", "down");
const NODE: (&str, &str) = ("type", "node");

const SHORTCUTS: &[Shortcut] = &[
    Shortcut {
        name: "@service_mem_limit",
        args: &[Arg::Threshold],
        expr: r#"container_memory_usage_bytes{container_label_com_docker_swarm_service_name="{S}"} / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="{S}"} > {v0}"#,
        labels: &[],
        summary: "Memory of the service {S} is over {v0}",
    },
    Shortcut {
        name: "@service_mem_limit_nobuff",
        args: &[Arg::Threshold],
        expr: r#"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="{S}"} - container_memory_cache{container_label_com_docker_swarm_service_name="{S}"}) / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="{S}"} > {v0}"#,
        labels: &[],
        summary: "Memory without buffer of the service {S} is over {v0}",
    },
    Shortcut {
        name: "@node_mem_limit",
        args: &[Arg::Threshold],
        expr: "{NODE_MEMORY_BY_INSTANCE} > {v0}",
        labels: &[],
        summary: "Memory of a node is over {v0}",
    },
    Shortcut {
        name: "@node_mem_limit_total_above",
        args: &[Arg::Threshold],
        expr: "{NODE_MEMORY_TOTAL} > {v0}",
        labels: &[UP, NODE],
        summary: "Total memory of the nodes is over {v0}",
    },
    Shortcut {
        name: "@node_mem_limit_total_below",
        args: &[Arg::Threshold],
        expr: "{NODE_MEMORY_TOTAL} < {v0}",
        labels: &[DOWN, NODE],
        summary: "Total memory of the nodes is below {v0}",
    },
    Shortcut {
        name: "@node_fs_limit",
        args: &[Arg::Threshold],
        expr: r#"(node_filesystem_size_bytes{mountpoint="/", job="{S}"} - node_filesystem_free_bytes{mountpoint="/", job="{S}"}) / node_filesystem_size_bytes{mountpoint="/", job="{S}"} > {v0}"#,
        labels: &[],
        summary: "Disk usage of a node is over {v0}",
    },
    Shortcut {
        name: "@resp_time_above",
        args: &[Arg::Bucket, Arg::Range, Arg::Threshold],
        expr: "{RESP_TIME} < {v2}",
        labels: &[UP, ("type", "service")],
        summary: "Response time of the service {S} is above {v0}",
    },
    Shortcut {
        name: "@resp_time_below",
        args: &[Arg::Bucket, Arg::Range, Arg::Threshold],
        expr: "{RESP_TIME} > {v2}",
        labels: &[DOWN, ("type", "service")],
        summary: "Response time of the service {S} is below {v0}",
    },
    Shortcut {
        name: "@resp_time_server_error",
        args: &[Arg::Range, Arg::Threshold],
        expr: r#"sum(rate(http_server_resp_time_count{job="{S}", code=~"^5..$"}[{v0}])) / sum(rate(http_server_resp_time_count{job="{S}"}[{v0}])) > {v1}"#,
        labels: &[("type", "errors")],
        summary: "Error rate of the service {S} is above {v1}",
    },
    Shortcut {
        name: "@replicas_running",
        args: &[],
        expr: "count({SERVICE_MEMORY}) != {R}",
        labels: &[UP, NODE],
        summary: "The number of running replicas of the service {S} is not {R}",
    },
    Shortcut {
        name: "@replicas_less_than",
        args: &[],
        expr: "count({SERVICE_MEMORY}) < {R}",
        labels: &[UP, NODE],
        summary: "The number of running replicas of the service {S} is less than {R}",
    },
    Shortcut {
        name: "@replicas_more_than",
        args: &[],
        expr: "count({SERVICE_MEMORY}) > {R}",
        labels: &[DOWN, NODE],
        summary: "The number of running replicas of the service {S} is more than {R}",
    },
];

/// What an `alertIf` value becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expansion {
    /// The PromQL expression.
    pub expr: String,
    /// The shortcut's own labels (`scale`, `type`); none for a compound or
    /// a plain expression.
    pub labels: BTreeMap<String, String>,
    /// The `summary` annotation; None for a plain expression.
    pub summary: Option<String>,
}

/// Why an `alertIf` value does not expand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ShortcutError {
    /// `@name` is no shortcut.
    #[error("unknown shortcut {0}")]
    Unknown(String),
    /// A part after `_and_`, `_or_` or `_unless_` that does not start with `@`.
    #[error("{0:?} after a compound operator is not a @shortcut")]
    NotAShortcut(String),
    /// The wrong number of arguments.
    #[error("{name} takes {want}, got {got}: {part:?}")]
    Arguments {
        /// The shortcut.
        name: String,
        /// What it takes (`1 argument (v0)`).
        want: String,
        /// How many it got.
        got: usize,
        /// The part as written.
        part: String,
    },
    /// An argument of the wrong kind.
    #[error("{name}: v{index} {arg:?} is not {what}")]
    Argument {
        /// The shortcut.
        name: String,
        /// The argument's position.
        index: usize,
        /// The argument as written.
        arg: String,
        /// What it should be (`a number`).
        what: &'static str,
    },
    /// A `{R}` shortcut for a service without a replica count.
    #[error("{0} needs the service's desired replicas (a replicated service)")]
    NeedsReplicas(String),
}

/// Expands an `alertIf` value for `service` with `replicas` desired
/// replicas. A value not starting with `@` is a PromQL expression, taken
/// as it is.
pub(crate) fn expand(alert_if: &str, service: &str, replicas: Option<u64>) -> Result<Expansion, ShortcutError> {
    if !alert_if.starts_with('@') {
        return Ok(Expansion { expr: alert_if.to_owned(), labels: BTreeMap::new(), summary: None });
    }
    let mut rest = alert_if;
    let mut expr = String::new();
    let mut summary = String::new();
    let mut single = None;
    loop {
        let (part, op) = split_compound(rest);
        let (part_expr, part_labels, part_summary) = expand_one(part.0, service, replicas)?;
        expr.push_str(&part_expr);
        summary.push_str(&part_summary);
        match op {
            Some((word, after)) => {
                expr.push_str(&format!(" {word} "));
                summary.push_str(&format!(" {word} "));
                rest = after;
                single = Some(false);
            }
            None => {
                let labels = if single.is_none() { part_labels } else { BTreeMap::new() };
                return Ok(Expansion { expr, labels, summary: Some(summary) });
            }
        }
    }
}

/// A part of a compound value, and the operator and rest after it.
struct Part<'a>(&'a str);

/// Splits at the leftmost `_and_`, `_or_` or `_unless_`.
fn split_compound(value: &str) -> (Part<'_>, Option<(&'static str, &str)>) {
    let found = ["and", "or", "unless"]
        .into_iter()
        .filter_map(|word| value.find(&format!("_{word}_")).map(|at| (at, word)))
        .min_by_key(|(at, _)| *at);
    match found {
        Some((at, word)) => (Part(&value[..at]), Some((word, &value[at + word.len() + 2..]))),
        None => (Part(value), None),
    }
}

fn expand_one(
    part: &str,
    service: &str,
    replicas: Option<u64>,
) -> Result<(String, BTreeMap<String, String>, String), ShortcutError> {
    let (name, args) = match part.split_once(':') {
        Some((name, args)) => (name, args.split(',').collect::<Vec<_>>()),
        None => (part, Vec::new()),
    };
    let Some(shortcut) = SHORTCUTS.iter().find(|s| s.name == name) else {
        return Err(if name.starts_with('@') {
            ShortcutError::Unknown(name.to_owned())
        } else {
            ShortcutError::NotAShortcut(part.to_owned())
        });
    };
    if args.len() != shortcut.args.len() {
        let want = match shortcut.args.len() {
            0 => "no arguments".to_owned(),
            1 => "1 argument (v0)".to_owned(),
            n => format!("{n} arguments ({})", (0..n).map(|i| format!("v{i}")).collect::<Vec<_>>().join(",")),
        };
        return Err(ShortcutError::Arguments { name: name.to_owned(), want, got: args.len(), part: part.to_owned() });
    }
    for (i, (arg, kind)) in args.iter().zip(shortcut.args).enumerate() {
        check_arg(arg, *kind).map_err(|what| ShortcutError::Argument {
            name: name.to_owned(),
            index: i,
            arg: (*arg).to_owned(),
            what,
        })?;
    }
    let replicas = if shortcut.expr.contains("{R}") {
        match replicas {
            Some(r) => r.to_string(),
            None => return Err(ShortcutError::NeedsReplicas(name.to_owned())),
        }
    } else {
        String::new()
    };
    let escaped = service.replace('\\', r"\\").replace('"', "\\\"");
    let fill = |text: &str, service: &str| {
        let mut out = text
            .replace("{NODE_MEMORY_BY_INSTANCE}", &NODE_MEMORY.replace("{sum}", "sum by (instance) "))
            .replace("{NODE_MEMORY_TOTAL}", &NODE_MEMORY.replace("{sum}", "sum"))
            .replace("{RESP_TIME}", RESP_TIME)
            .replace("{SERVICE_MEMORY}", SERVICE_MEMORY)
            .replace("{S}", service)
            .replace("{R}", &replicas);
        for (i, arg) in args.iter().enumerate() {
            out = out.replace(&format!("{{v{i}}}"), arg);
        }
        out
    };
    let labels = shortcut.labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Ok((fill(shortcut.expr, &escaped), labels, fill(shortcut.summary, service)))
}

fn check_arg(arg: &str, kind: Arg) -> Result<(), &'static str> {
    let number = || {
        let plain = arg.trim_start_matches(['+', '-']);
        let ok = !arg.is_empty()
            && arg.trim() == arg
            && (plain.eq_ignore_ascii_case("inf")
                || plain.eq_ignore_ascii_case("nan")
                || plain.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
            && arg.parse::<f64>().is_ok();
        if ok { Ok(()) } else { Err("a number") }
    };
    match kind {
        Arg::Threshold => number(),
        Arg::Bucket => {
            if arg == "+Inf" {
                Ok(())
            } else {
                number()
            }
        }
        Arg::Range => match parse_prometheus_duration(arg) {
            Ok(d) if !d.is_zero() => Ok(()),
            _ => Err("a duration like 5m"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "go-demo_main";

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn check(alert_if: &str, replicas: Option<u64>, expr: &str, extra: &[(&str, &str)], summary: &str) {
        let got = expand(alert_if, S, replicas).unwrap_or_else(|e| panic!("{alert_if}: {e}"));
        assert_eq!(got.expr, expr, "{alert_if}");
        assert_eq!(got.labels, labels(extra), "{alert_if}");
        assert_eq!(got.summary.as_deref(), Some(summary), "{alert_if}");
        promql_parser::parser::parse(&got.expr).unwrap_or_else(|e| panic!("{alert_if}: {e}"));
    }

    #[test]
    fn service_memory_shortcuts() {
        check(
            "@service_mem_limit:0.8",
            None,
            r#"container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.8"#,
            &[],
            "Memory of the service go-demo_main is over 0.8",
        );
        check(
            "@service_mem_limit_nobuff:0.9",
            None,
            r#"(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} - container_memory_cache{container_label_com_docker_swarm_service_name="go-demo_main"}) / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.9"#,
            &[],
            "Memory without buffer of the service go-demo_main is over 0.9",
        );
    }

    #[test]
    fn node_shortcuts() {
        check(
            "@node_mem_limit:0.8",
            None,
            r#"(sum by (instance) (node_memory_MemTotal_bytes{job="go-demo_main"}) - sum by (instance) (node_memory_MemFree_bytes{job="go-demo_main"} + node_memory_Buffers_bytes{job="go-demo_main"} + node_memory_Cached_bytes{job="go-demo_main"})) / sum by (instance) (node_memory_MemTotal_bytes{job="go-demo_main"}) > 0.8"#,
            &[],
            "Memory of a node is over 0.8",
        );
        check(
            "@node_mem_limit_total_above:0.8",
            None,
            r#"(sum(node_memory_MemTotal_bytes{job="go-demo_main"}) - sum(node_memory_MemFree_bytes{job="go-demo_main"} + node_memory_Buffers_bytes{job="go-demo_main"} + node_memory_Cached_bytes{job="go-demo_main"})) / sum(node_memory_MemTotal_bytes{job="go-demo_main"}) > 0.8"#,
            &[("scale", "up"), ("type", "node")],
            "Total memory of the nodes is over 0.8",
        );
        check(
            "@node_mem_limit_total_below:0.05",
            None,
            r#"(sum(node_memory_MemTotal_bytes{job="go-demo_main"}) - sum(node_memory_MemFree_bytes{job="go-demo_main"} + node_memory_Buffers_bytes{job="go-demo_main"} + node_memory_Cached_bytes{job="go-demo_main"})) / sum(node_memory_MemTotal_bytes{job="go-demo_main"}) < 0.05"#,
            &[("scale", "down"), ("type", "node")],
            "Total memory of the nodes is below 0.05",
        );
        check(
            "@node_fs_limit:0.7",
            None,
            r#"(node_filesystem_size_bytes{mountpoint="/", job="go-demo_main"} - node_filesystem_free_bytes{mountpoint="/", job="go-demo_main"}) / node_filesystem_size_bytes{mountpoint="/", job="go-demo_main"} > 0.7"#,
            &[],
            "Disk usage of a node is over 0.7",
        );
    }

    #[test]
    fn response_time_shortcuts() {
        check(
            "@resp_time_above:0.1,5m,0.99",
            None,
            r#"sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) < 0.99"#,
            &[("scale", "up"), ("type", "service")],
            "Response time of the service go-demo_main is above 0.1",
        );
        check(
            "@resp_time_below:0.025,5m,0.75",
            None,
            r#"sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.025"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) > 0.75"#,
            &[("scale", "down"), ("type", "service")],
            "Response time of the service go-demo_main is below 0.025",
        );
        check(
            "@resp_time_server_error:5m,0.001",
            None,
            r#"sum(rate(http_server_resp_time_count{job="go-demo_main", code=~"^5..$"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) > 0.001"#,
            &[("type", "errors")],
            "Error rate of the service go-demo_main is above 0.001",
        );
    }

    #[test]
    fn replica_shortcuts() {
        check(
            "@replicas_running",
            Some(3),
            r#"count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}) != 3"#,
            &[("scale", "up"), ("type", "node")],
            "The number of running replicas of the service go-demo_main is not 3",
        );
        check(
            "@replicas_less_than",
            Some(2),
            r#"count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}) < 2"#,
            &[("scale", "up"), ("type", "node")],
            "The number of running replicas of the service go-demo_main is less than 2",
        );
        check(
            "@replicas_more_than",
            Some(4),
            r#"count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}) > 4"#,
            &[("scale", "down"), ("type", "node")],
            "The number of running replicas of the service go-demo_main is more than 4",
        );
    }

    #[test]
    fn compound_shortcuts_join_with_the_operator_and_drop_shortcut_labels() {
        check(
            "@resp_time_below:0.025,5m,0.75_unless_@resp_time_above:0.1,5m,0.99",
            None,
            r#"sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.025"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) > 0.75 unless sum(rate(http_server_resp_time_bucket{job="go-demo_main", le="0.1"}[5m])) / sum(rate(http_server_resp_time_count{job="go-demo_main"}[5m])) < 0.99"#,
            &[],
            "Response time of the service go-demo_main is below 0.025 unless Response time of the service go-demo_main is above 0.1",
        );
        check(
            "@service_mem_limit:0.8_and_@replicas_less_than_or_@node_fs_limit:0.9",
            Some(2),
            r#"container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} / container_spec_memory_limit_bytes{container_label_com_docker_swarm_service_name="go-demo_main"} > 0.8 and count(container_memory_usage_bytes{container_label_com_docker_swarm_service_name="go-demo_main"}) < 2 or (node_filesystem_size_bytes{mountpoint="/", job="go-demo_main"} - node_filesystem_free_bytes{mountpoint="/", job="go-demo_main"}) / node_filesystem_size_bytes{mountpoint="/", job="go-demo_main"} > 0.9"#,
            &[],
            "Memory of the service go-demo_main is over 0.8 and The number of running replicas of the service go-demo_main is less than 2 or Disk usage of a node is over 0.9",
        );
    }

    #[test]
    fn the_leftmost_operator_splits_first() {
        let (first, op) = split_compound("@a_or_@b_and_@c");
        assert_eq!(first.0, "@a");
        assert_eq!(op, Some(("or", "@b_and_@c")));
        let (first, op) = split_compound("@a_unless_@b_or_@c");
        assert_eq!(first.0, "@a");
        assert_eq!(op, Some(("unless", "@b_or_@c")));
    }

    #[test]
    fn plain_expressions_pass_through() {
        let got = expand("up == 0", S, None).unwrap();
        assert_eq!(got, Expansion { expr: "up == 0".to_owned(), labels: BTreeMap::new(), summary: None });
    }

    #[test]
    fn malformed_shortcuts_are_refused() {
        for (alert_if, replicas, message) in [
            ("@foo", None, "unknown shortcut @foo"),
            ("@foo:1", None, "unknown shortcut @foo"),
            ("@service_mem_limit", None, "@service_mem_limit takes 1 argument (v0), got 0"),
            ("@service_mem_limit:0.8,1", None, "@service_mem_limit takes 1 argument (v0), got 2"),
            ("@resp_time_above:0.1,5m", None, "@resp_time_above takes 3 arguments (v0,v1,v2), got 2"),
            ("@replicas_running:3", Some(3), "@replicas_running takes no arguments, got 1"),
            ("@replicas_running", None, "@replicas_running needs the service's desired replicas"),
            ("@service_mem_limit:abc", None, "@service_mem_limit: v0 \"abc\" is not a number"),
            ("@service_mem_limit:", None, "@service_mem_limit: v0 \"\" is not a number"),
            ("@resp_time_above:0.1,5x,0.99", None, "@resp_time_above: v1 \"5x\" is not a duration"),
            ("@resp_time_above:0.1,5m,0.99 or vector(1)", None, "@resp_time_above: v2"),
            ("@service_mem_limit:0.8_and_up", None, "\"up\" after a compound operator is not a @shortcut"),
            ("@service_mem_limit:0.8_or_@bar", None, "unknown shortcut @bar"),
        ] {
            let err = expand(alert_if, S, replicas).unwrap_err().to_string();
            assert!(err.starts_with(message), "{alert_if}: {err}");
        }
    }
}
