#!/usr/bin/env bash
# capture-vectors.sh - capture byte-exact BGP message test vectors from real
# sessions between real BGP implementations (BIRD 2, GoBGP, FRR).
#
# Usage (as root):   bash scripts/capture-vectors.sh [scenario ...]
#   With no argument every scenario is run.  Scenario names are the vector
#   file names without ".txt" (see SCENARIOS below).
#   KEEP_WORK=1 keeps the temporary run directory (configs, logs, pcaps).
#
# What it does, per scenario:
#   * creates private network namespaces (prefix "bgpvec-") joined by veth
#     pairs, addressed only from 198.18.0.0/15 and 2001:db8::/32; nothing is
#     added to the machine's own namespace;
#   * starts tcpdump (TCP port 179) inside one namespace, then the speakers;
#   * drives the speakers through a script of events (announce, withdraw,
#     route refresh, administrative shutdown ...);
#   * reassembles each TCP direction from the pcap (tshark gives the raw
#     segments, a small Python helper orders them by sequence number, drops
#     retransmissions and splits the byte stream at the 16-byte 0xff marker +
#     2-byte length), deduplicates identical messages per sender and writes
#     crates/bgp-proto/tests/vectors/captured/<scenario>.txt.
# Namespaces and every process started inside them are removed on exit, also
# on failure (trap EXIT).  Running it again regenerates the files.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$REPO/crates/bgp-proto/tests/vectors/captured"
NSPFX="bgpvec"
SCENARIOS=(bird-gobgp-ipv4 bird-frr-ipv6 bird-frr-ibgp-addpath bird-rr-ibgp bird-as2-as4)

BIRD=/usr/sbin/bird
BIRDC=/usr/sbin/birdc
GOBGPD=/usr/bin/gobgpd
GOBGP=/usr/bin/gobgp
FRR_BGPD=/usr/lib/frr/bgpd
FRR_ZEBRA=/usr/lib/frr/zebra
VTYSH=/usr/bin/vtysh

log() { printf '[capture-vectors] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (network namespaces, tcpdump)"
for b in "$BIRD" "$BIRDC" "$GOBGPD" "$GOBGP" "$FRR_BGPD" "$FRR_ZEBRA" "$VTYSH" \
         /usr/sbin/ip /usr/bin/tcpdump /usr/bin/tshark /usr/bin/python3; do
    [[ -x $b ]] || die "missing $b"
done

WORK=$(mktemp -d /tmp/bgpvec.XXXXXX)
chmod 755 "$WORK"

# ---------------------------------------------------------------- cleanup --
# Every namespace this script creates has the prefix $NSPFX-.  Cleanup kills
# the processes living in those namespaces (by pid, via `ip netns pids`) and
# deletes the namespaces.  The same routine runs at start-up to remove
# leftovers of an earlier, interrupted run (idempotence).
our_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep "^${NSPFX}-" || true; }

kill_ns_procs() {
    local ns=$1 sig=${2:-TERM} p
    for p in $(ip netns pids "$ns" 2>/dev/null); do
        kill "-$sig" "$p" 2>/dev/null || true
    done
}

teardown_all() {
    local ns i
    for ns in $(our_namespaces); do kill_ns_procs "$ns" TERM; done
    for i in $(seq 1 30); do
        local left=0
        for ns in $(our_namespaces); do
            [[ -n $(ip netns pids "$ns" 2>/dev/null) ]] && left=1
        done
        ((left == 0)) && break
        sleep 0.2
    done
    for ns in $(our_namespaces); do kill_ns_procs "$ns" KILL; done
    sleep 0.2
    for ns in $(our_namespaces); do ip netns del "$ns" 2>/dev/null || true; done
}

on_exit() {
    local rc=$?
    teardown_all
    if [[ ${KEEP_WORK:-0} == 1 || $rc -ne 0 ]]; then
        log "run directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

teardown_all   # leftovers of an earlier run

# ------------------------------------------------------------ net helpers --
mkns() {   # mkns NAME
    local ns="$NSPFX-$1"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1
}

VETH_N=0
veth() {   # veth NS1 IF1 NS2 IF2   (fixed MACs => stable IPv6 link-local next hops)
    VETH_N=$((VETH_N + 1))
    ip link add "$2" netns "$NSPFX-$1" address "02:00:00:00:$(printf %02x $VETH_N):01" \
        type veth peer name "$4" netns "$NSPFX-$3" address "02:00:00:00:$(printf %02x $VETH_N):02"
    ip -n "$NSPFX-$1" link set "$2" up
    ip -n "$NSPFX-$3" link set "$4" up
}

addr() {   # addr NS IF CIDR
    case $3 in
        *:*) ip -n "$NSPFX-$1" addr add "$3" dev "$2" nodad ;;
        *)   ip -n "$NSPFX-$1" addr add "$3" dev "$2" ;;
    esac
}

nsx() { local ns="$NSPFX-$1"; shift; ip netns exec "$ns" "$@"; }

q() { "$@" >/dev/null; }   # run a control command, hide its chatter

wait_for() {   # wait_for DESCRIPTION TIMEOUT_S COMMAND...
    local what=$1 t=$2; shift 2
    local end=$((SECONDS + t))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || { log "timeout waiting for: $what"; return 1; }
        sleep 0.5
    done
    log "ok: $what"
}

# ---------------------------------------------------------- phase marker --
PHASES=
phase() {   # record wall-clock time + label; used to annotate the vectors
    printf '%s %s\n' "$(date +%s.%N)" "$*" >>"$PHASES"
    log "phase: $*"
}

