#!/usr/bin/env python3
"""Failover times of one run of scripts/bench/failover.sh, relative to the moment the primary host
was killed. Usage: failover-times.py KILL_EPOCH CLIENT_JSON STANDBY_LOG N
CLIENT_JSON is recovery-client.py's output (arrival time of each connection's echo); STANDBY_LOG is
the standby daemon's JSON log (pino: "time" in epoch ms, "msg"). Prints two lines:
  "P50 P99 MAX MISSING SENT" (ms; '-' when nothing arrived; SENT: when the client sent, after the kill)
  the standby's own steps, "name=ms ..." in order ('-' for a step not logged)."""
import json
import sys

kill = float(sys.argv[1])
client = json.load(open(sys.argv[2]))
n = int(sys.argv[4])

ms = sorted((t - kill) * 1000 for t in client["arrivals"])
# When the client began sending, after the kill (its bytes are the ones in flight at the failure).
sent = f"{(client['sent_at'] - kill) * 1000:.0f}" if "sent_at" in client else "-"
if ms:
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    print(f"{p(0.5):.0f} {p(0.99):.0f} {ms[-1]:.0f} {n - len(ms)} {sent}")
else:
    print(f"- - - {n} {sent}")

# First log line whose msg contains each marker (the standby logs each step once per takeover).
steps = [
    ("lease-taken", "took the lease"),
    ("log-ours", "the log is ours"),
    ("vip-claimed", "VIP claimed"),
    ("app-started", "app started"),
    ("listens-again", "listens again"),
    ("first-restored", "connection restored"),
]
seen = {}
restored = []
for line in open(sys.argv[3], errors="replace"):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    msg, t = str(rec.get("msg", "")), rec.get("time")
    if not isinstance(t, (int, float)):
        continue
    at = t - kill * 1000
    for name, marker in steps:
        if marker in msg and name not in seen:
            seen[name] = at
    if "connection restored" in msg:
        restored.append(at)
fmt = lambda v: "-" if v is None else f"{v:.0f}"
parts = [f"{name}={fmt(seen.get(name))}" for name, _ in steps]
restored.sort()
q = lambda x: restored[min(len(restored) - 1, int(x * len(restored)))] if restored else None
parts.append(f"last-restored={fmt(restored[-1] if restored else None)}")
parts.append(f"restored={len(restored)} (p50 {fmt(q(0.5))}, p99 {fmt(q(0.99))})")
print(" ".join(parts))
