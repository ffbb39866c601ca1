//! Node and container collectors for Sonde.
//!
//! The node collectors ([`node`]) are a lean node_exporter: the same metric
//! names, types, labels and help texts as node_exporter 1.5.0, read through
//! configurable `procfs` / `sysfs` / `rootfs` roots. Parsing lives apart from
//! collecting: [`procfs`] holds pure parsers of kernel files, the collectors
//! only read files and map the parsed structs to metric families.
//!
//! Every collector runs in one [`scrape::ScrapeExecutor`], which times it
//! and reports `sonde_scrape_collector_success` and
//! `sonde_scrape_collector_duration_seconds` per collector.
#![deny(missing_docs)]

pub mod cgroup;
pub mod node;
pub mod procfs;
pub mod scrape;
