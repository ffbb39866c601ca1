//! Where alerts that are due go: the [`Notifier`] interface (the signals
//! issue plugs scaling and webhooks in), and [`LogNotifier`], which logs
//! each alert's state changes and counts firing alerts in
//! `sonde_alerts_firing`.

use std::collections::HashMap;
use std::sync::Mutex;

use sonde_instrument::{Collector, MetricFamily};

use super::alerts::Alert;

/// Receives the alerts that are due: firing ones on the transition and
/// then every resend delay, resolved ones for 15 minutes.
pub trait Notifier: Send + Sync {
    /// Hands over what is due now.
    fn send(&self, alerts: &[Alert]);
}

/// How long a resolved alert is remembered, so its re-sends are not
/// logged as changes (a little longer than Prometheus re-sends it).
const RESOLVED_MEMORY_MS: i64 = 30 * 60 * 1000;

#[derive(Debug, Clone, Copy)]
struct Seen {
    firing: bool,
    ends_at_ms: i64,
}

/// Logs one line per change of an alert's state and counts firing alerts.
#[derive(Debug, Default)]
pub struct LogNotifier {
    seen: Mutex<HashMap<String, Seen>>,
    latest_ms: Mutex<i64>,
}

impl LogNotifier {
    /// A notifier that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The alerts firing as last sent: not resolved and not expired.
    pub fn firing(&self) -> usize {
        let now = *self.latest_ms.lock().unwrap_or_else(|e| e.into_inner());
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.values().filter(|s| s.firing && s.ends_at_ms > now).count()
    }
}

impl Notifier for LogNotifier {
    fn send(&self, alerts: &[Alert]) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut latest = self.latest_ms.lock().unwrap_or_else(|e| e.into_inner());
        for alert in alerts {
            let firing = alert.resolved_at_ms.is_none();
            let key = alert.key();
            let before = seen.insert(key.clone(), Seen { firing, ends_at_ms: alert.ends_at_ms() });
            let sent_at = alert.last_sent_at_ms.unwrap_or_default();
            *latest = (*latest).max(sent_at);
            if before.map(|b| b.firing) == Some(firing) {
                continue;
            }
            let name = alert.labels.get("alertname").map_or("", String::as_str);
            let labels = super::alerts::format_labels(&alert.labels);
            if firing {
                tracing::info!(alertname = name, labels = %labels, value = alert.value, "alert firing");
            } else {
                tracing::info!(alertname = name, labels = %labels, "alert resolved");
            }
        }
        let now = *latest;
        seen.retain(|_, s| s.firing || s.ends_at_ms + RESOLVED_MEMORY_MS > now);
    }
}

impl Collector for LogNotifier {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        out.push(
            MetricFamily::gauge("sonde_alerts_firing", "Alerts firing, as last handed to the notifier.")
                .with_sample(sonde_instrument::Labels::new(), self.firing() as f64),
        );
    }
}
