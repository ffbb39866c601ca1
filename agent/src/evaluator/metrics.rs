//! The evaluator's own metrics, named after Prometheus' `prometheus_rule_*`
//! and `prometheus_tsdb_*` ones under `sonde_`.

use sonde_instrument::{Collector, Labels, MetricFamily};

use super::{Evaluator, Window};
use crate::swarm::Role;

impl Collector for Evaluator {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        {
            let rules = self.lock_rules();
            let mut evaluations = MetricFamily::counter("sonde_rule_evaluations", "Rule evaluations, per rule group.");
            let mut failures = MetricFamily::counter(
                "sonde_rule_evaluation_failures",
                "Rule evaluations that failed, per rule group.",
            );
            let mut duration = MetricFamily::gauge(
                "sonde_rule_group_last_duration_seconds",
                "How long the last evaluation of the rule group took.",
            )
            .with_unit("seconds");
            let mut last = MetricFamily::gauge(
                "sonde_rule_group_last_evaluation_timestamp_seconds",
                "When the rule group was last evaluated, in seconds since the Unix epoch.",
            )
            .with_unit("seconds");
            let mut interval =
                MetricFamily::gauge("sonde_rule_group_interval_seconds", "How often the rule group is evaluated.")
                    .with_unit("seconds");
            let mut count = MetricFamily::gauge("sonde_rule_group_rules", "Rules in the rule group.");
            for scheduled in &rules.groups {
                let labels = Labels::new().with("rule_group", scheduled.key.as_str());
                evaluations.push(labels.clone(), scheduled.evaluations as f64);
                failures.push(labels.clone(), scheduled.failures as f64);
                let (at_ms, took) = scheduled.group.last_eval().unwrap_or_default();
                duration.push(labels.clone(), took.as_secs_f64());
                last.push(labels.clone(), at_ms as f64 / 1000.0);
                interval.push(labels.clone(), scheduled.group.interval().as_secs_f64());
                count.push(labels, scheduled.group.rules().len() as f64);
            }
            // Like client_golang's vectors, a family without series is left out.
            let per_group = [evaluations, failures, duration, last, interval, count];
            out.extend(per_group.into_iter().filter(|f| !f.samples.is_empty()));

            let mut label_errors = MetricFamily::gauge(
                "sonde_rule_label_errors",
                "Service labels that rejected a rule from com.df.* labels (1 per label).",
            );
            for err in rules.label_errors.values().flatten() {
                label_errors
                    .push(Labels::new().with("label", err.label.as_str()).with("service", err.service.as_str()), 1.0);
            }
            if !label_errors.samples.is_empty() {
                out.push(label_errors);
            }
            out.push(
                MetricFamily::counter(
                    "sonde_rule_state_save_failures",
                    "Times the alert state could not be saved under --storage.path.",
                )
                .with_sample(Labels::new(), rules.save_failures as f64),
            );
        }

        let mut file_errors = MetricFamily::gauge(
            "sonde_rule_file_errors",
            "Errors in a --rules.file; a file with errors is not evaluated.",
        );
        for (file, errors) in &self.file_errors {
            file_errors.push(Labels::new().with("file", file.as_str()), *errors as f64);
        }
        if !file_errors.samples.is_empty() {
            out.push(file_errors);
        }

        let mut series = MetricFamily::gauge("sonde_window_series", "Series in a window of the rule evaluator.");
        let mut max_series =
            MetricFamily::gauge("sonde_window_max_series", "The most series a window holds (--window.max-series).");
        let mut dropped = MetricFamily::counter(
            "sonde_window_dropped_series",
            "Samples refused because they would have created a series beyond --window.max-series.",
        );
        let mut bytes =
            MetricFamily::gauge("sonde_window_memory_bytes", "Approximate memory held by a window.").with_unit("bytes");
        let mut retention = MetricFamily::gauge(
            "sonde_window_retention_seconds",
            "How far back a window keeps points: the longest range of any rule plus the 5m lookback.",
        )
        .with_unit("seconds");
        // The cluster window exists on the Swarm leader only.
        let windows: &[Window] =
            if self.role() == Role::Leader { &[Window::Cluster, Window::Node] } else { &[Window::Node] };
        for &window in windows {
            let store = self.read_window(window);
            let config = store.config();
            let labels = Labels::new().with("window", window.as_str());
            series.push(labels.clone(), store.series_count() as f64);
            max_series.push(labels.clone(), config.max_series as f64);
            dropped.push(labels.clone(), store.dropped_series_total() as f64);
            bytes.push(labels.clone(), store.approx_bytes() as f64);
            retention.push(labels, config.retention.as_secs_f64());
        }
        out.extend([series, max_series, dropped, bytes, retention]);
        if self.swarm.is_some() {
            let role = self.role();
            let mut roles = MetricFamily::gauge(
                "sonde_swarm_role",
                "This node's Swarm role as the agent last saw it (1 for the current one); the leader evaluates the cluster rules.",
            );
            for candidate in [Role::Standalone, Role::Worker, Role::Manager, Role::Leader] {
                roles.push(Labels::new().with("role", candidate.as_str()), f64::from(u8::from(candidate == role)));
            }
            out.push(roles);
            out.push(
                MetricFamily::counter(
                    "sonde_swarm_observe_failures",
                    "Times the Docker engine did not say this node's Swarm role; the last one is kept.",
                )
                .with_sample(Labels::new(), self.swarm_failures.load(std::sync::atomic::Ordering::Relaxed) as f64),
            );
        }
        self.targets.collect(out);
    }
}
