//! Command-line flags, named like node_exporter's and Prometheus'.
//!
//! Each subsystem owns one flattened group of flags (`WebArgs`, `LogArgs`,
//! [`NodeArgs`], …); a new subsystem adds its own `#[command(flatten)]`
//! group here rather than growing one struct. [`Cli`] is `sonde-agent`'s
//! command line, [`ExporterCli`] the `sonde-exporter` binary's: the same
//! web, log, collector and path flags, no subcommands and no rule flags
//! ([`RulesArgs`] is the agent's alone).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

pub use crate::container_args::ContainerArgs;
use crate::listen::ListenAddress;
use crate::logging::{LogFormat, LogLevel};
pub use crate::node_args::NodeArgs;
pub use crate::rules_args::RulesArgs;
use crate::server::ServerConfig;

/// `sonde-agent`: with no subcommand, runs the agent.
#[derive(Debug, Parser)]
#[command(
    name = "sonde-agent",
    version = crate::version::VERSION,
    long_version = crate::version::LONG_VERSION,
    about = "Sonde's node agent: serves node, container and self metrics."
)]
pub struct Cli {
    /// The flags of the server.
    #[command(flatten)]
    pub server: ServeArgs,
    /// The rule evaluator's flags.
    #[command(flatten)]
    pub rules: RulesArgs,
    /// A tool to run instead of the agent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `sonde-exporter`: node metrics (and Sonde's own) alone, like
/// node_exporter, with the agent's web, log, collector and path flags.
#[derive(Debug, Parser)]
#[command(
    name = "sonde-exporter",
    version = crate::version::VERSION,
    long_version = crate::version::LONG_VERSION,
    about = "Sonde's node exporter: serves node metrics like node_exporter."
)]
pub struct ExporterCli {
    /// The flags of the server.
    #[command(flatten)]
    pub server: ServeArgs,
}

/// The flags both binaries take to serve metrics.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// HTTP listener flags.
    #[command(flatten)]
    pub web: WebArgs,
    /// Logging flags.
    #[command(flatten)]
    pub log: LogArgs,
    /// Node collector and path flags.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Container collector and Docker flags.
    #[command(flatten)]
    pub container: ContainerArgs,
}

/// `--web.*`: the HTTP listener.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Address to listen on for the web interface and telemetry; `:PORT`
    /// means every interface.
    #[arg(long = "web.listen-address", value_name = "ADDRESS", default_value = ":9097")]
    pub listen_address: ListenAddress,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics")]
    pub telemetry_path: TelemetryPath,
    /// Maximum number of scrapes served at once; 0 means no limit.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40)]
    pub max_requests: usize,
}

impl WebArgs {
    /// The server settings these flags ask for.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            telemetry_path: self.telemetry_path.as_str().to_owned(),
            max_requests: self.max_requests,
            ..ServerConfig::default()
        }
    }
}

/// `--log.*`: what is logged and how.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_name = "LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Logfmt)]
    pub format: LogFormat,
}

/// Tools that run instead of the agent.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check resources for validity.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Print the rule a `com.df.alertIf` label value becomes, as a
    /// Prometheus rule file.
    Expand(ExpandArgs),
    /// Run unit tests.
    #[command(subcommand)]
    Test(TestCommand),
}

/// `sonde-agent test …`.
#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run rule unit tests written for `promtool test rules`, with its verdicts.
    ///
    /// Exit status: 0 every test passes, 1 otherwise.
    Rules(TestRulesArgs),
}

/// `sonde-agent test rules FILE…`.
#[derive(Debug, Clone, Args)]
pub struct TestRulesArgs {
    /// The unit-test files.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// `sonde-agent check …`.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Lint metrics exposition text like `promtool check metrics`.
    ///
    /// Exit status: 0 clean, 1 the input does not parse, 3 lint problems.
    Metrics(CheckMetricsArgs),
    /// Check rule files like `promtool check rules`.
    ///
    /// Exit status: 0 every file is valid, 1 otherwise.
    Rules(CheckRulesArgs),
}

