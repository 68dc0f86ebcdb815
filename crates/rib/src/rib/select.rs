//! The decision process run once per batch of dirty prefixes (RFC 4271 §9.1.2, ECMP), and the
//! changes it reports for the kernel and the neighbours.

use super::*;

impl Rib {
    /// How many prefixes of `family` have a selected route (the Loc-RIB's size, RFC 4271 §3.2),
    /// kept up to date by [`Rib::run_decision`]: no walk over the table.
    pub fn selected_count(&self, family: Family) -> usize {
        match family {
            Family::IPV4_UNICAST => self.selected[0],
            Family::IPV6_UNICAST => self.selected[1],
            _ => 0,
        }
    }

    /// Runs the decision process for every prefix changed since the last call and returns the
    /// prefixes whose best route or ECMP next hops changed.
    pub fn run_decision(&mut self) -> Vec<RouteChange> {
        let dirty = std::mem::take(&mut self.dirty);
        // Each dirty prefix changes at most once: no growing (and copying) for a full table.
        let mut changes = Vec::with_capacity(dirty.prefixes.len() + dirty.v4_dirty);
        // The sessions up do not change during the batch: collect them once, not per prefix.
        let up = self.up_peers();
        let add_path: Vec<PeerId> = up
            .iter()
            .copied()
            .filter(|p| {
                self.peer(*p)
                    .is_some_and(|s| s.add_path != FamilySet::EMPTY)
            })
            .collect();
        let up = Sessions {
            all: &up,
            add_path: &add_path,
        };
        // The selections before are released after the loop, so that no path, and no attribute
        // set it shares, is freed while the export pass refers to it.
        let mut pass = ExportPass::default();
        for entry in &dirty.prefixes {
            let before = &dirty.before[entry.start as usize..][..usize::from(entry.count)];
            self.settle(entry.prefix, before, up, &mut pass, &mut changes);
        }
        let mut scanned = Vec::new();
        for bucket in &dirty.v4_buckets {
            scanned.clear();
            self.tables.dirty_v4(usize::from(*bucket), &mut scanned);
            for prefix in &scanned {
                self.settle(*prefix, &[], up, &mut pass, &mut changes);
            }
        }
        pass.finish(&mut self.interner);
        for path in &dirty.before {
            self.paths.release(*path, &mut self.interner);
        }
        changes
    }

    /// Decides one dirty prefix, which had `before` selected; records a change of its best
    /// route or ECMP next hops and exports a new best route to the sessions `up` (with ADD-PATH
    /// send, whatever changed among its paths).
    pub(super) fn settle(
        &mut self,
        prefix: Prefix,
        before: &[PathRef],
        up: Sessions<'_>,
        pass: &mut ExportPass,
        changes: &mut Vec<RouteChange>,
    ) {
        self.decide(&prefix);
        let after = self.tables.get(&prefix).map_or(&[][..], |d| d.selection());
        let same = |a: &PathRef, b: &PathRef| self.paths.get(*a).same_route(self.paths.get(*b));
        let same_best = match (before.first(), after.first()) {
            (None, None) => true,
            (Some(b), Some(a)) => same(b, a),
            _ => false,
        };
        // The same paths selected have the same next hops; otherwise compare the hops.
        let same_selection =
            before.len() == after.len() && before.iter().zip(after).all(|(b, a)| same(b, a));
        let changed = !same_best
            || (!same_selection && self.next_hops_of(before) != self.next_hops_of(after));
        let family = prefix.unicast_family();
        let slot = usize::from(family != Family::IPV4_UNICAST);
        match (before.is_empty(), after.is_empty()) {
            (true, false) => self.selected[slot] += 1,
            (false, true) => self.selected[slot] -= 1,
            _ => {}
        }
        if changed {
            let best = after.first().copied();
            let change = self.selection_change(prefix, after);
            if !same_best {
                for peer in up.all {
                    if up.add_path.is_empty() || self.paths_to(*peer, family) == 1 {
                        self.export_with(*peer, prefix, best, false, pass);
                    }
                }
            }
            changes.push(change);
        }
        for peer in up.add_path {
            let limit = self.paths_to(*peer, family);
            if limit > 1 {
                self.export_paths(*peer, prefix, limit, &mut pass.shared, false);
            }
        }
    }

