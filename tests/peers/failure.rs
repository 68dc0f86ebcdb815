//! Failure detection: the hold timer, BFD (RFC 5880/5881) with BIRD and FRR, strict BFD, and
//! failover between two ToRs with and without BFD.

use super::*;

/// Hold timer: BIRD freezes (SIGSTOP) and sends nothing more; speakerd's hold timer (9 s)
/// expires, the session goes down with NOTIFICATION 4/0 (RFC 4271 §6.5) and BIRD's routes leave
/// the kernel. After SIGCONT the session comes back with the routes. (The fault tests of
/// `faults.rs` are the other faults.)
#[test]
fn hold_timer_expiry() {
    let mut lab = Lab::new("hold_timer");
    let (sd, peer) = lab.pair();
    let routes = ["198.19.100.0/24"];
    let bird = bird_and_speakerd(&mut lab, (&sd, &peer), &routes, false);

    lab.signal("bird", "STOP");
    let frozen = std::time::Instant::now();
    lab.wait_route_gone(&sd, routes[0]);
    let after = frozen.elapsed();
    assert!(
        after >= Duration::from_secs(5),
        "routes went away {after:?} after the freeze, before the hold time could expire"
    );
    let n = lab.neighbor(&sd, "198.18.0.2").unwrap();
    assert_ne!(n["state"], "Established", "{n}");
    let log = lab.log("speakerd");
    assert!(
        log.to_lowercase().contains("hold"),
        "no hold timer expiry logged:\n{log}"
    );
    let expired = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.0.2\"", "code=\"4\"", "subcode=\"0\""],
        )
        .unwrap();
    assert_eq!(expired, 1.0, "NOTIFICATION 4/0 (Hold Timer Expired) sent");

    lab.signal("bird", "CONT");
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
}

/// BFD (RFC 5880, RFC 5881) beside the BGP session with BIRD: both BFD sessions come Up; when
/// BIRD freezes (SIGSTOP: its link stays up, it just stops talking), BFD detects it after 3 x
/// 300 ms and speakerd closes the BGP session with Cease 6/10 (BFD Down, RFC 9384), long before
/// the 9 s hold timer, and BIRD's route leaves the kernel. Thawed, everything comes back.
#[test]
fn bfd_takes_the_session_down_when_bird_freezes() {
    let mut lab = Lab::new("bfd_freeze");
    let (sd, peer) = lab.pair();
    let routes = ["198.19.100.0/24"];
    let bird = lab.bird(
        "bird",
        &peer,
        &format!(
            "{}{BIRD_BFD}",
            bird_conf(
                "198.18.0.2",
                "198.18.0.2",
                "198.18.0.1",
                &routes,
                "  bfd on;"
            )
        ),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", SD_BFD),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("BFD Up at speakerd", SOON, || {
        bfd_up(&lab, &sd, "198.18.0.2")
    });
    wait_for("BFD Up at BIRD", SOON, || {
        let out = bird.try_birdc(&["show", "bfd", "sessions"])?;
        if out.contains("198.18.0.1") && out.contains("Up") {
            Ok(out)
        } else {
            Err(out)
        }
    });
    let detection = lab
        .metric(
            &sd,
            "bgp_bfd_detection_time_seconds",
            &["peer=\"198.18.0.2\""],
        )
        .unwrap();
    assert!((detection - 0.9).abs() < 1e-9, "detection time {detection}");
    let shown = lab.show(&sd, &["bfd"]).unwrap();
    let session = &shown[0];
    assert_eq!(session["neighbor"], "198.18.0.2", "{shown}");
    assert_eq!(session["local"], "198.18.0.1", "{shown}");
    assert_eq!(session["state"], "up", "{shown}");
    assert_eq!(session["remote_state"], "up", "{shown}");
    assert_eq!(session["transmit_interval_ms"], 300, "{shown}");
    assert_eq!(session["detection_time_ms"], 900, "{shown}");
    assert_ne!(session["remote_discriminator"], 0, "{shown}");

    lab.signal("bird", "STOP");
    lab.wait_route_gone(&sd, routes[0]);
    let bfd_down = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.0.2\"", "code=\"6\"", "subcode=\"10\""],
        )
        .unwrap();
    assert_eq!(bfd_down, 1.0, "Cease 6/10 (BFD Down) sent");
    let hold_expired = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.0.2\"", "code=\"4\""],
        )
        .unwrap();
    assert_eq!(
        hold_expired, 0.0,
        "the hold timer, not BFD, took the session down"
    );

    lab.signal("bird", "CONT");
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("BFD Up again", UP, || bfd_up(&lab, &sd, "198.18.0.2"));
}

