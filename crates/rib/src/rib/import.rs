//! Import: UPDATEs and our own prefixes into the Adj-RIB-In (RFC 4271 §9.1.1), loop checks,
//! import policy, protected prefixes, prefix limits (RFC 4486), soft reconfiguration.

use super::*;

impl Rib {
    /// Originates `prefix` locally with these attributes (ORIGIN IGP and an empty AS_PATH when
    /// not given) and this next hop for export.
    pub fn originate(&mut self, prefix: Prefix, mut attrs: PathAttributes, next_hop: IpAddr) {
        attrs.origin.get_or_insert(bgp_proto::Origin::Igp);
        attrs.as_path.get_or_insert_with(Default::default);
        let shared = self.interner.intern(RouteAttrs::new(attrs, next_hop, None));
        let key = PathKey::fresh(PeerId::LOCAL, 0, shared, &self.interner);
        let path = self.paths.intern(key, &mut self.interner);
        self.insert_path(prefix, path);
        self.paths.release(path, &mut self.interner);
        self.interner.release(shared);
    }

    /// Stops originating `prefix`.
    pub fn withdraw_originated(&mut self, prefix: Prefix) {
        self.remove_path(prefix, PeerId::LOCAL, 0);
    }

    /// Applies a received UPDATE: withdrawals, then announcements through the loop checks, the
    /// import policy and the protected-prefix guard. With soft reconfiguration inbound the
    /// announcements are also kept as received, whatever their fate. Returns `Err` when a prefix
    /// limit is exceeded; the caller then stops the session and calls [`Rib::peer_down`].
    pub fn apply_update(
        &mut self,
        peer: PeerId,
        update: &Update,
    ) -> Result<ImportOutcome, MaxPrefixExceeded> {
        let mut outcome = ImportOutcome::default();
        for (family, nlri) in update.withdrawals() {
            let path_id = nlri.path_id.unwrap_or(0);
            self.unreceive(peer, nlri.prefix, path_id);
            if self.remove_path(nlri.prefix, peer, path_id) {
                outcome.withdrawn += 1;
                self.count(peer, family, -1);
            }
            if update.treat_as_withdraw.is_some() {
                outcome.reject(RejectReason::Malformed);
            }
        }
        let announced: Vec<(Family, Nlri)> = update.announced().map(|(f, n)| (f, *n)).collect();
        if announced.is_empty() {
            return Ok(outcome);
        }
        let Some(state) = self.peer(peer) else {
            return Ok(outcome);
        };
        let mut attrs = update.attributes.clone();
        if !state.info.ibgp {
            // RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored (import policy may
            // set one).
            attrs.local_pref = None;
        }
        if state.four_octet_as {
            attrs.as4_path = None;
            attrs.as4_aggregator = None;
        } else {
            attrs.reconstruct_as4();
        }
        let next_hop = next_hop_of(&attrs, update.mp_reach.as_ref().map(|r| &r.next_hop));
        let Some((next_hop, link_local)) = next_hop else {
            // No usable next hop: treat as withdraw (RFC 7606 §5.1), also for what is kept as
            // received.
            let reason = self
                .loop_check(state, &attrs)
                .unwrap_or(RejectReason::Malformed);
            for (family, nlri) in announced {
                let path_id = nlri.path_id.unwrap_or(0);
                outcome.reject(reason);
                self.unreceive(peer, nlri.prefix, path_id);
                if self.remove_path(nlri.prefix, peer, path_id) {
                    self.count(peer, family, -1);
                }
            }
            return Ok(outcome);
        };
        let base = RouteAttrs::new(attrs, next_hop, link_local);
        if state.received.is_some() {
            let id = self.interner.intern(base.clone());
            if let Some(Some(PeerState {
                received: Some(received),
                ..
            })) = self.peers.get_mut(peer.0 as usize)
            {
                for (_, nlri) in &announced {
                    let path_id = nlri.path_id.unwrap_or(0);
                    received.insert(nlri.prefix, path_id, id, &mut self.interner);
                }
            }
            self.interner.release(id);
        }
        self.import(peer, &base, &announced, &mut outcome);
        self.check_limits(peer, &mut outcome)?;
        Ok(outcome)
    }

