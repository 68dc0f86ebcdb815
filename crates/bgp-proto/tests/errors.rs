//! Error handling: header, framing, OPEN and ROUTE-REFRESH errors with the NOTIFICATION each
//! deserves (RFC 4271 §6, RFC 7313 §5), RFC 7606 actions for every attribute, and the UPDATE
//! packer's size limits.

mod common;

use std::net::Ipv4Addr;

use bgp_proto::context::{MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
use bgp_proto::{
    frame_len, AsPath, DecodeError, Family, FamilySet, Frame, HeaderError, Message, NextHop, Nlri,
    Notification, OpenError, Origin, PathAttributes, Prefix, Rfc7606Action, SessionContext, Update,
    UpdateErrorKind, UpdatePacker,
};
use bytes::{Bytes, BytesMut};
use common::*;

fn ctx() -> SessionContext {
    SessionContext::modern_ebgp()
}

fn decode_err(wire: Bytes, ctx: &SessionContext) -> DecodeError {
    match Message::decode(wire, ctx) {
        Err(e) => e,
        Ok(m) => panic!("decoded: {m:?}"),
    }
}

fn notif(code: u8, subcode: u8, data: &[u8]) -> Notification {
    Notification::new(code, subcode, Bytes::copy_from_slice(data))
}

// ---------------------------------------------------------------------------------------------
// Header and framing (RFC 4271 §6.1)

#[test]
fn header_bad_marker() {
    let mut wire = hex("ffffffffffffffffffffffffffff00ff 0013 04");
    let e = decode_err(Bytes::from(wire.clone()), &ctx());
    assert_eq!(
        e,
        DecodeError::Header(HeaderError::ConnectionNotSynchronized)
    );
    assert_eq!(e.to_notification(), notif(1, 1, &[]));
    assert_eq!(
        frame_len(&wire, MAX_MESSAGE_LEN),
        Err(HeaderError::ConnectionNotSynchronized)
    );
    // Already seen in the first bytes, before the header is complete.
    wire.truncate(15);
    assert_eq!(
        frame_len(&wire, MAX_MESSAGE_LEN),
        Err(HeaderError::ConnectionNotSynchronized)
    );
    assert_eq!(
        frame_len(&[0xff, 0xfe], MAX_MESSAGE_LEN),
        Err(HeaderError::ConnectionNotSynchronized)
    );
}

#[test]
fn header_length_below_19() {
    let wire = hex("ffffffffffffffffffffffffffffffff 0012 04");
    assert_eq!(
        frame_len(&wire, MAX_MESSAGE_LEN),
        Err(HeaderError::BadMessageLength(18))
    );
    let e = HeaderError::BadMessageLength(18);
    assert_eq!(e.to_notification(), notif(1, 2, &[0x00, 0x12]));
    // A frame whose length field disagrees with its size.
    let e = decode_err(
        Bytes::from(hex("ffffffffffffffffffffffffffffffff 0014 04")),
        &ctx(),
    );
    assert_eq!(e, DecodeError::Header(HeaderError::BadMessageLength(20)));
    // A frame shorter than a header.
    assert!(matches!(
        decode_err(Bytes::from(vec![0xff; 17]), &ctx()),
        DecodeError::Header(HeaderError::BadMessageLength(_))
    ));
}

#[test]
fn header_length_above_4096_without_extended_messages() {
    let mut wire = hex("ffffffffffffffffffffffffffffffff 1001 02"); // 4097
    assert_eq!(
        frame_len(&wire, MAX_MESSAGE_LEN),
        Err(HeaderError::BadMessageLength(4097))
    );
    assert_eq!(
        frame_len(&wire, MAX_EXTENDED_MESSAGE_LEN),
        Ok(Frame::NeedMore(4078))
    );
    // An UPDATE of 4097 octets: withdrawn routes of 4074 octets (/32s: 5 octets each is
    // not a divisor, so pad with /0 entries of one octet).
    let body_len = 4097 - 19;
    let withdrawn = vec![0u8; body_len - 4]; // 4074 × 0.0.0.0/0
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(&withdrawn);
    body.extend_from_slice(&[0, 0]);
    wire = message(2, &body).to_vec();
    assert_eq!(wire.len(), 4097);
    let e = decode_err(Bytes::from(wire.clone()), &ctx());
    assert_eq!(e, DecodeError::Header(HeaderError::BadMessageLength(4097)));
    assert_eq!(e.to_notification(), notif(1, 2, &[0x10, 0x01]));

    // Accepted with extended messages (RFC 8654).
    let ext = SessionContext {
        extended_message: true,
        ..ctx()
    };
    assert_eq!(
        frame_len(&wire, ext.max_message_len()),
        Ok(Frame::Complete(4097))
    );
    let u = decode_update(Bytes::from(wire), &ext);
    assert_eq!(u.withdrawn.len(), 4074);

    // An OPEN is never larger than 4096, even with extended messages (RFC 8654 §4).
    let mut open = hex("04 fde8 00b4 c0000201 ff ff 0fef 02 0fec");
    for _ in 0..(4076 / 102) {
        open.extend_from_slice(&[0x7f, 100]);
        open.extend_from_slice(&[0; 100]);
    }
    while open.len() < 4097 - 19 {
        open.extend_from_slice(&[0x7e, 0]);
    }
    let wire = message(1, &open);
    assert_eq!(wire.len(), 4097);
    assert_eq!(
        decode_err(wire, &ext),
        DecodeError::Header(HeaderError::BadMessageLength(4097))
    );
}

#[test]
fn header_bad_type() {
    for ty in [0u8, 6, 255] {
        let e = decode_err(message(ty, &[]), &ctx());
        assert_eq!(e, DecodeError::Header(HeaderError::BadMessageType(ty)));
        assert_eq!(e.to_notification(), notif(1, 3, &[ty]));
    }
}

#[test]
fn header_keepalive_length_must_be_19() {
    let e = decode_err(message(4, &[0]), &ctx());
    assert_eq!(e, DecodeError::Header(HeaderError::BadMessageLength(20)));
    assert_eq!(e.to_notification(), notif(1, 2, &[0, 20]));
}

#[test]
fn header_minimum_lengths_per_type() {
    // OPEN below 29, UPDATE below 23, NOTIFICATION below 21.
    for (ty, body_len, len) in [(1u8, 9usize, 28u16), (2, 3, 22), (3, 1, 20)] {
        let e = decode_err(message(ty, &vec![0; body_len]), &ctx());
        assert_eq!(e, DecodeError::Header(HeaderError::BadMessageLength(len)));
    }
}

#[test]
fn route_refresh_bad_length() {
    let wire = message(5, &hex("0001 00 01 00"));
    let e = decode_err(wire.clone(), &ctx());
    assert!(matches!(
        e,
        DecodeError::RouteRefreshLength { length: 24, .. }
    ));
    // RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, the whole message.
    assert_eq!(e.to_notification(), notif(7, 1, &wire));
    assert_eq!(Notification::from(&e).code, 7);
}

#[test]
fn frame_len_need_more_and_complete() {
    let mut stream = hex("ffffffffffffffffffffffffffffffff 0013 04"); // KEEPALIVE
    let upd = update(&[], &[], &[]);
    stream.extend_from_slice(&upd);
    assert_eq!(frame_len(&[], MAX_MESSAGE_LEN), Ok(Frame::NeedMore(19)));
    assert_eq!(
        frame_len(&stream[..5], MAX_MESSAGE_LEN),
        Ok(Frame::NeedMore(14))
    );
    assert_eq!(
        frame_len(&stream[..19], MAX_MESSAGE_LEN),
        Ok(Frame::Complete(19))
    );
    assert_eq!(frame_len(&stream, MAX_MESSAGE_LEN), Ok(Frame::Complete(19)));
    assert_eq!(
        frame_len(&stream[19..40], MAX_MESSAGE_LEN),
        Ok(Frame::NeedMore(2))
    );
    assert_eq!(
        frame_len(&stream[19..], MAX_MESSAGE_LEN),
        Ok(Frame::Complete(23))
    );
}

// ---------------------------------------------------------------------------------------------
// OPEN errors (RFC 4271 §6.2, RFC 5492)

fn open_err(body_hex: &str) -> OpenError {
    match decode_err(message(1, &hex(body_hex)), &ctx()) {
        DecodeError::Open(e) => e,
        other => panic!("not an OPEN error: {other:?}"),
    }
}

#[test]
fn open_unsupported_version() {
    let e = open_err("03 fde8 00b4 c0000201 00");
    assert_eq!(e, OpenError::UnsupportedVersion(3));
    // Data: the largest version we support, two octets.
    assert_eq!(e.to_notification(), notif(2, 1, &[0, 4]));
}

#[test]
fn open_truncated_parameters() {
    // Opt Parm Len says 6, only 4 octets follow.
    let e = open_err("04 fde8 00b4 c0000201 06 02 02 02 00");
    assert!(matches!(e, OpenError::Malformed(_)));
    assert_eq!(e.to_notification(), notif(2, 0, &[]));
    // Parameter length runs past the parameters.
    let e = open_err("04 fde8 00b4 c0000201 04 02 05 02 00");
    assert!(matches!(e, OpenError::Malformed(_)));
    // Extended form cut inside its length.
    let e = open_err("04 fde8 00b4 c0000201 ff ff 00");
    assert!(matches!(e, OpenError::Malformed(_)));
    // Bytes after the parameters.
    let e = open_err("04 fde8 00b4 c0000201 00 00");
    assert!(matches!(e, OpenError::Malformed(_)));
}

#[test]
fn open_unsupported_optional_parameter() {
    // Parameter type 1 (deprecated authentication).
    let e = open_err("04 fde8 00b4 c0000201 04 01 02 abcd");
    assert_eq!(e, OpenError::UnsupportedOptionalParameter(1));
    assert_eq!(e.to_notification(), notif(2, 4, &[]));
}

#[test]
fn open_capability_overrun_and_bad_lengths() {
    // Capability length 4 but the parameter holds only 2 more octets.
    let e = open_err("04 fde8 00b4 c0000201 06 02 04 41 04 0000");
    assert!(matches!(e, OpenError::Malformed(_)));
    assert_eq!(e.to_notification(), notif(2, 0, &[]));
    // Wrong fixed lengths of known capabilities.
    for caps in [
        "01 03 000100",     // multiprotocol of 3
        "41 02 fde8",       // 4-octet AS of 2
        "02 01 00",         // route refresh with a value
        "40 03 000001",     // graceful restart not 2 + 4n
        "45 03 000101",     // ADD-PATH not 4n
        "47 06 000101000e", // LLGR not 7n
        "05 04 00010001",   // extended next hop not 6n
        "09 00",            // role of 0
        "49 03 05 6162",    // FQDN host name overrun
        "49 03 00 00 00",   // FQDN trailing octet
    ] {
        let c = hex(caps);
        let mut body = hex("04 fde8 00b4 c0000201");
        body.push((c.len() + 2) as u8);
        body.extend_from_slice(&[2, c.len() as u8]);
        body.extend_from_slice(&c);
        match decode_err(message(1, &body), &ctx()) {
            DecodeError::Open(OpenError::Malformed(_)) => {}
            other => panic!("{caps}: {other:?}"),
        }
    }
}

#[test]
fn open_session_level_errors_convert_to_notifications() {
    assert_eq!(OpenError::BadPeerAs(1).to_notification(), notif(2, 2, &[]));
    assert_eq!(
        OpenError::BadBgpIdentifier(Ipv4Addr::UNSPECIFIED).to_notification(),
        notif(2, 3, &[])
    );
    assert_eq!(
        OpenError::UnacceptableHoldTime(2).to_notification(),
        notif(2, 6, &[])
    );
    assert_eq!(
        OpenError::UnsupportedCapability(Bytes::from_static(&[1, 4, 0, 2, 0, 1])).to_notification(),
        notif(2, 7, &[1, 4, 0, 2, 0, 1])
    );
    assert_eq!(OpenError::RoleMismatch.to_notification(), notif(2, 11, &[]));
}

// ---------------------------------------------------------------------------------------------
// UPDATE errors (RFC 4271 §6.3, RFC 7606)

const ORIGIN: &str = "40 01 01 00";
const AS_PATH: &str = "40 02 06 02 01 0000fde8";
const NEXT_HOP: &str = "40 03 04 c0000201";

/// An UPDATE announcing 10.0.0.0/8 with these attributes.
fn announce(attrs: &[&str]) -> Bytes {
    update(&[], &hex(&attrs.concat()), &hex("08 0a"))
}

fn check_treat_as_withdraw(ctx: &SessionContext, bad: &str, kind: UpdateErrorKind, subcode: u8) {
    let mut attrs = vec![ORIGIN, AS_PATH, NEXT_HOP];
    // Replace the mandatory attribute of the same type, if any.
    let code = hex(bad)[1];
    if (1..=3).contains(&code) {
        attrs.remove(usize::from(code) - 1);
    }
    attrs.push(bad);
    let u = decode_update(announce(&attrs), ctx);
    let e = u
        .treat_as_withdraw
        .clone()
        .unwrap_or_else(|| panic!("{bad}: no treat-as-withdraw: {u:?}"));
    assert_eq!(e.kind, kind, "{bad}");
    assert_eq!(e.action, Rfc7606Action::TreatAsWithdraw, "{bad}");
    // RFC 4271 §6.3: the data is the whole erroneous attribute.
    assert_eq!(e.to_notification(), notif(3, subcode, &hex(bad)), "{bad}");
    assert_eq!(u.announced().count(), 0, "{bad}");
    let w: Vec<_> = u.withdrawals().collect();
    assert_eq!(
        w,
        vec![(Family::IPV4_UNICAST, &nlri("10.0.0.0/8"))],
        "{bad}"
    );
}

#[test]
fn treat_as_withdraw_attributes() {
    use UpdateErrorKind::*;
    let e = ctx();
    let i = ibgp();
    for (c, bad, kind, sub) in [
        (&e, "40 01 02 0000", AttributeLength(1), 5),
        (&e, "40 01 01 03", InvalidOrigin, 6),
        (&e, "40 02 03 02 01 00", MalformedAsPath, 11), // segment overrun
        (&e, "40 02 06 05 01 0000fde8", MalformedAsPath, 11), // segment type 5
        (&e, "40 02 02 02 00", MalformedAsPath, 11),    // empty segment
        (&e, "40 02 06 03 01 0000fde8", MalformedAsPath, 11), // confed from eBGP
        (&e, "40 03 03 c00002", AttributeLength(3), 5),
        (&e, "40 03 04 00000000", InvalidNextHop, 8),
        (&e, "40 03 04 e0000001", InvalidNextHop, 8), // multicast
        (&e, "40 03 04 f0000001", InvalidNextHop, 8), // class E
        (&e, "80 04 03 000001", AttributeLength(4), 5),
        (&i, "40 05 05 0000000001", AttributeLength(5), 5),
        (&e, "c0 08 05 0000000001", AttributeLength(8), 5),
        (&e, "c0 08 00", AttributeLength(8), 5),
        (&i, "80 09 03 c00002", AttributeLength(9), 5),
        (&i, "80 0a 06 c0000203 0000", AttributeLength(10), 5),
        (&i, "80 0a 00", AttributeLength(10), 5),
        (&e, "c0 10 07 00020001000000", AttributeLength(16), 5),
        (&e, "c0 20 08 0000000100000002", AttributeLength(32), 5),
        (&e, "c0 23 02 0001", AttributeLength(35), 5),
        // Extended Length: the data keeps the two-octet length.
        (&e, "d0 08 0003 000001", AttributeLength(8), 5),
    ] {
        check_treat_as_withdraw(c, bad, kind, sub);
    }
}

#[test]
fn wrong_flags() {
    use UpdateErrorKind::AttributeFlags;
    // Well-known marked optional, optional marked well-known, transitive bit wrong.
    for (bad, code) in [
        ("c0 01 01 00", 1),
        ("80 02 00", 2),
        ("00 03 04 c0000201", 3),
        ("40 04 04 00000001", 4),
        ("c0 04 04 00000001", 4),
        ("80 08 04 00000001", 8),
        ("40 20 0c 000000010000000200000003", 32),
    ] {
        check_treat_as_withdraw(&ctx(), bad, AttributeFlags(code), 4);
    }
    // Partial on a well-known attribute is not checked here, only Optional and Transitive.
    let u = decode_update(announce(&["60 01 01 00", AS_PATH, NEXT_HOP]), &ctx());
    assert!(u.treat_as_withdraw.is_none());
    // AGGREGATOR with wrong flags: discarded.
    let u = decode_update(
        announce(&[ORIGIN, AS_PATH, NEXT_HOP, "80 07 08 0000fde8 c0000201"]),
        &ctx(),
    );
    assert!(u.treat_as_withdraw.is_none());
    assert_eq!(u.discarded.len(), 1);
    assert_eq!(u.discarded[0].kind, AttributeFlags(7));
    assert_eq!(u.attributes.aggregator, None);
    // MP_REACH with wrong flags: session reset.
    let e = decode_err(
        update(&[], &hex("c0 0e 0a 0001 01 04 c0000201 00 08 0a"), &[]),
        &ctx(),
    );
    match e {
        DecodeError::Update(e) => {
            assert_eq!(e.kind, AttributeFlags(14));
            assert_eq!(e.action, Rfc7606Action::SessionReset);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn attribute_discard_attributes() {
    use UpdateErrorKind::*;
    for (c, bad, kind) in [
        (ctx(), "40 06 01 00", AttributeLength(6)),
        (ctx(), "c0 07 06 fde8 c0000201", AttributeLength(7)), // 2-octet on 4-octet session
        (
            two_octet(),
            "c0 07 08 0000fde8 c0000201",
            AttributeLength(7),
        ),
        (two_octet(), "c0 11 03 02 01 00", MalformedAsPath),
        (two_octet(), "c0 12 06 fde8 c0000201", AttributeLength(18)),
    ] {
        let path = if c.four_octet_as {
            AS_PATH
        } else {
            "40 02 04 02 01 fde8"
        };
        let u = decode_update(announce(&[ORIGIN, path, NEXT_HOP, bad]), &c);
        assert!(u.treat_as_withdraw.is_none(), "{bad}: {u:?}");
        assert_eq!(u.discarded.len(), 1, "{bad}");
        assert_eq!(u.discarded[0].kind, kind, "{bad}");
        assert_eq!(u.discarded[0].action, Rfc7606Action::AttributeDiscard);
        assert_eq!(&u.discarded[0].data[..], &hex(bad)[..], "{bad}");
        assert_eq!(u.announced().count(), 1, "{bad}");
        let a = &u.attributes;
        assert!(!a.atomic_aggregate && a.aggregator.is_none());
        assert!(a.as4_path.is_none() && a.as4_aggregator.is_none());
    }
}

#[test]
fn local_pref_from_ebgp_is_discarded_even_when_malformed() {
    // RFC 7606 §7.5.
    let u = decode_update(
        announce(&[ORIGIN, AS_PATH, NEXT_HOP, "40 05 02 0001"]),
        &ctx(),
    );
    assert!(u.treat_as_withdraw.is_none(), "{u:?}");
    assert_eq!(u.attributes.local_pref, None);
    let u = decode_update(
        announce(&[ORIGIN, AS_PATH, NEXT_HOP, "c0 05 04 00000064"]),
        &ctx(),
    );
    assert!(u.treat_as_withdraw.is_none(), "{u:?}");
    assert_eq!(u.announced().count(), 1);
}

fn reset_err(wire: Bytes, ctx: &SessionContext) -> bgp_proto::UpdateError {
    match decode_err(wire, ctx) {
        DecodeError::Update(e) => {
            assert_eq!(e.action, Rfc7606Action::SessionReset);
            e
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn session_reset_cases() {
    use UpdateErrorKind::*;
    // MP_REACH with a 5-octet next hop.
    let bad = "80 0e 0c 0001 01 05 c000020100 00 08 0a";
    let e = reset_err(update(&[], &hex(bad), &[]), &ctx());
    assert_eq!(e.kind, OptionalAttribute(14));
    assert_eq!(e.to_notification(), notif(3, 9, &hex(bad)));
    // MP_REACH without the reserved octet, and with a truncated NLRI.
    reset_err(
        update(&[], &hex("80 0e 08 0001 01 04 c0000201"), &[]),
        &ctx(),
    );
    reset_err(
        update(&[], &hex("80 0e 0b 0001 01 04 c0000201 00 18 0a"), &[]),
        &ctx(),
    );
    // MP_REACH shorter than AFI/SAFI.
    reset_err(update(&[], &hex("80 0e 02 0001"), &[]), &ctx());
    // MP_UNREACH with a prefix length of 129.
    let e = reset_err(update(&[], &hex("80 0f 05 0002 01 81 20"), &[]), &ctx());
    assert_eq!(e.kind, OptionalAttribute(15));
    // A repeated MP attribute.
    let e = reset_err(
        update(&[], &hex("80 0f 03 0002 01 80 0f 03 0002 01"), &[]),
        &ctx(),
    );
    assert_eq!(e.kind, MalformedAttributeList);
    assert_eq!(e.to_notification(), notif(3, 1, &[]));
    // An attribute overrunning the block, or a header cut short by it, is treat-as-withdraw
    // unless it is an MP attribute (RFC 7606 §4): see `attribute_overrun_and_mp_attributes`.
    // Total path attribute length past the message.
    let mut body = hex("0000 0010 40 01 01 00");
    body.truncate(body.len());
    let e = reset_err(message(2, &body), &ctx());
    assert_eq!(e.kind, MalformedAttributeList);
    // Withdrawn routes length past the message.
    reset_err(message(2, &hex("0010 0000")), &ctx());
    // Bad NLRI: /33, and a truncated prefix; in the withdrawn routes too.
    for (w, n) in [
        ("", "21 0a000000 00"),
        ("", "18 0a00"),
        ("21 0a00000000", ""),
    ] {
        let e = reset_err(
            update(
                &hex(w),
                &hex(&[ORIGIN, AS_PATH, NEXT_HOP].concat()),
                &hex(n),
            ),
            &ctx(),
        );
        assert_eq!(e.kind, InvalidNetworkField);
        assert_eq!(e.to_notification(), notif(3, 10, &[]));
    }
    // ADD-PATH NLRI cut inside the path identifier.
    let ap = SessionContext {
        add_path_rx: FamilySet::of(&[Family::IPV4_UNICAST]),
        ..ctx()
    };
    reset_err(update(&hex("000000"), &[], &[]), &ap);
    // An unrecognized well-known attribute.
    let e = reset_err(update(&[], &hex("40 63 01 00"), &[]), &ctx());
    assert_eq!(e.kind, UnrecognizedWellKnownAttribute(99));
    assert_eq!(e.to_notification(), notif(3, 2, &hex("40 63 01 00")));
}

#[test]
fn duplicate_attributes_first_kept() {
    let u = decode_update(
        announce(&[
            ORIGIN,
            AS_PATH,
            NEXT_HOP,
            "40 01 01 02",
            "80 04 04 00000001",
            "80 04 04 00000002",
        ]),
        &ctx(),
    );
    assert!(u.treat_as_withdraw.is_none() && u.discarded.is_empty());
    assert_eq!(u.attributes.origin, Some(Origin::Igp));
    assert_eq!(u.attributes.med, Some(1));
}

#[test]
fn missing_mandatory_attributes() {
    for (attrs, missing) in [
        (vec![AS_PATH, NEXT_HOP], 1u8),
        (vec![ORIGIN, NEXT_HOP], 2),
        (vec![ORIGIN, AS_PATH], 3),
        (vec![], 1),
    ] {
        let u = decode_update(announce(&attrs), &ctx());
        let e = u.treat_as_withdraw.clone().expect("treat-as-withdraw");
        assert_eq!(e.kind, UpdateErrorKind::MissingWellKnownAttribute(missing));
        assert_eq!(e.action, Rfc7606Action::TreatAsWithdraw);
        // RFC 4271 §6.3: the data is the missing attribute's type code.
        assert_eq!(e.to_notification(), notif(3, 3, &[missing]));
        assert_eq!(u.announced().count(), 0);
        assert_eq!(
            u.withdrawals().map(|(_, n)| n.prefix).collect::<Vec<_>>(),
            vec!["10.0.0.0/8".parse::<Prefix>().unwrap()]
        );
    }
    // MP_REACH needs ORIGIN and AS_PATH but not NEXT_HOP.
    let mp = "80 0e 0b 0001 01 04 c0000201 00 08 0a";
    let u = decode_update(
        update(&[], &hex(&[ORIGIN, AS_PATH, mp].concat()), &[]),
        &ctx(),
    );
    assert!(u.treat_as_withdraw.is_none());
    let u = decode_update(update(&[], &hex(&[ORIGIN, mp].concat()), &[]), &ctx());
    assert_eq!(
        u.treat_as_withdraw.as_ref().map(|e| e.kind),
        Some(UpdateErrorKind::MissingWellKnownAttribute(2))
    );
    assert_eq!(u.withdrawals().count(), 1);
    // A withdrawal-only UPDATE needs nothing.
    let u = decode_update(update(&hex("08 0a"), &[], &[]), &ctx());
    assert!(u.treat_as_withdraw.is_none());
}

#[test]
fn first_treat_as_withdraw_error_is_kept() {
    let u = decode_update(
        announce(&["40 01 01 07", AS_PATH, NEXT_HOP, "80 04 01 00"]),
        &ctx(),
    );
    assert_eq!(
        u.treat_as_withdraw.unwrap().kind,
        UpdateErrorKind::InvalidOrigin
    );
}

// ---------------------------------------------------------------------------------------------
// AS 0 (RFC 7607 §2)

#[test]
fn as_zero_in_as_path_is_treat_as_withdraw() {
    use UpdateErrorKind::ZeroAsInPath;
    let e = ctx();
    let i = ibgp();
    let t = two_octet();
    let ti = SessionContext {
        ibgp: true,
        ..two_octet()
    };
    for (c, bad) in [
        (&e, "40 02 06 02 01 00000000"),          // the only AS
        (&e, "40 02 0a 02 02 0000fde8 00000000"), // last of an AS_SEQUENCE
        (&e, "40 02 0a 01 02 00000000 0000fde9"), // in an AS_SET
        (&e, "40 02 10 02 01 0000fde8 01 02 0000fde9 00000000"), // in a second segment
        (&i, "40 02 0c 03 01 00000000 02 01 0000fde8"), // AS_CONFED_SEQUENCE
        (&i, "40 02 0c 04 01 00000000 02 01 0000fde8"), // AS_CONFED_SET
        (&t, "40 02 06 02 02 fde8 0000"),         // 2-octet AS_SEQUENCE
        (&t, "40 02 08 02 01 fde8 01 01 0000"),   // 2-octet AS_SET
        (&ti, "40 02 08 03 01 0000 02 01 fde8"),  // 2-octet confederation
        (&e, "50 02 0006 02 01 00000000"),        // Extended Length
    ] {
        check_treat_as_withdraw(c, bad, ZeroAsInPath(2), 11);
    }

    // The NLRI of MP_REACH_NLRI are withdrawn as well.
    let mp = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8";
    let u = decode_update(
        update(
            &[],
            &hex(&[ORIGIN, "40 02 06 02 01 00000000", mp].concat()),
            &[],
        ),
        &ctx(),
    );
    assert_eq!(
        u.treat_as_withdraw.as_ref().map(|e| (e.kind, e.action)),
        Some((ZeroAsInPath(2), Rfc7606Action::TreatAsWithdraw))
    );
    assert_eq!(u.announced().count(), 0);
    assert_eq!(
        u.withdrawals().collect::<Vec<_>>(),
        vec![(Family::IPV6_UNICAST, &nlri("2001:db8::/32"))]
    );

    // Zero octets inside a non-zero AS number are not AS 0.
    for (c, path) in [
        (&e, "40 02 0a 02 02 00010000 00000100"), // 65536 256
        (&t, "40 02 06 02 02 0100 5ba0"),         // 256 AS_TRANS
    ] {
        let u = decode_update(announce(&[ORIGIN, path, NEXT_HOP]), c);
        assert!(
            u.treat_as_withdraw.is_none() && u.discarded.is_empty(),
            "{path}: {u:?}"
        );
        assert_eq!(u.announced().count(), 1, "{path}");
    }
}

#[test]
fn as_zero_in_as4_path_and_aggregators_is_attribute_discard() {
    use UpdateErrorKind::{ZeroAsInAggregator, ZeroAsInPath};
    let e = ctx();
    let t = two_octet();
    for (c, bad, kind, subcode) in [
        // AS4_PATH: RFC 7607 §2 defers to RFC 6793 §6, attribute discard.
        (&t, "c0 11 0a 02 02 0000fde8 00000000", ZeroAsInPath(17), 11),
        (&t, "c0 11 0a 01 02 00010000 00000000", ZeroAsInPath(17), 11),
        // In a confederation segment, which would otherwise be dropped alone.
        (
            &t,
            "c0 11 0c 03 01 00000000 02 01 0000fde8",
            ZeroAsInPath(17),
            11,
        ),
        (&e, "c0 11 06 02 01 00000000", ZeroAsInPath(17), 11),
        // AGGREGATOR: RFC 7606 §7.7; AS4_AGGREGATOR: RFC 6793 §6.
        (&e, "c0 07 08 00000000 c0000201", ZeroAsInAggregator(7), 9),
        (&t, "c0 07 06 0000 c0000201", ZeroAsInAggregator(7), 9),
        (&t, "c0 12 08 00000000 c0000201", ZeroAsInAggregator(18), 9),
        (&e, "c0 12 08 00000000 c0000201", ZeroAsInAggregator(18), 9),
    ] {
        let path = if c.four_octet_as {
            AS_PATH
        } else {
            "40 02 04 02 01 fde8"
        };
        let u = decode_update(announce(&[ORIGIN, path, NEXT_HOP, bad]), c);
        assert!(u.treat_as_withdraw.is_none(), "{bad}: {u:?}");
        assert_eq!(u.discarded.len(), 1, "{bad}: {u:?}");
        let d = &u.discarded[0];
        assert_eq!(d.kind, kind, "{bad}");
        assert_eq!(d.action, Rfc7606Action::AttributeDiscard, "{bad}");
        assert_eq!(d.to_notification(), notif(3, subcode, &hex(bad)), "{bad}");
        let a = &u.attributes;
        assert!(
            a.aggregator.is_none() && a.as4_aggregator.is_none(),
            "{bad}"
        );
        assert!(a.as4_path.is_none(), "{bad}");
        assert!(a.as_path.is_some(), "{bad}");
        assert_eq!(u.announced().count(), 1, "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Attribute lengths against the Total Path Attribute Length (RFC 7606 §4)

#[test]
fn attribute_overrunning_the_block_is_treat_as_withdraw() {
    for tail in [
        "c0 08 08 0000fde8",   // COMMUNITIES says 8 octets, 4 are left
        "40 01 05 00",         // a repeated ORIGIN that says 5, 1 is left
        "d0 08 0010 00000001", // Extended Length
        "c0 63 04 00",         // unknown optional transitive
        "c0 07 09 0000fde8",   // AGGREGATOR: not discarded, it cannot be delimited
        "40",                  // one stray octet
        "40 05",               // flags and type code, no length
        "50 08 00",            // Extended Length cut inside the length
    ] {
        let attrs = hex(&[ORIGIN, AS_PATH, NEXT_HOP, tail].concat());
        let wire = update(&hex("18 c00002"), &attrs, &hex("08 0a 10 ac10"));
        let u = match Message::decode(wire, &ctx()) {
            Ok(Message::Update(u)) => u,
            other => panic!("{tail}: {other:?}"),
        };
        let e = u
            .treat_as_withdraw
            .clone()
            .unwrap_or_else(|| panic!("{tail}: no treat-as-withdraw: {u:?}"));
        assert_eq!(e.kind, UpdateErrorKind::MalformedAttributeList, "{tail}");
        assert_eq!(e.action, Rfc7606Action::TreatAsWithdraw, "{tail}");
        assert_eq!(e.to_notification(), notif(3, 1, &[]), "{tail}");
        // The attributes before it were read; the NLRI start where the Total Path Attribute
        // Length says, and every one of them is withdrawn.
        assert_eq!(u.attributes.origin, Some(Origin::Igp), "{tail}");
        assert_eq!(
            u.nlri,
            vec![nlri("10.0.0.0/8"), nlri("172.16.0.0/16")],
            "{tail}"
        );
        assert_eq!(u.announced().count(), 0, "{tail}");
        let w: Vec<String> = u.withdrawals().map(|(_, n)| n.prefix.to_string()).collect();
        assert_eq!(w, ["192.0.2.0/24", "10.0.0.0/8", "172.16.0.0/16"], "{tail}");
    }
    // The overrun alone in the block, before any mandatory attribute.
    let u = decode_update(update(&[], &hex("40 01 05 00"), &hex("08 0a")), &ctx());
    assert_eq!(
        u.treat_as_withdraw.as_ref().map(|e| e.kind),
        Some(UpdateErrorKind::MalformedAttributeList)
    );
    assert_eq!(
        u.withdrawals().collect::<Vec<_>>(),
        vec![(Family::IPV4_UNICAST, &nlri("10.0.0.0/8"))]
    );
}

#[test]
fn attribute_overrun_and_mp_attributes() {
    // MP_REACH_NLRI and MP_UNREACH_NLRI read before the overrun: their NLRI are delimited, so
    // treat-as-withdraw covers the MP_REACH_NLRI ones and the withdrawals stand.
    let reach = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8";
    let unreach = "80 0f 0a 0002 01 30 20010db80001";
    let u = decode_update(
        update(
            &[],
            &hex(&[reach, unreach, ORIGIN, AS_PATH, "c0 08 08 0000fde8"].concat()),
            &[],
        ),
        &ctx(),
    );
    assert_eq!(
        u.treat_as_withdraw.as_ref().map(|e| (e.kind, e.action)),
        Some((
            UpdateErrorKind::MalformedAttributeList,
            Rfc7606Action::TreatAsWithdraw
        ))
    );
    assert_eq!(u.announced().count(), 0);
    assert_eq!(
        u.withdrawals().collect::<Vec<_>>(),
        vec![
            (Family::IPV6_UNICAST, &nlri("2001:db8:1::/48")),
            (Family::IPV6_UNICAST, &nlri("2001:db8::/32")),
        ]
    );

    // The attribute that overruns, or whose header is cut, is MP_REACH_NLRI or MP_UNREACH_NLRI:
    // its NLRI cannot be parsed, so treat-as-withdraw is impossible (RFC 7606 §4, §5).
    for bad in [
        "80 0e 20 0001 01 04 c0000201 00 08 0a",
        "90 0f 0010 0002 01",
        "80 0e",
        "90 0f 00",
    ] {
        let e = reset_err(
            update(&[], &hex(&[ORIGIN, AS_PATH, bad].concat()), &hex("08 0a")),
            &ctx(),
        );
        assert_eq!(e.kind, UpdateErrorKind::MalformedAttributeList, "{bad}");
        assert_eq!(e.to_notification(), notif(3, 1, &[]), "{bad}");
    }
    // An unrecognized well-known attribute is the more severe error (RFC 7606 §4).
    let e = reset_err(
        update(&[], &hex(&[ORIGIN, "40 63 05 00"].concat()), &hex("08 0a")),
        &ctx(),
    );
    assert_eq!(e.kind, UpdateErrorKind::UnrecognizedWellKnownAttribute(99));
    assert_eq!(e.to_notification(), notif(3, 2, &hex("40 63 05 00")));
}

#[test]
fn total_attribute_length_too_long_still_needs_a_parsable_nlri_field() {
    // A Total Path Attribute Length one octet too long swallows the first NLRI octet into the
    // block, which then ends with a stray octet: treat-as-withdraw (RFC 7606 §4) only if the NLRI
    // field left after the block parses. Here it does not (0a 00 00 01: a /10, then a /1 with
    // no octet), so the session is reset with 3/10. The lengths that overrun the message itself
    // stay 3/1 resets (`session_reset_cases`).
    let attrs = hex(&[ORIGIN, AS_PATH, NEXT_HOP].concat());
    let mut body = vec![0, 0];
    body.extend_from_slice(&((attrs.len() + 1) as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(&hex("20 0a000001"));
    let e = reset_err(message(2, &body), &ctx());
    assert_eq!(e.kind, UpdateErrorKind::InvalidNetworkField);
    assert_eq!(e.to_notification(), notif(3, 10, &[]));
}

// ---------------------------------------------------------------------------------------------
// UpdatePacker

fn many_v4(n: u32) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let a = Ipv4Addr::from(0x0a00_0000 + (i << 8));
            Nlri::new(Prefix::new(a.into(), 24).unwrap())
        })
        .collect()
}

fn many_v6(n: u32) -> Vec<Nlri> {
    (0..n)
        .map(|i| {
            let a = std::net::Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 64));
            Nlri::new(Prefix::new(a.into(), 64).unwrap())
        })
        .collect()
}

/// Cuts a stream of messages with `frame_len`, checking each size and that each decodes.
fn split_stream(buf: &[u8], ctx: &SessionContext) -> Vec<Update> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let Ok(Frame::Complete(n)) = frame_len(rest, ctx.max_message_len()) else {
            panic!("stream not framed")
        };
        assert!(n <= ctx.max_message_len());
        // The packer's decode context receives what it sends.
        let rx = SessionContext {
            add_path_rx: ctx.add_path_tx,
            ..*ctx
        };
        out.push(decode_update(Bytes::copy_from_slice(&rest[..n]), &rx));
        rest = &rest[n..];
    }
    out
}

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence([65000, 65001])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        communities: vec![bgp_proto::Community::new(65000, 1)],
        ..PathAttributes::default()
    }
}

#[test]
fn packer_ipv4_announce_and_withdraw() {
    for ctx in [
        ctx(),
        SessionContext {
            extended_message: true,
            ..ctx()
        },
        SessionContext {
            add_path_tx: FamilySet::of(&[Family::IPV4_UNICAST]),
            ..ctx()
        },
    ] {
        let add_path = ctx.sends_path_ids(Family::IPV4_UNICAST);
        let mut input = many_v4(20_000);
        if add_path {
            for (i, n) in input.iter_mut().enumerate() {
                n.path_id = Some(i as u32 % 3);
            }
        }
        let mut packer = UpdatePacker::new(ctx);
        let mut out = BytesMut::new();
        let count = packer.announce_ipv4(&attrs(), &input, &mut out).unwrap();
        let updates = split_stream(&out, &ctx);
        assert_eq!(updates.len(), count);
        assert!(count > 1);
        let mut got = Vec::new();
        for u in &updates {
            assert_eq!(u.attributes, attrs());
            assert!(u.treat_as_withdraw.is_none());
            got.extend(u.nlri.iter().copied());
        }
        assert_eq!(got, input);
        // Every message but the last is full: the next prefix would not have fitted.
        let sizes: Vec<usize> = {
            let mut v = Vec::new();
            let mut rest = &out[..];
            while let Ok(Frame::Complete(n)) = frame_len(rest, ctx.max_message_len()) {
                v.push(n);
                rest = &rest[n..];
            }
            v
        };
        let per = input[0].encoded_len(add_path);
        for s in &sizes[..sizes.len() - 1] {
            assert!(s + per > ctx.max_message_len(), "{s}");
        }

        let mut out = BytesMut::new();
        let count = packer.withdraw(Family::IPV4_UNICAST, &input, &mut out);
        let updates = split_stream(&out, &ctx);
        assert_eq!(updates.len(), count);
        let got: Vec<Nlri> = updates.iter().flat_map(|u| u.withdrawn.clone()).collect();
        assert_eq!(got, input);
        assert!(updates
            .iter()
            .all(|u| u.nlri.is_empty() && u.attributes.is_empty()));
    }
}

#[test]
fn packer_ipv6_via_mp() {
    for ctx in [
        ctx(),
        SessionContext {
            extended_message: true,
            ..ctx()
        },
        SessionContext {
            add_path_tx: FamilySet::of(&[Family::IPV6_UNICAST]),
            ..ctx()
        },
    ] {
        let mut input = many_v6(8000);
        if ctx.sends_path_ids(Family::IPV6_UNICAST) {
            for (i, n) in input.iter_mut().enumerate() {
                n.path_id = Some(i as u32);
            }
        }
        let nh = NextHop::V6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse().unwrap()),
        };
        let mut a = attrs();
        a.next_hop = None;
        let mut packer = UpdatePacker::new(ctx);
        let mut out = BytesMut::new();
        let count = packer
            .announce_mp(&a, Family::IPV6_UNICAST, &nh, &input, &mut out)
            .unwrap();
        let updates = split_stream(&out, &ctx);
        assert_eq!(updates.len(), count);
        assert!(count > 1);
        let mut got = Vec::new();
        for u in &updates {
            assert_eq!(u.attributes, a);
            assert!(u.treat_as_withdraw.is_none());
            let r = u.mp_reach.as_ref().unwrap();
            assert_eq!((r.family, r.next_hop), (Family::IPV6_UNICAST, nh));
            got.extend(r.nlri.iter().copied());
        }
        assert_eq!(got, input);

        let mut out = BytesMut::new();
        let count = packer.withdraw(Family::IPV6_UNICAST, &input, &mut out);
        let updates = split_stream(&out, &ctx);
        assert_eq!(updates.len(), count);
        let got: Vec<Nlri> = updates
            .iter()
            .flat_map(|u| u.mp_unreach.as_ref().unwrap().withdrawn.clone())
            .collect();
        assert_eq!(got, input);
    }
}

#[test]
fn packer_ipv4_with_ipv6_next_hop_and_edge_cases() {
    let ctx = ctx();
    let mut packer = UpdatePacker::new(ctx);
    let nh = NextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    };
    let input = many_v4(2000);
    let mut out = BytesMut::new();
    let n = packer
        .announce_mp(&attrs(), Family::IPV4_UNICAST, &nh, &input, &mut out)
        .unwrap();
    let updates = split_stream(&out, &ctx);
    assert_eq!(n, updates.len());
    let got: Vec<Nlri> = updates
        .iter()
        .flat_map(|u| u.mp_reach.as_ref().unwrap().nlri.clone())
        .collect();
    assert_eq!(got, input);

    // Nothing to send: no messages.
    let mut out = BytesMut::new();
    assert_eq!(packer.announce_ipv4(&attrs(), &[], &mut out), Ok(0));
    assert_eq!(packer.withdraw(Family::IPV6_UNICAST, &[], &mut out), 0);
    assert!(out.is_empty());

    // Attributes that leave no room for a prefix.
    let mut huge = attrs();
    huge.communities = (0..1020).map(bgp_proto::Community).collect();
    let r = packer.announce_ipv4(&huge, &many_v4(1), &mut out);
    assert!(matches!(
        r,
        Err(bgp_proto::PackError::AttributesTooLarge(_))
    ));

    // One message exactly at 4096 octets is allowed: fill with /32s (5 octets) after
    // attributes sized so that the total lands on the limit.
    let one = split_stream(
        &{
            let mut o = BytesMut::new();
            packer.announce_ipv4(&attrs(), &many_v4(1), &mut o).unwrap();
            o
        },
        &ctx,
    );
    assert_eq!(one.len(), 1);
}

