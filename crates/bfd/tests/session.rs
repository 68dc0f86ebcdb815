//! Two BFD sessions wired back to back on a virtual clock: the RFC 5880 §6.8.6 state machine,
//! the timer negotiation (§6.8.2-§6.8.4), the Poll Sequence (§6.5), the Detection Time and the
//! transmission rules (§6.8.7). Every packet crosses the wire encoded and decoded.

use std::time::{Duration, Instant};

use bfd::{
    ControlPacket, Diagnostic, Event, PacketError, ReceiveError, Session, SessionConfig, State,
};

const MS: Duration = Duration::from_millis(1);

fn config(discriminator: u32, tx_ms: u32, rx_ms: u32, mult: u8) -> SessionConfig {
    SessionConfig {
        local_discriminator: discriminator,
        desired_min_tx: tx_ms * MS,
        required_min_rx: rx_ms * MS,
        detect_mult: mult,
        passive: false,
        jitter_seed: u64::from(discriminator) * 7919,
    }
}

/// A packet on the wire: when it arrives and at which side (0 or 1).
struct InFlight {
    at: Instant,
    to: usize,
    bytes: [u8; 24],
}

/// Two sessions joined by a link with a one-way delay; `cut[i]` drops what side i sends.
struct Link {
    now: Instant,
    sides: [Session; 2],
    delay: Duration,
    cut: [bool; 2],
    wire: Vec<InFlight>,
    /// Everything each side sent: (time, packet).
    sent: [Vec<(Instant, ControlPacket)>; 2],
    events: [Vec<(Instant, Event)>; 2],
}

impl Link {
    fn new(a: SessionConfig, b: SessionConfig) -> Link {
        let now = Instant::now();
        Link {
            now,
            sides: [Session::new(a, now), Session::new(b, now)],
            delay: MS,
            cut: [false, false],
            wire: Vec::new(),
            sent: [Vec::new(), Vec::new()],
            events: [Vec::new(), Vec::new()],
        }
    }

    fn drain(&mut self, side: usize) {
        while let Some(packet) = self.sides[side].poll_transmit(self.now) {
            self.sent[side].push((self.now, packet));
            if !self.cut[side] {
                self.wire.push(InFlight {
                    at: self.now + self.delay,
                    to: 1 - side,
                    bytes: packet.encode(),
                });
            }
        }
        while let Some(event) = self.sides[side].poll_event() {
            self.events[side].push((self.now, event));
        }
    }

    /// Runs the virtual clock until `until`.
    fn run_until(&mut self, until: Instant) {
        self.drain(0);
        self.drain(1);
        loop {
            let next_timer = self.sides.iter().filter_map(Session::poll_timeout).min();
            let next_packet = self.wire.iter().map(|p| p.at).min();
            let next = match (next_timer, next_packet) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            let (due, later): (Vec<InFlight>, Vec<InFlight>) =
                self.wire.drain(..).partition(|p| p.at <= self.now);
            self.wire = later;
            for p in due {
                let packet = ControlPacket::decode(&p.bytes).expect("a packet we encoded decodes");
                self.sides[p.to].handle_packet(&packet, self.now).unwrap();
                self.drain(p.to);
            }
            for side in 0..2 {
                self.sides[side].handle_timeout(self.now);
                self.drain(side);
            }
        }
        self.now = until;
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn state_changes(&self, side: usize) -> Vec<(State, State)> {
        self.events[side]
            .iter()
            .map(|(_, Event::StateChanged { from, to, .. })| (*from, *to))
            .collect()
    }
}

/// §6.2's three-way handshake: Down -> Init -> Up on one side, Down -> Up on the other (the
/// one that hears Init first), within a few slow-rate packets; the discriminators are learnt.
#[test]
fn both_sides_come_up() {
    let mut link = Link::new(config(1, 300, 300, 3), config(2, 300, 300, 3));
    link.run_for(Duration::from_secs(3));
    assert_eq!(link.sides[0].state(), State::Up);
    assert_eq!(link.sides[1].state(), State::Up);
    assert_eq!(link.sides[0].remote_discriminator(), 2);
    assert_eq!(link.sides[1].remote_discriminator(), 1);
    for side in 0..2 {
        let changes = link.state_changes(side);
        assert!(
            changes == [(State::Down, State::Init), (State::Init, State::Up)]
                || changes == [(State::Down, State::Up)],
            "side {side}: {changes:?}"
        );
    }
    // Both heard each other's first packet within the same millisecond: both went through Init.
    assert_eq!(link.state_changes(0).len(), 2);
}

/// §6.8.3: while not Up a session transmits no faster than once a second (with jitter: at
/// least 0.75 s apart), whatever its configuration asks for.
#[test]
fn not_up_transmits_at_most_once_a_second() {
    let mut link = Link::new(config(1, 50, 50, 3), config(2, 50, 50, 3));
    link.cut = [false, true]; // side 0 never hears side 1: it stays Down or Init
    link.run_for(Duration::from_secs(10));
    assert_ne!(link.sides[0].state(), State::Up);
    let times: Vec<Instant> = link.sent[0].iter().map(|(t, _)| *t).collect();
    assert!(times.len() >= 10, "{} packets in 10 s", times.len());
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= 750 * MS && gap <= Duration::from_secs(1),
            "gap {gap:?}"
        );
    }
    assert!(link.sent[0]
        .iter()
        .all(|(_, p)| p.desired_min_tx >= Duration::from_secs(1)));
}

