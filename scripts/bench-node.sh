#!/usr/bin/env bash
# Sonde's node metrics against node_exporter 1.5.0, side by side in one run.
#
# Starts, on 127.0.0.1 only:
#   * sonde-exporter as it ships (a plain `cargo build --release`) and
#     node_exporter with the same collectors: every node collector Sonde has;
#   * sonde-exporter with all its node collectors (its defaults, less the
#     container collector node_exporter has no counterpart of) and
#     node_exporter with Debian's default collector set;
# and measures for each server process (the real PID, not a wrapper shell):
#   * CPU time per scrape: utime+stime delta from /proc/PID/stat over
#     $SCRAPES scrapes (CLK_TCK from getconf);
#   * median and p99 scrape latency over the same scrapes (one curl client,
#     keep-alive, the same for both servers);
#   * VmRSS after those scrapes (plus the warm-up ones), and how much of it
#     is the executable's own mapped pages;
#   * response bytes (identity and gzip), samples, node_* samples;
#   * CPU ticks while idle: $IDLE_SECONDS with no scrapes.
# Prints Markdown tables with Sonde / node_exporter ratios.
#
# Usage: scripts/bench-node.sh   (SCRAPES=1000 IDLE_SECONDS=30 by default)
#
# The measurements are kept in variables named after the server (PID_<name>,
# M_<name>_cpu, ...), set with printf -v and read with eval, which the
# linter cannot follow.
# shellcheck disable=SC2034,SC2154
set -euo pipefail
cd "$(dirname "$0")/.."

SCRAPES=${SCRAPES:-1000}
WARMUP=${WARMUP:-20}
IDLE_SECONDS=${IDLE_SECONDS:-30}
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
# Every node collector Sonde has on by default (exporter/src/node/mod.rs,
# COLLECTORS): all of node_exporter 1.5.0's Linux defaults but timex.
COLLECTORS=(arp bcache bonding btrfs conntrack cpu cpufreq diskstats dmi edac
  entropy fibrechannel filefd filesystem hwmon infiniband ipvs loadavg mdadm
  meminfo netclass netdev netstat nfs nfsd nvme os powersupplyclass pressure rapl
  schedstat selinux sockstat softnet stat tapestats textfile thermal_zone time
  udp_queues uname vmstat xfs zfs)

((SCRAPES >= 500)) || { echo "SCRAPES must be at least 500" >&2; exit 2; }
[ -x "$NODE_EXPORTER" ] || { echo "$NODE_EXPORTER is missing (Debian: prometheus-node-exporter)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 2; }

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
build_release sonde-exporter

# measure_node NAME: measure, plus M_<NAME>_node: node_* samples, without
# node_exporter's own (scrape_collector, build_info).
measure_node() {
  measure "$1"
  printf -v "M_${1}_node" '%s' "$(grep -v '^#' "$WORK/body.$1" \
    | grep '^node_' | grep -cv '^node_scrape_collector_\|^node_exporter_build_info')"
}

idle_all() { # CPU ticks of every server over IDLE_SECONDS with no scrapes
  local name pid
  for name in "$@"; do
    pid=$(eval echo "\$PID_$name")
    printf -v "I0_$name" '%s' "$(ticks "$pid")"
  done
  sleep "$IDLE_SECONDS"
  for name in "$@"; do
    pid=$(eval echo "\$PID_$name")
    printf -v "M_${name}_idle" '%s' "$(($(ticks "$pid") - $(eval echo "\$I0_$name")))"
  done
}

table() { # table SONDE_NAME PEER_NAME
  local s=$1 p=$2 row
  echo "| measure | Sonde | node_exporter 1.5.0 | Sonde / node_exporter |"
  echo "|---|---:|---:|---:|"
  for row in "cpu:CPU per scrape (ms)" "user:… of it user (ms)" "sys:… of it system (ms)" \
    "p50:median latency (ms)" "p99:p99 latency (ms)" \
    "rss:RSS (VmRSS) after $((SCRAPES + WARMUP)) scrapes (MB)" "anon:… of it anonymous (RssAnon, MB)" \
    "file:… of it file-backed (RssFile, MB)" "exe:… of that the executable's own pages (MB)" "bytes:response bytes (identity)" \
    "gzip:response bytes (gzip)" "samples:samples" "node:node_* samples" \
    "idle:CPU ticks idle over ${IDLE_SECONDS} s"; do
    local key=${row%%:*} label=${row#*:} a b
    a=$(eval echo "\$M_${s}_$key")
    b=$(eval echo "\$M_${p}_$key")
    echo "| $label | $a | $b | $(ratio "$a" "$b") |"
  done
}

collector_flags=(--collector.disable-defaults)
for c in "${COLLECTORS[@]}"; do collector_flags+=("--collector.$c"); done

start same "$SONDE" "${collector_flags[@]}"
start nsame "$NODE_EXPORTER" "${collector_flags[@]}"
start sall "$SONDE" --no-collector.container
start ndef "$NODE_EXPORTER"

echo "measuring: $SCRAPES scrapes each after $WARMUP warm-up, then ${IDLE_SECONDS} s idle" >&2
for name in same nsame sall ndef; do measure_node "$name"; done
idle_all same nsame sall ndef

echo "## Node metrics: sonde-exporter vs node_exporter 1.5.0"
echo
machine
echo "$("$SONDE" --version 2>&1 | head -1); $("$NODE_EXPORTER" --version 2>&1 | head -1)"
echo
echo "### The same ${#COLLECTORS[@]} collectors"
echo
table same nsame
echo
goal "CPU per scrape, Sonde / node_exporter" "$(ratio "$M_same_cpu" "$M_nsame_cpu")" 0.25
goal "RSS, Sonde / node_exporter" "$(ratio "$M_same_rss" "$M_nsame_rss")" 0.33
goal "CPU ticks while idle, Sonde" "$M_same_idle" 0
goal "node_* samples, node_exporter - Sonde" "$((M_nsame_node - M_same_node))" 0
echo
echo "### Sonde's ${#COLLECTORS[@]} collectors vs node_exporter with Debian's defaults"
echo
table sall ndef
