//! The RIB: Adj-RIB-In (post-policy) and Loc-RIB in one table of paths per prefix, the decision
//! process run once per batch of changes, and the graceful-restart stale state.
//!
//! Changes are applied with [`Rib::apply_update`], [`Rib::originate`], [`Rib::peer_down`] and
//! friends, which only mark prefixes dirty; [`Rib::run_decision`] then runs the decision process
//! once per dirty prefix and returns what changed, so a full table costs one decision per prefix,
//! not one per UPDATE.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::{Family, NextHop, Nlri, PathAttributes, Prefix, Update};
use rustc_hash::FxHashMap;
use thiserror::Error;

use crate::attrs::{AttrInterner, RouteAttrs};
use crate::decision::{
    compare, loses_on_med, multipath_equal, rank, Candidate, DecisionConfig, DecisionStep,
};
use crate::export::{export_route, AdjRibOut, ExportContext, OutgoingUpdate};
use crate::peer::{PeerId, PeerInfo};
use crate::policy::{evaluate, Match, Policy, PolicyRoute};
use crate::table::{Dest, Path, Tables};

/// Global RIB settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// The route-reflection cluster id (RFC 4456 §7); the router id when `None`.
    pub cluster_id: Option<Ipv4Addr>,
    /// Decision process and ECMP options.
    pub decision: DecisionConfig,
    /// Prefixes a learned route may never equal or cover unless a policy term allows it; the
    /// default routes are always protected (kube-router #584).
    pub protected_prefixes: Vec<Prefix>,
    /// Next hops not reported through [`Rib::set_next_hop`] are unreachable (otherwise they are
    /// reachable at IGP cost 0, as for directly connected eBGP neighbours).
    pub require_next_hop_resolution: bool,
}

impl RibConfig {
    /// Defaults for a speaker in `local_as` with `router_id`.
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> Self {
        Self {
            local_as,
            router_id,
            cluster_id: None,
            decision: DecisionConfig::default(),
            protected_prefixes: Vec::new(),
            require_next_hop_resolution: false,
        }
    }
}

/// A prefix limit for one family of one neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPrefix {
    /// The family.
    pub family: Family,
    /// More accepted prefixes than this end the session (Cease 6/1).
    pub limit: u32,
    /// Warn once when the count reaches this percentage of the limit.
    pub warning_percent: u8,
}

/// A neighbour as the RIB is configured to treat it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The neighbour's address.
    pub address: IpAddr,
    /// Its AS.
    pub asn: u32,
    /// It is a route-reflector client (RFC 4456).
    pub rr_client: bool,
    /// Import policy chain; empty on an eBGP session rejects everything (RFC 8212).
    pub import: Vec<Arc<Policy>>,
    /// Export policy chain; empty on an eBGP session sends nothing (RFC 8212).
    pub export: Vec<Arc<Policy>>,
    /// Prefix limits.
    pub max_prefix: Vec<MaxPrefix>,
    /// How many times our own AS may appear in a received AS_PATH (allowas-in).
    pub allow_own_as: u8,
    /// Our IPv4 next hop toward this neighbour (next hop self, eBGP, local routes).
    pub local_ipv4: Option<Ipv4Addr>,
    /// Our IPv6 next hop toward this neighbour.
    pub local_ipv6: Option<Ipv6Addr>,
    /// Set ourselves as next hop on iBGP too (RFC 4271 §5.1.3 leaves it unchanged otherwise).
    pub next_hop_self: bool,
    /// Pass a MED learned from one AS on to another.
    pub send_med: bool,
}

impl PeerConfig {
    /// A neighbour with no policies and no limits.
    pub fn new(address: IpAddr, asn: u32) -> Self {
        Self {
            address,
            asn,
            rr_client: false,
            import: Vec::new(),
            export: Vec::new(),
            max_prefix: Vec::new(),
            allow_own_as: 0,
            local_ipv4: None,
            local_ipv6: None,
            next_hop_self: false,
            send_med: false,
        }
    }
}

