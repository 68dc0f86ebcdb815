//! The command-line tools as a user runs them, without root: `speakerd show` against an
//! admin API (a small HTTP server in the test answering with real JSON) and `speakerd decode`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;

const SPEAKERD: &str = env!("CARGO_BIN_EXE_speakerd");

/// Serves one GET with `body` as JSON, on a port of 127.0.0.1.
fn admin_api(body: String) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // The whole request, so that closing sends no reset.
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = write!(
            stream,
            "HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
    });
    (address, server)
}

/// Runs speakerd with `args`, reads the first line of its output and closes the pipe long
/// before it has written the rest (thousands of lines); then checks it ended quietly, with no
/// panic and nothing on stderr. Returns the first line and stderr.
fn first_line_then_close(args: &[&str]) -> (String, String) {
    let mut child = Command::new(SPEAKERD)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (dropped above).
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_ne!(output.status.code(), Some(101), "a panic: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    (first, stderr)
}

/// `speakerd show routes | head -1`: when the reader goes away, speakerd ends quietly as Unix
/// tools do (killed by SIGPIPE), with no panic and no backtrace.
#[test]
fn show_routes_into_a_closed_pipe_exits_quietly() {
    let routes: Vec<String> = (0..20_000u32)
        .map(|i| {
            format!(
                r#"{{"prefix":"10.{}.{}.0/24","next_hops":["198.18.0.2"],"as_path":"4200000002","from":"198.18.0.2"}}"#,
                i / 256,
                i % 256
            )
        })
        .collect();
    let (admin, server) = admin_api(format!("[{}]", routes.join(",")));
    let (first, stderr) = first_line_then_close(&["show", "routes", "--admin", &admin]);
    server.join().unwrap();
    assert!(first.starts_with("prefix"), "{first:?}; {stderr}");
}

/// The same for `speakerd decode` with many messages.
#[test]
fn decode_into_a_closed_pipe_exits_quietly() {
    let keepalive = format!("{}001304", "ff".repeat(16));
    let messages = vec![keepalive; 20_000];
    let mut args = vec!["decode"];
    args.extend(messages.iter().map(String::as_str));
    let (first, stderr) = first_line_then_close(&args);
    assert!(
        first.contains("KEEPALIVE") || first.contains("keepalive"),
        "{first:?}; {stderr}"
    );
}

/// `speakerd decode --bmp FILE`: one JSON line per BMP message (RFC 7854), the UPDATE of a
/// Route Monitoring message decoded with the ADD-PATH its Peer Up's OPENs negotiated, and a
/// message cut short at the end an error line with its offset.
#[test]
fn decode_bmp_prints_each_message_with_its_updates() {
    use bgp_proto::bmp::{info_type, BmpMessage, InfoTlv, PeerDownReason, PeerHeader, PeerUp};
    use bgp_proto::capability::AddPathFamily;
    use bgp_proto::{
        AsPath, Capability, Family, Message, Nlri, Notification, Open, Origin, SessionContext,
        Update,
    };
    use bytes::BytesMut;

    let peer = PeerHeader::new(
        "198.18.0.2".parse().unwrap(),
        4_200_000_002,
        "198.18.0.2".parse().unwrap(),
        1_700_000_000,
        7,
    );
    let add_path = |receive, send| {
        Capability::AddPath(vec![AddPathFamily {
            family: Family::IPV4_UNICAST,
            receive,
            send,
        }])
    };
    let open = |asn, id: [u8; 4], cap| {
        let caps = vec![Capability::Multiprotocol(Family::IPV4_UNICAST), cap];
        Message::Open(Open::new(asn, 90, id.into(), caps)).to_bytes(&SessionContext::default())
    };
    // The peer sends path ids: it can send, the monitored router can receive. The UPDATE as
    // the peer encodes it.
    let ctx = SessionContext {
        add_path_tx: bgp_proto::FamilySet::of(&[Family::IPV4_UNICAST]),
        ..SessionContext::modern_ebgp()
    };
    let mut update = Update::default();
    update.attributes.origin = Some(Origin::Igp);
    update.attributes.as_path = Some(AsPath::from_sequence(vec![4_200_000_002]));
    update.attributes.next_hop = Some("198.18.0.2".parse().unwrap());
    update.nlri = vec![Nlri {
        path_id: Some(9),
        prefix: "198.19.100.0/24".parse().unwrap(),
    }];
    let update = Message::Update(update).to_bytes(&ctx);
    let cease = Message::Notification(Notification::new(6, 2, bytes::Bytes::new()))
        .to_bytes(&SessionContext::default());
    let messages = [
        BmpMessage::Initiation(vec![InfoTlv::text(info_type::SYS_NAME, "node-1")]),
        BmpMessage::PeerUp {
            peer: peer.clone(),
            up: PeerUp {
                local_address: "198.18.0.1".parse().unwrap(),
                local_port: 179,
                remote_port: 40000,
                sent_open: open(4_200_000_001, [198, 18, 0, 1], add_path(true, false)),
                received_open: open(4_200_000_002, [198, 18, 0, 2], add_path(false, true)),
                information: vec![],
            },
        },
        BmpMessage::RouteMonitoring {
            peer: peer.clone(),
            update,
        },
        BmpMessage::PeerDown {
            peer,
            reason: PeerDownReason::RemoteNotification(cease),
        },
    ];
    let mut file = BytesMut::new();
    messages.iter().for_each(|m| m.encode(&mut file));
    let whole = file.len();
    // A Termination cut short.
    file.extend_from_slice(&[3, 0, 0, 0, 20, 5, 0, 1]);
    let dir = std::env::temp_dir().join(format!("speakerd-cli-bmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("session.bmp");
    std::fs::write(&path, &file).unwrap();
    let out = Command::new(SPEAKERD)
        .args(["decode", "--bmp", path.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[0]["type"], "initiation");
    assert_eq!(lines[0]["information"][0]["text"], "node-1");
    assert_eq!(lines[1]["type"], "peer_up");
    assert_eq!(lines[1]["peer"]["address"], "198.18.0.2");
    assert_eq!(lines[1]["peer"]["asn"], 4_200_000_002u32);
    assert_eq!(lines[1]["received_open"]["asn"], 4_200_000_002u32);
    assert_eq!(lines[1]["sent_open"]["bgp_id"], "198.18.0.1");
    assert_eq!(lines[2]["type"], "route_monitoring");
    assert_eq!(lines[2]["peer"]["time"], "1700000000.000007");
    let rm = &lines[2]["update"];
    assert!(rm.get("error").is_none(), "{rm}");
    assert_eq!(
        rm["announced"][0].as_str().unwrap(),
        "198.19.100.0/24 path-id 9"
    );
    assert_eq!(lines[3]["type"], "peer_down");
    assert_eq!(lines[3]["reason"], 3);
    assert_eq!(lines[3]["detail"]["notification"]["code"], 6);
    assert_eq!(lines[4]["offset"], whole);
    assert!(
        lines[4]["error"].as_str().unwrap().contains("truncated"),
        "{}",
        lines[4]
    );
}
