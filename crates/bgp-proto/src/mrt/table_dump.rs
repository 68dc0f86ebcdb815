//! TABLE_DUMP records (RFC 6396 §4.2): the original RIB snapshot format, one record per path,
//! with 2-octet AS numbers. Superseded by TABLE_DUMP_V2 but still found in old archives.

use std::net::IpAddr;

use bytes::Bytes;

use super::{context_for, read_ip, MrtError};
use crate::attrs::{decode_table_dump_v1_attributes, DecodedAttributes};
use crate::error::UpdateError;
use crate::family::{Afi, Family, Safi};
use crate::prefix::Prefix;
use crate::reader::Reader;

/// TABLE_DUMP subtypes (RFC 6396 §4.2): the address family of the prefix and the peer.
pub mod table_dump_subtype {
    /// AFI_IPv4.
    pub const AFI_IPV4: u16 = 1;
    /// AFI_IPv6.
    pub const AFI_IPV6: u16 = 2;
}

/// A TABLE_DUMP record body (RFC 6396 §4.2): one path to one prefix.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         View Number           |       Sequence Number         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                        Prefix (variable: 4 or 16)             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Prefix Length |    Status     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Originated Time                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Peer IP Address (variable: 4 or 16)        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Peer AS             |       Attribute Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   BGP Attribute... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDump {
    /// The view number (normally 0).
    pub view: u16,
    /// The sequence number of the record in the dump (wraps at 65535).
    pub sequence: u16,
    /// The unicast family of the prefix and the peer, from the subtype.
    pub family: Family,
    /// The prefix (host bits cleared).
    pub prefix: Prefix,
    /// The Status field (unused, RFC 6396 §4.2: SHOULD be 1).
    pub status: u8,
    /// When the path was received, seconds since the Unix epoch.
    pub originated_time: u32,
    /// The peer's address.
    pub peer_ip: IpAddr,
    /// The peer's AS (two octets).
    pub peer_as: u16,
    /// The attribute block as recorded; see [`TableDump::decode_attributes`].
    pub attributes: Bytes,
}

impl TableDump {
    /// Decodes the body of subtype `subtype`; `None` for subtypes other than AFI_IPv4 and
    /// AFI_IPv6.
    pub(super) fn decode(subtype: u16, r: &mut Reader) -> Result<Option<Self>, MrtError> {
        let afi = match subtype {
            table_dump_subtype::AFI_IPV4 => Afi::IPV4,
            table_dump_subtype::AFI_IPV6 => Afi::IPV6,
            _ => return Ok(None),
        };
        let what = "TABLE_DUMP record";
        let view = r.u16().ok_or(MrtError::Truncated(what))?;
        let sequence = r.u16().ok_or(MrtError::Truncated(what))?;
        let address = read_ip(r, afi, what)?;
        let prefix_len = r.u8().ok_or(MrtError::Truncated(what))?;
        let prefix = Prefix::new(address, prefix_len).map_err(MrtError::TableDumpPrefix)?;
        let status = r.u8().ok_or(MrtError::Truncated(what))?;
        let originated_time = r.u32().ok_or(MrtError::Truncated(what))?;
        let peer_ip = read_ip(r, afi, what)?;
        let peer_as = r.u16().ok_or(MrtError::Truncated(what))?;
        let len = r.u16().ok_or(MrtError::Truncated(what))?;
        let attributes = r.bytes(usize::from(len)).ok_or(MrtError::Truncated(what))?;
        if !r.is_empty() {
            return Err(MrtError::TrailingOctets(what));
        }
        Ok(Some(Self {
            view,
            sequence,
            family: Family::new(afi, Safi::UNICAST),
            prefix,
            status,
            originated_time,
            peer_ip,
            peer_as,
            attributes,
        }))
    }

    /// Decodes the attribute block (RFC 6396 §4.2: AS numbers are two octets; an IPv6
    /// record's next hop is in MP_REACH_NLRI, short or full form).
    pub fn decode_attributes(&self) -> Result<DecodedAttributes, UpdateError> {
        decode_table_dump_v1_attributes(
            self.attributes.clone(),
            self.family,
            &context_for(false, false),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::super::test_support::{only, record};
    use super::super::{mrt_type, MrtBody, MrtReader};
    use super::*;
    use crate::attrs::{AsPath, NextHop};

    /// A TABLE_DUMP body: view 0, sequence 7, `prefix`/`len`, status 1, originated 9, from
    /// `peer` in AS 65001, with `attrs`.
    fn body(prefix: IpAddr, len: u8, peer: IpAddr, attrs: &[u8]) -> Vec<u8> {
        let octets = |a: IpAddr| match a {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mut out = vec![0, 0, 0, 7];
        out.extend(octets(prefix));
        out.extend_from_slice(&[len, 1, 0, 0, 0, 9]);
        out.extend(octets(peer));
        out.extend_from_slice(&65001u16.to_be_bytes());
        out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        out.extend_from_slice(attrs);
        out
    }

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse::<Ipv4Addr>().expect("address"))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().expect("address"))
    }

