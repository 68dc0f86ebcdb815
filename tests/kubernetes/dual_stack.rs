//! Dual-stack end to end: Nodes with an IPv4 and an IPv6 PodCIDR and an InternalIP of each
//! family, in mesh mode. Each node announces both PodCIDRs over its one IPv4 session per peer
//! (RFC 4760: the IPv6 routes with the node's IPv6 address as next hop), learns the others',
//! installs them in its kernel, and pods on different nodes ping each other over both families.

use serde_json::json;

use super::*;

fn node_ip6(i: usize) -> String {
    format!("2001:db8:100::{}", 10 + i)
}

fn pod_cidr6(i: usize) -> String {
    format!("2001:db8:19:{i}::/64")
}

fn pod_ip6(i: usize) -> String {
    format!("2001:db8:19:{i}::2")
}

/// A dual-stack Node, as a cluster with `--cluster-cidr` of both families has it.
fn dual_stack_node(i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": format!("node-{i}"), "labels": {} },
        "spec": { "podCIDR": pod_cidr(i), "podCIDRs": [pod_cidr(i), pod_cidr6(i)] },
        "status": { "addresses": [
            { "type": "InternalIP", "address": node_ip(i) },
            { "type": "InternalIP", "address": node_ip6(i) },
            { "type": "Hostname", "address": format!("node-{i}") }
        ] }
    })
}

#[test]
fn dual_stack_pod_cidrs_are_routed_and_pods_ping_over_both_families() {
    let mut c = Cluster::new("k8s-dual", 2);
    for i in 1..=2 {
        let ns = c.nodes[i - 1].clone();
        c.lab
            .exec(
                &ns,
                lab::IP,
                &[
                    "-6",
                    "addr",
                    "add",
                    &format!("{}/64", node_ip6(i)),
                    "dev",
                    "eth0",
                ],
            )
            .unwrap();
        c.put_node_json(i, &dual_stack_node(i));
    }
    let mut pods = Vec::new();
    for i in 1..=2 {
        let pod = c.add_pod(i);
        let node = c.nodes[i - 1].clone();
        c.lab
            .exec(
                &node,
                lab::IP,
                &[
                    "-6",
                    "addr",
                    "add",
                    &format!("2001:db8:19:{i}::1/64"),
                    "dev",
                    "pod0",
                ],
            )
            .unwrap();
        c.lab
            .exec(
                &pod,
                lab::IP,
                &[
                    "-6",
                    "addr",
                    "add",
                    &format!("{}/64", pod_ip6(i)),
                    "dev",
                    "eth0",
                ],
            )
            .unwrap();
        c.lab
            .exec(
                &pod,
                lab::IP,
                &[
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("2001:db8:19:{i}::1"),
                ],
            )
            .unwrap();
        pods.push(pod);
    }
    for i in 1..=2 {
        c.start_speakerd(i, "mesh", "");
    }
    wait_for(
        "both PodCIDRs of the other node in each kernel",
        CONVERGE,
        || {
            for (i, j) in [(1, 2), (2, 1)] {
                c.routes(i, &pod_cidr(j), &node_ip(j))?;
                c.routes(i, &pod_cidr6(j), &node_ip6(j))?;
            }
            Ok(())
        },
    );
    for (from, to) in [(0, 2), (1, 1)] {
        for target in [pod_ip(to), pod_ip6(to)] {
            let out = c
                .lab
                .exec(
                    &pods[from],
                    "ping",
                    &["-c", "3", "-i", "0.2", "-W", "2", &target],
                )
                .unwrap_or_else(|e| panic!("pod{} -> {target}: {e}", from + 1));
            assert!(out.contains(" 0% packet loss"), "{out}");
        }
    }
}
