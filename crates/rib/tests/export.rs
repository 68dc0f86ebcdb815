//! Export rules (RFC 4271 §5.1, §9.1.3), well-known communities (RFC 1997), route reflection
//! (RFC 4456) and the encoded UPDATEs a neighbour receives.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::{
    AsPath, Community, Family, FamilySet, Message, MpReach, NextHop, Nlri, Origin, PathAttributes,
    Prefix, SessionContext, Update,
};
use bytes::BytesMut;
use rib::{
    encode_updates, Match, OutgoingUpdate, PeerConfig, PeerId, Policy, PrefixMatch, Rib, RibConfig,
    SetAction, Term, Verdict, ADD_PATH_ALL,
};

const LOCAL_AS: u32 = 65000;

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn learned(path: &[u32], next_hop: &str, med: Option<u32>, communities: &[Community]) -> Update {
    let mut u = Update::default();
    u.attributes.origin = Some(Origin::Igp);
    u.attributes.as_path = Some(AsPath::from_sequence(path.to_vec()));
    u.attributes.next_hop = Some(v4(next_hop));
    u.attributes.med = med;
    u.attributes.local_pref = Some(200);
    u.attributes.communities = communities.to_vec();
    u.nlri = vec![Nlri::new(prefix("10.244.1.0/24"))];
    u
}

struct Lab {
    rib: Rib,
}

impl Lab {
    fn new() -> Self {
        Self {
            rib: Rib::new(RibConfig::new(LOCAL_AS, v4("198.18.0.1"))),
        }
    }

    fn peer(&mut self, addr: &str, asn: u32, rr_client: bool, export_policy: bool) -> PeerId {
        let mut config = PeerConfig::new(IpAddr::V4(v4(addr)), asn);
        config.import = vec![Arc::new(Policy::accept_all("in"))];
        if export_policy {
            config.export = vec![Arc::new(Policy::accept_all("out"))];
        }
        config.rr_client = rr_client;
        config.local_ipv4 = Some(v4("198.18.0.1"));
        let id = self.rib.add_peer(config);
        self.rib
            .peer_up(id, v4(addr), true, FamilySet::of(&[Family::IPV4_UNICAST]));
        id
    }

    fn announce(&mut self, from: PeerId, update: &Update) {
        self.rib.apply_update(from, update).unwrap();
        self.rib.run_decision();
    }

