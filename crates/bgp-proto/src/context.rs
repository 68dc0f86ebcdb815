//! What a session negotiated, as the codec needs it: passed explicitly to every decode and
//! encode call, never held in globals.

use crate::family::{Family, FamilySet};
use crate::open::Open;

/// The largest message without RFC 8654 extended messages (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// The largest message with RFC 8654 extended messages negotiated.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// The negotiated settings that change the wire format of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionContext {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR carry
    /// 4-octet AS numbers.
    pub four_octet_as: bool,
    /// Both sides advertised extended messages (RFC 8654): messages up to 65535 octets.
    pub extended_message: bool,
    /// The peer is in our AS (iBGP): LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST are accepted.
    pub ibgp: bool,
    /// Families whose received NLRI carry ADD-PATH path identifiers (RFC 7911 §4: we can receive
    /// and the peer can send).
    pub add_path_rx: FamilySet,
    /// Families whose sent NLRI carry path identifiers (we can send and the peer can receive).
    pub add_path_tx: FamilySet,
}

impl SessionContext {
    /// The context in which `receiver` decodes the messages `sender` sends it, from the two
    /// OPENs: 4-octet AS numbers when both advertise them (RFC 6793 §4), extended messages when
    /// both do (RFC 8654 §3), and in `add_path_rx` the families whose NLRI carry path
    /// identifiers, where the sender can send them and the receiver receive them (RFC 7911 §4).
    pub fn of_opens(sender: &Open, receiver: &Open) -> Self {
        let receives = receiver.add_path_families();
        let mut add_path_rx = FamilySet::EMPTY;
        for s in sender.add_path_families().iter().filter(|f| f.send) {
            if receives.iter().any(|r| r.family == s.family && r.receive) {
                add_path_rx.insert(s.family);
            }
        }
        Self {
            four_octet_as: sender.four_octet_as() && receiver.four_octet_as(),
            extended_message: sender.extended_message() && receiver.extended_message(),
            ibgp: sender.asn() == receiver.asn(),
            add_path_rx,
            add_path_tx: FamilySet::EMPTY,
        }
    }

    /// The context of a session between two modern speakers: 4-octet AS, no extended messages,
    /// no ADD-PATH, eBGP.
    pub const fn modern_ebgp() -> Self {
        Self {
            four_octet_as: true,
            extended_message: false,
            ibgp: false,
            add_path_rx: FamilySet::EMPTY,
            add_path_tx: FamilySet::EMPTY,
        }
    }

    /// The largest message this session may carry.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// Whether received NLRI of `family` carry path identifiers.
    pub fn receives_path_ids(&self, family: Family) -> bool {
        self.add_path_rx.contains(family)
    }

    /// Whether sent NLRI of `family` carry path identifiers.
    pub fn sends_path_ids(&self, family: Family) -> bool {
        self.add_path_tx.contains(family)
    }
}

impl Default for SessionContext {
    fn default() -> Self {
        Self::modern_ebgp()
    }
}
