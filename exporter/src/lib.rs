//! Node and container collectors for Sonde.
//!
//! The node collectors ([`node`]) are a lean node_exporter: the same metric
//! names, types, labels and help texts as node_exporter 1.5.0, read through
//! configurable `procfs` / `sysfs` / `rootfs` roots. Parsing lives apart from
//! collecting: [`procfs`] holds pure parsers of kernel files, the collectors
//! only read files and map the parsed structs to metric families.
//!
//! The container collector ([`container`]) is a lean cAdvisor: cAdvisor's
//! names and labels for the root cgroup and every running Docker container,
//! numbers from cgroup files ([`cgroup`]), names and labels from a cache
//! kept current by Docker's events stream, never from a Docker call made
//! while scraping.
//!
//! Every collector runs in one [`scrape::ScrapeExecutor`], which times it
//! and reports `sonde_scrape_collector_success` and
//! `sonde_scrape_collector_duration_seconds` per collector.
#![deny(missing_docs)]

pub mod cgroup;
pub mod container;
mod kernel_file;
pub mod node;
pub mod procfs;
pub mod scrape;
