//! Policy changes applied without a reset: route refresh (RFC 2918, RFC 7313), soft
//! reconfiguration inbound, and ADD-PATH send (RFC 7911).

use super::*;

/// BIRD's "Import updates" received counter of protocol `speakerd`.
fn bird_import_updates(bird: &Bird) -> u64 {
    let out = bird.birdc(&["show", "protocols", "all", "speakerd"]);
    out.lines()
        .find_map(|l| l.trim().strip_prefix("Import updates:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Import updates line: {out}"))
}

/// The "Since" column of BIRD's protocol `speakerd`: when its state last changed.
fn bird_since(bird: &Bird) -> String {
    let out = bird.birdc(&["show", "protocols", "speakerd"]);
    out.lines()
        .find(|l| l.starts_with("speakerd"))
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap_or_else(|| panic!("no protocol line: {out}"))
        .to_string()
}

/// Scenario 5: route refresh. `birdc reload in` makes BIRD send ROUTE-REFRESH; speakerd sends
/// its routes again (BIRD's received-updates counter grows) and the session stays up.
#[test]
fn route_refresh_from_bird() {
    let mut lab = Lab::new("route_refresh");
    let (sd, peer) = lab.pair();
    let bird = bird_and_speakerd(&mut lab, (&sd, &peer), &[], true);
    wait_for("198.19.1.0/24 in BIRD's RIB", SOON, || {
        bird.route("198.19.1.0/24")
    });
    let before = bird_import_updates(&bird);
    let since = bird_since(&bird);
    assert!(before >= 1, "{before}");

    for round in 1..=2 {
        bird.birdc(&["reload", "in", "speakerd"]);
        wait_for(
            &format!("speakerd re-sends its routes (refresh {round})"),
            SOON,
            || {
                let now = bird_import_updates(&bird);
                if now > before + round - 1 {
                    Ok(())
                } else {
                    Err(format!("received updates {now}, before {before}"))
                }
            },
        );
    }
    let refreshes = lab
        .metric(
            &sd,
            "bgp_peer_messages_received_total",
            &["peer=\"198.18.0.2\"", "type=\"route_refresh\""],
        )
        .unwrap();
    assert_eq!(refreshes, 2.0, "ROUTE-REFRESH messages speakerd counted");
    bird.established("speakerd").unwrap();
    assert_eq!(bird_since(&bird), since, "the session was reset");
    let n = lab.speakerd_established(&sd, "198.18.0.2").unwrap();
    assert!(n["uptime_seconds"].as_u64().is_some(), "{n}");
    bird.route("198.19.1.0/24").unwrap();
}

/// A speakerd configuration with one BIRD neighbour (IPv4, soft reconfiguration inbound) whose
/// import policy rejects `rejected` and accepts the rest.
fn soft_reconfiguration_conf(rejected: &str) -> String {
    let neighbor = format!(
        "[[neighbor]]\naddress = \"198.18.0.2\"\nremote_asn = {PEER_AS}\n\
         local_address = \"198.18.0.1\"\nhold_time = 9\nconnect_retry_time = 2\n\
         families = [\"ipv4-unicast\"]\nimport = [\"in\"]\nexport = [\"accept-all\"]\n\
         soft_reconfiguration_inbound = true\n\n"
    );
    let policy = format!(
        "[[policy]]\nname = \"in\"\n\n[[policy.term]]\nname = \"drop\"\n\
         prefixes = [\"{rejected}\"]\nthen = \"reject\"\n\n\
         [[policy.term]]\nname = \"rest\"\nthen = \"accept\"\n"
    );
    speakerd_conf("198.18.0.1", &format!("{SD_PREFIX_V4}{neighbor}{policy}"))
}

