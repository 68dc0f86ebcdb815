//! The control core: the daemon's decisions, sans-IO. It owns the [`Rib`] and everything that
//! decides what happens to routes and sessions: the neighbours and their lifecycle, the startup
//! gate, RFC 4724 selection deferral, drain (RFC 8326), Node validation as an import rule,
//! export scheduling and End-of-RIB, and the answers to admin queries.
//!
//! It never reads the clock, never sleeps and never touches a socket, the kernel or the API
//! server. The shell drives it the way `bgp-fsm`'s sessions are driven:
//! [`Core::handle`] with an [`Input`] and the time, [`Core::handle_timeout`] when
//! [`Core::poll_timeout`] has passed, then [`Core::poll_output`] until `None`. Inputs handled
//! one after the other form a batch: the decision process runs once, when the outputs are first
//! polled after them, so a burst of UPDATEs costs one decision run and the kernel and the
//! neighbours hear of a full table in steps, not at its end.

mod monitor;
mod neighbor;
mod restart;
mod validate;
mod views;

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp_fsm::{State, StopReason};
use bgp_proto::route_refresh::subtype;
use bgp_proto::{Family, FamilySet, RouteRefresh, SessionContext, Update};
use bytes::BytesMut;
use rib::{encode_updates, PeerId, Rib, RibConfig};
use tracing::{info, warn};

pub use self::monitor::{MonitorCounts, PeerStatistics};
use self::neighbor::Neighbor;
pub use self::neighbor::{
    neighbor_went_down, rib_peer_config, session_config, shutdown_without_notification,
};
use crate::config::diff::{import_reapply, prefix_changes, ImportReapply, SessionFacts};
use crate::config::{Config, NeighborConfig, OriginateConfig};
use crate::metrics::Metrics;
use crate::msg::{
    BfdCommand, DownCause, DrainSettings, FibCommand, Input, NodeEvent, NodeRoutes, Output,
    PeerCommand, PrefixSource,
};

/// The longest speakerd waits at start for its neighbours and own prefixes to be known (the
/// Kubernetes API server may be unreachable) before it sends End-of-RIB with what it has; also
/// the longest a restarted speakerd defers route selection (RFC 4724 §4.1's
/// Selection_Deferral_Timer) and waits for its neighbours' End-of-RIB before removing the
/// previous run's kernel routes. It is the default graceful-restart time, after which peers
/// drop our stale routes anyway.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(120);

/// Whether startup is complete, and the latest it will be.
#[derive(Clone, Copy, Debug)]
enum Startup {
    Pending { deadline: Instant },
    Complete,
}

/// How the core starts.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// The RIB's configuration (AS, router id, cluster id, ECMP, protected prefixes).
    pub rib: RibConfig,
    /// Our prefixes of the configuration.
    pub prefixes: Vec<OriginateConfig>,
    /// We are the restarting speaker of RFC 4724 §4.1 (the kernel still holds our previous
    /// run's routes): route selection is deferred, see [`Core`].
    pub restarting: bool,
    /// The Kubernetes integration is on: drain on cordon with these settings, Node Events.
    pub kubernetes: Option<DrainSettings>,
}

impl CoreSettings {
    /// The settings a configuration implies.
    pub fn from_config(config: &Config, restarting: bool) -> Self {
        let mut rib = RibConfig::new(config.asn, config.router_id);
        rib.cluster_id = config.cluster_id;
        rib.decision.ecmp = config.ecmp;
        rib.protected_prefixes = config.protected_prefixes.clone();
        Self {
            rib,
            prefixes: config.prefixes.clone(),
            restarting,
            kubernetes: config.kubernetes.as_ref().map(|k| DrainSettings {
                seconds: k.drain_seconds,
                prepend: k.drain_prepend,
            }),
        }
    }
}