    /// What `to` would be sent for 10.244.1.0/24: `Some(update)` announced, `None` nothing.
    fn sent_to(&mut self, to: PeerId) -> Option<Update> {
        let updates = self.rib.take_updates(to);
        let announced: Vec<&OutgoingUpdate> =
            updates.iter().filter(|u| u.attrs.is_some()).collect();
        if announced.is_empty() {
            return None;
        }
        let ibgp = self.rib.peer_info(to).unwrap().ibgp;
        let ctx = SessionContext {
            ibgp,
            ..SessionContext::modern_ebgp()
        };
        let mut out = BytesMut::new();
        encode_updates(&updates, ctx, &mut out).unwrap();
        let frame = out.freeze();
        match Message::decode(frame, &ctx).unwrap() {
            Message::Update(u) => Some(u),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn ebgp_export_prepends_sets_next_hop_self_and_drops_local_pref_and_foreign_med() {
    let mut lab = Lab::new();
    let from = lab.peer("198.18.1.1", 65001, false, true);
    let to = lab.peer("198.18.2.1", 65002, false, true);
    lab.announce(from, &learned(&[65001, 65100], "198.18.1.1", Some(50), &[]));
    let sent = lab.sent_to(to).expect("exported");
    let a = &sent.attributes;
    assert_eq!(
        a.as_path,
        Some(AsPath::from_sequence(vec![LOCAL_AS, 65001, 65100]))
    );
    assert_eq!(a.next_hop, Some(v4("198.18.0.1")));
    assert_eq!(a.local_pref, None);
    assert_eq!(a.med, None);
    assert_eq!(sent.nlri, vec![Nlri::new(prefix("10.244.1.0/24"))]);
    // Never back to the neighbour it came from.
    assert!(lab.sent_to(from).is_none());
}

/// What waits in the Adj-RIB-Out is counted per prefix until the session takes it, the
/// announcement and then the withdrawal alike (`bgp_peer_routes_pending_out`).
#[test]
fn pending_changes_are_counted_until_taken() {
    let mut lab = Lab::new();
    let from = lab.peer("198.18.1.1", 65001, false, true);
    let to = lab.peer("198.18.2.1", 65002, false, true);
    assert_eq!(lab.rib.pending_count(to), 0);
    lab.announce(from, &learned(&[65001], "198.18.1.1", None, &[]));
    assert_eq!(lab.rib.pending_count(to), 1);
    assert_eq!(
        lab.rib.pending_count(from),
        0,
        "not back to where it came from"
    );
    assert!(lab.sent_to(to).is_some());
    assert_eq!(lab.rib.pending_count(to), 0);
    let withdrawal = Update {
        withdrawn: vec![Nlri::new(prefix("10.244.1.0/24"))],
        ..Update::default()
    };
    lab.announce(from, &withdrawal);
    assert_eq!(lab.rib.pending_count(to), 1, "the withdrawal waits");
    lab.rib.take_updates(to);
    assert_eq!(lab.rib.pending_count(to), 0);
}

#[test]
fn rfc8212_nothing_goes_to_an_external_neighbour_without_export_policy() {
    let mut lab = Lab::new();
    let from = lab.peer("198.18.1.1", 65001, false, true);
    let to = lab.peer("198.18.2.1", 65002, false, false);
    lab.announce(from, &learned(&[65001], "198.18.1.1", None, &[]));
    assert!(lab.sent_to(to).is_none());
}

#[test]
fn well_known_communities_are_honoured() {
    let mut lab = Lab::new();
    let from = lab.peer("198.18.1.1", 65001, false, true);
    let external = lab.peer("198.18.2.1", 65002, false, true);
    let internal = lab.peer("198.18.3.1", LOCAL_AS, false, false);
    lab.announce(
        from,
        &learned(&[65001], "198.18.1.1", None, &[Community::NO_EXPORT]),
    );
    assert!(lab.sent_to(external).is_none());
    let sent = lab
        .sent_to(internal)
        .expect("NO_EXPORT still goes inside the AS");
    // The LOCAL_PREF 200 the eBGP neighbour sent is ignored (RFC 4271 §5.1.5): ours, the
    // default, goes inside the AS.
    assert_eq!(sent.attributes.local_pref, Some(100));
    // iBGP: next hop unchanged (RFC 4271 §5.1.3), no prepend.
    assert_eq!(sent.attributes.next_hop, Some(v4("198.18.1.1")));
    assert_eq!(
        sent.attributes.as_path,
        Some(AsPath::from_sequence(vec![65001]))
    );

    lab.announce(
        from,
        &learned(&[65001], "198.18.1.1", None, &[Community::NO_ADVERTISE]),
    );
    assert!(lab.sent_to(internal).is_none() || lab.rib.advertised_count(internal) == 0);
}

#[test]
fn route_reflection_matrix() {
    // (source is client, target is client) -> reflected?
    for (source_client, target_client, reflected) in [
        (true, true, true),
        (true, false, true),
        (false, true, true),
        (false, false, false),
    ] {
        let mut lab = Lab::new();
        let source = lab.peer("198.18.1.1", LOCAL_AS, source_client, false);
        let target = lab.peer("198.18.2.1", LOCAL_AS, target_client, false);
        lab.announce(source, &learned(&[65100], "198.18.9.9", None, &[]));
        let sent = lab.sent_to(target);
        assert_eq!(sent.is_some(), reflected, "{source_client} {target_client}");
        if let Some(sent) = sent {
            assert_eq!(sent.attributes.originator_id, Some(v4("198.18.1.1")));
            assert_eq!(sent.attributes.cluster_list, vec![v4("198.18.0.1")]);
            assert_eq!(sent.attributes.next_hop, Some(v4("198.18.9.9")));
        }
    }
}

#[test]
fn local_routes_go_everywhere_with_our_next_hop_and_withdrawals_follow() {
    let mut lab = Lab::new();
    let external = lab.peer("198.18.2.1", 65002, false, true);
    let internal = lab.peer("198.18.3.1", LOCAL_AS, false, false);
    let attrs = bgp_proto::PathAttributes {
        communities: vec![Community::new(65000, 100)],
        ..Default::default()
    };
    lab.rib
        .originate(prefix("10.244.1.0/24"), attrs, IpAddr::V4(v4("198.18.0.1")));
    lab.rib.run_decision();
    let ext = lab.sent_to(external).unwrap();
    assert_eq!(
        ext.attributes.as_path,
        Some(AsPath::from_sequence(vec![LOCAL_AS]))
    );
    assert_eq!(ext.attributes.origin, Some(Origin::Igp));
    let int = lab.sent_to(internal).unwrap();
    assert_eq!(int.attributes.as_path, Some(AsPath::default()));
    assert_eq!(int.attributes.local_pref, Some(100));
    assert_eq!(lab.rib.advertised_count(external), 1);

    lab.rib.withdraw_originated(prefix("10.244.1.0/24"));
    lab.rib.run_decision();
    let updates = lab.rib.take_updates(external);
    assert_eq!(updates.len(), 1);
    assert!(updates[0].attrs.is_none());
    assert_eq!(updates[0].prefixes, vec![prefix("10.244.1.0/24")]);
    assert_eq!(lab.rib.advertised_count(external), 0);
}

#[test]
fn a_slow_peer_gets_only_the_latest_state_per_prefix() {
    let mut lab = Lab::new();
    let from = lab.peer("198.18.1.1", 65001, false, true);
    let to = lab.peer("198.18.2.1", 65002, false, true);
    for med in 0..100 {
        lab.announce(from, &learned(&[65001], "198.18.1.1", Some(med), &[]));
    }
    let updates = lab.rib.take_updates(to);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].prefixes.len(), 1);
    // Announce then withdraw before the peer reads: nothing at all is sent.
    let mut w = learned(&[65001], "198.18.1.1", None, &[]);
    w.nlri = vec![Nlri::new(prefix("10.244.2.0/24"))];
    lab.announce(from, &w);
    let withdraw = Update {
        withdrawn: w.nlri.clone(),
        ..Update::default()
    };
    lab.announce(from, &withdraw);
    assert!(lab.rib.take_updates(to).is_empty());
}

#[test]
fn route_refresh_readvertises_and_borr_eorr_flushes_what_was_not_resent() {
    let mut lab = Lab::new();
    let from = lab.peer("198.18.1.1", 65001, false, true);
    let to = lab.peer("198.18.2.1", 65002, false, true);
    lab.announce(from, &learned(&[65001], "198.18.1.1", None, &[]));
    assert!(lab.sent_to(to).is_some());
    assert!(lab.rib.take_updates(to).is_empty());
    // ROUTE-REFRESH from `to`: everything is queued again.
    lab.rib.readvertise(to, bgp_proto::Family::IPV4_UNICAST);
    let again = lab.rib.take_updates(to);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].prefixes, vec![prefix("10.244.1.0/24")]);
    // `from` re-sends with BoRR/EoRR but leaves the prefix out: it is withdrawn at EoRR.
    lab.rib.mark_stale(from, bgp_proto::Family::IPV4_UNICAST);
    assert!(lab.rib.run_decision().is_empty());
    lab.rib.end_of_rib(from, bgp_proto::Family::IPV4_UNICAST);
    let changes = lab.rib.run_decision();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].best.is_none());
}

