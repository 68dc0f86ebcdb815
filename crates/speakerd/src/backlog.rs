//! Flow control from the RIB back to a neighbour's socket. Every UPDATE a neighbour task hands
//! to the RIB task carries a [`Ticket`] of that neighbour's [`Backlog`]; the RIB task drops it
//! once the UPDATE is applied. While a neighbour has more than [`Backlog::HIGH_WATER`] UPDATEs
//! waiting, its connection stops reading, so TCP's window holds the rest at the sender (as
//! FRR's input queue limit does) instead of our memory: a full table arriving faster than the
//! RIB applies it costs a bounded queue, not the table again in decoded messages. Reading
//! resumes when the queue is down to [`Backlog::LOW_WATER`]; timers keep running meanwhile.
//! The bytes read but not yet decoded are bounded too: a connection holds a [`ReadPermit`] per
//! chunk until the neighbour task has decoded it, at most [`Backlog::READS_IN_FLIGHT`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus::IntGauge;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The UPDATEs of one neighbour waiting in the RIB task's inbox, and its chunks read but not
/// yet decoded.
#[derive(Debug)]
pub(crate) struct Backlog {
    queued: AtomicUsize,
    /// `bgp_peer_updates_queued` of the neighbour: the same count, for a scrape.
    gauge: IntGauge,
    drained: Notify,
    reads: Arc<Semaphore>,
}

impl Backlog {
    /// An empty backlog that also counts its UPDATEs in `gauge`. The gauge is only moved up and
    /// down, never set: a previous task of the same neighbour may still hold tickets on it.
    pub(crate) fn new(gauge: IntGauge) -> Self {
        Self {
            queued: AtomicUsize::new(0),
            gauge,
            drained: Notify::new(),
            reads: Arc::new(Semaphore::new(Self::READS_IN_FLIGHT)),
        }
    }

    /// Chunks read from the neighbour's connections and not yet decoded, at most.
    pub(crate) const READS_IN_FLIGHT: usize = 4;

    /// Above this many queued UPDATEs the neighbour's socket is not read.
    pub(crate) const HIGH_WATER: usize = 4096;
    /// Reading resumes when the queue is down to this many.
    pub(crate) const LOW_WATER: usize = Self::HIGH_WATER / 2;

    /// Counts one more UPDATE queued; the ticket uncounts it when dropped.
    pub(crate) fn ticket(self: &Arc<Self>) -> Ticket {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.gauge.inc();
        Ticket(Arc::clone(self))
    }

    /// How many UPDATEs are queued.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Returns at once while the queue is at or under [`Backlog::HIGH_WATER`]; otherwise when
    /// it has come down to [`Backlog::LOW_WATER`].
    pub(crate) async fn room(&self) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so that a wake-up in between is not lost.
            drained.as_mut().enable();
            if self.queued() <= Self::HIGH_WATER {
                return;
            }
            drained.await;
        }
    }

    /// Waits until the neighbour's socket may be read: the RIB has room
    /// ([`Backlog::room`]) and fewer than [`Backlog::READS_IN_FLIGHT`] chunks wait to be
    /// decoded. The permit goes with the chunk read.
    pub(crate) async fn read_permit(&self) -> ReadPermit {
        self.room().await;
        let permit = Arc::clone(&self.reads)
            .acquire_owned()
            .await
            .expect("the read semaphore is never closed");
        ReadPermit { _held: permit }
    }
}

/// A chunk read from a neighbour's connection and not yet decoded; dropped once it is.
#[derive(Debug)]
pub(crate) struct ReadPermit {
    _held: OwnedSemaphorePermit,
}

/// One UPDATE of a neighbour queued for the RIB task.
#[derive(Debug)]
pub(crate) struct Ticket(Arc<Backlog>);

impl Drop for Ticket {
    fn drop(&mut self) {
        let before = self.0.queued.fetch_sub(1, Ordering::Relaxed);
        self.0.gauge.dec();
        if before == Backlog::LOW_WATER + 1 {
            self.0.drained.notify_waiters();
        }
    }
}

#[cfg(test)]
impl Backlog {
    /// A backlog whose gauge is in no registry (the unit tests of its users).
    pub(crate) fn unregistered() -> Arc<Self> {
        Arc::new(Self::new(
            IntGauge::new("bgp_peer_updates_queued", "test").expect("a valid name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn reading_pauses_above_high_water_and_resumes_at_low_water() {
        let backlog = Backlog::unregistered();
        let mut tickets: Vec<Ticket> = (0..=Backlog::HIGH_WATER)
            .map(|_| backlog.ticket())
            .collect();
        let waiter = tokio::spawn({
            let backlog = Arc::clone(&backlog);
            async move { backlog.room().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one over high water: no room");
        // Down to just above low water: still waiting.
        tickets.truncate(Backlog::LOW_WATER + 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "above low water: still no room");
        tickets.pop();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken at low water")
            .unwrap();
        assert_eq!(backlog.queued(), Backlog::LOW_WATER);
        assert_eq!(backlog.gauge.get(), Backlog::LOW_WATER as i64);
        drop(tickets);
        assert_eq!(backlog.queued(), 0);
        assert_eq!(backlog.gauge.get(), 0);
        backlog.room().await;
    }

    #[tokio::test]
    async fn reads_wait_for_earlier_chunks_to_be_decoded() {
        let backlog = Backlog::unregistered();
        let mut permits = Vec::new();
        for _ in 0..Backlog::READS_IN_FLIGHT {
            permits.push(backlog.read_permit().await);
        }
        let next = tokio::spawn({
            let backlog = Arc::clone(&backlog);
            async move { drop(backlog.read_permit().await) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!next.is_finished(), "every chunk in flight: no read");
        permits.pop();
        tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("a decoded chunk makes room")
            .unwrap();
    }
}
