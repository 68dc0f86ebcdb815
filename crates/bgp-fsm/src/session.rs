//! One BGP connection's finite state machine (RFC 4271 §8), sans-IO.
//!
//! The driver feeds [`Event`]s and the current time, fires [`Session::handle_timeout`] at
//! [`Session::poll_timeout`], and carries out every [`Action`] from [`Session::poll_action`]:
//! connect, write bytes, close, and hand established sessions, UPDATEs and downs to the RIB.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bgp_proto::notification::{cease_subcode, code, fsm_subcode};
use bgp_proto::{
    frame_len, DecodeError, Family, Frame, Message, Notification, Open, RouteRefresh,
    SessionContext, Update,
};
use bytes::{Bytes, BytesMut};
use thiserror::Error;

use crate::config::SessionConfig;
use crate::negotiate::{local_open, max_prefix_data, negotiate, Negotiated};
use crate::timer::{Jitter, Timer, TimerTable};

/// The hold time used while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes).
pub const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// The states of RFC 4271 §8.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Refuses connections; waits for a start event.
    Idle,
    /// Waiting for our outgoing TCP connection.
    Connect,
    /// Waiting for the peer to connect.
    Active,
    /// Our OPEN is sent; waiting for the peer's.
    OpenSent,
    /// OPENs exchanged; waiting for the first KEEPALIVE.
    OpenConfirm,
    /// UPDATEs may flow.
    Established,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why we stop a session ourselves; each maps to a Cease subcode (RFC 4486, RFC 8538, RFC 9003).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A family exceeded its prefix limit (6/1, data: AFI, SAFI, limit).
    MaxPrefixes {
        /// The family.
        family: Family,
        /// The configured limit.
        limit: u32,
    },
    /// The operator shut the session down (6/2) with an optional message.
    AdministrativeShutdown(Option<String>),
    /// The neighbour was removed from the configuration (6/3).
    PeerDeconfigured,
    /// The operator reset the session (6/4) with an optional message.
    AdministrativeReset(Option<String>),
    /// This connection lost the collision resolution of RFC 4271 §6.8 (6/7).
    ConnectionCollision,
    /// We ran out of memory or another resource (6/8).
    OutOfResources,
    /// Routes must not be kept across this stop (6/9, RFC 8538).
    HardReset,
    /// A BFD session the BGP session depends on went down (6/10, RFC 9384).
    BfdDown,
}

impl StopReason {
    /// The Cease NOTIFICATION for this reason.
    pub fn notification(&self) -> Notification {
        match self {
            StopReason::MaxPrefixes { family, limit } => Notification::new(
                code::CEASE,
                cease_subcode::MAX_PREFIXES,
                max_prefix_data(*family, *limit),
            ),
            StopReason::AdministrativeShutdown(msg) => {
                cease_message(cease_subcode::ADMINISTRATIVE_SHUTDOWN, msg.as_deref())
            }
            StopReason::PeerDeconfigured => cease(cease_subcode::PEER_DECONFIGURED),
            StopReason::AdministrativeReset(msg) => {
                cease_message(cease_subcode::ADMINISTRATIVE_RESET, msg.as_deref())
            }
            StopReason::ConnectionCollision => cease(cease_subcode::CONNECTION_COLLISION),
            StopReason::OutOfResources => cease(cease_subcode::OUT_OF_RESOURCES),
            StopReason::HardReset => cease(cease_subcode::HARD_RESET),
            StopReason::BfdDown => cease(cease_subcode::BFD_DOWN),
        }
    }
}

fn cease(subcode: u8) -> Notification {
    Notification::new(code::CEASE, subcode, Bytes::new())
}

fn cease_message(subcode: u8, message: Option<&str>) -> Notification {
    match message {
        Some(text) => Notification::cease_with_message(subcode, text),
        None => cease(subcode),
    }
}

