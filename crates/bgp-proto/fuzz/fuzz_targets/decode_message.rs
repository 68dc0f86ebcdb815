//! Decodes arbitrary bytes as a stream of BGP messages under a fuzzer-chosen session context, and
//! checks that every message that decodes survives encode -> decode unchanged.
//!
//! Input layout:
//! - byte 0: bit 0 four-octet AS, bit 1 extended message, bit 2 iBGP;
//! - byte 1: low nibble ADD-PATH receive families, high nibble ADD-PATH send families, one bit
//!   each for IPv4 unicast, IPv6 unicast, IPv4 multicast, IPv6 multicast;
//! - the rest: messages back to back, cut with `frame_len` until it asks for more or errs.
//!
//! A message decoded with `ctx` is encoded with `ctx` (path identifiers written for the send
//! families) and decoded again as the peer would, with the receive and send families swapped.
//! The result must equal the first decode with its path identifiers adjusted to what was sent
//! and without the RFC 7606 findings (the encoder writes only the attributes that were kept).
#![no_main]

use bgp_proto::{Family, FamilySet, Frame, Message, Nlri, SessionContext, Update};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

const FAMILIES: [Family; 4] = [
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
    Family::IPV4_MULTICAST,
    Family::IPV6_MULTICAST,
];

fn family_set(bits: u8) -> FamilySet {
    let chosen: Vec<Family> = FAMILIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, f)| *f)
        .collect();
    FamilySet::of(&chosen)
}

fn context(flags: u8, add_path: u8) -> SessionContext {
    SessionContext {
        four_octet_as: flags & 1 != 0,
        extended_message: flags & 2 != 0,
        ibgp: flags & 4 != 0,
        add_path_rx: family_set(add_path & 0x0f),
        add_path_tx: family_set(add_path >> 4),
    }
}

/// The context of the peer: what we send, it receives.
fn mirror(ctx: &SessionContext) -> SessionContext {
    SessionContext {
        add_path_rx: ctx.add_path_tx,
        add_path_tx: ctx.add_path_rx,
        ..*ctx
    }
}

/// Path identifiers as they come back after encoding with `ctx`: a missing one is sent as 0, and
/// none is sent for families without ADD-PATH in the send direction.
fn sent_path_ids(nlri: &mut [Nlri], family: Family, ctx: &SessionContext) {
    let add_path = ctx.sends_path_ids(family);
    for n in nlri {
        n.path_id = add_path.then(|| n.path_id.unwrap_or(0));
    }
}

fn expected_update(mut u: Update, ctx: &SessionContext) -> Update {
    sent_path_ids(&mut u.withdrawn, Family::IPV4_UNICAST, ctx);
    sent_path_ids(&mut u.nlri, Family::IPV4_UNICAST, ctx);
    if let Some(r) = &mut u.mp_reach {
        sent_path_ids(&mut r.nlri, r.family, ctx);
    }
    if let Some(w) = &mut u.mp_unreach {
        sent_path_ids(&mut w.withdrawn, w.family, ctx);
    }
    u.treat_as_withdraw = None;
    u.discarded.clear();
    u
}

fn without_findings(msg: Message) -> Message {
    match msg {
        Message::Update(mut u) => {
            u.treat_as_withdraw = None;
            u.discarded.clear();
            Message::Update(u)
        }
        other => other,
    }
}

fn check_roundtrip(first: &Message, ctx: &SessionContext, out: &mut BytesMut) {
    out.clear();
    first.encode(ctx, out);
    // The encoder leaves the size limit to its caller (the packer splits UPDATEs); a message
    // that grew past it, e.g. by path identifiers added on send, cannot come back.
    let limit = match first {
        Message::Open(_) => bgp_proto::context::MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    };
    if out.len() > limit {
        return;
    }
    let peer = mirror(ctx);
    let encoded = out.split().freeze();
    let second = match Message::decode(encoded.clone(), &peer) {
        Ok(m) => m,
        Err(e) => panic!(
            "re-encoded message does not decode: {e:?}\nfirst: {first:?}\nencoded: {encoded:02x?}"
        ),
    };
    let expected = match first.clone() {
        Message::Update(u) => Message::Update(expected_update(u, ctx)),
        other => other,
    };
    assert_eq!(
        without_findings(second),
        expected,
        "encode -> decode changed the message\nencoded: {encoded:02x?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let [flags, add_path, rest @ ..] = data else {
        return;
    };
    let ctx = context(*flags, *add_path);
    let mut buf = Bytes::copy_from_slice(rest);
    let mut out = BytesMut::new();
    while let Ok(Frame::Complete(len)) = bgp_proto::frame_len(&buf, ctx.max_message_len()) {
        let frame = buf.split_to(len);
        if let Ok(first) = Message::decode(frame, &ctx) {
            check_roundtrip(&first, &ctx, &mut out);
        }
    }
});
