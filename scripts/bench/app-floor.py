#!/usr/bin/env python3
"""The app's own share of a takeover, with nothing of ftcp in the way.

Usage: app-floor.py PORT CONNECTIONS ROUNDS -- APP-COMMAND...   (prints one line per round)

A takeover ends with the app itself: it starts, listens, accepts every restored connection and
answers. This measures that part alone, on loopback, for an unmodified app:
- start: spawn -> the port accepts a connection (polled every millisecond);
- drain: the app is stopped (SIGSTOP) while CONNECTIONS clients connect and each sends one byte (the
  kernel completes the handshakes into the backlog, as a forged handshake does), then continued;
  time from SIGCONT to every client's echo.
start + drain is a floor under "lease taken -> last echo" for that app on this machine: what is
left of the failover target after the lease is what ftcp may spend.
Prints per round: "start_ms drain_p50_ms drain_p99_ms cpu_ms" (cpu: the app's user+sys during the
drain, from /proc).
"""
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

port, conns, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
app = sys.argv[sys.argv.index("--") + 1:]
tick = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / tick


def wait_listening(deadline):
    while time.monotonic() < deadline:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            return s
        except OSError:
            s.close()
            time.sleep(0.001)
    raise SystemExit(f"app-floor: {' '.join(app)} did not listen on 127.0.0.1:{port} within 10 s")


for _ in range(rounds):
    t0 = time.monotonic()
    proc = subprocess.Popen(app, stdin=subprocess.DEVNULL)
    try:
        probe = wait_listening(t0 + 10)
        start_ms = (time.monotonic() - t0) * 1000
        probe.close()
        time.sleep(0.1)  # let the app take the probe and settle in accept()
        os.kill(proc.pid, signal.SIGSTOP)
        sel = selectors.DefaultSelector()
        clients = []
        for _ in range(conns):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"x")
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
            clients.append(c)
        time.sleep(0.2)
        cpu0 = cpu_ms(proc.pid)
        t1 = time.monotonic()
        os.kill(proc.pid, signal.SIGCONT)
        times = []
        while len(times) < conns:
            events = sel.select(10)
            if not events:
                raise SystemExit(f"app-floor: {conns - len(times)} echoes missing after 10 s")
            for key, _ in events:
                if key.fileobj.recv(16):
                    times.append((time.monotonic() - t1) * 1000)
                sel.unregister(key.fileobj)
        cpu = cpu_ms(proc.pid) - cpu0
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"{start_ms:.0f} {times[len(times) // 2]:.0f} {p99:.0f} {cpu:.0f}", flush=True)
        for c in clients:
            c.close()
    finally:
        proc.kill()
        proc.wait()
