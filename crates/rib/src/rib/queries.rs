//! Read-only views of the table: a prefix's paths and why the best won, lookups, statistics.

use super::*;

impl Rib {
    /// Every path of a prefix and where it stands.
    pub fn explain(&self, prefix: &Prefix) -> Vec<PathExplanation> {
        let Some(dest) = self.tables.get(prefix) else {
            return Vec::new();
        };
        let best = dest.selection().first().and_then(|p| self.candidate(*p));
        let decision = &self.config.decision;
        let eligible: Vec<Candidate<'_>> = dest
            .paths
            .iter()
            .filter_map(|p| self.candidate(*p))
            .collect();
        dest.paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let status = match (self.candidate(*path), &best) {
                    (None, _) => PathStatus::Unreachable,
                    (Some(_), _) if i == 0 && dest.selected > 0 => PathStatus::Best,
                    (Some(_), _) if i < dest.selected => PathStatus::Multipath,
                    (Some(c), Some(b)) => match compare(b, &c, decision).1 {
                        // Removed at the MED step by another route of its neighbouring AS, even
                        // if it is not comparable with the best on MED.
                        Some(step)
                            if step > DecisionStep::Med
                                && loses_on_med(&c, &eligible, decision) =>
                        {
                            PathStatus::Lost(DecisionStep::Med)
                        }
                        Some(step) => PathStatus::Lost(step),
                        None => PathStatus::Lost(DecisionStep::PathId),
                    },
                    (Some(_), None) => PathStatus::Unreachable,
                };
                let key = self.paths.get(*path);
                PathExplanation {
                    peer: key.peer,
                    peer_address: self
                        .peer(key.peer)
                        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.info.address),
                    path_id: key.path_id,
                    attrs: Arc::new(self.interner.get(key.attrs).to_route_attrs()),
                    stale: key.stale.is_stale(),
                    status,
                }
            })
            .collect()
    }

    /// The selected route and ECMP next hops of a prefix.
    pub fn lookup(&self, prefix: &Prefix) -> Option<SelectedRoute> {
        let dest = self.tables.get(prefix)?;
        self.selected_route(dest.selection(), &mut SharedAttrs::default())
    }

    /// Every prefix with a selected route, and that selection.
    pub fn routes(&self) -> Vec<(Prefix, SelectedRoute)> {
        let mut shared = SharedAttrs::default();
        self.tables
            .prefixes()
            .into_iter()
            .filter_map(|prefix| {
                let dest = self.tables.get(&prefix)?;
                let route = self.selected_route(dest.selection(), &mut shared)?;
                Some((prefix, route))
            })
            .collect()
    }

    /// A non-empty selection with the best route's attributes (from `shared`).
    pub(super) fn selected_route(
        &self,
        selection: &[PathRef],
        shared: &mut SharedAttrs,
    ) -> Option<SelectedRoute> {
        let key = self.paths.get(*selection.first()?);
        Some(SelectedRoute {
            best: BestRoute {
                peer: key.peer,
                path_id: key.path_id,
                attrs: shared.get(&self.interner, key.attrs),
            },
            next_hops: self.next_hops_of(selection),
        })
    }

    /// Sizes, for metrics and memory accounting.
    pub fn stats(&self) -> RibStats {
        RibStats {
            prefixes: self.tables.len(),
            paths: self.tables.path_count(),
            attribute_sets: self.interner.len(),
            next_hops: self.interner.hops().len(),
        }
    }
}
