#!/usr/bin/env python3
"""Data and rules for scripts/bench-rules.sh.

    bench-rules-data.py rules FILE          writes the rule file (100 alerts)
    bench-rules-data.py data DIR INTERVAL   rewrites DIR/bench.prom every
                                            INTERVAL seconds until killed

The data: 10 services (`svc`) x 10 pods (`pod`) = 100 label combinations,
each with exactly 100 series, so 10,000 series in all:

* `http_server_resp_time` histogram by `code` (200, 500) and `method` (GET):
  client_golang's 11 default buckets + `+Inf`, `_sum`, `_count` = 2 x 14 = 28;
* `http_requests_total` by `code` (200, 404, 500) and `method` (GET, POST): 6;
* `app_memory_usage_bytes`, `app_memory_limit_bytes`, `app_open_fds`
  (gauges) and `app_cpu_seconds_total` (counter): 4;
* `app_events_00_total` ... `app_events_31_total`: 32 counters;
* `app_level_00` ... `app_level_29`: 30 gauges.

Every value changes at every rewrite: counters (and histogram buckets, sums
and counts, consistently) only grow, gauges take a bounded random walk. The
file is written to a temporary name and renamed, so a reader never sees half
of it. The random seed is fixed, so two runs write the same sequence.
"""

import math
import os
import random
import sys
import time

SERVICES = [f"svc{i}" for i in range(10)]
PODS = 10
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
COUNTERS = 32
GAUGES = 30
LIMIT = 512 * 1024 * 1024


def fmt(v):
    """A value as client_golang writes it: integers without a fraction."""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


class Pod:
    """The state of one (svc, pod) combination."""

    def __init__(self, rng, s, p):
        self.svc = SERVICES[s]
        self.pod = f"{self.svc}-{p}"
        self.labels = f'pod="{self.pod}",svc="{self.svc}"'
        # Per service: a typical latency and an error share, so some services
        # are slow or failing and their alerts fire.
        self.latency = 0.01 * (1 + s)
        self.error_share = 0.002 * s
        self.hist = {code: [[0] * (len(BUCKETS) + 1), 0.0] for code in ("200", "500")}
        self.requests = {(c, m): 0 for c in ("200", "404", "500") for m in ("GET", "POST")}
        self.memory = rng.uniform(0.3, 0.9) * LIMIT
        self.fds = rng.randint(50, 1000)
        self.cpu = 0.0
        self.cpu_speed = rng.uniform(0.05, 1.0)
        self.counters = [0] * COUNTERS
        self.counter_speed = [rng.randint(0, 20) for _ in range(COUNTERS)]
        self.gauges = [rng.uniform(0, 1000) for _ in range(GAUGES)]

    def step(self, rng, dt):
        for code, share in (("200", 1 - self.error_share), ("500", self.error_share)):
            counts, total = self.hist[code]
            n = round(rng.uniform(5, 15) * dt * (share if code == "200" else max(share * 20, 0.2)))
            for _ in range(n):
                v = rng.lognormvariate(math.log(self.latency), 0.8)
                total += v
                for i, le in enumerate(BUCKETS):
                    if v <= le:
                        counts[i] += 1
                counts[-1] += 1
            self.hist[code][1] = total
        for key in self.requests:
            weight = {"200": 10, "404": 1, "500": 0.5}[key[0]]
            self.requests[key] += rng.randint(0, round(10 * weight * dt))
        self.memory = min(max(self.memory + rng.uniform(-0.02, 0.02) * LIMIT, 0.1 * LIMIT), LIMIT)
        self.fds = min(max(self.fds + rng.randint(-20, 20), 10), 1100)
        self.cpu += self.cpu_speed * dt * rng.uniform(0.8, 1.2)
        for i, speed in enumerate(self.counter_speed):
            self.counters[i] += rng.randint(0, speed) * dt
        for i, g in enumerate(self.gauges):
            self.gauges[i] = min(max(g + rng.uniform(-50, 50), 0), 1000)