# --------------------------------------------------------------- capture --
start_capture() {   # start_capture NS PCAP
    nsx "$1" tcpdump -i any -s 0 -U -n -w "$2" 'tcp port 179' 2>"$2.log" &
    local i
    for i in $(seq 1 50); do
        grep -q 'listening on' "$2.log" 2>/dev/null && return 0
        sleep 0.1
    done
    die "tcpdump did not start in $1"
}

stop_capture() {   # stop_capture NS
    local p
    for p in $(ip netns pids "$NSPFX-$1"); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == tcpdump ]] && kill -INT "$p"
    done
    sleep 1
}

# --------------------------------------------------------------- daemons --
# BIRD: $1 ns, $2 dir containing bird.conf
bird_start() {
    nsx "$1" "$BIRD" -c "$2/bird.conf" -s "$2/bird.ctl" -P "$2/bird.pid"
}
birdc() {   # birdc DIR CMD...
    local d=$1; shift
    "$BIRDC" -s "$d/bird.ctl" "$@"
}
bird_established() { birdc "$1" show protocols "$2" | grep -q Established; }

# GoBGP: $1 ns, $2 dir containing gobgp.toml
gobgpd_start() {
    # own UTS namespace with a fixed hostname: GoBGP advertises it in the FQDN capability
    nsx "$1" unshare --uts sh -c 'hostname "$0"; exec "$@"' "gobgp-$1" \
        "$GOBGPD" -f "$2/gobgp.toml" -p --api-hosts 127.0.0.1:50051 \
        >"$2/gobgpd.log" 2>&1 &
}
gobgp() {   # gobgp NS ARGS...
    local ns=$1; shift
    nsx "$ns" "$GOBGP" -u 127.0.0.1 -p 50051 "$@"
}
gobgp_established() { gobgp "$1" neighbor "$2" | grep -qi 'BGP state = established'; }

# FRR (zebra + bgpd, no kernel programming): $1 ns, $2 dir containing frr.conf
frr_start() {
    local ns=$1 d=$2
    chmod 777 "$d"
    nsx "$ns" "$FRR_ZEBRA" -N "$NSPFX-$ns" --vty_socket "$d" -z "$d/zserv.api" \
        -i "$d/zebra.pid" -P 0 -f /dev/null \
        --log "file:$d/zebra.log" >"$d/zebra.out" 2>&1 &
    wait_for "zebra socket in $ns" 20 test -S "$d/zserv.api"
    nsx "$ns" "$FRR_BGPD" -N "$NSPFX-$ns" --vty_socket "$d" -z "$d/zserv.api" \
        -i "$d/bgpd.pid" -S -P 0 -f "$d/frr.conf" -n \
        --log "file:$d/bgpd.log" >"$d/bgpd.out" 2>&1 &
    wait_for "bgpd vty in $ns" 20 test -S "$d/bgpd.vty"
}
vtysh() {   # vtysh DIR -c ... (bgpd only)
    local d=$1; shift
    "$VTYSH" --vty_socket "$d" -d bgpd "$@"
}
frr_established() { vtysh "$1" -c "show bgp neighbors $2 json" | grep -q '"bgpState":"Established"'; }

versions_header() {
    echo "# Versions:"
    echo "#   bird:  $("$BIRD" --version 2>&1 | head -1)"
    echo "#   gobgp: $("$GOBGPD" --version 2>&1 | head -1)"
    echo "#   frr:   $("$FRR_BGPD" --version 2>&1 | head -1)"
    echo "# Captured: $(date -u +%Y-%m-%dT%H:%M:%SZ) with tcpdump inside a private network namespace"
    echo "# Regenerate: sudo bash scripts/capture-vectors.sh $SCEN"
}

# extract PCAP OUTFILE HEADERFILE ADDR=NAME...
extract() {
    local pcap=$1 outfile=$2 header=$3; shift 3
    python3 "$WORK/split.py" "$pcap" "$outfile" "$header" "$PHASES" "$@"
}

# The reassembler / splitter.
cat >"$WORK/split.py" <<'PY'
import subprocess, sys

pcap, outfile, header, phases_file = sys.argv[1:5]
names = dict(a.split("=", 1) for a in sys.argv[5:])
TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}

# Raw TCP segments; the BGP dissector is disabled so tshark does no reassembly
# of its own and tcp.payload is always the segment payload.
fields = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src",
          "tcp.srcport", "tcp.seq", "tcp.payload"]
cmd = ["tshark", "-r", pcap, "-n", "--disable-protocol", "bgp",
       "-o", "tcp.desegment_tcp_streams:FALSE", "-Y", "tcp.len > 0", "-T", "fields",
       "-E", "separator=\t"]
for f in fields:
    cmd += ["-e", f]
rows = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()

dirs = {}
for r in rows:
    fno, t, stream, s4, s6, sport, seq, payload = r.split("\t")
    src = s4 or s6
    key = (int(stream), src, int(sport))
    dirs.setdefault(key, []).append((int(seq), int(fno), float(t), bytes.fromhex(payload.replace(":", ""))))

