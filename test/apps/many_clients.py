#!/usr/bin/env python3
"""Opens N connections to HOST:PORT, checks an echo on each, prints "open" and waits until the file
GO exists (the test crashes the server meanwhile), then checks a second echo on every connection.
Prints JSON: {"open": N, "ok": count, "errors": [...]}."""
import json
import resource
import selectors
import socket
import sys
import time
import os

host, port, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 64), max(hard, n + 64)))

socks = []
errors = []


def round_trip(tag):
    sel = selectors.DefaultSelector()
    want = {}
    for i, s in enumerate(socks):
        if s is None:
            continue
        msg = f"{tag} {i}\n".encode()
        try:
            s.sendall(msg)
        except OSError as e:
            errors.append(f"{i}: send {e}")
            continue
        want[s] = (i, msg, bytearray())
        sel.register(s, selectors.EVENT_READ)
    ok = 0
    deadline = time.monotonic() + timeout
    while want and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            i, msg, got = want[s]
            try:
                data = s.recv(4096)
            except OSError as e:
                errors.append(f"{i}: recv {e}")
                data = b""
            if not data:
                if len(got) < len(msg):
                    errors.append(f"{i}: EOF")
                sel.unregister(s)
                del want[s]
                continue
            got += data
            if len(got) >= len(msg):
                if bytes(got) == msg:
                    ok += 1
                else:
                    errors.append(f"{i}: wrong bytes {bytes(got)!r}")
                sel.unregister(s)
                del want[s]
    for s, (i, _, _) in want.items():
        errors.append(f"{i}: timeout")
    return ok


# Connect all at once (non-blocking), so the handshakes share the log's group commits.
family = socket.AF_INET6 if ":" in host else socket.AF_INET
pending = selectors.DefaultSelector()
for i in range(n):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((host, port))
    socks.append(s)
    pending.register(s, selectors.EVENT_WRITE, i)
deadline = time.monotonic() + timeout
left = n
while left and time.monotonic() < deadline:
    for key, _ in pending.select(timeout=1):
        s, i = key.fileobj, key.data
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            errors.append(f"{i}: connect errno {err}")
            socks[i] = None
        else:
            s.setblocking(True)
            s.settimeout(timeout)
        pending.unregister(s)
        left -= 1
for key in list(pending.get_map().values()):
    errors.append(f"{key.data}: connect timeout")
    socks[key.data] = None
first = round_trip("one")
print(json.dumps({"phase": "open", "ok": first}), flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
second = round_trip("two")
print(json.dumps({"open": n, "first": first, "ok": second, "errors": errors[:20], "errorCount": len(errors)}), flush=True)
