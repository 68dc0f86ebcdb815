//! The RIB: Adj-RIB-In (post-policy) and Loc-RIB in one table of paths per prefix, the decision
//! process run once per batch of changes, and the graceful-restart stale state; for neighbours
//! with soft reconfiguration inbound, their routes as received too (`adj_in`).
//!
//! Changes are applied with [`Rib::apply_update`], [`Rib::originate`], [`Rib::peer_down`] and
//! friends, which only mark prefixes dirty; [`Rib::run_decision`] then runs the decision process
//! once per dirty prefix and returns what changed, so a full table costs one decision per prefix,
//! not one per UPDATE.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::{Afi, Family, FamilySet, NextHop, Nlri, PathAttributes, Prefix, Update};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use thiserror::Error;

use crate::adj_in::AdjRibIn;
use crate::attrs::{AttrId, AttrInterner, RouteAttrs, SharedAttrs};
use crate::decision::{
    compare, loses_on_med, multipath_equal, rank, Candidate, DecisionConfig, DecisionStep,
};
use crate::export::{
    export_route, may_export, AdjRibOut, ExportContext, OutgoingUpdate, PathSource, Withheld,
};
use crate::peer::{PeerId, PeerInfo};
use crate::policy::{evaluate, Match, Policy, PolicyRoute};
use crate::table::{v4_bucket, DestMut, PathKey, PathRef, PathStore, Tables};

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
    /// Our IPv4 next hop toward this neighbour (next hop self, eBGP, local routes) for IPv4
    /// routes; without one (nor [`Rib::set_local_address`]), an IPv4 route that needs our next
    /// hop goes only with the IPv4 next hop it was originated with, else not at all
    /// ([`Rib::families_without_next_hop`]).
    pub local_ipv4: Option<Ipv4Addr>,
    /// Our IPv6 next hop toward this neighbour for IPv6 routes, a global address (RFC 2545 §3);
    /// without one, as for [`PeerConfig::local_ipv4`]: IPv6 routes never go with an IPv4 next
    /// hop.
    pub local_ipv6: Option<Ipv6Addr>,
    /// Set ourselves as next hop on iBGP too (RFC 4271 §5.1.3 leaves it unchanged otherwise).
    pub next_hop_self: bool,
    /// Pass a MED learned from one AS on to another.
    pub send_med: bool,
    /// Soft reconfiguration inbound: keep the neighbour's routes as received (pre-policy
    /// Adj-RIB-In, RFC 4271 §3.2), so that [`Rib::reimport`] applies a new import policy to them
    /// without a route refresh (RFC 2918).
    pub soft_reconfiguration_inbound: bool,
    /// ADD-PATH send (RFC 7911): the most paths per prefix sent to the neighbour in the families
    /// its session negotiated it for ([`Rib::set_add_path`]), the best first, each with a path
    /// identifier of its own; [`ADD_PATH_ALL`] sends every eligible path, 0 or 1 only the best.
    pub add_path_send: usize,
}

/// [`PeerConfig::add_path_send`]: every eligible path of a prefix (RFC 7911 §3).
pub const ADD_PATH_ALL: usize = usize::MAX;

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
            soft_reconfiguration_inbound: false,
            add_path_send: 0,
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
    /// The routes as received, with soft reconfiguration inbound.
    received: Option<AdjRibIn>,
    /// The families its session negotiated ADD-PATH send for.
    add_path: FamilySet,
    /// The families with a route held back for want of a next hop of ours of that family
    /// ([`Rib::families_without_next_hop`]).
    no_next_hop: FamilySet,
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

/// The ECMP next hops of a prefix, deduplicated and sorted; up to two are held inline, so that
/// a change of a full table allocates nothing per prefix.
pub type NextHops = SmallVec<[ForwardingNextHop; 2]>;

/// The selected route of a prefix, with its attributes ([`Rib::lookup`], [`Rib::routes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BestRoute {
    /// Where it came from.
    pub peer: PeerId,
    /// Its ADD-PATH identifier.
    pub path_id: u32,
    /// Its attributes.
    pub attrs: Arc<RouteAttrs>,
}

