//! The Sonde agent: serves node, container and self metrics on one HTTP
//! listener, and (in later issues) evaluates rules and acts on alerts.
//!
//! Two thin binaries parse flags and call [`run::run`]: `sonde-agent`
//! ([`cli::Cli`]) and `sonde-exporter` ([`cli::ExporterCli`], node metrics
//! alone). The end-to-end tests in `sonde-tests` drive [`server::serve`]
//! in-process; `agent/tests` start the real binaries.
#![deny(missing_docs)]

pub mod check;
pub mod container_args;
pub mod cli;
pub mod duration;
pub mod listen;
pub mod logging;
pub mod node_args;
pub mod run;
pub mod self_metrics;
pub mod server;
pub mod signal;
pub mod version;
