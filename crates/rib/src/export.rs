//! Export: what each neighbour is sent (RFC 4271 §9.1.3, §5.1), route reflection (RFC 4456),
//! the well-known communities of RFC 1997, and the per-neighbour Adj-RIB-Out that merges
//! pending changes per prefix until the session takes them, grouped by attribute set so that one
//! UPDATE carries many prefixes.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_proto::{
    Community, Family, NextHop, Nlri, PackError, Prefix, SessionContext, UpdatePacker,
};
use bytes::BytesMut;
use rustc_hash::FxHashMap;

use crate::attrs::{AttrId, AttrInterner, RouteAttrs};
use crate::peer::PeerInfo;
use crate::policy::{evaluate, PolicyRoute};
use crate::rib::{BestRoute, PeerConfig};

/// A batch of prefixes that share one outcome: announced with these attributes, or withdrawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingUpdate {
    /// The family of the prefixes.
    pub family: Family,
    /// The attributes to announce with, `None` to withdraw.
    pub attrs: Option<Arc<RouteAttrs>>,
    /// The prefixes.
    pub prefixes: Vec<Prefix>,
}

/// What was sent to one neighbour and what is waiting to be sent; each entry holds a reference
/// to its attribute set.
#[derive(Debug, Default)]
pub(crate) struct AdjRibOut {
    sent: FxHashMap<Prefix, AttrId>,
    pending: FxHashMap<Prefix, Option<AttrId>>,
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

    /// Whether anything waits to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Number of prefixes advertised (for metrics).
    pub(crate) fn advertised(&self) -> usize {
        self.sent.len()
    }

    /// Takes everything pending, marks it sent, and groups it by family and attribute set.
    pub(crate) fn take(&mut self, interner: &mut AttrInterner) -> Vec<OutgoingUpdate> {
        let mut groups: FxHashMap<(Family, Option<AttrId>), OutgoingUpdate> = FxHashMap::default();
        for (prefix, attrs) in self.pending.drain() {
            let family = prefix.unicast_family();
            groups
                .entry((family, attrs))
                .or_insert_with(|| OutgoingUpdate {
                    family,
                    attrs: attrs.map(|id| Arc::new(interner.get(id).to_route_attrs())),
                    prefixes: Vec::new(),
                })
                .prefixes
                .push(prefix);
            let old = match attrs {
                Some(id) => self.sent.insert(prefix, id),
                None => self.sent.remove(&prefix),
            };
            if let Some(old) = old {
                interner.release(old);
            }
        }
        let mut out: Vec<OutgoingUpdate> = groups.into_values().collect();
        // Withdrawals first, then announcements; prefixes in order, for stable output.
        out.sort_by_key(|u| (u.attrs.is_some(), u.family));
        for u in &mut out {
            u.prefixes.sort();
        }
        out
    }

    /// Forgets everything (the session went down).
    pub(crate) fn clear(&mut self, interner: &mut AttrInterner) {
        let pending = self.pending.drain().filter_map(|(_, attrs)| attrs);
        for id in pending.chain(self.sent.drain().map(|(_, id)| id)) {
            interner.release(id);
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

/// The attributes `best` is sent to `to` with, or `None` when it must not be sent there.
pub(crate) fn export_route(
    ctx: ExportContext,
    prefix: Prefix,
    best: &BestRoute,
    source: &PeerInfo,
    to_config: &PeerConfig,
    to: &PeerInfo,
) -> Option<RouteAttrs> {
    // Never back to where it came from.
    if !source.is_local && source.address == to.address {
        return None;
    }
    // RFC 8212: nothing is sent to an external neighbour without an export policy (decided
    // first: it needs no copy of the attributes).
    let exported_from_as = !to.ibgp;
    if exported_from_as && to_config.export.is_empty() {
        return None;
    }
    let attrs = &best.attrs.attrs;
    // RFC 1997 well-known communities.
    if attrs.communities.contains(&Community::NO_ADVERTISE) {
        return None;
    }
    if exported_from_as
        && (attrs.communities.contains(&Community::NO_EXPORT)
            || attrs.communities.contains(&Community::NO_EXPORT_SUBCONFED))
    {
        return None;
    }
    // iBGP split horizon and route reflection (RFC 4456 §6).
    let reflecting = !source.is_local && source.ibgp && to.ibgp;
    if reflecting && !(source.rr_client || to.rr_client) {
        return None;
    }

    let mut out = attrs.clone();
    out.as4_path = None;
    out.as4_aggregator = None;
    out.mark_unknown_partial();
    let family = prefix.unicast_family();
    let mut next_hop = best.attrs.next_hop;
    let mut link_local = best.attrs.link_local;
    // Our own address toward the neighbour; a local route without one uses the next hop it
    // was originated with.
    let self_next_hop = match family {
        Family::IPV4_UNICAST => to_config.local_ipv4.map(IpAddr::V4),
        _ => to_config.local_ipv6.map(IpAddr::V6),
    }
    .or_else(|| source.is_local.then_some(best.attrs.next_hop));
    if to.ibgp {
        // LOCAL_PREF only inside the AS (RFC 4271 §5.1.5).
        out.local_pref = Some(best.attrs.local_pref);
        if source.is_local || to_config.next_hop_self {
            next_hop = self_next_hop?;
            link_local = None;
        }
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
        next_hop = self_next_hop?;
        link_local = None;
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
    if to_config.export.is_empty() {
        return Some(exported);
    }
    let mut route = PolicyRoute {
        prefix,
        family,
        neighbor: to.address,
        attrs: &mut exported,
        local_as: ctx.local_as,
    };
    evaluate(&to_config.export, &mut route)
        .accepted
        .then_some(exported)
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
        let nlri: Vec<Nlri> = update.prefixes.iter().map(|p| Nlri::new(*p)).collect();
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
