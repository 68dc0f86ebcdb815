//! One task per neighbour: it owns the neighbour's [`Peer`] state machine and its connections,
//! drives the state machine the way quinn drives a connection (one sleep until the next
//! deadline, reset after every event, then drain the actions), and talks to the control task over
//! channels.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_fsm::{Action, ConnectionId, Event, Peer, State, StopReason};
use bgp_proto::mrt::Bgp4mpPeers;
use bgp_proto::SessionContext;
use bytes::Bytes;
use rib::PeerId;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::backlog::Backlog;
use crate::config::NeighborConfig;
use crate::control::{neighbor_went_down, session_config, shutdown_without_notification};
use crate::control_task::ToControl;
use crate::message_log::{self, MessageLog};
use crate::metrics::Metrics;
use crate::msg::{Input, LocalAddresses, PeerCommand};
use crate::transport::{apply_ttl, spawn_connect, ConnEvent, Connection, SocketOptions};

/// What a neighbour's task is sent.
#[derive(Debug)]
pub(crate) enum ToPeer {
    /// A command of the control core.
    Command(PeerCommand),
    /// The neighbour connected to us.
    Accept(TcpStream),
}

/// What the task needs besides the neighbour's configuration.
#[derive(Clone)]
pub(crate) struct PeerContext {
    pub(crate) local_as: u32,
    pub(crate) router_id: std::net::Ipv4Addr,
    pub(crate) to_control: mpsc::UnboundedSender<ToControl>,
    pub(crate) metrics: Metrics,
    pub(crate) started: Instant,
    /// speakerd started with the kernel routes of a previous run in place: it is a restarting
    /// speaker (RFC 4724 §4.1) and sets the Restart State bit in the sessions it starts with.
    pub(crate) restarting: bool,
    /// Turns true when the daemon shuts down.
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
    /// Where BMP messages go (RFC 7854), when collectors are configured.
    pub(crate) bmp: Option<crate::bmp::BmpHub>,
}

/// The RFC 4271 §8.2.2 number of a state (`bgp_peer_state`, MRT state changes, RFC 6396
/// §4.4.1).
fn state_number(state: State) -> u16 {
    match state {
        State::Idle => 1,
        State::Connect => 2,
        State::Active => 3,
        State::OpenSent => 4,
        State::OpenConfirm => 5,
        State::Established => 6,
    }
}

/// How long a neighbour stopped for exceeding its prefix limit stays down.
const MAX_PREFIX_RESTART: Duration = Duration::from_secs(300);

/// How long a neighbour whose session we stopped with `reason` is held down (its connections
/// refused, none opened): one over its prefix limit for [`MAX_PREFIX_RESTART`] (RFC 4486 §4:
/// it may come back after a while); one whose BFD session went down (RFC 9384) not at all, so
/// that the session comes back as soon as the neighbour does (held for 5 minutes as well, a
/// neighbour whose BFD session only flapped lost its BGP session for that long).
fn hold_down(reason: &StopReason) -> Duration {
    match reason {
        StopReason::MaxPrefixes { .. } => MAX_PREFIX_RESTART,
        _ => Duration::ZERO,
    }
}

const TYPE_NAMES: [&str; 6] = [
    "unknown",
    "open",
    "update",
    "notification",
    "keepalive",
    "route_refresh",
];

struct PeerTask {
    id: PeerId,
    config: NeighborConfig,
    ctx: PeerContext,
    peer: Peer,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    /// This neighbour's UPDATEs waiting for the control task; reading pauses while there are many.
    backlog: Arc<Backlog>,
    outgoing: Option<Connection>,
    incoming: Option<Connection>,
    /// An incoming connection a newer one replaced, until the Close naming its generation.
    replaced: Option<Connection>,
    connecting: Option<JoinHandle<()>>,
    /// The generation of the outgoing connect in flight.
    connect_generation: u64,
    counted: [bgp_fsm::MessageCounters; 2],
    labels: [String; 2],
    shutting_down: bool,
    /// This neighbour's side of BMP export.
    bmp: Option<crate::bmp::PeerMonitor>,
    /// The earliest arrival of the UPDATEs whose re-advertisement is being written.
    advertised_arrival: Option<Instant>,
    /// The neighbour's MRT message log, when configured.
    message_log: Option<MessageLog>,
    /// The context the last session negotiated, for the log's records: kept past the session's
    /// end, so that what arrived with the NOTIFICATION that ended it is recorded as it was sent.
    log_context: Option<(ConnectionId, u64, SessionContext)>,
}

