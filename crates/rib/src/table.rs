//! Per-family prefix tables. A destination is 8 bytes: the handle of its one path (or, with
//! two, the index of its pair in one shared array; with more, of its boxed list) and a tag holding how many leading paths are selected
//! (the best, then the rest of its ECMP set) and a dirty flag. IPv4 destinations live in sorted
//! arrays, one per /16, and keep the rest of their prefix in the tag, so a full table costs
//! about 9 bytes per prefix instead of the 40-byte entries of a hash map at half load.
//! See docs/adr/0006-compact-rib-tables.md.

use std::net::Ipv4Addr;

use bgp_proto::{Ipv4Prefix, Ipv6Prefix, Prefix};
use rustc_hash::FxHashMap;

use crate::attrs::{AttrId, AttrInterner};
use crate::intern::Interner;
use crate::nexthop::HopId;
use crate::peer::PeerId;

/// A handle to an interned path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PathRef(u32);

/// Whether a path is kept across its neighbour's restart without having been sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Staleness {
    /// Received in the current session (or originated).
    Fresh,
    /// Kept stale across a graceful restart (RFC 4724 §4.2), or during an enhanced route
    /// refresh (RFC 7313 §4), until End-of-RIB.
    Stale,
    /// Kept past the restart time as long-lived stale (RFC 9494 §4.2): its attributes carry
    /// LLGR_STALE, it is least preferred, and it goes at End-of-RIB or the long-lived stale time.
    LongLived,
}

impl Staleness {
    /// Kept from an earlier session (or before a refresh), not yet received again.
    pub(crate) fn is_stale(self) -> bool {
        self != Staleness::Fresh
    }
}

/// One path to a destination: who sent it, its ADD-PATH identifier, its attributes, and whether
/// it is kept stale across the neighbour's restart. Interned: every prefix a neighbour sends
/// with the same attributes shares one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PathKey {
    /// The neighbour it came from ([`PeerId::LOCAL`] for our own prefixes).
    pub(crate) peer: PeerId,
    /// The ADD-PATH path identifier (0 without ADD-PATH).
    pub(crate) path_id: u32,
    /// The attributes.
    pub(crate) attrs: AttrId,
    /// Their forwarding next hop (a copy, so that eligibility and next hops need no look at
    /// the attributes).
    pub(crate) hop: HopId,
    /// Kept across the neighbour's restart, not yet refreshed.
    pub(crate) stale: Staleness,
}

impl PathKey {
    /// A path just received (or originated) with the live set `attrs`, not stale.
    pub(crate) fn fresh(
        peer: PeerId,
        path_id: u32,
        attrs: AttrId,
        interner: &AttrInterner,
    ) -> Self {
        Self {
            peer,
            path_id,
            attrs,
            hop: interner.hop(attrs),
            stale: Staleness::Fresh,
        }
    }

    /// The same route (neighbour, path id, attributes), stale or not.
    pub(crate) fn same_route(&self, other: &PathKey) -> bool {
        self.peer == other.peer && self.path_id == other.path_id && self.attrs == other.attrs
    }
}

/// The interned paths; each holds a reference to its attribute set.
#[derive(Debug, Default)]
pub(crate) struct PathStore(Interner<PathKey>);

impl PathStore {
    /// One more reference to `key`'s path.
    pub(crate) fn intern(&mut self, key: PathKey, attrs: &mut AttrInterner) -> PathRef {
        let (slot, new) = self.0.intern(key);
        if new {
            attrs.retain(key.attrs);
        }
        PathRef(slot)
    }

    /// One more reference to a live path.
    pub(crate) fn retain(&mut self, path: PathRef) {
        self.0.retain(path.0);
    }

    /// Drops a reference; the last one frees the path and its reference to the attributes.
    pub(crate) fn release(&mut self, path: PathRef, attrs: &mut AttrInterner) {
        if let Some(key) = self.0.release(path.0) {
            attrs.release(key.attrs);
        }
    }

    /// What a live path is.
    pub(crate) fn get(&self, path: PathRef) -> &PathKey {
        self.0.get(path.0)
    }
}

/// Low bits of a tag: the number of selected paths (at most 127).
const SELECTED: u32 = 0x7f;
/// The head is the index of a pair of paths in [`Lists::pairs`].
const PAIR: u32 = 1 << 7;
/// The head is the index of a path list (more than two paths).
const MULTI: u32 = 1 << 8;
/// Changed since the last decision.
const DIRTY: u32 = 1 << 9;
/// IPv4 destinations keep their key (low 16 address bits and the length) above this.
const KEY_SHIFT: u32 = 10;
/// The head of a destination with no path (removed at the next decision).
const NO_PATH: PathRef = PathRef(u32::MAX);