#[test]
fn a_withdrawal_right_after_a_route_refresh_still_reaches_the_neighbour() {
    let mut lab = Lab::new();
    let external = lab.peer("198.18.2.1", 65002, false, true);
    lab.rib.originate(
        prefix("10.244.1.0/24"),
        Default::default(),
        IpAddr::V4(v4("198.18.0.1")),
    );
    lab.rib.run_decision();
    assert!(lab.sent_to(external).is_some());
    // The neighbour asks for a refresh; before the re-advertisement is taken, the prefix goes.
    lab.rib
        .readvertise(external, bgp_proto::Family::IPV4_UNICAST);
    lab.rib.withdraw_originated(prefix("10.244.1.0/24"));
    lab.rib.run_decision();
    let updates = lab.rib.take_updates(external);
    assert_eq!(updates.len(), 1);
    assert!(updates[0].attrs.is_none(), "{updates:?}");
    assert_eq!(updates[0].prefixes, vec![prefix("10.244.1.0/24")]);
}

#[test]
fn graceful_shutdown_re_sends_our_routes_with_the_community_and_prepends() {
    let mut lab = Lab::new();
    let external = lab.peer("198.18.2.1", 65002, false, true);
    let internal = lab.peer("198.18.3.1", LOCAL_AS, false, false);
    lab.rib.originate(
        prefix("10.244.1.0/24"),
        Default::default(),
        IpAddr::V4(v4("198.18.0.1")),
    );
    lab.rib.run_decision();
    assert!(lab.sent_to(external).is_some());
    assert!(lab.sent_to(internal).is_some());
    lab.rib.set_graceful_shutdown(Some(2));
    let ext = lab.sent_to(external).expect("re-sent while draining");
    assert!(ext
        .attributes
        .communities
        .contains(&Community::GRACEFUL_SHUTDOWN));
    assert_eq!(
        ext.attributes.as_path,
        Some(AsPath::from_sequence(vec![LOCAL_AS; 3]))
    );
    let int = lab.sent_to(internal).expect("re-sent inside the AS too");
    assert!(int
        .attributes
        .communities
        .contains(&Community::GRACEFUL_SHUTDOWN));
    assert_eq!(int.attributes.as_path, Some(AsPath::default()));
    lab.rib.set_graceful_shutdown(None);
    let back = lab.sent_to(external).expect("normal announcement again");
    assert!(back.attributes.communities.is_empty());
}

