//! speakerd against real BGP implementations (BIRD 2, GoBGP, FRR), each in its own network
//! namespace joined by veth pairs: the scenarios beyond the interop matrix of `interop.rs`
//! (ECMP, nexthop objects, soft reconfiguration, ADD-PATH, GTSM, restarts with deferral, hold
//! timer, drain, malformed input). Run as root (CI does); a missing peer binary fails the test.
//!
//! Addressing: speakerd is 198.18.N.1 (2001:db8:N::1), a peer 198.18.N.2 (2001:db8:N::2);
//! speakerd originates 198.19.1.0/24 (2001:db8:1001::/48), peers announce 198.19.100.0/24 and up
//! (2001:db8:2001::/48). speakerd is AS 4200000001, eBGP peers AS 4200000002.

mod lab;

use std::time::{Duration, Instant};

use lab::{holds_for, wait_for, Bird, Lab};
use serde_json::Value;

const SD_AS: u32 = 4_200_000_001;
const PEER_AS: u32 = 4_200_000_002;
const UP: Duration = Duration::from_secs(30);
const SOON: Duration = Duration::from_secs(20);

/// A speakerd configuration: `[global]` plus the given extra tables.
fn speakerd_conf(router_id: &str, extra: &str) -> String {
    format!(
        "[global]\nasn = {SD_AS}\nrouter_id = \"{router_id}\"\n\n[kernel]\necmp_max_paths = 8\n\n{extra}"
    )
}

/// A `[[neighbor]]` table with the short test timers and accept-all policies.
fn sd_neighbor(address: &str, local: &str, family: &str, extra: &str) -> String {
    format!(
        "[[neighbor]]\naddress = \"{address}\"\nremote_asn = {PEER_AS}\nlocal_address = \"{local}\"\n\
         hold_time = 9\nconnect_retry_time = 2\nfamilies = [\"{family}\"]\n\
         import = [\"accept-all\"]\nexport = [\"accept-all\"]\n{extra}\n"
    )
}

const SD_PREFIX_V4: &str =
    "[[prefix]]\nprefix = \"198.19.1.0/24\"\ncommunities = [\"65001:100\"]\n\n";
const SD_PREFIX_V6: &str =
    "[[prefix]]\nprefix = \"2001:db8:1001::/48\"\ncommunities = [\"65001:106\"]\n\n";

/// A BIRD configuration with one eBGP protocol `speakerd` and a static protocol announcing
/// `routes` (IPv4 or IPv6 prefixes); `bgp_extra` goes into the BGP protocol.
fn bird_conf(
    router_id: &str,
    local: &str,
    neighbor: &str,
    routes: &[&str],
    bgp_extra: &str,
) -> String {
    let v6 = neighbor.contains(':');
    let channel = if v6 { "ipv6" } else { "ipv4" };
    let statics: String = routes
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    format!(
        "log stderr all;\nrouter id {router_id};\nprotocol device {{}}\n\
         protocol static announced {{\n  {channel};\n{statics}}}\n\
         protocol bgp speakerd {{\n  local {local} as {PEER_AS};\n  neighbor {neighbor} as {SD_AS};\n\
         hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
         error wait time 1,2;\n{bgp_extra}\n  {channel} {{ import all; export all; }};\n}}\n"
    )
}

/// Waits until both BIRD's protocol `speakerd` and speakerd's session with `peer` are up.
fn wait_established(lab: &Lab, sd_ns: &str, bird: &Bird, peer: &str) {
    wait_for("BIRD's session Established", UP, || {
        bird.established("speakerd")
    });
    wait_for("speakerd's session Established", SOON, || {
        lab.speakerd_established(sd_ns, peer)
    });
}

/// Waits until speakerd selected `prefix` with exactly `next_hops` and installed it in the
/// kernel of `ns` with the same gateways.
fn wait_route(lab: &Lab, ns: &str, prefix: &str, next_hops: &[&str]) -> Value {
    let mut want: Vec<String> = next_hops.iter().map(|s| s.to_string()).collect();
    want.sort();
    let route = wait_for(
        &format!("{prefix} via {want:?} in speakerd's RIB"),
        SOON,
        || match lab.speakerd_route(ns, prefix)? {
            Some(r) => {
                let mut hops: Vec<String> = r["next_hops"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|h| h.as_str().map(str::to_string))
                    .collect();
                hops.sort();
                if hops == want {
                    Ok(r)
                } else {
                    Err(r.to_string())
                }
            }
            None => Err("no route".into()),
        },
    );
    wait_for(
        &format!("{prefix} via {want:?} in the kernel"),
        SOON,
        || match lab.kernel_route(ns, prefix) {
            Some(r) if Lab::gateways(&r) == want => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    route
}

/// Two namespaces `sd` and `peer` with one link: speakerd 198.18.0.1 / 2001:db8::1, the peer
/// .2 / ::2.
fn pair(lab: &mut Lab) -> (String, String) {
    let sd = lab.ns("sd");
    let peer = lab.ns("peer");
    lab.link(
        &sd,
        "eth0",
        &["198.18.0.1/24", "2001:db8::1/64"],
        &peer,
        "eth0",
        &["198.18.0.2/24", "2001:db8::2/64"],
    );
    (sd, peer)
}

/// A GoBGP configuration with one eBGP neighbour (speakerd).
fn gobgp_conf(router_id: &str, neighbor: &str, family: &str) -> String {
    format!(
        "[global.config]\n  as = {PEER_AS}\n  router-id = \"{router_id}\"\n  port = 179\n\n\
         [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{neighbor}\"\n    peer-as = {SD_AS}\n\
         \x20 [neighbors.timers.config]\n    connect-retry = 2\n    hold-time = 9\n    keepalive-interval = 3\n\
         \x20 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{family}\"\n"
    )
}

/// A `[[neighbor]]` with the default families (IPv4 and IPv6 unicast offered), the usual
/// dual-stack node's setting.
fn sd_neighbor_default_families(address: &str, local: &str) -> String {
    format!(
        "[[neighbor]]\naddress = \"{address}\"\nremote_asn = {PEER_AS}\nlocal_address = \"{local}\"\n\
         hold_time = 9\nconnect_retry_time = 2\nimport = [\"accept-all\"]\nexport = [\"accept-all\"]\n"
    )
}

/// One IPv4 session carrying both families (RFC 4760), as a dual-stack node has with its ToR:
/// BIRD gets our IPv6 prefix with our interface's global IPv6 address as its next hop
/// (RFC 2545 §3; a 4-octet next hop is refused by BIRD), and our IPv4 prefix as usual.
#[test]
fn bird_both_families_on_one_ipv4_session() {
    let mut lab = Lab::new("bird_dual_stack");
    let (sd, peer) = pair(&mut lab);
    let bird = lab.bird(
        "bird",
        &peer,
        &format!(
            "log stderr all;\nrouter id 198.18.0.2;\nprotocol device {{}}\n\
             protocol bgp speakerd {{\n  local 198.18.0.2 as {PEER_AS};\n  neighbor 198.18.0.1 as {SD_AS};\n\
             hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
             error wait time 1,2;\n  ipv4 {{ import all; export none; }};\n\
             ipv6 {{ import all; export none; }};\n}}\n"
        ),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{SD_PREFIX_V4}{SD_PREFIX_V6}{}",
                sd_neighbor_default_families("198.18.0.2", "198.18.0.1")
            ),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    let v4 = wait_for("198.19.1.0/24 in BIRD's RIB", SOON, || {
        bird.route("198.19.1.0/24")
    });
    assert!(v4.contains("BGP.next_hop: 198.18.0.1"), "{v4}");
    let v6 = wait_for("2001:db8:1001::/48 in BIRD's RIB", SOON, || {
        bird.route("2001:db8:1001::/48")
    });
    assert!(v6.contains("BGP.next_hop: 2001:db8::1"), "next hop: {v6}");
    assert!(!v6.contains("unreachable"), "{v6}");
    assert!(
        !lab.log("bird").contains("mismatched"),
        "BIRD refused a next hop: {}",
        lab.log("bird")
    );
}

