#!/usr/bin/env bash
# The demo lab: a ToR running speakerd as an edge router with dynamic neighbours, and three
# "nodes" running speakerd, each with a pod namespace behind it and a static PodCIDR. The nodes
# announce their PodCIDRs, learn each other's through the ToR, install them in their kernels,
# and pods ping each other across nodes with no overlay.
#
#   sudo bash scripts/demo.sh            one ToR
#   sudo bash scripts/demo.sh --ecmp     every node dual-homed to two ToRs: ECMP routes
#   sudo bash scripts/demo.sh --compare  pod-to-pod iperf3 over the BGP routes and over VXLAN
#
# Everything runs in network namespaces this script creates (addresses from 198.18.0.0/15) and
# removes on exit. Run as root on Debian 12; it installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }

mode=${1:-basic}
case "$mode" in basic|--ecmp|--compare) ;; *) echo "usage: $0 [--ecmp|--compare]" >&2; exit 2 ;; esac

need=(iproute2 iputils-ping)
[ "$mode" = --compare ] && need+=(iperf3)
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "==> building speakerd"
cargo build --release -q -p speakerd
SPEAKERD=$PWD/target/release/speakerd

run=$(mktemp -d /tmp/speakerd-demo.XXXXXX)
tag=$$
tors=(tor1)
[ "$mode" = --ecmp ] && tors=(tor1 tor2)
nodes=(1 2 3)
namespaces=()
ns() { echo "demo$tag-$1"; }
cleanup() {
    for pidfile in "$run"/*.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 0.5
    for n in "${namespaces[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$run"
}
trap cleanup EXIT

add_ns() {
    local name; name=$(ns "$1")
    ip netns add "$name"
    namespaces+=("$name")
    ip -n "$name" link set lo up
    ip netns exec "$name" sysctl -qw net.ipv4.ip_forward=1
}

# link NS_A ADDR_A NS_B ADDR_B: a veth pair between two namespaces.
link_count=0
link() {
    link_count=$((link_count + 1))
    local a="v${tag}a$link_count" b="v${tag}b$link_count"
    ip link add "$a" type veth peer name "$b"
    ip link set "$a" netns "$(ns "$1")"; ip link set "$b" netns "$(ns "$3")"
    ip -n "$(ns "$1")" addr add "$2" dev "$a"; ip -n "$(ns "$3")" addr add "$4" dev "$b"
    ip -n "$(ns "$1")" link set "$a" up; ip -n "$(ns "$3")" link set "$b" up
}

for t in "${tors[@]}"; do add_ns "$t"; done
for n in "${nodes[@]}"; do add_ns "node$n"; add_ns "pod$n"; done

# Uplinks: node N to ToR T on 198.18.<T*10+N>.0/24, the ToR .1 and the node .2.
for ti in "${!tors[@]}"; do
    t=${tors[$ti]}
    for n in "${nodes[@]}"; do
        net="198.18.$(( (ti + 1) * 10 + n ))"
        link "$t" "$net.1/24" "node$n" "$net.2/24"
    done
done
# Pods: 198.19.N.0/24 behind node N; the node is .1, the pod .10. (Lab hosts take their addresses
# from 198.18.0.0/15, so the PodCIDRs do too instead of the usual 10.244.0.0/16.)
for n in "${nodes[@]}"; do
    link "node$n" "198.19.$n.1/24" "pod$n" "198.19.$n.10/24"
    ip -n "$(ns "pod$n")" route add default via "198.19.$n.1"
done

for ti in "${!tors[@]}"; do
    t=${tors[$ti]}
    cat > "$run/$t.toml" <<CONF
# ToR $t: an edge router serving every node that connects from the lab's range.
[global]
asn = 65000
router_id = "198.18.$(( (ti + 1) * 10 )).1"
listen = ["0.0.0.0:179"]

[[dynamic_neighbor]]
range = "198.18.0.0/16"
remote_asn = 65100
hold_time = 9
import = ["accept-all"]
export = ["accept-all"]
CONF
done
for n in "${nodes[@]}"; do
    {
        cat <<CONF
# Node $n: announces its PodCIDR, learns the others' through its ToR(s).
[global]
asn = 65100
router_id = "198.18.1$n.2"
listen = []

[kernel]
ecmp_max_paths = 8

[[prefix]]
prefix = "198.19.$n.0/24"
CONF
        for ti in "${!tors[@]}"; do
            net="198.18.$(( (ti + 1) * 10 + n ))"
            cat <<CONF

[[neighbor]]
address = "$net.1"
remote_asn = 65000
local_address = "$net.2"
hold_time = 9
connect_retry_time = 2
allow_own_as = 1
import = ["accept-all"]
export = ["accept-all"]
description = "${tors[$ti]}"
CONF
        done
    } > "$run/node$n.toml"
done

echo "==> starting speakers"
for t in "${tors[@]}"; do
    "$SPEAKERD" check --config "$run/$t.toml" >/dev/null
    ip netns exec "$(ns "$t")" "$SPEAKERD" run --config "$run/$t.toml" > "$run/$t.log" 2>&1 &
    echo $! > "$run/$t.pid"
done
for n in "${nodes[@]}"; do
    "$SPEAKERD" check --config "$run/node$n.toml" >/dev/null
    ip netns exec "$(ns "node$n")" "$SPEAKERD" run --config "$run/node$n.toml" > "$run/node$n.log" 2>&1 &
    echo $! > "$run/node$n.pid"
done

show() { ip netns exec "$(ns "$1")" "$SPEAKERD" show "${@:2}"; }
echo "==> waiting for every node to learn every other PodCIDR"
for _ in $(seq 1 60); do
    complete=1
    for n in "${nodes[@]}"; do
        for m in "${nodes[@]}"; do
            [ "$n" = "$m" ] && continue
            ip -n "$(ns "node$n")" route show "198.19.$m.0/24" | grep -q . || complete=0
        done
    done
    [ $complete = 1 ] && break
    sleep 0.5
done
[ $complete = 1 ] || { echo "routes did not converge; logs in $run" >&2; tail -n 20 "$run"/*.log >&2; trap - EXIT; exit 1; }

for t in "${tors[@]}"; do
    echo; echo "==> $t: speakerd show neighbors"; show "$t" neighbors
done
echo; echo "==> $t: speakerd show routes"; show "${tors[0]}" routes
for n in "${nodes[@]}"; do
    echo; echo "==> node$n kernel routes (ip route, proto 201 = speakerd)"
    ip -n "$(ns "node$n")" route show proto 201
done

echo
status=0
for n in "${nodes[@]}"; do
    for m in "${nodes[@]}"; do
        [ "$n" = "$m" ] && continue
        if ip netns exec "$(ns "pod$n")" ping -c 2 -W 1 -q "198.19.$m.10" >/dev/null; then
            echo "pod$n (198.19.$n.10) -> pod$m (198.19.$m.10): ok"
        else
            echo "pod$n (198.19.$n.10) -> pod$m (198.19.$m.10): FAILED"; status=1
        fi
    done
done

if [ "$mode" = --ecmp ]; then
    echo; echo "==> node1 reaches node2's pods over both ToRs:"
    ip -n "$(ns node1)" route show 198.19.2.0/24
    ip -n "$(ns node1)" route show 198.19.2.0/24 | grep -c nexthop | grep -q 2 || { echo "no ECMP route" >&2; status=1; }
    echo; echo "==> tor2 goes away: node1 falls back to tor1 alone"
    kill "$(cat "$run/tor2.pid")"; rm "$run/tor2.pid"
    for _ in $(seq 1 40); do
        ip -n "$(ns node1)" route show 198.19.2.0/24 | grep -q nexthop || break
        sleep 0.5
    done
    ip -n "$(ns node1)" route show 198.19.2.0/24
    ip netns exec "$(ns pod1)" ping -c 2 -W 1 -q 198.19.2.10 >/dev/null && echo "pod1 -> pod2 still: ok" || { echo "pod1 -> pod2: FAILED"; status=1; }
fi

if [ "$mode" = --compare ]; then
    source "$(dirname "$0")/demo-compare.sh"
    compare_native_and_vxlan
fi
exit $status
