#!/usr/bin/env python3
"""Sends complete IP packets (given as hex) through a raw socket, as a router would.

Usage: raw_send.py DEST_ADDR HEX [HEX...]
The packets carry their own IP header (IPPROTO_RAW); DEST_ADDR is their destination.
"""
import socket
import sys

dest = sys.argv[1]
fam = socket.AF_INET6 if ":" in dest else socket.AF_INET
s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_RAW)
for h in sys.argv[2:]:
    s.sendto(bytes.fromhex(h), (dest, 0))
print("sent", len(sys.argv) - 2, flush=True)
