//! MRT routing information export format reader (RFC 6396), with the ADD-PATH extensions of
//! RFC 8050: BGP4MP and BGP4MP_ET records (BGP messages and state changes as a speaker saw them)
//! and TABLE_DUMP_V2 records (RIB snapshots).
//!
//! Every MRT record starts with a common header (RFC 6396 §2):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Type              |            Subtype            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                             Length                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Message... (variable)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`MrtReader`] iterates over the records of a buffer, [`MrtStream`] over those of any
//! [`std::io::Read`]. Records of types this reader does not interpret are yielded as
//! [`MrtBody::Unknown`], not as errors. Nothing here panics, reads past a length, or allocates
//! more than the input holds.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use thiserror::Error;

use crate::attrs::{decode_table_dump_attributes, DecodedAttributes};
use crate::context::SessionContext;
use crate::error::{DecodeError, UpdateError};
use crate::family::{Afi, Family, FamilySet, Safi};
use crate::message::Message;
use crate::prefix::{decode_nlri, NlriError, Prefix};
use crate::reader::Reader;

/// Length of the common header (RFC 6396 §2).
pub const HEADER_LEN: usize = 12;

/// MRT types this reader interprets (RFC 6396 §4, IANA "MRT Types").
pub mod mrt_type {
    /// TABLE_DUMP_V2 (RFC 6396 §4.3).
    pub const TABLE_DUMP_V2: u16 = 13;
    /// BGP4MP (RFC 6396 §4.4).
    pub const BGP4MP: u16 = 16;
    /// BGP4MP_ET: BGP4MP with a microsecond timestamp (RFC 6396 §3, §4.4).
    pub const BGP4MP_ET: u16 = 17;
}

/// BGP4MP and BGP4MP_ET subtypes (RFC 6396 §4.4, RFC 8050 §3).
pub mod bgp4mp_subtype {
    /// BGP4MP_STATE_CHANGE: 2-octet AS numbers.
    pub const STATE_CHANGE: u16 = 0;
    /// BGP4MP_MESSAGE: a received message, 2-octet AS numbers.
    pub const MESSAGE: u16 = 1;
    /// BGP4MP_MESSAGE_AS4: a received message, 4-octet AS numbers.
    pub const MESSAGE_AS4: u16 = 4;
    /// BGP4MP_STATE_CHANGE_AS4: 4-octet AS numbers.
    pub const STATE_CHANGE_AS4: u16 = 5;
    /// BGP4MP_MESSAGE_LOCAL: a sent message, 2-octet AS numbers.
    pub const MESSAGE_LOCAL: u16 = 6;
    /// BGP4MP_MESSAGE_AS4_LOCAL: a sent message, 4-octet AS numbers.
    pub const MESSAGE_AS4_LOCAL: u16 = 7;
    /// BGP4MP_MESSAGE_ADDPATH (RFC 8050 §3).
    pub const MESSAGE_ADDPATH: u16 = 8;
    /// BGP4MP_MESSAGE_AS4_ADDPATH (RFC 8050 §3).
    pub const MESSAGE_AS4_ADDPATH: u16 = 9;
    /// BGP4MP_MESSAGE_LOCAL_ADDPATH (RFC 8050 §3).
    pub const MESSAGE_LOCAL_ADDPATH: u16 = 10;
    /// BGP4MP_MESSAGE_AS4_LOCAL_ADDPATH (RFC 8050 §3).
    pub const MESSAGE_AS4_LOCAL_ADDPATH: u16 = 11;
}

/// TABLE_DUMP_V2 subtypes (RFC 6396 §4.3, RFC 8050 §4).
pub mod table_dump_v2_subtype {
    /// PEER_INDEX_TABLE.
    pub const PEER_INDEX_TABLE: u16 = 1;
    /// RIB_IPV4_UNICAST.
    pub const RIB_IPV4_UNICAST: u16 = 2;
    /// RIB_IPV4_MULTICAST.
    pub const RIB_IPV4_MULTICAST: u16 = 3;
    /// RIB_IPV6_UNICAST.
    pub const RIB_IPV6_UNICAST: u16 = 4;
    /// RIB_IPV6_MULTICAST.
    pub const RIB_IPV6_MULTICAST: u16 = 5;
    /// RIB_IPV4_UNICAST_ADDPATH (RFC 8050 §4).
    pub const RIB_IPV4_UNICAST_ADDPATH: u16 = 8;
    /// RIB_IPV4_MULTICAST_ADDPATH (RFC 8050 §4).
    pub const RIB_IPV4_MULTICAST_ADDPATH: u16 = 9;
    /// RIB_IPV6_UNICAST_ADDPATH (RFC 8050 §4).
    pub const RIB_IPV6_UNICAST_ADDPATH: u16 = 10;
    /// RIB_IPV6_MULTICAST_ADDPATH (RFC 8050 §4).
    pub const RIB_IPV6_MULTICAST_ADDPATH: u16 = 11;
}

