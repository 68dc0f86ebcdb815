//! Export toward the neighbours: what each one should have (RFC 4271 §9.1.3, ADD-PATH per
//! RFC 7911), queued in its Adj-RIB-Out until its session takes it, and route refresh.

use super::*;

impl Rib {
    /// Recomputes what `peer` should have for every prefix (of `family`, when given); `resend`
    /// queues routes again even when the neighbour already has them (route refresh).
    pub(super) fn reexport(&mut self, peer: PeerId, family: Option<Family>, resend: bool) {
        // No path is released during the scan: what the pass keeps stays valid.
        let mut pass = ExportPass::default();
        for prefix in self.tables.prefixes() {
            let prefix_family = prefix.unicast_family();
            if family.is_some_and(|f| f != prefix_family) {
                continue;
            }
            let limit = self.paths_to(peer, prefix_family);
            if limit > 1 {
                self.export_paths(peer, prefix, limit, &mut pass.shared, resend);
                continue;
            }
            let best = self
                .tables
                .get(&prefix)
                .and_then(|d| d.selection().first().copied());
            self.export_with(peer, prefix, best, resend, &mut pass);
        }
        pass.finish(&mut self.interner);
    }

    /// Computes the paths of `prefix` `peer` should have with ADD-PATH send, at most `limit`:
    /// the selection (best first, then its ECMP set), then the other eligible paths in decision
    /// order, each exported under the export rules; and queues them.
    pub(super) fn export_paths(
        &mut self,
        peer: PeerId,
        prefix: Prefix,
        limit: usize,
        shared: &mut SharedAttrs,
        resend: bool,
    ) {
        let ctx = self.export_context();
        let mut exported = Vec::new();
        let mut no_next_hop = false;
        if let (Some(dest), Some(to)) = (self.tables.get(&prefix), self.peer(peer)) {
            let mut rest: Vec<(PathRef, Candidate<'_>)> = dest.paths[dest.selected..]
                .iter()
                .filter_map(|p| self.candidate(*p).map(|c| (*p, c)))
                .collect();
            rest.sort_by(|a, b| compare(&a.1, &b.1, &self.config.decision).0);
            let ordered = dest.selection().iter().chain(rest.iter().map(|(p, _)| p));
            for path in ordered {
                if exported.len() == limit {
                    break;
                }
                let key = self.paths.get(*path);
                let Some(source) = self.peer(key.peer) else {
                    continue;
                };
                let attrs = shared.get(&self.interner, key.attrs);
                match export_route(ctx, prefix, &attrs, &source.info, &to.config, &to.info) {
                    Ok(attrs) => exported.push((PathSource(key.peer, key.path_id), attrs)),
                    Err(Withheld::NoNextHop) => no_next_hop = true,
                    Err(Withheld::Refused) => {}
                }
            }
        }
        if no_next_hop {
            self.hold_back(peer, prefix.unicast_family());
        }
        let interned: Vec<(PathSource, AttrId)> = exported
            .into_iter()
            .map(|(source, attrs)| (source, self.interner.intern(attrs)))
            .collect();
        match self.peers.get_mut(peer.0 as usize) {
            Some(Some(p)) => p
                .out
                .offer_paths(prefix, interned, resend, &mut self.interner),
            _ => {
                for (_, id) in interned {
                    self.interner.release(id);
                }
            }
        }
    }

    /// Records that a route of `family` was held back from `peer` for want of a next hop of
    /// ours of that family.
    pub(super) fn hold_back(&mut self, peer: PeerId, family: Family) {
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            p.no_next_hop.insert(family);
        }
    }

    /// The families in which at least one route was not sent to `peer` because it would go
    /// with our own next hop (next hop self, RFC 4271 §5.1.3) and we have no address of that
    /// family toward the neighbour: a route goes only with a next hop of its own family
    /// (RFC 4760 §3; RFC 2545 §3 for IPv6), so on an IPv4 session our IPv6 prefixes need an
    /// IPv6 address ([`PeerConfig::local_ipv6`] or [`Rib::set_local_address`]), and on an IPv6
    /// session IPv4 prefixes an IPv4 one (no RFC 8950 extended next hop). For the daemon to
    /// warn about. Cleared by [`Rib::peer_down`], and per family when [`Rib::set_local_address`]
    /// gives an address of it.
    pub fn families_without_next_hop(&self, peer: PeerId) -> FamilySet {
        self.peer(peer).map_or(FamilySet::EMPTY, |p| p.no_next_hop)
    }

