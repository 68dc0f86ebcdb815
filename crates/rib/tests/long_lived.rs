//! Long-lived graceful restart in the RIB (RFC 9494 §4.2-§4.4): routes kept past the restart
//! time carry LLGR_STALE, lose to every other route, go only to neighbours that advertised the
//! capability, NO_LLGR routes are not kept, and the stale time or End-of-RIB removes them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{AsPath, Community, Family, FamilySet, Nlri, Origin, Prefix, Update};
use rib::{DecisionStep, PathStatus, PeerConfig, PeerId, Policy, Rib, RibConfig};

const LOCAL_AS: u32 = 65000;
const V4: Family = Family::IPV4_UNICAST;

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn ipv4_only() -> FamilySet {
    FamilySet::of(&[V4])
}

/// An UPDATE from `asn` at `next_hop` for `prefixes`, with `communities`.
fn update(asn: u32, next_hop: &str, prefixes: &[&str], communities: &[Community]) -> Update {
    let mut u = Update::default();
    u.attributes.origin = Some(Origin::Igp);
    u.attributes.as_path = Some(AsPath::from_sequence(vec![asn]));
    u.attributes.next_hop = Some(v4(next_hop));
    u.attributes.communities = communities.to_vec();
    u.nlri = prefixes.iter().map(|p| Nlri::new(prefix(p))).collect();
    u
}

fn neighbour(rib: &mut Rib, addr: &str, asn: u32, long_lived: bool) -> PeerId {
    let mut config = PeerConfig::new(IpAddr::V4(v4(addr)), asn);
    config.import = vec![Arc::new(Policy::accept_all("in"))];
    config.export = vec![Arc::new(Policy::accept_all("out"))];
    config.local_ipv4 = Some(v4("198.18.0.1"));
    let id = rib.add_peer(config);
    if long_lived {
        rib.set_long_lived(id, ipv4_only());
    }
    rib.peer_up(id, v4(addr), true, ipv4_only());
    id
}

/// What `to` is sent for `p`: `Some(communities)` when announced, `None` when withdrawn,
/// absent when nothing is queued for it.
fn sent(rib: &mut Rib, to: PeerId, p: &str) -> Option<Option<Vec<Community>>> {
    rib.take_updates(to)
        .into_iter()
        .filter(|u| u.prefixes.contains(&prefix(p)))
        .map(|u| u.attrs.map(|a| a.attrs.communities.clone()))
        .next_back()
}

#[test]
fn past_the_restart_time_routes_carry_llgr_stale_and_lose_to_any_other() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4("198.18.0.1")));
    let tor = neighbour(&mut rib, "198.18.1.1", 65001, false);
    let other = neighbour(&mut rib, "198.18.2.1", 65002, false);
    let helper = neighbour(&mut rib, "198.18.3.1", 65003, true);
    let plain = neighbour(&mut rib, "198.18.4.1", 65004, false);
    // The ToR has the better path (shorter AS path) to 10.244.1.0/24; only it has /2 and /3.
    rib.apply_update(
        tor,
        &update(
            65001,
            "198.18.1.1",
            &["10.244.1.0/24", "10.244.2.0/24"],
            &[],
        ),
    )
    .unwrap();
    rib.apply_update(
        tor,
        &update(
            65001,
            "198.18.1.1",
            &["10.244.3.0/24"],
            &[Community::NO_LLGR],
        ),
    )
    .unwrap();
    let mut longer = update(65002, "198.18.2.1", &["10.244.1.0/24"], &[]);
    longer.attributes.as_path = Some(AsPath::from_sequence(vec![65002, 65102, 65202]));
    rib.apply_update(other, &longer).unwrap();
    rib.run_decision();
    assert_eq!(rib.lookup(&prefix("10.244.1.0/24")).unwrap().best.peer, tor);
    for to in [helper, plain] {
        rib.take_updates(to);
    }

    // The session drops with graceful restart: kept stale (a fresh route wins over it), and
    // still the only route to /2.
    rib.peer_down(tor, &[V4]);
    rib.run_decision();
    assert_eq!(rib.lookup(&prefix("10.244.2.0/24")).unwrap().best.peer, tor);
    assert_eq!(rib.accepted_count(tor, V4), 3);
    for to in [helper, plain] {
        rib.take_updates(to);
    }

    // The restart time runs out: long-lived stale.
    rib.enter_long_lived_stale(tor, V4);
    rib.run_decision();
    // §4.2: the NO_LLGR route is not kept.
    assert!(rib.lookup(&prefix("10.244.3.0/24")).is_none());
    assert_eq!(rib.accepted_count(tor, V4), 2);
    // §4.3/§4.4: least preferred, whatever the later steps say.
    let best = rib.lookup(&prefix("10.244.1.0/24")).unwrap();
    assert_eq!(best.best.peer, other);
    let explained = rib.explain(&prefix("10.244.1.0/24"));
    let stale = explained.iter().find(|p| p.peer == tor).unwrap();
    assert!(stale.stale);
    assert!(stale
        .attrs
        .attrs
        .communities
        .contains(&Community::LLGR_STALE));
    assert_eq!(stale.status, PathStatus::Lost(DecisionStep::LongLivedStale));
    // Still a route where it is the only one: kept in the kernel and sent with LLGR_STALE to
    // the neighbour with the capability, withdrawn from the one without (§4.3).
    let only = rib.lookup(&prefix("10.244.2.0/24")).unwrap();
    assert_eq!(only.best.peer, tor);
    assert_eq!(
        sent(&mut rib, helper, "10.244.2.0/24"),
        Some(Some(vec![Community::LLGR_STALE]))
    );
    assert_eq!(sent(&mut rib, plain, "10.244.2.0/24"), Some(None));

    // The long-lived stale time runs out: gone.
    rib.flush_stale(tor, Some(V4));
    rib.run_decision();
    assert!(rib.lookup(&prefix("10.244.2.0/24")).is_none());
    assert_eq!(rib.accepted_count(tor, V4), 0);
    assert_eq!(
        rib.lookup(&prefix("10.244.1.0/24")).unwrap().best.peer,
        other
    );
}

