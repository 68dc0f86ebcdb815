//! `speakerd dump rib FILE`: a TABLE_DUMP_V2 snapshot (RFC 6396 §4.3, RFC 8050 §4 for paths
//! with ADD-PATH identifiers) of the Adj-RIB-In of every neighbour or of the Loc-RIB.
//!
//! The control task takes a [`RibDump`] from the core ([`crate::control::Core::rib_dump`]: a few
//! words per path, each attribute set once), so BGP waits only for that pass. A blocking thread
//! then sorts it by prefix, encodes it with [`bgp_proto::mrt::TableDumpV2Writer`] (each
//! attribute set once per family) and streams the records to the CLI over the admin API, which
//! writes the file (docs/adr/0016-mrt-dumps-streamed-to-the-cli.md).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bgp_proto::attrs::encode_table_dump_attributes;
use bgp_proto::mrt::{
    MrtBody, MrtError, MrtStream, MrtWriteError, PeerEntry, PeerIndexTable, RibEntry, TableDumpV2,
    TableDumpV2Writer,
};
use bgp_proto::{FamilySet, NextHop, Prefix};
use bytes::{Bytes, BytesMut};
use rib::{PeerId, RibSnapshot, RouteAttrs, SnapshotKind};
use thiserror::Error;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Records are handed to the admin API in chunks of about this many octets.
const CHUNK: usize = 64 * 1024;

/// A neighbour (or the local pseudo-peer) as the PEER_INDEX_TABLE lists it (RFC 6396 §4.3.1).
#[derive(Clone, Debug)]
pub struct DumpPeer {
    /// Its RIB id.
    pub id: PeerId,
    /// Its entry: BGP Identifier (0.0.0.0 before its first session), address and AS.
    pub entry: PeerEntry,
    /// The families whose routes from it carry ADD-PATH path identifiers (RFC 7911).
    pub add_path: FamilySet,
}

/// What the core hands over for a dump: the table at one moment and who its paths came from.
#[derive(Debug)]
pub struct RibDump {
    /// Adj-RIB-In or Loc-RIB.
    pub kind: SnapshotKind,
    /// The time of the snapshot, seconds since the Unix epoch (every record's timestamp).
    pub timestamp: u32,
    /// Our BGP Identifier (the Collector BGP ID).
    pub collector_id: Ipv4Addr,
    /// The peers, in the order of the PEER_INDEX_TABLE.
    pub peers: Vec<DumpPeer>,
    /// The paths.
    pub snapshot: RibSnapshot,
}

/// Why a dump could not be encoded (RFC 6396 §4.3).
#[derive(Debug, Error)]
pub enum EncodeError {
    /// A record does not fit its fields.
    #[error("MRT record: {0}")]
    Write(#[from] MrtWriteError),
    /// A path came from a peer the dump does not list.
    #[error("path to {0} from unknown peer {1}")]
    UnknownPeer(Prefix, u32),
    /// More peers than a PEER_INDEX_TABLE holds.
    #[error("{0} peers do not fit a PEER_INDEX_TABLE")]
    TooManyPeers(usize),
    /// The reader of the records went away.
    #[error("the dump was abandoned by its reader")]
    Abandoned,
}

/// What a dump held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpCounts {
    /// RIB records (RFC 6396 §4.3.2), one per prefix and kind of path identifier.
    pub records: usize,
    /// RIB entries (paths).
    pub entries: usize,
}

/// The view name of the PEER_INDEX_TABLE: which table the dump holds.
fn view_name(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::AdjRibIn => "adj-rib-in",
        SnapshotKind::LocRib => "loc-rib",
    }
}

/// The attribute block of a RIB entry of `route` for a prefix that is IPv4 or not (RFC 6396
/// §4.3.4): an IPv4 next hop of an IPv4 prefix in NEXT_HOP, any other in MP_REACH_NLRI.
fn entry_attributes(route: &RouteAttrs, ipv4_prefix: bool) -> Bytes {
    let (next_hop, mp) = match route.next_hop {
        IpAddr::V4(a) if ipv4_prefix => (Some(a), None),
        IpAddr::V4(a) => (None, Some(NextHop::V4(a))),
        IpAddr::V6(global) => (
            None,
            Some(NextHop::V6 {
                global,
                link_local: route.link_local,
            }),
        ),
    };
    let mut out = BytesMut::new();
    if route.attrs.next_hop == next_hop {
        encode_table_dump_attributes(&route.attrs, mp.as_ref(), true, &mut out);
    } else {
        let mut attrs = route.attrs.clone();
        attrs.next_hop = next_hop;
        encode_table_dump_attributes(&attrs, mp.as_ref(), true, &mut out);
    }
    out.freeze()
}

