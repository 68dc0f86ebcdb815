//! Writes seeds for the `decode_message` fuzz target into the first directory given: messages
//! encoded by bgp-proto for a variety of contexts and attributes, and the messages captured on
//! real sessions in `tests/vectors/captured/`. Each seed is two context bytes (see
//! `fuzz_targets/decode_message.rs`) and one message. With a second directory, also writes
//! small MRT files of our own there for `decode_mrt`.
//!
//! ```sh
//! cargo run --manifest-path crates/bgp-proto/fuzz/Cargo.toml -p bgp-proto-seedgen -- DIR [MRT_DIR]
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use bgp_proto::attrs::flag;
use bgp_proto::capability::{AddPathFamily, GracefulRestart, GracefulRestartFamily};
use bgp_proto::mrt::{Bgp4mp, MrtBody, MrtReader, TableDumpV2};
use bgp_proto::{
    Aggregator, AsPath, AsSegment, Capability, Community, ExtendedCommunity, Family, FamilySet,
    LargeCommunity, Message, MpReach, MpUnreach, NextHop, Nlri, Notification, Open, Origin,
    PathAttributes, Prefix, RawAttribute, RouteRefresh, SegmentType, SessionContext, Update,
    UpdatePacker,
};
use bytes::{Bytes, BytesMut};

const FOUR_OCTET: u8 = 1;
const EXTENDED: u8 = 2;
const IBGP: u8 = 4;

fn ctx_of(flags: u8, add_path: u8) -> SessionContext {
    let fams = |bits: u8| {
        let all = [
            Family::IPV4_UNICAST,
            Family::IPV6_UNICAST,
            Family::IPV4_MULTICAST,
            Family::IPV6_MULTICAST,
        ];
        let chosen: Vec<Family> = (0..4)
            .filter(|i| bits & (1 << i) != 0)
            .map(|i| all[i])
            .collect();
        FamilySet::of(&chosen)
    };
    SessionContext {
        four_octet_as: flags & FOUR_OCTET != 0,
        extended_message: flags & EXTENDED != 0,
        ibgp: flags & IBGP != 0,
        add_path_rx: fams(add_path & 0x0f),
        add_path_tx: fams(add_path >> 4),
    }
}

struct Seeds {
    dir: PathBuf,
    count: usize,
}

impl Seeds {
    fn write(&mut self, name: &str, flags: u8, add_path: u8, wire: &[u8]) {
        let mut data = vec![flags, add_path];
        data.extend_from_slice(wire);
        std::fs::write(self.dir.join(format!("{:03}-{name}", self.count)), data)
            .expect("write seed");
        self.count += 1;
    }

    /// Encodes `msg` for a session with ADD-PATH in both directions for the families of
    /// `add_path` (a nibble) and writes it as a seed.
    fn message(&mut self, name: &str, flags: u8, add_path: u8, msg: &Message) {
        let both = add_path | (add_path << 4);
        let ctx = ctx_of(flags, both);
        let wire = msg.to_bytes(&ctx);
        // A seed must decode: checks that the seed is what it claims to be.
        Message::decode(wire.clone(), &ctx).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        self.write(name, flags, both, &wire);
    }
}

fn v4(s: &str) -> Nlri {
    Nlri::new(s.parse::<Prefix>().expect("prefix"))
}

fn with_id(mut n: Nlri, id: u32) -> Nlri {
    n.path_id = Some(id);
    n
}

fn full_attributes() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![64512, 4_200_000_001, 3356],
                },
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![65001, 65002],
                },
            ],
        }),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        med: Some(100),
        local_pref: Some(200),
        atomic_aggregate: true,
        aggregator: Some(Aggregator {
            asn: 4_200_000_001,
            address: Ipv4Addr::new(192, 0, 2, 9),
        }),
        communities: vec![Community::new(65000, 1), Community::NO_EXPORT],
        originator_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
        cluster_list: vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)],
        extended_communities: vec![ExtendedCommunity([0, 2, 0xfd, 0xe8, 0, 0, 0, 1])],
        as4_path: None,
        as4_aggregator: None,
        large_communities: vec![LargeCommunity {
            global_admin: 4_200_000_001,
            local_data1: 1,
            local_data2: 2,
        }],
        only_to_customer: Some(64512),
        raw: vec![
            RawAttribute {
                flags: flag::OPTIONAL | flag::TRANSITIVE,
                type_code: 20,
                value: Bytes::from_static(b"\x00\x01\x02\x03"),
            },
            RawAttribute {
                flags: flag::OPTIONAL | flag::TRANSITIVE | flag::PARTIAL,
                type_code: 99,
                value: Bytes::from(vec![7u8; 300]),
            },
        ],
    }
}

