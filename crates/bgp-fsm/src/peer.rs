//! One neighbour's connections and their collision detection (RFC 4271 §6.8).
//!
//! A neighbour may have two connections at once: the one we opened and the one it opened. The
//! [`Peer`] runs a [`Session`] for each, and as soon as one of them has the peer's OPEN (and so
//! its BGP Identifier) while the other is past Connect/Active, it keeps the connection opened by
//! the side with the higher BGP Identifier and closes the other with Cease 6/7.
//!
//! A connection that arrives while a session is Established is refused, unless the peer
//! negotiated graceful restart: then the new connection is the restarted peer, and the old
//! session goes down as a transport failure (so its routes are kept as stale, RFC 4724 §4.2) and
//! the new one takes over: at once when the old session was the incoming one, once the new
//! session has the peer's OPEN when it was the outgoing one.
//!
//! A connection that arrives while the incoming session is not Established replaces it: the old
//! one is closed with Cease 6/7. A neighbour opens one connection to us at a time, so a newer
//! one means it gave up the older one, whose transport may be half-open (the peer vanished) and
//! would otherwise refuse the neighbour until its hold timer ran out (docs/adr/0005).
//!
//! Because an old and a new transport can both be Incoming, every [`PeerAction`] names the
//! transport it is for by a generation: [`Peer::accept`] returns the new incoming transport's,
//! and each [`Action::Connect`] starts a new outgoing generation.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::SessionConfig;
use bgp_proto::{Family, RouteRefresh};
use bytes::Bytes;

use crate::session::{Action, Event, NotEstablished, Session, State, StopReason};

/// Which of a neighbour's connections an event or action belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionId {
    /// The connection we open (absent for passive neighbours).
    Outgoing,
    /// The connection the neighbour opened.
    Incoming,
}

/// An action of one of the neighbour's sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAction {
    /// The connection it is for.
    pub connection: ConnectionId,
    /// The transport of that connection it is for: the generation [`Peer::accept`] returned for
    /// an incoming one; for the outgoing one, that of the [`Action::Connect`] that opened it
    /// (the Connect carries the new generation). A replaced transport's last actions (its Cease
    /// and Close) come after the newer transport exists, so carry every action out on the
    /// transport it names, and drop those naming a transport already gone.
    pub generation: u64,
    /// What to do.
    pub action: Action,
}

/// A neighbour: up to two sessions and the collision resolution between them.
#[derive(Debug)]
pub struct Peer {
    config: SessionConfig,
    outgoing: Option<Session>,
    incoming: Option<Session>,
    actions: VecDeque<PeerAction>,
    started: bool,
    /// The outgoing session gave way to the incoming one and waits for it to end.
    outgoing_yielded: bool,
    /// Until when a [`Peer::cease`] with a restart time holds the neighbour down: its
    /// connections are refused (RFC 4271 §8.2.2: Idle refuses incoming connections, and the
    /// IdleHoldTimer of §8.1.1 keeps the session Idle) and none is opened.
    held_until: Option<Instant>,
    /// The generation of the latest outgoing transport (one per Connect).
    outgoing_generation: u64,
    /// The generation of the latest incoming transport (one per accepted connection).
    incoming_generation: u64,
}

