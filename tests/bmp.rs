//! BMP export (RFC 7854) end to end: BIRD announces IPv4 and IPv6 routes to speakerd, speakerd
//! exports to a collector (`tests/wire/bmp_collector.py`, which records the raw octets), and
//! the recording is decoded twice, with bgp-proto's `BmpReader` and with tshark's BMP dissector
//! on a tcpdump capture of the same connections; both must agree, and what they say must be
//! what speakerd's RIB holds. A second test takes the collector away, then makes it stop reading
//! during a burst of BIRD routes: BGP carries on, the drops are counted, and the collector that
//! reads again gets the whole state. Run as root (CI does).
//!
//! Addressing: speakerd 198.18.0.1 / 2001:db8::1 (AS 4200000001) facing BIRD 198.18.0.2 /
//! 2001:db8::2 (AS 4200000002); the collector 198.18.1.2 port 5000, speakerd 198.18.1.1 on
//! that link. BIRD announces from 198.19.100.0/24 and 2001:db8:2001::/48.

#[path = "lab/mod.rs"]
mod lab;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bgp_proto::bmp::{
    frame_len, info_type, peer_flags, stat_type, termination_type, BmpMessage, PeerDownReason,
    StatValue,
};
use bgp_proto::{Message, SessionContext};
use bytes::Bytes;
use lab::{require, run, wait_for, Bird, Lab};
use serde_json::Value;

const SD_AS: u32 = 4_200_000_001;
const PEER_AS: u32 = 4_200_000_002;
const UP: Duration = Duration::from_secs(30);
const SPEAKERD: &str = env!("CARGO_BIN_EXE_speakerd");
const TCPDUMP: &str = "/usr/bin/tcpdump";
const TSHARK: &str = "/usr/bin/tshark";
const COLLECTOR: &str = "198.18.1.2";
const PORT: u16 = 5000;
const V4_ROUTES: [&str; 3] = ["198.19.100.0/24", "198.19.101.0/24", "198.19.102.128/25"];
const V6_ROUTES: [&str; 2] = ["2001:db8:2001::/48", "2001:db8:2002::/64"];

/// speakerd, BIRD and the collector's namespaces, linked.
struct Net {
    lab: Lab,
    sd: String,
    peer: String,
    col: String,
}

fn net(test: &str) -> Net {
    let mut lab = Lab::new(test);
    let (sd, peer) = lab.pair();
    let col = lab.ns("col");
    lab.link(
        &sd,
        "eth1",
        &["198.18.1.1/24"],
        &col,
        "eth0",
        &["198.18.1.2/24"],
    );
    Net { lab, sd, peer, col }
}

/// BIRD's configuration: static routes (`extra` more IPv4 ones, each with its own MED so that
/// each goes in an UPDATE of its own), an IPv4 session and, with `v6`, an IPv6 one.
fn bird_conf(extra: usize, v6: bool) -> String {
    let mut v4: String = V4_ROUTES
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    for i in 0..extra {
        v4 += &format!(
            "  route 198.19.{}.{}/32 blackhole {{ bgp_med = {i}; }};\n",
            i / 256,
            i % 256
        );
    }
    let v6_routes: String = V6_ROUTES
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    let session = |name: &str, local: &str, neighbor: &str, channel: &str| {
        format!(
            "protocol bgp {name} {{\n  local {local} as {PEER_AS};\n  neighbor {neighbor} as {SD_AS};\n\
             hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
             error wait time 1,2;\n  {channel} {{ import none; export all; }};\n}}\n"
        )
    };
    let mut conf = format!(
        "log stderr all;\nrouter id 198.18.0.2;\nprotocol device {{}}\n\
         protocol static v4 {{\n  ipv4;\n{v4}}}\n{}",
        session("sd4", "198.18.0.2", "198.18.0.1", "ipv4"),
    );
    if v6 {
        conf += &format!(
            "protocol static v6 {{\n  ipv6;\n{v6_routes}}}\n{}",
            session("sd6", "2001:db8::2", "2001:db8::1", "ipv6")
        );
    }
    conf
}

