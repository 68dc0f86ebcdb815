//! The RFC 7854 §4 layouts, octet by octet, both ways; and malformed messages as errors.

use std::net::{IpAddr, Ipv4Addr};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::{Capability, Family, Message, Notification, Open, SessionContext, Update};

fn bgp(message: Message) -> Bytes {
    message.to_bytes(&SessionContext::default())
}

fn open(asn: u32, id: [u8; 4]) -> Bytes {
    let caps = vec![Capability::Multiprotocol(Family::IPV4_UNICAST)];
    bgp(Message::Open(Open::new(asn, 90, id.into(), caps)))
}

fn peer() -> PeerHeader {
    PeerHeader::new(
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        65002,
        Ipv4Addr::new(198, 18, 0, 2),
        1_700_000_000,
        250_000,
    )
}

/// The 42 octets RFC 7854 §4.2 lays out for `peer()`.
fn peer_octets(flags: u8) -> Vec<u8> {
    let mut v = vec![0, flags];
    v.extend([0; 8]); // Peer Distinguisher
    v.extend([0; 12]);
    v.extend([198, 18, 0, 2]); // Peer Address, IPv4 in the last 4 octets
    v.extend(65002u32.to_be_bytes());
    v.extend([198, 18, 0, 2]); // Peer BGP ID
    v.extend(1_700_000_000u32.to_be_bytes());
    v.extend(250_000u32.to_be_bytes());
    v
}

fn common(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![3];
    v.extend(((body.len() + 6) as u32).to_be_bytes());
    v.push(kind);
    v.extend(body);
    v
}

fn roundtrip(message: &BmpMessage, octets: &[u8]) {
    assert_eq!(message.to_bytes().as_ref(), octets, "encoded {message:?}");
    let decoded = BmpMessage::decode(Bytes::copy_from_slice(octets)).unwrap();
    assert_eq!(&decoded, message);
}

#[test]
fn route_monitoring_layout() {
    let update = bgp(Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)));
    let mut body = peer_octets(0);
    body.extend(&update[..]);
    let message = BmpMessage::RouteMonitoring {
        peer: peer(),
        update: update.clone(),
    };
    roundtrip(&message, &common(0, &body));
    // The hot path writes the same octets.
    let mut out = BytesMut::new();
    encode_route_monitoring(&peer(), &update, &mut out);
    assert_eq!(out.as_ref(), &common(0, &body)[..]);
}

#[test]
fn ipv6_peer_sets_v_and_fills_the_address() {
    let address: IpAddr = "2001:db8::2".parse().unwrap();
    let peer = PeerHeader::new(address, 65002, Ipv4Addr::new(1, 2, 3, 4), 0, 0);
    assert_eq!(peer.flags, peer_flags::V);
    let mut out = BytesMut::new();
    peer.encode(&mut out);
    assert_eq!(out.len(), PER_PEER_HEADER_LEN);
    assert_eq!(out[1], 0x80);
    assert_eq!(
        &out[10..26],
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
    );
}

#[test]
fn peer_up_layout() {
    let sent = open(65001, [198, 18, 0, 1]);
    let received = open(65002, [198, 18, 0, 2]);
    let mut body = peer_octets(0);
    body.extend([0; 12]);
    body.extend([198, 18, 0, 1]); // Local Address
    body.extend(179u16.to_be_bytes()); // Local Port
    body.extend(40000u16.to_be_bytes()); // Remote Port
    body.extend(&sent[..]);
    body.extend(&received[..]);
    body.extend([0, 0, 0, 3, b'b', b'i', b'r']); // String TLV
    let message = BmpMessage::PeerUp {
        peer: peer(),
        up: PeerUp {
            local_address: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            local_port: 179,
            remote_port: 40000,
            sent_open: sent,
            received_open: received,
            information: vec![InfoTlv::text(info_type::STRING, "bir")],
        },
    };
    roundtrip(&message, &common(3, &body));
}