/// RFC 4760 §8: a neighbour that offers IPv4 unicast only (GoBGP here) is never sent our IPv6
/// prefix, although we offer both families; GoBGP resets a session that gets one. The session
/// stays up, with our IPv4 prefix in GoBGP's RIB and `show neighbors` counting only it.
#[test]
fn gobgp_ipv4_only_gets_no_ipv6_routes() {
    let mut lab = Lab::new("gobgp_families");
    let (sd, peer) = pair(&mut lab);
    let gobgp = lab.gobgpd(
        "gobgpd",
        &peer,
        &gobgp_conf("198.18.0.2", "198.18.0.1", "ipv4-unicast"),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{SD_PREFIX_V4}{SD_PREFIX_V6}{}",
                sd_neighbor_default_families("198.18.0.2", "198.18.0.1")
            ),
        ),
    );
    wait_for("speakerd's session Established", UP, || {
        lab.speakerd_established(&sd, "198.18.0.2")
    });
    wait_for("198.19.1.0/24 in GoBGP's RIB", SOON, || {
        let out = gobgp.try_gobgp(&["global", "rib", "-a", "ipv4", "198.19.1.0/24"])?;
        if out.contains("198.19.1.0/24") {
            Ok(out)
        } else {
            Err(out)
        }
    });
    holds_for("the session stays up", Duration::from_secs(5), || {
        let n = lab.speakerd_established(&sd, "198.18.0.2")?;
        let established =
            lab.metric(&sd, "bgp_peer_established_total", &["peer=\"198.18.0.2\""])?;
        if established != 1.0 {
            return Err(format!("Established {established} times: {n}"));
        }
        Ok(())
    });
    let n = lab.neighbor(&sd, "198.18.0.2").unwrap();
    assert_eq!(n["prefixes_advertised"], 1, "{n}");
    assert_eq!(n["families"], serde_json::json!(["ipv4-unicast"]), "{n}");
}

/// speakerd in `sd` with one link per peer: link N is 198.18.N.1/24 (speakerd, `ethN`) to
/// 198.18.N.2/24 (namespace `pN`, `eth0`). Returns the peer namespaces.
fn star(lab: &mut Lab, sd: &str, peers: usize) -> Vec<String> {
    (1..=peers)
        .map(|n| {
            let ns = lab.ns(&format!("p{n}"));
            lab.link(
                sd,
                &format!("eth{n}"),
                &[&format!("198.18.{n}.1/24")],
                &ns,
                "eth0",
                &[&format!("198.18.{n}.2/24")],
            );
            ns
        })
        .collect()
}

/// A BIRD on link N of a [`star`], announcing `routes`, with `extra` in its BGP protocol.
fn star_bird(lab: &mut Lab, n: usize, ns: &str, routes: &[&str], extra: &str) -> Bird {
    let address = format!("198.18.{n}.2");
    lab.bird(
        &format!("bird{n}"),
        ns,
        &bird_conf(&address, &address, &format!("198.18.{n}.1"), routes, extra),
    )
}

/// The `[[neighbor]]` of link N of a [`star`].
fn star_neighbor(n: usize, extra: &str) -> String {
    sd_neighbor(
        &format!("198.18.{n}.2"),
        &format!("198.18.{n}.1"),
        "ipv4-unicast",
        extra,
    )
}

/// The two-BIRD ECMP lab of [`ecmp_two_birds`]: speakerd with `kernel_extra` in its
/// `[kernel]` table, both sessions up and the prefix installed with two next hops.
fn ecmp_lab(name: &str, kernel_extra: &str) -> (Lab, String, [Bird; 2]) {
    let mut lab = Lab::new(name);
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let prefix = "198.19.100.0/24";
    let b1 = star_bird(&mut lab, 1, &peers[0], &[prefix], "");
    let b2 = star_bird(&mut lab, 2, &peers[1], &[prefix], "");
    let conf = speakerd_conf(
        "198.18.0.1",
        &format!("{}{}", star_neighbor(1, ""), star_neighbor(2, "")),
    )
    .replacen("[kernel]\n", &format!("[kernel]\n{kernel_extra}"), 1);
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &b1, "198.18.1.2");
    wait_established(&lab, &sd, &b2, "198.18.2.2");
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    let route = lab.kernel_route(&sd, prefix).unwrap();
    assert_eq!(
        route["nexthops"].as_array().map(Vec::len),
        Some(2),
        "{route}"
    );
    (lab, sd, [b1, b2])
}

/// The nexthop group of ours in `ns` and the ids of its members.
fn our_group(lab: &Lab, ns: &str) -> Result<(u64, Vec<u64>), String> {
    let objects = lab.nexthop_objects(ns);
    let groups: Vec<&Value> = objects.iter().filter(|o| o["group"].is_array()).collect();
    match groups.as_slice() {
        [group] => Ok((
            group["id"].as_u64().unwrap_or_default(),
            group["group"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_u64())
                .collect(),
        )),
        _ => Err(format!("not exactly one group: {objects:?}")),
    }
}