/// Encodes `dump` as a TABLE_DUMP_V2 file: the PEER_INDEX_TABLE, then the RIB records in prefix
/// order, handed to `emit` in chunks; `emit` returning `false` abandons the dump.
pub fn encode(
    dump: RibDump,
    mut emit: impl FnMut(Bytes) -> bool,
) -> Result<DumpCounts, EncodeError> {
    let RibDump {
        kind,
        timestamp,
        collector_id,
        peers,
        mut snapshot,
    } = dump;
    if peers.len() > usize::from(u16::MAX) + 1 {
        return Err(EncodeError::TooManyPeers(peers.len()));
    }
    let index: HashMap<PeerId, (u16, FamilySet)> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, (i as u16, p.add_path)))
        .collect();
    let mut writer = TableDumpV2Writer::new(timestamp);
    let mut out = BytesMut::with_capacity(2 * CHUNK);
    writer.peer_index_table(
        &PeerIndexTable {
            collector_id,
            view_name: Bytes::from_static(view_name(kind).as_bytes()),
            peers: peers.iter().map(|p| p.entry).collect(),
        },
        &mut out,
    )?;
    let peer_of = |prefix: Prefix, peer: PeerId| {
        index
            .get(&peer)
            .copied()
            .ok_or(EncodeError::UnknownPeer(prefix, peer.0))
    };
    for p in &snapshot.paths {
        peer_of(p.prefix, p.peer)?;
    }
    snapshot
        .paths
        .sort_unstable_by_key(|p| (p.prefix, index.get(&p.peer).map(|i| i.0), p.path_id));
    // Each set encoded once per form: for IPv4 prefixes and for the others.
    let mut blocks: Vec<[Option<Bytes>; 2]> = vec![[None, None]; snapshot.attrs.len()];
    let mut counts = DumpCounts::default();
    let mut entries: Vec<RibEntry> = Vec::new();
    let mut paths = snapshot.paths.iter().peekable();
    while let Some(first) = paths.next() {
        let prefix = first.prefix;
        let ipv4 = matches!(prefix, Prefix::V4(_));
        let family = prefix.unicast_family();
        entries.clear();
        for path in std::iter::once(first)
            .chain(std::iter::from_fn(|| paths.next_if(|p| p.prefix == prefix)))
        {
            let (peer_index, add_path) = peer_of(prefix, path.peer)?;
            let slot = &mut blocks[path.attrs as usize][usize::from(!ipv4)];
            let attributes = slot
                .get_or_insert_with(|| entry_attributes(&snapshot.attrs[path.attrs as usize], ipv4))
                .clone();
            entries.push(RibEntry {
                peer_index,
                // The RIB does not keep when each path arrived (RFC 6396 §4.3.4 asks for it):
                // 0 says it is unknown rather than inventing one.
                originated_time: 0,
                path_id: (add_path.contains(family) || path.path_id != 0).then_some(path.path_id),
                attributes,
            });
        }
        counts.records += writer.rib(family, prefix, &entries, &mut out)?;
        counts.entries += entries.len();
        if out.len() >= CHUNK && !emit(out.split().freeze()) {
            return Err(EncodeError::Abandoned);
        }
    }
    if !out.is_empty() && !emit(out.freeze()) {
        return Err(EncodeError::Abandoned);
    }
    Ok(counts)
}

