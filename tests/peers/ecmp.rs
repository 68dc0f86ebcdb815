//! ECMP across several neighbours, with kernel nexthop objects and without.

use super::*;

/// The two-BIRD ECMP lab of [`ecmp_two_birds`]: speakerd with `kernel_extra` in its
/// `[kernel]` table, both sessions up and the prefix installed with two next hops.
fn ecmp_lab(name: &str, kernel_extra: &str) -> (Lab, String, [Bird; 2]) {
    let mut lab = Lab::new(name);
    let sd = lab.ns("sd");
    let peers = star(&mut lab, &sd, 2);
    let prefix = "198.19.100.0/24";
    let b1 = star_bird(&mut lab, 1, &peers[0], &[prefix], "");
    let b2 = star_bird(&mut lab, 2, &peers[1], &[prefix], "");
    let conf = speakerd_conf(
        "198.18.0.1",
        &format!("{}{}", star_neighbor(1, ""), star_neighbor(2, "")),
    )
    .replacen("[kernel]\n", &format!("[kernel]\n{kernel_extra}"), 1);
    lab.speakerd("speakerd", &sd, &conf);
    wait_established(&lab, &sd, &b1, "198.18.1.2");
    wait_established(&lab, &sd, &b2, "198.18.2.2");
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    let route = lab.kernel_route(&sd, prefix).unwrap();
    assert_eq!(
        route["nexthops"].as_array().map(Vec::len),
        Some(2),
        "{route}"
    );
    (lab, sd, [b1, b2])
}

/// The nexthop group of ours in `ns` and the ids of its members.
fn our_group(lab: &Lab, ns: &str) -> Result<(u64, Vec<u64>), String> {
    let objects = lab.nexthop_objects(ns);
    let groups: Vec<&Value> = objects.iter().filter(|o| o["group"].is_array()).collect();
    match groups.as_slice() {
        [group] => Ok((
            group["id"].as_u64().unwrap_or_default(),
            group["group"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_u64())
                .collect(),
        )),
        _ => Err(format!("not exactly one group: {objects:?}")),
    }
}

