//! The BGP Monitoring Protocol, version 3 (RFC 7854): typed messages, their encoder and a
//! decoder, with the Loc-RIB peer type of RFC 9069 and the Adj-RIB-Out flag of RFC 8671.
//!
//! Every BMP message starts with the common header (RFC 7854 §4.1); all but Initiation and
//! Termination follow it with the per-peer header (§4.2):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Version    |                Message Length                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    (length)   |  Msg. Type    |   Peer Type   |  Peer Flags   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Peer Distinguisher (8), Peer Address (16), Peer AS,   |
//! |         Peer BGP ID, Timestamp (seconds), Timestamp (µs)      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The BGP messages a BMP message carries (the UPDATE of a Route Monitoring message, the OPENs
//! of a Peer Up, the NOTIFICATION of a Peer Down) are kept as the bytes of the whole BGP
//! message, header included, exactly as RFC 7854 places them: an exporter passes on what it
//! received without decoding it again, and a reader decodes them with
//! [`crate::Message::decode`] and the session's context when it needs to.
//!
//! The encoder is in this file, the decoder in `decode.rs` ([`BmpMessage::decode`],
//! [`frame_len`], [`BmpReader`]); the decoder never panics and turns every malformation into a
//! [`BmpError`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

mod decode;
#[cfg(test)]
mod tests;

pub use decode::{frame_len, BmpError, BmpReader, MAX_MESSAGE_LEN};

/// The BMP version of RFC 7854 (§4.1).
pub const VERSION: u8 = 3;

/// Octets of the common header (RFC 7854 §4.1): version, length, type.
pub const COMMON_HEADER_LEN: usize = 6;

/// Octets of the per-peer header (RFC 7854 §4.2).
pub const PER_PEER_HEADER_LEN: usize = 42;

/// Message types (RFC 7854 §4.1).
pub mod message_type {
    /// Route Monitoring (§4.6).
    pub const ROUTE_MONITORING: u8 = 0;
    /// Statistics Report (§4.8).
    pub const STATISTICS_REPORT: u8 = 1;
    /// Peer Down Notification (§4.9).
    pub const PEER_DOWN: u8 = 2;
    /// Peer Up Notification (§4.10).
    pub const PEER_UP: u8 = 3;
    /// Initiation (§4.3).
    pub const INITIATION: u8 = 4;
    /// Termination (§4.5).
    pub const TERMINATION: u8 = 5;
    /// Route Mirroring (§4.7).
    pub const ROUTE_MIRRORING: u8 = 6;
}

/// Peer types of the per-peer header (RFC 7854 §4.2, RFC 9069 §4.1).
pub mod peer_type {
    /// A peer of the global instance (RFC 7854 §4.2).
    pub const GLOBAL_INSTANCE: u8 = 0;
    /// A peer of an RD instance (RFC 7854 §4.2).
    pub const RD_INSTANCE: u8 = 1;
    /// A peer of a local instance (RFC 7854 §4.2).
    pub const LOCAL_INSTANCE: u8 = 2;
    /// The Loc-RIB instance (RFC 9069 §4.1).
    pub const LOC_RIB: u8 = 3;
}

/// Flags of the per-peer header (RFC 7854 §4.2, RFC 8671 §4, RFC 9069 §4.2).
pub mod peer_flags {
    /// V: the peer address is IPv6 (RFC 7854 §4.2).
    pub const V: u8 = 0x80;
    /// L: post-policy Adj-RIB-In (RFC 7854 §4.2); 0 is pre-policy.
    pub const L: u8 = 0x40;
    /// A: the UPDATEs use 2-octet AS numbers in AS_PATH (RFC 7854 §4.2).
    pub const A: u8 = 0x20;
    /// O: Adj-RIB-Out (RFC 8671 §4); 0 is Adj-RIB-In.
    pub const O: u8 = 0x10;
    /// F: the Loc-RIB is filtered (RFC 9069 §4.2; peer type 3 only).
    pub const F: u8 = 0x80;
}

