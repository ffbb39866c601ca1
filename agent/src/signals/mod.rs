//! Where due alerts go once evaluation has decided them, as Prometheus'
//! notifier does it: evaluation hands them to an [`AlertQueue`] (a
//! [`Notifier`] that only enqueues, never waits) and returns; a
//! [`Dispatcher`] task takes them off that queue and fans them out to
//! every [`Receiver`], each with its own bounded queue, task, timeout and
//! counters. A receiver that hangs or fails costs its own queue only: its
//! alerts are dropped and counted once its queue is full, and neither
//! scrapes, queries, evaluation nor the other receivers wait for it.
//!
//! Today the receiver is the log ([`LogReceiver`]); the signals issue adds
//! the scaler, webhooks and Alertmanager.
//!
//! Metrics (`queue` is `dispatch` for the evaluation's queue, else the
//! receiver's name): `sonde_notifications_queue_length{queue}`,
//! `sonde_notifications_queue_capacity{queue}`,
//! `sonde_notifications_dropped_total{queue}` (alerts), and per receiver
//! `sonde_notifications_sent_total{receiver}` (alerts delivered) and
//! `sonde_notifications_errors_total{receiver}` (batches failed or timed out).

pub mod alertmanager_api;
mod forward;
pub mod intake;
mod log;
pub mod receivers;
pub mod route;
pub mod scaler;
pub mod service_api;
pub mod setup;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use sonde_instrument::{Collector, Labels, MetricFamily};
use sonde_rules::{Alert, Notifier};
use tokio::sync::mpsc;

pub use forward::{Managers, ScaleReceiver};
pub use intake::Intake;
pub use log::LogReceiver;
use route::{NotificationLog, RouteTable};
use scaler::{Decision, Scaler};

/// Alerts handed over together: the due alerts of one rule.
pub type Batch = Arc<[Alert]>;

/// How many batches each queue holds before it drops: one rule's due
/// alerts are a batch, so this is about a thousand rule evaluations of
/// backlog, far beyond what a working receiver ever lets pile up.
pub const QUEUE_CAPACITY: usize = 1024;

/// Why a receiver could not deliver a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The receiver did not finish within its timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The receiver said no (a webhook's status, a refused scale, …).
    #[error("{0}")]
    Failed(String),
}

/// Something that acts on due alerts: logs them, scales a service, calls
/// a webhook. Called from its own task, one batch at a time.
pub trait Receiver: Send + Sync + 'static {
    /// The name in metrics and log lines.
    fn name(&self) -> &str;
    /// How long one batch may take before it counts as failed.
    fn timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
    /// Delivers one batch.
    fn receive(&self, alerts: Batch) -> BoxFuture<'_, Result<(), ReceiveError>>;
    /// The receiver's own metrics, if any.
    fn collect(&self, _out: &mut Vec<MetricFamily>) {}
}

/// Counters of one queue and its receiver.
#[derive(Debug)]
struct QueueStats {
    name: String,
    sender: mpsc::Sender<Batch>,
    dropped: AtomicU64,
    sent: AtomicU64,
    errors: AtomicU64,
    /// Whether the last batch was dropped, so a full queue is one log
    /// line when it fills and one when it drains, not one per batch.
    full: AtomicBool,
    /// Whether the last delivery failed, for the same reason.
    failing: AtomicBool,
}

impl QueueStats {
    fn new(name: &str, sender: mpsc::Sender<Batch>) -> Self {
        QueueStats {
            name: name.to_owned(),
            sender,
            dropped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            full: AtomicBool::new(false),
            failing: AtomicBool::new(false),
        }
    }

    /// Puts `batch` on the queue without waiting; a full (or closed) queue
    /// drops it and counts its alerts.
    fn offer(&self, batch: Batch) {
        let alerts = batch.len() as u64;
        let full = match self.sender.try_send(batch) {
            Ok(()) => false,
            Err(_) => {
                self.dropped.fetch_add(alerts, Ordering::Relaxed);
                true
            }
        };
        if self.full.swap(full, Ordering::Relaxed) != full {
            if full {
                tracing::warn!(queue = %self.name, capacity = QUEUE_CAPACITY, "notification queue full: alerts are dropped");
            } else {
                tracing::info!(queue = %self.name, "notification queue takes alerts again");
            }
        }
    }