/// §6.8.2 and §6.8.7: the transmit interval is the larger of our Desired Min TX and the
/// remote Required Min RX, reduced by 0-25% of jitter; §6.8.4: the Detection Time is the
/// remote Detect Mult times the larger of our Required Min RX and its Desired Min TX.
#[test]
fn intervals_are_negotiated() {
    // Side 0 wants to send every 100 ms; side 1 accepts no more than one every 300 ms.
    let mut link = Link::new(config(1, 100, 100, 3), config(2, 200, 300, 5));
    link.run_for(Duration::from_secs(5));
    assert_eq!(link.sides[0].state(), State::Up);
    assert_eq!(link.sides[0].transmit_interval(), 300 * MS);
    assert_eq!(link.sides[1].transmit_interval(), 200 * MS);
    // side 0 detects with side 1's multiplier (5) x max(its 100 ms rx, side 1's 200 ms tx)
    assert_eq!(link.sides[0].detection_time(), Some(1000 * MS));
    // side 1: 3 x max(300 ms, 100 ms)
    assert_eq!(link.sides[1].detection_time(), Some(900 * MS));
    let start = link.now;
    link.run_for(Duration::from_secs(3));
    let periodic: Vec<Instant> = link.sent[0]
        .iter()
        .filter(|(t, p)| *t >= start && !p.final_)
        .map(|(t, _)| *t)
        .collect();
    for pair in periodic.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= 225 * MS && gap <= 300 * MS, "gap {gap:?}");
    }
    assert!(periodic.len() >= 10, "{} packets in 3 s", periodic.len());
}

/// §6.8.4: a remote system that falls silent is declared down exactly one Detection Time after
/// its last packet arrived, with diagnostic 1, and bfd.RemoteDiscr is zeroed (§6.8.1).
#[test]
fn silence_is_detected_after_the_detection_time() {
    let mut link = Link::new(config(1, 300, 300, 3), config(2, 300, 300, 3));
    link.run_for(Duration::from_secs(3));
    assert_eq!(link.sides[0].state(), State::Up);
    link.cut = [false, true];
    let last_arrival = link.sent[1].last().unwrap().0 + link.delay;
    link.run_for(Duration::from_secs(2));
    assert_eq!(link.sides[0].state(), State::Down);
    assert_eq!(
        link.sides[0].diagnostic(),
        Diagnostic::ControlDetectionTimeExpired
    );
    assert_eq!(link.sides[0].remote_discriminator(), 0);
    let (at, event) = link.events[0].last().unwrap();
    assert_eq!(
        *event,
        Event::StateChanged {
            from: State::Up,
            to: State::Down,
            diagnostic: Diagnostic::ControlDetectionTimeExpired
        }
    );
    // The last packet from side 1 before the cut could still have been in flight.
    let detection = 900 * MS;
    assert!(
        *at >= last_arrival && *at <= last_arrival + detection + link.delay,
        "at {:?}",
        *at - last_arrival
    );
    assert_eq!(
        *at - last_arrival,
        detection,
        "detected {:?} after the last packet",
        *at - last_arrival
    );
    // Side 1 hears side 0 say Down: it goes Down with diagnostic 3, then, still hearing side
    // 0 but unheard, Init (§6.8.6: Down and a remote Down make Init).
    assert!(link.events[1].iter().any(|(_, e)| *e
        == Event::StateChanged {
            from: State::Up,
            to: State::Down,
            diagnostic: Diagnostic::NeighborSignaledSessionDown
        }));
    assert_eq!(link.sides[1].state(), State::Init);
}

