//! Writing MRT records (RFC 6396): TABLE_DUMP_V2 RIB snapshots with the ADD-PATH subtypes of
//! RFC 8050 (§4.3), BGP4MP messages and state changes with 4-octet AS numbers (§4.4), and the
//! original TABLE_DUMP records (§4.2).
//!
//! The writers are sans-IO: they append whole records to a [`BytesMut`] and the caller writes
//! the buffer wherever it likes. The attribute block of a RIB entry is encoded once per
//! attribute set with [`crate::attrs::encode_table_dump_attributes`] and shared between the
//! entries that carry it ([`RibEntry::attributes`] is a [`Bytes`]), so a route costs a copy of
//! its block and a few fields. Every field that does not fit its width is an error, never a
//! silently truncated record.

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};
use thiserror::Error;

use super::{
    bgp4mp_subtype, mrt_type, table_dump_subtype, table_dump_v2_subtype, Bgp4mpPeers,
    PeerIndexTable, RibEntry, TableDump, HEADER_LEN,
};
use crate::family::{Afi, Family, Safi};
use crate::prefix::Prefix;

/// Why an MRT record could not be written (RFC 6396): a field that does not fit its width or
/// does not match the record's family.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MrtWriteError {
    /// More than 65535 peers in a PEER_INDEX_TABLE (RFC 6396 §4.3.1: 2-octet Peer Count).
    #[error("{0} peers do not fit a PEER_INDEX_TABLE (at most 65535)")]
    TooManyPeers(usize),
    /// A view name longer than 65535 octets (RFC 6396 §4.3.1).
    #[error("view name of {0} octets is too long (at most 65535)")]
    ViewNameTooLong(usize),
    /// More than 65535 entries for one prefix (RFC 6396 §4.3.2: 2-octet Entry Count).
    #[error("{count} paths to {prefix} do not fit a RIB record (at most 65535)")]
    TooManyEntries {
        /// The prefix.
        prefix: Prefix,
        /// The number of paths.
        count: usize,
    },
    /// An attribute block longer than 65535 octets (RFC 6396 §4.3.4: 2-octet length).
    #[error("attribute block of {0} octets is too long (at most 65535)")]
    AttributesTooLong(usize),
    /// A record longer than the 4-octet Length field allows (RFC 6396 §2).
    #[error("MRT record of {0} octets is too long")]
    RecordTooLong(usize),
    /// A family that the RIB subtypes cannot carry (RFC 6396 §4.3.2: IPv4 and IPv6 unicast and
    /// multicast), or a prefix of another address family than the record's.
    #[error("prefix {prefix} cannot go in a RIB record of AFI {afi} SAFI {safi}")]
    Family {
        /// The prefix.
        prefix: Prefix,
        /// The record's AFI.
        afi: u16,
        /// The record's SAFI.
        safi: u8,
    },
    /// A RIB entry whose path identifier does not match its record: an ADDPATH record needs
    /// one in every entry, the others none (RFC 8050 §4).
    #[error("RIB entry for {0}: path identifier does not match the record's subtype")]
    PathIdMismatch(Prefix),
    /// The two addresses of a BGP4MP peer header, or a TABLE_DUMP prefix and peer, are of
    /// different families (RFC 6396 §4.2, §4.4.1: one Address Family field for both).
    #[error("addresses {0} and {1} are of different families")]
    MixedFamilies(IpAddr, IpAddr),
}

/// Appends a common header (RFC 6396 §2) with a zero length; [`finish_record`] fills it in.
fn begin_record(out: &mut BytesMut, timestamp: u32, mrt_type: u16, subtype: u16) -> usize {
    let start = out.len();
    out.put_u32(timestamp);
    out.put_u16(mrt_type);
    out.put_u16(subtype);
    out.put_u32(0);
    start
}

/// Fills in the Length field of the record that starts at `start`, or removes the record and
/// fails if it is too long.
fn finish_record(out: &mut BytesMut, start: usize) -> Result<(), MrtWriteError> {
    let len = out.len() - start - HEADER_LEN;
    let Ok(field) = u32::try_from(len) else {
        out.truncate(start);
        return Err(MrtWriteError::RecordTooLong(len));
    };
    out[start + 8..start + 12].copy_from_slice(&field.to_be_bytes());
    Ok(())
}

