//! The RFC 4271 §8.2.2 state table, row by row: for every state (reached by driving a Session
//! with real events and encoded messages from a fixed start time) and every §8.1 event that
//! applies to this implementation, the next state, the messages sent (NOTIFICATION code and
//! subcode), the Connect/Close/Down actions, and every timer's deadline afterwards.
//!
//! Timer expiries are fired with `handle_timeout` at the exact deadline (after checking that a
//! nanosecond-earlier call does nothing); earlier deadlines are fired first, as a driver would.
//! Where this implementation deliberately departs from the letter of §8.2.2 the row says why.
//! Nothing here reads the real clock except once for the origin `t0`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_fsm::{Action, Event, Session, SessionConfig, State, StopReason, Timer};
use bgp_proto::notification::code;
use bgp_proto::{
    AsPath, Capability, Family, Message, Nlri, Notification, Open, Origin, RouteRefresh,
    SessionContext, Update,
};
use bytes::Bytes;

const SECOND: Duration = Duration::from_secs(1);
/// When non-timer events happen, after the setup at `t0` (so a restarted timer differs from an
/// unchanged one).
const EVENT_AT: Duration = SECOND;

// ---------------------------------------------------------------------------------------------
// Setups: how each state is reached.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    /// A new session.
    Idle,
    /// Idle after a failed connection, IdleHoldTimer running (automatic restart).
    IdleHolding,
    /// ManualStart: connecting, ConnectRetryTimer running.
    Connect,
    /// Connect with DelayOpen: TCP is up, DelayOpenTimer running.
    ConnectDelayOpen,
    /// ManualStart of a passive session: waiting for the peer to connect.
    Active,
    /// Active after the connection failed in OpenSent: ConnectRetryTimer running.
    ActiveRetrying,
    /// Passive with DelayOpen: the peer connected, DelayOpenTimer running.
    ActiveDelayOpen,
    /// Our OPEN sent.
    OpenSent,
    /// The peer's OPEN accepted, our KEEPALIVE sent.
    OpenConfirm,
    /// The peer's KEEPALIVE received.
    Established,
}

/// The six states every event is tried in.
const BASE: [Setup; 6] = [
    Setup::Idle,
    Setup::Connect,
    Setup::Active,
    Setup::OpenSent,
    Setup::OpenConfirm,
    Setup::Established,
];

impl Setup {
    fn state(self) -> State {
        match self {
            Setup::Idle | Setup::IdleHolding => State::Idle,
            Setup::Connect | Setup::ConnectDelayOpen => State::Connect,
            Setup::Active | Setup::ActiveRetrying | Setup::ActiveDelayOpen => State::Active,
            Setup::OpenSent => State::OpenSent,
            Setup::OpenConfirm => State::OpenConfirm,
            Setup::Established => State::Established,
        }
    }

    fn config(self) -> SessionConfig {
        let mut c = SessionConfig::new(65001, Ipv4Addr::new(198, 18, 0, 1), Some(65002));
        // Shorter than every hold deadline, so that SendHoldTimer can fire first.
        c.send_hold_time = Some(Duration::from_secs(60));
        c.jitter_seed = 7;
        match self {
            Setup::Active => c.passive = true,
            Setup::ConnectDelayOpen => c.delay_open = Some(5 * SECOND),
            Setup::ActiveDelayOpen => {
                c.passive = true;
                c.delay_open = Some(5 * SECOND);
            }
            _ => {}
        }
        c
    }