/// §6.5 and §6.8.3: coming Up, the faster configured rate is announced with a Poll Sequence:
/// packets with P until one with F arrives; the remote answers a P at once, never P and F in
/// one packet.
#[test]
fn coming_up_polls_for_the_faster_rate() {
    let mut link = Link::new(config(1, 100, 100, 3), config(2, 100, 100, 3));
    link.run_for(Duration::from_secs(4));
    for side in 0..2 {
        assert_eq!(link.sides[side].state(), State::Up);
        assert!(!link.sides[side].polling(), "side {side} still polling");
        assert_eq!(link.sides[side].transmit_interval(), 100 * MS);
        let polls = link.sent[side].iter().filter(|(_, p)| p.poll).count();
        let finals = link.sent[1 - side].iter().filter(|(_, p)| p.final_).count();
        assert!(
            polls >= 1 && finals >= 1,
            "side {side}: {polls} polls, {finals} finals"
        );
        assert!(link.sent[side].iter().all(|(_, p)| !(p.poll && p.final_)));
    }
    // Every Poll is answered with a Final as soon as it arrives.
    for (t, p) in &link.sent[0] {
        if p.poll {
            let arrival = *t + link.delay;
            assert!(
                link.sent[1].iter().any(|(u, q)| q.final_ && *u == arrival),
                "poll at {:?} not answered at once",
                *t - link.sent[0][0].0
            );
        }
    }
}

/// §6.8.3: raising Desired Min TX while Up keeps the old rate until the Poll Sequence ends;
/// lowering Required Min RX keeps the old Detection Time until then. Here the remote never
/// answers the Poll (its packets are lost), so neither change takes effect.
#[test]
fn slower_transmission_waits_for_the_poll_sequence() {
    let mut link = Link::new(config(1, 100, 300, 3), config(2, 100, 100, 3));
    link.run_for(Duration::from_secs(4));
    assert_eq!(link.sides[0].state(), State::Up);
    assert_eq!(link.sides[0].transmit_interval(), 100 * MS);
    assert_eq!(link.sides[0].detection_time(), Some(900 * MS));
    link.cut = [false, true];
    link.sides[0].set_intervals(500 * MS, 100 * MS);
    link.run_for(200 * MS);
    assert!(link.sides[0].polling());
    assert_eq!(
        link.sides[0].transmit_interval(),
        100 * MS,
        "slowed before the poll ended"
    );
    assert_eq!(
        link.sides[0].detection_time(),
        Some(900 * MS),
        "faster detection before the poll ended"
    );
    let advertised = link.sent[0].last().unwrap().1;
    assert!(advertised.poll);
    assert_eq!(advertised.desired_min_tx, 500 * MS);
    assert_eq!(advertised.required_min_rx, 100 * MS);
    // With the answers flowing again, the poll ends and both changes apply.
    link.cut = [false, false];
    link.run_for(200 * MS);
    assert!(!link.sides[0].polling());
    assert_eq!(link.sides[0].transmit_interval(), 500 * MS);
    assert_eq!(link.sides[0].detection_time(), Some(300 * MS));
    assert_eq!(link.sides[0].state(), State::Up);
}

