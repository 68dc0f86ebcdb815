#!/usr/bin/env python3
"""W5 churn: with M iBGP route-reflector clients up, one of them withdraws and re-announces its /24;
the time from that UPDATE leaving the flapping peer until every other session has received the
change, per flap, median and p99 over F flaps (withdrawals and re-announcements counted apart).

Runs beside the shared anchor-bench harness (../shared/bench, $BENCH_DIR) and reuses its network
namespaces (receiver in netns abench at 198.18.0.1, the M peers in abench-peer from 198.19.0.10 up,
one dynamic range or one protocol per peer) and its BGP helpers (bgpfeed.py). The receiver reflects
(RFC 4456): every peer is its route-reflector client, so one peer's change goes to the M-1 others.

  sudo BENCH_DIR=/tmp/bench scripts/w5-churn.py --receiver bird|frr|gobgp|speakerd --peers 1000 --flaps 100
       [--speakerd target/release/speakerd] [--reps 1]

A sample ends when the last of the M-1 peers has the change in its socket: the kernel's receive
timestamp of the segment carrying it (SO_TIMESTAMPNS, CLOCK_REALTIME), so the harness's own
parsing of M-1 sockets does not count; it starts just before the flapping peer's sendall. One
result line per rep is appended to $BENCH_DIR/results/w5.jsonl and printed.
"""
import argparse, ctypes, json, os, selectors, socket, statistics, struct, sys, threading, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.abspath(os.environ.get("BENCH_DIR") or os.path.join(REPO, "..", "shared", "bench"))
if not os.path.exists(os.path.join(BENCH_DIR, "bench.py")):
    sys.exit(f"w5-churn: no harness at {BENCH_DIR} (bench.py missing); set BENCH_DIR")
sys.path.insert(0, BENCH_DIR)
import bench  # noqa: E402  (the harness: namespaces, receivers, /proc readers)
import bgpfeed  # noqa: E402  (its BGP helpers: OPEN, UPDATE encoding, handshake)

ASN = 65000
SO_TIMESTAMPNS = 35  # Linux; the control message has the same number (SCM_TIMESTAMPNS)
RESULTS = os.path.join(BENCH_DIR, "results", "w5.jsonl")


CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


def enter_netns(path):
    """Move this thread (and the threads it starts from now on) into the network namespace at path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if LIBC.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {path}: {os.strerror(e)}")
    finally:
        os.close(fd)


def prefix_of(i):
    """Peer i's /24 as NLRI bytes: 10.(244 + i/256).(i%256).0/24, as bgpfeed.py mesh announces."""
    return bgpfeed.nlri((10 << 24) | (((244 + (i >> 8)) & 0xFF) << 16) | ((i & 0xFF) << 8), 24)


def announce(i, local):
    at = bgpfeed.encode_attrs([], local, local_pref=100)
    return bgpfeed.msg(bgpfeed.T_UPDATE, b"\x00\x00" + struct.pack("!H", len(at)) + at + prefix_of(i))


def withdraw(i):
    w = prefix_of(i)
    return bgpfeed.msg(bgpfeed.T_UPDATE, struct.pack("!H", len(w)) + w + b"\x00\x00")


def split_prefixes(b):
    """IPv4 prefixes of a withdrawn-routes or NLRI field, each as its NLRI bytes."""
    out, i = [], 0
    while i < len(b):
        n = 1 + (b[i] + 7) // 8
        out.append(bytes(b[i:i + n]))
        i += n
    return out


def parse_update(body):
    """(withdrawn, announced) IPv4 unicast prefixes of an UPDATE body, MP_(UN)REACH_NLRI included."""
    wl = struct.unpack_from("!H", body, 0)[0]
    withdrawn = split_prefixes(body[2:2 + wl])
    al = struct.unpack_from("!H", body, 2 + wl)[0]
    attrs = body[4 + wl:4 + wl + al]
    announced = split_prefixes(body[4 + wl + al:])
    i = 0
    while i < len(attrs):
        flags, typ = attrs[i], attrs[i + 1]
        if flags & 0x10:
            ln, hdr = struct.unpack_from("!H", attrs, i + 2)[0], 4
        else:
            ln, hdr = attrs[i + 2], 3
        v = attrs[i + hdr:i + hdr + ln]
        if typ == 15 and v[:3] == b"\x00\x01\x01":
            withdrawn += split_prefixes(v[3:])
        elif typ == 14 and v[:3] == b"\x00\x01\x01":
            nhl = v[3]
            announced += split_prefixes(v[5 + nhl:])
        i += hdr + ln
    return withdrawn, announced


