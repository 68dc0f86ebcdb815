//! Faults (issue 12, item 2), each against a real peer on the path between two "pod"
//! namespaces, with the kernel table checked after convergence and what speakerd sent checked
//! through the peer, speakerd's metrics or a capture:
//!
//! ```text
//! pod-a 198.19.1.10 -- 198.19.1.1 sd (speakerd) 198.18.0.1 -- 198.18.0.2 peer 198.19.100.1 -- 198.19.100.10 pod-b
//! ```
//!
//! speakerd announces pod-a's 198.19.1.0/24, the peer (BIRD or FRR, installing what it learns
//! into its own kernel) announces pod-b's 198.19.100.0/24, so a ping from pod-a to pod-b
//! crosses both kernels' BGP routes. The frozen peer (SIGSTOP, hold timer, 4/0) is
//! `failure::hold_timer_expiry`; the slow reader, the table burst and the prefix limit are in
//! `faults/load.rs`.

mod load;

use super::*;

/// pod-a's PodCIDR (speakerd's prefix) and pod-b's (the peer's).
pub(super) const POD_A: &str = "198.19.1.0/24";
pub(super) const POD_B: &str = "198.19.100.0/24";
pub(super) const POD_A_IP: &str = "198.19.1.10";
pub(super) const POD_B_IP: &str = "198.19.100.10";
pub(super) const PEER: &str = "198.18.0.2";

/// The namespaces of the path.
pub(super) struct PodPath {
    pub(super) sd: String,
    pub(super) peer: String,
    pub(super) pod_a: String,
    pub(super) pod_b: String,
}

/// Builds the path of this module's doc comment.
pub(super) fn pod_path(lab: &mut Lab) -> PodPath {
    let (sd, peer) = lab.pair();
    let pod_a = pod(lab, "poda", &sd, "198.19.1");
    let pod_b = pod(lab, "podb", &peer, "198.19.100");
    PodPath {
        sd,
        peer,
        pod_a,
        pod_b,
    }
}

/// A pod namespace behind `host`: NET.10/24, its default route via the host's NET.1.
fn pod(lab: &mut Lab, name: &str, host: &str, net: &str) -> String {
    let ns = lab.ns(name);
    lab.link(
        &ns,
        "eth0",
        &[&format!("{net}.10/24")],
        host,
        "pod0",
        &[&format!("{net}.1/24")],
    );
    lab.exec(
        &ns,
        lab::IP,
        &["route", "add", "default", "via", &format!("{net}.1")],
    )
    .unwrap();
    ns
}

/// BIRD on the peer side: announces its pod's subnet (direct on `pod0`) and `routes`, and
/// installs what it learns from speakerd into its kernel.
pub(super) fn path_bird(lab: &mut Lab, p: &PodPath, routes: &[&str], bgp_extra: &str) -> Bird {
    lab.bird("bird", &p.peer, &path_bird_conf(routes, bgp_extra))
}

/// The configuration of [`path_bird`].
pub(super) fn path_bird_conf(routes: &[&str], bgp_extra: &str) -> String {
    format!(
        "{}protocol direct pods {{ ipv4; interface \"pod0\"; }}\n\
         protocol kernel {{ ipv4 {{ export where source = RTS_BGP; }}; }}\n",
        bird_conf(PEER, PEER, "198.18.0.1", routes, bgp_extra)
    )
}

/// speakerd announcing pod-a's subnet to the peer, with `extra` in the neighbour's table.
pub(super) fn path_speakerd(extra: &str) -> String {
    speakerd_conf(
        "198.18.0.1",
        &format!(
            "{SD_PREFIX_V4}{}",
            sd_neighbor(PEER, "198.18.0.1", "ipv4-unicast", extra)
        ),
    )
}

/// Both sessions up, pod-b's subnet in speakerd's kernel, pod-a's at BIRD, and pod-a reaching
/// pod-b.
fn converged(lab: &Lab, p: &PodPath, bird: &Bird) {
    wait_established(lab, &p.sd, bird, PEER);
    wait_route(lab, &p.sd, POD_B, &[PEER]);
    wait_for("pod-a's subnet at BIRD", SOON, || bird.route(POD_A));
    wait_for("pod-a reaches pod-b", SOON, || lab.ping(&p.pod_a, POD_B_IP));
    lab.ping(&p.pod_b, POD_A_IP).unwrap();
}

