//! Messages captured from real BIRD, GoBGP and FRR sessions (`tests/vectors/captured/*.txt`, see
//! the README there): every one decodes under the context its session negotiated, without any
//! RFC 7606 error, re-encodes to the same value, and re-encodes to the same bytes unless a
//! known, named reason makes the sender's encoding non-canonical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bgp_proto::{Message, Open, SessionContext};
use bytes::Bytes;

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

struct Line {
    line_no: usize,
    sender: String,
    kind: String,
    bytes: Bytes,
}

fn type_name(ty: u8) -> &'static str {
    match ty {
        1 => "OPEN",
        2 => "UPDATE",
        3 => "NOTIFICATION",
        4 => "KEEPALIVE",
        5 => "ROUTE-REFRESH",
        _ => "?",
    }
}

fn parse(path: &Path) -> Vec<Line> {
    let text = std::fs::read_to_string(path).expect("readable vector file");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(sender), Some(kind), Some(hex), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            panic!("{}:{}: not '<sender> <type> <hex>'", path.display(), i + 1);
        };
        out.push(Line {
            line_no: i + 1,
            sender: sender.to_string(),
            kind: kind.to_string(),
            bytes: Bytes::from(unhex(hex)),
        });
    }
    out
}

/// The context in which `receiver` decodes what `sender` sends, derived from both OPENs the way
/// a session does (RFC 6793, RFC 8654, RFC 7911 §4). The same set is used to re-encode, so the
/// encoder writes path identifiers exactly where the sender did.
fn context(sender: &Open, receiver: &Open) -> SessionContext {
    let ctx = SessionContext::of_opens(sender, receiver);
    SessionContext {
        add_path_tx: ctx.add_path_rx,
        ..ctx
    }
}

/// The sender's message rewritten the way our encoder lays things out, where the difference is
/// one of the known, harmless ones: OPEN capabilities gathered from several optional parameters
/// into one (RFC 5492 allows either), path attributes put in type-code order (RFC 4271 §5 only
/// recommends it) and Extended Length used only for values over 255 octets (RFC 4271 §4.3
/// permits it on any attribute). Returns the rewritten message and the reasons, or `None` when
/// nothing needed rewriting.
fn normalize(original: &[u8]) -> Option<(Vec<u8>, String)> {
    let body = &original[19..];
    let mut reasons = Vec::new();
    let mut out = original[..19].to_vec();
    match original[18] {
        1 => {
            let params_len = usize::from(*body.get(9)?);
            let mut params = body.get(10..10 + params_len)?;
            let mut caps = Vec::new();
            let mut count = 0;
            while let [2, len, rest @ ..] = params {
                caps.extend_from_slice(rest.get(..usize::from(*len))?);
                params = rest.get(usize::from(*len)..)?;
                count += 1;
            }
            if !params.is_empty() || count < 2 || caps.len() + 2 > 255 {
                return None;
            }
            reasons.push(format!(
                "capabilities split across {count} optional parameters"
            ));
            out.extend_from_slice(&body[..9]);
            out.push((caps.len() + 2) as u8);
            out.push(2);
            out.push(caps.len() as u8);
            out.extend_from_slice(&caps);
        }
        2 => {
            let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let alen = usize::from(u16::from_be_bytes([body[2 + wlen], body[3 + wlen]]));
            let mut block = &body[4 + wlen..4 + wlen + alen];
            let mut attrs: Vec<(u8, u8, &[u8])> = Vec::new();
            while let [flags, code, rest @ ..] = block {
                let (len, rest) = if flags & 0x10 != 0 {
                    (
                        usize::from(u16::from_be_bytes([rest[0], rest[1]])),
                        &rest[2..],
                    )
                } else {
                    (usize::from(rest[0]), &rest[1..])
                };
                if flags & 0x10 != 0 && len <= 255 {
                    reasons.push(format!(
                        "attribute {code} has Extended Length for {len} octets"
                    ));
                }
                if attrs.last().is_some_and(|a| a.1 > *code) {
                    reasons.push(format!("attribute {code} out of type-code order"));
                }
                attrs.push((*flags, *code, &rest[..len]));
                block = &rest[len..];
            }
            if reasons.is_empty() {
                return None;
            }
            attrs.sort_by_key(|a| a.1);
            let mut new_block = Vec::new();
            for (flags, code, value) in attrs {
                if value.len() > 255 {
                    new_block.extend_from_slice(&[flags | 0x10, code]);
                    new_block.extend_from_slice(&(value.len() as u16).to_be_bytes());
                } else {
                    new_block.extend_from_slice(&[flags & !0x10, code, value.len() as u8]);
                }
                new_block.extend_from_slice(value);
            }
            out.extend_from_slice(&body[..2 + wlen]);
            out.extend_from_slice(&(new_block.len() as u16).to_be_bytes());
            out.extend_from_slice(&new_block);
            out.extend_from_slice(&body[4 + wlen + alen..]);
        }
        _ => return None,
    }
    let len = out.len() as u16;
    out[16..18].copy_from_slice(&len.to_be_bytes());
    Some((out, reasons.join("; ")))
}

