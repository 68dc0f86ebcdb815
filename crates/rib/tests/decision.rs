//! The decision process step by step (RFC 4271 §9.1.2.2 and the extensions the RIB applies),
//! ECMP, eligibility, import policy, max-prefix, IPv6 next hops and RFC 7606 treat-as-withdraw,
//! all through the public API: UPDATEs in, `lookup`/`explain`/`RouteChange` out.
//!
//! Each step test is a table of (winner, loser, step) cases; every case is run with the two
//! routes arriving in both orders, so that the outcome is also checked not to depend on order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::{
    AsPath, AsSegment, Community, Family, FamilySet, LargeCommunity, MpReach, MpUnreach, NextHop,
    Nlri, Origin, PathAttributes, Prefix, Rfc7606Action, SegmentType, Update, UpdateError,
    UpdateErrorKind,
};
use rib::{
    DecisionStep, ForwardingNextHop, Match, MaxPrefix, PathStatus, PeerConfig, PeerId, Policy,
    PrefixMatch, RejectReason, Rib, RibConfig, SetAction, Term, Verdict,
};

const LOCAL_AS: u32 = 65000;
const ROUTER_ID: &str = "198.18.0.1";
const PREFIX: &str = "10.0.0.0/24";

/// The families a dual-stack session negotiates (RFC 4760 §8).
fn dual_stack() -> FamilySet {
    FamilySet::of(&[Family::IPV4_UNICAST, Family::IPV6_UNICAST])
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn seq(asns: &[u32]) -> AsSegment {
    AsSegment {
        kind: SegmentType::Sequence,
        asns: asns.to_vec(),
    }
}

fn seg(kind: SegmentType, asns: &[u32]) -> AsSegment {
    AsSegment {
        kind,
        asns: asns.to_vec(),
    }
}

fn path(segments: Vec<AsSegment>) -> AsPath {
    AsPath { segments }
}

fn config() -> RibConfig {
    RibConfig::new(LOCAL_AS, v4(ROUTER_ID))
}

/// A route offered by one neighbour (or originated locally), and how that neighbour is set up.
#[derive(Clone, Debug)]
struct Spec {
    /// Peer address, also the next hop.
    addr: Ipv4Addr,
    asn: u32,
    bgp_id: Ipv4Addr,
    attrs: PathAttributes,
    /// Made stale by a graceful restart of its neighbour after it was announced.
    stale: bool,
    /// IGP cost reported for the next hop.
    igp: Option<u32>,
    /// Originated locally instead of learned.
    local: bool,
    import: Vec<Arc<Policy>>,
}

impl Spec {
    fn new(addr: &str, asn: u32, as_path: &[u32]) -> Self {
        Self {
            addr: v4(addr),
            asn,
            bgp_id: v4(addr),
            attrs: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from_sequence(as_path.to_vec())),
                ..PathAttributes::default()
            },
            stale: false,
            igp: None,
            local: false,
            import: vec![Arc::new(Policy::accept_all("all"))],
        }
    }
    fn local(lp: u32) -> Self {
        let mut s = Self::new("0.0.0.0", LOCAL_AS, &[]);
        s.local = true;
        s.attrs.local_pref = Some(lp);
        s
    }
    fn id(mut self, id: &str) -> Self {
        self.bgp_id = v4(id);
        self
    }
    fn with(mut self, f: impl FnOnce(&mut PathAttributes)) -> Self {
        f(&mut self.attrs);
        self
    }
    fn lp(self, lp: u32) -> Self {
        self.with(|a| a.local_pref = Some(lp))
    }
    fn med(self, med: u32) -> Self {
        self.with(|a| a.med = Some(med))
    }
    fn stale(mut self) -> Self {
        self.stale = true;
        self
    }
    fn igp(mut self, cost: u32) -> Self {
        self.igp = Some(cost);
        self
    }
    fn import(mut self, policy: Policy) -> Self {
        self.import = vec![Arc::new(policy)];
        self
    }
}

fn update_for(spec: &Spec, prefixes: &[&str]) -> Update {
    let mut attributes = spec.attrs.clone();
    attributes.next_hop = Some(spec.addr);
    Update {
        attributes,
        nlri: prefixes.iter().map(|p| Nlri::new(pfx(p))).collect(),
        ..Update::default()
    }
}

fn add(rib: &mut Rib, spec: &Spec) -> PeerId {
    if spec.local {
        return PeerId::LOCAL;
    }
    let mut pc = PeerConfig::new(IpAddr::V4(spec.addr), spec.asn);
    pc.import = spec.import.clone();
    let id = rib.add_peer(pc);
    rib.peer_up(id, spec.bgp_id, true, dual_stack());
    id
}

/// Builds a RIB, offers `specs` for PREFIX in this order, runs the decision.
fn load(config: &RibConfig, specs: &[&Spec]) -> (Rib, Vec<PeerId>) {
    let mut rib = Rib::new(config.clone());
    let ids: Vec<PeerId> = specs.iter().map(|s| add(&mut rib, s)).collect();
    for (spec, id) in specs.iter().zip(&ids) {
        if spec.local {
            rib.originate(pfx(PREFIX), spec.attrs.clone(), IpAddr::V4(v4(ROUTER_ID)));
        } else {
            let outcome = rib.apply_update(*id, &update_for(spec, &[PREFIX])).unwrap();
            assert_eq!(outcome.accepted, 1, "{spec:?}: {outcome:?}");
        }
        if let Some(cost) = spec.igp {
            rib.set_next_hop(IpAddr::V4(spec.addr), Some(cost));
        }
    }
    rib.run_decision();
    for (spec, id) in specs.iter().zip(&ids) {
        if spec.stale {
            rib.peer_down(*id, &[Family::IPV4_UNICAST]);
            rib.peer_up(*id, spec.bgp_id, true, dual_stack());
        }
    }
    rib.run_decision();
    (rib, ids)
}

fn status_of(rib: &Rib, peer: PeerId) -> PathStatus {
    rib.explain(&pfx(PREFIX))
        .iter()
        .find(|p| p.peer == peer)
        .map(|p| p.status)
        .expect("the peer's path")
}

/// Every case: `winner` is selected and `loser` lost at `step`, whichever arrives first.
fn check_cases(config: &RibConfig, cases: &[(&str, Spec, Spec, DecisionStep)]) {
    for (name, winner, loser, step) in cases {
        for winner_first in [true, false] {
            let specs = if winner_first {
                [winner, loser]
            } else {
                [loser, winner]
            };
            let (rib, ids) = load(config, &specs);
            let (w, l) = if winner_first {
                (ids[0], ids[1])
            } else {
                (ids[1], ids[0])
            };
            let best = rib.lookup(&pfx(PREFIX)).expect("a best route");
            assert_eq!(best.best.peer, w, "{name} (winner first: {winner_first})");
            assert_eq!(status_of(&rib, w), PathStatus::Best, "{name}");
            assert_eq!(
                status_of(&rib, l),
                PathStatus::Lost(*step),
                "{name} (winner first: {winner_first})"
            );
        }
    }
}