#[test]
fn peer_down_layouts() {
    let n = bgp(Message::Notification(Notification::new(6, 2, Bytes::new())));
    let cases = [
        (PeerDownReason::LocalNotification(n.clone()), {
            let mut v = vec![1];
            v.extend(&n[..]);
            v
        }),
        (PeerDownReason::RemoteNotification(n.clone()), {
            let mut v = vec![3];
            v.extend(&n[..]);
            v
        }),
        (
            PeerDownReason::LocalNoNotification { fsm_event: 18 },
            vec![2, 0, 18],
        ),
        (PeerDownReason::RemoteNoNotification, vec![4]),
        (PeerDownReason::Deconfigured, vec![5]),
    ];
    for (reason, data) in cases {
        let mut body = peer_octets(0);
        body.extend(&data);
        let message = BmpMessage::PeerDown {
            peer: peer(),
            reason,
        };
        roundtrip(&message, &common(2, &body));
    }
}

#[test]
fn statistics_report_layout() {
    let stats = vec![
        Stat {
            kind: stat_type::REJECTED_BY_POLICY,
            value: StatValue::Counter(7),
        },
        Stat {
            kind: stat_type::ADJ_RIB_IN_ROUTES,
            value: StatValue::Gauge(1000),
        },
        Stat {
            kind: stat_type::ADJ_RIB_IN_ROUTES_PER_FAMILY,
            value: StatValue::FamilyGauge {
                afi: 2,
                safi: 1,
                value: 10,
            },
        },
    ];
    let mut body = peer_octets(peer_flags::L);
    body.extend(3u32.to_be_bytes());
    body.extend([0, 0, 0, 4, 0, 0, 0, 7]);
    body.extend([0, 7, 0, 8, 0, 0, 0, 0, 0, 0, 3, 0xe8]);
    body.extend([0, 9, 0, 11, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 10]);
    let mut header = peer();
    header.flags |= peer_flags::L;
    let message = BmpMessage::StatisticsReport {
        peer: header,
        stats,
    };
    roundtrip(&message, &common(1, &body));
}

#[test]
fn initiation_and_termination_layouts() {
    let message = BmpMessage::Initiation(vec![
        InfoTlv::text(info_type::SYS_DESCR, "sd"),
        InfoTlv::text(info_type::SYS_NAME, "n1"),
    ]);
    roundtrip(
        &message,
        &common(4, &[0, 1, 0, 2, b's', b'd', 0, 2, 0, 2, b'n', b'1']),
    );
    let message = BmpMessage::Termination(vec![InfoTlv::termination_reason(
        termination_reason::ADMINISTRATIVELY_CLOSED,
    )]);
    roundtrip(&message, &common(5, &[0, 1, 0, 2, 0, 0]));
}

#[test]
fn reader_splits_a_stream_and_stops_at_a_cut() {
    let mut all = BytesMut::new();
    BmpMessage::Initiation(vec![InfoTlv::text(info_type::SYS_NAME, "x")]).encode(&mut all);
    let update = bgp(Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)));
    encode_route_monitoring(&peer(), &update, &mut all);
    let whole = all.clone().freeze();
    let types: Vec<u8> = BmpReader::new(whole.clone())
        .map(|m| m.unwrap().message_type())
        .collect();
    assert_eq!(
        types,
        [message_type::INITIATION, message_type::ROUTE_MONITORING]
    );
    let cut = whole.slice(..whole.len() - 1);
    let results: Vec<_> = BmpReader::new(cut).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert_eq!(
        results[1],
        Err(BmpError::Truncated("message at the end of the buffer"))
    );
}

