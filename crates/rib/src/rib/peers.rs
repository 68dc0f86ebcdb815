//! Neighbours and their sessions: registration, session up and down, graceful-restart stale
//! state (RFC 4724 §4.2, RFC 9494 §4.2), policies, local addresses and next-hop reachability.

use super::*;

impl Rib {
    /// Registers a neighbour; its session is down until [`Rib::peer_up`].
    pub fn add_peer(&mut self, config: PeerConfig) -> PeerId {
        let info = PeerInfo {
            address: config.address,
            asn: config.asn,
            bgp_id: Ipv4Addr::UNSPECIFIED,
            ibgp: config.asn == self.config.local_as,
            rr_client: config.rr_client,
            is_local: false,
            families: FamilySet::EMPTY,
            long_lived: FamilySet::EMPTY,
        };
        let received = config.soft_reconfiguration_inbound.then(AdjRibIn::default);
        let state = PeerState {
            config,
            info,
            four_octet_as: true,
            accepted: FxHashMap::default(),
            warned: FxHashMap::default(),
            up: false,
            out: AdjRibOut::default(),
            received,
            add_path: FamilySet::EMPTY,
            no_next_hop: FamilySet::EMPTY,
        };
        // Identifiers are never reused: a task of a removed neighbour may still report with
        // its old one for a moment, and must not be mistaken for a new neighbour.
        self.peers.push(Some(state));
        PeerId(self.peers.len() as u32 - 1)
    }

    /// Removes a neighbour and all its paths.
    pub fn remove_peer(&mut self, peer: PeerId) {
        self.clear_received(peer, None);
        self.remove_paths_where(|p| p.peer == peer, None);
        if peer != PeerId::LOCAL {
            if let Some(slot) = self.peers.get_mut(peer.0 as usize) {
                *slot = None;
            }
        }
    }

    /// What the RIB knows of a neighbour.
    pub fn peer_info(&self, peer: PeerId) -> Option<&PeerInfo> {
        self.peer(peer).map(|p| &p.info)
    }

    pub(super) fn peer(&self, peer: PeerId) -> Option<&PeerState> {
        self.peers.get(peer.0 as usize).and_then(Option::as_ref)
    }

