//! The decision process of RFC 4271 §9.1.2.2, step by step, with the step at which each losing
//! route lost (what `speakerd show route` explains), and the ECMP set.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use smallvec::SmallVec;

use crate::attrs::StoredAttrs;
use crate::peer::PeerInfo;

/// One step of the comparison, in the order they are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecisionStep {
    /// Any route beats a long-lived stale one, with the LLGR_STALE community (RFC 9494 §4.3:
    /// least preferred).
    LongLivedStale,
    /// A fresh route beats one kept stale across a graceful restart (RFC 4724 §4.2).
    Stale,
    /// Highest LOCAL_PREF (§9.1.1).
    LocalPref,
    /// A locally originated route beats a learned one.
    LocallyOriginated,
    /// Shortest AS_PATH (§9.1.2.2 a).
    AsPathLength,
    /// Lowest ORIGIN (§9.1.2.2 b).
    Origin,
    /// Lowest MULTI_EXIT_DISC among routes from the same neighbouring AS (§9.1.2.2 c).
    Med,
    /// eBGP-learned over iBGP-learned (§9.1.2.2 d).
    EbgpOverIbgp,
    /// Lowest interior cost to the next hop (§9.1.2.2 e).
    IgpCost,
    /// Lowest BGP Identifier, or ORIGINATOR_ID when reflected (§9.1.2.2 f, RFC 4456 §9).
    RouterId,
    /// Shortest CLUSTER_LIST (RFC 4456 §9).
    ClusterListLength,
    /// Lowest peer address (§9.1.2.2 g).
    PeerAddress,
    /// Lowest ADD-PATH path identifier, so the order is total.
    PathId,
}

impl fmt::Display for DecisionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecisionStep::LongLivedStale => "long-lived stale (LLGR_STALE)",
            DecisionStep::Stale => "stale (graceful restart)",
            DecisionStep::LocalPref => "local preference",
            DecisionStep::LocallyOriginated => "locally originated",
            DecisionStep::AsPathLength => "AS path length",
            DecisionStep::Origin => "origin",
            DecisionStep::Med => "MED",
            DecisionStep::EbgpOverIbgp => "eBGP over iBGP",
            DecisionStep::IgpCost => "IGP cost",
            DecisionStep::RouterId => "router ID",
            DecisionStep::ClusterListLength => "cluster list length",
            DecisionStep::PeerAddress => "peer address",
            DecisionStep::PathId => "path ID",
        })
    }
}

/// ECMP options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcmpConfig {
    /// The most next hops one prefix gets (1 disables ECMP).
    pub max_paths: usize,
    /// Allow multipath across iBGP routes too.
    pub ibgp_multipath: bool,
    /// Allow multipath across different neighbouring ASes when the AS paths are of equal
    /// length (FRR's `as-path multipath-relax`); otherwise the AS paths must be identical.
    pub as_path_relax: bool,
}

impl Default for EcmpConfig {
    fn default() -> Self {
        Self {
            max_paths: 8,
            ibgp_multipath: false,
            as_path_relax: false,
        }
    }
}

/// Options of the decision process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecisionConfig {
    /// Compare MED between routes from different neighbouring ASes too.
    pub always_compare_med: bool,
    /// A missing MED is the worst value instead of 0 (RFC 4271 §9.1.2.2 c says 0).
    pub med_missing_as_worst: bool,
    /// ECMP.
    pub ecmp: EcmpConfig,
}

/// A route as the decision process sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate<'a> {
    pub(crate) attrs: &'a StoredAttrs,
    pub(crate) peer: &'a PeerInfo,
    pub(crate) path_id: u32,
    pub(crate) stale: bool,
    pub(crate) igp_cost: u32,
}

impl Candidate<'_> {
    fn med(&self, config: &DecisionConfig) -> u32 {
        let missing = if config.med_missing_as_worst {
            u32::MAX
        } else {
            0
        };
        self.attrs.med().unwrap_or(missing)
    }

    fn router_id(&self) -> u32 {
        u32::from(self.attrs.originator_id().unwrap_or(self.peer.bgp_id))
    }

    fn peer_address(&self) -> IpAddr {
        self.peer.address
    }
}