/// Ok when speakerd's routes in the kernel of `ns` are exactly `prefixes` (each once, via
/// `gateway`), each points at a nexthop object of ours, every object of ours is used by a route,
/// and speakerd counts as many routes as the kernel holds: nothing half-programmed.
pub(super) fn kernel_exactly(
    lab: &Lab,
    ns: &str,
    prefixes: &[&str],
    gateway: &str,
) -> Result<(), String> {
    let routes = lab.kernel_routes(ns, false);
    let mut dsts: Vec<&str> = routes.iter().filter_map(|r| r["dst"].as_str()).collect();
    dsts.sort();
    let mut want = prefixes.to_vec();
    want.sort();
    if dsts != want {
        return Err(format!("kernel routes {dsts:?}, want {want:?}"));
    }
    let objects = lab.nexthop_objects(ns);
    for r in &routes {
        if Lab::gateways(r) != [gateway] {
            return Err(format!("route not via {gateway}: {r}"));
        }
        if !objects.iter().any(|o| o["id"] == r["nhid"]) {
            return Err(format!(
                "route without one of our nexthop objects: {r}\n{objects:?}"
            ));
        }
    }
    for o in &objects {
        if !routes.iter().any(|r| r["nhid"] == o["id"]) {
            return Err(format!("nexthop object no route uses: {o}"));
        }
    }
    let installed = lab.metric(ns, "bgp_kernel_routes_installed", &[])?;
    if installed != prefixes.len() as f64 {
        return Err(format!("bgp_kernel_routes_installed {installed}"));
    }
    Ok(())
}

/// NOTIFICATIONs speakerd sent to the peer with `code` (and `subcode` when given).
pub(super) fn sent(
    lab: &Lab,
    ns: &str,
    peer: &str,
    code: u8,
    subcode: Option<u8>,
) -> Result<f64, String> {
    let peer = format!("peer=\"{peer}\"");
    let code = format!("code=\"{code}\"");
    let subcode = subcode.map(|s| format!("subcode=\"{s}\""));
    let mut labels = vec![peer.as_str(), code.as_str()];
    labels.extend(subcode.as_deref());
    lab.metric(ns, "bgp_peer_notifications_sent_total", &labels)
}

fn established_total(lab: &Lab, ns: &str) -> f64 {
    lab.metric(
        ns,
        "bgp_peer_established_total",
        &[&format!("peer=\"{PEER}\"")],
    )
    .unwrap()
}

/// The peer killed (SIGKILL) without graceful restart: its kernel closes the connection, so
/// speakerd takes the session down at once (RFC 4271 §8.2.2, Established: TcpConnectionFails
/// deletes the routes of the connection), not when the hold timer would expire, and pod-b's
/// subnet leaves the kernel.
#[test]
fn peer_killed_without_graceful_restart_takes_its_routes_at_once() {
    let mut lab = Lab::new("fault_peer_killed");
    let p = pod_path(&mut lab);
    let bird = path_bird(&mut lab, &p, &[], "");
    lab.speakerd("speakerd", &p.sd, &path_speakerd(""));
    converged(&lab, &p, &bird);
    kernel_exactly(&lab, &p.sd, &[POD_B], PEER).unwrap();

    lab.stop("bird", "KILL");
    let killed = Instant::now();
    lab.wait_route_gone(&p.sd, POD_B);
    let after = killed.elapsed();
    // BIRD's last KEEPALIVE came at most its keepalive time (3 s) before the kill, so the 9 s
    // hold timer cannot expire sooner than 6 s after it: gone before that, the closed
    // connection took the session down.
    assert!(
        after < Duration::from_secs(6),
        "pod-b's subnet left the kernel {after:?} after the kill: not at once"
    );
    assert_eq!(
        sent(&lab, &p.sd, PEER, 4, None).unwrap(),
        0.0,
        "no hold timer expiry"
    );
    kernel_exactly(&lab, &p.sd, &[], PEER).unwrap();
    assert!(
        lab.ping(&p.pod_a, POD_B_IP).is_err(),
        "pod-b reachable without a route"
    );
    eprintln!(
        "FAULT kill: routes gone {:.2} s after SIGKILL",
        after.as_secs_f64()
    );
}

