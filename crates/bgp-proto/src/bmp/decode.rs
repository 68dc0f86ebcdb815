//! The BMP decoder (RFC 7854 §4): framing by the common header, then each message type's
//! layout. Every length is checked against the octets at hand; a message that does not add up
//! is a [`BmpError`], never a panic or a read past its end.

use bytes::Bytes;
use thiserror::Error;

use super::{
    address_of, message_type, peer_down_reason, stat_type, BmpMessage, InfoTlv, PeerDownReason,
    PeerHeader, PeerUp, Stat, StatValue, COMMON_HEADER_LEN, PER_PEER_HEADER_LEN, VERSION,
};
use crate::message::{message_type as bgp_type, HEADER_LEN};
use crate::reader::Reader;

/// The longest BMP message this decoder accepts (RFC 7854 §4.1 allows 2^32 - 1 octets; no
/// message of a BGP speaker comes near this: two 65535-octet OPENs and their TLVs fit).
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// A malformed BMP message (RFC 7854 §4).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BmpError {
    /// The common header names a version other than 3 (RFC 7854 §4.1).
    #[error("BMP version {0}, expected 3")]
    Version(u8),
    /// The common header's length is shorter than the header or longer than
    /// [`MAX_MESSAGE_LEN`] (RFC 7854 §4.1).
    #[error("BMP message length {0} out of bounds")]
    Length(u32),
    /// The buffer given to [`BmpMessage::decode`] is not exactly the message its header
    /// announces.
    #[error("BMP message of {announced} octets in a buffer of {actual}")]
    Frame {
        /// The length in the common header.
        announced: u32,
        /// The octets given.
        actual: usize,
    },
    /// A field runs past the end of the message.
    #[error("{0}: truncated")]
    Truncated(&'static str),
    /// Octets left over after the last field of a message that has no room for them.
    #[error("{what}: {len} octets left over")]
    Trailing {
        /// The message.
        what: &'static str,
        /// How many.
        len: usize,
    },
    /// An embedded BGP message (RFC 7854 §4.6, §4.9, §4.10) with a bad marker or length, or
    /// not of the type its place calls for.
    #[error("{0}: not a well-formed BGP message of the expected type")]
    BgpMessage(&'static str),
    /// A statistic of a known type with a length other than its type's (RFC 7854 §4.8).
    #[error("statistic type {kind} with {len} octets")]
    StatLength {
        /// The type.
        kind: u16,
        /// Its length.
        len: u16,
    },
    /// A Peer Down reason whose data does not match the reason (RFC 7854 §4.9).
    #[error("peer down reason {0}: data does not match the reason")]
    PeerDownData(u8),
}

/// How many octets the BMP message at the start of `buf` has, once its common header is there
/// (RFC 7854 §4.1): `Ok(None)` while fewer than 6 octets are at hand. The message itself may
/// still be incomplete.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, BmpError> {
    if buf.len() < COMMON_HEADER_LEN {
        return Ok(None);
    }
    if buf[0] != VERSION {
        return Err(BmpError::Version(buf[0]));
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if (len as usize) < COMMON_HEADER_LEN || len as usize > MAX_MESSAGE_LEN {
        return Err(BmpError::Length(len));
    }
    Ok(Some(len as usize))
}

impl BmpMessage {
    /// Decodes one whole message, common header included (RFC 7854 §4); `frame` must hold
    /// exactly that message ([`frame_len`] says how long it is). Embedded BGP messages are
    /// shared slices of `frame`, not copies.
    pub fn decode(frame: Bytes) -> Result<BmpMessage, BmpError> {
        let Some(len) = frame_len(&frame)? else {
            return Err(BmpError::Truncated("common header"));
        };
        if len != frame.len() {
            return Err(BmpError::Frame {
                announced: len as u32,
                actual: frame.len(),
            });
        }
        let kind = frame[5];
        let mut r = Reader::new(frame.slice(COMMON_HEADER_LEN..));
        let message = match kind {
            message_type::ROUTE_MONITORING => {
                let peer = peer_header(&mut r)?;
                let update = bgp_message(&mut r, bgp_type::UPDATE, "route monitoring")?;
                done(&r, "route monitoring")?;
                BmpMessage::RouteMonitoring { peer, update }
            }
            message_type::STATISTICS_REPORT => {
                let peer = peer_header(&mut r)?;
                let stats = statistics(&mut r)?;
                BmpMessage::StatisticsReport { peer, stats }
            }
            message_type::PEER_DOWN => {
                let peer = peer_header(&mut r)?;
                let reason = peer_down(&mut r)?;
                BmpMessage::PeerDown { peer, reason }
            }
            message_type::PEER_UP => {
                let peer = peer_header(&mut r)?;
                let up = peer_up(&mut r, peer.ipv6())?;
                BmpMessage::PeerUp { peer, up }
            }
            message_type::INITIATION => BmpMessage::Initiation(tlvs(&mut r, "initiation")?),
            message_type::TERMINATION => BmpMessage::Termination(tlvs(&mut r, "termination")?),
            message_type::ROUTE_MIRRORING => {
                let peer = peer_header(&mut r)?;
                let tlvs = tlvs(&mut r, "route mirroring")?;
                BmpMessage::RouteMirroring { peer, tlvs }
            }
            kind => BmpMessage::Unknown {
                kind,
                body: frame.slice(COMMON_HEADER_LEN..),
            },
        };
        Ok(message)
    }
}

fn done(r: &Reader, what: &'static str) -> Result<(), BmpError> {
    match r.remaining() {
        0 => Ok(()),
        len => Err(BmpError::Trailing { what, len }),
    }
}

fn array<const N: usize>(r: &mut Reader, what: &'static str) -> Result<[u8; N], BmpError> {
    let bytes = r.bytes(N).ok_or(BmpError::Truncated(what))?;
    let mut out = [0; N];
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// The per-peer header (RFC 7854 §4.2).
fn peer_header(r: &mut Reader) -> Result<PeerHeader, BmpError> {
    const WHAT: &str = "per-peer header";
    if r.remaining() < PER_PEER_HEADER_LEN {
        return Err(BmpError::Truncated(WHAT));
    }
    let truncated = BmpError::Truncated(WHAT);
    let peer_type = r.u8().ok_or(truncated.clone())?;
    let flags = r.u8().ok_or(truncated.clone())?;
    let distinguisher = u64::from_be_bytes(array::<8>(r, WHAT)?);
    let address = array::<16>(r, WHAT)?;
    let asn = r.u32().ok_or(truncated.clone())?;
    let bgp_id = array::<4>(r, WHAT)?.into();
    let seconds = r.u32().ok_or(truncated.clone())?;
    let micros = r.u32().ok_or(truncated)?;
    let mut peer = PeerHeader {
        peer_type,
        flags,
        distinguisher,
        address: address_of(address, false),
        asn,
        bgp_id,
        seconds,
        micros,
    };
    peer.address = address_of(address, peer.ipv6());
    Ok(peer)
}

/// A whole BGP message of type `expected` (RFC 4271 §4.1): marker, a length that fits, type.
fn bgp_message(r: &mut Reader, expected: u8, what: &'static str) -> Result<Bytes, BmpError> {
    let rest = r.rest();
    if rest.len() < HEADER_LEN {
        return Err(BmpError::Truncated(what));
    }
    let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
    if rest[..16].iter().any(|&b| b != 0xff)
        || len < HEADER_LEN
        || len > rest.len()
        || rest[18] != expected
    {
        return Err(BmpError::BgpMessage(what));
    }
    r.bytes(len).ok_or(BmpError::Truncated(what))
}

/// Type-length-value information (RFC 7854 §4.4) to the end of the message.
fn tlvs(r: &mut Reader, what: &'static str) -> Result<Vec<InfoTlv>, BmpError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let kind = r.u16().ok_or(BmpError::Truncated(what))?;
        let len = r.u16().ok_or(BmpError::Truncated(what))?;
        let value = r.bytes(usize::from(len)).ok_or(BmpError::Truncated(what))?;
        out.push(InfoTlv { kind, value });
    }
    Ok(out)
}

/// The body of a Statistics Report (RFC 7854 §4.8): a count, then that many statistics, and
/// nothing after them.
fn statistics(r: &mut Reader) -> Result<Vec<Stat>, BmpError> {
    const WHAT: &str = "statistics report";
    let count = r.u32().ok_or(BmpError::Truncated(WHAT))?;
    // Each statistic has at least its 4-octet type and length: a count the message cannot
    // hold is found before anything is allocated for it.
    if count as usize > r.remaining() / 4 {
        return Err(BmpError::Truncated(WHAT));
    }
    let mut stats = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let kind = r.u16().ok_or(BmpError::Truncated(WHAT))?;
        let len = r.u16().ok_or(BmpError::Truncated(WHAT))?;
        let mut v = r.sub(usize::from(len)).ok_or(BmpError::Truncated(WHAT))?;
        let bad = BmpError::StatLength { kind, len };
        let value = match kind {
            stat_type::REJECTED_BY_POLICY..=stat_type::AS_CONFED_LOOP
            | stat_type::TREAT_AS_WITHDRAW_UPDATES..=stat_type::DUPLICATE_UPDATES => {
                if len != 4 {
                    return Err(bad);
                }
                StatValue::Counter(v.u32().ok_or(bad)?)
            }
            stat_type::ADJ_RIB_IN_ROUTES
            | stat_type::LOC_RIB_ROUTES
            | stat_type::ADJ_RIB_OUT_PRE_ROUTES
            | stat_type::ADJ_RIB_OUT_POST_ROUTES => {
                if len != 8 {
                    return Err(bad);
                }
                StatValue::Gauge(u64::from_be_bytes(array::<8>(&mut v, WHAT)?))
            }
            stat_type::ADJ_RIB_IN_ROUTES_PER_FAMILY
            | stat_type::LOC_RIB_ROUTES_PER_FAMILY
            | stat_type::ADJ_RIB_OUT_PRE_ROUTES_PER_FAMILY
            | stat_type::ADJ_RIB_OUT_POST_ROUTES_PER_FAMILY => {
                if len != 11 {
                    return Err(bad);
                }
                let afi = v.u16().ok_or(bad.clone())?;
                let safi = v.u8().ok_or(bad)?;
                let value = u64::from_be_bytes(array::<8>(&mut v, WHAT)?);
                StatValue::FamilyGauge { afi, safi, value }
            }
            _ => StatValue::Other(v.bytes(usize::from(len)).unwrap_or_default()),
        };
        stats.push(Stat { kind, value });
    }
    done(r, WHAT)?;
    Ok(stats)
}