/// Runs a neighbour until it is shut down.
pub(crate) async fn run(
    id: PeerId,
    config: NeighborConfig,
    ctx: PeerContext,
    commands: mpsc::UnboundedReceiver<ToPeer>,
) {
    let span = info_span!("peer", peer = %config.address, asn = config.remote_asn);
    run_inner(id, config, ctx, commands).instrument(span).await;
}

async fn run_inner(
    id: PeerId,
    config: NeighborConfig,
    ctx: PeerContext,
    mut commands: mpsc::UnboundedReceiver<ToPeer>,
) {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let seed = u64::from(u32::from(ctx.router_id)) ^ (u64::from(id.0) << 32);
    let mut session = session_config(&config, ctx.local_as, ctx.router_id, seed, ctx.restarting);
    // BMP Route Monitoring needs each UPDATE's octets as received (RFC 7854 §4.6).
    session.monitor = ctx.bmp.is_some();
    // The message log needs every received message's octets, whatever it is.
    session.record = config.message_log.is_some();
    let bmp = ctx
        .bmp
        .clone()
        .map(|hub| crate::bmp::PeerMonitor::new(hub, id));
    let labels = [config.address.to_string(), config.remote_asn.to_string()];
    let message_log = config
        .message_log
        .as_ref()
        .map(|c| MessageLog::start(c, [&labels[0], &labels[1]], &ctx.metrics));
    let backlog = Arc::new(Backlog::new(
        ctx.metrics
            .updates_queued
            .with_label_values(&[&labels[0], &labels[1]]),
    ));
    let mut task = PeerTask {
        id,
        peer: Peer::new(session),
        config,
        ctx,
        events_tx,
        backlog,
        outgoing: None,
        incoming: None,
        replaced: None,
        connecting: None,
        connect_generation: 0,
        counted: Default::default(),
        labels,
        shutting_down: false,
        bmp,
        advertised_arrival: None,
        message_log,
        log_context: None,
    };
    // Strict BFD: held until the control core says BFD is Up (PeerCommand::Resume).
    if !task.config.bfd.is_some_and(|b| b.strict) {
        task.peer.start(Instant::now());
    }
    task.publish_state();
    let mut shutdown = task.ctx.shutdown.clone();
    loop {
        task.drain_actions();
        if task.shutting_down && task.peer.state() == State::Idle {
            // Give the writer a moment to flush the NOTIFICATION.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return;
        }
        let deadline = task.peer.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                let now = Instant::now();
                // The neighbour's UPDATEs wait in the RIB's queue, and its socket may not be
                // read meanwhile (flow control): it is not silent, its hold timer restarts.
                if task.backlog.queued() > 0 {
                    if let Some(connection) = task.peer.established() {
                        task.peer.handle(connection, Event::InputPending, now);
                    }
                }
                task.peer.handle_timeout(now);
            }
            Some(event) = events.recv() => task.on_conn_event(event),
            Ok(()) = shutdown.changed(), if !task.shutting_down => {
                if task.graceful_restart_negotiated() {
                    // RFC 4724: we are the restarting speaker. Close without a NOTIFICATION
                    // (the process exit closes the connection) so that the neighbour keeps our
                    // routes, and do not report the session down, so that the RIB keeps the
                    // neighbour's routes in the kernel for the next run to take over.
                    info!("shutting down for a graceful restart: no NOTIFICATION");
                    return;
                }
                task.shutdown(Some("speakerd shutting down".into()));
            }
            command = commands.recv(), if !task.shutting_down => match command {
                Some(command) => task.on_command(command),
                None => task.shutdown(Some("neighbor removed".into())),
            },
        }
    }
}

impl PeerTask {
    fn connection(&self, connection: ConnectionId) -> Option<&Connection> {
        match connection {
            ConnectionId::Outgoing => self.outgoing.as_ref(),
            ConnectionId::Incoming => self.incoming.as_ref(),
        }
    }

    fn slot(&mut self, connection: ConnectionId) -> &mut Option<Connection> {
        match connection {
            ConnectionId::Outgoing => &mut self.outgoing,
            ConnectionId::Incoming => &mut self.incoming,
        }
    }

