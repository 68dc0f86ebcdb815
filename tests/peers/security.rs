//! Session protection and bad input: TCP MD5 (RFC 2385), GTSM (RFC 5082), connections from
//! unknown addresses, and a malformed UPDATE.

use super::*;

/// Scenario 6: TCP MD5. A BIRD with the same key as speakerd's `password_file` comes up; one
/// with a different key never reaches Established.
#[test]
fn tcp_md5() {
    md5_sessions("md5", "");
}

/// TCP MD5 with speakerd passive: the BIRDs connect to speakerd, whose listening socket carries
/// the key of each passive neighbour (TCP_MD5SIG on the listener). The wrong-key BIRD's SYNs are
/// dropped by the kernel (bad MD5 signature), so it never gets past Connect/Active.
#[test]
fn tcp_md5_passive() {
    md5_sessions("md5_passive", "\npassive = true");
}

/// Two BIRDs, one with speakerd's MD5 key and one with another: the first comes up, the second
/// never does. `neighbor_extra` is added to both `[[neighbor]]` tables.
fn md5_sessions(test: &str, neighbor_extra: &str) {
    let mut lab = Lab::new(test);
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let key = lab.write("md5.key", "s3cret-Key_1\n");
    let key = key.to_str().unwrap();
    let good = star_bird(&mut lab, 1, &peers[0], &[], "  password \"s3cret-Key_1\";");
    let bad = star_bird(&mut lab, 2, &peers[1], &[], "  password \"wrong-key\";");
    let extra = format!("password_file = \"{key}\"{neighbor_extra}");
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!("{}{}", star_neighbor(1, &extra), star_neighbor(2, &extra)),
        ),
    );
    wait_established(&lab, &sd, &good, "198.18.1.2");
    holds_for(
        "the session with a wrong MD5 key is not Established",
        Duration::from_secs(8),
        || match (
            bad.established("speakerd"),
            lab.speakerd_established(&sd, "198.18.2.2"),
        ) {
            (Err(_), Err(_)) => Ok(()),
            (a, b) => Err(format!("BIRD: {a:?}\nspeakerd: {b:?}")),
        },
    );
    good.established("speakerd").unwrap();
}

/// Scenario 7: GTSM. speakerd with `ttl_security = true`: a BIRD directly connected with `ttl
/// security on` comes up; with a BIRD two hops away (through a forwarding router namespace),
/// reachable and connecting to speakerd, speakerd's session never becomes Established.
#[test]
fn gtsm() {
    let mut lab = Lab::new("gtsm");
    let sd = lab.ns("sd");
    let near_ns = lab.ns("near");
    let router = lab.ns("router");
    let far_ns = lab.ns("far");
    lab.link(
        &sd,
        "eth1",
        &["198.18.1.1/24"],
        &near_ns,
        "eth0",
        &["198.18.1.2/24"],
    );
    lab.link(
        &sd,
        "eth2",
        &["198.18.2.1/24"],
        &router,
        "eth0",
        &["198.18.2.2/24"],
    );
    lab.link(
        &router,
        "eth1",
        &["198.18.3.1/24"],
        &far_ns,
        "eth0",
        &["198.18.3.2/24"],
    );
    lab::run_ok(
        lab::IP,
        &[
            "-n",
            &sd,
            "route",
            "add",
            "198.18.3.0/24",
            "via",
            "198.18.2.2",
        ],
    );
    lab::run_ok(
        lab::IP,
        &[
            "-n",
            &far_ns,
            "route",
            "add",
            "198.18.2.0/24",
            "via",
            "198.18.3.1",
        ],
    );
    // The far side is reachable: a connection to its closed BGP port is refused (not lost).
    let probe = lab.exec(
        &sd,
        "timeout",
        &["5", "bash", "-c", "exec 3<>/dev/tcp/198.18.3.2/179"],
    );
    assert!(
        probe.as_ref().is_err_and(|e| e.contains("refused")),
        "198.18.3.2 should refuse port 179 before BIRD runs: {probe:?}"
    );

    let near = star_bird(&mut lab, 1, &near_ns, &[], "  ttl security on;");
    let far = lab.bird(
        "far",
        &far_ns,
        &bird_conf(
            "198.18.3.2",
            "198.18.3.2",
            "198.18.2.1",
            &[],
            "  multihop 2; ttl security on;",
        ),
    );
    let far_neighbor = sd_neighbor(
        "198.18.3.2",
        "198.18.2.1",
        "ipv4-unicast",
        "ttl_security = true\npassive = true",
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{}{far_neighbor}",
                star_neighbor(1, "ttl_security = true\npassive = true")
            ),
        ),
    );
    wait_established(&lab, &sd, &near, "198.18.1.2");
    // Both neighbours are passive: their connections come in through the shared listener,
    // where speakerd applies GTSM after accept (as FRR does). The far BIRD's OPEN may already
    // be queued by then, and BIRD (expecting TTL >= 254) may even count itself Established
    // until its hold timer runs out, but nothing later from it reaches speakerd.
    wait_for("the far BIRD tries to connect", SOON, || {
        let n = lab.neighbor(&sd, "198.18.3.2")?;
        let out = far.try_birdc(&["show", "protocols", "all", "speakerd"])?;
        if out.contains("Connect") || out.contains("Open") || out.contains("Established") {
            Ok(n)
        } else {
            Err(out)
        }
    });
    holds_for(
        "speakerd never has the GTSM session two hops away Established",
        Duration::from_secs(8),
        || match lab.speakerd_established(&sd, "198.18.3.2") {
            Err(_) => Ok(()),
            Ok(n) => Err(format!("{n}\nBIRD: {:?}", far.established("speakerd"))),
        },
    );
    near.established("speakerd").unwrap();
}

