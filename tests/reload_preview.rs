//! `speakerd check --diff-running` against a running speakerd with two BIRD neighbours, then the
//! SIGHUP it previews: the neighbour it says is reset is reset (a Cease 6/3 and a new session),
//! the one it says gets its new import chain by ROUTE-REFRESH keeps its session and has the new
//! policy applied to the routes it sent before. Run as root (network namespaces).

mod lab;

use std::time::Duration;

use lab::{wait_for, Bird, Lab, SPEAKERD};
use serde_json::{json, Value};

const SD_AS: u32 = 4_200_000_001;
const PEER_AS: u32 = 4_200_000_002;
const UP: Duration = Duration::from_secs(30);

/// speakerd's configuration: neighbour 198.18.1.2 with `hold_time`, neighbour 198.18.2.2 with
/// an import chain that rejects `rejected`.
fn speakerd_conf(hold_time: u16, rejected: &str) -> String {
    let neighbor = |n: u8, hold: u16, import: &str| {
        format!(
            "[[neighbor]]\naddress = \"198.18.{n}.2\"\nremote_asn = {PEER_AS}\n\
             local_address = \"198.18.{n}.1\"\nhold_time = {hold}\nconnect_retry_time = 2\n\
             families = [\"ipv4-unicast\"]\nimport = [\"{import}\"]\nexport = [\"accept-all\"]\n\n"
        )
    };
    format!(
        "[global]\nasn = {SD_AS}\nrouter_id = \"198.18.1.1\"\nlisten = []\n\n{}{}\
         [[policy]]\nname = \"in\"\n\n[[policy.term]]\nname = \"drop\"\nprefixes = [\"{rejected}\"]\n\
         then = \"reject\"\n\n[[policy.term]]\nname = \"rest\"\nthen = \"accept\"\n",
        neighbor(1, hold_time, "accept-all"),
        neighbor(2, 9, "in"),
    )
}

/// BIRD number `n` (198.18.n.2) announcing `routes` to speakerd (198.18.n.1); route refresh is
/// on, as BIRD has it by default.
fn bird(lab: &mut Lab, sd: &str, n: u8, routes: &[&str]) -> Bird {
    let ns = lab.ns(&format!("bird{n}"));
    let (ours, theirs) = (format!("198.18.{n}.1/24"), format!("198.18.{n}.2/24"));
    lab.link(sd, &format!("eth{n}"), &[&ours], &ns, "eth0", &[&theirs]);
    let statics: String = routes
        .iter()
        .map(|r| format!("  route {r} blackhole;\n"))
        .collect();
    let conf = format!(
        "log stderr all;\nrouter id 198.18.{n}.2;\nprotocol device {{}}\n\
         protocol static announced {{\n  ipv4;\n{statics}}}\n\
         protocol bgp speakerd {{\n  local 198.18.{n}.2 as {PEER_AS};\n  neighbor 198.18.{n}.1 as {SD_AS};\n\
         hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
         error wait time 1,2;\n  ipv4 {{ import all; export all; }};\n}}\n"
    );
    lab.bird(&format!("bird{n}"), &ns, &conf)
}

fn metric(lab: &Lab, sd: &str, name: &str, labels: &[&str]) -> f64 {
    lab.metric(sd, name, labels).unwrap()
}

/// How often speakerd's session with `peer` became Established.
fn times_established(lab: &Lab, sd: &str, peer: &str) -> f64 {
    let labels = [format!("peer=\"{peer}\"")];
    metric(lab, sd, "bgp_peer_established_total", &[&labels[0]])
}

/// How many ROUTE-REFRESH messages speakerd sent `peer`.
fn refreshes(lab: &Lab, sd: &str, peer: &str) -> f64 {
    let peer = format!("peer=\"{peer}\"");
    metric(
        lab,
        sd,
        "bgp_peer_messages_sent_total",
        &[&peer, "type=\"route_refresh\""],
    )
}

