//! `speakerd decode`: MRT files, BMP recordings or hex BGP messages to JSON lines, for scripts
//! and for looking at what a peer sent.

use std::collections::BTreeMap;

use bgp_proto::bmp::{
    frame_len, BmpMessage, BmpReader, InfoTlv, PeerDownReason, PeerHeader, StatValue,
};
use bgp_proto::mrt::{Bgp4mp, MrtBody, MrtReader, TableDumpV2};
use bgp_proto::{Message, NextHop, PathAttributes, SessionContext};
use bytes::Bytes;
use serde_json::{json, Value};
use thiserror::Error;

/// Why input could not be decoded at all (single bad messages become JSON error lines).
#[derive(Debug, Error)]
pub enum DecodeInputError {
    /// The file could not be read.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The hex text is not hex.
    #[error("not hex: {0}")]
    Hex(String),
}

/// The JSON form of path attributes.
pub fn attributes_json(a: &PathAttributes) -> Value {
    json!({
        "origin": a.origin.map(|o| format!("{o:?}").to_lowercase()),
        "as_path": a.as_path.as_ref().map(|p| p.to_string()),
        "next_hop": a.next_hop,
        "med": a.med,
        "local_pref": a.local_pref,
        "atomic_aggregate": a.atomic_aggregate,
        "aggregator": a.aggregator.map(|g| format!("{} {}", g.asn, g.address)),
        "communities": a.communities.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "large_communities": a.large_communities.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "extended_communities": a.extended_communities.iter().map(|c| c.0.iter().map(|b| format!("{b:02x}")).collect::<String>()).collect::<Vec<_>>(),
        "originator_id": a.originator_id,
        "cluster_list": a.cluster_list,
        "as4_path": a.as4_path.as_ref().map(|p| p.to_string()),
        "only_to_customer": a.only_to_customer,
        "unknown": a.raw.iter().map(|r| json!({"type": r.type_code, "flags": r.flags, "length": r.value.len()})).collect::<Vec<_>>(),
    })
}

fn next_hop_json(nh: &NextHop) -> Value {
    match nh {
        NextHop::V4(a) => json!(a),
        NextHop::V6 { global, link_local } => json!({"global": global, "link_local": link_local}),
    }
}

/// The JSON form of a message.
pub fn message_json(message: &Message) -> Value {
    match message {
        Message::Open(o) => json!({
            "type": "OPEN", "version": o.version, "asn": o.asn(), "hold_time": o.hold_time,
            "bgp_id": o.bgp_id, "capabilities": o.capabilities.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>(),
        }),
        Message::Update(u) => {
            let announced: Vec<String> = u.announced().map(|(_, n)| n.to_string()).collect();
            let withdrawn: Vec<String> = u.withdrawals().map(|(_, n)| n.to_string()).collect();
            json!({
                "type": "UPDATE",
                "announced": announced,
                "withdrawn": withdrawn,
                "mp_next_hop": u.mp_reach.as_ref().map(|r| next_hop_json(&r.next_hop)),
                "end_of_rib": u.end_of_rib_family().map(|f| f.to_string()),
                "attributes": attributes_json(&u.attributes),
                "treat_as_withdraw": u.treat_as_withdraw.as_ref().map(|e| e.to_string()),
                "discarded": u.discarded.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            })
        }
        Message::Notification(n) => json!({
            "type": "NOTIFICATION", "code": n.code, "subcode": n.subcode, "text": n.to_string(),
            "shutdown_message": n.shutdown_message(),
        }),
        Message::Keepalive => json!({"type": "KEEPALIVE"}),
        Message::RouteRefresh(r) => {
            json!({"type": "ROUTE-REFRESH", "family": r.family.to_string(), "subtype": r.subtype})
        }
    }
}