/// The body of a Peer Down Notification (RFC 7854 §4.9).
fn peer_down(r: &mut Reader) -> Result<PeerDownReason, BmpError> {
    const WHAT: &str = "peer down";
    let reason = r.u8().ok_or(BmpError::Truncated(WHAT))?;
    let bad = BmpError::PeerDownData(reason);
    let out = match reason {
        peer_down_reason::LOCAL_NOTIFICATION | peer_down_reason::REMOTE_NOTIFICATION => {
            let m = bgp_message(r, bgp_type::NOTIFICATION, WHAT)?;
            if reason == peer_down_reason::LOCAL_NOTIFICATION {
                PeerDownReason::LocalNotification(m)
            } else {
                PeerDownReason::RemoteNotification(m)
            }
        }
        peer_down_reason::LOCAL_NO_NOTIFICATION => PeerDownReason::LocalNoNotification {
            fsm_event: r.u16().ok_or(bad.clone())?,
        },
        peer_down_reason::REMOTE_NO_NOTIFICATION => PeerDownReason::RemoteNoNotification,
        peer_down_reason::DECONFIGURED => PeerDownReason::Deconfigured,
        reason => {
            let data = r.bytes(r.remaining()).unwrap_or_default();
            return Ok(PeerDownReason::Other { reason, data });
        }
    };
    if !r.is_empty() {
        return Err(bad);
    }
    Ok(out)
}

