//! `sonde-agent`: the library's [`sonde_agent::run::agent_main`].

use std::process::ExitCode;

fn main() -> ExitCode {
    sonde_agent::run::agent_main()
}