/// An input to the state machine; the RFC 4271 §8.1 event each one is appears in its doc.
/// Message events (19-28) are not inputs: the session frames and decodes received bytes itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// ManualStart (Event 1), or ManualStart_with_PassiveTcpEstablishment (Event 4) when the
    /// session is configured passive.
    ManualStart,
    /// AutomaticStart (Events 3 and 5).
    AutomaticStart,
    /// ManualStop (Event 2): Cease 6/2 with an optional RFC 9003 message; no automatic restart.
    ManualStop(Option<String>),
    /// AutomaticStop (Event 8) for this reason; restarts by itself after `restart_after` when
    /// given, otherwise stays Idle until a start event.
    AutomaticStop {
        /// The Cease to send.
        reason: StopReason,
        /// When to start again by itself.
        restart_after: Option<Duration>,
    },
    /// Tcp_CR_Acked (Event 16): our outgoing connection is up.
    TcpCrAcked,
    /// TcpConnectionConfirmed (Event 17): the peer's connection was accepted for this session.
    TcpConnectionConfirmed,
    /// TcpConnectionFails (Event 18).
    TcpConnectionFails,
    /// Bytes read from the transport.
    BytesReceived(Bytes),
    /// Bytes from the peer wait unread because the speaker paused reading (flow control): the
    /// peer is not silent, so in Established the hold timer restarts as for a received
    /// message (RFC 4271 §8.2.2); FRR likewise does not expire it while its input queue holds
    /// the peer's messages.
    InputPending,
    /// The transport has bytes it could not write yet (starts the RFC 9687 SendHoldTimer).
    SendBlocked,
    /// The transport wrote some bytes; `drained` when nothing is left to write.
    SendProgress {
        /// Nothing is left to write.
        drained: bool,
    },
}

/// Why a session went down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// We stopped it (manual or automatic stop) and sent this Cease.
    Stopped(Notification),
    /// The peer stopped sending (4/0 sent).
    HoldTimerExpired,
    /// The peer stopped reading (8/0 sent, RFC 9687).
    SendHoldTimerExpired,
    /// The transport failed or closed.
    TransportFailed,
    /// We found an error in what the peer sent, or it sent something the FSM did not expect,
    /// and sent this NOTIFICATION.
    ErrorSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Stopped(n) => write!(f, "stopped, sent {n}"),
            DownReason::HoldTimerExpired => f.write_str("hold timer expired"),
            DownReason::SendHoldTimerExpired => f.write_str("send hold timer expired"),
            DownReason::TransportFailed => f.write_str("transport failed"),
            DownReason::ErrorSent(n) => write!(f, "error, sent {n}"),
            DownReason::NotificationReceived(n) => write!(f, "received {n}"),
        }
    }
}

/// RFC 4724 §4.2 and RFC 9494 §4.2: which routes of the peer are kept, marked stale, and for
/// how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetainStale {
    /// The families kept for the restart time (those of its Graceful Restart capability; none
    /// when the restart time is 0).
    pub families: Vec<Family>,
    /// The peer's restart time.
    pub restart_time: Duration,
    /// The families of its Long-Lived Graceful Restart capability with a stale time above 0:
    /// when the restart time has passed (at once for a family not in `families`), their
    /// routes are kept as long-lived stale for that long (RFC 9494 §4.2).
    pub long_lived: Vec<(Family, Duration)>,
}

impl RetainStale {
    /// Every family whose routes are kept when the session goes down.
    pub fn kept_families(&self) -> Vec<Family> {
        let mut kept = self.families.clone();
        for (family, _) in &self.long_lived {
            if !kept.contains(family) {
                kept.push(*family);
            }
        }
        kept
    }
}

/// A session left Established, or failed before reaching it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Down {
    /// Why.
    pub reason: DownReason,
    /// The session had been Established: the RIB has routes of this peer.
    pub was_established: bool,
    /// Graceful restart applies: keep the peer's routes as stale instead of removing them.
    pub retain_stale: Option<RetainStale>,
}

