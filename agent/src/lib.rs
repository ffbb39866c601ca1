//! The Sonde agent: serves node, container and self metrics on one HTTP
//! listener, evaluates rules over a local window of its own samples
//! ([`evaluator`]), and (in later issues) acts on alerts.
//!
//! Two thin binaries parse flags and call [`run::run_agent`]: `sonde-agent`
//! ([`cli::Cli`]) and [`run::run`]: `sonde-exporter` ([`cli::ExporterCli`],
//! node metrics alone, no rules). The end-to-end tests in `sonde-tests` drive [`server::serve`]
//! in-process; `agent/tests` start the real binaries.
#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod container_args;
pub mod evaluator;
pub mod listen;
pub mod logging;
pub mod node_args;
pub mod render_thread;
pub mod rules_args;
pub mod run;
pub mod self_metrics;
pub mod server;
pub mod signal;
pub mod status_page;
pub mod swarm;
pub mod tools;
pub mod version;
