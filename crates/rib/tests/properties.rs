//! Properties of the RIB over random inputs: the decision does not depend on arrival order or
//! batching, withdrawing everything leaves nothing behind, and graceful-restart stale handling
//! never loses a refreshed route nor keeps one that was not refreshed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{AsPath, Family, FamilySet, Nlri, Origin, PathAttributes, Prefix, Update};
use proptest::prelude::*;
use rib::{PeerConfig, PeerId, Policy, Rib, RibConfig};

/// The families of an IPv4 session (RFC 4760 §8).
fn ipv4_session() -> FamilySet {
    FamilySet::of(&[Family::IPV4_UNICAST])
}

const LOCAL_AS: u32 = 65000;
const PREFIXES: usize = 12;

/// The neighbours: (address, AS, BGP id). Two share AS 65001 (MED comparable), one shares a
/// BGP id with another (peer address tie-break), one is iBGP.
const PEERS: [(&str, u32, &str); 5] = [
    ("192.0.2.1", 65001, "10.0.0.3"),
    ("192.0.2.2", 65001, "10.0.0.1"),
    ("192.0.2.3", 65002, "10.0.0.2"),
    ("192.0.2.4", 65003, "10.0.0.2"),
    ("192.0.2.5", LOCAL_AS, "10.0.0.5"),
];

fn prefix(i: usize) -> Prefix {
    Prefix::new(IpAddr::V4(Ipv4Addr::new(10, i as u8, 0, 0)), 16).unwrap()
}

/// One announcement: a peer offers a prefix with a few varying attributes.
#[derive(Clone, Debug)]
struct Ann {
    peer: usize,
    prefix: usize,
    /// Extra hops after the peer's AS (0..3), from a small pool so that paths repeat.
    tail: Vec<u32>,
    med: Option<u32>,
    local_pref: Option<u32>,
    origin: u8,
}

fn ann() -> impl Strategy<Value = Ann> {
    (
        0..PEERS.len(),
        0..PREFIXES,
        prop::collection::vec(prop::sample::select(vec![100u32, 200, 300]), 0..3),
        prop::option::of(0u32..3),
        prop::option::of(prop::sample::select(vec![90u32, 100, 110])),
        0u8..2,
    )
        .prop_map(|(peer, prefix, tail, med, local_pref, origin)| Ann {
            peer,
            prefix,
            tail,
            med,
            local_pref,
            origin,
        })
}

/// A set of announcements with at most one per (peer, prefix), so that order cannot matter.
fn ann_set() -> impl Strategy<Value = Vec<Ann>> {
    prop::collection::vec(ann(), 1..40).prop_map(|list| {
        let mut seen = BTreeSet::new();
        list.into_iter()
            .filter(|a| seen.insert((a.peer, a.prefix)))
            .collect()
    })
}

fn update_of(a: &Ann) -> Update {
    let (addr, asn, _) = PEERS[a.peer];
    let ibgp = asn == LOCAL_AS;
    let mut path = if ibgp { vec![65010] } else { vec![asn] };
    path.extend(&a.tail);
    Update {
        attributes: PathAttributes {
            origin: Some(if a.origin == 0 {
                Origin::Igp
            } else {
                Origin::Incomplete
            }),
            as_path: Some(AsPath::from_sequence(path)),
            next_hop: Some(addr.parse().unwrap()),
            med: a.med,
            local_pref: a.local_pref,
            ..PathAttributes::default()
        },
        nlri: vec![Nlri::new(prefix(a.prefix))],
        ..Update::default()
    }
}

fn withdrawal(prefix_index: usize) -> Update {
    Update {
        withdrawn: vec![Nlri::new(prefix(prefix_index))],
        ..Update::default()
    }
}

#[derive(Clone, Copy, Debug)]
struct Options {
    always_compare_med: bool,
    max_paths: usize,
    as_path_relax: bool,
    ibgp_multipath: bool,
}

fn options() -> impl Strategy<Value = Options> {
    (any::<bool>(), 1usize..4, any::<bool>(), any::<bool>()).prop_map(
        |(always_compare_med, max_paths, as_path_relax, ibgp_multipath)| Options {
            always_compare_med,
            max_paths,
            as_path_relax,
            ibgp_multipath,
        },
    )
}

/// A RIB whose neighbours keep their routes as received where `soft` says so, and are sent
/// every path (ADD-PATH) where `add_path` says so.
fn new_rib_with(o: Options, soft: &[bool], add_path: &[bool]) -> (Rib, Vec<PeerId>) {
    let mut config = RibConfig::new(LOCAL_AS, "198.18.0.1".parse().unwrap());
    config.decision.always_compare_med = o.always_compare_med;
    config.decision.ecmp.max_paths = o.max_paths;
    config.decision.ecmp.as_path_relax = o.as_path_relax;
    config.decision.ecmp.ibgp_multipath = o.ibgp_multipath;
    let mut rib = Rib::new(config);
    let ids = PEERS
        .iter()
        .zip(soft.iter().zip(add_path))
        .map(|((addr, asn, id), (soft, add_path))| {
            let mut pc = PeerConfig::new(addr.parse().unwrap(), *asn);
            pc.import = vec![Arc::new(Policy::accept_all("all"))];
            pc.soft_reconfiguration_inbound = *soft;
            if *add_path {
                pc.add_path_send = rib::ADD_PATH_ALL;
            }
            let peer = rib.add_peer(pc);
            if *add_path {
                rib.set_add_path(peer, bgp_proto::FamilySet::of(&[Family::IPV4_UNICAST]));
            }
            rib.peer_up(peer, id.parse().unwrap(), true, ipv4_session());
            peer
        })
        .collect();
    (rib, ids)
}