/// Prints every record of an MRT file as one JSON line.
pub fn mrt(path: &str) -> Result<(), DecodeInputError> {
    let data = std::fs::read(path).map_err(|e| DecodeInputError::Io(path.to_string(), e))?;
    for record in MrtReader::new(Bytes::from(data)) {
        let line = match record {
            Err(e) => json!({"error": e.to_string()}),
            Ok(record) => {
                let time = record.header.timestamp;
                match record.body {
                    MrtBody::Bgp4mp(Bgp4mp::StateChange {
                        peers,
                        old_state,
                        new_state,
                    }) => json!({
                        "time": time, "peer": peers.peer_ip, "peer_as": peers.peer_as, "old_state": old_state, "new_state": new_state,
                    }),
                    MrtBody::Bgp4mp(Bgp4mp::Message(m)) => json!({
                        "time": time, "peer": m.peers.peer_ip, "peer_as": m.peers.peer_as, "local": m.local,
                        "message": match &m.message { Ok(msg) => message_json(msg), Err(e) => json!({"error": e.to_string()}) },
                    }),
                    MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(t)) => {
                        json!({"time": time, "peer_index_table": format!("{t:?}")})
                    }
                    MrtBody::TableDumpV2(TableDumpV2::Rib(rib)) => json!({
                        "time": time, "prefix": rib.prefix.to_string(),
                        "paths": rib.entries.iter().map(|e| match e.decode_attributes(rib.family) {
                            Ok(d) => json!({"peer_index": e.peer_index, "path_id": e.path_id, "attributes": attributes_json(&d.attributes),
                                "mp_next_hop": d.mp_reach.as_ref().map(|r| next_hop_json(&r.next_hop))}),
                            Err(err) => json!({"peer_index": e.peer_index, "error": err.to_string()}),
                        }).collect::<Vec<_>>(),
                    }),
                    MrtBody::TableDump(t) => json!({
                        "time": time, "prefix": t.prefix.to_string(), "peer": t.peer_ip, "peer_as": t.peer_as,
                        "originated_time": t.originated_time,
                        "path": match t.decode_attributes() {
                            Ok(mut d) => {
                                d.attributes.reconstruct_as4();
                                json!({"attributes": attributes_json(&d.attributes),
                                    "mp_next_hop": d.mp_reach.as_ref().map(|r| next_hop_json(&r.next_hop))})
                            }
                            Err(err) => json!({"error": err.to_string()}),
                        },
                    }),
                    MrtBody::Unknown(body) => {
                        json!({"time": time, "type": record.header.mrt_type, "subtype": record.header.subtype, "length": body.len()})
                    }
                }
            }
        };
        println!("{line}");
    }
    Ok(())
}

/// Decodes hex messages (whole messages, marker included; whitespace ignored).
pub fn hex(messages: &[String], ctx: &SessionContext) -> Result<(), DecodeInputError> {
    for text in messages {
        let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if clean.len() % 2 != 0 {
            return Err(DecodeInputError::Hex(text.clone()));
        }
        let bytes = (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| DecodeInputError::Hex(text.clone()))?;
        let line = match Message::decode(Bytes::from(bytes), ctx) {
            Ok(m) => message_json(&m),
            Err(e) => {
                json!({"error": e.to_string(), "notification": e.to_notification().to_string()})
            }
        };
        println!("{line}");
    }
    Ok(())
}

/// Prints every message of a BMP recording (the octets of a BMP session, RFC 7854 §3.2, one
/// message after the other) as one JSON line. The BGP messages inside are decoded too, an
/// UPDATE with the context its peer's Peer Up (RFC 7854 §4.10) gives: 4-octet AS, extended
/// messages and ADD-PATH as both OPENs negotiated; before any Peer Up, the A flag of the
/// per-peer header (§4.2) says whether AS numbers have 2 octets. A message that does not decode
/// is printed as an error line with its offset, and the rest of the file, which cannot be framed
/// after it, is not read.
pub fn bmp(path: &str) -> Result<(), DecodeInputError> {
    let data = std::fs::read(path).map_err(|e| DecodeInputError::Io(path.to_string(), e))?;
    let data = Bytes::from(data);
    let mut contexts = BTreeMap::new();
    let mut offset = 0;
    for message in BmpReader::new(data.clone()) {
        let line = match message {
            Ok(m) => {
                let line = bmp_json(&m, &mut contexts);
                offset += frame_len(&data[offset..]).ok().flatten().unwrap_or(0);
                line
            }
            Err(e) => json!({"error": e.to_string(), "offset": offset}),
        };
        println!("{line}");
    }
    Ok(())
}

/// Where a peer's session context is kept: its distinguisher and address (RFC 7854 §4.2).
type PeerKey = (u64, std::net::IpAddr);

fn embedded_json(bytes: &Bytes, ctx: &SessionContext) -> Value {
    match Message::decode(bytes.clone(), ctx) {
        Ok(m) => message_json(&m),
        Err(e) => json!({"error": e.to_string(), "length": bytes.len()}),
    }
}

