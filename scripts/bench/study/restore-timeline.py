#!/usr/bin/env python3
"""A takeover's restores over time, from the standby's JSON log (failover.sh, BENCH_KEEP_DIR).

Usage: restore-timeline.py standby.log
Prints the takeover's steps (ms after "the log is ours"), restores per 20 ms, the gaps of more
than 15 ms between restores, and the restores' own durations (p10/p50/p90/max).
"""
import json
import sys

t0, finished, durations, steps = None, [], [], []
for line in open(sys.argv[1]):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    msg = rec.get("msg", "")
    if "the log is ours" in msg:
        t0 = rec["time"]
    if t0 is None:
        continue
    if msg == "connection restored":
        finished.append(rec["time"] - t0)
        durations.append(rec.get("ms", 0))
    elif any(k in msg for k in ("listens again", "VIP claimed", "app started", "every client answered", "connections found open")):
        steps.append((rec["time"] - t0, msg[:70]))
for t, msg in steps:
    print(f"  +{t} {msg}")
buckets = {}
for t in finished:
    buckets[t // 20 * 20] = buckets.get(t // 20 * 20, 0) + 1
print("  restores per 20 ms:", " ".join(f"{k}:{v}" for k, v in sorted(buckets.items())))
finished.sort()
print("  gaps > 15 ms (at, length):", [(a, b - a) for a, b in zip(finished, finished[1:]) if b - a > 15])
if durations:
    durations.sort()
    n = len(durations)
    print(f"  restore durations p10 {durations[n // 10]} p50 {durations[n // 2]} p90 {durations[9 * n // 10]} max {durations[-1]} ms")
