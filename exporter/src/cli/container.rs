//! `--collector.container`, `--container.*` and `--docker.*`: the
//! container collector and the Docker connection behind its metadata.

use std::time::Duration;

use crate::container::DEFAULT_LABEL_ALLOWLIST;
use crate::container::LabelAllowlist;
use crate::container::docker::DockerConfig;
use clap::Args;

use sonde_instrument::duration::parse_go_duration;

/// The container collector's flags.
#[derive(Debug, Clone, Args)]
pub struct ContainerArgs {
    /// Enable the container collector (default: enabled, unless
    /// `--collector.disable-defaults`).
    #[arg(long = "collector.container", overrides_with = "no_container")]
    container: bool,
    /// Disable the container collector.
    #[arg(long = "no-collector.container", overrides_with = "container")]
    no_container: bool,
    /// Docker labels copied to series as `container_label_<key>`,
    /// comma-separated; `prefix*` admits every key with that prefix.
    #[arg(
        long = "container.labels",
        value_name = "KEYS",
        value_delimiter = ',',
        default_value = DEFAULT_LABEL_ALLOWLIST.join(",")
    )]
    pub labels: Vec<String>,
    /// The Docker Engine API address (`unix:///path` or `tcp://host:port`).
    #[arg(
        long = "docker.host",
        value_name = "URL",
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,
    /// Deadline of each Docker API call.
    #[arg(
        long = "docker.timeout",
        value_name = "DURATION",
        value_parser = parse_go_duration,
        default_value = "5s"
    )]
    pub docker_timeout: Duration,
}

impl ContainerArgs {
    /// Whether the container collector runs; like a node collector, it
    /// is on by default and `--collector.disable-defaults` turns it off
    /// unless it is named.
    pub fn enabled(&self, defaults_disabled: bool) -> bool {
        match (self.container, self.no_container) {
            (true, _) => true,
            (_, true) => false,
            _ => !defaults_disabled,
        }
    }

    /// The label allowlist these flags ask for.
    pub fn allowlist(&self) -> LabelAllowlist {
        LabelAllowlist::new(self.labels.iter().map(String::as_str))
    }

    /// The Docker connection these flags ask for.
    pub fn docker(&self) -> DockerConfig {
        DockerConfig { host: self.docker_host.clone(), timeout: self.docker_timeout }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        container: ContainerArgs,
    }

    fn parse(args: &[&str]) -> ContainerArgs {
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().container
    }

    #[test]
    fn defaults() {
        let args = parse(&[]);
        assert!(args.enabled(false));
        assert!(!args.enabled(true));
        assert_eq!(args.allowlist(), LabelAllowlist::default());
        assert_eq!(args.docker_timeout, Duration::from_secs(5));
    }

    #[test]
    fn the_last_toggle_wins_and_lists_split_on_commas() {
        assert!(!parse(&["--no-collector.container"]).enabled(false));
        assert!(parse(&["--no-collector.container", "--collector.container"]).enabled(true));
        assert!(!parse(&["--collector.container", "--no-collector.container"]).enabled(false));
        let args = parse(&["--container.labels=team,app.*", "--docker.timeout=250ms"]);
        assert!(args.allowlist().admits("app.tier"));
        assert!(!args.allowlist().admits("com.df.x"));
        assert_eq!(args.docker_timeout, Duration::from_millis(250));
    }
}