/// An output of the state machine for the driver (or, for routes, the RIB) to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer.
    Connect,
    /// Write these bytes (whole messages) to the transport.
    Send(Bytes),
    /// Close the transport (after writing what was sent before).
    Close,
    /// The state changed (for logs and metrics).
    StateChanged {
        /// The previous state.
        from: State,
        /// The new state.
        to: State,
    },
    /// The session is Established with these settings.
    Established(Box<Negotiated>),
    /// A received UPDATE, validated; apply it through `announced()` and `withdrawals()`, which
    /// honour RFC 7606 treat-as-withdraw.
    Update(Box<Update>),
    /// The peer finished sending its table for this family (RFC 4724 §2).
    EndOfRib(Family),
    /// A received UPDATE as its octets, header included, exactly as it came (for BMP Route
    /// Monitoring, RFC 7854 §4.6): only with [`SessionConfig::monitor`], just before the
    /// [`Action::Update`] or [`Action::EndOfRib`] it decoded to.
    Received(Bytes),
    /// A received message as its octets, header included, before it is decoded (so also one
    /// that does not decode): only with [`SessionConfig::record`], just before anything it
    /// leads to.
    Recorded(Bytes),
    /// The peer asked us to re-advertise a family, or marks the start or end of its own
    /// re-advertisement (RFC 7313 BoRR/EoRR, only when enhanced route refresh was negotiated).
    RouteRefresh(RouteRefresh),
    /// The session went down.
    Down(Box<Down>),
}

/// A send was asked of a session that cannot send UPDATEs now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("the session is {0}, not Established")]
pub struct NotEstablished(pub State);

/// One connection's BGP state machine.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    timers: TimerTable,
    jitter: Jitter,
    actions: VecDeque<Action>,
    rx: BytesMut,
    local_open: Open,
    negotiated: Option<Negotiated>,
    /// ConnectRetryCounter (RFC 4271 §8): consecutive failures, also the damping exponent.
    connect_retry_counter: u32,
    established_at: Option<Instant>,
    /// Set by ManualStop: no automatic restart until the next start event.
    stopped_manually: bool,
    send_blocked: bool,
    counters: MessageCounters,
    /// The peer's OPEN as received (the whole message), kept for BMP Peer Up (RFC 7854 §4.10).
    received_open: Option<Bytes>,
}

/// Messages sent and received by type code (index 1 OPEN … 5 ROUTE-REFRESH; 0 counts unknown
/// types), for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounters {
    /// Received messages by type.
    pub received: [u64; 6],
    /// Sent messages by type.
    pub sent: [u64; 6],
}

fn type_slot(message_type: u8) -> usize {
    if (1..=5).contains(&message_type) {
        usize::from(message_type)
    } else {
        0
    }
}

impl Session {
    /// A session in Idle for this configuration.
    pub fn new(config: SessionConfig) -> Self {
        let local_open = local_open(&config);
        let jitter = Jitter::new(config.jitter_seed);
        Self {
            config,
            state: State::Idle,
            timers: TimerTable::default(),
            jitter,
            actions: VecDeque::new(),
            rx: BytesMut::new(),
            local_open,
            negotiated: None,
            connect_retry_counter: 0,
            established_at: None,
            stopped_manually: true,
            send_blocked: false,
            counters: MessageCounters::default(),
            received_open: None,
        }
    }

    /// The OPEN this session sends, as the whole message: the octets it wrote (an OPEN's
    /// encoding depends on nothing negotiated), for BMP Peer Up (RFC 7854 §4.10).
    pub fn sent_open(&self) -> Bytes {
        Message::Open(self.local_open.clone()).to_bytes(&SessionContext::default())
    }

    /// The last OPEN received on this connection, as the whole message exactly as it came
    /// (RFC 7854 §4.10), once one has arrived.
    pub fn received_open(&self) -> Option<&Bytes> {
        self.received_open.as_ref()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// What was negotiated, from OpenConfirm on.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// ConnectRetryCounter: failures since the last stable session.
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// Messages sent and received so far.
    pub fn counters(&self) -> MessageCounters {
        self.counters
    }

    /// The deadline of one timer, for tests and diagnostics.
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Fires every timer whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.take_expired(now) {
            self.on_timer(timer, now);
        }
    }

