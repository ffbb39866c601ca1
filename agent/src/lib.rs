//! The Sonde agent: serves node, container and self metrics on one HTTP
//! listener, and (in later issues) evaluates rules and acts on alerts.
//!
//! `main.rs` only parses flags and wires these modules together; the
//! end-to-end tests in `sonde-tests` drive [`server::serve`] in-process.
#![deny(missing_docs)]

pub mod check;
pub mod cli;
pub mod listen;
pub mod logging;
pub mod registry;
pub mod self_metrics;
pub mod server;
pub mod signal;
pub mod version;
