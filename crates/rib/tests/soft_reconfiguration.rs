//! Soft reconfiguration inbound: a neighbour's routes kept as received (pre-policy Adj-RIB-In,
//! RFC 4271 §3.2) and re-run through a new import policy without a route refresh (RFC 2918).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{AsPath, Family, FamilySet, Nlri, Origin, Prefix, Update};
use rib::{
    Match, MaxPrefix, PeerConfig, PeerId, Policy, PrefixMatch, RejectReason, Rib, RibConfig, Term,
    Verdict,
};

const ACCEPTED_FIRST: &str = "10.244.1.0/24";
const REJECTED_FIRST: &str = "10.244.2.0/24";

/// The families of an IPv4 session (RFC 4760 §8).
fn ipv4_session() -> FamilySet {
    FamilySet::of(&[Family::IPV4_UNICAST])
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn update(prefixes: &[&str]) -> Update {
    let mut u = Update::default();
    u.attributes.origin = Some(Origin::Igp);
    u.attributes.as_path = Some(AsPath::from_sequence(vec![65001, 65100]));
    u.attributes.next_hop = Some(v4("198.18.1.1"));
    u.nlri = prefixes.iter().map(|p| Nlri::new(prefix(p))).collect();
    u
}

fn withdrawal(prefixes: &[&str]) -> Update {
    Update {
        withdrawn: prefixes.iter().map(|p| Nlri::new(prefix(p))).collect(),
        ..Update::default()
    }
}

/// An import policy that rejects `rejected` and accepts everything else.
fn rejecting(rejected: &str) -> Vec<Arc<Policy>> {
    let term = Term {
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
    let mut policy = Policy::accept_all("in");
    policy.terms.insert(0, term);
    vec![Arc::new(policy)]
}

fn rib_with(soft: bool, import: Vec<Arc<Policy>>) -> (Rib, PeerId) {
    let mut rib = Rib::new(RibConfig::new(65000, v4("198.18.0.1")));
    let mut config = PeerConfig::new(IpAddr::V4(v4("198.18.1.1")), 65001);
    config.import = import;
    config.soft_reconfiguration_inbound = soft;
    config.max_prefix = vec![MaxPrefix {
        family: Family::IPV4_UNICAST,
        limit: 2,
        warning_percent: 100,
    }];
    let peer = rib.add_peer(config);
    rib.peer_up(peer, v4("198.18.1.1"), true, ipv4_session());
    (rib, peer)
}

fn selected(rib: &Rib, p: &str) -> bool {
    rib.lookup(&prefix(p)).is_some()
}

#[test]
fn a_policy_change_accepts_a_rejected_route_and_rejects_an_accepted_one_without_refresh() {
    let (mut rib, peer) = rib_with(true, rejecting(REJECTED_FIRST));
    rib.apply_update(peer, &update(&[ACCEPTED_FIRST, REJECTED_FIRST]))
        .unwrap();
    rib.run_decision();
    assert!(selected(&rib, ACCEPTED_FIRST));
    assert!(!selected(&rib, REJECTED_FIRST));
    let rejected = rib.rejected(&prefix(REJECTED_FIRST));
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(
        (rejected[0].peer, rejected[0].reason),
        (peer, RejectReason::Policy)
    );
    assert!(rib.rejected(&prefix(ACCEPTED_FIRST)).is_empty());

    rib.set_policies(peer, rejecting(ACCEPTED_FIRST), Vec::new());
    let outcome = rib.reimport(peer).unwrap();
    assert_eq!(outcome.accepted, 1);
    assert_eq!(outcome.rejected, vec![(RejectReason::Policy, 1)]);
    let changes = rib.run_decision();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(selected(&rib, REJECTED_FIRST));
    assert!(!selected(&rib, ACCEPTED_FIRST));
    assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST), 1);
    assert_eq!(rib.rejected(&prefix(ACCEPTED_FIRST)).len(), 1);
    assert!(rib.rejected(&prefix(REJECTED_FIRST)).is_empty());
}

#[test]
fn without_soft_reconfiguration_a_policy_change_waits_for_the_routes_to_come_again() {
    let (mut rib, peer) = rib_with(false, rejecting(REJECTED_FIRST));
    rib.apply_update(peer, &update(&[ACCEPTED_FIRST, REJECTED_FIRST]))
        .unwrap();
    rib.run_decision();
    rib.set_policies(peer, rejecting(ACCEPTED_FIRST), Vec::new());
    assert_eq!(rib.reimport(peer).unwrap(), Default::default());
    assert!(rib.run_decision().is_empty());
    assert!(selected(&rib, ACCEPTED_FIRST));
    assert!(rib.rejected(&prefix(REJECTED_FIRST)).is_empty());
    // What a route refresh would bring applies the new policy.
    rib.apply_update(peer, &update(&[ACCEPTED_FIRST, REJECTED_FIRST]))
        .unwrap();
    rib.run_decision();
    assert!(selected(&rib, REJECTED_FIRST));
    assert!(!selected(&rib, ACCEPTED_FIRST));
}

#[test]
fn kept_routes_share_the_attribute_sets_and_go_with_their_withdrawal() {
    let (mut rib, peer) = rib_with(true, vec![Arc::new(Policy::accept_all("in"))]);
    rib.apply_update(peer, &update(&[ACCEPTED_FIRST, REJECTED_FIRST]))
        .unwrap();
    rib.run_decision();
    assert_eq!(
        rib.stats().attribute_sets,
        1,
        "an unchanged route shares its set with the accepted path"
    );
    rib.set_policies(peer, rejecting(REJECTED_FIRST), Vec::new());
    rib.reimport(peer).unwrap();
    rib.run_decision();
    // A withdrawn route is forgotten, accepted or not: a later policy does not bring it back.
    rib.apply_update(peer, &withdrawal(&[ACCEPTED_FIRST, REJECTED_FIRST]))
        .unwrap();
    rib.set_policies(peer, vec![Arc::new(Policy::accept_all("in"))], Vec::new());
    let outcome = rib.reimport(peer).unwrap();
    assert_eq!(outcome.accepted, 0);
    rib.run_decision();
    let stats = rib.stats();
    assert_eq!(
        (stats.prefixes, stats.paths, stats.attribute_sets),
        (0, 0, 0)
    );
}

#[test]
fn a_session_going_down_forgets_the_kept_routes() {
    let (mut rib, peer) = rib_with(true, rejecting(REJECTED_FIRST));
    rib.apply_update(peer, &update(&[ACCEPTED_FIRST, REJECTED_FIRST]))
        .unwrap();
    rib.run_decision();
    rib.peer_down(peer, &[]);
    rib.run_decision();
    assert_eq!(rib.stats().attribute_sets, 0);
    rib.set_policies(peer, vec![Arc::new(Policy::accept_all("in"))], Vec::new());
    assert_eq!(rib.reimport(peer).unwrap().accepted, 0);
}

#[test]
fn a_reimport_over_the_prefix_limit_is_reported() {
    let (mut rib, peer) = rib_with(true, rejecting(REJECTED_FIRST));
    rib.apply_update(
        peer,
        &update(&[ACCEPTED_FIRST, REJECTED_FIRST, "10.244.3.0/24"]),
    )
    .unwrap();
    rib.set_policies(peer, vec![Arc::new(Policy::accept_all("in"))], Vec::new());
    let exceeded = rib.reimport(peer).unwrap_err();
    assert_eq!((exceeded.limit, exceeded.count), (2, 3));
}