/// Why an MRT record could not be read (RFC 6396).
#[derive(Debug, Error)]
pub enum MrtError {
    /// The input ended inside a common header (RFC 6396 §2).
    #[error("truncated MRT header: {available} of 12 octets")]
    TruncatedHeader {
        /// The octets that were left.
        available: usize,
    },
    /// The Length field of the header runs past the end of the input (RFC 6396 §2).
    #[error("MRT record length {length} overruns the {available} octets left")]
    LengthOverrun {
        /// The Length field.
        length: u32,
        /// The octets that were left after the header.
        available: usize,
    },
    /// An extended-timestamp record is too short to hold its microsecond field (RFC 6396 §3).
    #[error("extended-timestamp record of length {0} has no microsecond field")]
    MissingMicroseconds(u32),
    /// A field of the record body runs past the record's length.
    #[error("MRT {0} truncated")]
    Truncated(&'static str),
    /// An address family that the record cannot carry.
    #[error("MRT {what}: unknown address family {afi}")]
    UnknownAfi {
        /// The record part.
        what: &'static str,
        /// The AFI found.
        afi: u16,
    },
    /// A RIB record's prefix does not decode (RFC 6396 §4.3.2).
    #[error("MRT RIB prefix: {0}")]
    Prefix(#[from] NlriError),
    /// Octets are left after a structure that should fill its record.
    #[error("MRT {0}: trailing octets")]
    TrailingOctets(&'static str),
    /// Reading the underlying source failed.
    #[error("reading MRT input: {0}")]
    Io(#[from] std::io::Error),
}

/// The common header of an MRT record (RFC 6396 §2), with the microsecond field of the
/// extended-timestamp types (RFC 6396 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MrtHeader {
    /// Seconds since the Unix epoch.
    pub timestamp: u32,
    /// The microsecond part of the timestamp, for `_ET` types (RFC 6396 §3).
    pub microseconds: Option<u32>,
    /// The record type.
    pub mrt_type: u16,
    /// The record subtype.
    pub subtype: u16,
    /// The Length field: octets after the common header, microsecond field included.
    pub length: u32,
}

impl MrtHeader {
    /// Decodes the 12-octet common header (RFC 6396 §2). The microsecond field, which belongs to
    /// the body on the wire, is filled in by [`MrtRecord::decode`].
    pub fn decode(buf: &[u8; HEADER_LEN]) -> Self {
        let [t0, t1, t2, t3, y0, y1, s0, s1, l0, l1, l2, l3] = *buf;
        Self {
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            microseconds: None,
            mrt_type: u16::from_be_bytes([y0, y1]),
            subtype: u16::from_be_bytes([s0, s1]),
            length: u32::from_be_bytes([l0, l1, l2, l3]),
        }
    }

    /// Whether the type has an extended timestamp (RFC 6396 §3: BGP4MP_ET, ISIS_ET, OSPFv3_ET).
    pub fn is_extended_timestamp(&self) -> bool {
        matches!(self.mrt_type, mrt_type::BGP4MP_ET | 33 | 49)
    }
}

/// One MRT record (RFC 6396 §2).
#[derive(Debug)]
pub struct MrtRecord {
    /// The common header.
    pub header: MrtHeader,
    /// The typed body.
    pub body: MrtBody,
}

/// The body of an MRT record, by type.
#[derive(Debug)]
pub enum MrtBody {
    /// BGP4MP or BGP4MP_ET (RFC 6396 §4.4).
    Bgp4mp(Bgp4mp),
    /// TABLE_DUMP_V2 (RFC 6396 §4.3).
    TableDumpV2(TableDumpV2),
    /// A type or subtype this reader does not interpret: the body after the common header
    /// (and after the microsecond field of an `_ET` type).
    Unknown(Bytes),
}

impl MrtRecord {
    /// Decodes the body of a record whose header is `header`; `body` holds exactly the
    /// `header.length` octets after the common header.
    pub fn decode(mut header: MrtHeader, body: Bytes) -> Result<Self, MrtError> {
        let mut r = Reader::new(body);
        if header.is_extended_timestamp() {
            header.microseconds = Some(
                r.u32()
                    .ok_or(MrtError::MissingMicroseconds(header.length))?,
            );
        }
        let body = match header.mrt_type {
            mrt_type::BGP4MP | mrt_type::BGP4MP_ET => {
                match Bgp4mp::decode(header.subtype, &mut r)? {
                    Some(b) => MrtBody::Bgp4mp(b),
                    None => MrtBody::Unknown(rest(&mut r)),
                }
            }
            mrt_type::TABLE_DUMP_V2 => match TableDumpV2::decode(header.subtype, &mut r)? {
                Some(t) => MrtBody::TableDumpV2(t),
                None => MrtBody::Unknown(rest(&mut r)),
            },
            _ => MrtBody::Unknown(rest(&mut r)),
        };
        Ok(Self { header, body })
    }
}

fn rest(r: &mut Reader) -> Bytes {
    r.bytes(r.remaining()).unwrap_or_default()
}

/// The peer and local end of a BGP4MP record (RFC 6396 §4.4.1, §4.4.2).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer AS Number        |        Local AS Number        |   (4 octets each
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    in the AS4 subtypes)
/// |        Interface Index        |        Address Family         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                Peer IP Address (variable: 4 or 16)            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                Local IP Address (variable: 4 or 16)           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bgp4mpPeers {
    /// The peer's AS.
    pub peer_as: u32,
    /// The local AS.
    pub local_as: u32,
    /// The interface index of the session.
    pub interface_index: u16,
    /// The peer's address.
    pub peer_ip: IpAddr,
    /// The local address.
    pub local_ip: IpAddr,
}

impl Bgp4mpPeers {
    fn decode(r: &mut Reader, four_octet_as: bool) -> Result<Self, MrtError> {
        let what = "BGP4MP peer header";
        let asn = |r: &mut Reader| {
            if four_octet_as {
                r.u32()
            } else {
                r.u16().map(u32::from)
            }
            .ok_or(MrtError::Truncated(what))
        };
        let peer_as = asn(r)?;
        let local_as = asn(r)?;
        let interface_index = r.u16().ok_or(MrtError::Truncated(what))?;
        let afi = r.u16().ok_or(MrtError::Truncated(what))?;
        let peer_ip = read_ip(r, Afi(afi), what)?;
        let local_ip = read_ip(r, Afi(afi), what)?;
        Ok(Self {
            peer_as,
            local_as,
            interface_index,
            peer_ip,
            local_ip,
        })
    }
}

fn read_ipv4(r: &mut Reader, what: &'static str) -> Result<Ipv4Addr, MrtError> {
    r.u32().map(Ipv4Addr::from).ok_or(MrtError::Truncated(what))
}

fn read_ipv6(r: &mut Reader, what: &'static str) -> Result<Ipv6Addr, MrtError> {
    let hi = r.u32().ok_or(MrtError::Truncated(what))?;
    let mut value = u128::from(hi);
    for _ in 0..3 {
        value = (value << 32) | u128::from(r.u32().ok_or(MrtError::Truncated(what))?);
    }
    Ok(Ipv6Addr::from(value))
}

fn read_ip(r: &mut Reader, afi: Afi, what: &'static str) -> Result<IpAddr, MrtError> {
    match afi {
        Afi::IPV4 => read_ipv4(r, what).map(IpAddr::V4),
        Afi::IPV6 => read_ipv6(r, what).map(IpAddr::V6),
        Afi(afi) => Err(MrtError::UnknownAfi { what, afi }),
    }
}

/// A BGP4MP or BGP4MP_ET record body (RFC 6396 §4.4, RFC 8050 §3).
#[derive(Debug)]
pub enum Bgp4mp {
    /// BGP4MP_STATE_CHANGE or BGP4MP_STATE_CHANGE_AS4 (RFC 6396 §4.4.1, §4.4.5): the session's
    /// FSM moved between the RFC 4271 §8.2.2 states (1 Idle … 6 Established).
    ///
    /// ```text
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |  peer header (see Bgp4mpPeers)                                |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |            Old State          |          New State            |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// ```
    StateChange {
        /// The two ends of the session.
        peers: Bgp4mpPeers,
        /// The state left.
        old_state: u16,
        /// The state entered.
        new_state: u16,
    },
    /// One of the BGP4MP_MESSAGE subtypes (RFC 6396 §4.4.2 to §4.4.6, RFC 8050 §3).
    Message(Box<Bgp4mpMessage>),
}

/// A BGP message recorded by a BGP4MP_MESSAGE subtype (RFC 6396 §4.4.2, §4.4.3, §4.4.6,
/// §4.4.7; RFC 8050 §3).
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  peer header (see Bgp4mpPeers)                                |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    BGP Message... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug)]
pub struct Bgp4mpMessage {
    /// The two ends of the session.
    pub peers: Bgp4mpPeers,
    /// AS numbers are four octets, in the record and in the message (the AS4 subtypes).
    pub four_octet_as: bool,
    /// The message was sent by the local end (the LOCAL subtypes).
    pub local: bool,
    /// NLRI carry ADD-PATH path identifiers (the RFC 8050 ADDPATH subtypes).
    pub add_path: bool,
    /// The whole BGP message as recorded, header included.
    pub raw: Bytes,
    /// The message decoded with [`Bgp4mpMessage::context`].
    pub message: Result<Message, DecodeError>,
}

