#!/usr/bin/env python3
"""Deterministic echo server (no shim): echoes every byte back on each connection.

Usage: echo.py PORT [6] [--slow-restart SECONDS MARKER]
With --slow-restart, a start that finds MARKER sleeps SECONDS before listening (an app that takes
long to come back); the first start creates MARKER.
"""
import os
import socket
import sys
import threading
import time

args = sys.argv[1:]
if "--slow-restart" in args:
    i = args.index("--slow-restart")
    delay, marker = float(args[i + 1]), args[i + 2]
    del args[i:i + 3]
    if os.path.exists(marker):
        time.sleep(delay)
    else:
        open(marker, "w").close()

port = int(args[0]) if args else 9000
family = socket.AF_INET6 if len(args) > 1 and args[1] == "6" else socket.AF_INET


def serve(conn):
    with conn:
        while True:
            data = conn.recv(262144)
            if not data:
                return
            conn.sendall(data)


srv = socket.socket(family, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
srv.listen(4096)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
