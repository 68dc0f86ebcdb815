//! What a session is configured with: the RFC 4271 §8 session attributes this implementation
//! supports, and the capabilities it offers.

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_proto::capability::{AddPathFamily, ExtendedNextHopFamily};
use bgp_proto::Family;

/// Graceful restart as this speaker offers it (RFC 4724 §3, RFC 8538).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// The restart time we advertise, in seconds (at most 4095).
    pub restart_time: u16,
    /// Advertise the R bit: we have just restarted and are deferring route selection.
    pub restarting: bool,
    /// Advertise the F bit for every family: our forwarding state survived the restart.
    pub forwarding_preserved: bool,
    /// Advertise the N bit (RFC 8538): graceful restart also on NOTIFICATION.
    pub notification: bool,
    /// Offer long-lived graceful restart (RFC 9494 §3.1) with this long-lived stale time in
    /// seconds (at most 2^24 - 1) for every family; `None` sends no LLGR capability.
    pub long_lived_stale_time: Option<u32>,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        Self {
            restart_time: 120,
            restarting: false,
            forwarding_preserved: false,
            notification: true,
            long_lived_stale_time: None,
        }
    }
}

/// Damping of peer oscillations (RFC 4271 §8.1.1, DampPeerOscillations): after a session goes
/// down, the next automatic start waits an idle hold time that doubles with each consecutive
/// failure, up to a maximum, and is reset once a session stays up for `stable_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DampingConfig {
    /// The first idle hold time.
    pub initial: Duration,
    /// The longest idle hold time.
    pub max: Duration,
    /// A session Established this long resets the back-off.
    pub stable_after: Duration,
}

impl Default for DampingConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
            stable_after: Duration::from_secs(240),
        }
    }
}

/// The configuration of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS number.
    pub local_as: u32,
    /// Our BGP Identifier.
    pub local_id: Ipv4Addr,
    /// The peer's AS; `None` accepts any (dynamic neighbours), reported in the negotiated result.
    pub peer_as: Option<u32>,
    /// The hold time we propose (0, or at least 3 seconds).
    pub hold_time: u16,
    /// The keepalive interval; `None` uses a third of the negotiated hold time.
    pub keepalive_time: Option<u16>,
    /// The smallest non-zero hold time we accept from the peer (RFC 4271 §4.2 allows refusing).
    pub min_hold_time: u16,
    /// ConnectRetryTime (RFC 4271 §10 suggests 120 s).
    pub connect_retry_time: Duration,
    /// PassiveTcpEstablishment: wait for the peer to connect.
    pub passive: bool,
    /// DelayOpen with this DelayOpenTime: wait for the peer's OPEN before sending ours.
    pub delay_open: Option<Duration>,
    /// The idle hold time before an automatic restart, with DampPeerOscillations back-off.
    pub damping: DampingConfig,
    /// Restart automatically after the session goes down (AllowAutomaticStart).
    pub automatic_restart: bool,
    /// Families we offer (multiprotocol capabilities).
    pub families: Vec<Family>,
    /// Families without which the session is refused with 2/7 Unsupported Capability.
    pub required_families: Vec<Family>,
    /// ADD-PATH directions we offer per family.
    pub add_path: Vec<AddPathFamily>,
    /// Offer route refresh (RFC 2918) and enhanced route refresh (RFC 7313).
    pub route_refresh: bool,
    /// Offer extended messages (RFC 8654).
    pub extended_message: bool,
    /// Offer extended next hop encodings (RFC 8950).
    pub extended_next_hop: Vec<ExtendedNextHopFamily>,
    /// Offer graceful restart.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// SendHoldTime (RFC 9687); `None` uses max(8 minutes, 2 × hold time).
    pub send_hold_time: Option<Duration>,
    /// Seed of the timer jitter, so that runs replay exactly.
    pub jitter_seed: u64,
    /// Hand every received UPDATE's octets out as [`crate::Action::Received`] too, for BMP
    /// Route Monitoring (RFC 7854 §4.6). Off by default: it costs an action per UPDATE.
    pub monitor: bool,
    /// Hand the octets of every message received, whatever its type and state and before it
    /// is decoded, out as [`crate::Action::Recorded`], for a message log (MRT BGP4MP, RFC 6396
    /// §4.4). Off by default. What is sent is in [`crate::Action::Send`] already.
    pub record: bool,
}

impl SessionConfig {
    /// A configuration with the usual defaults: hold time 90 s, connect retry 120 s, IPv4 and
    /// IPv6 unicast, route refresh, damping on, automatic restart.
    pub fn new(local_as: u32, local_id: Ipv4Addr, peer_as: Option<u32>) -> Self {
        Self {
            local_as,
            local_id,
            peer_as,
            hold_time: 90,
            keepalive_time: None,
            min_hold_time: 3,
            connect_retry_time: Duration::from_secs(120),
            passive: false,
            delay_open: None,
            damping: DampingConfig::default(),
            automatic_restart: true,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            required_families: Vec::new(),
            add_path: Vec::new(),
            route_refresh: true,
            extended_message: false,
            extended_next_hop: Vec::new(),
            graceful_restart: None,
            send_hold_time: None,
            jitter_seed: 0,
            monitor: false,
            record: false,
        }
    }

    /// Whether the peer is in our AS (iBGP), when its AS is configured.
    pub fn is_internal(&self) -> Option<bool> {
        self.peer_as.map(|asn| asn == self.local_as)
    }
}
