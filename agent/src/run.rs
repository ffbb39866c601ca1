//! `sonde-agent`'s program: parses the command line and runs the agent
//! (the exporter's server with the evaluator added) or the tool it names.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use sonde_exporter::run::{Addon, AddonFactory, Reload, run_with};
use sonde_instrument::{Collector, MetricFamily};

use crate::cli::{CheckCommand, Cli, Command, TestCommand};
use crate::evaluator::{self, Evaluator, EvaluatorConfig};
use crate::server::AgentRoutes;
use crate::signals::{self, setup::Signals};
use crate::swarm::Role;
use crate::tools;
use crate::views::Views;

/// `sonde-agent`'s whole program. A function of the library so that the
/// test suite can put the very same program into a container image.
pub fn agent_main() -> ExitCode {
    use clap::Parser as _;

    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Check(CheckCommand::Metrics(args))) => tools::run_check_metrics(args),
        Some(Command::Check(CheckCommand::Rules(args))) => tools::run_check_rules(args),
        Some(Command::Expand(args)) => tools::run_expand(args),
        Some(Command::Test(TestCommand::Rules(args))) => tools::run_test_rules(args),
        None => {
            let config =
                EvaluatorConfig { max_samples: cli.query.max_samples, ..cli.rules.evaluator_config(&cli.server) };
            let limits = cli.query.limits();
            let lifecycle = cli.query.enable_lifecycle;
            let (signal_args, docker) = (&cli.signals, cli.server.container.docker());
            let (job, port) = (&cli.rules.job, cli.server.web.listen_address.port());
            let addon: AddonFactory<'_> = Box::new(move |context| {
                let invalid = |err: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, err);
                // The signals learn the node's role from the evaluator,
                // which sends to the signals' queue: a slot set below.
                let evaluator_slot: Arc<OnceLock<Arc<Evaluator>>> = Arc::default();
                let role = {
                    let slot = Arc::clone(&evaluator_slot);
                    move || slot.get().map_or(Role::Standalone, |evaluator| evaluator.role())
                };
                let managers = signals::setup::managers(signal_args, job, port, context.tls);
                let signals = Arc::new(Signals::start(signal_args, &docker, managers, role).map_err(invalid)?);
                let evaluator = Arc::new(Evaluator::new(config, context.containers, Arc::clone(&signals.queue) as _));
                let _ = evaluator_slot.set(Arc::clone(&evaluator));
                let metrics = Arc::new(Collectors(vec![evaluator.clone(), signals.dispatcher.clone()]));
                let mut routes = AgentRoutes::new(Views::of(Arc::clone(&evaluator)), metrics, context.page)?
                    .with_limits(limits)
                    .with_signals(Arc::clone(&signals.api));
                // SIGHUP and /-/reload: the rule files and the routes file,
                // each keeping what it had when its file does not load.
                let reloading = Arc::clone(&evaluator);
                let reload: Reload = Arc::new(move || match (reloading.reload(), signals.reload_routes()) {
                    (Ok(()), Ok(())) => Ok(()),
                    (Err(err), Ok(())) | (Ok(()), Err(err)) => Err(err),
                    (Err(rules), Err(routes)) => Err(format!("{rules}; {routes}")),
                });
                if lifecycle {
                    routes = routes.with_reload(Arc::clone(&reload));
                }
                Ok(Addon {
                    extension: Arc::new(routes),
                    start: Box::new(move |state| vec![tokio::spawn(evaluator::run(evaluator, state))]),
                    reload: Some(reload),
                })
            });
            run_with("sonde-agent", &cli.server, Some(addon))
        }
    }
}

/// Several collectors as one: the agent's metrics are the evaluator's and
/// the dispatcher's.
struct Collectors(Vec<Arc<dyn Collector + Send + Sync>>);

impl Collector for Collectors {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        for collector in &self.0 {
            collector.collect(out);
        }
    }
}