/// The prefixes of a path share one export per neighbour in a decision run, unless the
/// neighbour's policy looks at the prefix: then each prefix gets its own verdict.
#[test]
fn prefixes_sharing_attributes_are_exported_alike_unless_the_policy_reads_the_prefix() {
    let mut lab = Lab::new();
    let from = lab.peer("198.18.1.1", 65001, false, true);
    let all = lab.peer("198.18.2.1", 65002, false, true);
    let mut filtered = PeerConfig::new(IpAddr::V4(v4("198.18.3.1")), 65003);
    filtered.local_ipv4 = Some(v4("198.18.0.1"));
    filtered.export = vec![Arc::new(Policy {
        name: "one".to_string(),
        terms: vec![Term {
            name: "second".to_string(),
            matches: vec![Match::PrefixList(vec![PrefixMatch {
                prefix: prefix("10.244.2.0/24"),
                ge: None,
                le: None,
            }])],
            actions: Vec::new(),
            verdict: Verdict::Accept,
            allow_protected: false,
        }],
    })];
    let filtered = lab.rib.add_peer(filtered);
    lab.rib.peer_up(
        filtered,
        v4("198.18.3.1"),
        true,
        FamilySet::of(&[Family::IPV4_UNICAST]),
    );
    let mut update = learned(&[65001], "198.18.1.1", None, &[]);
    update.nlri = ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
        .iter()
        .map(|p| Nlri::new(prefix(p)))
        .collect();
    lab.announce(from, &update);

    let to_all = lab.rib.take_updates(all);
    assert_eq!(to_all.len(), 1, "one attribute set: {to_all:?}");
    let mut sent: Vec<Prefix> = to_all[0].prefixes.clone();
    sent.sort();
    assert_eq!(sent.len(), 3);
    let attrs = to_all[0].attrs.as_ref().expect("announced");
    assert_eq!(
        attrs.attrs.as_path,
        Some(AsPath::from_sequence(vec![LOCAL_AS, 65001]))
    );

    let to_filtered = lab.rib.take_updates(filtered);
    let announced: Vec<Prefix> = to_filtered
        .iter()
        .filter(|u| u.attrs.is_some())
        .flat_map(|u| u.prefixes.clone())
        .collect();
    assert_eq!(announced, vec![prefix("10.244.2.0/24")]);
    // Withdrawing them all leaves no exported set behind.
    let withdraw = Update {
        withdrawn: update.nlri.clone(),
        ..Update::default()
    };
    lab.announce(from, &withdraw);
    lab.rib.take_updates(all);
    lab.rib.take_updates(filtered);
    assert_eq!(lab.rib.stats().attribute_sets, 0);
}

// ---------------------------------------------------------------------------------------------
// Families (RFC 4760 §8, RFC 5492) and next hops of the route's own family (RFC 4760 §3,
// RFC 2545 §3)

const ROUTER_ID: &str = "198.18.0.1";
const V4_PREFIX: &str = "10.244.1.0/24";
const V6_PREFIX: &str = "2001:db8:1::/48";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ipv4_only() -> FamilySet {
    FamilySet::of(&[Family::IPV4_UNICAST])
}

fn dual_stack() -> FamilySet {
    FamilySet::of(&[Family::IPV4_UNICAST, Family::IPV6_UNICAST])
}

/// A neighbour with an accept-all export policy, registered but not up.
fn neighbour(
    rib: &mut Rib,
    address: IpAddr,
    asn: u32,
    local_ipv4: Option<&str>,
    local_ipv6: Option<&str>,
) -> PeerId {
    let mut config = PeerConfig::new(address, asn);
    config.import = vec![Arc::new(Policy::accept_all("in"))];
    config.export = vec![Arc::new(Policy::accept_all("out"))];
    config.local_ipv4 = local_ipv4.map(v4);
    config.local_ipv6 = local_ipv6.map(v6);
    rib.add_peer(config)
}

