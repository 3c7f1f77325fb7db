#!/usr/bin/env python3
"""Five connections through an app outage. Phases are driven by files in DIR:
writes DIR/phase1 once every connection echoed once, waits for DIR/down (the app is down), then:
  A: idle with aggressive keep-alives (would die in ~8 s without answers), echoes after recovery
  B: sends data during the outage, expects its echo after recovery
  C: sends data then shuts down its sending side (FIN) during the outage: expects the echo then EOF
  D: resets (SO_LINGER 0) during the outage
  E: idle, echoes after recovery
Prints one JSON object with each connection's outcome."""
import json
import os
import socket
import struct
import sys
import time

host, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
timeout = 120


def echo(s, msg):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        data = s.recv(4096)
        if not data:
            raise ConnectionError(f"EOF after {got!r}")
        got += data
    if got != msg:
        raise ValueError(f"wrong bytes {got!r}")


conns = {}
for name in "ABCDE":
    s = socket.create_connection((host, port), timeout=timeout)
    if name == "A":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 2)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    echo(s, f"{name} first\n".encode())
    conns[name] = s
open(os.path.join(d, "phase1"), "w").close()
while not os.path.exists(os.path.join(d, "down")):
    time.sleep(0.05)
time.sleep(1)

out = {}
conns["B"].sendall(b"B during the outage\n")
conns["C"].sendall(b"C last words\n")
conns["C"].shutdown(socket.SHUT_WR)
conns["D"].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conns["D"].close()
out["D"] = "reset sent"

# B and C: their echoes arrive once the app is back.
for name, msg in (("B", b"B during the outage\n"), ("C", b"C last words\n")):
    s = conns[name]
    try:
        got = b""
        while len(got) < len(msg):
            data = s.recv(4096)
            if not data:
                break
            got += data
        out[name] = "ok" if got == msg else f"wrong {got!r}"
        if name == "C" and out[name] == "ok":
            out[name] = "ok+eof" if s.recv(4096) == b"" else "no eof"
    except OSError as e:
        out[name] = f"error {e}"
for name in "AE":
    try:
        echo(conns[name], f"{name} after\n".encode())
        out[name] = "ok"
    except (OSError, ValueError) as e:
        out[name] = f"error {e}"
print(json.dumps(out))