/// Information TLV types of Initiation and Peer Up messages (RFC 7854 §4.4, RFC 9069 §5.1,
/// RFC 8671 §5).
pub mod info_type {
    /// A free-form UTF-8 string (RFC 7854 §4.4).
    pub const STRING: u16 = 0;
    /// sysDescr (RFC 7854 §4.4; Initiation only).
    pub const SYS_DESCR: u16 = 1;
    /// sysName (RFC 7854 §4.4; Initiation only).
    pub const SYS_NAME: u16 = 2;
    /// VRF/Table Name (RFC 9069 §5.1).
    pub const VRF_TABLE_NAME: u16 = 3;
    /// Admin Label (RFC 8671 §5).
    pub const ADMIN_LABEL: u16 = 4;
}

/// Information TLV types of the Termination message (RFC 7854 §4.5).
pub mod termination_type {
    /// A free-form UTF-8 string.
    pub const STRING: u16 = 0;
    /// A 2-octet reason code ([`super::termination_reason`]).
    pub const REASON: u16 = 1;
}

/// Reason codes of the Termination message (RFC 7854 §4.5).
pub mod termination_reason {
    /// Session administratively closed.
    pub const ADMINISTRATIVELY_CLOSED: u16 = 0;
    /// Unspecified reason.
    pub const UNSPECIFIED: u16 = 1;
    /// Out of resources.
    pub const OUT_OF_RESOURCES: u16 = 2;
    /// Redundant connection.
    pub const REDUNDANT_CONNECTION: u16 = 3;
    /// Session permanently administratively closed.
    pub const PERMANENTLY_ADMINISTRATIVELY_CLOSED: u16 = 4;
}

/// Reason codes of the Peer Down Notification (RFC 7854 §4.9).
pub mod peer_down_reason {
    /// The local system closed the session with this NOTIFICATION.
    pub const LOCAL_NOTIFICATION: u8 = 1;
    /// The local system closed the session without a NOTIFICATION; an FSM event code follows.
    pub const LOCAL_NO_NOTIFICATION: u8 = 2;
    /// The remote system closed the session with this NOTIFICATION.
    pub const REMOTE_NOTIFICATION: u8 = 3;
    /// The remote system closed the session without a NOTIFICATION.
    pub const REMOTE_NO_NOTIFICATION: u8 = 4;
    /// The peer was de-configured: no more information about it follows.
    pub const DECONFIGURED: u8 = 5;
}

