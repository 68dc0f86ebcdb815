//! Interned attribute sets: a route is (peer, path id, shared attribute set); equal sets are
//! stored once, in a compact form, and freed with their last route (hash-consing, as BIRD's
//! `rta_lookup` does). The RIB refers to a set by a 4-byte [`AttrId`] and counts its references
//! itself; callers get an `Arc<RouteAttrs>` rebuilt once per set per batch (changes, `explain`,
//! outgoing updates). See docs/adr/0008-compact-attribute-sets.md.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::{AsPath, Community, Origin, PathAttributes, SegmentType};
use rustc_hash::{FxHashMap, FxHasher};

use crate::intern::Interner;
use crate::nexthop::{HopId, NextHopTable};
use crate::rib::ForwardingNextHop;

/// Default LOCAL_PREF when a route has none (RFC 4271 §5.1.5 leaves it to configuration; 100 is
/// what every implementation uses).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// A route's attributes with the fields the decision process reads computed once.
#[derive(Clone, Debug)]
pub struct RouteAttrs {
    /// The BGP path attributes (AS4 attributes already merged, no MP attributes).
    pub attrs: PathAttributes,
    /// The next hop to forward to (NEXT_HOP, or the global address of MP_REACH_NLRI).
    pub next_hop: IpAddr,
    /// The IPv6 link-local next hop, when the peer sent one.
    pub link_local: Option<Ipv6Addr>,
    /// LOCAL_PREF, or the default.
    pub local_pref: u32,
    /// AS_PATH length as RFC 4271 §9.1.2.2 a counts it.
    pub as_path_len: u32,
    /// ORIGIN, INCOMPLETE when absent.
    pub origin: Origin,
    /// The neighbouring AS (first AS of the path), 0 for locally originated routes.
    pub neighbor_as: u32,
    /// Hash of the identity (attributes and next hops), computed once for interning.
    hash: u64,
}

impl RouteAttrs {
    /// Computes the derived fields.
    pub fn new(attrs: PathAttributes, next_hop: IpAddr, link_local: Option<Ipv6Addr>) -> Self {
        let as_path = attrs.as_path.as_ref();
        let mut hasher = FxHasher::default();
        next_hop.hash(&mut hasher);
        link_local.hash(&mut hasher);
        attrs.hash(&mut hasher);
        Self {
            hash: hasher.finish(),
            local_pref: attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF),
            as_path_len: as_path.map_or(0, |p| p.path_length() as u32),
            origin: attrs.origin.unwrap_or(Origin::Incomplete),
            neighbor_as: as_path.and_then(|p| p.first_as()).unwrap_or(0),
            attrs,
            next_hop,
            link_local,
        }
    }

    /// ORIGINATOR_ID if present, for the router-id step with route reflection (RFC 4456 §9).
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        self.attrs.originator_id
    }
}

// Identity is the attributes and next hops; the derived fields follow from them.
impl PartialEq for RouteAttrs {
    fn eq(&self, other: &Self) -> bool {
        self.next_hop == other.next_hop
            && self.link_local == other.link_local
            && self.attrs == other.attrs
    }
}

impl Eq for RouteAttrs {}

impl Hash for RouteAttrs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Where a stored set keeps its AS_PATH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PathForm {
    /// No AS_PATH attribute.
    Absent,
    /// One AS_SEQUENCE of this many AS numbers (0: an empty path), the leading words.
    Words(u8),
    /// Any other shape, in the rare attributes.
    Rare,
}