fn basic_attributes(asns: &[u32]) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(asns.to_vec())),
        next_hop: Some(Ipv4Addr::new(198, 51, 100, 1)),
        ..PathAttributes::default()
    }
}

fn crate_seeds(s: &mut Seeds) {
    let caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::EnhancedRouteRefresh,
        Capability::ExtendedMessage,
        Capability::Role(0),
        Capability::GracefulRestart(GracefulRestart {
            restart_state: true,
            notification: true,
            restart_time: 120,
            families: vec![GracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: true,
            }],
        }),
        Capability::AddPath(vec![AddPathFamily {
            family: Family::IPV4_UNICAST,
            receive: true,
            send: true,
        }]),
        Capability::Fqdn {
            hostname: Bytes::from_static(b"r1"),
            domain: Bytes::from_static(b"example.net"),
        },
        Capability::Unknown {
            code: 200,
            value: Bytes::from_static(b"\x01\x02"),
        },
    ];
    let open = Message::Open(Open::new(
        4_200_000_001,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        caps,
    ));
    s.message("open", FOUR_OCTET, 0, &open);
    s.message("keepalive", 0, 0, &Message::Keepalive);
    s.message(
        "notification",
        0,
        0,
        &Message::Notification(Notification::cease_with_message(2, "maintenance")),
    );
    s.message(
        "route-refresh",
        0,
        0,
        &Message::RouteRefresh(RouteRefresh::request(Family::IPV6_UNICAST)),
    );

    let full = Update {
        nlri: vec![
            v4("203.0.113.0/24"),
            v4("198.51.100.128/25"),
            v4("0.0.0.0/0"),
        ],
        withdrawn: vec![v4("192.0.2.0/24")],
        attributes: full_attributes(),
        ..Update::default()
    };
    s.message(
        "update-full-ibgp",
        FOUR_OCTET | IBGP,
        0,
        &Message::Update(full.clone()),
    );
    // Over a 2-octet session the big AS numbers go to AS4_PATH and AS4_AGGREGATOR.
    let mut two = full.clone();
    two.attributes.as_path = Some(AsPath::from_sequence(vec![64512, 4_200_000_001, 3356]));
    s.message("update-2octet-as4", 0, 0, &Message::Update(two));
    s.message(
        "update-eor-v4",
        FOUR_OCTET,
        0,
        &Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)),
    );
    s.message(
        "update-eor-v6",
        FOUR_OCTET,
        0,
        &Message::Update(Update::end_of_rib(Family::IPV6_UNICAST)),
    );

    let v6 = |p: &str| Nlri::new(p.parse::<Prefix>().expect("prefix"));
    let mp = Update {
        attributes: PathAttributes {
            next_hop: None,
            ..basic_attributes(&[65001, 65002])
        },
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: "2001:db8::1".parse::<Ipv6Addr>().expect("v6"),
                link_local: Some("fe80::1".parse::<Ipv6Addr>().expect("v6")),
            },
            nlri: vec![v6("2001:db8:1::/48"), v6("2001:db8:2:3::/64"), v6("::/0")],
        }),
        mp_unreach: Some(MpUnreach {
            family: Family::IPV6_UNICAST,
            withdrawn: vec![v6("2001:db8:ff::/48")],
        }),
        ..Update::default()
    };
    s.message("update-mp-v6", FOUR_OCTET, 0, &Message::Update(mp));
    let mp_addpath = Update {
        attributes: PathAttributes {
            next_hop: None,
            ..basic_attributes(&[65001])
        },
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: "2001:db8::2".parse::<Ipv6Addr>().expect("v6"),
                link_local: None,
            },
            nlri: vec![
                with_id(v6("2001:db8:10::/48"), 1),
                with_id(v6("2001:db8:10::/48"), 2),
            ],
        }),
        ..Update::default()
    };
    s.message(
        "update-mp-v6-addpath",
        FOUR_OCTET,
        0x2,
        &Message::Update(mp_addpath),
    );
    let mcast = Update {
        attributes: PathAttributes {
            next_hop: None,
            ..basic_attributes(&[65001])
        },
        mp_reach: Some(MpReach {
            family: Family::IPV4_MULTICAST,
            next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 7)),
            nlri: vec![v4("233.252.0.0/24")],
        }),
        ..Update::default()
    };
    s.message(
        "update-mp-v4-multicast",
        FOUR_OCTET,
        0,
        &Message::Update(mcast),
    );
    let addpath = Update {
        nlri: vec![with_id(v4("10.1.0.0/16"), 1), with_id(v4("10.1.0.0/16"), 7)],
        withdrawn: vec![with_id(v4("10.2.0.0/16"), 3)],
        attributes: basic_attributes(&[65001, 65003]),
        ..Update::default()
    };
    s.message(
        "update-v4-addpath",
        FOUR_OCTET | IBGP,
        0x1,
        &Message::Update(addpath),
    );

    // Packed UPDATEs: a full 4096-octet message and an extended one.
    let many: Vec<Nlri> = (0..3000u32)
        .map(|i| {
            let addr = Ipv4Addr::from(0x0b00_0000 + (i << 8));
            Nlri::new(Prefix::new(addr.into(), 24).expect("prefix"))
        })
        .collect();
    for (name, flags) in [
        ("packed-4096", FOUR_OCTET),
        ("packed-extended", FOUR_OCTET | EXTENDED),
    ] {
        let mut packer = UpdatePacker::new(ctx_of(flags, 0));
        let mut out = BytesMut::new();
        packer
            .announce_ipv4(&basic_attributes(&[65001, 3356, 174]), &many, &mut out)
            .expect("pack");
        let len = usize::from(u16::from_be_bytes([out[16], out[17]]));
        s.write(name, flags, 0, &out[..len]);
    }
    let mut packer = UpdatePacker::new(ctx_of(FOUR_OCTET, 0));
    let mut out = BytesMut::new();
    packer.withdraw(Family::IPV4_UNICAST, &many[..100], &mut out);
    s.write("packed-withdraw", FOUR_OCTET, 0, &out);
    // Two messages back to back.
    let mut two = Message::Keepalive.to_bytes(&ctx_of(0, 0)).to_vec();
    two.extend_from_slice(
        &Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)).to_bytes(&ctx_of(0, 0)),
    );
    s.write("two-messages", 0, 0, &two);
}

