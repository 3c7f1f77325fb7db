#!/usr/bin/env python3
"""Deterministic echo server (no shim), event-driven: one thread, epoll via selectors, echoes
every byte back on each connection — the design of servers that carry thousands of connections
(a thread per connection, as in echo.py, makes every echo wait its turn for the GIL when a
thousand arrive at once).

Usage: echo_events.py PORT [6]
"""
import selectors
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
family = socket.AF_INET6 if len(sys.argv) > 2 and sys.argv[2] == "6" else socket.AF_INET
sel = selectors.DefaultSelector()
srv = socket.socket(family, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
srv.listen(4096)
srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ)
pending = {}  # conn -> bytes not yet written (the peer reads slower than it writes)


def close(conn):
    sel.unregister(conn)
    pending.pop(conn, None)
    conn.close()


while True:
    for key, events in sel.select():
        s = key.fileobj
        if s is srv:
            while True:
                try:
                    conn, _ = srv.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ)
            continue
        if events & selectors.EVENT_WRITE:
            out = pending[s]
            try:
                n = s.send(out)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                close(s)
                continue
            if n < len(out):
                pending[s] = out[n:]
            else:
                del pending[s]
                sel.modify(s, selectors.EVENT_READ)
            continue
        try:
            data = s.recv(262144)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            close(s)
            continue
        if not data:
            close(s)
            continue
        try:
            n = s.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            close(s)
            continue
        if n < len(data):
            # Stop reading until the rest is out: echoes stay in order, memory stays bounded.
            pending[s] = data[n:]
            sel.modify(s, selectors.EVENT_WRITE)
