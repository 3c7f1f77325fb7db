#!/usr/bin/env python3
"""A minimal TCP client over raw sockets, so the test chooses the client's ISN (the kernel's
cannot be chosen): the client stream crosses 2^32 right after the handshake. Stop-and-wait with
retransmission; reads the echo of every segment. The kernel's own RSTs for this port must be
dropped by the caller (nftables). Usage: raw_client.py SRC DST PORT SPORT ISN SEGMENTS GO_FILE
Waits for GO_FILE after the first half of the segments (the test crashes the server then).
Prints JSON {"ok": bool, "sent": n, "echoed": n, "error": ...}."""
import hashlib
import json
import os
import select
import socket
import struct
import sys
import time

src, dst, port, sport, isn, nseg, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
SEG = 1000
M = 1 << 32
tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
srcb, dstb = socket.inet_aton(src), socket.inet_aton(dst)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def send(seq, ack, flags, payload=b"", window=65535, options=b""):
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, port, seq % M, ack % M, off << 4, flags, window, 0, 0) + options
    pseudo = srcb + dstb + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
    tx.sendto(hdr + payload, (dst, 0))


def recv(timeout):
    """Next segment of our connection: (seq, ack, flags, window, payload) or None on timeout."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([rx], [], [], left)[0]:
            return None
        pkt = rx.recv(70000)
        ihl = (pkt[0] & 15) * 4
        if pkt[12:16] != dstb:
            continue
        t = pkt[ihl:]
        sp, dp, seq, ack, offb, flags, win = struct.unpack("!HHIIBBH", t[:16])
        if sp != port or dp != sport:
            continue
        return seq, ack, flags, win, t[(offb >> 4) * 4:]


SYN, ACK, FIN, RST, PSH = 2, 16, 1, 4, 8
out = {"ok": False, "sent": 0, "echoed": 0}
try:
    send(isn, 0, SYN, options=struct.pack("!BBH", 2, 4, 1460))
    while True:
        r = recv(3)
        if r is None:
            send(isn, 0, SYN, options=struct.pack("!BBH", 2, 4, 1460))
            continue
        if r[2] & (SYN | ACK) == SYN | ACK:
            break
    irs_srv = r[0]
    snd = isn + 1  # next byte to send (unbounded, mod 2^32 on the wire)
    rcv = irs_srv + 1  # next byte expected from the server
    send(snd, rcv, ACK)
    sent_hash, echo_hash = hashlib.sha256(), hashlib.sha256()
    echoed = 0
    for i in range(nseg):
        if i == nseg // 2:
            open(go + ".half", "w").close()
            while not os.path.exists(go):
                time.sleep(0.02)
        payload = bytes((i * 7 + k) & 0xFF for k in range(SEG))
        sent_hash.update(payload)
        acked = False
        want = echoed + SEG
        deadline = time.monotonic() + 90
        last_tx = 0
        while (not acked or echoed < want) and time.monotonic() < deadline:
            if not acked and time.monotonic() - last_tx > 0.3:
                send(snd, rcv, ACK | PSH, payload)
                last_tx = time.monotonic()
            r = recv(0.1)
            if r is None:
                continue
            seq, ack, flags, win, data = r
            if flags & RST:
                raise ConnectionError("RST from the server")
            if (ack - (snd + SEG)) % M < M // 2:
                acked = True
            if data:
                # A segment may start before what we have (a retransmission): take its new part.
                skip = (rcv - seq) % M
                if skip < len(data):
                    fresh = data[skip:]
                    echo_hash.update(fresh)
                    echoed += len(fresh)
                    rcv += len(fresh)
                send(snd + (SEG if acked else 0), rcv, ACK)
        if not acked or echoed < want:
            raise TimeoutError(f"segment {i} not echoed")
        snd += SEG
        out["sent"] += SEG
    out["echoed"] = echoed
    out["ok"] = sent_hash.digest() == echo_hash.digest()
    out["crossed"] = (isn + 1 + out["sent"]) >= M
    send(snd, rcv, FIN | ACK)
except Exception as e:  # noqa: BLE001 - reported to the test
    out["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
