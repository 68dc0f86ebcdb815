//! Byte-exact vectors written by hand from the RFC wire formats, checked in both directions:
//! the bytes decode to the value, and the value encodes to the same bytes.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_proto::capability::{
    AddPathFamily, ExtendedNextHopFamily, GracefulRestart, GracefulRestartFamily,
    LongLivedGracefulRestartFamily,
};
use bgp_proto::notification::cease_subcode;
use bgp_proto::route_refresh::subtype;
use bgp_proto::{
    Afi, Aggregator, AsPath, AsSegment, Capability, Community, ExtendedCommunity, Family,
    FamilySet, LargeCommunity, Message, MpReach, MpUnreach, NextHop, Notification, Open, Origin,
    PathAttributes, RawAttribute, RouteRefresh, SegmentType, SessionContext, Update,
};
use bytes::Bytes;
use common::*;

fn ctx() -> SessionContext {
    SessionContext::modern_ebgp()
}

fn open_value(caps: Vec<Capability>) -> Open {
    Open {
        version: 4,
        my_as: 65000,
        hold_time: 180,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities: caps,
    }
}

/// An OPEN from AS 65000, hold 180, id 192.0.2.1 with one capabilities parameter.
fn open_with_caps(caps_hex: &str) -> Bytes {
    let caps = hex(caps_hex);
    let mut body = hex("04 fde8 00b4 c0000201");
    body.push((caps.len() + 2) as u8);
    body.push(2); // Parm. Type 2: Capabilities (RFC 5492 §4)
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    message(1, &body)
}

fn seq(asns: &[u32]) -> AsSegment {
    AsSegment {
        kind: SegmentType::Sequence,
        asns: asns.to_vec(),
    }
}

fn seg(kind: SegmentType, asns: &[u32]) -> AsSegment {
    AsSegment {
        kind,
        asns: asns.to_vec(),
    }
}

