//! Two `Peer`s wired together in memory on a virtual clock, with every TCP connection between
//! them modelled: each side's Outgoing connects and lands as the other side's Incoming through
//! `Peer::accept`. Within a connection bytes stay in order; a connection may be cut (both ends
//! see TcpConnectionFails, what was in flight is lost), closed (a FIN: what was written before
//! still arrives) or replayed as a ghost (a stale duplicate of a whole connection's bytes,
//! arriving as a new incoming connection). Actions go to the connection of the transport
//! generation they name, events come from the connection a slot holds now. Nothing reads the
//! real clock but the origin.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_fsm::{Action, ConnectionId, Event, Peer, PeerAction, SessionConfig, State};
use bgp_proto::{Message, Notification, SessionContext};
use bytes::Bytes;

/// What travels on one direction of a connection.
#[derive(Clone, Debug)]
pub enum Seg {
    Data(Bytes),
    /// The sender closed its end.
    Fin,
}

/// One TCP connection: end 0 is the opener's Outgoing, end 1 the acceptor's Incoming.
#[derive(Debug)]
pub struct Conn {
    /// The side that opened it; `None` for a ghost (nobody behind end 0).
    pub opener: Option<usize>,
    pub acceptor: usize,
    /// `queues[i]`: segments in flight to end `i`.
    pub queues: [VecDeque<Seg>; 2],
    /// Everything end `i` wrote, for replays.
    pub written: [Vec<Bytes>; 2],
    /// Cut, or both ends closed.
    pub dead: bool,
    /// Whether the endpoint at end `i` still holds the connection: it has not closed it and
    /// has not been told it failed.
    pub held: [bool; 2],
}

impl Conn {
    fn end_of(&self, side: usize, connection: ConnectionId) -> Option<usize> {
        match connection {
            ConnectionId::Outgoing if self.opener == Some(side) => Some(0),
            ConnectionId::Incoming if self.acceptor == side => Some(1),
            _ => None,
        }
    }

    fn endpoint(&self, end: usize) -> Option<(usize, ConnectionId)> {
        match end {
            0 => self.opener.map(|s| (s, ConnectionId::Outgoing)),
            _ => Some((self.acceptor, ConnectionId::Incoming)),
        }
    }
}

/// A record of one action.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    pub connection: ConnectionId,
    /// The connection (index into `Net::conns`) it was bound to, if any.
    pub conn: Option<usize>,
    pub action: Action,
}

pub struct Net {
    pub peers: [Peer; 2],
    pub now: Instant,
    pub start: Instant,
    pub conns: Vec<Conn>,
    /// Which connection each (side, slot) is bound to: where its events come from.
    pub bound: HashMap<(usize, ConnectionId), usize>,
    /// The connection of each transport (side, slot, generation): where its actions go.
    pub transports: HashMap<(usize, ConnectionId, u64), usize>,
    pub log: [Vec<Logged>; 2],
    /// Whether each side accepts connections at all (a host that is down refuses them).
    pub reachable: [bool; 2],
}

pub fn config(local_as: u32, id: [u8; 4], peer_as: u32) -> SessionConfig {
    let mut c = SessionConfig::new(local_as, Ipv4Addr::from(id), Some(peer_as));
    c.jitter_seed = u64::from(u32::from_be_bytes(id));
    c
}

impl Net {
    pub fn new(a: SessionConfig, b: SessionConfig, start: Instant) -> Self {
        Self {
            peers: [Peer::new(a), Peer::new(b)],
            now: start,
            start,
            conns: Vec::new(),
            bound: HashMap::new(),
            transports: HashMap::new(),
            log: [Vec::new(), Vec::new()],
            reachable: [true, true],
        }
    }

    pub fn start_both(&mut self) {
        let now = self.now;
        self.peers[0].start(now);
        self.peers[1].start(now);
        self.process();
    }

    pub fn start(&mut self, side: usize) {
        let now = self.now;
        self.peers[side].start(now);
        self.process();
    }

