//! The custom resources: the generated manifests, and the configuration they put in force.

use std::collections::BTreeMap;

use std::time::Duration;

use super::*;

#[test]
fn the_committed_manifests_are_the_generated_ones() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/kubernetes/crds.yaml"
    );
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == manifests(),
        "config/kubernetes/crds.yaml is not what the types generate: run \
         `cargo run -p speakerd -- crds > config/kubernetes/crds.yaml`"
    );
}

/// The ConfigMap of a node in tor mode (as config/kubernetes/configmap.yaml has it), with one
/// ToR of its own: what applies when no BGPClusterConfig selects the node.
const BASE: &str = r#"
[global]
asn = 65100
router_id = "198.18.1.11"

[kubernetes]
node_name = "node-1"
mode = "tor"

[kubernetes.peer]
hold_time = 90
import = ["accept-all"]
export = ["accept-all"]

[[kubernetes.tor]]
node_label = "rack=r9"
address = "198.18.9.254"
remote_asn = 65009
"#;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cluster_config(name: &str, yaml_spec: serde_json::Value) -> BgpClusterConfig {
    let spec: BgpClusterConfigSpec = serde_json::from_value(yaml_spec).unwrap();
    BgpClusterConfig::new(name, spec)
}

fn racks() -> BgpClusterConfig {
    cluster_config(
        "racks",
        serde_json::json!({
            "nodeSelector": {"matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["gateway"]}]},
            "mode": "tor",
            "peers": [
                {"address": "198.18.1.254", "peerASN": 65001, "nodeSelector": {"matchLabels": {"rack": "r1"}}},
                {"address": "198.18.1.253", "peerASN": 65001, "nodeSelector": {"matchLabels": {"rack": "r1"}}},
                {"address": "198.18.2.254", "peerASN": 65002, "nodeSelector": {"matchLabels": {"rack": "r2"}}}
            ],
            "session": {
                "holdTimeSeconds": 9,
                "gracefulRestart": {"restartTimeSeconds": 120, "longLivedStaleTimeSeconds": 3600},
                "bfd": {"minRxMillis": 300, "minTxMillis": 300, "multiplier": 3},
                "passwordSecretRef": {"name": "bgp-md5"}
            }
        }),
    )
}

fn md5_secret() -> BTreeMap<SecretKey, Result<String, String>> {
    let key = SecretKey {
        namespace: SECRET_NAMESPACE.into(),
        name: "bgp-md5".into(),
        key: "password".into(),
    };
    BTreeMap::from([(key, Ok("s3cret".to_string()))])
}

#[test]
fn a_cluster_config_gives_what_the_same_toml_gives() {
    let node = labels(&[("rack", "r1")]);
    let ad: BgpAdvertisement = BgpAdvertisement::new(
        "pods",
        serde_json::from_value(serde_json::json!({"communities": ["65100:10", "no-llgr"]}))
            .unwrap(),
    );
    let applied = render(BASE, &node, &[racks()], &[ad], &md5_secret()).unwrap();
    assert_eq!(applied.cluster_config.as_deref(), Some("racks"));
    assert_eq!(applied.advertisements, vec!["pods".to_string()]);

    // The same settings written as TOML by hand.
    let toml = BASE.replace(
        "hold_time = 90",
        "hold_time = 9\ngraceful_restart = { restart_time = 120, long_lived_stale_time = 3600 }\n\
         bfd = { min_rx = 300, min_tx = 300, multiplier = 3 }",
    );
    let toml = toml.replace(
        "[[kubernetes.tor]]\nnode_label = \"rack=r9\"\naddress = \"198.18.9.254\"\nremote_asn = 65009\n",
        "[[kubernetes.tor]]\nnode_label = \"rack=r1\"\naddress = \"198.18.1.254\"\nremote_asn = 65001\n\
         [[kubernetes.tor]]\nnode_label = \"rack=r1\"\naddress = \"198.18.1.253\"\nremote_asn = 65001\n\
         [[kubernetes.tor]]\nnode_label = \"rack=r2\"\naddress = \"198.18.2.254\"\nremote_asn = 65002\n",
    );
    let toml = toml.replace(
        "mode = \"tor\"",
        "mode = \"tor\"\npod_cidr_communities = [\"65100:10\", \"no-llgr\"]",
    );
    let by_hand = crate::config::Config::parse(&toml, std::path::Path::new("t.toml"), &|_| None)
        .unwrap()
        .kubernetes
        .unwrap();
    let mut expected = by_hand.clone();
    expected.peer.password = Some("s3cret".into());
    // The selectors differ in form (label vs selector) but select the same nodes.
    for (a, b) in applied.kubernetes.tors.iter().zip(&expected.tors) {
        assert_eq!(a.address, b.address);
        assert_eq!(a.remote_asn, b.remote_asn);
        for rack in ["r1", "r2", "r3"] {
            let l = labels(&[("rack", rack)]);
            assert_eq!(a.selector.matches(&l), b.selector.matches(&l), "{rack}");
        }
    }
    let strip = |mut k: crate::config::KubernetesConfig| {
        k.tors.clear();
        k
    };
    assert_eq!(strip(applied.kubernetes), strip(expected));
}

#[test]
fn no_cluster_config_for_the_node_leaves_the_configmap_peering() {
    // A gateway node is not selected by "racks".
    let node = labels(&[("rack", "r1"), ("role", "gateway")]);
    let applied = render(BASE, &node, &[racks()], &[], &md5_secret()).unwrap();
    assert_eq!(applied.cluster_config, None);
    assert_eq!(applied.kubernetes.tors.len(), 1);
    assert_eq!(
        applied.kubernetes.tors[0].address.to_string(),
        "198.18.9.254"
    );
    assert_eq!(applied.kubernetes.peer.password, None);
}

#[test]
fn what_cannot_work_is_refused_with_the_reason() {
    let node = labels(&[("rack", "r1")]);
    // Two configs select the node.
    let mut other = racks();
    other.metadata.name = Some("everyone".into());
    other.spec.node_selector = None;
    let err = render(BASE, &node, &[racks(), other], &[], &md5_secret()).unwrap_err();
    assert_eq!(
        err,
        RenderError::Conflict(vec!["everyone".into(), "racks".into()])
    );
    // The Secret is missing: no config with an empty password.
    let missing = BTreeMap::from([(
        SecretKey {
            namespace: SECRET_NAMESPACE.into(),
            name: "bgp-md5".into(),
            key: "password".into(),
        },
        Err("secrets \"bgp-md5\" not found".to_string()),
    )]);
    let err = render(BASE, &node, &[racks()], &[], &missing).unwrap_err();
    assert!(matches!(err, RenderError::Secret { .. }), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
    // A setting the TOML would refuse too: a hold time of 2 (RFC 4271 §4.2), an unknown
    // policy, an unknown selector operator.
    let mut bad = racks();
    bad.spec.session.hold_time_seconds = Some(2);
    let text = render(BASE, &node, &[bad], &[], &md5_secret())
        .unwrap_err()
        .to_string();
    assert!(text.contains("BGPClusterConfig racks"), "{text}");
    assert!(text.contains("hold time 2"), "{text}");
    let mut bad = racks();
    bad.spec.session.import_policies = Some(vec!["nope".into()]);
    let text = render(BASE, &node, &[bad], &[], &md5_secret())
        .unwrap_err()
        .to_string();
    assert!(text.contains("no policy named 'nope'"), "{text}");
    let mut odd = racks();
    odd.spec.peers[0].node_selector = serde_json::from_value(
        serde_json::json!({"matchExpressions": [{"key": "rack", "operator": "Near"}]}),
    )
    .unwrap();
    let err = render(BASE, &node, &[odd], &[], &md5_secret()).unwrap_err();
    assert!(err.to_string().contains("operator 'Near'"), "{err}");
}

#[test]
fn selectors_follow_the_kubernetes_rules() {
    let s = |v: serde_json::Value| render::node_selector(Some(&serde_json::from_value(v).unwrap()));
    let rack1 = labels(&[("rack", "r1"), ("zone", "a")]);
    let cases = [
        (serde_json::json!({}), true),
        (serde_json::json!({"matchLabels": {"rack": "r1"}}), true),
        (serde_json::json!({"matchLabels": {"rack": "r2"}}), false),
        (
            serde_json::json!({"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r1", "r2"]}]}),
            true,
        ),
        (
            serde_json::json!({"matchExpressions": [{"key": "rack", "operator": "NotIn", "values": ["r1"]}]}),
            false,
        ),
        (
            serde_json::json!({"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["yes"]}]}),
            true,
        ),
        (
            serde_json::json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}),
            true,
        ),
        (
            serde_json::json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
            false,
        ),
        (
            serde_json::json!({"matchLabels": {"rack": "r1"}, "matchExpressions": [{"key": "gpu", "operator": "Exists"}]}),
            false,
        ),
    ];
    for (selector, matches) in cases {
        let got = s(selector.clone()).unwrap().matches(&rack1);
        assert_eq!(got, matches, "{selector}");
    }
}

