//! Builders of MRT records for the tests of the reader.

use bytes::Bytes;
use std::net::Ipv6Addr;

use super::{MrtReader, MrtRecord};

pub(super) fn record(mrt_type: u16, subtype: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&1_486_801_674u32.to_be_bytes());
    out.extend_from_slice(&mrt_type.to_be_bytes());
    out.extend_from_slice(&subtype.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub(super) fn only(data: Vec<u8>) -> MrtRecord {
    let mut reader = MrtReader::new(Bytes::from(data));
    let rec = reader.next().expect("one record").expect("decodes");
    assert!(reader.next().is_none());
    rec
}

/// The BGP4MP peer header: AS 65001 -> 65002, IPv4 10.0.0.1 -> 10.0.0.2.
pub(super) fn peers(as4: bool) -> Vec<u8> {
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

pub(super) fn peer_index_table() -> Vec<u8> {
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
