//! The configuration file as serde reads it: every table and key, with the spans that error
//! lines come from; [`super::validate`] turns it into the typed model.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) global: RawGlobal,
    #[serde(default)]
    pub(super) admin: RawAdmin,
    #[serde(default)]
    pub(super) kernel: RawKernel,
    #[serde(default, rename = "neighbor")]
    pub(super) neighbors: Vec<Spanned<RawNeighbor>>,
    #[serde(default, rename = "dynamic_neighbor")]
    pub(super) dynamic_neighbors: Vec<Spanned<RawNeighbor>>,
    #[serde(default)]
    pub(super) kubernetes: Option<Spanned<RawKubernetes>>,
    #[serde(default, rename = "prefix")]
    pub(super) prefixes: Vec<RawOriginate>,
    #[serde(default, rename = "policy")]
    pub(super) policies: Vec<RawPolicy>,
    #[serde(default, rename = "bmp")]
    pub(super) bmp: Vec<super::bmp::RawBmp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGlobal {
    pub(super) asn: u32,
    pub(super) router_id: Spanned<String>,
    #[serde(default)]
    pub(super) cluster_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) listen: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) shutdown_drain_seconds: u64,
    #[serde(default)]
    pub(super) shutdown_drain_prepend: Option<u8>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    #[serde(default)]
    pub(super) listen: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKernel {
    #[serde(default)]
    pub(super) install: Option<bool>,
    #[serde(default)]
    pub(super) table: Option<u32>,
    #[serde(default)]
    pub(super) protocol: Option<u8>,
    #[serde(default)]
    pub(super) nexthop_objects: Option<bool>,
    #[serde(default)]
    pub(super) mtu: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) advmss: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) ecmp_max_paths: Option<usize>,
    #[serde(default)]
    pub(super) ecmp_as_path_relax: bool,
    #[serde(default)]
    pub(super) ecmp_ibgp: bool,
    #[serde(default)]
    pub(super) protected_prefixes: Vec<Spanned<String>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGracefulRestart {
    #[serde(default = "default_restart_time")]
    pub(super) restart_time: Spanned<u16>,
    /// RFC 9494: keep the neighbour's routes this long (seconds) past the restart time.
    #[serde(default)]
    pub(super) long_lived_stale_time: Option<Spanned<u32>>,
}

/// `tcp_ao = { key_file, send_id, recv_id }` of a neighbour (RFC 5925 §3.1: the Master Key
/// Tuple's key, SendID and RecvID).
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTcpAo {
    pub(super) key_file: Spanned<String>,
    pub(super) send_id: u8,
    pub(super) recv_id: u8,
}

/// `bfd = { min_rx, min_tx, multiplier }` of a neighbour (RFC 5880), intervals in milliseconds.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBfd {
    #[serde(default = "default_bfd_interval")]
    pub(super) min_rx: Spanned<u64>,
    #[serde(default = "default_bfd_interval")]
    pub(super) min_tx: Spanned<u64>,
    #[serde(default = "default_bfd_multiplier")]
    pub(super) multiplier: Spanned<u8>,
    #[serde(default)]
    pub(super) strict: Option<Spanned<bool>>,
}

fn default_bfd_interval() -> Spanned<u64> {
    Spanned::new(0..0, 300)
}

fn default_bfd_multiplier() -> Spanned<u8> {
    Spanned::new(0..0, 3)
}