#[test]
fn malformed_messages_are_errors() {
    let update = bgp(Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)));
    let good = BmpMessage::RouteMonitoring {
        peer: peer(),
        update: update.clone(),
    }
    .to_bytes();
    let decode = |v: Vec<u8>| BmpMessage::decode(Bytes::from(v));

    let mut bad = good.to_vec();
    bad[0] = 1;
    assert_eq!(decode(bad), Err(BmpError::Version(1)));

    assert_eq!(
        decode(common(0, &[])[..5].to_vec()),
        Err(BmpError::Truncated("common header"))
    );
    let mut short = good.to_vec();
    short[1..5].copy_from_slice(&3u32.to_be_bytes());
    assert_eq!(frame_len(&short), Err(BmpError::Length(3)));
    let mut huge = good.to_vec();
    huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(frame_len(&huge), Err(BmpError::Length(u32::MAX)));

    // A per-peer header cut short.
    assert_eq!(
        decode(common(0, &peer_octets(0)[..30])),
        Err(BmpError::Truncated("per-peer header"))
    );
    // A bad BGP marker, an UPDATE length past the message, a KEEPALIVE where an UPDATE goes.
    let mut body = peer_octets(0);
    let mut marker = update.to_vec();
    marker[3] = 0;
    body.extend(&marker);
    assert_eq!(
        decode(common(0, &body)),
        Err(BmpError::BgpMessage("route monitoring"))
    );
    let mut body = peer_octets(0);
    body.extend(&update[..update.len() - 1]);
    assert_eq!(
        decode(common(0, &body)),
        Err(BmpError::BgpMessage("route monitoring"))
    );
    let mut body = peer_octets(0);
    body.extend(&bgp(Message::Keepalive)[..]);
    assert_eq!(
        decode(common(0, &body)),
        Err(BmpError::BgpMessage("route monitoring"))
    );
    // Octets after the UPDATE.
    let mut body = peer_octets(0);
    body.extend(&update[..]);
    body.push(0);
    assert_eq!(
        decode(common(0, &body)),
        Err(BmpError::Trailing {
            what: "route monitoring",
            len: 1
        })
    );
    // A statistics count the message cannot hold, and a counter of 8 octets.
    let mut body = peer_octets(0);
    body.extend(1000u32.to_be_bytes());
    assert_eq!(
        decode(common(1, &body)),
        Err(BmpError::Truncated("statistics report"))
    );
    let mut body = peer_octets(0);
    body.extend(1u32.to_be_bytes());
    body.extend([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(
        decode(common(1, &body)),
        Err(BmpError::StatLength { kind: 0, len: 8 })
    );
    // Peer Down 2 without its FSM event, 4 with data, 1 without a NOTIFICATION.
    for (data, err) in [
        (vec![2], BmpError::PeerDownData(2)),
        (vec![4, 0], BmpError::PeerDownData(4)),
        (vec![1], BmpError::Truncated("peer down")),
    ] {
        let mut body = peer_octets(0);
        body.extend(&data);
        assert_eq!(decode(common(2, &body)), Err(err), "{data:?}");
    }
    // A Peer Up whose received OPEN is missing; a TLV longer than the message.
    let mut body = peer_octets(0);
    body.extend([0; 20]);
    body.extend(&open(1, [1, 1, 1, 1])[..]);
    assert_eq!(
        decode(common(3, &body)),
        Err(BmpError::Truncated("peer up: received OPEN"))
    );
    assert_eq!(
        decode(common(4, &[0, 1, 0, 9, b'x'])),
        Err(BmpError::Truncated("initiation"))
    );
    // A buffer longer than the message in it.
    let mut long = good.to_vec();
    long.push(0);
    assert!(matches!(decode(long), Err(BmpError::Frame { .. })));
}

#[test]
fn unknown_types_are_kept() {
    let message = BmpMessage::decode(Bytes::from(common(9, &[1, 2]))).unwrap();
    assert_eq!(
        message,
        BmpMessage::Unknown {
            kind: 9,
            body: Bytes::from_static(&[1, 2])
        }
    );
}

#[test]
fn every_prefix_of_a_message_is_an_error_not_a_panic() {
    let sent = open(65001, [198, 18, 0, 1]);
    let messages = [
        BmpMessage::PeerUp {
            peer: peer(),
            up: PeerUp {
                local_address: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
                local_port: 179,
                remote_port: 1,
                sent_open: sent.clone(),
                received_open: sent,
                information: Vec::new(),
            },
        },
        BmpMessage::StatisticsReport {
            peer: peer(),
            stats: vec![Stat {
                kind: 9,
                value: StatValue::FamilyGauge {
                    afi: 1,
                    safi: 1,
                    value: 3,
                },
            }],
        },
    ];
    for message in messages {
        let octets = message.to_bytes();
        for cut in COMMON_HEADER_LEN..octets.len() {
            let mut v = octets[..cut].to_vec();
            v[1..5].copy_from_slice(&(cut as u32).to_be_bytes());
            assert!(BmpMessage::decode(Bytes::from(v)).is_err(), "cut at {cut}");
        }
    }
}
