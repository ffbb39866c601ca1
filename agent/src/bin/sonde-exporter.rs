//! `sonde-exporter`: node metrics alone, like node_exporter; the same web,
//! log, collector and path flags as `sonde-agent`, no subcommands.

use std::process::ExitCode;

use clap::Parser as _;
use sonde_agent::cli::ExporterCli;
use sonde_agent::run::run;

fn main() -> ExitCode {
    let cli = ExporterCli::parse();
    run("sonde-exporter", &cli.server)
}