    pub(super) fn candidate(&self, path: PathRef) -> Option<Candidate<'_>> {
        let key = self.paths.get(path);
        let peer = &self.peer(key.peer)?.info;
        let igp_cost = self.igp_cost(key)?;
        let attrs = self.interner.get(key.attrs);
        Some(Candidate {
            attrs,
            peer,
            path_id: key.path_id,
            stale: key.stale.is_stale(),
            igp_cost,
        })
    }

    /// Selects the best path and the ECMP set of one prefix, moving them to the front; a
    /// destination left with no path goes.
    pub(super) fn decide(&mut self, prefix: &Prefix) {
        let Some(dest) = self.tables.get(prefix) else {
            return;
        };
        let (selected, reordered) = match dest.paths {
            [] => {
                self.tables.remove(prefix);
                return;
            }
            // One path (most prefixes): selected if eligible, no ranking needed.
            [only] => (
                usize::from(self.igp_cost(self.paths.get(*only)).is_some()),
                None,
            ),
            paths => self.rank_paths(paths),
        };
        if let Some(mut dest) = self.tables.get_mut(prefix) {
            if let Some(order) = reordered {
                dest.paths_mut().copy_from_slice(&order);
            }
            dest.set_selected(selected);
            dest.set_dirty(false);
        }
    }

    /// The size of the selection among several paths, and their new order when the selection
    /// is not already in front. Inline buffers: a prefix with a handful of paths (the ECMP
    /// case) allocates nothing.
    pub(super) fn rank_paths(&self, paths: &[PathRef]) -> (usize, Option<Ranked<PathRef>>) {
        let decision = &self.config.decision;
        let mut indices: Ranked<usize> = SmallVec::new();
        let mut candidates: Ranked<Candidate<'_>> = SmallVec::new();
        for (i, path) in paths.iter().enumerate() {
            if let Some(c) = self.candidate(*path) {
                indices.push(i);
                candidates.push(c);
            }
        }
        let ranked = if candidates.len() == 1 {
            smallvec::smallvec![0]
        } else {
            rank(&candidates, decision)
        };
        let Some(&best) = ranked.first() else {
            return (0, None);
        };
        let max_paths = decision.ecmp.max_paths.max(1);
        let order: Ranked<usize> = std::iter::once(best)
            .chain(
                ranked[1..]
                    .iter()
                    .copied()
                    .filter(|c| multipath_equal(&candidates[best], &candidates[*c], decision)),
            )
            .take(max_paths)
            .map(|c| indices[c])
            .collect();
        if order.iter().enumerate().all(|(slot, i)| slot == *i) {
            return (order.len(), None);
        }
        let rest = (0..paths.len()).filter(|i| !order.contains(i));
        let reordered = order
            .iter()
            .copied()
            .chain(rest)
            .map(|i| paths[i])
            .collect();
        (order.len(), Some(reordered))
    }

    /// The forwarding next hops of a selection, deduplicated and sorted (none for our own
    /// prefixes).
    pub(super) fn next_hops_of(&self, selection: &[PathRef]) -> NextHops {
        let mut hops: NextHops = selection
            .iter()
            .map(|p| self.paths.get(*p))
            .filter(|key| key.peer != PeerId::LOCAL)
            .map(|key| *self.interner.hops().get(key.hop))
            .collect();
        hops.sort_unstable();
        hops.dedup();
        hops
    }

    /// A prefix's selection as a change (an empty one withdraws).
    pub(super) fn selection_change(&self, prefix: Prefix, selection: &[PathRef]) -> RouteChange {
        RouteChange {
            prefix,
            best: selection.first().map(|p| {
                let key = self.paths.get(*p);
                SelectedPath {
                    peer: key.peer,
                    path_id: key.path_id,
                }
            }),
            next_hops: self.next_hops_of(selection),
        }
    }
}
