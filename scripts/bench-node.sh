#!/usr/bin/env bash
# Sonde's node metrics against node_exporter 1.5.0, side by side in one run.
#
# Starts, on 127.0.0.1 only:
#   * sonde-exporter (release) and node_exporter with the same 18 collectors;
#   * sonde-exporter with all its collectors and node_exporter with Debian's
#     default collector set;
# and measures for each server process (the real PID, not a wrapper shell):
#   * CPU time per scrape: utime+stime delta from /proc/PID/stat over
#     $SCRAPES scrapes (CLK_TCK from getconf);
#   * median and p99 scrape latency over the same scrapes (one curl client,
#     keep-alive, the same for both servers);
#   * VmRSS after those scrapes (plus the warm-up ones);
#   * response bytes (identity and gzip), samples, node_* samples;
#   * CPU ticks while idle: $IDLE_SECONDS with no scrapes.
# Prints Markdown tables with Sonde / node_exporter ratios.
#
# Usage: scripts/bench-node.sh   (SCRAPES=1000 IDLE_SECONDS=30 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

SCRAPES=${SCRAPES:-1000}
WARMUP=${WARMUP:-20}
IDLE_SECONDS=${IDLE_SECONDS:-30}
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
COLLECTORS=(cpu stat loadavg meminfo vmstat filesystem diskstats netdev netstat
  sockstat conntrack pressure filefd entropy uname os time textfile)

((SCRAPES >= 500)) || { echo "SCRAPES must be at least 500" >&2; exit 2; }
[ -x "$NODE_EXPORTER" ] || { echo "$NODE_EXPORTER is missing (Debian: prometheus-node-exporter)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 2; }

# --- build -------------------------------------------------------------------
# Built statically linked, as deploy/'s FROM-scratch image is to carry it: no
# shared libc is mapped (the `--target` keeps the static flag off the
# build's proc-macros).
TARGET=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -q --target "$TARGET" -p sonde-agent --bin sonde-exporter
SONDE=target/$TARGET/release/sonde-exporter

CLK_TCK=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Bounded wait for each server we started to go away.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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

# start NAME ARGS...: starts a server in the background (exec'd directly, so
# $! is the server itself) and sets URL_<NAME> and PID_<NAME>.
start() {
  local name=$1 port
  shift
  port=$(free_port)
  "$@" --web.listen-address="127.0.0.1:$port" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  printf -v "PID_$name" '%s' "$pid"
  printf -v "URL_$name" '%s' "http://127.0.0.1:$port/metrics"
  wait_ready "http://127.0.0.1:$port/metrics" "$pid"
  local exe
  exe=$(readlink "/proc/$pid/exe")
  case "$exe" in
    *sonde*|*node-exporter*) ;;
    *) echo "PID $pid is $exe, not the server" >&2; exit 1 ;;
  esac
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

# measure NAME: fills M_<NAME>_* variables.
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
  curl -s -o "$WORK/body.$name" "$url"
  curl -s -H 'Accept-Encoding: gzip' -o "$WORK/body.$name.gz" "$url"
  printf -v "M_${name}_bytes" '%s' "$(wc -c <"$WORK/body.$name")"
  printf -v "M_${name}_gzip" '%s' "$(wc -c <"$WORK/body.$name.gz")"
  printf -v "M_${name}_samples" '%s' "$(grep -cv '^#' "$WORK/body.$name")"
  # node_* samples, without node_exporter's own (scrape_collector, build_info).
  printf -v "M_${name}_node" '%s' "$(grep -v '^#' "$WORK/body.$name" \
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

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "–"; else printf "%.2f", a / b }'; }

table() { # table SONDE_NAME PEER_NAME
  local s=$1 p=$2 row
  echo "| measure | Sonde | node_exporter 1.5.0 | Sonde / node_exporter |"
  echo "|---|---:|---:|---:|"
  for row in "cpu:CPU per scrape (ms)" "user:… of it user (ms)" "sys:… of it system (ms)" \
    "p50:median latency (ms)" "p99:p99 latency (ms)" \
    "rss:RSS (VmRSS) after $((SCRAPES + WARMUP)) scrapes (MB)" "anon:… of it anonymous (RssAnon, MB)" \
    "file:… of it file-backed (RssFile, MB)" "bytes:response bytes (identity)" \
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

start s18 "$SONDE" "${collector_flags[@]}"
start n18 "$NODE_EXPORTER" "${collector_flags[@]}"
start sall "$SONDE"
start ndef "$NODE_EXPORTER"

echo "measuring: $SCRAPES scrapes each after $WARMUP warm-up, then ${IDLE_SECONDS} s idle" >&2
for name in s18 n18 sall ndef; do measure "$name"; done
idle_all s18 n18 sall ndef

echo "## Node metrics: sonde-exporter vs node_exporter 1.5.0"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo);"
echo "kernel $(uname -r); load average before the run: $LOAD_BEFORE; CLK_TCK $CLK_TCK;"
echo "$("$SONDE" --version 2>&1 | head -1); $("$NODE_EXPORTER" --version 2>&1 | head -1)"
echo
echo "### The same 18 collectors"
echo
table s18 n18
echo
goal() { # goal LABEL VALUE LIMIT
  awk -v l="$1" -v v="$2" -v m="$3" 'BEGIN { printf "* %s: %s (goal ≤ %s): %s\n", l, v, m, (v <= m ? "met" : "MISSED") }'
}
goal "CPU per scrape, Sonde / node_exporter" "$(ratio "$M_s18_cpu" "$M_n18_cpu")" 0.25
goal "RSS, Sonde / node_exporter" "$(ratio "$M_s18_rss" "$M_n18_rss")" 0.33
goal "CPU ticks while idle, Sonde" "$M_s18_idle" 0
goal "node_* samples, node_exporter - Sonde" "$((M_n18_node - M_s18_node))" 0
echo
echo "### Sonde's 18 collectors vs node_exporter with Debian's defaults"
echo
table sall ndef