    /// Computes what `peer` should have for `prefix`, whose best path is `best`, and queues it;
    /// `resend` queues it even when the neighbour already has exactly that (route refresh).
    pub(super) fn export_with(
        &mut self,
        peer: PeerId,
        prefix: Prefix,
        best: Option<PathRef>,
        resend: bool,
        pass: &mut ExportPass,
    ) {
        let exported = best.and_then(|best| self.exported(peer, prefix, best, pass));
        match self.peers.get_mut(peer.0 as usize) {
            Some(Some(p)) => p.out.offer(prefix, exported, resend, &mut self.interner),
            _ => {
                if let Some(id) = exported {
                    self.interner.release(id);
                }
            }
        }
    }

    /// The attribute set `peer` is sent for `prefix` whose best path is `best` (a reference
    /// for the caller), or `None` when it is not sent there. The attributes are built only
    /// when the neighbour may get the route at all, and once per set and neighbour in a pass
    /// unless its export policy reads the prefix.
    pub(super) fn exported(
        &mut self,
        peer: PeerId,
        prefix: Prefix,
        best: PathRef,
        pass: &mut ExportPass,
    ) -> Option<AttrId> {
        let path = *self.paths.get(best);
        let source = &self.peer(path.peer)?.info;
        let to = self.peer(peer)?;
        let family = prefix.unicast_family();
        if !may_export(source, &to.config, &to.info, family) {
            return None;
        }
        let memo = (!chain_reads_prefix(&to.config.export)).then_some(ExportKey {
            attrs: path.attrs,
            source: path.peer,
            to: peer,
            family,
        });
        if let Some(found) = memo.and_then(|key| pass.sent.get(&key).copied()) {
            if let Some(id) = found {
                self.interner.retain(id);
            }
            return found;
        }
        let attrs = pass.shared.get(&self.interner, path.attrs);
        let route = export_route(
            self.export_context(),
            prefix,
            &attrs,
            source,
            &to.config,
            &to.info,
        );
        let exported = match route {
            Ok(attrs) => Some(self.interner.intern(attrs)),
            Err(Withheld::NoNextHop) => {
                // Recorded once: a later prefix of the pass sharing the set finds `None` above.
                self.hold_back(peer, family);
                None
            }
            Err(Withheld::Refused) => None,
        };
        if let Some(key) = memo {
            // The pass keeps its own reference.
            if let Some(id) = exported {
                self.interner.retain(id);
            }
            pass.sent.insert(key, exported);
        }
        exported
    }

    /// The speaker-wide settings of export.
    pub(super) fn export_context(&self) -> ExportContext {
        ExportContext {
            local_as: self.config.local_as,
            cluster_id: self.config.cluster_id.unwrap_or(self.config.router_id),
            graceful_shutdown: self.graceful_shutdown,
        }
    }

    /// The neighbours with updates waiting.
    pub fn peers_with_pending(&self) -> Vec<PeerId> {
        (0..self.peers.len() as u32)
            .map(PeerId)
            .filter(|id| self.peer(*id).is_some_and(|p| p.up && p.out.has_pending()))
            .collect()
    }

    /// Takes the updates waiting for `peer`, grouped by attribute set (encode them with
    /// [`crate::encode_updates`]).
    pub fn take_updates(&mut self, peer: PeerId) -> Vec<OutgoingUpdate> {
        match self.peers.get_mut(peer.0 as usize) {
            Some(Some(p)) if p.up => p.out.take(&mut self.interner),
            _ => Vec::new(),
        }
    }

    /// Prefixes currently advertised to `peer`.
    pub fn advertised_count(&self, peer: PeerId) -> usize {
        self.peer(peer).map_or(0, |p| p.out.advertised())
    }

    /// Number of prefixes whose change (announcement or withdrawal) waits in `peer`'s
    /// Adj-RIB-Out for [`Rib::take_updates`].
    pub fn pending_count(&self, peer: PeerId) -> usize {
        self.peer(peer).map_or(0, |p| p.out.pending())
    }

    /// The neighbour asked for `family` again (ROUTE-REFRESH, RFC 2918): everything we
    /// advertise to it in that family is queued anew.
    pub fn readvertise(&mut self, peer: PeerId, family: Family) {
        // What the neighbour has stays recorded as sent, so that a withdrawal that comes
        // before the re-advertisement goes out still reaches it.
        self.reexport(peer, Some(family), true);
    }
}