fn attrs_msg(attributes: PathAttributes) -> Message {
    Message::Update(Update {
        attributes,
        ..Update::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Messages

#[test]
fn keepalive() {
    let wire = Bytes::from(hex("ffffffffffffffffffffffffffffffff 0013 04"));
    both_ways(&ctx(), &wire, &Message::Keepalive);
}

#[test]
fn open_without_optional_parameters() {
    let wire = Bytes::from(hex(concat!(
        "ffffffffffffffffffffffffffffffff 001d 01", // marker, length 29, OPEN
        "04",                                       // version 4
        "fde8",                                     // My AS 65000
        "00b4",                                     // hold time 180
        "c0000201",                                 // BGP Identifier 192.0.2.1
        "00",                                       // no optional parameters
    )));
    both_ways(&ctx(), &wire, &Message::Open(open_value(vec![])));
}

#[test]
fn open_with_capabilities() {
    let wire = Bytes::from(hex(concat!(
        "ffffffffffffffffffffffffffffffff 002d 01", // length 45
        "04 5ba0 005a c6336401",                    // v4, AS_TRANS, hold 90, 198.51.100.1
        "10",                                       // Opt Parm Len 16
        "02 0e",                                    // Capabilities, 14 octets
        "41 04 fa56ea01",                           // 4-octet AS 4200000001
        "01 04 0001 00 01",                         // MP ipv4 unicast
        "02 00",                                    // route refresh
    )));
    let open = Open::new(
        4_200_000_001,
        90,
        Ipv4Addr::new(198, 51, 100, 1),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::RouteRefresh,
        ],
    );
    assert_eq!(open.my_as, 23456);
    both_ways(&ctx(), &wire, &Message::Open(open.clone()));
    assert_eq!(open.asn(), 4_200_000_001);
    assert!(open.four_octet_as());
    assert_eq!(open.families(), vec![Family::IPV4_UNICAST]);
}

#[test]
fn open_with_rfc9072_extended_optional_parameters() {
    // Three unknown capabilities (code 0x7f) of 100 octets each: 306 octets of capabilities do
    // not fit a one-octet parameter length.
    let mut caps = Vec::new();
    let mut wire = hex(concat!(
        "ffffffffffffffffffffffffffffffff 0155 01", // length 341
        "04 fde8 00b4 c0000201",
        "ff",      // Non-Ext OP Len 255 ...
        "ff",      // ... Non-Ext OP Type 255: extended lengths follow (RFC 9072 §2)
        "0135",    // Extended Opt. Parm. Length 309
        "02 0132", // Capabilities, 2-octet parameter length 306
    ));
    for i in 0..3u8 {
        wire.extend_from_slice(&[0x7f, 100]);
        wire.extend_from_slice(&[i; 100]);
        caps.push(Capability::Unknown {
            code: 0x7f,
            value: Bytes::from(vec![i; 100]),
        });
    }
    assert_eq!(wire.len(), 341);
    both_ways(&ctx(), &Bytes::from(wire), &Message::Open(open_value(caps)));
}

#[test]
fn open_rfc9072_encoding_of_short_parameters_is_accepted() {
    let wire = Bytes::from(hex(concat!(
        "ffffffffffffffffffffffffffffffff 0025 01",
        "04 fde8 00b4 c0000201",
        "ff ff 0005", // extended form, 5 octets of parameters
        "02 0002",    // Capabilities, 2 octets
        "02 00",      // route refresh
    )));
    let m = Message::decode(wire, &ctx()).expect("decodes");
    assert_eq!(m, Message::Open(open_value(vec![Capability::RouteRefresh])));
}

#[test]
fn open_capabilities_in_several_parameters() {
    // RFC 5492 §4: capabilities may be spread over several parameters; they decode in order.
    let wire = Bytes::from(hex(concat!(
        "ffffffffffffffffffffffffffffffff 0029 01",
        "04 fde8 00b4 c0000201",
        "0c",
        "02 02 02 00", // route refresh
        "02 06 41 04 0000fde8",
    )));
    let m = Message::decode(wire, &ctx()).expect("decodes");
    assert_eq!(
        m,
        Message::Open(open_value(vec![
            Capability::RouteRefresh,
            Capability::FourOctetAs(65000)
        ]))
    );
}

#[test]
fn notification_plain() {
    // Hold Timer Expired, no data.
    let wire = Bytes::from(hex("ffffffffffffffffffffffffffffffff 0015 03 04 00"));
    both_ways(
        &ctx(),
        &wire,
        &Message::Notification(Notification::new(4, 0, Bytes::new())),
    );
}

#[test]
fn notification_cease_shutdown_communication() {
    // Cease / Administrative Shutdown with an RFC 9003 message: length 11, "maintenance".
    let wire = Bytes::from(hex(concat!(
        "ffffffffffffffffffffffffffffffff 0021 03",
        "06 02",
        "0b 6d61696e74656e616e6365",
    )));
    let n = Notification::cease_with_message(cease_subcode::ADMINISTRATIVE_SHUTDOWN, "maintenance");
    both_ways(&ctx(), &wire, &Message::Notification(n.clone()));
    assert_eq!(n.shutdown_message(), Some("maintenance"));

    // Administrative Reset (4) with "bye".
    let wire = Bytes::from(hex(
        "ffffffffffffffffffffffffffffffff 0019 03 06 04 03 627965",
    ));
    let n = Notification::cease_with_message(cease_subcode::ADMINISTRATIVE_RESET, "bye");
    both_ways(&ctx(), &wire, &Message::Notification(n.clone()));
    assert_eq!(n.shutdown_message(), Some("bye"));
    assert!(n.to_string().contains("\"bye\""));

    // Not a shutdown subcode, an empty or overlong length, or bad UTF-8: no message.
    let no_msg = |code, sub, data: &str| Notification::new(code, sub, hex(data));
    assert_eq!(no_msg(6, 3, "03627965").shutdown_message(), None);
    assert_eq!(no_msg(6, 2, "00").shutdown_message(), None);
    assert_eq!(no_msg(6, 2, "05627965").shutdown_message(), None);
    assert_eq!(no_msg(6, 2, "02ff fe").shutdown_message(), None);
    assert_eq!(no_msg(6, 2, "").shutdown_message(), None);
}

#[test]
fn notification_shutdown_communication_is_cut_at_a_char_boundary() {
    // 127 two-octet characters plus one more: 256 octets, cut to 254 (not 255, mid-character).
    let text = "é".repeat(128);
    let n = Notification::cease_with_message(2, &text);
    assert_eq!(n.data[0], 254);
    assert_eq!(n.data.len(), 255);
    assert_eq!(n.shutdown_message(), Some(&text[..254]));
    assert!(Notification::new(6, 9, Bytes::new()).is_hard_reset());
}

#[test]
fn route_refresh_with_subtypes() {
    for (hex_body, family, st) in [
        ("0001 00 01", Family::IPV4_UNICAST, subtype::NORMAL),
        ("0002 01 01", Family::IPV6_UNICAST, subtype::BEGIN), // BoRR
        ("0001 02 01", Family::IPV4_UNICAST, subtype::END),   // EoRR
        ("0002 00 02", Family::IPV6_MULTICAST, subtype::NORMAL),
    ] {
        let mut wire = hex("ffffffffffffffffffffffffffffffff 0017 05");
        wire.extend_from_slice(&hex(hex_body));
        let value = RouteRefresh {
            family,
            subtype: st,
        };
        both_ways(&ctx(), &Bytes::from(wire), &Message::RouteRefresh(value));
    }
    assert_eq!(
        RouteRefresh::request(Family::IPV4_UNICAST).subtype,
        subtype::NORMAL
    );
}

#[test]
fn update_ipv4_body_with_withdrawn_and_nlri() {
    let wire = Bytes::from(hex(concat!(
        "ffffffffffffffffffffffffffffffff 0036 02", // length 54
        "0004 18 c63364",                           // withdrawn 198.51.100.0/24
        "0014",                                     // 20 octets of attributes
        "40 01 01 00",                              // ORIGIN IGP
        "40 02 06 02 01 0000fde8",                  // AS_PATH (65000)
        "40 03 04 c0000201",                        // NEXT_HOP 192.0.2.1
        "18 cb0071",                                // NLRI 203.0.113.0/24
        "08 0a",                                    // NLRI 10.0.0.0/8
        "00",                                       // NLRI 0.0.0.0/0
    )));
    let value = Update {
        withdrawn: vec![nlri("198.51.100.0/24")],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence([65000])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttributes::default()
        },
        nlri: vec![
            nlri("203.0.113.0/24"),
            nlri("10.0.0.0/8"),
            nlri("0.0.0.0/0"),
        ],
        ..Update::default()
    };
    both_ways(&ctx(), &wire, &Message::Update(value.clone()));
    let announced: Vec<_> = value.announced().map(|(_, n)| n.prefix).collect();
    assert_eq!(announced.len(), 3);
    assert_eq!(value.withdrawals().count(), 1);
}

#[test]
fn update_nlri_with_add_path_ids() {
    let ap = SessionContext {
        add_path_rx: FamilySet::of(&[Family::IPV4_UNICAST, Family::IPV6_UNICAST]),
        add_path_tx: FamilySet::of(&[Family::IPV4_UNICAST, Family::IPV6_UNICAST]),
        ..ctx()
    };
    let wire = update(
        &hex("00000007 18 c63364"), // path id 7, 198.51.100.0/24
        &hex(concat!(
            "40 01 01 02",         // ORIGIN INCOMPLETE
            "40 02 00",            // empty AS_PATH
            "40 03 04 c0000201",   // NEXT_HOP
            "80 0e 1e 0002 01 10", // MP_REACH ipv6 unicast, 16-octet next hop
            "20010db8000000000000000000000001",
            "00",                   // reserved
            "00000002 20 20010db8", // path id 2, 2001:db8::/32
        )),
        &hex("00000001 18 cb0071 00000002 18 cb0071"), // two paths of 203.0.113.0/24
    );
    let value = Update {
        withdrawn: vec![nlri_id(7, "198.51.100.0/24")],
        attributes: PathAttributes {
            origin: Some(Origin::Incomplete),
            as_path: Some(AsPath::default()),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttributes::default()
        },
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: None,
            },
            nlri: vec![nlri_id(2, "2001:db8::/32")],
        }),
        nlri: vec![nlri_id(1, "203.0.113.0/24"), nlri_id(2, "203.0.113.0/24")],
        ..Update::default()
    };
    both_ways(&ap, &wire, &Message::Update(value));
    // The same bytes without ADD-PATH are a different (here malformed) message.
    assert!(Message::decode(wire, &ctx()).is_err());
}