/// `sonde-agent check rules FILE…`.
#[derive(Debug, Clone, Args)]
pub struct CheckRulesArgs {
    /// The rule files to check.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// `sonde-agent expand '<alertIf value>' --service S …`: the values of a
/// service's `com.df.*` labels for one rule.
#[derive(Debug, Clone, Args)]
pub struct ExpandArgs {
    /// The `com.df.alertIf` value: an `@shortcut` (compound ones too) or PromQL.
    #[arg(value_name = "ALERT_IF")]
    pub alert_if: String,
    /// The service's name (`S` in the shortcut table).
    #[arg(long, value_name = "SERVICE")]
    pub service: String,
    /// The service's desired replicas (`R`, needed by `@replicas_*`).
    #[arg(long, value_name = "R")]
    pub replicas: Option<u64>,
    /// The `com.df.alertName` value; the shortcut's name by default.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The `com.df.alertFor` value (`5m`).
    #[arg(long = "for", value_name = "DURATION")]
    pub for_duration: Option<String>,
    /// The `com.df.alertLabels` value (`k=v,k=v`).
    #[arg(long, value_name = "K=V,...")]
    pub labels: Option<String>,
    /// The `com.df.alertAnnotations` value (`k=v,k=v`).
    #[arg(long, value_name = "K=V,...")]
    pub annotations: Option<String>,
}

impl ExpandArgs {
    /// The request these flags make.
    pub fn request(&self) -> sonde_rules::check::ExpandRequest {
        sonde_rules::check::ExpandRequest {
            alert_if: self.alert_if.clone(),
            service: self.service.clone(),
            replicas: self.replicas,
            name: self.name.clone(),
            for_duration: self.for_duration.clone(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// `sonde-agent check metrics [--openmetrics] [FILE|-]`.
#[derive(Debug, Clone, Args)]
pub struct CheckMetricsArgs {
    /// Read the input as OpenMetrics 1.0 instead of Prometheus text 0.0.4.
    #[arg(long)]
    pub openmetrics: bool,
    /// File to read; standard input when absent or `-`.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// A telemetry path: absolute, and clear of the paths the agent serves
/// itself (`/`, `/-/…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryPath(String);

impl TelemetryPath {
    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a telemetry path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid telemetry path {path:?}: {reason}")]
pub struct TelemetryPathError {
    path: String,
    reason: &'static str,
}

impl FromStr for TelemetryPath {
    type Err = TelemetryPathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = |reason| Err(TelemetryPathError { path: s.to_owned(), reason });
        if !s.starts_with('/') {
            return refuse("it must start with /");
        }
        if s == "/" || s.starts_with("/-/") {
            return refuse("/ and /-/… are the agent's own pages");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%')) {
            return refuse("it must be a plain path without spaces, ?, # or % escapes");
        }
        Ok(TelemetryPath(s.to_owned()))
    }
}

impl fmt::Display for TelemetryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
        ExporterCli::command().debug_assert();
    }

    #[test]
    fn both_binaries_share_every_flag_and_only_the_agent_has_subcommands() {
        let longs = |cmd: clap::Command| -> Vec<String> {
            cmd.get_arguments().filter_map(|a| a.get_long().map(str::to_owned)).collect()
        };
        let rule_flags = longs(RulesArgs::augment_args(clap::Command::new("rules")));
        let mut agent = longs(Cli::command());
        agent.retain(|long| !rule_flags.contains(long));
        assert_eq!(agent, longs(ExporterCli::command()));
        assert!(ExporterCli::try_parse_from(["sonde-exporter", "--rules.file", "a.yml"]).is_err());
        assert!(ExporterCli::command().get_subcommands().next().is_none());
        assert!(ExporterCli::try_parse_from(["sonde-exporter", "check", "metrics"]).is_err());
        let cli = ExporterCli::try_parse_from(["sonde-exporter", "--no-collector.cpu"]).unwrap();
        assert!(!cli.server.node.config.enabled.contains("cpu"));
    }

    /// The README's flags table names every flag, the generated
    /// per-collector ones included.
    #[test]
    fn the_readme_lists_every_flag() {
        let readme = include_str!("../../README.md");
        for arg in Cli::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            assert!(readme.contains(&format!("`--{long}`")), "README.md lacks `--{long}`");
        }
    }

    #[test]
    fn defaults_match_the_exporter_conventions() {
        let cli = Cli::try_parse_from(["sonde-agent"]).unwrap();
        assert_eq!(cli.server.web.listen_address, ListenAddress::AllInterfaces(9097));
        assert_eq!(cli.server.web.telemetry_path.as_str(), "/metrics");
        assert_eq!(cli.server.web.max_requests, 40);
        assert_eq!(cli.server.log.level, LogLevel::Info);
        assert_eq!(cli.server.log.format, LogFormat::Logfmt);
        assert_eq!(cli.server.node.config, sonde_exporter::node::NodeConfig::default());
        assert!(cli.command.is_none());
    }

    #[test]
    fn dotted_flags_parse() {
        let cli = Cli::try_parse_from([
            "sonde-agent",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.telemetry-path=/custom",
            "--log.level",
            "debug",
            "--log.format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.server.web.telemetry_path.as_str(), "/custom");
        assert_eq!(cli.server.log.level, LogLevel::Debug);
        assert_eq!(cli.server.log.format, LogFormat::Json);
    }

    #[test]
    fn check_metrics_parses() {
        let cli = Cli::try_parse_from(["sonde-agent", "check", "metrics", "--openmetrics", "-"]).unwrap();
        let Some(Command::Check(CheckCommand::Metrics(args))) = cli.command else {
            panic!("expected check metrics");
        };
        assert!(args.openmetrics);
        assert_eq!(args.file, Some(PathBuf::from("-")));
    }

    #[test]
    fn check_rules_and_expand_parse() {
        let cli = Cli::try_parse_from(["sonde-agent", "check", "rules", "a.yml", "b.yml"]).unwrap();
        let Some(Command::Check(CheckCommand::Rules(args))) = cli.command else {
            panic!("expected check rules");
        };
        assert_eq!(args.files, [PathBuf::from("a.yml"), PathBuf::from("b.yml")]);
        assert!(Cli::try_parse_from(["sonde-agent", "check", "rules"]).is_err());

        let cli = Cli::try_parse_from([
            "sonde-agent",
            "expand",
            "@replicas_running",
            "--service",
            "go-demo_main",
            "--replicas",
            "3",
            "--for",
            "10m",
            "--labels",
            "a=b",
        ])
        .unwrap();
        let Some(Command::Expand(args)) = cli.command else {
            panic!("expected expand");
        };
        let request = args.request();
        assert_eq!(request.alert_if, "@replicas_running");
        assert_eq!(request.service, "go-demo_main");
        assert_eq!(request.replicas, Some(3));
        assert_eq!(request.for_duration.as_deref(), Some("10m"));
        assert_eq!(request.labels.as_deref(), Some("a=b"));
        assert!(Cli::try_parse_from(["sonde-agent", "expand", "@replicas_running"]).is_err());

        let cli = Cli::try_parse_from(["sonde-agent", "test", "rules", "t.yml"]).unwrap();
        let Some(Command::Test(TestCommand::Rules(args))) = cli.command else {
            panic!("expected test rules");
        };
        assert_eq!(args.files, [PathBuf::from("t.yml")]);
        assert!(Cli::try_parse_from(["sonde-agent", "test", "rules"]).is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["sonde-agent", "--log.level", "verbose"][..],
            &["sonde-agent", "--web.listen-address", "9097"],
            &["sonde-agent", "--web.telemetry-path", "metrics"],
            &["sonde-agent", "--web.telemetry-path", "/-/healthy"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} should be refused");
        }
    }
}
