//! ADD-PATH send (RFC 7911): up to N paths per prefix to a neighbour whose session negotiated
//! it, best first, each with a path identifier that stays while its path stays advertised, and
//! withdrawals by path identifier.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{AsPath, Family, FamilySet, Message, Nlri, Origin, Prefix, SessionContext, Update};
use bytes::BytesMut;
use rib::{encode_updates, OutgoingUpdate, PeerConfig, PeerId, Policy, Rib, RibConfig};

const LOCAL_AS: u32 = 65000;
const PREFIX: &str = "10.244.1.0/24";

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn prefix() -> Prefix {
    PREFIX.parse().unwrap()
}

fn announcement(path: &[u32], next_hop: &str) -> Update {
    let mut u = Update::default();
    u.attributes.origin = Some(Origin::Igp);
    u.attributes.as_path = Some(AsPath::from_sequence(path.to_vec()));
    u.attributes.next_hop = Some(v4(next_hop));
    u.nlri = vec![Nlri::new(prefix())];
    u
}

fn withdrawal() -> Update {
    Update {
        withdrawn: vec![Nlri::new(prefix())],
        ..Update::default()
    }
}

/// What one neighbour was sent for the prefix: announced (path id, AS path), withdrawn ids.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sent {
    announced: Vec<(u32, Vec<u32>)>,
    withdrawn: Vec<u32>,
}

fn sent(updates: &[OutgoingUpdate]) -> Sent {
    let mut out = Sent::default();
    for u in updates {
        assert_eq!(u.prefixes, vec![prefix(); u.prefixes.len()]);
        assert_eq!(u.path_ids.len(), u.prefixes.len(), "{u:?}");
        match &u.attrs {
            None => out.withdrawn.extend(&u.path_ids),
            Some(attrs) => {
                let path = attrs.attrs.as_path.as_ref().unwrap();
                let asns: Vec<u32> = path.segments.iter().flat_map(|s| s.asns.clone()).collect();
                out.announced
                    .extend(u.path_ids.iter().map(|id| (*id, asns.clone())));
            }
        }
    }
    out.announced.sort();
    out.withdrawn.sort();
    out
}

struct Lab {
    rib: Rib,
    /// Three sources: a (shortest AS path, the best), b, c (longest).
    sources: [PeerId; 3],
    /// Receives two paths per prefix.
    two: PeerId,
    /// Configured for every path, but its session did not negotiate ADD-PATH.
    single: PeerId,
}

const PATHS: [&[u32]; 3] = [&[65001], &[65002, 65100], &[65003, 65100, 65200]];

impl Lab {
    fn new() -> Self {
        let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4("198.18.0.1")));
        let mut peer = |n: u8, asn: u32, add_path_send: usize, negotiated: bool| {
            let address = Ipv4Addr::new(198, 18, n, 2);
            let mut config = PeerConfig::new(IpAddr::V4(address), asn);
            config.import = vec![Arc::new(Policy::accept_all("in"))];
            config.export = vec![Arc::new(Policy::accept_all("out"))];
            config.local_ipv4 = Some(Ipv4Addr::new(198, 18, n, 1));
            config.add_path_send = add_path_send;
            let id = rib.add_peer(config);
            if negotiated {
                rib.set_add_path(id, FamilySet::of(&[Family::IPV4_UNICAST]));
            }
            rib.peer_up(id, address, true, FamilySet::of(&[Family::IPV4_UNICAST]));
            id
        };
        let a = peer(1, 65001, 0, false);
        let b = peer(2, 65002, 0, false);
        let c = peer(3, 65003, 0, false);
        let two = peer(10, 65010, 2, true);
        let single = peer(11, 65011, rib::ADD_PATH_ALL, false);
        Self {
            rib,
            sources: [a, b, c],
            two,
            single,
        }
    }

    fn announce(&mut self, source: usize) {
        let next_hop = format!("198.18.{}.2", source + 1);
        let update = announcement(PATHS[source], &next_hop);
        self.rib
            .apply_update(self.sources[source], &update)
            .unwrap();
        self.rib.run_decision();
    }

    fn withdraw(&mut self, source: usize) {
        self.rib
            .apply_update(self.sources[source], &withdrawal())
            .unwrap();
        self.rib.run_decision();
    }

    fn sent_to(&mut self, peer: PeerId) -> Sent {
        sent(&self.rib.take_updates(peer))
    }
}

fn exported(path: &[u32]) -> Vec<u32> {
    std::iter::once(LOCAL_AS)
        .chain(path.iter().copied())
        .collect()
}