/// Scenario 4: ECMP. Two BIRDs in the same AS announce the same prefix with identical AS
/// paths: one kernel route through a nexthop group of two gateway objects (ours, protocol
/// 201). Someone deletes the route, then a gateway object: both are put back and counted. One
/// BIRD goes down and comes back: the group object changes to the remaining gateway and back,
/// the route is never touched; both stop: the route and every object are gone.
#[test]
fn ecmp_two_birds() {
    let (mut lab, sd, birds) = ecmp_lab("ecmp", "");
    let prefix = "198.19.100.0/24";
    assert_eq!(
        lab.metric(&sd, "bgp_kernel_nexthop_objects", &[]).unwrap(),
        1.0
    );
    let (group, members) = our_group(&lab, &sd).unwrap();
    assert_eq!(members.len(), 2, "{:?}", lab.nexthop_objects(&sd));
    let route = lab.kernel_route(&sd, prefix).unwrap();
    assert_eq!(route["nhid"].as_u64(), Some(group), "{route}");

    // Drift: the route is deleted, then one gateway object (which the kernel also takes out
    // of the group).
    lab::run_ok(
        lab::IP,
        &["-n", &sd, "route", "del", prefix, "proto", "201"],
    );
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    lab::run_ok(
        lab::IP,
        &["-n", &sd, "nexthop", "del", "id", &members[0].to_string()],
    );
    wait_for(
        "the gateway object and the group are repaired",
        SOON,
        || {
            let (now, m) = our_group(&lab, &sd)?;
            let route = lab.kernel_route(&sd, prefix).ok_or("no route")?;
            if m.len() == 2
                && route["nhid"].as_u64() == Some(now)
                && Lab::gateways(&route).len() == 2
            {
                Ok(())
            } else {
                Err(format!("{:?} {route}", lab.nexthop_objects(&sd)))
            }
        },
    );
    let repairs = lab
        .metric(&sd, "bgp_kernel_drift_repairs_total", &[])
        .unwrap();
    assert!(repairs >= 2.0, "drift repairs counted: {repairs}");

    // A ToR goes away and comes back: every route of the group follows by one change of the
    // group object; the routes themselves are not touched.
    let (group, _) = our_group(&lab, &sd).unwrap();
    let gateway_object = |lab: &Lab, address: &str| {
        lab.nexthop_objects(&sd)
            .iter()
            .find(|o| o["gateway"] == address)
            .and_then(|o| o["id"].as_u64())
    };
    let group_holds = |lab: &Lab, gateways: &[&str]| {
        let (now, members) = our_group(lab, &sd)?;
        let route = lab.kernel_route(&sd, prefix).ok_or("no route")?;
        let want: Option<Vec<u64>> = gateways.iter().map(|g| gateway_object(lab, g)).collect();
        let mut members = members;
        members.sort();
        let mut want = want.ok_or("a gateway has no object")?;
        want.sort();
        if now == group && members == want && route["nhid"].as_u64() == Some(group) {
            Ok(())
        } else {
            Err(format!("{:?} {route}", lab.nexthop_objects(&sd)))
        }
    };
    // By default the kernel itself reports every route of a changed group as changed; without
    // that compatibility mode, a route message can only come from a route request.
    let compat = |mode: &str| {
        lab::run_ok(
            lab::IP,
            &[
                "netns",
                "exec",
                &sd,
                "sysctl",
                "-qw",
                &format!("net.ipv4.nexthop_compat_mode={mode}"),
            ],
        )
    };
    compat("0");
    lab.route_monitor("monitor", &sd);
    let selected = |lab: &Lab, hops: usize| match lab.speakerd_route(&sd, prefix)? {
        Some(r) if r["next_hops"].as_array().map(Vec::len) == Some(hops) => Ok(()),
        other => Err(format!("{other:?}")),
    };
    birds[0].birdc(&["disable", "speakerd"]);
    wait_for("one next hop in speakerd's RIB", SOON, || selected(&lab, 1));
    wait_for(
        "the same group holds only the remaining gateway",
        SOON,
        || group_holds(&lab, &["198.18.2.2"]),
    );
    assert_eq!(
        gateway_object(&lab, "198.18.1.2"),
        None,
        "the gone gateway's object is deleted"
    );
    birds[0].birdc(&["enable", "speakerd"]);
    wait_for("two next hops in speakerd's RIB", SOON, || {
        selected(&lab, 2)
    });
    wait_for("the same group holds both gateways again", SOON, || {
        group_holds(&lab, &["198.18.1.2", "198.18.2.2"])
    });
    let monitor = lab.log("monitor");
    assert!(
        !monitor.contains(prefix),
        "the route changed although only its group had to: {monitor}"
    );
    compat("1");
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    assert_eq!(
        lab.metric(&sd, "bgp_kernel_nexthop_group_moves_total", &[])
            .unwrap(),
        2.0
    );

    lab.stop("bird1", "TERM");
    wait_route(&lab, &sd, prefix, &["198.18.2.2"]);
    lab.stop("bird2", "TERM");
    lab.wait_route_gone(&sd, prefix);
    wait_for("no nexthop object of ours is left", SOON, || {
        match lab.nexthop_objects(&sd).as_slice() {
            [] => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

/// ECMP with `[kernel] nexthop_objects = false`: one multipath route, no nexthop objects, and
/// the route drops to one next hop when a BIRD stops.
#[test]
fn ecmp_multipath_routes_without_nexthop_objects() {
    let (mut lab, sd, _birds) = ecmp_lab("ecmp_multipath", "nexthop_objects = false\n");
    let prefix = "198.19.100.0/24";
    assert_eq!(
        lab.metric(&sd, "bgp_kernel_nexthop_objects", &[]).unwrap(),
        0.0
    );
    let route = lab.kernel_route(&sd, prefix).unwrap();
    assert!(route["nhid"].is_null(), "{route}");
    assert!(lab.nexthop_objects(&sd).is_empty());
    lab.stop("bird1", "TERM");
    wait_route(&lab, &sd, prefix, &["198.18.2.2"]);
    assert!(lab.nexthop_objects(&sd).is_empty());
}

/// BIRD's "Import updates" received counter of protocol `speakerd`.
fn bird_import_updates(bird: &Bird) -> u64 {
    let out = bird.birdc(&["show", "protocols", "all", "speakerd"]);
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Import updates:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Import updates line: {out}"))
}

/// The "Since" column of BIRD's protocol `speakerd`: when its state last changed.
fn bird_since(bird: &Bird) -> String {
    let out = bird.birdc(&["show", "protocols", "speakerd"]);
    out.lines()
        .find(|l| l.starts_with("speakerd"))
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap_or_else(|| panic!("no protocol line: {out}"))
        .to_string()
}

/// Scenario 5: route refresh. `birdc reload in` makes BIRD send ROUTE-REFRESH; speakerd sends
/// its routes again (BIRD's received-updates counter grows) and the session stays up.
#[test]
fn route_refresh_from_bird() {
    let mut lab = Lab::new("route_refresh");
    let (sd, peer) = pair(&mut lab);
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &[], ""),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{SD_PREFIX_V4}{}",
                sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", "")
            ),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_for("198.19.1.0/24 in BIRD's RIB", SOON, || {
        bird.route("198.19.1.0/24")
    });
    let before = bird_import_updates(&bird);
    let since = bird_since(&bird);
    assert!(before >= 1, "{before}");

    for round in 1..=2 {
        bird.birdc(&["reload", "in", "speakerd"]);
        wait_for(
            &format!("speakerd re-sends its routes (refresh {round})"),
            SOON,
            || {
                let now = bird_import_updates(&bird);
                if now > before + round - 1 {
                    Ok(())
                } else {
                    Err(format!("received updates {now}, before {before}"))
                }
            },
        );
    }
    let refreshes = lab
        .metric(
            &sd,
            "bgp_peer_messages_received_total",
            &["peer=\"198.18.0.2\"", "type=\"route_refresh\""],
        )
        .unwrap();
    assert_eq!(refreshes, 2.0, "ROUTE-REFRESH messages speakerd counted");
    bird.established("speakerd").unwrap();
    assert_eq!(bird_since(&bird), since, "the session was reset");
    let n = lab.speakerd_established(&sd, "198.18.0.2").unwrap();
    assert!(n["uptime_seconds"].as_u64().is_some(), "{n}");
    bird.route("198.19.1.0/24").unwrap();
}

/// A speakerd configuration with one BIRD neighbour (IPv4, soft reconfiguration inbound) whose
/// import policy rejects `rejected` and accepts the rest.
fn soft_reconfiguration_conf(rejected: &str) -> String {
    let neighbor = format!(
        "[[neighbor]]\naddress = \"198.18.0.2\"\nremote_asn = {PEER_AS}\n\
         local_address = \"198.18.0.1\"\nhold_time = 9\nconnect_retry_time = 2\n\
         families = [\"ipv4-unicast\"]\nimport = [\"in\"]\nexport = [\"accept-all\"]\n\
         soft_reconfiguration_inbound = true\n\n"
    );
    let policy = format!(
        "[[policy]]\nname = \"in\"\n\n[[policy.term]]\nname = \"drop\"\n\
         prefixes = [\"{rejected}\"]\nthen = \"reject\"\n\n\
         [[policy.term]]\nname = \"rest\"\nthen = \"accept\"\n"
    );
    speakerd_conf("198.18.0.1", &format!("{SD_PREFIX_V4}{neighbor}{policy}"))
}

/// Soft reconfiguration inbound against a BIRD that does not offer route refresh: a SIGHUP'd
/// import policy change accepts the route rejected before (shown as rejected by `show route`
/// meanwhile) and drops the one accepted before, with no ROUTE-REFRESH and no session reset.
#[test]
fn soft_reconfiguration_inbound_without_route_refresh() {
    let mut lab = Lab::new("soft_reconfig");
    let (sd, peer) = pair(&mut lab);
    let (first, second) = ("198.19.100.0/24", "198.19.101.0/24");
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf(
            "198.18.0.2",
            "198.18.0.2",
            "198.18.0.1",
            &[first, second],
            "  enable route refresh off;",
        ),
    );
    lab.speakerd("speakerd", &sd, &soft_reconfiguration_conf(second));
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, first, &["198.18.0.2"]);
    let shown = wait_for(&format!("{second} shown as rejected"), SOON, || {
        let paths = paths(&lab, &sd, second)?;
        match paths.as_slice() {
            [p] if p["status"] == "rejected by import policy" => Ok(p.clone()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(shown["from"], "198.18.0.2", "{shown}");
    assert!(lab.speakerd_route(&sd, second).unwrap().is_none());
    let since = bird_since(&bird);

    lab.write("speakerd.toml", &soft_reconfiguration_conf(first));
    lab.signal("speakerd", "HUP");
    wait_route(&lab, &sd, second, &["198.18.0.2"]);
    lab.wait_route_gone(&sd, first);
    let rejected = paths(&lab, &sd, first).unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["status"], "rejected by import policy");

    let refreshes = lab
        .metric(
            &sd,
            "bgp_peer_messages_sent_total",
            &["peer=\"198.18.0.2\"", "type=\"route_refresh\""],
        )
        .unwrap();
    assert_eq!(refreshes, 0.0, "ROUTE-REFRESH messages speakerd sent");
    bird.established("speakerd").unwrap();
    assert_eq!(bird_since(&bird), since, "the session was reset");
}

/// ADD-PATH send (RFC 7911): two BIRDs announce the same prefix to speakerd; a third BIRD with
/// `add paths rx` sees both paths from speakerd, each with its own path identifier; when one
/// source stops, its path is withdrawn there by identifier and the other stays.
#[test]
fn add_path_send_to_bird() {
    let mut lab = Lab::new("add_path");
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 3);
    let prefix = "198.19.100.0/24";
    let b1 = star_bird(&mut lab, 1, &peers[0], &[prefix], "");
    let b2 = star_bird(&mut lab, 2, &peers[1], &[prefix], "");
    // The receiver is in the sources' AS too: it accepts its own AS in the path.
    let receiver_conf = bird_conf(
        "198.18.3.2",
        "198.18.3.2",
        "198.18.3.1",
        &[],
        "  allow local as;",
    )
    .replace(
        "import all; export all;",
        "import all; export none; add paths rx;",
    );
    let b3 = lab.bird("bird3", &peers[2], &receiver_conf);
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{}{}{}",
                star_neighbor(1, ""),
                star_neighbor(2, ""),
                star_neighbor(3, "add_path_send = \"all\"")
            ),
        ),
    );
    for (bird, address) in [
        (&b1, "198.18.1.2"),
        (&b2, "198.18.2.2"),
        (&b3, "198.18.3.2"),
    ] {
        wait_established(&lab, &sd, bird, address);
    }
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    let paths_at_receiver = || {
        let out = b3.birdc(&["show", "route", "all", prefix]);
        out.matches("[speakerd ").count()
    };
    wait_for(
        "two paths from speakerd at the receiver",
        SOON,
        || match paths_at_receiver() {
            2 => Ok(()),
            n => Err(format!(
                "{n} paths: {}",
                b3.birdc(&["show", "route", "all", prefix])
            )),
        },
    );

    lab.stop("bird1", "TERM");
    wait_route(&lab, &sd, prefix, &["198.18.2.2"]);
    wait_for(
        "one path left at the receiver",
        SOON,
        || match paths_at_receiver() {
            1 => Ok(()),
            n => Err(format!(
                "{n} paths: {}",
                b3.birdc(&["show", "route", "all", prefix])
            )),
        },
    );
    b3.established("speakerd").unwrap();
}