impl Bgp4mpMessage {
    /// The session context the recorded message is decoded with: 4-octet AS for the AS4
    /// subtypes, ADD-PATH on receipt for every IP family for the ADDPATH subtypes, extended
    /// messages allowed, and iBGP so that no attribute is dropped.
    pub fn context(&self) -> SessionContext {
        context_for(self.four_octet_as, self.add_path)
    }
}

fn context_for(four_octet_as: bool, add_path: bool) -> SessionContext {
    let add_path_rx = if add_path {
        FamilySet::of(&[
            Family::IPV4_UNICAST,
            Family::IPV6_UNICAST,
            Family::IPV4_MULTICAST,
            Family::IPV6_MULTICAST,
        ])
    } else {
        FamilySet::EMPTY
    };
    SessionContext {
        four_octet_as,
        extended_message: true,
        ibgp: true,
        add_path_rx,
        add_path_tx: FamilySet::EMPTY,
    }
}

impl Bgp4mp {
    /// Decodes the body of subtype `subtype`; `None` for subtypes this reader does not know.
    fn decode(subtype: u16, r: &mut Reader) -> Result<Option<Self>, MrtError> {
        use bgp4mp_subtype::*;
        let (four_octet_as, local, add_path) = match subtype {
            STATE_CHANGE | STATE_CHANGE_AS4 => {
                let peers = Bgp4mpPeers::decode(r, subtype == STATE_CHANGE_AS4)?;
                let what = "BGP4MP state change";
                let old_state = r.u16().ok_or(MrtError::Truncated(what))?;
                let new_state = r.u16().ok_or(MrtError::Truncated(what))?;
                if !r.is_empty() {
                    return Err(MrtError::TrailingOctets(what));
                }
                return Ok(Some(Bgp4mp::StateChange {
                    peers,
                    old_state,
                    new_state,
                }));
            }
            MESSAGE => (false, false, false),
            MESSAGE_AS4 => (true, false, false),
            MESSAGE_LOCAL => (false, true, false),
            MESSAGE_AS4_LOCAL => (true, true, false),
            MESSAGE_ADDPATH => (false, false, true),
            MESSAGE_AS4_ADDPATH => (true, false, true),
            MESSAGE_LOCAL_ADDPATH => (false, true, true),
            MESSAGE_AS4_LOCAL_ADDPATH => (true, true, true),
            _ => return Ok(None),
        };
        let peers = Bgp4mpPeers::decode(r, four_octet_as)?;
        let raw = rest(r);
        let message = Message::decode(raw.clone(), &context_for(four_octet_as, add_path));
        Ok(Some(Bgp4mp::Message(Box::new(Bgp4mpMessage {
            peers,
            four_octet_as,
            local,
            add_path,
            raw,
            message,
        }))))
    }
}