/// Context flags of each captured scenario (see the header of each file).
fn captured_context(file: &str) -> (u8, u8) {
    if file.contains("ibgp-addpath") {
        (FOUR_OCTET | IBGP, 0x11)
    } else if file.contains("ipv6") {
        (FOUR_OCTET | EXTENDED, 0)
    } else {
        (FOUR_OCTET, 0)
    }
}

fn captured_seeds(s: &mut Seeds, vectors: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors)
        .expect("read vectors dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    for file in files {
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("captured")
            .to_string();
        let (flags, add_path) = captured_context(&stem);
        let text = std::fs::read_to_string(&file).expect("read vector file");
        for (i, line) in text.lines().filter(|l| !l.starts_with('#')).enumerate() {
            let Some(hex) = line.split_whitespace().nth(2) else {
                continue;
            };
            let wire: Vec<u8> = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
                .collect();
            s.write(&format!("{stem}-{i}"), flags, add_path, &wire);
        }
    }
}

/// MRT record: common header (RFC 6396 §2) and body.
fn mrt_record(mrt_type: u16, subtype: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    out.extend_from_slice(&mrt_type.to_be_bytes());
    out.extend_from_slice(&subtype.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// BGP4MP peer header with 4-octet AS numbers and IPv4 addresses (RFC 6396 §4.4.2).
fn bgp4mp_peers_as4() -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&4_200_000_002u32.to_be_bytes());
    out.extend_from_slice(&4_200_000_001u32.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&[192, 0, 2, 2, 192, 0, 2, 1]);
    out
}

