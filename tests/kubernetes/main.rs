//! The Kubernetes integration against a stand-in API server (`k8s/fake_apiserver.py`) that
//! speaks the real list/watch protocol for Nodes and the bgp.speakerd.io resources with real
//! object JSON (the custom resources: `crds.rs`): no kube-apiserver can be
//! installed on the build machines. Each node runs speakerd in its own namespace; all of them and
//! the API server share one bridge (198.18.100.0/24) in a hub namespace.

#[path = "../lab/mod.rs"]
mod lab;

mod crds;
mod dual_stack;
mod services;

use std::time::{Duration, Instant};

use lab::{wait_for, Lab};
use serde_json::json;

const ASN: u32 = 64512;
const CONVERGE: Duration = Duration::from_secs(60);
const API: &str = "198.18.100.1";
const API_PORT: u16 = 6443;

struct Cluster {
    lab: Lab,
    hub: String,
    nodes: Vec<String>,
}

fn node_ip(i: usize) -> String {
    format!("198.18.100.{}", 10 + i)
}

/// A fixed MAC address for node `i`'s interface, so neighbour entries can be written ahead.
fn node_mac(i: usize) -> String {
    format!("02:00:c6:12:{:02x}:{:02x}", i / 256, i % 256)
}

fn node_json(i: usize, cidr: &str, labels: serde_json::Value) -> serde_json::Value {
    node_json_with(i, cidr, labels, false)
}

/// A Node; `unschedulable` is what `kubectl cordon` sets.
fn node_json_with(
    i: usize,
    cidr: &str,
    labels: serde_json::Value,
    unschedulable: bool,
) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": format!("node-{i}"), "labels": labels },
        "spec": { "podCIDR": cidr, "podCIDRs": [cidr], "unschedulable": unschedulable },
        "status": { "addresses": [
            { "type": "InternalIP", "address": node_ip(i) },
            { "type": "Hostname", "address": format!("node-{i}") }
        ] }
    })
}

