//! Runs a server binary: the wiring `sonde-agent` and `sonde-exporter`
//! share, so each `main` only parses its flags and calls [`run`] (the
//! exporter) or [`run_with`] (the agent, which adds an [`Addon`]).

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::cli::{ContainerArgs, NodeArgs, ServeArgs};
use crate::container::{self, ContainerConfig, MetadataCache};
use crate::node::{self, ConfigError};
use crate::scrape::ScrapeExecutor;
use crate::server::landing::PageInfo;
use crate::server::{self, AppState, Extension};
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
    /// What the binary adds could not be built (a thread did not start).
    #[error("starting the agent: {0}")]
    Addon(#[source] io::Error),
    /// The thread that renders scrapes could not be started.
    #[error("starting the render thread: {0}")]
    RenderThread(#[source] io::Error),
    /// `--web.config.file` does not load.
    #[error(transparent)]
    WebConfig(#[from] crate::web_config::WebConfigError),
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

/// What a binary adds to the exporter's server: an [`Extension`] (routes
/// and metrics) and the tasks to start once the server state exists
/// (they are aborted at shutdown).
pub struct Addon {
    /// Routes and metrics.
    pub extension: Arc<dyn Extension>,
    /// Starts the background tasks, inside the runtime.
    pub start: Box<dyn FnOnce(Arc<AppState>) -> Vec<JoinHandle<()>> + Send>,
    /// Reloads its configuration (on SIGHUP); blocking, run off the async
    /// workers. An error leaves the old configuration in place.
    pub reload: Option<Reload>,
}

/// What SIGHUP calls.
pub type Reload = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

impl std::fmt::Debug for Addon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Addon").field("extension", &self.extension).finish_non_exhaustive()
    }
}

/// What an [`AddonFactory`] is given.
#[derive(Debug)]
pub struct AddonContext {
    /// The container metadata cache, when the container collector runs.
    pub containers: Option<MetadataCache>,
    /// What the page at `/` says about the program.
    pub page: PageInfo,
    /// Whether the port serves TLS (`--web.config.file`), so that what the
    /// addon tells other agents to call says `https`.
    pub tls: bool,
}

/// Builds the [`Addon`] inside the runtime; an error stops the program.
pub type AddonFactory<'a> = Box<dyn FnOnce(AddonContext) -> io::Result<Addon> + 'a>;

/// Sets up logging, builds the collectors, serves until SIGTERM or SIGINT
/// and returns the process's exit status. `program` names the binary in
/// log lines.
pub fn run(program: &'static str, args: &ServeArgs) -> ExitCode {
    run_with(program, args, None)
}

/// [`run`] with what `addon` builds added to the server.
pub fn run_with(program: &'static str, args: &ServeArgs, addon: Option<AddonFactory<'_>>) -> ExitCode {
    if let Err(err) = logging::init(args.log.level, args.log.format) {
        eprintln!("{program}: {err}");
        return ExitCode::FAILURE;
    }
    match serve(program, args, addon) {
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
    container::register(executor, container::build(config, cache.clone()))?;
    Ok(Some(cache))
}

fn serve(program: &'static str, args: &ServeArgs, addon: Option<AddonFactory<'_>>) -> Result<(), RunError> {
    let web = &args.web;
    // Before anything starts: a port meant to be protected never opens
    // unprotected.
    let security = web.security()?;
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
        let page = PageInfo {
            version: version::VERSION,
            revision: version::REVISION,
            telemetry_path: web.telemetry_path.as_str().to_owned(),
            collectors: executor.collector_names().collect(),
        };
        let addon = match addon {
            Some(build) => {
                let tls = security.current().tls.is_some();
                Some(build(AddonContext { containers: container_cache, page, tls }).map_err(RunError::Addon)?)
            }
            None => None,
        };
        let signals = signal::ShutdownSignals::install();
        let address = &web.listen_address;
        let listener =
            address.bind().await.map_err(|source| RunError::Listen { address: address.to_string(), source })?;
        let config = security.current();
        tracing::info!(tls = config.tls.is_some(), basic_auth = !config.users.is_empty(), "web config");
        let mut state =
            AppState::new(web.server_config(), executor).map_err(RunError::RenderThread)?.with_security(security);
        if let Some(addon) = &addon {
            state = state.with_extension(Arc::clone(&addon.extension));
        }
        let state = Arc::new(state);
        let reload = addon.as_ref().and_then(|addon| addon.reload.clone());
        let mut tasks = addon.map(|addon| (addon.start)(Arc::clone(&state))).unwrap_or_default();
        tasks.extend(signal::on_hangup(reload));
        server::serve(listener, state, async {
            let signal = signals.recv().await;
            tracing::info!(signal, "received signal");
        })
        .await;
        for task in tasks {
            task.abort();
        }
        tracing::info!("{program} stopped");
        Ok(())
    });
    // A collector stuck in a blocking read past the grace period must not
    // keep the process alive: dropping the runtime would wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