msgs = []  # (time, frame, stream, offset, sender, bytes)
for key, segs in dirs.items():
    segs.sort(key=lambda s: (s[0], s[1]))
    buf = bytearray()
    owner = []  # per byte: (frame, time) of the segment that delivered it
    base = segs[0][0]
    for seq, fno, t, data in segs:
        off = seq - base
        if off + len(data) <= len(buf):
            continue  # retransmission
        if off > len(buf):
            sys.exit(f"gap in TCP stream {key} at relative seq {off}: capture incomplete")
        data = data[len(buf) - off:]
        buf += data
        owner += [(fno, t)] * len(data)
    i = 0
    sender = names.get(key[1])
    if sender is None:
        sys.exit(f"unknown sender address {key[1]}")
    while i < len(buf):
        if len(buf) - i < 19:
            print(f"warning: {len(buf)-i} trailing bytes in {key}", file=sys.stderr)
            break
        if buf[i:i + 16] != b"\xff" * 16:
            sys.exit(f"bad marker in {key} at offset {i}")
        ln = int.from_bytes(buf[i + 16:i + 18], "big")
        if ln < 19 or i + ln > len(buf):
            print(f"warning: truncated message in {key} at offset {i}", file=sys.stderr)
            break
        fno, t = owner[i + ln - 1]
        msgs.append((t, fno, key[0], i, sender, bytes(buf[i:i + ln])))
        i += ln

msgs.sort(key=lambda m: (m[1], m[2], m[3]))

phases = []
try:
    with open(phases_file) as f:
        for line in f:
            ts, label = line.rstrip("\n").split(" ", 1)
            phases.append((float(ts), label))
except FileNotFoundError:
    pass

seen = set()
counts = {}
body = []
total = {}
pi = 0
pending = None
for t, fno, stream, off, sender, m in msgs:
    while pi < len(phases) and phases[pi][0] <= t:
        pending = phases[pi][1]
        pi += 1
    typ = TYPES.get(m[18], f"TYPE{m[18]}")
    total[(sender, typ)] = total.get((sender, typ), 0) + 1
    k = (sender, m)
    if k in seen:
        continue
    seen.add(k)
    if pending is not None:
        body.append(f"# -- {pending}")
        pending = None
    counts[(sender, typ)] = counts.get((sender, typ), 0) + 1
    body.append(f"{sender} {typ} {m.hex()}")

with open(header) as f:
    head = f.read()
summary = ["# Messages kept after de-duplication (sender type count):"]
for (s, ty), n in sorted(counts.items()):
    summary.append(f"#   {s} {ty} {n}  (seen on the wire: {total[(s, ty)]})")
with open(outfile, "w") as f:
    f.write(head)
    f.write("\n".join(summary) + "\n#\n")
    f.write("\n".join(body) + "\n")
print("\n".join(summary))
PY

# ============================================================ scenarios ====

