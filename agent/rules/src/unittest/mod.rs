//! `sonde-agent test rules FILE…`: rule unit tests in promtool's format,
//! with the verdicts and messages of `promtool test rules` (2.42).
//!
//! A file names `rule_files` (globs, relative to the file), an
//! `evaluation_interval` (default 1m), an optional `group_eval_order`, and
//! `tests`: each with an `interval`, `input_series` (`series` and `values`
//! in the expanding notation `1+2x3 _ stale`), `alert_rule_test` (the
//! firing alerts of an alert name at an `eval_time`: labels with
//! `alertname` added, and annotations, compared exactly),
//! `promql_expr_test` (a query's samples at an `eval_time`, values compared
//! with `==`), `external_labels`, `external_url` and a `name`. Unknown
//! fields are errors.
//!
//! Output as promtool's: `Unit Testing:  FILE`, then `  SUCCESS` or
//! `  FAILED:` and the failures on stderr; exit 0 when every file passes,
//! 1 otherwise.
//!
//! Where the verdict can differ from promtool 2.42's: queries run on Sonde's
//! PromQL, which is Prometheus 3's (a range selector leaves out a sample
//! exactly at its start, where 2.42 counts it; constructs outside Sonde's
//! subset are rule evaluation errors); groups missing from
//! `group_eval_order` run in file order (promtool's order for them is
//! random). Messages from the YAML, series and PromQL parsers are Sonde's own.

mod format;
mod glob;
mod run;

use std::io::Write;
use std::path::PathBuf;

/// Runs the unit tests of each file like `promtool test rules`:
/// `Unit Testing:  FILE` and `  SUCCESS` and a blank line on `out`, or
/// `  FAILED:` and each failure on `err` (each followed by a blank line on
/// `out`). True when every file passes.
pub fn test_rules(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> bool {
    let mut ok = true;
    // A closed stdout or stderr must not turn a verdict into a panic; the
    // exit code still carries it.
    for file in files {
        let _ = writeln!(out, "Unit Testing:  {}", file.display());
        let _ = out.flush();
        let failures = run::test_file(file, err);
        if failures.is_empty() {
            let _ = writeln!(out, "  SUCCESS");
        } else {
            ok = false;
            let _ = writeln!(err, "  FAILED:");
            for failure in failures {
                let _ = writeln!(err, "{failure}");
                let _ = writeln!(out);
            }
        }
        let _ = writeln!(out);
    }
    ok
}

#[cfg(test)]
mod tests;