/// Statistics types (RFC 7854 §4.8, RFC 8671 §6).
pub mod stat_type {
    /// Prefixes rejected by inbound policy (32-bit counter).
    pub const REJECTED_BY_POLICY: u16 = 0;
    /// Known duplicate prefix advertisements (32-bit counter).
    pub const DUPLICATE_PREFIXES: u16 = 1;
    /// Known duplicate withdraws (32-bit counter).
    pub const DUPLICATE_WITHDRAWS: u16 = 2;
    /// Updates invalidated due to a CLUSTER_LIST loop (32-bit counter).
    pub const CLUSTER_LIST_LOOP: u16 = 3;
    /// Updates invalidated due to an AS_PATH loop (32-bit counter).
    pub const AS_PATH_LOOP: u16 = 4;
    /// Updates invalidated due to ORIGINATOR_ID (32-bit counter).
    pub const ORIGINATOR_ID: u16 = 5;
    /// Updates invalidated due to an AS_CONFED loop (32-bit counter).
    pub const AS_CONFED_LOOP: u16 = 6;
    /// Routes in the Adj-RIBs-In (64-bit gauge).
    pub const ADJ_RIB_IN_ROUTES: u16 = 7;
    /// Routes in the Loc-RIB (64-bit gauge).
    pub const LOC_RIB_ROUTES: u16 = 8;
    /// Routes in the per-AFI/SAFI Adj-RIB-In (AFI, SAFI, 64-bit gauge).
    pub const ADJ_RIB_IN_ROUTES_PER_FAMILY: u16 = 9;
    /// Routes in the per-AFI/SAFI Loc-RIB (AFI, SAFI, 64-bit gauge).
    pub const LOC_RIB_ROUTES_PER_FAMILY: u16 = 10;
    /// Updates subjected to treat-as-withdraw (RFC 7606; 32-bit counter).
    pub const TREAT_AS_WITHDRAW_UPDATES: u16 = 11;
    /// Prefixes subjected to treat-as-withdraw (RFC 7606; 32-bit counter).
    pub const TREAT_AS_WITHDRAW_PREFIXES: u16 = 12;
    /// Duplicate update messages received (32-bit counter).
    pub const DUPLICATE_UPDATES: u16 = 13;
    /// Routes in the pre-policy Adj-RIB-Out (RFC 8671 §6; 64-bit gauge).
    pub const ADJ_RIB_OUT_PRE_ROUTES: u16 = 14;
    /// Routes in the post-policy Adj-RIB-Out (RFC 8671 §6; 64-bit gauge).
    pub const ADJ_RIB_OUT_POST_ROUTES: u16 = 15;
    /// Routes in the per-AFI/SAFI pre-policy Adj-RIB-Out (RFC 8671 §6).
    pub const ADJ_RIB_OUT_PRE_ROUTES_PER_FAMILY: u16 = 16;
    /// Routes in the per-AFI/SAFI post-policy Adj-RIB-Out (RFC 8671 §6).
    pub const ADJ_RIB_OUT_POST_ROUTES_PER_FAMILY: u16 = 17;
}

/// The per-peer header (RFC 7854 §4.2) of every message about one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHeader {
    /// The peer type ([`peer_type`]).
    pub peer_type: u8,
    /// The flags ([`peer_flags`]). For peer types other than Loc-RIB the V flag says how the
    /// addresses are encoded: [`PeerHeader::new`] sets it from the address, and a header whose
    /// V flag does not match its address decodes to another address.
    pub flags: u8,
    /// The Peer Distinguisher (RFC 7854 §4.2): 0 for the global instance.
    pub distinguisher: u64,
    /// The peer's address (the unspecified IPv4 address for the Loc-RIB, RFC 9069 §4.1).
    pub address: IpAddr,
    /// The peer's AS.
    pub asn: u32,
    /// The peer's BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// When the information was received or the event happened: seconds since the Unix epoch.
    pub seconds: u32,
    /// The microseconds of the timestamp.
    pub micros: u32,
}

impl PeerHeader {
    /// A peer of the global instance (RFC 7854 §4.2), with the V flag set for an IPv6 address
    /// and no other flag.
    pub fn new(address: IpAddr, asn: u32, bgp_id: Ipv4Addr, seconds: u32, micros: u32) -> Self {
        Self {
            peer_type: peer_type::GLOBAL_INSTANCE,
            flags: if address.is_ipv6() { peer_flags::V } else { 0 },
            distinguisher: 0,
            address,
            asn,
            bgp_id,
            seconds,
            micros,
        }
    }

    /// Whether the addresses of this header and of its Peer Up are IPv6 (RFC 7854 §4.2: the V
    /// flag; never for the Loc-RIB, RFC 9069 §4.2, where that bit is F).
    pub fn ipv6(&self) -> bool {
        self.peer_type != peer_type::LOC_RIB && self.flags & peer_flags::V != 0
    }

    /// Whether the routes are post-policy (RFC 7854 §4.2: the L flag).
    pub fn post_policy(&self) -> bool {
        self.peer_type != peer_type::LOC_RIB && self.flags & peer_flags::L != 0
    }

    /// Whether the UPDATEs use 2-octet AS numbers (RFC 7854 §4.2: the A flag).
    pub fn two_octet_as(&self) -> bool {
        self.peer_type != peer_type::LOC_RIB && self.flags & peer_flags::A != 0
    }