    /// Forgets a route kept as received (soft reconfiguration inbound).
    pub(super) fn unreceive(&mut self, peer: PeerId, prefix: Prefix, path_id: u32) {
        if let Some(Some(PeerState {
            received: Some(received),
            ..
        })) = self.peers.get_mut(peer.0 as usize)
        {
            received.remove(prefix, path_id, &mut self.interner);
        }
    }

    /// Forgets the routes kept as received of `family` (all when `None`).
    pub(super) fn clear_received(&mut self, peer: PeerId, family: Option<Family>) {
        if let Some(Some(PeerState {
            received: Some(received),
            ..
        })) = self.peers.get_mut(peer.0 as usize)
        {
            received.clear(family, &mut self.interner);
        }
    }

    /// Runs routes received from `peer` with the attributes `base` through the loop checks, the
    /// import policy and the protected-prefix guard, into the table or out of it.
    pub(super) fn import(
        &mut self,
        peer: PeerId,
        base: &RouteAttrs,
        routes: &[(Family, Nlri)],
        outcome: &mut ImportOutcome,
    ) {
        let Some(state) = self.peer(peer) else {
            return;
        };
        if let Some(reason) = self.loop_check(state, &base.attrs) {
            for (family, nlri) in routes {
                outcome.reject(reason);
                if self.remove_path(nlri.prefix, peer, nlri.path_id.unwrap_or(0)) {
                    self.count(peer, *family, -1);
                }
            }
            return;
        }
        // A chain that does not look at the prefix decides once for all the routes.
        let shared = match routes.first() {
            Some((family, nlri)) if !chain_reads_prefix(&state.config.import) => Some(
                self.admit(peer, base, nlri.prefix, *family)
                    .map(|(attrs, allow)| (self.interner.intern(attrs), allow)),
            ),
            _ => None,
        };
        // The path of the last accepted route, held: the routes of an UPDATE usually share it,
        // so it is interned once, not once per prefix.
        let mut held: Option<PathRef> = None;
        for (family, nlri) in routes {
            let path_id = nlri.path_id.unwrap_or(0);
            let verdict = match shared {
                Some(decided) => decided,
                None => self
                    .admit(peer, base, nlri.prefix, *family)
                    .map(|(attrs, allow)| (self.interner.intern(attrs), allow)),
            };
            match self.guard(nlri.prefix, verdict.map(|(_, allow)| allow)) {
                None => {
                    let (attrs, _) = verdict.expect("accepted");
                    let key = PathKey::fresh(peer, path_id, attrs, &self.interner);
                    let path = match held {
                        Some(path) if *self.paths.get(path) == key => path,
                        _ => {
                            let path = self.paths.intern(key, &mut self.interner);
                            if let Some(old) = held.replace(path) {
                                self.paths.release(old, &mut self.interner);
                            }
                            path
                        }
                    };
                    if self.insert_path(nlri.prefix, path) {
                        self.count(peer, *family, 1);
                    }
                    outcome.accepted += 1;
                }
                Some(reason) => {
                    outcome.reject(reason);
                    if self.remove_path(nlri.prefix, peer, path_id) {
                        self.count(peer, *family, -1);
                    }
                }
            }
            // A verdict of this prefix alone holds its own reference.
            if let (None, Some((attrs, _))) = (shared, verdict) {
                self.interner.release(attrs);
            }
        }
        if let Some(path) = held {
            self.paths.release(path, &mut self.interner);
        }
        if let Some(Some((attrs, _))) = shared {
            self.interner.release(attrs);
        }
    }

    /// Why a route the import policy judged (`Some(allow_protected)` when it accepted) is
    /// refused: by the policy, or by the protected-prefix guard; `None` when it is accepted.
    pub(super) fn guard(&self, prefix: Prefix, accepted: Option<bool>) -> Option<RejectReason> {
        match accepted {
            None => Some(RejectReason::Policy),
            Some(allow) if !allow && self.is_protected(&prefix) => Some(RejectReason::Protected),
            Some(_) => None,
        }
    }