#[test]
fn status_is_written_on_change_and_at_most_once_per_interval() {
    let t0 = std::time::Instant::now();
    let mut w = NodeStatusWriter::default();
    let status = |summary: &str| BgpNodeStatusStatus {
        summary: summary.into(),
        ..BgpNodeStatusStatus::default()
    };
    w.offer(status("0/1 Established"));
    let first = w.poll_write(t0).expect("the first status at once");
    w.written(first);
    // The same status again: nothing to write.
    w.offer(status("0/1 Established"));
    assert_eq!(w.poll_write(t0 + STATUS_MIN_INTERVAL * 2), None);
    // Changes within the interval: only the latest, at its end.
    let t1 = t0 + STATUS_MIN_INTERVAL * 3;
    w.offer(status("1/1 Established"));
    let second = w.poll_write(t1).unwrap();
    w.written(second);
    w.offer(status("0/1 Established"));
    w.offer(status("1/1 Established 2"));
    assert_eq!(w.poll_write(t1 + Duration::from_secs(1)), None);
    assert_eq!(w.poll_timeout(), Some(t1 + STATUS_MIN_INTERVAL));
    let third = w.poll_write(t1 + STATUS_MIN_INTERVAL).unwrap();
    assert_eq!(third.summary, "1/1 Established 2");
    // A failed write (not confirmed) is retried after the interval.
    assert_eq!(
        w.poll_write(t1 + STATUS_MIN_INTERVAL + Duration::from_secs(1)),
        None
    );
    assert!(w.poll_write(t1 + STATUS_MIN_INTERVAL * 2).is_some());
}

#[test]
fn an_advertisement_of_services_gives_the_services_table() {
    let node = labels(&[("rack", "r1")]);
    let ad: BgpAdvertisement = BgpAdvertisement::new(
        "lb",
        serde_json::from_value(serde_json::json!({
            "services": {"selector": {"matchLabels": {"bgp": "yes"}}, "externalIPs": true}
        }))
        .unwrap(),
    );
    let applied = render(BASE, &node, &[], &[ad], &BTreeMap::new()).unwrap();
    let services = applied.kubernetes.services.expect("services in force");
    assert!(services.load_balancer_ips && services.external_ips);
    let yes = labels(&[("bgp", "yes")]);
    assert!(services.selector.matches(&yes));
    assert!(!services.selector.matches(&labels(&[])));
}