class Peer:
    __slots__ = ("i", "local", "sock", "buf")

    def __init__(self, i, local, sock, buf):
        self.i, self.local, self.sock, self.buf = i, local, sock, buf


class Mesh:
    """M sessions from consecutive addresses, read by one epoll loop."""

    def __init__(self, m):
        self.m = m
        self.peers = [None] * m
        self.sel = selectors.DefaultSelector()
        self.last_update = time.time()
        self.watch = None  # (prefix, "withdraw"|"announce", {peer index: receive time})
        self.last_keepalive = time.time()

    def connect_all(self, timeout):
        errors = []

        def one(i):
            local = bench.mesh_addr(i)
            try:
                s = bgpfeed.connect(local, bench.RID, 179, retry_s=timeout)
                buf = bgpfeed.handshake(s, ASN, local, bgpfeed.Status(None))
            except Exception as e:  # the receiver refused or never answered: the rep fails
                errors.append(f"{local}: {e!r}")
                return
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.sendall(announce(i, local) + bgpfeed.EOR)
            self.peers[i] = Peer(i, local, s, bytearray(buf))

        for start in range(0, self.m, 200):  # threads in batches: 1,000 handshakes at once flood nothing but Python
            ths = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(start, min(self.m, start + 200))]
            for t in ths:
                t.start()
            for t in ths:
                t.join()
        if errors:
            raise RuntimeError(f"{len(errors)} sessions failed, first: {errors[0]}")
        for p in self.peers:
            p.sock.setblocking(False)
            self.sel.register(p.sock, selectors.EVENT_READ, p)
            if p.buf:
                self.consume(p, time.time())

    def consume(self, p, ts):
        buf = p.buf
        while len(buf) >= 19:
            ln = struct.unpack_from("!H", buf, 16)[0]
            if len(buf) < ln:
                break
            typ = buf[18]
            if typ == bgpfeed.T_UPDATE:
                self.last_update = ts
                if self.watch:
                    prefix, kind, seen = self.watch
                    withdrawn, announced = parse_update(bytes(buf[19:ln]))
                    if prefix in (withdrawn if kind == "withdraw" else announced):
                        seen.setdefault(p.i, ts)
            elif typ == bgpfeed.T_NOTIF:
                raise RuntimeError(f"peer {p.local} got a NOTIFICATION {bytes(buf[19:ln]).hex()}")
            del buf[:ln]

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout):
            p = key.data
            while True:
                try:
                    data, anc, _, _ = p.sock.recvmsg(1 << 16, socket.CMSG_SPACE(16))
                except BlockingIOError:
                    break
                if not data:
                    raise RuntimeError(f"the receiver closed the session of {p.local}")
                ts = time.time()
                for level, typ, v in anc:
                    if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(v) >= 16:
                        sec, nsec = struct.unpack("qq", v[:16])
                        ts = sec + nsec / 1e9
                p.buf += data
                self.consume(p, ts)
        now = time.time()
        if now - self.last_keepalive > 20:
            self.last_keepalive = now
            for p in self.peers:
                p.sock.send(bgpfeed.KEEPALIVE)

    def run_until(self, pred, timeout):
        end = time.time() + timeout
        while not pred():
            if time.time() > end:
                return False
            self.poll(0.01)
        return True

    def event(self, kind, timeout):
        """Peer 0 withdraws or announces its /24; seconds until the last other peer has it (None: timed out)."""
        flapper = self.peers[0]
        self.watch = (prefix_of(0), kind, {})
        wire = withdraw(0) if kind == "withdraw" else announce(0, flapper.local)
        t0 = time.time()
        flapper.sock.setblocking(True)
        flapper.sock.sendall(wire)
        flapper.sock.setblocking(False)
        seen = self.watch[2]
        ok = self.run_until(lambda: len(seen) >= self.m - 1, timeout)
        self.watch = None
        return (max(seen.values()) - t0) if ok else None

    def close(self):
        for p in self.peers:
            if p:
                p.sock.close()


