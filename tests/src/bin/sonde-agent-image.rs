//! `sonde-agent-image`: `sonde-agent` itself ([`sonde_agent::run::agent_main`]),
//! built in this crate so that the Swarm tests can put it into a
//! `FROM scratch` image (a test can only name the binaries of its own
//! package).

use std::process::ExitCode;

fn main() -> ExitCode {
    sonde_agent::run::agent_main()
}
