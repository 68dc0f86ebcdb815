//! Service IPs at a BIRD ToR: the load-balancer and external IPs of the selected Services are
//! announced as /32 routes, by every node for `externalTrafficPolicy: Cluster` (two paths at
//! the ToR) and only by the node with a ready endpoint for `Local`, withdrawn when that
//! endpoint stops being ready.

use serde_json::{json, Value};

use super::*;

fn service(name: &str, policy: &str, ingress: &str, external: &[&str], labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop", "labels": labels},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy, "externalIPs": external,
                 "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": ingress}]}}
    })
}

fn endpoints(service: &str, node: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-x1"), "namespace": "shop",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["198.19.1.5"], "nodeName": node, "conditions": {"ready": ready}}]
    })
}

/// The nodes (their addresses) whose route to `prefix` BIRD has.
fn announcers(bird: &lab::Bird, prefix: &str) -> Vec<String> {
    let out = bird
        .try_birdc(&["show", "route", "all", prefix])
        .unwrap_or_default();
    (1..=2)
        .map(node_ip)
        .filter(|ip| out.contains(&format!("via {ip}")))
        .collect()
}

fn announced_by(bird: &lab::Bird, prefix: &str, want: &[usize]) -> Result<(), String> {
    let got = announcers(bird, prefix);
    let want: Vec<String> = want.iter().map(|i| node_ip(*i)).collect();
    if got == want {
        Ok(())
    } else {
        Err(format!("{prefix} from {got:?}, expected {want:?}"))
    }
}

#[test]
fn service_ips_follow_the_traffic_policy_and_the_ready_endpoints() {
    let mut c = Cluster::new("k8s-svc", 2);
    let rack = json!({"rack": "r1"});
    for i in 1..=2 {
        c.put_node(i, &pod_cidr(i), rack.clone());
    }
    let bgp = json!({"bgp": "yes"});
    let web = service(
        "web",
        "Cluster",
        "198.19.250.1",
        &["198.19.251.1"],
        bgp.clone(),
    );
    let db = service("db", "Local", "198.19.250.2", &[], bgp);
    let other = service("intranet", "Cluster", "198.19.250.3", &[], json!({}));
    for (name, s) in [("web", &web), ("db", &db), ("intranet", &other)] {
        c.control("PUT", &format!("/_control/services/{name}"), Some(s))
            .unwrap();
    }
    c.control(
        "PUT",
        "/_control/endpointslices/db-x1",
        Some(&endpoints("db", "node-1", true)),
    )
    .unwrap();
    let bird = tor_bird(&mut c, false);
    let k8s = format!(
        "services = {{ selector = {{ match_labels = {{ bgp = \"yes\" }} }}, external_ips = true }}\n{}",
        tor_section()
    );
    for i in 1..=2 {
        c.start_speakerd_with(i, "tor", "", &k8s, "allow_own_as = 1\n");
    }
    wait_for(
        "Cluster: the ingress and external IP from both nodes",
        CONVERGE,
        || {
            announced_by(&bird, "198.19.250.1/32", &[1, 2])?;
            announced_by(&bird, "198.19.251.1/32", &[1, 2])
        },
    );
    wait_for(
        "Local: only from the node with the ready endpoint",
        CONVERGE,
        || announced_by(&bird, "198.19.250.2/32", &[1]),
    );
    // Not selected: never announced.
    assert!(
        announcers(&bird, "198.19.250.3/32").is_empty(),
        "{:?}",
        bird.try_birdc(&["show", "route", "all", "198.19.250.3/32"])
    );

    // The endpoint stops being ready: withdrawn; it moves to node-2: announced from there.
    c.control(
        "PUT",
        "/_control/endpointslices/db-x1",
        Some(&endpoints("db", "node-1", false)),
    )
    .unwrap();
    wait_for(
        "Local: withdrawn without a ready endpoint",
        CONVERGE,
        || announced_by(&bird, "198.19.250.2/32", &[]),
    );
    c.control(
        "PUT",
        "/_control/endpointslices/db-x1",
        Some(&endpoints("db", "node-2", true)),
    )
    .unwrap();
    wait_for(
        "Local: from the node the endpoint moved to",
        CONVERGE,
        || announced_by(&bird, "198.19.250.2/32", &[2]),
    );
    // The Service goes: withdrawn everywhere.
    c.control("DELETE", "/_control/services/web", None).unwrap();
    wait_for("a deleted Service is withdrawn", CONVERGE, || {
        announced_by(&bird, "198.19.250.1/32", &[])
    });
}