/// Strict BFD (BIRD's `strict bind`): while BIRD runs no BFD, speakerd does not bring the BGP
/// session up at all; once BIRD's BFD answers, BFD comes Up and then BGP.
#[test]
fn strict_bfd_waits_for_bfd_before_bgp() {
    let mut lab = Lab::new("bfd_strict");
    let (sd, peer) = lab.pair();
    let routes = ["198.19.100.0/24"];
    let plain = bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &routes, "");
    let bird = lab.bird("bird", &peer, &plain);
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor(
                "198.18.0.2",
                "198.18.0.1",
                "ipv4-unicast",
                "[neighbor.bfd]\nstrict = true\n",
            ),
        ),
    );
    holds_for(
        "no BGP session without BFD",
        Duration::from_secs(5),
        || match (
            bird.established("speakerd"),
            lab.speakerd_established(&sd, "198.18.0.2"),
        ) {
            (Err(_), Err(_)) => Ok(()),
            (a, b) => Err(format!("BIRD: {a:?}\nspeakerd: {b:?}")),
        },
    );
    bird.reconfigure(&format!(
        "{}{BIRD_BFD}",
        bird_conf(
            "198.18.0.2",
            "198.18.0.2",
            "198.18.0.1",
            &routes,
            "  bfd on;"
        )
    ));
    wait_for("BFD Up", UP, || bfd_up(&lab, &sd, "198.18.0.2"));
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
}

/// speakerd's BFD session with `peer` is Up (`bgp_bfd_state` 3).
fn bfd_up(lab: &Lab, ns: &str, peer: &str) -> Result<(), String> {
    match lab.metric(ns, "bgp_bfd_state", &[&format!("peer=\"{peer}\"")])? {
        3.0 => Ok(()),
        other => Err(format!("bgp_bfd_state {other}")),
    }
}

/// BFD with FRR (bgpd, zebra and bfdd; `neighbor X bfd` with bfdd's default 300 ms x 3): both
/// sides Up; when bfdd alone freezes (SIGSTOP: bgpd still answers), speakerd closes the BGP
/// session with Cease 6/10 and FRR's route leaves the kernel; thawed, both come back.
#[test]
fn bfd_with_frr() {
    let mut lab = Lab::new("bfd_frr");
    let (sd, peer) = lab.pair();
    let dir = lab.dir().display().to_string();
    let frr = lab.frr_bfd_bgpd(
        "bgpd",
        &peer,
        &format!(
            "frr defaults traditional\nhostname frr\nlog file {dir}/bgpd-frr.log\n!\n\
             router bgp {PEER_AS}\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n\
             \x20no bgp network import-check\n neighbor 198.18.0.1 remote-as {SD_AS}\n\
             \x20neighbor 198.18.0.1 timers 3 9\n neighbor 198.18.0.1 timers connect 2\n\
             \x20neighbor 198.18.0.1 bfd\n !\n address-family ipv4 unicast\n  network 198.19.100.0/24\n\
             \x20exit-address-family\n!\n"
        ),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", SD_BFD),
        ),
    );
    wait_for("FRR's session Established", UP, || {
        let out = frr.try_vtysh(&["show bgp neighbors 198.18.0.1 json"])?;
        if out.contains("\"bgpState\":\"Established\"") {
            Ok(())
        } else {
            Err(out)
        }
    });
    wait_route(&lab, &sd, "198.19.100.0/24", &["198.18.0.2"]);
    wait_for("BFD Up with FRR's bfdd", UP, || {
        bfd_up(&lab, &sd, "198.18.0.2")
    });

    lab.signal("bgpd-bfdd", "STOP");
    lab.wait_route_gone(&sd, "198.19.100.0/24");
    let bfd_down = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.0.2\"", "code=\"6\"", "subcode=\"10\""],
        )
        .unwrap();
    assert_eq!(bfd_down, 1.0, "Cease 6/10 (BFD Down) sent");

    lab.signal("bgpd-bfdd", "CONT");
    wait_for("BFD Up again", UP, || bfd_up(&lab, &sd, "198.18.0.2"));
    wait_route(&lab, &sd, "198.19.100.0/24", &["198.18.0.2"]);
}

/// speakerd's BFD table for a neighbour: 300 ms, multiplier 3 (BIRD's and FRR's defaults).
const SD_BFD: &str = "[neighbor.bfd]\nmin_rx = 300\nmin_tx = 300\nmultiplier = 3\n";

/// BIRD's BFD protocol with speakerd's intervals (300 ms, multiplier 3).
const BIRD_BFD: &str = "protocol bfd {\n  interface \"eth0\" { min rx interval 300 ms; \
                        min tx interval 300 ms; multiplier 3; };\n}\n";