/// Chunks of a dump in flight to the admin API's client, at most: the encoder waits when the
/// client reads slowly, so a dump holds at most this much beyond the snapshot.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The admin API's answer to a dump request: the records of `dump`, encoded on a blocking
/// thread and streamed as they are made (`application/octet-stream`, chunked). An error while
/// encoding ends the body before its last chunk, so the client sees the dump was cut short.
pub(crate) fn response(dump: RibDump) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(CHUNKS_IN_FLIGHT);
    let kind = dump.kind;
    tokio::task::spawn_blocking(move || {
        match encode(dump, |chunk| tx.blocking_send(Ok(chunk)).is_ok()) {
            Ok(counts) => info!(
                table = view_name(kind),
                records = counts.records,
                entries = counts.entries,
                "RIB dumped as MRT"
            ),
            Err(e) => {
                warn!(table = view_name(kind), error = %e, "RIB dump failed");
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [("content-type", "application/octet-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

/// Why `speakerd dump rib` failed.
#[derive(Debug, Error)]
pub enum DumpError {
    /// The daemon's admin API could not be reached or stopped answering.
    #[error("admin API at {0}: {1} (is speakerd running?)")]
    Connect(SocketAddr, io::Error),
    /// The admin API answered with an error.
    #[error("admin API answered: {0}")]
    Status(String),
    /// The answer was not a well-formed HTTP response, or it was cut short.
    #[error("admin API answer: {0}")]
    Http(String),
    /// The file could not be written.
    #[error("{0}: {1}")]
    File(String, io::Error),
    /// The file written does not read back as MRT.
    #[error("{file}: record at offset {offset}: {error}")]
    Mrt {
        /// The file.
        file: String,
        /// Where the bad record begins.
        offset: u64,
        /// What is wrong with it.
        error: MrtError,
    },
}

/// What `speakerd dump rib` wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Octets written.
    pub octets: u64,
    /// What the file holds, read back; `None` for a file that is no regular file.
    pub counts: Option<DumpCounts>,
}

/// Asks the daemon at `admin` for a dump of the Loc-RIB (`loc_rib`) or of the Adj-RIB-In of
/// every neighbour, writes it to `file` and reads it back; on failure `file` is removed. A
/// `file` that exists and is no regular file (a pipe, `/dev/stdout`) is only written to: not
/// read back, never removed.
pub fn fetch(admin: SocketAddr, loc_rib: bool, file: &Path) -> Result<Written, DumpError> {
    let name = file.display().to_string();
    if std::fs::metadata(file).is_ok_and(|m| !m.is_file()) {
        let octets = fetch_into(admin, loc_rib, file, &name)?;
        return Ok(Written {
            octets,
            counts: None,
        });
    }
    let result = fetch_into(admin, loc_rib, file, &name).and_then(|octets| {
        Ok(Written {
            octets,
            counts: Some(count(file, &name)?),
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(file);
    }
    result
}

/// Writes the daemon's answer to `file`; returns the octets written.
fn fetch_into(admin: SocketAddr, loc_rib: bool, file: &Path, name: &str) -> Result<u64, DumpError> {
    let connect = |e| DumpError::Connect(admin, e);
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_secs(5)).map_err(connect)?;
    // The daemon answers once the control task has taken the snapshot.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let table = if loc_rib { "loc-rib" } else { "adj-rib-in" };
    write!(
        stream,
        "GET /api/dump/rib?table={table} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    )
    .map_err(connect)?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).map_err(connect)?;
    let mut chunked = false;
    let mut length: Option<u64> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(connect)? == 0 {
            return Err(DumpError::Http("headers cut short".into()));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((field, value)) = line.split_once(':') else {
            return Err(DumpError::Http(format!("bad header line {line:?}")));
        };
        let value = value.trim();
        if field.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if field.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse()
                    .map_err(|_| DumpError::Http(format!("bad Content-Length {value:?}")))?,
            );
        }
    }
    if status.split_whitespace().nth(1) != Some("200") {
        let mut body = String::new();
        let _ = reader.take(4096).read_to_string(&mut body);
        return Err(DumpError::Status(format!(
            "{}: {}",
            status.trim(),
            body.trim()
        )));
    }
    let out = File::create(file).map_err(|e| DumpError::File(name.into(), e))?;
    let mut out = BufWriter::new(out);
    let written = if chunked {
        copy_chunked(&mut reader, &mut out).map_err(connect)?
    } else {
        io::copy(&mut reader, &mut out).map_err(connect)?
    };
    if length.is_some_and(|l| l != written) {
        return Err(DumpError::Http(format!(
            "{written} of {} octets received",
            length.unwrap_or_default()
        )));
    }
    out.flush().map_err(|e| DumpError::File(name.into(), e))?;
    Ok(written)
}

/// Copies an HTTP/1.1 chunked body (RFC 9112 §7.1) to `out`; a body that ends before its last
/// chunk (the daemon gave up) is an error.
fn copy_chunked(reader: &mut impl BufRead, out: &mut impl Write) -> io::Result<u64> {
    let cut = || io::Error::new(io::ErrorKind::UnexpectedEof, "the dump was cut short");
    let mut total = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(cut());
        }
        let size = line.trim_end().split(';').next().unwrap_or_default();
        let size = u64::from_str_radix(size.trim(), 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad chunk size {line:?}"),
            )
        })?;
        if size == 0 {
            return Ok(total);
        }
        let copied = io::copy(&mut reader.by_ref().take(size), out)?;
        if copied != size {
            return Err(cut());
        }
        total += size;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).map_err(|_| cut())?;
    }
}

