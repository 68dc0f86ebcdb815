//! Restarts: graceful restart of a neighbour and of speakerd (RFC 4724), selection deferral,
//! shutdown on SIGTERM with and without drain (RFC 8326).

use super::*;

/// Scenario 8: graceful restart. BIRD is killed hard: speakerd keeps its routes (stale) in the
/// kernel; BIRD restarts (in graceful restart recovery) without one of them: after its
/// End-of-RIB that one is removed and the other stays.
#[test]
fn graceful_restart_of_bird() {
    let mut lab = Lab::new("graceful_restart");
    let (sd, peer) = lab.pair();
    let routes = ["198.19.100.0/24", "198.19.101.0/24"];
    let gr = "  graceful restart on;";
    let conf = |routes: &[&str]| {
        format!(
            "graceful restart wait 10;\n{}",
            bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", routes, gr)
        )
    };
    let bird = lab.bird("bird", &peer, &conf(&routes));
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{SD_PREFIX_V4}{}",
                sd_neighbor(
                    "198.18.0.2",
                    "198.18.0.1",
                    "ipv4-unicast",
                    "[neighbor.graceful_restart]\nrestart_time = 60\n"
                )
            ),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    for prefix in routes {
        wait_route(&lab, &sd, prefix, &["198.18.0.2"]);
    }

    // Every kernel route change from here on, to show that the route BIRD announces again is
    // never removed and re-added.
    lab.route_monitor("monitor", &sd);
    lab.stop("bird", "KILL");
    wait_for("speakerd notices the session is gone", SOON, || {
        match lab.speakerd_established(&sd, "198.18.0.2") {
            Ok(n) => Err(n.to_string()),
            Err(_) => Ok(()),
        }
    });
    wait_for("speakerd marks the routes stale", SOON, || {
        let p = paths(&lab, &sd, routes[1])?;
        if p.iter().any(|p| p["stale"] == true) {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
    holds_for(
        "the stale routes stay in the kernel while BIRD is away",
        Duration::from_secs(3),
        || {
            for prefix in routes {
                match lab.kernel_route(&sd, prefix) {
                    Some(r) if Lab::gateways(&r) == ["198.18.0.2"] => {}
                    other => return Err(format!("{prefix}: {other:?}")),
                }
            }
            Ok(())
        },
    );

    // BIRD comes back in graceful restart recovery, announcing only the first prefix.
    let bird = lab.bird_with("bird", &peer, &conf(&routes[..1]), &["-R"]);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    lab.wait_route_gone(&sd, routes[1]);
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("the remaining route is no longer stale", SOON, || {
        let p = paths(&lab, &sd, routes[0])?;
        if p.iter().all(|p| p["stale"] == false) && !p.is_empty() {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
    assert_eq!(
        deletions(&lab, "monitor", routes[1]),
        1,
        "{}",
        lab.log("monitor")
    );
    assert_never_deleted(&lab, "monitor", routes[0]);
}

/// Scenario 9: SIGTERM. speakerd (no graceful restart) sends Cease 6/2 with "speakerd
/// shutting down", exits successfully and removes its kernel routes.
#[test]
fn shutdown_on_sigterm() {
    let mut lab = Lab::new("shutdown");
    let (sd, peer) = lab.pair();
    let routes = ["198.19.100.0/24"];
    let bird = bird_and_speakerd(&mut lab, (&sd, &peer), &routes, true);

    let status = lab.stop("speakerd", "TERM");
    assert!(status.success(), "speakerd exited with {status}");
    assert!(
        lab.kernel_routes(&sd, false).is_empty() && lab.kernel_routes(&sd, true).is_empty(),
        "kernel routes left behind: {:?}",
        lab.kernel_routes(&sd, false)
    );
    assert!(
        lab.nexthop_objects(&sd).is_empty(),
        "nexthop objects left behind: {:?}",
        lab.nexthop_objects(&sd)
    );
    let out = wait_for("BIRD saw the Cease", SOON, || {
        let out = bird.try_birdc(&["show", "protocols", "all", "speakerd"])?;
        if out.contains("Received: Administrative shutdown") {
            Ok(out)
        } else {
            Err(out)
        }
    });
    let log = lab.log("bird");
    assert!(
        out.contains("speakerd shutting down") || log.contains("speakerd shutting down"),
        "no shutdown communication in BIRD's output or log:\n{out}\n{log}"
    );
}

/// Graceful restart of speakerd itself: with `[neighbor.graceful_restart]`, SIGTERM leaves
/// speakerd's kernel routes in place and BIRD keeps speakerd's prefix (stale); the restarted
/// speakerd takes the kernel routes over without removing them, and BIRD's copy of our prefix
/// is refreshed. BIRD with graceful restart fully on.
#[test]
fn graceful_restart_of_speakerd() {
    speakerd_restart("speakerd_restart", "  graceful restart on;");
}

/// The same against BIRD in its default mode, `graceful restart aware`: its capability lists
/// no address families (RFC 4724 §3: it cannot keep its own forwarding state but keeps ours),
/// the usual ToR setting. speakerd must still close without a NOTIFICATION, so that BIRD
/// keeps our prefix, and keep BIRD's routes in its own kernel.
#[test]
fn graceful_restart_of_speakerd_with_a_helper_only_bird() {
    speakerd_restart("speakerd_restart_aware", "  graceful restart aware;");
}

fn speakerd_restart(test: &str, bird_graceful_restart: &str) {
    let mut lab = Lab::new(test);
    let (sd, peer) = lab.pair();
    let routes = ["198.19.100.0/24"];
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf(
            "198.18.0.2",
            "198.18.0.2",
            "198.18.0.1",
            &routes,
            bird_graceful_restart,
        ),
    );
    let conf = speakerd_conf(
        "198.18.0.1",
        &format!(
            "{SD_PREFIX_V4}{}",
            sd_neighbor(
                "198.18.0.2",
                "198.18.0.1",
                "ipv4-unicast",
                "[neighbor.graceful_restart]\nrestart_time = 60\n"
            )
        ),
    );
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("198.19.1.0/24 in BIRD's RIB", SOON, || {
        bird.route("198.19.1.0/24")
    });

    lab.route_monitor("monitor", &sd);
    let status = lab.stop("speakerd", "TERM");
    assert!(status.success(), "speakerd exited with {status}");
    assert!(
        lab.kernel_route(&sd, routes[0]).is_some(),
        "speakerd removed its kernel routes although graceful restart is configured"
    );
    let objects = lab.nexthop_objects(&sd);
    assert_eq!(
        objects.len(),
        1,
        "the gateway's nexthop object stays: {objects:?}"
    );
    let kept = wait_for("BIRD's session is down", SOON, || {
        match bird.established("speakerd") {
            Ok(out) => Err(out),
            Err(out) => Ok(out),
        }
    });
    assert!(
        kept.contains("Neighbor graceful restart active"),
        "BIRD does not treat our shutdown as a graceful restart:\n{kept}"
    );
    holds_for(
        "BIRD keeps our prefix while we restart",
        Duration::from_secs(2),
        || bird.route("198.19.1.0/24").map(|_| ()),
    );

    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, routes[0], &["198.18.0.2"]);
    wait_for("BIRD ends the graceful restart", SOON, || {
        let out = bird.established("speakerd")?;
        if out.contains("graceful restart active") {
            Err(out)
        } else {
            Ok(())
        }
    });
    bird.route("198.19.1.0/24").unwrap();
    assert_never_deleted(&lab, "monitor", routes[0]);
    let route = lab.kernel_route(&sd, routes[0]).unwrap();
    assert_eq!(
        lab.nexthop_objects(&sd),
        objects,
        "the restarted speakerd adopts the object instead of making another"
    );
    assert_eq!(route["nhid"], objects[0]["id"], "{route}");
}

/// RFC 4724 §4.1: a restarted speakerd (its previous routes still in the kernel) defers route
/// selection until every neighbour has sent End-of-RIB. With one of two BIRDs unreachable, the
/// routes of the other arrive but nothing is selected, advertised or changed in the kernel, and
/// the reachable BIRD keeps our prefix as stale (no End-of-RIB from us yet); once the second
/// BIRD is back and has sent its table, selection runs, both BIRDs get our routes and
/// End-of-RIB, and no kernel route was deleted on the way.
#[test]
fn restarted_speakerd_defers_route_selection_until_every_neighbour_sent_its_table() {
    let mut lab = Lab::new("selection_deferral");
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let (first, second) = ("198.19.100.0/24", "198.19.200.0/24");
    let gr = "  graceful restart on;";
    let b1 = star_bird(&mut lab, 1, &peers[0], &[first], gr);
    let b2 = star_bird(&mut lab, 2, &peers[1], &[second], gr);
    let restart = "[neighbor.graceful_restart]\nrestart_time = 90\n";
    let conf = speakerd_conf(
        "198.18.0.1",
        &format!(
            "{SD_PREFIX_V4}{}{}",
            star_neighbor(1, restart),
            star_neighbor(2, restart)
        ),
    );
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &b1, "198.18.1.2");
    wait_established(&lab, &sd, &b2, "198.18.2.2");
    wait_route(&lab, &sd, first, &["198.18.1.2"]);
    wait_route(&lab, &sd, second, &["198.18.2.2"]);
    wait_for("our prefix at BIRD 1", SOON, || b1.route("198.19.1.0/24"));

    lab.route_monitor("monitor", &sd);
    let status = lab.stop("speakerd", "TERM");
    assert!(status.success(), "speakerd exited with {status}");
    // BIRD 2 is unreachable while speakerd comes back.
    b2.birdc(&["disable", "speakerd"]);
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &b1, "198.18.1.2");
    wait_for("BIRD 1's table in speakerd's Adj-RIB-In", SOON, || {
        let n = lab.neighbor(&sd, "198.18.1.2")?;
        match n["prefixes_accepted"].as_u64() {
            Some(1) => Ok(()),
            _ => Err(n.to_string()),
        }
    });
    holds_for(
        "selection deferred while BIRD 2 has not sent its table",
        Duration::from_secs(3),
        || {
            if let Some(r) = lab.speakerd_route(&sd, first)? {
                return Err(format!("{first} selected during the deferral: {r}"));
            }
            for prefix in [first, second] {
                if lab.kernel_route(&sd, prefix).is_none() {
                    return Err(format!("{prefix} left the kernel during the deferral"));
                }
            }
            let gr = b1.established("speakerd")?;
            if !gr.contains("graceful restart active") {
                return Err(format!(
                    "BIRD 1 got our End-of-RIB during the deferral:\n{gr}"
                ));
            }
            b1.route("198.19.1.0/24").map(|_| ())
        },
    );

    b2.birdc(&["enable", "speakerd"]);
    wait_established(&lab, &sd, &b2, "198.18.2.2");
    wait_route(&lab, &sd, first, &["198.18.1.2"]);
    wait_route(&lab, &sd, second, &["198.18.2.2"]);
    wait_for(
        "BIRD 1 ends the graceful restart (our End-of-RIB)",
        SOON,
        || {
            let out = b1.established("speakerd")?;
            if out.contains("graceful restart active") {
                Err(out)
            } else {
                Ok(())
            }
        },
    );
    wait_for("our prefix at BIRD 2", SOON, || b2.route("198.19.1.0/24"));
    b1.route("198.19.1.0/24").unwrap();
    assert_never_deleted(&lab, "monitor", first);
}

/// SIGTERM with `shutdown_drain_seconds`: speakerd first re-announces its prefix with the
/// GRACEFUL_SHUTDOWN community (RFC 8326) and three prepends, keeps the session up for the drain
/// period, then closes with Cease 6/2 and exits.
#[test]
fn shutdown_drain_on_sigterm() {
    let mut lab = Lab::new("shutdown_drain");
    let (sd, peer) = lab.pair();
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &[], ""),
    );
    let conf = speakerd_conf(
        "198.18.0.1",
        &format!(
            "{SD_PREFIX_V4}{}",
            sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", "")
        ),
    )
    .replacen("[global]\n", "[global]\nshutdown_drain_seconds = 3\n", 1);
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    let before = wait_for("BIRD has our prefix", SOON, || bird.route("198.19.1.0/24"));
    assert!(!before.contains("(65535,0)"), "{before}");

    lab.signal("speakerd", "TERM");
    let signalled = Instant::now();
    let draining = wait_for("GRACEFUL_SHUTDOWN at BIRD", SOON, || {
        let route = bird.route("198.19.1.0/24")?;
        let prepended = format!("BGP.as_path: {SD_AS} {SD_AS} {SD_AS} {SD_AS}\n");
        if route.contains("(65535,0)") && route.contains(&prepended) {
            Ok(route)
        } else {
            Err(route)
        }
    });
    bird.established("speakerd")
        .expect("the session stays up while draining");
    assert!(
        lab.exited("speakerd").is_none(),
        "exited before the drain ended"
    );
    wait_for("speakerd exits", SOON, || {
        lab.exited("speakerd")
            .ok_or_else(|| "still running".to_string())
    });
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "exited {:?} after SIGTERM, before the 3 s drain:\n{draining}",
        signalled.elapsed()
    );
    wait_for("BIRD saw the Cease", SOON, || {
        let out = bird.try_birdc(&["show", "protocols", "all", "speakerd"])?;
        if out.contains("Received: Administrative shutdown") {
            Ok(out)
        } else {
            Err(out)
        }
    });
}
