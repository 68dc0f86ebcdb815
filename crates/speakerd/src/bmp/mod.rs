//! BMP export (RFC 7854) to the collectors of `[[bmp]]` (design: docs/adr/0018-bmp-export.md).
//!
//! The neighbour tasks publish through a [`BmpHub`]: each received UPDATE as it came (a
//! Route Monitoring message encoded once, shared by every collector), Peer Up with both OPENs
//! and Peer Down with the reason. Each collector has a bounded queue (a tokio broadcast
//! channel): publishing never waits, and a collector that falls a whole queue behind is
//! disconnected and counted (`bgp_bmp_messages_dropped_total`), never the neighbour slowed.
//! A collector task ([`Collector`]) connects, sends Initiation, a Peer Up for every Established
//! session and a dump of the Adj-RIB-In (RFC 7854 §5), then the live messages and periodic
//! Statistics Reports, and Termination when the daemon stops.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bgp_fsm::{DownReason, Negotiated, Session};
use bgp_proto::bmp::{
    encode_route_monitoring, info_type, peer_flags, BmpMessage, InfoTlv, PeerDownReason,
    PeerHeader, PeerUp,
};
use bgp_proto::{Family, Message, Notification, SessionContext};
use bytes::{Bytes, BytesMut};
use rib::PeerId;
use tokio::sync::broadcast;

use crate::config::{BmpConfig, NeighborConfig};

mod collector;
mod dump;

pub(crate) use collector::Collector;

/// An Established session as a collector that connects later needs it (RFC 7854 §5).
#[derive(Clone, Debug)]
pub(crate) struct UpPeer {
    /// Its per-peer header (the time it came up).
    pub(crate) header: PeerHeader,
    /// Its Peer Up Notification, encoded.
    pub(crate) message: Bytes,
    /// The wire format of the UPDATEs it sends (4-octet AS, ADD-PATH path ids it sends).
    pub(crate) ctx: SessionContext,
    /// The negotiated families (an End-of-RIB each after the dump).
    pub(crate) families: Vec<Family>,
    /// Its routes are kept as received (soft reconfiguration inbound): the dump is
    /// pre-policy; otherwise it is the RIB's post-policy routes, with the L flag.
    pub(crate) pre_policy: bool,
}

struct Shared {
    /// The Established sessions. Changed and published under the lock, and read with a new
    /// subscription under it, so that a collector sees each Peer Up exactly once.
    up: Mutex<BTreeMap<PeerId, UpPeer>>,
    /// One queue per collector, in the order of the configuration.
    queues: Vec<broadcast::Sender<Bytes>>,
}

/// Where the neighbour tasks publish what the collectors are sent.
#[derive(Clone)]
pub(crate) struct BmpHub(Arc<Shared>);

impl std::fmt::Debug for BmpHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmpHub")
            .field("collectors", &self.0.queues.len())
            .finish()
    }
}

/// sysName (RFC 7854 §4.4): the host's name.
pub(crate) fn sys_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "speakerd".into())
}

