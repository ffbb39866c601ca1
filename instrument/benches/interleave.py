#!/usr/bin/env python3
"""Runs criterion bench binaries in turn, round after round, and reports
each Sonde case's ratio to the best peer of its group as the median and
range over the rounds.

On a machine other builds share, one criterion run times the cases of a
group one after another, so load that changes between two cases moves
their ratio; interleaving the binaries and taking medians over rounds is
what makes two versions comparable (see BENCHMARKS.md, "Lock-free
lookups").

    cargo bench -p sonde-instrument --bench metrics --no-run   # prints the binary's path
    benches/interleave.py ROUNDS FILTER BINARY...              # e.g. 5 'lookup_inc|observe' old new

Each run is `nice -n -15 BINARY --bench FILTER --warm-up-time 0.5
--measurement-time 1.5 --noplot` (root lets the bench's threads run
before other builds', so threads of a contended case do run at once).
Results are appended as JSON lines to interleave.jsonl in the working
directory; the report reads all of them.
"""
import collections
import json
import re
import statistics
import subprocess
import sys
import time

UNIT = {'ps': 1e-3, 'ns': 1, 'µs': 1e3, 'us': 1e3, 'ms': 1e6, 's': 1e9}
TIME = re.compile(r'^(\S[^\n]*?)\s+time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]', re.M)


def run(rounds, pattern, binaries):
    for r in range(rounds):
        for binary in binaries:
            load = open('/proc/loadavg').read().split()[0]
            args = ['nice', '-n', '-15', binary, '--bench', pattern, '--warm-up-time', '0.5',
                    '--measurement-time', '1.5', '--noplot']
            out = subprocess.run(args, capture_output=True, text=True).stdout
            flat = re.sub(r'\n\s+time:', ' time:', out)
            medians = {m.group(1): float(m.group(4)) * UNIT[m.group(5)] for m in TIME.finditer(flat)}
            record = {'round': r, 'bin': binary, 'load': load, 't': time.strftime('%H:%M:%S'), 'res': medians}
            with open('interleave.jsonl', 'a') as f:
                f.write(json.dumps(record) + '\n')


def report():
    ratios = collections.defaultdict(list)
    for line in open('interleave.jsonl'):
        record = json.loads(line)
        groups = collections.defaultdict(dict)
        for case, ns in record['res'].items():
            group, name = case.split('/', 1)
            groups[group][name] = ns
        for group, cases in groups.items():
            # Every case not named after Sonde is a peer (or a baseline).
            peers = [ns for name, ns in cases.items() if not name.startswith('sonde')]
            for name, ns in cases.items():
                if name.startswith('sonde') and peers:
                    ratios[(record['bin'], group, name)].append(ns / min(peers))
    for (binary, group, name), values in sorted(ratios.items()):
        print(f'{binary}  {group}/{name}: median {statistics.median(values):.2f}, '
              f'{min(values):.2f}-{max(values):.2f} over {len(values)} rounds')


if __name__ == '__main__':
    run(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
    report()
