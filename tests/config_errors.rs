//! Scenario 10: a configuration error makes `speakerd check` and `speakerd run` exit non-zero
//! with `file:line: reason`. `run` is started inside a fresh network namespace, so that it could
//! not touch the machine's network even if it wrongly started.

mod lab;

use std::time::Duration;

use lab::{wait_for, Lab, SPEAKERD};

/// A configuration whose line 3 has a bad router id and line 9 a bad prefix.
const BAD: &str = "[global]\n\
asn = 4200000001\n\
router_id = \"not-an-address\"\n\
listen = []\n\
\n\
[admin]\n\
listen = \"127.0.0.1:9179\"\n\
\n\
[[prefix]]\n\
prefix = \"198.19.1.0/33\"\n";

#[test]
fn bad_config_is_refused_with_file_and_line() {
    let mut lab = Lab::new("config_errors");
    let path = lab.write("bad.toml", BAD);
    let file = path.to_str().unwrap().to_string();
    let expected = [
        format!("{file}:3: 'not-an-address' is not an IPv4 router id"),
        format!("{file}:10: '198.19.1.0/33' is not a prefix"),
    ];

    let check = lab::run(SPEAKERD, &["check", "--config", &file]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "check accepted it: {stderr}");
    for e in &expected {
        assert!(stderr.contains(e.as_str()), "missing '{e}' in:\n{stderr}");
    }

    let ns = lab.ns("run");
    lab.spawn("run", &ns, SPEAKERD, &["run", "--config", &file], &[]);
    let status = wait_for("speakerd run exits", Duration::from_secs(10), || {
        lab.exited("run").ok_or_else(|| "still running".to_string())
    });
    assert!(!status.success(), "run exited with {status}");
    let log = lab.log("run");
    for e in &expected {
        assert!(log.contains(e.as_str()), "missing '{e}' in:\n{log}");
    }

    // A syntax error (unknown key) is reported at its line too.
    let typo = lab.write(
        "typo.toml",
        "[global]\nasn = 65001\nrouter_id = \"198.18.0.1\"\nlisten = []\nhold_tme = 9\n",
    );
    let typo = typo.to_str().unwrap();
    let check = lab::run(SPEAKERD, &["check", "--config", typo]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "check accepted it: {stderr}");
    assert!(stderr.contains(&format!("{typo}:5: ")), "{stderr}");
    assert!(stderr.contains("hold_tme"), "{stderr}");

    // ADD-PATH send takes a path count from 2 or "all".
    let neighbor = "[global]\nasn = 65001\nrouter_id = \"198.18.0.1\"\nlisten = []\n\n\
                    [[neighbor]]\naddress = \"198.18.0.2\"\nremote_asn = 65002\n";
    for (value, accepted) in [
        ("4", true),
        ("\"all\"", true),
        ("1", false),
        ("\"most\"", false),
    ] {
        let conf = lab.write(
            "add_path.toml",
            &format!("{neighbor}add_path_send = {value}\n"),
        );
        let conf = conf.to_str().unwrap();
        let check = lab::run(SPEAKERD, &["check", "--config", conf]);
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert_eq!(check.status.success(), accepted, "{value}: {stderr}");
        if !accepted {
            assert!(
                stderr.contains(&format!("{conf}:9: add_path_send")),
                "{stderr}"
            );
        }
    }

    // The send hold time (RFC 9687) is at least a second.
    for (value, accepted) in [("20", true), ("0", false)] {
        let conf = lab.write(
            "send_hold.toml",
            &format!("{neighbor}send_hold_time = {value}\n"),
        );
        let conf = conf.to_str().unwrap();
        let check = lab::run(SPEAKERD, &["check", "--config", conf]);
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert_eq!(check.status.success(), accepted, "{value}: {stderr}");
        if !accepted {
            assert!(
                stderr.contains(&format!(
                    "{conf}:9: send_hold_time must be at least 1 second"
                )),
                "{stderr}"
            );
        }
    }

    // TCP-AO (RFC 5925) fails closed: this machine's kernel has no TCP_AO socket options (and
    // speakerd programs none where a kernel has them), so a neighbour with tcp_ao is refused by
    // check and by run, which starts nothing, and never run without authentication.
    let key = lab.write("ao.key", "0123456789abcdef");
    let key = key.to_str().unwrap();
    let ao = format!("tcp_ao = {{ key_file = \"{key}\", send_id = 1, recv_id = 2 }}\n");
    for (extra, error) in [
        (ao.clone(), "not run without authentication"),
        (
            ao.replace(key, "/nonexistent/ao.key"),
            "/nonexistent/ao.key: No such file",
        ),
        (
            format!("{ao}password_env = \"HOME\"\n"),
            "not together with password_file/password_env",
        ),
    ] {
        let conf = lab.write("ao.toml", &format!("{neighbor}{extra}"));
        let conf = conf.to_str().unwrap();
        let check = lab::run(SPEAKERD, &["check", "--config", conf]);
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert!(!check.status.success(), "check accepted {extra}: {stderr}");
        let want = format!("{conf}:9: tcp_ao: ");
        assert!(
            stderr.contains(&want) && stderr.contains(error),
            "{extra}: {stderr}"
        );
    }
    let conf = lab.write("ao-run.toml", &format!("{neighbor}{ao}"));
    let conf = conf.to_str().unwrap().to_string();
    lab.spawn("run-ao", &ns, SPEAKERD, &["run", "--config", &conf], &[]);
    let status = wait_for(
        "speakerd run with tcp_ao exits",
        Duration::from_secs(10),
        || {
            lab.exited("run-ao")
                .ok_or_else(|| "still running".to_string())
        },
    );
    assert!(!status.success(), "run with tcp_ao exited with {status}");
    let log = lab.log("run-ao");
    assert!(
        log.contains(&format!("{conf}:9: tcp_ao: ")) && log.contains("no TCP-AO"),
        "{log}"
    );

    // BFD: intervals of 10 ms to 60 s, a multiplier of at least 1 (RFC 5880 §4.1).
    for (table, accepted, error) in [
        ("min_rx = 300\nmin_tx = 100\nmultiplier = 3", true, ""),
        ("", true, ""),
        ("min_rx = 5", false, ":11: BFD interval 5 ms"),
        ("min_tx = 60001", false, ":11: BFD interval 60001 ms"),
        ("multiplier = 0", false, ":11: BFD multiplier"),
        (
            "strict = true",
            false,
            ":11: BFD strict mode needs the neighbour's local_address",
        ),
    ] {
        let conf = lab.write(
            "bfd.toml",
            &format!("{neighbor}\n[neighbor.bfd]\n{table}\n"),
        );
        let conf = conf.to_str().unwrap();
        let check = lab::run(SPEAKERD, &["check", "--config", conf]);
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert_eq!(check.status.success(), accepted, "{table}: {stderr}");
        if !accepted {
            assert!(
                stderr.contains(&format!("{conf}{error}")),
                "{table}: {stderr}"
            );
        }
    }
}
