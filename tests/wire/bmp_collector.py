#!/usr/bin/env python3
"""A BMP collector for speakerd's tests (tests/bmp.rs): it listens on ADDRESS PORT, accepts
every connection speakerd makes and records what arrives, without interpreting it (the test
decodes the files with bgp-proto's BmpReader and compares with tshark).

Connection N (from 1) is recorded in DIR/conn-N.bin, appended to and flushed as the octets
arrive; DIR/conn-N.closed appears when speakerd closed it (end of stream) or reset it. DIR/ready
appears once the socket listens.

With --stall the collector accepts but never reads: the connections are held open with a
receive buffer of --rcvbuf octets (default 4096) so that speakerd's writes soon have to wait.
DIR/conn-N.bin is then created empty at accept, so that the test sees the connection.

Usage: bmp_collector.py ADDRESS PORT DIR [--stall] [--rcvbuf OCTETS]
"""
import argparse
import os
import socket
import sys
import threading


def record(conn, path):
    """Appends everything `conn` sends to `path` until the stream ends."""
    with open(path + ".bin", "ab", buffering=0) as out:
        while True:
            try:
                data = conn.recv(65536)
            except OSError as e:
                print(f"# {path}: {e}", file=sys.stderr, flush=True)
                break
            if not data:
                break
            out.write(data)
    conn.close()
    with open(path + ".closed", "w"):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("address")
    p.add_argument("port", type=int)
    p.add_argument("dir")
    p.add_argument("--stall", action="store_true")
    p.add_argument("--rcvbuf", type=int, default=4096)
    a = p.parse_args()
    family = socket.AF_INET6 if ":" in a.address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.stall:
        # Inherited by the accepted sockets; set before listen so the window is small from
        # the start.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
    listener.bind((a.address, a.port))
    listener.listen(8)
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "ready"), "w"):
        pass
    held = []
    n = 0
    while True:
        conn, peer = listener.accept()
        n += 1
        path = os.path.join(a.dir, f"conn-{n}")
        print(f"# connection {n} from {peer}", file=sys.stderr, flush=True)
        if a.stall:
            open(path + ".bin", "wb").close()
            held.append(conn)
            continue
        threading.Thread(target=record, args=(conn, path), daemon=True).start()


if __name__ == "__main__":
    main()