    /// Feeds one event.
    pub fn handle(&mut self, event: Event, now: Instant) {
        match event {
            Event::ManualStart => {
                self.stopped_manually = false;
                self.connect_retry_counter = 0;
                self.start(now);
            }
            Event::AutomaticStart => {
                self.stopped_manually = false;
                self.start(now);
            }
            Event::ManualStop(message) => {
                self.stopped_manually = true;
                self.connect_retry_counter = 0;
                let n = cease_message(cease_subcode::ADMINISTRATIVE_SHUTDOWN, message.as_deref());
                self.stop(n, None, now);
            }
            Event::AutomaticStop {
                reason,
                restart_after,
            } => {
                self.stop(reason.notification(), restart_after, now);
            }
            Event::TcpCrAcked | Event::TcpConnectionConfirmed => self.on_connected(now),
            Event::TcpConnectionFails => self.on_transport_failed(now),
            Event::BytesReceived(bytes) => self.on_bytes(&bytes, now),
            Event::InputPending => {
                if self.state == State::Established {
                    self.restart_hold(now);
                }
            }
            Event::SendBlocked => {
                self.send_blocked = true;
                if !self.timers.is_running(Timer::SendHold) && self.state >= State::OpenSent {
                    let deadline = now + self.send_hold_time();
                    self.timers.set(Timer::SendHold, deadline);
                }
            }
            Event::SendProgress { drained } => {
                self.send_blocked = !drained;
                if drained {
                    self.timers.stop(Timer::SendHold);
                } else if self.state >= State::OpenSent {
                    let deadline = now + self.send_hold_time();
                    self.timers.set(Timer::SendHold, deadline);
                }
            }
        }
    }

    /// Sends UPDATE messages already encoded for this session (e.g. by
    /// [`bgp_proto::UpdatePacker`]); they count as KEEPALIVEs for the keepalive timer.
    pub fn send_updates(&mut self, messages: Bytes, now: Instant) -> Result<(), NotEstablished> {
        self.require_established()?;
        self.send_bytes(messages, now);
        Ok(())
    }

    /// Sends a ROUTE-REFRESH (a request, or BoRR/EoRR around our own re-advertisement).
    pub fn send_route_refresh(
        &mut self,
        refresh: RouteRefresh,
        now: Instant,
    ) -> Result<(), NotEstablished> {
        self.require_established()?;
        self.send_message(&Message::RouteRefresh(refresh), now);
        Ok(())
    }

    /// Sends the End-of-RIB marker of a family (RFC 4724 §2).
    pub fn send_end_of_rib(&mut self, family: Family, now: Instant) -> Result<(), NotEstablished> {
        self.require_established()?;
        self.send_message(&Message::Update(Update::end_of_rib(family)), now);
        Ok(())
    }

    fn require_established(&self) -> Result<(), NotEstablished> {
        if self.state == State::Established {
            Ok(())
        } else {
            Err(NotEstablished(self.state))
        }
    }

    fn send_hold_time(&self) -> Duration {
        self.config.send_hold_time.unwrap_or_else(|| {
            let hold = self
                .negotiated
                .as_ref()
                .map_or(self.config.hold_time, |n| n.hold_time);
            Duration::from_secs(480).max(Duration::from_secs(2 * u64::from(hold)))
        })
    }

    fn context(&self) -> SessionContext {
        self.negotiated
            .as_ref()
            .map_or_else(SessionContext::modern_ebgp, |n| n.context)
    }

    fn set_state(&mut self, to: State) {
        if to != self.state {
            let from = self.state;
            self.state = to;
            self.actions.push_back(Action::StateChanged { from, to });
        }
    }

    /// RFC 4271 §6.8 and §8.2.2 (OpenCollisionDump, Event 23): this session loses a collision
    /// decided on the OPEN it has just answered. The KEEPALIVE answering that OPEN is taken
    /// back while it is still queued, so the peer never takes this connection for Established;
    /// the caller then stops the session with its Cease.
    pub(crate) fn retract_open_keepalive(&mut self) {
        if self.state != State::OpenConfirm {
            return;
        }
        let keepalive = bgp_proto::message::message_type::KEEPALIVE;
        let is_keepalive = |a: &Action| matches!(a, Action::Send(b) if b.len() == bgp_proto::message::HEADER_LEN && b[18] == keepalive);
        let queued = self.actions.iter().filter(|a| is_keepalive(a)).count();
        self.actions.retain(|a| !is_keepalive(a));
        self.counters.sent[type_slot(keepalive)] -= queued as u64;
    }

    fn send_message(&mut self, message: &Message, now: Instant) {
        let ctx = self.context();
        self.send_bytes(message.to_bytes(&ctx), now);
    }

