//! Regressions found by the `decode_message` fuzz target (`crates/bgp-proto/fuzz/`): each test
//! holds the smallest input that showed the bug.

use bgp_proto::{Message, SessionContext};
use bytes::Bytes;

fn update(body: &[u8]) -> Bytes {
    let mut wire = vec![0xff; 16];
    wire.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    wire.push(2);
    wire.extend_from_slice(body);
    Bytes::from(wire)
}

fn roundtrip(wire: Bytes, ctx: &SessionContext) -> (Message, Message) {
    let first = Message::decode(wire, ctx).expect("decodes");
    let again = Message::decode(first.to_bytes(ctx), ctx).expect("re-encoded message decodes");
    (first, again)
}

/// An unknown optional transitive attribute sent with Extended Length and a short value: the
/// encoder writes it with a one-octet length, so the flag must not be kept in the decoded
/// attribute, or the same attribute compares unequal depending on how it was framed.
#[test]
fn raw_attribute_extended_length_flag_is_not_kept() {
    // Flags 0xf0: optional, transitive, partial, extended length; type 99; length 2.
    let wire = update(&[0, 0, 0, 6, 0xf0, 99, 0, 2, 0xab, 0xcd]);
    let ctx = SessionContext::modern_ebgp();
    let (first, again) = roundtrip(wire, &ctx);
    assert_eq!(first, again);
    let Message::Update(u) = first else {
        panic!("not an UPDATE")
    };
    assert_eq!(u.attributes.raw.len(), 1);
    assert_eq!(u.attributes.raw[0].flags, 0xe0);

    // The same attribute sent with a one-octet length decodes to the same value.
    let short = update(&[0, 0, 0, 5, 0xe0, 99, 2, 0xab, 0xcd]);
    let Message::Update(v) = Message::decode(short, &ctx).expect("decodes") else {
        panic!("not an UPDATE")
    };
    assert_eq!(u.attributes, v.attributes);
}
