//! Interned attribute sets: a route is (peer, path id, shared attribute set); equal sets are
//! stored once and freed with their last route (hash-consing, as BIRD's `rta_lookup` does).
//! The RIB refers to a set by a 4-byte [`AttrId`] and counts its references itself; the `Arc`
//! is what callers get (changes, `explain`, outgoing updates).

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::{Origin, PathAttributes};
use rustc_hash::FxHasher;

use crate::intern::Interner;

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

/// A handle to an interned attribute set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AttrId(u32);

/// The distinct attribute sets in use, each counted by its holders in the RIB (paths and
/// Adj-RIB-Out entries) and dropped with the last of them.
#[derive(Debug, Default)]
pub(crate) struct AttrInterner(Interner<Arc<RouteAttrs>>);

impl AttrInterner {
    /// One more reference to the shared copy of `attrs`, adding it (copied if borrowed) if new.
    pub(crate) fn intern(&mut self, attrs: Cow<'_, RouteAttrs>) -> AttrId {
        AttrId(self.0.intern(attrs).0)
    }

    /// One more reference to a live set.
    pub(crate) fn retain(&mut self, id: AttrId) {
        self.0.retain(id.0);
    }

    /// Drops a reference; the last one frees the set (callers may still hold its `Arc`).
    pub(crate) fn release(&mut self, id: AttrId) {
        self.0.release(id.0);
    }

    /// A live set.
    pub(crate) fn get(&self, id: AttrId) -> &Arc<RouteAttrs> {
        self.0.get(id.0)
    }

    /// How many distinct attribute sets are alive.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}
