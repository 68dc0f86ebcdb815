//! `speakerd decode`: MRT files or hex BGP messages to JSON lines, for scripts and for looking
//! at what a peer sent.

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
