#!/usr/bin/env bash
# Runs Sonde's tests on a fresh Debian machine: installs the real peers the
# tests talk to (promtool from Debian's `prometheus` package, node_exporter,
# Alertmanager, Chromium for the status page), then checks the formatting,
# lints, builds the docs and tests the whole workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need, each named by a command it provides.
declare -A needs=(
  [promtool]=prometheus
  [prometheus-node-exporter]=prometheus-node-exporter
  [prometheus-alertmanager]=prometheus-alertmanager
  # dashboards/generate.py, which the dashboards test runs with --check.
  [python3]=python3
  # The status page test loads the page in headless Chromium.
  [chromium]=chromium
  # The live netclass test makes a veth pair.
  [ip]=iproute2
)
missing=()
for command in "${!needs[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${needs[$command]}")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked
cargo test --workspace --all-features --locked
# The fuzz package (outside the workspace): its corpora replayed through the
# fuzz targets' functions on stable, no fuzzing (fuzz/README.md); built in
# the workspace's target directory to reuse what the workspace built.
cargo fmt --manifest-path fuzz/Cargo.toml --check
CARGO_TARGET_DIR="$PWD/target" cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --no-default-features --locked -- -D warnings
CARGO_TARGET_DIR="$PWD/target" cargo test --manifest-path fuzz/Cargo.toml --no-default-features --locked
