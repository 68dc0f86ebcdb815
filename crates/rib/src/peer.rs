//! What the RIB knows of a neighbour.

use std::net::{IpAddr, Ipv4Addr};

use bgp_proto::FamilySet;

/// A handle to a neighbour registered with the RIB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

impl PeerId {
    /// The pseudo-peer of locally originated routes.
    pub const LOCAL: PeerId = PeerId(0);
}

/// A neighbour's identity and role, as the decision process and export rules need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The neighbour's address (the decision's last tie-breaker, RFC 4271 §9.1.2.2 g).
    pub address: IpAddr,
    /// Its AS number.
    pub asn: u32,
    /// Its BGP Identifier (known once the session is up).
    pub bgp_id: Ipv4Addr,
    /// It is in our AS.
    pub ibgp: bool,
    /// It is a route-reflector client of ours (RFC 4456).
    pub rr_client: bool,
    /// This is the local pseudo-peer that originates our own prefixes.
    pub is_local: bool,
    /// The families its session negotiated: those both sides advertised in the Multiprotocol
    /// capability (RFC 4760 §8, RFC 5492), set by [`crate::Rib::peer_up`] and emptied by
    /// [`crate::Rib::peer_down`]. No route of another family is sent to it.
    pub families: FamilySet,
    /// The families of its Long-Lived Graceful Restart capability (RFC 9494 §3.1), set by
    /// [`crate::Rib::set_long_lived`]: only in these is it sent long-lived stale routes (§4.3).
    pub long_lived: FamilySet,
}

impl PeerInfo {
    /// The local pseudo-peer.
    pub(crate) fn local(asn: u32, router_id: Ipv4Addr) -> Self {
        Self {
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            asn,
            bgp_id: router_id,
            ibgp: false,
            rr_client: false,
            is_local: true,
            families: FamilySet::EMPTY,
            long_lived: FamilySet::EMPTY,
        }
    }
}
