//! Property tests: every message round-trips through the codec under random session contexts,
//! canonical bytes re-encode identically, and no input (random, or a mutated valid message)
//! makes decoding or framing panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_proto::capability::{
    AddPathFamily, ExtendedNextHopFamily, GracefulRestart, GracefulRestartFamily,
    LongLivedGracefulRestartFamily,
};
use bgp_proto::{
    frame_len, Afi, Aggregator, AsPath, AsSegment, Capability, Community, ExtendedCommunity,
    Family, FamilySet, Frame, LargeCommunity, Message, MpReach, MpUnreach, NextHop, Nlri,
    Notification, Open, Origin, PathAttributes, Prefix, RawAttribute, RouteRefresh, Safi,
    SegmentType, SessionContext, Update,
};
use bytes::Bytes;
use proptest::prelude::*;

const IP_FAMILIES: [Family; 4] = [
    Family::IPV4_UNICAST,
    Family::IPV6_UNICAST,
    Family::IPV4_MULTICAST,
    Family::IPV6_MULTICAST,
];

/// A session context; ADD-PATH is the same in both directions so that what we send is what we
/// would receive.
fn ctx_strategy() -> impl Strategy<Value = SessionContext> {
    (any::<bool>(), any::<bool>(), any::<bool>(), 0u8..16).prop_map(|(four, ext, ibgp, bits)| {
        let fams: Vec<Family> = IP_FAMILIES
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, f)| *f)
            .collect();
        let set = FamilySet::of(&fams);
        SessionContext {
            four_octet_as: four,
            extended_message: ext,
            ibgp,
            add_path_rx: set,
            add_path_tx: set,
        }
    })
}

fn prefix_strategy(afi: Afi) -> BoxedStrategy<Prefix> {
    if afi == Afi::IPV4 {
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, l)| Prefix::new(Ipv4Addr::from(a).into(), l).unwrap())
            .boxed()
    } else {
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, l)| Prefix::new(Ipv6Addr::from(a).into(), l).unwrap())
            .boxed()
    }
}

fn nlri_vec(family: Family, ctx: &SessionContext, max: usize) -> BoxedStrategy<Vec<Nlri>> {
    let add_path = ctx.sends_path_ids(family);
    prop::collection::vec(
        (prefix_strategy(family.afi), any::<u32>()).prop_map(move |(prefix, id)| Nlri {
            path_id: add_path.then_some(id),
            prefix,
        }),
        0..max,
    )
    .boxed()
}

fn asn_strategy(four_octet: bool) -> BoxedStrategy<u32> {
    // Never AS 0: it makes AS_PATH and AGGREGATOR malformed (RFC 7607 §2).
    if four_octet {
        (1u32..=u32::MAX).boxed()
    } else {
        // Mostly 2-octet numbers, AS_TRANS itself sometimes, and some that need 4 octets.
        prop_oneof![
            4 => 1u32..=65535,
            1 => Just(23456u32),
            2 => 65536u32..=u32::MAX,
        ]
        .boxed()
    }
}

fn segment(kinds: Vec<SegmentType>, four_octet: bool) -> impl Strategy<Value = AsSegment> {
    (
        prop::sample::select(kinds),
        prop::collection::vec(asn_strategy(four_octet), 1..8),
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns })
}

/// An AS_PATH: confederation segments only in front and only on iBGP (RFC 5065 §4, RFC 7606
/// §7.2), then sets and sequences.
fn as_path_strategy(ctx: &SessionContext) -> BoxedStrategy<AsPath> {
    let four = ctx.four_octet_as;
    let confed = if ctx.ibgp { 0..3usize } else { 0..1 };
    (
        // Member ASes that need 4 octets cannot cross a 2-octet session: AS4_PATH carries no
        // confederation segments (RFC 6793 §6), so generate them only where they survive.
        prop::collection::vec(
            segment(
                vec![SegmentType::ConfedSequence, SegmentType::ConfedSet],
                four,
            )
            .prop_map(move |mut s| {
                if !four {
                    s.asns.iter_mut().for_each(|a| *a = (*a).min(65535));
                }
                s
            }),
            confed,
        ),
        prop::collection::vec(
            segment(vec![SegmentType::Sequence, SegmentType::Set], four),
            0..4,
        ),
    )
        .prop_map(|(mut c, rest)| {
            c.extend(rest);
            AsPath { segments: c }
        })
        .boxed()
}

