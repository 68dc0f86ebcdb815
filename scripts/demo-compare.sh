# Sourced by scripts/demo.sh --compare: pod-to-pod throughput over the BGP-learned native routes
# and over a VXLAN overlay built between the same two node namespaces, measured with iperf3.
# Uses demo.sh's helpers (ns, add_ns, link, run) and its lab (node1/node2 behind tor1).

compare_native_and_vxlan() {
    echo; echo "==> native routing vs VXLAN overlay, pod on node1 -> pod on node2 (iperf3, 5 s each)"
    # The overlay: a VXLAN segment 10.250.0.0/24 bridged between node1 and node2 over the same
    # uplinks, with one more pod namespace behind each node.
    add_ns vxpod1; add_ns vxpod2
    local n
    for n in 1 2; do
        local node; node=$(ns "node$n")
        # Underlay reachability between the nodes' uplink addresses, through tor1.
        local other=$((3 - n))
        ip -n "$node" route add "198.18.1$other.0/24" via "198.18.1$n.1"
        ip -n "$node" link add "vx$tag" type vxlan id 42 local "198.18.1$n.2" remote "198.18.1$other.2" dstport 4789
        ip -n "$node" link add "br$tag" type bridge
        ip -n "$node" link set "vx$tag" master "br$tag"
        ip -n "$node" link set "vx$tag" up
        ip -n "$node" link set "br$tag" up
        link "vxpod$n" "10.250.0.$n/24" "node$n" "0.0.0.0/32"
        local port="v${tag}b$link_count"
        ip -n "$node" addr flush dev "$port"
        ip -n "$node" link set "$port" master "br$tag"
        # The overlay's MTU: 50 bytes of VXLAN headers come off the underlay's 1500.
        ip -n "$(ns "vxpod$n")" link set "v${tag}a$link_count" mtu 1450
    done

    ip netns exec "$(ns pod2)" iperf3 -s -D -1 -p 5201 >/dev/null
    ip netns exec "$(ns vxpod2)" iperf3 -s -D -1 -p 5202 >/dev/null
    sleep 0.5
    local native overlay
    native=$(ip netns exec "$(ns pod1)" iperf3 -c 198.19.2.10 -p 5201 -t 5 -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9, 2))')
    overlay=$(ip netns exec "$(ns vxpod1)" iperf3 -c 10.250.0.2 -p 5202 -t 5 -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9, 2))')
    echo "native (BGP routes, MTU 1500): ${native} Gbit/s"
    echo "VXLAN overlay (MTU 1450):      ${overlay} Gbit/s"
    python3 -c "print(f'native / overlay = {${native}/${overlay}:.2f}x')"
}
