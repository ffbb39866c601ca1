//! PromQL conformance: Prometheus v3.0.0's own promqltest files
//! (`tests/conformance/`, Apache-2.0; its README says where they come from)
//! run against Sonde's evaluator. Prints, per file, the cases passed, failed
//! and skipped, with the reason for each skip; fails on any failure, and
//! when the directory is missing.
//!
//! A case is skipped only for a feature outside Sonde's subset, found by
//! walking its expression (or its data): native histograms, `@`, `offset`,
//! subqueries, experimental or other functions outside the list. No case is
//! skipped by number.
//!
//! Results at the time of writing (`cargo test -p sonde-promql --features
//! promqltest --test promql_conformance -- --nocapture` prints the current
//! ones):
//!
//! | file | passed | failed | skipped |
//! | --- | ---: | ---: | ---: |
//! | aggregators.test | 113 | 0 | 8 |
//! | at_modifier.test | 0 | 0 | 45 |
//! | collision.test | 2 | 0 | 0 |
//! | functions.test | 209 | 0 | 26 |
//! | histograms.test | 51 | 0 | 55 |
//! | limit.test | 0 | 0 | 25 |
//! | literals.test | 20 | 0 | 0 |
//! | name_label_dropping.test | 19 | 0 | 0 |
//! | native_histograms.test | 0 | 0 | 276 |
//! | operators.test | 94 | 0 | 0 |
//! | range_queries.test | 8 | 0 | 0 |
//! | selectors.test | 26 | 0 | 5 |
//! | staleness.test | 17 | 0 | 0 |
//! | subquery.test | 2 | 0 | 29 |
//! | trig_functions.test | 19 | 0 | 0 |
//! | **total** | 580 | 0 | 469 |
//!
//! Skip reasons (all outside the subset): native histograms (functions
//! `histogram_*` other than `histogram_quantile`, `{{…}}` data or results,
//! `load_with_nhcb` custom-bucket series), `@`, `offset`, subqueries, and
//! the experimental `limitk`, `limit_ratio`, `sort_by_label[_desc]`,
//! `double_exponential_smoothing`, `mad_over_time`. Every instant case is also
//! re-run as a range query (t-1m … t+1m, step 1m) and compared at t, as
//! Prometheus' own runner does. Failure messages of `eval_fail` cases are
//! not compared (Sonde's wording differs).

use std::path::PathBuf;

use sonde_promql::promqltest::run_file;

fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance"))
}

#[test]
fn promql_conformance() {
    let dir = conformance_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(err) => panic!("the PromQL conformance files are missing: {} ({err})", dir.display()),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());

    let (mut total_pass, mut total_fail, mut total_skip) = (0, 0, 0);
    let mut table = String::from("| file | passed | failed | skipped |\n| --- | ---: | ---: | ---: |\n");
    let mut details = String::new();
    for path in &files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let report = run_file(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("{name}: {} passed, {} failed, {} skipped", report.passed, report.failed.len(), report.skipped.len());
        for (line, expr, why) in &report.failed {
            println!("  FAIL {name}:{line}: {expr}\n       {why}");
        }
        for (line, expr, why) in &report.skipped {
            details.push_str(&format!("  skip {name}:{line}: {why}: {expr}\n"));
        }
        table.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            report.passed,
            report.failed.len(),
            report.skipped.len()
        ));
        total_pass += report.passed;
        total_fail += report.failed.len();
        total_skip += report.skipped.len();
    }
    table.push_str(&format!("| **total** | {total_pass} | {total_fail} | {total_skip} |\n"));
    println!("\nSkipped cases (feature outside Sonde's subset):\n{details}");
    println!("{table}");
    println!("conformance totals: passed {total_pass}, failed {total_fail}, skipped {total_skip}");
    assert_eq!(total_fail, 0, "{total_fail} PromQL conformance case(s) failed; see the FAIL lines above");
}
