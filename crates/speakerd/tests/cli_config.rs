//! `speakerd init` and `speakerd check --diff` as a user runs them, without root: starter
//! configurations written, refused over an existing file, read back and checked; the reload
//! plan of two files, for people and as JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SPEAKERD: &str = env!("CARGO_BIN_EXE_speakerd");

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("speakerd-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn speakerd(args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = Command::new(SPEAKERD)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(101), "a panic: {output:?}");
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn init_writes_each_role_refuses_to_overwrite_and_the_file_checks() {
    let dir = scratch("init");
    // The DaemonSet sets these from the downward API; `check` needs them as the daemon does.
    let node_env = [("NODE_IP", "198.18.1.11"), ("NODE_NAME", "node1")];
    for role in ["node", "edge", "reflector"] {
        let file = dir.join(format!("{role}.toml"));
        let out = speakerd(&["init", "--role", role, "--output", path(&file)], &[]);
        assert!(out.status.success(), "{role}: {out:?}");
        let written = std::fs::read_to_string(&file).unwrap();
        assert!(
            written.starts_with("# speakerd starter configuration"),
            "{written}"
        );

        let out = speakerd(&["init", "--role", role], &[]);
        assert!(out.status.success());
        assert_eq!(
            text(&out.stdout),
            written,
            "{role}: stdout and the file agree"
        );

        let check = speakerd(&["check", "--config", path(&file)], &node_env);
        assert!(check.status.success(), "{role}: {}", text(&check.stderr));
        assert!(text(&check.stdout).contains(": ok ("), "{check:?}");

        std::fs::write(&file, "# mine\n").unwrap();
        let refused = speakerd(&["init", "--role", role, "--output", path(&file)], &[]);
        assert!(!refused.status.success(), "{role}: overwrote {refused:?}");
        assert!(text(&refused.stderr).contains("--force"), "{refused:?}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# mine\n");

        let forced = speakerd(
            &["init", "--role", role, "--output", path(&file), "--force"],
            &[],
        );
        assert!(forced.status.success(), "{forced:?}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
    }
    // Without its variables the node's file is refused, at the line that needs one.
    let node = dir.join("node.toml");
    let check = speakerd(&["check", "--config", path(&node)], &[]);
    assert!(!check.status.success());
    assert!(
        text(&check.stderr).contains("environment variable NODE_IP is not set"),
        "{check:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

const OLD: &str = r#"
[global]
asn = 65000
router_id = "198.18.0.1"

[[prefix]]
prefix = "10.0.1.0/24"

[[prefix]]
prefix = "10.0.2.0/24"

[[neighbor]]
address = "198.18.0.2"
remote_asn = 65001
import = ["accept-all"]
export = ["accept-all"]

[[neighbor]]
address = "198.18.0.3"
remote_asn = 65001
import = ["accept-all"]
export = ["accept-all"]
soft_reconfiguration_inbound = true

[[neighbor]]
address = "198.18.0.4"
remote_asn = 65001
import = ["accept-all"]
export = ["accept-all"]
"#;

/// OLD with: .2 reset (hold time), .3 a new import chain (kept routes), .4 removed, .5 added,
/// 10.0.2.0/24 withdrawn, 10.0.3.0/24 announced, a new router id.
fn new_config() -> String {
    let new = OLD
        .replace("198.18.0.1", "198.18.0.9")
        .replace(
            "address = \"198.18.0.2\"\nremote_asn = 65001\n",
            "address = \"198.18.0.2\"\nremote_asn = 65001\nhold_time = 9\n",
        )
        .replace(
            "import = [\"accept-all\"]\nexport = [\"accept-all\"]\nsoft",
            "import = [\"reject-all\"]\nexport = [\"accept-all\"]\nsoft",
        )
        .replace("198.18.0.4", "198.18.0.5")
        .replace("10.0.2.0/24", "10.0.3.0/24");
    assert_ne!(new, OLD);
    new
}

#[test]
fn check_diff_of_two_files_for_people_and_as_json() {
    let dir = scratch("diff");
    let old = dir.join("old.toml");
    let new = dir.join("new.toml");
    std::fs::write(&old, OLD).unwrap();
    std::fs::write(&new, new_config()).unwrap();

    let out = speakerd(
        &["check", "--config", path(&new), "--diff", path(&old)],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let shown = text(&out.stdout);
    for line in [
        "neighbor 198.18.0.2: reset: hold_time changed, so the session is closed (Cease 6/3) and started again",
        "neighbor 198.18.0.3: kept up (no reset): import chain applied to the routes kept as received (soft_reconfiguration_inbound), no ROUTE-REFRESH",
        "neighbor 198.18.0.4: removed",
        "neighbor 198.18.0.5: added",
        "prefix 10.0.3.0/24: announced",
        "prefix 10.0.2.0/24: withdrawn",
        "only by a restart of speakerd (which restarts every session): global.router_id",
    ] {
        assert!(shown.contains(line), "missing {line:?} in:\n{shown}");
    }
    assert!(!shown.contains("10.0.1.0/24"), "{shown}");

    let out = speakerd(
        &[
            "check",
            "--config",
            path(&new),
            "--diff",
            path(&old),
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["neighbors"],
        serde_json::json!([
            {"address": "198.18.0.2", "action": "reset", "keys": ["hold_time"]},
            {"address": "198.18.0.3", "action": "policies", "import": "kept_routes",
             "export": false, "description": false},
            {"address": "198.18.0.4", "action": "removed"},
            {"address": "198.18.0.5", "action": "added"},
        ])
    );
    assert_eq!(
        plan["prefixes"],
        serde_json::json!({"announced": ["10.0.3.0/24"], "reannounced": [], "withdrawn": ["10.0.2.0/24"]})
    );
    assert_eq!(plan["restart_required"], serde_json::json!(["router_id"]));

    // The same file: nothing changes.
    let out = speakerd(
        &["check", "--config", path(&old), "--diff", path(&old)],
        &[],
    );
    assert!(text(&out.stdout).contains("nothing changes"), "{out:?}");

    // An invalid old file is an error, not an empty plan.
    std::fs::write(&old, "[global]\nasn = 1\n").unwrap();
    let out = speakerd(
        &["check", "--config", path(&new), "--diff", path(&old)],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the old configuration is not valid"),
        "{out:?}"
    );
    // --json alone has nothing to print.
    let out = speakerd(&["check", "--config", path(&new), "--json"], &[]);
    assert!(!out.status.success(), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
