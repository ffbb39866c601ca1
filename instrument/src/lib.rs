//! Sonde's exposition core and metrics for Rust services.
//!
//! One model of metrics ([`MetricFamily`], [`Sample`], [`Labels`]) is shared
//! by everything in Sonde: collectors produce it, the [`parse`] module reads
//! scraped text into it, the [`encode`] module writes it as Prometheus text
//! 0.0.4 or OpenMetrics 1.0, and the agent's evaluator reads it.
#![deny(missing_docs)]

pub mod encode;
pub mod format;
pub mod lint;
pub mod metrics;
pub mod model;
pub mod parse;

pub use encode::{EncodeReport, encode};
pub use format::{Format, accepts_gzip, negotiate};
pub use model::{Collector, find_value, Exemplar, Label, Labels, MetricFamily, MetricType, Sample, Suffix};
pub use parse::{ParseError, parse};
