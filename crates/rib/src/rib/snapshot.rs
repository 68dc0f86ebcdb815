//! Snapshots of the table for MRT dumps (RFC 6396 §4.3 TABLE_DUMP_V2): the Adj-RIB-In of every
//! neighbour or the Loc-RIB, taken in one pass that copies a few words per path and rebuilds
//! each attribute set once, so that the caller can sort, encode and write it elsewhere while
//! the RIB goes on with its work.

use super::*;

/// Which routes a [`RibSnapshot`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotKind {
    /// What each neighbour sent (RFC 4271 §3.2 Adj-RIB-In): its routes as received, before
    /// import policy, for a neighbour with soft reconfiguration inbound (rejected ones
    /// included); for the others, the routes the RIB keeps, after import policy (stale ones
    /// included). Our own prefixes are in no neighbour's Adj-RIB-In.
    AdjRibIn,
    /// The selected paths of every prefix (RFC 4271 §3.2 Loc-RIB): the best first, then the
    /// rest of its ECMP set; our own prefixes come from [`PeerId::LOCAL`].
    LocRib,
}

/// One path of a [`RibSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPath {
    /// The prefix.
    pub prefix: Prefix,
    /// The neighbour it came from.
    pub peer: PeerId,
    /// Its ADD-PATH path identifier (RFC 7911; 0 without ADD-PATH).
    pub path_id: u32,
    /// Its attributes: an index into [`RibSnapshot::attrs`].
    pub attrs: u32,
}

/// The paths of the table at one moment, in no particular order, with their attribute sets
/// stored once each.
#[derive(Clone, Debug, Default)]
pub struct RibSnapshot {
    /// The paths.
    pub paths: Vec<SnapshotPath>,
    /// The attribute sets the paths refer to.
    pub attrs: Vec<Arc<RouteAttrs>>,
}

/// Numbers the attribute sets of a snapshot as they are met.
#[derive(Default)]
struct SnapshotAttrs {
    index: FxHashMap<AttrId, u32>,
    attrs: Vec<Arc<RouteAttrs>>,
}

impl SnapshotAttrs {
    fn index(&mut self, interner: &AttrInterner, id: AttrId) -> u32 {
        let attrs = &mut self.attrs;
        *self.index.entry(id).or_insert_with(|| {
            attrs.push(Arc::new(interner.get(id).to_route_attrs()));
            attrs.len() as u32 - 1
        })
    }
}

impl Rib {
    /// Every path of `kind` at this moment (see [`SnapshotKind`]). Costs one pass over the
    /// table and, with soft reconfiguration inbound, over each such neighbour's routes as
    /// received: a copy of four words per path and one rebuild per attribute set.
    pub fn snapshot(&self, kind: SnapshotKind) -> RibSnapshot {
        let mut attrs = SnapshotAttrs::default();
        let mut paths = Vec::with_capacity(match kind {
            SnapshotKind::AdjRibIn => self.tables.path_count(),
            SnapshotKind::LocRib => self.tables.len(),
        });
        // A neighbour whose routes are kept as received is dumped from those.
        let pre_policy = |peer: PeerId| self.peer(peer).is_some_and(|p| p.received.is_some());
        for (prefix, dest) in self.tables.iter() {
            let chosen = match kind {
                SnapshotKind::AdjRibIn => dest.paths,
                SnapshotKind::LocRib => dest.selection(),
            };
            for path in chosen {
                let key = self.paths.get(*path);
                if kind == SnapshotKind::AdjRibIn
                    && (key.peer == PeerId::LOCAL || pre_policy(key.peer))
                {
                    continue;
                }
                paths.push(SnapshotPath {
                    prefix,
                    peer: key.peer,
                    path_id: key.path_id,
                    attrs: attrs.index(&self.interner, key.attrs),
                });
            }
        }
        if kind == SnapshotKind::AdjRibIn {
            for (i, state) in self.peers.iter().enumerate() {
                let Some(received) = state.as_ref().and_then(|s| s.received.as_ref()) else {
                    continue;
                };
                let peer = PeerId(i as u32);
                for ((prefix, path_id), id) in received.iter() {
                    paths.push(SnapshotPath {
                        prefix,
                        peer,
                        path_id,
                        attrs: attrs.index(&self.interner, id),
                    });
                }
            }
        }
        RibSnapshot {
            paths,
            attrs: attrs.attrs,
        }
    }
}