/// speakerd's configuration: the neighbours (the IPv4 one with soft reconfiguration inbound
/// when `soft`) and the collector.
fn speakerd_conf(v6: bool, soft: bool, bmp: &str) -> String {
    let neighbor = |address: &str, local: &str, family: &str, extra: &str| {
        format!(
            "[[neighbor]]\naddress = \"{address}\"\nremote_asn = {PEER_AS}\nlocal_address = \"{local}\"\n\
             hold_time = 9\nconnect_retry_time = 2\nfamilies = [\"{family}\"]\n\
             import = [\"accept-all\"]\nexport = [\"accept-all\"]\n{extra}\n"
        )
    };
    let soft = if soft {
        "soft_reconfiguration_inbound = true"
    } else {
        ""
    };
    let mut conf = format!(
        "[global]\nasn = {SD_AS}\nrouter_id = \"198.18.0.1\"\n\n[[bmp]]\naddress = \"{COLLECTOR}\"\n\
         port = {PORT}\n{bmp}\n\n{}",
        neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", soft),
    );
    if v6 {
        conf += &neighbor("2001:db8::2", "2001:db8::1", "ipv6-unicast", "");
    }
    conf
}

/// Starts a collector named `name` in `ns` recording into `dir` (see bmp_collector.py).
fn collector(lab: &mut Lab, name: &str, ns: &str, stall: bool) -> PathBuf {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/wire/bmp_collector.py"
    );
    let dir = lab.dir().join(name);
    let dir_s = dir.to_str().unwrap().to_string();
    let port = PORT.to_string();
    let mut args = vec![script, COLLECTOR, &port, &dir_s];
    if stall {
        args.push("--stall");
    }
    lab.spawn(name, ns, "python3", &args, &[]);
    wait_for(
        &format!("{name} listening"),
        Duration::from_secs(10),
        || {
            if dir.join("ready").exists() {
                Ok(())
            } else {
                Err(lab.log(name))
            }
        },
    );
    dir
}

/// The whole messages recorded on connection `n` of the collector in `dir` (a message still
/// arriving at the end is left out); a malformed one fails the test.
fn recorded(dir: &Path, n: usize) -> Vec<BmpMessage> {
    let data = std::fs::read(dir.join(format!("conn-{n}.bin"))).unwrap_or_default();
    let mut whole = 0;
    while let Some(len) = frame_len(&data[whole..]).expect("a BMP common header") {
        if whole + len > data.len() {
            break;
        }
        whole += len;
    }
    bgp_proto::bmp::BmpReader::new(Bytes::from(data).slice(..whole))
        .map(|m| m.unwrap_or_else(|e| panic!("connection {n}: {e}")))
        .collect()
}

/// The context of the UPDATEs a per-peer header announces (A flag: 2-octet AS numbers).
fn context(two_octet_as: bool) -> SessionContext {
    SessionContext {
        four_octet_as: !two_octet_as,
        extended_message: true,
        ..SessionContext::modern_ebgp()
    }
}

fn bgp(bytes: &Bytes, two_octet_as: bool) -> Message {
    Message::decode(bytes.clone(), &context(two_octet_as))
        .unwrap_or_else(|e| panic!("embedded BGP message: {e}"))
}

/// The prefixes the Route Monitoring messages of `peer` say it holds: announcements minus
/// withdrawals, in order, for the pre- or post-policy view (L flag); and the families whose
/// End-of-RIB came.
fn monitored(
    messages: &[BmpMessage],
    peer: IpAddr,
    post_policy: bool,
) -> (BTreeSet<String>, Vec<String>) {
    let mut held = BTreeSet::new();
    let mut eors = Vec::new();
    for m in messages {
        match m {
            BmpMessage::RouteMonitoring { peer: p, update }
                if p.address == peer && p.post_policy() == post_policy =>
            {
                let Message::Update(u) = bgp(update, p.two_octet_as()) else {
                    panic!("route monitoring of a message other than UPDATE");
                };
                if let Some(family) = u.end_of_rib_family() {
                    eors.push(family.to_string());
                }
                for (_, n) in u.withdrawals() {
                    held.remove(&n.prefix.to_string());
                }
                for (_, n) in u.announced() {
                    held.insert(n.prefix.to_string());
                }
            }
            // A session that went down holds nothing (RFC 7854 §4.9).
            BmpMessage::PeerDown { peer: p, .. } if p.address == peer => held.clear(),
            _ => {}
        }
    }
    (held, eors)
}

