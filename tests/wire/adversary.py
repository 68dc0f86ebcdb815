#!/usr/bin/env python3
"""A BGP neighbour that misbehaves on purpose, for speakerd's tests (tests/adversarial.rs and
the malformed-UPDATE test of tests/peers.rs).

It connects to SPEAKER port 179 from LOCAL as AS 4200000003 (or --asn; 4-octet AS, IPv4
unicast, hold time 9), sends the crafted bytes of CASE, and prints on stdout what came back:

    NOTIFICATION CODE SUBCODE DATA-HEX   the speaker reset the session (DATA-HEX may be empty)
    CLOSED                               the speaker closed the connection without a NOTIFICATION
    UP                                   the session stayed up for --wait seconds (default 3)

After UP it keeps the session up (answering with KEEPALIVEs) until it is killed, so that the
caller can look at the speaker's routes while the session lasts; a NOTIFICATION arriving later
is printed too. Progress goes to stderr, prefixed with '#'.

OPEN cases replace the peer's own OPEN. The other cases complete the OPEN exchange first; a case
with a "before" UPDATE sends it (a valid announcement) once the session is Established, then, if
--go FILE is given, waits until FILE exists before sending the crafted bytes (so that the caller
can first see the announcement arrive).

With --seeds DIR it connects nowhere and writes each case's bytes (the crafted OPEN, or the
"before" UPDATE followed by the crafted bytes) as a seed of the decode_message fuzz target
(crates/bgp-proto/fuzz/fuzz_targets/decode_message.rs: a context octet, 4-octet AS, eBGP; an
ADD-PATH octet, none; then the messages) named DIR/adversarial-CASE.

Usage: adversary.py SPEAKER LOCAL CASE [--asn N] [--go FILE] [--wait SECONDS]
       adversary.py --list
       adversary.py --seeds DIR
"""
import argparse
import os
import select
import socket
import struct
import sys
import time

AS_TRANS = 23456
DEFAULT_ASN = 4200000003
HOLD = 9
MARKER = b"\xff" * 16


def message(kind, body, length=None):
    """A message of type `kind`; `length` overrides the header's Length field."""
    if length is None:
        length = 19 + len(body)
    return MARKER + struct.pack("!HB", length, kind) + body


def attr(flags, kind, value):
    if flags & 0x10:
        return struct.pack("!BBH", flags, kind, len(value)) + value
    return struct.pack("!BBB", flags, kind, len(value)) + value


def origin(value=0):
    return attr(0x40, 1, bytes([value]))


def as_path(*asns):
    return attr(0x40, 2, bytes([2, len(asns)]) + b"".join(struct.pack("!I", a) for a in asns))


def next_hop(address):
    return attr(0x40, 3, socket.inet_aton(address))


def aggregator(asn, address):
    return attr(0xC0, 7, struct.pack("!I", asn) + socket.inet_aton(address))


