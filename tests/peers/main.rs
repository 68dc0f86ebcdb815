//! speakerd against real BGP implementations (BIRD 2, GoBGP, FRR), each in its own network
//! namespace joined by veth pairs: the scenarios beyond the interop matrix of `interop.rs`
//! (ECMP, nexthop objects, soft reconfiguration, ADD-PATH, GTSM, restarts with deferral, hold
//! timer, drain, malformed input). Run as root (CI does); a missing peer binary fails the test.
//!
//! Addressing: speakerd is 198.18.N.1 (2001:db8:N::1), a peer 198.18.N.2 (2001:db8:N::2);
//! speakerd originates 198.19.1.0/24 (2001:db8:1001::/48), peers announce 198.19.100.0/24 and up
//! (2001:db8:2001::/48). speakerd is AS 4200000001, eBGP peers AS 4200000002.

#[path = "../lab/mod.rs"]
mod lab;

mod ecmp;
mod failure;
mod families;
mod faults;
mod kernel;
mod long_lived;
mod operator;
mod policy;
mod restart;
mod security;

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

/// BIRD in `peer` announcing `routes` over IPv4 to speakerd in `sd` (with our prefix when
/// `own_prefix`), the most common start: both Established, every route in speakerd's RIB.
fn bird_and_speakerd(
    lab: &mut Lab,
    (sd, peer): (&str, &str),
    routes: &[&str],
    own_prefix: bool,
) -> Bird {
    let bird = lab.bird(
        "bird",
        peer,
        &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", routes, ""),
    );
    let neighbor = sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", "");
    let own = if own_prefix { SD_PREFIX_V4 } else { "" };
    lab.speakerd(
        "speakerd",
        sd,
        &speakerd_conf("198.18.0.1", &format!("{own}{neighbor}")),
    );
    wait_established(lab, sd, &bird, "198.18.0.2");
    for r in routes {
        wait_route(lab, sd, r, &["198.18.0.2"]);
    }
    bird
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

/// speakerd's paths of `prefix` (`show route PREFIX`).
fn paths(lab: &Lab, ns: &str, prefix: &str) -> Result<Vec<Value>, String> {
    let v = lab.show(ns, &["route", prefix])?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// How many times the `ip monitor route` log `monitor` (a [`Lab::route_monitor`]) saw `prefix`
/// deleted.
fn deletions(lab: &Lab, monitor: &str, prefix: &str) -> usize {
    lab.log(monitor)
        .matches(&format!("Deleted {prefix}"))
        .count()
}

/// Asserts the route monitor `monitor` never saw `prefix` leave the kernel.
fn assert_never_deleted(lab: &Lab, monitor: &str, prefix: &str) {
    assert_eq!(
        deletions(lab, monitor, prefix),
        0,
        "{prefix} left the kernel: {}",
        lab.log(monitor)
    );
}
