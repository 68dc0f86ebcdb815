//! Which families a session carries: both on one IPv4 session (RFC 4760), and none that the
//! session did not negotiate.

use super::*;

/// One IPv4 session carrying both families (RFC 4760), as a dual-stack node has with its ToR:
/// BIRD gets our IPv6 prefix with our interface's global IPv6 address as its next hop
/// (RFC 2545 §3; a 4-octet next hop is refused by BIRD), and our IPv4 prefix as usual.
#[test]
fn bird_both_families_on_one_ipv4_session() {
    let mut lab = Lab::new("bird_dual_stack");
    let (sd, peer) = lab.pair();
    let bird = lab.bird(
        "bird",
        &peer,
        &format!(
            "log stderr all;\nrouter id 198.18.0.2;\nprotocol device {{}}\n\
             protocol bgp speakerd {{\n  local 198.18.0.2 as {PEER_AS};\n  neighbor 198.18.0.1 as {SD_AS};\n\
             hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
             error wait time 1,2;\n  ipv4 {{ import all; export none; }};\n\
             ipv6 {{ import all; export none; }};\n}}\n"
        ),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{SD_PREFIX_V4}{SD_PREFIX_V6}{}",
                sd_neighbor_default_families("198.18.0.2", "198.18.0.1")
            ),
        ),
    );
    wait_established(&lab, &sd, &bird, "198.18.0.2");
    let v4 = wait_for("198.19.1.0/24 in BIRD's RIB", SOON, || {
        bird.route("198.19.1.0/24")
    });
    assert!(v4.contains("BGP.next_hop: 198.18.0.1"), "{v4}");
    let v6 = wait_for("2001:db8:1001::/48 in BIRD's RIB", SOON, || {
        bird.route("2001:db8:1001::/48")
    });
    assert!(v6.contains("BGP.next_hop: 2001:db8::1"), "next hop: {v6}");
    assert!(!v6.contains("unreachable"), "{v6}");
    assert!(
        !lab.log("bird").contains("mismatched"),
        "BIRD refused a next hop: {}",
        lab.log("bird")
    );
}

/// RFC 4760 §8: a neighbour that offers IPv4 unicast only (GoBGP here) is never sent our IPv6
/// prefix, although we offer both families; GoBGP resets a session that gets one. The session
/// stays up, with our IPv4 prefix in GoBGP's RIB and `show neighbors` counting only it.
#[test]
fn gobgp_ipv4_only_gets_no_ipv6_routes() {
    let mut lab = Lab::new("gobgp_families");
    let (sd, peer) = lab.pair();
    let gobgp = lab.gobgpd(
        "gobgpd",
        &peer,
        &gobgp_conf("198.18.0.2", "198.18.0.1", "ipv4-unicast"),
    );
    lab.speakerd(
        "speakerd",
        &sd,
        &speakerd_conf(
            "198.18.0.1",
            &format!(
                "{SD_PREFIX_V4}{SD_PREFIX_V6}{}",
                sd_neighbor_default_families("198.18.0.2", "198.18.0.1")
            ),
        ),
    );
    wait_for("speakerd's session Established", UP, || {
        lab.speakerd_established(&sd, "198.18.0.2")
    });
    wait_for("198.19.1.0/24 in GoBGP's RIB", SOON, || {
        let out = gobgp.try_gobgp(&["global", "rib", "-a", "ipv4", "198.19.1.0/24"])?;
        if out.contains("198.19.1.0/24") {
            Ok(out)
        } else {
            Err(out)
        }
    });
    holds_for("the session stays up", Duration::from_secs(5), || {
        let n = lab.speakerd_established(&sd, "198.18.0.2")?;
        let established =
            lab.metric(&sd, "bgp_peer_established_total", &["peer=\"198.18.0.2\""])?;
        if established != 1.0 {
            return Err(format!("Established {established} times: {n}"));
        }
        Ok(())
    });
    let n = lab.neighbor(&sd, "198.18.0.2").unwrap();
    assert_eq!(n["prefixes_advertised"], 1, "{n}");
    assert_eq!(n["families"], serde_json::json!(["ipv4-unicast"]), "{n}");
}
