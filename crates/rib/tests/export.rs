//! Export rules (RFC 4271 §5.1, §9.1.3), well-known communities (RFC 1997), route reflection
//! (RFC 4456) and the encoded UPDATEs a neighbour receives.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{AsPath, Community, Message, Nlri, Origin, Prefix, SessionContext, Update};
use bytes::BytesMut;
use rib::{
    encode_updates, Match, OutgoingUpdate, PeerConfig, PeerId, Policy, PrefixMatch, Rib, RibConfig,
    Term, Verdict,
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
        self.rib.peer_up(id, v4(addr), true);
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
    lab.rib.peer_up(filtered, v4("198.18.3.1"), true);
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
