//! The custom resources of API group `bgp.speakerd.io`, version `v1alpha1`: how a cluster
//! configures speakerd through the Kubernetes API instead of the `[kubernetes]` table of the
//! ConfigMap. They are cluster-scoped:
//!
//! - [`BgpClusterConfig`] (`BGPClusterConfig`): for the nodes its selector matches, the peering
//!   mode, the ToRs (each for the nodes its own selector matches) and the settings of every
//!   session, the password from a Secret;
//! - [`BgpAdvertisement`] (`BGPAdvertisement`): the communities our PodCIDRs are announced with,
//!   and which Service IPs are announced too, per node selector;
//! - [`BgpNodeStatus`] (`BGPNodeStatus`): one per node, written by speakerd: every session's
//!   state and prefix counts, the configuration in force, and conditions for what cannot work.
//!
//! The AS number and router id stay in the ConfigMap (`[global]`): they change with a rolling
//! restart, not at run time.
//!
//! They are turned into the same internal configuration as the TOML (`render`): the `[kubernetes]`
//! table they stand for is written into the ConfigMap's text and validated by the same code, so
//! both are refused for the same reasons. The manifests in `config/kubernetes/crds.yaml` are
//! generated from these types (`speakerd crds`).

mod render;
mod status;
mod yaml;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(crate) use render::secret_keys;
pub use render::{render, Applied, RenderError, SecretKey};
pub use status::{
    BgpNodeStatusStatus, Condition, ConditionReason, NodeStatusWriter, SessionStatus,
    STATUS_MIN_INTERVAL,
};

/// The API group of the custom resources.
pub const GROUP: &str = "bgp.speakerd.io";

/// How the nodes a [`BgpClusterConfig`] selects peer (the `mode` of the `[kubernetes]` table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PeeringModeSpec {
    /// Each node peers with the ToRs whose node selector matches it (eBGP).
    #[default]
    Tor,
    /// Every node peers with every other node (iBGP full mesh).
    Mesh,
    /// Nodes with the reflector label reflect (RFC 4456); the others peer only with them.
    RouteReflector,
}

/// An address family a session carries (RFC 4760).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FamilySpec {
    /// IPv4 unicast.
    Ipv4Unicast,
    /// IPv6 unicast.
    Ipv6Unicast,
}

/// A key of a Secret (TCP MD5 password, RFC 2385).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRefSpec {
    /// The Secret's name.
    pub name: String,
    /// Its namespace (speakerd may read Secrets only in its own, `speakerd-system`).
    #[serde(default = "default_secret_namespace")]
    pub namespace: String,
    /// The key in its data.
    #[serde(default = "default_secret_key")]
    pub key: String,
}

/// speakerd's own namespace: the only one its Role lets it read Secrets in.
pub const SECRET_NAMESPACE: &str = "speakerd-system";

fn default_secret_namespace() -> String {
    SECRET_NAMESPACE.into()
}

fn default_secret_key() -> String {
    "password".into()
}

/// Graceful restart of every session (RFC 4724, RFC 9494).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestartSpec {
    /// The restart time advertised, seconds (default 120).
    #[schemars(range(max = 4095))]
    pub restart_time_seconds: Option<u16>,
    /// Long-lived graceful restart with this stale time, seconds.
    #[schemars(range(min = 1, max = 16777215))]
    pub long_lived_stale_time_seconds: Option<u32>,
}

/// BFD for every session (RFC 5880 asynchronous mode, RFC 5881 single hop).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BfdSpec {
    /// Required minimum receive interval, milliseconds (default 300).
    #[schemars(range(min = 10, max = 60000))]
    pub min_rx_millis: Option<u64>,
    /// Desired minimum transmit interval, milliseconds (default 300).
    #[schemars(range(min = 10, max = 60000))]
    pub min_tx_millis: Option<u64>,
    /// Detect multiplier (default 3).
    #[schemars(range(min = 1))]
    pub multiplier: Option<u8>,
    /// BGP waits for BFD to be Up.
    pub strict: Option<bool>,
}

/// The settings of every session a [`BgpClusterConfig`] creates (the `[kubernetes.peer]` table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSpec {
    /// Hold time, seconds (0, or at least 3; RFC 4271 §4.2).
    pub hold_time_seconds: Option<u16>,
    /// Keepalive interval, seconds.
    pub keepalive_time_seconds: Option<u16>,
    /// Connect retry time, seconds.
    pub connect_retry_seconds: Option<u64>,
    /// The TCP MD5 password (RFC 2385), from a Secret. A Secret or key that cannot be read is a
    /// condition on the node's status, never an empty password.
    pub password_secret_ref: Option<SecretKeyRefSpec>,
    /// Graceful restart.
    pub graceful_restart: Option<GracefulRestartSpec>,
    /// BFD.
    pub bfd: Option<BfdSpec>,
    /// eBGP multihop TTL.
    #[serde(rename = "multihopTTL")]
    pub multihop_ttl: Option<u8>,
    /// GTSM (RFC 5082).
    pub ttl_security: Option<bool>,
    /// The families offered (default both).
    pub families: Option<Vec<FamilySpec>>,
    /// Import policies, by name, from the ConfigMap's `[[policy]]` tables.
    pub import_policies: Option<Vec<String>>,
    /// Export policies, by name.
    pub export_policies: Option<Vec<String>>,
}