/// Scenario 6: TCP MD5. A BIRD with the same key as speakerd's `password_file` comes up; one
/// with a different key never reaches Established.
#[test]
fn tcp_md5() {
    md5_sessions("md5", "");
}

/// TCP MD5 with speakerd passive: the BIRDs connect to speakerd, whose listening socket carries
/// the key of each passive neighbour (TCP_MD5SIG on the listener). The wrong-key BIRD's SYNs are
/// dropped by the kernel (bad MD5 signature), so it never gets past Connect/Active.
#[test]
fn tcp_md5_passive() {
    md5_sessions("md5_passive", "\npassive = true");
}

/// Two BIRDs, one with speakerd's MD5 key and one with another: the first comes up, the second
/// never does. `neighbor_extra` is added to both `[[neighbor]]` tables.
fn md5_sessions(test: &str, neighbor_extra: &str) {
    let mut lab = Lab::new(test);
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let key = lab.write("md5.key", "s3cret-Key_1\n");
    let key = key.to_str().unwrap();
    let good = star_bird(&mut lab, 1, &peers[0], &[], "  password \"s3cret-Key_1\";");
    let bad = star_bird(&mut lab, 2, &peers[1], &[], "  password \"wrong-key\";");
    let extra = format!("password_file = \"{key}\"{neighbor_extra}");
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!("{}{}", star_neighbor(1, &extra), star_neighbor(2, &extra)),
        ),
    );
    wait_established(&lab, &sd, &good, "198.18.1.2");
    holds_for(
        "the session with a wrong MD5 key is not Established",
        Duration::from_secs(8),
        || match (
            bad.established("speakerd"),
            lab.speakerd_established(&sd, "198.18.2.2"),
        ) {
            (Err(_), Err(_)) => Ok(()),
            (a, b) => Err(format!("BIRD: {a:?}\nspeakerd: {b:?}")),
        },
    );
    good.established("speakerd").unwrap();
}

/// Scenario 7: GTSM. speakerd with `ttl_security = true`: a BIRD directly connected with `ttl
/// security on` comes up; with a BIRD two hops away (through a forwarding router namespace),
/// reachable and connecting to speakerd, speakerd's session never becomes Established.
#[test]
fn gtsm() {
    let mut lab = Lab::new("gtsm");
    let sd = lab.ns("sd");
    let near_ns = lab.ns("near");
    let router = lab.ns("router");
    let far_ns = lab.ns("far");
    lab.link(
        &sd,
        "eth1",
        &["198.18.1.1/24"],
        &near_ns,
        "eth0",
        &["198.18.1.2/24"],
    );
    lab.link(
        &sd,
        "eth2",
        &["198.18.2.1/24"],
        &router,
        "eth0",
        &["198.18.2.2/24"],
    );
    lab.link(
        &router,
        "eth1",
        &["198.18.3.1/24"],
        &far_ns,
        "eth0",
        &["198.18.3.2/24"],
    );
    lab::run_ok(
        lab::IP,
        &[
            "-n",
            &sd,
            "route",
            "add",
            "198.18.3.0/24",
            "via",
            "198.18.2.2",
        ],
    );
    lab::run_ok(
        lab::IP,
        &[
            "-n",
            &far_ns,
            "route",
            "add",
            "198.18.2.0/24",
            "via",
            "198.18.3.1",
        ],
    );
    // The far side is reachable: a connection to its closed BGP port is refused (not lost).
    let probe = lab.exec(
        &sd,
        "timeout",
        &["5", "bash", "-c", "exec 3<>/dev/tcp/198.18.3.2/179"],
    );
    assert!(
        probe.as_ref().is_err_and(|e| e.contains("refused")),
        "198.18.3.2 should refuse port 179 before BIRD runs: {probe:?}"
    );

    let near = star_bird(&mut lab, 1, &near_ns, &[], "  ttl security on;");
    let far = lab.bird(
        "far",
        &far_ns,
        &bird_conf(
            "198.18.3.2",
            "198.18.3.2",
            "198.18.2.1",
            &[],
            "  multihop 2; ttl security on;",
        ),
    );
    let far_neighbor = sd_neighbor(
        "198.18.3.2",
        "198.18.2.1",
        "ipv4-unicast",
        "ttl_security = true\npassive = true",
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{}{far_neighbor}",
                star_neighbor(1, "ttl_security = true\npassive = true")
            ),
        ),
    );
    wait_established(&lab, &sd, &near, "198.18.1.2");
    // Both neighbours are passive: their connections come in through the shared listener,
    // where speakerd applies GTSM after accept (as FRR does). The far BIRD's OPEN may already
    // be queued by then, and BIRD (expecting TTL >= 254) may even count itself Established
    // until its hold timer runs out, but nothing later from it reaches speakerd.
    wait_for("the far BIRD tries to connect", SOON, || {
        let n = lab.neighbor(&sd, "198.18.3.2")?;
        let out = far.try_birdc(&["show", "protocols", "all", "speakerd"])?;
        if out.contains("Connect") || out.contains("Open") || out.contains("Established") {
            Ok(n)
        } else {
            Err(out)
        }
    });
    holds_for(
        "speakerd never has the GTSM session two hops away Established",
        Duration::from_secs(8),
        || match lab.speakerd_established(&sd, "198.18.3.2") {
            Err(_) => Ok(()),
            Ok(n) => Err(format!("{n}\nBIRD: {:?}", far.established("speakerd"))),
        },
    );
    near.established("speakerd").unwrap();
}

