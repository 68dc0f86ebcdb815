//! `mrtdump FILE...`: prints MRT files (RFC 6396, RFC 8050) one route per line, in the format of
//! `bgpdump -m` (bgpdump 1.6), reproduced from observing its output:
//!
//! ```text
//! BGP4MP|<time>|STATE|<peer ip>|<peer as>|<old state>|<new state>
//! BGP4MP|<time>|W|<peer ip>|<peer as>|<prefix>
//! BGP4MP|<time>|A|<peer ip>|<peer as>|<prefix>|<as path>|<origin>|<next hop>|<local pref>|<med>|<communities>|<AG or NAG>|<aggregator>|
//! TABLE_DUMP2|<time>|B|<peer ip>|<peer as>|<prefix>|<as path>|<origin>|<next hop>|<local pref>|<med>|<communities>|<AG or NAG>|<aggregator>|
//! TABLE_DUMP|<time>|B|<peer ip>|<peer as>|<prefix>|<as path>|<origin>|<next hop>|<local pref>|<med>|<communities>|<AG or NAG>|<aggregator>|
//! ```
//!
//! The ADD-PATH subtypes print `BGP4MP_AP` / `TABLE_DUMP2_AP` and the path identifier after the
//! prefix; BGP4MP_ET prints `BGP4MP_ET` and `<seconds>.<microseconds>`; the LOCAL subtypes
//! print `BGP4MP_LOCAL`. Only UPDATE messages and state changes produce lines; withdrawals come
//! before announcements, body NLRI before MP NLRI. TABLE_DUMP (RFC 6396 §4.2) records print the
//! header's time and their 2-octet AS_PATH merged with AS4_PATH (RFC 6793 §4.2.3). A record
//! that does not decode is reported on stderr with its offset in the file.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use bgp_proto::attrs::{decode_path_attributes, DecodedAttributes};
use bgp_proto::mrt::{
    bgp4mp_subtype, Bgp4mp, Bgp4mpMessage, MrtBody, MrtHeader, MrtReader, PeerEntry, RibRecord,
    TableDump, TableDumpV2,
};
use bgp_proto::{Community, Message, NextHop, Nlri, Origin, PathAttributes, Safi};
use bytes::Bytes;

/// What bgpdump prints for an absent NEXT_HOP.
const NO_NEXT_HOP: IpAddr = IpAddr::V4(Ipv4Addr::BROADCAST);

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: mrtdump FILE...");
        return ExitCode::from(2);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut status = ExitCode::SUCCESS;
    for file in &files {
        let data = match std::fs::read(file) {
            Ok(data) => data,
            Err(e) => {
                eprintln!("mrtdump: {file}: {e}");
                status = ExitCode::FAILURE;
                continue;
            }
        };
        if let Err(e) = dump(Bytes::from(data), file, &mut out) {
            eprintln!("mrtdump: writing output: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("mrtdump: writing output: {e}");
        return ExitCode::FAILURE;
    }
    status
}

/// Prints every record of one file; decode errors go to stderr, write errors are returned.
fn dump(data: Bytes, file: &str, out: &mut impl Write) -> io::Result<()> {
    let mut peers: Vec<PeerEntry> = Vec::new();
    let mut reader = MrtReader::new(data);
    while let Some(record) = reader.next() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                eprintln!(
                    "mrtdump: {file}: record at offset {}: {e}",
                    reader.record_offset()
                );
                continue;
            }
        };
        let mut lines = String::new();
        match &record.body {
            MrtBody::Bgp4mp(Bgp4mp::StateChange {
                peers: ends,
                old_state,
                new_state,
            }) => {
                let _ = writeln!(
                    lines,
                    "{}|{}|STATE|{}|{}|{old_state}|{new_state}",
                    bgp4mp_label(&record.header, false, false),
                    timestamp(&record.header),
                    ends.peer_ip,
                    ends.peer_as,
                );
            }
            MrtBody::Bgp4mp(Bgp4mp::Message(msg)) => {
                if let Err(e) = format_message(&record.header, msg, &mut lines) {
                    eprintln!("mrtdump: {file}: {e}");
                }
            }
            MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(table)) => {
                peers.clone_from(&table.peers);
            }
            MrtBody::TableDumpV2(TableDumpV2::Rib(rib)) => {
                // bgpdump prints the unicast RIB subtypes only.
                if rib.family.safi == Safi::UNICAST {
                    format_rib(&record.header, rib, &peers, file, &mut lines);
                }
            }
            MrtBody::TableDump(entry) => {
                format_table_dump(&record.header, entry, file, &mut lines);
            }
            MrtBody::Unknown(_) => {}
        }
        out.write_all(lines.as_bytes())?;
    }
    Ok(())
}