    /// Appends the 42 octets of the header.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.peer_type);
        out.put_u8(self.flags);
        out.put_u64(self.distinguisher);
        put_address(self.address, out);
        out.put_u32(self.asn);
        out.put_slice(&self.bgp_id.octets());
        out.put_u32(self.seconds);
        out.put_u32(self.micros);
    }
}

/// A 16-octet address field (RFC 7854 §4.2, §4.10): an IPv4 address in the last four octets,
/// zeros before it.
fn put_address(address: IpAddr, out: &mut BytesMut) {
    match address {
        IpAddr::V4(a) => {
            out.put_bytes(0, 12);
            out.put_slice(&a.octets());
        }
        IpAddr::V6(a) => out.put_slice(&a.octets()),
    }
}

/// The address of a 16-octet field: IPv6 or the last four octets as IPv4 (RFC 7854 §4.2).
fn address_of(octets: [u8; 16], ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::from(octets))
    } else {
        IpAddr::V4(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ))
    }
}

/// An information TLV (RFC 7854 §4.4; the same layout in Termination, §4.5, and Peer Up,
/// §4.10, and in Route Mirroring, §4.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoTlv {
    /// Its type ([`info_type`], [`termination_type`]).
    pub kind: u16,
    /// Its value.
    pub value: Bytes,
}

impl InfoTlv {
    /// A TLV holding a UTF-8 text (sysName, sysDescr, a string; RFC 7854 §4.4), cut at a
    /// character boundary to the 65535 octets a TLV holds.
    pub fn text(kind: u16, text: &str) -> Self {
        let mut end = text.len().min(usize::from(u16::MAX));
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            kind,
            value: Bytes::copy_from_slice(&text.as_bytes()[..end]),
        }
    }

    /// The Termination reason TLV (RFC 7854 §4.5).
    pub fn termination_reason(reason: u16) -> Self {
        Self {
            kind: termination_type::REASON,
            value: Bytes::copy_from_slice(&reason.to_be_bytes()),
        }
    }

    /// The value as text, when it is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    fn encode(&self, out: &mut BytesMut) {
        // `text` bounds the value; a longer one built by hand is cut to what the length says.
        let len = self.value.len().min(usize::from(u16::MAX));
        out.put_u16(self.kind);
        out.put_u16(len as u16);
        out.put_slice(&self.value[..len]);
    }
}

/// The value of one statistic (RFC 7854 §4.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatValue {
    /// A 32-bit counter (types 0-6, 11-13).
    Counter(u32),
    /// A 64-bit gauge (types 7, 8, 14, 15).
    Gauge(u64),
    /// A 64-bit gauge of one AFI/SAFI (types 9, 10, 16, 17).
    FamilyGauge {
        /// The AFI.
        afi: u16,
        /// The SAFI.
        safi: u8,
        /// The gauge.
        value: u64,
    },
    /// A type this decoder does not know, as received.
    Other(Bytes),
}

/// One statistic of a Statistics Report (RFC 7854 §4.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Its type ([`stat_type`]).
    pub kind: u16,
    /// Its value.
    pub value: StatValue,
}

impl Stat {
    fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.kind);
        match &self.value {
            StatValue::Counter(v) => {
                out.put_u16(4);
                out.put_u32(*v);
            }
            StatValue::Gauge(v) => {
                out.put_u16(8);
                out.put_u64(*v);
            }
            StatValue::FamilyGauge { afi, safi, value } => {
                out.put_u16(11);
                out.put_u16(*afi);
                out.put_u8(*safi);
                out.put_u64(*value);
            }
            StatValue::Other(raw) => {
                let len = raw.len().min(usize::from(u16::MAX));
                out.put_u16(len as u16);
                out.put_slice(&raw[..len]);
            }
        }
    }
}