#[test]
fn end_of_rib_markers() {
    // IPv4 unicast: an UPDATE with nothing in it (RFC 4724 §2).
    let wire = Bytes::from(hex("ffffffffffffffffffffffffffffffff 0017 02 0000 0000"));
    let eor = Update::end_of_rib(Family::IPV4_UNICAST);
    both_ways(&ctx(), &wire, &Message::Update(eor.clone()));
    assert_eq!(eor.end_of_rib_family(), Some(Family::IPV4_UNICAST));

    // IPv6 unicast: only an empty MP_UNREACH_NLRI.
    let wire = Bytes::from(hex(
        "ffffffffffffffffffffffffffffffff 001d 02 0000 0006 80 0f 03 0002 01",
    ));
    let eor = Update::end_of_rib(Family::IPV6_UNICAST);
    both_ways(&ctx(), &wire, &Message::Update(eor.clone()));
    assert_eq!(eor.end_of_rib_family(), Some(Family::IPV6_UNICAST));

    // Not markers: a withdrawal, an attribute.
    let w = Update {
        withdrawn: vec![nlri("10.0.0.0/8")],
        ..Update::default()
    };
    assert_eq!(w.end_of_rib_family(), None);
    let a = Update {
        attributes: PathAttributes {
            med: Some(1),
            ..PathAttributes::default()
        },
        ..Update::default()
    };
    assert_eq!(a.end_of_rib_family(), None);
}

// ---------------------------------------------------------------------------------------------
// Capabilities

fn check_cap(caps_hex: &str, caps: Vec<Capability>) {
    both_ways(
        &ctx(),
        &open_with_caps(caps_hex),
        &Message::Open(open_value(caps)),
    );
}

#[test]
fn capability_multiprotocol() {
    // AFI 2, reserved 0, SAFI 1 (RFC 4760 §8).
    check_cap(
        "01 04 0002 00 01",
        vec![Capability::Multiprotocol(Family::IPV6_UNICAST)],
    );
    let o = open_value(vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
    ]);
    assert_eq!(
        o.families(),
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    assert_eq!(open_value(vec![]).families(), vec![Family::IPV4_UNICAST]);
}

#[test]
fn capability_route_refresh_forms() {
    check_cap(
        "02 00 80 00 46 00",
        vec![
            Capability::RouteRefresh,
            Capability::RouteRefreshLegacy,
            Capability::EnhancedRouteRefresh,
        ],
    );
}

#[test]
fn capability_four_octet_as() {
    check_cap(
        "41 04 fa56ea01",
        vec![Capability::FourOctetAs(4_200_000_001)],
    );
}

#[test]
fn capability_graceful_restart() {
    // R and N bits set, restart time 120; ipv4 unicast with F, ipv6 unicast without.
    check_cap(
        "40 0a c078 0001 01 80 0002 01 00",
        vec![Capability::GracefulRestart(GracefulRestart {
            restart_state: true,
            notification: true,
            restart_time: 120,
            families: vec![
                GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_preserved: true,
                },
                GracefulRestartFamily {
                    family: Family::IPV6_UNICAST,
                    forwarding_preserved: false,
                },
            ],
        })],
    );
    // Only N, time 4095 (the 12-bit maximum), no families.
    check_cap(
        "40 02 4fff",
        vec![Capability::GracefulRestart(GracefulRestart {
            restart_state: false,
            notification: true,
            restart_time: 4095,
            families: vec![],
        })],
    );
    // Only R.
    check_cap(
        "40 02 8000",
        vec![Capability::GracefulRestart(GracefulRestart {
            restart_state: true,
            notification: false,
            restart_time: 0,
            families: vec![],
        })],
    );
}

#[test]
fn capability_long_lived_graceful_restart() {
    // ipv4 unicast F=1 stale 3600; ipv6 unicast F=0 stale 0xffffff (24-bit maximum).
    check_cap(
        "47 0e 0001 01 80 000e10 0002 01 00 ffffff",
        vec![Capability::LongLivedGracefulRestart(vec![
            LongLivedGracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: true,
                stale_time: 3600,
            },
            LongLivedGracefulRestartFamily {
                family: Family::IPV6_UNICAST,
                forwarding_preserved: false,
                stale_time: 0xff_ffff,
            },
        ])],
    );
}

