//! The pre-policy Adj-RIB-In of a neighbour with soft reconfiguration inbound (RFC 4271 §3.2
//! "Adj-RIBs-In: unprocessed routing information"): the routes it sent, as received after the
//! RFC 7606 handling and before import policy, so that a new import policy can be applied to
//! them without asking the neighbour to send them again (RFC 2918 route refresh). Each route is
//! a reference to an attribute set of the RIB's interner: a route the import policy leaves
//! unchanged shares its set with the accepted path. See docs/adr/0010-soft-reconfiguration-and-add-path-send.md.

use bgp_proto::{Family, Prefix};
use rustc_hash::FxHashMap;

use crate::attrs::{AttrId, AttrInterner};

/// The routes a neighbour sent, by (prefix, ADD-PATH path id); each holds a reference to its
/// attribute set.
#[derive(Debug, Default)]
pub(crate) struct AdjRibIn {
    routes: FxHashMap<(Prefix, u32), AttrId>,
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
        if let Some(old) = self.routes.insert((prefix, path_id), attrs) {
            interner.release(old);
        }
    }

    /// Forgets a withdrawn route.
    pub(crate) fn remove(&mut self, prefix: Prefix, path_id: u32, interner: &mut AttrInterner) {
        if let Some(old) = self.routes.remove(&(prefix, path_id)) {
            interner.release(old);
        }
    }

    /// Forgets the routes of `family`, or all when `None`.
    pub(crate) fn clear(&mut self, family: Option<Family>, interner: &mut AttrInterner) {
        self.routes.retain(|(prefix, _), attrs| {
            let keep = family.is_some_and(|f| f != prefix.unicast_family());
            if !keep {
                interner.release(*attrs);
            }
            keep
        });
    }

    /// Every route, grouped by attribute set, for re-running import policy.
    pub(crate) fn by_attrs(&self) -> FxHashMap<AttrId, Vec<(Prefix, u32)>> {
        let mut groups: FxHashMap<AttrId, Vec<(Prefix, u32)>> = FxHashMap::default();
        for ((prefix, path_id), attrs) in &self.routes {
            groups.entry(*attrs).or_default().push((*prefix, *path_id));
        }
        groups
    }

    /// The routes of `prefix` (every path id) with their attribute sets.
    pub(crate) fn routes_of(&self, prefix: Prefix) -> impl Iterator<Item = (u32, AttrId)> + '_ {
        self.routes
            .iter()
            .filter(move |((p, _), _)| *p == prefix)
            .map(|((_, path_id), attrs)| (*path_id, *attrs))
    }
}
