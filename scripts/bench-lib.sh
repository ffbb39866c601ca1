# Helpers shared by the benchmarks (bench-node.sh, bench-container.sh,
# bench-rules.sh, bench-threads.sh, bench-memory.sh). Source it after `set -euo pipefail`
# and after setting SCRAPES and WARMUP (only `measure` reads them); it builds
# nothing until `build_release` is called.
#
# Sourcing it sets CLK_TCK, LOAD_BEFORE (`build_release` sets it again) and
# WORK (a temporary directory) and
# installs an EXIT trap that kills every server `start` started (by PID), runs
# the commands in CLEANUP_HOOKS, then removes WORK.
# shellcheck shell=bash

CLK_TCK=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d)
PIDS=()
# Commands run at exit, before WORK goes (e.g. removing containers).
CLEANUP_HOOKS=()

# stop_pid PID: SIGTERM, bounded wait for it to go away, then SIGKILL.
stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

cleanup() {
  local pid hook
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Bounded wait for each server we started to go away.
    stop_pid "$pid"
  done
  for hook in "${CLEANUP_HOOKS[@]}"; do
    eval "$hook" || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# release_exe BIN [DIR [ARG...]]: builds BIN (sonde-exporter or sonde-agent)
# in the workspace at DIR (default .) exactly as it ships: a plain `cargo
# build --release` of its own package (alone, so no other package's features
# are unified into it), with the workspace's release profile and whatever
# .cargo/config.toml says (ARGs, such as `--config KEY=VALUE`, go to cargo
# too); prints the executable's path as cargo reports it.
# This workspace builds into $CARGO_TARGET_DIR when set; another one (a
# second worktree) into its own DIR/target: two worktrees of one workspace
# name their crates' artifacts alike and must not share a target directory.
release_exe() {
  local bin=$1 dir=${2:-.} target=${CARGO_TARGET_DIR:-} exe
  shift $(($# < 2 ? $# : 2))
  if [ "$(cd "$dir" && pwd -P)" != "$(pwd -P)" ]; then
    target=$(cd "$dir" && pwd -P)/target
  fi
  exe=$(cd "$dir" && CARGO_TARGET_DIR=${target:-target} cargo build --release --locked -q -p "$bin" --bin "$bin" \
    --message-format=json "$@" | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
  [ -x "$exe" ] || { echo "cargo built no $bin executable in $dir" >&2; return 1; }
  echo "$exe"
}

# build_idle_image TAG: builds TAG, an image of one static program that
# sleeps forever (gcc; `FROM scratch`, nothing pulled), for idle containers.
build_idle_image() {
  mkdir -p "$WORK/image"
  printf '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n' >"$WORK/image/idle.c"
  gcc -static -Os -s -o "$WORK/image/idle" "$WORK/image/idle.c"
  printf 'FROM scratch\nCOPY idle /idle\nENTRYPOINT ["/idle"]\n' >"$WORK/image/Dockerfile"
  docker build -q -t "$1" "$WORK/image" >/dev/null 2>"$WORK/image.log" \
    || { cat "$WORK/image.log" >&2; exit 1; }
}

# build_release BIN: release_exe BIN here; sets SONDE to the executable.
build_release() {
  # shellcheck disable=SC2034 # read by the script that sourced this one
  SONDE=$(release_exe "$1")
  # The load the measurements start under, not the build's.
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
}

# start_data DIR INTERVAL: scripts/bench-rules-data.py rewriting
# DIR/bench.prom every INTERVAL s, in the background ($PYTHON, the
# interpreter itself, set by the caller); sets DATA_PID (also in PIDS) and
# returns once the first file is there. Its stderr goes to DIR.log.
start_data() {
  "$PYTHON" scripts/bench-rules-data.py data "$1" "$2" 2>"$1.log" &
  DATA_PID=$!
  PIDS+=("$DATA_PID")
  for _ in $(seq 100); do
    [ -e "$1/bench.prom" ] && return 0
    kill -0 "$DATA_PID" 2>/dev/null || { cat "$1.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "no $1/bench.prom after 10s" >&2
  exit 1
}

# window_rules FILE: three alerts over bench-rules-data.py's series, whose
# longest range (10m) makes the window keep 15 minutes of them.
window_rules() {
  cat >"$1" <<'EOF'
groups:
  - name: threads
    rules:
      - alert: ErrorShareHigh
        expr: sum by (svc) (rate(http_requests_total{code="500"}[5m])) / sum by (svc) (rate(http_requests_total[5m])) > 0.01
      - alert: LatencyHigh
        expr: histogram_quantile(0.9, sum by (svc, le) (rate(http_server_resp_time_bucket[5m]))) > 0.05
      - alert: LevelHigh
        expr: max_over_time(app_level_00[10m]) > 1e12
EOF
}

# A loopback port nobody listens on (probed with bash's /dev/tcp).
free_port() {
  local port _
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "no free port" >&2
  exit 1
}

# wait_ready URL PID: bounded wait until URL answers.
wait_ready() {
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || { echo "server $2 died" >&2; return 1; }
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not answer" >&2
  return 1
}

# wait_listening PORT PID: bounded wait until PORT accepts a connection,
# without sending a request.
wait_listening() {
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || { echo "server $2 died" >&2; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# start NAME ARGS...: starts a server in the background (exec'd directly, so
# $! is the server itself) and sets URL_<NAME> and PID_<NAME>. It waits
# until /metrics answers, or, with START_PROBE=tcp, only until the port
# accepts a connection (so no scrape has happened yet).
start() {
  local name=$1 port
  shift
  port=$(free_port)
  "$@" --web.listen-address="127.0.0.1:$port" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  printf -v "PID_$name" '%s' "$pid"
  printf -v "URL_$name" '%s' "http://127.0.0.1:$port/metrics"
  if [ "${START_PROBE:-http}" = tcp ]; then
    wait_listening "$port" "$pid"
  else
    wait_ready "http://127.0.0.1:$port/metrics" "$pid"
  fi
  local exe
  exe=$(readlink "/proc/$pid/exe")
  case "$exe" in
    *sonde*|*node-exporter*|*prometheus*) ;;
    *) echo "PID $pid is $exe, not the server" >&2; exit 1 ;;
  esac
}

# stop NAME: stops a server `start` started and forgets its PID.
stop() {
  local pid kept=() p
  pid=$(eval echo "\$PID_$1")
  stop_pid "$pid"
  for p in "${PIDS[@]}"; do
    [ "$p" = "$pid" ] || kept+=("$p")
  done
  PIDS=(${kept[@]+"${kept[@]}"})
}

# utime and stime of PID (fields 14 and 15 of /proc/PID/stat; the command
# name in field 2 may hold spaces, so fields are counted after its ")").
user_sys() {
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  awk '{ print $12, $13 }' <<<"$stat"
}
ticks() { user_sys "$1" | awk '{ print $1 + $2 }'; }
# status_mb PID FIELD: VmRSS, RssAnon or RssFile in MB.
status_mb() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# exe_mb PID: the resident pages of PID's own executable (every mapping of
# it in /proc/PID/smaps), in MB: the binary's share of RssFile.
exe_mb() {
  local exe
  exe=$(readlink "/proc/$1/exe")
  awk -v exe="$exe" '$1 ~ /^[0-9a-f]+-[0-9a-f]+$/ { mine = ($6 == exe) }
    mine && $1 == "Rss:" { kb += $2 } END { printf "%.1f", kb / 1024 }' "/proc/$1/smaps"
}

# per_scrape_ms TICKS: milliseconds of CPU per scrape.
per_scrape_ms() { awk -v d="$1" -v hz="$CLK_TCK" -v n="$SCRAPES" 'BEGIN { printf "%.3f", d * 1000 / hz / n }'; }

# scrape_many URL N OUT: N sequential scrapes by one curl (keep-alive), one
# time_total per line in OUT. Identity encoding, body discarded.
scrape_many() {
  local url=$1 n=$2 out=$3 cfg=$WORK/curl.cfg
  : >"$cfg"
  for _ in $(seq "$n"); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"
  done
  curl -s -K "$cfg" -w '%{time_total}\n' >"$out"
}

# measure NAME: $WARMUP scrapes, then $SCRAPES timed ones; fills the
# M_<NAME>_* variables (cpu, user, sys, p50, p99, rss, anon, file, exe,
# bytes, gzip, samples) and leaves one more response in $WORK/body.<NAME>.
measure() {
  local name=$1 pid url t0 t1 lat u0 s0 u1 s1
  pid=$(eval echo "\$PID_$name")
  url=$(eval echo "\$URL_$name")
  scrape_many "$url" "$WARMUP" "$WORK/warm"
  t0=$(user_sys "$pid")
  scrape_many "$url" "$SCRAPES" "$WORK/lat.$name"
  t1=$(user_sys "$pid")
  lat=$(sort -n "$WORK/lat.$name" | awk '{ v[NR] = $1 } END {
    m = int((NR + 1) / 2); p = int(NR * 0.99 + 0.999999); if (p > NR) p = NR;
    printf "%.3f %.3f", v[m] * 1000, v[p] * 1000 }')
  read -r u0 s0 <<<"$t0"
  read -r u1 s1 <<<"$t1"
  printf -v "M_${name}_cpu" '%s' "$(per_scrape_ms $((u1 + s1 - u0 - s0)))"
  printf -v "M_${name}_user" '%s' "$(per_scrape_ms $((u1 - u0)))"
  printf -v "M_${name}_sys" '%s' "$(per_scrape_ms $((s1 - s0)))"
  printf -v "M_${name}_p50" '%s' "${lat% *}"
  printf -v "M_${name}_p99" '%s' "${lat#* }"
  printf -v "M_${name}_rss" '%s' "$(status_mb "$pid" VmRSS)"
  printf -v "M_${name}_anon" '%s' "$(status_mb "$pid" RssAnon)"
  printf -v "M_${name}_file" '%s' "$(status_mb "$pid" RssFile)"
  printf -v "M_${name}_exe" '%s' "$(exe_mb "$pid")"
  curl -s -o "$WORK/body.$name" "$url"
  curl -s -H 'Accept-Encoding: gzip' -o "$WORK/body.$name.gz" "$url"
  printf -v "M_${name}_bytes" '%s' "$(wc -c <"$WORK/body.$name")"
  printf -v "M_${name}_gzip" '%s' "$(wc -c <"$WORK/body.$name.gz")"
  printf -v "M_${name}_samples" '%s' "$(grep -cv '^#' "$WORK/body.$name")"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "–"; else printf "%.2f", a / b }'; }

# goal LABEL VALUE LIMIT: one Markdown bullet, "met" or "MISSED".
goal() {
  awk -v l="$1" -v v="$2" -v m="$3" 'BEGIN { printf "* %s: %s (goal ≤ %s): %s\n", l, v, m, (v <= m ? "met" : "MISSED") }'
}

# machine: the date, CPU, kernel, load before the run and CLK_TCK, on two
# lines ending in ";".
machine() {
  echo "$(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo);"
  echo "kernel $(uname -r); load average before the run: $LOAD_BEFORE; CLK_TCK $CLK_TCK;"
}