/// Our two prefixes, originated as the daemon does: with the router id as next hop.
fn originate_both(rib: &mut Rib) {
    let router_id = IpAddr::V4(v4(ROUTER_ID));
    rib.originate(prefix(V4_PREFIX), PathAttributes::default(), router_id);
    rib.originate(prefix(V6_PREFIX), PathAttributes::default(), router_id);
    rib.run_decision();
}

/// The announced prefixes of each family in `updates`, with the next hop they go with.
fn announced(updates: &[OutgoingUpdate]) -> Vec<(Family, Prefix, IpAddr)> {
    let mut out: Vec<(Family, Prefix, IpAddr)> = updates
        .iter()
        .filter_map(|u| u.attrs.as_ref().map(|a| (u, a.next_hop)))
        .flat_map(|(u, hop)| u.prefixes.iter().map(move |p| (u.family, *p, hop)))
        .collect();
    out.sort();
    out
}

/// The MP_REACH_NLRI of an update as the neighbour decodes it.
fn on_the_wire(update: &OutgoingUpdate) -> MpReach {
    let ctx = SessionContext::modern_ebgp();
    let mut out = BytesMut::new();
    assert_eq!(
        encode_updates(std::slice::from_ref(update), ctx, &mut out).unwrap(),
        1
    );
    match Message::decode(out.freeze(), &ctx).unwrap() {
        Message::Update(u) => u.mp_reach.expect("MP_REACH_NLRI"),
        other => panic!("unexpected {other:?}"),
    }
}

fn v6_learned(prefixes: &[&str], next_hop: &str) -> Update {
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(vec![65001])),
            ..PathAttributes::default()
        },
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: v6(next_hop),
                link_local: None,
            },
            nlri: prefixes.iter().map(|p| Nlri::new(prefix(p))).collect(),
        }),
        ..Update::default()
    }
}

/// RFC 4760 §8: a neighbour whose session negotiated only IPv4 unicast gets no IPv6 route, not
/// at session start, not from a decision run, not with ADD-PATH, not on a route refresh; and it
/// is not counted as advertised.
#[test]
fn routes_of_a_family_the_session_did_not_negotiate_are_never_exported() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4(ROUTER_ID)));
    let v4_only = neighbour(
        &mut rib,
        IpAddr::V4(v4("198.18.2.1")),
        65002,
        Some(ROUTER_ID),
        Some("2001:db8::1"),
    );
    let both = neighbour(
        &mut rib,
        IpAddr::V4(v4("198.18.3.1")),
        65003,
        Some(ROUTER_ID),
        Some("2001:db8::1"),
    );
    // ADD-PATH send configured and negotiated for both families, MP for IPv4 only.
    let mut config = PeerConfig::new(IpAddr::V4(v4("198.18.4.1")), 65004);
    config.import = vec![Arc::new(Policy::accept_all("in"))];
    config.export = vec![Arc::new(Policy::accept_all("out"))];
    config.local_ipv4 = Some(v4(ROUTER_ID));
    config.local_ipv6 = Some(v6("2001:db8::1"));
    config.add_path_send = ADD_PATH_ALL;
    let add_path = rib.add_peer(config);
    rib.set_add_path(add_path, dual_stack());
    let source = neighbour(
        &mut rib,
        IpAddr::V4(v4("198.18.1.1")),
        65001,
        Some(ROUTER_ID),
        Some("2001:db8::1"),
    );
    originate_both(&mut rib);

    // The initial export.
    rib.peer_up(v4_only, v4("198.18.2.1"), true, ipv4_only());
    rib.peer_up(both, v4("198.18.3.1"), true, dual_stack());
    rib.peer_up(add_path, v4("198.18.4.1"), true, ipv4_only());
    rib.peer_up(source, v4("198.18.1.1"), true, dual_stack());
    let families = |updates: &[OutgoingUpdate]| {
        let mut f: Vec<Family> = updates.iter().map(|u| u.family).collect();
        f.dedup();
        f
    };
    let ours = vec![Family::IPV4_UNICAST];
    assert_eq!(families(&rib.take_updates(v4_only)), ours, "initial");
    assert_eq!(
        families(&rib.take_updates(add_path)),
        ours,
        "initial add-path"
    );
    assert_eq!(
        families(&rib.take_updates(both)),
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    assert_eq!(rib.advertised_count(v4_only), 1);
    assert_eq!(rib.advertised_count(add_path), 1);
    assert_eq!(rib.advertised_count(both), 2);

    // Exports of a decision run: a learned IPv6 route and a new one of ours.
    rib.apply_update(source, &v6_learned(&["2001:db8:2::/48"], "2001:db8:f::1"))
        .unwrap();
    rib.originate(
        prefix("2001:db8:3::/48"),
        PathAttributes::default(),
        IpAddr::V4(v4(ROUTER_ID)),
    );
    rib.run_decision();
    assert_eq!(rib.take_updates(v4_only), vec![], "decision run");
    assert_eq!(rib.take_updates(add_path), vec![], "decision run, add-path");
    assert_eq!(announced(&rib.take_updates(both)).len(), 2);

    // Route refresh: of IPv6 nothing (not negotiated), of IPv4 only our one IPv4 prefix.
    rib.readvertise(v4_only, Family::IPV6_UNICAST);
    rib.readvertise(add_path, Family::IPV6_UNICAST);
    assert_eq!(rib.take_updates(v4_only), vec![], "route refresh");
    assert_eq!(
        rib.take_updates(add_path),
        vec![],
        "route refresh, add-path"
    );
    rib.readvertise(v4_only, Family::IPV4_UNICAST);
    let again = rib.take_updates(v4_only);
    assert_eq!(families(&again), ours, "route refresh");
    assert_eq!(rib.advertised_count(v4_only), 1);
    assert_eq!(rib.advertised_count(add_path), 1);

    // The next session negotiates both families: it gets the IPv6 routes.
    rib.peer_down(v4_only, &[]);
    assert_eq!(
        rib.peer_info(v4_only).unwrap().families,
        FamilySet::EMPTY,
        "cleared on peer_down"
    );
    rib.peer_up(v4_only, v4("198.18.2.1"), true, dual_stack());
    assert_eq!(rib.peer_info(v4_only).unwrap().families, dual_stack());
    assert_eq!(announced(&rib.take_updates(v4_only)).len(), 4);
}

