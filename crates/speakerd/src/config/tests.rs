//! Values a configuration refuses with the key's line and the reason.

use std::path::Path;

use super::*;

fn errors_of(extra: &str) -> Vec<String> {
    let text = format!("[global]\nasn = 65001\nrouter_id = \"198.18.0.1\"\n\n{extra}");
    match Config::parse(&text, Path::new("t.toml"), &|_| None) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn out_of_range_values_are_refused_at_their_line() {
    let neighbor = "[[neighbor]]\naddress = \"198.18.0.2\"\nremote_asn = 65002\n";
    let cases = [
        ("[kernel]\nmtu = 1000\n", "t.toml:6: mtu 1000 must be between 1280 and 65535"),
        ("[kernel]\nmtu = 9000\nadvmss = 100\n", "t.toml:7: advmss 100 must be between 536 and 65495"),
        (
            &format!("{neighbor}[neighbor.graceful_restart]\nrestart_time = 5000\n"),
            "t.toml:9: restart_time 5000 must be at most 4095 seconds",
        ),
        (
            &format!("{neighbor}[neighbor.graceful_restart]\nlong_lived_stale_time = 0\n"),
            "t.toml:9: long_lived_stale_time 0 must be between 1 and 16777215 seconds",
        ),
        (
            "[kubernetes]\nnode_name = \"n\"\n[[kubernetes.tor]]\naddress = \"198.18.0.9\"\nremote_asn = 65009\n\
             node_selector = { match_expressions = [{ key = \"rack\", operator = \"Near\" }] }\n",
            "unknown label selector operator 'Near'",
        ),
        (
            "[kubernetes]\nnode_name = \"n\"\n[[kubernetes.tor]]\naddress = \"198.18.0.9\"\nremote_asn = 65009\n",
            "a ToR needs exactly one of node_label and node_selector",
        ),
    ];
    for (extra, expected) in cases {
        let errors = errors_of(extra);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{extra}: {errors:?}"
        );
    }
    assert!(errors_of("[kernel]\nmtu = 9000\nadvmss = 8960\n").is_empty());
}

#[test]
fn a_message_log_that_cannot_be_written_is_refused_at_its_line() {
    let neighbor = "[[neighbor]]\naddress = \"198.18.0.2\"\nremote_asn = 65002\n";
    let dir = std::env::temp_dir();
    let tmp = dir.display();
    let cases = [
        (
            "message_log = { file = \"peer.mrt\" }".to_string(),
            "t.toml:8: message_log: peer.mrt: not an absolute path".to_string(),
        ),
        (
            "message_log = { file = \"/nonexistent-speakerd/peer.mrt\" }".to_string(),
            "t.toml:8: message_log: /nonexistent-speakerd/peer.mrt: no such directory to write it in"
                .to_string(),
        ),
        (
            format!("message_log = {{ file = \"{tmp}/peer.mrt\", rotate_bytes = 100 }}"),
            "message_log: rotate_bytes 100 must be 0 (never) or at least 4096".to_string(),
        ),
        (
            format!("message_log = {{ file = \"{tmp}/peer.mrt\", keep = 0 }}"),
            "message_log: keep must be at least 1".to_string(),
        ),
        (
            format!(
                "message_log = {{ file = \"{tmp}/peer.mrt\" }}\n\n[[neighbor]]\naddress = \"198.18.0.3\"\n\
                 remote_asn = 65003\nmessage_log = {{ file = \"{tmp}/peer.mrt\" }}"
            ),
            format!("t.toml:10: message_log: {tmp}/peer.mrt is the message log of neighbor 198.18.0.2 already"),
        ),
    ];
    for (line, expected) in cases {
        let errors = errors_of(&format!("{neighbor}{line}\n"));
        assert!(
            errors.iter().any(|e| e.contains(&expected)),
            "{line}: {errors:?}"
        );
    }
    let dynamic = format!(
        "[[dynamic_neighbor]]\nrange = \"198.18.8.0/24\"\nremote_asn = 65008\n\
         message_log = {{ file = \"{tmp}/range.mrt\" }}\n"
    );
    assert!(
        errors_of(&dynamic).iter().any(|e| e.contains(
            "t.toml:5: message_log: not for a [[dynamic_neighbor]]: its neighbours would share one file"
        )),
        "{:?}",
        errors_of(&dynamic)
    );
    let config = Config::parse(
        &format!(
            "[global]\nasn = 65001\nrouter_id = \"198.18.0.1\"\n\n{neighbor}\
             message_log = {{ file = \"{tmp}/peer.mrt\", rotate_seconds = 3600 }}\n"
        ),
        Path::new("t.toml"),
        &|_| None,
    )
    .expect("valid");
    assert_eq!(
        config.neighbors[0].message_log,
        Some(MessageLogConfig {
            file: dir.join("peer.mrt"),
            rotate_bytes: 64 << 20,
            rotate_seconds: Some(std::time::Duration::from_secs(3600)),
            keep: 10,
        })
    );
}