impl Cluster {
    /// A hub namespace with a bridge and the API server, and `count` node namespaces on it.
    fn new(test: &str, count: usize) -> Cluster {
        let mut lab = Lab::new(test);
        let hub = lab.ns("hub");
        lab.exec(&hub, lab::IP, &["link", "add", "br0", "type", "bridge"])
            .unwrap();
        lab.exec(
            &hub,
            lab::IP,
            &["addr", "add", &format!("{API}/24"), "dev", "br0"],
        )
        .unwrap();
        lab.exec(&hub, lab::IP, &["link", "set", "br0", "up"])
            .unwrap();
        let mut nodes = Vec::new();
        for i in 1..=count {
            let ns = lab.ns(&format!("n{i}"));
            let hub_if = format!("h{i}");
            lab.link(
                &ns,
                "eth0",
                &[&format!("{}/24", node_ip(i))],
                &hub,
                &hub_if,
                &[],
            );
            lab.exec(&hub, lab::IP, &["link", "set", &hub_if, "master", "br0"])
                .unwrap();
            lab.exec(
                &ns,
                lab::IP,
                &["link", "set", "eth0", "address", &node_mac(i)],
            )
            .unwrap();
            nodes.push(ns);
        }
        // Every node knows every other node's MAC address: permanent neighbour entries do not
        // count against the kernel-wide limit of learned ones (gc_thresh3, 1024 by default, shared
        // by all namespaces), which a mesh of 50 nodes on one segment (~2,500 entries) exceeds.
        for (i, ns) in nodes.iter().enumerate() {
            let batch: String = (1..=count)
                .filter(|&j| j != i + 1)
                .map(|j| {
                    format!(
                        "neigh replace {} lladdr {} dev eth0 nud permanent\n",
                        node_ip(j),
                        node_mac(j)
                    )
                })
                .collect();
            let path = lab.write(&format!("neigh-{}.batch", i + 1), &batch);
            lab.exec(ns, lab::IP, &["-batch", path.to_str().unwrap()])
                .unwrap();
        }
        let server = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/k8s/fake_apiserver.py"
        );
        lab.spawn(
            "apiserver",
            &hub,
            "python3",
            &[server, API, &API_PORT.to_string()],
            &[],
        );
        let mut cluster = Cluster { lab, hub, nodes };
        wait_for("the API server answers", Duration::from_secs(10), || {
            cluster.control("POST", "/_control/up", None)
        });
        cluster.lab.write(
            "kubeconfig",
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{API}:{API_PORT}\n\
                 users:\n- name: test\n  user:\n    token: test\ncontexts:\n- name: test\n  context:\n    cluster: fake\n    user: test\n\
                 current-context: test\n"
            ),
        );
        let _ = &mut cluster;
        cluster
    }

    /// Calls the API server's control endpoint from inside the hub namespace.
    fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(), String> {
        let script = format!(
            "import urllib.request,sys\nreq=urllib.request.Request('http://{API}:{API_PORT}{path}',method='{method}',data=sys.stdin.buffer.read() or None,headers={{'Content-Type':'application/json'}})\nurllib.request.urlopen(req,timeout=5).read()\n"
        );
        let input = body.map(|b| b.to_string()).unwrap_or_default();
        let mut child = std::process::Command::new(lab::IP)
            .args(["netns", "exec", &self.hub, "python3", "-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `GET path` at the API server (its /_control/ views), parsed.
    fn get_json(&self, path: &str) -> Result<serde_json::Value, String> {
        let script = format!("import urllib.request;print(urllib.request.urlopen('http://{API}:{API_PORT}{path}',timeout=5).read().decode())");
        let out = self.lab.exec(&self.hub, "python3", &["-c", &script])?;
        serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
    }

    fn put_node(&self, i: usize, cidr: &str, labels: serde_json::Value) {
        self.put_node_json(i, &node_json(i, cidr, labels));
    }

    fn put_node_json(&self, i: usize, node: &serde_json::Value) {
        let path = format!("/_control/nodes/node-{i}");
        self.control("PUT", &path, Some(node)).unwrap();
    }

    fn start_speakerd(&mut self, i: usize, mode: &str, extra: &str) {
        self.start_speakerd_with(i, mode, extra, "", "");
    }

    /// Starts speakerd on node `i`: `top` goes before `[kubernetes]` (global-level sections),
    /// `kubernetes` into it, `peer` into `[kubernetes.peer]`.
    fn start_speakerd_with(
        &mut self,
        i: usize,
        mode: &str,
        top: &str,
        kubernetes: &str,
        peer: &str,
    ) {
        let kubeconfig = self.lab.dir().join("kubeconfig");
        let conf = format!(
            "[global]\nasn = {ASN}\nrouter_id = \"{ip}\"\nlisten = [\"0.0.0.0:179\"]\n\n{top}\n\
             [kubernetes]\nnode_name = \"node-{i}\"\nkubeconfig = \"{kc}\"\nmode = \"{mode}\"\nservice_cidrs = [\"10.96.0.0/12\"]\n{kubernetes}\n\
             [kubernetes.peer]\nhold_time = 9\nconnect_retry_time = 2\nimport = [\"accept-all\"]\nexport = [\"accept-all\"]\n{peer}\n",
            ip = node_ip(i),
            kc = kubeconfig.display(),
        );
        let ns = self.nodes[i - 1].clone();
        let name = format!("speakerd-{i}");
        let path = self.lab.write(&format!("{name}.toml"), &conf);
        let path = path.to_str().unwrap().to_string();
        let log = std::env::var("SPEAKERD_TEST_LOG").unwrap_or_else(|_| "info".into());
        self.lab.spawn(
            &name,
            &ns,
            lab::SPEAKERD,
            &["run", "--config", &path],
            &[("RUST_LOG", &log)],
        );
    }

    /// Ok when node `i`'s speakerd is ready (`/readyz`: sessions Established, End-of-RIB
    /// exchanged).
    fn ready(&self, i: usize) -> Result<(), String> {
        let script = "import urllib.request;urllib.request.urlopen('http://127.0.0.1:9179/readyz',timeout=5)";
        self.lab
            .exec(&self.nodes[i - 1], "python3", &["-c", script])
            .map(|_| ())
    }

    /// The Events recorded at the API server whose reason is `reason`, about Node `node`:
    /// their notes.
    fn events(&self, node: &str, reason: &str) -> Vec<String> {
        self.event_records(node, reason)
            .iter()
            .map(|e| e["note"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// How many times an event with this reason and a note containing `text` happened (one
    /// Event, then its series).
    fn event_count(&self, node: &str, reason: &str, text: &str) -> i64 {
        self.event_records(node, reason)
            .iter()
            .filter(|e| e["note"].as_str().is_some_and(|n| n.contains(text)))
            .map(|e| e["series"]["count"].as_i64().unwrap_or(1))
            .sum()
    }

    fn event_records(&self, node: &str, reason: &str) -> Vec<serde_json::Value> {
        let script = format!("import urllib.request;print(urllib.request.urlopen('http://{API}:{API_PORT}/_control/events',timeout=5).read().decode())");
        let out = self
            .lab
            .exec(&self.hub, "python3", &["-c", &script])
            .unwrap();
        let events: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        events
            .iter()
            .filter(|e| e["reason"] == reason && e["regarding"]["name"] == node)
            .inspect(|e| {
                assert_eq!(e["regarding"]["kind"], "Node", "{e}");
                assert!(
                    e["regarding"]["uid"].is_string(),
                    "the Node's uid is missing: {e}"
                );
                assert_eq!(e["reportingController"], "speakerd", "{e}");
            })
            .cloned()
            .collect()
    }

    /// Ok once Node `node` has an Event with this reason whose note contains `text`.
    fn has_event(&self, node: &str, reason: &str, text: &str) -> Result<(), String> {
        let notes = self.events(node, reason);
        if notes.iter().any(|n| n.contains(text)) {
            Ok(())
        } else {
            Err(format!(
                "{node}: no {reason} event with {text:?}: {notes:?}"
            ))
        }
    }

    /// A pod namespace behind node `i`: 198.19.i.2/24, default route via the node (198.19.i.1).
    fn add_pod(&mut self, i: usize) -> String {
        let pod = self.lab.ns(&format!("pod{i}"));
        let node = self.nodes[i - 1].clone();
        self.lab.link(
            &pod,
            "eth0",
            &[&format!("{}/24", pod_ip(i))],
            &node,
            "pod0",
            &[&format!("198.19.{i}.1/24")],
        );
        self.lab
            .exec(
                &pod,
                lab::IP,
                &["route", "add", "default", "via", &format!("198.19.{i}.1")],
            )
            .unwrap();
        pod
    }

    /// Ok when node `i`'s kernel routes `cidr` via `via`.
    fn routes(&self, i: usize, cidr: &str, via: &str) -> Result<(), String> {
        let route = self
            .lab
            .kernel_route(&self.nodes[i - 1], cidr)
            .ok_or_else(|| format!("node-{i}: no route for {cidr}"))?;
        let gateways = Lab::gateways(&route);
        if gateways == [via.to_string()] {
            Ok(())
        } else {
            Err(format!("node-{i}: {cidr} via {gateways:?}, expected {via}"))
        }
    }

    fn no_route(&self, i: usize, cidr: &str) -> Result<(), String> {
        match self.lab.kernel_route(&self.nodes[i - 1], cidr) {
            None => Ok(()),
            Some(r) => Err(format!("node-{i} still routes {cidr}: {r}")),
        }
    }

    /// Ok when every node routes every other node's PodCIDR via that node.
    fn mesh_complete(&self, cidrs: &[(usize, String)]) -> Result<(), String> {
        for i in 1..=self.nodes.len() {
            for (j, cidr) in cidrs {
                if *j != i {
                    self.routes(i, cidr, &node_ip(*j))?;
                }
            }
        }
        Ok(())
    }

    fn metric(&self, i: usize, name: &str) -> f64 {
        let script = "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9179/metrics',timeout=5).read().decode())";
        let text = self
            .lab
            .exec(&self.nodes[i - 1], "python3", &["-c", script])
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

fn cidr(i: usize) -> String {
    format!("10.244.{i}.0/24")
}

/// PodCIDRs of the tests with pod namespaces (test hosts live in 198.18.0.0/15).
fn pod_cidr(i: usize) -> String {
    format!("198.19.{i}.0/24")
}

fn pod_ip(i: usize) -> String {
    format!("198.19.{i}.2")
}

#[test]
fn mesh_follows_node_objects_through_changes_deletions_and_api_outages() {
    let mut c = Cluster::new("k8s-mesh", 3);
    for i in 1..=3 {
        c.put_node(i, &cidr(i), json!({}));
    }
    // node-1 also announces a prefix no Node owns: the others must refuse it.
    c.start_speakerd(1, "mesh", "[[prefix]]\nprefix = \"10.200.0.0/24\"\n");
    for i in 2..=3 {
        c.start_speakerd(i, "mesh", "");
    }
    let all: Vec<(usize, String)> = (1..=3).map(|i| (i, cidr(i))).collect();
    wait_for("every node routes every other PodCIDR", CONVERGE, || {
        c.mesh_complete(&all)
    });
    for i in 2..=3 {
        c.no_route(i, "10.200.0.0/24").unwrap();
        assert!(c.metric(i, "bgp_kubernetes_routes_rejected_total") >= 1.0);
    }
    // Sessions coming up are Events on the Node.
    wait_for("node-1 has session Events", CONVERGE, || {
        c.has_event("node-1", "BGPSessionEstablished", &node_ip(2))?;
        c.has_event("node-1", "BGPSessionEstablished", &node_ip(3))
    });

    // node-2's PodCIDR changes: the others follow, the old one goes.
    c.put_node(2, "10.244.22.0/24", json!({}));
    wait_for("the new PodCIDR of node-2 is routed", CONVERGE, || {
        c.routes(1, "10.244.22.0/24", &node_ip(2))?;
        c.routes(3, "10.244.22.0/24", &node_ip(2))?;
        c.no_route(1, &cidr(2))?;
        c.no_route(3, &cidr(2))
    });

    // The API server goes away and comes back, and then forgets its history (410 Gone and a
    // relist): nothing that did not change is withdrawn meanwhile.
    c.control("POST", "/_control/down", None).unwrap();
    lab::holds_for(
        "routes stay while the API server is down",
        Duration::from_secs(5),
        || {
            c.routes(1, "10.244.22.0/24", &node_ip(2))?;
            c.routes(2, &cidr(3), &node_ip(3))
        },
    );
    c.control("POST", "/_control/up", None).unwrap();
    c.control("POST", "/_control/compact", None).unwrap();
    lab::holds_for(
        "routes stay across the relist",
        Duration::from_secs(5),
        || {
            c.routes(1, "10.244.22.0/24", &node_ip(2))?;
            c.routes(2, &cidr(3), &node_ip(3))
        },
    );

    // node-3 is deleted: its sessions and routes go from the others. (Its session with node-1
    // may already have come up twice: nodes starting together collide, and RFC 4271 §6.8 lets
    // one side reach Established on the connection the other side then closes.)
    let established_before = c.event_count("node-1", "BGPSessionEstablished", &node_ip(3));
    c.control("DELETE", "/_control/nodes/node-3", None).unwrap();
    wait_for("node-3's PodCIDR is gone", CONVERGE, || {
        c.no_route(1, &cidr(3))?;
        c.no_route(2, &cidr(3))
    });
    wait_for("node-1 records the session down", CONVERGE, || {
        c.has_event("node-1", "BGPSessionDown", &node_ip(3))
    });
    wait_for(
        "node-1 no longer has node-3 as a neighbour",
        CONVERGE,
        || match c.lab.neighbor(&c.nodes[0], &node_ip(3)) {
            Ok(n) => Err(format!("still there: {n}")),
            Err(_) => Ok(()),
        },
    );

    // A new node appears.
    c.put_node(3, &cidr(3), json!({}));
    wait_for("node-3 is back in the mesh", CONVERGE, || {
        c.routes(1, &cidr(3), &node_ip(3))?;
        c.routes(3, &cidr(1), &node_ip(1))
    });
    // A further Established event for the same neighbour is a repeat: a series of the first,
    // one Event object whose count goes up.
    wait_for(
        "node-1 counts node-3's new session in the same series",
        CONVERGE,
        || {
            let records = c
                .event_records("node-1", "BGPSessionEstablished")
                .into_iter()
                .filter(|e| e["note"].as_str().is_some_and(|n| n.contains(&node_ip(3))))
                .count();
            let count = c.event_count("node-1", "BGPSessionEstablished", &node_ip(3));
            if records == 1 && count > established_before {
                Ok(())
            } else {
                Err(format!(
                    "{records} Event objects, {count} times (before the deletion: {established_before})"
                ))
            }
        },
    );
}

#[test]
fn route_reflectors_serve_the_other_nodes() {
    let mut c = Cluster::new("k8s-rr", 4);
    let reflector = json!({"bgp.speakerd.io/route-reflector": "true"});
    c.put_node(1, &cidr(1), reflector.clone());
    c.put_node(2, &cidr(2), reflector);
    c.put_node(3, &cidr(3), json!({}));
    c.put_node(4, &cidr(4), json!({}));
    for i in 1..=3 {
        c.start_speakerd(i, "route-reflector", "");
    }
    // node-4's admin API on the node IP, as the DaemonSet has it.
    let admin = format!("{}:9179", node_ip(4));
    c.start_speakerd(
        4,
        "route-reflector",
        &format!("[admin]\nlisten = \"{admin}\"\n"),
    );
    // Clients learn each other's PodCIDRs through the reflectors, next hop unchanged.
    wait_for(
        "node-3 and node-4 route each other's PodCIDR",
        CONVERGE,
        || {
            c.routes(3, &cidr(4), &node_ip(4))?;
            c.routes(4, &cidr(3), &node_ip(3))?;
            c.routes(3, &cidr(1), &node_ip(1))
        },
    );
    // Clients peer only with the reflectors.
    let neighbors = c.lab.show(&c.nodes[2], &["neighbors"]).unwrap();
    let addresses: Vec<String> = neighbors
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(addresses, vec![node_ip(1), node_ip(2)]);
    // `speakerd show` finds that admin API through SPEAKERD_ADMIN, as inside the pod.
    let env = format!("SPEAKERD_ADMIN={admin}");
    let out = c
        .lab
        .exec(
            &c.nodes[3],
            "env",
            &[&env, lab::SPEAKERD, "show", "neighbors"],
        )
        .unwrap();
    assert!(
        out.contains(&node_ip(1)) && out.contains(&node_ip(2)),
        "{out}"
    );
}

/// The issue asks for the convergence time of a 50-node mesh: every speaker started, then the
/// time until every node's kernel holds every other node's PodCIDR.
#[test]
fn mesh_of_50_nodes_converges() {
    let count: usize = std::env::var("SPEAKERD_MESH_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut c = Cluster::new("k8s-mesh50", count);
    for i in 1..=count {
        c.put_node(
            i,
            &format!("10.{}.{}.0/24", 244 + i / 256, i % 256),
            json!({}),
        );
    }
    // The peering comes from a BGPClusterConfig, and every node writes its BGPNodeStatus: the
    // write rate at this scale is measured below.
    let mesh = json!({"spec": {"mode": "mesh", "session": {"holdTimeSeconds": 9, "connectRetrySeconds": 2}}});
    c.control("PUT", "/_control/bgpclusterconfigs/mesh", Some(&mesh))
        .unwrap();
    let started = Instant::now();
    for i in 1..=count {
        c.start_speakerd_with(i, "mesh", "", "custom_resources = true\n", "");
    }
    let cidrs: Vec<(usize, String)> = (1..=count)
        .map(|i| (i, format!("10.{}.{}.0/24", 244 + i / 256, i % 256)))
        .collect();
    wait_for(
        "every kernel holds every other PodCIDR",
        Duration::from_secs(240),
        || {
            for i in 1..=count {
                let routes = c.lab.kernel_routes(&c.nodes[i - 1], false);
                if routes.len() < count - 1 {
                    return Err(format!(
                        "node-{i} has {} of {} routes",
                        routes.len(),
                        count - 1
                    ));
                }
            }
            Ok(())
        },
    );
    let elapsed = started.elapsed();
    c.mesh_complete(&cidrs).unwrap();
    eprintln!("MESH CONVERGENCE: {count} nodes, {:.1} s from all speakers started to every kernel complete", elapsed.as_secs_f64());

    // Every node's status shows every session; then, with nothing changing, no more writes.
    let all_up = format!("{}/{} Established", count - 1, count - 1);
    wait_for("every BGPNodeStatus shows the full mesh", CONVERGE, || {
        for i in 1..=count {
            let object = c.get_json(&format!("/_control/bgpnodestatuses/node-{i}"))?;
            if object["status"]["summary"] != all_up.as_str() {
                return Err(format!("node-{i}: {}", object["status"]["summary"]));
            }
        }
        Ok(())
    });
    let total = |c: &Cluster| -> i64 {
        let writes = c.get_json("/_control/writes").unwrap();
        writes
            .as_object()
            .unwrap()
            .values()
            .filter_map(|v| v.as_i64())
            .sum()
    };
    let until_complete = total(&c);
    let since_start = started.elapsed().as_secs_f64();
    let quiet = Duration::from_secs(20);
    std::thread::sleep(quiet);
    let in_quiet = total(&c) - until_complete;
    eprintln!(
        "STATUS WRITES: {count} nodes, {until_complete} writes in {since_start:.0} s from start to a complete status \
         ({:.3} per node per second), {in_quiet} in the next {} s of no change",
        until_complete as f64 / count as f64 / since_start,
        quiet.as_secs()
    );
    // At most one write per node per 5 s (plus the first), and none while nothing changes.
    let bound = count as i64 * ((since_start / 5.0).ceil() as i64 + 1);
    assert!(
        until_complete <= bound,
        "{until_complete} writes, at most {bound}"
    );
    assert_eq!(in_quiet, 0, "status writes while nothing changed");
}

const TOR_ASN: u32 = 65000;

/// BIRD as the ToR of every node, in the hub namespace at the API server's address, exporting
/// what it learns to the hub's kernel (so `ip monitor route` there sees every withdrawal).
fn tor_bird(c: &mut Cluster, graceful_restart: bool) -> lab::Bird {
    let extra = if graceful_restart {
        "graceful restart on;"
    } else {
        ""
    };
    tor_bird_with(c, "", extra)
}

/// [`tor_bird`] with `extra` in each BGP protocol and `global` at the top level.
fn tor_bird_with(c: &mut Cluster, global: &str, extra: &str) -> lab::Bird {
    let mut conf = format!(
        "router id {API};\nprotocol device {{}}\nprotocol kernel {{ ipv4 {{ export all; }}; }}\n{global}"
    );
    for i in 1..=c.nodes.len() {
        conf += &format!(
            "protocol bgp node{i} {{\n  local {API} as {TOR_ASN};\n  neighbor {} as {ASN};\n  {extra}\n  ipv4 {{ import all; export all; }};\n}}\n",
            node_ip(i),
        );
    }
    let hub = c.hub.clone();
    c.lab.bird("tor", &hub, &conf)
}

/// `[kubernetes]` lines of tor mode: every node labelled rack=r1 peers with the BIRD ToR.
fn tor_section() -> String {
    format!(
        "[[kubernetes.tor]]\nnode_label = \"rack=r1\"\naddress = \"{API}\"\nremote_asn = {TOR_ASN}\n"
    )
}

/// Cordon, drain and uncordon as seen from a BIRD ToR (issue: drain-aware shutdown): the
/// cordoned node first re-announces its PodCIDR with GRACEFUL_SHUTDOWN (RFC 8326) and prepends,
/// then closes with Cease 6/2 "node drained: NAME"; the other node's session is untouched;
/// uncordoning restores the session and plain announcements. Each step is an Event on the Node.
#[test]
fn cordon_drains_the_node_at_a_bird_tor_and_uncordon_restores_it() {
    let mut c = Cluster::new("k8s-drain", 2);
    let rack = json!({"rack": "r1"});
    for i in 1..=2 {
        c.put_node(i, &pod_cidr(i), rack.clone());
    }
    let bird = tor_bird(&mut c, false);
    let k8s = format!("drain_seconds = 4\ndrain_prepend = 2\n{}", tor_section());
    for i in 1..=2 {
        c.start_speakerd_with(i, "tor", "", &k8s, "allow_own_as = 1\n");
    }
    wait_for("both nodes' PodCIDRs at the ToR", CONVERGE, || {
        bird.established("node1")?;
        bird.established("node2")?;
        bird.route(&pod_cidr(1))?;
        bird.route(&pod_cidr(2))
    });
    let before = bird.route(&pod_cidr(1)).unwrap();
    assert!(!before.contains("(65535,0)"), "{before}");

    // kubectl cordon node-1. The clock starts before the change: the watch can deliver it to
    // speakerd before the API server's answer reaches the test.
    let drained_at = Instant::now();
    c.put_node_json(1, &node_json_with(1, &pod_cidr(1), rack.clone(), true));
    let draining = wait_for("GRACEFUL_SHUTDOWN at the ToR", CONVERGE, || {
        let route = bird.route(&pod_cidr(1))?;
        let prepended = format!("BGP.as_path: {ASN} {ASN} {ASN}");
        if route.contains("(65535,0)") && route.contains(&prepended) {
            Ok(route)
        } else {
            Err(route)
        }
    });
    bird.established("node1")
        .expect("the session stays up during the drain period");
    wait_for("the ToR is told why the session ends", CONVERGE, || {
        let out = bird.try_birdc(&["show", "protocols", "all", "node1"])?;
        if !out.contains("Established") && out.contains("node drained: node-1") {
            Ok(out)
        } else {
            Err(out)
        }
    });
    assert!(
        drained_at.elapsed() >= Duration::from_secs(4),
        "closed before the drain period ended ({:?}):\n{draining}",
        drained_at.elapsed()
    );
    wait_for(
        "the drained node's PodCIDR leaves the ToR",
        CONVERGE,
        || match bird.route(&pod_cidr(1)) {
            Ok(r) => Err(format!("still there: {r}")),
            Err(_) => Ok(()),
        },
    );
    lab::holds_for(
        "node-1 stays drained",
        Duration::from_secs(3),
        || match bird.established("node1") {
            Ok(out) => Err(format!("node-1 reconnected while cordoned: {out}")),
            Err(_) => Ok(()),
        },
    );
    bird.established("node2")
        .expect("the other node's session is untouched");
    c.has_event("node-1", "BGPDrainStarted", "GRACEFUL_SHUTDOWN")
        .unwrap();
    wait_for("node-1 records the drain", CONVERGE, || {
        c.has_event("node-1", "BGPDrained", "node drained: node-1")?;
        c.has_event("node-1", "BGPSessionDown", "node drained: node-1")
    });
    assert!(c.events("node-2", "BGPDrainStarted").is_empty());

    // kubectl uncordon node-1.
    c.put_node(1, &pod_cidr(1), rack);
    wait_for("node-1 is back with plain announcements", CONVERGE, || {
        bird.established("node1")?;
        let route = bird.route(&pod_cidr(1))?;
        if route.contains("(65535,0)") || !route.contains(&format!("BGP.as_path: {ASN}\n")) {
            return Err(route);
        }
        c.has_event("node-1", "BGPDrainEnded", "schedulable")
    });
}

/// A DaemonSet rolling update on one node, twice (SIGTERM as the kubelet sends it, then SIGKILL
/// as after a crash), each time a new speakerd started right after: with graceful restart, a
/// flood ping between pods on two nodes loses nothing, and neither the ToR's kernel nor the
/// other node's ever loses the restarted node's PodCIDR (no withdrawal reached them).
#[test]
fn rolling_restart_loses_no_packet_and_withdraws_nothing_at_a_bird_tor() {
    let mut c = Cluster::new("k8s-roll", 2);
    let rack = json!({"rack": "r1"});
    for i in 1..=2 {
        c.put_node(i, &pod_cidr(i), rack.clone());
    }
    let pod1 = c.add_pod(1);
    c.add_pod(2);
    let bird = tor_bird(&mut c, true);
    let peer = "allow_own_as = 1\n[kubernetes.peer.graceful_restart]\nrestart_time = 120\n";
    for i in 1..=2 {
        c.start_speakerd_with(i, "tor", "", &tor_section(), peer);
    }
    wait_for("pod-1 reaches pod-2", CONVERGE, || {
        c.lab
            .exec(&pod1, "ping", &["-c", "1", "-W", "1", &pod_ip(2)])
            .map(|_| ())
    });
    let hub = c.hub.clone();
    let node2 = c.nodes[1].clone();
    let node1 = c.nodes[0].clone();
    c.lab.route_monitor("monitor-tor", &hub);
    c.lab.route_monitor("monitor-node2", &node2);
    c.lab.route_monitor("monitor-node1", &node1);
    // 10,000 echo requests, one every 2 ms: 20 s, covering both restarts.
    c.lab.spawn(
        "flood",
        &pod1,
        "ping",
        &["-q", "-i", "0.002", "-c", "10000", "-W", "2", &pod_ip(2)],
        &[],
    );
    std::thread::sleep(Duration::from_secs(2));
    for signal in ["TERM", "KILL"] {
        c.lab.stop("speakerd-1", signal);
        std::thread::sleep(Duration::from_millis(500));
        c.start_speakerd_with(1, "tor", "", &tor_section(), peer);
        wait_for("node-1 is back and in sync at the ToR", CONVERGE, || {
            let out = bird.established("node1")?;
            // Also matches BIRD's "Neighbor graceful restart active".
            if out.contains("graceful restart active") {
                return Err(out);
            }
            c.lab.speakerd_established(&node1, API)?;
            c.ready(1)
        });
    }
    // 20 s on an idle machine; longer when the machine is busy.
    wait_for("the flood ping ends", Duration::from_secs(300), || {
        c.lab
            .exited("flood")
            .map(|_| ())
            .ok_or_else(|| "running".to_string())
    });
    let summary = c.lab.log("flood");
    eprintln!(
        "ROLLING RESTART: {}",
        summary
            .lines()
            .filter(|l| l.contains("transmitted"))
            .collect::<String>()
    );
    assert!(
        summary.contains("10000 packets transmitted, 10000 received"),
        "packets lost during the restarts:\n{summary}"
    );
    for (monitor, prefix) in [
        ("monitor-tor", pod_cidr(1)),
        ("monitor-node2", pod_cidr(1)),
        ("monitor-node1", pod_cidr(2)),
    ] {
        let log = c.lab.log(monitor);
        let deleted: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Deleted ") && l.contains(&prefix))
            .collect();
        assert!(
            deleted.is_empty(),
            "{monitor}: {prefix} was withdrawn: {deleted:?}\n{log}"
        );
    }
}
