#!/usr/bin/env python3
"""Where a V8 CPU profile's time went in a window: self time per function and per file.

Usage: profile-window.py PROFILE [ANCHOR=promoteOnce] [WINDOW_MS=600] [TOP=45] [total]
The window starts at the first sample with ANCHOR on its stack (the standby's promotion: the lease
is taken) and lasts WINDOW_MS. Profiles come from failover.sh with BENCH_PROFILE_DIR=DIR.
"total" also lists total (inclusive) time per function.
"""
import collections
import json
import sys

prof = json.load(open(sys.argv[1]))
anchor = sys.argv[2] if len(sys.argv) > 2 else "promoteOnce"
window_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 600
top = int(sys.argv[4]) if len(sys.argv) > 4 else 45
nodes = {n["id"]: n for n in prof["nodes"]}
parent = {c: n["id"] for n in prof["nodes"] for c in n.get("children", [])}


def name(i):
    cf = nodes[i]["callFrame"]
    return f"{cf['functionName'] or '(anon)'} {cf['url'].split('/')[-1]}:{cf['lineNumber'] + 1}"


def stack(i):
    out = []
    while i is not None:
        out.append(i)
        i = parent.get(i)
    return out


samples, t = [], prof["startTime"]
for sid, dt in zip(prof["samples"], prof["timeDeltas"]):
    t += dt
    samples.append((t, sid))
t0 = next((ts for ts, sid in samples if any(nodes[j]["callFrame"]["functionName"] == anchor for j in stack(sid))), None)
if t0 is None:
    sys.exit(f"{anchor} is on no sampled stack")
self_ms, total_ms, file_ms, sampled = collections.Counter(), collections.Counter(), collections.Counter(), 0.0
for i, (ts, sid) in enumerate(samples):
    if ts < t0 or ts > t0 + window_ms * 1000:
        continue
    dt = (samples[i + 1][0] - ts) / 1000 if i + 1 < len(samples) else 0
    sampled += dt
    self_ms[name(sid)] += dt
    cf = nodes[sid]["callFrame"]
    file_ms[cf["url"].split("/")[-1] or cf["functionName"]] += dt
    for j in {name(k) for k in stack(sid)}:
        total_ms[j] += dt
print(f"window {window_ms:.0f} ms from {anchor}: {sampled:.0f} ms sampled")
print("-- self")
for k, v in self_ms.most_common(top):
    print(f"{v:7.1f} {k}")
print("-- self by file")
for k, v in file_ms.most_common(25):
    print(f"{v:7.1f} {k}")
if "total" in sys.argv[5:]:
    print("-- total")
    for k, v in total_ms.most_common(top):
        print(f"{v:7.1f} {k}")