    /// Carries out every pending action of both peers (connects complete at once).
    pub fn process(&mut self) {
        loop {
            let mut any = false;
            for side in 0..2 {
                while let Some(pa) = self.peers[side].poll_action() {
                    any = true;
                    self.carry_out(side, pa);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn carry_out(&mut self, side: usize, pa: PeerAction) {
        let PeerAction {
            connection,
            generation,
            action,
        } = pa;
        let key = (side, connection, generation);
        match &action {
            Action::Connect => {
                if let Some(old) = self.bound.get(&(side, connection)).copied() {
                    // A new attempt replaces the old connection; only the far end notices.
                    self.bound.remove(&(side, connection));
                    self.cut_quietly(old, (side, connection));
                }
                self.connect(side, generation);
            }
            Action::Send(bytes) => {
                if let Some(i) = self.transports.get(&key).copied() {
                    let c = &mut self.conns[i];
                    let end = c.end_of(side, connection).unwrap();
                    if c.held[end] {
                        c.written[end].push(bytes.clone());
                        c.queues[1 - end].push_back(Seg::Data(bytes.clone()));
                    }
                }
            }
            Action::Close => {
                if let Some(i) = self.transports.get(&key).copied() {
                    let c = &mut self.conns[i];
                    let end = c.end_of(side, connection).unwrap();
                    if c.held[end] {
                        c.held[end] = false;
                        c.queues[end].clear();
                        c.queues[1 - end].push_back(Seg::Fin);
                        if !c.held[1 - end] {
                            c.dead = true;
                        }
                        if self.bound.get(&(side, connection)) == Some(&i) {
                            self.bound.remove(&(side, connection));
                        }
                    }
                }
            }
            _ => {}
        }
        self.log[side].push(Logged {
            at: self.now,
            connection,
            conn: self.transports.get(&key).copied(),
            action,
        });
    }

    fn connect(&mut self, side: usize, generation: u64) {
        let other = 1 - side;
        let now = self.now;
        let accepted = if self.reachable[other] {
            self.peers[other].accept(now)
        } else {
            None
        };
        let Some(incoming) = accepted else {
            self.peers[side].handle(ConnectionId::Outgoing, Event::TcpConnectionFails, now);
            return;
        };
        let i = self.add_conn(Some(side), other, incoming);
        self.bound.insert((side, ConnectionId::Outgoing), i);
        self.transports
            .insert((side, ConnectionId::Outgoing, generation), i);
        self.peers[side].handle(ConnectionId::Outgoing, Event::TcpCrAcked, now);
    }

    /// A connection accepted by `acceptor` (already told through `accept`, which returned this
    /// generation). An incoming connection it replaced gets its Cease and Close through the
    /// actions naming its own generation.
    fn add_conn(&mut self, opener: Option<usize>, acceptor: usize, generation: u64) -> usize {
        let i = self.conns.len();
        self.bound.insert((acceptor, ConnectionId::Incoming), i);
        self.transports
            .insert((acceptor, ConnectionId::Incoming, generation), i);
        self.conns.push(Conn {
            opener,
            acceptor,
            queues: [VecDeque::new(), VecDeque::new()],
            written: [Vec::new(), Vec::new()],
            dead: false,
            held: [opener.is_some(), true],
        });
        i
    }

    /// Resets the connection: both ends see TcpConnectionFails, what is in flight is lost.
    pub fn cut(&mut self, i: usize) {
        self.cut_quietly(i, (usize::MAX, ConnectionId::Outgoing));
    }

    fn cut_quietly(&mut self, i: usize, except: (usize, ConnectionId)) {
        let now = self.now;
        self.conns[i].dead = true;
        self.conns[i].queues = [VecDeque::new(), VecDeque::new()];
        for end in 0..2 {
            let held = std::mem::take(&mut self.conns[i].held[end]);
            if let Some(ep) = self.conns[i].endpoint(end) {
                if held && ep != except && self.bound.get(&ep) == Some(&i) {
                    self.bound.remove(&ep);
                    self.peers[ep.0].handle(ep.1, Event::TcpConnectionFails, now);
                }
            }
        }
    }

    /// A stale duplicate of connection `i`: the bytes its opener wrote arrive again, on a new
    /// connection to the same acceptor, followed by a FIN. Returns whether it was accepted.
    pub fn replay(&mut self, i: usize) -> bool {
        let acceptor = self.conns[i].acceptor;
        let written = self.conns[i].written[0].clone();
        let now = self.now;
        if !self.reachable[acceptor] {
            return false;
        }
        let Some(generation) = self.peers[acceptor].accept(now) else {
            return false;
        };
        let g = self.add_conn(None, acceptor, generation);
        for b in written {
            self.conns[g].queues[1].push_back(Seg::Data(b));
        }
        self.conns[g].queues[1].push_back(Seg::Fin);
        true
    }

    /// The (connection, end) pairs with something in flight.
    pub fn pending(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (i, c) in self.conns.iter().enumerate() {
            for end in 0..2 {
                if !c.queues[end].is_empty() {
                    out.push((i, end));
                }
            }
        }
        out
    }

    /// Delivers the next segment to `end` of connection `i`, or only its first `split` bytes.
    pub fn deliver(&mut self, i: usize, end: usize, split: Option<usize>) {
        let now = self.now;
        let Some(seg) = self.conns[i].queues[end].pop_front() else {
            return;
        };
        let target = self.conns[i].endpoint(end);
        let live = target.filter(|ep| self.bound.get(ep) == Some(&i));
        match seg {
            Seg::Data(mut bytes) => {
                if let Some(n) = split.filter(|n| *n > 0 && *n < bytes.len()) {
                    let rest = bytes.split_off(n);
                    self.conns[i].queues[end].push_front(Seg::Data(rest));
                }
                if let Some((side, connection)) = live {
                    self.peers[side].handle(connection, Event::BytesReceived(bytes), now);
                }
            }
            Seg::Fin => {
                if let Some((side, connection)) = live {
                    self.bound.remove(&(side, connection));
                    self.conns[i].held[end] = false;
                    self.peers[side].handle(connection, Event::TcpConnectionFails, now);
                }
                self.conns[i].dead = true;
            }
        }
        self.process();
    }

    /// Delivers everything in flight, in connection order.
    pub fn flush(&mut self) -> bool {
        let mut any = false;
        while let Some(&(i, end)) = self.pending().first() {
            any = true;
            self.deliver(i, end, None);
        }
        any
    }

    /// The earliest timer deadline of both peers.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.peers.iter().filter_map(Peer::poll_timeout).min()
    }

    /// Fires the timers due at the earliest deadline if it is at or before `limit`.
    pub fn fire_next(&mut self, limit: Instant) -> bool {
        match self.next_deadline() {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                let now = self.now;
                self.peers[0].handle_timeout(now);
                self.peers[1].handle_timeout(now);
                self.process();
                true
            }
            _ => false,
        }
    }

    /// Advances the clock by `d`, firing timers on the way but delivering nothing (a delay).
    pub fn stall(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.fire_next(limit) {}
        self.now = limit;
    }

    /// Runs a healthy network for `d`: everything in flight is delivered at once.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        loop {
            self.process();
            if self.flush() {
                continue;
            }
            if !self.fire_next(limit) {
                break;
            }
        }
        self.now = limit;
    }

