//! Two sessions wired together in memory with a virtual clock (quinn-proto's `Pair` style):
//! `step` delivers what is in flight, or jumps the clock to the next deadline.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_fsm::{Action, Event, Session, SessionConfig, State};
use bgp_proto::{Message, SessionContext};
use bytes::Bytes;

/// One side of the pair.
pub struct Side {
    pub session: Session,
    /// Every action it produced, with the virtual time.
    pub log: Vec<(Instant, Action)>,
    /// Bytes it wrote that are in flight to the other side.
    pub outbox: VecDeque<Bytes>,
    /// Messages it sent, decoded, with the time.
    pub sent: Vec<(Instant, Message)>,
    /// Drop what it sends (a peer that went silent).
    pub mute: bool,
}

impl Side {
    fn new(config: SessionConfig) -> Self {
        Self {
            session: Session::new(config),
            log: Vec::new(),
            outbox: VecDeque::new(),
            sent: Vec::new(),
            mute: false,
        }
    }

    pub fn state(&self) -> State {
        self.session.state()
    }

    /// Keepalive send times.
    pub fn keepalive_times(&self) -> Vec<Instant> {
        self.sent
            .iter()
            .filter(|(_, m)| matches!(m, Message::Keepalive))
            .map(|(t, _)| *t)
            .collect()
    }

    pub fn downs(&self) -> Vec<bgp_fsm::Down> {
        self.log
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Down(d) => Some((**d).clone()),
                _ => None,
            })
            .collect()
    }

    pub fn notifications_sent(&self) -> Vec<bgp_proto::Notification> {
        self.sent
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Notification(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A TCP connection between `a` (the side that connects) and `b` (listening).
pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub now: Instant,
    pub start: Instant,
    pub connected: bool,
    /// b accepts connections (listening).
    pub b_listening: bool,
}

pub fn config(local_as: u32, id: [u8; 4], peer_as: u32) -> SessionConfig {
    let mut c = SessionConfig::new(local_as, Ipv4Addr::from(id), Some(peer_as));
    c.jitter_seed = u64::from(u32::from_be_bytes(id));
    c
}

impl Pair {
    /// `a` actively connects, `b` is passive.
    pub fn new(a: SessionConfig, mut b: SessionConfig) -> Self {
        b.passive = true;
        let now = Instant::now();
        Self {
            a: Side::new(a),
            b: Side::new(b),
            now,
            start: now,
            connected: false,
            b_listening: true,
        }
    }

    pub fn default_ebgp() -> Self {
        Self::new(
            config(65001, [198, 18, 0, 1], 65002),
            config(65002, [198, 18, 0, 2], 65001),
        )
    }

    pub fn start(&mut self) {
        let now = self.now;
        self.b.session.handle(Event::ManualStart, now);
        self.a.session.handle(Event::ManualStart, now);
    }

    fn ctx_of(side: &Side) -> SessionContext {
        side.session
            .negotiated()
            .map_or_else(SessionContext::modern_ebgp, |n| n.context)
    }

    /// Drains the actions of both sides. Returns whether anything happened.
    fn drain(&mut self) -> bool {
        let mut any = false;
        loop {
            let mut progressed = false;
            for which in [true, false] {
                let (me, other) = if which {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                while let Some(action) = me.session.poll_action() {
                    progressed = true;
                    match &action {
                        Action::Connect => {
                            if which && self.b_listening && !self.connected {
                                if matches!(other.session.state(), State::Active | State::Connect) {
                                    self.connected = true;
                                    me.session.handle(Event::TcpCrAcked, self.now);
                                    other
                                        .session
                                        .handle(Event::TcpConnectionConfirmed, self.now);
                                }
                            } else if which && !self.b_listening {
                                me.session.handle(Event::TcpConnectionFails, self.now);
                            }
                        }
                        Action::Send(bytes) => {
                            let ctx = Self::ctx_of(me);
                            let mut rest = bytes.clone();
                            while !rest.is_empty() {
                                let len = u16::from_be_bytes([rest[16], rest[17]]) as usize;
                                let frame = rest.split_to(len);
                                if let Ok(m) = Message::decode(frame, &ctx) {
                                    me.sent.push((self.now, m));
                                }
                            }
                            if self.connected && !me.mute {
                                me.outbox.push_back(bytes.clone());
                            }
                        }
                        Action::Close if self.connected => {
                            // What was written before the close still arrives (TCP FIN).
                            self.connected = false;
                            while let Some(bytes) = me.outbox.pop_front() {
                                other.session.handle(Event::BytesReceived(bytes), self.now);
                            }
                            other.outbox.clear();
                            other.session.handle(Event::TcpConnectionFails, self.now);
                        }
                        _ => {}
                    }
                    me.log.push((self.now, action));
                }
            }
            // Deliver in-flight bytes.
            for which in [true, false] {
                let (me, other) = if which {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                while let Some(bytes) = me.outbox.pop_front() {
                    progressed = true;
                    other.session.handle(Event::BytesReceived(bytes), self.now);
                }
            }
            if !progressed {
                return any;
            }
            any = true;
        }
    }

    /// Delivers what is in flight; when nothing is, jumps to the next deadline and fires it.
    /// Returns false when nothing is left to do before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        if self.drain() {
            return true;
        }
        let next = [self.a.session.poll_timeout(), self.b.session.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                let now = self.now;
                self.a.session.handle_timeout(now);
                self.b.session.handle_timeout(now);
                true
            }
            _ => false,
        }
    }

    /// Runs until `pred` holds or `limit` of virtual time passes; returns whether it held.
    pub fn run_until(&mut self, limit: Duration, mut pred: impl FnMut(&Pair) -> bool) -> bool {
        let deadline = self.now + limit;
        loop {
            if pred(self) {
                self.settle();
                return true;
            }
            if !self.step(deadline) {
                return pred(self);
            }
        }
    }

    /// Carries out every pending action without moving the clock.
    pub fn settle(&mut self) {
        self.drain();
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let deadline = self.now + duration;
        while self.step(deadline) {}
        self.now = self.now.max(deadline);
    }

    pub fn both_established(&self) -> bool {
        self.a.state() == State::Established && self.b.state() == State::Established
    }
}