#[test]
fn capability_add_path() {
    // ipv4 unicast send/receive 3, ipv6 unicast receive 1, ipv4 multicast send 2.
    check_cap(
        "45 0c 0001 01 03 0002 01 01 0001 02 02",
        vec![Capability::AddPath(vec![
            AddPathFamily {
                family: Family::IPV4_UNICAST,
                receive: true,
                send: true,
            },
            AddPathFamily {
                family: Family::IPV6_UNICAST,
                receive: true,
                send: false,
            },
            AddPathFamily {
                family: Family::IPV4_MULTICAST,
                receive: false,
                send: true,
            },
        ])],
    );
}

#[test]
fn capability_extended_next_hop() {
    // ipv4 unicast (SAFI as 2 octets) over an IPv6 next hop, ipv4 SAFI 128 likewise.
    check_cap(
        "05 0c 0001 0001 0002 0001 0080 0002",
        vec![Capability::ExtendedNextHop(vec![
            ExtendedNextHopFamily {
                nlri_afi: Afi::IPV4,
                nlri_safi: 1,
                next_hop_afi: Afi::IPV6,
            },
            ExtendedNextHopFamily {
                nlri_afi: Afi::IPV4,
                nlri_safi: 128,
                next_hop_afi: Afi::IPV6,
            },
        ])],
    );
}

#[test]
fn capability_extended_message_role_fqdn_unknown() {
    check_cap(
        concat!(
            "06 00",                                 // extended message
            "09 01 02",                              // role: customer (2)
            "49 0e 04 686f7374 08 6578616d706c6500", // FQDN "host", "example\0"
            "7f 03 010203",                          // unknown capability 127, kept raw
            "49 02 00 00",                           // FQDN with both names empty
        ),
        vec![
            Capability::ExtendedMessage,
            Capability::Role(2),
            Capability::Fqdn {
                hostname: Bytes::from_static(b"host"),
                domain: Bytes::from_static(b"example\0"),
            },
            Capability::Unknown {
                code: 127,
                value: Bytes::from_static(&[1, 2, 3]),
            },
            Capability::Fqdn {
                hostname: Bytes::new(),
                domain: Bytes::new(),
            },
        ],
    );
    for (c, code) in [
        (Capability::ExtendedMessage, 6),
        (Capability::Role(0), 9),
        (Capability::RouteRefreshLegacy, 128),
        (Capability::EnhancedRouteRefresh, 70),
    ] {
        assert_eq!(c.code(), code);
    }
}

// ---------------------------------------------------------------------------------------------
// Path attributes, one at a time, in UPDATEs without NLRI (no mandatory attributes needed).

fn check_attrs(ctx: &SessionContext, attrs_hex: &str, attributes: PathAttributes) {
    both_ways(ctx, &attrs_update(attrs_hex), &attrs_msg(attributes));
}

#[test]
fn attribute_origin() {
    for (h, o) in [
        ("40 01 01 00", Origin::Igp),
        ("40 01 01 01", Origin::Egp),
        ("40 01 01 02", Origin::Incomplete),
    ] {
        check_attrs(
            &ctx(),
            h,
            PathAttributes {
                origin: Some(o),
                ..PathAttributes::default()
            },
        );
    }
}

#[test]
fn attribute_as_path_four_octet() {
    // AS_SEQUENCE (65000 4200000001), AS_SET {64512, 64513}.
    let path = AsPath {
        segments: vec![
            seq(&[65000, 4_200_000_001]),
            seg(SegmentType::Set, &[64512, 64513]),
        ],
    };
    assert_eq!(path.path_length(), 3);
    assert_eq!(path.first_as(), Some(65000));
    assert_eq!(path.origin_as(), None);
    assert_eq!(path.to_string(), "65000 4200000001 {64512,64513}");
    check_attrs(
        &ctx(),
        "40 02 14 02 02 0000fde8 fa56ea01 01 02 0000fc00 0000fc01",
        PathAttributes {
            as_path: Some(path),
            ..PathAttributes::default()
        },
    );
}

#[test]
fn attribute_as_path_two_octet() {
    let path = AsPath {
        segments: vec![seq(&[65000, 65001]), seg(SegmentType::Set, &[64512])],
    };
    check_attrs(
        &two_octet(),
        "40 02 0a 02 02 fde8 fde9 01 01 fc00",
        PathAttributes {
            as_path: Some(path),
            ..PathAttributes::default()
        },
    );
}

#[test]
fn attribute_as_path_confederation_segments_ibgp() {
    // AS_CONFED_SEQUENCE (65010 65011), AS_CONFED_SET [65012], AS_SEQUENCE (65000).
    let path = AsPath {
        segments: vec![
            seg(SegmentType::ConfedSequence, &[65010, 65011]),
            seg(SegmentType::ConfedSet, &[65012]),
            seq(&[65000]),
        ],
    };
    assert_eq!(path.path_length(), 1);
    assert_eq!(path.first_as(), Some(65000));
    assert_eq!(path.origin_as(), Some(65000));
    assert_eq!(path.to_string(), "(65010 65011) [65012] 65000");
    check_attrs(
        &ibgp(),
        "40 02 16 03 02 0000fdf2 0000fdf3 04 01 0000fdf4 02 01 0000fde8",
        PathAttributes {
            as_path: Some(path),
            ..PathAttributes::default()
        },
    );
}