/// RFC 2545 §3, RFC 4760 §3: on an IPv4 session negotiating IPv6 too, our IPv6 prefix does not
/// go with the IPv4 router id as next hop; it is held back, and the RIB says so, until an IPv6
/// address toward the neighbour is known, then it goes with that one.
#[test]
fn an_ipv6_route_waits_for_an_ipv6_next_hop_on_an_ipv4_session() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4(ROUTER_ID)));
    let external = neighbour(&mut rib, IpAddr::V4(v4("198.18.2.1")), 65002, None, None);
    let internal = neighbour(&mut rib, IpAddr::V4(v4("198.18.3.1")), LOCAL_AS, None, None);
    // A learned IPv6 route too: toward an external neighbour it needs our next hop as well.
    let source = neighbour(
        &mut rib,
        IpAddr::V4(v4("198.18.1.1")),
        65001,
        Some(ROUTER_ID),
        Some("2001:db8::1"),
    );
    rib.peer_up(source, v4("198.18.1.1"), true, dual_stack());
    rib.apply_update(source, &v6_learned(&["2001:db8:2::/48"], "2001:db8:f::1"))
        .unwrap();
    originate_both(&mut rib);
    let ours = (
        Family::IPV4_UNICAST,
        prefix(V4_PREFIX),
        IpAddr::V4(v4("198.18.0.9")),
    );
    // Inside the AS the learned route keeps its next hop (RFC 4271 §5.1.3): no need of ours.
    let learned = (
        Family::IPV6_UNICAST,
        prefix("2001:db8:2::/48"),
        IpAddr::V6(v6("2001:db8:f::1")),
    );
    for (peer, expected) in [(external, vec![ours]), (internal, vec![ours, learned])] {
        // As the daemon does: the connection's local address, then peer_up.
        rib.set_local_address(peer, IpAddr::V4(v4("198.18.0.9")));
        rib.peer_up(peer, v4("198.18.2.1"), true, dual_stack());
        assert_eq!(announced(&rib.take_updates(peer)), expected, "{peer:?}");
        assert_eq!(
            rib.families_without_next_hop(peer),
            FamilySet::of(&[Family::IPV6_UNICAST])
        );
        assert_eq!(rib.advertised_count(peer), expected.len());
    }
    // A new IPv6 route of a decision run is held back too.
    rib.originate(
        prefix("2001:db8:3::/48"),
        PathAttributes::default(),
        IpAddr::V4(v4(ROUTER_ID)),
    );
    rib.run_decision();
    assert_eq!(rib.take_updates(external), vec![]);

    // The daemon learns the interface's IPv6 address: the held-back routes go, with it.
    rib.set_local_address(external, IpAddr::V6(v6("2001:db8::9")));
    assert_eq!(rib.families_without_next_hop(external), FamilySet::EMPTY);
    let updates = rib.take_updates(external);
    let hop = IpAddr::V6(v6("2001:db8::9"));
    assert_eq!(
        announced(&updates),
        vec![
            (Family::IPV6_UNICAST, prefix(V6_PREFIX), hop),
            (Family::IPV6_UNICAST, prefix("2001:db8:2::/48"), hop),
            (Family::IPV6_UNICAST, prefix("2001:db8:3::/48"), hop),
        ]
    );
    for update in &updates {
        // 16 octets on the wire, no link-local of a neighbour we do not share a link with.
        assert_eq!(
            on_the_wire(update).next_hop,
            NextHop::V6 {
                global: v6("2001:db8::9"),
                link_local: None
            }
        );
    }
    assert_eq!(rib.advertised_count(external), 4);
    // The internal neighbour still waits: the warning is per neighbour.
    assert_eq!(
        rib.families_without_next_hop(internal),
        FamilySet::of(&[Family::IPV6_UNICAST])
    );
    assert_eq!(rib.take_updates(internal), vec![]);
    // Down: forgotten.
    rib.peer_down(internal, &[]);
    assert_eq!(rib.families_without_next_hop(internal), FamilySet::EMPTY);
}