fn as4_path_strategy() -> BoxedStrategy<AsPath> {
    prop::collection::vec(
        segment(vec![SegmentType::Sequence, SegmentType::Set], true),
        0..3,
    )
    .prop_map(|segments| AsPath { segments })
    .boxed()
}

fn valid_next_hop() -> impl Strategy<Value = Ipv4Addr> {
    (0x0100_0000u32..0xE000_0000).prop_map(Ipv4Addr::from)
}

fn aggregator_strategy(four_octet: bool) -> impl Strategy<Value = Aggregator> {
    (asn_strategy(four_octet), any::<u32>()).prop_map(|(asn, a)| Aggregator {
        asn,
        address: Ipv4Addr::from(a),
    })
}

const KNOWN_ATTRIBUTES: [u8; 17] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32, 35];

fn raw_strategy() -> impl Strategy<Value = Vec<RawAttribute>> {
    prop::collection::btree_map(
        any::<u8>().prop_filter("unknown type", |c| !KNOWN_ATTRIBUTES.contains(c)),
        (
            prop::sample::select(vec![0xc0u8, 0xe0]),
            prop::collection::vec(any::<u8>(), 0..24),
        ),
        0..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(type_code, (flags, value))| RawAttribute {
                flags,
                type_code,
                value: Bytes::from(value),
            })
            .collect()
    })
}

/// Path attributes that survive a round trip on this session: LOCAL_PREF, ORIGINATOR_ID and
/// CLUSTER_LIST only on iBGP; AS4_PATH and AS4_AGGREGATOR given explicitly only on 4-octet
/// sessions (on 2-octet ones the encoder synthesizes them).
fn attrs_strategy(ctx: SessionContext) -> BoxedStrategy<PathAttributes> {
    let ibgp = ctx.ibgp;
    let four = ctx.four_octet_as;
    let a = (
        prop::option::of(prop::sample::select(vec![
            Origin::Igp,
            Origin::Egp,
            Origin::Incomplete,
        ])),
        prop::option::of(as_path_strategy(&ctx)),
        prop::option::of(valid_next_hop()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        any::<bool>(),
        prop::option::of(aggregator_strategy(four)),
        prop::collection::vec(any::<u32>().prop_map(Community), 0..5),
    );
    let b = (
        prop::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
        prop::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 0..3),
        prop::collection::vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 0..4),
        prop::option::of(as4_path_strategy()),
        prop::option::of(aggregator_strategy(true)),
        prop::collection::vec(
            any::<(u32, u32, u32)>().prop_map(|(g, l1, l2)| LargeCommunity {
                global_admin: g,
                local_data1: l1,
                local_data2: l2,
            }),
            0..3,
        ),
        prop::option::of(any::<u32>()),
        raw_strategy(),
    );
    (a, b)
        .prop_map(
            move |(
                (origin, as_path, next_hop, med, lp, atomic, aggregator, communities),
                (orig_id, cluster, ext, as4_path, as4_agg, large, otc, raw),
            )| PathAttributes {
                origin,
                as_path,
                next_hop,
                med,
                local_pref: lp.filter(|_| ibgp),
                atomic_aggregate: atomic,
                aggregator,
                communities,
                originator_id: orig_id.filter(|_| ibgp),
                cluster_list: if ibgp { cluster } else { Vec::new() },
                extended_communities: ext,
                as4_path: as4_path.filter(|_| four),
                as4_aggregator: as4_agg.filter(|_| four),
                large_communities: large,
                only_to_customer: otc,
                raw,
            },
        )
        .boxed()
}

