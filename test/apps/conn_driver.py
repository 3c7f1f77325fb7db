#!/usr/bin/env python3
"""Holds named TCP connections for a test that drives them one command at a time.

Usage: conn_driver.py HOST PORT
Reads JSON commands on stdin, one per line, and answers each with one JSON line on stdout:
  {"op": "connect", "id": "A"}            -> {"ok": true}
  {"op": "send", "id": "A", "data": "x"}  -> {"ok": true}
  {"op": "recv", "id": "A", "n": 12}      -> {"data": "..."} (exactly n bytes) or {"eof": true, "data": partial}
  {"op": "eof", "id": "A"}                -> {"eof": true, "data": what came before it}
  {"op": "close", "id": "A"}              -> {"ok": true}
Any socket error answers {"error": "..."} (e.g. ConnectionResetError); timeouts are 30 s.
"""
import json
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
conns = {}


def handle(cmd):
    op, cid = cmd["op"], cmd.get("id")
    if op == "connect":
        s = socket.create_connection((host, port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns[cid] = s
        return {"ok": True}
    s = conns[cid]
    if op == "send":
        s.sendall(cmd["data"].encode("latin1"))
        return {"ok": True}
    if op == "recv":
        got = b""
        while len(got) < cmd["n"]:
            part = s.recv(cmd["n"] - len(got))
            if not part:
                return {"eof": True, "data": got.decode("latin1")}
            got += part
        return {"data": got.decode("latin1")}
    if op == "eof":
        got = b""
        while True:
            part = s.recv(65536)
            if not part:
                return {"eof": True, "data": got.decode("latin1")}
            got += part
    if op == "close":
        s.close()
        del conns[cid]
        return {"ok": True}
    return {"error": "unknown op " + op}


for line in sys.stdin:
    try:
        out = handle(json.loads(line))
    except Exception as e:  # reported to the test, which fails with it
        out = {"error": type(e).__name__ + ": " + str(e)}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