/// Single-path selection, so that ties past the IGP cost show as losses, not ECMP members.
fn single_path() -> RibConfig {
    let mut c = config();
    c.decision.ecmp.max_paths = 1;
    c
}

#[test]
fn step_stale() {
    use DecisionStep::Stale;
    check_cases(
        &single_path(),
        &[
            (
                "fresh beats a stale route that is better on every later step",
                Spec::new("192.0.2.2", 65002, &[65002, 1, 2, 3])
                    .with(|a| a.origin = Some(Origin::Incomplete)),
                Spec::new("192.0.2.1", 65001, &[65001]).stale(),
                Stale,
            ),
            (
                "fresh with lower local pref beats stale with higher",
                Spec::new("192.0.2.2", LOCAL_AS, &[]).lp(50),
                Spec::new("192.0.2.1", LOCAL_AS, &[]).lp(500).stale(),
                Stale,
            ),
        ],
    );
}

#[test]
fn step_local_pref() {
    use DecisionStep::LocalPref;
    let set_lp = |lp| Policy {
        name: "lp".into(),
        terms: vec![Term {
            name: "t".into(),
            matches: vec![],
            actions: vec![SetAction::LocalPref(lp)],
            verdict: Verdict::Accept,
            allow_protected: false,
        }],
    };
    check_cases(
        &single_path(),
        &[
            (
                "higher local pref beats a shorter path",
                Spec::new("192.0.2.1", LOCAL_AS, &[65010, 65011, 65012]).lp(200),
                Spec::new("192.0.2.2", LOCAL_AS, &[65010]).lp(100),
                LocalPref,
            ),
            (
                "a missing LOCAL_PREF is 100",
                Spec::new("192.0.2.1", LOCAL_AS, &[65010, 65011]).lp(101),
                Spec::new("192.0.2.2", LOCAL_AS, &[65010]),
                LocalPref,
            ),
            (
                "import policy sets local pref on eBGP",
                Spec::new("192.0.2.1", 65001, &[65001, 1, 2]).import(set_lp(300)),
                Spec::new("192.0.2.2", 65002, &[65002]),
                LocalPref,
            ),
            (
                "higher local pref beats a locally originated route",
                Spec::new("192.0.2.1", LOCAL_AS, &[65010]).lp(200),
                Spec::local(100),
                LocalPref,
            ),
        ],
    );
}

#[test]
fn ebgp_local_pref_is_ignored() {
    // RFC 4271 §5.1.5: LOCAL_PREF received from an external peer MUST be ignored.
    check_cases(
        &single_path(),
        &[(
            "a shorter path beats an eBGP route claiming LOCAL_PREF 1000",
            Spec::new("192.0.2.2", 65002, &[65002]),
            Spec::new("192.0.2.1", 65001, &[65001, 1]).lp(1000),
            DecisionStep::AsPathLength,
        )],
    );
}

#[test]
fn step_locally_originated() {
    check_cases(
        &single_path(),
        &[
            (
                "local beats an iBGP route equal in local pref",
                Spec::local(100),
                Spec::new("192.0.2.1", LOCAL_AS, &[]),
                DecisionStep::LocallyOriginated,
            ),
            (
                "local with a long prepended path beats a learned shorter one",
                Spec::local(100)
                    .with(|a| a.as_path = Some(AsPath::from_sequence(vec![LOCAL_AS; 4]))),
                Spec::new("192.0.2.1", 65001, &[65001]),
                DecisionStep::LocallyOriginated,
            ),
        ],
    );
}

#[test]
fn step_as_path_length() {
    use DecisionStep::AsPathLength;
    use SegmentType::*;
    let with_path = |addr: &str, asn: u32, p: AsPath| {
        Spec::new(addr, asn, &[]).with(move |a| a.as_path = Some(p))
    };
    check_cases(
        &single_path(),
        &[
            (
                "shorter sequence wins",
                Spec::new("192.0.2.9", 65001, &[65001, 2]),
                Spec::new("192.0.2.1", 65001, &[65001, 2, 3]),
                AsPathLength,
            ),
            (
                "an AS_SET counts as one: [65001 {2 3 4}] (2) beats [65001 2 3] (3)",
                with_path(
                    "192.0.2.9",
                    65001,
                    path(vec![seq(&[65001]), seg(Set, &[2, 3, 4])]),
                ),
                Spec::new("192.0.2.1", 65001, &[65001, 2, 3]),
                AsPathLength,
            ),
            (
                "an AS_SET still counts one: [65001 2] (2) beats [65001 2 {3}] (3)",
                Spec::new("192.0.2.9", 65001, &[65001, 2]),
                with_path(
                    "192.0.2.1",
                    65001,
                    path(vec![seq(&[65001, 2]), seg(Set, &[3])]),
                ),
                AsPathLength,
            ),
            (
                "confederation segments count zero",
                with_path(
                    "192.0.2.9",
                    LOCAL_AS,
                    path(vec![
                        seg(ConfedSequence, &[64512, 64513, 64514]),
                        seg(ConfedSet, &[64515, 64516]),
                        seq(&[65001, 2]),
                    ]),
                ),
                with_path("192.0.2.1", LOCAL_AS, path(vec![seq(&[65001, 2, 3])])),
                AsPathLength,
            ),
        ],
    );
}

#[test]
fn step_origin() {
    let origin = |o| move |a: &mut PathAttributes| a.origin = Some(o);
    check_cases(
        &single_path(),
        &[
            (
                "IGP beats EGP",
                Spec::new("192.0.2.9", 65001, &[65001]).with(origin(Origin::Igp)),
                Spec::new("192.0.2.1", 65001, &[65001]).with(origin(Origin::Egp)),
                DecisionStep::Origin,
            ),
            (
                "EGP beats INCOMPLETE",
                Spec::new("192.0.2.9", 65001, &[65001]).with(origin(Origin::Egp)),
                Spec::new("192.0.2.1", 65001, &[65001]).with(origin(Origin::Incomplete)),
                DecisionStep::Origin,
            ),
        ],
    );
}