#[derive(Debug)]
struct PeerState {
    config: PeerConfig,
    info: PeerInfo,
    four_octet_as: bool,
    accepted: FxHashMap<Family, u32>,
    warned: FxHashMap<Family, bool>,
    /// The session is Established: it gets exports.
    up: bool,
    out: AdjRibOut,
}

/// A neighbour sent more prefixes of a family than its limit: stop the session with Cease 6/1
/// (RFC 4486) and call [`Rib::peer_down`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("{family}: {count} prefixes exceed the limit of {limit}")]
pub struct MaxPrefixExceeded {
    /// The family.
    pub family: Family,
    /// The limit.
    pub limit: u32,
    /// The count reached.
    pub count: u32,
}

/// Why a route was not accepted into the RIB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Our AS is in the AS_PATH (RFC 4271 §9.1.2).
    AsPathLoop,
    /// ORIGINATOR_ID is ours or CLUSTER_LIST holds our cluster id (RFC 4456 §8).
    ReflectionLoop,
    /// The import policy rejected it, or there was none on an eBGP session (RFC 8212).
    Policy,
    /// It equals or covers the default route or a protected prefix.
    Protected,
    /// RFC 7606 treat-as-withdraw.
    Malformed,
}

/// What one UPDATE did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Paths added or replaced.
    pub accepted: u32,
    /// Paths refused, by reason.
    pub rejected: Vec<(RejectReason, u32)>,
    /// Paths withdrawn.
    pub withdrawn: u32,
    /// Families whose count crossed the warning threshold with this UPDATE.
    pub warnings: Vec<Family>,
}

impl ImportOutcome {
    fn reject(&mut self, reason: RejectReason) {
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.rejected.push((reason, 1)),
        }
    }
}

/// A next hop in an ECMP set, for the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForwardingNextHop {
    /// The next hop address.
    pub address: IpAddr,
    /// The IPv6 link-local next hop, when known.
    pub link_local: Option<Ipv6Addr>,
}

/// The selected route of a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BestRoute {
    /// Where it came from.
    pub peer: PeerId,
    /// Its ADD-PATH identifier.
    pub path_id: u32,
    /// Its attributes.
    pub attrs: Arc<RouteAttrs>,
}

/// A prefix whose selection changed in the last batch. An empty `next_hops` with no `best` is a
/// withdrawal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteChange {
    /// The prefix.
    pub prefix: Prefix,
    /// The best route, if any.
    pub best: Option<BestRoute>,
    /// The ECMP next hops, deduplicated and sorted (empty for locally originated prefixes).
    pub next_hops: Vec<ForwardingNextHop>,
}

/// Where one path stands, for `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathStatus {
    /// The best path.
    Best,
    /// In the ECMP set with the best.
    Multipath,
    /// Lost to the best at this step.
    Lost(DecisionStep),
    /// Its next hop is unreachable.
    Unreachable,
}

/// One path of a prefix, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathExplanation {
    /// Where it came from.
    pub peer: PeerId,
    /// The neighbour's address (unspecified for local routes).
    pub peer_address: IpAddr,
    /// Its ADD-PATH identifier.
    pub path_id: u32,
    /// Its attributes.
    pub attrs: Arc<RouteAttrs>,
    /// Kept stale across a graceful restart.
    pub stale: bool,
    /// Where it stands.
    pub status: PathStatus,
}

/// Sizes, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RibStats {
    /// Prefixes with at least one path.
    pub prefixes: usize,
    /// Paths.
    pub paths: usize,
    /// Distinct attribute sets.
    pub attribute_sets: usize,
}

#[derive(Debug)]
struct Snapshot {
    best: Option<(PeerId, u32, Arc<RouteAttrs>)>,
    next_hops: Vec<ForwardingNextHop>,
}

/// The RIB.
#[derive(Debug)]
pub struct Rib {
    config: RibConfig,
    peers: Vec<Option<PeerState>>,
    tables: Tables,
    interner: AttrInterner,
    dirty: FxHashMap<Prefix, Snapshot>,
    next_hops: FxHashMap<IpAddr, u32>,
    graceful_shutdown: Option<u8>,
}