/// An attribute set as the RIB keeps it: the fields the decision process reads unpacked, the AS
/// path (when it is one AS_SEQUENCE, as nearly always) and the communities in one boxed array
/// of words, and every other attribute in a boxed [`PathAttributes`] only when one is present.
/// About 100 bytes and one small block, against ~450 for a [`RouteAttrs`] with its vectors; the
/// [`RouteAttrs`] is rebuilt ([`StoredAttrs::to_route_attrs`]) only for what leaves the RIB.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StoredAttrs {
    /// The AS numbers of a [`PathForm::Words`] path, then the communities.
    words: Box<[u32]>,
    /// Every other attribute, when any is present.
    rare: Option<Box<PathAttributes>>,
    next_hop: IpAddr,
    link_local: Option<Ipv6Addr>,
    /// NEXT_HOP as received (the forwarding next hop may come from MP_REACH_NLRI).
    next_hop_attr: Option<Ipv4Addr>,
    med: Option<u32>,
    local_pref: Option<u32>,
    as_path_len: u32,
    neighbor_as: u32,
    origin: Option<Origin>,
    path: PathForm,
    /// The communities include LLGR_STALE (RFC 9494 §3.2), for the decision and export.
    long_lived_stale: bool,
}

impl StoredAttrs {
    /// The compact form of `route`.
    pub(crate) fn new(route: RouteAttrs) -> Self {
        let RouteAttrs {
            mut attrs,
            next_hop,
            link_local,
            as_path_len,
            neighbor_as,
            ..
        } = route;
        let (path, mut words) = match attrs.as_path.take() {
            None => (PathForm::Absent, Vec::new()),
            Some(p) if p.segments.is_empty() => (PathForm::Words(0), Vec::new()),
            Some(mut p)
                if p.segments.len() == 1
                    && p.segments[0].kind == SegmentType::Sequence
                    && (1..=usize::from(u8::MAX)).contains(&p.segments[0].asns.len()) =>
            {
                let asns = p.segments.pop().expect("one segment").asns;
                (PathForm::Words(asns.len() as u8), asns)
            }
            Some(p) => {
                attrs.as_path = Some(p);
                (PathForm::Rare, Vec::new())
            }
        };
        let long_lived_stale = attrs.communities.contains(&Community::LLGR_STALE);
        words.extend(std::mem::take(&mut attrs.communities).iter().map(|c| c.0));
        let origin = attrs.origin.take();
        let next_hop_attr = attrs.next_hop.take();
        let med = attrs.med.take();
        let local_pref = attrs.local_pref.take();
        Self {
            words: words.into_boxed_slice(),
            rare: (attrs != PathAttributes::default()).then(|| Box::new(attrs)),
            next_hop,
            link_local,
            next_hop_attr,
            med,
            local_pref,
            as_path_len,
            neighbor_as,
            origin,
            path,
            long_lived_stale,
        }
    }

    /// The full attributes again, exactly as given to [`StoredAttrs::new`].
    pub(crate) fn to_route_attrs(&self) -> RouteAttrs {
        let mut attrs = self.rare.as_deref().cloned().unwrap_or_default();
        let (path, communities) = self.words.split_at(self.path_words());
        if let PathForm::Words(_) = self.path {
            attrs.as_path = Some(AsPath::from_sequence(path));
        }
        attrs.communities = communities.iter().map(|w| Community(*w)).collect();
        attrs.origin = self.origin;
        attrs.next_hop = self.next_hop_attr;
        attrs.med = self.med;
        attrs.local_pref = self.local_pref;
        RouteAttrs::new(attrs, self.next_hop, self.link_local)
    }

    fn path_words(&self) -> usize {
        match self.path {
            PathForm::Words(n) => usize::from(n),
            PathForm::Absent | PathForm::Rare => 0,
        }
    }

    /// Whether the communities include `community`.
    pub(crate) fn has_community(&self, community: Community) -> bool {
        self.words[self.path_words()..].contains(&community.0)
    }

    /// Carries LLGR_STALE: least preferred (RFC 9494 §4.3), and sent only to neighbours that
    /// advertised the LLGR capability.
    pub(crate) fn long_lived_stale(&self) -> bool {
        self.long_lived_stale
    }

