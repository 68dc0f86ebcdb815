//! Export: what each neighbour is sent (RFC 4271 §9.1.3, §5.1), route reflection (RFC 4456),
//! the well-known communities of RFC 1997, and the per-neighbour Adj-RIB-Out that merges
//! pending changes per prefix until the session takes them, grouped by attribute set so that one
//! UPDATE carries many prefixes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp_proto::{
    Afi, Community, Family, NextHop, Nlri, PackError, Prefix, SessionContext, UpdatePacker,
};
use bytes::BytesMut;
use rustc_hash::FxHashMap;

use crate::attrs::{AttrId, AttrInterner, RouteAttrs};
use crate::peer::{PeerId, PeerInfo};
use crate::policy::{evaluate, PolicyRoute};
use crate::prefix_map::PrefixMap;
use crate::rib::PeerConfig;

/// A batch of prefixes that share one outcome: announced with these attributes, or withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingUpdate {
    /// The family of the prefixes.
    pub family: Family,
    /// The attributes to announce with, `None` to withdraw.
    pub attrs: Option<Arc<RouteAttrs>>,
    /// The prefixes.
    pub prefixes: Vec<Prefix>,
    /// With ADD-PATH send (RFC 7911 §3), the path identifier of each prefix, in the same order;
    /// empty otherwise.
    pub path_ids: Vec<u32>,
}

/// What was sent to one neighbour and what is waiting to be sent; each entry holds a reference
/// to its attribute set.
#[derive(Debug, Default)]
pub(crate) struct AdjRibOut {
    sent: PrefixMap<AttrId>,
    pending: PrefixMap<Option<AttrId>>,
    /// The prefixes of the families sent with ADD-PATH, created with the first of them.
    multi: Option<Box<MultiPathOut>>,
}

/// Where an exported path comes from (neighbour and its path identifier): what keeps the path
/// identifier we send for it stable while it stays advertised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PathSource(pub(crate) PeerId, pub(crate) u32);

/// One path advertised with ADD-PATH (RFC 7911): its source, the path identifier it is sent
/// with, and the attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OutPath {
    source: PathSource,
    id: u32,
    attrs: AttrId,
}

/// The Adj-RIB-Out of the ADD-PATH families: every prefix has a list of paths, best first.
#[derive(Debug, Default)]
struct MultiPathOut {
    sent: FxHashMap<Prefix, Vec<OutPath>>,
    /// The latest state of a prefix not yet taken, and whether it is re-sent in full (route
    /// refresh).
    pending: FxHashMap<Prefix, (Vec<OutPath>, bool)>,
}

impl MultiPathOut {
    /// The path list of `prefix` the neighbour will have, given `paths` (best first): a source
    /// advertised (or pending) keeps its identifier, a new one takes the lowest free one.
    fn number(&self, prefix: &Prefix, paths: Vec<(PathSource, AttrId)>) -> Vec<OutPath> {
        let latest = self
            .pending
            .get(prefix)
            .map(|(p, _)| p)
            .or_else(|| self.sent.get(prefix));
        let kept = |source: PathSource| {
            latest
                .into_iter()
                .flatten()
                .find(|o| o.source == source)
                .map(|o| o.id)
        };
        let mut out: Vec<OutPath> = paths
            .iter()
            .map(|(source, attrs)| OutPath {
                source: *source,
                id: kept(*source).unwrap_or(0),
                attrs: *attrs,
            })
            .collect();
        let mut next = 1;
        for i in 0..out.len() {
            if out[i].id != 0 {
                continue;
            }
            while out.iter().any(|o| o.id == next) {
                next += 1;
            }
            out[i].id = next;
        }
        out
    }
}

impl AdjRibOut {
    /// Records the new export state of a prefix, taking over the caller's reference to `attrs`;
    /// a later offer for the same prefix replaces an earlier one not yet taken, so a slow
    /// neighbour costs at most one entry per prefix.
    pub(crate) fn offer(
        &mut self,
        prefix: Prefix,
        attrs: Option<AttrId>,
        resend: bool,
        interner: &mut AttrInterner,
    ) {
        let unchanged = match (attrs, self.sent.get(&prefix)) {
            (None, None) => true,
            (Some(new), Some(old)) => !resend && new == *old,
            _ => false,
        };
        let replaced = if unchanged {
            if let Some(id) = attrs {
                interner.release(id);
            }
            self.pending.remove(&prefix)
        } else {
            self.pending.insert(prefix, attrs)
        };
        if let Some(Some(id)) = replaced {
            interner.release(id);
        }
    }