fn next_hop_of(attrs: &PathAttributes, mp: Option<&NextHop>) -> Option<(IpAddr, Option<Ipv6Addr>)> {
    match mp {
        Some(NextHop::V4(a)) => Some((IpAddr::V4(*a), None)),
        Some(NextHop::V6 { global, link_local }) if global.is_unspecified() => {
            link_local.map(|ll| (IpAddr::V6(ll), None))
        }
        Some(NextHop::V6 { global, link_local }) => Some((IpAddr::V6(*global), *link_local)),
        None => attrs.next_hop.map(|a| (IpAddr::V4(a), None)),
    }
}

fn chain_reads_prefix(chain: &[Arc<Policy>]) -> bool {
    chain
        .iter()
        .flat_map(|p| &p.terms)
        .flat_map(|t| &t.matches)
        .any(|m| matches!(m, Match::PrefixList(_) | Match::Family(_)))
}

impl Rib {
    /// An empty RIB.
    pub fn new(config: RibConfig) -> Self {
        let local = PeerState {
            config: PeerConfig::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.local_as),
            info: PeerInfo::local(config.local_as, config.router_id),
            four_octet_as: true,
            accepted: FxHashMap::default(),
            warned: FxHashMap::default(),
            up: false,
            out: AdjRibOut::default(),
        };
        Self {
            config,
            peers: vec![Some(local)],
            tables: Tables::default(),
            interner: AttrInterner::default(),
            dirty: FxHashMap::default(),
            next_hops: FxHashMap::default(),
            graceful_shutdown: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    /// Registers a neighbour; its session is down until [`Rib::peer_up`].
    pub fn add_peer(&mut self, config: PeerConfig) -> PeerId {
        let info = PeerInfo {
            address: config.address,
            asn: config.asn,
            bgp_id: Ipv4Addr::UNSPECIFIED,
            ibgp: config.asn == self.config.local_as,
            rr_client: config.rr_client,
            is_local: false,
        };
        let state = PeerState {
            config,
            info,
            four_octet_as: true,
            accepted: FxHashMap::default(),
            warned: FxHashMap::default(),
            up: false,
            out: AdjRibOut::default(),
        };
        // Identifiers are never reused: a task of a removed neighbour may still report with
        // its old one for a moment, and must not be mistaken for a new neighbour.
        self.peers.push(Some(state));
        PeerId(self.peers.len() as u32 - 1)
    }

    /// Removes a neighbour and all its paths.
    pub fn remove_peer(&mut self, peer: PeerId) {
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

    fn peer(&self, peer: PeerId) -> Option<&PeerState> {
        self.peers.get(peer.0 as usize).and_then(Option::as_ref)
    }

    /// The session came up with this identifier and AS number width.
    /// The session came up with this identifier and AS number width: the whole table is
    /// offered to it ([`Rib::take_updates`]).
    pub fn peer_up(&mut self, peer: PeerId, bgp_id: Ipv4Addr, four_octet_as: bool) {
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            p.info.bgp_id = bgp_id;
            p.four_octet_as = four_octet_as;
            p.up = true;
        }
        self.reexport(peer, None, false);
    }

    /// The neighbours whose sessions are up (they get exports).
    fn up_peers(&self) -> Vec<PeerId> {
        (1..self.peers.len() as u32)
            .map(PeerId)
            .filter(|id| self.peer(*id).is_some_and(|p| p.up))
            .collect()
    }

    /// Recomputes what `peer` should have for every prefix (of `family`, when given); `resend`
    /// queues routes again even when the neighbour already has them (route refresh).
    fn reexport(&mut self, peer: PeerId, family: Option<Family>, resend: bool) {
        for prefix in self.tables.prefixes() {
            if family.is_some_and(|f| f != prefix.unicast_family()) {
                continue;
            }
            let best = self.lookup(&prefix).and_then(|c| c.best);
            self.export_with(peer, prefix, best.as_ref(), resend);
        }
    }

    /// Our address on the neighbour's connection, used as next hop self for its family when no
    /// local address is configured.
    pub fn set_local_address(&mut self, peer: PeerId, address: IpAddr) {
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            match address {
                IpAddr::V4(v4) => {
                    p.config.local_ipv4.get_or_insert(v4);
                }
                IpAddr::V6(v6) => {
                    p.config.local_ipv6.get_or_insert(v6);
                }
            }
        }
    }