/// A destination: its paths, the selected ones first.
#[derive(Clone, Copy, Debug)]
struct Dest {
    tag: u32,
    /// The one path; with [`PAIR`] the index of its two paths, with [`MULTI`] of its list.
    head: PathRef,
}

impl Dest {
    fn new(key: u32) -> Self {
        Self {
            tag: key << KEY_SHIFT,
            head: NO_PATH,
        }
    }

    fn key(&self) -> u32 {
        self.tag >> KEY_SHIFT
    }
}

/// Items addressed by index, freed indices reused; the memory goes back with the last item.
#[derive(Debug)]
struct Slab<T> {
    items: Vec<T>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T: Default> Slab<T> {
    fn add(&mut self, item: T) -> PathRef {
        match self.free.pop() {
            Some(index) => {
                self.items[index as usize] = item;
                PathRef(index)
            }
            None => {
                self.items.push(item);
                PathRef(self.items.len() as u32 - 1)
            }
        }
    }

    fn remove(&mut self, index: PathRef) {
        self.items[index.0 as usize] = T::default();
        if self.free.len() + 1 == self.items.len() {
            *self = Self::default();
        } else {
            self.free.push(index.0);
        }
    }
}

/// The two paths of a destination that has two.
#[derive(Debug)]
struct Pair([PathRef; 2]);

impl Default for Pair {
    fn default() -> Self {
        Self([NO_PATH; 2])
    }
}

/// The paths of destinations with more than one: pairs (a prefix learned from two ToRs) in
/// one array of 8-byte entries, longer lists boxed.
#[derive(Debug, Default)]
struct Lists {
    pairs: Slab<Pair>,
    lists: Slab<Box<[PathRef]>>,
}

impl Lists {
    /// Frees what `dest`'s paths occupy here, if anything.
    fn release(&mut self, dest: &Dest) {
        if dest.tag & PAIR != 0 {
            self.pairs.remove(dest.head);
        } else if dest.tag & MULTI != 0 {
            self.lists.remove(dest.head);
        }
    }
}

fn paths_of<'a>(dest: &'a Dest, lists: &'a Lists) -> &'a [PathRef] {
    if dest.tag & PAIR != 0 {
        &lists.pairs.items[dest.head.0 as usize].0
    } else if dest.tag & MULTI != 0 {
        &lists.lists.items[dest.head.0 as usize]
    } else if dest.head == NO_PATH {
        &[]
    } else {
        std::slice::from_ref(&dest.head)
    }
}

/// A destination's paths and how many leading ones are selected.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DestRef<'a> {
    /// The paths, the selected ones first.
    pub(crate) paths: &'a [PathRef],
    /// How many leading paths are selected.
    pub(crate) selected: usize,
}

impl<'a> DestRef<'a> {
    /// The selected paths.
    pub(crate) fn selection(&self) -> &'a [PathRef] {
        &self.paths[..self.selected]
    }
}

/// One destination, to read and change.
pub(crate) struct DestMut<'a> {
    dest: &'a mut Dest,
    lists: &'a mut Lists,
}