/// Soft reconfiguration inbound against a BIRD that does not offer route refresh: a SIGHUP'd
/// import policy change accepts the route rejected before (shown as rejected by `show route`
/// meanwhile) and drops the one accepted before, with no ROUTE-REFRESH and no session reset.
#[test]
fn soft_reconfiguration_inbound_without_route_refresh() {
    let mut lab = Lab::new("soft_reconfig");
    let (sd, peer) = lab.pair();
    let (first, second) = ("198.19.100.0/24", "198.19.101.0/24");
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf(
            "198.18.0.2",
            "198.18.0.2",
            "198.18.0.1",
            &[first, second],
            "  enable route refresh off;",
        ),
    );
    lab.speakerd("speakerd", &sd, &soft_reconfiguration_conf(second));
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, first, &["198.18.0.2"]);
    let shown = wait_for(&format!("{second} shown as rejected"), SOON, || {
        let paths = paths(&lab, &sd, second)?;
        match paths.as_slice() {
            [p] if p["status"] == "rejected by import policy" => Ok(p.clone()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(shown["from"], "198.18.0.2", "{shown}");
    assert!(lab.speakerd_route(&sd, second).unwrap().is_none());
    let since = bird_since(&bird);

    lab.write("speakerd.toml", &soft_reconfiguration_conf(first));
    lab.signal("speakerd", "HUP");
    wait_route(&lab, &sd, second, &["198.18.0.2"]);
    lab.wait_route_gone(&sd, first);
    let rejected = paths(&lab, &sd, first).unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["status"], "rejected by import policy");

    let refreshes = lab
        .metric(
            &sd,
            "bgp_peer_messages_sent_total",
            &["peer=\"198.18.0.2\"", "type=\"route_refresh\""],
        )
        .unwrap();
    assert_eq!(refreshes, 0.0, "ROUTE-REFRESH messages speakerd sent");
    bird.established("speakerd").unwrap();
    assert_eq!(bird_since(&bird), since, "the session was reset");
}

/// ADD-PATH send (RFC 7911): two BIRDs announce the same prefix to speakerd; a third BIRD with
/// `add paths rx` sees both paths from speakerd, each with its own path identifier; when one
/// source stops, its path is withdrawn there by identifier and the other stays.
#[test]
fn add_path_send_to_bird() {
    let mut lab = Lab::new("add_path");
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 3);
    let prefix = "198.19.100.0/24";
    let b1 = star_bird(&mut lab, 1, &peers[0], &[prefix], "");
    let b2 = star_bird(&mut lab, 2, &peers[1], &[prefix], "");
    // The receiver is in the sources' AS too: it accepts its own AS in the path.
    let receiver_conf = bird_conf(
        "198.18.3.2",
        "198.18.3.2",
        "198.18.3.1",
        &[],
        "  allow local as;",
    )
    .replace(
        "import all; export all;",
        "import all; export none; add paths rx;",
    );
    let b3 = lab.bird("bird3", &peers[2], &receiver_conf);
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{}{}{}",
                star_neighbor(1, ""),
                star_neighbor(2, ""),
                star_neighbor(3, "add_path_send = \"all\"")
            ),
        ),
    );
    for (bird, address) in [
        (&b1, "198.18.1.2"),
        (&b2, "198.18.2.2"),
        (&b3, "198.18.3.2"),
    ] {
        wait_established(&lab, &sd, bird, address);
    }
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    let paths_at_receiver = || {
        let out = b3.birdc(&["show", "route", "all", prefix]);
        out.matches("[speakerd ").count()
    };
    wait_for(
        "two paths from speakerd at the receiver",
        SOON,
        || match paths_at_receiver() {
            2 => Ok(()),
            n => Err(format!(
                "{n} paths: {}",
                b3.birdc(&["show", "route", "all", prefix])
            )),
        },
    );

    lab.stop("bird1", "TERM");
    wait_route(&lab, &sd, prefix, &["198.18.2.2"]);
    wait_for(
        "one path left at the receiver",
        SOON,
        || match paths_at_receiver() {
            1 => Ok(()),
            n => Err(format!(
                "{n} paths: {}",
                b3.birdc(&["show", "route", "all", prefix])
            )),
        },
    );
    b3.established("speakerd").unwrap();

    // The convergence histograms saw this: BIRD's UPDATEs reached the kernel and were relayed
    // to bird3, each batch in well under the largest bucket.
    for name in [
        "bgp_update_to_kernel_seconds",
        "bgp_update_to_advertisement_seconds",
    ] {
        let count = lab.metric(&sd, &format!("{name}_count"), &[]).unwrap();
        let within = lab
            .metric(&sd, &format!("{name}_bucket"), &["le=\"10\""])
            .unwrap();
        assert!(
            count >= 1.0 && within == count,
            "{name}: {count} batches, {within} within 10 s"
        );
    }
    let eor = "bgp_end_of_rib_convergence_seconds_count";
    let eors = lab
        .metric(&sd, eor, &["afi_safi=\"ipv4-unicast\""])
        .unwrap();
    assert!(eors >= 1.0, "{eor}: {eors}");
}
