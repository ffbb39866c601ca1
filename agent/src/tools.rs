//! The tools `sonde-agent` runs instead of the agent: `check metrics`
//! (lint exposition text like `promtool check metrics`, with promtool's
//! exit codes), `check rules`, `expand` and `test rules` (the last three
//! print what [`sonde_rules`] decides).

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use sonde_instrument::{Format, lint};

/// The result of a check, as a process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Parsed and no lint problems (exit 0).
    Clean,
    /// The input could not be read or parsed (exit 1).
    Error,
    /// Parsed, with lint problems (exit 3).
    Problems,
}

impl CheckOutcome {
    /// The exit code promtool uses for the same outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            CheckOutcome::Clean => 0,
            CheckOutcome::Error => 1,
            CheckOutcome::Problems => 3,
        }
    }
}

/// The input could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {what}: {source}")]
pub struct ReadError {
    what: String,
    source: io::Error,
}

/// `sonde-agent check metrics`: reads the input, lints it, reports on
/// stderr and returns promtool's exit status.
pub fn run_check_metrics(args: &crate::cli::CheckMetricsArgs) -> ExitCode {
    let format = if args.openmetrics { Format::OpenMetrics } else { Format::Text };
    let outcome = match read_input(args.file.as_deref()) {
        Ok(input) => check_metrics(&input, format, &mut io::stderr().lock()),
        Err(err) => {
            eprintln!("error while linting: {err}");
            CheckOutcome::Error
        }
    };
    ExitCode::from(outcome.exit_code())
}

/// `sonde-agent check rules`: exit 0 when every file is valid, 1 otherwise.
pub fn run_check_rules(args: &crate::cli::CheckRulesArgs) -> ExitCode {
    if sonde_rules::check::check_rules(&args.files, &mut io::stdout().lock(), &mut io::stderr().lock()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `sonde-agent expand`: the rule file on stdout (exit 0), or the refused
/// labels on stderr (exit 1).
pub fn run_expand(args: &crate::cli::ExpandArgs) -> ExitCode {
    match sonde_rules::check::expand_to_yaml(&args.request()) {
        Ok(yaml) => {
            let _ = io::stdout().lock().write_all(yaml.as_bytes());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            let mut err = io::stderr().lock();
            for error in errors {
                let _ = writeln!(err, "{error}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `sonde-agent test rules`: exit 0 when every file passes, 1 otherwise
/// (also when a file does not exist, which is reported before any test runs).
pub fn run_test_rules(args: &crate::cli::TestRulesArgs) -> ExitCode {
    if let Some(missing) = args.files.iter().find(|f| !f.exists()) {
        let _ = writeln!(io::stderr().lock(), "sonde-agent: error: path '{}' does not exist", missing.display());
        return ExitCode::FAILURE;
    }
    if sonde_rules::unittest::test_rules(&args.files, &mut io::stdout().lock(), &mut io::stderr().lock()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Reads the whole input: the file, or stdin when `file` is absent or `-`.
pub fn read_input(file: Option<&Path>) -> Result<String, ReadError> {
    let mut text = String::new();
    match file {
        None => read_stdin(&mut text),
        Some(path) if path == Path::new("-") => read_stdin(&mut text),
        Some(path) => std::fs::read_to_string(path)
            .map(|content| text = content)
            .map_err(|source| ReadError { what: path.display().to_string(), source }),
    }?;
    Ok(text)
}

fn read_stdin(text: &mut String) -> Result<(), ReadError> {
    io::stdin()
        .lock()
        .read_to_string(text)
        .map(drop)
        .map_err(|source| ReadError { what: "standard input".to_owned(), source })
}

/// Lints `input` and writes what is wrong to `report`, one problem a line.
pub fn check_metrics(input: &str, format: Format, report: &mut dyn Write) -> CheckOutcome {
    // A closed stderr must not turn a verdict into a panic; the exit code
    // still carries it.
    match lint::check(input, format) {
        Err(err) => {
            let _ = writeln!(report, "error while linting: {err}");
            CheckOutcome::Error
        }
        Ok(problems) if problems.is_empty() => CheckOutcome::Clean,
        Ok(problems) => {
            for problem in &problems {
                let _ = writeln!(report, "{problem}");
            }
            CheckOutcome::Problems
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_input_exits_zero_and_prints_nothing() {
        let mut out = Vec::new();
        let input = "# HELP sonde_test_value A test value.\n# TYPE sonde_test_value gauge\nsonde_test_value 1\n";
        assert_eq!(check_metrics(input, Format::Text, &mut out), CheckOutcome::Clean);
        assert!(out.is_empty());
    }

    #[test]
    fn exit_codes_match_promtool() {
        assert_eq!(CheckOutcome::Clean.exit_code(), 0);
        assert_eq!(CheckOutcome::Error.exit_code(), 1);
        assert_eq!(CheckOutcome::Problems.exit_code(), 3);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_input(Some(Path::new("/nonexistent/metrics.prom"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/metrics.prom"), "{err}");
    }
}
