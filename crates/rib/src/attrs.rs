//! Interned attribute sets: a route is (peer, path id, shared attribute set); equal sets are
//! stored once and freed with their last route (hash-consing, as BIRD's `rta_lookup` does).

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Weak};

use bgp_proto::{Origin, PathAttributes};
use rustc_hash::{FxHashMap, FxHasher};

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

/// The distinct attribute sets in use. It holds them weakly: a set lives exactly as long as some
/// route (or a caller holding a change) references it, and its entry is dropped with it.
#[derive(Debug, Default)]
pub struct AttrInterner {
    sets: FxHashMap<u64, Vec<Weak<RouteAttrs>>>,
    /// Bucket count after the last purge of dead entries, to purge again when it doubles.
    purged_at: usize,
}

impl AttrInterner {
    /// The shared copy of `attrs`, adding it if new.
    pub fn intern(&mut self, attrs: RouteAttrs) -> Arc<RouteAttrs> {
        let bucket = self.sets.entry(attrs.hash).or_default();
        let mut found = None;
        bucket.retain(|weak| match weak.upgrade() {
            Some(existing) => {
                if found.is_none() && *existing == attrs {
                    found = Some(existing);
                }
                true
            }
            None => false,
        });
        if let Some(existing) = found {
            return existing;
        }
        let shared = Arc::new(attrs);
        bucket.push(Arc::downgrade(&shared));
        if self.sets.len() > 2 * self.purged_at + 1024 {
            self.purge();
        }
        shared
    }

    /// Drops a route's reference; when it was the last one, the entry goes too.
    pub fn release(&mut self, attrs: Arc<RouteAttrs>) {
        let hash = attrs.hash;
        let last = Arc::strong_count(&attrs) == 1;
        drop(attrs);
        if last {
            if let Some(bucket) = self.sets.get_mut(&hash) {
                bucket.retain(|weak| weak.strong_count() > 0);
                if bucket.is_empty() {
                    self.sets.remove(&hash);
                }
            }
        }
    }

    /// Removes the entries of sets whose last holder (outside the RIB) let them go.
    pub fn purge(&mut self) {
        self.sets.retain(|_, bucket| {
            bucket.retain(|weak| weak.strong_count() > 0);
            !bucket.is_empty()
        });
        self.purged_at = self.sets.len();
    }

    /// How many distinct attribute sets are alive.
    pub fn len(&self) -> usize {
        self.sets
            .values()
            .flatten()
            .filter(|weak| weak.strong_count() > 0)
            .count()
    }

    /// Whether no attribute set is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