/// The prefixes `speakerd show routes --json` lists from each neighbour.
fn shown(lab: &Lab, sd: &str) -> BTreeMap<String, BTreeSet<String>> {
    let routes = lab.show(sd, &["routes"]).expect("show routes");
    let mut by = BTreeMap::<String, BTreeSet<String>>::new();
    for r in routes.as_array().expect("a list of routes") {
        let from = r["from"].as_str().unwrap_or("local").to_string();
        let prefix = r["prefix"].as_str().expect("prefix").to_string();
        by.entry(from).or_default().insert(prefix);
    }
    by
}

/// A short form of a message for comparing with tshark: type, peer address, AS and BGP ID,
/// Peer Down reason.
type Summary = (u8, Option<String>, Option<u32>, Option<String>, Option<u8>);

fn summary(m: &BmpMessage) -> Summary {
    let peer = m.peer();
    let reason = match m {
        BmpMessage::PeerDown { reason, .. } => Some(reason.code()),
        _ => None,
    };
    (
        m.message_type(),
        peer.map(|p| p.address.to_string()),
        peer.map(|p| p.asn),
        peer.map(|p| p.bgp_id.to_string()),
        reason,
    )
}

/// The first value of `key` anywhere under `v` (tshark's JSON nests fields in subtrees).
fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|c| find(c, key))),
        Value::Array(items) => items.iter().find_map(|c| find(c, key)),
        _ => None,
    }
    .map(|v| match v {
        Value::Array(items) => items.first().unwrap_or(v),
        other => other,
    })
}

