#!/usr/bin/env python3
"""Sends malformed and out-of-window TCP segments to DST:PORT through a raw socket (root).
Usage: raw_garbage.py SRC DST PORT COUNT"""
import os
import random
import socket
import struct
import sys
import time

src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def ip_header(payload_len):
    # The kernel fills in the total length and the checksum of IP_HDRINCL packets.
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, random.randint(0, 65535), 0x4000, 64, 6, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))


def tcp(sport, seq, ack, doff_words, flags, options=b"", payload=b"", csum=None):
    hdr = struct.pack("!HHIIBBHHH", sport, port, seq, ack, doff_words << 4, flags, 65535, csum or 0xdead, 0)
    return hdr + options + payload


kinds = []
for i in range(count):
    k = i % 6
    sport = random.randint(20000, 60000)
    if k == 0:  # truncated TCP header
        seg = tcp(sport, 1, 0, 5, 0x02)[:12]
    elif k == 1:  # data offset beyond the segment
        seg = tcp(sport, 1, 0, 15, 0x18, payload=b"x" * 8)
    elif k == 2:  # option length running past the header
        seg = tcp(sport, 1, 0, 6, 0x18, options=b"\x02\x09\x05\xb4")
    elif k == 3:  # zero-length option (would loop forever if not checked)
        seg = tcp(sport, 1, 0, 6, 0x18, options=b"\x05\x00\x00\x00")
    elif k == 4:  # out-of-window data with a bad checksum, random flags
        seg = tcp(sport, random.getrandbits(32), random.getrandbits(32), 5, random.getrandbits(8), payload=os.urandom(100))
    else:  # an ACK for no connection
        seg = tcp(sport, random.getrandbits(32), random.getrandbits(32), 5, 0x10)
    s.sendto(ip_header(len(seg)) + seg, (dst, 0))
    if i % 100 == 99:
        time.sleep(0.002)  # let the daemon drain the TUN queue: this is a garbage test, not a flood
print(count)