#[test]
fn step_med() {
    use DecisionStep::*;
    let default = single_path();
    check_cases(
        &default,
        &[
            (
                "lower MED wins within one neighbouring AS",
                Spec::new("192.0.2.9", 65001, &[65001, 7]).med(10),
                Spec::new("192.0.2.1", 65001, &[65001, 8]).med(20),
                Med,
            ),
            (
                "a missing MED is 0 (RFC 4271)",
                Spec::new("192.0.2.9", 65001, &[65001]),
                Spec::new("192.0.2.1", 65001, &[65001]).med(5),
                Med,
            ),
            (
                "MED is not compared across neighbouring ASes: the router id decides",
                Spec::new("192.0.2.1", 65001, &[65001]).med(100),
                Spec::new("192.0.2.2", 65002, &[65002]).med(1),
                RouterId,
            ),
            (
                "MED is compared before eBGP over iBGP when the neighbouring AS is the same",
                Spec::new("192.0.2.9", LOCAL_AS, &[65001]).med(1),
                Spec::new("192.0.2.1", 65001, &[65001]).med(2),
                Med,
            ),
        ],
    );
    let mut always = single_path();
    always.decision.always_compare_med = true;
    check_cases(
        &always,
        &[(
            "always_compare_med compares across neighbouring ASes",
            Spec::new("192.0.2.2", 65002, &[65002]).med(1),
            Spec::new("192.0.2.1", 65001, &[65001]).med(100),
            Med,
        )],
    );
    let mut worst = single_path();
    worst.decision.med_missing_as_worst = true;
    check_cases(
        &worst,
        &[(
            "med_missing_as_worst: a missing MED loses to any MED",
            Spec::new("192.0.2.9", 65001, &[65001]).med(u32::MAX - 1),
            Spec::new("192.0.2.1", 65001, &[65001]),
            Med,
        )],
    );
}

#[test]
fn med_is_order_independent_across_neighbouring_ases() {
    // The classic non-transitive triangle: A and B are from AS 65001 (B's MED is lower), C is
    // from AS 65002. Compared pairwise, A beats C (router id), C beats B (router id), B beats A
    // (MED). RFC 4271 §9.1.2.2 c removes A first (B has a lower MED in the same AS), then C
    // beats B on router id, whatever the arrival order.
    let a = Spec::new("192.0.2.1", 65001, &[65001])
        .med(10)
        .id("10.0.0.1");
    let b = Spec::new("192.0.2.3", 65001, &[65001])
        .med(5)
        .id("10.0.0.3");
    let c = Spec::new("192.0.2.2", 65002, &[65002]).id("10.0.0.2");
    let orders: [[&Spec; 3]; 6] = [
        [&a, &b, &c],
        [&a, &c, &b],
        [&b, &a, &c],
        [&b, &c, &a],
        [&c, &a, &b],
        [&c, &b, &a],
    ];
    for order in orders {
        let (rib, ids) = load(&single_path(), &order);
        let best = rib.lookup(&pfx(PREFIX)).unwrap().best;
        let c_id = ids[order.iter().position(|s| s.addr == c.addr).unwrap()];
        assert_eq!(best.peer, c_id, "order {:?}", order.map(|s| s.addr));
    }
}

#[test]
fn step_ebgp_over_ibgp() {
    check_cases(
        &single_path(),
        &[(
            "eBGP beats iBGP with equal attributes",
            Spec::new("192.0.2.9", 65001, &[65001, 5]),
            Spec::new("192.0.2.1", LOCAL_AS, &[65001, 5]).lp(100),
            DecisionStep::EbgpOverIbgp,
        )],
    );
}

#[test]
fn step_igp_cost() {
    check_cases(
        &single_path(),
        &[
            (
                "lower IGP cost to the next hop wins",
                Spec::new("192.0.2.9", LOCAL_AS, &[65001]).igp(5),
                Spec::new("192.0.2.1", LOCAL_AS, &[65001]).igp(10),
                DecisionStep::IgpCost,
            ),
            (
                "an unreported next hop is cost 0 without next-hop resolution",
                Spec::new("192.0.2.9", 65001, &[65001]),
                Spec::new("192.0.2.1", 65001, &[65001]).igp(1),
                DecisionStep::IgpCost,
            ),
        ],
    );
}

#[test]
fn igp_cost_changes_reselect() {
    let a = Spec::new("192.0.2.1", LOCAL_AS, &[65001]).igp(10);
    let b = Spec::new("192.0.2.2", LOCAL_AS, &[65001]).igp(20);
    let (mut rib, ids) = load(&single_path(), &[&a, &b]);
    assert_eq!(rib.lookup(&pfx(PREFIX)).unwrap().best.peer, ids[0]);
    rib.set_next_hop(IpAddr::V4(b.addr), Some(1));
    let changes = rib.run_decision();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].best.as_ref().unwrap().peer, ids[1]);
    assert_eq!(
        status_of(&rib, ids[0]),
        PathStatus::Lost(DecisionStep::IgpCost)
    );
    // Reporting the same cost again changes nothing.
    rib.set_next_hop(IpAddr::V4(b.addr), Some(1));
    assert!(rib.run_decision().is_empty());
}

#[test]
fn step_router_id() {
    check_cases(
        &single_path(),
        &[
            (
                "lower BGP identifier wins",
                Spec::new("192.0.2.9", 65001, &[65001]).id("10.0.0.1"),
                Spec::new("192.0.2.1", 65001, &[65001]).id("10.0.0.2"),
                DecisionStep::RouterId,
            ),
            (
                "ORIGINATOR_ID stands for the router id of a reflected route",
                Spec::new("192.0.2.9", LOCAL_AS, &[65001])
                    .id("10.0.0.9")
                    .with(|a| a.originator_id = Some(v4("10.0.0.1"))),
                Spec::new("192.0.2.1", LOCAL_AS, &[65001]).id("10.0.0.5"),
                DecisionStep::RouterId,
            ),
            (
                "a reflected route with a higher ORIGINATOR_ID loses to a direct one",
                Spec::new("192.0.2.9", LOCAL_AS, &[65001]).id("10.0.0.5"),
                Spec::new("192.0.2.1", LOCAL_AS, &[65001])
                    .id("10.0.0.1")
                    .with(|a| a.originator_id = Some(v4("10.0.0.6"))),
                DecisionStep::RouterId,
            ),
        ],
    );
}

#[test]
fn step_cluster_list_length() {
    let reflected = |addr: &str, clusters: &[&str]| {
        let list: Vec<Ipv4Addr> = clusters.iter().map(|c| v4(c)).collect();
        Spec::new(addr, LOCAL_AS, &[65001]).with(move |a| {
            a.originator_id = Some(v4("10.9.9.9"));
            a.cluster_list = list;
        })
    };
    check_cases(
        &single_path(),
        &[(
            "shorter CLUSTER_LIST wins between routes of one originator",
            reflected("192.0.2.9", &["10.1.1.1"]),
            reflected("192.0.2.1", &["10.1.1.2", "10.1.1.3"]),
            DecisionStep::ClusterListLength,
        )],
    );
}