/// Applies `anns` in the order given by `order`, running the decision after every `batch`
/// announcements (0: once at the end).
fn load(o: Options, anns: &[Ann], order: &[usize], batch: usize) -> Rib {
    let none = [false; PEERS.len()];
    load_with(o, &none, &none, anns, order, batch)
}

/// [`load`] with soft reconfiguration inbound and ADD-PATH send where `soft` and `add_path`
/// say so.
fn load_with(
    o: Options,
    soft: &[bool],
    add_path: &[bool],
    anns: &[Ann],
    order: &[usize],
    batch: usize,
) -> Rib {
    let (mut rib, ids) = new_rib_with(o, soft, add_path);
    for (n, i) in order.iter().enumerate() {
        let a = &anns[*i];
        rib.apply_update(ids[a.peer], &update_of(a)).unwrap();
        if batch > 0 && (n + 1) % batch == 0 {
            rib.run_decision();
        }
    }
    rib.run_decision();
    rib
}

fn selection(rib: &Rib) -> Vec<Option<rib::SelectedRoute>> {
    (0..PREFIXES).map(|i| rib.lookup(&prefix(i))).collect()
}

/// An import policy that rejects the prefixes `dropped` and accepts the rest.
fn dropping(dropped: &BTreeSet<usize>) -> Arc<Policy> {
    let mut policy = Policy::accept_all("some");
    policy.terms.insert(
        0,
        rib::Term {
            name: "drop".into(),
            matches: vec![rib::Match::PrefixList(
                dropped
                    .iter()
                    .map(|i| rib::PrefixMatch {
                        prefix: prefix(*i),
                        ge: None,
                        le: None,
                    })
                    .collect(),
            )],
            actions: Vec::new(),
            verdict: rib::Verdict::Reject,
            allow_protected: false,
        },
    );
    Arc::new(policy)
}

