//! The reload plan for each kind of change, from configuration text as an operator writes it.

use std::net::IpAddr;
use std::path::Path;

use super::*;

const GLOBAL: &str = "[global]\nasn = 65000\nrouter_id = \"198.18.0.1\"\n\n";

const POLICIES: &str = "[[policy]]\nname = \"in\"\n[[policy.term]]\nname = \"pods\"\n\
    prefixes = [\"10.244.0.0/16 le 24\"]\nthen = \"accept\"\n\n\
    [[policy]]\nname = \"in2\"\n[[policy.term]]\nname = \"all\"\nthen = \"accept\"\n\n";

fn parse(text: &str) -> Config {
    Config::parse(text, Path::new("test.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

/// A TCP MD5 key file with `key` in it.
fn key_file(name: &str, key: &str) -> String {
    let dir = std::env::temp_dir().join(format!("speakerd-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, key).unwrap();
    path.display().to_string()
}

/// A configuration of `[global]`, the policies and the given neighbours (and anything else).
fn config(rest: &str) -> Config {
    parse(&format!("{GLOBAL}{POLICIES}{rest}"))
}

fn neighbor(address: &str, extra: &str) -> String {
    let asn = if extra.contains("remote_asn") {
        ""
    } else {
        "remote_asn = 65001\n"
    };
    format!(
        "[[neighbor]]\naddress = \"{address}\"\n{asn}\
         import = [\"in\"]\nexport = [\"accept-all\"]\n{extra}\n"
    )
}

fn addr(a: &str) -> IpAddr {
    a.parse().unwrap()
}

fn unknown(_: IpAddr) -> SessionFacts {
    SessionFacts::Unknown
}

fn neighbors_plan(old: &str, new: &str, facts: SessionFacts) -> Vec<NeighborPlan> {
    diff(&config(old), &config(new), &|_| facts).neighbors
}

#[test]
fn the_same_configuration_changes_nothing() {
    let text = format!(
        "{}{}",
        neighbor("198.18.0.2", ""),
        neighbor("198.18.0.3", "")
    );
    let plan = diff(&config(&text), &config(&text), &unknown);
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn neighbours_removed_then_added() {
    let old = format!(
        "{}{}",
        neighbor("198.18.0.2", ""),
        neighbor("198.18.0.3", "")
    );
    let new = format!(
        "{}{}",
        neighbor("198.18.0.4", ""),
        neighbor("198.18.0.3", "")
    );
    let plan = neighbors_plan(&old, &new, SessionFacts::Unknown);
    assert_eq!(
        plan,
        vec![
            NeighborPlan {
                address: addr("198.18.0.2"),
                change: NeighborChange::Removed
            },
            NeighborPlan {
                address: addr("198.18.0.4"),
                change: NeighborChange::Added
            },
        ]
    );
    assert!(plan[0].change.stops_session() && !plan[0].change.starts_session());
    assert!(plan[1].change.starts_session() && !plan[1].change.stops_session());
}

#[test]
fn a_session_key_resets_and_names_every_key_that_changed() {
    let old = neighbor("198.18.0.2", "hold_time = 90");
    let new = neighbor("198.18.0.2", "hold_time = 9\nfamilies = [\"ipv4-unicast\"]");
    let plan = neighbors_plan(&old, &new, SessionFacts::Unknown);
    assert_eq!(
        plan[0].change,
        NeighborChange::Reset {
            keys: vec![SessionKey::HoldTime, SessionKey::Families]
        }
    );
    assert!(plan[0].change.starts_session() && plan[0].change.stops_session());
}

#[test]
fn a_reset_wins_over_a_policy_change_of_the_same_neighbour() {
    let old = neighbor("198.18.0.2", "");
    let new = neighbor("198.18.0.2", "soft_reconfiguration_inbound = true")
        .replace("import = [\"in\"]", "import = [\"in2\"]");
    let plan = neighbors_plan(&old, &new, SessionFacts::Unknown);
    assert_eq!(
        plan[0].change,
        NeighborChange::Reset {
            keys: vec![SessionKey::SoftReconfigurationInbound]
        }
    );
}

#[test]
fn each_session_key_of_the_table_resets() {
    let password = |name: &str, key: &str| format!("password_file = \"{}\"", key_file(name, key));
    let (key_a, key_b) = (password("a", "secret-a"), password("b", "secret-b"));
    let cases = [
        (
            "remote_asn = 65001",
            "remote_asn = 65002",
            SessionKey::RemoteAsn,
        ),
        ("port = 179", "port = 1179", SessionKey::Port),
        ("passive = false", "passive = true", SessionKey::Passive),
        (
            "",
            "local_address = \"198.18.0.1\"",
            SessionKey::LocalAddress,
        ),
        (
            "",
            "next_hop_ipv4 = \"198.18.0.9\"",
            SessionKey::NextHopIpv4,
        ),
        (
            "",
            "next_hop_ipv6 = \"2001:db8::9\"",
            SessionKey::NextHopIpv6,
        ),
        ("", "keepalive_time = 5", SessionKey::KeepaliveTime),
        ("", "send_hold_time = 30", SessionKey::SendHoldTime),
        ("", "connect_retry_time = 2", SessionKey::ConnectRetryTime),
        ("", "rr_client = true", SessionKey::RrClient),
        ("", "next_hop_self = true", SessionKey::NextHopSelf),
        ("", "allow_own_as = 1", SessionKey::AllowOwnAs),
        ("", "multihop_ttl = 3", SessionKey::MultihopTtl),
        ("", "ttl_security = true", SessionKey::TtlSecurity),
        (key_a.as_str(), key_b.as_str(), SessionKey::Password),
        ("", "add_path_send = \"all\"", SessionKey::AddPathSend),
        (
            "",
            "graceful_restart = { restart_time = 60 }",
            SessionKey::GracefulRestart,
        ),
        ("", "bfd = { min_rx = 100 }", SessionKey::Bfd),
        (
            "",
            "max_prefix = [{ family = \"ipv4-unicast\", limit = 10 }]",
            SessionKey::MaxPrefix,
        ),
    ];
    for (old, new, key) in cases {
        let plan = neighbors_plan(
            &neighbor("198.18.0.2", old),
            &neighbor("198.18.0.2", new),
            SessionFacts::Unknown,
        );
        assert_eq!(
            plan,
            vec![NeighborPlan {
                address: addr("198.18.0.2"),
                change: NeighborChange::Reset { keys: vec![key] }
            }],
            "{old} -> {new}"
        );
    }
}

#[test]
fn an_import_change_is_applied_as_the_session_allows() {
    let old = neighbor("198.18.0.2", "");
    let new = old.replace("import = [\"in\"]", "import = [\"in2\"]");
    let cases = [
        (
            SessionFacts::Unknown,
            ImportReapply::RouteRefreshIfSupported,
        ),
        (SessionFacts::NotEstablished, ImportReapply::NextSession),
        (
            SessionFacts::Established {
                route_refresh: true,
            },
            ImportReapply::RouteRefresh,
        ),
        (
            SessionFacts::Established {
                route_refresh: false,
            },
            ImportReapply::NewRoutesOnly,
        ),
    ];
    for (facts, how) in cases {
        let plan = neighbors_plan(&old, &new, facts);
        assert_eq!(
            plan[0].change,
            NeighborChange::Policies {
                import: Some(how),
                export: false,
                description: false
            },
            "{facts:?}"
        );
    }
}

#[test]
fn with_soft_reconfiguration_the_kept_routes_take_the_new_import_chain() {
    let old = neighbor("198.18.0.2", "soft_reconfiguration_inbound = true");
    let new = old.replace("import = [\"in\"]", "import = [\"in2\"]");
    for facts in [
        SessionFacts::Unknown,
        SessionFacts::Established {
            route_refresh: false,
        },
    ] {
        let plan = neighbors_plan(&old, &new, facts);
        assert_eq!(
            plan[0].change,
            NeighborChange::Policies {
                import: Some(ImportReapply::KeptRoutes),
                export: false,
                description: false
            }
        );
    }
}

#[test]
fn a_changed_policy_body_under_the_same_name_is_an_import_change() {
    let text = neighbor("198.18.0.2", "");
    let old = config(&text);
    let new = parse(&format!(
        "{GLOBAL}{}{text}",
        POLICIES.replace("10.244.0.0/16 le 24", "10.244.0.0/16 le 26")
    ));
    let plan = diff(&old, &new, &unknown);
    assert_eq!(
        plan.neighbors[0].change,
        NeighborChange::Policies {
            import: Some(ImportReapply::RouteRefreshIfSupported),
            export: false,
            description: false
        }
    );
    assert!(plan.restart_required.is_empty());
}

#[test]
fn export_and_description_changes_keep_the_session() {
    let old = neighbor("198.18.0.2", "description = \"a\"");
    let new = neighbor("198.18.0.2", "description = \"b\"")
        .replace("export = [\"accept-all\"]", "export = [\"in\"]");
    let plan = neighbors_plan(&old, &new, SessionFacts::Unknown);
    assert_eq!(
        plan[0].change,
        NeighborChange::Policies {
            import: None,
            export: true,
            description: true
        }
    );
    assert!(!plan[0].change.starts_session() && !plan[0].change.stops_session());
}

#[test]
fn global_settings_wait_for_a_restart_and_the_neighbours_are_applied() {
    let old = config(&neighbor("198.18.0.2", ""));
    let new = parse(&format!(
        "[global]\nasn = 65009\nrouter_id = \"198.18.0.9\"\ncluster_id = \"1.1.1.1\"\n\
         listen = []\nshutdown_drain_seconds = 5\n[admin]\nlisten = \"127.0.0.1:9999\"\n\
         [kernel]\ninstall = false\ntable = 100\nprotocol = 202\nnexthop_objects = false\n\
         ecmp_max_paths = 1\nprotected_prefixes = [\"198.18.0.0/16\"]\n\
         [kubernetes]\nnode_name = \"n1\"\n\n{POLICIES}{}",
        neighbor("198.18.0.3", "")
    ));
    let plan = diff(&old, &new, &unknown);
    assert_eq!(
        plan.restart_required,
        vec![
            RestartKey::Asn,
            RestartKey::RouterId,
            RestartKey::ClusterId,
            RestartKey::Listen,
            RestartKey::ShutdownDrain,
            RestartKey::AdminListen,
            RestartKey::KernelInstall,
            RestartKey::KernelTable,
            RestartKey::KernelProtocol,
            RestartKey::KernelNexthopObjects,
            RestartKey::Ecmp,
            RestartKey::ProtectedPrefixes,
            RestartKey::Kubernetes,
        ]
    );
    assert_eq!(plan.neighbors.len(), 2, "{plan:?}");
    let running = after_reload(&old, new.clone());
    assert_eq!(running.asn, 65000);
    assert_eq!(running.router_id, old.router_id);
    assert_eq!(running.kernel, old.kernel);
    assert_eq!(running.neighbors, new.neighbors);
    // What a reload left waiting is still waiting at the next one.
    assert_eq!(
        diff(&running, &new, &unknown).restart_required,
        plan.restart_required
    );
    assert!(diff(&running, &new, &unknown).neighbors.is_empty());
}

#[test]
fn a_dynamic_neighbour_change_waits_for_a_restart() {
    let range = |hold: u16| {
        format!(
            "[[dynamic_neighbor]]\nrange = \"198.18.0.0/24\"\nremote_asn = 65100\n\
             hold_time = {hold}\nimport = [\"in\"]\nexport = [\"accept-all\"]\n"
        )
    };
    let plan = diff(&config(&range(9)), &config(&range(30)), &unknown);
    assert_eq!(plan.restart_required, vec![RestartKey::DynamicNeighbors]);
    assert!(plan.neighbors.is_empty());
}

#[test]
fn prefixes_announced_reannounced_and_withdrawn() {
    let old = config(
        "[[prefix]]\nprefix = \"10.0.1.0/24\"\n[[prefix]]\nprefix = \"10.0.2.0/24\"\n\
         [[prefix]]\nprefix = \"10.0.3.0/24\"\n",
    );
    let new = config(
        "[[prefix]]\nprefix = \"10.0.1.0/24\"\n[[prefix]]\nprefix = \"10.0.2.0/24\"\n\
         communities = [\"65000:1\"]\n[[prefix]]\nprefix = \"10.0.4.0/24\"\n",
    );
    let plan = diff(&old, &new, &unknown);
    let p = |s: &str| s.parse::<Prefix>().unwrap();
    assert_eq!(
        plan.prefixes,
        PrefixPlan {
            announced: vec![p("10.0.4.0/24")],
            reannounced: vec![p("10.0.2.0/24")],
            withdrawn: vec![p("10.0.3.0/24")],
        }
    );
    assert!(plan.neighbors.is_empty() && plan.restart_required.is_empty());
}

#[test]
fn the_plan_as_json() {
    let old = neighbor("198.18.0.2", "");
    let new = neighbor("198.18.0.2", "hold_time = 9");
    let plan = diff(&config(&old), &config(&new), &unknown);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["neighbors"][0],
        serde_json::json!({"address": "198.18.0.2", "action": "reset", "keys": ["hold_time"]})
    );
}