#[test]
fn step_peer_address() {
    check_cases(
        &single_path(),
        &[
            (
                "lower peer address wins between two sessions to one router",
                Spec::new("192.0.2.1", 65001, &[65001]).id("10.0.0.1"),
                Spec::new("192.0.2.2", 65001, &[65001]).id("10.0.0.1"),
                DecisionStep::PeerAddress,
            ),
            (
                "also on iBGP",
                Spec::new("192.0.2.1", LOCAL_AS, &[]).id("10.0.0.1"),
                Spec::new("192.0.2.2", LOCAL_AS, &[]).id("10.0.0.1"),
                DecisionStep::PeerAddress,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// ECMP

fn hops(next_hops: &[ForwardingNextHop]) -> Vec<IpAddr> {
    next_hops.iter().map(|h| h.address).collect()
}

fn ip(s: &str) -> IpAddr {
    IpAddr::V4(v4(s))
}

fn ecmp_set(config: &RibConfig, specs: &[&Spec]) -> Vec<IpAddr> {
    let (rib, _) = load(config, specs);
    let change = rib.lookup(&pfx(PREFIX)).expect("a route");
    let set = hops(&change.next_hops);
    // explain agrees: one Best, the rest of the set Multipath.
    let explained = rib.explain(&pfx(PREFIX));
    let in_set = explained
        .iter()
        .filter(|p| matches!(p.status, PathStatus::Best | PathStatus::Multipath))
        .count();
    assert_eq!(in_set, set.len());
    set
}

#[test]
fn ecmp_default_needs_identical_as_paths() {
    let c = config();
    let a = Spec::new("192.0.2.1", 65001, &[65001, 100]);
    let b = Spec::new("192.0.2.2", 65001, &[65001, 100]);
    let other = Spec::new("192.0.2.3", 65002, &[65002, 100]);
    let longer = Spec::new("192.0.2.4", 65001, &[65001, 100, 100]);
    assert_eq!(
        ecmp_set(&c, &[&a, &b, &other, &longer]),
        vec![ip("192.0.2.1"), ip("192.0.2.2")]
    );
    // Same length, different neighbouring AS: no multipath without relax.
    assert_eq!(ecmp_set(&c, &[&a, &other]), vec![ip("192.0.2.1")]);
    // Different MED (same AS) is not equal.
    let b_med = b.clone().med(7);
    assert_eq!(ecmp_set(&c, &[&a, &b_med]), vec![ip("192.0.2.1")]);
}

#[test]
fn ecmp_as_path_relax() {
    let mut c = config();
    c.decision.ecmp.as_path_relax = true;
    let a = Spec::new("192.0.2.1", 65001, &[65001, 100]);
    let other = Spec::new("192.0.2.3", 65002, &[65002, 100]);
    let longer = Spec::new("192.0.2.4", 65003, &[65003, 100, 100]);
    assert_eq!(
        ecmp_set(&c, &[&a, &other, &longer]),
        vec![ip("192.0.2.1"), ip("192.0.2.3")]
    );
}

#[test]
fn ecmp_ibgp_multipath() {
    let a = Spec::new("192.0.2.1", LOCAL_AS, &[65001]);
    let b = Spec::new("192.0.2.2", LOCAL_AS, &[65001]);
    assert_eq!(ecmp_set(&config(), &[&a, &b]), vec![ip("192.0.2.1")]);
    let mut c = config();
    c.decision.ecmp.ibgp_multipath = true;
    assert_eq!(
        ecmp_set(&c, &[&a, &b]),
        vec![ip("192.0.2.1"), ip("192.0.2.2")]
    );
    // Different IGP costs are not equal.
    let b_far = b.clone().igp(5);
    assert_eq!(ecmp_set(&c, &[&a, &b_far]), vec![ip("192.0.2.1")]);
    // eBGP and iBGP never share.
    let e = Spec::new("192.0.2.3", 65001, &[65001]);
    assert_eq!(ecmp_set(&c, &[&a, &e]), vec![ip("192.0.2.3")]);
}

#[test]
fn ecmp_max_paths_caps_the_set_with_the_best_ranked_paths() {
    let mut c = config();
    c.decision.ecmp.max_paths = 2;
    // Router ids rank them 4 < 3 < 2 < 1 (addresses reversed), whatever the arrival order.
    let specs: Vec<Spec> = (1..=4)
        .map(|i| {
            Spec::new(&format!("192.0.2.{i}"), 65001, &[65001]).id(&format!("10.0.0.{}", 5 - i))
        })
        .collect();
    let expected = vec![ip("192.0.2.3"), ip("192.0.2.4")];
    let forward: Vec<&Spec> = specs.iter().collect();
    let backward: Vec<&Spec> = specs.iter().rev().collect();
    assert_eq!(ecmp_set(&c, &forward), expected);
    assert_eq!(ecmp_set(&c, &backward), expected);
    c.decision.ecmp.max_paths = 8;
    assert_eq!(ecmp_set(&c, &forward).len(), 4);
    c.decision.ecmp.max_paths = 1;
    assert_eq!(ecmp_set(&c, &forward), vec![ip("192.0.2.4")]);
}

#[test]
fn ecmp_deltas_shrink_to_one_then_withdraw() {
    let a = Spec::new("192.0.2.1", 65001, &[65001, 100]);
    let b = Spec::new("192.0.2.2", 65001, &[65001, 100]);
    let mut rib = Rib::new(config());
    let ia = add(&mut rib, &a);
    let ib = add(&mut rib, &b);
    rib.apply_update(ia, &update_for(&a, &[PREFIX])).unwrap();
    let first = rib.run_decision();
    assert_eq!(hops(&first[0].next_hops), vec![ip("192.0.2.1")]);
    rib.apply_update(ib, &update_for(&b, &[PREFIX])).unwrap();
    let grown = rib.run_decision();
    assert_eq!(grown.len(), 1, "the set grew: a change");
    assert_eq!(grown[0].best.as_ref().unwrap().peer, ia, "best unchanged");
    assert_eq!(
        hops(&grown[0].next_hops),
        vec![ip("192.0.2.1"), ip("192.0.2.2")]
    );

    // The best's companion goes: same best, one next hop left.
    rib.peer_down(ib, &[]);
    let shrunk = rib.run_decision();
    assert_eq!(shrunk.len(), 1);
    assert_eq!(shrunk[0].best.as_ref().unwrap().peer, ia);
    assert_eq!(hops(&shrunk[0].next_hops), vec![ip("192.0.2.1")]);

    // Back to two, then the best goes: the other takes over alone.
    rib.peer_up(ib, b.bgp_id, true, dual_stack());
    rib.apply_update(ib, &update_for(&b, &[PREFIX])).unwrap();
    assert_eq!(rib.run_decision()[0].next_hops.len(), 2);
    rib.peer_down(ia, &[]);
    let moved = rib.run_decision();
    assert_eq!(moved[0].best.as_ref().unwrap().peer, ib);
    assert_eq!(hops(&moved[0].next_hops), vec![ip("192.0.2.2")]);

    // Last one gone: a withdrawal, empty next hops.
    rib.peer_down(ib, &[]);
    let gone = rib.run_decision();
    assert_eq!(gone.len(), 1);
    assert!(gone[0].best.is_none());
    assert!(gone[0].next_hops.is_empty());
    assert!(rib.lookup(&pfx(PREFIX)).is_none());
}

#[test]
fn local_routes_have_no_forwarding_next_hops() {
    let (rib, _) = load(&config(), &[&Spec::local(100)]);
    let change = rib.lookup(&pfx(PREFIX)).unwrap();
    assert_eq!(change.best.peer, PeerId::LOCAL);
    assert!(change.next_hops.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Eligibility

#[test]
fn unresolved_next_hop_is_ineligible_when_resolution_is_required() {
    let mut c = config();
    c.require_next_hop_resolution = true;
    let a = Spec::new("192.0.2.1", 65001, &[65001]);
    let b = Spec::new("192.0.2.2", 65002, &[65002, 1, 2]);
    let mut rib = Rib::new(c);
    let ia = add(&mut rib, &a);
    let ib = add(&mut rib, &b);
    rib.apply_update(ia, &update_for(&a, &[PREFIX])).unwrap();
    assert!(rib.run_decision().is_empty(), "nothing resolvable yet");
    assert!(rib.lookup(&pfx(PREFIX)).is_none());
    assert_eq!(status_of(&rib, ia), PathStatus::Unreachable);

    rib.apply_update(ib, &update_for(&b, &[PREFIX])).unwrap();
    rib.set_next_hop(ip("192.0.2.2"), Some(10));
    let changes = rib.run_decision();
    assert_eq!(
        changes[0].best.as_ref().unwrap().peer,
        ib,
        "the worse but reachable path"
    );
    assert_eq!(status_of(&rib, ia), PathStatus::Unreachable);

    rib.set_next_hop(ip("192.0.2.1"), Some(10));
    assert_eq!(rib.run_decision()[0].best.as_ref().unwrap().peer, ia);
    assert_eq!(
        status_of(&rib, ib),
        PathStatus::Lost(DecisionStep::AsPathLength)
    );

    rib.set_next_hop(ip("192.0.2.1"), None);
    rib.set_next_hop(ip("192.0.2.2"), None);
    let gone = rib.run_decision();
    assert!(gone[0].best.is_none() && gone[0].next_hops.is_empty());
    assert_eq!(rib.stats().paths, 2, "the paths stay, ineligible");
}

fn outcome_of(rib: &mut Rib, peer: PeerId, spec: &Spec) -> rib::ImportOutcome {
    rib.apply_update(peer, &update_for(spec, &[PREFIX]))
        .unwrap()
}

#[test]
fn own_as_in_the_path_is_a_loop_unless_allowed() {
    let mut rib = Rib::new(config());
    let looped = Spec::new("192.0.2.1", 65001, &[65001, LOCAL_AS, 7]);
    let peer = add(&mut rib, &looped);
    let out = outcome_of(&mut rib, peer, &looped);
    assert_eq!(out.accepted, 0);
    assert_eq!(out.rejected, vec![(RejectReason::AsPathLoop, 1)]);
    assert!(rib.run_decision().is_empty());

    // allowas-in 1: one occurrence passes, two do not.
    let mut rib = Rib::new(config());
    let mut pc = PeerConfig::new(ip("192.0.2.1"), 65001);
    pc.import = vec![Arc::new(Policy::accept_all("all"))];
    pc.allow_own_as = 1;
    let peer = rib.add_peer(pc);
    rib.peer_up(peer, v4("192.0.2.1"), true, dual_stack());
    assert_eq!(outcome_of(&mut rib, peer, &looped).accepted, 1);
    assert_eq!(rib.run_decision().len(), 1);
    let twice = Spec::new("192.0.2.1", 65001, &[65001, LOCAL_AS, 7, LOCAL_AS]);
    let out = outcome_of(&mut rib, peer, &twice);
    assert_eq!(out.rejected, vec![(RejectReason::AsPathLoop, 1)]);
    // The looped re-announcement replaces (removes) the earlier path.
    let changes = rib.run_decision();
    assert!(changes[0].best.is_none());
    assert_eq!(rib.stats().paths, 0);
}

#[test]
fn reflection_loops_are_rejected() {
    let base = Spec::new("192.0.2.1", LOCAL_AS, &[65001]);
    let own_originator = base.clone().with(|a| a.originator_id = Some(v4(ROUTER_ID)));
    let own_cluster = base
        .clone()
        .with(|a| a.cluster_list = vec![v4("10.1.1.1"), v4(ROUTER_ID)]);
    for spec in [&own_originator, &own_cluster] {
        let mut rib = Rib::new(config());
        let peer = add(&mut rib, spec);
        let out = outcome_of(&mut rib, peer, spec);
        assert_eq!(
            out.rejected,
            vec![(RejectReason::ReflectionLoop, 1)],
            "{spec:?}"
        );
    }
    // A configured cluster id replaces the router id in the check.
    let mut c = config();
    c.cluster_id = Some(v4("10.7.7.7"));
    let mut rib = Rib::new(c);
    let peer = add(&mut rib, &own_cluster);
    assert_eq!(outcome_of(&mut rib, peer, &own_cluster).accepted, 1);
    let in_cluster = base.with(|a| a.cluster_list = vec![v4("10.7.7.7")]);
    assert_eq!(
        outcome_of(&mut rib, peer, &in_cluster).rejected,
        vec![(RejectReason::ReflectionLoop, 1)]
    );
}

// ---------------------------------------------------------------------------------------------
// Import policy

fn term(matches: Vec<Match>, actions: Vec<SetAction>, verdict: Verdict) -> Term {
    Term {
        name: format!("t{}", matches.len()),
        matches,
        actions,
        verdict,
        allow_protected: false,
    }
}

fn policy(terms: Vec<Term>) -> Policy {
    Policy {
        name: "p".into(),
        terms,
    }
}

fn pm(prefix: &str, ge: Option<u8>, le: Option<u8>) -> PrefixMatch {
    PrefixMatch {
        prefix: pfx(prefix),
        ge,
        le,
    }
}

/// The prefixes of `offered` that `chain` lets into the RIB from an eBGP peer.
fn accepted_by(chain: Vec<Policy>, spec: &Spec, offered: &[&str]) -> Vec<Prefix> {
    let mut rib = Rib::new(config());
    let mut pc = PeerConfig::new(IpAddr::V4(spec.addr), spec.asn);
    pc.import = chain.into_iter().map(Arc::new).collect();
    let peer = rib.add_peer(pc);
    rib.peer_up(peer, spec.bgp_id, true, dual_stack());
    rib.apply_update(peer, &update_for(spec, offered)).unwrap();
    let mut got: Vec<Prefix> = rib
        .run_decision()
        .into_iter()
        .filter(|c| c.best.is_some())
        .map(|c| c.prefix)
        .collect();
    got.sort();
    got
}

fn pfxs(list: &[&str]) -> Vec<Prefix> {
    let mut v: Vec<Prefix> = list.iter().map(|p| pfx(p)).collect();
    v.sort();
    v
}

#[test]
fn prefix_lists_with_ge_and_le() {
    let offered = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.1.0/24",
        "10.1.1.128/25",
        "11.0.0.0/16",
    ];
    let spec = Spec::new("192.0.2.1", 65001, &[65001]);
    let cases: [(PrefixMatch, &[&str]); 5] = [
        (pm("10.0.0.0/8", None, None), &["10.0.0.0/8"]),
        (
            pm("10.0.0.0/8", Some(16), Some(24)),
            &["10.1.0.0/16", "10.1.1.0/24"],
        ),
        (
            pm("10.0.0.0/8", Some(24), None),
            &["10.1.1.0/24", "10.1.1.128/25"],
        ),
        (
            pm("10.0.0.0/8", None, Some(16)),
            &["10.0.0.0/8", "10.1.0.0/16"],
        ),
        (pm("10.1.0.0/16", Some(25), Some(32)), &["10.1.1.128/25"]),
    ];
    for (m, expected) in cases {
        let chain = vec![policy(vec![term(
            vec![Match::PrefixList(vec![m])],
            vec![],
            Verdict::Accept,
        )])];
        assert_eq!(accepted_by(chain, &spec, &offered), pfxs(expected), "{m:?}");
    }
    // A list matches when any entry does.
    let chain = vec![policy(vec![term(
        vec![Match::PrefixList(vec![
            pm("11.0.0.0/8", Some(16), Some(16)),
            pm("10.1.1.0/24", None, None),
        ])],
        vec![],
        Verdict::Accept,
    )])];
    assert_eq!(
        accepted_by(chain, &spec, &offered),
        pfxs(&["10.1.1.0/24", "11.0.0.0/16"])
    );
}

#[test]
fn community_large_community_and_as_path_matches() {
    let accept_if = |m: Match| vec![policy(vec![term(vec![m], vec![], Verdict::Accept)])];
    let plain = Spec::new("192.0.2.1", 65001, &[65001, 3356, 13335]);
    let tagged = plain.clone().with(|a| {
        a.communities = vec![Community::new(65001, 100)];
        a.large_communities = vec![LargeCommunity {
            global_admin: 4_200_000_000,
            local_data1: 1,
            local_data2: 2,
        }];
    });
    let one = [PREFIX];
    let yes = pfxs(&one);
    let no: Vec<Prefix> = Vec::new();
    let cases: Vec<(Match, &Spec, &Vec<Prefix>)> = vec![
        (Match::Community(Community::new(65001, 100)), &tagged, &yes),
        (Match::Community(Community::new(65001, 100)), &plain, &no),
        (Match::Community(Community::new(65001, 101)), &tagged, &no),
        (
            Match::LargeCommunity(LargeCommunity {
                global_admin: 4_200_000_000,
                local_data1: 1,
                local_data2: 2,
            }),
            &tagged,
            &yes,
        ),
        (
            Match::LargeCommunity(LargeCommunity {
                global_admin: 4_200_000_000,
                local_data1: 1,
                local_data2: 3,
            }),
            &tagged,
            &no,
        ),
        (Match::AsPathContains(3356), &plain, &yes),
        (Match::AsPathContains(174), &plain, &no),
        (Match::OriginAs(13335), &plain, &yes),
        (Match::OriginAs(3356), &plain, &no),
        (Match::AsPathLength { min: 3, max: 3 }, &plain, &yes),
        (Match::AsPathLength { min: 0, max: 2 }, &plain, &no),
        (Match::Neighbor(ip("192.0.2.1")), &plain, &yes),
        (Match::Neighbor(ip("192.0.2.2")), &plain, &no),
        (Match::NextHop(pfx("192.0.2.0/24")), &plain, &yes),
        (Match::Family(Family::IPV4_UNICAST), &plain, &yes),
        (Match::Family(Family::IPV6_UNICAST), &plain, &no),
    ];
    for (m, spec, expected) in cases {
        assert_eq!(
            &accepted_by(accept_if(m.clone()), spec, &one),
            expected,
            "{m:?} on {:?}",
            spec.attrs
        );
    }
}

fn best_attrs(chain: Vec<Policy>, spec: &Spec) -> Option<PathAttributes> {
    let mut rib = Rib::new(config());
    let mut pc = PeerConfig::new(IpAddr::V4(spec.addr), spec.asn);
    pc.import = chain.into_iter().map(Arc::new).collect();
    let peer = rib.add_peer(pc);
    rib.peer_up(peer, spec.bgp_id, true, dual_stack());
    rib.apply_update(peer, &update_for(spec, &[PREFIX]))
        .unwrap();
    rib.run_decision();
    rib.lookup(&pfx(PREFIX)).map(|c| c.best.attrs.attrs.clone())
}

#[test]
fn set_actions_change_the_stored_route() {
    let spec = Spec::new("192.0.2.1", 65001, &[65001, 7]).with(|a| {
        a.communities = vec![Community::new(65001, 1), Community::new(65001, 2)];
    });
    let chain = vec![policy(vec![term(
        vec![],
        vec![
            SetAction::LocalPref(250),
            SetAction::Med(42),
            SetAction::AddCommunity(Community::new(65000, 9)),
            SetAction::RemoveCommunity(Community::new(65001, 1)),
            SetAction::AddLargeCommunity(LargeCommunity {
                global_admin: 65000,
                local_data1: 0,
                local_data2: 1,
            }),
            SetAction::Prepend {
                asn: None,
                count: 2,
            },
            SetAction::Prepend {
                asn: Some(64999),
                count: 1,
            },
        ],
        Verdict::Accept,
    )])];
    let a = best_attrs(chain.clone(), &spec).expect("accepted");
    assert_eq!(a.local_pref, Some(250));
    assert_eq!(a.med, Some(42));
    assert_eq!(
        a.communities,
        vec![Community::new(65001, 2), Community::new(65000, 9)]
    );
    assert_eq!(a.large_communities.len(), 1);
    assert_eq!(
        a.as_path,
        Some(AsPath::from_sequence(vec![
            64999, LOCAL_AS, LOCAL_AS, 65001, 7
        ]))
    );
    // The derived fields follow the actions: the decision sees the new length and local pref.
    let mut rib = Rib::new(config());
    let mut pc = PeerConfig::new(IpAddr::V4(spec.addr), spec.asn);
    pc.import = chain.into_iter().map(Arc::new).collect();
    let peer = rib.add_peer(pc);
    rib.peer_up(peer, spec.bgp_id, true, dual_stack());
    rib.apply_update(peer, &update_for(&spec, &[PREFIX]))
        .unwrap();
    rib.run_decision();
    let best = rib.lookup(&pfx(PREFIX)).unwrap().best;
    assert_eq!(best.attrs.as_path_len, 5);
    assert_eq!(best.attrs.local_pref, 250);
}

#[test]
fn first_matching_term_decides() {
    let spec = Spec::new("192.0.2.1", 65001, &[65001]);
    let lp = |v| SetAction::LocalPref(v);
    // Two accepting terms: the first one's actions only.
    let a = best_attrs(
        vec![policy(vec![
            term(vec![], vec![lp(200)], Verdict::Accept),
            term(vec![], vec![lp(300)], Verdict::Accept),
        ])],
        &spec,
    )
    .unwrap();
    assert_eq!(a.local_pref, Some(200));
    // A reject before an accept.
    assert!(best_attrs(
        vec![policy(vec![
            term(vec![Match::AsPathContains(65001)], vec![], Verdict::Reject),
            term(vec![], vec![], Verdict::Accept),
        ])],
        &spec
    )
    .is_none());
    // A non-matching term is skipped.
    let a = best_attrs(
        vec![policy(vec![
            term(
                vec![Match::AsPathContains(1)],
                vec![lp(10)],
                Verdict::Reject,
            ),
            term(vec![], vec![lp(20)], Verdict::Accept),
        ])],
        &spec,
    )
    .unwrap();
    assert_eq!(a.local_pref, Some(20));
    // `Next` applies its actions and goes on; later matches see them.
    let a = best_attrs(
        vec![policy(vec![
            term(
                vec![],
                vec![SetAction::AddCommunity(Community::new(1, 1))],
                Verdict::Next,
            ),
            term(
                vec![Match::Community(Community::new(1, 1))],
                vec![SetAction::Med(5)],
                Verdict::Accept,
            ),
        ])],
        &spec,
    )
    .unwrap();
    assert_eq!(a.med, Some(5));
    assert_eq!(a.communities, vec![Community::new(1, 1)]);
    // The chain goes on to the next policy; reaching its end rejects.
    let a = best_attrs(
        vec![
            policy(vec![term(
                vec![Match::AsPathContains(1)],
                vec![],
                Verdict::Accept,
            )]),
            policy(vec![term(vec![], vec![lp(77)], Verdict::Accept)]),
        ],
        &spec,
    )
    .unwrap();
    assert_eq!(a.local_pref, Some(77));
    assert!(best_attrs(
        vec![policy(vec![term(vec![], vec![lp(1)], Verdict::Next)])],
        &spec
    )
    .is_none());
}

#[test]
fn rfc8212_no_import_policy_rejects_ebgp_and_accepts_ibgp() {
    let ebgp = Spec::new("192.0.2.1", 65001, &[65001]);
    assert!(best_attrs(vec![], &ebgp).is_none());
    let mut rib = Rib::new(config());
    let peer = rib.add_peer(PeerConfig::new(ip("192.0.2.1"), 65001));
    rib.peer_up(peer, v4("192.0.2.1"), true, dual_stack());
    let out = outcome_of(&mut rib, peer, &ebgp);
    assert_eq!(out.rejected, vec![(RejectReason::Policy, 1)]);
    let ibgp = Spec::new("192.0.2.2", LOCAL_AS, &[]);
    assert!(best_attrs(vec![], &ibgp).is_some());
}

#[test]
fn protected_prefixes_need_an_allowing_term() {
    let mut c = config();
    c.protected_prefixes = vec![pfx("10.96.0.0/12")];
    let offered = [
        "0.0.0.0/0",
        "10.96.0.0/12",
        "10.0.0.0/8",
        "10.96.1.0/24",
        "172.16.0.0/12",
    ];
    let spec = Spec::new("192.0.2.1", 65001, &[65001]);
    let run = |allow: bool| {
        let mut rib = Rib::new(c.clone());
        let mut pc = PeerConfig::new(IpAddr::V4(spec.addr), spec.asn);
        let mut t = term(vec![], vec![], Verdict::Accept);
        t.allow_protected = allow;
        pc.import = vec![Arc::new(policy(vec![t]))];
        let peer = rib.add_peer(pc);
        rib.peer_up(peer, spec.bgp_id, true, dual_stack());
        let out = rib
            .apply_update(peer, &update_for(&spec, &offered))
            .unwrap();
        let mut got: Vec<Prefix> = rib.run_decision().into_iter().map(|c| c.prefix).collect();
        got.sort();
        (out, got)
    };
    let (out, got) = run(false);
    assert_eq!(got, pfxs(&["10.96.1.0/24", "172.16.0.0/12"]));
    assert_eq!(out.rejected, vec![(RejectReason::Protected, 3)]);
    let (out, got) = run(true);
    assert_eq!(got, pfxs(&offered));
    assert!(out.rejected.is_empty());

    // The IPv6 default route is protected too.
    let mut rib = Rib::new(config());
    let peer = add(&mut rib, &spec);
    let out = rib
        .apply_update(peer, &v6_update(&["::/0", "2001:db8::/32"], ll_hop()))
        .unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::Protected, 1)]);
    assert_eq!(rib.run_decision().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Max-prefix

fn numbered(from: u32, n: u32) -> Vec<String> {
    (from..from + n)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect()
}

fn announce(
    rib: &mut Rib,
    peer: PeerId,
    spec: &Spec,
    prefixes: &[String],
) -> Result<rib::ImportOutcome, rib::MaxPrefixExceeded> {
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    rib.apply_update(peer, &update_for(spec, &refs))
}

#[test]
fn max_prefix_warns_once_and_fails_past_the_limit() {
    let spec = Spec::new("192.0.2.1", 65001, &[65001]);
    let mut rib = Rib::new(config());
    let mut pc = PeerConfig::new(IpAddr::V4(spec.addr), spec.asn);
    pc.import = spec.import.clone();
    pc.max_prefix = vec![MaxPrefix {
        family: Family::IPV4_UNICAST,
        limit: 10,
        warning_percent: 80,
    }];
    let peer = rib.add_peer(pc);
    rib.peer_up(peer, spec.bgp_id, true, dual_stack());

    let out = announce(&mut rib, peer, &spec, &numbered(0, 7)).unwrap();
    assert!(out.warnings.is_empty());
    // Re-announcing the same prefixes does not count them twice.
    let out = announce(&mut rib, peer, &spec, &numbered(0, 7)).unwrap();
    assert!(out.warnings.is_empty());
    assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST), 7);
    let out = announce(&mut rib, peer, &spec, &numbered(7, 1)).unwrap();
    assert_eq!(out.warnings, vec![Family::IPV4_UNICAST], "8 of 10 is 80%");
    let out = announce(&mut rib, peer, &spec, &numbered(8, 2)).unwrap();
    assert!(out.warnings.is_empty(), "warned once");
    assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST), 10);
    let err = announce(&mut rib, peer, &spec, &numbered(10, 1)).unwrap_err();
    assert_eq!(
        err,
        rib::MaxPrefixExceeded {
            family: Family::IPV4_UNICAST,
            limit: 10,
            count: 11
        }
    );
    // Withdrawals lower the count; the caller ends the session, and then it starts again.
    rib.peer_down(peer, &[]);
    assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST), 0);
    rib.peer_up(peer, spec.bgp_id, true, dual_stack());
    let out = announce(&mut rib, peer, &spec, &numbered(0, 9)).unwrap();
    assert_eq!(
        out.warnings,
        vec![Family::IPV4_UNICAST],
        "a new session warns again"
    );
    let withdraw = Update {
        withdrawn: numbered(0, 5).iter().map(|p| Nlri::new(pfx(p))).collect(),
        ..Update::default()
    };
    assert_eq!(rib.apply_update(peer, &withdraw).unwrap().withdrawn, 5);
    assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST), 4);
    // Other families are not limited.
    assert!(rib
        .apply_update(peer, &v6_update(&["2001:db8::/32"; 1], ll_hop()))
        .is_ok());
}