/// A TCP reset of the session by `ss -K` in speakerd's namespace (the socket is aborted, the
/// peer gets a RST): speakerd drops the session (no NOTIFICATION can be sent on an aborted
/// connection), connects again, and ends with the same kernel state as before, nothing left
/// half-programmed, and pod-a reaching pod-b again.
#[test]
fn tcp_reset_reconnects_and_reprograms_the_kernel() {
    let mut lab = Lab::new("fault_tcp_reset");
    let p = pod_path(&mut lab);
    let bird = path_bird(&mut lab, &p, &[], "");
    lab.speakerd("speakerd", &p.sd, &path_speakerd(""));
    converged(&lab, &p, &bird);
    kernel_exactly(&lab, &p.sd, &[POD_B], PEER).unwrap();
    assert_eq!(established_total(&lab, &p.sd), 1.0);

    lab.route_monitor("monitor", &p.sd);
    let killed = lab
        .exec(&p.sd, "ss", &["-K", "-t", "dst", PEER, "dport", "=", "179"])
        .and_then(|a| {
            let b = lab.exec(&p.sd, "ss", &["-K", "-t", "dst", PEER, "sport", "=", "179"])?;
            Ok(a + &b)
        })
        .unwrap();
    assert!(
        killed.contains("ESTAB"),
        "no Established socket reset: {killed}"
    );
    wait_for("speakerd's session is back", UP, || {
        if established_total(&lab, &p.sd) < 2.0 {
            return Err("not re-established yet".into());
        }
        lab.speakerd_established(&p.sd, PEER)
    });
    wait_established(&lab, &p.sd, &bird, PEER);
    wait_route(&lab, &p.sd, POD_B, &[PEER]);
    wait_for("the kernel as before the reset", SOON, || {
        kernel_exactly(&lab, &p.sd, &[POD_B], PEER)
    });
    wait_for("pod-a's subnet back at BIRD", SOON, || bird.route(POD_A));
    wait_for("pod-a reaches pod-b again", SOON, || {
        lab.ping(&p.pod_a, POD_B_IP)
    });
    let total: f64 = (1..=6)
        .map(|code| sent(&lab, &p.sd, PEER, code, None).unwrap())
        .sum();
    assert_eq!(total, 0.0, "a NOTIFICATION on an aborted connection");
    assert!(
        deletions(&lab, "monitor", POD_B) >= 1,
        "the routes of the reset session stayed in the kernel:\n{}",
        lab.log("monitor")
    );
    eprintln!(
        "FAULT ss -K: established {} times",
        established_total(&lab, &p.sd)
    );
}

/// speakerd's link to the peer goes down (`ip link set eth0 down` in its namespace): the
/// session goes down when its hold timer expires (4/0 counted, though it cannot reach the
/// peer), and pod-b's subnet leaves speakerd's RIB and kernel with nothing left
/// half-programmed; the link up again, the session and the routes come back.
#[test]
fn link_down_takes_the_session_down_and_link_up_brings_it_back() {
    let mut lab = Lab::new("fault_link_down");
    let p = pod_path(&mut lab);
    let bird = path_bird(&mut lab, &p, &[], "");
    lab.speakerd("speakerd", &p.sd, &path_speakerd(""));
    converged(&lab, &p, &bird);

    lab.exec(&p.sd, lab::IP, &["link", "set", "eth0", "down"])
        .unwrap();
    let down = Instant::now();
    wait_for("speakerd's session is down", UP, || {
        match lab.speakerd_established(&p.sd, PEER) {
            Ok(n) => Err(n.to_string()),
            Err(_) => Ok(()),
        }
    });
    lab.wait_route_gone(&p.sd, POD_B);
    eprintln!(
        "FAULT link down: session and routes gone after {:.2} s",
        down.elapsed().as_secs_f64()
    );
    kernel_exactly(&lab, &p.sd, &[], PEER).unwrap();
    // speakerd does not watch the link: the hold timer ends the session (RFC 4271 §6.5; BFD,
    // `[neighbor.bfd]`, would in under a second).
    assert_eq!(sent(&lab, &p.sd, PEER, 4, Some(0)).unwrap(), 1.0);
    holds_for(
        "nothing comes back while the link is down",
        Duration::from_secs(2),
        || kernel_exactly(&lab, &p.sd, &[], PEER),
    );

    lab.exec(&p.sd, lab::IP, &["link", "set", "eth0", "up"])
        .unwrap();
    converged(&lab, &p, &bird);
    wait_for("the kernel as before", SOON, || {
        kernel_exactly(&lab, &p.sd, &[POD_B], PEER)
    });
}