    /// [`AdjRibOut::offer`] for a family sent with ADD-PATH (RFC 7911): the paths the neighbour
    /// should have for `prefix`, best first (none withdraws them all), taking over the caller's
    /// references.
    pub(crate) fn offer_paths(
        &mut self,
        prefix: Prefix,
        paths: Vec<(PathSource, AttrId)>,
        resend: bool,
        interner: &mut AttrInterner,
    ) {
        let multi = self.multi.get_or_insert_with(Box::default);
        // A full re-send not yet taken stays one.
        let resend = resend || multi.pending.get(&prefix).is_some_and(|(_, r)| *r);
        let paths = multi.number(&prefix, paths);
        let sent = multi.sent.get(&prefix).map_or(&[][..], Vec::as_slice);
        let replaced = if !resend && paths == sent {
            for path in &paths {
                interner.release(path.attrs);
            }
            multi.pending.remove(&prefix)
        } else {
            multi.pending.insert(prefix, (paths, resend))
        };
        for path in replaced.into_iter().flat_map(|(p, _)| p) {
            interner.release(path.attrs);
        }
    }

    /// Whether anything waits to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty() || self.multi.as_ref().is_some_and(|m| !m.pending.is_empty())
    }

    /// Number of prefixes whose change waits to be sent (for metrics).
    pub(crate) fn pending(&self) -> usize {
        self.pending.len() + self.multi.as_ref().map_or(0, |m| m.pending.len())
    }

    /// Number of prefixes advertised (for metrics).
    pub(crate) fn advertised(&self) -> usize {
        self.sent.len() + self.multi.as_ref().map_or(0, |m| m.sent.len())
    }

    /// Takes everything pending, marks it sent, and groups it by family and attribute set.
    pub(crate) fn take(&mut self, interner: &mut AttrInterner) -> Vec<OutgoingUpdate> {
        let mut groups: FxHashMap<(Family, Option<AttrId>), OutgoingUpdate> = FxHashMap::default();
        let mut add = |prefix: Prefix, path_id: Option<u32>, attrs: Option<AttrId>| {
            let family = prefix.unicast_family();
            let group = groups
                .entry((family, attrs))
                .or_insert_with(|| OutgoingUpdate {
                    family,
                    attrs: attrs.map(|id| Arc::new(interner.get(id).to_route_attrs())),
                    prefixes: Vec::new(),
                    path_ids: Vec::new(),
                });
            group.prefixes.push(prefix);
            group.path_ids.extend(path_id);
        };
        let mut released = Vec::new();
        for (prefix, attrs) in self.pending.drain() {
            add(prefix, None, attrs);
            let old = match attrs {
                Some(id) => self.sent.insert(prefix, id),
                None => self.sent.remove(&prefix),
            };
            released.extend(old);
        }
        if let Some(multi) = self.multi.as_mut() {
            for (prefix, (paths, resend)) in multi.pending.drain() {
                let old = multi.sent.remove(&prefix).unwrap_or_default();
                // Paths gone are withdrawn by their identifier; one re-used for another
                // source is replaced by its announcement (RFC 7911 §3).
                for gone in old.iter().filter(|o| !paths.iter().any(|p| p.id == o.id)) {
                    add(prefix, Some(gone.id), None);
                }
                for path in paths.iter().filter(|p| resend || !old.contains(p)) {
                    add(prefix, Some(path.id), Some(path.attrs));
                }
                released.extend(old.iter().map(|o| o.attrs));
                if !paths.is_empty() {
                    multi.sent.insert(prefix, paths);
                }
            }
        }
        for id in released {
            interner.release(id);
        }
        let mut out: Vec<OutgoingUpdate> = groups.into_values().collect();
        // Withdrawals first, then announcements; prefixes in order, for stable output.
        out.sort_by_key(|u| (u.attrs.is_some(), u.family));
        for u in &mut out {
            if u.path_ids.is_empty() {
                u.prefixes.sort();
            } else {
                let mut nlri: Vec<(Prefix, u32)> = u
                    .prefixes
                    .iter()
                    .copied()
                    .zip(u.path_ids.iter().copied())
                    .collect();
                nlri.sort();
                (u.prefixes, u.path_ids) = nlri.into_iter().unzip();
            }
        }
        out
    }

    /// Forgets everything (the session went down).
    pub(crate) fn clear(&mut self, interner: &mut AttrInterner) {
        let pending = self.pending.drain().filter_map(|(_, attrs)| attrs);
        for id in pending.chain(self.sent.drain().map(|(_, id)| id)) {
            interner.release(id);
        }
        if let Some(multi) = self.multi.take() {
            let pending = multi.pending.into_values().flat_map(|(paths, _)| paths);
            for path in pending.chain(multi.sent.into_values().flatten()) {
                interner.release(path.attrs);
            }
        }
    }
}

