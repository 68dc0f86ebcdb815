//! TABLE_DUMP_V2 records (RFC 6396 §4.3, RFC 8050 §4): RIB snapshots, a peer index table
//! followed by one record per prefix.

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;

use super::{context_for, read_ipv4, read_ipv6, MrtError};
use crate::attrs::{decode_table_dump_attributes, DecodedAttributes};
use crate::error::UpdateError;
use crate::family::{Afi, Family, Safi};
use crate::prefix::{decode_nlri, Prefix};
use crate::reader::Reader;

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
    pub(super) fn decode(subtype: u16, r: &mut Reader) -> Result<Option<Self>, MrtError> {
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

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::super::test_support::{only, peer_index_table, record};
    use super::super::{mrt_type, MrtBody, MrtReader};
    use super::*;
    use crate::attrs::{AsPath, NextHop};

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
}
