#!/usr/bin/env python3
"""Recovery-time probe: opens N connections to HOST:PORT (one echo each), writes DIR/open, waits
for DIR/go (the server was killed meanwhile), then sends one request on every connection at once
and records the wall-clock time each echo arrives. Prints JSON {"arrivals": [epoch seconds...],
"missing": n, "sent_at": epoch seconds when the sends began}."""
import json
import os
import resource
import selectors
import socket
import sys
import time

host, port, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, max(n + 64, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
socks = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    socks.append(s)
open(os.path.join(d, "open"), "w").close()
while not os.path.exists(os.path.join(d, "go")):
    time.sleep(0.005)
sent_at = time.time()
sel = selectors.DefaultSelector()
for s in socks:
    s.sendall(b"y")
    sel.register(s, selectors.EVENT_READ)
arrivals = []
deadline = time.time() + 60
while len(arrivals) < n and time.time() < deadline:
    for key, _ in sel.select(timeout=1):
        if key.fileobj.recv(1) == b"y":
            arrivals.append(time.time())
        sel.unregister(key.fileobj)
print(json.dumps({"arrivals": arrivals, "missing": n - len(arrivals), "sent_at": sent_at}))