/// Why a session went down (RFC 7854 §4.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerDownReason {
    /// Reason 1: we closed it with this NOTIFICATION (the whole BGP message).
    LocalNotification(Bytes),
    /// Reason 2: we closed it without a NOTIFICATION, on this FSM event (RFC 4271 §8.1).
    LocalNoNotification {
        /// The FSM event code.
        fsm_event: u16,
    },
    /// Reason 3: the peer closed it with this NOTIFICATION (the whole BGP message).
    RemoteNotification(Bytes),
    /// Reason 4: the peer closed it (the transport) without a NOTIFICATION.
    RemoteNoNotification,
    /// Reason 5: the peer was de-configured.
    Deconfigured,
    /// A reason this decoder does not know, with its data.
    Other {
        /// The reason code.
        reason: u8,
        /// The data after it.
        data: Bytes,
    },
}

impl PeerDownReason {
    /// The reason code (RFC 7854 §4.9).
    pub fn code(&self) -> u8 {
        match self {
            Self::LocalNotification(_) => peer_down_reason::LOCAL_NOTIFICATION,
            Self::LocalNoNotification { .. } => peer_down_reason::LOCAL_NO_NOTIFICATION,
            Self::RemoteNotification(_) => peer_down_reason::REMOTE_NOTIFICATION,
            Self::RemoteNoNotification => peer_down_reason::REMOTE_NO_NOTIFICATION,
            Self::Deconfigured => peer_down_reason::DECONFIGURED,
            Self::Other { reason, .. } => *reason,
        }
    }
}

/// The body of a Peer Up Notification after the per-peer header (RFC 7854 §4.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerUp {
    /// Our address on the session.
    pub local_address: IpAddr,
    /// Our TCP port.
    pub local_port: u16,
    /// The peer's TCP port.
    pub remote_port: u16,
    /// The OPEN we sent (the whole BGP message).
    pub sent_open: Bytes,
    /// The OPEN we received (the whole BGP message).
    pub received_open: Bytes,
    /// Information TLVs (RFC 7854 §4.4).
    pub information: Vec<InfoTlv>,
}

/// A BMP message (RFC 7854 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BmpMessage {
    /// Route Monitoring (§4.6): an UPDATE (the whole BGP message) of the peer's RIB.
    RouteMonitoring {
        /// The peer.
        peer: PeerHeader,
        /// The UPDATE.
        update: Bytes,
    },
    /// Statistics Report (§4.8).
    StatisticsReport {
        /// The peer.
        peer: PeerHeader,
        /// The statistics.
        stats: Vec<Stat>,
    },
    /// Peer Down Notification (§4.9).
    PeerDown {
        /// The peer.
        peer: PeerHeader,
        /// Why.
        reason: PeerDownReason,
    },
    /// Peer Up Notification (§4.10).
    PeerUp {
        /// The peer.
        peer: PeerHeader,
        /// The session.
        up: PeerUp,
    },
    /// Initiation (§4.3): sysDescr, sysName and other information TLVs.
    Initiation(Vec<InfoTlv>),
    /// Termination (§4.5): the reason and other TLVs.
    Termination(Vec<InfoTlv>),
    /// Route Mirroring (§4.7): TLVs of mirrored messages, kept undecoded.
    RouteMirroring {
        /// The peer.
        peer: PeerHeader,
        /// The TLVs.
        tlvs: Vec<InfoTlv>,
    },
    /// A message type this decoder does not know (RFC 7854 §4.1), its body as received.
    Unknown {
        /// The type.
        kind: u8,
        /// The body after the common header.
        body: Bytes,
    },
}

impl BmpMessage {
    /// The message type (RFC 7854 §4.1).
    pub fn message_type(&self) -> u8 {
        match self {
            Self::RouteMonitoring { .. } => message_type::ROUTE_MONITORING,
            Self::StatisticsReport { .. } => message_type::STATISTICS_REPORT,
            Self::PeerDown { .. } => message_type::PEER_DOWN,
            Self::PeerUp { .. } => message_type::PEER_UP,
            Self::Initiation(_) => message_type::INITIATION,
            Self::Termination(_) => message_type::TERMINATION,
            Self::RouteMirroring { .. } => message_type::ROUTE_MIRRORING,
            Self::Unknown { kind, .. } => *kind,
        }
    }