    /// Whether events of this connection are for the Peer: it is the slot's newest one.
    fn current(&self, connection: ConnectionId, generation: u64) -> bool {
        self.connection(connection)
            .is_some_and(|c| c.generation == generation)
    }

    /// The connection an action names, if it is still open.
    fn transport(&self, connection: ConnectionId, generation: u64) -> Option<&Connection> {
        let replaced = self
            .replaced
            .as_ref()
            .filter(|_| connection == ConnectionId::Incoming);
        self.connection(connection)
            .into_iter()
            .chain(replaced)
            .find(|c| c.generation == generation)
    }

    /// Takes the connection an action names out of its place, to close it.
    fn take_transport(&mut self, connection: ConnectionId, generation: u64) -> Option<Connection> {
        if self.current(connection, generation) {
            self.slot(connection).take()
        } else {
            let replaced = |c: &mut Connection| {
                connection == ConnectionId::Incoming && c.generation == generation
            };
            self.replaced.take_if(replaced)
        }
    }

    /// Applies this neighbour's TTL and GTSM settings to a connection from the shared
    /// listener, as connect does to ours: with GTSM, segments that arrive with a TTL below 255
    /// from here on are dropped, so a neighbour further away never gets Established (RFC 5082).
    /// False (the connection is dropped) when the options cannot be set.
    fn secure_incoming(&self, stream: &TcpStream) -> bool {
        let result = stream.peer_addr().and_then(|remote| {
            apply_ttl(
                &socket2::SockRef::from(stream),
                remote,
                &self.socket_options(),
            )
        });
        if let Err(error) = &result {
            warn!(%error, "incoming connection dropped: cannot set its TTL options");
        }
        result.is_ok()
    }

    fn socket_options(&self) -> SocketOptions {
        let ebgp = self.config.remote_asn != self.ctx.local_as;
        SocketOptions {
            local_address: self.config.local_address,
            ttl: u32::from(
                self.config
                    .multihop_ttl
                    .unwrap_or(if ebgp { 1 } else { 64 }),
            ),
            ttl_security: self.config.ttl_security,
            md5_key: self.config.password.clone(),
        }
    }

    fn on_conn_event(&mut self, event: ConnEvent) {
        let now = Instant::now();
        match event {
            ConnEvent::Connected { generation, stream }
                if generation == self.connect_generation =>
            {
                self.connecting = None;
                debug!("connected");
                self.outgoing = Some(Connection::start(
                    stream,
                    ConnectionId::Outgoing,
                    generation,
                    self.events_tx.clone(),
                    Arc::clone(&self.backlog),
                ));
                self.peer
                    .handle(ConnectionId::Outgoing, Event::TcpCrAcked, now);
            }
            ConnEvent::ConnectFailed { generation, error }
                if generation == self.connect_generation =>
            {
                self.connecting = None;
                debug!(%error, "connect failed");
                self.peer
                    .handle(ConnectionId::Outgoing, Event::TcpConnectionFails, now);
            }
            ConnEvent::Received {
                connection,
                generation,
                data,
                permit,
            } if self.current(connection, generation) => {
                self.peer
                    .handle(connection, Event::BytesReceived(data), now);
                // Decoded: its UPDATEs are counted in the backlog once queued for the RIB,
                // before this task next waits.
                drop(permit);
            }
            ConnEvent::Closed {
                connection,
                generation,
            } if self.current(connection, generation) => {
                *self.slot(connection) = None;
                self.peer.handle(connection, Event::TcpConnectionFails, now);
            }
            ConnEvent::Written {
                connection,
                generation,
                drained,
            } if self.current(connection, generation) => {
                self.peer
                    .handle(connection, Event::SendProgress { drained }, now);
                if drained && self.peer.established() == Some(connection) {
                    // The socket took the UPDATEs re-advertising changes that arrived then.
                    if let Some(arrived) = self.advertised_arrival.take() {
                        self.ctx.metrics.observe_advertisement(arrived, now);
                    }
                    let input = Input::SendBufferDrained { peer: self.id };
                    let _ = self.ctx.to_control.send(ToControl::Input(input));
                }
            }
            ConnEvent::WriteBlocked {
                connection,
                generation,
            } if self.current(connection, generation) => {
                self.peer.handle(connection, Event::SendBlocked, now);
            }
            // Events of connections already replaced.
            _ => {}
        }
    }