    /// Runs a healthy network until `pred` holds or `d` passes.
    pub fn run_until(&mut self, d: Duration, mut pred: impl FnMut(&Net) -> bool) -> bool {
        let limit = self.now + d;
        loop {
            self.process();
            if self.flush() {
                continue;
            }
            if pred(self) {
                return true;
            }
            if !self.fire_next(limit) {
                return pred(self);
            }
        }
    }

    /// The connection both sides hold Established, if they agree on one.
    pub fn established_conn(&self) -> Option<usize> {
        let a = self.peers[0].established()?;
        let b = self.peers[1].established()?;
        let ia = *self.bound.get(&(0, a))?;
        let ib = *self.bound.get(&(1, b))?;
        (ia == ib).then_some(ia)
    }

    pub fn both_established(&self) -> bool {
        self.established_conn().is_some()
    }

    /// Connect actions of a side after `since`.
    pub fn connects_since(&self, side: usize, since: Instant) -> usize {
        self.log[side]
            .iter()
            .filter(|l| l.at > since && matches!(l.action, Action::Connect))
            .count()
    }

    /// NOTIFICATIONs a side sent, with the connection they went on.
    pub fn notifications(&self, side: usize) -> Vec<(Option<usize>, Notification)> {
        let mut out = Vec::new();
        for l in &self.log[side] {
            if let Action::Send(bytes) = &l.action {
                let mut rest = bytes.clone();
                while rest.len() >= 19 {
                    let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
                    if len < 19 || len > rest.len() {
                        break;
                    }
                    let frame = rest.split_to(len);
                    if let Ok(Message::Notification(n)) =
                        Message::decode(frame, &SessionContext::modern_ebgp())
                    {
                        out.push((l.conn, n));
                    }
                }
            }
        }
        out
    }

    /// Downs a side reported, with the connection slot and bound connection.
    pub fn downs(&self, side: usize) -> Vec<(ConnectionId, Option<usize>, bgp_fsm::Down)> {
        self.log[side]
            .iter()
            .filter_map(|l| match &l.action {
                Action::Down(d) => Some((l.connection, l.conn, (**d).clone())),
                _ => None,
            })
            .collect()
    }

    pub fn state(&self, side: usize) -> State {
        self.peers[side].state()
    }
}

impl Net {
    /// The log as text, for failure messages.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for side in 0..2 {
            for l in &self.log[side] {
                let action = match &l.action {
                    Action::Send(b) => format!("Send({} bytes, type {})", b.len(), b[18]),
                    other => format!("{other:?}"),
                };
                out.push_str(&format!(
                    "{:>8.3}s side {side} {:?} conn {:?}: {}\n",
                    (l.at - self.start).as_secs_f64(),
                    l.connection,
                    l.conn,
                    action.chars().take(160).collect::<String>()
                ));
            }
        }
        out
    }
}