/// The control core. A restarting speaker (RFC 4724 §4.1, [`CoreSettings::restarting`])
/// defers route selection until our own prefixes and neighbours are known and every neighbour
/// whose End-of-RIB we wait for has sent it, or until [`STARTUP_LIMIT`]: meanwhile UPDATEs are
/// only stored, the kernel keeps the previous routes, the neighbours keep ours as stale and
/// nothing is advertised, so that the first selection sees the whole table and its changes to
/// the kernel and to the neighbours are only real ones, followed by End-of-RIB.
pub struct Core {
    rib: Rib,
    /// Ordered by id, so that the outputs of one batch come in a reproducible order.
    neighbors: BTreeMap<PeerId, Neighbor>,
    metrics: Metrics,
    outputs: VecDeque<Output>,
    /// The time of the latest input or timeout.
    now: Instant,
    started: Instant,
    /// The first full table exchange is done: `/readyz` is true, leftovers were removed.
    synced: bool,
    originated: BTreeMap<PrefixSource, Vec<OriginateConfig>>,
    node_routes: Option<NodeRoutes>,
    /// `Some` with the Kubernetes integration.
    drain_settings: Option<DrainSettings>,
    /// Whether our Node is being drained (cordoned), as last told; it starts undrained.
    node_draining: bool,
    drain_deadline: Option<(Instant, String)>,
    startup: Startup,
    defer_selection: bool,
    /// Inputs arrived since the decision process last ran.
    decision_due: bool,
    /// The earliest arrival of the UPDATEs applied since the decision process last ran (also
    /// across a selection deferral): what the kernel and export outputs of its run carry.
    batch_arrival: Option<Instant>,
}

/// The Cease communication (RFC 9003) of a strict-BFD neighbour held down while BFD is not Up.
pub const BFD_WAIT: &str = "waiting for BFD";

impl Core {
    /// A core started at `now`.
    pub fn new(settings: CoreSettings, metrics: Metrics, now: Instant) -> Self {
        let mut core = Self {
            rib: Rib::new(settings.rib),
            neighbors: BTreeMap::new(),
            metrics,
            outputs: VecDeque::new(),
            now,
            started: now,
            synced: false,
            originated: BTreeMap::new(),
            node_routes: None,
            drain_settings: settings.kubernetes,
            node_draining: false,
            drain_deadline: None,
            startup: Startup::Pending {
                deadline: now + STARTUP_LIMIT,
            },
            defer_selection: settings.restarting,
            decision_due: false,
            batch_arrival: None,
        };
        core.set_prefixes(PrefixSource::Config, settings.prefixes);
        core
    }

    /// The RIB, for tests and the admin answers.
    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// Registers a neighbour (configured, discovered or dynamic) and names it. Its task then
    /// reports its sessions with this id.
    pub fn add_neighbor(&mut self, config: NeighborConfig, dynamic: bool, now: Instant) -> PeerId {
        self.now = now;
        let id = self.rib.add_peer(rib_peer_config(&config));
        // Strict BFD: the BFD session comes first, from the configured local address; the
        // neighbour's task starts held and is resumed on BFD Up.
        if let (Some(settings), Some(local)) =
            (config.bfd.filter(|b| b.strict), config.local_address)
        {
            self.outputs.push_back(Output::Bfd(BfdCommand::Watch {
                peer: id,
                remote: config.address,
                local,
                settings,
            }));
        }
        self.neighbors.insert(id, Neighbor::new(config, dynamic));
        id
    }