    /// LOCAL_PREF, or the default.
    pub(crate) fn local_pref(&self) -> u32 {
        self.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)
    }

    /// AS_PATH length as RFC 4271 §9.1.2.2 a counts it.
    pub(crate) fn as_path_len(&self) -> u32 {
        self.as_path_len
    }

    /// ORIGIN, INCOMPLETE when absent.
    pub(crate) fn origin(&self) -> Origin {
        self.origin.unwrap_or(Origin::Incomplete)
    }

    /// The neighbouring AS, 0 for locally originated routes.
    pub(crate) fn neighbor_as(&self) -> u32 {
        self.neighbor_as
    }

    /// MULTI_EXIT_DISC.
    pub(crate) fn med(&self) -> Option<u32> {
        self.med
    }

    /// ORIGINATOR_ID, if present.
    pub(crate) fn originator_id(&self) -> Option<Ipv4Addr> {
        self.rare.as_ref().and_then(|r| r.originator_id)
    }

    /// Number of CLUSTER_LIST entries.
    pub(crate) fn cluster_list_len(&self) -> usize {
        self.rare.as_ref().map_or(0, |r| r.cluster_list.len())
    }

    /// Whether both have the same AS_PATH (a path has one form, so the forms decide first).
    pub(crate) fn same_as_path(&self, other: &StoredAttrs) -> bool {
        match (self.path, other.path) {
            (PathForm::Rare, PathForm::Rare) => {
                self.rare.as_ref().map(|r| &r.as_path) == other.rare.as_ref().map(|r| &r.as_path)
            }
            (a, b) => {
                a == b && self.words[..self.path_words()] == other.words[..other.path_words()]
            }
        }
    }
}

/// A handle to an interned attribute set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AttrId(u32);

/// The distinct attribute sets in use, in their compact form, each counted by its holders in
/// the RIB (paths and Adj-RIB-Out entries) and dropped with the last of them; and the next hops
/// they name, each held by the sets that name it.
#[derive(Debug, Default)]
pub(crate) struct AttrInterner {
    sets: Interner<StoredAttrs>,
    /// The next hop of each live slot of `sets`.
    set_hops: Vec<HopId>,
    hops: NextHopTable,
}

impl AttrInterner {
    /// No sets yet; `require_resolution` makes next hops nobody reported unreachable.
    pub(crate) fn new(require_resolution: bool) -> Self {
        Self {
            hops: NextHopTable::new(require_resolution),
            ..Self::default()
        }
    }

    /// One more reference to the stored copy of `attrs`, adding it if new.
    pub(crate) fn intern(&mut self, attrs: RouteAttrs) -> AttrId {
        let hop = ForwardingNextHop {
            address: attrs.next_hop,
            link_local: attrs.link_local,
        };
        let (slot, new) = self.sets.intern(StoredAttrs::new(attrs));
        if new {
            let id = self.hops.intern(hop);
            let index = slot as usize;
            if self.set_hops.len() <= index {
                self.set_hops.resize(index + 1, id);
            }
            self.set_hops[index] = id;
        }
        AttrId(slot)
    }

    /// One more reference to a live set.
    pub(crate) fn retain(&mut self, id: AttrId) {
        self.sets.retain(id.0);
    }

    /// Drops a reference; the last one frees the set (and its hold on its next hop).
    pub(crate) fn release(&mut self, id: AttrId) {
        if self.sets.release(id.0).is_some() {
            self.hops.release(self.set_hops[id.0 as usize]);
        }
    }

    /// A live set.
    pub(crate) fn get(&self, id: AttrId) -> &StoredAttrs {
        self.sets.get(id.0)
    }

    /// The next hop of a live set.
    pub(crate) fn hop(&self, id: AttrId) -> HopId {
        self.set_hops[id.0 as usize]
    }

    /// The next hops in use.
    pub(crate) fn hops(&self) -> &NextHopTable {
        &self.hops
    }

    /// The next hops in use, to report reachability.
    pub(crate) fn hops_mut(&mut self) -> &mut NextHopTable {
        &mut self.hops
    }