#[test]
fn max_prefix_counts_stay_right_across_a_graceful_restart() {
    let spec = Spec::new("192.0.2.1", 65001, &[65001]);
    let mut rib = Rib::new(config());
    let mut pc = PeerConfig::new(IpAddr::V4(spec.addr), spec.asn);
    pc.import = spec.import.clone();
    pc.max_prefix = vec![MaxPrefix {
        family: Family::IPV4_UNICAST,
        limit: 10,
        warning_percent: 100,
    }];
    let peer = rib.add_peer(pc);
    rib.peer_up(peer, spec.bgp_id, true, dual_stack());
    announce(&mut rib, peer, &spec, &numbered(0, 8)).unwrap();
    rib.run_decision();
    for _ in 0..3 {
        rib.peer_down(peer, &[Family::IPV4_UNICAST]);
        rib.peer_up(peer, spec.bgp_id, true, dual_stack());
        // The same 8 again, and End-of-RIB: still 8 routes, far from the limit.
        announce(&mut rib, peer, &spec, &numbered(0, 8)).unwrap();
        rib.end_of_rib(peer, Family::IPV4_UNICAST);
        rib.run_decision();
        assert_eq!(rib.stats().paths, 8);
        assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST), 8);
    }
    // After a restart that re-sends only 2, the count is 2 and 8 more fit.
    rib.peer_down(peer, &[Family::IPV4_UNICAST]);
    rib.peer_up(peer, spec.bgp_id, true, dual_stack());
    announce(&mut rib, peer, &spec, &numbered(0, 2)).unwrap();
    rib.end_of_rib(peer, Family::IPV4_UNICAST);
    assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST), 2);
    assert!(announce(&mut rib, peer, &spec, &numbered(100, 8)).is_ok());
    assert!(announce(&mut rib, peer, &spec, &numbered(200, 1)).is_err());
}

