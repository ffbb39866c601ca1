//! End-to-end tests: the real agent server on 127.0.0.1 port 0, in this
//! process, spoken to over real HTTP. One test binary, one module per area.
// Helpers and test collectors outside #[test] functions fail by panicking too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

// A crate root resolves modules beside itself; the paths keep the modules
// in `e2e/` so cargo does not build each as its own test binary.
#[path = "e2e/exposition.rs"]
mod exposition;
#[path = "e2e/promtool.rs"]
mod promtool;
#[path = "e2e/routes.rs"]
mod routes;
#[path = "e2e/shutdown.rs"]
mod shutdown;