    /// How many distinct attribute sets are alive.
    pub(crate) fn len(&self) -> usize {
        self.sets.len()
    }
}

/// The [`RouteAttrs`] handed out for a batch (a decision run, a table scan): built once per set
/// and shared by every prefix that uses it. Valid only while none of the sets it has built is
/// freed: the callers hold the paths that reference them.
#[derive(Debug, Default)]
pub(crate) struct SharedAttrs(FxHashMap<AttrId, Arc<RouteAttrs>>);

impl SharedAttrs {
    /// The shared full copy of a live set.
    pub(crate) fn get(&mut self, interner: &AttrInterner, id: AttrId) -> Arc<RouteAttrs> {
        let shared = self
            .0
            .entry(id)
            .or_insert_with(|| Arc::new(interner.get(id).to_route_attrs()));
        Arc::clone(shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::{Aggregator, AsSegment};

    fn round_trip(attrs: PathAttributes) {
        let route = RouteAttrs::new(attrs, "192.0.2.1".parse().unwrap(), None);
        assert_eq!(StoredAttrs::new(route.clone()).to_route_attrs(), route);
    }

    #[test]
    fn every_path_form_round_trips() {
        let sequence = AsPath::from_sequence(vec![65001, 65002]);
        round_trip(PathAttributes::default());
        round_trip(PathAttributes {
            as_path: Some(AsPath::default()),
            ..PathAttributes::default()
        });
        round_trip(PathAttributes {
            origin: Some(Origin::Egp),
            as_path: Some(sequence.clone()),
            next_hop: Some("192.0.2.1".parse().unwrap()),
            med: Some(5),
            local_pref: Some(200),
            communities: vec![Community(1), Community::NO_EXPORT],
            ..PathAttributes::default()
        });
        let mut set = sequence.clone();
        set.segments.push(AsSegment {
            kind: SegmentType::Set,
            asns: vec![7, 8],
        });
        round_trip(PathAttributes {
            as_path: Some(set),
            aggregator: Some(Aggregator {
                asn: 65001,
                address: "192.0.2.9".parse().unwrap(),
            }),
            originator_id: Some("192.0.2.7".parse().unwrap()),
            cluster_list: vec!["192.0.2.8".parse().unwrap()],
            ..PathAttributes::default()
        });
        round_trip(PathAttributes {
            as_path: Some(AsPath::from_sequence((0..300).collect::<Vec<u32>>())),
            ..PathAttributes::default()
        });
    }

    #[test]
    fn decision_fields_match_the_full_attributes() {
        let attrs = PathAttributes {
            as_path: Some(AsPath::from_sequence(vec![65001, 65002, 65003])),
            originator_id: Some("192.0.2.7".parse().unwrap()),
            cluster_list: vec!["192.0.2.8".parse().unwrap(); 2],
            ..PathAttributes::default()
        };
        let route = RouteAttrs::new(attrs, "192.0.2.1".parse().unwrap(), None);
        let stored = StoredAttrs::new(route.clone());
        assert_eq!(stored.local_pref(), route.local_pref);
        assert_eq!(stored.as_path_len(), route.as_path_len);
        assert_eq!(stored.neighbor_as(), route.neighbor_as);
        assert_eq!(stored.origin(), route.origin);
        assert_eq!(stored.originator_id(), route.originator_id());
        assert_eq!(stored.cluster_list_len(), 2);
        let other = RouteAttrs::new(
            PathAttributes {
                as_path: Some(AsPath::from_sequence(vec![65001, 65002, 65003])),
                med: Some(1),
                ..PathAttributes::default()
            },
            "192.0.2.2".parse().unwrap(),
            None,
        );
        assert!(stored.same_as_path(&StoredAttrs::new(other)));
        let empty = RouteAttrs::new(
            PathAttributes::default(),
            "192.0.2.2".parse().unwrap(),
            None,
        );
        assert!(!stored.same_as_path(&StoredAttrs::new(empty)));
    }
}
