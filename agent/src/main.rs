//! `sonde-agent`: parses flags and wires the library's parts together.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use sonde_agent::check::{self, CheckOutcome};
use sonde_agent::cli::{CheckCommand, CheckMetricsArgs, Cli, Command};
use sonde_agent::registry::Registry;
use sonde_agent::server::{self, AppState};
use sonde_agent::{logging, signal, version};
use sonde_instrument::Format;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check(CheckCommand::Metrics(args))) => check_metrics(&args),
        None => run_agent(&cli),
    }
}

fn check_metrics(args: &CheckMetricsArgs) -> ExitCode {
    let format = if args.openmetrics { Format::OpenMetrics } else { Format::Text };
    let outcome = match check::read_input(args.file.as_deref()) {
        Ok(input) => check::check_metrics(&input, format, &mut std::io::stderr().lock()),
        Err(err) => {
            eprintln!("error while linting: {err}");
            CheckOutcome::Error
        }
    };
    ExitCode::from(outcome.exit_code())
}

fn run_agent(cli: &Cli) -> ExitCode {
    if let Err(err) = logging::init(cli.log.level, cli.log.format) {
        eprintln!("sonde-agent: {err}");
        return ExitCode::FAILURE;
    }
    match agent(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(err = %format!("{err:#}"), "sonde-agent stopped");
            ExitCode::FAILURE
        }
    }
}

fn agent(cli: &Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        tracing::info!(
            version = version::VERSION,
            revision = version::REVISION,
            rustversion = version::RUST_VERSION,
            "starting sonde-agent"
        );
        let signals = signal::ShutdownSignals::install();
        let address = &cli.web.listen_address;
        let listener = address.bind().await.with_context(|| format!("listening on {address}"))?;
        let state = Arc::new(AppState::new(cli.web.server_config(), Registry::new()));
        server::serve(listener, state, async {
            let signal = signals.recv().await;
            tracing::info!(signal, "received signal");
        })
        .await;
        tracing::info!("sonde-agent stopped");
        Ok(())
    });
    // A collector stuck in a blocking read past the grace period must not
    // keep the process alive: dropping the runtime would wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