/// The address of the other family set before the session comes up: both families go out at
/// once, each with its own next hop; a configured address is not replaced.
#[test]
fn local_addresses_of_both_families_set_before_the_session_comes_up() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4(ROUTER_ID)));
    let peer = neighbour(
        &mut rib,
        IpAddr::V4(v4("198.18.2.1")),
        65002,
        None,
        Some("2001:db8::7"),
    );
    originate_both(&mut rib);
    rib.set_local_address(peer, IpAddr::V4(v4("198.18.0.9")));
    rib.set_local_address(peer, IpAddr::V6(v6("2001:db8::9")));
    rib.peer_up(peer, v4("198.18.2.1"), true, dual_stack());
    assert_eq!(
        announced(&rib.take_updates(peer)),
        vec![
            (
                Family::IPV4_UNICAST,
                prefix(V4_PREFIX),
                IpAddr::V4(v4("198.18.0.9"))
            ),
            (
                Family::IPV6_UNICAST,
                prefix(V6_PREFIX),
                IpAddr::V6(v6("2001:db8::7"))
            ),
        ]
    );
    assert_eq!(rib.families_without_next_hop(peer), FamilySet::EMPTY);
}

/// Symmetrically, on an IPv6-only session an IPv4 prefix does not go with an IPv6 next hop
/// (RFC 8950 extended next hop is not negotiated): it waits for an IPv4 address.
#[test]
fn an_ipv4_route_is_not_sent_with_an_ipv6_next_hop() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4(ROUTER_ID)));
    let peer = neighbour(&mut rib, IpAddr::V6(v6("2001:db8::2")), 65002, None, None);
    // A node whose only address is IPv6 originates with it.
    let own = IpAddr::V6(v6("2001:db8::1"));
    rib.originate(prefix(V4_PREFIX), PathAttributes::default(), own);
    rib.originate(prefix(V6_PREFIX), PathAttributes::default(), own);
    rib.run_decision();
    rib.set_local_address(peer, own);
    rib.peer_up(peer, v4("198.18.2.1"), true, dual_stack());
    assert_eq!(
        announced(&rib.take_updates(peer)),
        vec![(Family::IPV6_UNICAST, prefix(V6_PREFIX), own)]
    );
    assert_eq!(
        rib.families_without_next_hop(peer),
        FamilySet::of(&[Family::IPV4_UNICAST])
    );
    rib.set_local_address(peer, IpAddr::V4(v4("198.18.0.9")));
    assert_eq!(
        announced(&rib.take_updates(peer)),
        vec![(
            Family::IPV4_UNICAST,
            prefix(V4_PREFIX),
            IpAddr::V4(v4("198.18.0.9"))
        )]
    );
    assert_eq!(rib.families_without_next_hop(peer), FamilySet::EMPTY);
}