/// A TABLE_DUMP_V2 record body (RFC 6396 §4.3, RFC 8050 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableDumpV2 {
    /// PEER_INDEX_TABLE (RFC 6396 §4.3.1).
    PeerIndexTable(PeerIndexTable),
    /// One of the RIB_IPV4/IPV6 UNICAST/MULTICAST subtypes, with or without ADD-PATH
    /// (RFC 6396 §4.3.2, RFC 8050 §4).
    Rib(RibRecord),
}

impl TableDumpV2 {
    /// Decodes the body of subtype `subtype`; `None` for subtypes this reader does not know
    /// (RIB_GENERIC among them).
    fn decode(subtype: u16, r: &mut Reader) -> Result<Option<Self>, MrtError> {
        use table_dump_v2_subtype::*;
        let (afi, safi, add_path) = match subtype {
            PEER_INDEX_TABLE => {
                return PeerIndexTable::decode(r).map(|t| Some(TableDumpV2::PeerIndexTable(t)))
            }
            RIB_IPV4_UNICAST => (Afi::IPV4, Safi::UNICAST, false),
            RIB_IPV4_MULTICAST => (Afi::IPV4, Safi::MULTICAST, false),
            RIB_IPV6_UNICAST => (Afi::IPV6, Safi::UNICAST, false),
            RIB_IPV6_MULTICAST => (Afi::IPV6, Safi::MULTICAST, false),
            RIB_IPV4_UNICAST_ADDPATH => (Afi::IPV4, Safi::UNICAST, true),
            RIB_IPV4_MULTICAST_ADDPATH => (Afi::IPV4, Safi::MULTICAST, true),
            RIB_IPV6_UNICAST_ADDPATH => (Afi::IPV6, Safi::UNICAST, true),
            RIB_IPV6_MULTICAST_ADDPATH => (Afi::IPV6, Safi::MULTICAST, true),
            _ => return Ok(None),
        };
        RibRecord::decode(r, Family::new(afi, safi), add_path).map(|t| Some(TableDumpV2::Rib(t)))
    }
}

/// PEER_INDEX_TABLE (RFC 6396 §4.3.1): the peers the RIB entries of the dump refer to by index.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Collector BGP ID                         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |       View Name Length        |     View Name (variable)      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Peer Count           |    Peer Entries (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIndexTable {
    /// The BGP Identifier of the collector.
    pub collector_id: Ipv4Addr,
    /// The view name, as recorded (normally UTF-8, possibly empty).
    pub view_name: Bytes,
    /// The peers, in index order.
    pub peers: Vec<PeerEntry>,
}

impl PeerIndexTable {
    fn decode(r: &mut Reader) -> Result<Self, MrtError> {
        let what = "PEER_INDEX_TABLE";
        let collector_id = read_ipv4(r, what)?;
        let name_len = r.u16().ok_or(MrtError::Truncated(what))?;
        let view_name = r
            .bytes(usize::from(name_len))
            .ok_or(MrtError::Truncated(what))?;
        let count = r.u16().ok_or(MrtError::Truncated(what))?;
        let mut peers = Vec::new();
        for _ in 0..count {
            peers.push(PeerEntry::decode(r)?);
        }
        if !r.is_empty() {
            return Err(MrtError::TrailingOctets(what));
        }
        Ok(Self {
            collector_id,
            view_name,
            peers,
        })
    }
}

/// One peer of a PEER_INDEX_TABLE (RFC 6396 §4.3.1).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Peer Type   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Peer BGP ID                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   Peer IP Address (variable)                  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Peer AS (variable)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Peer Type bit 0 (value 1): the address is IPv6; bit 1 (value 2): the AS is 4 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerEntry {
    /// The peer's BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// The peer's address.
    pub ip: IpAddr,
    /// The peer's AS.
    pub asn: u32,
}

impl PeerEntry {
    fn decode(r: &mut Reader) -> Result<Self, MrtError> {
        let what = "PEER_INDEX_TABLE peer entry";
        let peer_type = r.u8().ok_or(MrtError::Truncated(what))?;
        let bgp_id = read_ipv4(r, what)?;
        let ip = if peer_type & 1 != 0 {
            IpAddr::V6(read_ipv6(r, what)?)
        } else {
            IpAddr::V4(read_ipv4(r, what)?)
        };
        let asn = if peer_type & 2 != 0 {
            r.u32()
        } else {
            r.u16().map(u32::from)
        }
        .ok_or(MrtError::Truncated(what))?;
        Ok(Self { bgp_id, ip, asn })
    }
}

/// An AFI/SAFI-specific RIB record (RFC 6396 §4.3.2, RFC 8050 §4): every path to one prefix.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Sequence Number                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Prefix Length |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Prefix (variable)                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Entry Count           |  RIB Entries (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibRecord {
    /// The sequence number of the record in the dump.
    pub sequence: u32,
    /// The family, from the subtype.
    pub family: Family,
    /// Whether the entries carry path identifiers (RFC 8050 ADDPATH subtypes).
    pub add_path: bool,
    /// The prefix.
    pub prefix: Prefix,
    /// The paths.
    pub entries: Vec<RibEntry>,
}

