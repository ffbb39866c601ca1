//! `sonde-agent`: parses flags and hands them to the library.

use std::process::ExitCode;

use clap::Parser as _;
use sonde_agent::{check, rules};
use sonde_agent::cli::{CheckCommand, Cli, Command, TestCommand};
use sonde_agent::run::run_agent;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Check(CheckCommand::Metrics(args))) => check::run(args),
        Some(Command::Check(CheckCommand::Rules(args))) => rules::check::run_check_rules(args),
        Some(Command::Expand(args)) => rules::check::run_expand(args),
        Some(Command::Test(TestCommand::Rules(args))) => rules::unittest::run_test_rules(args),
        None => run_agent("sonde-agent", &cli.server, &cli.rules),
    }
}
