//! Helpers shared by the vector and error tests: hex literals with comments, message framing
//! written out by hand, and short constructors.

#![allow(dead_code)]

use bgp_proto::{Message, Nlri, Prefix, SessionContext};
use bytes::Bytes;

/// Bytes from hex text; whitespace, `_` and `|` separators are ignored.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'_' && *b != b'|')
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {s:?}");
    digits
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).expect("hex digit"))
        .collect()
}

/// A whole message: the 16-octet marker, the length (header included) and the type, then
/// `body`.
pub fn message(ty: u8, body: &[u8]) -> Bytes {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(ty);
    m.extend_from_slice(body);
    Bytes::from(m)
}

/// An UPDATE from its three fields, with the two length fields filled in.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Bytes {
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    message(2, &body)
}

/// An UPDATE carrying only this path attributes block (hex).
pub fn attrs_update(attrs_hex: &str) -> Bytes {
    update(&[], &hex(attrs_hex), &[])
}

pub fn nlri(s: &str) -> Nlri {
    Nlri::new(s.parse::<Prefix>().expect("prefix"))
}

pub fn nlri_id(id: u32, s: &str) -> Nlri {
    Nlri {
        path_id: Some(id),
        prefix: s.parse().expect("prefix"),
    }
}

/// Asserts both directions: `wire` decodes to `value`, and `value` encodes to `wire`.
pub fn both_ways(ctx: &SessionContext, wire: &Bytes, value: &Message) {
    let decoded = Message::decode(wire.clone(), ctx)
        .unwrap_or_else(|e| panic!("decode failed: {e:?} for {:02x?}", &wire[..]));
    assert_eq!(&decoded, value, "decoded value");
    let encoded = value.to_bytes(ctx);
    assert_eq!(
        format!("{:02x?}", &encoded[..]),
        format!("{:02x?}", &wire[..]),
        "encoded bytes"
    );
}

/// Decodes an UPDATE, panicking on anything else.
pub fn decode_update(wire: Bytes, ctx: &SessionContext) -> bgp_proto::Update {
    match Message::decode(wire, ctx) {
        Ok(Message::Update(u)) => u,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

pub fn ibgp() -> SessionContext {
    SessionContext {
        ibgp: true,
        ..SessionContext::modern_ebgp()
    }
}

pub fn two_octet() -> SessionContext {
    SessionContext {
        four_octet_as: false,
        ..SessionContext::modern_ebgp()
    }
}
