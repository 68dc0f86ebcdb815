//! A synthetic full-table feed, the same shape as `bgpfeed.py gen --attrsets K` produces:
//! ~85% /24 and the rest /16-/23 unique IPv4 prefixes outside 0/8, 10/8, 127/8, 224/3 and
//! 198.18/15; K attribute sets with AS paths of the neighbour AS plus 1-5 random ASes (half
//! 2-octet, half 4-octet), a MED on 20% and 1-3 communities on 30%; every prefix given to a
//! random set, one UPDATE per set (about n / K prefixes each). Deterministic (own PRNG).

#![allow(dead_code)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use bgp_proto::{AsPath, Community, Nlri, Origin, PathAttributes, Prefix, Update};

/// splitmix64.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// True with probability p.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn excluded(net: u32) -> bool {
    let o1 = net >> 24;
    o1 == 0 || o1 == 10 || o1 == 127 || o1 >= 224 || (net >> 17) == (0xC612 >> 1)
}

/// `n` unique prefixes.
pub fn prefixes(n: usize, seed: u64) -> Vec<Prefix> {
    let mut rng = Rng::new(seed);
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = if rng.chance(0.85) {
            24
        } else {
            rng.range(16, 23) as u8
        };
        let mask = u32::MAX << (32 - u32::from(len));
        let net = rng.range(1 << 24, (224 << 24) - 1) as u32 & mask;
        if excluded(net) || !seen.insert((net, len)) {
            continue;
        }
        out.push(Prefix::new(IpAddr::V4(Ipv4Addr::from(net)), len).expect("valid prefix"));
    }
    out
}

/// One attribute set before the next hop is added.
#[derive(Clone, Debug)]
pub struct AttrSet {
    pub path: Vec<u32>,
    pub med: Option<u32>,
    pub communities: Vec<Community>,
}

/// `k` attribute sets from neighbour AS `first_as`.
pub fn attr_sets(k: usize, first_as: u32, seed: u64) -> Vec<AttrSet> {
    attr_set_iter(k, first_as, seed).collect()
}

/// The same sets as [`attr_sets`], generated one at a time.
pub fn attr_set_iter(k: usize, first_as: u32, seed: u64) -> impl Iterator<Item = AttrSet> {
    let mut rng = Rng::new(seed);
    (0..k).map(move |_| {
        let hops = rng.range(1, 5);
        let mut path = vec![first_as];
        for _ in 0..hops {
            path.push(if rng.chance(0.5) {
                rng.range(1000, 64000) as u32
            } else {
                rng.range(131_072, 400_000) as u32
            });
        }
        let med = rng.chance(0.2).then(|| rng.range(0, 1000) as u32);
        let communities = if rng.chance(0.3) {
            let last = *path.last().expect("non-empty") as u16;
            (0..rng.range(1, 3))
                .map(|_| Community::new(last, rng.range(1, 999) as u16))
                .collect()
        } else {
            Vec::new()
        };
        AttrSet {
            path,
            med,
            communities,
        }
    })
}

/// The attribute set of each prefix in turn (a random one of `k`).
pub fn set_of_each(k: usize, seed: u64) -> impl Iterator<Item = usize> {
    let mut rng = Rng::new(seed);
    std::iter::repeat_with(move || rng.range(0, k as u64 - 1) as usize)
}

/// The prefixes of each attribute set ([`set_of_each`]), sorted.
pub fn groups(prefixes: &[Prefix], k: usize, seed: u64) -> Vec<Vec<Prefix>> {
    let mut groups = vec![Vec::new(); k];
    for (p, set) in prefixes.iter().zip(set_of_each(k, seed)) {
        groups[set].push(*p);
    }
    for g in &mut groups {
        g.sort();
    }
    groups
}

/// The UPDATE announcing `prefixes` with `set` and `next_hop`.
pub fn announce(set: &AttrSet, next_hop: Ipv4Addr, prefixes: &[Prefix]) -> Update {
    Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(set.path.clone())),
            next_hop: Some(next_hop),
            med: set.med,
            communities: set.communities.clone(),
            ..PathAttributes::default()
        },
        nlri: prefixes.iter().map(|p| Nlri::new(*p)).collect(),
        ..Update::default()
    }
}

/// The UPDATE withdrawing `prefixes`.
pub fn withdraw(prefixes: &[Prefix]) -> Update {
    Update {
        withdrawn: prefixes.iter().map(|p| Nlri::new(*p)).collect(),
        ..Update::default()
    }
}

/// The second neighbour's view of a set: the same for even sets (so ECMP forms with the first
/// neighbour's route), a different second AS for odd ones (same length, no ECMP).
pub fn second_view(index: usize, set: &AttrSet) -> AttrSet {
    let mut s = set.clone();
    if index % 2 == 1 {
        s.path[1] = s.path[1].wrapping_add(1);
    }
    s
}

/// Both neighbours' full feeds and the withdrawals, ready to apply.
pub struct Feeds {
    pub first: Vec<Update>,
    pub second: Vec<Update>,
    pub withdraw: Vec<Update>,
    pub prefixes: usize,
}

pub const NEIGHBOUR_AS: u32 = 65001;
pub const FIRST_HOP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const SECOND_HOP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

pub fn feeds(n: usize, k: usize) -> Feeds {
    let prefixes = prefixes(n, 1);
    let sets = attr_sets(k, NEIGHBOUR_AS, 2);
    let groups = groups(&prefixes, k, 101);
    let mut f = Feeds {
        first: Vec::new(),
        second: Vec::new(),
        withdraw: Vec::new(),
        prefixes: n,
    };
    for (i, (set, group)) in sets.iter().zip(&groups).enumerate() {
        if group.is_empty() {
            continue;
        }
        f.first.push(announce(set, FIRST_HOP, group));
        f.second
            .push(announce(&second_view(i, set), SECOND_HOP, group));
        f.withdraw.push(withdraw(group));
    }
    f
}