fn peer_json(p: &PeerHeader) -> Value {
    json!({
        "type": p.peer_type, "flags": p.flags, "distinguisher": p.distinguisher,
        "address": p.address, "asn": p.asn, "bgp_id": p.bgp_id,
        "time": format!("{}.{:06}", p.seconds, p.micros),
        "ipv6": p.ipv6(), "post_policy": p.post_policy(), "two_octet_as": p.two_octet_as(),
    })
}

fn tlvs_json(tlvs: &[InfoTlv]) -> Value {
    tlvs.iter()
        .map(|t| match t.as_text() {
            Some(text) => json!({"type": t.kind, "text": text}),
            None => json!({"type": t.kind, "hex": hex_of(&t.value)}),
        })
        .collect()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON form of a BMP message (RFC 7854 §4); a Peer Up records its peer's context in
/// `contexts` for the UPDATEs that follow.
fn bmp_json(m: &BmpMessage, contexts: &mut BTreeMap<PeerKey, SessionContext>) -> Value {
    let open_ctx = SessionContext::modern_ebgp();
    let context_of = |p: &PeerHeader, contexts: &BTreeMap<PeerKey, SessionContext>| {
        contexts
            .get(&(p.distinguisher, p.address))
            .copied()
            .unwrap_or(SessionContext {
                four_octet_as: !p.two_octet_as(),
                extended_message: true,
                ..SessionContext::modern_ebgp()
            })
    };
    match m {
        BmpMessage::RouteMonitoring { peer, update } => json!({
            "type": "route_monitoring", "peer": peer_json(peer),
            "update": embedded_json(update, &context_of(peer, contexts)),
        }),
        BmpMessage::StatisticsReport { peer, stats } => json!({
            "type": "statistics_report", "peer": peer_json(peer),
            "stats": stats.iter().map(|s| match &s.value {
                StatValue::Counter(v) => json!({"type": s.kind, "counter": v}),
                StatValue::Gauge(v) => json!({"type": s.kind, "gauge": v}),
                StatValue::FamilyGauge { afi, safi, value } => {
                    json!({"type": s.kind, "afi": afi, "safi": safi, "gauge": value})
                }
                StatValue::Other(raw) => json!({"type": s.kind, "hex": hex_of(raw)}),
            }).collect::<Vec<_>>(),
        }),
        BmpMessage::PeerDown { peer, reason } => {
            let detail = match reason {
                PeerDownReason::LocalNotification(n) | PeerDownReason::RemoteNotification(n) => {
                    json!({"notification": embedded_json(n, &open_ctx)})
                }
                PeerDownReason::LocalNoNotification { fsm_event } => {
                    json!({"fsm_event": fsm_event})
                }
                PeerDownReason::Other { data, .. } => json!({"hex": hex_of(data)}),
                PeerDownReason::RemoteNoNotification | PeerDownReason::Deconfigured => json!({}),
            };
            contexts.remove(&(peer.distinguisher, peer.address));
            json!({"type": "peer_down", "peer": peer_json(peer), "reason": reason.code(), "detail": detail})
        }
        BmpMessage::PeerUp { peer, up } => {
            let sent = Message::decode(up.sent_open.clone(), &open_ctx);
            let received = Message::decode(up.received_open.clone(), &open_ctx);
            if let (Ok(Message::Open(s)), Ok(Message::Open(r))) = (&sent, &received) {
                // The peer (its OPEN received) sends the monitored router (its OPEN sent).
                let mut ctx = SessionContext::of_opens(r, s);
                ctx.four_octet_as &= !peer.two_octet_as();
                contexts.insert((peer.distinguisher, peer.address), ctx);
            }
            json!({
                "type": "peer_up", "peer": peer_json(peer),
                "local_address": up.local_address, "local_port": up.local_port,
                "remote_port": up.remote_port,
                "sent_open": embedded_json(&up.sent_open, &open_ctx),
                "received_open": embedded_json(&up.received_open, &open_ctx),
                "information": tlvs_json(&up.information),
            })
        }
        BmpMessage::Initiation(tlvs) => {
            json!({"type": "initiation", "information": tlvs_json(tlvs)})
        }
        BmpMessage::Termination(tlvs) => {
            json!({"type": "termination", "information": tlvs_json(tlvs)})
        }
        BmpMessage::RouteMirroring { peer, tlvs } => json!({
            "type": "route_mirroring", "peer": peer_json(peer), "tlvs": tlvs_json(tlvs),
        }),
        BmpMessage::Unknown { kind, body } => json!({"type": kind, "length": body.len()}),
    }
}
