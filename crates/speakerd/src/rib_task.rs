//! The RIB task: the one owner of the [`Rib`]. Neighbour tasks send it what their sessions
//! deliver; it applies a whole batch of messages, runs the decision once, hands the kernel
//! changes to the FIB task and pushes each neighbour's pending updates to it when that
//! neighbour's socket has drained (so a slow neighbour costs memory bounded by the table, not
//! by the rate of change). It also answers the admin API's queries.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp_fsm::{Down, Negotiated, State, StopReason};
use bgp_proto::{Family, Prefix, RouteRefresh, SessionContext, Update};
use bytes::BytesMut;
use rib::{encode_updates, PathStatus, PeerId, RejectReason, Rib, RouteAttrs, RouteChange};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use std::sync::Arc;

use crate::backlog::{Backlog, Ticket};
use crate::config::{NeighborConfig, OriginateConfig};
use crate::kubernetes::NodeEvent;
use crate::metrics::Metrics;
use crate::peer_task::ToPeer;

/// What a neighbour task reports about itself for status displays.
#[derive(Clone, Debug)]
pub(crate) struct NeighborStatus {
    pub(crate) state: State,
    pub(crate) description: Option<String>,
}

/// Most messages applied before the decision runs.
const MAX_BATCH: usize = Backlog::HIGH_WATER;

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
        /// Counts the UPDATE in its neighbour's backlog until it is applied.
        ticket: Ticket,
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
    /// The prefixes one source wants originated (the configuration, or our Node's PodCIDRs).
    SetPrefixes(PrefixSource, Vec<OriginateConfig>),
    /// Which Node owns which PodCIDR, for learned-route validation.
    SetNodeRoutes(Box<NodeRoutes>),
    /// Our Node started or stopped draining.
    Drain {
        draining: bool,
        node: String,
    },
    /// Every source of neighbours and of our own prefixes has delivered its first state (the
    /// configuration; the first Node list with Kubernetes): End-of-RIB may now go out, and the
    /// kernel routes of a previous run may go once the neighbours have sent theirs.
    StartupComplete,
    /// SIGTERM with a drain period: announce GRACEFUL_SHUTDOWN with these extra prepends until
    /// the daemon closes the sessions.
    ShutdownDrain {
        prepend: u8,
    },
    Query(Query),
}

/// Questions from the admin API.
#[derive(Debug)]
pub(crate) enum Query {
    Neighbors(oneshot::Sender<Vec<NeighborView>>),
    Routes(oneshot::Sender<Vec<RouteView>>),
    Route(Prefix, oneshot::Sender<Vec<PathView>>),
    Ready(oneshot::Sender<bool>),
    /// Bring the RIB's gauges up to date (a `/metrics` scrape is about to render them).
    RefreshMetrics(oneshot::Sender<()>),
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
    /// best, multipath, lost at STEP, next hop unreachable, or (kept as received with soft
    /// reconfiguration inbound) rejected and why.
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

impl PeerEntry {
    /// The session is up and the neighbour has sent End-of-RIB for every negotiated family.
    fn end_of_rib_received(&self) -> bool {
        self.negotiated
            .as_ref()
            .is_some_and(|n| n.families.iter().all(|f| self.eor_received.contains(f)))
    }

    /// The session is up, and the neighbour has sent End-of-RIB for every family or is one
    /// whose End-of-RIB RFC 4724 §4.1 does not wait for: it did not advertise graceful restart
    /// (it may not send one) or it is restarting itself (R bit).
    fn awaited_table_received(&self) -> bool {
        let Some(negotiated) = &self.negotiated else {
            return false;
        };
        let awaited = negotiated
            .peer_graceful_restart
            .as_ref()
            .is_some_and(|gr| !gr.restart_state);
        !awaited || self.end_of_rib_received()
    }