fn put_ip(out: &mut BytesMut, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => out.put_slice(&a.octets()),
        IpAddr::V6(a) => out.put_slice(&a.octets()),
    }
}

fn u16_len(len: usize, err: impl FnOnce(usize) -> MrtWriteError) -> Result<u16, MrtWriteError> {
    u16::try_from(len).map_err(|_| err(len))
}

/// Writes a TABLE_DUMP_V2 dump (RFC 6396 §4.3, RFC 8050 §4): the PEER_INDEX_TABLE first, then
/// one RIB record per prefix (two when some of its paths carry ADD-PATH path identifiers and
/// some do not), numbered from 0 in the order they are written.
#[derive(Clone, Debug)]
pub struct TableDumpV2Writer {
    timestamp: u32,
    sequence: u32,
}

impl TableDumpV2Writer {
    /// A writer whose records all carry `timestamp` (seconds since the Unix epoch: the time of
    /// the snapshot).
    pub fn new(timestamp: u32) -> Self {
        Self {
            timestamp,
            sequence: 0,
        }
    }

    /// Appends the PEER_INDEX_TABLE (RFC 6396 §4.3.1). A peer's AS is written in two octets
    /// when it fits, else in four (Peer Type bit 1); an IPv6 address sets Peer Type bit 0.
    pub fn peer_index_table(
        &mut self,
        table: &PeerIndexTable,
        out: &mut BytesMut,
    ) -> Result<(), MrtWriteError> {
        let name_len = u16_len(table.view_name.len(), MrtWriteError::ViewNameTooLong)?;
        let count = u16_len(table.peers.len(), MrtWriteError::TooManyPeers)?;
        let start = begin_record(
            out,
            self.timestamp,
            mrt_type::TABLE_DUMP_V2,
            table_dump_v2_subtype::PEER_INDEX_TABLE,
        );
        out.put_slice(&table.collector_id.octets());
        out.put_u16(name_len);
        out.put_slice(&table.view_name);
        out.put_u16(count);
        for peer in &table.peers {
            let four_octet = u16::try_from(peer.asn).is_err();
            let peer_type = u8::from(peer.ip.is_ipv6()) | (u8::from(four_octet) << 1);
            out.put_u8(peer_type);
            out.put_slice(&peer.bgp_id.octets());
            put_ip(out, peer.ip);
            if four_octet {
                out.put_u32(peer.asn);
            } else {
                out.put_u16(peer.asn as u16);
            }
        }
        finish_record(out, start)
    }

    /// Appends the RIB records of `prefix` in `family` (RFC 6396 §4.3.2): the entries without a
    /// path identifier in a RIB_IPV4/IPV6_UNICAST/MULTICAST record, those with one in the
    /// matching _ADDPATH record (RFC 8050 §4). Nothing is written for no entries. Returns the
    /// number of records written.
    pub fn rib(
        &mut self,
        family: Family,
        prefix: Prefix,
        entries: &[RibEntry],
        out: &mut BytesMut,
    ) -> Result<usize, MrtWriteError> {
        let mut written = 0;
        for add_path in [false, true] {
            let count = entries
                .iter()
                .filter(|e| e.path_id.is_some() == add_path)
                .count();
            if count == 0 {
                continue;
            }
            encode_rib(
                out,
                self.timestamp,
                self.sequence,
                family,
                add_path,
                prefix,
                entries.iter().filter(|e| e.path_id.is_some() == add_path),
                count,
            )?;
            self.sequence = self.sequence.wrapping_add(1);
            written += 1;
        }
        Ok(written)
    }
}

