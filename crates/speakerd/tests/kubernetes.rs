//! The Kubernetes integration against a stand-in API server (`k8s/fake_apiserver.py`) that
//! speaks the real list/watch protocol for Nodes with real Node JSON: no kube-apiserver can be
//! installed on the build machines. Each node runs speakerd in its own namespace; all of them and
//! the API server share one bridge (198.18.100.0/24) in a hub namespace.

mod lab;

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

fn node_json(i: usize, cidr: &str, labels: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": format!("node-{i}"), "labels": labels },
        "spec": { "podCIDR": cidr, "podCIDRs": [cidr] },
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
            nodes.push(ns);
        }
        let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/k8s/fake_apiserver.py");
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

    fn put_node(&self, i: usize, cidr: &str, labels: serde_json::Value) {
        let path = format!("/_control/nodes/node-{i}");
        self.control("PUT", &path, Some(&node_json(i, cidr, labels)))
            .unwrap();
    }

    fn start_speakerd(&mut self, i: usize, mode: &str, extra: &str) {
        let kubeconfig = self.lab.dir().join("kubeconfig");
        let conf = format!(
            "[global]\nasn = {ASN}\nrouter_id = \"{ip}\"\nlisten = [\"0.0.0.0:179\"]\n\n{extra}\n\
             [kubernetes]\nnode_name = \"node-{i}\"\nkubeconfig = \"{kc}\"\nmode = \"{mode}\"\nservice_cidrs = [\"10.96.0.0/12\"]\n\n\
             [kubernetes.peer]\nhold_time = 9\nconnect_retry_time = 2\nimport = [\"accept-all\"]\nexport = [\"accept-all\"]\n",
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

    // node-3 is deleted: its sessions and routes go from the others.
    c.control("DELETE", "/_control/nodes/node-3", None).unwrap();
    wait_for("node-3's PodCIDR is gone", CONVERGE, || {
        c.no_route(1, &cidr(3))?;
        c.no_route(2, &cidr(3))
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
}

#[test]
fn route_reflectors_serve_the_other_nodes() {
    let mut c = Cluster::new("k8s-rr", 4);
    let reflector = json!({"bgp.speakerd.io/route-reflector": "true"});
    c.put_node(1, &cidr(1), reflector.clone());
    c.put_node(2, &cidr(2), reflector);
    c.put_node(3, &cidr(3), json!({}));
    c.put_node(4, &cidr(4), json!({}));
    for i in 1..=4 {
        c.start_speakerd(i, "route-reflector", "");
    }
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
}

/// The issue asks for the convergence time of a 50-node mesh: every speaker started, then the
/// time until every node's kernel holds every other node's PodCIDR.
#[test]
#[ignore = "50 namespaces on one L2 segment need ~2,500 ARP entries, above the kernel-wide gc_thresh3 of 1024 (shared by all namespaces); run with --ignored after raising it"]
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
    let started = Instant::now();
    for i in 1..=count {
        c.start_speakerd(i, "mesh", "");
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
}