impl DestMut<'_> {
    /// The paths, the selected ones first.
    pub(crate) fn paths(&self) -> &[PathRef] {
        paths_of(self.dest, self.lists)
    }

    /// The paths, to replace or reorder in place.
    pub(crate) fn paths_mut(&mut self) -> &mut [PathRef] {
        if self.dest.tag & PAIR != 0 {
            &mut self.lists.pairs.items[self.dest.head.0 as usize].0
        } else if self.dest.tag & MULTI != 0 {
            &mut self.lists.lists.items[self.dest.head.0 as usize]
        } else if self.dest.head == NO_PATH {
            &mut []
        } else {
            std::slice::from_mut(&mut self.dest.head)
        }
    }

    /// How many leading paths are selected.
    pub(crate) fn selected(&self) -> usize {
        (self.dest.tag & SELECTED) as usize
    }

    /// The selection (at most 127 paths) and its order are decided.
    pub(crate) fn set_selected(&mut self, count: usize) {
        self.dest.tag = (self.dest.tag & !SELECTED) | count.min(SELECTED as usize) as u32;
    }

    /// Whether it changed since the last decision.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dest.tag & DIRTY != 0
    }

    /// Marks it changed, or decided.
    pub(crate) fn set_dirty(&mut self, dirty: bool) {
        if dirty {
            self.dest.tag |= DIRTY;
        } else {
            self.dest.tag &= !DIRTY;
        }
    }

    /// Adds a path at the end.
    pub(crate) fn push(&mut self, path: PathRef) {
        let paths = self.paths();
        match paths {
            [] => self.dest.head = path,
            [one] => {
                self.dest.head = self.lists.pairs.add(Pair([*one, path]));
                self.dest.tag |= PAIR;
            }
            _ => {
                let mut all = Vec::with_capacity(paths.len() + 1);
                all.extend_from_slice(paths);
                all.push(path);
                self.set(all);
            }
        }
    }

    /// Removes the path at `index`, the last taking its place (the selection is left for the
    /// caller to reset).
    pub(crate) fn swap_remove(&mut self, index: usize) -> PathRef {
        let mut paths = self.paths().to_vec();
        let path = paths.swap_remove(index);
        self.set(paths);
        path
    }

    /// Replaces every path (the selection is left for the caller to reset).
    pub(crate) fn set(&mut self, paths: Vec<PathRef>) {
        self.lists.release(self.dest);
        self.dest.tag &= !(PAIR | MULTI);
        self.dest.head = match paths.as_slice() {
            [] => NO_PATH,
            [one] => *one,
            [a, b] => {
                self.dest.tag |= PAIR;
                self.lists.pairs.add(Pair([*a, *b]))
            }
            _ => {
                self.dest.tag |= MULTI;
                self.lists.lists.add(paths.into())
            }
        };
    }
}

/// The IPv4 table: 65,536 sorted arrays of destinations, one per /16 of the address (a prefix
/// shorter than /16 goes to the array of its first /16).
#[derive(Debug, Default)]
struct V4Table {
    /// Empty until the first IPv4 prefix, then 65,536 arrays.
    buckets: Vec<Vec<Dest>>,
    /// One bit per array, set while it is not empty: a walk over a small table (a node's few
    /// dozen PodCIDRs) visits 1,024 words instead of 65,536 arrays.
    occupied: Vec<u64>,
    len: usize,
}

/// The array and the in-array key of an IPv4 prefix.
fn v4_key(prefix: &Ipv4Prefix) -> (usize, u32) {
    let addr = u32::from(prefix.addr());
    (
        (addr >> 16) as usize,
        (addr & 0xffff) << 6 | u32::from(prefix.prefix_len()),
    )
}

/// The /16 array an IPv4 prefix lives in.
pub(crate) fn v4_bucket(prefix: &Ipv4Prefix) -> usize {
    v4_key(prefix).0
}

fn v4_prefix(bucket: usize, key: u32) -> Ipv4Prefix {
    let addr = Ipv4Addr::from((bucket as u32) << 16 | key >> 6);
    Ipv4Prefix::new(addr, (key & 0x3f) as u8).expect("a stored length is at most 32")
}

impl V4Table {
    fn find(&self, prefix: &Ipv4Prefix) -> Option<&Dest> {
        let (bucket, key) = v4_key(prefix);
        let dests = self.buckets.get(bucket)?;
        let at = dests.binary_search_by_key(&key, Dest::key).ok()?;
        Some(&dests[at])
    }

    fn find_mut(&mut self, prefix: &Ipv4Prefix) -> Option<&mut Dest> {
        let (bucket, key) = v4_key(prefix);
        let dests = self.buckets.get_mut(bucket)?;
        let at = dests.binary_search_by_key(&key, Dest::key).ok()?;
        Some(&mut dests[at])
    }

    fn entry(&mut self, prefix: &Ipv4Prefix) -> &mut Dest {
        if self.buckets.is_empty() {
            self.buckets.resize_with(1 << 16, Vec::new);
            self.occupied = vec![0; (1 << 16) / 64];
        }
        let (bucket, key) = v4_key(prefix);
        self.occupied[bucket / 64] |= 1 << (bucket % 64);
        let dests = &mut self.buckets[bucket];
        let at = match dests.binary_search_by_key(&key, Dest::key) {
            Ok(at) => at,
            Err(at) => {
                if dests.len() == dests.capacity() {
                    // Grow by half, not double: most arrays stay small, and a full table
                    // leaves about a quarter unused on average instead of a half.
                    dests.reserve_exact(dests.len() / 2 + 2);
                }
                dests.insert(at, Dest::new(key));
                self.len += 1;
                at
            }
        };
        &mut dests[at]
    }