def render(pods):
    out = []
    w = out.append
    w("# HELP http_server_resp_time Response time of the service's HTTP requests.\n")
    w("# TYPE http_server_resp_time histogram\n")
    for p in pods:
        for code, (counts, total) in p.hist.items():
            base = f'code="{code}",method="GET",{p.labels}'
            for le, c in zip(BUCKETS + ["+Inf"], counts):
                w(f'http_server_resp_time_bucket{{{base},le="{le}"}} {c}\n')
            w(f"http_server_resp_time_sum{{{base}}} {fmt(total)}\n")
            w(f"http_server_resp_time_count{{{base}}} {counts[-1]}\n")
    w("# HELP http_requests_total HTTP requests served.\n# TYPE http_requests_total counter\n")
    for p in pods:
        for (code, method), v in p.requests.items():
            w(f'http_requests_total{{code="{code}",method="{method}",{p.labels}}} {v}\n')
    for name, kind, get in (
        ("app_memory_usage_bytes", "gauge", lambda p: p.memory),
        ("app_memory_limit_bytes", "gauge", lambda p: LIMIT),
        ("app_open_fds", "gauge", lambda p: p.fds),
        ("app_cpu_seconds_total", "counter", lambda p: p.cpu),
    ):
        w(f"# HELP {name} A bench metric.\n# TYPE {name} {kind}\n")
        for p in pods:
            w(f"{name}{{{p.labels}}} {fmt(round(get(p), 3))}\n")
    for i in range(COUNTERS):
        w(f"# HELP app_events_{i:02}_total A bench counter.\n# TYPE app_events_{i:02}_total counter\n")
        for p in pods:
            w(f"app_events_{i:02}_total{{{p.labels}}} {fmt(p.counters[i])}\n")
    for i in range(GAUGES):
        w(f"# HELP app_level_{i:02} A bench gauge.\n# TYPE app_level_{i:02} gauge\n")
        for p in pods:
            w(f"app_level_{i:02}{{{p.labels}}} {fmt(round(p.gauges[i], 2))}\n")
    return "".join(out)


def data(directory, interval):
    rng = random.Random(6)
    pods = [Pod(rng, s, p) for s in range(len(SERVICES)) for p in range(PODS)]
    path = os.path.join(directory, "bench.prom")
    tmp = os.path.join(directory, ".bench.prom.tmp")
    next_at = time.monotonic()
    while True:
        for p in pods:
            p.step(rng, interval)
        with open(tmp, "w") as f:
            f.write(render(pods))
        os.rename(tmp, path)
        next_at += interval
        time.sleep(max(next_at - time.monotonic(), 0))


def rule(out, name, expr, summary, for_=None):
    out.append(f"      - alert: {name}\n        expr: '{expr}'\n")
    if for_:
        out.append(f"        for: {for_}\n")
    out.append("        labels:\n          receiver: system\n")
    out.append(f"        annotations:\n          summary: '{summary}'\n")


