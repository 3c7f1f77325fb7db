#!/usr/bin/env python3
"""Demo client: one TCP connection, a line every 100 ms, checks every answer; prints a verdict."""
import socket
import sys
import time

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=30)
f = s.makefile("rb")
print(f"client: connected to {host}:{port} from port {s.getsockname()[1]}", flush=True)
sent = ok = 0
start = time.monotonic()
try:
    while time.monotonic() - start < seconds:
        sent += 1
        t0 = time.monotonic()
        s.sendall(f"hello {sent}\n".encode())
        answer = f.readline().decode().rstrip("\n")
        rtt = (time.monotonic() - t0) * 1000
        want = f"#{sent} hello {sent}"
        if answer != want:
            print(f"client: WRONG answer {answer!r}, expected {want!r}", flush=True)
            sys.exit(1)
        ok += 1
        note = f"   (waited {rtt:.0f} ms: the server was being restored)" if rtt > 50 else ""
        print(f"client: {answer}{note}", flush=True)
        time.sleep(0.1)
except OSError as e:
    print(f"client: connection FAILED after {ok} answers: {e}", flush=True)
    sys.exit(1)
print(f"client: {sent} lines sent, {ok} correct answers, same connection, no reset", flush=True)
