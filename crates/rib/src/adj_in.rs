//! The pre-policy Adj-RIB-In of a neighbour with soft reconfiguration inbound (RFC 4271 §3.2
//! "Adj-RIBs-In: unprocessed routing information"): the routes it sent, as received after the
//! RFC 7606 handling and before import policy, so that a new import policy can be applied to
//! them without asking the neighbour to send them again (RFC 2918 route refresh). Each route is
//! a reference to an attribute set of the RIB's interner: a route the import policy leaves
//! unchanged shares its set with the accepted path. See docs/adr/0010-soft-reconfiguration-and-add-path-send.md.

use std::net::Ipv4Addr;

use bgp_proto::{Family, Ipv4Prefix, Ipv6Prefix, Prefix};
use rustc_hash::FxHashMap;

use crate::attrs::{AttrId, AttrInterner};

/// An IPv4 route packed in 12 bytes: address, length, path id (a `(Prefix, u32)` key takes 24).
type V4Key = [u32; 3];

fn v4_key(prefix: &Ipv4Prefix, path_id: u32) -> V4Key {
    [
        u32::from(prefix.addr()),
        u32::from(prefix.prefix_len()),
        path_id,
    ]
}

fn v4_route(key: &V4Key) -> (Prefix, u32) {
    let prefix =
        Ipv4Prefix::new(Ipv4Addr::from(key[0]), key[1] as u8).expect("a stored prefix is valid");
    (Prefix::V4(prefix), key[2])
}

/// The routes a neighbour sent, by (prefix, ADD-PATH path id); each holds a reference to its
/// attribute set. IPv4 and IPv6 apart, so that an IPv4 route costs a 16-byte map slot.
#[derive(Debug, Default)]
pub(crate) struct AdjRibIn {
    v4: FxHashMap<V4Key, AttrId>,
    v6: FxHashMap<(Ipv6Prefix, u32), AttrId>,
}

impl AdjRibIn {
    /// Records a received route, taking one more reference to `attrs`.
    pub(crate) fn insert(
        &mut self,
        prefix: Prefix,
        path_id: u32,
        attrs: AttrId,
        interner: &mut AttrInterner,
    ) {
        interner.retain(attrs);
        let old = match prefix {
            Prefix::V4(p) => self.v4.insert(v4_key(&p, path_id), attrs),
            Prefix::V6(p) => self.v6.insert((p, path_id), attrs),
        };
        if let Some(old) = old {
            interner.release(old);
        }
    }

    /// Forgets a withdrawn route.
    pub(crate) fn remove(&mut self, prefix: Prefix, path_id: u32, interner: &mut AttrInterner) {
        let old = match prefix {
            Prefix::V4(p) => self.v4.remove(&v4_key(&p, path_id)),
            Prefix::V6(p) => self.v6.remove(&(p, path_id)),
        };
        if let Some(old) = old {
            interner.release(old);
        }
    }

    /// Forgets the routes of `family`, or all when `None`.
    pub(crate) fn clear(&mut self, family: Option<Family>, interner: &mut AttrInterner) {
        if family.is_none_or(|f| f == Family::IPV4_UNICAST) {
            for (_, attrs) in self.v4.drain() {
                interner.release(attrs);
            }
            self.v4 = FxHashMap::default();
        }
        if family.is_none_or(|f| f == Family::IPV6_UNICAST) {
            for (_, attrs) in self.v6.drain() {
                interner.release(attrs);
            }
            self.v6 = FxHashMap::default();
        }
    }

    /// Every route with its attribute set.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ((Prefix, u32), AttrId)> + '_ {
        let v4 = self.v4.iter().map(|(key, attrs)| (v4_route(key), *attrs));
        let v6 = self
            .v6
            .iter()
            .map(|((p, id), attrs)| ((Prefix::V6(*p), *id), *attrs));
        v4.chain(v6)
    }

    /// Every route, grouped by attribute set, for re-running import policy.
    pub(crate) fn by_attrs(&self) -> FxHashMap<AttrId, Vec<(Prefix, u32)>> {
        let mut groups: FxHashMap<AttrId, Vec<(Prefix, u32)>> = FxHashMap::default();
        for (route, attrs) in self.iter() {
            groups.entry(attrs).or_default().push(route);
        }
        groups
    }

    /// The routes of `prefix` (every path id) with their attribute sets.
    pub(crate) fn routes_of(&self, prefix: Prefix) -> impl Iterator<Item = (u32, AttrId)> + '_ {
        self.iter()
            .filter(move |((p, _), _)| *p == prefix)
            .map(|((_, path_id), attrs)| (path_id, attrs))
    }
}
