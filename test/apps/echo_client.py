#!/usr/bin/env python3
"""Streams N random bytes to HOST:PORT while reading the echo; prints JSON with both SHA-256s.

Usage: echo_client.py HOST PORT BYTES [TIMEOUT_S] [RATE_BYTES_PER_S]

Exit code 0 when the echo equals what was sent, 1 otherwise; errors (RST, timeout) print
{"error": ...} and exit 2.
"""
import hashlib
import json
import os
import socket
import sys
import threading
import time

host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
rate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
chunk = 65536

sent_hash = hashlib.sha256()
recv_hash = hashlib.sha256()
received = 0
error = None

try:
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def writer():
        global error
        left = total
        start = time.monotonic()
        try:
            while left > 0:
                if rate > 0:
                    ahead = (total - left) / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
                n = min(chunk, left)
                buf = os.urandom(n)
                sent_hash.update(buf)
                s.sendall(buf)
                left -= n
        except OSError as e:
            error = f"send: {e}"

    t = threading.Thread(target=writer)
    t.start()
    while received < total:
        data = s.recv(262144)
        if not data:
            error = error or f"EOF after {received} bytes"
            break
        recv_hash.update(data)
        received += len(data)
    t.join()
    s.close()
except OSError as e:
    error = f"{type(e).__name__}: {e}"

out = {"sent": total, "received": received, "sentSha": sent_hash.hexdigest(), "recvSha": recv_hash.hexdigest()}
if error:
    out["error"] = error
print(json.dumps(out))
sys.exit(2 if error else (0 if out["sentSha"] == out["recvSha"] else 1))