    fn reach(self, t0: Instant) -> Session {
        let mut s = Session::new(self.config());
        let events: Vec<Event> = match self {
            Setup::Idle => vec![],
            Setup::IdleHolding => vec![Event::ManualStart, Event::TcpConnectionFails],
            Setup::Connect | Setup::Active => vec![Event::ManualStart],
            Setup::ConnectDelayOpen | Setup::OpenSent => {
                vec![Event::ManualStart, Event::TcpCrAcked]
            }
            Setup::ActiveRetrying => vec![
                Event::ManualStart,
                Event::TcpCrAcked,
                Event::TcpConnectionFails,
            ],
            Setup::ActiveDelayOpen => vec![Event::ManualStart, Event::TcpConnectionConfirmed],
            Setup::OpenConfirm => vec![
                Event::ManualStart,
                Event::TcpCrAcked,
                Event::BytesReceived(peer_open(65002, 90, [198, 18, 0, 2])),
            ],
            Setup::Established => vec![
                Event::ManualStart,
                Event::TcpCrAcked,
                Event::BytesReceived(peer_open(65002, 90, [198, 18, 0, 2])),
                Event::BytesReceived(keepalive()),
            ],
        };
        for e in events {
            s.handle(e, t0);
        }
        while s.poll_action().is_some() {}
        assert_eq!(s.state(), self.state(), "setup {self:?}");
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Events.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum E {
    ManualStart,
    AutomaticStart,
    ManualStop,
    /// AutomaticStop (Cease 6/3) without a restart time.
    AutomaticStop,
    /// AutomaticStop (Cease 6/3) that restarts after 30 s.
    AutomaticStopRestart,
    TcpCrAcked,
    TcpConnectionConfirmed,
    TcpConnectionFails,
    /// The timer's expiry; SendHold is first armed by SendBlocked at `t0`.
    Expire(Timer),
    Open,
    OpenBadVersion,
    OpenBadPeerAs,
    OpenHoldTime2,
    OpenBadId,
    BadMarker,
    BadLength,
    Keepalive,
    Update,
    MalformedUpdate,
    Notification,
    RouteRefresh,
}

const ALL_EVENTS: [E; 26] = [
    E::ManualStart,
    E::AutomaticStart,
    E::ManualStop,
    E::AutomaticStop,
    E::AutomaticStopRestart,
    E::TcpCrAcked,
    E::TcpConnectionConfirmed,
    E::TcpConnectionFails,
    E::Expire(Timer::ConnectRetry),
    E::Expire(Timer::Hold),
    E::Expire(Timer::Keepalive),
    E::Expire(Timer::DelayOpen),
    E::Expire(Timer::IdleHold),
    E::Expire(Timer::SendHold),
    E::Open,
    E::OpenBadVersion,
    E::OpenBadPeerAs,
    E::OpenHoldTime2,
    E::OpenBadId,
    E::BadMarker,
    E::BadLength,
    E::Keepalive,
    E::Update,
    E::MalformedUpdate,
    E::Notification,
    E::RouteRefresh,
];

const MESSAGES: [E; 12] = [
    E::Open,
    E::OpenBadVersion,
    E::OpenBadPeerAs,
    E::OpenHoldTime2,
    E::OpenBadId,
    E::BadMarker,
    E::BadLength,
    E::Keepalive,
    E::Update,
    E::MalformedUpdate,
    E::Notification,
    E::RouteRefresh,
];

fn peer_open(asn: u32, hold: u16, id: [u8; 4]) -> Bytes {
    let caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::EnhancedRouteRefresh,
    ];
    Message::Open(Open::new(asn, hold, Ipv4Addr::from(id), caps))
        .to_bytes(&SessionContext::modern_ebgp())
}

fn keepalive() -> Bytes {
    Message::Keepalive.to_bytes(&SessionContext::modern_ebgp())
}

fn message_bytes(e: E) -> Bytes {
    let ctx = SessionContext::modern_ebgp();
    match e {
        E::Open => peer_open(65002, 90, [198, 18, 0, 2]),
        E::OpenBadVersion => {
            let mut b = peer_open(65002, 90, [198, 18, 0, 2]).to_vec();
            b[19] = 3;
            b.into()
        }
        E::OpenBadPeerAs => peer_open(65003, 90, [198, 18, 0, 2]),
        E::OpenHoldTime2 => peer_open(65002, 2, [198, 18, 0, 2]),
        E::OpenBadId => peer_open(65002, 90, [0, 0, 0, 0]),
        E::BadMarker => {
            let mut b = keepalive().to_vec();
            b[3] = 0;
            b.into()
        }
        E::BadLength => {
            let mut b = keepalive().to_vec();
            b[17] = 18;
            b.into()
        }
        E::Keepalive => keepalive(),
        E::Update => {
            let mut update = Update::default();
            update.attributes.origin = Some(Origin::Igp);
            update.attributes.as_path = Some(AsPath::from_sequence(vec![65002]));
            update.attributes.next_hop = Some("198.18.0.2".parse().unwrap());
            update.nlri = vec![Nlri::new("10.244.1.0/24".parse().unwrap())];
            Message::Update(update).to_bytes(&ctx)
        }
        E::MalformedUpdate => {
            // The Total Path Attribute Length overruns the message (3/1 when an UPDATE is
            // expected; RFC 7606 §4 keeps this one a session reset).
            let mut b = vec![0xff; 16];
            b.extend_from_slice(&[0, 27, 2, 0, 0, 0, 8, 0x40, 1, 1, 0]);
            b.into()
        }
        E::Notification => {
            Message::Notification(Notification::new(code::CEASE, 2, Bytes::new())).to_bytes(&ctx)
        }
        E::RouteRefresh => {
            Message::RouteRefresh(RouteRefresh::request(Family::IPV4_UNICAST)).to_bytes(&ctx)
        }
        other => panic!("{other:?} is not a message"),
    }
}

// ---------------------------------------------------------------------------------------------
// Expectations.

/// A message the session sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Open,
    Keepalive,
    /// NOTIFICATION code/subcode.
    N(u8, u8),
}