#[test]
fn the_best_paths_go_with_stable_ids_and_gone_ones_are_withdrawn_by_id() {
    let mut lab = Lab::new();
    for source in 0..3 {
        lab.announce(source);
    }
    let first = lab.sent_to(lab.two);
    assert_eq!(
        first.announced,
        vec![(1, exported(PATHS[0])), (2, exported(PATHS[1]))],
        "the best first, with the first identifier"
    );
    assert!(first.withdrawn.is_empty());
    assert_eq!(lab.rib.advertised_count(lab.two), 1, "one prefix");

    // The best goes: b stays with its identifier, c takes the free one (an implicit replace).
    lab.withdraw(0);
    let second = lab.sent_to(lab.two);
    assert_eq!(second.announced, vec![(1, exported(PATHS[2]))]);
    assert!(second.withdrawn.is_empty(), "{second:?}");

    // b goes: only c is left, b's identifier is withdrawn.
    lab.withdraw(1);
    assert_eq!(
        lab.sent_to(lab.two),
        Sent {
            announced: Vec::new(),
            withdrawn: vec![2],
        }
    );

    // A path that was not advertised comes back among the two: a new identifier.
    lab.announce(0);
    assert_eq!(
        lab.sent_to(lab.two).announced,
        vec![(2, exported(PATHS[0]))]
    );

    lab.withdraw(0);
    lab.withdraw(2);
    let last = lab.sent_to(lab.two);
    assert_eq!(last.withdrawn, vec![1, 2]);
    assert!(last.announced.is_empty());
    assert_eq!(lab.rib.advertised_count(lab.two), 0);
}

#[test]
fn a_change_of_a_second_path_reaches_add_path_neighbours_only() {
    let mut lab = Lab::new();
    lab.announce(0);
    lab.announce(1);
    lab.sent_to(lab.two);
    let before = lab.rib.take_updates(lab.single);
    assert_eq!(before.len(), 1);
    assert!(before[0].path_ids.is_empty(), "no ADD-PATH negotiated");

    // b's path changes; the best does not.
    let update = announcement(&[65002, 65300], "198.18.2.2");
    lab.rib.apply_update(lab.sources[1], &update).unwrap();
    lab.rib.run_decision();
    assert_eq!(
        lab.sent_to(lab.two).announced,
        vec![(2, exported(&[65002, 65300]))]
    );
    assert!(lab.rib.take_updates(lab.single).is_empty());

    // A route refresh sends both paths again; an unchanged decision sends nothing.
    lab.rib.readvertise(lab.two, Family::IPV4_UNICAST);
    assert_eq!(lab.sent_to(lab.two).announced.len(), 2);
    lab.rib.set_next_hop(IpAddr::V4(v4("198.18.9.9")), Some(1));
    lab.rib.run_decision();
    assert!(lab.rib.take_updates(lab.two).is_empty());
}

#[test]
fn a_path_is_not_sent_back_to_its_source_but_the_others_are() {
    let mut rib = Rib::new(RibConfig::new(LOCAL_AS, v4("198.18.0.1")));
    let mut peer = |n: u8, asn: u32| {
        let address = Ipv4Addr::new(198, 18, n, 2);
        let mut config = PeerConfig::new(IpAddr::V4(address), asn);
        config.import = vec![Arc::new(Policy::accept_all("in"))];
        config.export = vec![Arc::new(Policy::accept_all("out"))];
        config.local_ipv4 = Some(Ipv4Addr::new(198, 18, n, 1));
        config.add_path_send = rib::ADD_PATH_ALL;
        let id = rib.add_peer(config);
        rib.set_add_path(id, FamilySet::of(&[Family::IPV4_UNICAST]));
        rib.peer_up(id, address, true, FamilySet::of(&[Family::IPV4_UNICAST]));
        id
    };
    let (a, b) = (peer(1, 65001), peer(2, 65002));
    rib.apply_update(a, &announcement(PATHS[0], "198.18.1.2"))
        .unwrap();
    rib.apply_update(b, &announcement(PATHS[1], "198.18.2.2"))
        .unwrap();
    rib.run_decision();
    assert_eq!(
        sent(&rib.take_updates(a)).announced,
        vec![(1, exported(PATHS[1]))],
        "a gets b's path only"
    );
    assert_eq!(
        sent(&rib.take_updates(b)).announced,
        vec![(1, exported(PATHS[0]))],
        "b gets a's path only"
    );
}

#[test]
fn path_ids_are_encoded_when_the_session_sends_them() {
    let mut lab = Lab::new();
    lab.announce(0);
    lab.announce(1);
    let updates = lab.rib.take_updates(lab.two);
    let mut ctx = SessionContext::modern_ebgp();
    ctx.add_path_tx = FamilySet::of(&[Family::IPV4_UNICAST]);
    let mut out = BytesMut::new();
    encode_updates(&updates, ctx, &mut out).unwrap();
    let mut receiving = SessionContext::modern_ebgp();
    receiving.add_path_rx = FamilySet::of(&[Family::IPV4_UNICAST]);
    let mut ids = Vec::new();
    let mut frames = out.freeze();
    while !frames.is_empty() {
        let len = usize::from(u16::from_be_bytes([frames[16], frames[17]]));
        match Message::decode(frames.split_to(len), &receiving).unwrap() {
            Message::Update(u) => ids.extend(u.nlri.iter().map(|n| (n.prefix, n.path_id))),
            other => panic!("unexpected {other:?}"),
        }
    }
    ids.sort();
    assert_eq!(ids, vec![(prefix(), Some(1)), (prefix(), Some(2))]);
}
