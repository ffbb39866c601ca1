//! The signals path as the `--signals.*` flags configure it, wired once at
//! start: the routes and the receivers they name, the scaler (a receiver
//! of the dispatcher that also sends through it), the dispatcher and the
//! intake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sonde_exporter::container::docker::DockerConfig;

use super::receivers::{HttpOptions, ReceiverConfig, SlackConfig, WebhookConfig};
use super::route::{self, RouteTable, RoutesFile};
use super::scaler::{Scaler, ScalerConfig};
use super::service_api::DockerServices;
use super::{AlertQueue, Dispatcher, Intake, LateQueue, LogReceiver, Managers, Receiver, ScaleReceiver, SignalsApi};
use crate::cli::SignalsArgs;
use crate::swarm::Role;

/// The running signals path.
pub struct Signals {
    /// Where evaluation sends its due alerts.
    pub queue: Arc<AlertQueue>,
    /// Fans the alerts out; the [`sonde_instrument::Collector`] of its queues.
    pub dispatcher: Arc<Dispatcher>,
    /// What the HTTP routes ask of the signals.
    pub api: Arc<SignalsApi>,
    /// Kept across reloads, so that the scaler keeps its queue.
    scale_receiver: Arc<dyn Receiver>,
    routes_file: Option<PathBuf>,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("dispatcher", &self.dispatcher)
            .field("routes_file", &self.routes_file)
            .finish_non_exhaustive()
    }
}

impl Signals {
    /// Loads the routes and receivers `args` name and starts the
    /// dispatcher on the current tokio runtime. `role` says, at each
    /// alert, whether this node scales (a manager) or forwards to
    /// `managers` (a worker). Fails on a file that does not load or a
    /// Docker address that does not parse.
    pub fn start(
        args: &SignalsArgs,
        docker: &DockerConfig,
        managers: Managers,
        role: impl Fn() -> Role + Clone + Send + Sync + 'static,
    ) -> Result<Signals, String> {
        let token = args.token().map_err(|err| format!("--signals.token-file: {err}"))?;
        let routes_file = args.routes_file.clone();
        let (table, configured) = match &routes_file {
            Some(path) => load_routes(path)?,
            None => spec_routes(args)?,
        };
        // The scaler reports to people through the dispatcher it is a
        // receiver of: its queue is known once the dispatcher started.
        let outcomes = Arc::new(LateQueue::default());
        let scaler = Arc::new(Scaler::new(
            Arc::new(DockerServices::new(docker)?),
            ScalerConfig { cooldown: args.cooldown, dry_run: args.dry_run },
            Arc::clone(&outcomes) as _,
        ));
        let scale_receiver: Arc<dyn Receiver> = Arc::new(ScaleReceiver::new(
            Arc::clone(&scaler),
            role.clone(),
            managers,
            args.token_file.clone(),
            args.manager_ca_file.clone(),
        ));
        let routed = std::iter::once(Arc::clone(&scale_receiver)).chain(configured).collect();
        let (queue, dispatcher) = Dispatcher::start_routed(vec![Arc::new(LogReceiver::new())], Arc::new(table), routed);
        outcomes.set(queue.clone());
        let queue = Arc::new(queue);
        let intake = Intake::new(token, role, Arc::clone(&queue) as _);
        let api = Arc::new(SignalsApi::new(intake, scaler));
        Ok(Signals { queue, dispatcher, api, scale_receiver, routes_file })
    }

    /// Loads `--signals.routes-file` again and routes by it from now on;
    /// the routes in force stay when it does not load. Without the flag
    /// there is nothing to reload.
    pub fn reload_routes(&self) -> Result<(), String> {
        let Some(path) = &self.routes_file else {
            return Ok(());
        };
        let (table, configured) = load_routes(path)?;
        let routed = std::iter::once(Arc::clone(&self.scale_receiver)).chain(configured).collect();
        self.dispatcher.replace_routes(Arc::new(table), routed);
        tracing::info!("routes reloaded");
        Ok(())
    }
}

/// Where a worker's scaler sends scale alerts: `--signals.manager-url`, or
/// every agent of the job (`tasks.<job>`) on this agent's port, over https
/// when the port has TLS (every agent of a stack serves the same web
/// config).
pub fn managers(args: &SignalsArgs, job: &str, port: u16, tls: bool) -> Managers {
    match args.manager_urls.as_slice() {
        [] => Managers::Dns { scheme: if tls { "https" } else { "http" }, host: format!("tasks.{job}"), port },
        urls => Managers::Urls(urls.to_vec()),
    }
}

/// SPEC's routes, to the receivers `--signals.slack-url-file` and
/// `--signals.node-hook-url-file` configure.
fn spec_routes(args: &SignalsArgs) -> Result<(RouteTable, Vec<Arc<dyn Receiver>>), String> {
    let mut receivers = Vec::new();
    let mut build = |name: &str, config: ReceiverConfig| -> Result<String, String> {
        receivers.push(config.build(name, Path::new(".")).map_err(|err| err.to_string())?);
        Ok(name.to_owned())
    };
    let http = |file: &PathBuf| HttpOptions { url_file: Some(file.clone()), ..HttpOptions::default() };
    let node_hook = match &args.node_hook_url_file {
        Some(file) => {
            Some(build("node-hook", ReceiverConfig::Webhook(WebhookConfig { http: http(file), ..Default::default() }))?)
        }
        None => None,
    };
    let humans = match &args.slack_url_file {
        Some(file) => {
            Some(build("humans", ReceiverConfig::Slack(SlackConfig { http: http(file), ..Default::default() }))?)
        }
        None => None,
    };
    Ok((RouteTable::spec(node_hook.as_deref(), humans.as_deref()), receivers))
}

/// The routes of a routes file and the receivers it configures, paths in
/// it relative to the file.
fn load_routes(path: &Path) -> Result<(RouteTable, Vec<Arc<dyn Receiver>>), String> {
    let file = RoutesFile::load(path, &[route::SCALER]).map_err(|err| err.to_string())?;
    let base = path.parent().unwrap_or(Path::new("."));
    let receivers = file
        .receivers
        .iter()
        .map(|receiver| receiver.build(base).map_err(|err| format!("{}: {err}", path.display())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((file.table, receivers))
}
