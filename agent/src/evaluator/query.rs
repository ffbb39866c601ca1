//! The rules' view of one window: [`QueryFn`] over the cached plans, with
//! the window read-locked only while a query runs.

use sonde_instrument::Labels;
use sonde_promql::{EvalError, value_to_samples};
use sonde_rules::QueryFn;

use super::windows::{Window, Windows};

/// Instant queries over one window; recording rules and `ALERTS` are
/// written back into it.
#[derive(Debug)]
pub struct StoreQuery<'a> {
    windows: &'a Windows,
    window: Window,
}

impl<'a> StoreQuery<'a> {
    /// Queries over `windows`' `window`.
    pub fn new(windows: &'a Windows, window: Window) -> Self {
        StoreQuery { windows, window }
    }
}

impl QueryFn for StoreQuery<'_> {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, EvalError> {
        let plan = self.windows.plan(expr)?;
        let value = self.windows.instant_plan(&plan, self.window, t_ms)?.0;
        value_to_samples(value)
    }

    fn append(&self, samples: &[(Labels, f64)], t_ms: i64) {
        let mut store = self.windows.write(self.window);
        for (labels, value) in samples {
            store.append(labels, t_ms, *value);
        }
    }
}
