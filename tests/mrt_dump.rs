//! `speakerd dump rib` against `bgpdump`: a BIRD peer announces IPv4 and IPv6 routes over two
//! sessions (one with soft reconfiguration inbound, so that its routes are dumped as received),
//! speakerd writes TABLE_DUMP_V2 files of the Adj-RIB-In and of the Loc-RIB, and `bgpdump -m`
//! (an independent reader) must find in them exactly the prefixes, next hops, AS paths and
//! neighbours that `speakerd show routes --json` reports. Run as root (CI does).
//!
//! Addressing: speakerd 198.18.0.1 / 2001:db8::1 (AS 4200000001), BIRD 198.18.0.2 / 2001:db8::2
//! (AS 4200000002); BIRD announces 198.19.100.0/24 and up and 2001:db8:2001::/48 and up,
//! speakerd originates 198.19.1.0/24.

#[path = "lab/mod.rs"]
mod lab;

use std::collections::BTreeSet;
use std::time::Duration;

use lab::{require, run, wait_for, Lab};

const SD_AS: u32 = 4_200_000_001;
const PEER_AS: u32 = 4_200_000_002;
const UP: Duration = Duration::from_secs(30);
const SPEAKERD: &str = env!("CARGO_BIN_EXE_speakerd");
/// The reader the dumps are checked with (Debian's `bgpdump`, installed by scripts/test.sh).
const BGPDUMP: &str = "/usr/bin/bgpdump";

const V4_ROUTES: [&str; 3] = ["198.19.100.0/24", "198.19.101.0/24", "198.19.102.128/25"];
const V6_ROUTES: [&str; 2] = ["2001:db8:2001::/48", "2001:db8:2002::/64"];
const OWN: &str = "198.19.1.0/24";

/// BIRD with one session per family; a longer AS path and communities on some routes, so that
/// the dump's paths differ.
fn bird_conf() -> String {
    let statics = |routes: &[&str]| -> String {
        routes
            .iter()
            .map(|r| format!("  route {r} blackhole;\n"))
            .collect()
    };
    let session = |name: &str, local: &str, neighbor: &str, channel: &str, marked: &str| {
        format!(
            "protocol bgp {name} {{\n  local {local} as {PEER_AS};\n  neighbor {neighbor} as {SD_AS};\n\
             hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
             error wait time 1,2;\n  {channel} {{ import none; export filter {{\n\
             if net = {marked} then {{\n\
             bgp_path.prepend(65010); bgp_path.prepend(65011);\n\
             bgp_community.add((65001, 7));\n}}\naccept; }}; }};\n}}\n"
        )
    };
    format!(
        "log stderr all;\nrouter id 198.18.0.2;\nprotocol device {{}}\n\
         protocol static v4 {{\n  ipv4;\n{}}}\nprotocol static v6 {{\n  ipv6;\n{}}}\n{}{}",
        statics(&V4_ROUTES),
        statics(&V6_ROUTES),
        session("sd4", "198.18.0.2", "198.18.0.1", "ipv4", V4_ROUTES[1]),
        session("sd6", "2001:db8::2", "2001:db8::1", "ipv6", V6_ROUTES[1]),
    )
}

fn speakerd_conf() -> String {
    let neighbor = |address: &str, local: &str, family: &str, extra: &str| {
        format!(
            "[[neighbor]]\naddress = \"{address}\"\nremote_asn = {PEER_AS}\nlocal_address = \"{local}\"\n\
             hold_time = 9\nconnect_retry_time = 2\nfamilies = [\"{family}\"]\n\
             import = [\"accept-all\"]\nexport = [\"accept-all\"]\n{extra}\n"
        )
    };
    format!(
        "[global]\nasn = {SD_AS}\nrouter_id = \"198.18.0.1\"\n\n\
         [[prefix]]\nprefix = \"{OWN}\"\n\n{}{}",
        neighbor(
            "198.18.0.2",
            "198.18.0.1",
            "ipv4-unicast",
            "soft_reconfiguration_inbound = true"
        ),
        neighbor("2001:db8::2", "2001:db8::1", "ipv6-unicast", ""),
    )
}