fn next_hop_strategy() -> impl Strategy<Value = NextHop> {
    prop_oneof![
        any::<u32>().prop_map(|a| NextHop::V4(Ipv4Addr::from(a))),
        (any::<u128>(), prop::option::of(any::<u128>())).prop_map(|(g, ll)| NextHop::V6 {
            global: Ipv6Addr::from(g),
            link_local: ll.map(Ipv6Addr::from),
        }),
    ]
}

fn family_strategy() -> impl Strategy<Value = Family> {
    prop::sample::select(IP_FAMILIES.to_vec())
}

fn mp_reach_strategy(ctx: SessionContext) -> BoxedStrategy<MpReach> {
    (family_strategy(), next_hop_strategy())
        .prop_flat_map(move |(family, next_hop)| {
            nlri_vec(family, &ctx, 6).prop_map(move |nlri| MpReach {
                family,
                next_hop,
                nlri,
            })
        })
        .boxed()
}

fn mp_unreach_strategy(ctx: SessionContext) -> BoxedStrategy<MpUnreach> {
    family_strategy()
        .prop_flat_map(move |family| {
            nlri_vec(family, &ctx, 6).prop_map(move |withdrawn| MpUnreach { family, withdrawn })
        })
        .boxed()
}

/// A well-formed UPDATE for this session: the mandatory attributes are there whenever
/// something is announced, so no RFC 7606 action applies.
fn update_strategy(ctx: SessionContext) -> BoxedStrategy<Update> {
    (
        nlri_vec(Family::IPV4_UNICAST, &ctx, 6),
        attrs_strategy(ctx),
        prop::option::of(mp_reach_strategy(ctx)),
        prop::option::of(mp_unreach_strategy(ctx)),
        nlri_vec(Family::IPV4_UNICAST, &ctx, 6),
        valid_next_hop(),
    )
        .prop_map(
            |(withdrawn, mut attributes, mp_reach, mp_unreach, nlri, nh)| {
                if !nlri.is_empty() || mp_reach.is_some() {
                    attributes.origin.get_or_insert(Origin::Igp);
                    attributes.as_path.get_or_insert_with(AsPath::default);
                }
                if !nlri.is_empty() {
                    attributes.next_hop.get_or_insert(nh);
                }
                Update {
                    withdrawn,
                    attributes,
                    mp_reach,
                    mp_unreach,
                    nlri,
                    treat_as_withdraw: None,
                    discarded: Vec::new(),
                }
            },
        )
        .boxed()
}

const KNOWN_CAPABILITIES: [u8; 12] = [1, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73, 128];

fn capability_strategy() -> impl Strategy<Value = Capability> {
    let fam = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s)));
    prop_oneof![
        fam.clone().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::RouteRefreshLegacy),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        prop::collection::vec(
            (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(a, s, n)| {
                ExtendedNextHopFamily {
                    nlri_afi: Afi(a),
                    nlri_safi: s,
                    next_hop_afi: Afi(n),
                }
            }),
            0..4
        )
        .prop_map(Capability::ExtendedNextHop),
        any::<u8>().prop_map(Capability::Role),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            prop::collection::vec(
                (fam.clone(), any::<bool>()).prop_map(|(family, f)| GracefulRestartFamily {
                    family,
                    forwarding_preserved: f,
                }),
                0..4
            )
        )
            .prop_map(
                |(r, n, t, families)| Capability::GracefulRestart(GracefulRestart {
                    restart_state: r,
                    notification: n,
                    restart_time: t,
                    families,
                })
            ),
        any::<u32>().prop_map(Capability::FourOctetAs),
        prop::collection::vec(
            (fam.clone(), any::<bool>(), any::<bool>()).prop_map(|(family, receive, send)| {
                AddPathFamily {
                    family,
                    receive,
                    send,
                }
            }),
            0..4
        )
        .prop_map(Capability::AddPath),
        prop::collection::vec(
            (fam, any::<bool>(), 0u32..(1 << 24)).prop_map(|(family, f, stale_time)| {
                LongLivedGracefulRestartFamily {
                    family,
                    forwarding_preserved: f,
                    stale_time,
                }
            }),
            0..4
        )
        .prop_map(Capability::LongLivedGracefulRestart),
        (
            prop::collection::vec(any::<u8>(), 0..20),
            prop::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(h, d)| Capability::Fqdn {
                hostname: Bytes::from(h),
                domain: Bytes::from(d),
            }),
        (
            any::<u8>().prop_filter("unknown code", |c| !KNOWN_CAPABILITIES.contains(c)),
            prop::collection::vec(any::<u8>(), 0..60)
        )
            .prop_map(|(code, v)| Capability::Unknown {
                code,
                value: Bytes::from(v),
            }),
    ]
}

