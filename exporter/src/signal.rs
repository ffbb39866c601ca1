//! Waiting for the signals that stop the agent.

use std::future::pending;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Handlers for SIGINT and SIGTERM.
///
/// Installed before the listener announces itself, so a supervisor that
/// signals as soon as it sees the "listening" line gets a clean shutdown
/// rather than the default action (death by signal).
#[derive(Debug)]
pub(crate) struct ShutdownSignals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl ShutdownSignals {
    /// Installs the handlers. Must be called inside the tokio runtime.
    ///
    /// A handler that cannot be installed is logged and never fires, rather
    /// than stopping the agent at once.
    pub(crate) fn install() -> ShutdownSignals {
        ShutdownSignals {
            interrupt: install(SignalKind::interrupt(), "SIGINT"),
            terminate: install(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Resolves with the signal's name on the first SIGINT or SIGTERM.
    pub(crate) async fn recv(mut self) -> &'static str {
        tokio::select! {
            () = wait(self.interrupt.as_mut()) => "SIGINT",
            () = wait(self.terminate.as_mut()) => "SIGTERM",
        }
    }
}

fn install(kind: SignalKind, name: &'static str) -> Option<Signal> {
    signal(kind).map_err(|err| tracing::warn!(signal = name, err = %err, "cannot listen for signal")).ok()
}

async fn wait(signal: Option<&mut Signal>) {
    if let Some(signal) = signal {
        if signal.recv().await.is_some() {
            return;
        }
    }
    pending::<()>().await;
}
