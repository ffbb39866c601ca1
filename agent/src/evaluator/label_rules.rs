//! Rules from `com.df.alert*` labels (SPEC §3), one group per service: the
//! labels of the containers running on this node (node rules), and on the
//! Swarm leader those of the services (cluster rules).
//!
//! For containers, the service is the container's
//! `com.docker.swarm.service.name`; a container without it (not a Swarm
//! task) has no rules. Several tasks of a service normally carry the same
//! labels; during a rolling update the newest task's labels win. A
//! container does not say the service's desired replicas (`R`), so
//! shortcuts that need it (`@replicas_*`) are rejected there with a
//! [`LabelError`] saying so; on the leader, service labels have it.

use std::collections::BTreeMap;
use std::sync::Arc;

use sonde_exporter::container::CachedContainer;
use sonde_exporter::container::metadata::SERVICE_NAME_LABEL;

use sonde_rules::{AlertRule, LabelError, rules_from_labels};

/// The labels rules are built from: `com.df.alertName`, `alertIf`, …
const ALERT_LABEL_PREFIX: &str = "com.df.alert";

/// The `com.df.alert*` labels of each service with a container here, from
/// the newest container of the service.
pub fn services(containers: &[Arc<CachedContainer>]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut newest: BTreeMap<&str, &CachedContainer> = BTreeMap::new();
    for container in containers {
        let Some(service) = service_of(container) else { continue };
        if !container.rule_labels.iter().any(|(k, _)| k.starts_with(ALERT_LABEL_PREFIX)) {
            continue;
        }
        let started = container.started_at.unwrap_or(f64::MIN);
        match newest.get(service) {
            Some(other) if other.started_at.unwrap_or(f64::MIN) >= started => {}
            _ => {
                newest.insert(service, container);
            }
        }
    }
    newest
        .into_iter()
        .map(|(service, container)| {
            let labels =
                container.rule_labels.iter().filter(|(k, _)| k.starts_with(ALERT_LABEL_PREFIX)).cloned().collect();
            (service.to_owned(), labels)
        })
        .collect()
}

fn service_of(container: &CachedContainer) -> Option<&str> {
    container
        .rule_labels
        .iter()
        .find(|(k, _)| k == SERVICE_NAME_LABEL)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The `com.df.alert*` labels among a service's labels.
pub fn alert_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels.iter().filter(|(k, _)| k.starts_with(ALERT_LABEL_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The rules one service's labels describe, and the labels rejected.
/// `replicas` is the service's desired replicas when known.
pub fn build(
    service: &str,
    replicas: Option<u64>,
    labels: &BTreeMap<String, String>,
) -> (Vec<AlertRule>, Vec<LabelError>) {
    rules_from_labels(service, replicas, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, started_at: f64, labels: &[(&str, &str)]) -> Arc<CachedContainer> {
        let mut rule_labels: Vec<(String, String)> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        rule_labels.sort();
        Arc::new(CachedContainer {
            id: id.to_owned(),
            labels: Vec::new(),
            rule_labels,
            pid: 0,
            started_at: Some(started_at),
            addresses: Vec::new(),
        })
    }

    #[test]
    fn one_entry_per_service_from_its_newest_task() {
        let containers = [
            container(
                "a",
                10.0,
                &[(SERVICE_NAME_LABEL, "go-demo_main"), ("com.df.alertName", "old"), ("com.df.alertIf", "up == 0")],
            ),
            container(
                "b",
                20.0,
                &[
                    (SERVICE_NAME_LABEL, "go-demo_main"),
                    ("com.df.alertName", "new"),
                    ("com.df.alertIf", "up == 0"),
                    ("com.df.scrapePort", "8080"),
                ],
            ),
            container("c", 5.0, &[("com.df.alertName", "x"), ("com.df.alertIf", "up == 0")]),
            container("d", 5.0, &[(SERVICE_NAME_LABEL, "plain"), ("com.df.scrapePort", "8080")]),
        ];
        let services = services(&containers);
        assert_eq!(services.len(), 1, "{services:?}");
        let labels = &services["go-demo_main"];
        assert_eq!(labels.get("com.df.alertName").map(String::as_str), Some("new"));
        assert!(!labels.contains_key("com.df.scrapePort"));
    }

    #[test]
    fn replicas_shortcuts_are_rejected_without_r() {
        let labels: BTreeMap<String, String> = [
            ("com.df.alertName.1", "mem_limit"),
            ("com.df.alertIf.1", "@service_mem_limit:0.8"),
            ("com.df.alertName.5", "replicas"),
            ("com.df.alertIf.5", "@replicas_running"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (rules, errors) = build("go-demo_main", None, &labels);
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].name, "godemo_main_mem_limit");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].label, "com.df.alertIf.5");
        assert!(errors[0].message.contains("replicas"), "{}", errors[0].message);
    }
}
