//! Node and container collectors for Sonde.
//!
//! The node collectors (a lean node_exporter) and the container collectors
//! (a lean cAdvisor) arrive with their own issues; this crate already exists
//! so the dependency direction agent → exporter → instrument holds from the
//! start.
#![deny(missing_docs)]
