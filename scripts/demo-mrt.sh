#!/usr/bin/env bash
# Demo: two BIRD 2 routers in network namespaces peer over eBGP with 4-octet AS numbers and
# exchange PodCIDR-like prefixes; BIRD records the session as MRT, and our `mrtdump` prints it
# in `bgpdump -m` form, next to `bgpdump -m` itself for comparison.
# Run as root on Debian 12: sudo bash scripts/demo.sh
# It installs bird2 and bgpdump if missing, and removes its namespaces on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }

for p in bird2 bgpdump iproute2; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
    fi
done

echo "==> building mrtdump"
cargo build --release -q -p bgp-proto --bin mrtdump
MRTDUMP=$PWD/target/release/mrtdump

run=$(mktemp -d /tmp/bgp-demo.XXXXXX)
NS_A=demo-tor-$$ NS_B=demo-node-$$
cleanup() {
    for ns in "$NS_A" "$NS_B"; do
        [ -f "$run/$ns.pid" ] && kill "$(cat "$run/$ns.pid")" 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$run"
}
trap cleanup EXIT

ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add "va$$" type veth peer name "vb$$"
ip link set "va$$" netns "$NS_A"; ip link set "vb$$" netns "$NS_B"
ip -n "$NS_A" addr add 198.18.0.1/24 dev "va$$"; ip -n "$NS_B" addr add 198.18.0.2/24 dev "vb$$"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "va$$" up; ip -n "$NS_B" link set "vb$$" up

# BIRD in the "ToR" namespace records every message and state change of its session as MRT.
cat > "$run/tor.conf" <<CONF
router id 198.18.0.1;
mrtdump "$run/session.mrt";
mrtdump protocols { states, messages };
protocol device { }
protocol static { ipv4; route 10.96.0.0/12 unreachable; }
protocol bgp node1 {
    local 198.18.0.1 as 4200000001; neighbor 198.18.0.2 as 4200000002;
    hold time 9; keepalive time 3; connect retry time 1;
    ipv4 { import all; export all; };
}
CONF
# BIRD in the "node" namespace announces the node's PodCIDRs with communities.
cat > "$run/node.conf" <<CONF
router id 198.18.0.2;
protocol device { }
protocol static {
    ipv4;
    route 10.244.1.0/24 unreachable { bgp_community.add((65000,100)); bgp_large_community.add((4200000002,1,1)); };
    route 10.244.2.0/24 unreachable { bgp_med = 50; };
}
protocol bgp tor {
    local 198.18.0.2 as 4200000002; neighbor 198.18.0.1 as 4200000001;
    hold time 9; keepalive time 3; connect retry time 1;
    ipv4 { import all; export all; };
}
CONF
ip netns exec "$NS_A" bird -c "$run/tor.conf" -s "$run/tor.ctl" -P "$run/$NS_A.pid"
ip netns exec "$NS_B" bird -c "$run/node.conf" -s "$run/node.ctl" -P "$run/$NS_B.pid"

echo "==> waiting for the session"
for _ in $(seq 1 30); do
    birdc -s "$run/tor.ctl" show protocols node1 | grep -q Established && break
    sleep 1
done
birdc -s "$run/tor.ctl" show protocols node1 | tail -n +2
sleep 2
echo "==> the node withdraws 10.244.2.0/24"
sed -i '/10.244.2.0/d' "$run/node.conf"
birdc -s "$run/node.ctl" configure >/dev/null
sleep 2
birdc -s "$run/tor.ctl" show route protocol node1 | tail -n +2
birdc -s "$run/tor.ctl" disable node1 "demo over" >/dev/null
sleep 1

echo "==> our mrtdump:"
"$MRTDUMP" "$run/session.mrt" | tee "$run/ours.txt"
echo "==> bgpdump -m, for comparison:"
bgpdump -m "$run/session.mrt" 2>/dev/null | tee "$run/theirs.txt"
if cmp -s "$run/ours.txt" "$run/theirs.txt"; then
    echo "==> identical output"
else
    echo "==> outputs differ:"; diff "$run/ours.txt" "$run/theirs.txt" || true
    exit 1
fi