impl RibRecord {
    fn decode(r: &mut Reader, family: Family, add_path: bool) -> Result<Self, MrtError> {
        let what = "RIB record";
        let sequence = r.u32().ok_or(MrtError::Truncated(what))?;
        let prefix_len = r.u8().ok_or(MrtError::Truncated(what))?;
        let prefix_bytes = r
            .bytes(usize::from(prefix_len).div_ceil(8))
            .ok_or(MrtError::Truncated(what))?;
        let mut wire = Vec::with_capacity(1 + prefix_bytes.len());
        wire.push(prefix_len);
        wire.extend_from_slice(&prefix_bytes);
        let mut decoded = Vec::with_capacity(1);
        decode_nlri(&wire, family.afi, false, &mut decoded)?;
        let prefix = match decoded.as_slice() {
            [one] => one.prefix,
            _ => return Err(MrtError::Truncated(what)),
        };
        let count = r.u16().ok_or(MrtError::Truncated(what))?;
        let mut entries = Vec::new();
        for _ in 0..count {
            entries.push(RibEntry::decode(r, add_path)?);
        }
        if !r.is_empty() {
            return Err(MrtError::TrailingOctets(what));
        }
        Ok(Self {
            sequence,
            family,
            add_path,
            prefix,
            entries,
        })
    }
}

/// One path of a RIB record (RFC 6396 §4.3.4, RFC 8050 §4).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer Index            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Originated Time                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Path Identifier (ADDPATH subtypes only)       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |      Attribute Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    BGP Attributes... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibEntry {
    /// Index of the peer in the last PEER_INDEX_TABLE.
    pub peer_index: u16,
    /// When the path was received, seconds since the Unix epoch.
    pub originated_time: u32,
    /// The ADD-PATH path identifier (RFC 8050 ADDPATH subtypes).
    pub path_id: Option<u32>,
    /// The attribute block as recorded; see [`RibEntry::decode_attributes`].
    pub attributes: Bytes,
}

impl RibEntry {
    fn decode(r: &mut Reader, add_path: bool) -> Result<Self, MrtError> {
        let what = "RIB entry";
        let peer_index = r.u16().ok_or(MrtError::Truncated(what))?;
        let originated_time = r.u32().ok_or(MrtError::Truncated(what))?;
        let path_id = if add_path {
            Some(r.u32().ok_or(MrtError::Truncated(what))?)
        } else {
            None
        };
        let len = r.u16().ok_or(MrtError::Truncated(what))?;
        let attributes = r.bytes(usize::from(len)).ok_or(MrtError::Truncated(what))?;
        Ok(Self {
            peer_index,
            originated_time,
            path_id,
            attributes,
        })
    }

    /// Decodes the attribute block (RFC 6396 §4.3.4: AS numbers are four octets, and
    /// MP_REACH_NLRI holds only the next hop); `family` is the record's.
    pub fn decode_attributes(&self, family: Family) -> Result<DecodedAttributes, UpdateError> {
        decode_table_dump_attributes(self.attributes.clone(), family, &context_for(true, false))
    }
}

/// Splits one record off the front of `buf`: its header and body, or why it cannot be cut.
fn cut_record(buf: &Bytes) -> Result<(MrtHeader, Bytes), MrtError> {
    let header_bytes: &[u8; HEADER_LEN] = buf
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(MrtError::TruncatedHeader {
            available: buf.len(),
        })?;
    let header = MrtHeader::decode(header_bytes);
    let available = buf.len() - HEADER_LEN;
    let len = usize::try_from(header.length)
        .ok()
        .filter(|&l| l <= available)
        .ok_or(MrtError::LengthOverrun {
            length: header.length,
            available,
        })?;
    Ok((header, buf.slice(HEADER_LEN..HEADER_LEN + len)))
}

/// An iterator over the records of an MRT buffer (RFC 6396 §2).
///
/// A record whose body does not decode yields an `Err` and the iteration goes on with the next
/// record; a header that is cut short or a length that overruns the buffer yields an `Err` and
/// ends the iteration, since the records after it cannot be found.
#[derive(Clone, Debug)]
pub struct MrtReader {
    buf: Bytes,
    done: bool,
}

impl MrtReader {
    /// A reader over the records in `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self { buf, done: false }
    }
}

