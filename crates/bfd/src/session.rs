//! One BFD session in asynchronous mode (RFC 5880 §6): the state machine of §6.8.6, the timer
//! negotiation of §6.8.2-§6.8.4, the Poll Sequence of §6.5 and the transmission rules of §6.8.7.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::packet::{ControlPacket, Diagnostic};
use crate::State;

/// The slowest rate a session may be held to while it is not Up (RFC 5880 §6.8.3: a
/// DesiredMinTxInterval of no less than one second).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// The settings of one session (RFC 5880 §6.8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.LocalDiscr: unique among the system's sessions, never 0.
    pub local_discriminator: u32,
    /// bfd.DesiredMinTxInterval while Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
    /// The Passive role (§6.1): send nothing until the remote system has been heard.
    pub passive: bool,
    /// Seed of the transmit jitter (§6.8.7), so that runs replay exactly.
    pub jitter_seed: u64,
}

/// What a session reports to its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// bfd.SessionState changed; `diagnostic` is bfd.LocalDiag after the change.
    StateChanged {
        /// The state before.
        from: State,
        /// The state now.
        to: State,
        /// Why (RFC 5880 §4.1).
        diagnostic: Diagnostic,
    },
}

/// Why a packet valid on its own does not belong to this session (RFC 5880 §6.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ReceiveError {
    /// Your Discriminator is neither 0 nor our bfd.LocalDiscr.
    #[error("your discriminator {got} is not ours ({ours})")]
    WrongDiscriminator {
        /// The packet's Your Discriminator.
        got: u32,
        /// bfd.LocalDiscr.
        ours: u32,
    },
}

/// One BFD session, sans IO: [`Session::handle_packet`] and [`Session::handle_timeout`] feed
/// it, [`Session::poll_transmit`] yields the Control packets to send (drain it after every
/// call), [`Session::poll_event`] its state changes, [`Session::poll_timeout`] when to call
/// again.
#[derive(Clone, Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    remote_state: State,
    remote_discriminator: u32,
    diagnostic: Diagnostic,
    /// The intervals in our packets (bfd.DesiredMinTxInterval, bfd.RequiredMinRxInterval).
    advertised_tx: Duration,
    advertised_rx: Duration,
    /// The intervals in use for our own timers: they lag the advertised ones while a Poll
    /// Sequence that slows transmission or speeds detection is in progress (§6.8.3).
    tx_in_effect: Duration,
    rx_in_effect: Duration,
    /// bfd.RemoteMinRxInterval, its Desired Min TX Interval and Detect Mult, as last received.
    remote_min_rx: Duration,
    remote_desired_tx: Duration,
    remote_detect_mult: u8,
    /// The remote's Desired Min TX before it lowered it, until its first periodic packet (no
    /// P, no F) after the change; zero otherwise.
    remote_tx_before_change: Duration,
    /// bfd.RemoteDemandMode.
    remote_demand: bool,
    /// A Poll Sequence is in progress (§6.5).
    poll: bool,
    /// A packet with F set is owed (the remote system polled).
    final_owed: bool,
    /// A periodic packet is due.
    periodic_due: bool,
    next_tx: Option<Instant>,
    detection_deadline: Option<Instant>,
    events: VecDeque<Event>,
    rng: u64,
}

impl Session {
    /// A session in state Down (RFC 5880 §6.8.1 initial values); in the Active role it sends
    /// its first packet at once.
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        assert_ne!(
            config.local_discriminator, 0,
            "bfd.LocalDiscr must be non-zero"
        );
        assert_ne!(config.detect_mult, 0, "bfd.DetectMult must be non-zero");
        let advertised_tx = config.desired_min_tx.max(SLOW_TX);
        Session {
            config,
            state: State::Down,
            remote_state: State::Down,
            remote_discriminator: 0,
            diagnostic: Diagnostic::None,
            advertised_tx,
            advertised_rx: config.required_min_rx,
            tx_in_effect: advertised_tx,
            rx_in_effect: config.required_min_rx,
            // §6.8.1: bfd.RemoteMinRxInterval starts at 1 microsecond.
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_tx_before_change: Duration::ZERO,
            remote_demand: false,
            poll: false,
            final_owed: false,
            periodic_due: false,
            next_tx: (!config.passive).then_some(now),
            detection_deadline: None,
            events: VecDeque::new(),
            rng: config.jitter_seed | 1,
        }
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.RemoteSessionState.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// bfd.LocalDiag.
    pub fn diagnostic(&self) -> Diagnostic {
        self.diagnostic
    }