def rules(path):
    out = ["# 100 alerting rules for scripts/bench-rules.sh (generated by bench-rules-data.py).\n",
           "groups:\n  - name: bench\n    rules:\n"]
    # 50 rules as the com.df.* shortcuts expand them (SPEC §3), 5 per service,
    # with `svc` in place of `job`/the Swarm service label.
    for s in SERVICES:
        sel = f'svc="{s}"'
        rule(out, f"{s}_mem_limit",
             f"app_memory_usage_bytes{{{sel}}} / app_memory_limit_bytes{{{sel}}} > 0.8",
             f"Memory of the service {s} is over 0.8", "5m")
        for name, le, cmp, v in (("resp_time_above", "0.1", "<", "0.99"), ("resp_time_below", "0.025", ">", "0.75")):
            rule(out, f"{s}_{name}",
                 f'sum(rate(http_server_resp_time_bucket{{{sel}, le="{le}"}}[5m])) / '
                 f"sum(rate(http_server_resp_time_count{{{sel}}}[5m])) {cmp} {v}",
                 f"Response time of the service {s} is {name[10:]} {le}")
        rule(out, f"{s}_errors",
             f'sum(rate(http_server_resp_time_count{{{sel}, code=~"^5..$"}}[5m])) / '
             f"sum(rate(http_server_resp_time_count{{{sel}}}[5m])) > 0.001",
             f"Error rate of the service {s} is above 0.001")
        rule(out, f"{s}_replicas", f"count(app_memory_usage_bytes{{{sel}}}) != 10",
             f"The number of running replicas of the service {s} is not 10", "10m")
    # 50 rules over the whole fleet.
    fns = ["rate", "irate", "increase"]
    for i in range(12):
        fn, rng = fns[i % 3], ("1m", "5m")[i % 2]
        thr = {"rate": 9, "irate": 9, "increase": 9 * (60 if rng == "1m" else 300)}[fn]
        rule(out, f"events_{i:02}_high",
             f"sum by (svc) ({fn}(app_events_{i:02}_total[{rng}])) > {thr * 10}",
             "{{ $labels.svc }}: " + f"{fn} of app_events_{i:02}_total is " + "{{ $value }}")
    aggs = [("avg", "> 800"), ("max", "> 990"), ("min", "< 10"), ("sum", "> 30000"), ("count", "< 20"),
            ("last", "> 995")]
    for i in range(12):
        agg, cmp = aggs[i % len(aggs)]
        rng = ("1m", "5m")[(i // 2) % 2]
        rule(out, f"level_{i:02}_{agg}", f"{agg}_over_time(app_level_{i:02}[{rng}]) {cmp}",
             "{{ $labels.pod }}: " + f"{agg} of app_level_{i:02} is " + "{{ $value }}")
    fleet = [
        ("latency_p99", "histogram_quantile(0.99, sum by (svc, le) (rate(http_server_resp_time_bucket[5m]))) > 0.5"),
        ("latency_p50", "histogram_quantile(0.5, sum by (svc, le) (rate(http_server_resp_time_bucket[1m]))) > 0.05"),
        ("latency_p90_pod", "histogram_quantile(0.9, rate(http_server_resp_time_bucket{code=\"200\"}[5m])) > 0.2"),
        ("latency_p95_all", "histogram_quantile(0.95, sum by (le) (rate(http_server_resp_time_bucket[5m]))) > 1"),
        ("mean_latency", "sum by (svc) (rate(http_server_resp_time_sum[5m])) / sum by (svc) (rate(http_server_resp_time_count[5m])) > 0.08"),
        ("http_5xx_ratio", "sum by (svc) (rate(http_requests_total{code=~\"5..\"}[1m])) / sum by (svc) (rate(http_requests_total[1m])) > 0.05"),
        ("http_404_ratio", "sum by (svc, method) (rate(http_requests_total{code=\"404\"}[5m])) / sum by (svc, method) (rate(http_requests_total[5m])) > 0.1"),
        ("http_no_traffic", "count by (svc) (rate(http_requests_total{code!=\"404\"}[1m]) == 0) > 3"),
        ("busy_and_failing", "(sum by (svc) (rate(http_requests_total[5m])) > 40) and on (svc) (sum by (svc) (rate(http_server_resp_time_count{code=\"500\"}[5m])) > 1)"),
        ("cpu_pod", "rate(app_cpu_seconds_total[1m]) > 0.9"),
        ("cpu_service", "avg by (svc) (rate(app_cpu_seconds_total[5m])) > 0.6"),
        ("cpu_top", "topk(3, irate(app_cpu_seconds_total[1m])) > 1"),
        ("memory_pod", "app_memory_usage_bytes / on (svc, pod) app_memory_limit_bytes > 0.9"),
        ("memory_service", "sum by (svc) (app_memory_usage_bytes) / sum by (svc) (app_memory_limit_bytes) > 0.7"),
        ("fds_pod", "app_open_fds > 1000"),
        ("fds_service_p90", "quantile by (svc) (0.9, app_open_fds) > 900"),
        ("level_16_delta", "delta(app_level_16[5m]) > 200"),
        ("level_17_idelta", "idelta(app_level_17[1m]) < -45"),
        ("level_18_spread", "max by (svc) (app_level_18) - min by (svc) (app_level_18) > 900"),
        ("level_19_jump", "abs(delta(app_level_19[1m])) > 300"),
        ("level_20_vs_21", "app_level_20 > on (svc, pod) app_level_21 * 3"),
        ("events_16_idle", "bottomk(2, sum by (svc) (rate(app_events_16_total[5m]))) < 1"),
        ("events_17_absent", "absent(app_events_17_total{svc=\"svc0\"})"),
        ("events_18_vs_19", "sum by (svc) (rate(app_events_18_total[1m])) > 2 * sum by (svc) (rate(app_events_19_total[1m]))"),
        ("events_20_burst", "irate(app_events_20_total[1m]) > 18"),
        ("events_21_mean", "avg by (svc) (increase(app_events_21_total[5m])) > clamp_min(avg by (svc) (increase(app_events_22_total[5m])), 1) * 4"),
    ]
    assert len(fleet) == 26, len(fleet)
    for name, expr in fleet:
        rule(out, name, expr, "{{ $labels.svc }}: " + name + " is {{ $value }}")
    text = "".join(out)
    assert text.count("- alert:") == 100, text.count("- alert:")
    with open(path, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "rules":
        rules(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "data":
        data(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
