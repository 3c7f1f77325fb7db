#!/usr/bin/env python3
"""Client for test/apps/clock-server.mjs: one connection sending a line every GAP seconds for
DURATION seconds; answers must be numbered 1, 2, 3, ... with non-decreasing times. Prints one JSON
line: answers, and `error` (e.g. a reset) if the connection failed."""
import json, socket, sys, time

host, port = sys.argv[1], int(sys.argv[2])
duration = float(sys.argv[3]) if len(sys.argv) > 3 else 5
gap = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02
s = socket.create_connection((host, port), timeout=15)
buf = b''
n = 0
last_t = 0.0
error = None
end = time.time() + duration
try:
    while time.time() < end:
        s.sendall(b't\n')
        while b'\n' not in buf:
            d = s.recv(4096)
            if not d:
                raise EOFError('unexpected EOF')
            buf += d
        line, buf = buf.split(b'\n', 1)
        k, t = line.decode().split(' ')
        n += 1
        if int(k) != n:
            raise ValueError(f'answer {k}, want {n}')
        if float(t) < last_t:
            raise ValueError(f'time went back: {t} < {last_t}')
        last_t = float(t)
        time.sleep(gap)
except Exception as e:  # noqa: BLE001 - the report names it
    error = repr(e)
print(json.dumps({'answers': n, 'error': error}))