#[test]
fn a_route_received_with_llgr_stale_is_least_preferred_and_kept_from_neighbours_without_it() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4("198.18.0.1")));
    let a = neighbour(&mut rib, "198.18.1.1", 65001, false);
    let b = neighbour(&mut rib, "198.18.2.1", 65002, false);
    let helper = neighbour(&mut rib, "198.18.3.1", 65003, true);
    let plain = neighbour(&mut rib, "198.18.4.1", 65004, false);
    rib.apply_update(
        a,
        &update(
            65001,
            "198.18.1.1",
            &["10.244.1.0/24"],
            &[Community::LLGR_STALE],
        ),
    )
    .unwrap();
    let mut longer = update(65002, "198.18.2.1", &["10.244.1.0/24"], &[]);
    longer.attributes.as_path = Some(AsPath::from_sequence(vec![65002, 65102, 65202]));
    longer.attributes.local_pref = None;
    rib.apply_update(b, &longer).unwrap();
    rib.run_decision();
    assert_eq!(rib.lookup(&prefix("10.244.1.0/24")).unwrap().best.peer, b);
    let explained = rib.explain(&prefix("10.244.1.0/24"));
    let from_a = explained.iter().find(|p| p.peer == a).unwrap();
    assert_eq!(
        from_a.status,
        PathStatus::Lost(DecisionStep::LongLivedStale)
    );
    assert_eq!(sent(&mut rib, plain, "10.244.1.0/24"), Some(Some(vec![])));
    rib.take_updates(helper);
    // Once b withdraws, a's is best: to the helper with the community, not to the other.
    let withdraw = Update {
        withdrawn: vec![Nlri::new(prefix("10.244.1.0/24"))],
        ..Update::default()
    };
    rib.apply_update(b, &withdraw).unwrap();
    rib.run_decision();
    assert_eq!(rib.lookup(&prefix("10.244.1.0/24")).unwrap().best.peer, a);
    assert_eq!(
        sent(&mut rib, helper, "10.244.1.0/24"),
        Some(Some(vec![Community::LLGR_STALE]))
    );
    assert_eq!(sent(&mut rib, plain, "10.244.1.0/24"), Some(None));
}

#[test]
fn end_of_rib_after_the_session_returns_removes_what_was_not_sent_again() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4("198.18.0.1")));
    let tor = neighbour(&mut rib, "198.18.1.1", 65001, false);
    rib.apply_update(
        tor,
        &update(
            65001,
            "198.18.1.1",
            &["10.244.1.0/24", "10.244.2.0/24"],
            &[],
        ),
    )
    .unwrap();
    rib.run_decision();
    rib.peer_down(tor, &[V4]);
    rib.enter_long_lived_stale(tor, V4);
    rib.run_decision();
    // A second failure before the first restart is over keeps the long-lived stale paths
    // (RFC 9494 §4.2), even when this session keeps nothing.
    rib.peer_up(tor, v4("198.18.1.1"), true, ipv4_only());
    rib.peer_down(tor, &[]);
    rib.run_decision();
    assert_eq!(rib.accepted_count(tor, V4), 2);
    // Back: it sends /1 again, fresh, without the community; End-of-RIB removes /2.
    rib.peer_up(tor, v4("198.18.1.1"), true, ipv4_only());
    rib.apply_update(tor, &update(65001, "198.18.1.1", &["10.244.1.0/24"], &[]))
        .unwrap();
    rib.end_of_rib(tor, V4);
    rib.run_decision();
    let best = rib.lookup(&prefix("10.244.1.0/24")).unwrap();
    assert!(!best
        .best
        .attrs
        .attrs
        .communities
        .contains(&Community::LLGR_STALE));
    assert!(rib.lookup(&prefix("10.244.2.0/24")).is_none());
    assert_eq!(rib.accepted_count(tor, V4), 1);
}