/// §6.8.16 and §6.8.6: a side taken administratively down sends AdminDown (diagnostic 7); the
/// other goes Down with diagnostic 3 and does not come back while the first stays down; after
/// the first is enabled again both come Up.
#[test]
fn admin_down_takes_the_remote_down() {
    let mut link = Link::new(config(1, 300, 300, 3), config(2, 300, 300, 3));
    link.run_for(Duration::from_secs(3));
    link.sides[0].set_admin_down(true);
    link.run_for(Duration::from_secs(5));
    assert_eq!(link.sides[0].state(), State::AdminDown);
    assert_eq!(link.sides[0].diagnostic(), Diagnostic::AdministrativelyDown);
    assert_eq!(link.sides[1].state(), State::Down);
    assert_eq!(
        link.sides[1].diagnostic(),
        Diagnostic::NeighborSignaledSessionDown
    );
    assert_eq!(
        link.state_changes(1).last(),
        Some(&(State::Up, State::Down))
    );
    link.sides[0].set_admin_down(false);
    link.run_for(Duration::from_secs(4));
    assert_eq!(link.sides[0].state(), State::Up);
    assert_eq!(link.sides[1].state(), State::Up);
}

/// §6.8.16: going AdminDown sends an AdminDown packet at once, also from a session that was
/// not Up (its rate was already the slow one, so no Poll Sequence would have sent one).
#[test]
fn admin_down_is_sent_at_once() {
    let mut link = Link::new(config(1, 300, 300, 3), config(2, 300, 300, 3));
    link.cut = [false, true]; // side 0 stays Down or Init
    link.run_for(Duration::from_millis(2500));
    assert_ne!(link.sides[0].state(), State::Up);
    let now = link.now;
    link.sides[0].set_admin_down(true);
    let packet = link.sides[0]
        .poll_transmit(now)
        .expect("an AdminDown packet at once");
    assert_eq!(packet.state, State::AdminDown);
    assert_eq!(packet.diagnostic, Diagnostic::AdministrativelyDown);
}

/// §6.1: a passive session sends nothing until it has heard the remote system.
#[test]
fn a_passive_session_waits_to_be_heard() {
    let mut passive = config(2, 300, 300, 3);
    passive.passive = true;
    let mut link = Link::new(config(1, 300, 300, 3), passive);
    link.cut = [true, false];
    link.run_for(Duration::from_secs(5));
    assert!(
        link.sent[1].is_empty(),
        "the passive side sent {}",
        link.sent[1].len()
    );
    link.cut = [false, false];
    link.run_for(Duration::from_secs(4));
    assert_eq!(link.sides[1].state(), State::Up);
    assert_eq!(link.sides[0].state(), State::Up);
}

/// §6.8.7: a remote Required Min RX of 0 stops our periodic packets (a Final owed to its Poll
/// may still go); the side that asks for nothing runs no Detection Time.
#[test]
fn a_remote_that_wants_nothing_gets_nothing() {
    let mut link = Link::new(config(1, 300, 300, 3), config(2, 300, 0, 3));
    link.run_for(Duration::from_secs(3));
    let start = link.now;
    link.run_for(Duration::from_secs(5));
    let periodic = link.sent[0]
        .iter()
        .filter(|(t, p)| *t >= start && !p.final_)
        .count();
    assert_eq!(
        periodic, 0,
        "side 0 kept sending to a side that asked for none"
    );
    assert_eq!(link.sides[1].detection_time(), None);
    let heard = link.sent[1].iter().filter(|(t, _)| *t >= start).count();
    assert!(heard >= 10, "side 1 sent {heard} packets in 5 s");
}

/// §6.8.6: Your Discriminator must be 0 or ours.
#[test]
fn a_packet_for_another_session_is_refused() {
    let now = Instant::now();
    let mut s = Session::new(config(1, 300, 300, 3), now);
    let p = ControlPacket {
        diagnostic: Diagnostic::None,
        state: State::Init,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 9,
        your_discriminator: 5,
        desired_min_tx: 300 * MS,
        required_min_rx: 300 * MS,
        required_min_echo_rx: Duration::ZERO,
    };
    assert_eq!(
        s.handle_packet(&p, now),
        Err(ReceiveError::WrongDiscriminator { got: 5, ours: 1 })
    );
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.remote_discriminator(), 0);
}

fn valid() -> [u8; 24] {
    ControlPacket {
        diagnostic: Diagnostic::None,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 7,
        your_discriminator: 8,
        desired_min_tx: 300 * MS,
        required_min_rx: 300 * MS,
        required_min_echo_rx: Duration::ZERO,
    }
    .encode()
}