fn open_strategy() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        // Up to 24 capabilities: sometimes more than 255 octets, so RFC 9072 encoding is used.
        prop::collection::vec(capability_strategy(), 0..24),
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        })
}

fn message_strategy(ctx: SessionContext) -> BoxedStrategy<Message> {
    prop_oneof![
        1 => open_strategy().prop_map(Message::Open),
        3 => update_strategy(ctx).prop_map(Message::Update),
        1 => (any::<u8>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(c, s, d)| Message::Notification(Notification::new(c, s, d))),
        1 => Just(Message::Keepalive),
        1 => (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(a, st, s)| {
            Message::RouteRefresh(RouteRefresh {
                family: Family::new(Afi(a), Safi(s)),
                subtype: st,
            })
        }),
    ]
    .boxed()
}

fn ctx_and_message() -> impl Strategy<Value = (SessionContext, Message)> {
    ctx_strategy().prop_flat_map(|ctx| (Just(ctx), message_strategy(ctx)))
}

/// What a receiver makes of `sent` after a round trip over a 2-octet session, following RFC
/// 6793 §4.2.3: with an AGGREGATOR of a real 2-octet AS the AS4 attributes are ignored, so the
/// AS_PATH keeps its AS_TRANS entries.
fn expected_after_two_octet(sent: &Update) -> Update {
    let mut want = sent.clone();
    let stale = sent
        .attributes
        .aggregator
        .is_some_and(|a| a.asn <= 65535 && a.asn != 23456);
    if stale {
        if let Some(p) = &mut want.attributes.as_path {
            for s in &mut p.segments {
                for asn in &mut s.asns {
                    if *asn > 65535 {
                        *asn = 23456;
                    }
                }
            }
        }
    }
    want
}

