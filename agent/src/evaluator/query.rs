//! The rules' view of one window: [`QueryFn`] over the evaluator's cached
//! plans, with the window read-locked only while a query runs.

use sonde_instrument::Labels;

use super::{Evaluator, Window};
use sonde_promql::{EvalError, value_to_samples};
use sonde_rules::QueryFn;

/// Instant queries over one of the evaluator's windows; recording rules
/// and `ALERTS` are written back into it.
#[derive(Debug)]
pub struct StoreQuery<'a> {
    evaluator: &'a Evaluator,
    window: Window,
}

impl<'a> StoreQuery<'a> {
    /// Queries over `evaluator`'s `window`.
    pub fn new(evaluator: &'a Evaluator, window: Window) -> Self {
        StoreQuery { evaluator, window }
    }
}

impl QueryFn for StoreQuery<'_> {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, EvalError> {
        let plan = self.evaluator.plan(expr)?;
        let value = {
            let store = self.evaluator.read_window(self.window);
            self.evaluator.engine.instant_plan(&plan, &store, t_ms)?.0
        };
        value_to_samples(value)
    }

    fn append(&self, samples: &[(Labels, f64)], t_ms: i64) {
        let mut store = self.evaluator.write_window(self.window);
        for (labels, value) in samples {
            store.append(labels, t_ms, *value);
        }
    }
}