    fn on_command(&mut self, command: ToPeer) {
        let now = Instant::now();
        match command {
            ToPeer::Accept(stream) if !self.secure_incoming(&stream) => {}
            ToPeer::Accept(stream) => self.accept(stream, now),
            ToPeer::Command(PeerCommand::Updates(bytes, arrived)) => {
                if self.peer.send_updates(bytes, now).is_err() {
                    // The session went down meanwhile; the core learns it from the Down.
                    debug!("updates dropped: not established");
                } else if let Some(arrived) = arrived {
                    let earliest = self.advertised_arrival.map_or(arrived, |t| t.min(arrived));
                    self.advertised_arrival = Some(earliest);
                }
            }
            ToPeer::Command(PeerCommand::EndOfRib(family)) => {
                let _ = self.peer.send_end_of_rib(family, now);
            }
            ToPeer::Command(PeerCommand::RouteRefresh(refresh)) => {
                let _ = self.peer.send_route_refresh(refresh, now);
            }
            ToPeer::Command(PeerCommand::Deconfigure) => {
                self.shutting_down = true;
                self.peer.shutdown(StopReason::PeerDeconfigured, now);
            }
            ToPeer::Command(PeerCommand::Stop(message)) => self.peer.stop(Some(message), now),
            ToPeer::Command(PeerCommand::Resume) => self.peer.start(now),
            ToPeer::Command(PeerCommand::Cease(reason)) => {
                let hold = hold_down(&reason);
                self.peer.cease(reason, hold, now);
            }
        }
    }

    /// Shutting down, the Established session closes without a NOTIFICATION (RFC 4724).
    fn graceful_restart_negotiated(&self) -> bool {
        self.peer
            .established()
            .and_then(|c| self.peer.session(c))
            .and_then(|s| s.negotiated())
            .is_some_and(|n| {
                shutdown_without_notification(self.config.graceful_restart.is_some(), n)
            })
    }

    /// Takes an incoming connection. One it replaces (the Peer closes an incoming session
    /// that is not Established when a newer connection arrives) is kept aside until the Peer's
    /// Cease and Close for it, which name its generation, are carried out.
    fn accept(&mut self, stream: TcpStream, now: Instant) {
        match self.peer.accept(now) {
            Some(generation) => {
                let incoming = ConnectionId::Incoming;
                let conn = Connection::start(
                    stream,
                    incoming,
                    generation,
                    self.events_tx.clone(),
                    Arc::clone(&self.backlog),
                );
                self.replaced = self.incoming.replace(conn);
            }
            None => debug!("incoming connection refused"),
        }
    }

    fn shutdown(&mut self, message: Option<String>) {
        self.shutting_down = true;
        self.peer.stop(message, Instant::now());
    }