/// speakerd's paths of `prefix` (`show route PREFIX`).
fn paths(lab: &Lab, ns: &str, prefix: &str) -> Result<Vec<Value>, String> {
    let v = lab.show(ns, &["route", prefix])?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// Scenario 8: graceful restart. BIRD is killed hard: speakerd keeps its routes (stale) in the
/// kernel; BIRD restarts (in graceful restart recovery) without one of them: after its
/// End-of-RIB that one is removed and the other stays.
#[test]
fn graceful_restart_of_bird() {
    let mut lab = Lab::new("graceful_restart");
    let (sd, peer) = pair(&mut lab);
    let routes = ["198.19.100.0/24", "198.19.101.0/24"];
    let gr = "  graceful restart on;";
    let conf = |routes: &[&str]| {
        format!(
            "graceful restart wait 10;\n{}",
            bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", routes, gr)
        )
    };
    let bird = lab.bird("bird", &peer, &conf(&routes));
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{SD_PREFIX_V4}{}",
                sd_neighbor(
                    "198.18.0.2",
                    "198.18.0.1",
                    "ipv4-unicast",
                    "[neighbor.graceful_restart]\nrestart_time = 60\n"
                )
            ),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    for prefix in routes {
        wait_route(&lab, &sd, prefix, &["198.18.0.2"]);
    }

    // Every kernel route change from here on, to show that the route BIRD announces again is
    // never removed and re-added.
    lab.route_monitor("monitor", &sd);
    lab.stop("bird", "KILL");
    wait_for("speakerd notices the session is gone", SOON, || {
        match lab.speakerd_established(&sd, "198.18.0.2") {
            Ok(n) => Err(n.to_string()),
            Err(_) => Ok(()),
        }
    });
    wait_for("speakerd marks the routes stale", SOON, || {
        let p = paths(&lab, &sd, routes[1])?;
        if p.iter().any(|p| p["stale"] == true) {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
    holds_for(
        "the stale routes stay in the kernel while BIRD is away",
        Duration::from_secs(3),
        || {
            for prefix in routes {
                match lab.kernel_route(&sd, prefix) {
                    Some(r) if Lab::gateways(&r) == ["198.18.0.2"] => {}
                    other => return Err(format!("{prefix}: {other:?}")),
                }
            }
            Ok(())
        },
    );

    // BIRD comes back in graceful restart recovery, announcing only the first prefix.
    let bird = lab.bird_with("bird", &peer, &conf(&routes[..1]), &["-R"]);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    lab.wait_route_gone(&sd, routes[1]);
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("the remaining route is no longer stale", SOON, || {
        let p = paths(&lab, &sd, routes[0])?;
        if p.iter().all(|p| p["stale"] == false) && !p.is_empty() {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
    let monitor = lab.log("monitor");
    assert!(
        monitor.contains(&format!("Deleted {}", routes[1])),
        "{monitor}"
    );
    assert!(
        !monitor.contains(&format!("Deleted {}", routes[0])),
        "the route kept across the restart left the kernel: {monitor}"
    );
}

/// Scenario 9: SIGTERM. speakerd (no graceful restart) sends Cease 6/2 with "speakerd
/// shutting down", exits successfully and removes its kernel routes.
#[test]
fn shutdown_on_sigterm() {
    let mut lab = Lab::new("shutdown");
    let (sd, peer) = pair(&mut lab);
    let routes = ["198.19.100.0/24"];
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &routes, ""),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{SD_PREFIX_V4}{}",
                sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", "")
            ),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);

    let status = lab.stop("speakerd", "TERM");
    assert!(status.success(), "speakerd exited with {status}");
    assert!(
        lab.kernel_routes(&sd, false).is_empty() && lab.kernel_routes(&sd, true).is_empty(),
        "kernel routes left behind: {:?}",
        lab.kernel_routes(&sd, false)
    );
    assert!(
        lab.nexthop_objects(&sd).is_empty(),
        "nexthop objects left behind: {:?}",
        lab.nexthop_objects(&sd)
    );
    let out = wait_for("BIRD saw the Cease", SOON, || {
        let out = bird.try_birdc(&["show", "protocols", "all", "speakerd"])?;
        if out.contains("Received: Administrative shutdown") {
            Ok(out)
        } else {
            Err(out)
        }
    });
    let log = lab.log("bird");
    assert!(
        out.contains("speakerd shutting down") || log.contains("speakerd shutting down"),
        "no shutdown communication in BIRD's output or log:\n{out}\n{log}"
    );
}

/// Graceful restart of speakerd itself: with `[neighbor.graceful_restart]`, SIGTERM leaves
/// speakerd's kernel routes in place and BIRD keeps speakerd's prefix (stale); the restarted
/// speakerd takes the kernel routes over without removing them, and BIRD's copy of our prefix
/// is refreshed. BIRD with graceful restart fully on.
#[test]
fn graceful_restart_of_speakerd() {
    speakerd_restart("speakerd_restart", "  graceful restart on;");
}

/// The same against BIRD in its default mode, `graceful restart aware`: its capability lists
/// no address families (RFC 4724 §3: it cannot keep its own forwarding state but keeps ours),
/// the usual ToR setting. speakerd must still close without a NOTIFICATION, so that BIRD
/// keeps our prefix, and keep BIRD's routes in its own kernel.
#[test]
fn graceful_restart_of_speakerd_with_a_helper_only_bird() {
    speakerd_restart("speakerd_restart_aware", "  graceful restart aware;");
}

fn speakerd_restart(test: &str, bird_graceful_restart: &str) {
    let mut lab = Lab::new(test);
    let (sd, peer) = pair(&mut lab);
    let routes = ["198.19.100.0/24"];
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf(
            "198.18.0.2",
            "198.18.0.2",
            "198.18.0.1",
            &routes,
            bird_graceful_restart,
        ),
    );
    let conf = speakerd_conf(
        "198.18.0.1",
        &format!(
            "{SD_PREFIX_V4}{}",
            sd_neighbor(
                "198.18.0.2",
                "198.18.0.1",
                "ipv4-unicast",
                "[neighbor.graceful_restart]\nrestart_time = 60\n"
            )
        ),
    );
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("198.19.1.0/24 in BIRD's RIB", SOON, || {
        bird.route("198.19.1.0/24")
    });

    lab.route_monitor("monitor", &sd);
    let status = lab.stop("speakerd", "TERM");
    assert!(status.success(), "speakerd exited with {status}");
    assert!(
        lab.kernel_route(&sd, routes[0]).is_some(),
        "speakerd removed its kernel routes although graceful restart is configured"
    );
    let objects = lab.nexthop_objects(&sd);
    assert_eq!(
        objects.len(),
        1,
        "the gateway's nexthop object stays: {objects:?}"
    );
    let kept = wait_for("BIRD's session is down", SOON, || {
        match bird.established("speakerd") {
            Ok(out) => Err(out),
            Err(out) => Ok(out),
        }
    });
    assert!(
        kept.contains("Neighbor graceful restart active"),
        "BIRD does not treat our shutdown as a graceful restart:\n{kept}"
    );
    holds_for(
        "BIRD keeps our prefix while we restart",
        Duration::from_secs(2),
        || bird.route("198.19.1.0/24").map(|_| ()),
    );

    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("BIRD ends the graceful restart", SOON, || {
        let out = bird.established("speakerd")?;
        if out.contains("graceful restart active") {
            Err(out)
        } else {
            Ok(())
        }
    });
    bird.route("198.19.1.0/24").unwrap();
    let monitor = lab.log("monitor");
    assert!(
        !monitor.contains(&format!("Deleted {}", routes[0])),
        "the kernel route left the kernel across the restart: {monitor}"
    );
    let route = lab.kernel_route(&sd, routes[0]).unwrap();
    assert_eq!(
        lab.nexthop_objects(&sd),
        objects,
        "the restarted speakerd adopts the object instead of making another"
    );
    assert_eq!(route["nhid"], objects[0]["id"], "{route}");
}

/// RFC 4724 §4.1: a restarted speakerd (its previous routes still in the kernel) defers route
/// selection until every neighbour has sent End-of-RIB. With one of two BIRDs unreachable, the
/// routes of the other arrive but nothing is selected, advertised or changed in the kernel, and
/// the reachable BIRD keeps our prefix as stale (no End-of-RIB from us yet); once the second
/// BIRD is back and has sent its table, selection runs, both BIRDs get our routes and
/// End-of-RIB, and no kernel route was deleted on the way.
#[test]
fn restarted_speakerd_defers_route_selection_until_every_neighbour_sent_its_table() {
    let mut lab = Lab::new("selection_deferral");
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let (first, second) = ("198.19.100.0/24", "198.19.200.0/24");
    let gr = "  graceful restart on;";
    let b1 = star_bird(&mut lab, 1, &peers[0], &[first], gr);
    let b2 = star_bird(&mut lab, 2, &peers[1], &[second], gr);
    let restart = "[neighbor.graceful_restart]\nrestart_time = 90\n";
    let conf = speakerd_conf(
        "198.18.0.1",
        &format!(
            "{SD_PREFIX_V4}{}{}",
            star_neighbor(1, restart),
            star_neighbor(2, restart)
        ),
    );
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &b1, "198.18.1.2");
    wait_established(&lab, &sd, &b2, "198.18.2.2");
    wait_route(&lab, &sd, first, &["198.18.1.2"]);
    wait_route(&lab, &sd, second, &["198.18.2.2"]);
    wait_for("our prefix at BIRD 1", SOON, || b1.route("198.19.1.0/24"));

    lab.route_monitor("monitor", &sd);
    let status = lab.stop("speakerd", "TERM");
    assert!(status.success(), "speakerd exited with {status}");
    // BIRD 2 is unreachable while speakerd comes back.
    b2.birdc(&["disable", "speakerd"]);
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &b1, "198.18.1.2");
    wait_for("BIRD 1's table in speakerd's Adj-RIB-In", SOON, || {
        let n = lab.neighbor(&sd, "198.18.1.2")?;
        match n["prefixes_accepted"].as_u64() {
            Some(1) => Ok(()),
            _ => Err(n.to_string()),
        }
    });
    holds_for(
        "selection deferred while BIRD 2 has not sent its table",
        Duration::from_secs(3),
        || {
            if let Some(r) = lab.speakerd_route(&sd, first)? {
                return Err(format!("{first} selected during the deferral: {r}"));
            }
            for prefix in [first, second] {
                if lab.kernel_route(&sd, prefix).is_none() {
                    return Err(format!("{prefix} left the kernel during the deferral"));
                }
            }
            let gr = b1.established("speakerd")?;
            if !gr.contains("graceful restart active") {
                return Err(format!(
                    "BIRD 1 got our End-of-RIB during the deferral:\n{gr}"
                ));
            }
            b1.route("198.19.1.0/24").map(|_| ())
        },
    );

    b2.birdc(&["enable", "speakerd"]);
    wait_established(&lab, &sd, &b2, "198.18.2.2");
    wait_route(&lab, &sd, first, &["198.18.1.2"]);
    wait_route(&lab, &sd, second, &["198.18.2.2"]);
    wait_for(
        "BIRD 1 ends the graceful restart (our End-of-RIB)",
        SOON,
        || {
            let out = b1.established("speakerd")?;
            if out.contains("graceful restart active") {
                Err(out)
            } else {
                Ok(())
            }
        },
    );
    wait_for("our prefix at BIRD 2", SOON, || b2.route("198.19.1.0/24"));
    b1.route("198.19.1.0/24").unwrap();
    let monitor = lab.log("monitor");
    assert!(
        !monitor.contains(&format!("Deleted {first}")),
        "{first} left the kernel across the restart: {monitor}"
    );
}

