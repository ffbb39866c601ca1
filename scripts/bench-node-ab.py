#!/usr/bin/env python3
"""Two sonde-exporter builds and node_exporter 1.5.0, interleaved.

    python3 scripts/bench-node-ab.py BEFORE AFTER [SCRAPES_PER_ROUND]

Starts BEFORE, AFTER (two sonde-exporter executables, e.g. release builds
of two revisions) and Debian's node_exporter side by side on 127.0.0.1,
each with the node collectors bench-node.sh compares (read from it), gives
each 20 warm-up scrapes, then scrapes them in turn, six rounds of
SCRAPES_PER_ROUND (400) each. A round's CPU is the utime+stime ticks of
the server's /proc/PID/stat over it. Interleaving puts both builds under
the same machine load, which on a shared VM moves by more than a change
under test does; bench-node.sh measures one build at a time.
"""
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
ROUNDS = 6
CLK_TCK = os.sysconf("SC_CLK_TCK")


def collectors():
    text = open(os.path.join(os.path.dirname(__file__), "bench-node.sh")).read()
    return re.search(r"COLLECTORS=\(([^)]*)\)", text).group(1).split()


def ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def scrape(port, n):
    for _ in range(n):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    before, after = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    args = ["--collector.disable-defaults"] + [f"--collector.{c}" for c in collectors()]
    servers = {"before": (before, 19101), "after": (after, 19102), "node_exporter": (NODE_EXPORTER, 19103)}
    load_before = open("/proc/loadavg").read().split()[:3]
    procs = {}
    try:
        for name, (exe, port) in servers.items():
            procs[name] = subprocess.Popen(
                [exe, f"--web.listen-address=127.0.0.1:{port}"] + args,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        time.sleep(1.5)
        for _, port in servers.values():
            scrape(port, 20)
        per_scrape = {name: [] for name in servers}
        for _ in range(ROUNDS):
            for name, (_, port) in servers.items():
                start = ticks(procs[name].pid)
                scrape(port, n)
                per_scrape[name].append((ticks(procs[name].pid) - start) * 1000.0 / CLK_TCK / n)
        peer = per_scrape["node_exporter"]
        print(f"load average before: {' '.join(load_before)}; {ROUNDS} rounds of {n} scrapes")
        for name, values in per_scrape.items():
            line = f"{name}: CPU per scrape (ms) median {statistics.median(values):.3f}, rounds {[round(v, 2) for v in values]}"
            if name != "node_exporter":
                ratios = [round(a / b, 2) for a, b in zip(values, peer)]
                line += f"; / node_exporter median {statistics.median(values) / statistics.median(peer):.3f}, rounds {ratios}"
            print(line)
        for name in ("before", "after"):
            print(f"{name}: open descriptors {len(os.listdir(f'/proc/{procs[name].pid}/fd'))}")
    finally:
        for proc in procs.values():
            proc.terminate()


if __name__ == "__main__":
    main()
