#!/usr/bin/env bash
# What the status page at `/` costs sonde-agent: nothing while nobody looks,
# and how much one look costs.
#
# Builds sonde-agent as it ships (`cargo build --release`, like the other
# benchmarks) from this tree, and compares it with $BASE, the executable of
# a revision from before the page drew anything (check that revision out,
# `cargo build --release -p sonde-agent`, copy target/release/sonde-agent
# aside, check this one out again; the same target directory serves both).
# Makes $CONTAINERS idle containers run (bench-container.sh's
# sonde-bench-idle:1 image, a 32 MiB limit each), then starts both agents
# side by side with the same flags (every default collector, the container
# collector, the default 15 s evaluation interval, no rules), so both run
# under the same load, and measures:
#   * idle: utime+stime of each over $IDLE seconds in which nobody asks
#     either anything, after $SETTLE seconds that fill the window (the page
#     charts what the window holds);
#   * one look: CPU time per `GET /` over $PAGES requests (one curl client,
#     keep-alive), the median and p99 latency and the page's size, for both
#     agents' pages; and one scrape of `/metrics` the same way, for scale.
# Every container this script started, and both agents, are removed at exit.
# Prints Markdown.
#
# Usage: BASE=/path/to/old/sonde-agent scripts/bench-status-page.sh
#        (IDLE=600 SETTLE=300 PAGES=200 CONTAINERS=10)
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE=${IDLE:-600}
SETTLE=${SETTLE:-300}
PAGES=${PAGES:-200}
CONTAINERS=${CONTAINERS:-10}
IMAGE=sonde-bench-idle:1
: "${BASE:?set BASE to a sonde-agent executable built from a revision before the status page change}"
[ -x "$BASE" ] || { echo "BASE=$BASE is not an executable" >&2; exit 2; }
for command in curl docker gcc; do
  command -v "$command" >/dev/null || { echo "$command is missing" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer" >&2; exit 2; }

# `measure` (bench-lib.sh) times $SCRAPES requests after $WARMUP.
SCRAPES=$PAGES
WARMUP=10
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

NAMES=()
remove_containers() {
  ((${#NAMES[@]})) || return 0
  docker rm -f "${NAMES[@]}" >/dev/null 2>&1 || true
}
CLEANUP_HOOKS+=(remove_containers)

build_release sonde-agent

# --- the idle containers ------------------------------------------------------
build_idle_image "$IMAGE"
for n in $(seq "$CONTAINERS"); do
  name=sonde-bench-page-$n-$$
  NAMES+=("$name")
  docker run -d --name "$name" --label com.docker.stack.namespace=bench --memory 32m "$IMAGE" >/dev/null
done

# --- both agents, side by side -------------------------------------------------
mkdir "$WORK/new" "$WORK/base"
start new "$SONDE" --storage.path="$WORK/new"
start base "$BASE" --storage.path="$WORK/base"
sleep "$SETTLE"
t0_new=$(ticks "$PID_new")
t0_base=$(ticks "$PID_base")
sleep "$IDLE"
t1_new=$(ticks "$PID_new")
t1_base=$(ticks "$PID_base")
idle_ms() { awk -v d="$1" -v hz="$CLK_TCK" -v s="$IDLE" 'BEGIN { printf "%.1f", d * 1000 / hz / (s / 60) }'; }
idle_new=$(idle_ms $((t1_new - t0_new)))
idle_base=$(idle_ms $((t1_base - t0_base)))

# --- one look, and one scrape --------------------------------------------------
page_url() { echo "${1%/metrics}/"; }
PID_newpage=$PID_new URL_newpage=$(page_url "$URL_new")
PID_basepage=$PID_base URL_basepage=$(page_url "$URL_base")
measure newpage
measure basepage
measure new
containers=$(grep -c '<div class="card container">' "$WORK/body.newpage" || true)
charts=$(grep -o '<svg class="chart"' "$WORK/body.newpage" | wc -l)

cat <<EOF
$(machine)
$CONTAINERS idle containers of this script ($containers containers on the page), no rules, evaluation every 15 s.

| | new | base | ratio |
| --- | ---: | ---: | ---: |
| idle: CPU ms per minute over $IDLE s, nobody looking | $idle_new | $idle_base | $(ratio "$idle_new" "$idle_base") |
| \`GET /\`: CPU ms per page ($PAGES pages) | $M_newpage_cpu | $M_basepage_cpu | $(ratio "$M_newpage_cpu" "$M_basepage_cpu") |
| \`GET /\`: median / p99 latency (ms) | $M_newpage_p50 / $M_newpage_p99 | $M_basepage_p50 / $M_basepage_p99 | |
| \`GET /\`: bytes (gzip) | $M_newpage_bytes ($M_newpage_gzip) | $M_basepage_bytes ($M_basepage_gzip) | |
| \`GET /metrics\` of the new agent: CPU ms per scrape, for scale | $M_new_cpu | | |

The new page draws $charts charts.
EOF