/// The speaker-wide settings export needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExportContext {
    pub(crate) local_as: u32,
    pub(crate) cluster_id: Ipv4Addr,
    /// Draining (RFC 8326): our own routes go out with GRACEFUL_SHUTDOWN and this many extra
    /// prepends toward external neighbours.
    pub(crate) graceful_shutdown: Option<u8>,
}

/// Whether a route of `family` from `source` may go to `to` at all, before its attributes are
/// looked at: only in a family its session negotiated (RFC 4760 §8), never back to where it
/// came from, and (RFC 8212) nothing to an external neighbour without an export policy. Every
/// export, of the best path or of ADD-PATH paths, passes here.
pub(crate) fn may_export(
    source: &PeerInfo,
    to_config: &PeerConfig,
    to: &PeerInfo,
    family: Family,
) -> bool {
    let negotiated = to.families.contains(family);
    let back_to_source = !source.is_local && source.address == to.address;
    let unpoliced_external = !to.ibgp && to_config.export.is_empty();
    negotiated && !back_to_source && !unpoliced_external
}

/// Whether a route of `family` may be announced with `next_hop`: only with one of its own
/// address family (RFC 4760 §3; RFC 2545 §3 for IPv6, a 16-octet global address). The one
/// place of the rule: RFC 8950 (an IPv6 next hop for IPv4 routes, once the extended next hop
/// capability is negotiated) will widen it here.
pub(crate) fn next_hop_fits(family: Family, next_hop: IpAddr) -> bool {
    match family.afi {
        Afi::IPV4 => next_hop.is_ipv4(),
        Afi::IPV6 => next_hop.is_ipv6(),
        _ => false,
    }
}

/// Our next hop for a route of `family` toward a neighbour (next hop self): our address of
/// that family toward it, else, for a route of ours, the next hop it was originated with when
/// that one is of the family; `None` when we have none.
fn own_next_hop(
    family: Family,
    best: &RouteAttrs,
    source: &PeerInfo,
    to_config: &PeerConfig,
) -> Option<IpAddr> {
    let local = match family.afi {
        Afi::IPV4 => to_config.local_ipv4.map(IpAddr::V4),
        Afi::IPV6 => to_config.local_ipv6.map(IpAddr::V6),
        _ => None,
    };
    local
        .or_else(|| source.is_local.then_some(best.next_hop))
        .filter(|hop| next_hop_fits(family, *hop))
}

/// Why a route is not sent to a neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Withheld {
    /// The export rules or the export policy refuse it.
    Refused,
    /// It would go with our next hop, and we have none of its family toward the neighbour
    /// (RFC 4760 §3, RFC 2545 §3): it waits for one ([`crate::Rib::families_without_next_hop`]).
    NoNextHop,
}