    /// Computes and queues what `peer` should now have for `prefix`.
    fn export_to(&mut self, peer: PeerId, prefix: Prefix, best: Option<&BestRoute>) {
        self.export_with(peer, prefix, best, false);
    }

    /// Computes what `peer` should have for `prefix` and queues it; `resend` queues it even
    /// when the neighbour already has exactly that (route refresh).
    fn export_with(
        &mut self,
        peer: PeerId,
        prefix: Prefix,
        best: Option<&BestRoute>,
        resend: bool,
    ) {
        let ctx = ExportContext {
            local_as: self.config.local_as,
            cluster_id: self.config.cluster_id.unwrap_or(self.config.router_id),
            graceful_shutdown: self.graceful_shutdown,
        };
        let exported = best.and_then(|best| {
            let source = &self.peer(best.peer)?.info;
            let to = self.peer(peer)?;
            export_route(ctx, prefix, best, source, &to.config, &to.info)
        });
        let shared = exported.map(|attrs| self.interner.intern(attrs));
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            p.out.offer(prefix, shared, resend);
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

    /// The session went down. Paths of `retain_stale` families are kept, marked stale (RFC 4724
    /// §4.2), until [`Rib::end_of_rib`] or [`Rib::flush_stale`]; all others are removed.
    pub fn peer_down(&mut self, peer: PeerId, retain_stale: &[Family]) {
        for family in retain_stale {
            self.mark_stale(peer, *family);
        }
        self.remove_paths_where(|p| p.peer == peer && !p.stale, None);
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            // `accepted` already follows the removals; stale paths kept still count.
            p.warned.clear();
            p.up = false;
            p.out.clear(&mut self.interner);
        }
    }

    /// Marks the neighbour's paths of `family` stale: at the start of its re-advertisement
    /// (RFC 7313 BoRR); what it does not re-send goes at [`Rib::end_of_rib`] (its EoRR).
    pub fn mark_stale(&mut self, peer: PeerId, family: Family) {
        for prefix in self.tables.prefixes() {
            if prefix.unicast_family() != family {
                continue;
            }
            let has = self
                .tables
                .get(&prefix)
                .is_some_and(|d| d.paths.iter().any(|p| p.peer == peer));
            if has {
                self.mark_dirty(prefix);
                if let Some(dest) = self.tables.get_mut(&prefix) {
                    dest.paths
                        .iter_mut()
                        .filter(|p| p.peer == peer)
                        .for_each(|p| p.stale = true);
                }
            }
        }
    }

    /// The neighbour asked for `family` again (ROUTE-REFRESH, RFC 2918): everything we
    /// advertise to it in that family is queued anew.
    pub fn readvertise(&mut self, peer: PeerId, family: Family) {
        // What the neighbour has stays recorded as sent, so that a withdrawal that comes
        // before the re-advertisement goes out still reaches it.
        self.reexport(peer, Some(family), true);
    }

