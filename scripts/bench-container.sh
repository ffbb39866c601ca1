#!/usr/bin/env bash
# Sonde's container collector with 0, 10 and 50 idle containers, in one run.
#
# Builds sonde-exporter as it ships (`cargo build --release`, like
# bench-node.sh) and a tiny idle image, sonde-bench-idle:1 (a `gcc -static`
# loop around pause(2) in a FROM-scratch image, so no registry is needed). Then, for each count N in
# $COUNTS, it makes N idle containers run (named sonde-bench-<n>, with the
# labels com.docker.stack.namespace=bench and com.df.scrapePort=8080 and a
# 32 MiB memory limit), starts a fresh sonde-exporter with only the container
# collector on 127.0.0.1 (exec'd directly, so $! is the server itself), waits
# until it lists all N, and measures:
#   * CPU time per scrape: utime+stime delta from /proc/PID/stat over
#     $SCRAPES scrapes (CLK_TCK from getconf);
#   * median and p99 scrape latency over the same scrapes (one curl client,
#     keep-alive);
#   * VmRSS after those scrapes (plus the warm-up ones);
#   * response bytes, samples, container_* samples, the containers the agent
#     reports and sonde_scrape_collector_success{collector="container"}.
# The agent is restarted for every N, so RSS belongs to that N alone; the
# containers are kept and added to. The CPU cost per container is the slope
# of CPU per scrape against the number of containers the agent reports
# (other containers running on the host count too, and are shown).
# Every container this script started, and the agent, are removed at exit,
# on failure or interrupt as well. The image is kept (rebuilding it is cached).
# Prints a Markdown table.
#
# Usage: scripts/bench-container.sh   (SCRAPES=1000 WARMUP=20 COUNTS="0 10 50")
set -euo pipefail
cd "$(dirname "$0")/.."

SCRAPES=${SCRAPES:-1000}
WARMUP=${WARMUP:-20}
read -r -a COUNTS <<<"${COUNTS:-0 10 50}"
IMAGE=sonde-bench-idle:1