/// The body of a Peer Up Notification (RFC 7854 §4.10).
fn peer_up(r: &mut Reader, ipv6: bool) -> Result<PeerUp, BmpError> {
    const WHAT: &str = "peer up";
    let local_address = address_of(array::<16>(r, WHAT)?, ipv6);
    let local_port = r.u16().ok_or(BmpError::Truncated(WHAT))?;
    let remote_port = r.u16().ok_or(BmpError::Truncated(WHAT))?;
    let sent_open = bgp_message(r, bgp_type::OPEN, "peer up: sent OPEN")?;
    let received_open = bgp_message(r, bgp_type::OPEN, "peer up: received OPEN")?;
    let information = tlvs(r, WHAT)?;
    Ok(PeerUp {
        local_address,
        local_port,
        remote_port,
        sent_open,
        received_open,
        information,
    })
}

/// The BMP messages of a buffer (a capture of a BMP session, RFC 7854 §3.2), one after the
/// other; after the first error it yields nothing more. A message cut off at the end of the
/// buffer is an error.
#[derive(Debug)]
pub struct BmpReader {
    buf: Bytes,
    failed: bool,
}

impl BmpReader {
    /// A reader of the messages in `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self { buf, failed: false }
    }

    /// The octets not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

impl Iterator for BmpReader {
    type Item = Result<BmpMessage, BmpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let result = match frame_len(&self.buf) {
            Ok(Some(len)) if len <= self.buf.len() => BmpMessage::decode(self.buf.split_to(len)),
            Ok(_) => Err(BmpError::Truncated("message at the end of the buffer")),
            Err(e) => Err(e),
        };
        self.failed = result.is_err();
        Some(result)
    }
}