/// Hold timer: BIRD freezes (SIGSTOP) and sends nothing more; speakerd's hold timer (9 s)
/// expires, the session goes down and BIRD's routes leave the kernel. After SIGCONT the
/// session comes back with the routes.
#[test]
fn hold_timer_expiry() {
    let mut lab = Lab::new("hold_timer");
    let (sd, peer) = pair(&mut lab);
    let routes = ["198.19.100.0/24"];
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &routes, ""),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", ""),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);

    lab.signal("bird", "STOP");
    let frozen = std::time::Instant::now();
    lab.wait_route_gone(&sd, routes[0]);
    let after = frozen.elapsed();
    assert!(
        after >= Duration::from_secs(5),
        "routes went away {after:?} after the freeze, before the hold time could expire"
    );
    let n = lab.neighbor(&sd, "198.18.0.2").unwrap();
    assert_ne!(n["state"], "Established", "{n}");
    let log = lab.log("speakerd");
    assert!(
        log.to_lowercase().contains("hold"),
        "no hold timer expiry logged:\n{log}"
    );

    lab.signal("bird", "CONT");
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
}

/// BFD (RFC 5880, RFC 5881) beside the BGP session with BIRD: both BFD sessions come Up; when
/// BIRD freezes (SIGSTOP: its link stays up, it just stops talking), BFD detects it after 3 x
/// 300 ms and speakerd closes the BGP session with Cease 6/10 (BFD Down, RFC 9384), long before
/// the 9 s hold timer, and BIRD's route leaves the kernel. Thawed, everything comes back.
#[test]
fn bfd_takes_the_session_down_when_bird_freezes() {
    let mut lab = Lab::new("bfd_freeze");
    let (sd, peer) = pair(&mut lab);
    let routes = ["198.19.100.0/24"];
    let bird = lab.bird(
        "bird",
        &peer,
        &format!(
            "{}{BIRD_BFD}",
            bird_conf(
                "198.18.0.2",
                "198.18.0.2",
                "198.18.0.1",
                &routes,
                "  bfd on;"
            )
        ),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", SD_BFD),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("BFD Up at speakerd", SOON, || {
        bfd_up(&lab, &sd, "198.18.0.2")
    });
    wait_for("BFD Up at BIRD", SOON, || {
        let out = bird.try_birdc(&["show", "bfd", "sessions"])?;
        if out.contains("198.18.0.1") && out.contains("Up") {
            Ok(out)
        } else {
            Err(out)
        }
    });
    let detection = lab
        .metric(
            &sd,
            "bgp_bfd_detection_time_seconds",
            &["peer=\"198.18.0.2\""],
        )
        .unwrap();
    assert!((detection - 0.9).abs() < 1e-9, "detection time {detection}");
    let shown = lab.show(&sd, &["bfd"]).unwrap();
    let session = &shown[0];
    assert_eq!(session["neighbor"], "198.18.0.2", "{shown}");
    assert_eq!(session["local"], "198.18.0.1", "{shown}");
    assert_eq!(session["state"], "up", "{shown}");
    assert_eq!(session["remote_state"], "up", "{shown}");
    assert_eq!(session["transmit_interval_ms"], 300, "{shown}");
    assert_eq!(session["detection_time_ms"], 900, "{shown}");
    assert_ne!(session["remote_discriminator"], 0, "{shown}");

    lab.signal("bird", "STOP");
    lab.wait_route_gone(&sd, routes[0]);
    let bfd_down = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.0.2\"", "code=\"6\"", "subcode=\"10\""],
        )
        .unwrap();
    assert_eq!(bfd_down, 1.0, "Cease 6/10 (BFD Down) sent");
    let hold_expired = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.0.2\"", "code=\"4\""],
        )
        .unwrap();
    assert_eq!(
        hold_expired, 0.0,
        "the hold timer, not BFD, took the session down"
    );

    lab.signal("bird", "CONT");
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("BFD Up again", UP, || bfd_up(&lab, &sd, "198.18.0.2"));
}