#[test]
fn check_diff_running_predicts_what_sighup_does() {
    let mut lab = Lab::new("reload_preview");
    let sd = lab.ns("sd");
    let (kept, dropped) = ("198.19.200.0/24", "198.19.201.0/24");
    let b1 = bird(&mut lab, &sd, 1, &["198.19.100.0/24"]);
    let b2 = bird(&mut lab, &sd, 2, &[kept, dropped]);
    lab.speakerd("speakerd", &sd, &speakerd_conf(9, dropped));
    for (bird, address) in [(&b1, "198.18.1.2"), (&b2, "198.18.2.2")] {
        wait_for("BIRD's session Established", UP, || {
            bird.established("speakerd")
        });
        wait_for("speakerd's session Established", UP, || {
            lab.speakerd_established(&sd, address)
        });
    }
    wait_for("the route of BIRD 2 that the policy accepts", UP, || {
        lab.speakerd_route(&sd, kept)?
            .ok_or_else(|| "not yet".to_string())
    });
    assert!(lab.speakerd_route(&sd, dropped).unwrap().is_none());

    // The new file: neighbour 1 with another hold time, neighbour 2 rejecting the other route.
    let new = lab.write("new.toml", &speakerd_conf(12, kept));
    let new = new.to_str().unwrap();
    let out = lab
        .exec(
            &sd,
            SPEAKERD,
            &["check", "--config", new, "--diff-running", "--json"],
        )
        .unwrap();
    let plan: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        plan,
        json!({
            "neighbors": [
                {"address": "198.18.1.2", "action": "reset", "keys": ["hold_time"]},
                {"address": "198.18.2.2", "action": "policies", "import": "route_refresh",
                 "export": false, "description": false},
            ],
            "prefixes": {"announced": [], "reannounced": [], "withdrawn": []},
            "restart_required": [],
        })
    );
    let people = lab
        .exec(&sd, SPEAKERD, &["check", "--config", new, "--diff-running"])
        .unwrap();
    println!("speakerd check --config new.toml --diff-running:\n{people}");
    assert!(
        people.contains("neighbor 198.18.1.2: reset: hold_time changed"),
        "{people}"
    );

    assert_eq!(times_established(&lab, &sd, "198.18.1.2"), 1.0);
    assert_eq!(times_established(&lab, &sd, "198.18.2.2"), 1.0);
    assert_eq!(refreshes(&lab, &sd, "198.18.2.2"), 0.0);

    // The reload it previewed.
    let text = std::fs::read_to_string(new).unwrap();
    lab.write("speakerd.toml", &text);
    lab.signal("speakerd", "HUP");

    // Neighbour 2: the new policy reaches the routes it sent before, through a ROUTE-REFRESH.
    wait_for("the route the new policy accepts", UP, || {
        lab.speakerd_route(&sd, dropped)?
            .ok_or_else(|| "not yet".to_string())
    });
    lab.wait_route_gone(&sd, kept);
    assert_eq!(
        refreshes(&lab, &sd, "198.18.2.2"),
        1.0,
        "ROUTE-REFRESH sent to neighbour 2"
    );
    // Neighbour 1: closed with Cease 6/3 (Peer De-configured) and Established again.
    wait_for("neighbour 1 Established a second time", UP, || {
        let n = times_established(&lab, &sd, "198.18.1.2");
        if n == 2.0 {
            lab.speakerd_established(&sd, "198.18.1.2")
        } else {
            Err(format!("{n} times"))
        }
    });
    let ceases = metric(
        &lab,
        &sd,
        "bgp_peer_notifications_sent_total",
        &["peer=\"198.18.1.2\"", "code=\"6\"", "subcode=\"3\""],
    );
    assert_eq!(ceases, 1.0, "Cease 6/3 to neighbour 1");
    assert_eq!(refreshes(&lab, &sd, "198.18.1.2"), 0.0);
    b1.established("speakerd").unwrap();
    // Neighbour 2's session was never reset.
    assert_eq!(times_established(&lab, &sd, "198.18.2.2"), 1.0);
    let none = metric(
        &lab,
        &sd,
        "bgp_peer_notifications_sent_total",
        &["peer=\"198.18.2.2\""],
    );
    assert_eq!(none, 0.0, "no NOTIFICATION to neighbour 2");
    b2.established("speakerd").unwrap();

    // Now the running configuration is the new file: nothing left to do.
    let after = lab
        .exec(&sd, SPEAKERD, &["check", "--config", new, "--diff-running"])
        .unwrap();
    assert!(after.contains("nothing changes"), "{after}");
}
