//! Node validation, an import rule of the Kubernetes integration: routes that overlap our own
//! PodCIDRs or the Service ranges are refused from anyone; in mesh and route-reflector modes a
//! route for a PodCIDR is accepted only with a next hop of the Node that owns it (or when the
//! prefix is on the allow-list). Refused routes are withdrawn and counted.

use std::net::IpAddr;

use bgp_proto::{Family, MpUnreach, NextHop, Nlri, Prefix, Update};
use tracing::warn;

use crate::metrics::Metrics;
use crate::msg::{NodeRoutes, Refusal};

/// Why `prefix`, announced with `next_hop`, is refused, if it is.
fn verdict(routes: &NodeRoutes, prefix: &Prefix, next_hop: Option<IpAddr>) -> Option<Refusal> {
    if routes.allowed.iter().any(|a| a.contains(prefix)) {
        return None;
    }
    let overlaps = |p: &Prefix| p.contains(prefix) || prefix.contains(p);
    if routes.own_cidrs.iter().any(overlaps) || routes.service_cidrs.iter().any(overlaps) {
        return Some(Refusal::OverlapsCluster);
    }
    if routes.validate_owners {
        match routes.owners.get(prefix) {
            Some(addresses) if next_hop.is_some_and(|nh| addresses.contains(&nh)) => {}
            Some(_) => return Some(Refusal::WrongNextHop),
            None => return Some(Refusal::NoSuchNode),
        }
    }
    None
}

/// Splits an UPDATE into what is accepted and a withdrawal of what is refused, or `None` when
/// everything is accepted.
pub(super) fn node_validation(
    routes: &NodeRoutes,
    update: &Update,
    metrics: &Metrics,
) -> Option<(Update, Update)> {
    let next_hop = update
        .mp_reach
        .as_ref()
        .map(|r| match r.next_hop {
            NextHop::V4(a) => IpAddr::V4(a),
            NextHop::V6 { global, .. } => IpAddr::V6(global),
        })
        .or(update.attributes.next_hop.map(IpAddr::V4));
    let refused: Vec<(Family, Nlri, Refusal)> = update
        .announced()
        .filter_map(|(f, n)| verdict(routes, &n.prefix, next_hop).map(|why| (f, *n, why)))
        .collect();
    if refused.is_empty() {
        return None;
    }
    for (_, n, why) in &refused {
        warn!(prefix = %n.prefix, reason = why.label(), "learned route refused by Node validation");
        metrics
            .kubernetes_routes_rejected
            .with_label_values(&[why.label()])
            .inc();
    }
    let mut kept = update.clone();
    kept.nlri
        .retain(|n| !refused.iter().any(|(_, r, _)| r == n));
    if let Some(reach) = kept.mp_reach.as_mut() {
        reach
            .nlri
            .retain(|n| !refused.iter().any(|(_, r, _)| r == n));
    }
    let mut withdraw = Update::default();
    for (family, nlri, _) in refused {
        if family == Family::IPV4_UNICAST {
            withdraw.withdrawn.push(nlri);
        } else {
            withdraw
                .mp_unreach
                .get_or_insert_with(|| MpUnreach {
                    family,
                    withdrawn: Vec::new(),
                })
                .withdrawn
                .push(nlri);
        }
    }
    Some((kept, withdraw))
}