/// A TCP connection from an address that is neither a neighbour nor in a dynamic range is
/// closed at once, counted in `bgp_connections_refused_total`, and leaves no neighbour behind;
/// the configured neighbour's session is untouched.
#[test]
fn connections_from_unknown_addresses_are_refused() {
    let mut lab = Lab::new("unknown_connections");
    let (sd, peer) = pair(&mut lab);
    lab.exec(
        &peer,
        lab::IP,
        &["addr", "add", "198.18.0.3/24", "dev", "eth0"],
    )
    .unwrap();
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &[], ""),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", ""),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    for _ in 0..3 {
        // From the peer namespace's second address: speakerd closes at once, so the read
        // returns no octets (an OPEN would be 29 or more).
        let got = lab
            .exec(
                &peer,
                "python3",
                &[
                    "-c",
                    "import socket; s = socket.create_connection(('198.18.0.1', 179), 5, \
                     ('198.18.0.3', 0)); s.settimeout(5); print(len(s.recv(100)))",
                ],
            )
            .unwrap();
        assert_eq!(got.trim(), "0", "speakerd answered an unknown address");
    }
    let refused = lab
        .metric(&sd, "bgp_connections_refused_total", &[])
        .unwrap();
    assert_eq!(refused, 3.0);
    let neighbors = lab.show(&sd, &["neighbors"]).unwrap();
    assert_eq!(neighbors.as_array().map(Vec::len), Some(1), "{neighbors}");
    let established = lab
        .metric(&sd, "bgp_peer_established_total", &["peer=\"198.18.0.2\""])
        .unwrap();
    assert_eq!(established, 1.0);
}

/// Strict BFD (BIRD's `strict bind`): while BIRD runs no BFD, speakerd does not bring the BGP
/// session up at all; once BIRD's BFD answers, BFD comes Up and then BGP.
#[test]
fn strict_bfd_waits_for_bfd_before_bgp() {
    let mut lab = Lab::new("bfd_strict");
    let (sd, peer) = pair(&mut lab);
    let routes = ["198.19.100.0/24"];
    let plain = bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &routes, "");
    let bird = lab.bird("bird", &peer, &plain);
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor(
                "198.18.0.2",
                "198.18.0.1",
                "ipv4-unicast",
                "[neighbor.bfd]\nstrict = true\n",
            ),
        ),
    );
    holds_for(
        "no BGP session without BFD",
        Duration::from_secs(5),
        || match (
            bird.established("speakerd"),
            lab.speakerd_established(&sd, "198.18.0.2"),
        ) {
            (Err(_), Err(_)) => Ok(()),
            (a, b) => Err(format!("BIRD: {a:?}\nspeakerd: {b:?}")),
        },
    );
    bird.reconfigure(&format!(
        "{}{BIRD_BFD}",
        bird_conf(
            "198.18.0.2",
            "198.18.0.2",
            "198.18.0.1",
            &routes,
            "  bfd on;"
        )
    ));
    wait_for("BFD Up", UP, || bfd_up(&lab, &sd, "198.18.0.2"));
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
}

/// speakerd's BFD session with `peer` is Up (`bgp_bfd_state` 3).
fn bfd_up(lab: &Lab, ns: &str, peer: &str) -> Result<(), String> {
    match lab.metric(ns, "bgp_bfd_state", &[&format!("peer=\"{peer}\"")])? {
        3.0 => Ok(()),
        other => Err(format!("bgp_bfd_state {other}")),
    }
}

/// BFD with FRR (bgpd, zebra and bfdd; `neighbor X bfd` with bfdd's default 300 ms x 3): both
/// sides Up; when bfdd alone freezes (SIGSTOP: bgpd still answers), speakerd closes the BGP
/// session with Cease 6/10 and FRR's route leaves the kernel; thawed, both come back.
#[test]
fn bfd_with_frr() {
    let mut lab = Lab::new("bfd_frr");
    let (sd, peer) = pair(&mut lab);
    let dir = lab.dir().display().to_string();
    let frr = lab.frr_bfd_bgpd(
        "bgpd",
        &peer,
        &format!(
            "frr defaults traditional\nhostname frr\nlog file {dir}/bgpd-frr.log\n!\n\
             router bgp {PEER_AS}\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n\
             \x20no bgp network import-check\n neighbor 198.18.0.1 remote-as {SD_AS}\n\
             \x20neighbor 198.18.0.1 timers 3 9\n neighbor 198.18.0.1 timers connect 2\n\
             \x20neighbor 198.18.0.1 bfd\n !\n address-family ipv4 unicast\n  network 198.19.100.0/24\n\
             \x20exit-address-family\n!\n"
        ),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", SD_BFD),
        ),
    );
    wait_for("FRR's session Established", UP, || {
        let out = frr.try_vtysh(&["show bgp neighbors 198.18.0.1 json"])?;
        if out.contains("\"bgpState\":\"Established\"") {
            Ok(())
        } else {
            Err(out)
        }
    });
    wait_route(&lab, &sd, "198.19.100.0/24", &["198.18.0.2"]);
    wait_for("BFD Up with FRR's bfdd", UP, || {
        bfd_up(&lab, &sd, "198.18.0.2")
    });

    lab.signal("bgpd-bfdd", "STOP");
    lab.wait_route_gone(&sd, "198.19.100.0/24");
    let bfd_down = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.0.2\"", "code=\"6\"", "subcode=\"10\""],
        )
        .unwrap();
    assert_eq!(bfd_down, 1.0, "Cease 6/10 (BFD Down) sent");

    lab.signal("bgpd-bfdd", "CONT");
    wait_for("BFD Up again", UP, || bfd_up(&lab, &sd, "198.18.0.2"));
    wait_route(&lab, &sd, "198.19.100.0/24", &["198.18.0.2"]);
}

/// speakerd's BFD table for a neighbour: 300 ms, multiplier 3 (BIRD's and FRR's defaults).
const SD_BFD: &str = "[neighbor.bfd]\nmin_rx = 300\nmin_tx = 300\nmultiplier = 3\n";

/// BIRD's BFD protocol with speakerd's intervals (300 ms, multiplier 3).
const BIRD_BFD: &str = "protocol bfd {\n  interface \"eth0\" { min rx interval 300 ms; \
                        min tx interval 300 ms; multiplier 3; };\n}\n";

/// The failover of issue 14: speakerd dual-homed to two BIRD ToRs that both announce
/// 198.19.100.0/24 and answer pings on 198.19.100.1, ECMP in the kernel, a ping every 10 ms from
/// speakerd's namespace. The ToR the ping's flow hashes to goes silent: nftables drops all it
/// sends and receives, its link stays up (no link-down event). With BFD the route shrinks to the
/// other ToR once BFD's 3 x 300 ms have passed (Cease 6/10); without BFD only when the 9 s hold
/// timer expires (4/0). The lost pings and the time to repair of both runs are printed and
/// written to `$CARGO_TARGET_TMPDIR/failover.json` (figures in `docs/operator-guide.md`).
#[test]
fn failover_to_the_other_tor_with_and_without_bfd() {
    lab::require("/usr/sbin/nft");
    lab::require("/usr/bin/ping");
    let with = failover(true);
    let without = failover(false);
    let report = format!(
        "{{\"bfd\": {{\"lost_pings\": {}, \"repair_ms\": {}}}, \"hold_timer\": {{\"lost_pings\": {}, \"repair_ms\": {}}}}}\n",
        with.0,
        with.1.as_millis(),
        without.0,
        without.1.as_millis()
    );
    eprintln!("failover, ping every 10 ms: {report}");
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("failover.json"),
        &report,
    )
    .unwrap();
}