    fn drain_actions(&mut self) {
        // The arrival time of the UPDATEs among these actions (the convergence histograms).
        let now = Instant::now();
        while let Some(pa) = self.peer.poll_action() {
            let (connection, generation) = (pa.connection, pa.generation);
            match pa.action {
                Action::Connect => {
                    self.connect_generation = generation;
                    let remote = SocketAddr::new(self.config.address, self.config.port);
                    let timeout = self.config.connect_retry_time.max(Duration::from_secs(1));
                    if let Some(old) = self.connecting.take() {
                        old.abort();
                    }
                    self.connecting = Some(spawn_connect(
                        remote,
                        self.socket_options(),
                        timeout,
                        generation,
                        self.events_tx.clone(),
                    ));
                }
                Action::Send(bytes) => {
                    self.log_messages(connection, generation, true, &bytes);
                    if let Some(conn) = self.transport(connection, generation) {
                        conn.send(bytes);
                    }
                }
                Action::Close => {
                    if let Some(conn) = self.take_transport(connection, generation) {
                        conn.close();
                    }
                    if connection == ConnectionId::Outgoing && generation == self.connect_generation
                    {
                        if let Some(c) = self.connecting.take() {
                            c.abort();
                        }
                    }
                }
                Action::StateChanged { from, to } => {
                    info!(%from, %to, "state changed");
                    if let Some(log) = &self.message_log {
                        let peers = self.log_peers(connection, generation);
                        log.state_change(peers, state_number(from), state_number(to));
                    }
                    self.publish_state();
                }
                Action::Established(negotiated) => {
                    self.advertised_arrival = None;
                    self.log_context = Some((connection, generation, negotiated.context));
                    let m = &self.ctx.metrics;
                    let l = [self.labels[0].as_str(), self.labels[1].as_str()];
                    m.peer_established_total.with_label_values(&l).inc();
                    m.established_seconds
                        .with_label_values(&l)
                        .set(self.ctx.started.elapsed().as_secs_f64());
                    info!(hold = negotiated.hold_time, families = ?negotiated.families, "established");
                    let local_address = self
                        .transport(connection, generation)
                        .and_then(|c| c.local_address);
                    let local = LocalAddresses {
                        session: local_address,
                        other_family: local_address.and_then(crate::sockopt::other_family_address),
                    };
                    if let Some(bmp) = &mut self.bmp {
                        let conn = match connection {
                            ConnectionId::Outgoing => self.outgoing.as_ref(),
                            ConnectionId::Incoming => self.incoming.as_ref(),
                        }
                        .filter(|c| c.generation == generation);
                        bmp.established(
                            &self.config,
                            &negotiated,
                            self.peer.session(connection),
                            conn.and_then(|c| c.local),
                            conn.and_then(|c| c.remote),
                        );
                    }
                    let input = Input::SessionUp {
                        peer: self.id,
                        negotiated,
                        local,
                    };
                    let _ = self.ctx.to_control.send(ToControl::Input(input));
                }
                Action::Update(mut update) => {
                    // RFC 4271 §6.3: routes whose next hop is our own address are not used.
                    let own = self
                        .transport(connection, generation)
                        .and_then(|c| c.local_address);
                    if let Some(own) = own {
                        // Logged with the other RFC 7606 outcomes when the RIB takes it.
                        update.reject_own_next_hop(own);
                    }
                    let _ = self.ctx.to_control.send(ToControl::Update {
                        input: Input::Update {
                            peer: self.id,
                            update,
                            arrived: now,
                        },
                        ticket: self.backlog.ticket(),
                    });
                }
                Action::EndOfRib(family) => {
                    let l = [
                        self.labels[0].as_str(),
                        self.labels[1].as_str(),
                        &family.to_string(),
                    ];
                    self.ctx
                        .metrics
                        .end_of_rib_seconds
                        .with_label_values(&l)
                        .set(self.ctx.started.elapsed().as_secs_f64());
                    let input = Input::EndOfRib {
                        peer: self.id,
                        family,
                    };
                    let _ = self.ctx.to_control.send(ToControl::Input(input));
                }
                // Only with `record` on, which is for the message log.
                Action::Recorded(message) => {
                    self.log_messages(connection, generation, false, &message);
                }
                // Only with `monitor` on, which is for BMP.
                Action::Received(update) => {
                    if let Some(bmp) = &mut self.bmp {
                        bmp.received(&update);
                    }
                }
                Action::RouteRefresh(refresh) => {
                    let input = Input::RouteRefresh {
                        peer: self.id,
                        refresh,
                    };
                    let _ = self.ctx.to_control.send(ToControl::Input(input));
                }
                Action::Down(down) => {
                    self.count_notification(&down.reason);
                    if !neighbor_went_down(&down, connection, self.peer.established()) {
                        // Both connections reached Established before the collision was
                        // resolved (RFC 4271 §6.8) and this one lost: the neighbour stays up
                        // on the other, which the core was or will be told of.
                        info!(reason = %down.reason, "the other connection of a collision stays Established");
                        self.count_messages(connection);
                        continue;
                    }
                    // What was being written for the session is not timed into the next one.
                    self.advertised_arrival = None;
                    if down.was_established {
                        if let Some(bmp) = &mut self.bmp {
                            bmp.down(&down.reason);
                        }
                        warn!(reason = %down.reason, retain_stale = down.retain_stale.is_some(), "session down");
                    } else {
                        debug!(reason = %down.reason, "session attempt failed");
                    }
                    let input = Input::SessionDown {
                        peer: self.id,
                        down,
                    };
                    let _ = self.ctx.to_control.send(ToControl::Input(input));
                }
            }
            self.count_messages(connection);
        }
    }

