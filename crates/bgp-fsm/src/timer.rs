//! The session's timers as a table of deadlines (RFC 4271 §8 and §10), in the style of
//! quinn-proto: nothing sleeps, the driver asks for the earliest deadline and reports the time.

use std::time::{Duration, Instant};

/// The timers of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// ConnectRetryTimer (RFC 4271 §8.1.3).
    ConnectRetry,
    /// HoldTimer.
    Hold,
    /// KeepaliveTimer.
    Keepalive,
    /// DelayOpenTimer (optional attribute DelayOpen).
    DelayOpen,
    /// IdleHoldTimer (optional attribute DampPeerOscillations).
    IdleHold,
    /// SendHoldTimer (RFC 9687).
    SendHold,
}

impl Timer {
    /// Every timer, in the order expired ones are handled.
    pub const ALL: [Timer; 6] = [
        Timer::SendHold,
        Timer::Hold,
        Timer::Keepalive,
        Timer::DelayOpen,
        Timer::ConnectRetry,
        Timer::IdleHold,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines, one slot per timer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; 6],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, deadline: Instant) {
        self.deadlines[timer.index()] = Some(deadline);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    pub(crate) fn is_running(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest deadline of all running timers.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The first timer (in [`Timer::ALL`] order) that has expired at `now`, stopped.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.get(*t).is_some_and(|d| d <= now))?;
        self.stop(timer);
        Some(timer)
    }
}

/// A small deterministic generator for timer jitter (RFC 4271 §10), seeded by the caller so that
/// runs replay exactly (xorshift64*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        // A zero state would stay zero.
        Self {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `base` reduced by a random 0-25 %, as RFC 4271 §10 suggests for ConnectRetry and
    /// Keepalive.
    pub(crate) fn apply(&mut self, base: Duration) -> Duration {
        let factor_per_mille = 750 + self.next() % 251;
        base * factor_per_mille as u32 / 1000
    }
}