impl Iterator for MrtReader {
    type Item = Result<MrtRecord, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.buf.is_empty() {
            return None;
        }
        match cut_record(&self.buf) {
            Ok((header, body)) => {
                let consumed = HEADER_LEN + body.len();
                self.buf = self.buf.slice(consumed..);
                Some(MrtRecord::decode(header, body))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// An iterator over the records read from any [`std::io::Read`] (RFC 6396 §2), one record in
/// memory at a time. Errors behave as in [`MrtReader`]; an I/O error ends the iteration.
#[derive(Debug)]
pub struct MrtStream<R> {
    source: R,
    done: bool,
}

impl<R: Read> MrtStream<R> {
    /// A reader over the records of `source`.
    pub fn new(source: R) -> Self {
        Self {
            source,
            done: false,
        }
    }

    fn read_record(&mut self) -> Result<Option<MrtRecord>, MrtError> {
        let mut header_bytes = [0u8; HEADER_LEN];
        let got = read_full(&mut self.source, &mut header_bytes)?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER_LEN {
            return Err(MrtError::TruncatedHeader { available: got });
        }
        let header = MrtHeader::decode(&header_bytes);
        // `take` + `read_to_end` grows the buffer with the data actually read, so a huge Length
        // in a short input allocates no more than the input holds.
        let mut body = Vec::new();
        (&mut self.source)
            .take(u64::from(header.length))
            .read_to_end(&mut body)?;
        if body.len() as u64 != u64::from(header.length) {
            return Err(MrtError::LengthOverrun {
                length: header.length,
                available: body.len(),
            });
        }
        MrtRecord::decode(header, Bytes::from(body)).map(Some)
    }
}

/// Reads until `buf` is full or the source ends; returns the octets read.
fn read_full(source: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read> Iterator for MrtStream<R> {
    type Item = Result<MrtRecord, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                if !matches!(
                    e,
                    MrtError::MissingMicroseconds(_)
                        | MrtError::Truncated(_)
                        | MrtError::UnknownAfi { .. }
                        | MrtError::Prefix(_)
                        | MrtError::TrailingOctets(_)
                ) {
                    self.done = true;
                }
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::{AsPath, NextHop};
    use crate::prefix::Nlri;

    fn record(mrt_type: u16, subtype: u16, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&1_486_801_674u32.to_be_bytes());
        out.extend_from_slice(&mrt_type.to_be_bytes());
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn only(data: Vec<u8>) -> MrtRecord {
        let mut reader = MrtReader::new(Bytes::from(data));
        let rec = reader.next().expect("one record").expect("decodes");
        assert!(reader.next().is_none());
        rec
    }

    /// The BGP4MP peer header: AS 65001 -> 65002, IPv4 10.0.0.1 -> 10.0.0.2.
    fn peers(as4: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if as4 {
            out.extend_from_slice(&65001u32.to_be_bytes());
            out.extend_from_slice(&65002u32.to_be_bytes());
        } else {
            out.extend_from_slice(&65001u16.to_be_bytes());
            out.extend_from_slice(&65002u16.to_be_bytes());
        }
        out.extend_from_slice(&[0, 3, 0, 1, 10, 0, 0, 1, 10, 0, 0, 2]);
        out
    }

    /// An UPDATE announcing 192.0.2.0/24 (with path id 7 when `add_path`), ORIGIN IGP, AS_PATH
    /// 65001 in 2- or 4-octet form, NEXT_HOP 10.0.0.1.
    fn update(as4: bool, add_path: bool) -> Vec<u8> {
        let mut attrs = vec![0x40, 1, 1, 0];
        if as4 {
            attrs.extend_from_slice(&[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9]);
        } else {
            attrs.extend_from_slice(&[0x40, 2, 4, 2, 1, 0xfd, 0xe9]);
        }
        attrs.extend_from_slice(&[0x40, 3, 4, 10, 0, 0, 1]);
        let mut nlri = Vec::new();
        if add_path {
            nlri.extend_from_slice(&7u32.to_be_bytes());
        }
        nlri.extend_from_slice(&[24, 192, 0, 2]);
        let len = 19 + 2 + 2 + attrs.len() + nlri.len();
        let mut out = vec![0xff; 16];
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(2);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        out.extend_from_slice(&attrs);
        out.extend_from_slice(&nlri);
        out
    }

    #[test]
    fn header_fields() {
        let h = MrtHeader::decode(&[0, 0, 0, 5, 0, 16, 0, 4, 0, 0, 1, 2]);
        assert_eq!(
            h,
            MrtHeader {
                timestamp: 5,
                microseconds: None,
                mrt_type: mrt_type::BGP4MP,
                subtype: bgp4mp_subtype::MESSAGE_AS4,
                length: 258,
            }
        );
        assert!(!h.is_extended_timestamp());
    }

    #[test]
    fn truncated_header_ends_iteration() {
        let mut reader = MrtReader::new(Bytes::from_static(&[0, 0, 0, 1, 0, 16, 0]));
        assert!(matches!(
            reader.next(),
            Some(Err(MrtError::TruncatedHeader { available: 7 }))
        ));
        assert!(reader.next().is_none());
    }

    #[test]
    fn length_overrun_ends_iteration() {
        let mut data = record(mrt_type::BGP4MP, 0, &[1, 2, 3]);
        data[11] = 200;
        let mut reader = MrtReader::new(Bytes::from(data));
        assert!(matches!(
            reader.next(),
            Some(Err(MrtError::LengthOverrun {
                length: 200,
                available: 3
            }))
        ));
        assert!(reader.next().is_none());
    }

    #[test]
    fn truncated_body_is_an_error_and_the_next_record_is_read() {
        let mut data = record(mrt_type::BGP4MP, bgp4mp_subtype::STATE_CHANGE, &[0, 1, 0]);
        data.extend(record(99, 1, b"xyz"));
        let mut reader = MrtReader::new(Bytes::from(data));
        assert!(matches!(reader.next(), Some(Err(MrtError::Truncated(_)))));
        let rec = reader.next().expect("second record").expect("decodes");
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == b"xyz"));
        assert!(reader.next().is_none());
    }

    #[test]
    fn unknown_type_and_subtype_are_raw() {
        let rec = only(record(12, 1, &[1, 2]));
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == [1, 2]));
        let rec = only(record(mrt_type::BGP4MP, 2, &[3]));
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == [3]));
        let rec = only(record(mrt_type::TABLE_DUMP_V2, 6, &[4]));
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == [4]));
    }

    #[test]
    fn state_change_both_widths() {
        for (subtype, as4) in [
            (bgp4mp_subtype::STATE_CHANGE, false),
            (bgp4mp_subtype::STATE_CHANGE_AS4, true),
        ] {
            let mut body = peers(as4);
            body.extend_from_slice(&[0, 5, 0, 6]);
            let rec = only(record(mrt_type::BGP4MP, subtype, &body));
            let MrtBody::Bgp4mp(Bgp4mp::StateChange {
                peers,
                old_state,
                new_state,
            }) = rec.body
            else {
                panic!("not a state change: {:?}", rec.body);
            };
            assert_eq!((old_state, new_state), (5, 6));
            assert_eq!((peers.peer_as, peers.local_as), (65001, 65002));
            assert_eq!(peers.interface_index, 3);
            assert_eq!(peers.peer_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
            assert_eq!(peers.local_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        }
    }

    #[test]
    fn every_message_subtype() {
        use bgp4mp_subtype::*;
        for (subtype, as4, local, add_path) in [
            (MESSAGE, false, false, false),
            (MESSAGE_AS4, true, false, false),
            (MESSAGE_LOCAL, false, true, false),
            (MESSAGE_AS4_LOCAL, true, true, false),
            (MESSAGE_ADDPATH, false, false, true),
            (MESSAGE_AS4_ADDPATH, true, false, true),
            (MESSAGE_LOCAL_ADDPATH, false, true, true),
            (MESSAGE_AS4_LOCAL_ADDPATH, true, true, true),
        ] {
            let mut body = peers(as4);
            body.extend(update(as4, add_path));
            let rec = only(record(mrt_type::BGP4MP, subtype, &body));
            let MrtBody::Bgp4mp(Bgp4mp::Message(msg)) = rec.body else {
                panic!("subtype {subtype}: not a message");
            };
            assert_eq!(
                (msg.four_octet_as, msg.local, msg.add_path),
                (as4, local, add_path)
            );
            assert_eq!(msg.peers.peer_as, 65001);
            let ctx = msg.context();
            assert!(ctx.ibgp);
            assert_eq!(ctx.four_octet_as, as4);
            assert_eq!(ctx.receives_path_ids(Family::IPV6_UNICAST), add_path);
            let Ok(Message::Update(u)) = &msg.message else {
                panic!("subtype {subtype}: {:?}", msg.message);
            };
            let prefix: Prefix = "192.0.2.0/24".parse().expect("prefix");
            let expected = Nlri {
                path_id: add_path.then_some(7),
                prefix,
            };
            assert_eq!(u.nlri, vec![expected], "subtype {subtype}");
            assert_eq!(u.attributes.as_path, Some(AsPath::from_sequence([65001])));
        }
    }

    #[test]
    fn extended_timestamp() {
        let mut body = 123_456u32.to_be_bytes().to_vec();
        body.extend(peers(true));
        body.extend_from_slice(&[0, 1, 0, 2]);
        let rec = only(record(
            mrt_type::BGP4MP_ET,
            bgp4mp_subtype::STATE_CHANGE_AS4,
            &body,
        ));
        assert_eq!(rec.header.microseconds, Some(123_456));
        assert!(matches!(
            rec.body,
            MrtBody::Bgp4mp(Bgp4mp::StateChange { .. })
        ));

        let mut reader = MrtReader::new(Bytes::from(record(mrt_type::BGP4MP_ET, 5, &[0, 0])));
        assert!(matches!(
            reader.next(),
            Some(Err(MrtError::MissingMicroseconds(2)))
        ));
    }

    #[test]
    fn undecodable_message_is_kept_raw() {
        let mut body = peers(true);
        body.extend_from_slice(&[0xff; 16]);
        body.extend_from_slice(&[0, 19, 9]);
        let rec = only(record(mrt_type::BGP4MP, bgp4mp_subtype::MESSAGE_AS4, &body));
        let MrtBody::Bgp4mp(Bgp4mp::Message(msg)) = rec.body else {
            panic!("not a message");
        };
        assert!(msg.message.is_err());
        assert_eq!(msg.raw.len(), 19);
    }

    fn peer_index_table() -> Vec<u8> {
        let mut body = vec![1, 1, 1, 1, 0, 4];
        body.extend_from_slice(b"view");
        body.extend_from_slice(&[0, 2]);
        // IPv4, 2-octet AS.
        body.extend_from_slice(&[0, 9, 9, 9, 9, 10, 0, 0, 1, 0xfd, 0xe9]);
        // IPv6, 4-octet AS.
        body.extend_from_slice(&[3, 8, 8, 8, 8]);
        body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("addr").octets());
        body.extend_from_slice(&4_200_000_000u32.to_be_bytes());
        body
    }

    #[test]
    fn peer_index_table_entries() {
        let rec = only(record(
            mrt_type::TABLE_DUMP_V2,
            table_dump_v2_subtype::PEER_INDEX_TABLE,
            &peer_index_table(),
        ));
        let MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(t)) = rec.body else {
            panic!("not a peer index table");
        };
        assert_eq!(t.collector_id, Ipv4Addr::new(1, 1, 1, 1));
        assert_eq!(t.view_name.as_ref(), b"view");
        assert_eq!(
            t.peers,
            vec![
                PeerEntry {
                    bgp_id: Ipv4Addr::new(9, 9, 9, 9),
                    ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                    asn: 65001,
                },
                PeerEntry {
                    bgp_id: Ipv4Addr::new(8, 8, 8, 8),
                    ip: "2001:db8::1".parse().expect("addr"),
                    asn: 4_200_000_000,
                },
            ]
        );

        let mut short = peer_index_table();
        short.pop();
        let mut reader = MrtReader::new(Bytes::from(record(mrt_type::TABLE_DUMP_V2, 1, &short)));
        assert!(matches!(reader.next(), Some(Err(MrtError::Truncated(_)))));
    }

    /// A RIB record body of `prefix` with one entry from peer 1 carrying `attrs`.
    fn rib(prefix: &[u8], path_id: Option<u32>, attrs: &[u8]) -> Vec<u8> {
        let mut body = 42u32.to_be_bytes().to_vec();
        body.extend_from_slice(prefix);
        body.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 9]);
        if let Some(id) = path_id {
            body.extend_from_slice(&id.to_be_bytes());
        }
        body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        body.extend_from_slice(attrs);
        body
    }

    #[test]
    fn rib_ipv4_unicast_and_addpath() {
        // ORIGIN IGP, AS_PATH 4200000000 (4-octet in TABLE_DUMP_V2), NEXT_HOP 10.0.0.1.
        let attrs = [
            0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0xfa, 0x56, 0xea, 0, 0x40, 3, 4, 10, 0, 0, 1,
        ];
        for (subtype, path_id) in [
            (table_dump_v2_subtype::RIB_IPV4_UNICAST, None),
            (table_dump_v2_subtype::RIB_IPV4_UNICAST_ADDPATH, Some(5)),
        ] {
            let body = rib(&[24, 192, 0, 2], path_id, &attrs);
            let rec = only(record(mrt_type::TABLE_DUMP_V2, subtype, &body));
            let MrtBody::TableDumpV2(TableDumpV2::Rib(r)) = rec.body else {
                panic!("not a RIB record");
            };
            assert_eq!(r.sequence, 42);
            assert_eq!(r.family, Family::IPV4_UNICAST);
            assert_eq!(r.add_path, path_id.is_some());
            assert_eq!(r.prefix, "192.0.2.0/24".parse().expect("prefix"));
            let [entry] = r.entries.as_slice() else {
                panic!("one entry");
            };
            assert_eq!(
                (entry.peer_index, entry.originated_time, entry.path_id),
                (1, 9, path_id)
            );
            let decoded = entry.decode_attributes(r.family).expect("attributes");
            assert_eq!(
                decoded.attributes.as_path,
                Some(AsPath::from_sequence([4_200_000_000]))
            );
            assert_eq!(
                decoded.attributes.next_hop,
                Some(Ipv4Addr::new(10, 0, 0, 1))
            );
        }
    }

    #[test]
    fn rib_ipv6_unicast_short_mp_reach() {
        let global: Ipv6Addr = "2001:db8::1".parse().expect("addr");
        let link_local: Ipv6Addr = "fe80::1".parse().expect("addr");
        let mut attrs = vec![0x80, 14, 33, 32];
        attrs.extend_from_slice(&global.octets());
        attrs.extend_from_slice(&link_local.octets());
        for (subtype, path_id) in [
            (table_dump_v2_subtype::RIB_IPV6_UNICAST, None),
            (table_dump_v2_subtype::RIB_IPV6_UNICAST_ADDPATH, Some(77)),
        ] {
            let body = rib(&[32, 0x20, 0x01, 0x0d, 0xb8], path_id, &attrs);
            let rec = only(record(mrt_type::TABLE_DUMP_V2, subtype, &body));
            let MrtBody::TableDumpV2(TableDumpV2::Rib(r)) = rec.body else {
                panic!("not a RIB record");
            };
            assert_eq!(r.family, Family::IPV6_UNICAST);
            assert_eq!(r.prefix, "2001:db8::/32".parse().expect("prefix"));
            assert_eq!(r.entries[0].path_id, path_id);
            let decoded = r.entries[0].decode_attributes(r.family).expect("attrs");
            let reach = decoded.mp_reach.expect("MP_REACH_NLRI");
            assert_eq!(reach.family, Family::IPV6_UNICAST);
            assert_eq!(
                reach.next_hop,
                NextHop::V6 {
                    global,
                    link_local: Some(link_local)
                }
            );
            assert!(reach.nlri.is_empty());
        }
    }

    #[test]
    fn rib_entry_overrunning_the_record() {
        let mut body = rib(&[24, 192, 0, 2], None, &[0x40, 1, 1, 0]);
        body.pop();
        let mut reader = MrtReader::new(Bytes::from(record(mrt_type::TABLE_DUMP_V2, 2, &body)));
        assert!(matches!(reader.next(), Some(Err(MrtError::Truncated(_)))));
        // A prefix longer than the family allows.
        let body = rib(&[33, 1, 2, 3, 4, 5], None, &[]);
        let mut reader = MrtReader::new(Bytes::from(record(mrt_type::TABLE_DUMP_V2, 2, &body)));
        assert!(matches!(reader.next(), Some(Err(MrtError::Prefix(_)))));
    }

    #[test]
    fn stream_reads_the_same_records() {
        let mut data = record(mrt_type::TABLE_DUMP_V2, 1, &peer_index_table());
        data.extend(record(7, 7, b"raw"));
        let from_buf: Vec<_> = MrtReader::new(Bytes::from(data.clone()))
            .map(|r| r.expect("decodes").header)
            .collect();
        let from_stream: Vec<_> = MrtStream::new(data.as_slice())
            .map(|r| r.expect("decodes").header)
            .collect();
        assert_eq!(from_buf, from_stream);
        assert_eq!(from_stream.len(), 2);
    }

    #[test]
    fn stream_with_huge_length_reports_overrun() {
        let mut data = record(mrt_type::BGP4MP, 0, &[1, 2]);
        data[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut stream = MrtStream::new(data.as_slice());
        assert!(matches!(
            stream.next(),
            Some(Err(MrtError::LengthOverrun { available: 2, .. }))
        ));
        assert!(stream.next().is_none());
        let mut stream = MrtStream::new(&data[..5]);
        assert!(matches!(
            stream.next(),
            Some(Err(MrtError::TruncatedHeader { available: 5 }))
        ));
        assert!(stream.next().is_none());
    }
}
