//! How routes are installed: the path MTU and advertised MSS of `[kernel]` on every route
//! (`ip route ... mtu 9000 advmss 8960`), with nexthop objects and with plain routes.

use super::*;

/// `[kernel] mtu` and `advmss` reach the kernel on the routes speakerd installs, for jumbo-frame
/// fabrics and overlay-to-native migrations: with nexthop objects and without.
#[test]
fn routes_are_installed_with_the_configured_mtu_and_advmss() {
    for objects in [true, false] {
        let mut lab = Lab::new(&format!("route_mtu_{objects}"));
        let (sd, peer) = lab.pair();
        let pod = "198.19.100.0/24";
        let bird = lab.bird(
            "bird",
            &peer,
            &bird_conf("198.18.0.2", "198.18.0.2", "198.18.0.1", &[pod], ""),
        );
        let conf = speakerd_conf(
            "198.18.0.1",
            &sd_neighbor("198.18.0.2", "198.18.0.1", "ipv4-unicast", ""),
        )
        .replace(
            "[kernel]\n",
            &format!("[kernel]\nmtu = 9000\nadvmss = 8960\nnexthop_objects = {objects}\n"),
        );
        lab.speakerd("speakerd", &sd, &conf);
        wait_established(&lab, &sd, &bird, "198.18.0.2");
        wait_route(&lab, &sd, pod, &["198.18.0.2"]);
        let kernel = lab.kernel_route(&sd, pod).expect("installed");
        let metrics = &kernel["metrics"][0];
        assert_eq!(metrics["mtu"], 9000, "nexthop objects {objects}: {kernel}");
        assert_eq!(
            metrics["advmss"], 8960,
            "nexthop objects {objects}: {kernel}"
        );
        let text = lab.exec(&sd, lab::IP, &["route", "show", pod]).unwrap();
        assert!(text.contains("mtu 9000"), "{text}");
    }
}
