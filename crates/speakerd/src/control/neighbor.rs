//! One neighbour as the core sees it, and the rules that turn a neighbour's configuration into
//! the settings of its RIB entry and of its session.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp_fsm::{ConnectionId, Down, GracefulRestartConfig, Negotiated, SessionConfig, State};
use bgp_proto::capability::AddPathFamily;
use bgp_proto::{Family, FamilySet, RouteRefresh};
use rib::{PeerConfig, PeerId};

use super::restart::StaleRoutes;
use crate::config::NeighborConfig;
use crate::msg::{Output, PeerCommand};

/// A neighbour's entry in the core.
#[derive(Debug)]
pub(super) struct Neighbor {
    pub(super) config: NeighborConfig,
    pub(super) state: State,
    pub(super) negotiated: Option<Box<Negotiated>>,
    pub(super) established_at: Option<Instant>,
    /// Its socket took what it was last given: the next updates may go.
    pub(super) ready_to_send: bool,
    pub(super) eor_sent: bool,
    pub(super) eor_received: HashSet<Family>,
    /// Its routes kept across its restarts, and their timers.
    pub(super) stale: StaleRoutes,
    /// Created on first contact from a dynamic range; not waited for at start.
    pub(super) dynamic: bool,
    /// Families of a ROUTE-REFRESH answered with a BoRR whose EoRR is still to go (RFC 7313).
    pub(super) refresh_ends_due: Vec<Family>,
    /// Families whose routes wait for a next hop, already logged this session.
    pub(super) warned_no_next_hop: FamilySet,
    /// What BMP Statistics Reports count (RFC 7854 §4.8).
    pub(super) monitor: super::MonitorCounts,
    /// The earliest arrival of the UPDATEs whose changes wait in its Adj-RIB-Out.
    pub(super) export_arrival: Option<Instant>,
}

impl Neighbor {
    pub(super) fn new(config: NeighborConfig, dynamic: bool) -> Self {
        Self {
            config,
            state: State::Idle,
            negotiated: None,
            established_at: None,
            ready_to_send: false,
            eor_sent: false,
            eor_received: HashSet::new(),
            stale: StaleRoutes::default(),
            dynamic,
            refresh_ends_due: Vec::new(),
            warned_no_next_hop: FamilySet::EMPTY,
            monitor: super::MonitorCounts::default(),
            export_arrival: None,
        }
    }

    pub(super) fn up(&mut self, negotiated: Box<Negotiated>, now: Instant) {
        self.negotiated = Some(negotiated);
        self.established_at = Some(now);
        self.ready_to_send = true;
        self.eor_sent = false;
        self.eor_received.clear();
        self.refresh_ends_due.clear();
        self.warned_no_next_hop = FamilySet::EMPTY;
    }

    pub(super) fn down(&mut self) {
        self.negotiated = None;
        self.established_at = None;
        self.ready_to_send = false;
        self.export_arrival = None;
    }

    pub(super) fn end_of_rib(&mut self, family: Family) {
        self.eor_received.insert(family);
        self.stale.end_of_rib(family);
    }

    /// The session is up and the neighbour has sent End-of-RIB for every negotiated family.
    pub(super) fn end_of_rib_received(&self) -> bool {
        self.negotiated
            .as_ref()
            .is_some_and(|n| n.families.iter().all(|f| self.eor_received.contains(f)))
    }

    /// The session is up, and the neighbour has sent End-of-RIB for every family or is one
    /// whose End-of-RIB RFC 4724 §4.1 does not wait for: it did not advertise graceful restart
    /// (it may not send one) or it is restarting itself (R bit).
    pub(super) fn awaited_table_received(&self) -> bool {
        let Some(negotiated) = &self.negotiated else {
            return false;
        };
        let awaited = negotiated
            .peer_graceful_restart
            .as_ref()
            .is_some_and(|gr| !gr.restart_state);
        !awaited || self.end_of_rib_received()
    }

    /// Asks the neighbour to send its table again (RFC 2918), for every negotiated family, when
    /// its session negotiated route refresh (it must not be asked otherwise).
    pub(super) fn request_refresh(&self, id: PeerId, outputs: &mut VecDeque<Output>) {
        let negotiated = self.negotiated.iter().filter(|n| n.route_refresh);
        for family in negotiated.flat_map(|n| n.families.iter()) {
            outputs.push_back(Output::Peer {
                peer: id,
                command: PeerCommand::RouteRefresh(RouteRefresh::request(*family)),
            });
        }
    }
}

