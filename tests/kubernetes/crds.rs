//! The bgp.speakerd.io custom resources against the stand-in API server and a BIRD ToR: a
//! BGPClusterConfig gives a node its ToR and session settings (the TCP MD5 password from a
//! Secret, BFD), a BGPAdvertisement its PodCIDR's communities, and the node's BGPNodeStatus reports
//! the session, what is in force and what cannot work (a missing Secret, two configs for one
//! node), written only on change.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

/// The node's BGPNodeStatus `status`, once it has one.
fn status(c: &Cluster, node: &str) -> Result<Value, String> {
    let object = c.get_json(&format!("/_control/bgpnodestatuses/{node}"))?;
    match object.get("status") {
        Some(s) => Ok(s.clone()),
        None => Err(format!("no status yet: {object}")),
    }
}

/// Ok when the node's `ConfigApplied` condition has this reason (and the status says so).
fn condition(c: &Cluster, node: &str, reason: &str) -> Result<Value, String> {
    let s = status(c, node)?;
    let found = s["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "ConfigApplied" && c["reason"] == reason);
    if found {
        Ok(s)
    } else {
        Err(s.to_string())
    }
}

fn racks_config(password: bool) -> Value {
    let mut session = json!({
        "holdTimeSeconds": 9,
        "connectRetrySeconds": 2,
        "bfd": {"minRxMillis": 300, "minTxMillis": 300, "multiplier": 3}
    });
    if password {
        session["passwordSecretRef"] = json!({"name": "bgp-md5"});
    }
    json!({
        "apiVersion": "bgp.speakerd.io/v1alpha1",
        "kind": "BGPClusterConfig",
        "metadata": {"name": "racks"},
        "spec": {
            "nodeSelector": {"matchLabels": {"rack": "r1"}},
            "mode": "tor",
            "peers": [{"address": API, "peerASN": TOR_ASN, "nodeSelector": {"matchLabels": {"rack": "r1"}}}],
            "session": session
        }
    })
}

#[test]
fn custom_resources_configure_the_peering_and_the_status_reports_it() {
    let mut c = Cluster::new("k8s-crd", 1);
    c.put_node(1, &pod_cidr(1), json!({"rack": "r1"}));
    let bfd = "protocol bfd {\n  interface \"br0\" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };\n}\n";
    let bird = tor_bird_with(&mut c, bfd, "password \"s3cret\";\n  bfd on;");
    // The ConfigMap has no ToR: the peering comes from the resources.
    c.start_speakerd_with(
        1,
        "tor",
        "",
        "custom_resources = true\n",
        "allow_own_as = 1\n",
    );
    let started = Instant::now();

    // No BGPClusterConfig yet: the ConfigMap's peering (none) applies, and the status says so.
    wait_for("a status without a config", CONVERGE, || {
        condition(&c, "node-1", "NoMatchingClusterConfig")
    });

    // A config whose password Secret does not exist: no session with an empty password.
    c.control(
        "PUT",
        "/_control/bgpclusterconfigs/racks",
        Some(&racks_config(true)),
    )
    .unwrap();
    let refused = wait_for("the missing Secret reported", CONVERGE, || {
        condition(&c, "node-1", "SecretNotFound")
    });
    assert!(refused.to_string().contains("bgp-md5"), "{refused}");
    wait_for("a Warning Event about it", CONVERGE, || {
        c.has_event("node-1", "BGPConfigRefused", "bgp-md5")
    });
    lab::holds_for(
        "no session without the password",
        Duration::from_secs(3),
        || match bird.established("node1") {
            Ok(out) => Err(out),
            Err(_) => Ok(()),
        },
    );

    // The Secret appears (read again within 10 s): the session comes up with MD5.
    let secret = json!({"data": {"password": "czNjcmV0"}});
    c.control(
        "PUT",
        "/_control/secrets/speakerd-system/bgp-md5",
        Some(&secret),
    )
    .unwrap();
    wait_for("BIRD's session with the node", CONVERGE, || {
        bird.established("node1")
    });
    let s = wait_for("the status shows the session", CONVERGE, || {
        let s = condition(&c, "node-1", "Applied")?;
        if s["summary"] == "1/1 Established" && s["clusterConfig"] == "racks" {
            Ok(s)
        } else {
            Err(s.to_string())
        }
    });
    let session = &s["sessions"][0];
    assert_eq!(session["peer"], API, "{s}");
    assert_eq!(session["peerASN"], TOR_ASN, "{s}");
    assert!(session["establishedSince"].is_string(), "{s}");
    assert_eq!(s["announced"], json!([pod_cidr(1)]), "{s}");
    // BFD from the config's session settings (issue 14: BFD in the Kubernetes peer config).
    wait_for("BFD Up with the ToR", CONVERGE, || {
        match c
            .lab
            .metric(&c.nodes[0], "bgp_bfd_state", &[&format!("peer=\"{API}\"")])?
        {
            3.0 => Ok(()),
            other => Err(format!("bgp_bfd_state {other}")),
        }
    });

    // A BGPAdvertisement: the PodCIDR goes out with its community.
    let ad = json!({"spec": {"communities": ["64512:77"]}});
    c.control("PUT", "/_control/bgpadvertisements/pods", Some(&ad))
        .unwrap();
    wait_for("the PodCIDR at BIRD with the community", CONVERGE, || {
        let out = bird.route(&pod_cidr(1))?;
        if out.contains("(64512,77)") {
            Ok(())
        } else {
            Err(out)
        }
    });
    wait_for("the advertisement in the status", CONVERGE, || {
        let s = status(&c, "node-1")?;
        if s["advertisements"] == json!(["pods"]) {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });

    // A second config for the same node: refused, the one in force stays (the session too).
    let mut everyone = racks_config(true);
    everyone["metadata"]["name"] = json!("everyone");
    everyone["spec"]["nodeSelector"] = json!({});
    c.control(
        "PUT",
        "/_control/bgpclusterconfigs/everyone",
        Some(&everyone),
    )
    .unwrap();
    let s = wait_for("the conflict reported", CONVERGE, || {
        condition(&c, "node-1", "ConflictingClusterConfigs")
    });
    assert!(s.to_string().contains("everyone, racks"), "{s}");
    bird.established("node1").unwrap();
    c.control("DELETE", "/_control/bgpclusterconfigs/everyone", None)
        .unwrap();
    wait_for("the conflict resolved", CONVERGE, || {
        condition(&c, "node-1", "Applied")
    });
    bird.established("node1").unwrap();

    // Written only on change: far fewer writes than status polls (every 2 s), never more than
    // one per 5 s.
    let writes = c.get_json("/_control/writes").unwrap()["node-1"]
        .as_i64()
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let bound = (elapsed / 5.0).ceil() as i64 + 1;
    assert!(
        writes <= bound,
        "{writes} status writes in {elapsed:.0} s (at most {bound})"
    );
    eprintln!("BGPNodeStatus writes: {writes} in {elapsed:.0} s");
}
