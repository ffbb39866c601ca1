//! Waiting for the signals that stop the agent, and SIGHUP, which reloads
//! what can be reloaded (Prometheus' and node_exporter's users send it
//! expecting that; its default action would kill the process).

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

/// Starts a task that, on every SIGHUP, calls `reload` on a blocking
/// thread and logs how it went (or that there is nothing to reload).
pub(crate) fn on_hangup(reload: Option<crate::run::Reload>) -> Option<tokio::task::JoinHandle<()>> {
    let mut hangup = install(SignalKind::hangup(), "SIGHUP")?;
    Some(tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let Some(reload) = reload.clone() else {
                tracing::info!(signal = "SIGHUP", "received signal; nothing to reload");
                continue;
            };
            tracing::info!(signal = "SIGHUP", "received signal; reloading");
            match tokio::task::spawn_blocking(move || reload()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(err = %err, "reload failed; the previous configuration stays"),
                Err(err) => tracing::error!(err = %err, "reload failed; the previous configuration stays"),
            }
        }
    }))
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