fn captured_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/captured")
}

#[test]
fn captured_messages_decode_and_reencode() {
    let dir = captured_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no captured vectors in {}",
        dir.display()
    );

    let mut total = 0;
    let mut non_canonical = Vec::new();
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let lines = parse(file);
        assert!(!lines.is_empty(), "{name}: no messages");

        // Each sender's OPEN (an OPEN decodes the same under every context).
        let mut opens: BTreeMap<String, Open> = BTreeMap::new();
        for l in lines.iter().filter(|l| l.kind == "OPEN") {
            match Message::decode(l.bytes.clone(), &SessionContext::default()) {
                Ok(Message::Open(open)) => {
                    opens.entry(l.sender.clone()).or_insert(open);
                }
                other => failures.push(format!("{name}:{}: OPEN: {other:?}", l.line_no)),
            }
        }
        assert!(opens.len() >= 2, "{name}: fewer than two OPENs");

        for l in &lines {
            total += 1;
            let what = format!("{name}:{} ({} {})", l.line_no, l.sender, l.kind);
            assert_eq!(l.kind, type_name(l.bytes[18]), "{what}: type label");
            let sender = &opens[&l.sender];
            // Every session this sender has in the file: with each other speaker. In the
            // three-speaker files the hub talks to two peers; the message must fit one of them.
            let contexts: Vec<SessionContext> = opens
                .iter()
                .filter(|(s, _)| **s != l.sender)
                .map(|(_, peer)| context(sender, peer))
                .collect();
            let mut errors = Vec::new();
            let mut ok = false;
            for ctx in &contexts {
                let decoded = match Message::decode(l.bytes.clone(), ctx) {
                    Ok(m) => m,
                    Err(e) => {
                        errors.push(format!("{ctx:?}: {e}"));
                        continue;
                    }
                };
                if decoded.message_type() != l.bytes[18] {
                    errors.push("wrong message type".into());
                    continue;
                }
                if let Message::Update(u) = &decoded {
                    if u.treat_as_withdraw.is_some() || !u.discarded.is_empty() {
                        errors.push(format!(
                            "{ctx:?}: RFC 7606 errors {:?} {:?}",
                            u.treat_as_withdraw, u.discarded
                        ));
                        continue;
                    }
                }
                let again = decoded.to_bytes(ctx);
                match Message::decode(again.clone(), ctx) {
                    Ok(m) if m == decoded => {}
                    other => {
                        errors.push(format!("{ctx:?}: re-encoded decodes to {other:?}"));
                        continue;
                    }
                }
                if again != l.bytes {
                    match normalize(&l.bytes) {
                        Some((normal, why)) if normal == again => {
                            non_canonical.push(format!("{what}: {why}"))
                        }
                        _ => {
                            errors.push(format!(
                                "{ctx:?}: re-encoding differs for no known reason:\n  {:02x?}\n  {:02x?}",
                                &l.bytes[..],
                                &again[..]
                            ));
                            continue;
                        }
                    }
                }
                ok = true;
                break;
            }
            if !ok {
                failures.push(format!("{what}: {}", errors.join(" | ")));
            }
        }
    }
    for n in &non_canonical {
        eprintln!("not canonical: {n}");
    }
    assert!(
        failures.is_empty(),
        "{} of {total} captured messages failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total > 0);
}

/// The session contexts derived from the captured OPENs are the ones the README states.
#[test]
fn captured_sessions_negotiate_what_the_readme_says() {
    let open_of = |file: &str, sender: &str| -> Open {
        let lines = parse(&captured_dir().join(file));
        let l = lines
            .iter()
            .find(|l| l.kind == "OPEN" && l.sender == sender)
            .unwrap_or_else(|| panic!("{file}: no OPEN from {sender}"));
        match Message::decode(l.bytes.clone(), &SessionContext::default()) {
            Ok(Message::Open(o)) => o,
            other => panic!("{file}: {other:?}"),
        }
    };
    let v4 = bgp_proto::Family::IPV4_UNICAST;

    let ctx = context(
        &open_of("bird-frr-ibgp-addpath.txt", "bird"),
        &open_of("bird-frr-ibgp-addpath.txt", "frr"),
    );
    assert!(ctx.four_octet_as && ctx.ibgp);
    assert!(ctx.add_path_rx.contains(v4));

    let ctx = context(
        &open_of("bird-as2-as4.txt", "gobgp"),
        &open_of("bird-as2-as4.txt", "bird"),
    );
    assert!(!ctx.four_octet_as && !ctx.ibgp);

    let ctx = context(
        &open_of("bird-frr-ipv6.txt", "frr"),
        &open_of("bird-frr-ipv6.txt", "bird"),
    );
    assert!(ctx.four_octet_as && ctx.extended_message && !ctx.ibgp);

    let ctx = context(
        &open_of("bird-rr-ibgp.txt", "frr"),
        &open_of("bird-rr-ibgp.txt", "bird"),
    );
    assert!(ctx.ibgp && !ctx.add_path_rx.contains(v4));
}