#[test]
fn update_encode_then_decode_treat_as_withdraw_value() {
    // Decoded errors are not encoded: re-encoding a treat-as-withdraw UPDATE writes what
    // survived.
    let u = decode_update(announce(&[AS_PATH, NEXT_HOP]), &ctx());
    let again = decode_update(Message::Update(u.clone()).to_bytes(&ctx()), &ctx());
    assert_eq!(again.attributes, u.attributes);
    assert_eq!(again.nlri, u.nlri);
    let _ = Update::default();
}

#[test]
fn own_next_hop_is_treat_as_withdraw() {
    // RFC 4271 §6.3: NEXT_HOP 192.0.2.1 is the receiving speaker's own address.
    let mut u = decode_update(announce(&[ORIGIN, AS_PATH, NEXT_HOP]), &ctx());
    assert!(!u.reject_own_next_hop("192.0.2.2".parse().unwrap()));
    assert!(u.treat_as_withdraw.is_none());
    assert!(u.reject_own_next_hop("192.0.2.1".parse().unwrap()));
    let e = u.treat_as_withdraw.clone().expect("treat-as-withdraw");
    assert_eq!(e.kind, UpdateErrorKind::InvalidNextHop);
    assert_eq!(e.action, Rfc7606Action::TreatAsWithdraw);
    assert_eq!(u.announced().count(), 0);
    let w: Vec<_> = u.withdrawals().collect();
    assert_eq!(w, vec![(Family::IPV4_UNICAST, &nlri("10.0.0.0/8"))]);
}
