//! What speakerd's in-process tests of the control core share.

use std::net::Ipv4Addr;

use bgp_fsm::Negotiated;
use bgp_proto::capability::GracefulRestart;
use bgp_proto::{Family, Open, SessionContext};

/// The neighbour's AS in these tests.
pub const PEER_AS: u32 = 4_200_000_002;

/// What an Established eBGP session with a modern peer (198.18.0.2) negotiates: IPv4 unicast
/// only, route refresh, and the peer's Graceful Restart capability `gr`.
pub fn negotiated(gr: Option<GracefulRestart>) -> Negotiated {
    Negotiated {
        peer_as: PEER_AS,
        peer_id: Ipv4Addr::new(198, 18, 0, 2),
        ibgp: false,
        hold_time: 90,
        keepalive_time: 30,
        families: vec![Family::IPV4_UNICAST],
        context: SessionContext::modern_ebgp(),
        route_refresh: true,
        enhanced_route_refresh: false,
        extended_next_hop: Vec::new(),
        peer_graceful_restart: gr,
        graceful_notification: false,
        peer_long_lived: Vec::new(),
        peer_open: Open::new(PEER_AS, 90, Ipv4Addr::new(198, 18, 0, 2), Vec::new()),
    }
}
