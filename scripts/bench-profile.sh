#!/usr/bin/env bash
# The release profile, chosen by measurement: candidate profiles side by side
# with node_exporter 1.5.0, in one run.
#
# For each candidate, builds sonde-exporter and sonde-agent with a plain
# `cargo build --release -p <package>` (each package alone, so no other
# package's features are unified into it). A candidate is a set of Cargo's
# own configuration variables: CARGO_PROFILE_RELEASE_<KEY> is the key of
# [profile.release] in Cargo.toml, CARGO_BUILD_TARGET and
# CARGO_TARGET_<TRIPLE>_RUSTFLAGS are `build.target` and
# `target.<triple>.rustflags` of .cargo/config.toml; so what a candidate
# measures is what that Cargo.toml or config.toml would ship; a setting
# `--config=KEY=VALUE` is passed to cargo as `--config KEY=VALUE`, which is
# the same as that key in .cargo/config.toml (or in Cargo.toml, for a
# [profile.release.package.<spec>] table). Every
# candidate sets every profile key it is compared on, so the result does
# not depend on what Cargo.toml says today; "as-is" takes the tree as it
# is. A setting `tree=DIR` builds another worktree with the same settings
# (into DIR/target: two worktrees must not share a target directory).
#
# Then, on 127.0.0.1 only, one server at a time (exec'd directly, so $! is
# the server; the trap kills it by PID), for $ROUNDS rounds: node_exporter
# (/usr/bin/prometheus-node-exporter), and each candidate's sonde-exporter
# and sonde-agent (no rules, no container collector, no Swarm), all with the
# same 18 collectors as scripts/bench-node.sh. For each it records:
#   * the binary's size, and the size of its code (.text);
#   * VmRSS, and the resident pages of the executable's own mappings (read
#     from the file, or copied when relocated), 1 s after the port accepts
#     connections, before any request;
#   * after $WARMUP + $SCRAPES scrapes by one curl (keep-alive): VmRSS,
#     RssAnon, RssFile, the executable's pages, and the CPU time per scrape
#     (utime+stime of /proc/PID/stat over the $SCRAPES).
# Prints Markdown tables of the medians over the rounds, with ratios to
# node_exporter's.
#
# Usage: scripts/bench-profile.sh [CANDIDATE ...]
#   (SCRAPES=1000 WARMUP=20 ROUNDS=3; the builds go to $CARGO_TARGET_DIR
#   when set.) A CANDIDATE is a name from the table below, or
#   NAME:VAR=VALUE,VAR=VALUE... for another one. No argument: all of the
#   table.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRAPES=${SCRAPES:-1000}
WARMUP=${WARMUP:-20}
ROUNDS=${ROUNDS:-3}
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
COLLECTORS=(cpu stat loadavg meminfo vmstat filesystem diskstats netdev netstat
  sockstat conntrack pressure filefd entropy uname os time textfile)