    fn send_bytes(&mut self, bytes: Bytes, now: Instant) {
        // Count every message of the (possibly multi-message) buffer by walking the headers.
        let mut rest = &bytes[..];
        while rest.len() >= bgp_proto::message::HEADER_LEN {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            self.counters.sent[type_slot(rest[18])] += 1;
            rest = &rest[len.clamp(bgp_proto::message::HEADER_LEN, rest.len())..];
        }
        self.actions.push_back(Action::Send(bytes));
        self.restart_keepalive(now);
    }

    fn restart_keepalive(&mut self, now: Instant) {
        let keepalive = self.negotiated.as_ref().map_or(0, |n| n.keepalive_time);
        if keepalive > 0 && self.state >= State::OpenConfirm {
            let interval = self.jitter.apply(Duration::from_secs(u64::from(keepalive)));
            self.timers.set(Timer::Keepalive, now + interval);
        }
    }

    fn restart_hold(&mut self, now: Instant) {
        match self.negotiated.as_ref().map(|n| n.hold_time) {
            Some(0) => self.timers.stop(Timer::Hold),
            Some(hold) => self
                .timers
                .set(Timer::Hold, now + Duration::from_secs(u64::from(hold))),
            None => self.timers.set(Timer::Hold, now + LARGE_HOLD_TIME),
        }
    }

    fn start_connect_retry(&mut self, now: Instant) {
        let interval = self.jitter.apply(self.config.connect_retry_time);
        self.timers.set(Timer::ConnectRetry, now + interval);
    }

    fn start(&mut self, now: Instant) {
        if self.state != State::Idle {
            return;
        }
        self.timers.stop(Timer::IdleHold);
        self.rx.clear();
        self.negotiated = None;
        if self.config.passive {
            self.set_state(State::Active);
        } else {
            self.start_connect_retry(now);
            self.actions.push_back(Action::Connect);
            self.set_state(State::Connect);
        }
    }

    fn on_connected(&mut self, now: Instant) {
        match self.state {
            State::Connect | State::Active => {
                self.timers.stop(Timer::ConnectRetry);
                if let Some(delay) = self.config.delay_open {
                    // Stay in Connect (or Active) until the peer's OPEN or the timer
                    // (RFC 4271 §8.2.2): a passive session must not move to Connect.
                    self.timers.set(Timer::DelayOpen, now + delay);
                } else {
                    self.send_open(now);
                    self.set_state(State::OpenSent);
                }
            }
            // A connection for a session that is not waiting for one is refused.
            _ => self.actions.push_back(Action::Close),
        }
    }

    fn send_open(&mut self, now: Instant) {
        let open = Message::Open(self.local_open.clone());
        self.send_message(&open, now);
        self.timers.set(Timer::Hold, now + LARGE_HOLD_TIME);
    }

    fn on_transport_failed(&mut self, now: Instant) {
        match self.state {
            State::Idle => {}
            State::Connect if self.timers.is_running(Timer::DelayOpen) => {
                // RFC 4271 §8.2.2: back to Active, try again after ConnectRetry. (In Active,
                // TcpConnectionFails goes to Idle, DelayOpenTimer running or not.)
                self.timers.stop(Timer::DelayOpen);
                self.start_connect_retry(now);
                self.set_state(State::Active);
            }
            State::Connect | State::Active => {
                self.go_idle(None, DownReason::TransportFailed, None, now);
            }
            State::OpenSent if !self.config.passive => {
                // RFC 4271 §8.2.2: OpenSent + TcpConnectionFails goes to Active.
                self.actions.push_back(Action::Close);
                self.timers.stop(Timer::Hold);
                self.start_connect_retry(now);
                self.set_state(State::Active);
            }
            _ => {
                self.go_idle(None, DownReason::TransportFailed, None, now);
            }
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Instant) {
        match (timer, self.state) {
            (Timer::IdleHold, State::Idle) => {
                self.start(now);
            }
            (Timer::ConnectRetry, State::Connect) => {
                // Drop the attempt and try again.
                self.timers.stop(Timer::DelayOpen);
                self.start_connect_retry(now);
                self.actions.push_back(Action::Connect);
            }
            (Timer::ConnectRetry, State::Active) => {
                self.start_connect_retry(now);
                self.actions.push_back(Action::Connect);
                self.set_state(State::Connect);
            }
            (Timer::DelayOpen, State::Connect | State::Active) => {
                self.send_open(now);
                self.set_state(State::OpenSent);
            }
            (Timer::Hold, State::OpenSent | State::OpenConfirm | State::Established) => {
                let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Bytes::new());
                self.go_idle(Some(n), DownReason::HoldTimerExpired, None, now);
            }
            (Timer::SendHold, State::OpenSent | State::OpenConfirm | State::Established) => {
                let n = Notification::new(code::SEND_HOLD_TIMER_EXPIRED, 0, Bytes::new());
                self.go_idle(Some(n), DownReason::SendHoldTimerExpired, None, now);
            }
            (Timer::Keepalive, State::OpenConfirm | State::Established) => {
                self.send_message(&Message::Keepalive, now);
            }
            // A timer that does not apply in this state is simply dropped.
            _ => {}
        }
    }

