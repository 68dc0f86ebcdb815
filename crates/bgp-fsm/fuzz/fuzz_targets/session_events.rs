//! Arbitrary event sequences for a `Session` and a `Peer`: start/stop events, TCP events,
//! timer jumps and received byte chunks (arbitrary, or real messages with fuzzed fields), all
//! decoded from the input. Nothing may panic, and a few invariants must hold after each event.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_fsm::{ConnectionId, Event, Peer, Session, SessionConfig, State, StopReason, Timer};
use bgp_proto::capability::{GracefulRestart, GracefulRestartFamily};
use bgp_proto::{Message, SessionContext};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b
    }
}

fn config(i: &mut Input<'_>) -> SessionConfig {
    let flags = i.u8().unwrap_or(0);
    let mut c = SessionConfig::new(65001, Ipv4Addr::new(10, 0, 0, 1), Some(65002));
    c.hold_time = match i.u8().unwrap_or(90) {
        0 => 0,
        h => u16::from(h).max(3),
    };
    c.passive = flags & 1 != 0;
    c.delay_open = (flags & 2 != 0).then(|| Duration::from_secs(5));
    c.graceful_restart = (flags & 4 != 0).then(Default::default);
    c.extended_message = flags & 8 != 0;
    c.automatic_restart = flags & 16 == 0;
    if flags & 32 != 0 {
        c.peer_as = None;
    }
    // The octets handed out for BMP and the message log.
    c.monitor = flags & 64 != 0;
    c.record = flags & 128 != 0;
    c.jitter_seed = u64::from(flags);
    c
}

/// A real message from the peer (10.0.0.2, AS 65002), with some fields from the input.
fn message(i: &mut Input<'_>) -> Bytes {
    let ctx = SessionContext::modern_ebgp();
    match i.u8().unwrap_or(0) % 4 {
        0 => {
            let hold = i.u16().unwrap_or(90);
            let open = bgp_proto::Open::new(
                if i.u8().unwrap_or(0) & 1 == 0 {
                    65002
                } else {
                    65003
                },
                hold,
                Ipv4Addr::new(10, 0, 0, i.u8().unwrap_or(2)),
                vec![
                    bgp_proto::Capability::Multiprotocol(bgp_proto::Family::IPV4_UNICAST),
                    bgp_proto::Capability::GracefulRestart(GracefulRestart {
                        restart_state: false,
                        notification: true,
                        restart_time: 120,
                        families: vec![GracefulRestartFamily {
                            family: bgp_proto::Family::IPV4_UNICAST,
                            forwarding_preserved: false,
                        }],
                    }),
                ],
            );
            Message::Open(open).to_bytes(&ctx)
        }
        1 => Message::Keepalive.to_bytes(&ctx),
        2 => Message::Notification(bgp_proto::Notification::new(
            i.u8().unwrap_or(6),
            i.u8().unwrap_or(0),
            Bytes::new(),
        ))
        .to_bytes(&ctx),
        _ => Message::RouteRefresh(bgp_proto::RouteRefresh::request(
            bgp_proto::Family::IPV4_UNICAST,
        ))
        .to_bytes(&ctx),
    }
}

fn event(i: &mut Input<'_>, op: u8) -> Option<Event> {
    Some(match op % 13 {
        0 => Event::ManualStart,
        1 => Event::AutomaticStart,
        2 => Event::ManualStop(None),
        3 => Event::AutomaticStop {
            reason: StopReason::MaxPrefixes {
                family: bgp_proto::Family::IPV4_UNICAST,
                limit: 1,
            },
            restart_after: (i.u8()? & 1 == 0).then(|| Duration::from_secs(30)),
        },
        4 => Event::TcpCrAcked,
        5 => Event::TcpConnectionConfirmed,
        6 => Event::TcpConnectionFails,
        7 => {
            let n = usize::from(i.u8()?);
            Event::BytesReceived(Bytes::copy_from_slice(i.bytes(n)))
        }
        8 | 9 => Event::BytesReceived(message(i)),
        10 => Event::SendBlocked,
        11 => Event::SendProgress {
            drained: i.u8()? & 1 == 0,
        },
        _ => return None,
    })
}

fn check(s: &Session) {
    // Timers belong to their states.
    if s.state() == State::Idle {
        for t in [
            Timer::Hold,
            Timer::Keepalive,
            Timer::ConnectRetry,
            Timer::DelayOpen,
        ] {
            assert!(s.timer(t).is_none(), "{t:?} running in Idle");
        }
    }
    if s.state() != State::Idle {
        assert!(s.timer(Timer::IdleHold).is_none(), "IdleHold outside Idle");
    }
    assert!(s.state() >= State::OpenConfirm || s.negotiated().is_none());
}

fuzz_target!(|data: &[u8]| {
    let mut i = Input(data);
    let cfg = config(&mut i);
    let t0 = Instant::now();
    let mut now = t0;
    let mut session = Session::new(cfg.clone());
    let mut peer = Peer::new(cfg);
    while let Some(op) = i.u8() {
        let target = op >> 6; // 0: session, 1: peer outgoing, 2: peer incoming, 3: peer call
        let op = op & 0x3f;
        if op >= 52 {
            // A timer jump: up to ~18 hours, or exactly to the next deadline.
            let jump = i.u16().unwrap_or(0);
            now = if jump == 0 {
                session.poll_timeout().unwrap_or(now).max(now)
            } else {
                now + Duration::from_secs(u64::from(jump))
            };
            session.handle_timeout(now);
            peer.handle_timeout(now);
        } else if target == 3 {
            match op % 4 {
                0 => peer.start(now),
                1 => peer.stop(None, now),
                2 => {
                    let _ = peer.accept(now);
                }
                _ => peer.cease(StopReason::HardReset, Duration::from_secs(10), now),
            }
        } else {
            let Some(event) = event(&mut i, op) else {
                continue;
            };
            match target {
                0 => session.handle(event, now),
                1 => peer.handle(ConnectionId::Outgoing, event, now),
                _ => peer.handle(ConnectionId::Incoming, event, now),
            }
        }
        while session.poll_action().is_some() {}
        while peer.poll_action().is_some() {}
        check(&session);
        for c in [ConnectionId::Outgoing, ConnectionId::Incoming] {
            if let Some(s) = peer.session(c) {
                check(s);
            }
        }
        let _ = peer.established();
        let _ = peer.send_end_of_rib(bgp_proto::Family::IPV4_UNICAST, now);
    }
});