#[test]
fn attribute_as_path_longer_than_255_is_split() {
    let asns: Vec<u32> = (1..=300).collect();
    let mut h = String::from("50 02 04b4 02 ff"); // Extended Length: 2+255*4 + 2+45*4 = 1204
    for a in 1..=255u32 {
        h.push_str(&format!("{a:08x}"));
    }
    h.push_str("02 2d");
    for a in 256..=300u32 {
        h.push_str(&format!("{a:08x}"));
    }
    let wire = attrs_update(&h);
    let value = attrs_msg(PathAttributes {
        as_path: Some(AsPath::from_sequence(asns.clone())),
        ..PathAttributes::default()
    });
    assert_eq!(value.to_bytes(&ctx()), wire);
    let u = decode_update(wire, &ctx());
    let p = u.attributes.as_path.unwrap();
    assert_eq!(p.segments.len(), 2);
    assert_eq!(p.path_length(), 300);
    assert_eq!(
        p.segments
            .into_iter()
            .flat_map(|s| s.asns)
            .collect::<Vec<_>>(),
        asns
    );
}

#[test]
fn attribute_next_hop_med_local_pref_atomic() {
    check_attrs(
        &ibgp(),
        concat!(
            "40 03 04 c0000201", // NEXT_HOP 192.0.2.1
            "80 04 04 00000064", // MED 100 (optional non-transitive)
            "40 05 04 000000c8", // LOCAL_PREF 200
            "40 06 00",          // ATOMIC_AGGREGATE
        ),
        PathAttributes {
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            med: Some(100),
            local_pref: Some(200),
            atomic_aggregate: true,
            ..PathAttributes::default()
        },
    );
}

#[test]
fn attribute_aggregator_two_and_four_octet() {
    let agg = |asn| PathAttributes {
        aggregator: Some(Aggregator {
            asn,
            address: Ipv4Addr::new(192, 0, 2, 9),
        }),
        ..PathAttributes::default()
    };
    check_attrs(&ctx(), "c0 07 08 fa56ea01 c0000209", agg(4_200_000_001));
    check_attrs(&two_octet(), "c0 07 06 fde8 c0000209", agg(65000));
}

#[test]
fn attribute_communities_with_well_known_names() {
    check_attrs(
        &ctx(),
        "c0 08 14 ffffff01 ffffff02 ffffff03 ffff0000 fde80064",
        PathAttributes {
            communities: vec![
                Community::NO_EXPORT,
                Community::NO_ADVERTISE,
                Community::NO_EXPORT_SUBCONFED,
                Community::GRACEFUL_SHUTDOWN,
                Community::new(65000, 100),
            ],
            ..PathAttributes::default()
        },
    );
    let names: Vec<_> = [
        (0xFFFF_FF01, "no-export"),
        (0xFFFF_FF02, "no-advertise"),
        (0xFFFF_FF03, "no-export-subconfed"),
        (0xFFFF_FF04, "no-peer"),
        (0xFFFF_0000, "graceful-shutdown"),
        (0xFFFF_0001, "accept-own"),
        (0xFFFF_0006, "llgr-stale"),
        (0xFFFF_0007, "no-llgr"),
        (0xFFFF_029A, "blackhole"),
    ]
    .into_iter()
    .map(|(v, name)| (Community(v).well_known_name(), name))
    .collect();
    for (got, want) in names {
        assert_eq!(got, Some(want));
    }
    assert_eq!(Community::new(65000, 100).well_known_name(), None);
    assert_eq!(Community::GRACEFUL_SHUTDOWN.to_string(), "65535:0");
    assert_eq!(Community::new(65000, 100).to_string(), "65000:100");
}

#[test]
fn attribute_originator_id_and_cluster_list() {
    check_attrs(
        &ibgp(),
        "80 09 04 c0000202 80 0a 08 c0000203 c0000204",
        PathAttributes {
            originator_id: Some(Ipv4Addr::new(192, 0, 2, 2)),
            cluster_list: vec![Ipv4Addr::new(192, 0, 2, 3), Ipv4Addr::new(192, 0, 2, 4)],
            ..PathAttributes::default()
        },
    );
}

#[test]
fn attribute_extended_large_communities_and_otc() {
    check_attrs(
        &ctx(),
        concat!(
            "c0 10 10",
            "0002 fde8 00000064", // route target 65000:100 (2-octet AS specific)
            "0103 c0000201 0000", // route origin 192.0.2.1:0 (IPv4 address specific)
            "c0 20 18",
            "fa56ea01 00000001 00000002", // 4200000001:1:2
            "ffffffff ffffffff 00000000", // 4294967295:4294967295:0
            "c0 23 04 0000fde8",          // ONLY_TO_CUSTOMER 65000
        ),
        PathAttributes {
            extended_communities: vec![
                ExtendedCommunity([0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100]),
                ExtendedCommunity([0x01, 0x03, 192, 0, 2, 1, 0, 0]),
            ],
            large_communities: vec![
                LargeCommunity {
                    global_admin: 4_200_000_001,
                    local_data1: 1,
                    local_data2: 2,
                },
                LargeCommunity {
                    global_admin: u32::MAX,
                    local_data1: u32::MAX,
                    local_data2: 0,
                },
            ],
            only_to_customer: Some(65000),
            ..PathAttributes::default()
        },
    );
}