    fn on_bytes(&mut self, bytes: &[u8], now: Instant) {
        if matches!(self.state, State::Idle) {
            return;
        }
        self.rx.extend_from_slice(bytes);
        loop {
            let ctx = self.context();
            let len = match frame_len(&self.rx, ctx.max_message_len()) {
                Ok(Frame::Complete(len)) => len,
                Ok(Frame::NeedMore(_)) => return,
                Err(e) => {
                    // BGPHeaderErr (Event 21).
                    self.on_error(e.to_notification(), now);
                    return;
                }
            };
            let frame = self.rx.split_to(len).freeze();
            if self.config.record {
                self.actions.push_back(Action::Recorded(frame.clone()));
            }
            let message_type = frame[18];
            self.counters.received[type_slot(message_type)] += 1;
            // Shared, not copied: BMP gets the octets as received (RFC 7854 §4.6, §4.10).
            let raw = match message_type {
                bgp_proto::message::message_type::OPEN => Some(frame.clone()),
                bgp_proto::message::message_type::UPDATE
                    if self.config.monitor && self.state == State::Established =>
                {
                    Some(frame.clone())
                }
                _ => None,
            };
            match Message::decode(frame, &ctx) {
                Ok(message) => {
                    match (&message, raw) {
                        (Message::Open(_), raw) => self.received_open = raw,
                        (Message::Update(_), Some(raw)) => {
                            self.actions.push_back(Action::Received(raw))
                        }
                        _ => {}
                    }
                    self.on_message(message, now)
                }
                // RFC 4271 §8.2.2 and RFC 6608: a message this state does not expect is an FSM
                // error whatever its body holds (e.g. a malformed UPDATE in OpenSent is 5/1, not
                // 3/x); header errors are still reported as such.
                Err(e) if !matches!(e, DecodeError::Header(_)) && !self.expects(message_type) => {
                    self.unexpected(message_type, now)
                }
                Err(e) => self.on_decode_error(&e, now),
            }
            if self.state == State::Idle {
                self.rx.clear();
                return;
            }
        }
    }

    /// Whether a message of this type is an input of the current state (other than a
    /// NOTIFICATION, always expected): OPEN before Established, KEEPALIVE from OpenConfirm on,
    /// UPDATE and ROUTE-REFRESH in Established.
    fn expects(&self, message_type: u8) -> bool {
        use bgp_proto::message::message_type as ty;
        match message_type {
            ty::OPEN => self.state < State::Established,
            ty::KEEPALIVE => self.state >= State::OpenConfirm,
            ty::UPDATE | ty::ROUTE_REFRESH => self.state == State::Established,
            _ => true,
        }
    }

    fn on_decode_error(&mut self, error: &DecodeError, now: Instant) {
        // BGPHeaderErr (21), BGPOpenMsgErr (22), UpdateMsgErr (28).
        self.on_error(error.to_notification(), now);
    }

    /// Sends a NOTIFICATION for an error and goes to Idle (RFC 4271 §8.2.2, all states).
    fn on_error(&mut self, notification: Notification, now: Instant) {
        let reason = DownReason::ErrorSent(notification.clone());
        self.go_idle(Some(notification), reason, None, now);
    }

