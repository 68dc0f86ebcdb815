//! The core's answers to the admin API (`speakerd show`, `/readyz`) and the gauges a
//! `/metrics` scrape reads.

use std::time::Instant;

use std::net::Ipv4Addr;

use bgp_proto::mrt::PeerEntry;
use bgp_proto::{Family, FamilySet, Prefix};
use rib::{PathStatus, PeerId, RejectReason, RouteAttrs, SnapshotKind};

use super::Core;
use crate::mrt_dump::{DumpPeer, RibDump};
use crate::msg::{NeighborView, PathView, RouteView, SessionCapability};

impl Core {
    /// Every neighbour, by address (`speakerd show neighbors`).
    pub fn neighbors(&self, now: Instant) -> Vec<NeighborView> {
        let mut views: Vec<NeighborView> = self
            .neighbors
            .iter()
            .map(|(id, n)| NeighborView {
                address: n.config.address,
                asn: n.config.remote_asn,
                state: n.state.to_string(),
                uptime_seconds: n
                    .established_at
                    .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
                families: n
                    .negotiated
                    .as_ref()
                    .map(|n| n.families.iter().map(|f| f.to_string()).collect())
                    .unwrap_or_default(),
                capabilities: n
                    .negotiated
                    .as_ref()
                    .map(|n| SessionCapability::of(n))
                    .unwrap_or_default(),
                prefixes_accepted: [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
                    .iter()
                    .map(|f| u64::from(self.rib.accepted_count(*id, *f)))
                    .sum(),
                prefixes_advertised: self.rib.advertised_count(*id) as u64,
                description: n.config.description.clone(),
            })
            .collect();
        views.sort_by_key(|v| v.address);
        views
    }

    /// Every selected route, by prefix (`speakerd show routes`).
    pub fn routes(&self) -> Vec<RouteView> {
        let mut views: Vec<RouteView> = self
            .rib
            .routes()
            .into_iter()
            .map(|(prefix, route)| RouteView {
                prefix: prefix.to_string(),
                next_hops: route.next_hops.iter().map(|h| h.address).collect(),
                as_path: route
                    .best
                    .attrs
                    .attrs
                    .as_path
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                from: self.peer_name(route.best.peer),
            })
            .collect();
        views.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        views
    }

    /// Every path of one prefix and why the best won (`speakerd show route PREFIX`).
    pub fn route(&self, prefix: &Prefix) -> Vec<PathView> {
        let paths = self.rib.explain(prefix).into_iter().map(|p| {
            let status = match p.status {
                PathStatus::Best => "best".into(),
                PathStatus::Multipath => "multipath".into(),
                PathStatus::Lost(step) => format!("lost at {step}"),
                PathStatus::Unreachable => "next hop unreachable".into(),
            };
            self.path_view(p.peer, &p.attrs, status, p.stale)
        });
        // Routes kept as received (soft reconfiguration inbound) and refused.
        let rejected = self.rib.rejected(prefix).into_iter().map(|r| {
            let status = match r.reason {
                RejectReason::AsPathLoop => "rejected: AS path loop",
                RejectReason::ReflectionLoop => "rejected: reflection loop",
                RejectReason::Policy => "rejected by import policy",
                RejectReason::Protected => "rejected: protected prefix",
                RejectReason::Malformed => "rejected: malformed",
            };
            self.path_view(r.peer, &r.attrs, status.into(), false)
        });
        paths.chain(rejected).collect()
    }

    /// The RIB at this moment for `speakerd dump rib` (an MRT TABLE_DUMP_V2 file, RFC 6396
    /// §4.3) taken at `timestamp` (Unix seconds): the paths of `kind`, every neighbour (and, for
    /// the Loc-RIB, ourselves first) for the PEER_INDEX_TABLE, and the families each one's
    /// session sends ADD-PATH identifiers in. One pass over the table, a few words per path.
    pub fn rib_dump(&self, kind: SnapshotKind, timestamp: u32) -> RibDump {
        let entry = |id: PeerId, address, asn| {
            let info = self.rib.peer_info(id);
            PeerEntry {
                bgp_id: info.map_or(Ipv4Addr::UNSPECIFIED, |i| i.bgp_id),
                ip: address,
                asn: info.map_or(asn, |i| i.asn),
            }
        };
        let config = self.rib.config();
        let local = (kind == SnapshotKind::LocRib).then(|| DumpPeer {
            id: PeerId::LOCAL,
            entry: PeerEntry {
                bgp_id: config.router_id,
                ip: Ipv4Addr::UNSPECIFIED.into(),
                asn: config.local_as,
            },
            add_path: FamilySet::EMPTY,
        });
        let neighbors = self.neighbors.iter().map(|(id, n)| DumpPeer {
            id: *id,
            entry: entry(*id, n.config.address, n.config.remote_asn),
            add_path: n
                .negotiated
                .as_ref()
                .map_or(FamilySet::EMPTY, |n| n.context.add_path_rx),
        });
        RibDump {
            kind,
            timestamp,
            collector_id: config.router_id,
            peers: local.into_iter().chain(neighbors).collect(),
            snapshot: self.rib.snapshot(kind),
        }
    }

    /// The first full table exchange is done (`/readyz`).
    pub fn ready(&self) -> bool {
        self.synced
    }

    /// Brings the RIB's gauges up to date (a `/metrics` scrape is about to render them). Costs
    /// a few counter reads per neighbour, nothing per route: the counts are kept by the RIB as
    /// routes change.
    pub fn refresh_metrics(&self, now: Instant) {
        let stats = self.rib.stats();
        self.metrics
            .rib_attribute_sets
            .set(stats.attribute_sets as i64);
        for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
            self.metrics
                .rib_routes
                .with_label_values(&[&family.to_string()])
                .set(self.rib.selected_count(family) as i64);
        }
        for (id, n) in &self.neighbors {
            let labels = [
                n.config.address.to_string(),
                n.config.remote_asn.to_string(),
            ];
            self.metrics
                .prefixes_advertised
                .with_label_values(&[&labels[0], &labels[1]])
                .set(self.rib.advertised_count(*id) as i64);
            self.metrics
                .routes_pending_out
                .with_label_values(&[&labels[0], &labels[1]])
                .set(self.rib.pending_count(*id) as i64);
            let uptime = n
                .established_at
                .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
            self.metrics
                .peer_uptime_seconds
                .with_label_values(&[&labels[0], &labels[1]])
                .set(uptime);
            for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
                let f = family.to_string();
                self.metrics
                    .prefixes_accepted
                    .with_label_values(&[&labels[0], &labels[1], &f])
                    .set(i64::from(self.rib.accepted_count(*id, family)));
            }
            for limit in &n.config.max_prefix {
                self.metrics
                    .prefix_limit
                    .with_label_values(&[&labels[0], &labels[1], &limit.family.to_string()])
                    .set(i64::from(limit.limit));
            }
        }
    }

    /// One path of `show route PREFIX`.
    fn path_view(&self, peer: PeerId, attrs: &RouteAttrs, status: String, stale: bool) -> PathView {
        PathView {
            from: self.peer_name(peer),
            next_hop: attrs.next_hop,
            as_path: attrs
                .attrs
                .as_path
                .as_ref()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            local_pref: attrs.local_pref,
            med: attrs.attrs.med,
            communities: attrs
                .attrs
                .communities
                .iter()
                .map(|c| c.to_string())
                .collect(),
            status,
            stale,
        }
    }

    fn peer_name(&self, peer: PeerId) -> String {
        if peer == PeerId::LOCAL {
            "local".into()
        } else {
            self.neighbors.get(&peer).map_or_else(
                || format!("peer {}", peer.0),
                |n| n.config.address.to_string(),
            )
        }
    }
}