/// A change to a valid encoded packet.
type Corruption = fn(&mut [u8; 24]);

/// §6.8.6: the packets to discard, each with its reason.
#[test]
fn malformed_packets_are_discarded() {
    let cases: [(&str, Corruption, PacketError); 7] = [
        (
            "version 2",
            |b| b[0] = (2 << 5) | (b[0] & 0x1f),
            PacketError::Version(2),
        ),
        ("length field 20", |b| b[3] = 20, PacketError::Length(20)),
        (
            "length field above the datagram",
            |b| b[3] = 30,
            PacketError::Short { got: 24, want: 30 },
        ),
        ("detect mult 0", |b| b[2] = 0, PacketError::ZeroDetectMult),
        ("multipoint bit", |b| b[1] |= 0x01, PacketError::Multipoint),
        (
            "my discriminator 0",
            |b| b[4..8].fill(0),
            PacketError::ZeroMyDiscriminator,
        ),
        (
            "your discriminator 0 while Up",
            |b| b[8..12].fill(0),
            PacketError::ZeroYourDiscriminator(State::Up),
        ),
    ];
    for (name, corrupt, error) in cases {
        let mut bytes = valid();
        corrupt(&mut bytes);
        assert_eq!(ControlPacket::decode(&bytes), Err(error), "{name}");
    }
    assert_eq!(
        ControlPacket::decode(&valid()[..23]),
        Err(PacketError::Short { got: 23, want: 24 })
    );
    let mut auth = valid();
    auth[1] |= 0x04;
    auth[3] = 24;
    assert_eq!(ControlPacket::decode(&auth), Err(PacketError::Length(24)));
    let mut auth = [0u8; 28];
    auth[..24].copy_from_slice(&valid());
    auth[1] |= 0x04;
    auth[3] = 28;
    assert_eq!(
        ControlPacket::decode(&auth),
        Err(PacketError::Authentication)
    );
}

/// A packet from the remote system (discriminator 9) to side 1.
fn remote(state: State, poll: bool, desired_tx_ms: u32) -> ControlPacket {
    ControlPacket {
        diagnostic: Diagnostic::None,
        state,
        poll,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 9,
        your_discriminator: 1,
        desired_min_tx: desired_tx_ms * MS,
        required_min_rx: 300 * MS,
        required_min_echo_rx: Duration::ZERO,
    }
}

/// §6.8.3, §6.8.4 as BIRD 2 and FRR's bfdd do it: the remote system comes Up and announces its
/// faster rate (1 s to 300 ms) with a Poll, but its next packet leaves when the timer it set at
/// the old rate runs out, about 1 s later. The Poll Sequence's packets (its F answer to our Poll
/// and its own P) still arm the Detection Time at the old rate; from its first periodic packet
/// on, the new one counts. Before, the session went Down 900 ms after the Poll, with BIRD's next
/// packet 100 ms away.
#[test]
fn a_faster_remote_rate_shortens_detection_only_after_the_next_packet() {
    let t0 = Instant::now();
    let mut s = Session::new(config(1, 300, 300, 3), t0);
    s.handle_packet(&remote(State::Init, false, 1000), t0)
        .unwrap();
    assert_eq!(s.state(), State::Up);
    // Its answer to our Poll (F) and its own Poll, back to back, both at the new rate.
    let poll_at = t0 + MS;
    let answer = ControlPacket {
        final_: true,
        ..remote(State::Up, false, 300)
    };
    s.handle_packet(&answer, poll_at).unwrap();
    s.handle_packet(&remote(State::Up, true, 300), poll_at)
        .unwrap();
    // The remote's next packet, 950 ms after its Poll: the session is still Up.
    let next = poll_at + 950 * MS;
    s.handle_timeout(next);
    assert_eq!(
        s.state(),
        State::Up,
        "timed out before the remote's old interval"
    );
    s.handle_packet(&remote(State::Up, false, 300), next)
        .unwrap();
    // From this packet on, 3 x 300 ms.
    s.handle_timeout(next + 899 * MS);
    assert_eq!(s.state(), State::Up);
    s.handle_timeout(next + 900 * MS);
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.diagnostic(), Diagnostic::ControlDetectionTimeExpired);
}