/// The rule holds for the next hop an export policy sets, too.
#[test]
fn an_export_policy_cannot_send_a_route_with_a_next_hop_of_another_family() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4(ROUTER_ID)));
    let mut config = PeerConfig::new(IpAddr::V4(v4("198.18.2.1")), 65002);
    config.local_ipv4 = Some(v4(ROUTER_ID));
    config.local_ipv6 = Some(v6("2001:db8::1"));
    config.export = vec![Arc::new(Policy {
        name: "out".to_string(),
        terms: vec![Term {
            name: "hop".to_string(),
            matches: Vec::new(),
            actions: vec![SetAction::NextHop(IpAddr::V4(v4("198.18.0.7")))],
            verdict: Verdict::Accept,
            allow_protected: false,
        }],
    })];
    let peer = rib.add_peer(config);
    originate_both(&mut rib);
    rib.peer_up(peer, v4("198.18.2.1"), true, dual_stack());
    assert_eq!(
        announced(&rib.take_updates(peer)),
        vec![(
            Family::IPV4_UNICAST,
            prefix(V4_PREFIX),
            IpAddr::V4(v4("198.18.0.7"))
        )]
    );
}

/// A route of ours first sent with the next hop it was originated with (of its family, no
/// address of ours known yet) moves to the address given later.
#[test]
fn a_local_address_given_on_an_up_session_replaces_the_originate_next_hop() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4(ROUTER_ID)));
    let peer = neighbour(&mut rib, IpAddr::V6(v6("2001:db8::2")), 65002, None, None);
    originate_both(&mut rib);
    rib.peer_up(peer, v4("198.18.2.1"), true, ipv4_only());
    let router_id = IpAddr::V4(v4(ROUTER_ID));
    assert_eq!(
        announced(&rib.take_updates(peer)),
        vec![(Family::IPV4_UNICAST, prefix(V4_PREFIX), router_id)]
    );
    // Not negotiated: nothing to re-export for IPv6.
    rib.set_local_address(peer, IpAddr::V6(v6("2001:db8::1")));
    assert_eq!(rib.take_updates(peer), vec![]);
    rib.set_local_address(peer, IpAddr::V4(v4("198.18.0.9")));
    let hop = IpAddr::V4(v4("198.18.0.9"));
    assert_eq!(
        announced(&rib.take_updates(peer)),
        vec![(Family::IPV4_UNICAST, prefix(V4_PREFIX), hop)]
    );
    // Only the first address of a family counts.
    rib.set_local_address(peer, IpAddr::V4(v4("198.18.0.10")));
    assert_eq!(rib.take_updates(peer), vec![]);
}

/// ADD-PATH send (RFC 7911) follows the same next hop rule.
#[test]
fn add_path_exports_wait_for_a_next_hop_of_the_family_too() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4(ROUTER_ID)));
    let mut config = PeerConfig::new(IpAddr::V4(v4("198.18.2.1")), 65002);
    config.export = vec![Arc::new(Policy::accept_all("out"))];
    config.local_ipv4 = Some(v4(ROUTER_ID));
    config.add_path_send = ADD_PATH_ALL;
    let peer = rib.add_peer(config);
    rib.set_add_path(peer, dual_stack());
    originate_both(&mut rib);
    rib.peer_up(peer, v4("198.18.2.1"), true, dual_stack());
    let router_id = IpAddr::V4(v4(ROUTER_ID));
    let updates = rib.take_updates(peer);
    assert_eq!(
        announced(&updates),
        vec![(Family::IPV4_UNICAST, prefix(V4_PREFIX), router_id)]
    );
    assert_eq!(updates[0].path_ids, vec![1]);
    assert_eq!(
        rib.families_without_next_hop(peer),
        FamilySet::of(&[Family::IPV6_UNICAST])
    );
    rib.set_local_address(peer, IpAddr::V6(v6("2001:db8::9")));
    let updates = rib.take_updates(peer);
    assert_eq!(
        announced(&updates),
        vec![(
            Family::IPV6_UNICAST,
            prefix(V6_PREFIX),
            IpAddr::V6(v6("2001:db8::9"))
        )]
    );
    assert_eq!(updates[0].path_ids, vec![1]);
    assert_eq!(rib.families_without_next_hop(peer), FamilySet::EMPTY);
}