/// Which path is selected: the neighbour it came from and its ADD-PATH identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectedPath {
    /// Where it came from ([`PeerId::LOCAL`] for our own prefixes).
    pub peer: PeerId,
    /// Its ADD-PATH identifier.
    pub path_id: u32,
}

/// A prefix whose selection changed in the last batch, as the kernel needs it: no attributes,
/// so that a full table's changes cost no reference count or allocation per prefix (the
/// attributes are one [`Rib::lookup`] away). An empty `next_hops` with no `best` is a
/// withdrawal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteChange {
    /// The prefix.
    pub prefix: Prefix,
    /// The best path, if any.
    pub best: Option<SelectedPath>,
    /// The ECMP next hops, deduplicated and sorted (empty for locally originated prefixes).
    pub next_hops: NextHops,
}

/// The selection of a prefix with the best route's attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedRoute {
    /// The best route.
    pub best: BestRoute,
    /// The ECMP next hops, deduplicated and sorted (empty for locally originated prefixes).
    pub next_hops: NextHops,
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

/// A route kept as received (soft reconfiguration inbound, the pre-policy Adj-RIB-In of
/// RFC 4271 §3.2) that is not in the table, for `explain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedPath {
    /// Where it came from.
    pub peer: PeerId,
    /// The neighbour's address.
    pub peer_address: IpAddr,
    /// Its ADD-PATH identifier.
    pub path_id: u32,
    /// Its attributes as received.
    pub attrs: Arc<RouteAttrs>,
    /// Why it was refused.
    pub reason: RejectReason,
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
    /// Distinct forwarding next hops the attribute sets name.
    pub next_hops: usize,
}

/// The prefixes changed in the current batch, each with the selection it had before (those
/// paths are held, so that their handles stay valid until compared). No allocation per prefix:
/// the destination carries a dirty flag, the selections share one array. IPv4 destinations
/// that had nothing selected (a table being loaded) get no entry: only their /16 array is
/// noted, and scanned for dirty flags by the decision run, so that loading a table does not grow
/// (and then free) a list as long as the table between its long-lived allocations.
#[derive(Debug, Default)]
struct Dirty {
    prefixes: Vec<DirtyPrefix>,
    before: Vec<PathRef>,
    /// The /16 arrays to scan, each once.
    v4_buckets: Vec<u16>,
    /// A bit per /16 array: noted in `v4_buckets` (empty until the first).
    v4_marked: Vec<u64>,
    /// How many destinations the arrays hold dirty.
    v4_dirty: usize,
}

#[derive(Debug)]
struct DirtyPrefix {
    prefix: Prefix,
    /// Where its selection starts in `before`.
    start: u32,
    /// How many paths it had selected.
    count: u8,
}

impl Dirty {
    /// Records the destination of `prefix` as changed, with its selection, the first time.
    fn note(&mut self, prefix: Prefix, dest: &mut DestMut<'_>, paths: &mut PathStore) {
        if dest.is_dirty() {
            return;
        }
        dest.set_dirty(true);
        let selection = &dest.paths()[..dest.selected()];
        if let (true, Prefix::V4(v4)) = (selection.is_empty(), prefix) {
            let bucket = v4_bucket(&v4);
            if self.v4_marked.is_empty() {
                self.v4_marked = vec![0; (1 << 16) / 64];
            }
            let (word, bit) = (bucket / 64, 1u64 << (bucket % 64));
            if self.v4_marked[word] & bit == 0 {
                self.v4_marked[word] |= bit;
                self.v4_buckets.push(bucket as u16);
            }
            self.v4_dirty += 1;
            return;
        }
        for path in selection {
            paths.retain(*path);
        }
        self.prefixes.push(DirtyPrefix {
            prefix,
            start: self.before.len() as u32,
            count: selection.len() as u8,
        });
        self.before.extend_from_slice(selection);
    }
}

/// A few paths of one prefix, held inline.
type Ranked<T> = SmallVec<[T; 4]>;

/// The sessions up during a decision run, and those among them with ADD-PATH send.
#[derive(Clone, Copy)]
struct Sessions<'a> {
    all: &'a [PeerId],
    add_path: &'a [PeerId],
}