    /// Asks the neighbour to send its table again (RFC 2918), for every negotiated family, when
    /// its session negotiated route refresh (it must not be asked otherwise).
    fn request_refresh(&self) {
        let negotiated = self.negotiated.iter().filter(|n| n.route_refresh);
        for family in negotiated.flat_map(|n| n.families.iter()) {
            let _ = self.commands.send(ToPeer::RefreshRequest(*family));
        }
    }
}

pub(crate) struct RibTask {
    pub(crate) rib: Rib,
    peers: HashMap<PeerId, PeerEntry>,
    fib: mpsc::UnboundedSender<FibCommand>,
    metrics: Metrics,
    synced: bool,
    started: Instant,
    originated: BTreeMap<PrefixSource, Vec<OriginateConfig>>,
    node_routes: Option<NodeRoutes>,
    drain_settings: Option<DrainSettings>,
    drain_deadline: Option<(Instant, String)>,
    node_events: Option<mpsc::UnboundedSender<NodeEvent>>,
    /// Until [`ToRib::StartupComplete`] (or this deadline), the neighbour set and our own
    /// prefixes are not known yet.
    startup: Startup,
    /// A restart: no route selection until the initial table exchange is complete (RFC 4724
    /// §4.1), see [`RibTask::defer_selection`].
    defer_selection: bool,
}

/// Whether startup is complete, and the latest it will be.
#[derive(Clone, Copy, Debug)]
enum Startup {
    Pending { deadline: Instant },
    Complete,
}

/// Where originated prefixes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrefixSource {
    /// `[[prefix]]` of the configuration.
    Config,
    /// Our Node's PodCIDRs.
    Kubernetes,
}

/// Which Node owns which PodCIDR, and the ranges learned routes must not touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeRoutes {
    /// Check that a PodCIDR comes from its Node (mesh and route-reflector modes).
    pub(crate) validate_owners: bool,
    /// PodCIDR -> the owning Node's addresses (other Nodes only).
    pub(crate) owners: BTreeMap<bgp_proto::Prefix, Vec<IpAddr>>,
    /// Our own PodCIDRs.
    pub(crate) own_cidrs: Vec<bgp_proto::Prefix>,
    /// The cluster's Service ranges.
    pub(crate) service_cidrs: Vec<bgp_proto::Prefix>,
    /// Prefixes accepted regardless (other clusters, VMs).
    pub(crate) allowed: Vec<bgp_proto::Prefix>,
}

/// The longest speakerd waits at start for its neighbours and own prefixes to be known (the
/// Kubernetes API server may be unreachable) before it sends End-of-RIB with what it has: the
/// default graceful-restart time, after which peers drop our stale routes anyway.
const STARTUP_LIMIT: Duration = Duration::from_secs(120);

/// How the node drains.
#[derive(Clone, Debug)]
pub(crate) struct DrainSettings {
    pub(crate) seconds: u64,
    pub(crate) prepend: u8,
}

impl RibTask {
    pub(crate) fn new(rib: Rib, fib: mpsc::UnboundedSender<FibCommand>, metrics: Metrics) -> Self {
        let started = Instant::now();
        Self {
            rib,
            peers: HashMap::new(),
            fib,
            metrics,
            synced: false,
            started,
            originated: BTreeMap::new(),
            node_routes: None,
            drain_settings: None,
            drain_deadline: None,
            node_events: None,
            startup: Startup::Pending {
                deadline: started + STARTUP_LIMIT,
            },
            defer_selection: false,
        }
    }

    /// We are the restarting speaker of RFC 4724 §4.1 (the kernel still holds our previous
    /// run's routes): route selection is deferred until our own prefixes and neighbours are
    /// known and every neighbour whose End-of-RIB we wait for has sent it, or until
    /// [`STARTUP_LIMIT`] (the Selection_Deferral_Timer). Meanwhile UPDATEs are only stored:
    /// the kernel keeps the previous routes, the neighbours keep ours as stale, and nothing is
    /// advertised, so the first selection sees the whole table and its changes to the kernel
    /// and to the neighbours are only real ones, followed by End-of-RIB.
    pub(crate) fn defer_selection(&mut self) {
        self.defer_selection = true;
    }

    /// Where to report what the operator should see on our Node (Kubernetes Events).
    pub(crate) fn set_node_events(&mut self, events: mpsc::UnboundedSender<NodeEvent>) {
        self.node_events = Some(events);
    }