/// speakerd SIGKILLed (no graceful restart, so nothing is cleaned up) while BIRD changes its
/// table, then started again: the new speakerd finds the old routes and nexthop object, adopts
/// the object and the route BIRD still sends, removes the one it no longer sends, installs the
/// new one, and the kernel holds each route exactly once (`graceful_restart_of_speakerd` in
/// `restart.rs` covers SIGTERM with graceful restart, where no route changes).
#[test]
fn speakerd_killed_and_restarted_reconciles_the_kernel() {
    let mut lab = Lab::new("fault_sd_killed");
    let p = pod_path(&mut lab);
    let (kept, dropped, added) = ("198.19.101.0/24", "198.19.102.0/24", "198.19.103.0/24");
    let bird = path_bird(&mut lab, &p, &[kept, dropped], "");
    let conf = path_speakerd("");
    lab.speakerd("speakerd", &p.sd, &conf);
    converged(&lab, &p, &bird);
    wait_route(&lab, &p.sd, dropped, &[PEER]);
    kernel_exactly(&lab, &p.sd, &[POD_B, kept, dropped], PEER).unwrap();
    let object = lab.nexthop_objects(&p.sd);
    assert_eq!(object.len(), 1, "{object:?}");

    lab.stop("speakerd", "KILL");
    let left = lab.kernel_routes(&p.sd, false).len();
    assert_eq!(left, 3, "a SIGKILLed speakerd removes nothing");
    bird.reconfigure(&path_bird_conf(&[kept, added], ""));
    lab.route_monitor("monitor", &p.sd);
    lab.speakerd("speakerd", &p.sd, &conf);
    converged(&lab, &p, &bird);
    wait_route(&lab, &p.sd, added, &[PEER]);
    lab.wait_route_gone(&p.sd, dropped);
    wait_for("the kernel reconciled", SOON, || {
        kernel_exactly(&lab, &p.sd, &[POD_B, kept, added], PEER)
    });
    assert_eq!(
        lab.nexthop_objects(&p.sd),
        object,
        "the restarted speakerd adopts the nexthop object of the killed one"
    );
    // Each prefix once in the whole table, whatever its protocol.
    let all = run_ok_json(&["-j", "-n", &p.sd, "route", "show", "table", "all"]);
    for prefix in [POD_B, kept, added] {
        let n = all.iter().filter(|r| r["dst"] == prefix).count();
        assert_eq!(n, 1, "{prefix} is in the kernel {n} times: {all:?}");
    }
    // Taken over, not removed and added again.
    for prefix in [POD_B, kept] {
        assert_never_deleted(&lab, "monitor", prefix);
    }
}