/// What one pass of exports (a decision run, a re-export to one neighbour) builds once and
/// reuses: each attribute set's full copy, and the set each neighbour is sent for a path's set
/// (when its export policy does not look at the prefix), so that the prefixes sharing a set
/// are exported with one policy run and one interning instead of one per prefix. Valid only
/// while the paths of the pass are held; [`ExportPass::finish`] gives back its references.
#[derive(Debug, Default)]
struct ExportPass {
    shared: SharedAttrs,
    sent: FxHashMap<ExportKey, Option<AttrId>>,
}

/// A path's attribute set and source, exported to a neighbour in a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ExportKey {
    attrs: AttrId,
    source: PeerId,
    to: PeerId,
    family: Family,
}

impl ExportPass {
    /// Releases the exported sets it holds.
    fn finish(self, interner: &mut AttrInterner) {
        for id in self.sent.into_values().flatten() {
            interner.release(id);
        }
    }
}

/// The RIB.
#[derive(Debug)]
pub struct Rib {
    config: RibConfig,
    peers: Vec<Option<PeerState>>,
    tables: Tables,
    paths: PathStore,
    interner: AttrInterner,
    dirty: Dirty,
    graceful_shutdown: Option<u8>,
    /// Prefixes with a selection, IPv4 and IPv6 unicast: kept as decisions change, so that
    /// counting them costs nothing per route ([`Rib::selected_count`]).
    selected: [usize; 2],
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

/// `set` without its families of `afi` (the IP families a [`FamilySet`] holds).
fn without_afi(set: FamilySet, afi: Afi) -> FamilySet {
    let mut kept = FamilySet::EMPTY;
    for family in [
        Family::IPV4_UNICAST,
        Family::IPV6_UNICAST,
        Family::IPV4_MULTICAST,
        Family::IPV6_MULTICAST,
    ] {
        if family.afi != afi && set.contains(family) {
            kept.insert(family);
        }
    }
    kept
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
            received: None,
            add_path: FamilySet::EMPTY,
            no_next_hop: FamilySet::EMPTY,
        };
        Self {
            interner: AttrInterner::new(config.require_next_hop_resolution),
            config,
            peers: vec![Some(local)],
            tables: Tables::default(),
            paths: PathStore::default(),
            dirty: Dirty::default(),
            graceful_shutdown: None,
            selected: [0; 2],
        }
    }

    /// How many prefixes of `family` have a selected route (the Loc-RIB's size, RFC 4271 §3.2),
    /// kept up to date by [`Rib::run_decision`]: no walk over the table.
    pub fn selected_count(&self, family: Family) -> usize {
        match family {
            Family::IPV4_UNICAST => self.selected[0],
            Family::IPV6_UNICAST => self.selected[1],
            _ => 0,
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
            families: FamilySet::EMPTY,
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

    fn peer(&self, peer: PeerId) -> Option<&PeerState> {
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
    fn up_peers(&self) -> Vec<PeerId> {
        (1..self.peers.len() as u32)
            .map(PeerId)
            .filter(|id| self.peer(*id).is_some_and(|p| p.up))
            .collect()
    }

    /// Recomputes what `peer` should have for every prefix (of `family`, when given); `resend`
    /// queues routes again even when the neighbour already has them (route refresh).
    fn reexport(&mut self, peer: PeerId, family: Option<Family>, resend: bool) {
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

    /// The session of `peer` negotiated ADD-PATH send (RFC 7911 §4) for `families`: it is sent
    /// up to [`PeerConfig::add_path_send`] paths per prefix of those families. Call before
    /// [`Rib::peer_up`]; [`Rib::peer_down`] clears it.
    pub fn set_add_path(&mut self, peer: PeerId, families: FamilySet) {
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            p.add_path = families;
        }
    }

    /// How many paths of a prefix of `family` `peer` is sent: 1 without ADD-PATH send.
    fn paths_to(&self, peer: PeerId, family: Family) -> usize {
        self.peer(peer)
            .filter(|p| p.add_path.contains(family))
            .map_or(1, |p| p.config.add_path_send.max(1))
    }

    /// Computes the paths of `prefix` `peer` should have with ADD-PATH send, at most `limit`:
    /// the selection (best first, then its ECMP set), then the other eligible paths in decision
    /// order, each exported under the export rules; and queues them.
    fn export_paths(
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

    /// Records that a route of `family` was held back from `peer` for want of a next hop of
    /// ours of that family.
    fn hold_back(&mut self, peer: PeerId, family: Family) {
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
    fn export_with(
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
    fn exported(
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
    fn export_context(&self) -> ExportContext {
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

    /// The session went down. Paths of `retain_stale` families are kept, marked stale (RFC 4724
    /// §4.2), until [`Rib::end_of_rib`] or [`Rib::flush_stale`]; all others are removed.
    pub fn peer_down(&mut self, peer: PeerId, retain_stale: &[Family]) {
        // What it sent is sent again on the next session (stale paths stay in the table only).
        self.clear_received(peer, None);
        for family in retain_stale {
            self.mark_stale(peer, *family);
        }
        self.remove_paths_where(|p| p.peer == peer && !p.stale, None);
        if let Some(Some(p)) = self.peers.get_mut(peer.0 as usize) {
            // `accepted` already follows the removals; stale paths kept still count.
            p.warned.clear();
            p.up = false;
            p.add_path = FamilySet::EMPTY;
            p.info.families = FamilySet::EMPTY;
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
                if key.peer == peer && !key.stale {
                    let stale = PathKey { stale: true, ..key };
                    dest.paths_mut()[i] = self.paths.intern(stale, &mut self.interner);
                    self.paths.release(path, &mut self.interner);
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
        self.remove_paths_where(|p| p.peer == peer && p.stale, Some(family));
    }

    /// The restart timer of the neighbour ran out: every stale path of it is removed.
    pub fn flush_stale(&mut self, peer: PeerId) {
        self.remove_paths_where(|p| p.peer == peer && p.stale, None);
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
    fn igp_cost(&self, key: &PathKey) -> Option<u32> {
        if key.peer == PeerId::LOCAL {
            return Some(0);
        }
        self.interner.hops().cost(key.hop)
    }

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
    fn unreceive(&mut self, peer: PeerId, prefix: Prefix, path_id: u32) {
        if let Some(Some(PeerState {
            received: Some(received),
            ..
        })) = self.peers.get_mut(peer.0 as usize)
        {
            received.remove(prefix, path_id, &mut self.interner);
        }
    }

    /// Forgets the routes kept as received of `family` (all when `None`).
    fn clear_received(&mut self, peer: PeerId, family: Option<Family>) {
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
    fn import(
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
    fn guard(&self, prefix: Prefix, accepted: Option<bool>) -> Option<RejectReason> {
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
    fn admit(
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

    /// Adds `path` to `prefix`, or puts it in place of the path with the same neighbour and
    /// path id (the caller keeps its own reference to it); returns whether it is new.
    fn insert_path(&mut self, prefix: Prefix, path: PathRef) -> bool {
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
    fn remove_path(&mut self, prefix: Prefix, peer: PeerId, path_id: u32) -> bool {
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

    fn remove_paths_where(&mut self, pred: impl Fn(&PathKey) -> bool, family: Option<Family>) {
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
    fn settle(
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

    fn candidate(&self, path: PathRef) -> Option<Candidate<'_>> {
        let key = self.paths.get(path);
        let peer = &self.peer(key.peer)?.info;
        let igp_cost = self.igp_cost(key)?;
        let attrs = self.interner.get(key.attrs);
        Some(Candidate {
            attrs,
            peer,
            path_id: key.path_id,
            stale: key.stale,
            igp_cost,
        })
    }

    /// Selects the best path and the ECMP set of one prefix, moving them to the front; a
    /// destination left with no path goes.
    fn decide(&mut self, prefix: &Prefix) {
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
    fn rank_paths(&self, paths: &[PathRef]) -> (usize, Option<Ranked<PathRef>>) {
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
                    stale: key.stale,
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
    fn selected_route(
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

    /// The forwarding next hops of a selection, deduplicated and sorted (none for our own
    /// prefixes).
    fn next_hops_of(&self, selection: &[PathRef]) -> NextHops {
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
    fn selection_change(&self, prefix: Prefix, selection: &[PathRef]) -> RouteChange {
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
