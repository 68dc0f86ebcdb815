#!/usr/bin/env python3
"""A BGP neighbour that stops reading, for speakerd's send hold timer test (RFC 9687;
tests/peers/faults/load.rs).

It connects to SPEAKER port 179 from LOCAL as AS 4200000003 (IPv4 unicast, hold time 9) with a
receive buffer of --rcvbuf octets (set before the connection, so that the window it offers
stays that small), completes the OPEN exchange, prints ESTABLISHED, and from then on never
reads again: it only sends a KEEPALIVE every 3 s, so that the speaker's hold timer never
expires while everything the speaker sends piles up unread. When a KEEPALIVE can no longer be
sent (the speaker reset the connection) it prints CLOSED with the seconds since ESTABLISHED and
exits; after --limit seconds without that it prints STILL-OPEN and exits with status 1.

Usage: slow_reader.py SPEAKER LOCAL [--rcvbuf N] [--limit SECONDS]
"""
import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adversary import DEFAULT_ASN, HOLD, Peer, keepalive, open_message  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("speaker")
    parser.add_argument("local")
    parser.add_argument("--rcvbuf", type=int, default=4096)
    parser.add_argument("--limit", type=float, default=120.0)
    ctx = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ctx.rcvbuf)
    sock.bind((ctx.local, 0))
    sock.settimeout(15)
    sock.connect((ctx.speaker, 179))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer = Peer(sock)
    sock.sendall(open_message(DEFAULT_ASN, bgp_id=ctx.local))
    msg = peer.read_message(15)
    if msg is None or msg[0] != 1:
        sys.exit(f"expected OPEN, got {msg}")
    sock.sendall(keepalive())
    while True:
        msg = peer.read_message(15)
        if msg is None:
            sys.exit("no KEEPALIVE after the OPEN")
        if msg[0] == 3:
            sys.exit(f"NOTIFICATION {msg[1].hex()}")
        if msg[0] == 4:
            break
    up = time.monotonic()
    print("ESTABLISHED", flush=True)
    # From here on nothing is read.
    while time.monotonic() - up < ctx.limit:
        time.sleep(HOLD / 3)
        try:
            sock.sendall(keepalive())
        except OSError as e:
            print(f"CLOSED {time.monotonic() - up:.1f} {e.errno}", flush=True)
            return
    print("STILL-OPEN", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
