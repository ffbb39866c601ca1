//! Runs a server binary: the wiring `sonde-agent` and `sonde-exporter`
//! share, so each `main` only parses its flags and calls [`run`].

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sonde_exporter::container::{self, ContainerConfig, MetadataCache};
use sonde_exporter::node::{self, ConfigError};
use sonde_exporter::scrape::ScrapeExecutor;

use crate::cli::{ContainerArgs, NodeArgs, RulesArgs, ServeArgs};
use crate::evaluator::{self, Evaluator};
use crate::server::{self, AppState};
use crate::{logging, signal, version};

/// Why a server could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The collector flags describe collectors that cannot be built.
    #[error("building the node collectors: {0}")]
    Collectors(#[from] ConfigError),
    /// The async runtime did not start.
    #[error("starting the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The thread that renders scrapes could not be started.
    #[error("starting the render thread: {0}")]
    RenderThread(#[source] io::Error),
    /// The listener could not be bound.
    #[error("listening on {address}: {source}")]
    Listen {
        /// The address from `--web.listen-address`.
        address: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// `sonde-agent`'s whole program: parses the command line and runs the
/// agent or the tool it names. A function of the library so that the test
/// suite can put the very same program into a container image.
pub fn agent_main() -> ExitCode {
    use clap::Parser as _;

    use crate::cli::{CheckCommand, Cli, Command, TestCommand};
    use crate::tools;

    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Check(CheckCommand::Metrics(args))) => tools::run_check_metrics(args),
        Some(Command::Check(CheckCommand::Rules(args))) => tools::run_check_rules(args),
        Some(Command::Expand(args)) => tools::run_expand(args),
        Some(Command::Test(TestCommand::Rules(args))) => tools::run_test_rules(args),
        None => run_agent("sonde-agent", &cli.server, &cli.rules),
    }
}

/// Sets up logging, builds the node collectors, serves until SIGTERM or
/// SIGINT and returns the process's exit status. `program` names the
/// binary in log lines.
pub fn run(program: &'static str, args: &ServeArgs) -> ExitCode {
    run_with(program, args, None)
}

/// [`run`] with the rule evaluator: the agent's own samples feed the
/// window store, rule groups are evaluated and the `/api/v1/…` endpoints
/// answer.
pub fn run_agent(program: &'static str, args: &ServeArgs, rules: &RulesArgs) -> ExitCode {
    run_with(program, args, Some(rules))
}

fn run_with(program: &'static str, args: &ServeArgs, rules: Option<&RulesArgs>) -> ExitCode {
    if let Err(err) = logging::init(args.log.level, args.log.format) {
        eprintln!("{program}: {err}");
        return ExitCode::FAILURE;
    }
    match serve(program, args, rules) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(err = %err, "{program} stopped");
            ExitCode::FAILURE
        }
    }
}

/// Registers the container collector when enabled; returns the cache the
/// Docker watcher must fill.
fn register_container(
    executor: &mut ScrapeExecutor,
    node: &NodeArgs,
    args: &ContainerArgs,
) -> Result<Option<MetadataCache>, ConfigError> {
    if !args.enabled(node.defaults_disabled) {
        return Ok(None);
    }
    let cache = MetadataCache::new(args.allowlist());
    let config = ContainerConfig::from_roots(&node.config.procfs, &node.config.sysfs);
    executor.register("container", container::build(config, cache.clone()))?;
    Ok(Some(cache))
}

fn serve(program: &'static str, args: &ServeArgs, rules: Option<&RulesArgs>) -> Result<(), RunError> {
    let web = &args.web;
    let mut executor = node::executor(&args.node.config)?;
    let container_cache = register_container(&mut executor, &args.node, &args.container)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(RunError::Runtime)?;
    let result = runtime.block_on(async {
        tracing::info!(
            version = version::VERSION,
            revision = version::REVISION,
            rustversion = version::RUST_VERSION,
            "starting {program}"
        );
        tracing::info!(collectors = %executor.collector_names().collect::<Vec<_>>().join(","), "enabled collectors");
        if let Some(cache) = &container_cache {
            container::docker::spawn_watcher(args.container.docker(), cache.clone());
        }
        let evaluator = rules.map(|rules| Arc::new(Evaluator::new(rules.evaluator_config(args), container_cache)));
        let signals = signal::ShutdownSignals::install();
        let address = &web.listen_address;
        let listener =
            address.bind().await.map_err(|source| RunError::Listen { address: address.to_string(), source })?;
        let mut state = AppState::new(web.server_config(), executor).map_err(RunError::RenderThread)?;
        if let Some(evaluator) = &evaluator {
            state = state.with_evaluator(Arc::clone(evaluator));
        }
        let state = Arc::new(state);
        let evaluation = evaluator.map(|evaluator| tokio::spawn(evaluator::run(evaluator, Arc::clone(&state))));
        server::serve(listener, state, async {
            let signal = signals.recv().await;
            tracing::info!(signal, "received signal");
        })
        .await;
        if let Some(evaluation) = evaluation {
            evaluation.abort();
        }
        tracing::info!("{program} stopped");
        Ok(())
    });
    // A collector stuck in a blocking read past the grace period must not
    // keep the process alive: dropping the runtime would wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