    #[test]
    fn ipv4_record_with_two_octet_as_path() {
        // ORIGIN IGP, AS_PATH 23456 65002 (2-octet), NEXT_HOP 198.18.0.1, AS4_PATH 4200000000
        // 65002.
        let attrs = [
            0x40, 1, 1, 0, 0x40, 2, 6, 2, 2, 0x5b, 0xa0, 0xfd, 0xea, 0x40, 3, 4, 198, 18, 0, 1,
            0xc0, 17, 10, 2, 2, 0xfa, 0x56, 0xea, 0, 0, 0, 0xfd, 0xea,
        ];
        let b = body(v4("198.18.10.0"), 24, v4("198.18.0.1"), &attrs);
        let rec = only(record(
            mrt_type::TABLE_DUMP,
            table_dump_subtype::AFI_IPV4,
            &b,
        ));
        let MrtBody::TableDump(t) = rec.body else {
            panic!("not a TABLE_DUMP record: {:?}", rec.body);
        };
        assert_eq!((t.view, t.sequence, t.status), (0, 7, 1));
        assert_eq!(t.family, Family::IPV4_UNICAST);
        assert_eq!(t.prefix, "198.18.10.0/24".parse().expect("prefix"));
        assert_eq!((t.originated_time, t.peer_as), (9, 65001));
        assert_eq!(t.peer_ip, v4("198.18.0.1"));
        let mut attributes = t.decode_attributes().expect("attributes").attributes;
        assert_eq!(
            attributes.as_path,
            Some(AsPath::from_sequence([23456, 65002]))
        );
        assert_eq!(attributes.next_hop, Some(Ipv4Addr::new(198, 18, 0, 1)));
        attributes.reconstruct_as4();
        assert_eq!(
            attributes.as_path,
            Some(AsPath::from_sequence([4_200_000_000, 65002]))
        );
    }

    #[test]
    fn ipv6_record_with_short_and_full_mp_reach() {
        let nh: Ipv6Addr = "2001:db8::1".parse().expect("address");
        let mut short = vec![0x80, 14, 17, 16];
        short.extend_from_slice(&nh.octets());
        let mut full = vec![0x80, 14, 21, 0, 2, 1, 16];
        full.extend_from_slice(&nh.octets());
        full.push(0);
        for mp in [short, full] {
            let b = body(v6("2001:db8:10::"), 48, v6("2001:db8::1"), &mp);
            let rec = only(record(
                mrt_type::TABLE_DUMP,
                table_dump_subtype::AFI_IPV6,
                &b,
            ));
            let MrtBody::TableDump(t) = rec.body else {
                panic!("not a TABLE_DUMP record");
            };
            assert_eq!(t.family, Family::IPV6_UNICAST);
            assert_eq!(t.prefix, "2001:db8:10::/48".parse().expect("prefix"));
            let reach = t.decode_attributes().expect("attributes").mp_reach;
            assert_eq!(
                reach.map(|r| r.next_hop),
                Some(NextHop::V6 {
                    global: nh,
                    link_local: None
                })
            );
        }
    }

    #[test]
    fn corrupt_records_are_errors() {
        let good = body(v4("198.18.10.0"), 24, v4("198.18.0.1"), &[0x40, 1, 1, 0]);
        let decode = |b: &[u8], subtype: u16| {
            MrtReader::new(Bytes::from(record(mrt_type::TABLE_DUMP, subtype, b)))
                .next()
                .expect("one record")
        };
        // Cut anywhere inside: truncated, never a panic.
        for cut in 0..good.len() {
            assert!(
                matches!(decode(&good[..cut], 1), Err(MrtError::Truncated(_))),
                "cut at {cut}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(decode(&long, 1), Err(MrtError::TrailingOctets(_))));
        let too_long = body(v4("198.18.10.0"), 33, v4("198.18.0.1"), &[]);
        assert!(matches!(
            decode(&too_long, 1),
            Err(MrtError::TableDumpPrefix(_))
        ));
        // An IPv4 body read as IPv6 runs out.
        assert!(matches!(decode(&good, 2), Err(MrtError::Truncated(_))));
    }
}