/// A ToR of tor mode.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerSpec {
    /// Its address.
    pub address: String,
    /// Its AS.
    #[serde(rename = "peerASN")]
    pub peer_asn: u32,
    /// The nodes (of those the config selects) that peer with it; all of them when absent.
    /// Two ToRs matching one node give it two sessions (and ECMP).
    pub node_selector: Option<LabelSelector>,
}

/// The peering of a set of nodes.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "bgp.speakerd.io",
    version = "v1alpha1",
    kind = "BGPClusterConfig",
    root = "BgpClusterConfig",
    shortname = "bgpcc",
    doc = "The peering of the nodes a selector matches: mode, ToRs and session settings."
)]
#[serde(rename_all = "camelCase")]
pub struct BgpClusterConfigSpec {
    /// The nodes this applies to; every node when absent. A node that two configs select keeps
    /// the configuration it has in force, and a condition names both.
    pub node_selector: Option<LabelSelector>,
    /// The peering mode.
    #[serde(default)]
    pub mode: PeeringModeSpec,
    /// Route-reflector mode: the label whose value "true" makes a node a reflector.
    pub reflector_label: Option<String>,
    /// The ToRs (tor mode).
    #[serde(default)]
    pub peers: Vec<PeerSpec>,
    /// The settings of every session.
    #[serde(default)]
    pub session: SessionSpec,
}

/// How our PodCIDRs are announced.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "bgp.speakerd.io",
    version = "v1alpha1",
    kind = "BGPAdvertisement",
    root = "BgpAdvertisement",
    shortname = "bgpadv",
    doc = "The communities the PodCIDRs of the nodes a selector matches are announced with."
)]
#[serde(rename_all = "camelCase")]
pub struct BgpAdvertisementSpec {
    /// The nodes this applies to; every node when absent. Several matching add up.
    pub node_selector: Option<LabelSelector>,
    /// Standard communities (RFC 1997): `ASN:VALUE` or a well-known name.
    #[serde(default)]
    pub communities: Vec<String>,
    /// Large communities (RFC 8092): `GLOBAL:LOCAL1:LOCAL2`.
    #[serde(default)]
    pub large_communities: Vec<String>,
    /// Service IPs to announce too (with the same communities). Of several matching
    /// advertisements, the first by name that has this decides.
    pub services: Option<ServicesSpec>,
}

/// Which Service IPs the selected nodes announce, as /32 and /128 routes: from every node for
/// `externalTrafficPolicy: Cluster`, only from nodes with a ready endpoint for `Local`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicesSpec {
    /// The Services, by their labels; all when absent.
    pub selector: Option<LabelSelector>,
    /// Announce `status.loadBalancer.ingress[].ip` (default true).
    #[serde(rename = "loadBalancerIPs")]
    pub load_balancer_ips: Option<bool>,
    /// Announce `spec.externalIPs` (default false).
    #[serde(rename = "externalIPs")]
    pub external_ips: Option<bool>,
}

/// One node's BGP state, written by its speakerd.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "bgp.speakerd.io",
    version = "v1alpha1",
    kind = "BGPNodeStatus",
    root = "BgpNodeStatus",
    shortname = "bgpns",
    status = "BgpNodeStatusStatus",
    printcolumn = r#"{"name":"Sessions","type":"string","jsonPath":".status.summary"}"#,
    printcolumn = r#"{"name":"Config","type":"string","jsonPath":".status.clusterConfig"}"#,
    doc = "The BGP state of one node (named after it), written by its speakerd."
)]
#[serde(rename_all = "camelCase")]
pub struct BgpNodeStatusSpec {
    /// The node (the object is named after it too).
    pub node_name: String,
}

/// The CustomResourceDefinitions, as the YAML of `config/kubernetes/crds.yaml`.
pub fn manifests() -> String {
    let crds = [
        BgpClusterConfig::crd(),
        BgpAdvertisement::crd(),
        BgpNodeStatus::crd(),
    ];
    let mut out = String::from(
        "# Generated by `speakerd crds` from crates/speakerd/src/crd/: do not edit.\n",
    );
    for crd in crds {
        let value = serde_json::to_value(crd).expect("a CRD serializes");
        out.push_str("---\n");
        yaml::write(&value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests;