/// Scenario 4: ECMP. Two BIRDs in the same AS announce the same prefix with identical AS
/// paths: one kernel route through a nexthop group of two gateway objects (ours, protocol
/// 201). Someone deletes the route, then a gateway object: both are put back and counted. One
/// BIRD goes down and comes back: the group object changes to the remaining gateway and back,
/// the route is never touched; both stop: the route and every object are gone.
#[test]
fn ecmp_two_birds() {
    let (mut lab, sd, birds) = ecmp_lab("ecmp", "");
    let prefix = "198.19.100.0/24";
    assert_eq!(
        lab.metric(&sd, "bgp_kernel_nexthop_objects", &[]).unwrap(),
        1.0
    );
    let (group, members) = our_group(&lab, &sd).unwrap();
    assert_eq!(members.len(), 2, "{:?}", lab.nexthop_objects(&sd));
    let route = lab.kernel_route(&sd, prefix).unwrap();
    assert_eq!(route["nhid"].as_u64(), Some(group), "{route}");

    // Drift: the route is deleted, then one gateway object (which the kernel also takes out
    // of the group).
    lab::run_ok(
        lab::IP,
        &["-n", &sd, "route", "del", prefix, "proto", "201"],
    );
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    lab::run_ok(
        lab::IP,
        &["-n", &sd, "nexthop", "del", "id", &members[0].to_string()],
    );
    wait_for(
        "the gateway object and the group are repaired",
        SOON,
        || {
            let (now, m) = our_group(&lab, &sd)?;
            let route = lab.kernel_route(&sd, prefix).ok_or("no route")?;
            if m.len() == 2
                && route["nhid"].as_u64() == Some(now)
                && Lab::gateways(&route).len() == 2
            {
                Ok(())
            } else {
                Err(format!("{:?} {route}", lab.nexthop_objects(&sd)))
            }
        },
    );
    let repairs = lab
        .metric(&sd, "bgp_kernel_drift_repairs_total", &[])
        .unwrap();
    assert!(repairs >= 2.0, "drift repairs counted: {repairs}");

    // A ToR goes away and comes back: every route of the group follows by one change of the
    // group object; the routes themselves are not touched.
    let (group, _) = our_group(&lab, &sd).unwrap();
    let gateway_object = |lab: &Lab, address: &str| {
        lab.nexthop_objects(&sd)
            .iter()
            .find(|o| o["gateway"] == address)
            .and_then(|o| o["id"].as_u64())
    };
    let group_holds = |lab: &Lab, gateways: &[&str]| {
        let (now, members) = our_group(lab, &sd)?;
        let route = lab.kernel_route(&sd, prefix).ok_or("no route")?;
        let want: Option<Vec<u64>> = gateways.iter().map(|g| gateway_object(lab, g)).collect();
        let mut members = members;
        members.sort();
        let mut want = want.ok_or("a gateway has no object")?;
        want.sort();
        if now == group && members == want && route["nhid"].as_u64() == Some(group) {
            Ok(())
        } else {
            Err(format!("{:?} {route}", lab.nexthop_objects(&sd)))
        }
    };
    // By default the kernel itself reports every route of a changed group as changed; without
    // that compatibility mode, a route message can only come from a route request.
    let compat = |mode: &str| {
        lab::run_ok(
            lab::IP,
            &[
                "netns",
                "exec",
                &sd,
                "sysctl",
                "-qw",
                &format!("net.ipv4.nexthop_compat_mode={mode}"),
            ],
        )
    };
    compat("0");
    lab.route_monitor("monitor", &sd);
    let selected = |lab: &Lab, hops: usize| match lab.speakerd_route(&sd, prefix)? {
        Some(r) if r["next_hops"].as_array().map(Vec::len) == Some(hops) => Ok(()),
        other => Err(format!("{other:?}")),
    };
    birds[0].birdc(&["disable", "speakerd"]);
    wait_for("one next hop in speakerd's RIB", SOON, || selected(&lab, 1));
    wait_for(
        "the same group holds only the remaining gateway",
        SOON,
        || group_holds(&lab, &["198.18.2.2"]),
    );
    assert_eq!(
        gateway_object(&lab, "198.18.1.2"),
        None,
        "the gone gateway's object is deleted"
    );
    birds[0].birdc(&["enable", "speakerd"]);
    wait_for("two next hops in speakerd's RIB", SOON, || {
        selected(&lab, 2)
    });
    wait_for("the same group holds both gateways again", SOON, || {
        group_holds(&lab, &["198.18.1.2", "198.18.2.2"])
    });
    let monitor = lab.log("monitor");
    assert!(
        !monitor.contains(prefix),
        "the route changed although only its group had to: {monitor}"
    );
    compat("1");
    wait_route(&lab, &sd, prefix, &["198.18.1.2", "198.18.2.2"]);
    assert_eq!(
        lab.metric(&sd, "bgp_kernel_nexthop_group_moves_total", &[])
            .unwrap(),
        2.0
    );

    lab.stop("bird1", "TERM");
    wait_route(&lab, &sd, prefix, &["198.18.2.2"]);
    lab.stop("bird2", "TERM");
    lab.wait_route_gone(&sd, prefix);
    wait_for("no nexthop object of ours is left", SOON, || {
        match lab.nexthop_objects(&sd).as_slice() {
            [] => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

/// ECMP with `[kernel] nexthop_objects = false`: one multipath route, no nexthop objects, and
/// the route drops to one next hop when a BIRD stops.
#[test]
fn ecmp_multipath_routes_without_nexthop_objects() {
    let (mut lab, sd, _birds) = ecmp_lab("ecmp_multipath", "nexthop_objects = false\n");
    let prefix = "198.19.100.0/24";
    assert_eq!(
        lab.metric(&sd, "bgp_kernel_nexthop_objects", &[]).unwrap(),
        0.0
    );
    let route = lab.kernel_route(&sd, prefix).unwrap();
    assert!(route["nhid"].is_null(), "{route}");
    assert!(lab.nexthop_objects(&sd).is_empty());
    lab.stop("bird1", "TERM");
    wait_route(&lab, &sd, prefix, &["198.18.2.2"]);
    assert!(lab.nexthop_objects(&sd).is_empty());
}