/// Compares two routes; `Less` means `a` is preferred. The step is where they first differ.
pub(crate) fn compare(
    a: &Candidate<'_>,
    b: &Candidate<'_>,
    config: &DecisionConfig,
) -> (Ordering, Option<DecisionStep>) {
    use DecisionStep::*;
    let steps: [(DecisionStep, Ordering); 8] = [
        (
            LongLivedStale,
            a.attrs.long_lived_stale().cmp(&b.attrs.long_lived_stale()),
        ),
        (Stale, a.stale.cmp(&b.stale)),
        (LocalPref, b.attrs.local_pref().cmp(&a.attrs.local_pref())),
        (LocallyOriginated, b.peer.is_local.cmp(&a.peer.is_local)),
        (
            AsPathLength,
            a.attrs.as_path_len().cmp(&b.attrs.as_path_len()),
        ),
        (Origin, a.attrs.origin().cmp(&b.attrs.origin())),
        (
            Med,
            if config.always_compare_med || a.attrs.neighbor_as() == b.attrs.neighbor_as() {
                a.med(config).cmp(&b.med(config))
            } else {
                Ordering::Equal
            },
        ),
        (EbgpOverIbgp, a.peer.ibgp.cmp(&b.peer.ibgp)),
    ];
    for (step, ord) in steps {
        if ord != Ordering::Equal {
            return (ord, Some(step));
        }
    }
    let rest: [(DecisionStep, Ordering); 5] = [
        (IgpCost, a.igp_cost.cmp(&b.igp_cost)),
        (RouterId, a.router_id().cmp(&b.router_id())),
        (
            ClusterListLength,
            a.attrs.cluster_list_len().cmp(&b.attrs.cluster_list_len()),
        ),
        (PeerAddress, a.peer_address().cmp(&b.peer_address())),
        (PathId, a.path_id.cmp(&b.path_id)),
    ];
    for (step, ord) in rest {
        if ord != Ordering::Equal {
            return (ord, Some(step));
        }
    }
    (Ordering::Equal, None)
}

/// Whether `a` and `b` are equal at every step before MED (long-lived stale, stale, LOCAL_PREF, locally
/// originated, AS path length, ORIGIN): these steps are a total preorder.
fn equal_before_med(a: &Candidate<'_>, b: &Candidate<'_>, config: &DecisionConfig) -> Ordering {
    match compare(a, b, config) {
        (ord, Some(step)) if step < DecisionStep::Med => ord,
        _ => Ordering::Equal,
    }
}

/// Whether `c` is removed at the MED step (RFC 4271 §9.1.2.2 c): another route still in
/// consideration (equal to `c` on the earlier steps) from the same neighbouring AS has a lower
/// MED. Pairwise comparison alone is not transitive across neighbouring ASes, so the selection
/// would depend on the order of the paths; eliminating first makes it order-independent.
pub(crate) fn loses_on_med(
    c: &Candidate<'_>,
    all: &[Candidate<'_>],
    config: &DecisionConfig,
) -> bool {
    !config.always_compare_med
        && all.iter().any(|d| {
            d.attrs.neighbor_as() == c.attrs.neighbor_as()
                && d.med(config) < c.med(config)
                && equal_before_med(d, c, config).is_eq()
        })
}

/// The indices of the routes still in consideration after the MED step, the best first; the
/// rest in decision order (for the ECMP set and its cap).
pub(crate) fn rank(all: &[Candidate<'_>], config: &DecisionConfig) -> SmallVec<[usize; 4]> {
    let Some(mut top) = all.first() else {
        return SmallVec::new();
    };
    for c in all {
        if equal_before_med(c, top, config).is_lt() {
            top = c;
        }
    }
    let mut ranked: SmallVec<[usize; 4]> = (0..all.len())
        .filter(|i| {
            let c = &all[*i];
            equal_before_med(c, top, config).is_eq() && !loses_on_med(c, all, config)
        })
        .collect();
    // Among these, MED is equal or not comparable, and the later steps are total orders.
    ranked.sort_by(|a, b| compare(&all[*a], &all[*b], config).0);
    ranked
}

/// Whether `other` may share forwarding with `best` (both already eligible): equal down to the
/// IGP cost step, and the ECMP options allow it.
pub(crate) fn multipath_equal(
    best: &Candidate<'_>,
    other: &Candidate<'_>,
    config: &DecisionConfig,
) -> bool {
    let (_, step) = compare(best, other, config);
    if step.is_some_and(|s| s <= DecisionStep::IgpCost) {
        return false;
    }
    if best.peer.is_local || other.peer.is_local {
        return false;
    }
    if best.peer.ibgp && !config.ecmp.ibgp_multipath {
        return false;
    }
    config.ecmp.as_path_relax || best.attrs.same_as_path(other.attrs)
}