/// Small MRT files of our own: BGP4MP messages (plain, ADD-PATH, extended timestamp), a state
/// change, and a TABLE_DUMP_V2 peer index table with IPv4 and IPv6 RIB records.
fn mrt_seeds(dir: &Path) -> usize {
    std::fs::create_dir_all(dir).expect("create MRT seed dir");
    let ctx = ctx_of(FOUR_OCTET, 0);
    let update = Message::Update(Update {
        nlri: vec![v4("203.0.113.0/24")],
        attributes: basic_attributes(&[4_200_000_002, 3356]),
        ..Update::default()
    })
    .to_bytes(&ctx);
    let with_body = |prefix: Vec<u8>, msg: &[u8]| {
        let mut b = prefix;
        b.extend_from_slice(msg);
        b
    };
    let mut bgp4mp = Vec::new();
    let state = with_body(bgp4mp_peers_as4(), &[0, 5, 0, 6]);
    bgp4mp.extend(mrt_record(16, 5, &state));
    bgp4mp.extend(mrt_record(16, 4, &with_body(bgp4mp_peers_as4(), &update)));
    let keepalive = Message::Keepalive.to_bytes(&ctx);
    bgp4mp.extend(mrt_record(
        16,
        7,
        &with_body(bgp4mp_peers_as4(), &keepalive),
    ));
    // BGP4MP_ET: microseconds before the body.
    let mut et = 123_456u32.to_be_bytes().to_vec();
    et.extend(with_body(bgp4mp_peers_as4(), &update));
    bgp4mp.extend(mrt_record(17, 4, &et));
    let addpath_ctx = ctx_of(FOUR_OCTET, 0x10);
    let addpath_update = Message::Update(Update {
        nlri: vec![with_id(v4("198.51.100.0/24"), 9)],
        attributes: basic_attributes(&[4_200_000_002]),
        ..Update::default()
    })
    .to_bytes(&addpath_ctx);
    bgp4mp.extend(mrt_record(
        16,
        9,
        &with_body(bgp4mp_peers_as4(), &addpath_update),
    ));
    std::fs::write(dir.join("bgp4mp"), &bgp4mp).expect("write seed");

    // TABLE_DUMP_V2: PEER_INDEX_TABLE (one IPv4 peer with a 4-octet AS, one IPv6 peer with a
    // 2-octet AS), then RIB_IPV4_UNICAST, RIB_IPV4_UNICAST_ADDPATH and RIB_IPV6_UNICAST.
    let mut pit = vec![192, 0, 2, 100, 0, 4];
    pit.extend_from_slice(b"main");
    pit.extend_from_slice(&2u16.to_be_bytes());
    pit.extend_from_slice(&[0x02, 10, 0, 0, 1, 192, 0, 2, 2]);
    pit.extend_from_slice(&4_200_000_002u32.to_be_bytes());
    pit.extend_from_slice(&[0x01, 10, 0, 0, 2]);
    pit.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("v6").octets());
    pit.extend_from_slice(&65002u16.to_be_bytes());
    let mut attrs = BytesMut::new();
    Message::Update(Update {
        nlri: vec![v4("10.0.0.0/8")],
        attributes: basic_attributes(&[4_200_000_002, 174]),
        ..Update::default()
    })
    .encode(&ctx, &mut attrs);
    // The attribute block of that UPDATE: after header, withdrawn length, attribute length.
    let attr_len = usize::from(u16::from_be_bytes([attrs[21], attrs[22]]));
    let attr_block = attrs[23..23 + attr_len].to_vec();
    let rib = |seq: u32, prefix: &[u8], path_id: Option<u32>, attrs: &[u8]| {
        let mut b = seq.to_be_bytes().to_vec();
        b.extend_from_slice(prefix);
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        if let Some(id) = path_id {
            b.extend_from_slice(&id.to_be_bytes());
        }
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(attrs);
        b
    };
    // RFC 6396 §4.3.4: in a RIB entry MP_REACH_NLRI holds only the next hop.
    let mut v6_attrs = attr_block.clone();
    let nh = "2001:db8::2".parse::<Ipv6Addr>().expect("v6").octets();
    v6_attrs.extend_from_slice(&[0x80, 14, 17, 16]);
    v6_attrs.extend_from_slice(&nh);
    let mut table = mrt_record(13, 1, &pit);
    table.extend(mrt_record(13, 2, &rib(0, &[8, 10], None, &attr_block)));
    table.extend(mrt_record(
        13,
        8,
        &rib(1, &[16, 10, 1], Some(7), &attr_block),
    ));
    table.extend(mrt_record(
        13,
        4,
        &rib(2, &[32, 0x20, 0x01, 0x0d, 0xb8], None, &v6_attrs),
    ));
    std::fs::write(dir.join("table-dump-v2"), &table).expect("write seed");
    for (name, file) in [("bgp4mp", bgp4mp), ("table-dump-v2", table)] {
        for record in MrtReader::new(Bytes::from(file)) {
            let record = record.unwrap_or_else(|e| panic!("MRT seed {name}: {e}"));
            match &record.body {
                MrtBody::Unknown(_) => panic!("MRT seed {name}: record not interpreted"),
                MrtBody::Bgp4mp(Bgp4mp::Message(m)) => {
                    if let Err(e) = &m.message {
                        panic!("MRT seed {name}: message: {e}");
                    }
                }
                MrtBody::TableDumpV2(TableDumpV2::Rib(rib)) => {
                    for entry in &rib.entries {
                        entry
                            .decode_attributes(rib.family)
                            .unwrap_or_else(|e| panic!("MRT seed {name}: attributes: {e}"));
                    }
                }
                _ => {}
            }
        }
    }
    2
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: seedgen MESSAGE_SEED_DIR [MRT_SEED_DIR]";
    let dir = PathBuf::from(args.next().expect(usage));
    std::fs::create_dir_all(&dir).expect("create output dir");
    let mut seeds = Seeds { dir, count: 0 };
    crate_seeds(&mut seeds);
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/captured");
    captured_seeds(&mut seeds, &vectors);
    println!("{} message seeds", seeds.count);
    if let Some(mrt_dir) = args.next() {
        println!("{} MRT seeds", mrt_seeds(Path::new(&mrt_dir)));
    }
}