/// `<seconds>` or, for extended timestamps, `<seconds>.<microseconds>`.
fn timestamp(header: &MrtHeader) -> String {
    match header.microseconds {
        Some(us) => format!("{}.{us:06}", header.timestamp),
        None => header.timestamp.to_string(),
    }
}

fn bgp4mp_label(header: &MrtHeader, local: bool, add_path: bool) -> String {
    let mut label = String::from("BGP4MP");
    if header.microseconds.is_some() {
        label.push_str("_ET");
    }
    if local {
        label.push_str("_LOCAL");
    }
    if add_path {
        label.push_str("_AP");
    }
    label
}

/// The announced and withdrawn routes of an UPDATE, as bgpdump would list them.
struct Routes {
    attrs: PathAttributes,
    /// Withdrawn routes: body first, then MP_UNREACH_NLRI.
    withdrawn: Vec<Route>,
    /// Announced routes with their next hop: body first, then MP_REACH_NLRI.
    announced: Vec<(Route, Option<IpAddr>)>,
}

/// A prefix as printed, and its path identifier.
struct Route {
    prefix: String,
    path_id: Option<u32>,
}

impl From<&Nlri> for Route {
    fn from(n: &Nlri) -> Self {
        Route {
            prefix: n.prefix.to_string(),
            path_id: n.path_id,
        }
    }
}

fn format_message(
    header: &MrtHeader,
    msg: &Bgp4mpMessage,
    lines: &mut String,
) -> Result<(), String> {
    let routes = match &msg.message {
        Ok(Message::Update(update)) => {
            let body_next_hop = update.attributes.next_hop.map(IpAddr::V4);
            let mp_next_hop = update.mp_reach.as_ref().map(|r| next_hop_ip(&r.next_hop));
            Routes {
                attrs: update.attributes.clone(),
                withdrawn: update
                    .withdrawn
                    .iter()
                    .chain(update.mp_unreach.iter().flat_map(|u| &u.withdrawn))
                    .map(Route::from)
                    .collect(),
                announced: update
                    .nlri
                    .iter()
                    .map(|n| (Route::from(n), body_next_hop))
                    .chain(
                        update
                            .mp_reach
                            .iter()
                            .flat_map(|r| &r.nlri)
                            .map(|n| (Route::from(n), mp_next_hop)),
                    )
                    .collect(),
            }
        }
        Ok(_) => return Ok(()),
        Err(e) => lenient_update(&msg.raw, msg)
            .ok_or_else(|| format!("BGP message at {}: {e}", header.timestamp))?,
    };
    let mut attrs = routes.attrs;
    if !msg.four_octet_as {
        attrs.reconstruct_as4();
    }
    // bgpdump prints the LOCAL ADDPATH subtypes as BGP4MP_AP from the local end.
    let local_ap = matches!(
        header.subtype,
        bgp4mp_subtype::MESSAGE_LOCAL_ADDPATH | bgp4mp_subtype::MESSAGE_AS4_LOCAL_ADDPATH
    );
    let label = bgp4mp_label(header, msg.local && !local_ap, msg.add_path);
    let (ip, asn) = if local_ap {
        (msg.peers.local_ip, msg.peers.local_as)
    } else {
        (msg.peers.peer_ip, msg.peers.peer_as)
    };
    let time = timestamp(header);
    let lead = format!("{label}|{time}");
    for route in &routes.withdrawn {
        let _ = write!(lines, "{lead}|W|{ip}|{asn}|{}", route.prefix);
        if msg.add_path {
            let _ = write!(lines, "|{}", route.path_id.unwrap_or(0));
        }
        lines.push('\n');
    }
    for (route, next_hop) in &routes.announced {
        let _ = write!(lines, "{lead}|A|{ip}|{asn}|");
        route_fields(lines, route, msg.add_path, &attrs, *next_hop);
    }
    Ok(())
}