    /// A message of `message_type` this state does not expect: Finite State Machine Error with
    /// the subcode of the state (RFC 6608 §3) and, for OpenSent, OpenConfirm and Established,
    /// the data RFC 6608 §4 prescribes: the type of the unexpected message, one octet.
    fn unexpected(&mut self, message_type: u8, now: Instant) {
        let (subcode, data) = match self.state {
            State::OpenSent => (fsm_subcode::UNEXPECTED_IN_OPEN_SENT, vec![message_type]),
            State::OpenConfirm => (fsm_subcode::UNEXPECTED_IN_OPEN_CONFIRM, vec![message_type]),
            State::Established => (fsm_subcode::UNEXPECTED_IN_ESTABLISHED, vec![message_type]),
            _ => (fsm_subcode::UNSPECIFIED, Vec::new()),
        };
        self.on_error(
            Notification::new(code::FSM, subcode, Bytes::from(data)),
            now,
        );
    }

    fn on_message(&mut self, message: Message, now: Instant) {
        if let Message::Notification(n) = message {
            // NotifMsg (25) / NotifMsgVerErr (24): no NOTIFICATION in reply.
            self.go_idle(None, DownReason::NotificationReceived(n), None, now);
            return;
        }
        let message_type = message.message_type();
        match (self.state, message) {
            (State::Connect | State::Active, Message::Open(open))
                if self.timers.is_running(Timer::DelayOpen) =>
            {
                // BGPOpen with DelayOpenTimer running (Event 20): answer with OPEN and KEEPALIVE.
                self.timers.stop(Timer::DelayOpen);
                self.timers.stop(Timer::ConnectRetry);
                let ours = Message::Open(self.local_open.clone());
                self.send_message(&ours, now);
                self.accept_open(open, now);
            }
            (State::OpenSent, Message::Open(open)) => {
                self.timers.stop(Timer::ConnectRetry);
                self.accept_open(open, now);
            }
            (State::OpenConfirm, Message::Keepalive) => {
                self.restart_hold(now);
                self.established_at = Some(now);
                self.set_state(State::Established);
                if let Some(n) = &self.negotiated {
                    self.actions
                        .push_back(Action::Established(Box::new(n.clone())));
                }
            }
            (State::Established, Message::Keepalive) => self.restart_hold(now),
            (State::Established, Message::Update(update)) => {
                self.restart_hold(now);
                match update.end_of_rib_family() {
                    Some(family) => self.actions.push_back(Action::EndOfRib(family)),
                    None => self.actions.push_back(Action::Update(Box::new(update))),
                }
            }
            (State::Established, Message::RouteRefresh(refresh)) => {
                self.restart_hold(now);
                self.on_route_refresh(refresh);
            }
            _ => self.unexpected(message_type, now),
        }
    }

    fn on_route_refresh(&mut self, refresh: RouteRefresh) {
        let Some(n) = &self.negotiated else { return };
        let known_family = n.families.contains(&refresh.family);
        let allowed = match refresh.subtype {
            bgp_proto::route_refresh::subtype::NORMAL => n.route_refresh,
            bgp_proto::route_refresh::subtype::BEGIN | bgp_proto::route_refresh::subtype::END => {
                n.enhanced_route_refresh
            }
            // RFC 7313 §5: other subtypes are ignored.
            _ => false,
        };
        // RFC 2918 §4: a request for a family not negotiated is ignored.
        if known_family && allowed {
            self.actions.push_back(Action::RouteRefresh(refresh));
        }
    }

    fn accept_open(&mut self, open: Open, now: Instant) {
        match negotiate(&self.config, &self.local_open, open) {
            Ok(negotiated) => {
                self.negotiated = Some(negotiated);
                self.set_state(State::OpenConfirm);
                self.send_message(&Message::Keepalive, now);
                self.restart_hold(now);
            }
            Err(e) => self.on_error(e.to_notification(), now),
        }
    }