    fn count_notification(&self, reason: &bgp_fsm::DownReason) {
        use bgp_proto::notification::code;
        let (metric, code, subcode) = match reason {
            bgp_fsm::DownReason::NotificationReceived(n) => {
                (&self.ctx.metrics.notifications_received, n.code, n.subcode)
            }
            bgp_fsm::DownReason::ErrorSent(n) | bgp_fsm::DownReason::Stopped(n) => {
                (&self.ctx.metrics.notifications_sent, n.code, n.subcode)
            }
            // RFC 4271 §6.5 and RFC 9687 §4: the FSM sent 4/0 or 8/0.
            bgp_fsm::DownReason::HoldTimerExpired => (
                &self.ctx.metrics.notifications_sent,
                code::HOLD_TIMER_EXPIRED,
                0,
            ),
            bgp_fsm::DownReason::SendHoldTimerExpired => (
                &self.ctx.metrics.notifications_sent,
                code::SEND_HOLD_TIMER_EXPIRED,
                0,
            ),
            bgp_fsm::DownReason::TransportFailed => return,
        };
        let (code, subcode) = (code.to_string(), subcode.to_string());
        metric
            .with_label_values(&[&self.labels[0], &self.labels[1], &code, &subcode])
            .inc();
        if let bgp_fsm::DownReason::NotificationReceived(n) = reason {
            warn!(notification = %n, "notification received");
        }
    }

    /// Adds what a session sent and received since the last look to the counters.
    fn count_messages(&mut self, connection: ConnectionId) {
        let Some(session) = self.peer.session(connection) else {
            return;
        };
        let now = session.counters();
        let slot = connection as usize;
        let before = &mut self.counted[slot];
        // A new session starts its counters from zero.
        if now.sent.iter().zip(before.sent.iter()).any(|(n, b)| n < b)
            || now
                .received
                .iter()
                .zip(before.received.iter())
                .any(|(n, b)| n < b)
        {
            *before = Default::default();
        }
        for (i, name) in TYPE_NAMES.iter().enumerate() {
            let labels = [self.labels[0].as_str(), self.labels[1].as_str(), name];
            let sent = now.sent[i] - before.sent[i];
            let received = now.received[i] - before.received[i];
            if sent > 0 {
                self.ctx
                    .metrics
                    .messages_sent
                    .with_label_values(&labels)
                    .inc_by(sent);
            }
            if received > 0 {
                self.ctx
                    .metrics
                    .messages_received
                    .with_label_values(&labels)
                    .inc_by(received);
            }
        }
        *before = now;
    }

    /// The peer header of a message log record of this connection.
    fn log_peers(&self, connection: ConnectionId, generation: u64) -> Bgp4mpPeers {
        let conn = self.transport(connection, generation);
        message_log::peers(
            self.config.remote_asn,
            self.ctx.local_as,
            conn.and_then(|c| c.remote).map(|a| a.ip()),
            conn.and_then(|c| c.local).map(|a| a.ip()),
            self.config.address,
        )
    }

    /// Logs messages of this connection, `sent` or received, in the context its session
    /// negotiated (4-octet AS; ADD-PATH per UPDATE family and direction, RFC 8050 §3), or, before
    /// it negotiated anything, as 4-octet AS without path identifiers.
    fn log_messages(&self, connection: ConnectionId, generation: u64, sent: bool, octets: &Bytes) {
        let Some(log) = &self.message_log else {
            return;
        };
        let context = self
            .peer
            .session(connection)
            .and_then(|s| s.negotiated())
            .map(|n| n.context)
            .or(match self.log_context {
                Some((c, g, ctx)) if c == connection && g == generation => Some(ctx),
                _ => None,
            });
        let peers = self.log_peers(connection, generation);
        log.messages(peers, context, sent, octets);
    }

    fn publish_state(&self) {
        let state = self.peer.state();
        let l = [self.labels[0].as_str(), self.labels[1].as_str()];
        self.ctx
            .metrics
            .peer_state
            .with_label_values(&l)
            .set(i64::from(state_number(state)));
        self.ctx
            .metrics
            .peer_up
            .with_label_values(&l)
            .set(i64::from(state == State::Established));
        let input = Input::StateChanged {
            peer: self.id,
            state,
        };
        let _ = self.ctx.to_control.send(ToControl::Input(input));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BFD Down is no prefix limit: the neighbour is not held down for 5 minutes.
    #[test]
    fn only_a_prefix_limit_holds_the_neighbour_down() {
        let prefix = StopReason::MaxPrefixes {
            family: bgp_proto::Family::IPV4_UNICAST,
            limit: 10,
        };
        assert_eq!(hold_down(&prefix), MAX_PREFIX_RESTART);
        assert_eq!(hold_down(&StopReason::BfdDown), Duration::ZERO);
    }
}
