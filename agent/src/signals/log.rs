//! The log receiver: one log line per change of an alert's state, and
//! `sonde_alerts_firing` ([`sonde_rules::LogNotifier`] does both).

use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt as _};
use sonde_instrument::{Collector, MetricFamily};
use sonde_rules::{LogNotifier, Notifier as _};

use super::{Batch, ReceiveError, Receiver};

/// Logs and counts alerts; never fails and never waits.
#[derive(Debug, Default)]
pub struct LogReceiver {
    log: Arc<LogNotifier>,
}

impl LogReceiver {
    /// A receiver that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Receiver for LogReceiver {
    fn name(&self) -> &str {
        "log"
    }

    fn receive(&self, alerts: Batch) -> BoxFuture<'_, Result<(), ReceiveError>> {
        self.log.send(&alerts);
        futures_util::future::ready(Ok(())).boxed()
    }

    fn collect(&self, out: &mut Vec<MetricFamily>) {
        self.log.collect(out);
    }
}