/// An action other than Send and StateChanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fx {
    Connect,
    Close,
    Down,
    Established,
    Update,
    RouteRefresh,
}

/// A timer's deadline after the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dl {
    /// Exactly this long after the event.
    After(Duration),
    /// RFC 4271 §10 jitter: between 75 % and 100 % of this after the event.
    Jittered(Duration),
    /// The deadline it had before the event.
    Unchanged,
}

#[derive(Clone, Debug)]
struct Expect {
    /// `None`: the state does not change.
    next: Option<State>,
    sent: Vec<Sent>,
    fx: Vec<Fx>,
    /// Timers not listed must be stopped (unless `all_unchanged`).
    timers: Vec<(Timer, Dl)>,
    all_unchanged: bool,
    /// The event is a timer expiry and that timer never runs in this state.
    not_armed: bool,
}

impl Expect {
    fn sends(mut self, sent: &[Sent]) -> Self {
        self.sent = sent.to_vec();
        self
    }
    fn fx(mut self, fx: &[Fx]) -> Self {
        self.fx = fx.to_vec();
        self
    }
    fn t(mut self, timer: Timer, dl: Dl) -> Self {
        self.timers.push((timer, dl));
        self
    }
}

fn to(state: State) -> Expect {
    Expect {
        next: Some(state),
        sent: vec![],
        fx: vec![],
        timers: vec![],
        all_unchanged: false,
        not_armed: false,
    }
}

/// No state change, nothing sent, no action, every timer as it was.
fn ignored() -> Expect {
    Expect {
        next: None,
        all_unchanged: true,
        ..to(State::Idle)
    }
}

/// The timer does not run in this state, so its expiry cannot happen.
fn not_armed() -> Expect {
    Expect {
        not_armed: true,
        ..ignored()
    }
}

/// To Idle after sending this NOTIFICATION, restarting after the first idle hold time (1 s).
fn err(code: u8, subcode: u8) -> Expect {
    to(State::Idle)
        .sends(&[Sent::N(code, subcode)])
        .fx(&[Fx::Close, Fx::Down])
        .t(Timer::IdleHold, Dl::After(SECOND))
}

/// To Idle without a NOTIFICATION, restarting after the first idle hold time.
fn failed() -> Expect {
    to(State::Idle)
        .fx(&[Fx::Close, Fx::Down])
        .t(Timer::IdleHold, Dl::After(SECOND))
}

/// To Idle after a stop, with this Cease (or none before OPEN), no automatic restart.
fn stopped(cease: Option<u8>) -> Expect {
    let sent: Vec<Sent> = cease.map(|s| Sent::N(code::CEASE, s)).into_iter().collect();
    to(State::Idle).sends(&sent).fx(&[Fx::Close, Fx::Down])
}

const RETRY: Duration = Duration::from_secs(120);
const LARGE_HOLD: Duration = Duration::from_secs(240);
const HOLD: Duration = Duration::from_secs(90);
const KEEPALIVE: Duration = Duration::from_secs(30);

fn open_sent() -> Expect {
    to(State::OpenSent)
        .sends(&[Sent::Open])
        .t(Timer::Hold, Dl::After(LARGE_HOLD))
}

fn open_confirm(sent: &[Sent]) -> Expect {
    to(State::OpenConfirm)
        .sends(sent)
        .t(Timer::Hold, Dl::After(HOLD))
        .t(Timer::Keepalive, Dl::Jittered(KEEPALIVE))
}