((SCRAPES >= 500)) || { echo "SCRAPES must be at least 500" >&2; exit 2; }
((ROUNDS >= 1)) || { echo "ROUNDS must be at least 1" >&2; exit 2; }
[ -x "$NODE_EXPORTER" ] || { echo "$NODE_EXPORTER is missing (Debian: prometheus-node-exporter)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 2; }

HOST=$(rustc -vV | sed -n 's/^host: //p')
TRIPLE_VAR=CARGO_TARGET_$(echo "$HOST" | tr 'a-z-' 'A-Z_')_RUSTFLAGS
P=CARGO_PROFILE_RELEASE
# The candidates: name, then the settings (comma-separated VAR=VALUE).
# `strip=debuginfo` is Cargo's default when `debug` is off; it keeps the
# symbol table (backtraces name functions), `symbols` drops it.
declare -A SETTINGS=(
  [cargo-default]="${P}_LTO=false,${P}_CODEGEN_UNITS=16,${P}_OPT_LEVEL=3,${P}_STRIP=debuginfo"
  [thin-4]="${P}_LTO=thin,${P}_CODEGEN_UNITS=4,${P}_OPT_LEVEL=3,${P}_STRIP=debuginfo"
  [fat-1]="${P}_LTO=fat,${P}_CODEGEN_UNITS=1,${P}_OPT_LEVEL=3,${P}_STRIP=debuginfo"
  [fat-1-strip]="${P}_LTO=fat,${P}_CODEGEN_UNITS=1,${P}_OPT_LEVEL=3,${P}_STRIP=symbols"
  [fat-1-s]="${P}_LTO=fat,${P}_CODEGEN_UNITS=1,${P}_OPT_LEVEL=s,${P}_STRIP=debuginfo"
  [fat-1-z]="${P}_LTO=fat,${P}_CODEGEN_UNITS=1,${P}_OPT_LEVEL=z,${P}_STRIP=debuginfo"
  [fat-1-static]="${P}_LTO=fat,${P}_CODEGEN_UNITS=1,${P}_OPT_LEVEL=3,${P}_STRIP=debuginfo,CARGO_BUILD_TARGET=$HOST,$TRIPLE_VAR=-C target-feature=+crt-static"
  [fat-1-s-static]="${P}_LTO=fat,${P}_CODEGEN_UNITS=1,${P}_OPT_LEVEL=s,${P}_STRIP=debuginfo,CARGO_BUILD_TARGET=$HOST,$TRIPLE_VAR=-C target-feature=+crt-static"
  [fat-1-deps-s]="${P}_LTO=fat,${P}_CODEGEN_UNITS=1,${P}_OPT_LEVEL=3,${P}_STRIP=debuginfo,--config=profile.release.package.\"*\".opt-level=\"s\""
  [fat-1-nopie]="${P}_LTO=fat,${P}_CODEGEN_UNITS=1,${P}_OPT_LEVEL=3,${P}_STRIP=debuginfo,CARGO_BUILD_TARGET=$HOST,$TRIPLE_VAR=-C relocation-model=static"
  [as-is]=""
)
ORDER=(cargo-default thin-4 fat-1 fat-1-strip fat-1-s fat-1-z fat-1-static fat-1-s-static fat-1-deps-s fat-1-nopie)

CANDIDATES=()
if (($#)); then ARGS=("$@"); else ARGS=("${ORDER[@]}"); fi
for arg in "${ARGS[@]}"; do
  if [[ $arg == *:* ]]; then
    SETTINGS[${arg%%:*}]=${arg#*:}
    arg=${arg%%:*}
  fi
  [[ -v SETTINGS[$arg] ]] || { echo "no candidate $arg (known: ${ORDER[*]} as-is)" >&2; exit 2; }
  [[ $arg =~ ^[a-zA-Z0-9_-]+$ ]] || { echo "candidate names are [a-zA-Z0-9_-]: $arg" >&2; exit 2; }
  CANDIDATES+=("$arg")
done

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
mkdir "$WORK/bin"

# --- builds ------------------------------------------------------------------
# build_candidate NAME: builds both binaries with NAME's settings and copies
# them to $WORK/bin/NAME/ (the next candidate's build overwrites target/).
build_candidate() {
  local name=$1 tree=. bin exe setting
  local -a env=() settings args=()
  IFS=, read -r -a settings <<<"${SETTINGS[$name]}"
  for setting in ${settings[@]+"${settings[@]}"}; do
    case "$setting" in
      tree=*) tree=${setting#tree=} ;;
      --config=*) args+=(--config "${setting#--config=}") ;;
      *=*) env+=("$setting") ;;
      *) echo "candidate $name: not VAR=VALUE: $setting" >&2; exit 2 ;;
    esac
  done
  mkdir "$WORK/bin/$name"
  for bin in sonde-exporter sonde-agent; do
    echo "building $bin for $name: ${env[*]:-as the tree says} (in $tree)" >&2
    exe=$(export ${env[@]+"${env[@]}"} && release_exe "$bin" "$tree" ${args[@]+"${args[@]}"})
    cp "$exe" "$WORK/bin/$name/$bin"
  done
}
for name in "${CANDIDATES[@]}"; do build_candidate "$name"; done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- measurements ------------------------------------------------------------
collector_flags=(--collector.disable-defaults)
for c in "${COLLECTORS[@]}"; do collector_flags+=("--collector.$c"); done

# One line per server and round in $WORK/results:
# server round start_rss start_exe rss anon file exe cpu p50
: >"$WORK/results"
# run_one SERVER ARGS...: starts it, reads its memory before any request,
# measures, stops it.
run_one() {
  local server=$1 name=r
  shift
  START_PROBE=tcp start "$name" "$@"
  sleep 1
  local start_rss start_exe
  start_rss=$(status_mb "$PID_r" VmRSS)
  start_exe=$(exe_mb "$PID_r")
  measure "$name"
  echo "$server $round $start_rss $start_exe $M_r_rss $M_r_anon $M_r_file $M_r_exe $M_r_cpu $M_r_p50" >>"$WORK/results"
  stop "$name"
}

echo "measuring ${#CANDIDATES[@]} candidates and node_exporter, $ROUNDS rounds of $SCRAPES scrapes after $WARMUP warm-up" >&2
for round in $(seq "$ROUNDS"); do
  run_one node_exporter "$NODE_EXPORTER" "${collector_flags[@]}"
  for name in "${CANDIDATES[@]}"; do
    run_one "$name/sonde-exporter" "$WORK/bin/$name/sonde-exporter" "${collector_flags[@]}"
    mkdir -p "$WORK/state.$name.$round"
    run_one "$name/sonde-agent" "$WORK/bin/$name/sonde-agent" "${collector_flags[@]}" \
      --no-swarm.cluster --storage.path="$WORK/state.$name.$round"
  done
done

# med SERVER COLUMN: the median over the rounds (column 3 = start_rss ...).
med() {
  awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$WORK/results" | sort -g \
    | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'
}
# spread SERVER COLUMN: min–max over the rounds.
spread() {
  awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$WORK/results" | sort -g \
    | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'
}
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
text_mb() { size -A "$1" | awk '$1 == ".text" { printf "%.2f", $2 / 1048576 }'; }

N_RSS=$(med node_exporter 5)
N_CPU=$(med node_exporter 9)

echo "## The release profile: candidates side by side with node_exporter 1.5.0"
echo
machine
echo "$("$NODE_EXPORTER" --version 2>&1 | head -1); $(rustc --version); medians of $ROUNDS rounds,"
echo "$SCRAPES scrapes after $WARMUP warm-up; the same 18 collectors everywhere."
echo
echo "| candidate | settings |"
echo "|---|---|"
for name in "${CANDIDATES[@]}"; do
  echo "| $name | \`${SETTINGS[$name]:-as the tree is}\` |"
done
for bin in sonde-exporter sonde-agent; do
  echo
  echo "### $bin"
  echo
  echo "| candidate | binary (MB) | .text (MB) | VmRSS at start (MB) | … executable's pages | VmRSS after $((SCRAPES + WARMUP)) scrapes (MB) | min–max | / node_exporter | RssAnon | RssFile | … executable's pages | CPU per scrape (ms) | / node_exporter |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| node_exporter 1.5.0 | $(mb "$(stat -c %s "$(readlink -f "$NODE_EXPORTER")")") | $(text_mb "$(readlink -f "$NODE_EXPORTER")") | $(med node_exporter 3) | $(med node_exporter 4) | $N_RSS | $(spread node_exporter 5) | 1.00 | $(med node_exporter 6) | $(med node_exporter 7) | $(med node_exporter 8) | $N_CPU | 1.00 |"
  for name in "${CANDIDATES[@]}"; do
    s=$name/$bin
    f=$WORK/bin/$name/$bin
    echo "| $name | $(mb "$(stat -c %s "$f")") | $(text_mb "$f") | $(med "$s" 3) | $(med "$s" 4) | $(med "$s" 5) | $(spread "$s" 5) | $(ratio "$(med "$s" 5)" "$N_RSS") | $(med "$s" 6) | $(med "$s" 7) | $(med "$s" 8) | $(med "$s" 9) | $(ratio "$(med "$s" 9)" "$N_CPU") |"
  done
done
echo
echo "(MB: kB / 1024. The agent's CPU per scrape also holds its own work while"
echo "scraped: feeding its window every 15 s.)"
