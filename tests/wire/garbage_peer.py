#!/usr/bin/env python3
"""A BGP neighbour that misbehaves, for speakerd's tests: it connects to SPEAKER from LOCAL,
completes the OPEN exchange as AS 4200000002 (4-octet AS, IPv4 unicast), then sends one UPDATE
whose Withdrawn Routes Length (200) runs past the end of the message, and prints the
NOTIFICATION it gets back as `NOTIFICATION code subcode`.

Usage: garbage_peer.py SPEAKER LOCAL
"""
import socket
import struct
import sys

AS_TRANS = 23456
ASN = 4200000002


def message(kind, body):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            sys.exit("connection closed by the speaker")
        data += chunk
    return data


def read_message(sock):
    header = read_exactly(sock, 19)
    length, kind = struct.unpack("!HB", header[16:19])
    return kind, read_exactly(sock, length - 19)


def main():
    speaker, local = sys.argv[1], sys.argv[2]
    sock = socket.create_connection((speaker, 179), timeout=15, source_address=(local, 0))
    capabilities = bytes([65, 4]) + struct.pack("!I", ASN)  # four-octet AS (RFC 6793)
    capabilities += bytes([1, 4, 0, 1, 0, 1])  # multiprotocol IPv4 unicast (RFC 4760)
    parameters = bytes([2, len(capabilities)]) + capabilities
    body = struct.pack("!BHH4sB", 4, AS_TRANS, 9, socket.inet_aton(local), len(parameters))
    sock.sendall(message(1, body + parameters))
    kind, _ = read_message(sock)
    if kind != 1:
        sys.exit(f"expected OPEN, got type {kind}")
    sock.sendall(message(4, b""))
    while read_message(sock)[0] != 4:
        pass
    # Withdrawn Routes Length 200, but only the Total Path Attribute Length follows.
    sock.sendall(message(2, struct.pack("!HH", 200, 0)))
    while True:
        kind, body = read_message(sock)
        if kind == 3:
            print(f"NOTIFICATION {body[0]} {body[1]}", flush=True)
            return


if __name__ == "__main__":
    main()
