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

use bgp_proto::{Afi, Community, Family, FamilySet, NextHop, Nlri, PathAttributes, Prefix, Update};
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
use crate::table::{v4_bucket, DestMut, PathKey, PathRef, PathStore, Staleness, Tables};

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
    /// Kept stale across a graceful restart (RFC 4724 §4.2) or as long-lived stale (RFC 9494
    /// §4.2; its attributes then carry LLGR_STALE).
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

mod import;
mod outbound;
mod peers;
mod queries;
mod select;
mod snapshot;

pub use snapshot::{RibSnapshot, SnapshotKind, SnapshotPath};

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

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.config
    }
}