    /// Runs a route from `peer` through its import chain: the attributes it is accepted with
    /// and whether the deciding term allows protected prefixes, or `None` when rejected
    /// (RFC 8212: an external neighbour without import policy is refused everything; an
    /// internal one without policy is accepted unchanged).
    pub(super) fn admit(
        &self,
        peer: PeerId,
        base: &RouteAttrs,
        prefix: Prefix,
        family: Family,
    ) -> Option<(RouteAttrs, bool)> {
        let state = self.peer(peer)?;
        let import = &state.config.import;
        if import.is_empty() {
            return state.info.ibgp.then(|| (base.clone(), false));
        }
        let mut candidate = base.clone();
        let mut route = PolicyRoute {
            prefix,
            family,
            neighbor: state.config.address,
            attrs: &mut candidate,
            local_as: self.config.local_as,
        };
        let result = evaluate(import, &mut route);
        result
            .accepted
            .then_some((candidate, result.allow_protected))
    }

    /// Soft reconfiguration inbound: runs the routes kept as received from `peer` through the
    /// import checks again (after [`Rib::set_policies`] changed its import policy), so that
    /// routes rejected before may be accepted and accepted ones rejected, without a route
    /// refresh (RFC 2918). Does nothing for a neighbour without soft reconfiguration inbound.
    /// Returns `Err` when a prefix limit is now exceeded, as [`Rib::apply_update`] does.
    pub fn reimport(&mut self, peer: PeerId) -> Result<ImportOutcome, MaxPrefixExceeded> {
        let mut outcome = ImportOutcome::default();
        let groups = match self.peer(peer) {
            Some(PeerState {
                received: Some(received),
                ..
            }) => received.by_attrs(),
            _ => return Ok(outcome),
        };
        // The kept routes hold their sets: none is freed during the run.
        for (id, routes) in groups {
            let base = self.interner.get(id).to_route_attrs();
            let routes: Vec<(Family, Nlri)> = routes
                .into_iter()
                .map(|(prefix, path_id)| {
                    let nlri = Nlri {
                        path_id: Some(path_id),
                        prefix,
                    };
                    (prefix.unicast_family(), nlri)
                })
                .collect();
            self.import(peer, &base, &routes, &mut outcome);
        }
        self.check_limits(peer, &mut outcome)?;
        Ok(outcome)
    }

    /// The routes of `prefix` kept as received (soft reconfiguration inbound) that are not in
    /// the table, each with the reason it was refused, for `explain`.
    pub fn rejected(&self, prefix: &Prefix) -> Vec<RejectedPath> {
        let family = prefix.unicast_family();
        let in_table = |peer: PeerId, path_id: u32| {
            self.tables.get(prefix).is_some_and(|d| {
                d.paths.iter().any(|p| {
                    let key = self.paths.get(*p);
                    key.peer == peer && key.path_id == path_id
                })
            })
        };
        let mut out = Vec::new();
        for (index, state) in self.peers.iter().enumerate() {
            let Some(
                state @ PeerState {
                    received: Some(received),
                    ..
                },
            ) = state
            else {
                continue;
            };
            let peer = PeerId(index as u32);
            for (path_id, id) in received.routes_of(*prefix) {
                if in_table(peer, path_id) {
                    continue;
                }
                let attrs = self.interner.get(id).to_route_attrs();
                let judged = || {
                    let accepted = self.admit(peer, &attrs, *prefix, family);
                    self.guard(*prefix, accepted.map(|(_, allow)| allow))
                };
                // Accepted under the current policy but not re-imported yet: not a rejection.
                let Some(reason) = self.loop_check(state, &attrs.attrs).or_else(judged) else {
                    continue;
                };
                out.push(RejectedPath {
                    peer,
                    peer_address: state.info.address,
                    path_id,
                    attrs: Arc::new(attrs),
                    reason,
                });
            }
        }
        out
    }

    pub(super) fn loop_check(
        &self,
        state: &PeerState,
        attrs: &PathAttributes,
    ) -> Option<RejectReason> {
        let own = self.config.local_as;
        let occurrences = attrs
            .as_path
            .iter()
            .flat_map(|p| &p.segments)
            .flat_map(|s| &s.asns)
            .filter(|asn| **asn == own)
            .count();
        if !state.info.ibgp && occurrences > usize::from(state.config.allow_own_as) {
            return Some(RejectReason::AsPathLoop);
        }
        let cluster = self.config.cluster_id.unwrap_or(self.config.router_id);
        if attrs.originator_id == Some(self.config.router_id)
            || attrs.cluster_list.contains(&cluster)
        {
            return Some(RejectReason::ReflectionLoop);
        }
        None
    }

