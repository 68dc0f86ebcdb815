//! End-to-end checks of the RIB through its public API: UPDATE in, decision, changes out.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{AsPath, Family, FamilySet, Nlri, Origin, Update};
use rib::{DecisionStep, PathStatus, PeerConfig, PeerId, Policy, Rib, RibConfig, RouteChange};

/// The families of an IPv4 session (RFC 4760 §8).
fn ipv4_session() -> FamilySet {
    FamilySet::of(&[Family::IPV4_UNICAST])
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn update(path: &[u32], next_hop: &str, prefixes: &[&str]) -> Update {
    let mut u = Update::default();
    u.attributes.origin = Some(Origin::Igp);
    u.attributes.as_path = Some(AsPath::from_sequence(path.to_vec()));
    u.attributes.next_hop = Some(v4(next_hop));
    u.nlri = prefixes
        .iter()
        .map(|p| Nlri::new(p.parse().unwrap()))
        .collect();
    u
}

fn ebgp_peer(rib: &mut Rib, addr: &str, asn: u32) -> PeerId {
    let mut config = PeerConfig::new(IpAddr::V4(v4(addr)), asn);
    config.import = vec![Arc::new(Policy::accept_all("all"))];
    let id = rib.add_peer(config);
    rib.peer_up(id, v4(addr), true, ipv4_session());
    id
}

fn change_for<'a>(changes: &'a [RouteChange], prefix: &str) -> &'a RouteChange {
    let prefix = prefix.parse().unwrap();
    changes
        .iter()
        .find(|c| c.prefix == prefix)
        .expect("a change for the prefix")
}

#[test]
fn two_equal_ebgp_paths_from_the_same_as_make_an_ecmp_pair_and_shorter_path_wins() {
    let mut rib = Rib::new(RibConfig::new(65000, v4("198.18.0.1")));
    let a = ebgp_peer(&mut rib, "198.18.1.1", 65001);
    let b = ebgp_peer(&mut rib, "198.18.2.1", 65001);
    rib.apply_update(
        a,
        &update(&[65001, 65100], "198.18.1.1", &["10.244.1.0/24"]),
    )
    .unwrap();
    rib.apply_update(
        b,
        &update(&[65001, 65100], "198.18.2.1", &["10.244.1.0/24"]),
    )
    .unwrap();
    let first = rib.run_decision();
    assert_eq!(first.len(), 1, "one decision per prefix per batch");
    let hops: Vec<IpAddr> = change_for(&first, "10.244.1.0/24")
        .next_hops
        .iter()
        .map(|h| h.address)
        .collect();
    assert_eq!(
        hops,
        vec![IpAddr::V4(v4("198.18.1.1")), IpAddr::V4(v4("198.18.2.1"))]
    );

    // b now offers a shorter path: it alone wins, and a lost at the AS path step.
    rib.apply_update(b, &update(&[65001], "198.18.2.1", &["10.244.1.0/24"]))
        .unwrap();
    let changes = rib.run_decision();
    let change = change_for(&changes, "10.244.1.0/24");
    assert_eq!(change.best.as_ref().unwrap().peer, b);
    assert_eq!(change.next_hops.len(), 1);
    let explained = rib.explain(&"10.244.1.0/24".parse().unwrap());
    let a_status = explained.iter().find(|p| p.peer == a).unwrap().status;
    assert_eq!(a_status, PathStatus::Lost(DecisionStep::AsPathLength));

    // Withdrawing everything empties the RIB and, once nobody holds them, the interner.
    drop((first, changes, explained));
    let w = Update {
        withdrawn: vec![Nlri::new("10.244.1.0/24".parse().unwrap())],
        ..Update::default()
    };
    rib.apply_update(a, &w).unwrap();
    rib.apply_update(b, &w).unwrap();
    let last = rib.run_decision();
    assert!(change_for(&last, "10.244.1.0/24").next_hops.is_empty());
    drop(last);
    let stats = rib.stats();
    assert_eq!(
        (stats.prefixes, stats.paths, stats.attribute_sets),
        (0, 0, 0)
    );
}

#[test]
fn ebgp_without_import_policy_accepts_nothing() {
    let mut rib = Rib::new(RibConfig::new(65000, v4("198.18.0.1")));
    let peer = rib.add_peer(PeerConfig::new(IpAddr::V4(v4("198.18.1.1")), 65001));
    rib.peer_up(peer, v4("198.18.1.1"), true, ipv4_session());
    let outcome = rib
        .apply_update(peer, &update(&[65001], "198.18.1.1", &["10.244.1.0/24"]))
        .unwrap();
    assert_eq!(outcome.accepted, 0);
    assert!(rib.run_decision().is_empty());
    assert_eq!(rib.stats().attribute_sets, 0);
}

#[test]
fn graceful_restart_keeps_stale_paths_until_end_of_rib() {
    let mut rib = Rib::new(RibConfig::new(65000, v4("198.18.0.1")));
    let a = ebgp_peer(&mut rib, "198.18.1.1", 65001);
    rib.apply_update(
        a,
        &update(&[65001], "198.18.1.1", &["10.244.1.0/24", "10.244.2.0/24"]),
    )
    .unwrap();
    rib.run_decision();
    rib.peer_down(a, &[Family::IPV4_UNICAST]);
    assert!(rib.run_decision().is_empty(), "stale paths still forward");
    rib.peer_up(a, v4("198.18.1.1"), true, ipv4_session());
    rib.apply_update(a, &update(&[65001], "198.18.1.1", &["10.244.1.0/24"]))
        .unwrap();
    assert!(
        rib.run_decision().is_empty(),
        "refreshed with the same attributes"
    );
    rib.end_of_rib(a, Family::IPV4_UNICAST);
    let changes = rib.run_decision();
    assert_eq!(changes.len(), 1);
    assert!(change_for(&changes, "10.244.2.0/24").best.is_none());
    assert_eq!(rib.stats().paths, 1);
}