    /// Takes over the counts of the queue this one replaces.
    fn carry_counts(&self, before: &QueueStats) {
        for (mine, theirs) in
            [(&self.dropped, &before.dropped), (&self.sent, &before.sent), (&self.errors, &before.errors)]
        {
            mine.store(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    fn length(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }
}

/// The evaluation's side: a [`Notifier`] that enqueues and returns.
#[derive(Debug, Clone)]
pub struct AlertQueue {
    stats: Arc<QueueStats>,
}

impl Notifier for AlertQueue {
    fn send(&self, alerts: &[Alert]) {
        self.stats.offer(alerts.into());
    }
}

/// Takes batches off the [`AlertQueue`] and hands them on: whole to every
/// observer (the log), and alert by alert to the receivers their routes
/// name (the scaler, webhooks), each unchanged alert no sooner than its
/// route's repeat interval. Also the [`Collector`] of every queue's
/// metrics. The routes and their receivers can be replaced while it runs
/// ([`Dispatcher::replace_routes`], on SIGHUP).
pub struct Dispatcher {
    intake: Arc<QueueStats>,
    observers: Vec<(Arc<dyn Receiver>, Arc<QueueStats>)>,
    routed: std::sync::RwLock<Arc<Routed>>,
}

/// The routes in force and the receivers they name, each with its queue.
struct Routed {
    table: Arc<RouteTable>,
    receivers: Vec<(Arc<dyn Receiver>, Arc<QueueStats>)>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.queues().iter().map(|(r, _)| r.name().to_owned()).collect();
        f.debug_struct("Dispatcher").field("receivers", &names).finish_non_exhaustive()
    }
}

/// A queue and the task that delivers from it to `receiver`; the task
/// ends when the queue's sender (in the stats) is dropped.
fn spawn_queue(receiver: &Arc<dyn Receiver>) -> Arc<QueueStats> {
    let (tx, rx) = mpsc::channel::<Batch>(QUEUE_CAPACITY);
    let stats = Arc::new(QueueStats::new(receiver.name(), tx));
    tokio::spawn(deliver(Arc::clone(receiver), rx, Arc::clone(&stats)));
    stats
}

impl Dispatcher {
    /// Starts the dispatcher and one task per receiver on the current
    /// tokio runtime, every receiver an observer of every alert; returns
    /// the queue evaluation sends to and the dispatcher (for its metrics).
    /// The tasks end when every [`AlertQueue`] clone is dropped.
    pub fn start(observers: Vec<Arc<dyn Receiver>>) -> (AlertQueue, Arc<Dispatcher>) {
        Dispatcher::start_routed(observers, RouteTable { routes: Vec::new() }.into(), Vec::new())
    }

    /// [`Dispatcher::start`] with `routed` receivers, which get the alerts
    /// `table` routes to them by name.
    pub fn start_routed(
        observers: Vec<Arc<dyn Receiver>>,
        table: Arc<RouteTable>,
        routed: Vec<Arc<dyn Receiver>>,
    ) -> (AlertQueue, Arc<Dispatcher>) {
        let (intake_tx, mut intake_rx) = mpsc::channel::<Batch>(QUEUE_CAPACITY);
        let intake = Arc::new(QueueStats::new("dispatch", intake_tx));
        let observers = observers.into_iter().map(|r| (Arc::clone(&r), spawn_queue(&r))).collect();
        let receivers = routed.into_iter().map(|r| (Arc::clone(&r), spawn_queue(&r))).collect();
        let dispatcher = Arc::new(Dispatcher {
            intake: Arc::clone(&intake),
            observers,
            routed: std::sync::RwLock::new(Arc::new(Routed { table, receivers })),
        });
        let fan_out = Arc::clone(&dispatcher);
        tokio::spawn(async move {
            let mut log = NotificationLog::default();
            let mut table_seen: Option<Arc<RouteTable>> = None;
            while let Some(batch) = intake_rx.recv().await {
                for (_, queue) in &fan_out.observers {
                    queue.offer(Arc::clone(&batch));
                }
                let routed = fan_out.routed();
                // Route indexes name entries of the log: new routes, new log.
                if !table_seen.as_ref().is_some_and(|seen| Arc::ptr_eq(seen, &routed.table)) {
                    log = NotificationLog::default();
                    table_seen = Some(Arc::clone(&routed.table));
                }
                let now = jiff::Timestamp::now().as_millisecond();
                let mut per_receiver: Vec<Vec<Alert>> = vec![Vec::new(); routed.receivers.len()];
                for alert in batch.iter() {
                    for index in routed.table.routes_for(alert) {
                        let route = &routed.table.routes()[index];
                        let Some(target) = routed.receivers.iter().position(|(r, _)| r.name() == route.receiver) else {
                            continue;
                        };
                        if log.admit(index, route, alert, now) {
                            per_receiver[target].push(alert.clone());
                        }
                    }
                }
                for (alerts, (_, queue)) in per_receiver.into_iter().zip(&routed.receivers) {
                    if !alerts.is_empty() {
                        queue.offer(alerts.into());
                    }
                }
                log.prune(now);
            }
        });
        (AlertQueue { stats: intake }, dispatcher)
    }

    fn routed(&self) -> Arc<Routed> {
        Arc::clone(&self.routed.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Every queue: the observers', then the routed receivers'.
    fn queues(&self) -> Vec<(Arc<dyn Receiver>, Arc<QueueStats>)> {
        self.observers.iter().cloned().chain(self.routed().receivers.iter().cloned()).collect()
    }

    /// Routes by `table` to `receivers` from now on. A receiver that is
    /// already routed to (the same object: the scaler) keeps its queue; a
    /// new one gets a queue and task (on the current tokio runtime), with
    /// the counters of the one of its name it replaces; a receiver left
    /// out finishes its queue and ends.
    pub fn replace_routes(&self, table: Arc<RouteTable>, receivers: Vec<Arc<dyn Receiver>>) {
        let old = self.routed();
        let receivers = receivers
            .into_iter()
            .map(|receiver| {
                let same = old.receivers.iter().find(|(r, _)| Arc::ptr_eq(r, &receiver));
                if let Some((_, stats)) = same {
                    return (receiver, Arc::clone(stats));
                }
                let stats = spawn_queue(&receiver);
                if let Some((_, before)) = old.receivers.iter().find(|(r, _)| r.name() == receiver.name()) {
                    stats.carry_counts(before);
                }
                (receiver, stats)
            })
            .collect();
        *self.routed.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Routed { table, receivers });
    }
}

/// One receiver's task: one batch at a time, each under the receiver's
/// timeout.
async fn deliver(receiver: Arc<dyn Receiver>, mut queue: mpsc::Receiver<Batch>, stats: Arc<QueueStats>) {
    while let Some(batch) = queue.recv().await {
        let alerts = batch.len() as u64;
        let timeout = receiver.timeout();
        let result = match tokio::time::timeout(timeout, receiver.receive(batch)).await {
            Ok(result) => result,
            Err(_) => Err(ReceiveError::Timeout(timeout)),
        };
        let failed = result.is_err();
        match result {
            Ok(()) => {
                stats.sent.fetch_add(alerts, Ordering::Relaxed);
            }
            Err(_) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if stats.failing.swap(failed, Ordering::Relaxed) != failed {
            if failed {
                tracing::warn!(receiver = %stats.name, "a receiver failed to take alerts");
            } else {
                tracing::info!(receiver = %stats.name, "the receiver takes alerts again");
            }
        }
    }
}

impl Collector for Dispatcher {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let mut length = MetricFamily::gauge(
            "sonde_notifications_queue_length",
            "Batches of alerts waiting in a notification queue.",
        );
        let mut capacity =
            MetricFamily::gauge("sonde_notifications_queue_capacity", "The most batches a notification queue holds.");
        let mut dropped = MetricFamily::counter(
            "sonde_notifications_dropped",
            "Alerts dropped because a notification queue was full.",
        );
        let mut sent = MetricFamily::counter("sonde_notifications_sent", "Alerts a receiver took.");
        let mut errors =
            MetricFamily::counter("sonde_notifications_errors", "Batches of alerts a receiver failed or timed out on.");
        let queues = self.queues();
        for queue in std::iter::once(&self.intake).chain(queues.iter().map(|(_, q)| q)) {
            let labels = Labels::new().with("queue", queue.name.as_str());
            length.push(labels.clone(), queue.length() as f64);
            capacity.push(labels.clone(), QUEUE_CAPACITY as f64);
            dropped.push(labels, queue.dropped.load(Ordering::Relaxed) as f64);
        }
        for (_, queue) in &queues {
            let labels = Labels::new().with("receiver", queue.name.as_str());
            sent.push(labels.clone(), queue.sent.load(Ordering::Relaxed) as f64);
            errors.push(labels, queue.errors.load(Ordering::Relaxed) as f64);
        }
        out.extend([length, capacity, dropped, sent, errors]);
        for (receiver, _) in &queues {
            receiver.collect(out);
        }
    }
}

/// What the agent's HTTP routes ask of the signals: the intake and the
/// scaler's audit log.
#[derive(Debug)]
pub struct SignalsApi {
    intake: Intake,
    scaler: Arc<Scaler>,
}

impl SignalsApi {
    /// The routes' view of `intake` and `scaler`.
    pub fn new(intake: Intake, scaler: Arc<Scaler>) -> Self {
        SignalsApi { intake, scaler }
    }

    /// `POST /api/v2/alerts`.
    pub fn intake(&self, headers: &http::HeaderMap, body: &[u8]) -> (http::StatusCode, String) {
        self.intake.receive(headers, body, jiff::Timestamp::now().as_millisecond())
    }

    /// The scaler's decisions, newest last.
    pub fn decisions(&self) -> Vec<Decision> {
        self.scaler.decisions()
    }
}

/// A [`Notifier`] whose queue is known only once the dispatcher started
/// (the scaler, one of its receivers, also sends through it); alerts sent
/// before are dropped.
#[derive(Debug, Default)]
pub struct LateQueue(std::sync::OnceLock<AlertQueue>);

impl LateQueue {
    /// Sends to `queue` from now on.
    pub fn set(&self, queue: AlertQueue) {
        let _ = self.0.set(queue);
    }
}

impl Notifier for LateQueue {
    fn send(&self, alerts: &[Alert]) {
        if let Some(queue) = self.0.get() {
            queue.send(alerts);
        }
    }
}

#[cfg(test)]
mod tests;