/// The RIB subtype of `family` (RFC 6396 §4.3, RFC 8050 §4).
fn rib_subtype(family: Family, add_path: bool) -> Option<u16> {
    use table_dump_v2_subtype::*;
    Some(match (family.afi, family.safi, add_path) {
        (Afi::IPV4, Safi::UNICAST, false) => RIB_IPV4_UNICAST,
        (Afi::IPV4, Safi::MULTICAST, false) => RIB_IPV4_MULTICAST,
        (Afi::IPV6, Safi::UNICAST, false) => RIB_IPV6_UNICAST,
        (Afi::IPV6, Safi::MULTICAST, false) => RIB_IPV6_MULTICAST,
        (Afi::IPV4, Safi::UNICAST, true) => RIB_IPV4_UNICAST_ADDPATH,
        (Afi::IPV4, Safi::MULTICAST, true) => RIB_IPV4_MULTICAST_ADDPATH,
        (Afi::IPV6, Safi::UNICAST, true) => RIB_IPV6_UNICAST_ADDPATH,
        (Afi::IPV6, Safi::MULTICAST, true) => RIB_IPV6_MULTICAST_ADDPATH,
        _ => return None,
    })
}

/// Appends one RIB record (RFC 6396 §4.3.2, §4.3.4; RFC 8050 §4) of `count` entries.
#[allow(clippy::too_many_arguments)]
fn encode_rib<'a>(
    out: &mut BytesMut,
    timestamp: u32,
    sequence: u32,
    family: Family,
    add_path: bool,
    prefix: Prefix,
    entries: impl Iterator<Item = &'a RibEntry>,
    count: usize,
) -> Result<(), MrtWriteError> {
    let family_err = || MrtWriteError::Family {
        prefix,
        afi: family.afi.0,
        safi: family.safi.0,
    };
    let subtype = rib_subtype(family, add_path).ok_or_else(family_err)?;
    if prefix.afi() != family.afi {
        return Err(family_err());
    }
    let count =
        u16::try_from(count).map_err(|_| MrtWriteError::TooManyEntries { prefix, count })?;
    let start = begin_record(out, timestamp, mrt_type::TABLE_DUMP_V2, subtype);
    out.put_u32(sequence);
    prefix.encode(out);
    out.put_u16(count);
    for entry in entries {
        let checked = (|| {
            if entry.path_id.is_some() != add_path {
                return Err(MrtWriteError::PathIdMismatch(prefix));
            }
            u16_len(entry.attributes.len(), MrtWriteError::AttributesTooLong)
        })();
        let attr_len = match checked {
            Ok(len) => len,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        out.put_u16(entry.peer_index);
        out.put_u32(entry.originated_time);
        if let Some(id) = entry.path_id {
            out.put_u32(id);
        }
        out.put_u16(attr_len);
        out.put_slice(&entry.attributes);
    }
    finish_record(out, start)
}

/// What a BGP4MP message record says of its message, which picks the subtype (RFC 6396
/// §4.4.2, §4.4.3, §4.4.6, RFC 8050 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bgp4mpMessageKind {
    /// The local end sent it (the LOCAL subtypes).
    pub local: bool,
    /// Its NLRI carry path identifiers (the ADDPATH subtypes).
    pub add_path: bool,
    /// The session negotiated 4-octet AS numbers (RFC 6793): the AS4 subtypes, whose readers
    /// decode the message's AS_PATH with 4-octet numbers; without, the peer header carries
    /// 2-octet AS numbers (AS_TRANS for one that does not fit).
    pub four_octet_as: bool,
}

/// Appends a BGP4MP message record (BGP4MP_MESSAGE, RFC 6396 §4.4.2, and the AS4, LOCAL and
/// ADDPATH variants of §4.4.3, §4.4.6 and RFC 8050 §3, as `kind` says): `message` is the whole
/// BGP message as sent or received, header included. `microseconds` makes it a BGP4MP_ET
/// record (RFC 6396 §3).
pub fn encode_bgp4mp_message(
    out: &mut BytesMut,
    timestamp: u32,
    microseconds: Option<u32>,
    peers: &Bgp4mpPeers,
    kind: Bgp4mpMessageKind,
    message: &[u8],
) -> Result<(), MrtWriteError> {
    use bgp4mp_subtype::*;
    let subtype = match (kind.four_octet_as, kind.local, kind.add_path) {
        (false, false, false) => MESSAGE,
        (false, true, false) => MESSAGE_LOCAL,
        (false, false, true) => MESSAGE_ADDPATH,
        (false, true, true) => MESSAGE_LOCAL_ADDPATH,
        (true, false, false) => MESSAGE_AS4,
        (true, true, false) => MESSAGE_AS4_LOCAL,
        (true, false, true) => MESSAGE_AS4_ADDPATH,
        (true, true, true) => MESSAGE_AS4_LOCAL_ADDPATH,
    };
    let start = begin_bgp4mp(
        out,
        timestamp,
        microseconds,
        subtype,
        peers,
        kind.four_octet_as,
    )?;
    out.put_slice(message);
    finish_record(out, start)
}