/// sysDescr (RFC 7854 §4.4): the program, its version and who we are.
pub(crate) fn sys_descr(router_id: std::net::Ipv4Addr, asn: u32) -> String {
    format!(
        "speakerd {} (BGP-4 speaker), router id {router_id}, AS {asn}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Seconds and microseconds since the Unix epoch (the per-peer header's timestamp).
pub(crate) fn timestamp() -> (u32, u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs() as u32, now.subsec_micros())
}

impl BmpHub {
    /// A hub with a queue for each collector; `None` without collectors.
    pub(crate) fn new(collectors: &[BmpConfig]) -> Option<Self> {
        if collectors.is_empty() {
            return None;
        }
        let queues = collectors
            .iter()
            .map(|c| broadcast::channel(c.queue).0)
            .collect();
        Some(Self(Arc::new(Shared {
            up: Mutex::new(BTreeMap::new()),
            queues,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<PeerId, UpPeer>> {
        // Nothing panics while holding it; a poisoned map is still consistent.
        self.0.up.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, message: Bytes) {
        for queue in &self.0.queues {
            // No receiver (no collector task yet): nothing to deliver to.
            let _ = queue.send(message.clone());
        }
    }

    fn peer_up(&self, peer: PeerId, up: UpPeer) {
        let mut sessions = self.lock();
        self.publish(up.message.clone());
        sessions.insert(peer, up);
    }

    fn peer_down(&self, peer: PeerId, reason: PeerDownReason) {
        let mut sessions = self.lock();
        if let Some(up) = sessions.remove(&peer) {
            let (seconds, micros) = timestamp();
            let peer = PeerHeader {
                seconds,
                micros,
                ..up.header
            };
            self.publish(BmpMessage::PeerDown { peer, reason }.to_bytes());
        }
    }

    /// A new receiver of collector `index`'s queue and the sessions Established at that
    /// moment: the queue has everything that happens after them.
    pub(crate) fn subscribe(
        &self,
        index: usize,
    ) -> (broadcast::Receiver<Bytes>, BTreeMap<PeerId, UpPeer>) {
        let sessions = self.lock();
        (self.0.queues[index].subscribe(), sessions.clone())
    }

    /// The headers of the sessions Established now (for Statistics Reports).
    pub(crate) fn headers(&self) -> BTreeMap<PeerId, PeerHeader> {
        self.lock()
            .iter()
            .map(|(id, up)| (*id, up.header.clone()))
            .collect()
    }
}

/// A neighbour task's side: the per-peer header of its Established session.
#[derive(Debug)]
pub(crate) struct PeerMonitor {
    hub: BmpHub,
    id: PeerId,
    header: Option<PeerHeader>,
    scratch: BytesMut,
}

impl PeerMonitor {
    pub(crate) fn new(hub: BmpHub, id: PeerId) -> Self {
        Self {
            hub,
            id,
            header: None,
            scratch: BytesMut::new(),
        }
    }

    /// The session is Established: Peer Up (RFC 7854 §4.10) with both OPENs as sent and
    /// received and the connection's addresses and ports.
    pub(crate) fn established(
        &mut self,
        config: &NeighborConfig,
        negotiated: &Negotiated,
        session: Option<&Session>,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) {
        let (seconds, micros) = timestamp();
        let mut header = PeerHeader::new(
            config.address.to_canonical(),
            negotiated.peer_as,
            negotiated.peer_id,
            seconds,
            micros,
        );
        if !negotiated.context.four_octet_as {
            header.flags |= peer_flags::A;
        }
        let ctx = SessionContext {
            add_path_tx: negotiated.context.add_path_rx,
            add_path_rx: negotiated.context.add_path_tx,
            ..negotiated.context
        };
        let open_of = |o: &bgp_proto::Open| Message::Open(o.clone()).to_bytes(&ctx);
        let received_open = session
            .and_then(|s| s.received_open().cloned())
            .unwrap_or_else(|| open_of(&negotiated.peer_open));
        let sent_open = session.map(Session::sent_open).unwrap_or_default();
        let information = config
            .description
            .as_deref()
            .map(|d| InfoTlv::text(info_type::STRING, d))
            .into_iter()
            .collect();
        let up = PeerUp {
            local_address: local.map_or(IpAddr::from([0u8; 4]), |a| a.ip().to_canonical()),
            local_port: local.map_or(0, |a| a.port()),
            remote_port: remote.map_or(0, |a| a.port()),
            sent_open,
            received_open,
            information,
        };
        let message = BmpMessage::PeerUp {
            peer: header.clone(),
            up,
        }
        .to_bytes();
        self.header = Some(header.clone());
        let up = UpPeer {
            header,
            message,
            ctx,
            families: negotiated.families.clone(),
            pre_policy: config.soft_reconfiguration_inbound,
        };
        self.hub.peer_up(self.id, up);
    }

    /// A received UPDATE, its octets as they came: Route Monitoring, pre-policy (RFC 7854
    /// §4.6). One copy into the message, shared by every collector.
    pub(crate) fn received(&mut self, update: &[u8]) {
        let Some(header) = &mut self.header else {
            return;
        };
        (header.seconds, header.micros) = timestamp();
        encode_route_monitoring(header, update, &mut self.scratch);
        self.hub.publish(self.scratch.split().freeze());
    }

    /// The Established session went down: Peer Down (RFC 7854 §4.9) with the NOTIFICATION
    /// sent or received, or the peer's closing without one.
    pub(crate) fn down(&mut self, reason: &DownReason) {
        if self.header.take().is_none() {
            return;
        }
        let notification = |n: &Notification| {
            Message::Notification(n.clone()).to_bytes(&SessionContext::default())
        };
        let reason = match reason {
            DownReason::NotificationReceived(n) => {
                PeerDownReason::RemoteNotification(notification(n))
            }
            DownReason::ErrorSent(n) | DownReason::Stopped(n) => {
                PeerDownReason::LocalNotification(notification(n))
            }
            // The FSM sent 4/0 or 8/0 (RFC 4271 §6.5, RFC 9687 §4).
            DownReason::HoldTimerExpired | DownReason::SendHoldTimerExpired => {
                let code = match reason {
                    DownReason::HoldTimerExpired => {
                        bgp_proto::notification::code::HOLD_TIMER_EXPIRED
                    }
                    _ => bgp_proto::notification::code::SEND_HOLD_TIMER_EXPIRED,
                };
                PeerDownReason::LocalNotification(notification(&Notification::new(
                    code,
                    0,
                    Bytes::new(),
                )))
            }
            DownReason::TransportFailed => PeerDownReason::RemoteNoNotification,
        };
        self.hub.peer_down(self.id, reason);
    }
}
