//! The RIB task: the one owner of the [`Rib`]. Neighbour tasks send it what their sessions
//! deliver; it applies a whole batch of messages, runs the decision once, hands the kernel
//! changes to the FIB task and pushes each neighbour's pending updates to it when that
//! neighbour's socket has drained (so a slow neighbour costs memory bounded by the table, not
//! by the rate of change). It also answers the admin API's queries.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Instant;

use bgp_fsm::{Down, Negotiated, State, StopReason};
use bgp_proto::{Family, Prefix, RouteRefresh, SessionContext, Update};
use bytes::BytesMut;
use rib::{encode_updates, PathStatus, PeerId, Rib, RouteChange};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use std::sync::Arc;

use crate::config::{NeighborConfig, OriginateConfig};
use crate::metrics::Metrics;
use crate::peer_task::ToPeer;

/// What a neighbour task reports about itself for status displays.
#[derive(Clone, Debug)]
pub(crate) struct NeighborStatus {
    pub(crate) state: State,
    pub(crate) description: Option<String>,
}

/// Messages to the RIB task.
#[derive(Debug)]
pub(crate) enum ToRib {
    PeerUp {
        peer: PeerId,
        negotiated: Box<Negotiated>,
        local_address: Option<IpAddr>,
    },
    PeerDown {
        peer: PeerId,
        down: Box<Down>,
    },
    Update {
        peer: PeerId,
        update: Box<Update>,
    },
    EndOfRib {
        peer: PeerId,
        family: Family,
    },
    RouteRefresh {
        peer: PeerId,
        refresh: RouteRefresh,
    },
    Drained {
        peer: PeerId,
    },
    Status {
        peer: PeerId,
        status: NeighborStatus,
    },
    AddPeer {
        config: Box<NeighborConfig>,
        commands: mpsc::UnboundedSender<ToPeer>,
        dynamic: bool,
        reply: oneshot::Sender<PeerId>,
    },
    /// A neighbour left the configuration: Cease 6/3 and forget it.
    RemovePeer {
        address: IpAddr,
    },
    /// A neighbour's policies changed (reload): re-export now, ask it for a route refresh.
    SetPolicies {
        address: IpAddr,
        import: Vec<Arc<rib::Policy>>,
        export: Vec<Arc<rib::Policy>>,
    },
    /// The originated prefixes of the new configuration.
    SetPrefixes(Vec<OriginateConfig>),
    Query(Query),
}

/// Questions from the admin API.
#[derive(Debug)]
pub(crate) enum Query {
    Neighbors(oneshot::Sender<Vec<NeighborView>>),
    Routes(oneshot::Sender<Vec<RouteView>>),
    Route(Prefix, oneshot::Sender<Vec<PathView>>),
    Ready(oneshot::Sender<bool>),
}

/// A neighbour as `speakerd show neighbors` prints it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct NeighborView {
    /// Address.
    pub address: IpAddr,
    /// AS.
    pub asn: u32,
    /// FSM state.
    pub state: String,
    /// Seconds Established, 0 when not.
    pub uptime_seconds: u64,
    /// Negotiated families.
    pub families: Vec<String>,
    /// Accepted prefixes.
    pub prefixes_accepted: u64,
    /// Advertised prefixes.
    pub prefixes_advertised: u64,
    /// Description.
    pub description: Option<String>,
}

/// A selected route as `speakerd show routes` prints it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct RouteView {
    /// Prefix.
    pub prefix: String,
    /// ECMP next hops (empty for our own prefixes).
    pub next_hops: Vec<IpAddr>,
    /// AS path of the best route.
    pub as_path: String,
    /// The neighbour of the best route, or "local".
    pub from: String,
}

/// One path of a prefix as `speakerd show route PREFIX` explains it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct PathView {
    /// The neighbour, or "local".
    pub from: String,
    /// Next hop.
    pub next_hop: IpAddr,
    /// AS path.
    pub as_path: String,
    /// LOCAL_PREF used by the decision.
    pub local_pref: u32,
    /// MED.
    pub med: Option<u32>,
    /// Communities.
    pub communities: Vec<String>,
    /// best, multipath, lost at STEP, or unreachable.
    pub status: String,
    /// Kept stale across a graceful restart.
    pub stale: bool,
}

/// Commands to the FIB task.
#[derive(Debug)]
pub(crate) enum FibCommand {
    Apply(Vec<RouteChange>),
    /// The first full table is in: our kernel routes the RIB does not want may go.
    Synced,
}