    fn stop(&mut self, notification: Notification, restart_after: Option<Duration>, now: Instant) {
        match self.state {
            // A stop in Idle replaces the pending automatic restart: cancelled, or moved to
            // `restart_after` when the stop says when (a session stopped by hand stays stopped).
            State::Idle => match restart_after {
                Some(delay) if !self.stopped_manually => {
                    self.timers.set(Timer::IdleHold, now + delay);
                }
                _ => self.timers.stop(Timer::IdleHold),
            },
            State::Connect | State::Active => {
                let reason = DownReason::Stopped(notification);
                self.go_idle(None, reason, restart_after, now);
            }
            _ => {
                let reason = DownReason::Stopped(notification.clone());
                self.go_idle(Some(notification), reason, restart_after, now);
            }
        }
    }

    /// Leaves for Idle: optionally sends a NOTIFICATION, closes the transport, reports the
    /// down, and arms the idle hold timer for an automatic restart (DampPeerOscillations).
    fn go_idle(
        &mut self,
        notification: Option<Notification>,
        reason: DownReason,
        restart_after: Option<Duration>,
        now: Instant,
    ) {
        if self.state == State::Idle {
            return;
        }
        if let Some(n) = &notification {
            // NOTIFICATIONs go out before OPEN negotiation is done too.
            let bytes = Message::Notification(n.clone()).to_bytes(&self.context());
            self.counters.sent[type_slot(bgp_proto::message::message_type::NOTIFICATION)] += 1;
            self.actions.push_back(Action::Send(bytes));
        }
        self.actions.push_back(Action::Close);
        let was_established = self.state == State::Established;
        if let Some(since) = self.established_at.take() {
            if now.saturating_duration_since(since) >= self.config.damping.stable_after {
                self.connect_retry_counter = 0;
            }
        }
        if !self.stopped_manually {
            self.connect_retry_counter += 1;
        }
        let retain_stale = if was_established {
            self.retain_stale(&reason)
        } else {
            None
        };
        let restarts_by_itself = !matches!(reason, DownReason::Stopped(_));
        self.timers.stop_all();
        self.rx.clear();
        self.send_blocked = false;
        self.set_state(State::Idle);
        self.actions.push_back(Action::Down(Box::new(Down {
            reason,
            was_established,
            retain_stale,
        })));
        self.negotiated = None;

        // A stop restarts only when it says when; a failure restarts after the idle hold time
        // when automatic restart is configured.
        let delay = match restart_after {
            Some(delay) => Some(delay),
            None if restarts_by_itself
                && self.config.automatic_restart
                && !self.stopped_manually =>
            {
                Some(self.idle_hold_time())
            }
            None => None,
        };
        if let Some(delay) = delay {
            self.timers.set(Timer::IdleHold, now + delay);
        }
    }

    /// The idle hold time: the initial one doubled per consecutive failure, up to the maximum.
    fn idle_hold_time(&self) -> Duration {
        let damping = &self.config.damping;
        let doublings = self.connect_retry_counter.saturating_sub(1).min(16);
        (damping.initial * 2u32.pow(doublings)).min(damping.max)
    }

    /// RFC 4724 §4.2 and RFC 8538 §4: whether the peer's routes are kept as stale.
    fn retain_stale(&self, reason: &DownReason) -> Option<RetainStale> {
        let n = self.negotiated.as_ref()?;
        let gr = n.peer_graceful_restart.as_ref()?;
        let applies = match reason {
            DownReason::TransportFailed | DownReason::HoldTimerExpired => true,
            DownReason::SendHoldTimerExpired => true,
            DownReason::ErrorSent(notification)
            | DownReason::NotificationReceived(notification) => {
                n.graceful_notification && !notification.is_hard_reset()
            }
            DownReason::Stopped(_) => false,
        };
        let families = if gr.restart_time == 0 {
            Vec::new()
        } else {
            n.graceful_restart_families()
        };
        let long_lived: Vec<(Family, Duration)> = n
            .peer_long_lived
            .iter()
            .filter(|f| f.stale_time > 0)
            .map(|f| (f.family, Duration::from_secs(u64::from(f.stale_time))))
            .collect();
        if !applies || (families.is_empty() && long_lived.is_empty()) {
            return None;
        }
        Some(RetainStale {
            families,
            restart_time: Duration::from_secs(u64::from(gr.restart_time)),
            long_lived,
        })
    }
}