/// One run of [`failover_to_the_other_tor_with_and_without_bfd`]: the pings lost and the time
/// from the cut until the kernel route has only the other ToR.
fn failover(bfd: bool) -> (u64, Duration) {
    let mut lab = Lab::new(if bfd { "failover_bfd" } else { "failover_hold" });
    let sd = lab.ns("sd");
    let tors = star(&mut lab, &sd, 2);
    let prefix = "198.19.100.0/24";
    let (bgp_extra, bird_bfd, sd_extra) = if bfd {
        ("  bfd on;", BIRD_BFD, SD_BFD)
    } else {
        ("", "", "")
    };
    let mut birds = Vec::new();
    for (i, ns) in tors.iter().enumerate() {
        let n = i + 1;
        lab.exec(
            ns,
            lab::IP,
            &["addr", "add", "198.19.100.1/32", "dev", "lo"],
        )
        .unwrap();
        let address = format!("198.18.{n}.2");
        let conf = bird_conf(
            &address,
            &address,
            &format!("198.18.{n}.1"),
            &[prefix],
            bgp_extra,
        );
        birds.push(lab.bird(&format!("bird{n}"), ns, &format!("{conf}{bird_bfd}")));
    }
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{}{}",
                star_neighbor(1, sd_extra),
                star_neighbor(2, sd_extra)
            ),
        ),
    );
    for (i, bird) in birds.iter().enumerate() {
        wait_established(&lab, &sd, bird, &format!("198.18.{}.2", i + 1));
    }
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    if bfd {
        for n in 1..=2 {
            wait_for(&format!("BFD Up with ToR {n}"), SOON, || {
                bfd_up(&lab, &sd, &format!("198.18.{n}.2"))
            });
        }
    }
    // The ToR the ping's flow takes.
    let get = lab
        .exec(&sd, lab::IP, &["route", "get", "198.19.100.1"])
        .unwrap();
    let dead = if get.contains("via 198.18.1.2") { 1 } else { 2 };
    assert!(get.contains(&format!("via 198.18.{dead}.2")), "{get}");
    let alive = 3 - dead;
    lab.spawn(
        "ping",
        &sd,
        "/usr/bin/ping",
        &["-i", "0.01", "-W", "1", "198.19.100.1"],
        &[],
    );
    std::thread::sleep(Duration::from_secs(1));
    let tor = &tors[dead - 1];
    lab.exec(tor, "/usr/sbin/nft", &["add", "table", "inet", "cut"])
        .unwrap();
    for hook in ["input", "output"] {
        let chain = format!("{{ type filter hook {hook} priority 0; policy drop; }}");
        lab.exec(
            tor,
            "/usr/sbin/nft",
            &["add", "chain", "inet", "cut", hook, &chain],
        )
        .unwrap();
    }
    let cut = Instant::now();
    let survivor = format!("198.18.{alive}.2");
    wait_for(
        "the route has only the other ToR",
        Duration::from_secs(30),
        || match lab.kernel_route(&sd, prefix) {
            Some(r) if Lab::gateways(&r) == [survivor.clone()] => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let repair = cut.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    lab.stop("ping", "INT");
    let log = lab.log("ping");
    let count = |word: &str| -> u64 {
        log.lines()
            .find(|l| l.contains("packets transmitted"))
            .and_then(|l| {
                l.split(',')
                    .find(|part| part.contains(word))
                    .and_then(|part| part.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or_else(|| panic!("no ping summary: {log}"))
    };
    let lost = count("transmitted") - count("received");
    let dead_peer = format!("peer=\"198.18.{dead}.2\"");
    let (code, subcode) = if bfd { ("6", "10") } else { ("4", "0") };
    let sent = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &[
                &dead_peer,
                &format!("code=\"{code}\""),
                &format!("subcode=\"{subcode}\""),
            ],
        )
        .unwrap();
    assert_eq!(
        sent, 1.0,
        "the session with the silent ToR was not closed with {code}/{subcode}"
    );
    (lost, repair)
}

/// SIGTERM with `shutdown_drain_seconds`: speakerd first re-announces its prefix with the
/// GRACEFUL_SHUTDOWN community (RFC 8326) and three prepends, keeps the session up for the drain
/// period, then closes with Cease 6/2 and exits.
#[test]
fn shutdown_drain_on_sigterm() {
    let mut lab = Lab::new("shutdown_drain");
    let (sd, peer) = pair(&mut lab);
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &[], ""),
    );
    let conf = speakerd_conf(
        "198.18.0.1",
        &format!(
            "{SD_PREFIX_V4}{}",
            sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", "")
        ),
    )
    .replacen("[global]\n", "[global]\nshutdown_drain_seconds = 3\n", 1);
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    let before = wait_for("BIRD has our prefix", SOON, || bird.route("198.19.1.0/24"));
    assert!(!before.contains("(65535,0)"), "{before}");

    lab.signal("speakerd", "TERM");
    let signalled = Instant::now();
    let draining = wait_for("GRACEFUL_SHUTDOWN at BIRD", SOON, || {
        let route = bird.route("198.19.1.0/24")?;
        let prepended = format!("BGP.as_path: {SD_AS} {SD_AS} {SD_AS} {SD_AS}\n");
        if route.contains("(65535,0)") && route.contains(&prepended) {
            Ok(route)
        } else {
            Err(route)
        }
    });
    bird.established("speakerd")
        .expect("the session stays up while draining");
    assert!(
        lab.exited("speakerd").is_none(),
        "exited before the drain ended"
    );
    wait_for("speakerd exits", SOON, || {
        lab.exited("speakerd")
            .ok_or_else(|| "still running".to_string())
    });
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "exited {:?} after SIGTERM, before the 3 s drain:\n{draining}",
        signalled.elapsed()
    );
    wait_for("BIRD saw the Cease", SOON, || {
        let out = bird.try_birdc(&["show", "protocols", "all", "speakerd"])?;
        if out.contains("Received: Administrative shutdown") {
            Ok(out)
        } else {
            Err(out)
        }
    });
}

/// Bad input from one neighbour: a speaker that sends a malformed UPDATE (its Withdrawn Routes
/// Length runs past the message) gets NOTIFICATION 3/1 (Malformed Attribute List, RFC 4271
/// §6.3) and its session goes down, while speakerd goes on serving the BIRD beside it: that
/// session stays Established and its route stays installed.
#[test]
fn malformed_update_gets_a_notification_and_spares_the_other_neighbours() {
    let mut lab = Lab::new("garbage");
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let bird = star_bird(&mut lab, 1, &peers[0], &["198.19.100.0/24"], "");
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{}{}",
                star_neighbor(1, ""),
                star_neighbor(2, "passive = true")
            ),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.1.2");
    wait_route(&lab, &sd, "198.19.100.0/24", &["198.18.1.2"]);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/wire/adversary.py");
    let asn = PEER_AS.to_string();
    let answer = lab
        .exec(
            &peers[1],
            "python3",
            &[
                script,
                "198.18.2.1",
                "198.18.2.2",
                "withdrawn-overrun",
                "--asn",
                &asn,
            ],
        )
        .expect("the misbehaving neighbour ran");
    assert_eq!(answer.trim(), "NOTIFICATION 3 1", "{answer}");
    let sent = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.2.2\"", "code=\"3\"", "subcode=\"1\""],
        )
        .unwrap();
    assert_eq!(sent, 1.0);
    holds_for(
        "the other neighbour is unaffected",
        Duration::from_secs(3),
        || {
            lab.speakerd_established(&sd, "198.18.1.2")?;
            bird.established("speakerd")?;
            match lab.kernel_route(&sd, "198.19.100.0/24") {
                Some(_) => Ok(()),
                None => Err("the BIRD's route left the kernel".into()),
            }
        },
    );
    assert!(lab.exited("speakerd").is_none(), "speakerd exited");
}