# ---------------------------------------------------------------- receivers (all reflect to every peer)
class BirdRR(bench.Bird):
    name = "bird"

    def start(self):
        c = [f"router id {bench.RID};", "protocol device { scan time 60; }",
             f"template bgp mesh {{ local {bench.RID} as {ASN}; passive on; direct; rr client;"
             " ipv4 { import all; export all; }; }"]
        c += [f"protocol bgp p_{bench.mesh_addr(i).replace('.', '_')} from mesh {{ neighbor {bench.mesh_addr(i)} as {ASN}; }}"
              for i in range(self.mesh)]
        open(f"{self.d}/bird.conf", "w").write("\n".join(c) + "\n")
        self.sock = f"{self.d}/bird.ctl"
        self.spawn("bird", ["bird", "-f", "-c", f"{self.d}/bird.conf", "-s", self.sock, "-P", f"{self.d}/bird.pid"])
        if not bench.wait_for(lambda: os.path.exists(self.sock), 10, 0.05):
            raise RuntimeError("bird did not start")


class Bird3RR(BirdRR, bench.Bird3):
    name = "bird3"


class FrrRR(bench.FRR):
    name = "frr"

    def start(self):
        d = self.d
        os.chmod(d, 0o777)
        open(f"{d}/zebra.conf", "w").write("hostname z\n")
        c = ["frr defaults traditional", "hostname r", f"router bgp {ASN}", f" bgp router-id {bench.RID}",
             " no bgp network import-check", " bgp listen limit 65000", " neighbor mesh peer-group",
             f" neighbor mesh remote-as {ASN}", f" bgp listen range {bench.MESH_NET} peer-group mesh",
             " address-family ipv4 unicast", "  neighbor mesh route-reflector-client", " exit-address-family", ""]
        open(f"{d}/bgpd.conf", "w").write("\n".join(c))
        common = ["-u", "frr", "-g", "frr", "-z", f"{d}/zserv.api", "--vty_socket", d, "-P", "0"]
        self.spawn("zebra", [os.path.join(bench.frr_bindir(), "zebra"), "-f", f"{d}/zebra.conf", "-i", f"{d}/zebra.pid"] + common)
        bench.wait_for(lambda: os.path.exists(f"{d}/zserv.api"), 5, 0.05)
        self.spawn("bgpd", [os.path.join(bench.frr_bindir(), "bgpd"), "-f", f"{d}/bgpd.conf", "-i", f"{d}/bgpd.pid",
                            "-l", bench.RID] + common)
        if not bench.wait_for(lambda: os.path.exists(f"{d}/bgpd.vty"), 10, 0.05):
            raise RuntimeError("bgpd did not start")
        time.sleep(0.3)


class GoBgpRR(bench.GoBGP):
    name = "gobgp"

    def start(self):
        c = (f'[global.config]\n  as = {ASN}\n  router-id = "{bench.RID}"\n  port = 179\n  local-address-list = ["{bench.RID}"]\n'
             f'[[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = "mesh"\n    peer-as = {ASN}\n'
             f'  [peer-groups.route-reflector.config]\n    route-reflector-client = true\n    route-reflector-cluster-id = "{bench.RID}"\n'
             f'[[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = "{bench.MESH_NET}"\n    peer-group = "mesh"\n')
        open(f"{self.d}/gobgpd.toml", "w").write(c)
        self.spawn("gobgpd", self.binary + ["-f", f"{self.d}/gobgpd.toml"])
        bench.wait_for(lambda: bench.sh(bench.nsx("gobgp -u 127.0.0.1 global"), check=False).returncode == 0, 10, 0.1)


class SpeakerdRR(bench.Receiver):
    name = "speakerd"
    binary = os.path.join(REPO, "target", "release", "speakerd")

    def start(self):
        conf = f"""# written by scripts/w5-churn.py
[global]
asn = {ASN}
router_id = "{bench.RID}"
listen = ["{bench.RID}:179"]

[admin]
listen = "127.0.0.1:9179"

[kernel]
install = false

[[dynamic_neighbor]]
range = "{bench.MESH_NET}"
remote_asn = {ASN}
families = ["ipv4-unicast"]
rr_client = true
import = ["accept-all"]
export = ["accept-all"]
"""
        open(f"{self.d}/speakerd.toml", "w").write(conf)
        self.spawn("speakerd", [self.binary, "run", "--config", f"{self.d}/speakerd.toml"])
        listening = lambda: bench.sh(bench.nsx("ss -Hltn 'sport = :179'"), check=False).stdout.strip()
        if not bench.wait_for(listening, 30, 0.05):
            raise RuntimeError(f"speakerd does not listen; see {self.d}/speakerd.log")


