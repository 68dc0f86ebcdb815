//! `mrtdump` against `bgpdump -m` on every shared MRT capture: the outputs must be identical.

use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mrt")
}

fn run(program: &str, file: &Path) -> String {
    let output = Command::new(program)
        .arg("-m")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "{program} -m {} failed: {}\n{}",
        file.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("output is UTF-8")
}

/// Runs `mrtdump` and `bgpdump -m` on `file`; `None` when their lines agree, else a report of
/// the first differences.
fn compare(file: &Path) -> Option<String> {
    let ours = Command::new(env!("CARGO_BIN_EXE_mrtdump"))
        .arg(file)
        .output()
        .expect("run mrtdump");
    assert!(ours.status.success(), "mrtdump {} failed", file.display());
    assert!(
        ours.stderr.is_empty(),
        "mrtdump {} reported errors: {}",
        file.display(),
        String::from_utf8_lossy(&ours.stderr)
    );
    let ours = String::from_utf8(ours.stdout).expect("mrtdump output is UTF-8");
    let reference = run("bgpdump", file);
    assert!(
        !reference.is_empty(),
        "bgpdump printed nothing for {}",
        file.display()
    );
    let ours_lines: Vec<&str> = ours.lines().collect();
    let ref_lines: Vec<&str> = reference.lines().collect();
    if ours_lines == ref_lines {
        return None;
    }
    let first = ours_lines
        .iter()
        .zip(&ref_lines)
        .position(|(a, b)| a != b)
        .unwrap_or(ours_lines.len().min(ref_lines.len()));
    let mut report = format!(
        "{}: first difference at line {} ({} lines from bgpdump, {} from mrtdump)\n",
        file.display(),
        first + 1,
        ref_lines.len(),
        ours_lines.len()
    );
    for i in first..(first + 5) {
        let (b, m) = (ref_lines.get(i), ours_lines.get(i));
        if b.is_none() && m.is_none() {
            break;
        }
        if b != m {
            report.push_str(&format!(
                "- bgpdump {}: {}\n",
                i + 1,
                b.unwrap_or(&"<none>")
            ));
            report.push_str(&format!(
                "+ mrtdump {}: {}\n",
                i + 1,
                m.unwrap_or(&"<none>")
            ));
        }
    }
    Some(report)
}