/// The RIB's view of a configured neighbour.
pub fn rib_peer_config(n: &NeighborConfig) -> PeerConfig {
    let mut c = PeerConfig::new(n.address, n.remote_asn);
    c.rr_client = n.rr_client;
    c.import = n.import.clone();
    c.export = n.export.clone();
    c.max_prefix = n.max_prefix.clone();
    c.next_hop_self = n.next_hop_self;
    c.allow_own_as = n.allow_own_as;
    c.soft_reconfiguration_inbound = n.soft_reconfiguration_inbound;
    c.add_path_send = n.add_path_send;
    match n.local_address {
        Some(IpAddr::V4(v4)) => c.local_ipv4 = Some(v4),
        Some(IpAddr::V6(v6)) => c.local_ipv6 = Some(v6),
        None => {}
    }
    // Configured next hops win over the session's addresses (the RIB keeps the first given).
    c.local_ipv4 = n.next_hop_ipv4.or(c.local_ipv4);
    c.local_ipv6 = n.next_hop_ipv6.or(c.local_ipv6);
    c
}

/// The FSM configuration for a neighbour. With graceful restart the Forwarding State bit is
/// always set (RFC 4724 §3): our forwarding state is the kernel's routing table, which neither a
/// session reset nor a restart of speakerd takes away (shutdown leaves it in place), so a
/// neighbour keeps our routes until our End-of-RIB instead of flushing them when we reconnect.
pub fn session_config(
    n: &NeighborConfig,
    local_as: u32,
    router_id: std::net::Ipv4Addr,
    seed: u64,
    restarting: bool,
) -> SessionConfig {
    let mut c = SessionConfig::new(local_as, router_id, Some(n.remote_asn));
    c.hold_time = n.hold_time;
    c.keepalive_time = n.keepalive_time;
    c.send_hold_time = n.send_hold_time;
    c.connect_retry_time = n.connect_retry_time;
    c.passive = n.passive;
    c.families = n.families.clone();
    c.graceful_restart = n.graceful_restart.as_ref().map(|g| GracefulRestartConfig {
        restart_time: g.restart_time,
        restarting,
        forwarding_preserved: true,
        long_lived_stale_time: g.long_lived_stale_time,
        ..GracefulRestartConfig::default()
    });
    if n.add_path_send > 1 {
        // RFC 7911 §4: we can send several paths per prefix; receiving stays single-path.
        c.add_path = n
            .families
            .iter()
            .map(|family| AddPathFamily {
                family: *family,
                receive: false,
                send: true,
            })
            .collect();
    }
    c.jitter_seed = seed;
    // Back off up to four connect-retry intervals (capped at the default two minutes): a
    // neighbour that refused us only because it did not know us yet (a node joining a mesh) is
    // retried on the scale the operator configured, not minutes later.
    c.damping.max = (n.connect_retry_time.max(Duration::from_secs(1)) * 4).min(c.damping.max);
    c
}

/// Whether speakerd, shutting down, closes an Established session without a NOTIFICATION so
/// that the neighbour keeps our routes (RFC 4724 §4.2: it is the receiving speaker and we are
/// restarting), and keeps the neighbour's routes in our kernel for the next run to take over.
/// That needs graceful restart configured on our side and the neighbour's Graceful Restart
/// capability, in any form: one that lists no address families (the default "aware" or
/// "helper" mode of BIRD and FRR) cannot keep its own forwarding state but still keeps ours
/// (RFC 4724 §3).
pub fn shutdown_without_notification(configured: bool, negotiated: &Negotiated) -> bool {
    configured && negotiated.peer_graceful_restart.is_some()
}

/// Whether a session's `down` on `connection` takes the neighbour down, given the connection
/// that is Established now, if any. Not when the other connection is the Established one: both
/// reached Established before the collision between them was resolved (RFC 4271 §6.8; the
/// peer's KEEPALIVE on the losing connection may already be on the wire when the collision is
/// decided) and this one lost. Telling the core would withdraw the neighbour's routes and stop
/// exporting to the session that stays.
pub fn neighbor_went_down(
    down: &Down,
    connection: ConnectionId,
    established: Option<ConnectionId>,
) -> bool {
    !(down.was_established && established.is_some_and(|other| other != connection))
}