/// The attributes the best route `best` (from `source`) is sent to `to` with, or why it is not
/// sent there.
pub(crate) fn export_route(
    ctx: ExportContext,
    prefix: Prefix,
    best: &RouteAttrs,
    source: &PeerInfo,
    to_config: &PeerConfig,
    to: &PeerInfo,
) -> Result<RouteAttrs, Withheld> {
    let family = prefix.unicast_family();
    if !may_export(source, to_config, to, family) {
        return Err(Withheld::Refused);
    }
    let exported_from_as = !to.ibgp;
    let attrs = &best.attrs;
    // RFC 1997 well-known communities.
    if attrs.communities.contains(&Community::NO_ADVERTISE) {
        return Err(Withheld::Refused);
    }
    // RFC 9494 §4.3: a long-lived stale route only to a neighbour that advertised the
    // capability for the family.
    if attrs.communities.contains(&Community::LLGR_STALE) && !to.long_lived.contains(family) {
        return Err(Withheld::Refused);
    }
    if exported_from_as
        && (attrs.communities.contains(&Community::NO_EXPORT)
            || attrs.communities.contains(&Community::NO_EXPORT_SUBCONFED))
    {
        return Err(Withheld::Refused);
    }
    // iBGP split horizon and route reflection (RFC 4456 §6).
    let reflecting = !source.is_local && source.ibgp && to.ibgp;
    if reflecting && !(source.rr_client || to.rr_client) {
        return Err(Withheld::Refused);
    }

    let mut out = attrs.clone();
    out.as4_path = None;
    out.as4_aggregator = None;
    out.mark_unknown_partial();
    let mut next_hop = best.next_hop;
    let mut link_local = best.link_local;
    // Next hop self (RFC 4271 §5.1.3): toward external neighbours, for our own routes, and
    // when configured. Without a next hop of our own of the route's family, the unspecified
    // address of the family stands in, so that an export policy may still set one; otherwise
    // the route waits.
    let next_hop_self = !to.ibgp || source.is_local || to_config.next_hop_self;
    let mut without_own = false;
    if next_hop_self {
        let own = own_next_hop(family, best, source, to_config);
        without_own = own.is_none();
        next_hop = own.unwrap_or(match family.afi {
            Afi::IPV6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        });
        link_local = None;
    }
    if to.ibgp {
        // LOCAL_PREF only inside the AS (RFC 4271 §5.1.5).
        out.local_pref = Some(best.local_pref);
        if reflecting {
            out.originator_id.get_or_insert(source.bgp_id);
            out.cluster_list.insert(0, ctx.cluster_id);
        }
    } else {
        out.local_pref = None;
        out.originator_id = None;
        out.cluster_list.clear();
        if !source.is_local && !to_config.send_med {
            // RFC 4271 §5.1.4: a MED learned from a neighbouring AS is not passed on.
            out.med = None;
        }
        out.as_path
            .get_or_insert_with(Default::default)
            .prepend(ctx.local_as, 1);
    }
    out.next_hop = match (family, next_hop) {
        (Family::IPV4_UNICAST, IpAddr::V4(v4)) => Some(v4),
        _ => None,
    };
    if let (Some(prepend), true) = (ctx.graceful_shutdown, source.is_local) {
        if !out.communities.contains(&Community::GRACEFUL_SHUTDOWN) {
            out.communities.push(Community::GRACEFUL_SHUTDOWN);
        }
        if !to.ibgp {
            out.as_path
                .get_or_insert_with(Default::default)
                .prepend(ctx.local_as, usize::from(prepend));
        }
    }
    let mut exported = RouteAttrs::new(out, next_hop, link_local);

    // Inside the AS, no export policy sends everything.
    if !to_config.export.is_empty() {
        let mut route = PolicyRoute {
            prefix,
            family,
            neighbor: to.address,
            attrs: &mut exported,
            local_as: ctx.local_as,
        };
        if !evaluate(&to_config.export, &mut route).accepted {
            return Err(Withheld::Refused);
        }
    }
    // Only with a next hop of the route's family, whoever set it.
    match exported.next_hop {
        hop if without_own && hop.is_unspecified() => Err(Withheld::NoNextHop),
        hop if !next_hop_fits(family, hop) => Err(Withheld::Refused),
        _ => Ok(exported),
    }
}

/// Encodes outgoing updates for a session: withdrawals in the body or MP_UNREACH_NLRI,
/// announcements in the body (IPv4 with an IPv4 next hop) or MP_REACH_NLRI, as few messages as
/// fit. Returns the number of messages.
pub fn encode_updates(
    updates: &[OutgoingUpdate],
    ctx: SessionContext,
    out: &mut BytesMut,
) -> Result<usize, PackError> {
    let mut packer = UpdatePacker::new(ctx);
    let mut messages = 0;
    for update in updates {
        let nlri: Vec<Nlri> = match update.path_ids.as_slice() {
            [] => update.prefixes.iter().map(|p| Nlri::new(*p)).collect(),
            ids => update
                .prefixes
                .iter()
                .zip(ids)
                .map(|(prefix, id)| Nlri {
                    path_id: Some(*id),
                    prefix: *prefix,
                })
                .collect(),
        };
        messages += match &update.attrs {
            None => packer.withdraw(update.family, &nlri, out),
            Some(attrs) => match (update.family, attrs.next_hop) {
                (Family::IPV4_UNICAST, IpAddr::V4(_)) => {
                    packer.announce_ipv4(&attrs.attrs, &nlri, out)?
                }
                (family, IpAddr::V4(v4)) => {
                    packer.announce_mp(&attrs.attrs, family, &NextHop::V4(v4), &nlri, out)?
                }
                (family, IpAddr::V6(global)) => {
                    let next_hop = NextHop::V6 {
                        global,
                        link_local: attrs.link_local,
                    };
                    packer.announce_mp(&attrs.attrs, family, &next_hop, &nlri, out)?
                }
            },
        };
    }
    Ok(messages)
}