/// Appends a BGP4MP_STATE_CHANGE_AS4 record (RFC 6396 §4.4.5): the session moved from
/// `old_state` to `new_state` (RFC 4271 §8.2.2 numbering, 1 Idle … 6 Established).
pub fn encode_bgp4mp_state_change_as4(
    out: &mut BytesMut,
    timestamp: u32,
    microseconds: Option<u32>,
    peers: &Bgp4mpPeers,
    old_state: u16,
    new_state: u16,
) -> Result<(), MrtWriteError> {
    let start = begin_bgp4mp(
        out,
        timestamp,
        microseconds,
        bgp4mp_subtype::STATE_CHANGE_AS4,
        peers,
        true,
    )?;
    out.put_u16(old_state);
    out.put_u16(new_state);
    finish_record(out, start)
}

/// The common header (BGP4MP_ET with `microseconds`) and the peer header with 4-octet or
/// 2-octet AS numbers (RFC 6396 §4.4.1, §4.4.2; AS_TRANS for a 2-octet field, RFC 6793 §9).
fn begin_bgp4mp(
    out: &mut BytesMut,
    timestamp: u32,
    microseconds: Option<u32>,
    subtype: u16,
    peers: &Bgp4mpPeers,
    four_octet_as: bool,
) -> Result<usize, MrtWriteError> {
    let afi = match (peers.peer_ip, peers.local_ip) {
        (IpAddr::V4(_), IpAddr::V4(_)) => Afi::IPV4,
        (IpAddr::V6(_), IpAddr::V6(_)) => Afi::IPV6,
        (a, b) => return Err(MrtWriteError::MixedFamilies(a, b)),
    };
    let ty = if microseconds.is_some() {
        mrt_type::BGP4MP_ET
    } else {
        mrt_type::BGP4MP
    };
    let start = begin_record(out, timestamp, ty, subtype);
    if let Some(us) = microseconds {
        out.put_u32(us);
    }
    if four_octet_as {
        out.put_u32(peers.peer_as);
        out.put_u32(peers.local_as);
    } else {
        let two_octet = |asn: u32| u16::try_from(asn).unwrap_or(crate::open::AS_TRANS);
        out.put_u16(two_octet(peers.peer_as));
        out.put_u16(two_octet(peers.local_as));
    }
    out.put_u16(peers.interface_index);
    out.put_u16(afi.0);
    put_ip(out, peers.peer_ip);
    put_ip(out, peers.local_ip);
    Ok(start)
}

impl TableDump {
    /// Appends this path as a TABLE_DUMP record (RFC 6396 §4.2) stamped `timestamp`; its
    /// attribute block must use 2-octet AS numbers (see
    /// [`crate::attrs::encode_table_dump_attributes`]).
    pub fn encode(&self, timestamp: u32, out: &mut BytesMut) -> Result<(), MrtWriteError> {
        let subtype = match (self.prefix.addr(), self.peer_ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) => table_dump_subtype::AFI_IPV4,
            (IpAddr::V6(_), IpAddr::V6(_)) => table_dump_subtype::AFI_IPV6,
            (a, b) => return Err(MrtWriteError::MixedFamilies(a, b)),
        };
        let attr_len = u16_len(self.attributes.len(), MrtWriteError::AttributesTooLong)?;
        let start = begin_record(out, timestamp, mrt_type::TABLE_DUMP, subtype);
        out.put_u16(self.view);
        out.put_u16(self.sequence);
        put_ip(out, self.prefix.addr());
        out.put_u8(self.prefix.prefix_len());
        out.put_u8(self.status);
        out.put_u32(self.originated_time);
        put_ip(out, self.peer_ip);
        out.put_u16(self.peer_as);
        out.put_u16(attr_len);
        out.put_slice(&self.attributes);
        finish_record(out, start)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use bytes::Bytes;

