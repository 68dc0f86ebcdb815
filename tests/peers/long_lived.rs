//! Long-lived graceful restart (RFC 9494) in both roles, against BIRD and FRR: the routes of a
//! neighbour that stays away longer than its restart time are kept as long-lived stale (with
//! LLGR_STALE, least preferred, withdrawn from neighbours without the capability) until its
//! long-lived stale time; and the neighbours keep speakerd's prefix that way while speakerd is
//! down.

use super::*;
use crate::lab::Frr;

/// speakerd's graceful restart table with LLGR: a restart time of `restart` seconds, then a
/// long-lived stale time of 60 s.
fn sd_long_lived(restart: u32) -> String {
    format!("[neighbor.graceful_restart]\nrestart_time = {restart}\nlong_lived_stale_time = 60\n")
}

/// BIRD's graceful restart with LLGR: restart time 3 s, long-lived stale time 12 s.
const BIRD_LONG_LIVED: &str = "  graceful restart on;\n  graceful restart time 3;\n  \
    long lived graceful restart on;\n  long lived stale time 12;";

/// Whether speakerd's path of `prefix` carries LLGR_STALE (65535:6).
fn long_lived_stale(lab: &Lab, ns: &str, prefix: &str) -> Result<(), String> {
    let p = paths(lab, ns, prefix)?;
    let marked = p.iter().any(|p| {
        p["stale"] == true
            && p["communities"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "65535:6"))
    });
    if marked {
        Ok(())
    } else {
        Err(format!("{p:?}"))
    }
}

/// speakerd as the helper of a BIRD that stays away: its route stays in our kernel through
/// BIRD's restart time (3 s) and then as long-lived stale through its stale time (12 s): marked
/// LLGR_STALE and withdrawn from a second BIRD that did not advertise LLGR (RFC 9494 §4.3), and
/// removed when the stale time is over.
#[test]
fn long_lived_graceful_restart_of_bird() {
    let mut lab = Lab::new("llgr_bird");
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let pod = "198.19.100.0/24";
    let restarting = star_bird(&mut lab, 1, &peers[0], &[pod], BIRD_LONG_LIVED);
    // In the same AS as the first: it accepts the route with its own AS in the path.
    let plain = star_bird(
        &mut lab,
        2,
        &peers[1],
        &[],
        "  graceful restart aware;\n  allow local as;",
    );
    let gr = sd_long_lived(60);
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!("{}{}", star_neighbor(1, &gr), star_neighbor(2, &gr)),
        ),
    );
    wait_established(&lab, &sd, &restarting, "198.18.1.2");
    wait_established(&lab, &sd, &plain, "198.18.2.2");
    wait_route(&lab, &sd, pod, &["198.18.1.2"]);
    wait_for("the second BIRD has the route", SOON, || plain.route(pod));
    let neighbor = lab.neighbor(&sd, "198.18.1.2").unwrap();
    assert!(
        neighbor["capabilities"]
            .to_string()
            .contains("long-lived-graceful-restart"),
        "{neighbor}"
    );
    let other = lab.neighbor(&sd, "198.18.2.2").unwrap();
    assert!(
        !other["capabilities"].to_string().contains("long-lived"),
        "{other}"
    );

    lab.route_monitor("monitor", &sd);
    let killed = Instant::now();
    lab.stop("bird1", "KILL");
    wait_for("the route is long-lived stale", SOON, || {
        long_lived_stale(&lab, &sd, pod)
    });
    let entered = killed.elapsed();
    assert!(
        entered >= Duration::from_secs(3),
        "long-lived stale after {entered:?}, before BIRD's restart time"
    );
    wait_for(
        "the second BIRD no longer has the route",
        SOON,
        || match plain.route(pod) {
            Ok(out) => Err(out),
            Err(_) => Ok(()),
        },
    );
    assert_eq!(
        lab.kernel_route(&sd, pod).map(|r| Lab::gateways(&r)),
        Some(vec!["198.18.1.2".to_string()]),
        "the long-lived stale route stays in the kernel"
    );
    lab.wait_route_gone(&sd, pod);
    let gone = killed.elapsed();
    assert!(
        gone >= Duration::from_secs(15),
        "removed after {gone:?}, before the restart time and the stale time (3 + 12 s)"
    );
    assert_eq!(
        deletions(&lab, "monitor", pod),
        1,
        "one deletion, at the end: {}",
        lab.log("monitor")
    );
}