// ---------------------------------------------------------------------------------------------
// IPv6 and RFC 7606

fn ll_hop() -> NextHop {
    NextHop::V6 {
        global: "2001:db8:ffff::1".parse().unwrap(),
        link_local: Some("fe80::1".parse().unwrap()),
    }
}

fn v6_update(prefixes: &[&str], next_hop: NextHop) -> Update {
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(vec![65001])),
            ..PathAttributes::default()
        },
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop,
            nlri: prefixes.iter().map(|p| Nlri::new(pfx(p))).collect(),
        }),
        ..Update::default()
    }
}

#[test]
fn ipv6_with_link_local_next_hops() {
    let spec = Spec::new("192.0.2.1", 65001, &[65001]);
    let mut rib = Rib::new(config());
    let peer = add(&mut rib, &spec);
    rib.apply_update(peer, &v6_update(&["2001:db8:1::/48"], ll_hop()))
        .unwrap();
    // Link-local only (global ::): the link-local address is the next hop.
    let ll_only = NextHop::V6 {
        global: Ipv6Addr::UNSPECIFIED,
        link_local: Some("fe80::2".parse().unwrap()),
    };
    rib.apply_update(peer, &v6_update(&["2001:db8:2::/48"], ll_only))
        .unwrap();
    let global_only = NextHop::V6 {
        global: "2001:db8:ffff::3".parse().unwrap(),
        link_local: None,
    };
    rib.apply_update(peer, &v6_update(&["2001:db8:3::/48"], global_only))
        .unwrap();
    let mut changes = rib.run_decision();
    changes.sort_by_key(|c| c.prefix);
    let got: Vec<Vec<ForwardingNextHop>> = changes.iter().map(|c| c.next_hops.to_vec()).collect();
    let hop = |a: &str, ll: Option<&str>| ForwardingNextHop {
        address: IpAddr::V6(a.parse().unwrap()),
        link_local: ll.map(|l| l.parse().unwrap()),
    };
    assert_eq!(
        got,
        vec![
            vec![hop("2001:db8:ffff::1", Some("fe80::1"))],
            vec![hop("fe80::2", None)],
            vec![hop("2001:db8:ffff::3", None)],
        ]
    );
    assert_eq!(rib.accepted_count(peer, Family::IPV6_UNICAST), 3);
    assert_eq!(rib.accepted_count(peer, Family::IPV4_UNICAST), 0);
    // MP_UNREACH withdraws.
    let w = Update {
        mp_unreach: Some(MpUnreach {
            family: Family::IPV6_UNICAST,
            withdrawn: vec![Nlri::new(pfx("2001:db8:1::/48"))],
        }),
        ..Update::default()
    };
    assert_eq!(rib.apply_update(peer, &w).unwrap().withdrawn, 1);
    let changes = rib.run_decision();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].best.is_none());
    assert_eq!(rib.stats().prefixes, 2);
}