#[test]
fn attributes_all_together_in_type_code_order() {
    let attributes = PathAttributes {
        origin: Some(Origin::Egp),
        as_path: Some(AsPath::from_sequence([65000])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        med: Some(0),
        local_pref: Some(100),
        atomic_aggregate: true,
        aggregator: Some(Aggregator {
            asn: 65000,
            address: Ipv4Addr::new(192, 0, 2, 1),
        }),
        communities: vec![Community::NO_EXPORT],
        originator_id: Some(Ipv4Addr::new(192, 0, 2, 2)),
        cluster_list: vec![Ipv4Addr::new(192, 0, 2, 3)],
        extended_communities: vec![ExtendedCommunity([0, 2, 0, 1, 0, 0, 0, 1])],
        as4_path: None,
        as4_aggregator: None,
        large_communities: vec![LargeCommunity {
            global_admin: 1,
            local_data1: 2,
            local_data2: 3,
        }],
        only_to_customer: Some(1),
        raw: vec![
            RawAttribute {
                flags: 0xc0,
                type_code: 11, // unknown, between CLUSTER_LIST and MP_REACH
                value: Bytes::from_static(&[0xaa]),
            },
            RawAttribute {
                flags: 0xe0,
                type_code: 99,
                value: Bytes::from_static(&[0xbb]),
            },
        ],
    };
    let wire = concat!(
        "40 01 01 01",
        "40 02 06 02 01 0000fde8",
        "40 03 04 c0000201",
        "80 04 04 00000000",
        "40 05 04 00000064",
        "40 06 00",
        "c0 07 08 0000fde8 c0000201",
        "c0 08 04 ffffff01",
        "80 09 04 c0000202",
        "80 0a 04 c0000203",
        "c0 0b 01 aa",
        "80 0e 15 0002 01 10 20010db8000000000000000000000001 00", // MP_REACH, no NLRI
        "c0 10 08 0002000100000001",
        "c0 20 0c 00000001 00000002 00000003",
        "c0 23 04 00000001",
        "e0 63 01 bb",
    );
    let value = Message::Update(Update {
        attributes,
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: None,
            },
            nlri: vec![],
        }),
        ..Update::default()
    });
    both_ways(&ibgp(), &attrs_update(wire), &value);
}

#[test]
fn attribute_local_pref_originator_cluster_ignored_on_ebgp() {
    let wire =
        attrs_update("40 05 04 00000064 80 09 04 c0000202 80 0a 04 c0000203 80 04 04 00000001");
    let u = decode_update(wire.clone(), &ctx());
    assert_eq!(u.attributes.local_pref, None);
    assert_eq!(u.attributes.originator_id, None);
    assert!(u.attributes.cluster_list.is_empty());
    assert_eq!(u.attributes.med, Some(1));
    assert!(u.treat_as_withdraw.is_none() && u.discarded.is_empty());
    let u = decode_update(wire, &ibgp());
    assert_eq!(u.attributes.local_pref, Some(100));
    assert_eq!(
        u.attributes.originator_id,
        Some(Ipv4Addr::new(192, 0, 2, 2))
    );
    assert_eq!(u.attributes.cluster_list, vec![Ipv4Addr::new(192, 0, 2, 3)]);
}

#[test]
fn attribute_mp_reach_ipv6_global_and_link_local() {
    let wire = attrs_update(concat!(
        "40 01 01 00",                      // ORIGIN IGP
        "40 02 00",                         // empty AS_PATH
        "80 0e 2a",                         // 42 octets
        "0002 01",                          // ipv6 unicast
        "20",                               // next hop length 32
        "20010db8000000000000000000000001", // global 2001:db8::1
        "fe800000000000000000000000000001", // link-local fe80::1
        "00",                               // reserved
        "20 20010db8",                      // 2001:db8::/32
    ));
    let value = Message::Update(Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            ..PathAttributes::default()
        },
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: Some("fe80::1".parse().unwrap()),
            },
            nlri: vec![nlri("2001:db8::/32")],
        }),
        ..Update::default()
    });
    both_ways(&ctx(), &wire, &value);
}

#[test]
fn attribute_mp_reach_ipv4_with_ipv4_next_hop() {
    // ipv4 multicast, next hop 192.0.2.1, 198.51.100.0/24 and 10.1.0.0/16.
    let wire =
        attrs_update("40 01 01 00 40 02 00 80 0e 10 0001 02 04 c0000201 00 18 c63364 10 0a01");
    let value = Message::Update(Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            ..PathAttributes::default()
        },
        mp_reach: Some(MpReach {
            family: Family::IPV4_MULTICAST,
            next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
            nlri: vec![nlri("198.51.100.0/24"), nlri("10.1.0.0/16")],
        }),
        ..Update::default()
    });
    both_ways(&ctx(), &wire, &value);
}

#[test]
fn attribute_mp_reach_ipv4_nlri_with_ipv6_next_hop_rfc8950() {
    let wire = update(
        &[],
        &hex(concat!(
            "40 01 01 00",
            "40 02 06 02 01 0000fde8",
            "80 0e 19 0001 01 10 20010db8000000000000000000000002 00 18 0a0001",
        )),
        &[],
    );
    let value = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence([65000])),
            ..PathAttributes::default()
        },
        mp_reach: Some(MpReach {
            family: Family::IPV4_UNICAST,
            next_hop: NextHop::V6 {
                global: "2001:db8::2".parse().unwrap(),
                link_local: None,
            },
            nlri: vec![nlri("10.0.1.0/24")],
        }),
        ..Update::default()
    };
    both_ways(&ctx(), &wire, &Message::Update(value.clone()));
    // No NEXT_HOP attribute is needed: the NLRI are in MP_REACH_NLRI.
    assert!(value.treat_as_withdraw.is_none());
    let ann: Vec<_> = value.announced().collect();
    assert_eq!(ann, vec![(Family::IPV4_UNICAST, &nlri("10.0.1.0/24"))]);
}

#[test]
fn attribute_mp_unreach() {
    let wire = attrs_update("80 0f 0c 0002 01 40 20010db800010000");
    let value = Update {
        mp_unreach: Some(MpUnreach {
            family: Family::IPV6_UNICAST,
            withdrawn: vec![nlri("2001:db8:1::/64")],
        }),
        ..Update::default()
    };
    both_ways(&ctx(), &wire, &Message::Update(value.clone()));
    assert_eq!(
        value.withdrawals().collect::<Vec<_>>(),
        vec![(Family::IPV6_UNICAST, &nlri("2001:db8:1::/64"))]
    );
    assert_eq!(value.end_of_rib_family(), None);
}