    /// bfd.RemoteDiscr (0 until the remote system has been heard, and after its Detection
    /// Time passed in silence).
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discriminator
    }

    /// The Detection Time in asynchronous mode (§6.8.4): the remote Detect Mult times the
    /// larger of our RequiredMinRxInterval and its last DesiredMinTxInterval; `None` until
    /// the remote system has been heard, and while our RequiredMinRxInterval is 0 (we asked
    /// for no packets: nothing to detect).
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult != 0 && !self.rx_in_effect.is_zero()).then(|| {
            self.rx_in_effect.max(self.remote_desired_tx) * u32::from(self.remote_detect_mult)
        })
    }

    /// The interval between periodic packets before jitter (§6.8.7): the larger of our
    /// DesiredMinTxInterval and the remote RequiredMinRxInterval.
    pub fn transmit_interval(&self) -> Duration {
        self.tx_in_effect.max(self.remote_min_rx)
    }

    /// Whether a Poll Sequence is in progress.
    pub fn polling(&self) -> bool {
        self.poll
    }

    /// The next state change, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_tx, self.detection_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles the timers due at `now`: the Detection Time (§6.8.4) and the periodic
    /// transmission (§6.8.7).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detection_deadline.is_some_and(|d| d <= now) {
            self.detection_deadline = None;
            // §6.8.1: bfd.RemoteDiscr is zeroed when the Detection Time expires.
            self.remote_discriminator = 0;
            self.remote_detect_mult = 0;
            if matches!(self.state, State::Init | State::Up) {
                self.diagnostic = Diagnostic::ControlDetectionTimeExpired;
                self.set_state(State::Down);
            }
        }
        if self.next_tx.is_some_and(|t| t <= now) {
            self.periodic_due = true;
            self.next_tx = None;
        }
    }

    /// Handles a received Control packet that [`ControlPacket::decode`] accepted (RFC 5880
    /// §6.8.6, the checks that need the session).
    pub fn handle_packet(
        &mut self,
        packet: &ControlPacket,
        now: Instant,
    ) -> Result<(), ReceiveError> {
        if packet.your_discriminator != 0
            && packet.your_discriminator != self.config.local_discriminator
        {
            return Err(ReceiveError::WrongDiscriminator {
                got: packet.your_discriminator,
                ours: self.config.local_discriminator,
            });
        }
        let rate_before = self.transmit_interval();
        let previous_remote_tx = self.remote_desired_tx;
        self.remote_discriminator = packet.my_discriminator;
        self.remote_state = packet.state;
        self.remote_demand = packet.demand;
        self.remote_min_rx = packet.required_min_rx;
        self.remote_desired_tx = packet.desired_min_tx;
        self.remote_detect_mult = packet.detect_mult;
        if packet.final_ && self.poll {
            // §6.5: the Poll Sequence ends; the new intervals take effect.
            self.poll = false;
            self.tx_in_effect = self.advertised_tx;
            self.rx_in_effect = self.advertised_rx;
        }
        if self.state != State::AdminDown {
            if packet.state == State::AdminDown {
                if self.state != State::Down {
                    self.diagnostic = Diagnostic::NeighborSignaledSessionDown;
                    self.set_state(State::Down);
                }
            } else {
                match (self.state, packet.state) {
                    (State::Down, State::Down) => self.set_state(State::Init),
                    (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                        self.set_state(State::Up)
                    }
                    (State::Up, State::Down) => {
                        self.diagnostic = Diagnostic::NeighborSignaledSessionDown;
                        self.set_state(State::Down);
                    }
                    _ => {}
                }
            }
        }
        if packet.poll {
            self.final_owed = true;
        }
        // A remote system that lowers its Desired Min TX (coming Up, §6.8.3) may send its next
        // periodic packet when the timer it set at the old rate runs out (BIRD and FRR do), after
        // the packets of the Poll Sequence (P, and F answers, sent at once): until a periodic
        // packet comes, detection allows the old interval.
        if packet.desired_min_tx < previous_remote_tx {
            self.remote_tx_before_change = self.remote_tx_before_change.max(previous_remote_tx);
        } else if !packet.poll && !packet.final_ {
            // A periodic packet at the remote's current rate: its timer runs at that rate now.
            self.remote_tx_before_change = Duration::ZERO;
        }
        let remote_tx = self.remote_desired_tx;
        self.remote_desired_tx = remote_tx.max(self.remote_tx_before_change);
        self.detection_deadline = self.detection_time().map(|d| now + d);
        self.remote_desired_tx = remote_tx;
        self.reschedule(rate_before, now);
        Ok(())
    }

    /// Changes the intervals (§6.8.3): announced at once with a Poll Sequence; a slower
    /// transmission or a faster detection takes effect when the sequence ends, while Up.
    pub fn set_intervals(&mut self, desired_min_tx: Duration, required_min_rx: Duration) {
        self.config.desired_min_tx = desired_min_tx;
        self.config.required_min_rx = required_min_rx;
        self.advertise();
    }

    /// Takes the session administratively down (§6.8.16) or back up (to Down).
    pub fn set_admin_down(&mut self, down: bool) {
        let changed = down != (self.state == State::AdminDown);
        if down && changed {
            self.diagnostic = Diagnostic::AdministrativelyDown;
            self.detection_deadline = None;
            self.set_state(State::AdminDown);
            self.final_owed = false;
        } else if changed {
            self.set_state(State::Down);
        }
        self.advertise();
        // The remote system hears of it at once, not at the next periodic packet (a system
        // going away, §6.8.16, may send nothing after this one).
        if changed && !self.silent() {
            self.periodic_due = true;
            self.next_tx = None;
        }
    }

    /// The next Control packet to send now, if any (§6.8.7): a packet with F owed to the
    /// remote system's Poll goes out at once, the periodic ones at their jittered interval.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        if self.config.passive && self.remote_discriminator == 0 {
            self.periodic_due = false;
            self.final_owed = false;
            return None;
        }
        if self.final_owed {
            // §6.5: never P and F in one packet.
            self.final_owed = false;
            return Some(self.packet(false, true));
        }
        if !self.periodic_due {
            return None;
        }
        self.periodic_due = false;
        self.schedule_periodic(now);
        Some(self.packet(self.poll, false))
    }

    fn packet(&self, poll: bool, final_: bool) -> ControlPacket {
        ControlPacket {
            diagnostic: self.diagnostic,
            state: self.state,
            poll,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.config.detect_mult,
            my_discriminator: self.config.local_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx: self.advertised_tx,
            required_min_rx: self.advertised_rx,
            required_min_echo_rx: Duration::ZERO,
        }
    }

    fn set_state(&mut self, to: State) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if to == State::Up {
            self.diagnostic = Diagnostic::None;
        }
        self.events.push_back(Event::StateChanged {
            from,
            to,
            diagnostic: self.diagnostic,
        });
        // The DesiredMinTxInterval depends on being Up (§6.8.3).
        self.advertise();
    }

    fn desired_tx(&self) -> Duration {
        if self.state == State::Up {
            self.config.desired_min_tx
        } else {
            self.config.desired_min_tx.max(SLOW_TX)
        }
    }

    /// Applies the configured intervals to what we advertise, with a Poll Sequence when they
    /// change (§6.8.3).
    fn advertise(&mut self) {
        let tx = self.desired_tx();
        let rx = self.config.required_min_rx;
        if tx == self.advertised_tx && rx == self.advertised_rx {
            return;
        }
        self.advertised_tx = tx;
        self.advertised_rx = rx;
        if self.state == State::Up {
            // Faster transmission and slower detection at once; the others after the Poll.
            if tx < self.tx_in_effect {
                self.tx_in_effect = tx;
            }
            if rx > self.rx_in_effect {
                self.rx_in_effect = rx;
            }
        } else {
            self.tx_in_effect = tx;
            self.rx_in_effect = rx;
        }
        self.poll = true;
        // A Poll goes out without waiting for the periodic timer.
        if !self.silent() {
            self.periodic_due = true;
            self.next_tx = None;
        }
    }

    /// After an interval changed: the next periodic packet no later than the new rate wants.
    fn reschedule(&mut self, rate_before: Duration, now: Instant) {
        if self.periodic_due {
            return;
        }
        let rate = self.transmit_interval();
        match self.next_tx {
            None => self.schedule_periodic(now),
            Some(next) if rate < rate_before && next > now + rate => self.schedule_periodic(now),
            Some(_) => {}
        }
    }

    /// §6.8.7: no periodic packets to a remote system that asks for none, that runs Demand
    /// mode while both are Up, or, in the Passive role, that has not been heard.
    fn silent(&self) -> bool {
        let remote_demand =
            self.remote_demand && self.state == State::Up && self.remote_state == State::Up;
        self.remote_min_rx.is_zero()
            || remote_demand
            || (self.config.passive && self.remote_discriminator == 0)
    }

    fn schedule_periodic(&mut self, now: Instant) {
        self.next_tx = if self.silent() {
            None
        } else {
            Some(now + self.jittered(self.transmit_interval()))
        };
    }

    /// §6.8.7: the interval reduced by a random 0-25% (10-25% with a Detect Mult of 1).
    fn jittered(&mut self, interval: Duration) -> Duration {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let (low, high) = if self.config.detect_mult == 1 {
            (10, 25)
        } else {
            (0, 25)
        };
        let span = high - low + 1;
        let cut = low + self.rng % span;
        interval * (100 - cut as u32) / 100
    }
}