    use super::super::{Bgp4mp, MrtBody, MrtReader, MrtRecord, PeerEntry, RibRecord, TableDumpV2};
    use super::*;
    use crate::attrs::{
        encode_table_dump_attributes, Aggregator, AsPath, AsSegment, Community, NextHop, Origin,
        PathAttributes, SegmentType,
    };
    use crate::context::SessionContext;
    use crate::message::Message;
    use crate::prefix::Nlri;
    use crate::update::Update;

    fn read_all(out: &BytesMut) -> Vec<MrtRecord> {
        MrtReader::new(Bytes::copy_from_slice(out))
            .map(|r| r.expect("record decodes"))
            .collect()
    }

    fn attrs() -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Egp),
            as_path: Some(AsPath {
                segments: vec![
                    AsSegment {
                        kind: SegmentType::Sequence,
                        asns: vec![4_200_000_000, 65002],
                    },
                    AsSegment {
                        kind: SegmentType::Set,
                        asns: vec![65010, 65011],
                    },
                ],
            }),
            next_hop: Some(Ipv4Addr::new(198, 18, 0, 1)),
            med: Some(50),
            local_pref: Some(200),
            atomic_aggregate: true,
            aggregator: Some(Aggregator {
                asn: 4_200_000_001,
                address: Ipv4Addr::new(198, 18, 0, 9),
            }),
            communities: vec![Community::new(65001, 100), Community::NO_EXPORT],
            ..PathAttributes::default()
        }
    }

    fn block(attrs: &PathAttributes, mp: Option<&NextHop>, four_octet_as: bool) -> Bytes {
        let mut out = BytesMut::new();
        encode_table_dump_attributes(attrs, mp, four_octet_as, &mut out);
        out.freeze()
    }

    #[test]
    fn peer_index_table_round_trip() {
        let table = PeerIndexTable {
            collector_id: Ipv4Addr::new(198, 18, 0, 254),
            view_name: Bytes::from_static(b"speakerd"),
            peers: vec![
                PeerEntry {
                    bgp_id: Ipv4Addr::new(198, 18, 0, 1),
                    ip: "198.18.0.1".parse().expect("address"),
                    asn: 65001,
                },
                PeerEntry {
                    bgp_id: Ipv4Addr::new(198, 18, 0, 2),
                    ip: "2001:db8::2".parse().expect("address"),
                    asn: 4_200_000_000,
                },
            ],
        };
        let mut out = BytesMut::new();
        TableDumpV2Writer::new(77)
            .peer_index_table(&table, &mut out)
            .expect("fits");
        let [rec] = read_all(&out).try_into().expect("one record");
        assert_eq!(rec.header.timestamp, 77);
        let MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(read)) = rec.body else {
            panic!("not a peer index table: {:?}", rec.body);
        };
        assert_eq!(read, table);
    }

    #[test]
    fn rib_records_split_by_path_id_and_round_trip() {
        let v4 = attrs();
        let v4_block = block(&v4, None, true);
        let entries = vec![
            RibEntry {
                peer_index: 0,
                originated_time: 10,
                path_id: None,
                attributes: v4_block.clone(),
            },
            RibEntry {
                peer_index: 1,
                originated_time: 11,
                path_id: Some(7),
                attributes: v4_block.clone(),
            },
            RibEntry {
                peer_index: 2,
                originated_time: 12,
                path_id: None,
                attributes: v4_block.clone(),
            },
        ];
        let global: Ipv6Addr = "2001:db8::1".parse().expect("address");
        let link_local: Ipv6Addr = "fe80::1".parse().expect("address");
        let mp = NextHop::V6 {
            global,
            link_local: Some(link_local),
        };
        let v6 = PathAttributes {
            next_hop: None,
            ..attrs()
        };
        let v6_entry = RibEntry {
            peer_index: 1,
            originated_time: 13,
            path_id: Some(9),
            attributes: block(&v6, Some(&mp), true),
        };
        let v4_prefix: Prefix = "198.18.10.0/24".parse().expect("prefix");
        let v6_prefix: Prefix = "2001:db8:10::/48".parse().expect("prefix");
        let mut writer = TableDumpV2Writer::new(100);
        let mut out = BytesMut::new();
        assert_eq!(
            writer.rib(Family::IPV4_UNICAST, v4_prefix, &entries, &mut out),
            Ok(2)
        );
        assert_eq!(
            writer.rib(
                Family::IPV6_UNICAST,
                v6_prefix,
                std::slice::from_ref(&v6_entry),
                &mut out
            ),
            Ok(1)
        );
        assert_eq!(
            writer.rib(Family::IPV6_UNICAST, v6_prefix, &[], &mut out),
            Ok(0)
        );

        let ribs: Vec<(u16, RibRecord)> = read_all(&out)
            .into_iter()
            .map(|r| match r.body {
                MrtBody::TableDumpV2(TableDumpV2::Rib(rib)) => (r.header.subtype, rib),
                other => panic!("not a RIB record: {other:?}"),
            })
            .collect();
        use table_dump_v2_subtype::*;
        let subtypes: Vec<u16> = ribs.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            subtypes,
            [
                RIB_IPV4_UNICAST,
                RIB_IPV4_UNICAST_ADDPATH,
                RIB_IPV6_UNICAST_ADDPATH
            ]
        );
        let sequences: Vec<u32> = ribs.iter().map(|(_, r)| r.sequence).collect();
        assert_eq!(sequences, [0, 1, 2]);
        assert_eq!(ribs[0].1.prefix, v4_prefix);
        assert_eq!(ribs[0].1.entries, [entries[0].clone(), entries[2].clone()]);
        assert_eq!(ribs[1].1.entries, [entries[1].clone()]);
        assert_eq!(ribs[2].1.entries, [v6_entry]);

        let decoded = ribs[0].1.entries[0]
            .decode_attributes(Family::IPV4_UNICAST)
            .expect("attributes");
        assert_eq!(decoded.attributes, v4);
        assert!(decoded.mp_reach.is_none());
        let decoded = ribs[2].1.entries[0]
            .decode_attributes(Family::IPV6_UNICAST)
            .expect("attributes");
        assert_eq!(decoded.attributes, v6);
        assert_eq!(decoded.mp_reach.map(|r| r.next_hop), Some(mp));
    }

    #[test]
    fn rib_errors_leave_nothing_behind() {
        let v6_prefix: Prefix = "2001:db8::/32".parse().expect("prefix");
        let entry = RibEntry {
            peer_index: 0,
            originated_time: 0,
            path_id: None,
            attributes: Bytes::new(),
        };
        let mut writer = TableDumpV2Writer::new(0);
        let mut out = BytesMut::from(&b"kept"[..]);
        assert!(matches!(
            writer.rib(
                Family::IPV4_UNICAST,
                v6_prefix,
                std::slice::from_ref(&entry),
                &mut out
            ),
            Err(MrtWriteError::Family { .. })
        ));
        let flowspec = Family::new(Afi::IPV6, Safi(133));
        assert!(matches!(
            writer.rib(flowspec, v6_prefix, std::slice::from_ref(&entry), &mut out),
            Err(MrtWriteError::Family { .. })
        ));
        let many = vec![entry.clone(); 65536];
        assert_eq!(
            writer.rib(Family::IPV6_UNICAST, v6_prefix, &many, &mut out),
            Err(MrtWriteError::TooManyEntries {
                prefix: v6_prefix,
                count: 65536
            })
        );
        let huge = RibEntry {
            attributes: Bytes::from(vec![0; 65536]),
            ..entry.clone()
        };
        assert_eq!(
            writer.rib(Family::IPV6_UNICAST, v6_prefix, &[entry, huge], &mut out),
            Err(MrtWriteError::AttributesTooLong(65536))
        );
        assert_eq!(&out[..], b"kept");
        // A record the RIB writer would never make: an entry without a path identifier in an
        // ADDPATH record.
        let plain = RibEntry {
            peer_index: 0,
            originated_time: 0,
            path_id: None,
            attributes: Bytes::new(),
        };
        assert_eq!(
            encode_rib(
                &mut out,
                0,
                0,
                Family::IPV6_UNICAST,
                true,
                v6_prefix,
                [&plain].into_iter(),
                1
            ),
            Err(MrtWriteError::PathIdMismatch(v6_prefix))
        );
        assert_eq!(&out[..], b"kept");
        // Sequence numbers were not used up by the failures.
        assert_eq!(writer.sequence, 0);
    }

    fn update_message() -> Bytes {
        let update = Update {
            attributes: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from_sequence([4_200_000_000])),
                next_hop: Some(Ipv4Addr::new(198, 18, 0, 1)),
                ..PathAttributes::default()
            },
            nlri: vec![Nlri {
                path_id: Some(3),
                prefix: "198.18.10.0/24".parse().expect("prefix"),
            }],
            ..Update::default()
        };
        let ctx = SessionContext {
            add_path_tx: crate::family::FamilySet::of(&[Family::IPV4_UNICAST]),
            ..SessionContext::modern_ebgp()
        };
        Message::Update(update).to_bytes(&ctx)
    }

    /// A session without 4-octet AS numbers: BGP4MP_MESSAGE and _LOCAL with 2-octet AS fields,
    /// AS_TRANS for the one that does not fit (RFC 6396 §4.4.2, RFC 6793 §9), and readers
    /// decode the message with 2-octet AS_PATHs.
    #[test]
    fn bgp4mp_message_of_a_two_octet_session() {
        let peers = Bgp4mpPeers {
            peer_as: 65001,
            local_as: 4_200_000_001,
            interface_index: 0,
            peer_ip: "198.18.0.2".parse().expect("address"),
            local_ip: "198.18.0.1".parse().expect("address"),
        };
        let update = Update {
            attributes: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from_sequence([65001])),
                next_hop: Some("198.18.0.2".parse().expect("address")),
                ..PathAttributes::default()
            },
            nlri: vec![Nlri::new("198.19.0.0/24".parse().expect("prefix"))],
            ..Update::default()
        };
        let two_octet = SessionContext {
            four_octet_as: false,
            ..SessionContext::modern_ebgp()
        };
        let raw = Message::Update(update).to_bytes(&two_octet);
        let mut out = BytesMut::new();
        for local in [false, true] {
            let kind = Bgp4mpMessageKind {
                local,
                ..Bgp4mpMessageKind::default()
            };
            encode_bgp4mp_message(&mut out, 5, None, &peers, kind, &raw).expect("fits");
        }
        let records = read_all(&out);
        use bgp4mp_subtype::*;
        let subtypes: Vec<u16> = records.iter().map(|r| r.header.subtype).collect();
        assert_eq!(subtypes, [MESSAGE, MESSAGE_LOCAL]);
        let MrtBody::Bgp4mp(Bgp4mp::Message(msg)) = &records[0].body else {
            panic!("not a message: {:?}", records[0].body);
        };
        assert_eq!((msg.peers.peer_as, msg.peers.local_as), (65001, 23456));
        assert!(!msg.four_octet_as);
        let Ok(Message::Update(u)) = &msg.message else {
            panic!("message does not decode: {:?}", msg.message);
        };
        assert_eq!(u.attributes.as_path, Some(AsPath::from_sequence([65001])));
    }

    #[test]
    fn bgp4mp_message_and_state_change_round_trip() {
        let peers = Bgp4mpPeers {
            peer_as: 4_200_000_000,
            local_as: 65000,
            interface_index: 0,
            peer_ip: "2001:db8::1".parse().expect("address"),
            local_ip: "2001:db8::2".parse().expect("address"),
        };
        let raw = update_message();
        let mut out = BytesMut::new();
        for (local, add_path) in [(false, true), (true, true), (false, false), (true, false)] {
            let kind = Bgp4mpMessageKind {
                local,
                add_path,
                four_octet_as: true,
            };
            encode_bgp4mp_message(&mut out, 5, Some(123), &peers, kind, &raw).expect("fits");
        }
        encode_bgp4mp_state_change_as4(&mut out, 6, None, &peers, 5, 6).expect("fits");
        let records = read_all(&out);
        assert_eq!(records.len(), 5);
        use bgp4mp_subtype::*;
        let subtypes: Vec<u16> = records.iter().map(|r| r.header.subtype).collect();
        assert_eq!(
            subtypes,
            [
                MESSAGE_AS4_ADDPATH,
                MESSAGE_AS4_LOCAL_ADDPATH,
                MESSAGE_AS4,
                MESSAGE_AS4_LOCAL,
                STATE_CHANGE_AS4
            ]
        );
        let MrtBody::Bgp4mp(Bgp4mp::Message(msg)) = &records[0].body else {
            panic!("not a message: {:?}", records[0].body);
        };
        assert_eq!(records[0].header.mrt_type, mrt_type::BGP4MP_ET);
        assert_eq!(records[0].header.microseconds, Some(123));
        assert_eq!(msg.peers, peers);
        assert_eq!(
            (msg.local, msg.add_path, msg.four_octet_as),
            (false, true, true)
        );
        assert_eq!(msg.raw, raw);
        let Ok(Message::Update(u)) = &msg.message else {
            panic!("message does not decode: {:?}", msg.message);
        };
        assert_eq!(u.nlri[0].path_id, Some(3));
        assert_eq!(
            u.attributes.as_path,
            Some(AsPath::from_sequence([4_200_000_000]))
        );
        let MrtBody::Bgp4mp(Bgp4mp::Message(msg)) = &records[1].body else {
            panic!("not a message");
        };
        assert!(msg.local && msg.add_path);
        let MrtBody::Bgp4mp(Bgp4mp::StateChange {
            peers: p,
            old_state,
            new_state,
        }) = &records[4].body
        else {
            panic!("not a state change: {:?}", records[4].body);
        };
        assert_eq!(records[4].header.mrt_type, mrt_type::BGP4MP);
        assert_eq!((*p, *old_state, *new_state), (peers, 5, 6));

        let mixed = Bgp4mpPeers {
            local_ip: "198.18.0.2".parse().expect("address"),
            ..peers
        };
        let before = out.len();
        assert!(matches!(
            encode_bgp4mp_state_change_as4(&mut out, 6, None, &mixed, 1, 2),
            Err(MrtWriteError::MixedFamilies(..))
        ));
        assert_eq!(out.len(), before);
    }

    #[test]
    fn table_dump_round_trip_with_two_octet_as() {
        let a = attrs();
        let entry = TableDump {
            view: 0,
            sequence: 3,
            family: Family::IPV4_UNICAST,
            prefix: "198.18.10.0/24".parse().expect("prefix"),
            status: 1,
            originated_time: 99,
            peer_ip: "198.18.0.1".parse().expect("address"),
            peer_as: 65001,
            attributes: block(&a, None, false),
        };
        let mut out = BytesMut::new();
        entry.encode(100, &mut out).expect("fits");
        let [rec] = read_all(&out).try_into().expect("one record");
        assert_eq!(
            (rec.header.timestamp, rec.header.subtype),
            (100, table_dump_subtype::AFI_IPV4)
        );
        let MrtBody::TableDump(read) = rec.body else {
            panic!("not TABLE_DUMP: {:?}", rec.body);
        };
        assert_eq!(read, entry);
        let mut decoded = read.decode_attributes().expect("attributes").attributes;
        // 4200000000 went as AS_TRANS in AS_PATH and whole in AS4_PATH.
        assert_eq!(
            decoded.as_path.as_ref().and_then(AsPath::first_as),
            Some(23456)
        );
        decoded.reconstruct_as4();
        assert_eq!(decoded, a);
    }
}