fn connecting() -> Expect {
    to(State::Connect)
        .fx(&[Fx::Connect])
        .t(Timer::ConnectRetry, Dl::Jittered(RETRY))
}

// ---------------------------------------------------------------------------------------------
// The table.

fn rows() -> Vec<(Setup, E, Expect)> {
    use Setup as S;
    use State::*;
    let mut rows: Vec<(Setup, E, Expect)> = Vec::new();
    let mut row = |s: Setup, e: E, x: Expect| rows.push((s, e, x));
    let fsm = code::FSM;
    let cease_shutdown = Some(2);
    let cease_deconfigured = Some(3);
    let restart_30 = |x: Expect| x.t(Timer::IdleHold, Dl::After(30 * SECOND));

    // --- Idle: refuses connections, ignores everything but start events.
    row(S::Idle, E::ManualStart, connecting());
    row(S::Idle, E::AutomaticStart, connecting());
    row(S::Idle, E::ManualStop, ignored());
    row(S::Idle, E::AutomaticStop, ignored());
    // A session never started (or stopped by hand) is not restarted by an AutomaticStop.
    row(S::Idle, E::AutomaticStopRestart, ignored());
    // §8.2.2 ignores events 16/17 in Idle; the connection itself is refused (closed).
    row(S::Idle, E::TcpCrAcked, ignored().fx(&[Fx::Close]));
    row(
        S::Idle,
        E::TcpConnectionConfirmed,
        ignored().fx(&[Fx::Close]),
    );
    row(S::Idle, E::TcpConnectionFails, ignored());
    for t in Timer::ALL {
        row(S::Idle, E::Expire(t), not_armed());
    }
    for m in MESSAGES {
        row(S::Idle, m, ignored());
    }
    // Idle with the IdleHoldTimer of DampPeerOscillations running.
    row(S::IdleHolding, E::Expire(Timer::IdleHold), connecting());
    row(S::IdleHolding, E::ManualStart, connecting());
    row(S::IdleHolding, E::AutomaticStart, connecting());
    // Departure: §8.2.2 ignores stops in Idle; here a stop cancels the pending automatic
    // restart, or moves it to the stop's own restart time.
    row(S::IdleHolding, E::ManualStop, to(Idle));
    row(S::IdleHolding, E::AutomaticStop, to(Idle));
    row(
        S::IdleHolding,
        E::AutomaticStopRestart,
        restart_30(to(Idle)),
    );
    row(
        S::IdleHolding,
        E::TcpConnectionConfirmed,
        ignored().fx(&[Fx::Close]),
    );
    row(S::IdleHolding, E::Keepalive, ignored());

    // --- Connect (no TCP connection yet; ConnectRetryTimer running).
    for s in [S::Connect, S::Active] {
        row(s, E::ManualStart, ignored());
        row(s, E::AutomaticStart, ignored());
        row(s, E::ManualStop, stopped(None));
        // Departure: §8.2.2 sends AutomaticStop in Connect/Active to Idle with the usual
        // automatic restart; here an AutomaticStop restarts only when it gives restart_after.
        row(s, E::AutomaticStop, stopped(None));
        row(s, E::AutomaticStopRestart, restart_30(stopped(None)));
        row(s, E::TcpCrAcked, open_sent());
        row(s, E::TcpConnectionConfirmed, open_sent());
        // §8.2.2: to Idle (ConnectRetryCounter + 1); the automatic restart after the idle hold
        // time is DampPeerOscillations.
        row(s, E::TcpConnectionFails, failed());
        for t in [
            Timer::Hold,
            Timer::Keepalive,
            Timer::DelayOpen,
            Timer::IdleHold,
            Timer::SendHold,
        ] {
            row(s, E::Expire(t), not_armed());
        }
        // Messages without a connection, or before DelayOpen (event 19 without DelayOpenTimer,
        // 26-28): §8.2.2 drops the connection without a NOTIFICATION; we send FSM Error
        // 5/0 (RFC 6608 "unspecified", the subcode for states other than OpenSent/OpenConfirm/
        // Established). OPEN errors and header errors get their own NOTIFICATION (events 21/22,
        // SendNOTIFICATIONwithoutOPEN).
        row(s, E::Open, err(fsm, 0));
        row(s, E::OpenBadVersion, err(code::OPEN_MESSAGE, 1));
        // The peer AS, hold time and identifier are checked only on an OPEN the state expects.
        row(s, E::OpenBadPeerAs, err(fsm, 0));
        row(s, E::OpenHoldTime2, err(fsm, 0));
        row(s, E::OpenBadId, err(fsm, 0));
        row(s, E::BadMarker, err(code::MESSAGE_HEADER, 1));
        row(s, E::BadLength, err(code::MESSAGE_HEADER, 2));
        row(s, E::Keepalive, err(fsm, 0));
        row(s, E::Update, err(fsm, 0));
        row(s, E::MalformedUpdate, err(fsm, 0));
        // NotifMsg: to Idle, never a NOTIFICATION in reply.
        row(s, E::Notification, failed());
        row(s, E::RouteRefresh, err(fsm, 0));
    }
    row(S::Connect, E::Expire(Timer::ConnectRetry), connecting());
    // Departure: a passive session (ManualStart_with_PassiveTcpEstablishment) does not arm the
    // ConnectRetryTimer, so it never connects out by itself.
    row(S::Active, E::Expire(Timer::ConnectRetry), not_armed());

    // Connect with DelayOpen: TCP up, DelayOpenTimer running, ConnectRetryTimer stopped.
    row(
        S::ConnectDelayOpen,
        E::Expire(Timer::DelayOpen),
        open_sent(),
    );
    row(
        S::ConnectDelayOpen,
        E::Expire(Timer::ConnectRetry),
        not_armed(),
    );
    // Event 20: OPEN and KEEPALIVE in reply.
    row(
        S::ConnectDelayOpen,
        E::Open,
        open_confirm(&[Sent::Open, Sent::Keepalive]),
    );
    row(
        S::ConnectDelayOpen,
        E::OpenBadPeerAs,
        err(code::OPEN_MESSAGE, 2).sends(&[Sent::Open, Sent::N(code::OPEN_MESSAGE, 2)]),
    );
    // §8.2.2: back to Active, ConnectRetryTimer restarted.
    row(
        S::ConnectDelayOpen,
        E::TcpConnectionFails,
        to(Active).t(Timer::ConnectRetry, Dl::Jittered(RETRY)),
    );
    row(S::ConnectDelayOpen, E::ManualStop, stopped(None));
    row(S::ConnectDelayOpen, E::Keepalive, err(fsm, 0));
    row(S::ConnectDelayOpen, E::Notification, failed());

    // Active after OpenSent lost its connection: ConnectRetryTimer running.
    row(
        S::ActiveRetrying,
        E::Expire(Timer::ConnectRetry),
        connecting(),
    );
    row(S::ActiveRetrying, E::TcpConnectionConfirmed, open_sent());
    row(S::ActiveRetrying, E::TcpConnectionFails, failed());
    row(S::ActiveRetrying, E::ManualStop, stopped(None));

    // Passive with DelayOpen: stays Active while the DelayOpenTimer runs.
    row(S::ActiveDelayOpen, E::Expire(Timer::DelayOpen), open_sent());
    row(
        S::ActiveDelayOpen,
        E::Open,
        open_confirm(&[Sent::Open, Sent::Keepalive]),
    );
    // §8.2.2: TcpConnectionFails in Active goes to Idle, DelayOpenTimer running or not.
    row(S::ActiveDelayOpen, E::TcpConnectionFails, failed());
    row(S::ActiveDelayOpen, E::ManualStop, stopped(None));
    row(S::ActiveDelayOpen, E::Update, err(fsm, 0));

    // --- OpenSent, OpenConfirm, Established: the common rows.
    for s in [S::OpenSent, S::OpenConfirm, S::Established] {
        row(s, E::ManualStart, ignored());
        row(s, E::AutomaticStart, ignored());
        row(s, E::ManualStop, stopped(cease_shutdown));
        // Departure: AutomaticStop restarts only with restart_after (§8.2.2 would restart
        // through the usual automatic start).
        row(s, E::AutomaticStop, stopped(cease_deconfigured));
        row(
            s,
            E::AutomaticStopRestart,
            restart_30(stopped(cease_deconfigured)),
        );
        // A second connection: §8.2.2 tracks it for collision detection; a Session has one
        // transport, so it refuses the new one (Close) and carries on. Collisions are resolved
        // by Peer (tests/collision.rs).
        row(s, E::TcpCrAcked, ignored().fx(&[Fx::Close]));
        row(s, E::TcpConnectionConfirmed, ignored().fx(&[Fx::Close]));
        row(s, E::Expire(Timer::Hold), err(code::HOLD_TIMER_EXPIRED, 0));
        // RFC 9687.
        row(
            s,
            E::Expire(Timer::SendHold),
            err(code::SEND_HOLD_TIMER_EXPIRED, 0),
        );
        for t in [Timer::ConnectRetry, Timer::DelayOpen, Timer::IdleHold] {
            row(s, E::Expire(t), not_armed());
        }
        row(s, E::BadMarker, err(code::MESSAGE_HEADER, 1));
        row(s, E::BadLength, err(code::MESSAGE_HEADER, 2));
        // NotifMsg: to Idle. Departure: §8.2.2 lists event 25 among OpenSent's "any other
        // event", which would answer with an FSM Error; a NOTIFICATION is never answered.
        row(s, E::Notification, failed());
    }

    // --- OpenSent.
    // §8.2.2: close, restart ConnectRetryTimer, to Active.
    row(
        S::OpenSent,
        E::TcpConnectionFails,
        to(Active)
            .fx(&[Fx::Close])
            .t(Timer::ConnectRetry, Dl::Jittered(RETRY)),
    );
    row(S::OpenSent, E::Expire(Timer::Keepalive), not_armed());
    row(S::OpenSent, E::Open, open_confirm(&[Sent::Keepalive]));
    row(S::OpenSent, E::OpenBadVersion, err(code::OPEN_MESSAGE, 1));
    row(S::OpenSent, E::OpenBadPeerAs, err(code::OPEN_MESSAGE, 2));
    row(S::OpenSent, E::OpenHoldTime2, err(code::OPEN_MESSAGE, 6));
    row(S::OpenSent, E::OpenBadId, err(code::OPEN_MESSAGE, 3));
    // RFC 6608: unexpected messages in OpenSent are 5/1, malformed or not.
    for m in [E::Keepalive, E::Update, E::MalformedUpdate, E::RouteRefresh] {
        row(S::OpenSent, m, err(fsm, 1));
    }

    // --- OpenConfirm.
    row(S::OpenConfirm, E::TcpConnectionFails, failed());
    row(
        S::OpenConfirm,
        E::Expire(Timer::Keepalive),
        to(OpenConfirm)
            .sends(&[Sent::Keepalive])
            .t(Timer::Keepalive, Dl::Jittered(KEEPALIVE))
            .t(Timer::Hold, Dl::Unchanged),
    );
    // A second OPEN on this connection: collision detection is Peer's, so here it is 5/2.
    row(S::OpenConfirm, E::Open, err(fsm, 2));
    // Event 22 in OpenConfirm: the OPEN error's own NOTIFICATION.
    row(
        S::OpenConfirm,
        E::OpenBadVersion,
        err(code::OPEN_MESSAGE, 1),
    );
    // Decodable OPENs are not checked against the configuration again: unexpected, 5/2.
    row(S::OpenConfirm, E::OpenBadPeerAs, err(fsm, 2));
    row(S::OpenConfirm, E::OpenHoldTime2, err(fsm, 2));
    row(S::OpenConfirm, E::OpenBadId, err(fsm, 2));
    row(
        S::OpenConfirm,
        E::Keepalive,
        to(Established)
            .fx(&[Fx::Established])
            .t(Timer::Hold, Dl::After(HOLD))
            .t(Timer::Keepalive, Dl::Unchanged),
    );
    for m in [E::Update, E::MalformedUpdate, E::RouteRefresh] {
        row(S::OpenConfirm, m, err(fsm, 2));
    }

    // --- Established.
    row(S::Established, E::TcpConnectionFails, failed());
    row(
        S::Established,
        E::Expire(Timer::Keepalive),
        to(Established)
            .sends(&[Sent::Keepalive])
            .t(Timer::Keepalive, Dl::Jittered(KEEPALIVE))
            .t(Timer::Hold, Dl::Unchanged),
    );
    // Any OPEN in Established (events 19-22) is an FSM error, 5/3 (RFC 6608).
    for m in [
        E::Open,
        E::OpenBadVersion,
        E::OpenBadPeerAs,
        E::OpenHoldTime2,
        E::OpenBadId,
    ] {
        row(S::Established, m, err(fsm, 3));
    }
    let alive = |fx: &[Fx]| {
        to(Established)
            .fx(fx)
            .t(Timer::Hold, Dl::After(HOLD))
            .t(Timer::Keepalive, Dl::Unchanged)
    };
    row(S::Established, E::Keepalive, alive(&[]));
    row(S::Established, E::Update, alive(&[Fx::Update]));
    row(
        S::Established,
        E::MalformedUpdate,
        err(code::UPDATE_MESSAGE, 1),
    );
    row(S::Established, E::RouteRefresh, alive(&[Fx::RouteRefresh]));

    rows
}

