//! The evaluator's own metrics, named after Prometheus' `prometheus_rule_*`
//! and `prometheus_tsdb_*` ones under `sonde_`.

use sonde_instrument::{Collector, Labels, MetricFamily};

use super::Evaluator;

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
            let mut interval = MetricFamily::gauge(
                "sonde_rule_group_interval_seconds",
                "How often the rule group is evaluated.",
            )
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
                label_errors.push(
                    Labels::new().with("label", err.label.as_str()).with("service", err.service.as_str()),
                    1.0,
                );
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

        let (series, max_series, dropped, bytes, retention) = {
            let store = self.read_store();
            let config = store.config();
            (
                store.series_count(),
                config.max_series,
                store.dropped_series_total(),
                store.approx_bytes(),
                config.retention,
            )
        };
        out.push(
            MetricFamily::gauge("sonde_window_series", "Series in the rule evaluator's window store.")
                .with_sample(Labels::new(), series as f64),
        );
        out.push(
            MetricFamily::gauge("sonde_window_max_series", "The most series the window store holds (--window.max-series).")
                .with_sample(Labels::new(), max_series as f64),
        );
        out.push(
            MetricFamily::counter(
                "sonde_window_dropped_series",
                "Samples refused because they would have created a series beyond --window.max-series.",
            )
            .with_sample(Labels::new(), dropped as f64),
        );
        out.push(
            MetricFamily::gauge("sonde_window_memory_bytes", "Approximate memory held by the window store.")
                .with_unit("bytes")
                .with_sample(Labels::new(), bytes as f64),
        );
        out.push(
            MetricFamily::gauge(
                "sonde_window_retention_seconds",
                "How far back the window store keeps points: the longest range of any rule plus the 5m lookback.",
            )
            .with_unit("seconds")
            .with_sample(Labels::new(), retention.as_secs_f64()),
        );
        self.targets.collect(out);
        self.notifier.collect(out);
    }
}