((SCRAPES >= 100)) || { echo "SCRAPES must be at least 100" >&2; exit 2; }
for command in curl docker gcc; do
  command -v "$command" >/dev/null || { echo "$command is missing" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer" >&2; exit 2; }

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

# Names of the containers this run created (added before `docker run`, so an
# interrupted run removes a half-started one too).
CONTAINERS=()
remove_containers() {
  ((${#CONTAINERS[@]})) || return 0
  docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
}
CLEANUP_HOOKS+=(remove_containers)

# Leftovers of an interrupted earlier run would be counted as containers.
stale=$(docker ps -aq --filter 'name=^sonde-bench-[0-9]+$')
if [ -n "$stale" ]; then
  echo "removing containers left by an earlier run: $(echo "$stale" | wc -l)" >&2
  # shellcheck disable=SC2086
  docker rm -f $stale >/dev/null
fi

build_release sonde-exporter

# --- the idle image ----------------------------------------------------------
build_idle_image "$IMAGE"

# run_containers N: starts containers until N of ours run.
run_containers() {
  local name
  while ((${#CONTAINERS[@]} < $1)); do
    name=sonde-bench-${#CONTAINERS[@]}
    CONTAINERS+=("$name")
    docker run -d --name "$name" \
      --label com.docker.stack.namespace=bench --label com.df.scrapePort=8080 \
      --memory 32m "$IMAGE" >/dev/null
  done
}

# Per-response counts, from a body in a file.
collector_success() {
  awk '/^sonde_scrape_collector_success\{collector="container"\}/ { print $2 }' "$1"
}
# Containers the agent reports: one container_last_seen per cgroup but "/".
containers_seen() { grep '^container_last_seen{' "$1" | grep -cv '{id="/"}' || true; }
ours_seen() { grep '^container_last_seen{' "$1" | grep -c 'name="sonde-bench-[0-9]*"' || true; }

# wait_listed NAME N: bounded wait until the agent reports all N of our
# containers and the collector succeeds (the listing at start is
# asynchronous).
wait_listed() {
  local url body=$WORK/probe
  url=$(eval echo "\$URL_$1")
  for _ in $(seq 100); do
    curl -fsS -o "$body" "$url"
    if [ "$(collector_success "$body")" = 1 ] && (($(ours_seen "$body") == $2)); then
      return 0
    fi
    sleep 0.1
  done
  echo "the agent reports $(ours_seen "$body") of $2 containers," \
    "collector success $(collector_success "$body"); log:" >&2
  cat "$WORK/$1.log" >&2
  exit 1
}

echo "measuring: ${COUNTS[*]} idle containers, $SCRAPES scrapes each after $WARMUP warm-up" >&2
FAILED=0
for n in "${COUNTS[@]}"; do
  run_containers "$n"
  start "c$n" "$SONDE" --collector.disable-defaults --collector.container
  wait_listed "c$n" "$n"
  measure "c$n"
  body=$WORK/body.c$n
  printf -v "M_c${n}_seen" '%s' "$(containers_seen "$body")"
  printf -v "M_c${n}_container" '%s' "$(grep -c '^container_' "$body" || true)"
  printf -v "M_c${n}_success" '%s' "$(collector_success "$body")"
  [ "$(collector_success "$body")" = 1 ] || FAILED=1
  stop "c$n"
done

# slope A B: CPU per scrape per container between counts A and B, in ms.
slope() {
  local ca cb sa sb
  ca=$(eval echo "\$M_c${1}_cpu")
  cb=$(eval echo "\$M_c${2}_cpu")
  sa=$(eval echo "\$M_c${1}_seen")
  sb=$(eval echo "\$M_c${2}_seen")
  awk -v ca="$ca" -v cb="$cb" -v sa="$sa" -v sb="$sb" \
    'BEGIN { if (sb == sa) print "–"; else printf "%.4f", (cb - ca) / (sb - sa) }'
}
# Least-squares slope of CPU per scrape over containers seen, all counts.
fit_slope() {
  local n
  for n in "${COUNTS[@]}"; do
    echo "$(eval echo "\$M_c${n}_seen") $(eval echo "\$M_c${n}_cpu")"
  done | awk '{ x[NR] = $1; y[NR] = $2; sx += $1; sy += $2 } END {
    mx = sx / NR; my = sy / NR
    for (i = 1; i <= NR; i++) { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) ^ 2 }
    if (sxx == 0) print "–"; else printf "%.4f", sxy / sxx }'
}

echo "## Container metrics: sonde-exporter with 0 to ${COUNTS[-1]} idle containers"
echo
machine
echo "Docker $(docker version -f '{{.Server.Version}}' 2>/dev/null)," \
  "cgroup v$(docker info -f '{{.CgroupVersion}}') ($(docker info -f '{{.CgroupDriver}}') driver);"
"$SONDE" --version 2>&1 | head -1
echo
header="| measure |"
rule="|---|"
for n in "${COUNTS[@]}"; do
  header+=" $n containers |"
  rule+="---:|"
done
echo "$header"
echo "$rule"
for row in "seen:containers the agent reports" "cpu:CPU per scrape (ms)" \
  "user:… of it user (ms)" "sys:… of it system (ms)" \
  "p50:median latency (ms)" "p99:p99 latency (ms)" \
  "rss:RSS (VmRSS) after $((SCRAPES + WARMUP)) scrapes (MB)" \
  "anon:… of it anonymous (RssAnon, MB)" "file:… of it file-backed (RssFile, MB)" \
  "bytes:response bytes (identity)" "gzip:response bytes (gzip)" \
  "samples:samples" "container:container_* samples" \
  "success:collector success"; do
  key=${row%%:*}
  line="| ${row#*:} |"
  for n in "${COUNTS[@]}"; do
    line+=" $(eval echo "\$M_c${n}_$key") |"
  done
  echo "$line"
done
echo
echo "CPU per scrape per container (ms):"
for ((i = 1; i < ${#COUNTS[@]}; i++)); do
  echo "* from ${COUNTS[i - 1]} to ${COUNTS[i]} containers: $(slope "${COUNTS[i - 1]}" "${COUNTS[i]}")"
done
echo "* least-squares over all counts: $(fit_slope)"
for n in "${COUNTS[@]}"; do
  seen=$(eval echo "\$M_c${n}_seen")
  if ((seen != n)); then
    echo "* with $n of ours, the agent reported $seen containers: others were running on the host"
  fi
done
echo
last=${COUNTS[-1]}
goal "RSS (VmRSS) at $last containers (MiB)" "$(eval echo "\$M_c${last}_rss")" 12
goal "CPU per scrape per container (ms, least-squares)" "$(fit_slope)" 0.3
if ((FAILED)); then
  echo "the container collector failed in some scrape (collector success 0)" >&2
  exit 1
fi