fn ctx_wire_message() -> impl Strategy<Value = (SessionContext, Bytes)> {
    ctx_and_message().prop_map(|(ctx, m)| {
        let bytes = m.to_bytes(&ctx);
        (ctx, bytes)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// decode(encode(x)) == x for every message type; on 2-octet sessions after RFC 6793
    /// reconstruction.
    #[test]
    fn decode_encode_roundtrip((ctx, msg) in ctx_and_message()) {
        let wire = msg.to_bytes(&ctx);
        prop_assert!(wire.len() <= ctx.max_message_len());
        prop_assert_eq!(frame_len(&wire, ctx.max_message_len()), Ok(Frame::Complete(wire.len())));
        let decoded = Message::decode(wire.clone(), &ctx);
        let decoded = match decoded {
            Ok(m) => m,
            Err(e) => return Err(TestCaseError::fail(format!("{e:?} for {msg:?}"))),
        };
        match (&msg, decoded) {
            (Message::Update(sent), Message::Update(mut got)) if !ctx.four_octet_as => {
                prop_assert!(got.treat_as_withdraw.is_none() && got.discarded.is_empty());
                got.attributes.reconstruct_as4();
                prop_assert_eq!(got, expected_after_two_octet(sent));
            }
            (_, got) => prop_assert_eq!(got, msg.clone()),
        }
    }

    /// encode(decode(bytes)) == bytes for canonical bytes (the encoder's own output).
    #[test]
    fn canonical_bytes_reencode_identically((ctx, wire) in ctx_wire_message()) {
        let decoded = Message::decode(wire.clone(), &ctx).expect("decodes");
        prop_assert_eq!(decoded.to_bytes(&ctx), wire);
    }

    /// Random bytes behind a valid header, of every type and of random lengths, never panic.
    #[test]
    fn arbitrary_bodies_never_panic(
        ctx in ctx_strategy(),
        ty in 0u8..8,
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut wire = vec![0xff; 16];
        wire.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        wire.push(ty);
        wire.extend_from_slice(&body);
        check_no_panic(&ctx, Bytes::from(wire));
    }

    /// Entirely random bytes never panic either.
    #[test]
    fn arbitrary_bytes_never_panic(
        ctx in ctx_strategy(),
        bytes in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let _ = frame_len(&bytes, ctx.max_message_len());
        check_no_panic(&ctx, Bytes::from(bytes));
    }

    /// Valid messages with some bytes changed (the length field kept right, or not) never
    /// panic, and whatever decodes cleanly round-trips.
    #[test]
    fn mutated_messages_never_panic(
        (ctx, wire) in ctx_wire_message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        fix_length in any::<bool>(),
    ) {
        let mut m = wire.to_vec();
        for (i, v) in edits {
            let i = 16 + i.index(m.len() - 16); // keep the marker
            m[i] = v;
        }
        if truncate {
            m.truncate(19 + cut.index(m.len() - 18));
        }
        if fix_length {
            let len = m.len() as u16;
            m[16..18].copy_from_slice(&len.to_be_bytes());
        }
        check_no_panic(&ctx, Bytes::from(m));
    }

    /// frame_len on every prefix of a stream of valid messages never panics and agrees with
    /// the real lengths; cutting the stream with it gives back the messages.
    #[test]
    fn frame_len_on_stream_prefixes(
        ctx in ctx_strategy(),
        msgs in prop::collection::vec(ctx_wire_message(), 1..4),
    ) {
        let mut stream = Vec::new();
        let mut lens = Vec::new();
        // Each message re-encoded under the stream's context.
        for m in msgs.iter().map(|(c, w)| Message::decode(w.clone(), c).unwrap()) {
            let w = m.to_bytes(&ctx);
            if w.len() > ctx.max_message_len() {
                continue;
            }
            lens.push(w.len());
            stream.extend_from_slice(&w);
        }
        let max = ctx.max_message_len();
        let first = lens.first().copied();
        for k in 0..=stream.len() {
            let got = frame_len(&stream[..k], max);
            let want = match first {
                None => Frame::NeedMore(19 - k),
                Some(_) if k < 19 => Frame::NeedMore(19 - k),
                Some(n) if k < n => Frame::NeedMore(n - k),
                Some(n) => Frame::Complete(n),
            };
            prop_assert_eq!(got, Ok(want), "prefix {}", k);
        }
        let mut rest = &stream[..];
        let mut cut = Vec::new();
        while !rest.is_empty() {
            match frame_len(rest, max) {
                Ok(Frame::Complete(n)) => {
                    cut.push(n);
                    rest = &rest[n..];
                }
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
        }
        prop_assert_eq!(cut, lens);
    }
}

fn check_no_panic(ctx: &SessionContext, wire: Bytes) {
    let _ = frame_len(&wire, ctx.max_message_len());
    let Ok(m) = Message::decode(wire, ctx) else {
        return;
    };
    let _ = m.to_string_for_test();
    if let Message::Update(u) = &m {
        let _ = u.announced().count() + u.withdrawals().count();
        let _ = u.end_of_rib_family();
        if u.treat_as_withdraw.is_some() || !u.discarded.is_empty() {
            return;
        }
    }
    // A clean decode re-encodes to something that decodes to the same value.
    let again = m.to_bytes(ctx);
    let rx = SessionContext {
        add_path_rx: ctx.add_path_tx,
        ..*ctx
    };
    let back = Message::decode(again, &rx);
    assert_eq!(back.as_ref(), Ok(&m), "re-encoding a decoded message");
}

trait Describe {
    fn to_string_for_test(&self) -> String;
}

impl Describe for Message {
    fn to_string_for_test(&self) -> String {
        match self {
            Message::Notification(n) => format!("{n} {}", n.describe()),
            Message::Update(u) => u
                .attributes
                .as_path
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            other => format!("{other:?}"),
        }
    }
}