/// One `bgpdump -m` line of a TABLE_DUMP_V2 RIB entry, the fields compared.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    prefix: String,
    peer: String,
    peer_as: String,
    as_path: String,
    next_hop: String,
}

/// `bgpdump -m FILE`, every line a TABLE_DUMP2 entry.
fn bgpdump(file: &str) -> (String, BTreeSet<Entry>) {
    let out = run(BGPDUMP, &["-m", file]);
    assert!(out.status.success(), "bgpdump -m {file}: {out:?}");
    let text = String::from_utf8(out.stdout).expect("bgpdump output is UTF-8");
    let entries = text
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            assert!(
                f.len() >= 9 && f[0] == "TABLE_DUMP2" && f[2] == "B",
                "not a TABLE_DUMP2 RIB line: {line}"
            );
            Entry {
                peer: f[3].into(),
                peer_as: f[4].into(),
                prefix: f[5].into(),
                as_path: f[6].into(),
                next_hop: f[8].into(),
            }
        })
        .collect();
    (text, entries)
}

/// What `speakerd show routes --json` says, as the entries a dump must hold; the neighbour is
/// found from the next hop (one address per neighbour here), our own prefix from 0.0.0.0.
fn shown(lab: &Lab, sd: &str) -> BTreeSet<Entry> {
    let routes = lab.show(sd, &["routes"]).expect("show routes");
    routes
        .as_array()
        .expect("a list of routes")
        .iter()
        .map(|r| {
            let prefix = r["prefix"].as_str().expect("prefix").to_string();
            let hops: Vec<&str> = r["next_hops"]
                .as_array()
                .expect("next hops")
                .iter()
                .map(|h| h.as_str().expect("an address"))
                .collect();
            let (peer, peer_as, next_hop) = if r["from"] == "local" {
                ("0.0.0.0".to_string(), SD_AS, String::new())
            } else {
                assert_eq!(hops.len(), 1, "{r}");
                (
                    r["from"].as_str().expect("from").to_string(),
                    PEER_AS,
                    hops[0].to_string(),
                )
            };
            Entry {
                prefix,
                peer,
                peer_as: peer_as.to_string(),
                as_path: r["as_path"].as_str().expect("as path").to_string(),
                next_hop,
            }
        })
        .collect()
}

#[test]
fn dump_rib_agrees_with_show_routes_through_bgpdump() {
    require(BGPDUMP);
    let mut lab = Lab::new("mrt_dump");
    let (sd, peer) = lab.pair();
    let bird = lab.bird("bird", &peer, &bird_conf());
    lab.speakerd("speakerd", &sd, &speakerd_conf());
    for proto in ["sd4", "sd6"] {
        wait_for(&format!("BIRD's {proto} Established"), UP, || {
            bird.established(proto)
        });
    }
    let learned: Vec<&str> = V4_ROUTES.iter().chain(&V6_ROUTES).copied().collect();
    let routes = wait_for("BIRD's routes in speakerd's RIB", UP, || {
        let shown = shown(&lab, &sd);
        let prefixes: BTreeSet<&str> = shown.iter().map(|e| e.prefix.as_str()).collect();
        if learned.iter().chain([&OWN]).all(|p| prefixes.contains(p)) {
            Ok(shown)
        } else {
            Err(format!("{shown:?}"))
        }
    });
    // The IPv6 routes' next hop is BIRD's global address (RFC 2545 §3), and the prepends and
    // 4-octet ASes arrived.
    let path = |prefix: &str| routes.iter().find(|e| e.prefix == prefix).unwrap().clone();
    assert_eq!(path("2001:db8:2001::/48").next_hop, "2001:db8::2");
    assert_eq!(
        path("198.19.101.0/24").as_path,
        format!("{PEER_AS} 65011 65010")
    );

    let adj_file = lab.dir().join("adj-rib-in.mrt");
    let adj_file = adj_file.to_str().unwrap();
    let said = dump(&sd, &[adj_file]);
    assert!(said.contains("5 RIB records, 5 paths"), "{said}");
    let (text, entries) = bgpdump(adj_file);
    let neighbours: BTreeSet<Entry> = routes.iter().filter(|e| e.prefix != OWN).cloned().collect();
    assert_eq!(entries, neighbours, "Adj-RIB-In dump:\n{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    // The communities came through too (bgpdump's field 11).
    let line = text
        .lines()
        .find(|l| l.contains("|198.19.101.0/24|"))
        .expect("198.19.101.0/24 dumped");
    assert_eq!(line.split('|').nth(11), Some("65001:7"), "{line}");

    let loc_file = lab.dir().join("loc-rib.mrt");
    let loc_file = loc_file.to_str().unwrap();
    dump(&sd, &["--loc-rib", loc_file]);
    let (text, entries) = bgpdump(loc_file);
    // Our own prefix's next hop is what it was originated with; compare the rest.
    let without_hop = |s: &BTreeSet<Entry>| -> BTreeSet<Entry> {
        s.iter()
            .map(|e| Entry {
                next_hop: if e.prefix == OWN {
                    String::new()
                } else {
                    e.next_hop.clone()
                },
                ..e.clone()
            })
            .collect()
    };
    assert_eq!(
        without_hop(&entries),
        without_hop(&routes),
        "Loc-RIB dump:\n{text}"
    );

    // To a file that is no regular file: written, not read back, not removed.
    let out = run(
        "ip",
        &["netns", "exec", &sd, SPEAKERD, "dump", "rib", "/dev/stdout"],
    );
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        said.trim(),
        format!("/dev/stdout: {} octets", out.stdout.len())
    );
    let piped = lab.dir().join("piped.mrt");
    std::fs::write(&piped, &out.stdout).unwrap();
    assert_eq!(bgpdump(piped.to_str().unwrap()).1, neighbours);
}