/// The UPDATE of a message that the codec refused, read the way bgpdump reads it: the
/// attributes decoded by the codec, the IPv4 NLRI fields walked prefix by prefix without
/// clearing host bits and stopping at the first prefix that does not parse. Writers such as
/// BIRD record ADD-PATH messages under the plain subtypes; bgpdump then prints the path
/// identifiers' octets as prefixes, and so does this.
fn lenient_update(raw: &Bytes, msg: &Bgp4mpMessage) -> Option<Routes> {
    const HEADER_LEN: usize = 19;
    if raw.get(18) != Some(&2) {
        return None;
    }
    let body = raw.get(HEADER_LEN..)?;
    let (withdrawn_len, body) = body.split_first_chunk::<2>()?;
    let withdrawn_field = body.get(..usize::from(u16::from_be_bytes(*withdrawn_len)))?;
    let body = &body[withdrawn_field.len()..];
    let (attrs_len, body) = body.split_first_chunk::<2>()?;
    let attrs_field = body.get(..usize::from(u16::from_be_bytes(*attrs_len)))?;
    let nlri_field = &body[attrs_field.len()..];
    let start = raw.len() - body.len();
    let decoded: DecodedAttributes =
        decode_path_attributes(raw.slice(start..start + attrs_field.len()), &msg.context()).ok()?;
    let mp_next_hop = decoded.mp_reach.as_ref().map(|r| next_hop_ip(&r.next_hop));
    let body_next_hop = decoded.attributes.next_hop.map(IpAddr::V4);
    let mut withdrawn = lenient_ipv4_nlri(withdrawn_field, msg.add_path);
    withdrawn.extend(
        decoded
            .mp_unreach
            .iter()
            .flat_map(|u| &u.withdrawn)
            .map(Route::from),
    );
    let mut announced: Vec<_> = lenient_ipv4_nlri(nlri_field, msg.add_path)
        .into_iter()
        .map(|r| (r, body_next_hop))
        .collect();
    announced.extend(
        decoded
            .mp_reach
            .iter()
            .flat_map(|r| &r.nlri)
            .map(|n| (Route::from(n), mp_next_hop)),
    );
    Some(Routes {
        attrs: decoded.attributes,
        withdrawn,
        announced,
    })
}

