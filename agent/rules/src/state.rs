//! Alert states saved to a JSON file under `--storage.path` and restored
//! at start, so a restart keeps `for` progress, firing alerts and the
//! resolutions still to be re-sent.
//!
//! An alert is keyed by its group, its rule (name, and the expression
//! where two rules share a name) and its label set. `active_at` is
//! restored as it was: the time the agent was down counts towards `for`,
//! so an alert fires when it would have without the restart. A file older
//! than [`OUTAGE_TOLERANCE`] is ignored, like Prometheus'
//! `--rules.alert.for-outage-tolerance`. Alerts are re-sent at the first
//! evaluation after a restart.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sonde_instrument::file::{ReadError, read_regular};

use super::alerts::{Alert, AlertState, duration_ms, format_labels};
use super::group::{GroupRule, RuleGroup};

/// The file name under the storage path.
pub const STATE_FILE: &str = "alerts.json";
/// How old a saved state may be and still be restored.
/// The largest state file read.
const MAX_STATE_BYTES: u64 = 64 << 20;

pub(crate) const OUTAGE_TOLERANCE: Duration = Duration::from_secs(3600);
const VERSION: u32 = 1;

/// The state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading, writing or renaming failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a state file this version understands.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Every alert of some groups at one time, as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    /// The file format's version.
    pub version: u32,
    /// When the state was taken (ms since the epoch).
    pub saved_at_ms: i64,
    /// The alerts.
    pub alerts: Vec<SavedAlert>,
}

/// One alert, as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedAlert {
    /// The group's name.
    pub group: String,
    /// The rule's name.
    pub rule: String,
    /// The rule's expression.
    pub expr: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations at the last evaluation.
    pub annotations: BTreeMap<String, String>,
    /// Pending, firing or inactive (resolved).
    pub state: AlertState,
    /// The last value; None when it was not a finite number.
    pub value: Option<f64>,
    /// When it became active.
    pub active_at_ms: i64,
    /// When it fired.
    pub fired_at_ms: Option<i64>,
    /// When it was resolved.
    pub resolved_at_ms: Option<i64>,
    /// Since when it has been kept firing by `keep_firing_for`.
    pub keep_firing_since_ms: Option<i64>,
}

impl SavedState {
    /// The state of every alert of `groups` at `t_ms`.
    pub fn from_groups<'a>(groups: impl IntoIterator<Item = &'a RuleGroup>, t_ms: i64) -> Self {
        let mut alerts = Vec::new();
        for group in groups {
            for rule in group.rules() {
                let GroupRule::Alert(rule) = rule else { continue };
                for alert in rule.alerts() {
                    alerts.push(SavedAlert {
                        group: group.name().to_owned(),
                        rule: rule.rule().name.clone(),
                        expr: rule.rule().expr.clone(),
                        labels: alert.labels.clone(),
                        annotations: alert.annotations.clone(),
                        state: alert.state,
                        value: Some(alert.value).filter(|v| v.is_finite()),
                        active_at_ms: alert.active_at_ms,
                        fired_at_ms: alert.fired_at_ms,
                        resolved_at_ms: alert.resolved_at_ms,
                        keep_firing_since_ms: alert.keep_firing_since_ms,
                    });
                }
            }
        }
        SavedState { version: VERSION, saved_at_ms: t_ms, alerts }
    }

    /// What decides whether the state of `groups` changed since it was last
    /// saved — every alert's identity, state and times, not its value or
    /// annotations — as one hash, and the number of alerts; without
    /// building the state (cycles far outnumber saves).
    pub fn fingerprint<'a>(groups: impl IntoIterator<Item = &'a RuleGroup>) -> (u64, usize) {
        use std::hash::{Hash as _, Hasher as _};

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut count = 0;
        for group in groups {
            for rule in group.rules() {
                let GroupRule::Alert(rule) = rule else { continue };
                for alert in rule.alerts() {
                    (group.name(), &rule.rule().name, &rule.rule().expr, &alert.labels).hash(&mut hasher);
                    std::mem::discriminant(&alert.state).hash(&mut hasher);
                    (alert.active_at_ms, alert.fired_at_ms, alert.resolved_at_ms, alert.keep_firing_since_ms)
                        .hash(&mut hasher);
                    count += 1;
                }
            }
        }
        hasher.write_usize(count);
        (hasher.finish(), count)
    }

    /// Reads the state at `path`; None when there is no file yet.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        // Only a regular file is read: a FIFO left at this path must not
        // keep the agent from starting.
        let text = match read_regular(path, MAX_STATE_BYTES) {
            Ok(text) => text,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(ReadError::Io { source, .. }) => return Err(StateError::Io { path: path.to_owned(), source }),
            Err(err) => return Err(StateError::Format { path: path.to_owned(), message: err.reason() }),
        };
        let state: SavedState = serde_json::from_str(&text)
            .map_err(|e| StateError::Format { path: path.to_owned(), message: e.to_string() })?;
        if state.version != VERSION {
            return Err(StateError::Format {
                path: path.to_owned(),
                message: format!("unknown version {}", state.version),
            });
        }
        Ok(Some(state))
    }

    /// Writes the state to `path` atomically: a temporary file beside it,
    /// synced, then renamed over it. Creates the directory if needed.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io { path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let json = serde_json::to_vec(self)
            .map_err(|e| StateError::Format { path: path.to_owned(), message: e.to_string() })?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&json).and_then(|()| file.sync_all()).map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)
    }
}

impl RuleGroup {
    /// Puts back the saved alerts of this group's rules, unless the state
    /// is older than the outage tolerance (an hour) at `t_ms`. Returns how many
    /// alerts were restored.
    pub fn restore(&mut self, saved: &SavedState, t_ms: i64) -> usize {
        if t_ms - saved.saved_at_ms > duration_ms(OUTAGE_TOLERANCE) {
            tracing::info!(group = %self.name(), saved_at_ms = saved.saved_at_ms, "saved alert state too old; not restored");
            return 0;
        }
        let group = self.name().to_owned();
        let mut restored = 0;
        for entry in saved.alerts.iter().filter(|a| a.group == group) {
            let same_name = self.rules.iter().filter(|r| r.name() == entry.rule).count();
            let target = self.rules.iter_mut().find_map(|r| match r {
                GroupRule::Alert(a)
                    if a.rule().name == entry.rule && (same_name == 1 || a.rule().expr == entry.expr) =>
                {
                    Some(a)
                }
                _ => None,
            });
            let Some(rule) = target else { continue };
            let alert = Alert {
                labels: entry.labels.clone(),
                annotations: entry.annotations.clone(),
                state: entry.state,
                value: entry.value.unwrap_or(f64::NAN),
                active_at_ms: entry.active_at_ms,
                fired_at_ms: entry.fired_at_ms,
                resolved_at_ms: entry.resolved_at_ms,
                last_sent_at_ms: None,
                keep_firing_since_ms: entry.keep_firing_since_ms,
                valid_until_ms: 0,
            };
            rule.active.insert(format_labels(&alert.labels), alert);
            restored += 1;
        }
        restored
    }
}
