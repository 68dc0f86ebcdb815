//! The Grafana dashboard (`config/grafana/speakerd.json`) plots only metrics that exist: every
//! `bgp_*` name its queries use is documented in `docs/metrics.md` and is one the daemon
//! registers (its name is in `metrics.rs`), so a renamed metric breaks this test, not the
//! operator's dashboard.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

fn workspace_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `bgp_*` metric names in a PromQL expression, histogram series as their histogram.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("bgp_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.push(name.to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_panel_queries_documented_registered_metrics() {
    let dashboard: Value =
        serde_json::from_str(&workspace_file("config/grafana/speakerd.json")).expect("JSON");
    let docs = workspace_file("docs/metrics.md");
    let source = workspace_file("crates/speakerd/src/metrics.rs");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("an id")),
            "{title}: id twice"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("an expr");
            let names = metric_names(expr);
            assert!(
                !names.is_empty(),
                "{title}: {expr} reads no speakerd metric"
            );
            for name in names {
                assert!(
                    docs.contains(&format!("`{name}`")),
                    "{title}: {name} is not in docs/metrics.md"
                );
                assert!(
                    source.contains(&format!("\"{name}\"")),
                    "{title}: {name} is not registered"
                );
                used.insert(name);
            }
        }
    }
    // The convergence histograms, the queues and the sessions are all on it.
    for name in [
        "bgp_update_to_kernel_seconds",
        "bgp_update_to_advertisement_seconds",
        "bgp_end_of_rib_convergence_seconds",
        "bgp_peer_updates_queued",
        "bgp_kernel_routes_pending",
        "bgp_peer_up",
    ] {
        assert!(used.contains(name), "{name} is on no panel");
    }
}

#[test]
fn histogram_series_are_read_as_their_histogram() {
    assert_eq!(
        metric_names("histogram_quantile(0.99, sum by (le) (rate(bgp_update_to_kernel_seconds_bucket[5m]))) / bgp_peer_up"),
        ["bgp_update_to_kernel_seconds", "bgp_peer_up"]
    );
}
