//! Per-family prefix tables: each destination holds its paths, with the selected ones (best
//! first, then the rest of the ECMP set) at the front.

use std::hash::Hash;
use std::sync::Arc;

use bgp_proto::{Ipv4Prefix, Ipv6Prefix, Prefix};
use rustc_hash::FxHashMap;

use crate::attrs::RouteAttrs;
use crate::peer::PeerId;

/// One path to a destination: who sent it, its ADD-PATH identifier, its attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// The neighbour it came from ([`PeerId::LOCAL`] for our own prefixes).
    pub peer: PeerId,
    /// The ADD-PATH path identifier (0 without ADD-PATH).
    pub path_id: u32,
    /// The shared attributes.
    pub attrs: Arc<RouteAttrs>,
    /// Kept across the neighbour's graceful restart, not yet refreshed.
    pub stale: bool,
}

/// The paths of one prefix. `selected` leading paths are the best and its ECMP companions.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dest {
    pub(crate) paths: Vec<Path>,
    pub(crate) selected: u8,
}

/// A map from one family's prefixes to destinations.
#[derive(Debug)]
pub(crate) struct Table<K> {
    pub(crate) map: FxHashMap<K, Dest>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Self {
            map: FxHashMap::default(),
        }
    }
}

impl<K: Hash + Eq + Copy> Table<K> {
    pub(crate) fn get(&self, key: &K) -> Option<&Dest> {
        self.map.get(key)
    }
}

/// Both families' tables, addressed by [`Prefix`].
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub(crate) v4: Table<Ipv4Prefix>,
    pub(crate) v6: Table<Ipv6Prefix>,
}

impl Tables {
    pub(crate) fn get(&self, prefix: &Prefix) -> Option<&Dest> {
        match prefix {
            Prefix::V4(p) => self.v4.get(p),
            Prefix::V6(p) => self.v6.get(p),
        }
    }

    pub(crate) fn get_mut(&mut self, prefix: &Prefix) -> Option<&mut Dest> {
        match prefix {
            Prefix::V4(p) => self.v4.map.get_mut(p),
            Prefix::V6(p) => self.v6.map.get_mut(p),
        }
    }

    pub(crate) fn entry(&mut self, prefix: &Prefix) -> &mut Dest {
        match prefix {
            Prefix::V4(p) => self.v4.map.entry(*p).or_default(),
            Prefix::V6(p) => self.v6.map.entry(*p).or_default(),
        }
    }

    pub(crate) fn remove(&mut self, prefix: &Prefix) -> Option<Dest> {
        match prefix {
            Prefix::V4(p) => self.v4.map.remove(p),
            Prefix::V6(p) => self.v6.map.remove(p),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.map.len() + self.v6.map.len()
    }

    /// Every prefix, for scans (peer down, End-of-RIB, next-hop changes).
    pub(crate) fn prefixes(&self) -> Vec<Prefix> {
        let v4 = self.v4.map.keys().map(|p| Prefix::V4(*p));
        let v6 = self.v6.map.keys().map(|p| Prefix::V6(*p));
        v4.chain(v6).collect()
    }
}
