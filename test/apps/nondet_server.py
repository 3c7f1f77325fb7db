#!/usr/bin/env python3
"""A server that is NOT deterministic: each connection first gets a random token, then an echo.
A replay after a crash regenerates a different token: the wrapper must detect the divergence."""
import os
import socket
import sys
import threading

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000


def serve(conn):
    with conn:
        conn.sendall(b"token " + os.urandom(8).hex().encode() + b"\n")
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(128)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