    fn remove(&mut self, prefix: &Ipv4Prefix) -> Option<Dest> {
        let (bucket, key) = v4_key(prefix);
        let dests = self.buckets.get_mut(bucket)?;
        let at = dests.binary_search_by_key(&key, Dest::key).ok()?;
        let dest = dests.remove(at);
        self.len -= 1;
        if dests.is_empty() {
            *dests = Vec::new();
            self.occupied[bucket / 64] &= !(1 << (bucket % 64));
        } else if dests.capacity() > 2 * dests.len() + 4 {
            dests.shrink_to(dests.len() + dests.len() / 2 + 2);
        }
        if self.len == 0 {
            self.buckets = Vec::new();
            self.occupied = Vec::new();
        }
        Some(dest)
    }

    fn iter(&self) -> impl Iterator<Item = (Ipv4Prefix, &Dest)> + '_ {
        let occupied = self.occupied.iter().enumerate().filter(|(_, w)| **w != 0);
        occupied
            .flat_map(|(word, bits)| {
                (0..64)
                    .filter(move |bit| bits & (1 << bit) != 0)
                    .map(move |bit| word * 64 + bit)
            })
            .flat_map(|bucket| {
                self.buckets[bucket]
                    .iter()
                    .map(move |dest| (v4_prefix(bucket, dest.key()), dest))
            })
    }
}

/// Both families' tables, addressed by [`Prefix`].
#[derive(Debug, Default)]
pub(crate) struct Tables {
    v4: V4Table,
    v6: FxHashMap<Ipv6Prefix, Dest>,
    lists: Lists,
}

