#!/usr/bin/env python3
"""Deterministic echo server (no shim): echoes every byte back on each connection."""
import socket
import sys
import threading

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
family = socket.AF_INET6 if len(sys.argv) > 2 and sys.argv[2] == "6" else socket.AF_INET


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
srv.listen(1024)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
