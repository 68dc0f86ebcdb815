//! Snapshots for MRT dumps: the Adj-RIB-In of every neighbour (pre-policy with soft
//! reconfiguration inbound, else what the RIB keeps) and the Loc-RIB.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{AsPath, Family, FamilySet, Nlri, Origin, PathAttributes, Prefix, Update};
use rib::{
    Match, PeerConfig, PeerId, Policy, PrefixMatch, Rib, RibConfig, RibSnapshot, SetAction,
    SnapshotKind, Term, Verdict,
};

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn update(path: &[u32], next_hop: &str, prefixes: &[&str]) -> Update {
    let mut u = Update::default();
    u.attributes.origin = Some(Origin::Igp);
    u.attributes.as_path = Some(AsPath::from_sequence(path.to_vec()));
    u.attributes.next_hop = Some(v4(next_hop));
    u.nlri = prefixes.iter().map(|p| Nlri::new(prefix(p))).collect();
    u
}

/// Accepts everything but `rejected`, and sets LOCAL_PREF 300 on what it accepts.
fn import(rejected: &str) -> Vec<Arc<Policy>> {
    let drop = Term {
        name: "drop".into(),
        matches: vec![Match::PrefixList(vec![PrefixMatch {
            prefix: prefix(rejected),
            ge: None,
            le: None,
        }])],
        actions: Vec::new(),
        verdict: Verdict::Reject,
        allow_protected: false,
    };
    let set = Term {
        name: "set".into(),
        matches: Vec::new(),
        actions: vec![SetAction::LocalPref(300)],
        verdict: Verdict::Accept,
        allow_protected: false,
    };
    let mut policy = Policy::accept_all("in");
    policy.terms = vec![drop, set];
    vec![Arc::new(policy)]
}

/// Two neighbours (soft reconfiguration on the first) and one prefix of our own.
fn rib() -> (Rib, PeerId, PeerId) {
    let mut rib = Rib::new(RibConfig::new(65000, v4("198.18.0.254")));
    let mut soft = PeerConfig::new(IpAddr::V4(v4("198.18.1.1")), 65001);
    soft.import = import("198.18.20.0/24");
    soft.soft_reconfiguration_inbound = true;
    let soft = rib.add_peer(soft);
    let mut plain = PeerConfig::new(IpAddr::V4(v4("198.18.2.1")), 65002);
    plain.import = import("198.18.21.0/24");
    let plain = rib.add_peer(plain);
    let families = FamilySet::of(&[Family::IPV4_UNICAST]);
    rib.peer_up(soft, v4("198.18.1.1"), true, families);
    rib.peer_up(plain, v4("198.18.2.1"), true, families);
    rib.apply_update(
        soft,
        &update(
            &[65001],
            "198.18.1.1",
            &["198.18.10.0/24", "198.18.20.0/24"],
        ),
    )
    .unwrap();
    rib.apply_update(
        plain,
        &update(
            &[65002, 65100],
            "198.18.2.1",
            &["198.18.10.0/24", "198.18.21.0/24", "198.18.22.0/24"],
        ),
    )
    .unwrap();
    rib.originate(
        prefix("198.18.30.0/24"),
        PathAttributes::default(),
        IpAddr::V4(v4("198.18.0.254")),
    );
    rib.run_decision();
    (rib, soft, plain)
}

/// The snapshot's paths as (prefix, peer, first AS, LOCAL_PREF) for comparing.
fn paths(s: &RibSnapshot) -> BTreeSet<(String, u32, u32, Option<u32>)> {
    s.paths
        .iter()
        .map(|p| {
            let a = &s.attrs[p.attrs as usize].attrs;
            let first = a.as_path.as_ref().and_then(AsPath::first_as).unwrap_or(0);
            (p.prefix.to_string(), p.peer.0, first, a.local_pref)
        })
        .collect()
}

#[test]
fn adj_rib_in_is_pre_policy_with_soft_reconfiguration_and_kept_routes_otherwise() {
    let (rib, soft, plain) = rib();
    let snapshot = rib.snapshot(SnapshotKind::AdjRibIn);
    let expected: BTreeSet<_> = [
        // As received: the rejected route too, and no LOCAL_PREF from the policy.
        ("198.18.10.0/24", soft.0, 65001, None),
        ("198.18.20.0/24", soft.0, 65001, None),
        // What the RIB keeps: policy applied, the rejected route gone.
        ("198.18.10.0/24", plain.0, 65002, Some(300)),
        ("198.18.22.0/24", plain.0, 65002, Some(300)),
    ]
    .into_iter()
    .map(|(p, peer, first, lp)| (p.to_string(), peer, first, lp))
    .collect();
    assert_eq!(paths(&snapshot), expected);
    assert_eq!(snapshot.paths.len(), 4, "no path twice");
    // One set per distinct attributes: the soft neighbour's two routes share theirs.
    assert_eq!(snapshot.attrs.len(), 2);
    assert!(snapshot.paths.iter().all(|p| p.path_id == 0));
}

#[test]
fn loc_rib_is_the_selected_paths_with_our_own() {
    let (rib, soft, plain) = rib();
    let snapshot = rib.snapshot(SnapshotKind::LocRib);
    let expected: BTreeSet<_> = [
        // Both with LOCAL_PREF 300; the shorter AS_PATH wins.
        ("198.18.10.0/24", soft.0, 65001, Some(300)),
        ("198.18.22.0/24", plain.0, 65002, Some(300)),
        ("198.18.30.0/24", PeerId::LOCAL.0, 0, None),
    ]
    .into_iter()
    .map(|(p, peer, first, lp)| (p.to_string(), peer, first, lp))
    .collect();
    assert_eq!(paths(&snapshot), expected);
    for p in &snapshot.paths {
        let selected = rib.lookup(&p.prefix).expect("selected");
        assert_eq!(selected.best.peer, p.peer);
        assert_eq!(*selected.best.attrs, *snapshot.attrs[p.attrs as usize]);
    }
}