    /// The session came up with this identifier, AS number width and negotiated `families`:
    /// those both sides advertised in the Multiprotocol capability (RFC 4760 §8, RFC 5492; an
    /// OPEN without one stands for IPv4 unicast). The whole table of those families is offered
    /// to it ([`Rib::take_updates`]); no route of another family is ever queued for it, by this
    /// initial export, a decision run, ADD-PATH or a route refresh, until [`Rib::peer_down`]
    /// clears the set ([`PeerInfo::families`]).
    pub fn peer_up(
        &mut self,
        peer: PeerId,
        bgp_id: Ipv4Addr,
        four_octet_as: bool,
        families: FamilySet,
    ) {
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            p.info.bgp_id = bgp_id;
            p.info.families = families;
            p.four_octet_as = four_octet_as;
            p.up = true;
            p.no_next_hop = FamilySet::EMPTY;
        }
        self.reexport(peer, None, false);
    }

    /// The neighbours whose sessions are up (they get exports).
    pub(super) fn up_peers(&self) -> Vec<PeerId> {
        (1..self.peers.len() as u32)
            .map(PeerId)
            .filter(|id| self.peer(*id).is_some_and(|p| p.up))
            .collect()
    }

    /// The session of `peer` negotiated ADD-PATH send (RFC 7911 §4) for `families`: it is sent
    /// up to [`PeerConfig::add_path_send`] paths per prefix of those families. Call before
    /// [`Rib::peer_up`]; [`Rib::peer_down`] clears it.
    pub fn set_add_path(&mut self, peer: PeerId, families: FamilySet) {
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            p.add_path = families;
        }
    }

    /// The session of `peer` received the Long-Lived Graceful Restart capability (RFC 9494
    /// §3.1) for `families`: long-lived stale routes of those families may be sent to it
    /// (§4.3). Call before [`Rib::peer_up`]; [`Rib::peer_down`] clears it.
    pub fn set_long_lived(&mut self, peer: PeerId, families: FamilySet) {
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            p.info.long_lived = families;
        }
    }

    /// How many paths of a prefix of `family` `peer` is sent: 1 without ADD-PATH send.
    pub(super) fn paths_to(&self, peer: PeerId, family: Family) -> usize {
        self.peer(peer)
            .filter(|p| p.add_path.contains(family))
            .map_or(1, |p| p.config.add_path_send.max(1))
    }

    /// Our address toward the neighbour of `address`'s family (the connection's local address,
    /// or the interface's address of the other family), used as next hop self for routes of
    /// that family (RFC 4271 §5.1.3; RFC 2545 §3: for IPv6 a global address) unless one is
    /// configured; call it once per family, before or after [`Rib::peer_up`]. A new address
    /// clears that family from [`Rib::families_without_next_hop`], and when the session is up
    /// and negotiated the family, its routes of the family are exported again: those held back
    /// go out with it.
    pub fn set_local_address(&mut self, peer: PeerId, address: IpAddr) {
        let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) else {
            return;
        };
        // A configured (or earlier) address stays.
        let family = match address {
            IpAddr::V4(v4) if p.config.local_ipv4.is_none() => {
                p.config.local_ipv4 = Some(v4);
                Family::IPV4_UNICAST
            }
            IpAddr::V6(v6) if p.config.local_ipv6.is_none() => {
                p.config.local_ipv6 = Some(v6);
                Family::IPV6_UNICAST
            }
            _ => return,
        };
        p.no_next_hop = without_afi(p.no_next_hop, family.afi);
        if p.up && p.info.families.contains(family) {
            self.reexport(peer, Some(family), false);
        }
    }

    /// The session went down. Paths of `retain_stale` families are kept, marked stale (RFC 4724
    /// §4.2), until [`Rib::end_of_rib`] or [`Rib::flush_stale`]; all others are removed, but
    /// for paths already stale (a restart before the last one was over: RFC 9494 §4.2 keeps
    /// them until their stale time), which the caller flushes when their time is up.
    pub fn peer_down(&mut self, peer: PeerId, retain_stale: &[Family]) {
        // What it sent is sent again on the next session (stale paths stay in the table only).
        self.clear_received(peer, None);
        for family in retain_stale {
            self.mark_stale(peer, *family);
        }
        self.remove_paths_where(|p| p.peer == peer && !p.stale.is_stale(), None);
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            // `accepted` already follows the removals; stale paths kept still count.
            p.warned.clear();
            p.up = false;
            p.add_path = FamilySet::EMPTY;
            p.info.families = FamilySet::EMPTY;
            p.info.long_lived = FamilySet::EMPTY;
            p.no_next_hop = FamilySet::EMPTY;
            p.out.clear(&mut self.interner);
        }
    }

    /// Marks the neighbour's paths of `family` stale: at the start of its re-advertisement
    /// (RFC 7313 BoRR); what it does not re-send goes at [`Rib::end_of_rib`] (its EoRR). The
    /// routes kept as received of that family are forgotten: it sends them again.
    pub fn mark_stale(&mut self, peer: PeerId, family: Family) {
        self.clear_received(peer, Some(family));
        for prefix in self.tables.prefixes() {
            if prefix.unicast_family() != family {
                continue;
            }
            let Some(mut dest) = self.tables.get_mut(&prefix) else {
                continue;
            };
            let paths = &self.paths;
            if !dest.paths().iter().any(|p| paths.get(*p).peer == peer) {
                continue;
            }
            self.dirty.note(prefix, &mut dest, &mut self.paths);
            for i in 0..dest.paths().len() {
                let path = dest.paths()[i];
                let key = *self.paths.get(path);
                if key.peer == peer && !key.stale.is_stale() {
                    let stale = PathKey {
                        stale: Staleness::Stale,
                        ..key
                    };
                    dest.paths_mut()[i] = self.paths.intern(stale, &mut self.interner);
                    self.paths.release(path, &mut self.interner);
                }
            }
        }
    }

    /// Replaces a neighbour's policies (configuration reload). What it is sent is recomputed at
    /// once; the new import policy applies to what it sends from now on, so the caller re-runs
    /// it over what it sent before: with [`Rib::reimport`] when the neighbour has soft
    /// reconfiguration inbound, otherwise by asking it for a route refresh (RFC 2918).
    pub fn set_policies(
        &mut self,
        peer: PeerId,
        import: Vec<Arc<Policy>>,
        export: Vec<Arc<Policy>>,
    ) {
        let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) else {
            return;
        };
        p.config.import = import;
        p.config.export = export;
        if !p.up {
            return;
        }
        self.reexport(peer, None, false);
    }

    /// Starts (`Some(prepends)`) or ends (`None`) the graceful shutdown of our own routes
    /// (RFC 8326): they are re-sent to every neighbour with the GRACEFUL_SHUTDOWN community and,
    /// toward external neighbours, extra prepends of our AS, so traffic moves away before the
    /// sessions close.
    pub fn set_graceful_shutdown(&mut self, prepends: Option<u8>) {
        if self.graceful_shutdown == prepends {
            return;
        }
        self.graceful_shutdown = prepends;
        for peer in self.up_peers() {
            self.reexport(peer, None, false);
        }
    }

    /// The neighbour's End-of-RIB for `family`: its paths still stale are removed.
    pub fn end_of_rib(&mut self, peer: PeerId, family: Family) {
        self.flush_stale(peer, Some(family));
    }

    /// The restart timer or the long-lived stale time of the neighbour ran out (RFC 4724 §4.2,
    /// RFC 9494 §4.2), or its new session does not keep the forwarding state: its stale paths
    /// of `family` (of every family with `None`) are removed.
    pub fn flush_stale(&mut self, peer: PeerId, family: Option<Family>) {
        self.remove_paths_where(|p| p.peer == peer && p.stale.is_stale(), family);
    }

    /// The neighbour's restart time for `family` ran out and it offered long-lived graceful
    /// restart (RFC 9494 §4.2): its stale paths of the family carrying NO_LLGR are removed, the
    /// others become long-lived stale, with LLGR_STALE added to their communities, so they are
    /// least preferred and sent only to neighbours with the capability (§4.3). They stay until
    /// [`Rib::end_of_rib`] or [`Rib::flush_stale`].
    pub fn enter_long_lived_stale(&mut self, peer: PeerId, family: Family) {
        // Each attribute set once: the same set with LLGR_STALE added, held until the end.
        let mut marked: FxHashMap<AttrId, AttrId> = FxHashMap::default();
        let mut removed = 0;
        for prefix in self.tables.prefixes() {
            if prefix.unicast_family() != family {
                continue;
            }
            let Some(mut dest) = self.tables.get_mut(&prefix) else {
                continue;
            };
            let paths = &self.paths;
            let kept_stale = |p: &PathRef| {
                let key = paths.get(*p);
                key.peer == peer && key.stale == Staleness::Stale
            };
            if !dest.paths().iter().any(kept_stale) {
                continue;
            }
            self.dirty.note(prefix, &mut dest, &mut self.paths);
            let mut kept = Vec::with_capacity(dest.paths().len());
            for path in dest.paths().to_vec() {
                let key = *self.paths.get(path);
                if key.peer != peer || key.stale != Staleness::Stale {
                    kept.push(path);
                    continue;
                }
                let attrs = self.interner.get(key.attrs);
                if attrs.has_community(Community::NO_LLGR) {
                    self.paths.release(path, &mut self.interner);
                    removed += 1;
                    continue;
                }
                let interner = &mut self.interner;
                let long_lived = *marked.entry(key.attrs).or_insert_with(|| {
                    let mut route = interner.get(key.attrs).to_route_attrs();
                    route.attrs.communities.push(Community::LLGR_STALE);
                    interner.intern(route)
                });
                let key = PathKey {
                    attrs: long_lived,
                    hop: self.interner.hop(long_lived),
                    stale: Staleness::LongLived,
                    ..key
                };
                kept.push(self.paths.intern(key, &mut self.interner));
                self.paths.release(path, &mut self.interner);
            }
            dest.set(kept);
            dest.set_selected(0);
        }
        for id in marked.into_values() {
            self.interner.release(id);
        }
        if removed > 0 {
            self.count(peer, family, -removed);
        }
    }

    /// Reports a next hop's reachability and IGP cost (`None`: unreachable), for eligibility and
    /// step (e) of the decision. Every prefix is re-decided in the next batch.
    pub fn set_next_hop(&mut self, next_hop: IpAddr, cost: Option<u32>) {
        self.interner.hops_mut().report(next_hop, cost);
        for prefix in self.tables.prefixes() {
            if let Some(mut dest) = self.tables.get_mut(&prefix) {
                self.dirty.note(prefix, &mut dest, &mut self.paths);
            }
        }
    }

    /// The IGP cost of a path's next hop (0 for our own prefixes), `None` when unreachable.
    pub(super) fn igp_cost(&self, key: &PathKey) -> Option<u32> {
        if key.peer == PeerId::LOCAL {
            return Some(0);
        }
        self.interner.hops().cost(key.hop)
    }
}
