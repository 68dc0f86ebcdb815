//! MRT routing information export format reader and writer (RFC 6396), with the ADD-PATH
//! extensions of RFC 8050: BGP4MP and BGP4MP_ET records (BGP messages and state changes as a
//! speaker saw them), TABLE_DUMP_V2 records (RIB snapshots) and the original TABLE_DUMP records.
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
//!
//! The module is split by concern: this file has the common header, the errors and the dispatch
//! by type; BGP4MP records are read in `bgp4mp.rs`, TABLE_DUMP_V2 records in `table_dump_v2.rs`,
//! TABLE_DUMP records in `table_dump.rs`, the iteration over a buffer or a stream in
//! `stream.rs`, and the writers of all three ([`TableDumpV2Writer`] and the others) in
//! `writer.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use thiserror::Error;

use crate::context::SessionContext;
use crate::family::{Afi, Family, FamilySet};
use crate::prefix::{NlriError, PrefixError};
use crate::reader::Reader;

mod bgp4mp;
mod stream;
mod table_dump;
mod table_dump_v2;
#[cfg(test)]
mod test_support;
mod writer;

pub use bgp4mp::{bgp4mp_subtype, Bgp4mp, Bgp4mpMessage, Bgp4mpPeers};
pub use stream::{MrtReader, MrtStream};
pub use table_dump::{table_dump_subtype, TableDump};
pub use table_dump_v2::{
    table_dump_v2_subtype, PeerEntry, PeerIndexTable, RibEntry, RibRecord, TableDumpV2,
};
pub use writer::{
    encode_bgp4mp_message, encode_bgp4mp_state_change_as4, Bgp4mpMessageKind, MrtWriteError,
    TableDumpV2Writer,
};

/// Length of the common header (RFC 6396 §2).
pub const HEADER_LEN: usize = 12;

/// MRT types this reader interprets (RFC 6396 §4, IANA "MRT Types").
pub mod mrt_type {
    /// TABLE_DUMP (RFC 6396 §4.2).
    pub const TABLE_DUMP: u16 = 12;
    /// TABLE_DUMP_V2 (RFC 6396 §4.3).
    pub const TABLE_DUMP_V2: u16 = 13;
    /// BGP4MP (RFC 6396 §4.4).
    pub const BGP4MP: u16 = 16;
    /// BGP4MP_ET: BGP4MP with a microsecond timestamp (RFC 6396 §3, §4.4).
    pub const BGP4MP_ET: u16 = 17;
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
    /// A TABLE_DUMP record's prefix length is longer than its address (RFC 6396 §4.2).
    #[error("MRT TABLE_DUMP prefix: {0}")]
    TableDumpPrefix(PrefixError),
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
    /// TABLE_DUMP (RFC 6396 §4.2).
    TableDump(TableDump),
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
            mrt_type::TABLE_DUMP => match TableDump::decode(header.subtype, &mut r)? {
                Some(t) => MrtBody::TableDump(t),
                None => MrtBody::Unknown(rest(&mut r)),
            },
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

#[cfg(test)]
mod tests {
    use super::test_support::{only, record};
    use super::*;

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
    fn truncated_body_is_an_error_and_the_next_record_is_read() {
        let mut data = record(mrt_type::BGP4MP, bgp4mp_subtype::STATE_CHANGE, &[0, 1, 0]);
        data.extend(record(99, 1, b"xyz"));
        let mut reader = MrtReader::new(Bytes::from(data.clone()));
        assert!(matches!(reader.next(), Some(Err(MrtError::Truncated(_)))));
        assert_eq!(reader.record_offset(), 0);
        let rec = reader.next().expect("second record").expect("decodes");
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == b"xyz"));
        assert_eq!(reader.record_offset(), 15);
        assert!(reader.next().is_none());

        let mut stream = MrtStream::new(data.as_slice());
        assert!(matches!(stream.next(), Some(Err(MrtError::Truncated(_)))));
        assert_eq!(stream.record_offset(), 0);
        assert!(matches!(stream.next(), Some(Ok(_))));
        assert_eq!(stream.record_offset(), 15);
    }

    #[test]
    fn unknown_type_and_subtype_are_raw() {
        let rec = only(record(11, 1, &[1, 2]));
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == [1, 2]));
        let rec = only(record(mrt_type::BGP4MP, 2, &[3]));
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == [3]));
        let rec = only(record(mrt_type::TABLE_DUMP_V2, 6, &[4]));
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == [4]));
        let rec = only(record(mrt_type::TABLE_DUMP, 3, &[4]));
        assert!(matches!(rec.body, MrtBody::Unknown(ref b) if b.as_ref() == [4]));
    }
}