#[test]
fn attribute_mp_of_other_families_kept_raw() {
    // MP_REACH of L2VPN EVPN (AFI 25, SAFI 70): not decoded, kept raw as optional.
    let wire = attrs_update("80 0e 0b 0019 46 04 c0000201 00 aabb");
    let u = decode_update(wire.clone(), &ctx());
    assert!(u.mp_reach.is_none());
    assert_eq!(
        u.attributes.raw,
        vec![RawAttribute {
            flags: 0x80,
            type_code: 14,
            value: Bytes::from(hex("0019 46 04 c0000201 00 aabb")),
        }]
    );
    assert_eq!(Message::Update(u).to_bytes(&ctx()), wire);
}

#[test]
fn as4_attributes_merge_on_two_octet_session() {
    // From an OLD speaker's session: AS_PATH (65000 23456 23456), AS4_PATH (4200000001
    // 4200000002), AGGREGATOR AS_TRANS 192.0.2.9, AS4_AGGREGATOR 4200000001 192.0.2.9.
    let h = concat!(
        "40 02 08 02 03 fde8 5ba0 5ba0",
        "c0 07 06 5ba0 c0000209",
        "c0 11 0a 02 02 fa56ea01 fa56ea02",
        "c0 12 08 fa56ea01 c0000209",
    );
    let agg = |asn| {
        Some(Aggregator {
            asn,
            address: Ipv4Addr::new(192, 0, 2, 9),
        })
    };
    let received = PathAttributes {
        as_path: Some(AsPath::from_sequence([65000, 23456, 23456])),
        aggregator: agg(23456),
        as4_path: Some(AsPath::from_sequence([4_200_000_001, 4_200_000_002])),
        as4_aggregator: agg(4_200_000_001),
        ..PathAttributes::default()
    };
    check_attrs(&two_octet(), h, received.clone());

    let mut merged = received.clone();
    merged.reconstruct_as4();
    assert_eq!(
        merged,
        PathAttributes {
            as_path: Some(AsPath::from_sequence([65000, 4_200_000_001, 4_200_000_002])),
            aggregator: agg(4_200_000_001),
            ..PathAttributes::default()
        }
    );

    // An AGGREGATOR of a real 2-octet AS: a later OLD speaker aggregated; the AS4 attributes
    // are ignored (RFC 6793 §4.2.3).
    let mut stale = received.clone();
    stale.aggregator = agg(65001);
    stale.reconstruct_as4();
    assert_eq!(stale.as_path, received.as_path);
    assert_eq!(stale.aggregator, agg(65001));
    assert_eq!((stale.as4_path, stale.as4_aggregator), (None, None));

    // An AS4_PATH longer than the AS_PATH is ignored.
    let mut long = received.clone();
    long.aggregator = None;
    long.as4_path = Some(AsPath::from_sequence([1, 2, 3, 4]));
    long.reconstruct_as4();
    assert_eq!(long.as_path, received.as_path);

    // AS_SET counts one; the leading AS_PATH numbers the AS4_PATH lacks are kept in front.
    let path = AsPath {
        segments: vec![seq(&[1, 2, 23456]), seg(SegmentType::Set, &[3, 23456])],
    };
    let as4 = AsPath {
        segments: vec![
            seq(&[4_200_000_001]),
            seg(SegmentType::Set, &[3, 4_200_000_002]),
        ],
    };
    assert_eq!(
        path.merge_as4(&as4),
        AsPath {
            segments: vec![
                seq(&[1, 2, 4_200_000_001]),
                seg(SegmentType::Set, &[3, 4_200_000_002])
            ]
        }
    );
}

#[test]
fn as4_path_synthesized_when_encoding_for_two_octet_session() {
    // iBGP inside a confederation: the AS4_PATH leaves the confederation segment out.
    let ctx2 = SessionContext {
        ibgp: true,
        ..two_octet()
    };
    let real = PathAttributes {
        as_path: Some(AsPath {
            segments: vec![
                seg(SegmentType::ConfedSequence, &[65010]),
                seq(&[65000, 4_200_000_001]),
            ],
        }),
        aggregator: Some(Aggregator {
            asn: 4_200_000_001,
            address: Ipv4Addr::new(192, 0, 2, 9),
        }),
        ..PathAttributes::default()
    };
    let h = concat!(
        "40 02 0a 03 01 fdf2 02 02 fde8 5ba0", // AS_PATH with AS_TRANS
        "c0 07 06 5ba0 c0000209",              // AGGREGATOR AS_TRANS
        "c0 11 0a 02 02 0000fde8 fa56ea01",    // AS4_PATH without the confederation
        "c0 12 08 fa56ea01 c0000209",          // AS4_AGGREGATOR
    );
    let wire = attrs_update(h);
    assert_eq!(attrs_msg(real.clone()).to_bytes(&ctx2), wire);
    let mut u = decode_update(wire, &ctx2);
    u.attributes.reconstruct_as4();
    assert_eq!(u.attributes, real);

    // Nothing needs four octets: no AS4 attributes.
    let small = PathAttributes {
        as_path: Some(AsPath::from_sequence([65000])),
        ..PathAttributes::default()
    };
    assert_eq!(
        attrs_msg(small).to_bytes(&two_octet()),
        attrs_update("40 02 04 02 01 fde8")
    );
    // The same value on a 4-octet session needs no AS4 attributes either.
    assert_eq!(
        attrs_msg(real).to_bytes(&ibgp()),
        attrs_update(concat!(
            "40 02 10 03 01 0000fdf2 02 02 0000fde8 fa56ea01",
            "c0 07 08 fa56ea01 c0000209",
        ))
    );
}