impl Peer {
    /// A stopped neighbour with this configuration.
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            outgoing: None,
            incoming: None,
            actions: VecDeque::new(),
            started: false,
            outgoing_yielded: false,
            held_until: None,
            outgoing_generation: 0,
            incoming_generation: 0,
        }
    }

    /// The session of a connection, if it exists.
    pub fn session(&self, connection: ConnectionId) -> Option<&Session> {
        match connection {
            ConnectionId::Outgoing => self.outgoing.as_ref(),
            ConnectionId::Incoming => self.incoming.as_ref(),
        }
    }

    fn session_mut(&mut self, connection: ConnectionId) -> Option<&mut Session> {
        match connection {
            ConnectionId::Outgoing => self.outgoing.as_mut(),
            ConnectionId::Incoming => self.incoming.as_mut(),
        }
    }

    /// The connection whose session is Established, if any.
    pub fn established(&self) -> Option<ConnectionId> {
        [ConnectionId::Outgoing, ConnectionId::Incoming]
            .into_iter()
            .find(|c| {
                self.session(*c)
                    .is_some_and(|s| s.state() == State::Established)
            })
    }

    /// The most advanced state of the neighbour's sessions (for status and metrics).
    pub fn state(&self) -> State {
        [self.outgoing.as_ref(), self.incoming.as_ref()]
            .into_iter()
            .flatten()
            .map(Session::state)
            .max()
            .unwrap_or(State::Idle)
    }

    /// ManualStart: opens the outgoing connection, unless the neighbour is passive.
    pub fn start(&mut self, now: Instant) {
        self.started = true;
        self.held_until = None;
        if !self.config.passive {
            let session = self
                .outgoing
                .get_or_insert_with(|| Session::new(self.config.clone()));
            session.handle(Event::ManualStart, now);
        }
        self.collect(now);
    }

    /// ManualStop with an optional RFC 9003 message: Cease 6/2 on every connection.
    pub fn stop(&mut self, message: Option<String>, now: Instant) {
        self.started = false;
        self.outgoing_yielded = false;
        self.held_until = None;
        for connection in [ConnectionId::Outgoing, ConnectionId::Incoming] {
            if let Some(s) = self.session_mut(connection) {
                s.handle(Event::ManualStop(message.clone()), now);
            }
        }
        self.collect(now);
    }

    /// Stops every connection for good with this Cease (e.g. 6/3 Peer De-configured): nothing
    /// restarts by itself, not even the outgoing connection that gave way in a collision.
    pub fn shutdown(&mut self, reason: StopReason, now: Instant) {
        self.started = false;
        self.outgoing_yielded = false;
        for connection in [ConnectionId::Outgoing, ConnectionId::Incoming] {
            if let Some(s) = self.session_mut(connection) {
                let stop = Event::AutomaticStop {
                    reason: reason.clone(),
                    restart_after: None,
                };
                s.handle(stop, now);
            }
        }
        self.collect(now);
    }

    /// AutomaticStop of the Established (or most advanced) session with this Cease; the
    /// neighbour starts again by itself after `restart_after`, and is held down until then
    /// whichever connection was the Established one: its connections are refused (RFC 4271
    /// §8.2.2, Idle) and the outgoing session waits for its IdleHoldTimer (§8.1.1), also when
    /// it had given way to the incoming one. RFC 4486 §4 leaves the wait to the operator; a
    /// neighbour taken back at once would send the same flood again at once.
    pub fn cease(&mut self, reason: StopReason, restart_after: std::time::Duration, now: Instant) {
        self.held_until = Some(now + restart_after);
        self.outgoing_yielded = false;
        for connection in [ConnectionId::Outgoing, ConnectionId::Incoming] {
            if let Some(s) = self.session_mut(connection) {
                let restart = (connection == ConnectionId::Outgoing).then_some(restart_after);
                s.handle(
                    Event::AutomaticStop {
                        reason: reason.clone(),
                        restart_after: restart,
                    },
                    now,
                );
            }
        }
        self.collect(now);
    }

    /// The neighbour connected to us: the generation of the new incoming transport when the
    /// connection is taken (its session is in OpenSent already), `None` when it must be closed.
    ///
    /// Refused while stopped or held down by a [`Peer::cease`], and while a session is Established unless the neighbour
    /// negotiated graceful restart (RFC 4724 §4.2: it has restarted). Otherwise the connection
    /// takes the incoming slot from the session there, if any: an Established one (graceful
    /// restart) ends as if its transport failed, so its routes are kept as stale; one not yet
    /// Established is closed with Cease 6/7, as a collision loser (RFC 4271 §6.8). The old
    /// session's last actions name its own generation.
    pub fn accept(&mut self, now: Instant) -> Option<u64> {
        if !self.started || self.held_until.is_some_and(|until| now < until) {
            return None;
        }
        // An Established session refuses, unless the neighbour can restart gracefully.
        let blocks = |s: &Option<Session>| {
            s.as_ref().is_some_and(|s| {
                s.state() == State::Established
                    && s.negotiated()
                        .is_none_or(|n| n.peer_graceful_restart.is_none())
            })
        };
        if blocks(&self.outgoing) || blocks(&self.incoming) {
            return None;
        }
        if let Some(old) = self.incoming.as_mut() {
            let event = if old.state() == State::Established {
                Event::TcpConnectionFails
            } else {
                Event::AutomaticStop {
                    reason: StopReason::ConnectionCollision,
                    restart_after: None,
                }
            };
            old.handle(event, now);
            self.drain(ConnectionId::Incoming);
            // Removed without `collect`: the outgoing session, if it gave way to the old
            // incoming one, keeps waiting, now for the new one.
            self.incoming = None;
        }
        let mut config = self.config.clone();
        config.passive = true;
        config.automatic_restart = false;
        let mut session = Session::new(config);
        session.handle(Event::ManualStart, now);
        session.handle(Event::TcpConnectionConfirmed, now);
        self.incoming_generation += 1;
        self.incoming = Some(session);
        self.resolve(now);
        self.collect(now);
        Some(self.incoming_generation)
    }

    /// Feeds an event to one connection's session.
    pub fn handle(&mut self, connection: ConnectionId, event: Event, now: Instant) {
        if let Some(s) = self.session_mut(connection) {
            s.handle(event, now);
        }
        self.resolve(now);
        self.collect(now);
    }

    /// Sends pre-encoded UPDATEs on the Established session.
    pub fn send_updates(&mut self, messages: Bytes, now: Instant) -> Result<(), NotEstablished> {
        self.with_established(now, |s| s.send_updates(messages, now))
    }

    /// Sends End-of-RIB for a family on the Established session (RFC 4724 §2).
    pub fn send_end_of_rib(&mut self, family: Family, now: Instant) -> Result<(), NotEstablished> {
        self.with_established(now, |s| s.send_end_of_rib(family, now))
    }

    /// Sends a ROUTE-REFRESH on the Established session.
    pub fn send_route_refresh(
        &mut self,
        refresh: RouteRefresh,
        now: Instant,
    ) -> Result<(), NotEstablished> {
        self.with_established(now, |s| s.send_route_refresh(refresh, now))
    }

    fn with_established(
        &mut self,
        now: Instant,
        send: impl FnOnce(&mut Session) -> Result<(), NotEstablished>,
    ) -> Result<(), NotEstablished> {
        let state = self.state();
        let connection = self.established().ok_or(NotEstablished(state))?;
        let session = self.session_mut(connection).ok_or(NotEstablished(state))?;
        let result = send(session);
        self.collect(now);
        result
    }

    /// Fires expired timers of both sessions.
    pub fn handle_timeout(&mut self, now: Instant) {
        for connection in [ConnectionId::Outgoing, ConnectionId::Incoming] {
            if let Some(s) = self.session_mut(connection) {
                s.handle_timeout(now);
            }
        }
        self.resolve(now);
        self.collect(now);
    }

    /// The earliest deadline of both sessions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.outgoing.as_ref(), self.incoming.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(Session::poll_timeout)
            .min()
    }

    /// The next action of either session.
    pub fn poll_action(&mut self) -> Option<PeerAction> {
        self.actions.pop_front()
    }

    /// Moves a session's actions to the queue, each naming its transport's generation.
    fn drain(&mut self, connection: ConnectionId) {
        let (session, generation) = match connection {
            ConnectionId::Outgoing => (self.outgoing.as_mut(), &mut self.outgoing_generation),
            ConnectionId::Incoming => (self.incoming.as_mut(), &mut self.incoming_generation),
        };
        let Some(session) = session else { return };
        while let Some(action) = session.poll_action() {
            if action == Action::Connect {
                *generation += 1;
            }
            self.actions.push_back(PeerAction {
                connection,
                generation: *generation,
                action,
            });
        }
    }

    fn collect(&mut self, now: Instant) {
        for connection in [ConnectionId::Outgoing, ConnectionId::Incoming] {
            self.drain(connection);
        }
        if self
            .incoming
            .as_ref()
            .is_some_and(|s| s.state() == State::Idle)
        {
            self.incoming = None;
            if self.outgoing_yielded && self.started {
                self.outgoing_yielded = false;
                if let Some(s) = self.outgoing.as_mut() {
                    s.handle(Event::AutomaticStart, now);
                    // Its Connect goes out now, not with whatever call comes next.
                    self.drain(ConnectionId::Outgoing);
                }
            }
        }
    }

    /// RFC 4271 §6.8: once one session knows the peer's BGP Identifier and both are past
    /// Connect/Active, only one may live.
    fn resolve(&mut self, now: Instant) {
        let (Some(out), Some(inc)) = (&self.outgoing, &self.incoming) else {
            return;
        };
        let (o, i) = (out.state(), inc.state());
        if i == State::Established && o < State::OpenSent && !self.outgoing_yielded {
            // The neighbour's connection is up: stop connecting (the peer would refuse every
            // attempt, a reconnection storm) until it ends.
            self.outgoing_yielded = true;
            if let Some(s) = self.outgoing.as_mut() {
                s.handle(
                    Event::AutomaticStop {
                        reason: StopReason::ConnectionCollision,
                        restart_after: None,
                    },
                    now,
                );
            }
            return;
        }
        let live = |s: State| s >= State::OpenSent;
        let knows_id = |s: State| s >= State::OpenConfirm;
        if !(live(o) && live(i) && (knows_id(o) || knows_id(i))) {
            return;
        }
        let loser = if o == State::Established {
            if i < State::OpenConfirm {
                return;
            }
            let graceful = out
                .negotiated()
                .is_some_and(|n| n.peer_graceful_restart.is_some());
            if graceful {
                // The peer restarted: the old session ends as if its transport failed.
                if let Some(s) = self.outgoing.as_mut() {
                    s.handle(Event::TcpConnectionFails, now);
                    s.handle(
                        Event::AutomaticStop {
                            reason: StopReason::ConnectionCollision,
                            restart_after: None,
                        },
                        now,
                    );
                }
                self.outgoing_yielded = true;
                return;
            }
            ConnectionId::Incoming
        } else if i == State::Established {
            ConnectionId::Outgoing
        } else {
            let peer_id = out
                .negotiated()
                .or(inc.negotiated())
                .map(|n| n.peer_id)
                .unwrap_or(self.config.local_id);
            // The connection opened by the side with the higher identifier survives.
            if self.config.local_id < peer_id {
                ConnectionId::Outgoing
            } else {
                ConnectionId::Incoming
            }
        };
        if loser == ConnectionId::Outgoing {
            self.outgoing_yielded = true;
        }
        if let Some(s) = self.session_mut(loser) {
            s.retract_open_keepalive();
            s.handle(
                Event::AutomaticStop {
                    reason: StopReason::ConnectionCollision,
                    restart_after: None,
                },
                now,
            );
        }
    }
}