// ---------------------------------------------------------------------------------------------
// Running a row.

fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn decode_sent(bytes: &Bytes) -> Vec<Sent> {
    let mut out = Vec::new();
    let mut rest = bytes.clone();
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let frame = rest.split_to(len);
        match Message::decode(frame, &SessionContext::modern_ebgp()).unwrap() {
            Message::Open(_) => out.push(Sent::Open),
            Message::Keepalive => out.push(Sent::Keepalive),
            Message::Notification(n) => out.push(Sent::N(n.code, n.subcode)),
            other => panic!("unexpected message sent: {other:?}"),
        }
    }
    out
}

fn apply(s: &mut Session, e: E, at: Instant) {
    let event = match e {
        E::ManualStart => Event::ManualStart,
        E::AutomaticStart => Event::AutomaticStart,
        E::ManualStop => Event::ManualStop(None),
        E::AutomaticStop => Event::AutomaticStop {
            reason: StopReason::PeerDeconfigured,
            restart_after: None,
        },
        E::AutomaticStopRestart => Event::AutomaticStop {
            reason: StopReason::PeerDeconfigured,
            restart_after: Some(30 * SECOND),
        },
        E::TcpCrAcked => Event::TcpCrAcked,
        E::TcpConnectionConfirmed => Event::TcpConnectionConfirmed,
        E::TcpConnectionFails => Event::TcpConnectionFails,
        E::Expire(_) => unreachable!(),
        m => Event::BytesReceived(message_bytes(m)),
    };
    s.handle(event, at);
}