RECEIVERS = {"bird": BirdRR, "bird3": Bird3RR, "frr": FrrRR, "gobgp": GoBgpRR, "speakerd": SpeakerdRR}


def summary(xs):
    """median, p99 (nearest rank) and max of samples in seconds, as milliseconds"""
    if not xs:
        return None
    s = sorted(xs)
    p99 = s[max(0, -(-99 * len(s) // 100) - 1)]
    return {"median": round(statistics.median(s) * 1e3, 2), "p99": round(p99 * 1e3, 2), "max": round(s[-1] * 1e3, 2)}


def rep(a, r):
    bench.ns_up(mesh_peers=a.peers)
    d = bench.rundir(f"w5-{a.receiver}")
    rcv = RECEIVERS[a.receiver](d, [], mesh=a.peers)
    mesh = Mesh(a.peers)
    home = f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net"
    home_fd = os.open(home, os.O_RDONLY)  # held so the way back stays open
    result = {"w": "w5", "rcv": a.receiver, "n": a.peers, "flaps": a.flaps, "rep": r, "ok": False}
    try:
        rcv.start()
        t0 = time.time()
        enter_netns(f"/run/netns/{bench.NSP}")  # the peers' sockets live beside the harness's mesh addresses
        # converged: every other peer holds peer 0's /24 and no UPDATE arrived anywhere for 2 s
        # (the initial reflection of M routes to M peers is over)
        mesh.watch = (prefix_of(0), "announce", {})
        seen = mesh.watch[2]
        mesh.connect_all(a.timeout)
        if not mesh.run_until(lambda: len(seen) >= a.peers - 1 and time.time() - mesh.last_update > 2, a.timeout):
            raise RuntimeError(f"not converged after {a.timeout} s: {len(seen)} of {a.peers - 1} peers have the route")
        mesh.watch = None
        result["setup_s"] = round(time.time() - t0, 2)
        c0 = rcv.usage(bench.proc_cpu)
        samples = {"withdraw": [], "announce": []}
        for _ in range(a.flaps):
            for kind in ("withdraw", "announce"):
                s = mesh.event(kind, a.event_timeout)
                if s is None:
                    raise RuntimeError(f"{kind} not seen by all {a.peers - 1} peers within {a.event_timeout} s")
                samples[kind].append(s)
                mesh.run_until(lambda: False, a.gap)  # keep reading while the receiver settles
        c1 = rcv.usage(bench.proc_cpu)
        result.update(ok=True, withdraw_ms=summary(samples["withdraw"]), announce_ms=summary(samples["announce"]),
                      all_ms=summary(samples["withdraw"] + samples["announce"]),
                      cpu_s={k: round(c1[k] - c0.get(k, 0), 2) for k in c1},
                      rss_mb={k: round(v, 1) for k, v in rcv.usage(bench.proc_rss).items()})
    except Exception as e:  # recorded as a failed rep, like bench.py does
        result["error"] = repr(e)
    finally:
        mesh.close()
        enter_netns(f"/proc/self/fd/{home_fd}")
        os.close(home_fd)
        rcv.stop()
        bench.ns_down()
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result), flush=True)
    return result["ok"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--receiver", choices=sorted(RECEIVERS), required=True)
    ap.add_argument("--peers", type=int, default=1000)
    ap.add_argument("--flaps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--gap", type=float, default=0.2, help="seconds between a change and the next")
    ap.add_argument("--timeout", type=float, default=120, help="seconds for all sessions to come up and converge")
    ap.add_argument("--event-timeout", type=float, default=10)
    ap.add_argument("--speakerd", default=SpeakerdRR.binary)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("w5-churn: run as root (the harness creates network namespaces)")
    SpeakerdRR.binary = os.path.abspath(a.speakerd)
    if a.receiver == "speakerd" and not os.access(SpeakerdRR.binary, os.X_OK):
        sys.exit(f"w5-churn: {SpeakerdRR.binary} missing (cargo build --release -p speakerd)")
    os.makedirs(bench.RUN, exist_ok=True)
    ok = [rep(a, r) for r in range(a.reps)]
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
