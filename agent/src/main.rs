//! `sonde-agent`: parses flags and hands them to the library.

use std::process::ExitCode;

use clap::Parser as _;
use sonde_agent::check;
use sonde_agent::cli::{CheckCommand, Cli, Command};
use sonde_agent::run::run;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Check(CheckCommand::Metrics(args))) => check::run(args),
        None => run("sonde-agent", &cli.server),
    }
}