def nlri(*prefixes):
    out = b""
    for p in prefixes:
        address, length = p.split("/")
        length = int(length)
        out += bytes([length]) + socket.inet_aton(address)[: (length + 7) // 8]
    return out


def update(attrs, announced=(), withdrawn=(), raw_nlri=b""):
    w = nlri(*withdrawn)
    return message(2, struct.pack("!H", len(w)) + w + struct.pack("!H", len(attrs)) + attrs
                   + nlri(*announced) + raw_nlri)


def open_message(asn, hold=HOLD, bgp_id="198.18.2.2", version=4, extra_parameters=b"",
                 four_octet=True, extra_capabilities=b""):
    """An OPEN offering 4-octet AS (RFC 6793, unless `four_octet` is false) and IPv4 unicast
    (RFC 4760), then `extra_capabilities` in the same parameter."""
    capabilities = bytes([65, 4]) + struct.pack("!I", asn) if four_octet else b""
    capabilities += bytes([1, 4, 0, 1, 0, 1]) + extra_capabilities
    parameters = bytes([2, len(capabilities)]) + capabilities + extra_parameters
    my_as = asn if asn < 65536 else AS_TRANS
    body = struct.pack("!BHH4sB", version, my_as, hold, socket.inet_aton(bgp_id), len(parameters))
    return message(1, body + parameters)


def keepalive():
    return message(4, b"")


def mp_reach(afi, next_hop_octets, raw_nlri):
    """MP_REACH_NLRI (RFC 4760 §3) of <afi, unicast>: the next hop as given, the reserved octet,
    then the NLRI as given."""
    value = struct.pack("!HBB", afi, 1, len(next_hop_octets)) + next_hop_octets + b"\x00"
    return attr(0x80, 14, value + raw_nlri)


def mp_unreach(afi, raw_withdrawn):
    return attr(0x80, 15, struct.pack("!HB", afi, 1) + raw_withdrawn)


# The prefixes of the UPDATE cases (tests/adversarial.rs names them too).
BEFORE = "198.19.200.0/24"  # announced validly first, then again in the malformed UPDATE
ALSO = "198.19.201.0/24"  # announced only in the malformed UPDATE
AGGREGATED = "198.19.202.0/24"
DUPLICATED = "198.19.203.0/24"
PASSED = "198.19.204.0/24"  # carries an unknown optional transitive attribute
LOCAL_PREFERRED = "198.19.205.0/24"  # carries LOCAL_PREF 7777
ORIGINATED = "198.19.206.0/24"  # carries ORIGINATOR_ID SPEAKER_ID
CLUSTERED = "198.19.207.0/24"  # carries CLUSTER_LIST SPEAKER_ID
EXTENDED = "198.19.208.0/24"  # carries ORIGIN with a two-octet length
# The burst of UPDATEs announces 198.19.0.0/24 to 198.19.99.0/24, one prefix each.
BURST = [f"198.19.{i}.0/24" for i in range(100)]
# speakerd's BGP Identifier (tests/adversarial.rs, router_id).
SPEAKER_ID = "198.18.0.1"

# Capabilities added to the OPEN of some cases: IPv6 unicast (RFC 4760), route refresh (RFC 2918),
# enhanced route refresh (RFC 7313).
IPV6_UNICAST = bytes([1, 4, 0, 2, 0, 1])
ROUTE_REFRESH = bytes([2, 0])
ENHANCED_ROUTE_REFRESH = bytes([70, 0])
# An IPv6 next hop for MP_REACH_NLRI (2001:db8:2::10).
V6_NEXT_HOP = socket.inet_pton(socket.AF_INET6, "2001:db8:2::10")


def valid_attrs(ctx):
    return origin() + as_path(ctx.asn) + next_hop(ctx.local)


def before_update(ctx):
    return update(valid_attrs(ctx), [BEFORE])


# Each case: "open" (bytes sent instead of our OPEN) or "crafted" (bytes sent once Established),
# and optionally "before" (a valid UPDATE sent first), "capabilities" (added to our OPEN) and
# "octets_per_write" (the crafted bytes go out in writes of this size, each its own TCP segment).
# Builders take the run's context.
CASES = {
    # ---- message header (RFC 4271 §6.1)
    "bad-marker": {"crafted": lambda c: b"\xff" * 15 + b"\xfe" + struct.pack("!HB", 19, 4)},
    "short-length": {"crafted": lambda c: message(4, b"", length=18)},
    # Only the header: the Length alone is the error, and nothing unread is left behind.
    "long-length": {"crafted": lambda c: message(2, b"", length=4097)},
    "keepalive-20": {"crafted": lambda c: message(4, b"\x00")},
    "type-0": {"crafted": lambda c: message(0, b"")},
    "type-7": {"crafted": lambda c: message(7, b"")},
    "type-255": {"crafted": lambda c: message(255, b"")},
    # An UPDATE of 22 octets, one short of the minimum (23).
    "update-22": {"crafted": lambda c: message(2, b"\x00\x00\x00")},
    # One valid UPDATE announcing ALSO, one octet per TCP segment: framing is the stream's.
    "update-octet-segments": {
        "crafted": lambda c: update(valid_attrs(c), [ALSO]),
        "octets_per_write": 1,
    },
    # 100 KEEPALIVEs in one write.
    "keepalive-burst": {"crafted": lambda c: keepalive() * 100},
    # 100 valid UPDATEs in one write, one prefix of BURST each.
    "update-burst": {"crafted": lambda c: b"".join(update(valid_attrs(c), [p]) for p in BURST)},
    # A NOTIFICATION Cease/Administrative Shutdown whose shutdown communication (RFC 9003 §2)
    # claims and carries 200 octets, more than the 128 allowed.
    "shutdown-communication-200": {
        "crafted": lambda c: message(3, bytes([6, 2, 200]) + b"x" * 200),
    },
    # A ROUTE-REFRESH (RFC 2918 §3) for L2VPN EVPN (AFI 25, SAFI 70), which neither side
    # advertised; we advertise the route refresh capability.
    "route-refresh-unknown-family": {
        "capabilities": ROUTE_REFRESH,
        "crafted": lambda c: message(5, struct.pack("!HBB", 25, 0, 70)),
    },
    # A BoRR (ROUTE-REFRESH subtype 1, RFC 7313 §3) for IPv4 unicast with one octet too many;
    # we advertise route refresh and enhanced route refresh.
    "borr-length-5": {
        "capabilities": ROUTE_REFRESH + ENHANCED_ROUTE_REFRESH,
        "crafted": lambda c: message(5, struct.pack("!HBBB", 1, 1, 1, 0)),
    },
    # An OPEN once Established.
    "open-in-established": {"crafted": lambda c: open_message(c.asn, bgp_id=c.local)},
    # ---- UPDATE (RFC 4271 §6.3, RFC 7606, RFC 7607)
    # A MED claiming 4 octets with 2 left in the attribute block (RFC 7606 §4).
    "attr-overrun": {
        "before": before_update,
        "crafted": lambda c: update(valid_attrs(c) + bytes([0x80, 4, 4, 0, 0]), [BEFORE, ALSO]),
    },
    # Two octets left at the end of the attribute block: too few for an attribute header
    # (RFC 7606 §4, second case).
    "attr-stray-octets": {
        "before": before_update,
        "crafted": lambda c: update(valid_attrs(c) + bytes([0x80, 4]), [BEFORE, ALSO]),
    },
    "as0-path": {
        "before": before_update,
        "crafted": lambda c: update(origin() + as_path(c.asn, 0) + next_hop(c.local),
                                    [BEFORE, ALSO]),
    },
    "as0-aggregator": {
        "crafted": lambda c: update(valid_attrs(c) + aggregator(0, c.local), [AGGREGATED]),
    },
    "missing-origin": {
        "before": before_update,
        "crafted": lambda c: update(as_path(c.asn) + next_hop(c.local), [BEFORE, ALSO]),
    },
    "invalid-origin": {
        "before": before_update,
        "crafted": lambda c: update(origin(3) + as_path(c.asn) + next_hop(c.local),
                                    [BEFORE, ALSO]),
    },
    # ORIGIN with the Optional bit set (flags 0xC0 instead of 0x40).
    "origin-flags": {
        "before": before_update,
        "crafted": lambda c: update(attr(0xC0, 1, b"\x00") + as_path(c.asn) + next_hop(c.local),
                                    [BEFORE, ALSO]),
    },
    # ORIGIN IGP, then ORIGIN INCOMPLETE.
    "duplicate-origin": {
        "crafted": lambda c: update(valid_attrs(c) + origin(2), [DUPLICATED]),
    },
    # A well-known (Optional bit clear) attribute of unassigned type 99, empty.
    "unknown-well-known": {
        "crafted": lambda c: update(valid_attrs(c) + attr(0x40, 99, b""), [ALSO]),
    },
    # Withdrawn Routes Length 200, but only the Total Path Attribute Length follows.
    "withdrawn-overrun": {"crafted": lambda c: message(2, struct.pack("!HH", 200, 0))},
    # Total Path Attribute Length 100, but nothing follows.
    "attrs-overrun": {"crafted": lambda c: message(2, struct.pack("!HH", 0, 100))},
    # An NLRI of prefix length 33.
    "nlri-33": {
        "crafted": lambda c: update(valid_attrs(c), raw_nlri=bytes([33, 198, 19, 204, 0, 0])),
    },
    # MP_REACH_NLRI of IPv6 unicast (negotiated) with one prefix of length 129.
    "mp-reach-v6-129": {
        "capabilities": IPV6_UNICAST,
        "crafted": lambda c: update(origin() + as_path(c.asn)
                                    + mp_reach(2, V6_NEXT_HOP, bytes([129]) + b"\x20" * 17)),
    },
    # MP_REACH_NLRI of IPv4 unicast with a next hop of 5 octets (only 4 is defined): the
    # speaker's address and a zero octet, the same in every run.
    "mp-reach-next-hop-5": {
        "crafted": lambda c: update(origin() + as_path(c.asn)
                                    + mp_reach(1, socket.inet_aton(c.speaker) + b"\x00",
                                               nlri(ALSO))),
    },
    # Two valid MP_REACH_NLRI of IPv4 unicast, announcing ALSO and DUPLICATED.
    "mp-reach-twice": {
        "crafted": lambda c: update(origin() + as_path(c.asn)
                                    + mp_reach(1, socket.inet_aton(c.local), nlri(ALSO))
                                    + mp_reach(1, socket.inet_aton(c.local), nlri(DUPLICATED))),
    },
    # MP_UNREACH_NLRI withdrawing BEFORE as the only attribute, and ALSO in the NLRI field.
    "mp-unreach-and-nlri": {
        "before": before_update,
        "crafted": lambda c: update(mp_unreach(1, nlri(BEFORE)), [ALSO]),
    },
    # COMMUNITIES of 5 octets.
    "communities-5": {
        "before": before_update,
        "crafted": lambda c: update(valid_attrs(c) + attr(0xC0, 8, bytes(5)), [BEFORE, ALSO]),
    },
    # LARGE_COMMUNITY of 13 octets.
    "large-communities-13": {
        "before": before_update,
        "crafted": lambda c: update(valid_attrs(c) + attr(0xC0, 32, bytes(13)), [BEFORE, ALSO]),
    },
    # MULTI_EXIT_DISC of 3 octets.
    "med-3": {
        "before": before_update,
        "crafted": lambda c: update(valid_attrs(c) + attr(0x80, 4, bytes(3)), [BEFORE, ALSO]),
    },
    # ONLY_TO_CUSTOMER of 3 octets.
    "otc-3": {
        "before": before_update,
        "crafted": lambda c: update(valid_attrs(c) + attr(0xC0, 35, bytes(3)), [BEFORE, ALSO]),
    },
    # EXTENDED COMMUNITIES of 9 octets.
    "extended-communities-9": {
        "before": before_update,
        "crafted": lambda c: update(valid_attrs(c) + attr(0xC0, 16, bytes(9)), [BEFORE, ALSO]),
    },
    # An optional transitive attribute of unassigned type 199, value 01 02 03, Partial bit clear.
    "unknown-optional-transitive": {
        "crafted": lambda c: update(valid_attrs(c) + attr(0xC0, 199, b"\x01\x02\x03"), [PASSED]),
    },
    # AS_PATH of an AS_CONFED_SEQUENCE (type 3) of AS 4200000009, then our AS_SEQUENCE.
    "confed-path-ebgp": {
        "before": before_update,
        "crafted": lambda c: update(origin()
                                    + attr(0x40, 2, bytes([3, 1]) + struct.pack("!I", 4200000009)
                                           + bytes([2, 1]) + struct.pack("!I", c.asn))
                                    + next_hop(c.local), [BEFORE, ALSO]),
    },
    # ORIGIN IGP with the Extended Length bit set: a two-octet length of 1.
    "origin-extended-length": {
        "crafted": lambda c: update(attr(0x50, 1, b"\x00") + as_path(c.asn) + next_hop(c.local),
                                    [EXTENDED]),
    },
    # LOCAL_PREF 7777 from us, an external peer.
    "local-pref-ebgp": {
        "crafted": lambda c: update(valid_attrs(c) + attr(0x40, 5, struct.pack("!I", 7777)),
                                    [LOCAL_PREFERRED]),
    },
    # ORIGINATOR_ID, and CLUSTER_LIST, naming the speaker's BGP Identifier, from us.
    "originator-id-ebgp": {
        "crafted": lambda c: update(valid_attrs(c) + attr(0x80, 9, socket.inet_aton(SPEAKER_ID)),
                                    [ORIGINATED]),
    },
    "cluster-list-ebgp": {
        "crafted": lambda c: update(valid_attrs(c) + attr(0x80, 10, socket.inet_aton(SPEAKER_ID)),
                                    [CLUSTERED]),
    },
    # An announcement of 0.0.0.0/8 ("this network"), and one of 224.0.0.0/4 (multicast).
    "nlri-this-network": {"crafted": lambda c: update(valid_attrs(c), ["0.0.0.0/8"])},
    "nlri-multicast": {"crafted": lambda c: update(valid_attrs(c), ["224.0.0.0/4"])},
    # NEXT_HOP naming the speaker's own address on the link (198.18.2.1).
    "next-hop-speaker": {
        "crafted": lambda c: update(origin() + as_path(c.asn) + next_hop(c.speaker), [ALSO]),
    },
    # ---- OPEN (RFC 4271 §6.2)
    "version-5": {"open": lambda c: open_message(c.asn, bgp_id=c.local, version=5)},
    "hold-1": {"open": lambda c: open_message(c.asn, hold=1, bgp_id=c.local)},
    "hold-2": {"open": lambda c: open_message(c.asn, hold=2, bgp_id=c.local)},
    "id-0": {"open": lambda c: open_message(c.asn, bgp_id="0.0.0.0")},
    # The caller configures the speaker for --asn; the OPEN names the next AS.
    "bad-peer-as": {"open": lambda c: open_message(c.asn + 1, bgp_id=c.local)},
    # An OPEN of 28 octets, one short of the minimum (29): no Optional Parameters Length.
    "open-28": {"open": lambda c: message(1, struct.pack("!BHH4s", 4, AS_TRANS, HOLD,
                                                         socket.inet_aton(c.local)))},
    # An optional parameter of type 9 (only 2, Capabilities, and 255 are in use).
    "open-param-9": {
        "open": lambda c: open_message(c.asn, bgp_id=c.local, extra_parameters=bytes([9, 2, 0, 0])),
    },
    # Our OPEN (and KEEPALIVE) with the speaker's own BGP Identifier; we are in another AS.
    "id-speaker": {"open": lambda c: open_message(c.asn, bgp_id=SPEAKER_ID) + keepalive()},
    # My AS is AS_TRANS and there is no 4-octet AS capability: a 2-octet speaker of AS 23456.
    "as-trans-without-capability": {
        "open": lambda c: open_message(AS_TRANS, bgp_id=c.local, four_octet=False),
    },
    # A capabilities parameter of 4 octets holding a capability (4-octet AS) that claims 10.
    "capability-overrun": {
        "open": lambda c: open_message(c.asn, bgp_id=c.local,
                                       extra_parameters=bytes([2, 4, 65, 10, 0, 0])),
    },
    # The RFC 9072 extended encoding (Non-Ext OP Len and Type 255): one capabilities parameter
    # of 9 octets (4-octet AS), but an Extended Opt. Parm. Length of 19.
    "extended-parameters-overrun": {
        "open": lambda c: message(1, struct.pack("!BHH4sBBH", 4, AS_TRANS, HOLD,
                                                 socket.inet_aton(c.local), 255, 255, 9 + 10)
                                  + struct.pack("!BHBBI", 2, 6, 65, 4, c.asn)),
    },
    # A KEEPALIVE, or an UPDATE, instead of our OPEN: the speaker is in OpenSent.
    "keepalive-before-open": {"open": lambda c: keepalive()},
    "update-before-open": {"open": lambda c: update(valid_attrs(c), [ALSO])},
    # Our OPEN and, before the KEEPALIVE, an UPDATE: the speaker is in OpenConfirm.
    "update-in-openconfirm": {
        "open": lambda c: open_message(c.asn, bgp_id=c.local) + update(valid_attrs(c), [ALSO]),
    },
}


class Closed(Exception):
    pass


def note(text):
    print(f"# {text}", file=sys.stderr, flush=True)


class Peer:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read_message(self, timeout):
        """The next (type, body), or None when `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 19:
                length, kind = struct.unpack("!HB", self.buf[16:19])
                if length < 19:
                    sys.exit(f"the speaker sent a message of length {length}")
                if len(self.buf) >= length:
                    body, self.buf = self.buf[19:length], self.buf[length:]
                    return kind, body
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                try:
                    chunk = self.sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    raise Closed()
                self.buf += chunk


def answer(kind, body):
    if kind == 3:
        print(f"NOTIFICATION {body[0]} {body[1]} {body[2:].hex()}".rstrip(), flush=True)
        return True
    return False


def run(ctx):
    case = CASES[ctx.case]
    sock = socket.create_connection((ctx.speaker, 179), timeout=15,
                                    source_address=(ctx.local, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer = Peer(sock)
    if "open" in case:
        sock.sendall(case["open"](ctx))
        note("sent the crafted OPEN")
    else:
        sock.sendall(open_message(ctx.asn, bgp_id=ctx.local,
                                  extra_capabilities=case.get("capabilities", b"")))
        msg = peer.read_message(15)
        if msg is None or answer(*msg):
            return
        if msg[0] != 1:
            sys.exit(f"expected OPEN, got type {msg[0]}")
        sock.sendall(message(4, b""))
        while True:
            msg = peer.read_message(15)
            if msg is None:
                sys.exit("no KEEPALIVE after the OPEN")
            if answer(*msg):
                return
            if msg[0] == 4:
                break
        note("Established")
        if "before" in case:
            sock.sendall(case["before"](ctx))
            note("sent the announcement before")
        if ctx.go:
            deadline = time.monotonic() + 30
            while not os.path.exists(ctx.go):
                if time.monotonic() > deadline:
                    sys.exit(f"{ctx.go} did not appear")
                msg = peer.read_message(0.1)
                if msg is not None and answer(*msg):
                    return
        crafted = case["crafted"](ctx)
        step = case.get("octets_per_write")
        if step is None:
            sock.sendall(crafted)
        else:
            # TCP_NODELAY is set: with a pause after each write, each goes out on its own.
            for i in range(0, len(crafted), step):
                sock.sendall(crafted[i:i + step])
                time.sleep(0.005)
        note("sent the crafted bytes")
    # What comes back: a NOTIFICATION (after the speaker's own OPEN and KEEPALIVE, for an OPEN
    # case), or nothing but KEEPALIVEs for --wait seconds.
    up_at = time.monotonic() + ctx.wait
    up = False
    last_keepalive = time.monotonic()
    end = time.monotonic() + 120
    while time.monotonic() < end:
        if not up and time.monotonic() >= up_at:
            print("UP", flush=True)
            up = True
        if time.monotonic() - last_keepalive >= HOLD / 3:
            sock.sendall(message(4, b""))
            last_keepalive = time.monotonic()
        msg = peer.read_message(0.2)
        if msg is not None and answer(*msg):
            return


def write_seeds(directory):
    """Every case's bytes as a decode_message seed (see the module's documentation)."""
    os.makedirs(directory, exist_ok=True)
    ctx = argparse.Namespace(asn=DEFAULT_ASN, local="198.18.2.10", speaker=SPEAKER_ID)
    for name, case in CASES.items():
        if "open" in case:
            octets = case["open"](ctx)
        else:
            before = case["before"](ctx) if "before" in case else b""
            octets = before + case["crafted"](ctx)
        with open(os.path.join(directory, f"adversarial-{name}"), "wb") as f:
            f.write(bytes([0b001, 0]) + octets)
    print(f"{len(CASES)} seeds in {directory}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("speaker", nargs="?")
    parser.add_argument("local", nargs="?")
    parser.add_argument("case", nargs="?", choices=sorted(CASES))
    parser.add_argument("--asn", type=int, default=DEFAULT_ASN)
    parser.add_argument("--go", help="wait for this file before sending the crafted bytes")
    parser.add_argument("--wait", type=float, default=3.0)
    parser.add_argument("--list", action="store_true", help="list the cases")
    parser.add_argument("--seeds", help="write every case as a fuzz seed into this directory")
    ctx = parser.parse_args()
    if ctx.list:
        print("\n".join(CASES))
        return
    if ctx.seeds:
        write_seeds(ctx.seeds)
        return
    if not (ctx.speaker and ctx.local and ctx.case):
        parser.error("SPEAKER, LOCAL and CASE are required")
    try:
        run(ctx)
    except Closed:
        print("CLOSED", flush=True)


if __name__ == "__main__":
    main()