impl Tables {
    /// The destination of `prefix`, if it has one.
    pub(crate) fn get(&self, prefix: &Prefix) -> Option<DestRef<'_>> {
        let dest = match prefix {
            Prefix::V4(p) => self.v4.find(p),
            Prefix::V6(p) => self.v6.get(p),
        }?;
        Some(DestRef {
            paths: paths_of(dest, &self.lists),
            selected: (dest.tag & SELECTED) as usize,
        })
    }

    /// The destination of `prefix`, to change, if it has one.
    pub(crate) fn get_mut(&mut self, prefix: &Prefix) -> Option<DestMut<'_>> {
        let dest = match prefix {
            Prefix::V4(p) => self.v4.find_mut(p),
            Prefix::V6(p) => self.v6.get_mut(p),
        }?;
        Some(DestMut {
            dest,
            lists: &mut self.lists,
        })
    }

    /// The destination of `prefix`, added with no path if missing.
    pub(crate) fn entry(&mut self, prefix: &Prefix) -> DestMut<'_> {
        let dest = match prefix {
            Prefix::V4(p) => self.v4.entry(p),
            Prefix::V6(p) => self.v6.entry(*p).or_insert(Dest::new(0)),
        };
        DestMut {
            dest,
            lists: &mut self.lists,
        }
    }

    /// Removes the destination of `prefix` (its paths must have been released).
    pub(crate) fn remove(&mut self, prefix: &Prefix) {
        let dest = match prefix {
            Prefix::V4(p) => self.v4.remove(p),
            Prefix::V6(p) => self.v6.remove(p),
        };
        if let Some(dest) = dest {
            self.lists.release(&dest);
        }
    }

    /// Adds to `out` the prefixes of the dirty destinations in one /16 array ([`v4_bucket`]).
    pub(crate) fn dirty_v4(&self, bucket: usize, out: &mut Vec<Prefix>) {
        let Some(dests) = self.v4.buckets.get(bucket) else {
            return;
        };
        let dirty = dests.iter().filter(|d| d.tag & DIRTY != 0);
        out.extend(dirty.map(|d| Prefix::V4(v4_prefix(bucket, d.key()))));
    }

    /// Number of destinations.
    pub(crate) fn len(&self) -> usize {
        self.v4.len + self.v6.len()
    }

    /// Number of paths.
    pub(crate) fn path_count(&self) -> usize {
        let v4 = self.v4.iter().map(|(_, d)| d);
        v4.chain(self.v6.values())
            .map(|d| paths_of(d, &self.lists).len())
            .sum()
    }

    /// Every destination with its paths, IPv4 in address order then IPv6 in no order, for
    /// snapshots that must not allocate per prefix.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Prefix, DestRef<'_>)> + '_ {
        let v4 = self.v4.iter().map(|(p, d)| (Prefix::V4(p), d));
        let v6 = self.v6.iter().map(|(p, d)| (Prefix::V6(*p), d));
        v4.chain(v6).map(|(prefix, dest)| {
            (
                prefix,
                DestRef {
                    paths: paths_of(dest, &self.lists),
                    selected: (dest.tag & SELECTED) as usize,
                },
            )
        })
    }

    /// Every prefix, for scans (peer down, End-of-RIB, next-hop changes).
    pub(crate) fn prefixes(&self) -> Vec<Prefix> {
        let v4 = self.v4.iter().map(|(p, _)| Prefix::V4(p));
        let v6 = self.v6.keys().map(|p| Prefix::V6(*p));
        v4.chain(v6).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_keys_round_trip_for_every_length_class() {
        let mut tables = Tables::default();
        let prefixes = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "10.0.0.0/15",
            "10.0.0.0/16",
            "10.0.128.0/17",
            "10.0.255.0/24",
            "255.255.255.255/32",
            "10.0.0.0/32",
        ];
        for (i, p) in prefixes.iter().enumerate() {
            tables.entry(&v4(p)).push(PathRef(i as u32));
        }
        assert_eq!(tables.len(), prefixes.len());
        for (i, p) in prefixes.iter().enumerate() {
            let dest = tables.get(&v4(p)).unwrap();
            assert_eq!(dest.paths, &[PathRef(i as u32)], "{p}");
        }
        let mut expected: Vec<Prefix> = prefixes.iter().map(|p| v4(p)).collect();
        expected.sort();
        assert_eq!(tables.prefixes(), expected);
        assert!(tables.get(&v4("10.0.0.0/9")).is_none());
        for p in prefixes {
            tables.get_mut(&v4(p)).unwrap().set(Vec::new());
            tables.remove(&v4(p));
        }
        assert_eq!(tables.len(), 0);
        assert!(
            tables.v4.buckets.is_empty(),
            "an empty table gives its arrays back"
        );
    }

    #[test]
    fn a_walk_sees_exactly_the_arrays_still_occupied() {
        let mut tables = Tables::default();
        let prefixes = ["10.0.0.0/24", "10.0.1.0/24", "10.1.0.0/24", "172.16.0.0/12"];
        for (i, p) in prefixes.iter().enumerate() {
            tables.entry(&v4(p)).push(PathRef(i as u32));
        }
        // 10.1.0.0/16's array empties; 10.0.0.0/16's keeps one of its two.
        for p in ["10.1.0.0/24", "10.0.0.0/24"] {
            tables.get_mut(&v4(p)).unwrap().set(Vec::new());
            tables.remove(&v4(p));
        }
        assert_eq!(
            tables.prefixes(),
            vec![v4("10.0.1.0/24"), v4("172.16.0.0/12")]
        );
        tables.entry(&v4("10.1.0.0/24")).push(PathRef(9));
        assert_eq!(
            tables.prefixes(),
            vec![v4("10.0.1.0/24"), v4("10.1.0.0/24"), v4("172.16.0.0/12")]
        );
    }

    #[test]
    fn a_destination_moves_between_one_path_and_a_list() {
        let mut tables = Tables::default();
        let prefix = v4("192.0.2.0/24");
        let mut dest = tables.entry(&prefix);
        assert!(dest.paths().is_empty());
        dest.push(PathRef(1));
        dest.push(PathRef(2));
        dest.push(PathRef(3));
        dest.set_selected(2);
        dest.set_dirty(true);
        assert_eq!(dest.paths(), &[PathRef(1), PathRef(2), PathRef(3)]);
        assert_eq!((dest.selected(), dest.is_dirty()), (2, true));
        assert_eq!(dest.swap_remove(0), PathRef(1));
        assert_eq!(dest.paths(), &[PathRef(3), PathRef(2)]);
        assert_eq!(dest.swap_remove(1), PathRef(2));
        assert_eq!(dest.paths(), &[PathRef(3)]);
        assert_eq!(
            (dest.selected(), dest.is_dirty()),
            (2, true),
            "flags survive"
        );
        assert!(
            tables.lists.lists.items.is_empty() && tables.lists.pairs.items.is_empty(),
            "the list went with the second path"
        );
        let mut dest = tables.get_mut(&prefix).unwrap();
        dest.set(vec![PathRef(4), PathRef(5)]);
        dest.set_dirty(false);
        assert!(!dest.is_dirty());
        assert_eq!(tables.path_count(), 2);
        assert_eq!(tables.lists.pairs.items.len(), 1, "two paths are a pair");
        tables.remove(&prefix);
        assert!(tables.lists.lists.items.is_empty() && tables.lists.pairs.items.is_empty());
    }
}