/// What tshark's BMP dissector reads in capture `cap`, message by message, by TCP stream
/// (tshark's `tcp.stream`, one per connection, from 0).
fn tshark(cap: &Path) -> BTreeMap<u32, Vec<Summary>> {
    let decode_as = format!("tcp.port=={PORT},bmp");
    let out = run(
        TSHARK,
        &[
            "-r",
            cap.to_str().unwrap(),
            "-d",
            &decode_as,
            "-T",
            "json",
            "--no-duplicate-keys",
        ],
    );
    assert!(out.status.success(), "tshark: {out:?}");
    let frames: Value = serde_json::from_slice(&out.stdout).expect("tshark JSON");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut all = BTreeMap::<u32, Vec<Summary>>::new();
    for frame in frames.as_array().expect("frames") {
        let layers = &frame["_source"]["layers"];
        let bmp = &layers["bmp"];
        let stream = text(find(&layers["tcp"], "tcp.stream")).map(|s| s.parse().unwrap());
        let messages = match bmp {
            Value::Null => continue,
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        for m in &messages {
            let kind = text(find(m, "bmp.type")).expect("bmp.type");
            let address = text(find(m, "bmp.peer.ip.addr")).or(text(find(m, "bmp.peer.ipv6.addr")));
            let number = |key: &str| text(find(m, key)).map(|s| s.parse::<u32>().unwrap());
            all.entry(stream.expect("tcp.stream")).or_default().push((
                kind.parse().unwrap(),
                address,
                number("bmp.peer.asn"),
                text(find(m, "bmp.peer.id")),
                number("bmp.peer.down.reason").map(|r| r as u8),
            ));
        }
    }
    all
}

/// Starts tcpdump on `ns`'s eth0 writing the collector's port to `<dir>/bmp.pcap`.
fn capture(lab: &mut Lab, ns: &str) -> PathBuf {
    let cap = lab.dir().join("bmp.pcap");
    let filter = format!("tcp port {PORT}");
    let cap_s = cap.to_str().unwrap().to_string();
    lab.spawn(
        "tcpdump",
        ns,
        TCPDUMP,
        &["-i", "eth0", "-U", "-n", "-w", &cap_s, &filter],
        &[],
    );
    wait_for("tcpdump listening", Duration::from_secs(10), || {
        let log = lab.log("tcpdump");
        if log.contains("listening on") {
            Ok(())
        } else {
            Err(log)
        }
    });
    cap
}

fn wait_established(lab: &Lab, bird: &Bird, sd: &str, protos: &[(&str, &str)]) {
    for (proto, address) in protos {
        wait_for(&format!("BIRD's {proto} Established"), UP, || {
            bird.established(proto)
        });
        wait_for(&format!("speakerd's {address} Established"), UP, || {
            lab.speakerd_established(sd, address)
        });
    }
}

/// The Peer Ups of `messages` by peer address.
fn peer_ups(messages: &[BmpMessage]) -> Vec<(IpAddr, &bgp_proto::bmp::PeerUp, bool)> {
    messages
        .iter()
        .filter_map(|m| match m {
            BmpMessage::PeerUp { peer, up } => Some((peer.address, up, peer.two_octet_as())),
            _ => None,
        })
        .collect()
}

/// Checks a Peer Up of BIRD's session from `address`: the per-peer header and both OPENs.
fn check_peer_up(messages: &[BmpMessage], address: &str, local: &str) {
    let address: IpAddr = address.parse().unwrap();
    let (peer, up) = messages
        .iter()
        .find_map(|m| match m {
            BmpMessage::PeerUp { peer, up } if peer.address == address => Some((peer, up)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Peer Up for {address}"));
    assert_eq!(peer.asn, PEER_AS, "{peer:?}");
    assert_eq!(peer.bgp_id.to_string(), "198.18.0.2", "{peer:?}");
    assert_eq!(peer.ipv6(), address.is_ipv6(), "{peer:?}");
    assert!(!peer.two_octet_as(), "both sides have 4-octet AS: {peer:?}");
    assert_eq!(up.local_address.to_string(), local, "{up:?}");
    assert!(
        (up.local_port == 179) != (up.remote_port == 179)
            && up.local_port != 0
            && up.remote_port != 0,
        "one end of a BGP connection is port 179: {up:?}"
    );
    let Message::Open(received) = bgp(&up.received_open, false) else {
        panic!("received OPEN is no OPEN");
    };
    assert_eq!(
        (received.asn(), received.bgp_id.to_string()),
        (PEER_AS, "198.18.0.2".into())
    );
    let Message::Open(sent) = bgp(&up.sent_open, false) else {
        panic!("sent OPEN is no OPEN");
    };
    assert_eq!(
        (sent.asn(), sent.bgp_id.to_string()),
        (SD_AS, "198.18.0.1".into())
    );
}

/// A Statistics Report's Adj-RIB-In gauge and its per-family gauges (AFI, SAFI, routes).
type RibGauges = (u64, Vec<(u16, u8, u64)>);

/// The last Statistics Report of `peer`: its Adj-RIB-In gauge and per-family gauges.
fn last_statistics(messages: &[BmpMessage], peer: IpAddr) -> Option<RibGauges> {
    messages.iter().rev().find_map(|m| match m {
        BmpMessage::StatisticsReport { peer: p, stats } if p.address == peer => {
            let mut all = None;
            let mut families = Vec::new();
            for s in stats {
                match (&s.value, s.kind) {
                    (StatValue::Gauge(n), stat_type::ADJ_RIB_IN_ROUTES) => all = Some(*n),
                    (
                        StatValue::FamilyGauge { afi, safi, value },
                        stat_type::ADJ_RIB_IN_ROUTES_PER_FAMILY,
                    ) => families.push((*afi, *safi, *value)),
                    _ => {}
                }
            }
            Some((all?, families))
        }
        _ => None,
    })
}

/// speakerd's log and the collector's recording when a check fails.
fn context_of(messages: &[BmpMessage]) -> String {
    messages
        .iter()
        .map(|m| format!("{:?}", summary(m)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn export_agrees_with_the_rib_and_with_tshark() {
    require(TCPDUMP);
    require(TSHARK);
    let Net {
        mut lab,
        sd,
        peer,
        col,
    } = net("bmp_export");
    let cap = capture(&mut lab, &col);
    let first = collector(&mut lab, "collector", &col, false);
    let mut bird = lab.bird("bird", &peer, &bird_conf(0, true));
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(true, true, "statistics_interval = 1"),
    );
    let sessions = [("sd4", "198.18.0.2"), ("sd6", "2001:db8::2")];
    wait_established(&lab, &bird, &sd, &sessions);
    let v4: IpAddr = "198.18.0.2".parse().unwrap();
    let v6: IpAddr = "2001:db8::2".parse().unwrap();
    let expected = |peer: IpAddr| -> BTreeSet<String> {
        let routes: &[&str] = if peer.is_ipv6() {
            &V6_ROUTES
        } else {
            &V4_ROUTES
        };
        routes.iter().map(|r| r.to_string()).collect()
    };
    let rib = wait_for("BIRD's routes in speakerd's RIB", UP, || {
        let rib = shown(&lab, &sd);
        for peer in [v4, v6] {
            if rib.get(&peer.to_string()) != Some(&expected(peer)) {
                return Err(format!("{rib:?}"));
            }
        }
        Ok(rib)
    });
    // Live Route Monitoring (pre-policy) of every UPDATE, then Statistics Reports that count
    // what the RIB holds.
    let messages = wait_for("the routes and statistics at the collector", UP, || {
        let messages = recorded(&first, 1);
        for peer in [v4, v6] {
            let (held, _) = monitored(&messages, peer, false);
            if Some(&held) != rib.get(&peer.to_string()) {
                return Err(format!("{peer}: {held:?}\n{}", context_of(&messages)));
            }
            let family = if peer.is_ipv6() { 2 } else { 1 };
            let n = expected(peer).len() as u64;
            if last_statistics(&messages, peer) != Some((n, vec![(family, 1, n)])) {
                return Err(format!("{peer}: {:?}", last_statistics(&messages, peer)));
            }
        }
        Ok(messages)
    });
    let BmpMessage::Initiation(tlvs) = &messages[0] else {
        panic!("the first message is not Initiation: {:?}", messages[0]);
    };
    let tlv = |kind: u16| {
        tlvs.iter()
            .find(|t| t.kind == kind)
            .and_then(|t| t.as_text())
            .unwrap_or_else(|| panic!("Initiation without TLV {kind}: {tlvs:?}"))
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(tlv(info_type::SYS_NAME), host.trim());
    let descr = tlv(info_type::SYS_DESCR);
    assert!(
        descr.starts_with("speakerd ")
            && descr.contains("198.18.0.1")
            && descr.contains("4200000001"),
        "{descr}"
    );
    check_peer_up(&messages, "198.18.0.2", "198.18.0.1");
    check_peer_up(&messages, "2001:db8::2", "2001:db8::1");
    // Each peer's Route Monitoring comes after its Peer Up; nothing is post-policy (no dump:
    // the collector was there before the sessions).
    for peer in [v4, v6] {
        let up = messages
            .iter()
            .position(|m| matches!(m, BmpMessage::PeerUp { peer: p, .. } if p.address == peer));
        let rm = messages.iter().position(
            |m| matches!(m, BmpMessage::RouteMonitoring { peer: p, .. } if p.address == peer),
        );
        assert!(
            up < rm,
            "{peer}: Peer Up at {up:?}, Route Monitoring at {rm:?}"
        );
    }
    assert!(messages
        .iter()
        .filter_map(BmpMessage::peer)
        .all(|p| !p.post_policy() && p.flags & peer_flags::A == 0));

    // A second collector connection: Initiation, both Peer Ups and the dump, pre-policy for
    // the IPv4 neighbour (soft reconfiguration inbound), post-policy (L) for the IPv6 one,
    // each closed by an End-of-RIB.
    lab.stop("collector", "KILL");
    let second = collector(&mut lab, "collector2", &col, false);
    let again = wait_for("the dump at the second collector", UP, || {
        let m = recorded(&second, 1);
        let (v4_held, v4_eor) = monitored(&m, v4, false);
        let (v6_held, v6_eor) = monitored(&m, v6, true);
        if v4_eor == ["ipv4-unicast"] && v6_eor == ["ipv6-unicast"] {
            Ok((m, v4_held, v6_held))
        } else {
            Err(context_of(&m))
        }
    });
    let (m2, v4_held, v6_held) = again;
    assert!(matches!(m2[0], BmpMessage::Initiation(_)), "{:?}", m2[0]);
    assert!(matches!(m2[1], BmpMessage::PeerUp { .. }), "{:?}", m2[1]);
    assert!(matches!(m2[2], BmpMessage::PeerUp { .. }), "{:?}", m2[2]);
    check_peer_up(&m2, "198.18.0.2", "198.18.0.1");
    check_peer_up(&m2, "2001:db8::2", "2001:db8::1");
    assert_eq!(Some(&v4_held), rib.get("198.18.0.2"));
    assert_eq!(Some(&v6_held), rib.get("2001:db8::2"));

    // BIRD closes sd4 with Cease 6/2 (administrative shutdown): Peer Down reason 3 with that
    // NOTIFICATION; BIRD killed: reason 4 for sd6, no NOTIFICATION.
    bird.birdc(&["disable", "sd4"]);
    let down = |m: &[BmpMessage], peer: IpAddr| {
        m.iter()
            .rev()
            .find_map(|m| match m {
                BmpMessage::PeerDown { peer: p, reason } if p.address == peer => {
                    Some(reason.clone())
                }
                _ => None,
            })
            .ok_or_else(|| context_of(m))
    };
    let reason = wait_for("Peer Down of sd4", UP, || down(&recorded(&second, 1), v4));
    let PeerDownReason::RemoteNotification(n) = &reason else {
        panic!("sd4 disabled: {reason:?}");
    };
    let Message::Notification(n) = bgp(n, false) else {
        panic!("not a NOTIFICATION: {n:?}");
    };
    assert_eq!((n.code, n.subcode), (6, 2), "{n}");
    lab.stop("bird", "KILL");
    let reason = wait_for("Peer Down of sd6", UP, || down(&recorded(&second, 1), v6));
    assert_eq!(reason, PeerDownReason::RemoteNoNotification);

    // BIRD again: both sessions up; then speakerd stops: a Peer Down each (our Cease), then
    // Termination, then the end of the stream.
    bird = lab.bird("bird", &peer, &bird_conf(0, true));
    wait_established(&lab, &bird, &sd, &sessions);
    wait_for("the Peer Ups again", UP, || {
        let m = recorded(&second, 1);
        match peer_ups(&m).len() {
            4 => Ok(()),
            _ => Err(context_of(&m)),
        }
    });
    let status = lab.stop("speakerd", "TERM");
    assert!(status.success(), "speakerd: {status}");
    wait_for("the collector's connection closed", UP, || {
        if second.join("conn-1.closed").exists() {
            Ok(())
        } else {
            Err("open".into())
        }
    });
    let m2 = recorded(&second, 1);
    let Some(BmpMessage::Termination(tlvs)) = m2.last() else {
        panic!("the last message is not Termination: {:?}", m2.last());
    };
    let reason = tlvs
        .iter()
        .find(|t| t.kind == termination_type::REASON)
        .map(|t| t.value.to_vec());
    assert_eq!(
        reason,
        Some(vec![0, 0]),
        "administratively closed: {tlvs:?}"
    );
    for peer in [v4, v6] {
        let PeerDownReason::LocalNotification(n) = down(&m2, peer).unwrap() else {
            panic!("{peer} at shutdown:\n{}", context_of(&m2));
        };
        let Message::Notification(n) = bgp(&n, false) else {
            panic!("not a NOTIFICATION");
        };
        assert_eq!(n.code, 6, "{n}");
    }

    // tshark reads the same messages, in the same order, from the capture of both
    // connections; `speakerd decode --bmp` prints one line for each.
    // tcpdump has written the end of the second connection (speakerd's FIN) before it stops.
    wait_for("the end of the second connection captured", UP, || {
        let fin = run(
            TSHARK,
            &[
                "-r",
                cap.to_str().unwrap(),
                "-Y",
                "tcp.stream == 1 && tcp.flags.fin == 1 && ip.src == 198.18.1.1",
            ],
        );
        match String::from_utf8_lossy(&fin.stdout).lines().count() {
            0 => Err(format!("{fin:?}")),
            _ => Ok(()),
        }
    });
    lab.stop("tcpdump", "TERM");
    let theirs = tshark(&cap);
    assert_eq!(theirs.len(), 2, "two connections: {theirs:?}");
    // The first collector was killed: what it recorded is what came first on the wire, and
    // only Statistics Reports came after it (until speakerd found the connection gone).
    let ours: Vec<Summary> = recorded(&first, 1).iter().map(summary).collect();
    let (before, after) = theirs[&0].split_at(ours.len().min(theirs[&0].len()));
    assert_eq!(before, ours, "tshark (left) and BmpReader (right) differ");
    assert!(after.iter().all(|m| m.0 == 1), "after the kill: {after:?}");
    let ours: Vec<Summary> = m2.iter().map(summary).collect();
    assert_eq!(
        theirs[&1], ours,
        "tshark (left) and BmpReader (right) differ"
    );
    let out = run(
        SPEAKERD,
        &[
            "decode",
            "--bmp",
            second.join("conn-1.bin").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), m2.len());
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");
}

/// The sum of a BMP metric of the collector (and `labels`) at speakerd in `sd`.
fn collector_metric(lab: &Lab, sd: &str, name: &str, labels: &[&str]) -> f64 {
    let collector = format!("collector=\"{COLLECTOR}:{PORT}\"");
    let mut all = vec![collector.as_str()];
    all.extend_from_slice(labels);
    lab.metric(sd, name, &all).unwrap()
}

/// RFC 7854 §3.3 leaves a collector's pace to the router; ours never lets it slow BGP. No
/// collector at first: the session comes up and what BMP would have said is counted as
/// dropped (`disconnected`). Then a collector that accepts and never reads, while BIRD sends
/// 3,003 routes in as many UPDATEs: speakerd takes them all, the session never flaps, and the
/// collector, a whole queue behind, is disconnected (`queue_full`). A collector that reads
/// again gets the whole state: Initiation, the Peer Up and every route, closed by End-of-RIB.
#[test]
fn a_dead_or_stalled_collector_never_holds_bgp_back() {
    const EXTRA: usize = 3000;
    let Net {
        mut lab,
        sd,
        peer,
        col,
    } = net("bmp_stall");
    // BIRD's routes wait in a disabled static protocol until the collector stalls.
    let conf = bird_conf(EXTRA, false).replace(
        "protocol static v4 {\n  ipv4;\n",
        "protocol static v4 {\n  ipv4;\n  disabled;\n",
    );
    let bird = lab.bird("bird", &peer, &conf);
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(false, false, "queue = 100\nstatistics_interval = 0"),
    );
    wait_established(&lab, &bird, &sd, &[("sd4", "198.18.0.2")]);
    wait_for(
        "the Peer Up counted as dropped",
        UP,
        || match collector_metric(
            &lab,
            &sd,
            "bgp_bmp_messages_dropped_total",
            &["reason=\"disconnected\""],
        ) {
            n if n >= 1.0 => Ok(()),
            n => Err(format!("{n}")),
        },
    );
    assert_eq!(
        collector_metric(&lab, &sd, "bgp_bmp_collector_up", &[]),
        0.0
    );

    // The collector that never reads; speakerd's back-off reaches it within 30 s.
    let stalled = collector(&mut lab, "stalled", &col, true);
    wait_for(
        "speakerd connected to the stalled collector",
        UP * 2,
        || match collector_metric(&lab, &sd, "bgp_bmp_connections_total", &[]) {
            n if n >= 1.0 => Ok(()),
            n => Err(format!("{n} connections")),
        },
    );
    assert!(stalled.join("conn-1.bin").exists());
    bird.birdc(&["enable", "v4"]);
    let all = EXTRA + V4_ROUTES.len();
    wait_for("every route of BIRD in speakerd's RIB", UP, || {
        let accepted = lab
            .metric(
                &sd,
                "bgp_peer_prefixes_accepted",
                &["peer=\"198.18.0.2\"", "afi_safi=\"ipv4-unicast\""],
            )
            .unwrap();
        if accepted as usize == all {
            Ok(())
        } else {
            Err(format!("{accepted} of {all}"))
        }
    });
    wait_for(
        "the stalled collector disconnected as behind",
        UP,
        || match collector_metric(
            &lab,
            &sd,
            "bgp_bmp_messages_dropped_total",
            &["reason=\"queue_full\""],
        ) {
            n if n >= 1.0 => Ok(()),
            n => Err(format!("{n}")),
        },
    );
    let flaps = lab
        .metric(&sd, "bgp_peer_established_total", &["peer=\"198.18.0.2\""])
        .unwrap();
    assert_eq!(flaps, 1.0, "the BGP session never went down");
    bird.established("sd4")
        .expect("BIRD's session up the whole time");

    // A collector that reads: the whole state, then End-of-RIB.
    lab.stop("stalled", "KILL");
    let reader = collector(&mut lab, "reader", &col, false);
    let v4: IpAddr = "198.18.0.2".parse().unwrap();
    let rib = shown(&lab, &sd);
    let messages = wait_for("the whole state at the reading collector", UP * 2, || {
        // Its first connection may have been refused while the port was free.
        let n = (1..=4)
            .rev()
            .find(|n| reader.join(format!("conn-{n}.bin")).exists())
            .ok_or_else(|| "no connection yet".to_string())?;
        let m = recorded(&reader, n);
        let (held, eors) = monitored(&m, v4, true);
        if eors == ["ipv4-unicast"] && held.len() == all {
            Ok(m)
        } else {
            Err(format!("{} routes, End-of-RIB {eors:?}", held.len()))
        }
    });
    assert!(
        matches!(messages[0], BmpMessage::Initiation(_)),
        "{:?}",
        messages[0]
    );
    check_peer_up(&messages, "198.18.0.2", "198.18.0.1");
    assert_eq!(
        Some(&monitored(&messages, v4, true).0),
        rib.get("198.18.0.2")
    );
}