fn run_ok_json(args: &[&str]) -> Vec<Value> {
    let out = lab::run_ok(lab::IP, args);
    serde_json::from_str::<Value>(&out)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// A rolling restart of speakerd (SIGTERM, started again) against FRR in its default mode,
/// graceful restart helper (no `bgp graceful-restart`: FRR's capability lists no families,
/// RFC 4724 §3), with a ping every 5 ms from pod-a to pod-b through both kernels: none is lost,
/// FRR keeps pod-a's subnet the whole time (polled with vtysh, and never deleted from FRR's
/// kernel), speakerd keeps pod-b's, and speakerd sends no NOTIFICATION at shutdown (the
/// capture). The BIRD case is `graceful_restart_of_speakerd_with_a_helper_only_bird`
/// (`restart.rs`); the interop matrix checks the same without traffic.
#[test]
fn rolling_restart_against_frr_in_its_default_mode_loses_no_packet() {
    let mut lab = Lab::new("fault_roll_frr");
    let p = pod_path(&mut lab);
    let dir = lab.dir().display().to_string();
    let frr = lab.frr_zebra_fib_bgpd(
        "bgpd",
        &p.peer,
        &format!(
            "frr defaults traditional\nhostname frr\nlog file {dir}/bgpd-frr.log\n!\n\
             router bgp {PEER_AS}\n bgp router-id {PEER}\n no bgp ebgp-requires-policy\n\
             \x20no bgp network import-check\n neighbor 198.18.0.1 remote-as {SD_AS}\n\
             \x20neighbor 198.18.0.1 timers 3 9\n neighbor 198.18.0.1 timers connect 2\n !\n\
             \x20address-family ipv4 unicast\n  network {POD_B}\n exit-address-family\n!\n"
        ),
    );
    let conf = path_speakerd("[neighbor.graceful_restart]\nrestart_time = 60\n");
    lab.speakerd("speakerd", &p.sd, &conf);
    let frr_has_pod_a = || -> Result<String, String> {
        let out = frr.try_vtysh(&[&format!("show bgp ipv4 unicast {POD_A} json")])?;
        if out.contains("\"bestpath\"") {
            Ok(out)
        } else {
            Err(out)
        }
    };
    wait_for("FRR has pod-a's subnet", UP, frr_has_pod_a);
    wait_route(&lab, &p.sd, POD_B, &[PEER]);
    wait_for("pod-a reaches pod-b", SOON, || lab.ping(&p.pod_a, POD_B_IP));
    let helper = frr.vtysh(&["show bgp neighbors 198.18.0.1 json"]);
    assert!(
        helper.contains("\"gracefulRestartHelper\"") || helper.contains("Helper"),
        "FRR is not a graceful restart helper: {helper}"
    );

    lab.route_monitor("monitor-frr", &p.peer);
    lab.route_monitor("monitor-sd", &p.sd);
    let capture = lab.capture("capture", &p.sd, "tcp port 179");
    // 2,000 echo requests, one every 5 ms: 10 s, covering the restart.
    lab.spawn(
        "ping",
        &p.pod_a,
        "/usr/bin/ping",
        &["-q", "-i", "0.005", "-c", "2000", "-W", "1", POD_B_IP],
        &[],
    );
    std::thread::sleep(Duration::from_secs(1));
    let status = lab.stop("speakerd", "TERM");
    assert!(status.success(), "speakerd exited with {status}");
    let mut polls = 0;
    let stopped = Instant::now();
    while stopped.elapsed() < Duration::from_millis(1500) {
        frr_has_pod_a().unwrap_or_else(|e| panic!("FRR lost pod-a's subnet: {e}"));
        polls += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    lab.speakerd("speakerd", &p.sd, &conf);
    wait_for("speakerd is back with FRR", UP, || {
        frr_has_pod_a()?;
        polls += 1;
        lab.speakerd_established(&p.sd, PEER)
    });
    wait_for("FRR ends the graceful restart", UP, || {
        let out = frr_has_pod_a()?;
        if out.contains("\"stale\":true") {
            Err(out)
        } else {
            Ok(())
        }
    });
    wait_for("the ping ends", Duration::from_secs(120), || {
        lab.exited("ping")
            .map(|_| ())
            .ok_or_else(|| "running".to_string())
    });
    let summary = lab.log("ping");
    eprintln!(
        "FAULT rolling restart vs FRR: {} ({polls} vtysh polls, all with the route)",
        summary
            .lines()
            .filter(|l| l.contains("transmitted"))
            .collect::<String>()
    );
    assert!(
        summary.contains("2000 packets transmitted, 2000 received"),
        "packets lost during the restart:\n{summary}"
    );
    assert_never_deleted(&lab, "monitor-frr", POD_A);
    assert_never_deleted(&lab, "monitor-sd", POD_B);
    lab.stop("capture", "INT");
    let notifications = lab::tshark(
        &capture,
        "bgp.type == 3 && ip.src == 198.18.0.1",
        &["frame.time_relative"],
    );
    assert!(
        notifications.is_empty(),
        "speakerd sent a NOTIFICATION: {notifications:?}"
    );
}
