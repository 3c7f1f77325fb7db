#!/usr/bin/env python3
"""Prints the daemon's crash and restore events (JSON log lines on stdin) for the demo."""
import json
import sys

for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    msg = e.get("msg", "")
    if "crash detected" in msg:
        print(f"ftcp: {msg} ({e.get('reason', '')})")
    elif msg == "connection restored":
        print(f"ftcp: connection {e.get('conn')} restored in {e.get('ms')} ms, {e.get('replayed')} client bytes replayed")
