//! A neighbour's restart as its helper sees it: which of its routes are kept stale, until when,
//! and when they become long-lived stale (RFC 4724 §4.2, RFC 9494 §4.2). The timers are
//! instants the core's `poll_timeout` reports; what they decide is done to the RIB here.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp_fsm::{Negotiated, RetainStale};
use bgp_proto::Family;
use rib::{PeerId, Rib};
use tracing::{info, warn};

/// The families the RIB holds.
const FAMILIES: [Family; 2] = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];

/// The stale routes of one neighbour and their timers.
#[derive(Debug, Default)]
pub(super) struct StaleRoutes {
    /// The restart time of the last session ends (RFC 4724 §4.2): until then the routes of
    /// `graceful` are kept stale.
    restart_until: Option<Instant>,
    /// The families kept for the restart time and not yet refreshed by End-of-RIB.
    graceful: Vec<Family>,
    /// Those of `graceful` that become long-lived stale when the restart time ends, with their
    /// long-lived stale time.
    long_lived_next: Vec<(Family, Duration)>,
    /// The long-lived stale families and when their stale time ends (RFC 9494 §4.2).
    long_lived_until: BTreeMap<Family, Instant>,
}

impl StaleRoutes {
    /// The next instant a timer ends.
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.restart_until
            .into_iter()
            .chain(self.long_lived_until.values().copied())
            .min()
    }

    /// The session went down; `retain` is what the FSM says graceful restart keeps.
    pub(super) fn session_down(
        &mut self,
        peer: PeerId,
        retain: Option<&RetainStale>,
        rib: &mut Rib,
        now: Instant,
    ) {
        let kept = retain.map(RetainStale::kept_families).unwrap_or_default();
        rib.peer_down(peer, &kept);
        // Stale routes of an earlier restart in a family this one does not keep go now, except
        // long-lived stale ones: they stay until their stale time (RFC 9494 §4.2).
        for family in FAMILIES {
            if !kept.contains(&family) && !self.long_lived_until.contains_key(&family) {
                rib.flush_stale(peer, Some(family));
            }
        }
        let Some(retain) = retain else {
            self.restart_until = None;
            self.graceful.clear();
            self.long_lived_next.clear();
            return;
        };
        self.graceful = retain.families.clone();
        self.restart_until = (!retain.families.is_empty()).then(|| now + retain.restart_time);
        let (next, at_once): (Vec<_>, Vec<_>) = retain
            .long_lived
            .iter()
            .partition(|(family, _)| retain.families.contains(family));
        self.long_lived_next = next;
        // A restart time of 0, or a family without graceful restart: long-lived at once.
        for (family, stale_time) in at_once {
            self.begin_long_lived(peer, family, now + stale_time, rib);
        }
    }

    /// The session is Established again: the routes of a family whose forwarding state the
    /// neighbour did not keep, by the F bit of the capability of the phase it is in, are
    /// removed at once (RFC 4724 §4.2, RFC 9494 §4.2); the others wait for End-of-RIB.
    pub(super) fn session_up(
        &mut self,
        peer: PeerId,
        address: IpAddr,
        negotiated: &Negotiated,
        rib: &mut Rib,
    ) {
        let graceful_kept = |family: &Family| {
            negotiated.peer_graceful_restart.as_ref().is_some_and(|gr| {
                gr.families
                    .iter()
                    .any(|f| f.family == *family && f.forwarding_preserved)
            })
        };
        let long_lived_kept = |family: &Family| {
            negotiated
                .peer_long_lived
                .iter()
                .any(|f| f.family == *family && f.forwarding_preserved)
        };
        let lost: Vec<Family> = self
            .graceful
            .iter()
            .filter(|f| !graceful_kept(f))
            .chain(self.long_lived_until.keys().filter(|f| !long_lived_kept(f)))
            .copied()
            .collect();
        for family in lost {
            info!(neighbor = %address, ?family, "forwarding state not kept by the neighbour: stale routes removed");
            rib.flush_stale(peer, Some(family));
            self.end_of_rib(family);
        }
    }

    /// End-of-RIB of `family`: the RIB removed what is still stale; its timers end.
    pub(super) fn end_of_rib(&mut self, family: Family) {
        self.graceful.retain(|f| *f != family);
        self.long_lived_next.retain(|(f, _)| *f != family);
        self.long_lived_until.remove(&family);
        if self.graceful.is_empty() {
            self.restart_until = None;
        }
    }

    /// Does what the timers due at `now` decide.
    pub(super) fn handle_timeout(
        &mut self,
        peer: PeerId,
        address: IpAddr,
        rib: &mut Rib,
        now: Instant,
    ) {
        if self.restart_until.is_some_and(|t| t <= now) {
            self.restart_until = None;
            let next = std::mem::take(&mut self.long_lived_next);
            for family in std::mem::take(&mut self.graceful) {
                match next.iter().find(|(f, _)| *f == family) {
                    Some((_, stale_time)) => {
                        info!(neighbor = %address, ?family, seconds = stale_time.as_secs(),
                            "graceful restart timer expired: routes kept as long-lived stale");
                        self.begin_long_lived(peer, family, now + *stale_time, rib);
                    }
                    None => {
                        warn!(neighbor = %address, ?family, "graceful restart timer expired: stale routes removed");
                        rib.flush_stale(peer, Some(family));
                    }
                }
            }
        }
        let expired: Vec<Family> = self
            .long_lived_until
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(family, _)| *family)
            .collect();
        for family in expired {
            warn!(neighbor = %address, ?family, "long-lived stale time expired: stale routes removed");
            self.long_lived_until.remove(&family);
            rib.flush_stale(peer, Some(family));
        }
    }

    fn begin_long_lived(&mut self, peer: PeerId, family: Family, until: Instant, rib: &mut Rib) {
        rib.enter_long_lived_stale(peer, family);
        // A stale time already running is not restarted (RFC 9494 §4.2).
        self.long_lived_until.entry(family).or_insert(until);
    }
}