/// A TCP connection from an address that is neither a neighbour nor in a dynamic range is
/// closed at once, counted in `bgp_connections_refused_total`, and leaves no neighbour behind;
/// the configured neighbour's session is untouched.
#[test]
fn connections_from_unknown_addresses_are_refused() {
    let mut lab = Lab::new("unknown_connections");
    let (sd, peer) = lab.pair();
    lab.exec(
        &peer,
        lab::IP,
        &["addr", "add", "198.18.0.3/24", "dev", "eth0"],
    )
    .unwrap();
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &[], ""),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", ""),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    for _ in 0..3 {
        // From the peer namespace's second address: speakerd closes at once, so the read
        // returns no octets (an OPEN would be 29 or more).
        let got = lab
            .exec(
                &peer,
                "python3",
                &[
                    "-c",
                    "import socket; s = socket.create_connection(('198.18.0.1', 179), 5, \
                     ('198.18.0.3', 0)); s.settimeout(5); print(len(s.recv(100)))",
                ],
            )
            .unwrap();
        assert_eq!(got.trim(), "0", "speakerd answered an unknown address");
    }
    let refused = lab
        .metric(&sd, "bgp_connections_refused_total", &[])
        .unwrap();
    assert_eq!(refused, 3.0);
    let neighbors = lab.show(&sd, &["neighbors"]).unwrap();
    assert_eq!(neighbors.as_array().map(Vec::len), Some(1), "{neighbors}");
    let established = lab
        .metric(&sd, "bgp_peer_established_total", &["peer=\"198.18.0.2\""])
        .unwrap();
    assert_eq!(established, 1.0);
}

/// Bad input from one neighbour: a speaker that sends a malformed UPDATE (its Withdrawn Routes
/// Length runs past the message) gets NOTIFICATION 3/1 (Malformed Attribute List, RFC 4271
/// §6.3) and its session goes down, while speakerd goes on serving the BIRD beside it: that
/// session stays Established and its route stays installed.
#[test]
fn malformed_update_gets_a_notification_and_spares_the_other_neighbours() {
    let mut lab = Lab::new("garbage");
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let bird = star_bird(&mut lab, 1, &peers[0], &["198.19.100.0/24"], "");
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{}{}",
                star_neighbor(1, ""),
                star_neighbor(2, "passive = true")
            ),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.1.2");
    wait_route(&lab, &sd, "198.19.100.0/24", &["198.18.1.2"]);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/wire/adversary.py");
    let asn = PEER_AS.to_string();
    let answer = lab
        .exec(
            &peers[1],
            "python3",
            &[
                script,
                "198.18.2.1",
                "198.18.2.2",
                "withdrawn-overrun",
                "--asn",
                &asn,
            ],
        )
        .expect("the misbehaving neighbour ran");
    assert_eq!(answer.trim(), "NOTIFICATION 3 1", "{answer}");
    let sent = lab
        .metric(
            &sd,
            "bgp_peer_notifications_sent_total",
            &["peer=\"198.18.2.2\"", "code=\"3\"", "subcode=\"1\""],
        )
        .unwrap();
    assert_eq!(sent, 1.0);
    holds_for(
        "the other neighbour is unaffected",
        Duration::from_secs(3),
        || {
            lab.speakerd_established(&sd, "198.18.1.2")?;
            bird.established("speakerd")?;
            match lab.kernel_route(&sd, "198.19.100.0/24") {
                Some(_) => Ok(()),
                None => Err("the BIRD's route left the kernel".into()),
            }
        },
    );
    assert!(lab.exited("speakerd").is_none(), "speakerd exited");
}