fn run_row(t0: Instant, setup: Setup, e: E, x: &Expect) {
    let what = format!("{setup:?} + {e:?}");
    let mut s = setup.reach(t0);
    let before_state = s.state();

    let at = if let E::Expire(timer) = e {
        if timer == Timer::SendHold {
            s.handle(Event::SendBlocked, t0);
            assert!(drain(&mut s).is_empty(), "{what}: SendBlocked acted");
        }
        let Some(deadline) = s.timer(timer) else {
            assert!(x.not_armed, "{what}: the timer is not running");
            return;
        };
        assert!(
            !x.not_armed,
            "{what}: the timer runs, at {:?}",
            deadline - t0
        );
        // Earlier deadlines fire first (keepalives), as a driver would; none may change state.
        while let Some(next) = s.poll_timeout().filter(|t| *t < deadline) {
            s.handle_timeout(next);
            drain(&mut s);
            assert_eq!(s.state(), before_state, "{what}: an earlier timer acted");
            assert_eq!(s.timer(timer), Some(deadline), "{what}");
        }
        // Not a nanosecond early.
        s.handle_timeout(deadline - Duration::from_nanos(1));
        assert!(drain(&mut s).is_empty(), "{what}: fired early");
        deadline
    } else {
        t0 + EVENT_AT
    };

    let timers_before: Vec<(Timer, Option<Instant>)> =
        Timer::ALL.iter().map(|t| (*t, s.timer(*t))).collect();
    match e {
        E::Expire(_) => s.handle_timeout(at),
        _ => apply(&mut s, e, at),
    }
    let actions = drain(&mut s);

    // The state, and StateChanged actions that chain from the old state to the new one.
    let next = x.next.unwrap_or(before_state);
    assert_eq!(s.state(), next, "{what}: next state; actions {actions:?}");
    let mut state = before_state;
    let mut sent = Vec::new();
    let mut fx = Vec::new();
    for a in &actions {
        match a {
            Action::StateChanged { from, to } => {
                assert_eq!(*from, state, "{what}");
                state = *to;
            }
            Action::Send(bytes) => sent.extend(decode_sent(bytes)),
            Action::Connect => fx.push(Fx::Connect),
            Action::Close => fx.push(Fx::Close),
            Action::Down(d) => {
                assert_eq!(
                    d.was_established,
                    before_state == State::Established,
                    "{what}"
                );
                fx.push(Fx::Down)
            }
            Action::Established(_) => fx.push(Fx::Established),
            Action::Update(_) => fx.push(Fx::Update),
            Action::RouteRefresh(_) => fx.push(Fx::RouteRefresh),
            Action::EndOfRib(_) => panic!("{what}: End-of-RIB"),
            Action::Received(_) => panic!("{what}: UPDATE octets without monitor"),
            Action::Recorded(_) => panic!("{what}: message octets without record"),
        }
    }
    assert_eq!(state, next, "{what}: StateChanged chain");
    assert_eq!(sent, x.sent, "{what}: messages sent");
    assert_eq!(fx, x.fx, "{what}: actions");

    // Every timer's deadline.
    for (timer, old) in timers_before {
        let now = s.timer(timer);
        let expected = if x.all_unchanged {
            Some(Dl::Unchanged)
        } else {
            x.timers.iter().find(|(t, _)| *t == timer).map(|(_, d)| *d)
        };
        match expected {
            None => assert_eq!(now, None, "{what}: {timer:?} should be stopped"),
            Some(Dl::Unchanged) => assert_eq!(now, old, "{what}: {timer:?} should be unchanged"),
            Some(Dl::After(d)) => assert_eq!(now, Some(at + d), "{what}: {timer:?}"),
            Some(Dl::Jittered(base)) => {
                let d = now.unwrap_or_else(|| panic!("{what}: {timer:?} not running")) - at;
                assert!(
                    d >= base * 3 / 4 && d <= base,
                    "{what}: {timer:?} in {d:?}, not within 75-100 % of {base:?}"
                );
            }
        }
    }
    assert_eq!(
        s.poll_timeout(),
        Timer::ALL.iter().filter_map(|t| s.timer(*t)).min(),
        "{what}: poll_timeout is the earliest deadline"
    );
}

