//! The Sonde agent: the exporter's server (node, container and self
//! metrics) with the rule evaluator added: it evaluates rules over local
//! windows of samples ([`evaluator`]), answers the Prometheus-shaped API
//! ([`server`], over [`views`]) and (in later issues) acts on alerts.
//!
//! The binary is thin: [`run::agent_main`] parses [`cli::Cli`] and either
//! runs a tool ([`tools`]) or the agent, through
//! `sonde_exporter::run::run_with`. The engine is in library crates of
//! its own: `sonde-promql` (window store and PromQL) and `sonde-rules`
//! (rule files, labels, alert states).
#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod evaluator;
pub mod rules_args;
pub mod run;
pub mod server;
pub mod signals;
pub mod status_page;
pub mod swarm;
pub mod tools;
pub mod views;