#[test]
fn mrtdump_matches_bgpdump() {
    let dir = testdata_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("MRT test data {} missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|ext| ext != "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no MRT files in {}", dir.display());
    let failures: Vec<String> = files.iter().filter_map(|f| compare(f)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// TABLE_DUMP (RFC 6396 §4.2) records of our own: no real capture of the format is in the shared
/// test data. IPv4 and IPv6 paths with every attribute `bgpdump -m` prints (AS_SET, AS numbers
/// beyond 2 octets through AS4_PATH, MED, LOCAL_PREF, communities with well-known ones,
/// ATOMIC_AGGREGATE, AGGREGATOR and AS4_AGGREGATOR), one with none at all, and an IPv6 next hop
/// with a link-local address.
#[test]
fn table_dump_matches_bgpdump() {
    use bgp_proto::attrs::encode_table_dump_attributes;
    use bgp_proto::mrt::TableDump;
    use bgp_proto::{
        Aggregator, AsPath, AsSegment, Community, Family, LargeCommunity, NextHop, Origin,
        PathAttributes, SegmentType,
    };
    use bytes::{Bytes, BytesMut};
    use std::net::Ipv4Addr;

    let seq = |asns: &[u32]| AsSegment {
        kind: SegmentType::Sequence,
        asns: asns.to_vec(),
    };
    let full = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath {
            segments: vec![
                seq(&[65001, 65002]),
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![65010, 65011],
                },
            ],
        }),
        next_hop: Some(Ipv4Addr::new(198, 18, 0, 1)),
        med: Some(50),
        local_pref: Some(200),
        atomic_aggregate: true,
        aggregator: Some(Aggregator {
            asn: 65001,
            address: Ipv4Addr::new(198, 18, 0, 9),
        }),
        communities: vec![
            Community::new(65001, 100),
            Community::NO_EXPORT,
            Community::NO_ADVERTISE,
            Community::NO_EXPORT_SUBCONFED,
        ],
        large_communities: vec![LargeCommunity {
            global_admin: 65001,
            local_data1: 1,
            local_data2: 2,
        }],
        ..PathAttributes::default()
    };
    let as4 = PathAttributes {
        origin: Some(Origin::Egp),
        as_path: Some(AsPath {
            segments: vec![seq(&[4_200_000_000, 65002])],
        }),
        next_hop: Some(Ipv4Addr::new(198, 18, 0, 2)),
        aggregator: Some(Aggregator {
            asn: 4_200_000_001,
            address: Ipv4Addr::new(198, 18, 0, 10),
        }),
        ..PathAttributes::default()
    };
    let v6 = PathAttributes {
        origin: Some(Origin::Incomplete),
        as_path: Some(AsPath::from_sequence([65003])),
        med: Some(7),
        communities: vec![Community::new(65003, 3)],
        ..PathAttributes::default()
    };
    let v6_hop = NextHop::V6 {
        global: "2001:db8::3".parse().expect("address"),
        link_local: Some("fe80::3".parse().expect("address")),
    };
    let block = |attrs: &PathAttributes, mp: Option<&NextHop>| {
        let mut out = BytesMut::new();
        encode_table_dump_attributes(attrs, mp, false, &mut out);
        out.freeze()
    };
    let paths = [
        ("198.18.10.0/24", "198.18.0.1", 65001, block(&full, None)),
        ("198.18.11.0/25", "198.18.0.2", 23456, block(&as4, None)),
        ("198.18.12.0/32", "198.18.0.1", 65001, Bytes::new()),
        ("0.0.0.0/0", "198.18.0.1", 65001, block(&full, None)),
        (
            "2001:db8:10::/48",
            "2001:db8::3",
            65003,
            block(&v6, Some(&v6_hop)),
        ),
        (
            "2001:db8:11::1/128",
            "2001:db8::3",
            65003,
            block(&v6, Some(&v6_hop)),
        ),
    ];
    let mut out = BytesMut::new();
    for (i, (prefix, peer, peer_as, attributes)) in paths.into_iter().enumerate() {
        let prefix: bgp_proto::Prefix = prefix.parse().expect("prefix");
        let entry = TableDump {
            view: 0,
            sequence: i as u16,
            family: prefix.unicast_family(),
            prefix,
            status: 1,
            originated_time: 1_700_000_000 + i as u32,
            peer_ip: peer.parse().expect("address"),
            peer_as,
            attributes,
        };
        assert!(entry.family == Family::IPV4_UNICAST || entry.family == Family::IPV6_UNICAST);
        entry
            .encode(1_700_000_100 + i as u32, &mut out)
            .expect("record fits");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join("table-dump-v1.mrt");
    std::fs::write(&file, &out).expect("write the MRT file");
    let lines = run("bgpdump", &file);
    assert_eq!(
        lines.lines().count(),
        6,
        "bgpdump did not read every record:\n{lines}"
    );
    assert!(
        lines.lines().all(|l| l.starts_with("TABLE_DUMP|")),
        "{lines}"
    );
    if let Some(report) = compare(&file) {
        panic!("{report}");
    }
}

/// What the TABLE_DUMP_V2 writer makes, read by bgpdump: a PEER_INDEX_TABLE with IPv4 and IPv6
/// peers of 2- and 4-octet ASes, IPv4 and IPv6 RIB records, and the RFC 8050 ADDPATH records
/// for paths with identifiers (one prefix with both kinds).
#[test]
fn written_table_dump_v2_matches_bgpdump() {
    use bgp_proto::attrs::encode_table_dump_attributes;
    use bgp_proto::mrt::{PeerEntry, PeerIndexTable, RibEntry, TableDumpV2Writer};
    use bgp_proto::{AsPath, Community, NextHop, Origin, PathAttributes, Prefix};
    use bytes::{Bytes, BytesMut};
    use std::net::Ipv4Addr;

    let block = |path: &[u32], next_hop: Option<Ipv4Addr>, mp: Option<NextHop>| {
        let attrs = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(path.to_vec())),
            next_hop,
            med: Some(10),
            communities: vec![Community::new(65001, 1)],
            ..PathAttributes::default()
        };
        let mut out = BytesMut::new();
        encode_table_dump_attributes(&attrs, mp.as_ref(), true, &mut out);
        out.freeze()
    };
    let entry = |peer_index, path_id, attributes: &Bytes| RibEntry {
        peer_index,
        originated_time: 1_700_000_000,
        path_id,
        attributes: attributes.clone(),
    };
    let v4 = block(
        &[4_200_000_002, 65010],
        Some(Ipv4Addr::new(198, 18, 0, 2)),
        None,
    );
    let v4_other = block(&[65001], Some(Ipv4Addr::new(198, 18, 0, 3)), None);
    let v6 = block(
        &[4_200_000_002],
        None,
        Some(NextHop::V6 {
            global: "2001:db8::2".parse().expect("address"),
            link_local: Some("fe80::2".parse().expect("address")),
        }),
    );
    let mut out = BytesMut::new();
    let mut writer = TableDumpV2Writer::new(1_700_000_100);
    writer
        .peer_index_table(
            &PeerIndexTable {
                collector_id: Ipv4Addr::new(198, 18, 0, 1),
                view_name: Bytes::from_static(b"test"),
                peers: vec![
                    PeerEntry {
                        bgp_id: Ipv4Addr::new(198, 18, 0, 2),
                        ip: "198.18.0.2".parse().expect("address"),
                        asn: 4_200_000_002,
                    },
                    PeerEntry {
                        bgp_id: Ipv4Addr::new(198, 18, 0, 3),
                        ip: "198.18.0.3".parse().expect("address"),
                        asn: 65001,
                    },
                    PeerEntry {
                        bgp_id: Ipv4Addr::new(198, 18, 0, 2),
                        ip: "2001:db8::2".parse().expect("address"),
                        asn: 4_200_000_002,
                    },
                ],
            },
            &mut out,
        )
        .expect("peer index table");
    fn rib(
        writer: &mut TableDumpV2Writer,
        prefix: &str,
        entries: &[RibEntry],
        out: &mut BytesMut,
    ) -> usize {
        let prefix: Prefix = prefix.parse().expect("prefix");
        writer
            .rib(prefix.unicast_family(), prefix, entries, out)
            .expect("RIB record")
    }
    assert_eq!(
        rib(
            &mut writer,
            "198.18.10.0/24",
            &[
                entry(0, Some(1), &v4),
                entry(1, None, &v4_other),
                entry(0, Some(2), &v4)
            ],
            &mut out
        ),
        2
    );
    rib(
        &mut writer,
        "198.18.11.0/25",
        &[entry(1, None, &v4_other)],
        &mut out,
    );
    rib(
        &mut writer,
        "2001:db8:10::/48",
        &[entry(2, None, &v6)],
        &mut out,
    );
    rib(
        &mut writer,
        "2001:db8:11::/64",
        &[entry(2, Some(9), &v6)],
        &mut out,
    );
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("written-table-dump-v2.mrt");
    std::fs::write(&file, &out).expect("write the MRT file");
    let lines = run("bgpdump", &file);
    assert_eq!(
        lines.lines().count(),
        6,
        "bgpdump did not read every path:\n{lines}"
    );
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.starts_with("TABLE_DUMP2_AP|"))
            .count(),
        3,
        "{lines}"
    );
    if let Some(report) = compare(&file) {
        panic!("{report}");
    }
}
