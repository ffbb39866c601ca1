//! What this binary is: version, git revision and compiler, fixed at build
//! time by `build.rs`.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Short git revision the binary was built from, or `unknown`.
pub const REVISION: &str = env!("SONDE_REVISION");
/// The `rustc` version that built the binary (e.g. `1.85.0`), or `unknown`.
pub const RUST_VERSION: &str = env!("SONDE_RUST_VERSION");

/// `--version` output: the version with revision and compiler.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("SONDE_REVISION"),
    ", rustc ",
    env!("SONDE_RUST_VERSION"),
    ")"
);
