//! `sonde-exporter`: node and container metrics alone, like node_exporter
//! and cAdvisor; the same web, log, collector and path flags as
//! `sonde-agent`, no rules and no subcommands.

use std::process::ExitCode;

use clap::Parser as _;
use sonde_exporter::cli::ExporterCli;

fn main() -> ExitCode {
    let cli = ExporterCli::parse();
    sonde_exporter::run::run("sonde-exporter", &cli.server)
}
