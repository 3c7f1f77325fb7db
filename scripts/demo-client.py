#!/usr/bin/env python3
"""Demo client: one TCP connection, a request every 100 ms, checks every answer; prints a verdict.
MODE kv (examples/kv-server.mjs): `INCR demo` must answer 1, 2, 3, ...; MODE line
(examples/line-server.mjs): `hello N` must come back as `#N hello N`."""
import socket
import sys
import time

host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "kv"
s = socket.create_connection((host, port), timeout=30)
f = s.makefile("rb")
print(f"client: connected to {host}:{port} from port {s.getsockname()[1]}", flush=True)
sent = ok = 0
start = time.monotonic()
try:
    while time.monotonic() - start < seconds:
        sent += 1
        t0 = time.monotonic()
        s.sendall((f"INCR demo\n" if mode == "kv" else f"hello {sent}\n").encode())
        answer = f.readline().decode().rstrip("\n")
        rtt = (time.monotonic() - t0) * 1000
        want = str(sent) if mode == "kv" else f"#{sent} hello {sent}"
        if answer != want:
            print(f"client: WRONG answer {answer!r}, expected {want!r}", flush=True)
            sys.exit(1)
        ok += 1
        note = f"   (waited {rtt:.0f} ms: the server was being restored)" if rtt > 50 else ""
        print(f"client: {'INCR demo -> ' if mode == 'kv' else ''}{answer}{note}", flush=True)
        time.sleep(0.1)
except OSError as e:
    print(f"client: connection FAILED after {ok} answers: {e}", flush=True)
    sys.exit(1)
print(f"client: {sent} lines sent, {ok} correct answers, same connection, no reset", flush=True)