    /// Takes one input at `now`.
    pub fn handle(&mut self, input: Input, now: Instant) {
        self.now = now;
        self.decision_due = true;
        match input {
            Input::SessionUp {
                peer,
                negotiated,
                local,
            } => {
                for address in [local.session, local.other_family].into_iter().flatten() {
                    self.rib.set_local_address(peer, address);
                }
                self.rib.set_add_path(peer, negotiated.context.add_path_tx);
                let long_lived: Vec<Family> = negotiated
                    .peer_long_lived
                    .iter()
                    .map(|f| f.family)
                    .collect();
                self.rib.set_long_lived(peer, FamilySet::of(&long_lived));
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    n.stale
                        .session_up(peer, n.config.address, &negotiated, &mut self.rib);
                }
                self.rib.peer_up(
                    peer,
                    negotiated.peer_id,
                    negotiated.context.four_octet_as,
                    FamilySet::of(&negotiated.families),
                );
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    n.up(negotiated, now);
                    let event = NodeEvent::SessionUp {
                        neighbor: n.config.address,
                        asn: n.config.remote_asn,
                    };
                    // RFC 5882 §4.3: BFD follows the session, from our address on it.
                    let bfd = n.config.bfd.zip(local.session).map(|(settings, local)| {
                        BfdCommand::Watch {
                            peer,
                            remote: n.config.address,
                            local,
                            settings,
                        }
                    });
                    self.node_event(event);
                    if let Some(command) = bfd {
                        self.outputs.push_back(Output::Bfd(command));
                    }
                }
            }
            // A connection that never got Established (e.g. the loser of a collision) leaves the
            // neighbour's Established session, if any, alone.
            Input::SessionDown { down, .. } if !down.was_established => {}
            Input::SessionDown { peer, down } => {
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    let retain = down.retain_stale.as_ref();
                    n.stale.session_down(peer, retain, &mut self.rib, now);
                    n.down();
                    let event = NodeEvent::SessionDown {
                        neighbor: n.config.address,
                        asn: n.config.remote_asn,
                        cause: DownCause::Session(down.reason),
                    };
                    self.node_event(event);
                } else {
                    self.rib.peer_down(peer, &[]);
                }
            }
            Input::Update {
                peer,
                update,
                arrived,
            } => {
                self.batch_arrival = Some(self.batch_arrival.map_or(arrived, |t| t.min(arrived)));
                self.apply_update(peer, &update);
            }
            Input::EndOfRib { peer, family } => {
                self.rib.end_of_rib(peer, family);
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    let first = !n.eor_received.contains(&family);
                    n.end_of_rib(family);
                    if let Some(since) = n.established_at.filter(|_| first) {
                        self.metrics
                            .end_of_rib_convergence_seconds
                            .with_label_values(&[&family.to_string()])
                            .observe(now.saturating_duration_since(since).as_secs_f64());
                    }
                }
            }
            Input::RouteRefresh { peer, refresh } => match refresh.subtype {
                subtype::NORMAL => self.refresh_requested(peer, refresh.family),
                subtype::BEGIN => self.rib.mark_stale(peer, refresh.family),
                subtype::END => self.rib.end_of_rib(peer, refresh.family),
                // RFC 7313 §5: other subtypes are ignored.
                _ => {}
            },
            Input::SendBufferDrained { peer } => {
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    n.ready_to_send = true;
                }
            }
            Input::StateChanged { peer, state } => {
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    n.state = state;
                }
            }
            Input::BfdDown { peer } => {
                if let Some(n) = self.neighbors.get(&peer) {
                    let strict = n.config.bfd.is_some_and(|b| b.strict);
                    if n.negotiated.is_some() {
                        warn!(neighbor = %n.config.address, "BFD session down: closing the BGP session");
                        self.command(peer, PeerCommand::Cease(StopReason::BfdDown));
                    }
                    if strict {
                        self.command(peer, PeerCommand::Stop(BFD_WAIT.to_string()));
                    }
                }
            }
            Input::BfdUp { peer } => {
                if self
                    .neighbors
                    .get(&peer)
                    .is_some_and(|n| n.config.bfd.is_some_and(|b| b.strict))
                {
                    self.command(peer, PeerCommand::Resume);
                }
            }
            Input::RemoveNeighbor { address } => self.remove_neighbor(address),
            Input::SetPolicies {
                address,
                import,
                export,
            } => self.set_policies(address, import, export),
            Input::SetPrefixes(source, prefixes) => self.set_prefixes(source, prefixes),
            Input::SetNodeRoutes(routes) => {
                let first = self.node_routes.is_none();
                self.node_routes = Some(*routes);
                if !first {
                    // Routes refused under the old Node list may be valid now (and accepted
                    // ones invalid): have every neighbour send its table again.
                    for (id, n) in &self.neighbors {
                        n.request_refresh(*id, &mut self.outputs);
                    }
                }
            }
            Input::NodeDrain { draining, node } => self.drain(draining, node),
            Input::StartupComplete => self.startup = Startup::Complete,
            Input::ShutdownDrain { prepend } => {
                info!(prepend, "shutting down: announcing GRACEFUL_SHUTDOWN first");
                self.rib.set_graceful_shutdown(Some(prepend));
            }
        }
    }

    /// The next time [`Core::handle_timeout`] is due, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.neighbors
            .values()
            .filter_map(|n| n.stale.next_timeout())
            .chain(self.drain_deadline.as_ref().map(|(t, _)| *t))
            .chain(match self.startup {
                Startup::Pending { deadline } => Some(deadline),
                Startup::Complete => None,
            })
            // The limit of the initial sync and of a selection deferral (the startup deadline
            // too, so reaching it completes startup first).
            .chain((!self.synced || self.defer_selection).then_some(self.started + STARTUP_LIMIT))
            .min()
    }

    /// Does what is due at `now`: graceful-restart timers of neighbours (RFC 4724 §4.2), the
    /// end of a drain period, the startup and initial sync limits.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.decision_due = true;
        self.flush_expired_stale(now);
        if self.drain_deadline.as_ref().is_some_and(|(t, _)| *t <= now) {
            self.drain_expired();
        }
        if matches!(self.startup, Startup::Pending { deadline } if deadline <= now) {
            warn!(
                seconds = STARTUP_LIMIT.as_secs(),
                "neighbours or own prefixes still unknown; sending End-of-RIB with what is known"
            );
            self.startup = Startup::Complete;
        }
    }

    /// The next output. After inputs, the first call runs the decision process once for all of
    /// them.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.outputs.is_empty() && std::mem::take(&mut self.decision_due) {
            self.after_batch();
        }
        self.outputs.pop_front()
    }

    fn node_event(&mut self, event: NodeEvent) {
        if self.drain_settings.is_some() {
            self.outputs.push_back(Output::NodeEvent(event));
        }
    }

    fn command(&mut self, peer: PeerId, command: PeerCommand) {
        self.outputs.push_back(Output::Peer { peer, command });
    }

    fn peer_by_address(&self, address: IpAddr) -> Option<PeerId> {
        self.neighbors
            .iter()
            .find(|(_, n)| n.config.address == address)
            .map(|(id, _)| *id)
    }

    fn remove_neighbor(&mut self, address: IpAddr) {
        let Some(id) = self.peer_by_address(address) else {
            return;
        };
        if let Some(n) = self.neighbors.remove(&id) {
            self.command(id, PeerCommand::Deconfigure);
            if n.config.bfd.is_some() {
                self.outputs
                    .push_back(Output::Bfd(BfdCommand::Forget { peer: id }));
            }
            if n.negotiated.is_some() {
                self.node_event(NodeEvent::SessionDown {
                    neighbor: address,
                    asn: n.config.remote_asn,
                    cause: DownCause::Deconfigured,
                });
            }
        }
        self.rib.remove_peer(id);
        info!(%address, "neighbor removed from the configuration");
    }

    fn set_policies(
        &mut self,
        address: IpAddr,
        import: Vec<std::sync::Arc<rib::Policy>>,
        export: Vec<std::sync::Arc<rib::Policy>>,
    ) {
        let Some(id) = self.peer_by_address(address) else {
            return;
        };
        self.rib.set_policies(id, import.clone(), export.clone());
        let mut import_changed = false;
        if let Some(n) = self.neighbors.get_mut(&id) {
            import_changed = n.config.import != import;
            n.config.import = import;
            n.config.export = export;
        }
        if import_changed {
            self.reapply_import(id);
        }
        info!(%address, "neighbor policies reloaded");
    }

    /// Originates what a source wants now and withdraws what no source wants any more.
    fn set_prefixes(&mut self, source: PrefixSource, prefixes: Vec<OriginateConfig>) {
        let before: Vec<OriginateConfig> = self.originated.values().flatten().cloned().collect();
        self.originated.insert(source, prefixes);
        let after: Vec<OriginateConfig> = self.originated.values().flatten().cloned().collect();
        let (withdrawn, originated) = prefix_changes(&before, &after);
        for prefix in withdrawn {
            self.rib.withdraw_originated(prefix);
        }
        for p in originated {
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
        let Some(settings) = self.drain_settings else {
            return;
        };
        if draining == self.node_draining {
            // No change: the first Node list of a Node that is not cordoned ends no drain.
            return;
        }
        if draining {
            info!(%node, seconds = settings.seconds, "node is draining: announcing GRACEFUL_SHUTDOWN");
            self.rib.set_graceful_shutdown(Some(settings.prepend));
            self.drain_deadline = Some((self.now + Duration::from_secs(settings.seconds), node));
            self.node_event(NodeEvent::DrainStarted {
                seconds: settings.seconds,
            });
        } else {
            info!(%node, "node no longer draining: normal announcements");
            self.rib.set_graceful_shutdown(None);
            self.drain_deadline = None;
            self.node_event(NodeEvent::DrainEnded);
            let ids: Vec<PeerId> = self.neighbors.keys().copied().collect();
            for id in ids {
                self.command(id, PeerCommand::Resume);
            }
        }
        self.node_draining = draining;
    }

    fn drain_expired(&mut self) {
        let Some((_, node)) = self.drain_deadline.take() else {
            return;
        };
        let message = format!("node drained: {node}");
        info!(%message, "closing every session");
        let ids: Vec<PeerId> = self.neighbors.keys().copied().collect();
        for id in ids {
            self.command(id, PeerCommand::Stop(message.clone()));
        }
        self.node_event(NodeEvent::Drained { message });
    }

    fn flush_expired_stale(&mut self, now: Instant) {
        for (id, n) in &mut self.neighbors {
            n.stale
                .handle_timeout(*id, n.config.address, &mut self.rib, now);
        }
    }

    /// Applies a changed import policy to what the neighbour sent before: to the routes kept as
    /// received with soft reconfiguration inbound, otherwise by asking it for a route refresh
    /// (RFC 2918), which a neighbour without the capability cannot be asked for.
    fn reapply_import(&mut self, peer: PeerId) {
        let Some(n) = self.neighbors.get(&peer) else {
            return;
        };
        let address = n.config.address;
        let session = match &n.negotiated {
            None => SessionFacts::NotEstablished,
            Some(x) => SessionFacts::Established {
                route_refresh: x.route_refresh,
            },
        };
        match import_reapply(n.config.soft_reconfiguration_inbound, session) {
            ImportReapply::KeptRoutes => match self.rib.reimport(peer) {
                Ok(outcome) => info!(
                    %address,
                    accepted = outcome.accepted,
                    rejected = outcome.rejected.iter().map(|(_, n)| n).sum::<u32>(),
                    "import policy applied to the routes kept as received"
                ),
                Err(exceeded) => self.prefix_limit_exceeded(peer, exceeded),
            },
            ImportReapply::NewRoutesOnly => {
                warn!(%address, "the neighbour does not support route refresh and soft_reconfiguration_inbound is off: the new import policy applies only to the routes it sends from now on");
            }
            ImportReapply::RouteRefresh => n.request_refresh(peer, &mut self.outputs),
            // Without a session the whole table comes through the new chain when it is up.
            ImportReapply::NextSession | ImportReapply::RouteRefreshIfSupported => {}
        }
    }

    /// The neighbour asked for our routes of `family` again (RFC 2918). With enhanced route
    /// refresh (RFC 7313 §4) the answer is framed: a BoRR now, ahead of the routes, and an EoRR
    /// once they have been handed over ([`Core::push_updates`]).
    fn refresh_requested(&mut self, peer: PeerId, family: Family) {
        let Some(n) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let enhanced = n
            .negotiated
            .as_ref()
            .is_some_and(|x| x.enhanced_route_refresh && x.families.contains(&family));
        if enhanced {
            if !n.refresh_ends_due.contains(&family) {
                n.refresh_ends_due.push(family);
            }
            let begin = RouteRefresh {
                family,
                subtype: subtype::BEGIN,
            };
            self.command(peer, PeerCommand::RouteRefresh(begin));
        }
        self.rib.readvertise(peer, family);
    }

    /// A neighbour went over a prefix limit: stop its session with Cease 6/1 (RFC 4486).
    fn prefix_limit_exceeded(&mut self, peer: PeerId, exceeded: rib::MaxPrefixExceeded) {
        let Some(n) = self.neighbors.get(&peer) else {
            return;
        };
        warn!(peer = %n.config.address, %exceeded, "prefix limit exceeded: stopping the session");
        let reason = StopReason::MaxPrefixes {
            family: exceeded.family,
            limit: exceeded.limit,
        };
        self.command(peer, PeerCommand::Cease(reason));
    }

    fn apply_update(&mut self, peer: PeerId, update: &Update) {
        let Some(n) = self.neighbors.get(&peer) else {
            return;
        };
        let labels = [
            n.config.address.to_string(),
            n.config.remote_asn.to_string(),
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
        let validated = self
            .node_routes
            .as_ref()
            .and_then(|routes| validate::node_validation(routes, update, &self.metrics));
        if let Some((_, withdraw)) = &validated {
            let _ = self.rib.apply_update(peer, withdraw);
        }
        let update = validated.as_ref().map_or(update, |(kept, _)| kept);
        match self.rib.apply_update(peer, update) {
            Ok(outcome) => {
                if let Some(n) = self.neighbors.get_mut(&peer) {
                    n.monitor.record(update, &outcome);
                }
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
        let since_start = self.now.saturating_duration_since(self.started);
        let limit_passed = since_start >= STARTUP_LIMIT;
        let startup_done = matches!(self.startup, Startup::Complete);
        if self.defer_selection {
            // RFC 4724 §4.1: the restarting speaker defers route selection.
            if !startup_done || !(self.awaited_tables_received() || limit_passed) {
                return;
            }
            self.defer_selection = false;
            info!(
                seconds = since_start.as_secs_f64(),
                "route selection deferral ended"
            );
        }
        let exchanged = self.initial_sync_done();
        let sync_now = !self.synced && startup_done && (exchanged || limit_passed);
        let changes = self.rib.run_decision();
        let arrived = self.batch_arrival.take();
        if !changes.is_empty() {
            // Uncounted by the kernel writer once it has applied them.
            self.metrics.kernel_routes_pending.add(changes.len() as i64);
            self.outputs
                .push_back(Output::Fib(FibCommand::Apply(changes, arrived)));
        }
        if let Some(arrived) = arrived {
            // The neighbours this run gave changes to export: their next UPDATEs carry them.
            for id in self.rib.peers_with_pending() {
                if let Some(n) = self.neighbors.get_mut(&id) {
                    n.export_arrival.get_or_insert(arrived);
                }
            }
        }
        self.push_updates();
        if sync_now {
            self.synced = true;
            let seconds = since_start.as_secs_f64();
            if exchanged {
                info!(seconds, "initial table exchange complete");
            } else {
                let waiting: Vec<String> = self
                    .neighbors
                    .values()
                    .filter(|n| !n.dynamic && !n.end_of_rib_received())
                    .map(|n| n.config.address.to_string())
                    .collect();
                warn!(seconds, ?waiting, "initial table exchange incomplete; going on without these neighbours' End-of-RIB");
            }
            self.outputs.push_back(Output::Fib(FibCommand::Synced));
        }
    }

    /// Every configured neighbour is up and has sent End-of-RIB for all its families: the
    /// previous run's leftover kernel routes may go, and `/readyz` says ready.
    fn initial_sync_done(&self) -> bool {
        self.neighbors
            .values()
            .filter(|n| !n.dynamic)
            .all(|n| n.negotiated.is_some() && n.end_of_rib_received())
    }

    /// Every configured neighbour is up and has sent End-of-RIB, except those RFC 4724 §4.1
    /// does not wait for: route selection may start after a restart.
    fn awaited_tables_received(&self) -> bool {
        self.neighbors
            .values()
            .filter(|n| !n.dynamic)
            .all(Neighbor::awaited_table_received)
    }

    /// Hands each neighbour whose socket has drained its pending updates, and End-of-RIB once
    /// startup is complete.
    fn push_updates(&mut self) {
        let startup_done = matches!(self.startup, Startup::Complete);
        let ready: Vec<PeerId> = self
            .neighbors
            .iter()
            .filter(|(_, n)| n.ready_to_send && n.negotiated.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            let updates = self.rib.take_updates(id);
            let Some(n) = self.neighbors.get_mut(&id) else {
                continue;
            };
            let Some(negotiated) = &n.negotiated else {
                continue;
            };
            let ctx: SessionContext = negotiated.context;
            let arrived = n.export_arrival.take();
            if !updates.is_empty() {
                let mut out = BytesMut::new();
                match encode_updates(&updates, ctx, &mut out) {
                    Ok(_) => {
                        n.ready_to_send = false;
                        self.outputs.push_back(Output::Peer {
                            peer: id,
                            command: PeerCommand::Updates(out.freeze(), arrived),
                        });
                    }
                    Err(e) => warn!(peer = %n.config.address, error = %e, "cannot encode updates"),
                }
            }
            // The re-advertisements of a route refresh are all in what was just handed over.
            for family in n.refresh_ends_due.drain(..) {
                let end = RouteRefresh {
                    family,
                    subtype: subtype::END,
                };
                self.outputs.push_back(Output::Peer {
                    peer: id,
                    command: PeerCommand::RouteRefresh(end),
                });
            }
            let held_back = self.rib.families_without_next_hop(id);
            for family in &negotiated.families {
                if held_back.contains(*family) && !n.warned_no_next_hop.contains(*family) {
                    n.warned_no_next_hop.insert(*family);
                    warn!(peer = %n.config.address, %family, "routes of this family are not sent to the neighbour: no next hop of the family on the session's interface (RFC 2545 §3); give the interface an address of the family or set next_hop_ipv4/next_hop_ipv6");
                }
            }
            if !n.eor_sent && startup_done {
                n.eor_sent = true;
                for family in &negotiated.families {
                    self.outputs.push_back(Output::Peer {
                        peer: id,
                        command: PeerCommand::EndOfRib(*family),
                    });
                }
            }
        }
    }

    /// The neighbours' states as last reported, for tests.
    pub fn neighbor_state(&self, peer: PeerId) -> Option<State> {
        self.neighbors.get(&peer).map(|n| n.state)
    }

    /// Whether the neighbour has sent End-of-RIB for this family since its session came up.
    pub fn end_of_rib_received_from(&self, peer: PeerId, family: Family) -> bool {
        self.neighbors
            .get(&peer)
            .is_some_and(|n| n.eor_received.contains(&family))
    }
}
