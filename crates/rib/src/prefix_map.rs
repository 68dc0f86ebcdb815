//! A hash map keyed by prefix that stores an IPv4 key in 8 bytes (address and length) instead
//! of the 18 of a [`Prefix`]: with a 4-byte value a slot is 12 bytes, not 24. The Adj-RIB-Out
//! keeps what each neighbour has in one, so a full table sent to a neighbour costs 27 MB of
//! slots instead of 52 (and half that while the map grows); speakerd's kernel writer keeps its
//! installed routes in one.

use std::net::Ipv4Addr;

use bgp_proto::{Ipv4Prefix, Ipv6Prefix, Prefix};
use rustc_hash::FxHashMap;

/// An IPv4 prefix packed: address and length.
type V4Key = (u32, u8);

fn pack(prefix: &Ipv4Prefix) -> V4Key {
    (u32::from(prefix.addr()), prefix.prefix_len())
}

fn unpack((addr, len): V4Key) -> Prefix {
    Prefix::V4(Ipv4Prefix::new(Ipv4Addr::from(addr), len).expect("a stored prefix is valid"))
}

/// A map from prefixes to `V`, IPv4 and IPv6 apart.
#[derive(Debug)]
pub struct PrefixMap<V> {
    v4: FxHashMap<V4Key, V>,
    v6: FxHashMap<Ipv6Prefix, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        Self {
            v4: FxHashMap::default(),
            v6: FxHashMap::default(),
        }
    }
}

impl<V> PrefixMap<V> {
    /// The value of `prefix`.
    pub fn get(&self, prefix: &Prefix) -> Option<&V> {
        match prefix {
            Prefix::V4(p) => self.v4.get(&pack(p)),
            Prefix::V6(p) => self.v6.get(p),
        }
    }

    /// Sets the value of `prefix`; returns the one it replaces.
    pub fn insert(&mut self, prefix: Prefix, value: V) -> Option<V> {
        match prefix {
            Prefix::V4(p) => self.v4.insert(pack(&p), value),
            Prefix::V6(p) => self.v6.insert(p, value),
        }
    }

    /// Takes the value of `prefix` out.
    pub fn remove(&mut self, prefix: &Prefix) -> Option<V> {
        match prefix {
            Prefix::V4(p) => self.v4.remove(&pack(p)),
            Prefix::V6(p) => self.v6.remove(p),
        }
    }

    /// How many prefixes have a value.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether no prefix has a value.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether `prefix` has a value.
    pub fn contains_key(&self, prefix: &Prefix) -> bool {
        self.get(prefix).is_some()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &V)> + '_ {
        let v4 = self.v4.iter().map(|(k, v)| (unpack(*k), v));
        v4.chain(self.v6.iter().map(|(k, v)| (Prefix::V6(*k), v)))
    }

    /// Takes every entry out (the map keeps its capacity).
    pub fn drain(&mut self) -> impl Iterator<Item = (Prefix, V)> + '_ {
        let v4 = self.v4.drain().map(|(k, v)| (unpack(k), v));
        v4.chain(self.v6.drain().map(|(k, v)| (Prefix::V6(k), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_round_trip_and_an_ipv4_slot_is_twelve_bytes() {
        let mut map = PrefixMap::default();
        let prefixes: Vec<Prefix> = ["10.0.0.0/8", "10.0.0.0/16", "0.0.0.0/0", "2001:db8::/32"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        for (i, p) in prefixes.iter().enumerate() {
            assert_eq!(map.insert(*p, i as u32), None);
        }
        assert_eq!(map.len(), 4);
        assert_eq!(map.insert(prefixes[1], 7), Some(1));
        assert_eq!(map.get(&prefixes[1]), Some(&7));
        assert_eq!(map.get(&"10.0.0.0/24".parse().unwrap()), None);
        assert_eq!(map.remove(&prefixes[3]), Some(3));
        let mut rest: Vec<(Prefix, u32)> = map.drain().collect();
        rest.sort();
        let mut want = vec![(prefixes[0], 0), (prefixes[1], 7), (prefixes[2], 2)];
        want.sort();
        assert_eq!(rest, want);
        assert!(map.is_empty());
        assert_eq!(std::mem::size_of::<(V4Key, u32)>(), 12);
    }
}