/// Two permutations of 0..n.
fn orders(n: usize) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    let base: Vec<usize> = (0..n).collect();
    (Just(base.clone()).prop_shuffle(), Just(base).prop_shuffle())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decision_does_not_depend_on_arrival_order_or_batching(
        o in options(),
        (anns, (first, second), batch) in ann_set()
            .prop_flat_map(|anns| {
                let n = anns.len();
                (Just(anns), orders(n), 0usize..5)
            }),
    ) {
        let one_batch = load(o, &anns, &first, 0);
        let many_batches = load(o, &anns, &second, batch);
        prop_assert_eq!(selection(&one_batch), selection(&many_batches));
        for rib in [&one_batch, &many_batches] {
            prop_assert_eq!(
                rib.selected_count(Family::IPV4_UNICAST),
                rib.routes().len(),
                "the maintained count is the table's"
            );
        }
        // Every prefix announced by someone has a best route (no next-hop resolution here).
        let announced: BTreeSet<usize> = anns.iter().map(|a| a.prefix).collect();
        for i in 0..PREFIXES {
            prop_assert_eq!(one_batch.lookup(&prefix(i)).is_some(), announced.contains(&i));
        }
    }

    #[test]
    fn withdrawing_everything_leaves_an_empty_rib(
        o in options(),
        anns in ann_set(),
        replays in prop::collection::vec(ann(), 0..20),
        batch in 1usize..6,
        soft in prop::collection::vec(any::<bool>(), PEERS.len()),
        add_path in prop::collection::vec(any::<bool>(), PEERS.len()),
        dropped in prop::collection::btree_set(0..PREFIXES, 0..PREFIXES),
        taken in any::<bool>(),
    ) {
        let order: Vec<usize> = (0..anns.len()).collect();
        let mut rib = load_with(o, &soft, &add_path, &anns, &order, 3);
        let ids: Vec<PeerId> = (1..=PEERS.len() as u32).map(PeerId).collect();
        // What the neighbours were sent (the iBGP one gets everything) is recorded as sent, or
        // stays pending until the end.
        if taken {
            for id in &ids {
                drop(rib.take_updates(*id));
            }
        }
        // Some replacements with other attributes, so that sets are released along the way.
        for a in &replays {
            rib.apply_update(ids[a.peer], &update_of(a)).unwrap();
        }
        drop(rib.run_decision());
        // An import policy that drops some prefixes, re-run over what the neighbours with soft
        // reconfiguration kept, then accept-all again: their paths go and come back.
        let all = || vec![Arc::new(Policy::accept_all("all"))];
        for (id, soft) in ids.iter().zip(&soft) {
            rib.set_policies(*id, vec![dropping(&dropped)], Vec::new());
            let outcome = rib.reimport(*id).unwrap();
            prop_assert!(*soft || outcome == Default::default());
        }
        drop(rib.run_decision());
        for i in &dropped {
            let from_soft = rib
                .explain(&prefix(*i))
                .iter()
                .filter(|p| soft[p.peer.0 as usize - 1])
                .count();
            prop_assert_eq!(from_soft, 0, "prefix {} dropped by the new policy", i);
        }
        for id in &ids {
            rib.set_policies(*id, all(), Vec::new());
            rib.reimport(*id).unwrap();
        }
        drop(rib.run_decision());
        let mut present: BTreeSet<(usize, usize)> =
            anns.iter().map(|a| (a.peer, a.prefix)).collect();
        present.extend(replays.iter().map(|a| (a.peer, a.prefix)));
        for (n, (peer, p)) in present.iter().enumerate() {
            let out = rib.apply_update(ids[*peer], &withdrawal(*p)).unwrap();
            prop_assert_eq!(out.withdrawn, 1);
            if (n + 1) % batch == 0 {
                drop(rib.run_decision());
            }
        }
        let last = rib.run_decision();
        prop_assert!(last.iter().all(|c| c.best.is_none() && c.next_hops.is_empty()));
        drop(last);
        for id in &ids {
            let sent = rib.take_updates(*id);
            prop_assert!(sent.iter().all(|u| u.attrs.is_none()), "only withdrawals left");
            prop_assert_eq!(rib.advertised_count(*id), 0);
        }
        let stats = rib.stats();
        prop_assert_eq!(
            (stats.prefixes, stats.paths, stats.attribute_sets, stats.next_hops),
            (0, 0, 0, 0)
        );
        prop_assert_eq!(rib.selected_count(Family::IPV4_UNICAST), 0);
        for i in 0..PREFIXES {
            prop_assert!(rib.lookup(&prefix(i)).is_none());
            prop_assert!(rib.explain(&prefix(i)).is_empty());
        }
    }

    #[test]
    fn stale_handling_never_loses_a_fresh_route(
        o in options(),
        anns in ann_set(),
        restarting in 0..PEERS.len(),
        refreshed in prop::collection::vec((0..PREFIXES, any::<bool>()), 0..PREFIXES),
        decide_between in any::<bool>(),
    ) {
        let order: Vec<usize> = (0..anns.len()).collect();
        let mut rib = load(o, &anns, &order, 0);
        let ids: Vec<PeerId> = (1..=PEERS.len() as u32).map(PeerId).collect();
        let peer = ids[restarting];
        let before: BTreeMap<usize, usize> = (0..PREFIXES)
            .map(|i| (i, rib.explain(&prefix(i)).len()))
            .collect();
        let had: BTreeSet<usize> = anns
            .iter()
            .filter(|a| a.peer == restarting)
            .map(|a| a.prefix)
            .collect();

        rib.peer_down(peer, &[Family::IPV4_UNICAST]);
        if decide_between {
            drop(rib.run_decision());
        }
        // Stale paths are kept: nothing disappears yet.
        for i in 0..PREFIXES {
            prop_assert_eq!(rib.explain(&prefix(i)).len(), before[&i]);
            prop_assert_eq!(rib.lookup(&prefix(i)).is_some(), before[&i] > 0);
        }
        rib.peer_up(peer, PEERS[restarting].2.parse().unwrap(), true, ipv4_session());
        let mut again = BTreeSet::new();
        for (p, changed) in &refreshed {
            let mut a = Ann {
                peer: restarting,
                prefix: *p,
                tail: vec![],
                med: None,
                local_pref: None,
                origin: 0,
            };
            if *changed {
                a.tail = vec![300];
                a.med = Some(1);
            }
            rib.apply_update(peer, &update_of(&a)).unwrap();
            again.insert(*p);
            if decide_between {
                drop(rib.run_decision());
            }
        }
        rib.end_of_rib(peer, Family::IPV4_UNICAST);
        drop(rib.run_decision());

        for i in 0..PREFIXES {
            let paths = rib.explain(&prefix(i));
            let own: Vec<_> = paths.iter().filter(|p| p.peer == peer).collect();
            if again.contains(&i) {
                prop_assert_eq!(own.len(), 1, "re-announced prefix {} kept", i);
                prop_assert!(!own[0].stale);
            } else {
                prop_assert!(own.is_empty(), "prefix {} not re-announced is gone", i);
            }
            // Other neighbours' paths are untouched.
            let others = paths.iter().filter(|p| p.peer != peer).count();
            let others_before = before[&i] - usize::from(had.contains(&i));
            prop_assert_eq!(others, others_before);
            prop_assert!(paths.iter().all(|p| !p.stale));
            prop_assert_eq!(rib.lookup(&prefix(i)).is_some(), !paths.is_empty());
        }
        // The counts follow: the restarting neighbour has exactly its re-announced prefixes.
        prop_assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST) as usize, again.len());
    }
}
