//! The rule unit tests under `tests/rules/` (SPEC §3–§5 scenarios), run
//! through both `promtool test rules` (Prometheus 2.42, Debian's
//! `prometheus` package) and `sonde-agent test rules`: every
//! `tests/rules/*.test.yml` must pass in both, every
//! `tests/rules/failing/*.test.yml` must fail in both (exit 1, `FAILED:`),
//! and both tools must print the same report on stdout.
// Helpers outside #[test] functions fail the test by panicking too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SONDE: &str = env!("CARGO_BIN_EXE_sonde-agent-test");

/// The workspace root: test files are named relative to it, as CI runs them.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `*.test.yml` files of `dir` (relative to the root), sorted.
fn test_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.yml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.yml in {dir}");
    files
}

fn run(program: &str, file: &str) -> Output {
    Command::new(program)
        .args(["test", "rules", file])
        .current_dir(root())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"))
}

fn promtool() -> &'static str {
    match Command::new("promtool").arg("--version").output() {
        Ok(output) if output.status.success() => "promtool",
        _ => panic!(
            "promtool is missing: install Debian's `prometheus` package (apt-get install prometheus), \
             as CI does through scripts/test.sh; these tests compare sonde-agent with promtool 2.42"
        ),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `file` through both tools; both must exit with `code`, and print
/// the same report on stdout.
fn check_both(promtool: &str, file: &str, code: i32) {
    let (theirs, ours) = (run(promtool, file), run(SONDE, file));
    for (tool, output) in [("promtool", &theirs), ("sonde-agent", &ours)] {
        assert_eq!(
            output.status.code(),
            Some(code),
            "{tool} test rules {file}: exit {:?}, expected {code}\nstdout:\n{}\nstderr:\n{}",
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr)
        );
        if code != 0 {
            assert!(text(&output.stderr).contains("  FAILED:\n"), "{tool} {file}: {}", text(&output.stderr));
        }
    }
    assert_eq!(text(&ours.stdout), text(&theirs.stdout), "stdout of {file}");
}

#[test]
fn passing_rule_unit_tests_pass_in_both_tools() {
    let promtool = promtool();
    for file in test_files("tests/rules") {
        check_both(promtool, &file, 0);
    }
}

#[test]
fn failing_rule_unit_tests_fail_in_both_tools() {
    let promtool = promtool();
    for file in test_files("tests/rules/failing") {
        check_both(promtool, &file, 1);
    }
}

/// One run over several files: one report per file, exit 1 when any fails.
#[test]
fn several_files_in_one_run() {
    let mut files = test_files("tests/rules");
    files.extend(test_files("tests/rules/failing"));
    let output = Command::new(SONDE).args(["test", "rules"]).args(&files).current_dir(root()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    for file in &files {
        assert!(stdout.contains(&format!("Unit Testing:  {file}\n")), "{stdout}");
    }
    let passing = test_files("tests/rules");
    let output = Command::new(SONDE).args(["test", "rules"]).args(&passing).current_dir(root()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).matches("  SUCCESS\n").count(), passing.len());
}

#[test]
fn a_missing_file_is_refused_before_testing() {
    let output = run(SONDE, "tests/rules/no-such.test.yml");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(
        text(&output.stderr).contains("path 'tests/rules/no-such.test.yml' does not exist"),
        "{}",
        text(&output.stderr)
    );
}