    /// Replaces a neighbour's policies (configuration reload). What it is sent is recomputed at
    /// once; the new import policy applies to what it sends from now on, so the caller asks it
    /// for a route refresh (RFC 2918) to re-evaluate its whole table.
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
        self.remove_paths_where(|p| p.peer == peer && p.stale, Some(family));
    }

    /// The restart timer of the neighbour ran out: every stale path of it is removed.
    pub fn flush_stale(&mut self, peer: PeerId) {
        self.remove_paths_where(|p| p.peer == peer && p.stale, None);
    }

    /// Reports a next hop's reachability and IGP cost (`None`: unreachable), for eligibility and
    /// step (e) of the decision. Every prefix is re-decided in the next batch.
    pub fn set_next_hop(&mut self, next_hop: IpAddr, cost: Option<u32>) {
        match cost {
            Some(c) => self.next_hops.insert(next_hop, c),
            None => self.next_hops.remove(&next_hop),
        };
        for prefix in self.tables.prefixes() {
            self.mark_dirty(prefix);
        }
    }

    fn next_hop_cost(&self, path: &Path) -> Option<u32> {
        if path.peer == PeerId::LOCAL {
            return Some(0);
        }
        match self.next_hops.get(&path.attrs.next_hop) {
            Some(cost) => Some(*cost),
            None if self.config.require_next_hop_resolution => None,
            None => Some(0),
        }
    }

    /// Originates `prefix` locally with these attributes (ORIGIN IGP and an empty AS_PATH when
    /// not given) and this next hop for export.
    pub fn originate(&mut self, prefix: Prefix, mut attrs: PathAttributes, next_hop: IpAddr) {
        attrs.origin.get_or_insert(bgp_proto::Origin::Igp);
        attrs.as_path.get_or_insert_with(Default::default);
        let shared = self.interner.intern(RouteAttrs::new(attrs, next_hop, None));
        self.insert_path(prefix, PeerId::LOCAL, 0, shared);
    }

    /// Stops originating `prefix`.
    pub fn withdraw_originated(&mut self, prefix: Prefix) {
        self.remove_path(prefix, PeerId::LOCAL, 0);
    }

    /// Applies a received UPDATE: withdrawals, then announcements through the loop checks, the
    /// import policy and the protected-prefix guard. Returns `Err` when a prefix limit is
    /// exceeded; the caller then stops the session and calls [`Rib::peer_down`].
    pub fn apply_update(
        &mut self,
        peer: PeerId,
        update: &Update,
    ) -> Result<ImportOutcome, MaxPrefixExceeded> {
        let mut outcome = ImportOutcome::default();
        for (family, nlri) in update.withdrawals() {
            if self.remove_path(nlri.prefix, peer, nlri.path_id.unwrap_or(0)) {
                outcome.withdrawn += 1;
                self.count(peer, family, -1);
            }
            if update.treat_as_withdraw.is_some() {
                outcome.reject(RejectReason::Malformed);
            }
        }
        let mut announced: Vec<(Family, Nlri)> = update.announced().map(|(f, n)| (f, *n)).collect();
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
        let loop_reason = self.loop_check(state, &attrs);
        let next_hop = next_hop_of(&attrs, update.mp_reach.as_ref().map(|r| &r.next_hop));
        let (Some((next_hop, link_local)), None) = (next_hop, loop_reason) else {
            let reason = loop_reason.unwrap_or(RejectReason::Malformed);
            for (family, nlri) in announced.drain(..) {
                outcome.reject(reason);
                if self.remove_path(nlri.prefix, peer, nlri.path_id.unwrap_or(0)) {
                    self.count(peer, family, -1);
                }
            }
            return Ok(outcome);
        };
        let base = RouteAttrs::new(attrs, next_hop, link_local);
        let import = state.config.import.clone();
        let ebgp_without_policy = !state.info.ibgp && import.is_empty();
        let neighbor = state.config.address;
        // A chain that does not look at the prefix decides once for the whole UPDATE.
        let shared = if ebgp_without_policy || chain_reads_prefix(&import) {
            None
        } else {
            let (family, nlri) = announced[0];
            Some(self.import_verdict(&import, &base, nlri.prefix, family, neighbor))
        };
        for (family, nlri) in announced {
            let path_id = nlri.path_id.unwrap_or(0);
            let verdict = match &shared {
                _ if ebgp_without_policy => None,
                Some(decided) => decided.as_ref().map(|(a, allow)| (Arc::clone(a), *allow)),
                None => self.import_verdict(&import, &base, nlri.prefix, family, neighbor),
            };
            let reason = match &verdict {
                None => Some(RejectReason::Policy),
                Some((_, allow)) if !allow && self.is_protected(&nlri.prefix) => {
                    Some(RejectReason::Protected)
                }
                Some(_) => None,
            };
            match (verdict, reason) {
                (Some((attrs, _)), None) => {
                    if self.insert_path(nlri.prefix, peer, path_id, attrs) {
                        self.count(peer, family, 1);
                    }
                    outcome.accepted += 1;
                }
                (verdict, reason) => {
                    if let Some((attrs, _)) = verdict {
                        self.interner.release(attrs);
                    }
                    outcome.reject(reason.unwrap_or(RejectReason::Policy));
                    if self.remove_path(nlri.prefix, peer, path_id) {
                        self.count(peer, family, -1);
                    }
                }
            }
        }
        if let Some(Some((attrs, _))) = shared {
            self.interner.release(attrs);
        }
        self.check_limits(peer, &mut outcome)?;
        Ok(outcome)
    }

    /// Runs the import chain (an empty one accepts: RFC 8212 is checked by the caller) and
    /// interns the accepted attributes.
    fn import_verdict(
        &mut self,
        import: &[Arc<Policy>],
        base: &RouteAttrs,
        prefix: Prefix,
        family: Family,
        neighbor: IpAddr,
    ) -> Option<(Arc<RouteAttrs>, bool)> {
        if import.is_empty() {
            return Some((self.interner.intern(base.clone()), false));
        }
        let mut candidate = base.clone();
        let mut route = PolicyRoute {
            prefix,
            family,
            neighbor,
            attrs: &mut candidate,
            local_as: self.config.local_as,
        };
        let result = evaluate(import, &mut route);
        result
            .accepted
            .then(|| (self.interner.intern(candidate), result.allow_protected))
    }

    fn loop_check(&self, state: &PeerState, attrs: &PathAttributes) -> Option<RejectReason> {
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

    fn is_protected(&self, prefix: &Prefix) -> bool {
        prefix.prefix_len() == 0
            || self
                .config
                .protected_prefixes
                .iter()
                .any(|p| prefix.contains(p))
    }

    fn count(&mut self, peer: PeerId, family: Family, delta: i32) {
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

    fn check_limits(
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

    fn mark_dirty(&mut self, prefix: Prefix) {
        if self.dirty.contains_key(&prefix) {
            return;
        }
        let snapshot = match self.tables.get(&prefix) {
            Some(dest) => selection_of(dest),
            None => Snapshot {
                best: None,
                next_hops: Vec::new(),
            },
        };
        self.dirty.insert(prefix, snapshot);
    }

    /// Adds or replaces the path (peer, path id); returns whether it is new.
    fn insert_path(
        &mut self,
        prefix: Prefix,
        peer: PeerId,
        path_id: u32,
        attrs: Arc<RouteAttrs>,
    ) -> bool {
        self.mark_dirty(prefix);
        let dest = self.tables.entry(&prefix);
        match dest
            .paths
            .iter_mut()
            .find(|p| p.peer == peer && p.path_id == path_id)
        {
            Some(existing) => {
                existing.stale = false;
                let old = std::mem::replace(&mut existing.attrs, attrs);
                self.interner.release(old);
                false
            }
            None => {
                // Most prefixes have one or two paths: grow by one, not to the default 4 (that
                // was 72 bytes wasted per single-path prefix of a full table).
                dest.paths.reserve_exact(1);
                dest.paths.push(Path {
                    peer,
                    path_id,
                    attrs,
                    stale: false,
                });
                true
            }
        }
    }

    /// Removes the path (peer, path id); returns whether there was one.
    fn remove_path(&mut self, prefix: Prefix, peer: PeerId, path_id: u32) -> bool {
        let found = self.tables.get(&prefix).and_then(|d| {
            d.paths
                .iter()
                .position(|p| p.peer == peer && p.path_id == path_id)
        });
        let Some(index) = found else { return false };
        self.mark_dirty(prefix);
        if let Some(dest) = self.tables.get_mut(&prefix) {
            let path = dest.paths.swap_remove(index);
            dest.selected = 0;
            self.interner.release(path.attrs);
        }
        true
    }

    fn remove_paths_where(&mut self, pred: impl Fn(&Path) -> bool, family: Option<Family>) {
        for prefix in self.tables.prefixes() {
            if family.is_some_and(|f| f != prefix.unicast_family()) {
                continue;
            }
            let any = self
                .tables
                .get(&prefix)
                .is_some_and(|d| d.paths.iter().any(&pred));
            if !any {
                continue;
            }
            self.mark_dirty(prefix);
            let Some(dest) = self.tables.get_mut(&prefix) else {
                continue;
            };
            let (gone, kept): (Vec<Path>, Vec<Path>) = std::mem::take(&mut dest.paths)
                .into_iter()
                .partition(|p| pred(p));
            dest.paths = kept;
            dest.selected = 0;
            let family = prefix.unicast_family();
            for path in gone {
                self.interner.release(path.attrs);
                self.count(path.peer, family, -1);
            }
        }
    }

    /// Runs the decision process for every prefix changed since the last call and returns the
    /// prefixes whose best route or ECMP next hops changed.
    pub fn run_decision(&mut self) -> Vec<RouteChange> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut changes = Vec::new();
        // The sessions up do not change during the batch: collect them once, not per prefix.
        let up = self.up_peers();
        for (prefix, before) in dirty {
            let after = self.decide(&prefix);
            let same_best = match (&before.best, &after.best) {
                (None, None) => true,
                (Some((p1, i1, a1)), Some(b)) => {
                    *p1 == b.peer && *i1 == b.path_id && Arc::ptr_eq(a1, &b.attrs)
                }
                _ => false,
            };
            if !same_best {
                for peer in &up {
                    self.export_to(*peer, prefix, after.best.as_ref());
                }
            }
            if !same_best || before.next_hops != after.next_hops {
                changes.push(RouteChange {
                    prefix,
                    best: after.best,
                    next_hops: after.next_hops,
                });
            }
            if let Some((_, _, attrs)) = before.best {
                self.interner.release(attrs);
            }
        }
        changes
    }

    fn candidate<'a>(&'a self, path: &'a Path) -> Option<Candidate<'a>> {
        let peer = &self.peer(path.peer)?.info;
        let igp_cost = self.next_hop_cost(path)?;
        Some(Candidate {
            attrs: &path.attrs,
            peer,
            path_id: path.path_id,
            stale: path.stale,
            igp_cost,
        })
    }

    /// Selects the best path and the ECMP set of one prefix, moving them to the front.
    fn decide(&mut self, prefix: &Prefix) -> RouteChange {
        let empty = RouteChange {
            prefix: *prefix,
            best: None,
            next_hops: Vec::new(),
        };
        let Some(dest) = self.tables.get(prefix) else {
            return empty;
        };
        if dest.paths.is_empty() {
            self.tables.remove(prefix);
            return empty;
        }
        let decision = &self.config.decision;
        let (indices, candidates): (Vec<usize>, Vec<Candidate<'_>>) = dest
            .paths
            .iter()
            .enumerate()
            .filter_map(|(i, p)| self.candidate(p).map(|c| (i, c)))
            .unzip();
        // One eligible path (most prefixes): it is the best, no ranking needed.
        let ranked = if candidates.len() == 1 {
            vec![0]
        } else {
            rank(&candidates, decision)
        };
        let Some(&best) = ranked.first() else {
            if let Some(d) = self.tables.get_mut(prefix) {
                d.selected = 0;
            }
            return empty;
        };
        let max_paths = decision.ecmp.max_paths.max(1);
        let order: Vec<usize> = std::iter::once(best)
            .chain(
                ranked[1..]
                    .iter()
                    .copied()
                    .filter(|c| multipath_equal(&candidates[best], &candidates[*c], decision)),
            )
            .take(max_paths)
            .map(|c| indices[c])
            .collect();
        let Some(dest) = self.tables.get_mut(prefix) else {
            return empty;
        };
        let already_in_front = order.iter().enumerate().all(|(slot, i)| slot == *i);
        if !already_in_front {
            let mut slots: Vec<Option<Path>> = std::mem::take(&mut dest.paths)
                .into_iter()
                .map(Some)
                .collect();
            let mut front: Vec<Path> = order.iter().filter_map(|i| slots[*i].take()).collect();
            front.extend(slots.into_iter().flatten());
            dest.paths = front;
        }
        dest.selected = order.len() as u8;
        selection_change(prefix, dest)
    }

    /// Every path of a prefix and where it stands.
    pub fn explain(&self, prefix: &Prefix) -> Vec<PathExplanation> {
        let Some(dest) = self.tables.get(prefix) else {
            return Vec::new();
        };
        let best = dest
            .paths
            .first()
            .filter(|_| dest.selected > 0)
            .and_then(|p| self.candidate(p));
        let decision = &self.config.decision;
        let eligible: Vec<Candidate<'_>> = dest
            .paths
            .iter()
            .filter_map(|p| self.candidate(p))
            .collect();
        dest.paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let status = match (self.candidate(path), &best) {
                    (None, _) => PathStatus::Unreachable,
                    (Some(_), _) if i == 0 && dest.selected > 0 => PathStatus::Best,
                    (Some(_), _) if i < usize::from(dest.selected) => PathStatus::Multipath,
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
                PathExplanation {
                    peer: path.peer,
                    peer_address: self
                        .peer(path.peer)
                        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.info.address),
                    path_id: path.path_id,
                    attrs: Arc::clone(&path.attrs),
                    stale: path.stale,
                    status,
                }
            })
            .collect()
    }

    /// The selected route and ECMP next hops of a prefix.
    pub fn lookup(&self, prefix: &Prefix) -> Option<RouteChange> {
        let dest = self.tables.get(prefix)?;
        (dest.selected > 0).then(|| selection_change(prefix, dest))
    }

    /// Every prefix with a selected route, and that selection.
    pub fn routes(&self) -> Vec<(Prefix, RouteChange)> {
        self.tables
            .prefixes()
            .into_iter()
            .filter_map(|prefix| self.lookup(&prefix).map(|change| (prefix, change)))
            .collect()
    }

    /// Sizes, for metrics and memory accounting.
    pub fn stats(&self) -> RibStats {
        let paths = self
            .tables
            .v4
            .map
            .values()
            .map(|d| d.paths.len())
            .sum::<usize>()
            + self
                .tables
                .v6
                .map
                .values()
                .map(|d| d.paths.len())
                .sum::<usize>();
        RibStats {
            prefixes: self.tables.len(),
            paths,
            attribute_sets: self.interner.len(),
        }
    }
}

fn next_hops_of(dest: &Dest) -> Vec<ForwardingNextHop> {
    let mut hops: Vec<ForwardingNextHop> = dest.paths[..usize::from(dest.selected)]
        .iter()
        .filter(|p| p.peer != PeerId::LOCAL)
        .map(|p| ForwardingNextHop {
            address: p.attrs.next_hop,
            link_local: p.attrs.link_local,
        })
        .collect();
    hops.sort();
    hops.dedup();
    hops
}

fn selection_of(dest: &Dest) -> Snapshot {
    let best = dest
        .paths
        .first()
        .filter(|_| dest.selected > 0)
        .map(|p| (p.peer, p.path_id, Arc::clone(&p.attrs)));
    Snapshot {
        best,
        next_hops: next_hops_of(dest),
    }
}

fn selection_change(prefix: &Prefix, dest: &Dest) -> RouteChange {
    let best = dest
        .paths
        .first()
        .filter(|_| dest.selected > 0)
        .map(|p| BestRoute {
            peer: p.peer,
            path_id: p.path_id,
            attrs: Arc::clone(&p.attrs),
        });
    RouteChange {
        prefix: *prefix,
        best,
        next_hops: next_hops_of(dest),
    }
}