fn lenient_ipv4_nlri(mut field: &[u8], add_path: bool) -> Vec<Route> {
    let mut routes = Vec::new();
    loop {
        let path_id = if add_path {
            let Some((id, rest)) = field.split_first_chunk::<4>() else {
                break;
            };
            field = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let Some((&len, rest)) = field.split_first() else {
            break;
        };
        let octets = usize::from(len).div_ceil(8);
        if len > 32 || rest.len() < octets {
            break;
        }
        let mut addr = [0u8; 4];
        addr[..octets].copy_from_slice(&rest[..octets]);
        routes.push(Route {
            prefix: format!("{}/{len}", Ipv4Addr::from(addr)),
            path_id,
        });
        field = &rest[octets..];
    }
    routes
}

fn next_hop_ip(next_hop: &NextHop) -> IpAddr {
    match *next_hop {
        NextHop::V4(a) => IpAddr::V4(a),
        NextHop::V6 { global, .. } => IpAddr::V6(global),
    }
}

fn format_rib(
    header: &MrtHeader,
    rib: &RibRecord,
    peers: &[PeerEntry],
    file: &str,
    lines: &mut String,
) {
    let label = if rib.add_path {
        "TABLE_DUMP2_AP"
    } else {
        "TABLE_DUMP2"
    };
    let prefix = rib.prefix.to_string();
    for entry in &rib.entries {
        let Some(peer) = peers.get(usize::from(entry.peer_index)) else {
            eprintln!(
                "mrtdump: {file}: RIB entry for {} names peer {} beyond the peer index table",
                rib.prefix, entry.peer_index
            );
            continue;
        };
        let decoded = match entry.decode_attributes(rib.family) {
            Ok(decoded) => decoded,
            Err(e) => {
                eprintln!("mrtdump: {file}: RIB entry for {}: {e}", rib.prefix);
                continue;
            }
        };
        let next_hop = decoded
            .mp_reach
            .as_ref()
            .map(|r| next_hop_ip(&r.next_hop))
            .or(decoded.attributes.next_hop.map(IpAddr::V4));
        let route = Route {
            prefix: prefix.clone(),
            path_id: entry.path_id,
        };
        let _ = write!(
            lines,
            "{label}|{}|B|{}|{}|",
            header.timestamp, peer.ip, peer.asn
        );
        route_fields(lines, &route, rib.add_path, &decoded.attributes, next_hop);
    }
}

fn format_table_dump(header: &MrtHeader, entry: &TableDump, file: &str, lines: &mut String) {
    let decoded = match entry.decode_attributes() {
        Ok(decoded) => decoded,
        Err(e) => {
            eprintln!(
                "mrtdump: {file}: TABLE_DUMP entry for {}: {e}",
                entry.prefix
            );
            return;
        }
    };
    let next_hop = decoded
        .mp_reach
        .as_ref()
        .map(|r| next_hop_ip(&r.next_hop))
        .or(decoded.attributes.next_hop.map(IpAddr::V4));
    let mut attrs = decoded.attributes;
    attrs.reconstruct_as4();
    let route = Route {
        prefix: entry.prefix.to_string(),
        path_id: None,
    };
    let _ = write!(
        lines,
        "TABLE_DUMP|{}|B|{}|{}|",
        header.timestamp, entry.peer_ip, entry.peer_as
    );
    route_fields(lines, &route, false, &attrs, next_hop);
}

/// `<prefix>|[<path id>|]<as path>|<origin>|<next hop>|<local pref>|<med>|<communities>|<AG or
/// NAG>|<aggregator>|` and the newline.
fn route_fields(
    lines: &mut String,
    route: &Route,
    add_path: bool,
    attrs: &PathAttributes,
    next_hop: Option<IpAddr>,
) {
    let _ = write!(lines, "{}|", route.prefix);
    if add_path {
        let _ = write!(lines, "{}|", route.path_id.unwrap_or(0));
    }
    if let Some(path) = &attrs.as_path {
        let _ = write!(lines, "{path}");
    }
    let origin = match attrs.origin {
        Some(Origin::Igp) => "IGP",
        Some(Origin::Egp) => "EGP",
        Some(Origin::Incomplete) | None => "INCOMPLETE",
    };
    let _ = write!(
        lines,
        "|{origin}|{}|{}|{}|",
        next_hop.unwrap_or(NO_NEXT_HOP),
        attrs.local_pref.unwrap_or(0),
        attrs.med.unwrap_or(0),
    );
    for (i, c) in attrs.communities.iter().enumerate() {
        if i > 0 {
            lines.push(' ');
        }
        match *c {
            Community::NO_EXPORT => lines.push_str("no-export"),
            Community::NO_ADVERTISE => lines.push_str("no-advertise"),
            Community::NO_EXPORT_SUBCONFED => lines.push_str("local-AS"),
            other => {
                let _ = write!(lines, "{other}");
            }
        }
    }
    lines.push_str(if attrs.atomic_aggregate {
        "|AG|"
    } else {
        "|NAG|"
    });
    if let Some(agg) = attrs.aggregator {
        let _ = write!(lines, "{} {}", agg.asn, agg.address);
    }
    lines.push_str("|\n");
}
