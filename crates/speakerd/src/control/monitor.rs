//! What the BMP Statistics Reports (RFC 7854 §4.8) count for each neighbour: the counters the
//! core keeps as it applies UPDATEs, and the Adj-RIB-In gauges read from the RIB when a
//! collector asks (crate::bmp).

use bgp_proto::{Family, Update};
use rib::{ImportOutcome, PeerId, RejectReason};

use super::Core;

/// Counters of one neighbour since it was configured, for BMP statistics types 0, 4, 11 and
/// 12 (RFC 7854 §4.8); 32-bit counters that wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorCounts {
    /// Type 0: prefixes the import policy rejected (or no policy on an eBGP session, RFC 8212).
    pub rejected_by_policy: u32,
    /// Type 4: UPDATEs with a route refused because our AS is in its AS_PATH.
    pub as_path_loop_updates: u32,
    /// Type 11: UPDATEs treated as withdraw (RFC 7606).
    pub treat_as_withdraw_updates: u32,
    /// Type 12: the prefixes those UPDATEs announced.
    pub treat_as_withdraw_prefixes: u32,
}

impl MonitorCounts {
    /// Counts what one UPDATE did.
    pub(super) fn record(&mut self, update: &Update, outcome: &ImportOutcome) {
        for (reason, n) in &outcome.rejected {
            match reason {
                RejectReason::Policy => {
                    self.rejected_by_policy = self.rejected_by_policy.wrapping_add(*n)
                }
                RejectReason::AsPathLoop => {
                    self.as_path_loop_updates = self.as_path_loop_updates.wrapping_add(1)
                }
                _ => {}
            }
        }
        if update.treat_as_withdraw.is_some() {
            let prefixes = update.nlri.len() + update.mp_reach.as_ref().map_or(0, |m| m.nlri.len());
            self.treat_as_withdraw_updates = self.treat_as_withdraw_updates.wrapping_add(1);
            self.treat_as_withdraw_prefixes = self
                .treat_as_withdraw_prefixes
                .wrapping_add(u32::try_from(prefixes).unwrap_or(u32::MAX));
        }
    }
}

/// One Established neighbour's statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatistics {
    /// The neighbour.
    pub peer: PeerId,
    /// Its counters.
    pub counts: MonitorCounts,
    /// Types 7 and 9: the routes the RIB holds from it after import policy, per negotiated
    /// family.
    pub adj_rib_in: Vec<(Family, u64)>,
}

impl Core {
    /// The statistics of every Established neighbour (RFC 7854 §4.8).
    pub fn bmp_statistics(&self) -> Vec<PeerStatistics> {
        self.neighbors
            .iter()
            .filter_map(|(id, n)| {
                let negotiated = n.negotiated.as_ref()?;
                let adj_rib_in = negotiated
                    .families
                    .iter()
                    .map(|f| (*f, u64::from(self.rib.accepted_count(*id, *f))))
                    .collect();
                Some(PeerStatistics {
                    peer: *id,
                    counts: n.monitor,
                    adj_rib_in,
                })
            })
            .collect()
    }
}