/// The failover of issue 14: speakerd dual-homed to two BIRD ToRs that both announce
/// 198.19.100.0/24 and answer pings on 198.19.100.1, ECMP in the kernel, a ping every 10 ms from
/// speakerd's namespace. The ToR the ping's flow hashes to goes silent: nftables drops all it
/// sends and receives, its link stays up (no link-down event). With BFD the route shrinks to the
/// other ToR once BFD's 3 x 300 ms have passed (Cease 6/10); without BFD only when the 9 s hold
/// timer expires (4/0). The lost pings and the time to repair of both runs are printed and
/// written to `$CARGO_TARGET_TMPDIR/failover.json` (figures in `docs/operator-guide.md`).
#[test]
fn failover_to_the_other_tor_with_and_without_bfd() {
    lab::require("/usr/sbin/nft");
    lab::require("/usr/bin/ping");
    let with = failover(true);
    let without = failover(false);
    let report = format!(
        "{{\"bfd\": {{\"lost_pings\": {}, \"repair_ms\": {}}}, \"hold_timer\": {{\"lost_pings\": {}, \"repair_ms\": {}}}}}\n",
        with.0,
        with.1.as_millis(),
        without.0,
        without.1.as_millis()
    );
    eprintln!("failover, ping every 10 ms: {report}");
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("failover.json"),
        &report,
    )
    .unwrap();
}

/// One run of [`failover_to_the_other_tor_with_and_without_bfd`]: the pings lost and the time
/// from the cut until the kernel route has only the other ToR.
fn failover(bfd: bool) -> (u64, Duration) {
    let mut lab = Lab::new(if bfd { "failover_bfd" } else { "failover_hold" });
    let sd = lab.ns("sd");
    let tors = star(&mut lab, &sd, 2);
    let prefix = "198.19.100.0/24";
    let (bgp_extra, bird_bfd, sd_extra) = if bfd {
        ("  bfd on;", BIRD_BFD, SD_BFD)
    } else {
        ("", "", "")
    };
    let mut birds = Vec::new();
    for (i, ns) in tors.iter().enumerate() {
        let n = i + 1;
        lab.exec(
            ns,
            lab::IP,
            &["addr", "add", "198.19.100.1/32", "dev", "lo"],
        )
        .unwrap();
        let address = format!("198.18.{n}.2");
        let conf = bird_conf(
            &address,
            &address,
            &format!("198.18.{n}.1"),
            &[prefix],
            bgp_extra,
        );
        birds.push(lab.bird(&format!("bird{n}"), ns, &format!("{conf}{bird_bfd}")));
    }
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{}{}",
                star_neighbor(1, sd_extra),
                star_neighbor(2, sd_extra)
            ),
        ),
    );
    for (i, bird) in birds.iter().enumerate() {
        wait_established(&lab, &sd, bird, &format!("198.18.{}.2", i + 1));
    }
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    if bfd {
        for n in 1..=2 {
            wait_for(&format!("BFD Up with ToR {n}"), SOON, || {
                bfd_up(&lab, &sd, &format!("198.18.{n}.2"))
            });
        }
    }
    // The ToR the ping's flow takes.
    let get = lab
        .exec(&sd, lab::IP, &["route", "get", "198.19.100.1"])
        .unwrap();
    let dead = if get.contains("via 198.18.1.2") { 1 } else { 2 };
    assert!(get.contains(&format!("via 198.18.{dead}.2")), "{get}");
    let alive = 3 - dead;
    lab.spawn(
        "ping",
        &sd,
        "/usr/bin/ping",
        &["-i", "0.01", "-W", "1", "198.19.100.1"],
        &[],
    );
    std::thread::sleep(Duration::from_secs(1));
    let tor = &tors[dead - 1];
    lab.exec(tor, "/usr/sbin/nft", &["add", "table", "inet", "cut"])
        .unwrap();
    for hook in ["input", "output"] {
        let chain = format!("{{ type filter hook {hook} priority 0; policy drop; }}");
        lab.exec(
            tor,
            "/usr/sbin/nft",
            &["add", "chain", "inet", "cut", hook, &chain],
        )
        .unwrap();
    }
    let cut = Instant::now();
    let survivor = format!("198.18.{alive}.2");
    wait_for(
        "the route has only the other ToR",
        Duration::from_secs(30),
        || match lab.kernel_route(&sd, prefix) {
            Some(r) if Lab::gateways(&r) == [survivor.clone()] => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let repair = cut.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    lab.stop("ping", "INT");
    let log = lab.log("ping");
    let count = |word: &str| -> u64 {
        log.lines()
            .find(|l| l.contains("packets transmitted"))
            .and_then(|l| {
                l.split(',')
                    .find(|part| part.contains(word))
                    .and_then(|part| part.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or_else(|| panic!("no ping summary: {log}"))
    };
    let lost = count("transmitted") - count("received");
    let dead_peer = format!("peer=\"198.18.{dead}.2\"");
    let (code, subcode) = if bfd { ("6", "10") } else { ("4", "0") };
    let sent = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &[
                &dead_peer,
                &format!("code=\"{code}\""),
                &format!("subcode=\"{subcode}\""),
            ],
        )
        .unwrap();
    assert_eq!(
        sent, 1.0,
        "the session with the silent ToR was not closed with {code}/{subcode}"
    );
    (lost, repair)
}