fn default_restart_time() -> Spanned<u16> {
    Spanned::new(0..0, 120)
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaxPrefix {
    pub(super) family: Spanned<String>,
    pub(super) limit: u32,
    #[serde(default = "default_warning_percent")]
    pub(super) warning_percent: u8,
}

pub(super) fn default_warning_percent() -> u8 {
    80
}

/// A `[[neighbor]]` (with `address`) or `[[dynamic_neighbor]]` (with `range`) table. One struct
/// serves both because serde's `flatten` would lose the spans that error lines come from.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbor {
    #[serde(default)]
    pub(super) address: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) range: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) remote_asn: Option<u32>,
    #[serde(default)]
    pub(super) port: Option<u16>,
    #[serde(default)]
    pub(super) passive: bool,
    #[serde(default)]
    pub(super) local_address: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) next_hop_ipv4: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) next_hop_ipv6: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) hold_time: Option<Spanned<u16>>,
    #[serde(default)]
    pub(super) keepalive_time: Option<u16>,
    #[serde(default)]
    pub(super) send_hold_time: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) connect_retry_time: Option<u64>,
    #[serde(default)]
    pub(super) families: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) import: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) export: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) rr_client: bool,
    #[serde(default)]
    pub(super) next_hop_self: bool,
    #[serde(default)]
    pub(super) graceful_restart: Option<RawGracefulRestart>,
    #[serde(default)]
    pub(super) max_prefix: Vec<RawMaxPrefix>,
    #[serde(default)]
    pub(super) multihop_ttl: Option<u8>,
    #[serde(default)]
    pub(super) ttl_security: bool,
    #[serde(default)]
    pub(super) password_file: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) password_env: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) tcp_ao: Option<Spanned<RawTcpAo>>,
    #[serde(default)]
    pub(super) allow_own_as: u8,
    #[serde(default)]
    pub(super) soft_reconfiguration_inbound: bool,
    #[serde(default)]
    pub(super) add_path_send: Option<Spanned<RawPathCount>>,
    #[serde(default)]
    pub(super) bfd: Option<RawBfd>,
    #[serde(default)]
    pub(super) message_log: Option<super::message_log::RawMessageLog>,
}

/// `add_path_send`: a number of paths or "all".
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum RawPathCount {
    Count(i64),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKubernetes {
    pub(super) node_name: Spanned<String>,
    #[serde(default)]
    pub(super) kubeconfig: Option<PathBuf>,
    #[serde(default)]
    pub(super) mode: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) allowed_prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) service_cidrs: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) drain_taint: Option<String>,
    #[serde(default)]
    pub(super) drain_seconds: Option<u64>,
    #[serde(default)]
    pub(super) drain_prepend: Option<u8>,
    #[serde(default)]
    pub(super) reflector_label: Option<String>,
    #[serde(default)]
    pub(super) peer: Option<Spanned<RawNeighbor>>,
    #[serde(default, rename = "tor")]
    pub(super) tors: Vec<Spanned<RawTor>>,
    // Not Spanned (toml has no span for a table later headers extend): errors point at
    // [kubernetes].
    #[serde(default)]
    pub(super) services: Option<RawServices>,
    #[serde(default)]
    pub(super) custom_resources: bool,
    #[serde(default)]
    pub(super) pod_cidr_communities: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) pod_cidr_large_communities: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTor {
    #[serde(default)]
    pub(super) node_label: Option<Spanned<String>>,
    // Not Spanned: toml gives no span for a table that later headers extend (its
    // match_expressions); errors point at the ToR.
    #[serde(default)]
    pub(super) node_selector: Option<RawSelector>,
    pub(super) address: Spanned<String>,
    pub(super) remote_asn: u32,
}

/// `[kubernetes.services]`: which Service IPs to announce.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServices {
    #[serde(default)]
    pub(super) selector: Option<RawSelector>,
    #[serde(default = "yes")]
    pub(super) load_balancer_ips: bool,
    #[serde(default)]
    pub(super) external_ips: bool,
}

fn yes() -> bool {
    true
}

/// A Kubernetes label selector: `{ match_labels = { K = "V" }, match_expressions = [...] }`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSelector {
    #[serde(default)]
    pub(super) match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) match_expressions: Vec<RawRequirement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequirement {
    pub(super) key: String,
    pub(super) operator: String,
    #[serde(default)]
    pub(super) values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOriginate {
    pub(super) prefix: Spanned<String>,
    #[serde(default)]
    pub(super) communities: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) large_communities: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) name: String,
    #[serde(default, rename = "term")]
    pub(super) terms: Vec<RawTerm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTerm {
    pub(super) name: String,
    #[serde(default)]
    pub(super) prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) family: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) communities: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) large_communities: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) as_path_contains: Option<u32>,
    #[serde(default)]
    pub(super) as_path_max_length: Option<u32>,
    #[serde(default)]
    pub(super) origin_as: Option<u32>,
    #[serde(default)]
    pub(super) next_hop_in: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) neighbor: Option<Spanned<String>>,
    pub(super) then: Spanned<String>,
    #[serde(default)]
    pub(super) set_local_pref: Option<u32>,
    #[serde(default)]
    pub(super) set_med: Option<u32>,
    #[serde(default)]
    pub(super) set_next_hop: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) add_communities: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) remove_communities: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) add_large_communities: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) prepend: Option<u8>,
    #[serde(default)]
    pub(super) allow_protected: bool,
}
