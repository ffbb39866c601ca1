//! `--rules.*`, `--storage.path`, `--window.*` and `--agent.*`: the rule
//! evaluator's flags, named like Prometheus' where Prometheus has one.
//! `sonde-agent` only; the exporter-only binary evaluates nothing.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::duration::parse_prometheus_duration;
use crate::evaluator::{EvaluatorConfig, hostname};

/// The evaluator's flags.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// A Prometheus rule file to evaluate; repeat for more. A file that
    /// does not load is logged and left out; the agent still starts.
    #[arg(long = "rules.file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// How often rule groups are evaluated (a group's own `interval`
    /// wins) and the agent's own samples enter the window.
    #[arg(
        long = "rules.evaluation-interval",
        value_name = "DURATION",
        value_parser = parse_interval,
        default_value = "15s"
    )]
    pub evaluation_interval: Duration,
    /// Directory of the agent's state (the alert state, `alerts.json`).
    #[arg(long = "storage.path", value_name = "PATH", default_value = "data/")]
    pub storage_path: PathBuf,
    /// The most series the window store holds; samples of new series
    /// beyond it are dropped and counted.
    #[arg(long = "window.max-series", value_name = "N", default_value_t = 100_000)]
    pub max_series: usize,
    /// The `job` label of the agent's own series in the window.
    #[arg(long = "agent.job", value_name = "JOB", default_value = "sonde")]
    pub job: String,
    /// The `instance` label of the agent's own series in the window; the
    /// host name by default.
    #[arg(long = "agent.instance", value_name = "INSTANCE")]
    pub instance: Option<String>,
}

/// A Prometheus duration (`15s`, `1m`, `200ms`) that is not zero.
fn parse_interval(text: &str) -> Result<Duration, String> {
    match parse_prometheus_duration(text) {
        Ok(interval) if interval.is_zero() => Err(format!("invalid interval {text:?}: it must be more than zero")),
        Ok(interval) => Ok(interval),
        Err(err) => Err(err.to_string()),
    }
}

impl RulesArgs {
    /// The evaluator settings these flags ask for.
    pub fn evaluator_config(&self) -> EvaluatorConfig {
        EvaluatorConfig {
            rule_files: self.files.clone(),
            evaluation_interval: self.evaluation_interval,
            storage_path: self.storage_path.clone(),
            max_series: self.max_series,
            job: self.job.clone(),
            instance: self.instance.clone().unwrap_or_else(hostname),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::Cli;

    #[test]
    fn defaults_are_prometheus_like() {
        let cli = Cli::try_parse_from(["sonde-agent"]).unwrap();
        let config = cli.rules.evaluator_config();
        assert!(config.rule_files.is_empty());
        assert_eq!(config.evaluation_interval, std::time::Duration::from_secs(15));
        assert_eq!(config.storage_path, std::path::PathBuf::from("data/"));
        assert_eq!(config.max_series, 100_000);
        assert_eq!(config.job, "sonde");
        assert_eq!(config.instance, crate::evaluator::hostname());
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "sonde-agent",
            "--rules.file=a.yml",
            "--rules.file",
            "b.yml",
            "--rules.evaluation-interval=200ms",
            "--storage.path=/var/lib/sonde",
            "--window.max-series=10",
            "--agent.job=sonde-agent",
            "--agent.instance=node-1",
        ])
        .unwrap();
        let config = cli.rules.evaluator_config();
        assert_eq!(config.rule_files, [std::path::PathBuf::from("a.yml"), "b.yml".into()]);
        assert_eq!(config.evaluation_interval, std::time::Duration::from_millis(200));
        assert_eq!(config.storage_path, std::path::PathBuf::from("/var/lib/sonde"));
        assert_eq!(config.max_series, 10);
        assert_eq!((config.job.as_str(), config.instance.as_str()), ("sonde-agent", "node-1"));
    }

    #[test]
    fn a_zero_or_bad_interval_is_refused() {
        for value in ["0s", "0", "soon", "-1m"] {
            let arg = format!("--rules.evaluation-interval={value}");
            assert!(Cli::try_parse_from(["sonde-agent", arg.as_str()]).is_err(), "{value}");
        }
    }
}