#[test]
fn as4_path_confederation_segments_are_dropped() {
    // RFC 6793 §6: confederation segments in AS4_PATH are discarded, the rest is used.
    let u = decode_update(
        attrs_update("c0 11 0c 03 01 0000fdf2 02 01 fa56ea01"),
        &two_octet(),
    );
    assert_eq!(
        u.attributes.as4_path,
        Some(AsPath::from_sequence([4_200_000_001]))
    );
    assert!(u.discarded.is_empty());
}

#[test]
fn unknown_optional_transitive_kept_and_marked_partial() {
    let wire = attrs_update("c0 63 02 abcd");
    let mut u = decode_update(wire.clone(), &ctx());
    assert_eq!(
        u.attributes.raw,
        vec![RawAttribute {
            flags: 0xc0,
            type_code: 99,
            value: Bytes::from_static(&[0xab, 0xcd]),
        }]
    );
    assert_eq!(Message::Update(u.clone()).to_bytes(&ctx()), wire);
    u.attributes.mark_unknown_partial();
    assert_eq!(u.attributes.raw[0].flags, 0xe0);
    assert_eq!(
        Message::Update(u).to_bytes(&ctx()),
        attrs_update("e0 63 02 abcd")
    );
}

#[test]
fn unknown_optional_non_transitive_dropped() {
    let u = decode_update(attrs_update("80 63 02 abcd c0 64 00"), &ctx());
    assert_eq!(u.attributes.raw.len(), 1);
    assert_eq!(u.attributes.raw[0].type_code, 100);
    assert!(u.discarded.is_empty() && u.treat_as_withdraw.is_none());
}

#[test]
fn extended_length_flag_only_when_needed() {
    // 255 octets: one-octet length.
    let mut h = String::from("c0 63 ff");
    h.push_str(&"ab".repeat(255));
    let raw = |n| RawAttribute {
        flags: 0xc0,
        type_code: 99,
        value: Bytes::from(vec![0xab; n]),
    };
    check_attrs(
        &ctx(),
        &h,
        PathAttributes {
            raw: vec![raw(255)],
            ..PathAttributes::default()
        },
    );
    // 256 octets: Extended Length (0x10) and a two-octet length.
    let mut h = String::from("d0 63 0100");
    h.push_str(&"ab".repeat(256));
    let wire = attrs_update(&h);
    let value = attrs_msg(PathAttributes {
        raw: vec![raw(256)],
        ..PathAttributes::default()
    });
    assert_eq!(value.to_bytes(&ctx()), wire);
    assert_eq!(Message::decode(wire, &ctx()).unwrap(), value);

    // 64 communities: 256 octets.
    let mut h = String::from("d0 08 0100");
    let mut cs = Vec::new();
    for i in 0..64u32 {
        h.push_str(&format!("{:08x}", 0x0001_0000 + i));
        cs.push(Community(0x0001_0000 + i));
    }
    check_attrs(
        &ctx(),
        &h,
        PathAttributes {
            communities: cs,
            ..PathAttributes::default()
        },
    );

    // Extended Length on a short attribute is accepted, and re-encoded without it.
    let u = decode_update(attrs_update("50 01 0001 02"), &ctx());
    assert_eq!(u.attributes.origin, Some(Origin::Incomplete));
    assert_eq!(
        Message::Update(u).to_bytes(&ctx()),
        attrs_update("40 01 01 02")
    );
}

#[test]
fn prefix_trailing_bits_are_ignored() {
    // 10.255.0.0/15 on the wire (a host bit set) is 10.254.0.0/15 (RFC 4271 §4.3).
    let wire = update(&hex("08 0a 0f 0aff"), &[], &[]);
    let u = decode_update(wire, &ctx());
    assert_eq!(u.withdrawn, vec![nlri("10.0.0.0/8"), nlri("10.254.0.0/15")]);
    assert_eq!(
        Message::Update(u).to_bytes(&ctx()),
        update(&hex("08 0a 0f 0afe"), &[], &[])
    );
    let v6: Ipv6Addr = "2001:db8::".parse().unwrap();
    assert_eq!(
        bgp_proto::Prefix::new(v6.into(), 129),
        Err(bgp_proto::prefix::PrefixError::LengthTooLong { len: 129, max: 128 })
    );
}

/// `Update::family_of_body` reads the family off an encoded UPDATE without decoding it: IPv4
/// unicast for the NLRI field, the AFI/SAFI of MP_REACH_NLRI or MP_UNREACH_NLRI (here an IPv6
/// End-of-RIB, RFC 4724 §2), `None` for lengths that do not hold together.
#[test]
fn the_family_of_an_encoded_update() {
    let body = |u: Update| {
        let m = Message::Update(u).to_bytes(&ctx());
        m.slice(bgp_proto::message::HEADER_LEN..)
    };
    let v4 = Update {
        withdrawn: vec![bgp_proto::Nlri::new("198.19.0.0/24".parse().unwrap())],
        ..Update::default()
    };
    assert_eq!(
        Update::family_of_body(&body(v4)),
        Some(Family::IPV4_UNICAST)
    );
    let v6 = body(Update::end_of_rib(Family::IPV6_UNICAST));
    assert_eq!(Update::family_of_body(&v6), Some(Family::IPV6_UNICAST));
    // The Total Path Attribute Length runs past the body.
    let mut cut = v6.to_vec();
    cut.truncate(cut.len() - 1);
    assert_eq!(Update::family_of_body(&cut), None);
}