/// Reads `file` back and counts its RIB records and entries.
fn count(file: &Path, name: &str) -> Result<DumpCounts, DumpError> {
    let input = File::open(file).map_err(|e| DumpError::File(name.into(), e))?;
    let mut records = MrtStream::new(BufReader::new(input));
    let mut counts = DumpCounts::default();
    while let Some(record) = records.next() {
        match record {
            Ok(r) => {
                if let MrtBody::TableDumpV2(TableDumpV2::Rib(rib)) = r.body {
                    counts.records += 1;
                    counts.entries += rib.entries.len();
                }
            }
            Err(error) => {
                return Err(DumpError::Mrt {
                    file: name.into(),
                    offset: records.record_offset(),
                    error,
                })
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::mrt::{MrtReader, RibRecord};
    use bgp_proto::{AsPath, Family, Nlri, Origin, Update};
    use rib::{PeerConfig, Policy, Rib, RibConfig};
    use std::sync::Arc;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// A RIB with an IPv4 neighbour (ADD-PATH receive for IPv4 unicast, two paths to one
    /// prefix) and an IPv6 one, and the dump of `kind` the core would hand over.
    fn dump(kind: SnapshotKind) -> RibDump {
        let mut rib = Rib::new(RibConfig::new(65000, v4("198.18.0.254")));
        let accept = vec![Arc::new(Policy::accept_all("in"))];
        let mut a = PeerConfig::new(IpAddr::V4(v4("198.18.1.1")), 65001);
        a.import = accept.clone();
        let mut b = PeerConfig::new("2001:db8::2".parse().unwrap(), 4_200_000_000);
        b.import = accept;
        let (a, b) = (rib.add_peer(a), rib.add_peer(b));
        let both = FamilySet::of(&[Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        rib.peer_up(a, v4("198.18.1.1"), true, both);
        rib.peer_up(b, v4("198.18.2.2"), true, both);
        let mut u = Update::default();
        u.attributes.origin = Some(Origin::Igp);
        u.attributes.as_path = Some(AsPath::from_sequence([65001]));
        u.attributes.next_hop = Some(v4("198.18.1.1"));
        u.nlri = vec![
            Nlri {
                path_id: Some(0),
                prefix: "198.18.20.0/24".parse().unwrap(),
            },
            Nlri {
                path_id: Some(5),
                prefix: "198.18.20.0/24".parse().unwrap(),
            },
        ];
        rib.apply_update(a, &u).unwrap();
        let mut u = Update::default();
        u.attributes.origin = Some(Origin::Egp);
        u.attributes.as_path = Some(AsPath::from_sequence([4_200_000_000, 65100]));
        u.mp_reach = Some(bgp_proto::MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: "2001:db8::2".parse().unwrap(),
                link_local: Some("fe80::2".parse().unwrap()),
            },
            nlri: vec![
                Nlri::new("2001:db8:20::/48".parse().unwrap()),
                Nlri::new("2001:db8:10::/48".parse().unwrap()),
            ],
        });
        rib.apply_update(b, &u).unwrap();
        rib.run_decision();
        let peer = |id, ip: IpAddr, asn, add_path| DumpPeer {
            id,
            entry: PeerEntry {
                bgp_id: Ipv4Addr::UNSPECIFIED,
                ip,
                asn,
            },
            add_path,
        };
        RibDump {
            kind,
            timestamp: 1_700_000_000,
            collector_id: v4("198.18.0.254"),
            peers: vec![
                peer(
                    a,
                    IpAddr::V4(v4("198.18.1.1")),
                    65001,
                    FamilySet::of(&[Family::IPV4_UNICAST]),
                ),
                peer(
                    b,
                    "2001:db8::2".parse().unwrap(),
                    4_200_000_000,
                    FamilySet::EMPTY,
                ),
            ],
            snapshot: rib.snapshot(kind),
        }
    }

    fn encoded(kind: SnapshotKind) -> (Bytes, DumpCounts) {
        let mut out = Vec::new();
        let counts = encode(dump(kind), |chunk| {
            out.extend_from_slice(&chunk);
            true
        })
        .expect("encodes");
        (Bytes::from(out), counts)
    }

    #[test]
    fn adj_rib_in_dump_reads_back() {
        let (file, counts) = encoded(SnapshotKind::AdjRibIn);
        let records: Vec<_> = MrtReader::new(file).map(|r| r.expect("record")).collect();
        let MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(table)) = &records[0].body else {
            panic!("PEER_INDEX_TABLE first: {:?}", records[0].body);
        };
        assert_eq!(table.view_name.as_ref(), b"adj-rib-in");
        assert_eq!(table.peers.len(), 2);
        let ribs: Vec<&RibRecord> = records[1..]
            .iter()
            .map(|r| match &r.body {
                MrtBody::TableDumpV2(TableDumpV2::Rib(rib)) => rib,
                other => panic!("not a RIB record: {other:?}"),
            })
            .collect();
        // Prefix order; the ADD-PATH neighbour's paths in an _ADDPATH record with their ids.
        let summary: Vec<(String, bool, Vec<Option<u32>>)> = ribs
            .iter()
            .map(|r| {
                let ids = r.entries.iter().map(|e| e.path_id).collect();
                (r.prefix.to_string(), r.add_path, ids)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("198.18.20.0/24".to_string(), true, vec![Some(0), Some(5)]),
                ("2001:db8:10::/48".to_string(), false, vec![None]),
                ("2001:db8:20::/48".to_string(), false, vec![None]),
            ]
        );
        assert_eq!(
            counts,
            DumpCounts {
                records: 3,
                entries: 4
            }
        );
        let v4_path = ribs[0].entries[0]
            .decode_attributes(Family::IPV4_UNICAST)
            .expect("attributes");
        assert_eq!(v4_path.attributes.next_hop, Some(v4("198.18.1.1")));
        assert!(v4_path.mp_reach.is_none());
        let v6_path = ribs[1].entries[0]
            .decode_attributes(Family::IPV6_UNICAST)
            .expect("attributes");
        assert_eq!(ribs[1].entries[0].peer_index, 1);
        assert_eq!(v6_path.attributes.next_hop, None);
        assert_eq!(
            v6_path.mp_reach.map(|r| r.next_hop),
            Some(NextHop::V6 {
                global: "2001:db8::2".parse().unwrap(),
                link_local: Some("fe80::2".parse().unwrap()),
            })
        );
        assert_eq!(
            v6_path.attributes.as_path,
            Some(AsPath::from_sequence([4_200_000_000, 65100]))
        );
    }

    #[test]
    fn a_path_of_an_unlisted_peer_or_a_reader_gone_fails_the_dump() {
        let mut d = dump(SnapshotKind::LocRib);
        d.peers.pop();
        assert!(matches!(
            encode(d, |_| true),
            Err(EncodeError::UnknownPeer(..))
        ));
        assert!(matches!(
            encode(dump(SnapshotKind::LocRib), |_| false),
            Err(EncodeError::Abandoned)
        ));
    }

    #[test]
    fn chunked_bodies_must_end_with_their_last_chunk() {
        let mut out = Vec::new();
        let body = b"4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n";
        assert_eq!(copy_chunked(&mut &body[..], &mut out).unwrap(), 7);
        assert_eq!(out, b"abcdefg");
        for cut in [&body[..9], &body[..14], &body[..20]] {
            let e = copy_chunked(&mut &cut[..], &mut Vec::new()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{cut:?}");
        }
        let e = copy_chunked(&mut &b"zz\r\n"[..], &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