    fn node_event(&self, event: NodeEvent) {
        if let Some(events) = &self.node_events {
            let _ = events.send(event);
        }
    }

    fn peer_by_address(&self, address: IpAddr) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, p)| p.config.address == address)
            .map(|(id, _)| *id)
    }

    /// Originates what a source wants now and withdraws what no source wants any more.
    pub(crate) fn set_prefixes(&mut self, source: PrefixSource, prefixes: Vec<OriginateConfig>) {
        let before: Vec<OriginateConfig> = self.originated.values().flatten().cloned().collect();
        self.originated.insert(source, prefixes);
        let after: Vec<OriginateConfig> = self.originated.values().flatten().cloned().collect();
        for old in &before {
            if !after.iter().any(|p| p.prefix == old.prefix) {
                self.rib.withdraw_originated(old.prefix);
            }
        }
        for p in &after {
            if before.contains(p) {
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
    }

    /// Drain (RFC 8326): re-announce our routes with GRACEFUL_SHUTDOWN and prepends, and after
    /// the drain period close every session with Cease 6/2 "node drained: NAME". Ending the drain
    /// restores normal announcements and restarts the sessions.
    fn drain(&mut self, draining: bool, node: String) {
        let Some(settings) = self.drain_settings.clone() else {
            return;
        };
        if draining {
            info!(%node, seconds = settings.seconds, "node is draining: announcing GRACEFUL_SHUTDOWN");
            self.rib.set_graceful_shutdown(Some(settings.prepend));
            self.drain_deadline =
                Some((Instant::now() + Duration::from_secs(settings.seconds), node));
            self.node_event(NodeEvent::DrainStarted {
                seconds: settings.seconds,
            });
        } else {
            info!(%node, "node no longer draining: normal announcements");
            self.rib.set_graceful_shutdown(None);
            self.drain_deadline = None;
            self.node_event(NodeEvent::DrainEnded);
            for p in self.peers.values() {
                let _ = p.commands.send(ToPeer::Resume);
            }
        }
    }

    fn drain_expired(&mut self) {
        let Some((_, node)) = self.drain_deadline.take() else {
            return;
        };
        let message = format!("node drained: {node}");
        info!(%message, "closing every session");
        for p in self.peers.values() {
            let _ = p.commands.send(ToPeer::Stop(message.clone()));
        }
        self.node_event(NodeEvent::Drained { message });
    }

    /// Learned-route validation of the Kubernetes integration: routes that overlap our own
    /// PodCIDRs or the Service ranges are refused from anyone; in mesh and route-reflector modes
    /// a route for a PodCIDR is accepted only with a next hop of the Node that owns it (or when
    /// the prefix is on the allow-list). Refused routes are withdrawn and counted.
    fn validate(&self, update: &Update) -> Option<(Update, Update)> {
        let routes = self.node_routes.as_ref()?;
        let next_hop = update
            .mp_reach
            .as_ref()
            .map(|r| match r.next_hop {
                bgp_proto::NextHop::V4(a) => IpAddr::V4(a),
                bgp_proto::NextHop::V6 { global, .. } => IpAddr::V6(global),
            })
            .or(update.attributes.next_hop.map(IpAddr::V4));
        let verdict = |prefix: &bgp_proto::Prefix| -> Option<&'static str> {
            if routes.allowed.iter().any(|a| a.contains(prefix)) {
                return None;
            }
            let overlaps = |p: &bgp_proto::Prefix| p.contains(prefix) || prefix.contains(p);
            if routes.own_cidrs.iter().any(overlaps) || routes.service_cidrs.iter().any(overlaps) {
                return Some("overlaps-cluster");
            }
            if routes.validate_owners {
                match routes.owners.get(prefix) {
                    Some(addresses) if next_hop.is_some_and(|nh| addresses.contains(&nh)) => {}
                    Some(_) => return Some("wrong-next-hop"),
                    None => return Some("no-such-node"),
                }
            }
            None
        };
        let refused: Vec<(bgp_proto::Family, bgp_proto::Nlri, &'static str)> = update
            .announced()
            .filter_map(|(f, n)| verdict(&n.prefix).map(|why| (f, *n, why)))
            .collect();
        if refused.is_empty() {
            return None;
        }
        for (_, n, why) in &refused {
            warn!(prefix = %n.prefix, reason = why, "learned route refused by Node validation");
            self.metrics
                .kubernetes_routes_rejected
                .with_label_values(&[why])
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
            if family == bgp_proto::Family::IPV4_UNICAST {
                withdraw.withdrawn.push(nlri);
            } else {
                withdraw
                    .mp_unreach
                    .get_or_insert_with(|| bgp_proto::MpUnreach {
                        family,
                        withdrawn: Vec::new(),
                    })
                    .withdrawn
                    .push(nlri);
            }
        }
        Some((kept, withdraw))
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

    /// Enables the drain sequence with these settings.
    pub(crate) fn set_drain_settings(&mut self, settings: DrainSettings) {
        self.drain_settings = Some(settings);
    }

    /// Runs until every sender is gone.
    pub(crate) async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<ToRib>) {
        loop {
            let next_flush = self
                .peers
                .values()
                .filter_map(|p| p.stale_until)
                .chain(self.drain_deadline.as_ref().map(|(t, _)| *t))
                .chain(match self.startup {
                    Startup::Pending { deadline } => Some(deadline),
                    Startup::Complete => None,
                })
                // The limit of the initial sync and of a selection deferral (the startup
                // deadline too, so reaching it completes startup first).
                .chain(
                    (!self.synced || self.defer_selection).then_some(self.started + STARTUP_LIMIT),
                )
                .min();
            let message = tokio::select! {
                m = inbox.recv() => m,
                _ = async { match next_flush { Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await, None => std::future::pending().await } } => {
                    self.flush_expired_stale();
                    if self.drain_deadline.as_ref().is_some_and(|(t, _)| *t <= Instant::now()) {
                        self.drain_expired();
                    }
                    if matches!(self.startup, Startup::Pending { deadline } if deadline <= Instant::now()) {
                        warn!(seconds = STARTUP_LIMIT.as_secs(), "neighbours or own prefixes still unknown; sending End-of-RIB with what is known");
                        self.startup = Startup::Complete;
                    }
                    self.after_batch();
                    continue;
                }
            };
            let Some(message) = message else { return };
            self.handle(message);
            // Take what is already queued, up to a bound, before running the decision once:
            // the kernel and the neighbours hear of a full table in steps, not at its end.
            for _ in 1..MAX_BATCH {
                let Ok(message) = inbox.try_recv() else { break };
                self.handle(message);
            }
            self.after_batch();
            // Let the FIB and neighbour tasks take this batch's results before the next one
            // (a busy channel never makes `recv` yield by itself).
            tokio::task::yield_now().await;
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
                self.rib.set_add_path(peer, negotiated.context.add_path_tx);
                self.rib
                    .peer_up(peer, negotiated.peer_id, negotiated.context.four_octet_as);
                if let Some(p) = self.peers.get(&peer) {
                    self.node_event(NodeEvent::SessionUp {
                        neighbor: p.config.address,
                        asn: p.config.remote_asn,
                    });
                }
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.negotiated = Some(negotiated);
                    p.established_at = Some(Instant::now());
                    p.ready_to_send = true;
                    p.eor_sent = false;
                    p.eor_received.clear();
                }
            }
            // A connection that never got Established (e.g. the loser of a collision) leaves the
            // neighbour's Established session, if any, alone.
            ToRib::PeerDown { down, .. } if !down.was_established => {}
            ToRib::PeerDown { peer, down } => {
                let retain: Vec<Family> = down
                    .retain_stale
                    .as_ref()
                    .map(|r| r.families.clone())
                    .unwrap_or_default();
                self.rib.peer_down(peer, &retain);
                if let Some(p) = self.peers.get(&peer) {
                    self.node_event(NodeEvent::SessionDown {
                        neighbor: p.config.address,
                        asn: p.config.remote_asn,
                        reason: down.reason.to_string(),
                    });
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
            ToRib::Update {
                peer,
                update,
                ticket,
            } => {
                self.apply_update(peer, &update);
                // Applied: out of the neighbour's backlog (its socket may be read again).
                drop(ticket);
            }
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
                        if p.negotiated.is_some() {
                            self.node_event(NodeEvent::SessionDown {
                                neighbor: address,
                                asn: p.config.remote_asn,
                                reason: "neighbor removed (Cease 6/3 sent)".into(),
                            });
                        }
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
                    let mut import_changed = false;
                    if let Some(p) = self.peers.get_mut(&id) {
                        import_changed = p.config.import != import;
                        p.config.import = import;
                        p.config.export = export;
                    }
                    if import_changed {
                        self.reapply_import(id);
                    }
                    info!(%address, "neighbor policies reloaded");
                }
            }
            ToRib::SetPrefixes(source, prefixes) => self.set_prefixes(source, prefixes),
            ToRib::SetNodeRoutes(routes) => {
                let first = self.node_routes.is_none();
                self.node_routes = Some(*routes);
                if !first {
                    // Routes refused under the old Node list may be valid now (and accepted
                    // ones invalid): have every neighbour send its table again.
                    for p in self.peers.values() {
                        p.request_refresh();
                    }
                }
            }
            ToRib::Drain { draining, node } => self.drain(draining, node),
            ToRib::StartupComplete => self.startup = Startup::Complete,
            ToRib::ShutdownDrain { prepend } => {
                info!(prepend, "shutting down: announcing GRACEFUL_SHUTDOWN first");
                self.rib.set_graceful_shutdown(Some(prepend));
            }
            ToRib::Query(query) => self.answer(query),
        }
    }

    /// Applies a changed import policy to what the neighbour sent before: to the routes kept as
    /// received with soft reconfiguration inbound, otherwise by asking it for a route refresh
    /// (RFC 2918), which a neighbour without the capability cannot be asked for.
    fn reapply_import(&mut self, peer: PeerId) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let address = p.config.address;
        if p.config.soft_reconfiguration_inbound {
            match self.rib.reimport(peer) {
                Ok(outcome) => info!(
                    %address,
                    accepted = outcome.accepted,
                    rejected = outcome.rejected.iter().map(|(_, n)| n).sum::<u32>(),
                    "import policy applied to the routes kept as received"
                ),
                Err(exceeded) => self.prefix_limit_exceeded(peer, exceeded),
            }
        } else if p.negotiated.as_ref().is_some_and(|n| !n.route_refresh) {
            warn!(%address, "the neighbour does not support route refresh and soft_reconfiguration_inbound is off: the new import policy applies only to the routes it sends from now on");
        } else {
            p.request_refresh();
        }
    }

    /// A neighbour went over a prefix limit: stop its session with Cease 6/1 (RFC 4486).
    fn prefix_limit_exceeded(&self, peer: PeerId, exceeded: rib::MaxPrefixExceeded) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        warn!(peer = %entry.config.address, %exceeded, "prefix limit exceeded: stopping the session");
        let reason = StopReason::MaxPrefixes {
            family: exceeded.family,
            limit: exceeded.limit,
        };
        let _ = entry.commands.send(ToPeer::Cease(reason));
    }

    fn apply_update(&mut self, peer: PeerId, update: &Update) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        let labels = [
            entry.config.address.to_string(),
            entry.config.remote_asn.to_string(),
        ];
        // One counter update per family, not per prefix (a label lookup costs more than the
        // RIB's work for a prefix).
        let mut announced: Vec<(Family, u64)> = Vec::new();
        for (family, _) in update.announced() {
            match announced.iter_mut().find(|(f, _)| *f == family) {
                Some((_, count)) => *count += 1,
                None => announced.push((family, 1)),
            }
        }
        for (family, count) in announced {
            self.metrics
                .prefixes_received
                .with_label_values(&[&labels[0], &labels[1], &family.to_string()])
                .inc_by(count);
        }
        let validated = self.validate(update);
        if let Some((_, withdraw)) = &validated {
            let _ = self.rib.apply_update(peer, withdraw);
        }
        let update = validated.as_ref().map_or(update, |(kept, _)| kept);
        match self.rib.apply_update(peer, update) {
            Ok(outcome) => {
                for family in outcome.warnings {
                    warn!(peer = %labels[0], %family, "prefix count reached the warning threshold");
                }
                if !update.discarded.is_empty() || update.treat_as_withdraw.is_some() {
                    warn!(peer = %labels[0], treat_as_withdraw = ?update.treat_as_withdraw, discarded = update.discarded.len(), "malformed UPDATE handled per RFC 7606");
                }
            }
            Err(exceeded) => self.prefix_limit_exceeded(peer, exceeded),
        }
    }

    fn after_batch(&mut self) {
        let limit_passed = self.started.elapsed() >= STARTUP_LIMIT;
        let startup_done = matches!(self.startup, Startup::Complete);
        if self.defer_selection {
            // RFC 4724 §4.1: the restarting speaker defers route selection.
            if !startup_done || !(self.awaited_tables_received() || limit_passed) {
                return;
            }
            self.defer_selection = false;
            info!(
                seconds = self.started.elapsed().as_secs_f64(),
                "route selection deferral ended"
            );
        }
        let exchanged = self.initial_sync_done();
        let sync_now = !self.synced && startup_done && (exchanged || limit_passed);
        let changes = self.rib.run_decision();
        if !changes.is_empty() {
            let _ = self.fib.send(FibCommand::Apply(changes));
        }
        self.push_updates();
        if sync_now {
            self.synced = true;
            let seconds = self.started.elapsed().as_secs_f64();
            if exchanged {
                info!(seconds, "initial table exchange complete");
            } else {
                let waiting: Vec<String> = self
                    .peers
                    .values()
                    .filter(|p| !p.dynamic && !p.end_of_rib_received())
                    .map(|p| p.config.address.to_string())
                    .collect();
                warn!(seconds, ?waiting, "initial table exchange incomplete; going on without these neighbours' End-of-RIB");
            }
            let _ = self.fib.send(FibCommand::Synced);
        }
    }

    /// Every configured neighbour is up and has sent End-of-RIB for all its families: the
    /// previous run's leftover kernel routes may go, and `/readyz` says ready.
    fn initial_sync_done(&self) -> bool {
        self.peers
            .values()
            .filter(|p| !p.dynamic)
            .all(|p| p.negotiated.is_some() && p.end_of_rib_received())
    }

    /// Every configured neighbour is up and has sent End-of-RIB, except those RFC 4724 §4.1
    /// does not wait for: route selection may start after a restart.
    fn awaited_tables_received(&self) -> bool {
        self.peers
            .values()
            .filter(|p| !p.dynamic)
            .all(PeerEntry::awaited_table_received)
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
            if !p.eor_sent && matches!(self.startup, Startup::Complete) {
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
                let _ = reply.send(views);
            }
            Query::Route(prefix, reply) => {
                let paths = self.rib.explain(&prefix).into_iter().map(|p| {
                    let status = match p.status {
                        PathStatus::Best => "best".into(),
                        PathStatus::Multipath => "multipath".into(),
                        PathStatus::Lost(step) => format!("lost at {step}"),
                        PathStatus::Unreachable => "next hop unreachable".into(),
                    };
                    self.path_view(p.peer, &p.attrs, status, p.stale)
                });
                // Routes kept as received (soft reconfiguration inbound) and refused.
                let rejected = self.rib.rejected(&prefix).into_iter().map(|r| {
                    let status = match r.reason {
                        RejectReason::AsPathLoop => "rejected: AS path loop",
                        RejectReason::ReflectionLoop => "rejected: reflection loop",
                        RejectReason::Policy => "rejected by import policy",
                        RejectReason::Protected => "rejected: protected prefix",
                        RejectReason::Malformed => "rejected: malformed",
                    };
                    self.path_view(r.peer, &r.attrs, status.into(), false)
                });
                let _ = reply.send(paths.chain(rejected).collect());
            }
            Query::Ready(reply) => {
                let _ = reply.send(self.synced);
            }
            Query::RefreshMetrics(reply) => {
                self.update_metrics();
                let _ = reply.send(());
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
            self.peers.get(&peer).map_or_else(
                || format!("peer {}", peer.0),
                |p| p.config.address.to_string(),
            )
        }
    }
}