/// `speakerd dump rib ARGS` in `ns`; what it said on stderr.
fn dump(ns: &str, args: &[&str]) -> String {
    let mut all = vec!["netns", "exec", ns, SPEAKERD, "dump", "rib"];
    all.extend_from_slice(args);
    let out = run("ip", &all);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "speakerd dump rib {args:?}: {said}");
    said
}

/// `bgpdump -m` of a file of BGP4MP records: its lines split into fields.
fn bgpdump_lines(file: &std::path::Path) -> Vec<Vec<String>> {
    let out = run(BGPDUMP, &["-m", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "bgpdump -m {}: {out:?}",
        file.display()
    );
    String::from_utf8(out.stdout)
        .expect("bgpdump output is UTF-8")
        .lines()
        .map(|l| l.split('|').map(String::from).collect())
        .collect()
}

/// A neighbour's message log (RFC 6396 §4.4): every message of its sessions, both ways, and
/// every state change, in BGP4MP_ET records that bgpdump reads, rotated at `rotate_bytes`. BIRD
/// sends 103 routes, in 103 UPDATEs, then closes the session and opens it again: the files,
/// read in order, hold each route BIRD announced, our prefix as we sent it, both climbs to
/// Established, BIRD's Cease; none is larger than the limit.
#[test]
fn the_message_log_is_read_by_bgpdump_across_rotations() {
    require(BGPDUMP);
    let mut lab = Lab::new("message_log");
    let (sd, peer) = lab.pair();
    let more: String = (0..100)
        .map(|i| format!("  route 198.19.200.{i}/32 blackhole {{ bgp_med = {i}; }};\n"))
        .collect();
    let conf = format!(
        "{}protocol static more {{\n  ipv4;\n{more}}}\n",
        bird_conf()
    );
    let bird = lab.bird("bird", &peer, &conf);
    let log = lab.dir().join("bird4.mrt");
    let config = speakerd_conf().replace(
        "soft_reconfiguration_inbound = true",
        &format!(
            "soft_reconfiguration_inbound = true\nmessage_log = {{ file = \"{}\", rotate_bytes = 4096, keep = 100 }}",
            log.display()
        ),
    );
    lab.speakerd("speakerd", &sd, &config);
    let learned: BTreeSet<String> = V4_ROUTES
        .iter()
        .map(|r| r.to_string())
        .chain((0..100).map(|i| format!("198.19.200.{i}/32")))
        .collect();
    let from_bird = |lab: &Lab| -> Result<BTreeSet<String>, String> {
        Ok(lab
            .show(&sd, &["routes"])?
            .as_array()
            .ok_or("not a list of routes")?
            .iter()
            .filter(|r| r["from"] == "198.18.0.2")
            .map(|r| r["prefix"].as_str().unwrap_or_default().to_string())
            .collect())
    };
    wait_for("BIRD's 103 routes in speakerd's RIB", UP, || {
        let got = from_bird(&lab)?;
        if got == learned {
            Ok(())
        } else {
            Err(format!("{} of {}", got.len(), learned.len()))
        }
    });
    bird.birdc(&["disable", "sd4"]);
    wait_for("speakerd's session down", UP, || {
        match lab.speakerd_established(&sd, "198.18.0.2") {
            Ok(_) => Err("still Established".to_string()),
            Err(_) => Ok(()),
        }
    });
    bird.birdc(&["enable", "sd4"]);
    wait_for("the session up again", UP, || {
        lab.speakerd_established(&sd, "198.18.0.2")
    });
    wait_for("BIRD's routes back", UP, || {
        if from_bird(&lab)? == learned {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    });

    // The log is flushed as it goes: read the rotated files, oldest first, then the current.
    let dir = lab.dir().to_path_buf();
    let lines = wait_for("both sessions' records in the log", UP, || {
        let files = log_files(&dir, &log);
        for f in &files {
            let size = std::fs::metadata(f).unwrap().len();
            assert!(size <= 4096, "{}: {size} octets", f.display());
        }
        let lines: Vec<Vec<String>> = files.iter().flat_map(|f| bgpdump_lines(f)).collect();
        let established = lines
            .iter()
            .filter(|l| l[2] == "STATE" && l[3] == "198.18.0.2" && l[6] == "6")
            .count();
        if files.len() >= 3 && established == 2 {
            Ok(lines)
        } else {
            Err(format!(
                "{} files, {established} times Established: {lines:?}",
                files.len()
            ))
        }
    });
    // bgpdump marks what we sent (BGP4MP_MESSAGE_AS4_LOCAL) BGP4MP_ET_LOCAL.
    let announced_by = |kind: &str| -> BTreeSet<String> {
        lines
            .iter()
            .filter(|l| l[0] == kind && l[2] == "A" && l[3] == "198.18.0.2")
            .map(|l| l[5].clone())
            .collect()
    };
    assert_eq!(
        announced_by("BGP4MP_ET"),
        learned,
        "the routes BIRD announced, as logged"
    );
    assert_eq!(
        announced_by("BGP4MP_ET_LOCAL"),
        BTreeSet::from([OWN.to_string()]),
        "what we announced to BIRD"
    );
    // speakerd's own reader shows what bgpdump -m leaves out: the OPENs both ways and
    // BIRD's Cease (6/2, administrative shutdown) when it was disabled.
    let files = log_files(&dir, &log);
    let records: Vec<serde_json::Value> = files
        .iter()
        .flat_map(|f| {
            let out = run(SPEAKERD, &["decode", "--mrt", f.to_str().unwrap()]);
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(records.iter().all(|r| r.get("error").is_none()));
    let messages = |local: bool, kind: &str| {
        records
            .iter()
            .filter(|r| r["local"] == local && r["message"]["type"] == kind)
            .count()
    };
    assert_eq!((messages(false, "OPEN"), messages(true, "OPEN")), (2, 2));
    let cease = records
        .iter()
        .find(|r| r["local"] == false && r["message"]["type"] == "NOTIFICATION")
        .expect("BIRD's NOTIFICATION logged");
    assert_eq!(
        (&cease["message"]["code"], &cease["message"]["subcode"]),
        (&serde_json::json!(6), &serde_json::json!(2))
    );
    assert!(messages(false, "KEEPALIVE") >= 2 && messages(true, "KEEPALIVE") >= 2);
}

/// The files of a message log, the rotated ones oldest first, then the current one.
fn log_files(dir: &std::path::Path, log: &std::path::Path) -> Vec<std::path::PathBuf> {
    let name = format!("{}.", log.file_name().unwrap().to_str().unwrap());
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&name))
        })
        .collect();
    files.sort();
    files.push(log.to_path_buf());
    files
}