/// speakerd as the restarting speaker with a BIRD helper: killed, speakerd leaves its kernel
/// routes; BIRD keeps speakerd's prefix for the restart time (2 s) and then as long-lived
/// stale, with LLGR_STALE; the restarted speakerd refreshes it (no LLGR_STALE any more) without
/// removing its own kernel routes.
#[test]
fn long_lived_graceful_restart_of_speakerd_at_bird() {
    let mut lab = Lab::new("llgr_sd_bird");
    let (sd, peer) = lab.pair();
    let pod = "198.19.100.0/24";
    let bird = lab.bird(
        "bird",
        &peer,
        &bird_conf(
            "198.18.0.2",
            "198.18.0.2",
            "198.18.0.1",
            &[pod],
            "  graceful restart on;\n  long lived graceful restart on;",
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
                &sd_long_lived(2)
            )
        ),
    );
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_route(&lab, &sd, pod, &["198.18.0.2"]);
    wait_for("our prefix at BIRD", SOON, || bird.route("198.19.1.0/24"));

    lab.route_monitor("monitor", &sd);
    lab.stop("speakerd", "KILL");
    let marked = |bird: &Bird| -> Result<String, String> {
        let out = bird.try_birdc(&["show", "route", "all", "198.19.1.0/24"])?;
        if out.contains("(65535,6)") {
            Ok(out)
        } else {
            Err(out)
        }
    };
    wait_for("BIRD keeps our prefix as long-lived stale", SOON, || {
        marked(&bird)
    });
    holds_for(
        "BIRD keeps it past our restart time",
        Duration::from_secs(3),
        || marked(&bird).map(|_| ()),
    );

    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    wait_for("BIRD has our prefix fresh again", SOON, || {
        match marked(&bird) {
            Ok(out) => Err(out),
            Err(out) if out.contains("198.19.1.0/24") => Ok(()),
            Err(out) => Err(out),
        }
    });
    assert_never_deleted(&lab, "monitor", pod);
}

/// Both roles with FRR (`bgp long-lived-graceful-restart stale-time`): FRR keeps our prefix
/// long-lived stale (community `llgr-stale`) while speakerd is down, and speakerd keeps FRR's
/// route long-lived stale after FRR's restart time until its stale time.
#[test]
fn long_lived_graceful_restart_with_frr() {
    let mut lab = Lab::new("llgr_frr");
    let (sd, peer) = lab.pair();
    let pod = "198.19.100.0/24";
    let dir = lab.dir().display().to_string();
    let frr = lab.frr_bgpd(
        "bgpd",
        &peer,
        &format!(
            "frr defaults traditional\nhostname frr\nlog file {dir}/bgpd-frr.log\n!\n\
             router bgp {PEER_AS}\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n\
             \x20no bgp network import-check\n bgp graceful-restart\n\
             \x20bgp graceful-restart restart-time 3\n bgp long-lived-graceful-restart stale-time 12\n\
             \x20neighbor 198.18.0.1 remote-as {SD_AS}\n neighbor 198.18.0.1 timers 3 9\n\
             \x20neighbor 198.18.0.1 timers connect 2\n !\n address-family ipv4 unicast\n\
             \x20 network {pod}\n exit-address-family\n!\n"
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
                &sd_long_lived(2)
            )
        ),
    );
    lab.speakerd("speakerd", &sd, &conf);
    let established = |frr: &Frr| -> Result<(), String> {
        let out = frr.try_vtysh(&["show bgp neighbors 198.18.0.1 json"])?;
        if out.contains("\"bgpState\":\"Established\"") {
            Ok(())
        } else {
            Err(out)
        }
    };
    wait_for("FRR's session Established", UP, || established(&frr));
    wait_route(&lab, &sd, pod, &["198.18.0.2"]);
    let neighbor = lab.neighbor(&sd, "198.18.0.2").unwrap();
    assert!(
        neighbor["capabilities"]
            .to_string()
            .contains("long-lived-graceful-restart"),
        "{neighbor}\n{}",
        frr.vtysh(&["show bgp neighbors 198.18.0.1"])
    );
    let our_prefix = |frr: &Frr| frr.try_vtysh(&["show bgp ipv4 unicast 198.19.1.0/24 json"]);
    wait_for("our prefix at FRR", SOON, || {
        let out = our_prefix(&frr)?;
        if out.contains("\"paths\"") {
            Ok(())
        } else {
            Err(out)
        }
    });

    // speakerd restarts: FRR keeps our prefix, long-lived stale after our restart time.
    lab.stop("speakerd", "KILL");
    wait_for("FRR keeps our prefix as long-lived stale", SOON, || {
        let out = our_prefix(&frr)?;
        if out.contains("llgr-stale") {
            Ok(())
        } else {
            Err(out)
        }
    });
    lab.speakerd("speakerd", &sd, &conf);
    wait_for("speakerd's session Established again", UP, || {
        lab.speakerd_established(&sd, "198.18.0.2")
    });
    wait_for("FRR's session Established again", UP, || established(&frr));
    wait_for("FRR has our prefix fresh again", SOON, || {
        let out = our_prefix(&frr)?;
        if out.contains("\"paths\"") && !out.contains("llgr-stale") {
            Ok(())
        } else {
            Err(out)
        }
    });

    wait_for("FRR's route in the restarted speakerd's RIB", SOON, || {
        lab.speakerd_route(&sd, pod)?
            .ok_or_else(|| "no route".to_string())
    });

    // FRR goes away for good: its route is kept through its restart time and stale time.
    let killed = Instant::now();
    lab.stop("bgpd", "KILL");
    wait_for("FRR's route is long-lived stale", SOON, || {
        long_lived_stale(&lab, &sd, pod)
    });
    assert!(lab.kernel_route(&sd, pod).is_some(), "kept in the kernel");
    lab.wait_route_gone(&sd, pod);
    let gone = killed.elapsed();
    assert!(
        gone >= Duration::from_secs(15),
        "removed after {gone:?}, before FRR's restart time and stale time (3 + 12 s)"
    );
}