#[test]
fn treat_as_withdraw_removes_the_path() {
    let a = Spec::new("192.0.2.1", 65001, &[65001]);
    let b = Spec::new("192.0.2.2", 65002, &[65002, 1]);
    let mut rib = Rib::new(config());
    let ia = add(&mut rib, &a);
    let ib = add(&mut rib, &b);
    rib.apply_update(ia, &update_for(&a, &[PREFIX, "10.0.1.0/24"]))
        .unwrap();
    rib.apply_update(ib, &update_for(&b, &[PREFIX])).unwrap();
    rib.run_decision();
    let mut bad = update_for(&a, &[PREFIX, "10.0.1.0/24"]);
    bad.treat_as_withdraw = Some(UpdateError {
        kind: UpdateErrorKind::MalformedAsPath,
        action: Rfc7606Action::TreatAsWithdraw,
        data: bytes::Bytes::new(),
    });
    let out = rib.apply_update(ia, &bad).unwrap();
    assert_eq!(out.accepted, 0);
    assert_eq!(out.withdrawn, 2);
    assert!(out
        .rejected
        .iter()
        .any(|(r, _)| *r == RejectReason::Malformed));
    let mut changes = rib.run_decision();
    changes.sort_by_key(|c| c.prefix);
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].best.as_ref().unwrap().peer, ib, "fell back to b");
    assert!(changes[1].best.is_none(), "withdrawn");
    assert_eq!(rib.stats().paths, 1);
    assert_eq!(rib.accepted_count(ia, Family::IPV4_UNICAST), 0);
}