struct PeerEntry {
    commands: mpsc::UnboundedSender<ToPeer>,
    config: NeighborConfig,
    status: NeighborStatus,
    negotiated: Option<Box<Negotiated>>,
    established_at: Option<Instant>,
    ready_to_send: bool,
    eor_sent: bool,
    eor_received: HashSet<Family>,
    stale_until: Option<Instant>,
    dynamic: bool,
}

pub(crate) struct RibTask {
    pub(crate) rib: Rib,
    peers: HashMap<PeerId, PeerEntry>,
    fib: mpsc::UnboundedSender<FibCommand>,
    metrics: Metrics,
    synced: bool,
    started: Instant,
    originated: Vec<OriginateConfig>,
}

impl RibTask {
    pub(crate) fn new(rib: Rib, fib: mpsc::UnboundedSender<FibCommand>, metrics: Metrics) -> Self {
        Self {
            rib,
            peers: HashMap::new(),
            fib,
            metrics,
            synced: false,
            started: Instant::now(),
            originated: Vec::new(),
        }
    }

    fn peer_by_address(&self, address: IpAddr) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, p)| p.config.address == address)
            .map(|(id, _)| *id)
    }

    /// Originates the prefixes of a (re)loaded configuration and withdraws those that left it.
    pub(crate) fn set_prefixes(&mut self, prefixes: Vec<OriginateConfig>) {
        for old in &self.originated {
            if !prefixes.iter().any(|p| p.prefix == old.prefix) {
                self.rib.withdraw_originated(old.prefix);
            }
        }
        for p in &prefixes {
            if self.originated.contains(p) {
                continue;
            }
            let attrs = bgp_proto::PathAttributes {
                communities: p.communities.clone(),
                large_communities: p.large_communities.clone(),
                ..bgp_proto::PathAttributes::default()
            };
            self.rib
                .originate(p.prefix, attrs, IpAddr::V4(self.rib.config().router_id));
        }
        self.originated = prefixes;
    }

    /// Registers a configured neighbour with the RIB and remembers how to reach its task.
    pub(crate) fn add_peer(
        &mut self,
        config: NeighborConfig,
        commands: mpsc::UnboundedSender<ToPeer>,
        dynamic: bool,
    ) -> PeerId {
        let id = self.rib.add_peer(crate::daemon::rib_peer_config(&config));
        let status = NeighborStatus {
            state: State::Idle,
            description: config.description.clone(),
        };
        self.peers.insert(
            id,
            PeerEntry {
                commands,
                config,
                status,
                negotiated: None,
                established_at: None,
                ready_to_send: false,
                eor_sent: false,
                eor_received: HashSet::new(),
                stale_until: None,
                dynamic,
            },
        );
        id
    }

    /// Runs until every sender is gone.
    pub(crate) async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<ToRib>) {
        loop {
            let next_flush = self.peers.values().filter_map(|p| p.stale_until).min();
            let message = tokio::select! {
                m = inbox.recv() => m,
                _ = async { match next_flush { Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await, None => std::future::pending().await } } => {
                    self.flush_expired_stale();
                    self.after_batch();
                    continue;
                }
            };
            let Some(message) = message else { return };
            self.handle(message);
            // Take everything already queued before running the decision once.
            while let Ok(message) = inbox.try_recv() {
                self.handle(message);
            }
            self.after_batch();
        }
    }

    fn flush_expired_stale(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .peers
            .iter_mut()
            .filter(|(_, p)| p.stale_until.is_some_and(|t| t <= now))
            .map(|(id, p)| {
                p.stale_until = None;
                *id
            })
            .collect();
        for peer in expired {
            warn!(
                peer = peer.0,
                "graceful restart timer expired: stale routes removed"
            );
            self.rib.flush_stale(peer);
        }
    }

    fn handle(&mut self, message: ToRib) {
        match message {
            ToRib::PeerUp {
                peer,
                negotiated,
                local_address,
            } => {
                if let Some(address) = local_address {
                    self.rib.set_local_address(peer, address);
                }
                self.rib
                    .peer_up(peer, negotiated.peer_id, negotiated.context.four_octet_as);
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.negotiated = Some(negotiated);
                    p.established_at = Some(Instant::now());
                    p.ready_to_send = true;
                    p.eor_sent = false;
                    p.eor_received.clear();
                }
            }
            ToRib::PeerDown { peer, down } => {
                let retain: Vec<Family> = down
                    .retain_stale
                    .as_ref()
                    .map(|r| r.families.clone())
                    .unwrap_or_default();
                if down.was_established {
                    self.rib.peer_down(peer, &retain);
                }
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.negotiated = None;
                    p.established_at = None;
                    p.ready_to_send = false;
                    p.stale_until = down
                        .retain_stale
                        .as_ref()
                        .map(|r| Instant::now() + r.restart_time);
                }
            }
            ToRib::Update { peer, update } => self.apply_update(peer, &update),
            ToRib::EndOfRib { peer, family } => {
                self.rib.end_of_rib(peer, family);
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.eor_received.insert(family);
                    if p.negotiated
                        .as_ref()
                        .is_some_and(|n| n.families.iter().all(|f| p.eor_received.contains(f)))
                    {
                        p.stale_until = None;
                    }
                }
            }
            ToRib::RouteRefresh { peer, refresh } => match refresh.subtype {
                bgp_proto::route_refresh::subtype::BEGIN => {
                    self.rib.mark_stale(peer, refresh.family)
                }
                bgp_proto::route_refresh::subtype::END => self.rib.end_of_rib(peer, refresh.family),
                _ => self.rib.readvertise(peer, refresh.family),
            },
            ToRib::Drained { peer } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.ready_to_send = true;
                }
            }
            ToRib::Status { peer, status } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.status = status;
                }
            }
            ToRib::AddPeer {
                config,
                commands,
                dynamic,
                reply,
            } => {
                let id = self.add_peer(*config, commands, dynamic);
                let _ = reply.send(id);
            }
            ToRib::RemovePeer { address } => {
                if let Some(id) = self.peer_by_address(address) {
                    if let Some(p) = self.peers.remove(&id) {
                        let _ = p.commands.send(ToPeer::Deconfigure);
                    }
                    self.rib.remove_peer(id);
                    info!(%address, "neighbor removed from the configuration");
                }
            }
            ToRib::SetPolicies {
                address,
                import,
                export,
            } => {
                if let Some(id) = self.peer_by_address(address) {
                    self.rib.set_policies(id, import.clone(), export.clone());
                    if let Some(p) = self.peers.get_mut(&id) {
                        p.config.import = import;
                        p.config.export = export;
                        // Re-evaluate what it sent before under the new import policy.
                        for family in p.negotiated.iter().flat_map(|n| n.families.clone()) {
                            let _ = p.commands.send(ToPeer::RefreshRequest(family));
                        }
                    }
                    info!(%address, "neighbor policies reloaded");
                }
            }
            ToRib::SetPrefixes(prefixes) => self.set_prefixes(prefixes),
            ToRib::Query(query) => self.answer(query),
        }
    }

    fn apply_update(&mut self, peer: PeerId, update: &Update) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        let labels = [
            entry.config.address.to_string(),
            entry.config.remote_asn.to_string(),
        ];
        for (family, _) in update.announced() {
            self.metrics
                .prefixes_received
                .with_label_values(&[&labels[0], &labels[1], &family.to_string()])
                .inc();
        }
        match self.rib.apply_update(peer, update) {
            Ok(outcome) => {
                for family in outcome.warnings {
                    warn!(peer = %labels[0], %family, "prefix count reached the warning threshold");
                }
                if !update.discarded.is_empty() || update.treat_as_withdraw.is_some() {
                    warn!(peer = %labels[0], treat_as_withdraw = ?update.treat_as_withdraw, discarded = update.discarded.len(), "malformed UPDATE handled per RFC 7606");
                }
            }
            Err(exceeded) => {
                warn!(peer = %labels[0], %exceeded, "prefix limit exceeded: stopping the session");
                let reason = StopReason::MaxPrefixes {
                    family: exceeded.family,
                    limit: exceeded.limit,
                };
                let _ = entry.commands.send(ToPeer::Cease(reason));
            }
        }
    }

    fn after_batch(&mut self) {
        let changes = self.rib.run_decision();
        if !changes.is_empty() {
            let _ = self.fib.send(FibCommand::Apply(changes));
        }
        self.push_updates();
        self.update_metrics();
        if !self.synced && self.initial_sync_done() {
            self.synced = true;
            info!(
                seconds = self.started.elapsed().as_secs_f64(),
                "initial table exchange complete"
            );
            let _ = self.fib.send(FibCommand::Synced);
        }
    }

    /// Every configured neighbour that is up has sent End-of-RIB for all its families.
    fn initial_sync_done(&self) -> bool {
        self.peers
            .values()
            .filter(|p| !p.dynamic)
            .all(|p| match &p.negotiated {
                Some(n) => n.families.iter().all(|f| p.eor_received.contains(f)),
                None => false,
            })
    }

    fn push_updates(&mut self) {
        let ready: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.ready_to_send && p.negotiated.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            let updates = self.rib.take_updates(id);
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            let Some(negotiated) = &p.negotiated else {
                continue;
            };
            let ctx: SessionContext = negotiated.context;
            if !updates.is_empty() {
                let mut out = BytesMut::new();
                match encode_updates(&updates, ctx, &mut out) {
                    Ok(_) => {
                        p.ready_to_send = false;
                        let _ = p.commands.send(ToPeer::Updates(out.freeze()));
                    }
                    Err(e) => warn!(peer = %p.config.address, error = %e, "cannot encode updates"),
                }
            }
            if !p.eor_sent {
                p.eor_sent = true;
                for family in &negotiated.families {
                    let _ = p.commands.send(ToPeer::EndOfRib(*family));
                }
            }
        }
    }

    fn update_metrics(&self) {
        let stats = self.rib.stats();
        self.metrics
            .rib_attribute_sets
            .set(stats.attribute_sets as i64);
        let routes = self.rib.routes();
        for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
            let count = routes
                .iter()
                .filter(|(p, _)| p.unicast_family() == family)
                .count();
            self.metrics
                .rib_routes
                .with_label_values(&[&family.to_string()])
                .set(count as i64);
        }
        for (id, p) in &self.peers {
            let labels = [
                p.config.address.to_string(),
                p.config.remote_asn.to_string(),
            ];
            self.metrics
                .prefixes_advertised
                .with_label_values(&[&labels[0], &labels[1]])
                .set(self.rib.advertised_count(*id) as i64);
            let uptime = p.established_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
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
            for limit in &p.config.max_prefix {
                self.metrics
                    .prefix_limit
                    .with_label_values(&[&labels[0], &labels[1], &limit.family.to_string()])
                    .set(i64::from(limit.limit));
            }
        }
    }

    fn answer(&self, query: Query) {
        match query {
            Query::Neighbors(reply) => {
                let mut views: Vec<NeighborView> = self
                    .peers
                    .iter()
                    .map(|(id, p)| NeighborView {
                        address: p.config.address,
                        asn: p.config.remote_asn,
                        state: p.status.state.to_string(),
                        uptime_seconds: p.established_at.map_or(0, |t| t.elapsed().as_secs()),
                        families: p
                            .negotiated
                            .as_ref()
                            .map(|n| n.families.iter().map(|f| f.to_string()).collect())
                            .unwrap_or_default(),
                        prefixes_accepted: [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
                            .iter()
                            .map(|f| u64::from(self.rib.accepted_count(*id, *f)))
                            .sum(),
                        prefixes_advertised: self.rib.advertised_count(*id) as u64,
                        description: p.status.description.clone(),
                    })
                    .collect();
                views.sort_by_key(|v| v.address);
                let _ = reply.send(views);
            }
            Query::Routes(reply) => {
                let mut views: Vec<RouteView> = self
                    .rib
                    .routes()
                    .into_iter()
                    .map(|(prefix, change)| {
                        let best = change.best.as_ref();
                        RouteView {
                            prefix: prefix.to_string(),
                            next_hops: change.next_hops.iter().map(|h| h.address).collect(),
                            as_path: best
                                .and_then(|b| b.attrs.attrs.as_path.as_ref())
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                            from: best.map_or_else(String::new, |b| self.peer_name(b.peer)),
                        }
                    })
                    .collect();
                views.sort_by(|a, b| a.prefix.cmp(&b.prefix));
                let _ = reply.send(views);
            }
            Query::Route(prefix, reply) => {
                let views = self
                    .rib
                    .explain(&prefix)
                    .into_iter()
                    .map(|p| PathView {
                        from: self.peer_name(p.peer),
                        next_hop: p.attrs.next_hop,
                        as_path: p
                            .attrs
                            .attrs
                            .as_path
                            .as_ref()
                            .map(|a| a.to_string())
                            .unwrap_or_default(),
                        local_pref: p.attrs.local_pref,
                        med: p.attrs.attrs.med,
                        communities: p
                            .attrs
                            .attrs
                            .communities
                            .iter()
                            .map(|c| c.to_string())
                            .collect(),
                        status: match p.status {
                            PathStatus::Best => "best".into(),
                            PathStatus::Multipath => "multipath".into(),
                            PathStatus::Lost(step) => format!("lost at {step}"),
                            PathStatus::Unreachable => "next hop unreachable".into(),
                        },
                        stale: p.stale,
                    })
                    .collect();
                let _ = reply.send(views);
            }
            Query::Ready(reply) => {
                let _ = reply.send(self.synced);
            }
        }
    }

    fn peer_name(&self, peer: PeerId) -> String {
        if peer == PeerId::LOCAL {
            "local".into()
        } else {
            self.peers.get(&peer).map_or_else(
                || format!("peer {}", peer.0),
                |p| p.config.address.to_string(),
            )
        }
    }
}