    /// The per-peer header, for the messages that have one (RFC 7854 §4.2).
    pub fn peer(&self) -> Option<&PeerHeader> {
        match self {
            Self::RouteMonitoring { peer, .. }
            | Self::StatisticsReport { peer, .. }
            | Self::PeerDown { peer, .. }
            | Self::PeerUp { peer, .. }
            | Self::RouteMirroring { peer, .. } => Some(peer),
            Self::Initiation(_) | Self::Termination(_) | Self::Unknown { .. } => None,
        }
    }

    /// Appends the whole message, common header included (RFC 7854 §4.1).
    pub fn encode(&self, out: &mut BytesMut) {
        if let Self::RouteMonitoring { peer, update } = self {
            return encode_route_monitoring(peer, update, out);
        }
        let start = begin(out, self.message_type());
        if let Some(peer) = self.peer() {
            peer.encode(out);
        }
        match self {
            Self::RouteMonitoring { .. } => {}
            Self::StatisticsReport { stats, .. } => {
                out.put_u32(stats.len() as u32);
                stats.iter().for_each(|s| s.encode(out));
            }
            Self::PeerDown { reason, .. } => {
                out.put_u8(reason.code());
                match reason {
                    PeerDownReason::LocalNotification(m)
                    | PeerDownReason::RemoteNotification(m) => out.put_slice(m),
                    PeerDownReason::LocalNoNotification { fsm_event } => out.put_u16(*fsm_event),
                    PeerDownReason::RemoteNoNotification | PeerDownReason::Deconfigured => {}
                    PeerDownReason::Other { data, .. } => out.put_slice(data),
                }
            }
            Self::PeerUp { peer, up } => {
                let local = match (peer.ipv6(), up.local_address) {
                    // An address of the other family than the V flag says: its IPv4 form, or
                    // the IPv4-mapped IPv6 form, so that the field is read back as written.
                    (true, IpAddr::V4(a)) => IpAddr::V6(a.to_ipv6_mapped()),
                    (false, IpAddr::V6(a)) => {
                        IpAddr::V4(a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED))
                    }
                    (_, a) => a,
                };
                put_address(local, out);
                out.put_u16(up.local_port);
                out.put_u16(up.remote_port);
                out.put_slice(&up.sent_open);
                out.put_slice(&up.received_open);
                up.information.iter().for_each(|t| t.encode(out));
            }
            Self::Initiation(tlvs) | Self::Termination(tlvs) => {
                tlvs.iter().for_each(|t| t.encode(out));
            }
            Self::RouteMirroring { tlvs, .. } => tlvs.iter().for_each(|t| t.encode(out)),
            Self::Unknown { body, .. } => out.put_slice(body),
        }
        finish(out, start);
    }

    /// The message encoded into a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

/// Appends a Route Monitoring message (RFC 7854 §4.6) of `update`, a whole BGP UPDATE message,
/// without building a [`BmpMessage`]: one copy of the UPDATE's octets.
pub fn encode_route_monitoring(peer: &PeerHeader, update: &[u8], out: &mut BytesMut) {
    out.reserve(COMMON_HEADER_LEN + PER_PEER_HEADER_LEN + update.len());
    let start = begin(out, message_type::ROUTE_MONITORING);
    peer.encode(out);
    out.put_slice(update);
    finish(out, start);
}

/// Writes the common header with a placeholder length; returns where the message starts.
fn begin(out: &mut BytesMut, kind: u8) -> usize {
    let start = out.len();
    out.put_u8(VERSION);
    out.put_u32(0);
    out.put_u8(kind);
    start
}

/// Patches the length of the message that starts at `start` (RFC 7854 §4.1: the whole
/// message, common header included).
fn finish(out: &mut BytesMut, start: usize) {
    let len = (out.len() - start) as u32;
    out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
}