    pub(super) fn is_protected(&self, prefix: &Prefix) -> bool {
        prefix.prefix_len() == 0
            || self
                .config
                .protected_prefixes
                .iter()
                .any(|p| prefix.contains(p))
    }

    pub(super) fn count(&mut self, peer: PeerId, family: Family, delta: i32) {
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            let n = p.accepted.entry(family).or_default();
            *n = n.saturating_add_signed(delta);
        }
    }

    /// Accepted prefixes of a neighbour in a family (for metrics and max-prefix).
    pub fn accepted_count(&self, peer: PeerId, family: Family) -> u32 {
        self.peer(peer)
            .and_then(|p| p.accepted.get(&family).copied())
            .unwrap_or(0)
    }

    pub(super) fn check_limits(
        &mut self,
        peer: PeerId,
        outcome: &mut ImportOutcome,
    ) -> Result<(), MaxPrefixExceeded> {
        let Some(Some(state)) = self.peers.get_mut(peer.0 as usize) else {
            return Ok(());
        };
        for limit in &state.config.max_prefix {
            let count = state.accepted.get(&limit.family).copied().unwrap_or(0);
            if count > limit.limit {
                return Err(MaxPrefixExceeded {
                    family: limit.family,
                    limit: limit.limit,
                    count,
                });
            }
            let threshold = u64::from(limit.limit) * u64::from(limit.warning_percent) / 100;
            let warned = state.warned.entry(limit.family).or_default();
            if u64::from(count) >= threshold && !*warned {
                *warned = true;
                outcome.warnings.push(limit.family);
            }
        }
        Ok(())
    }

    /// Adds `path` to `prefix`, or puts it in place of the path with the same neighbour and
    /// path id (the caller keeps its own reference to it); returns whether it is new.
    pub(super) fn insert_path(&mut self, prefix: Prefix, path: PathRef) -> bool {
        let PathKey { peer, path_id, .. } = *self.paths.get(path);
        self.paths.retain(path);
        let mut dest = self.tables.entry(&prefix);
        self.dirty.note(prefix, &mut dest, &mut self.paths);
        let paths = &self.paths;
        let existing = dest.paths().iter().position(|p| {
            let other = paths.get(*p);
            other.peer == peer && other.path_id == path_id
        });
        match existing {
            Some(index) => {
                let old = std::mem::replace(&mut dest.paths_mut()[index], path);
                self.paths.release(old, &mut self.interner);
                false
            }
            None => {
                dest.push(path);
                true
            }
        }
    }

    /// Removes the path (peer, path id); returns whether there was one.
    pub(super) fn remove_path(&mut self, prefix: Prefix, peer: PeerId, path_id: u32) -> bool {
        let Some(mut dest) = self.tables.get_mut(&prefix) else {
            return false;
        };
        let paths = &self.paths;
        let found = dest.paths().iter().position(|p| {
            let key = paths.get(*p);
            key.peer == peer && key.path_id == path_id
        });
        let Some(index) = found else { return false };
        self.dirty.note(prefix, &mut dest, &mut self.paths);
        let path = dest.swap_remove(index);
        dest.set_selected(0);
        self.paths.release(path, &mut self.interner);
        true
    }

    pub(super) fn remove_paths_where(
        &mut self,
        pred: impl Fn(&PathKey) -> bool,
        family: Option<Family>,
    ) {
        for prefix in self.tables.prefixes() {
            if family.is_some_and(|f| f != prefix.unicast_family()) {
                continue;
            }
            let Some(mut dest) = self.tables.get_mut(&prefix) else {
                continue;
            };
            let paths = &self.paths;
            if !dest.paths().iter().any(|p| pred(paths.get(*p))) {
                continue;
            }
            self.dirty.note(prefix, &mut dest, &mut self.paths);
            let (gone, kept): (Vec<PathRef>, Vec<PathRef>) =
                dest.paths().iter().partition(|p| pred(self.paths.get(**p)));
            dest.set(kept);
            dest.set_selected(0);
            let family = prefix.unicast_family();
            for path in gone {
                let peer = self.paths.get(path).peer;
                self.paths.release(path, &mut self.interner);
                self.count(peer, family, -1);
            }
        }
    }
}