# ---------------------------------------------------------------------------
# 1. BIRD <-> GoBGP, eBGP over IPv4, 4-octet ASNs.
scenario_bird_gobgp_ipv4() {
    local d="$WORK/$SCEN" B="$WORK/$SCEN/bird" G="$WORK/$SCEN/gobgp"
    mkdir -p "$B" "$G"
    mkns b; mkns g
    veth b eth0 g eth0
    addr b eth0 198.18.1.1/30
    addr g eth0 198.18.1.2/30

    cat >"$B/bird.conf" <<EOF
log "$B/bird.log" all;
router id 198.18.1.1;
protocol device {}
protocol static pods {
  ipv4;
  route 10.244.1.0/24 blackhole;
  route 10.244.2.0/24 blackhole;
  route 10.244.3.0/24 blackhole;
  route 10.244.128.0/17 blackhole;
}
protocol static pods_extra {
  ipv4;
  route 10.244.9.0/24 blackhole;
}
filter to_gobgp {
  if net = 10.244.1.0/24 then {
    bgp_med = 100;
    bgp_community.add((65535,65281));          # NO_EXPORT
    bgp_community.add((64512,100));
    bgp_large_community.add((4200000001,1,1));
    bgp_ext_community.add((rt, 4200000001, 100));   # 4-octet-AS specific RT
  }
  if net = 10.244.2.0/24 then {
    bgp_med = 200;
    bgp_community.add((65535,0));              # GRACEFUL_SHUTDOWN
    bgp_ext_community.add((rt, 64512, 4200000000)); # 2-octet-AS specific RT
    bgp_ext_community.add((ro, 198.18.1.1, 7));     # IPv4-address specific RoO
    bgp_path.prepend(4200000001);
    bgp_path.prepend(4200000001);
    bgp_origin = ORIGIN_INCOMPLETE;
  }
  if net = 10.244.3.0/24 then {
    bgp_large_community.add((4200000001,2,3));
    bgp_large_community.add((4200000001,4294967295,0));
    bgp_community.add((65535,65282));          # NO_ADVERTISE
    bgp_origin = ORIGIN_EGP;
  }
  accept;
}
protocol bgp gobgp1 {
  local 198.18.1.1 as 4200000001;
  neighbor 198.18.1.2 as 4200000002;
  hold time 9; keepalive time 3; connect retry time 3;
  ipv4 { import all; export filter to_gobgp; };
}
EOF
    cat >"$G/gobgp.toml" <<EOF
[global.config]
  as = 4200000002
  router-id = "198.18.1.2"
  port = 179
  local-address-list = ["198.18.1.2"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.1.1"
    peer-as = 4200000001
  [neighbors.timers.config]
    connect-retry = 3
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
EOF
    start_capture b "$d/cap.pcap"
    phase "session start: OPEN exchange, BIRD announces its static routes"
    gobgpd_start g "$G"
    wait_for "gobgp api" 20 gobgp g global
    bird_start b "$B"
    wait_for "bird established" 40 bird_established "$B" gobgp1
    wait_for "gobgp established" 20 gobgp_established g 198.18.1.1
    sleep 3
    phase "GoBGP announces 10.245.0.0/24, 10.245.1.0/24, 10.245.2.0/24"
    q gobgp g global rib add -a ipv4 10.245.0.0/24 origin igp med 50 \
        community 64513:100,no-export large-community 4200000002:10:20 rt 4200000002:5
    q gobgp g global rib add -a ipv4 10.245.1.0/24 origin incomplete med 0 \
        community 65535:0,65535:65283 aggregator 4200000002:198.18.1.2
    q gobgp g global rib add -a ipv4 10.245.2.0/24 aspath 64999,4200000099 \
        large-community 4200000002:1:1,4200000002:1:2
    sleep 3
    phase "GoBGP withdraws 10.245.1.0/24"
    q gobgp g global rib del -a ipv4 10.245.1.0/24
    sleep 2
    phase "BIRD withdraws 10.244.9.0/24 (static protocol disabled)"
    q birdc "$B" disable pods_extra
    sleep 2
    phase "BIRD: reload in gobgp1 (ROUTE-REFRESH to GoBGP)"
    q birdc "$B" reload in gobgp1
    sleep 3
    phase "GoBGP: neighbor softresetin (GoBGP re-filters its own Adj-RIB-In, sends no ROUTE-REFRESH)"
    q gobgp g neighbor 198.18.1.1 softresetin
    sleep 3
    # "disable --reason" sends Cease/2 without the text; the deprecated "shutdown" keeps it.
    phase "GoBGP: neighbor shutdown with communication (Cease/2, RFC 9003)"
    q gobgp g neighbor 198.18.1.1 shutdown --reason "gobgp maintenance: planned reboot"
    sleep 3
    phase "GoBGP re-enables the neighbor, session re-established"
    q gobgp g neighbor 198.18.1.1 enable
    wait_for "bird re-established" 40 bird_established "$B" gobgp1
    sleep 3
    phase "BIRD: disable gobgp1 with shutdown message (Cease/2, RFC 9003)"
    q birdc "$B" disable gobgp1 '"bird maintenance: kernel upgrade, back in 10 minutes"'
    sleep 3
    stop_capture b

    {
        echo "# BGP message test vectors captured from a real session: BIRD <-> GoBGP"
        echo "# Scenario: eBGP over IPv4 (198.18.1.1 <-> 198.18.1.2), 4-octet ASNs."
        echo "#   bird  = BIRD  AS 4200000001 at 198.18.1.1"
        echo "#   gobgp = GoBGP AS 4200000002 at 198.18.1.2"
        echo "# BIRD exports static routes with MED, communities (NO_EXPORT 65535:65281,"
        echo "# GRACEFUL_SHUTDOWN 65535:0, NO_ADVERTISE), large communities, extended communities"
        echo "# (RT 4-octet-AS, RT 2-octet-AS, RoO IPv4), AS_PATH prepends, ORIGIN variants;"
        echo "# GoBGP announces its own prefixes (MED, communities, large communities, RT,"
        echo "# AGGREGATOR, AS_PATH), withdraws one; BIRD sends ROUTE-REFRESH and GoBGP answers"
        echo "# by re-sending its routes (GoBGP's softresetin sends none); GoBGP then BIRD end the"
        echo "# session with a Cease/2 Administrative Shutdown NOTIFICATION carrying an RFC 9003"
        echo "# shutdown communication (GoBGP re-enables in between; the OPENs are identical)."
        versions_header
        echo "# Format: <sender> <type> <complete message hex>; '# --' lines mark test phases."
        echo "# Identical messages from the same sender are kept once."
        echo "#"
    } >"$d/header"
    extract "$d/cap.pcap" "$OUT/$SCEN.txt" "$d/header" 198.18.1.1=bird 198.18.1.2=gobgp
}

# ---------------------------------------------------------------------------
# 2. BIRD <-> FRR, eBGP over IPv6 (2001:db8:2::/64): IPv6 unicast via
#    MP_REACH_NLRI with global + link-local next hop, IPv4 unicast with an IPv6
#    next hop (RFC 8950 extended next hop), BGP roles / OTC (RFC 9234),
#    extended messages, enhanced route refresh.
scenario_bird_frr_ipv6() {
    local d="$WORK/$SCEN" B="$WORK/$SCEN/bird" F="$WORK/$SCEN/frr"
    mkdir -p "$B" "$F"
    mkns b; mkns f
    veth b eth0 f eth0
    addr b eth0 2001:db8:2::1/64
    addr f eth0 2001:db8:2::2/64

    cat >"$B/bird.conf" <<EOF
log "$B/bird.log" all;
router id 198.18.2.1;
protocol device {}
protocol static s6 {
  ipv6;
  route 2001:db8:a1::/48 blackhole;
  route 2001:db8:a1:100::/56 blackhole;
  route 2001:db8:a1:200::/64 blackhole;
}
protocol static s6_extra {
  ipv6;
  route 2001:db8:a1:ff00::/56 blackhole;
}
protocol static s4 {
  ipv4;
  route 10.244.20.0/24 blackhole;
  route 10.244.21.0/24 blackhole;
}
filter to_frr6 {
  bgp_community.add((64512,6));
  if net = 2001:db8:a1::/48 then {
    bgp_large_community.add((4200000001,6,6));
    bgp_med = 600;
  }
  accept;
}
protocol bgp frr1 {
  local 2001:db8:2::1 as 4200000001;
  neighbor 2001:db8:2::2 as 4200000003;
  interface "eth0";
  local role provider;
  enable extended messages on;
  hold time 9; keepalive time 3; connect retry time 3;
  ipv6 { import all; export filter to_frr6; };
  ipv4 { import all; export all; extended next hop on; };
}
EOF
    cat >"$F/frr.conf" <<EOF
frr defaults traditional
hostname frr-r2
log file $F/bgpd.log
!
route-map SET6 permit 10
 set community 64513:6 additive
 set large-community 4200000003:6:6
 set metric 66
!
route-map SET4 permit 10
 set community 64513:4 additive
 set origin egp
!
router bgp 4200000003
 bgp router-id 198.18.2.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 neighbor 2001:db8:2::1 remote-as 4200000001
 neighbor 2001:db8:2::1 timers 3 9
 neighbor 2001:db8:2::1 timers connect 3
 neighbor 2001:db8:2::1 capability extended-nexthop
 neighbor 2001:db8:2::1 local-role customer
 !
 address-family ipv4 unicast
  network 10.246.1.0/24 route-map SET4
  network 10.246.2.0/24
  neighbor 2001:db8:2::1 activate
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:f6::/48 route-map SET6
  network 2001:db8:f6:1::/64
  network 2001:db8:f6:2::/64
  neighbor 2001:db8:2::1 activate
 exit-address-family
!
EOF
    start_capture b "$d/cap.pcap"
    phase "session start: OPEN exchange, initial UPDATEs (MP_REACH_NLRI, IPv4 with IPv6 next hop)"
    frr_start f "$F"
    bird_start b "$B"
    wait_for "bird established" 60 bird_established "$B" frr1
    wait_for "frr established" 20 frr_established "$F" 2001:db8:2::1
    sleep 4
    phase "FRR withdraws 2001:db8:f6:1::/64 and 10.246.2.0/24 (MP_UNREACH_NLRI)"
    q vtysh "$F" -c 'configure terminal' -c 'router bgp 4200000003' \
        -c 'address-family ipv6 unicast' -c 'no network 2001:db8:f6:1::/64' \
        -c 'exit-address-family' -c 'address-family ipv4 unicast' -c 'no network 10.246.2.0/24'
    sleep 3
    phase "BIRD withdraws 2001:db8:a1:ff00::/56 (static protocol disabled)"
    q birdc "$B" disable s6_extra
    sleep 3
    phase "BIRD: reload in frr1 (ROUTE-REFRESH to FRR)"
    q birdc "$B" reload in frr1
    sleep 4
    phase "FRR: clear bgp ipv6 unicast soft in (ROUTE-REFRESH to BIRD)"
    q vtysh "$F" -c 'clear bgp ipv6 unicast 2001:db8:2::1 soft in'
    sleep 4
    phase "FRR: neighbor shutdown with message (Cease/2, RFC 9003)"
    q vtysh "$F" -c 'configure terminal' -c 'router bgp 4200000003' \
        -c 'neighbor 2001:db8:2::1 shutdown message frr: rack move, session down for ~1h'
    sleep 3
    stop_capture b

    {
        echo "# BGP message test vectors captured from a real session: BIRD <-> FRR"
        echo "# Scenario: eBGP over IPv6 (2001:db8:2::1 <-> 2001:db8:2::2), 4-octet ASNs."
        echo "#   bird = BIRD AS 4200000001 at 2001:db8:2::1 (local role provider)"
        echo "#   frr  = FRR  AS 4200000003 at 2001:db8:2::2 (local role customer, hostname frr-r2)"
        echo "# Families ipv6 unicast (MP_REACH_NLRI/MP_UNREACH_NLRI, next hop global + link-local)"
        echo "# and ipv4 unicast carried with an IPv6 next hop (RFC 8950 extended next hop"
        echo "# capability). BGP role capability + OTC attribute (RFC 9234), extended message"
        echo "# capability, route refresh in both directions answered with enhanced route refresh"
        echo "# (ROUTE-REFRESH subtypes BoRR=1 / EoRR=2, RFC 7313), FQDN capability from FRR,"
        echo "# withdrawals, and FRR's Cease/2 with a shutdown communication."
        versions_header
        echo "# Format: <sender> <type> <complete message hex>; '# --' lines mark test phases."
        echo "# Identical messages from the same sender are kept once."
        echo "#"
    } >"$d/header"
    extract "$d/cap.pcap" "$OUT/$SCEN.txt" "$d/header" 2001:db8:2::1=bird 2001:db8:2::2=frr
}

# ---------------------------------------------------------------------------
# 3. BIRD <-> FRR, iBGP over IPv4 (same AS => LOCAL_PREF), ADD-PATH in both
#    directions, graceful restart, enhanced route refresh, End-of-RIB,
#    FRR aggregate-address summary-only (ATOMIC_AGGREGATE + AGGREGATOR).
scenario_bird_frr_ibgp_addpath() {
    local d="$WORK/$SCEN" B="$WORK/$SCEN/bird" F="$WORK/$SCEN/frr"
    mkdir -p "$B" "$F"
    mkns b; mkns f
    veth b eth0 f eth0
    addr b eth0 198.18.3.1/30
    addr f eth0 198.18.3.2/30

    # Two static protocols announce 10.247.1.0/24, so BIRD's table holds two
    # paths for it and "add paths tx" sends both, with distinct path IDs.
    cat >"$B/bird.conf" <<EOF
log "$B/bird.log" all;
router id 198.18.3.1;
protocol device {}
protocol static a1 {
  ipv4;
  route 10.247.1.0/24 blackhole;
  route 10.247.2.0/24 blackhole;
}
protocol static a2 {
  ipv4;
  route 10.247.1.0/24 blackhole;
  route 10.247.3.0/24 blackhole;
}
filter to_frr {
  if proto = "a2" then {
    bgp_local_pref = 50;
    bgp_community.add((64512,2));
  } else {
    bgp_local_pref = 200;
    bgp_med = 10;
  }
  accept;
}
protocol bgp frr1 {
  local 198.18.3.1 as 4200000010;
  neighbor 198.18.3.2 as 4200000010;
  hold time 9; keepalive time 3; connect retry time 3;
  graceful restart on;
  long lived graceful restart on;
  direct;
  ipv4 { import all; export filter to_frr; add paths on; next hop self; };
}
EOF
    cat >"$F/frr.conf" <<EOF
frr defaults traditional
hostname frr-r3
log file $F/bgpd.log
!
route-map IBGP permit 10
 set local-preference 300
 set community 64514:1 additive
 set extcommunity rt 64514:100
 set origin incomplete
!
router bgp 4200000010
 bgp router-id 198.18.3.2
 bgp graceful-restart
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.18.3.1 remote-as internal
 neighbor 198.18.3.1 timers 3 9
 neighbor 198.18.3.1 timers connect 3
 !
 address-family ipv4 unicast
  network 10.247.101.0/24 route-map IBGP
  network 10.247.102.0/24
  network 10.247.97.0/24
  network 10.247.98.0/24
  aggregate-address 10.247.96.0/22 summary-only
  neighbor 198.18.3.1 addpath-tx-all-paths
 exit-address-family
!
EOF
    start_capture b "$d/cap.pcap"
    phase "session start: OPEN exchange (ADD-PATH, GR, LLGR, enhanced RR), UPDATEs with path IDs, End-of-RIB"
    frr_start f "$F"
    bird_start b "$B"
    wait_for "bird established" 60 bird_established "$B" frr1
    wait_for "frr established" 20 frr_established "$F" 198.18.3.1
    sleep 4
    phase "BIRD withdraws the a2 paths (one of two paths of 10.247.1.0/24, path-id withdrawal)"
    q birdc "$B" disable a2
    sleep 3
    phase "FRR withdraws 10.247.102.0/24"
    q vtysh "$F" -c 'configure terminal' -c 'router bgp 4200000010' \
        -c 'address-family ipv4 unicast' -c 'no network 10.247.102.0/24'
    sleep 3
    phase "BIRD: reload in frr1 (ROUTE-REFRESH; FRR answers with BoRR ... EoRR)"
    q birdc "$B" reload in frr1
    sleep 4
    phase "FRR: clear bgp soft in (ROUTE-REFRESH; BIRD answers with BoRR ... EoRR)"
    q vtysh "$F" -c 'clear bgp ipv4 unicast 198.18.3.1 soft in'
    sleep 4
    phase "BIRD: disable frr1 without message (Cease/2 administrative shutdown)"
    q birdc "$B" disable frr1
    sleep 3
    stop_capture b

    {
        echo "# BGP message test vectors captured from a real session: BIRD <-> FRR"
        echo "# Scenario: iBGP over IPv4 (198.18.3.1 <-> 198.18.3.2), both AS 4200000010."
        echo "#   bird = BIRD AS 4200000010 at 198.18.3.1"
        echo "#   frr  = FRR  AS 4200000010 at 198.18.3.2 (hostname frr-r3)"
        echo "# ADD-PATH send/receive for ipv4 unicast in both directions (every NLRI carries a"
        echo "# 4-byte path identifier; BIRD sends two paths for 10.247.1.0/24), graceful restart"
        echo "# and long-lived GR capabilities, enhanced route refresh (BoRR/EoRR), End-of-RIB"
        echo "# markers, LOCAL_PREF, FRR aggregate 10.247.96.0/22 summary-only (ATOMIC_AGGREGATE +"
        echo "# 8-byte AGGREGATOR), withdrawals with path IDs, BIRD's Cease/2 without data."
        versions_header
        echo "# Format: <sender> <type> <complete message hex>; '# --' lines mark test phases."
        echo "# Identical messages from the same sender are kept once."
        echo "#"
    } >"$d/header"
    extract "$d/cap.pcap" "$OUT/$SCEN.txt" "$d/header" 198.18.3.1=bird 198.18.3.2=frr
}

# ---------------------------------------------------------------------------
# 4. iBGP route reflection: BIRD is the route reflector (cluster id
#    198.18.4.1), GoBGP and FRR are its clients; reflected routes carry
#    ORIGINATOR_ID and CLUSTER_LIST.  Captured on the reflector.
scenario_bird_rr_ibgp() {
    local d="$WORK/$SCEN" B="$WORK/$SCEN/bird" G="$WORK/$SCEN/gobgp" F="$WORK/$SCEN/frr"
    mkdir -p "$B" "$G" "$F"
    mkns r; mkns g; mkns f
    veth r eth-g g eth0
    veth r eth-f f eth0
    addr r eth-g 198.18.4.1/30
    addr g eth0  198.18.4.2/30
    addr r eth-f 198.18.4.5/30
    addr f eth0  198.18.4.6/30

    cat >"$B/bird.conf" <<EOF
log "$B/bird.log" all;
router id 198.18.4.1;
protocol device {}
protocol static rr_own {
  ipv4;
  route 10.248.0.0/24 blackhole;
}
template bgp rrclient {
  local as 4200000020;
  direct;
  rr client;
  rr cluster id 198.18.4.1;
  hold time 9; keepalive time 3; connect retry time 3;
  ipv4 { import all; export all; next hop keep; };
}
protocol bgp gobgp1 from rrclient {
  local 198.18.4.1;
  neighbor 198.18.4.2 as 4200000020;
}
protocol bgp frr1 from rrclient {
  local 198.18.4.5;
  neighbor 198.18.4.6 as 4200000020;
}
EOF
    cat >"$G/gobgp.toml" <<EOF
[global.config]
  as = 4200000020
  router-id = "198.18.4.2"
  port = 179
  local-address-list = ["198.18.4.2"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.4.1"
    peer-as = 4200000020
  [neighbors.timers.config]
    connect-retry = 3
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
EOF
    cat >"$F/frr.conf" <<EOF
frr defaults traditional
hostname frr-c2
log file $F/bgpd.log
!
route-map LP permit 10
 set local-preference 250
 set large-community 4200000020:2:2
!
router bgp 4200000020
 bgp router-id 198.18.4.6
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.18.4.5 remote-as internal
 neighbor 198.18.4.5 timers 3 9
 neighbor 198.18.4.5 timers connect 3
 !
 address-family ipv4 unicast
  network 10.248.2.0/24 route-map LP
  network 10.248.3.0/24
 exit-address-family
!
EOF
    start_capture r "$d/cap.pcap"
    phase "sessions start: BIRD (RR) <-> GoBGP and BIRD (RR) <-> FRR"
    gobgpd_start g "$G"
    wait_for "gobgp api" 20 gobgp g global
    frr_start f "$F"
    bird_start r "$B"
    wait_for "bird-gobgp established" 60 bird_established "$B" gobgp1
    wait_for "bird-frr established" 60 bird_established "$B" frr1
    sleep 4
    phase "GoBGP announces 10.248.1.0/24 and 10.248.4.0/24; BIRD reflects them to FRR"
    q gobgp g global rib add -a ipv4 10.248.1.0/24 local-pref 150 med 15 community 64520:1
    q gobgp g global rib add -a ipv4 10.248.4.0/24 origin egp
    sleep 4
    phase "GoBGP withdraws 10.248.4.0/24; BIRD reflects the withdrawal"
    q gobgp g global rib del -a ipv4 10.248.4.0/24
    sleep 3
    phase "BIRD: disable both sessions"
    q birdc "$B" disable gobgp1 '"route reflector maintenance"'
    q birdc "$B" disable frr1
    sleep 3
    stop_capture r

    {
        echo "# BGP message test vectors captured from real sessions: BIRD route reflector"
        echo "# with two iBGP clients, all AS 4200000020. Captured on the reflector."
        echo "#   bird  = BIRD  route reflector, cluster id 198.18.4.1; 198.18.4.1 (to gobgp), 198.18.4.5 (to frr)"
        echo "#   gobgp = GoBGP client at 198.18.4.2"
        echo "#   frr   = FRR   client at 198.18.4.6 (hostname frr-c2)"
        echo "# Routes from one client are reflected to the other with ORIGINATOR_ID and"
        echo "# CLUSTER_LIST; LOCAL_PREF on every iBGP UPDATE; empty AS_PATH for locally"
        echo "# originated routes; a reflected withdrawal; Cease/2 with and without text."
        versions_header
        echo "# Format: <sender> <type> <complete message hex>; '# --' lines mark test phases."
        echo "# Identical messages from the same sender are kept once."
        echo "#"
    } >"$d/header"
    extract "$d/cap.pcap" "$OUT/$SCEN.txt" "$d/header" \
        198.18.4.1=bird 198.18.4.5=bird 198.18.4.2=gobgp 198.18.4.6=frr
}

# ---------------------------------------------------------------------------
# 5. A 2-octet-AS-only speaker: BIRD (AS 65001, "enable as4 off") between
#    GoBGP (AS 4200000002) and FRR (AS 4200000003).  The 4-octet speakers
#    send AS_TRANS (23456) in OPEN and AS_PATH, plus AS4_PATH / AS4_AGGREGATOR;
#    BIRD passes the routes on.  Captured on BIRD.
scenario_bird_as2_as4() {
    local d="$WORK/$SCEN" B="$WORK/$SCEN/bird" G="$WORK/$SCEN/gobgp" F="$WORK/$SCEN/frr"
    mkdir -p "$B" "$G" "$F"
    mkns b; mkns g; mkns f
    veth b eth-g g eth0
    veth b eth-f f eth0
    addr b eth-g 198.18.5.1/30
    addr g eth0  198.18.5.2/30
    addr b eth-f 198.18.5.5/30
    addr f eth0  198.18.5.6/30

    cat >"$B/bird.conf" <<EOF
log "$B/bird.log" all;
router id 198.18.5.1;
protocol device {}
protocol static own {
  ipv4;
  route 10.244.50.0/24 blackhole;
}
filter as2_out {
  if net = 10.244.50.0/24 then bgp_path.prepend(4200000050);
  accept;
}
template bgp as2 {
  local as 65001;
  enable as4 off;
  hold time 9; keepalive time 3; connect retry time 3;
  ipv4 { import all; export filter as2_out; };
}
# "as 23456" is refused at OPEN time (BIRD reads the peer AS from the 4-octet AS
# capability even with as4 off) and a 4-octet "as N" is refused by the config
# parser, so the neighbors are declared "external" (any AS but our own).
protocol bgp gobgp1 from as2 {
  local 198.18.5.1;
  neighbor 198.18.5.2 external;
}
protocol bgp frr1 from as2 {
  local 198.18.5.5;
  neighbor 198.18.5.6 external;
}
EOF
    cat >"$G/gobgp.toml" <<EOF
[global.config]
  as = 4200000002
  router-id = "198.18.5.2"
  port = 179
  local-address-list = ["198.18.5.2"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.5.1"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 3
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
EOF
    cat >"$F/frr.conf" <<EOF
frr defaults traditional
hostname frr-as4
log file $F/bgpd.log
!
route-map PREP permit 10
 set as-path prepend 4200000077 64700
 set community 64530:1 additive
!
router bgp 4200000003
 bgp router-id 198.18.5.6
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.18.5.5 remote-as 65001
 neighbor 198.18.5.5 timers 3 9
 neighbor 198.18.5.5 timers connect 3
 !
 address-family ipv4 unicast
  network 10.246.50.0/24 route-map PREP
  network 10.246.61.0/24
  network 10.246.62.0/24
  aggregate-address 10.246.60.0/22 summary-only
 exit-address-family
!
EOF
    start_capture b "$d/cap.pcap"
    phase "sessions start: 4-octet speakers open with My AS = 23456 (AS_TRANS)"
    gobgpd_start g "$G"
    wait_for "gobgp api" 20 gobgp g global
    frr_start f "$F"
    bird_start b "$B"
    wait_for "bird-gobgp established" 60 bird_established "$B" gobgp1
    wait_for "bird-frr established" 60 bird_established "$B" frr1
    sleep 4
    phase "GoBGP announces routes whose AS_PATH and AGGREGATOR hold 4-octet ASNs"
    q gobgp g global rib add -a ipv4 10.245.50.0/24 aspath 4200000099,65010 \
        aggregator 4200000002:198.18.5.2 community 64531:1
    q gobgp g global rib add -a ipv4 10.245.51.0/24 aspath 65020
    sleep 4
    phase "GoBGP withdraws 10.245.51.0/24"
    q gobgp g global rib del -a ipv4 10.245.51.0/24
    sleep 3
    phase "FRR: neighbor shutdown with message; BIRD withdraws FRR's routes towards GoBGP"
    q vtysh "$F" -c 'configure terminal' -c 'router bgp 4200000003' \
        -c 'neighbor 198.18.5.5 shutdown message as4 test done'
    sleep 3
    phase "BIRD: disable gobgp1 with message"
    q birdc "$B" disable gobgp1 '"2-octet AS speaker going away"'
    sleep 3
    stop_capture b

    {
        echo "# BGP message test vectors captured from real sessions: a 2-octet-AS-only BIRD"
        echo "# (AS 65001, 'enable as4 off': no 4-octet AS capability) peering with two"
        echo "# 4-octet-AS speakers. Captured on BIRD."
        echo "#   bird  = BIRD  AS 65001, 198.18.5.1 (to gobgp) and 198.18.5.5 (to frr)"
        echo "#   gobgp = GoBGP AS 4200000002 at 198.18.5.2"
        echo "#   frr   = FRR   AS 4200000003 at 198.18.5.6 (hostname frr-as4)"
        echo "# OPENs with My AS = 23456 (AS_TRANS) from the 4-octet speakers, 2-octet AS_PATH"
        echo "# with AS_TRANS plus AS4_PATH, AGGREGATOR with AS_TRANS plus AS4_AGGREGATOR,"
        echo "# ATOMIC_AGGREGATE (FRR aggregate-address summary-only); BIRD passes the routes"
        echo "# on between the two peers (re-encoding AS_PATH/AS4_PATH as a 2-octet speaker)."
        versions_header
        echo "# Format: <sender> <type> <complete message hex>; '# --' lines mark test phases."
        echo "# Identical messages from the same sender are kept once."
        echo "#"
    } >"$d/header"
    extract "$d/cap.pcap" "$OUT/$SCEN.txt" "$d/header" \
        198.18.5.1=bird 198.18.5.5=bird 198.18.5.2=gobgp 198.18.5.6=frr
}

# ================================================================= main ====
mkdir -p "$OUT"
run=("$@")
((${#run[@]})) || run=("${SCENARIOS[@]}")
failed=()
for SCEN in "${run[@]}"; do
    fn="scenario_${SCEN//-/_}"
    declare -F "$fn" >/dev/null || die "unknown scenario $SCEN"
    mkdir -p "$WORK/$SCEN"
    PHASES="$WORK/$SCEN/phases"
    : >"$PHASES"
    log "=== scenario $SCEN ==="
    set +e
    ( set -e; "$fn" )
    rc=$?
    set -e
    if ((rc == 0)); then
        log "=== $SCEN: wrote $OUT/$SCEN.txt"
    else
        log "=== $SCEN: FAILED (logs in $WORK/$SCEN)"
        failed+=("$SCEN")
        KEEP_WORK=1
    fi
    teardown_all
done
((${#failed[@]} == 0)) || die "failed scenarios: ${failed[*]}"
log "done"