#[test]
fn every_state_and_event_has_a_row() {
    let rows = rows();
    for setup in BASE {
        for e in ALL_EVENTS {
            let n = rows
                .iter()
                .filter(|(s, ev, _)| *s == setup && *ev == e)
                .count();
            assert_eq!(n, 1, "{setup:?} + {e:?}: {n} rows");
        }
    }
    for (i, (s, e, _)) in rows.iter().enumerate() {
        assert!(
            !rows[..i].iter().any(|(s2, e2, _)| s2 == s && e2 == e),
            "{s:?} + {e:?} twice"
        );
    }
}

#[test]
fn state_table_of_rfc_4271_section_8_2_2() {
    let t0 = Instant::now();
    let rows = rows();
    for (setup, e, x) in &rows {
        run_row(t0, *setup, *e, x);
    }
    assert!(rows.len() > BASE.len() * ALL_EVENTS.len());
}

#[test]
fn the_setups_arm_the_timers_the_rfc_names() {
    let t0 = Instant::now();
    let jittered = |s: &Session, t: Timer, base: Duration| {
        let d = s.timer(t).unwrap() - t0;
        assert!(d >= base * 3 / 4 && d <= base, "{t:?} {d:?}");
    };
    let s = Setup::Connect.reach(t0);
    jittered(&s, Timer::ConnectRetry, RETRY);
    let s = Setup::OpenSent.reach(t0);
    assert_eq!(s.timer(Timer::Hold), Some(t0 + LARGE_HOLD));
    assert_eq!(s.timer(Timer::ConnectRetry), None);
    let s = Setup::OpenConfirm.reach(t0);
    assert_eq!(s.timer(Timer::Hold), Some(t0 + HOLD));
    jittered(&s, Timer::Keepalive, KEEPALIVE);
    let s = Setup::ConnectDelayOpen.reach(t0);
    assert_eq!(s.timer(Timer::DelayOpen), Some(t0 + 5 * SECOND));
    assert_eq!(s.timer(Timer::ConnectRetry), None);
    let s = Setup::ActiveDelayOpen.reach(t0);
    assert_eq!(s.timer(Timer::DelayOpen), Some(t0 + 5 * SECOND));
    let s = Setup::IdleHolding.reach(t0);
    assert_eq!(s.timer(Timer::IdleHold), Some(t0 + SECOND));
    let s = Setup::Active.reach(t0);
    assert_eq!(s.poll_timeout(), None);
}
