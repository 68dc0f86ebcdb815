//! The daemon's TOML configuration (see `docs/config.md` for every key): parsed with serde,
//! then validated into typed values. Every error names the file, the line and the reason.
//! `${VAR}` is replaced by the environment variable VAR before parsing, for the per-node values
//! of a DaemonSet (node name, node IP).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bgp_proto::{Community, Family, LargeCommunity, Prefix};
use rib::{EcmpConfig, Match, Policy, PrefixMatch, SetAction, Term, Verdict};
use thiserror::Error;
use toml::Spanned;

/// The default BGP port.
pub const BGP_PORT: u16 = 179;

/// The route protocol number our kernel routes carry, unless configured (`ip route ... proto`).
pub const DEFAULT_ROUTE_PROTOCOL: u8 = 201;

/// What is wrong with a configuration value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// TOML syntax, an unknown key, or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// `${VAR}` names a variable that is not set.
    #[error("environment variable {0} is not set")]
    MissingVariable(String),
    /// Not an IP address.
    #[error("'{0}' is not an IP address")]
    Address(String),
    /// Not an address:port.
    #[error("'{0}' is not an address:port")]
    SocketAddress(String),
    /// Not a prefix (or prefix with ge/le).
    #[error("'{0}' is not a prefix (ADDRESS/LENGTH [ge N] [le N])")]
    Prefix(String),
    /// Not an IPv4 router id.
    #[error("'{0}' is not an IPv4 router id")]
    RouterId(String),
    /// Not a known family.
    #[error("unknown family '{0}' (ipv4-unicast or ipv6-unicast)")]
    Family(String),
    /// Not a community.
    #[error("'{0}' is not a community (ASN:VALUE or a well-known name)")]
    Community(String),
    /// Not a large community.
    #[error("'{0}' is not a large community (GLOBAL:LOCAL1:LOCAL2)")]
    LargeCommunity(String),
    /// An `add_path_send` that is neither a path count nor "all" (RFC 7911).
    #[error("add_path_send '{0}' is not a number of paths from 2 to 255 or \"all\"")]
    AddPathSend(String),
    /// A hold time of 1 or 2 seconds (RFC 4271 §4.2).
    #[error("hold time {0} must be 0 or at least 3 seconds")]
    HoldTime(u16),
    /// A send hold time of 0 (RFC 9687 §3: the session would be closed at the first write
    /// that has to wait).
    #[error("send_hold_time must be at least 1 second")]
    SendHoldTime,
    /// A route MTU outside 1,280 (the IPv6 minimum, RFC 8200 §5) to 65,535.
    #[error("mtu {0} must be between 1280 and 65535")]
    RouteMtu(u32),
    /// An advertised MSS outside 536 (RFC 9293 §3.7.1) to 65,495.
    #[error("advmss {0} must be between 536 and 65495")]
    Advmss(u32),
    /// A restart time above the 12 bits of the capability (RFC 4724 §3).
    #[error("restart_time {0} must be at most 4095 seconds")]
    RestartTime(u16),
    /// A long-lived stale time of 0 or above the 24 bits of the capability (RFC 9494 §3.1).
    #[error("long_lived_stale_time {0} must be between 1 and 16777215 seconds")]
    LongLivedStaleTime(u32),
    /// A BFD interval outside 10 ms to 60 s.
    #[error("BFD interval {0} ms must be between 10 and 60000")]
    BfdInterval(u64),
    /// A BFD Detect Mult of 0 (RFC 5880 §4.1: never zero).
    #[error("BFD multiplier must be at least 1")]
    BfdMultiplier,
    /// Strict BFD without a local address to run BFD from before BGP is up.
    #[error("BFD strict mode needs the neighbour's local_address")]
    BfdStrictWithoutLocalAddress,
    /// An unknown peering mode.
    #[error("unknown mode '{0}' (tor, mesh or route-reflector)")]
    Mode(String),
    /// A label selector that is not KEY=VALUE.
    #[error("'{0}' is not a label selector KEY=VALUE")]
    Label(String),
    /// A label selector operator other than In, NotIn, Exists and DoesNotExist.
    #[error("unknown label selector operator '{0}' (In, NotIn, Exists or DoesNotExist)")]
    SelectorOperator(String),
    /// A ToR rule with both or neither of `node_label` and `node_selector`.
    #[error("a ToR needs exactly one of node_label and node_selector")]
    TorSelector,
    /// A required key is missing from a table.
    #[error("missing key '{0}'")]
    Missing(&'static str),
    /// A policy name that is not defined.
    #[error("no policy named '{0}'")]
    UnknownPolicy(String),
    /// A term verdict that is not accept, reject or next.
    #[error("'{0}' is not accept, reject or next")]
    Verdict(String),
    /// Two neighbours with the same address.
    #[error("neighbor {0} is configured twice")]
    DuplicateNeighbor(IpAddr),
    /// An MD5 password source that cannot be read.
    #[error("password: {0}")]
    Password(String),
    /// A `tcp_ao` that cannot be used (RFC 5925): a bad key file, an MD5 password beside it,
    /// or a kernel without TCP-AO. The neighbour is refused, never run unauthenticated.
    #[error("tcp_ao: {0}")]
    TcpAo(String),
    /// A `message_log` that cannot be written: a relative path, no such directory, a rotation
    /// size under one page, `keep = 0`.
    #[error("message_log: {0}")]
    MessageLog(String),
}

/// A configuration error at a place in a file.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.kind)
    }
}

/// Kernel route settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelConfig {
    /// Install best routes into the kernel.
    pub install: bool,
    /// The routing table.
    pub table: u32,
    /// The route protocol number of our routes.
    pub protocol: u8,
    /// Point routes at kernel nexthop objects when the kernel has them (else multipath routes).
    pub nexthop_objects: bool,
    /// The path MTU our routes are installed with (`ip route ... mtu N`), for jumbo-frame
    /// fabrics; `None` leaves the interface's.
    pub mtu: Option<u32>,
    /// The TCP MSS advertised over our routes (`advmss N`); `None` leaves the kernel's.
    pub advmss: Option<u32>,
}

/// Graceful restart settings of a neighbour (RFC 4724 §3, RFC 9494 §3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestartSettings {
    /// Restart time advertised, seconds (at most 4095).
    pub restart_time: u16,
    /// Long-lived graceful restart: the long-lived stale time advertised for every family of
    /// the neighbour, seconds (1 to 2^24 - 1); `None` offers no LLGR.
    pub long_lived_stale_time: Option<u32>,
}

/// BFD for a neighbour (RFC 5880 asynchronous mode, RFC 5881 single hop): the session is
/// taken down as soon as BFD sees the path fail (Cease 6/10, RFC 9384).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdSettings {
    /// bfd.RequiredMinRxInterval.
    pub min_rx: Duration,
    /// bfd.DesiredMinTxInterval (while Up).
    pub min_tx: Duration,
    /// bfd.DetectMult.
    pub multiplier: u8,
    /// Hold the BGP session down until BFD is Up (and again after BFD goes Down): BIRD's
    /// `strict bind`; needs `local_address`, the BFD session's source before BGP is up.
    pub strict: bool,
}

/// A configured neighbour.
#[derive(Clone, Debug, PartialEq)]
pub struct NeighborConfig {
    /// Its address.
    pub address: IpAddr,
    /// Its AS.
    pub remote_asn: u32,
    /// Its port.
    pub port: u16,
    /// Wait for it to connect.
    pub passive: bool,
    /// Our address for the session.
    pub local_address: Option<IpAddr>,
    /// Our next hop for IPv4 routes on this session, instead of the session's or its
    /// interface's IPv4 address.
    pub next_hop_ipv4: Option<Ipv4Addr>,
    /// Our next hop for IPv6 routes on this session (a global address, RFC 2545 §3), instead of
    /// the session's or its interface's IPv6 address.
    pub next_hop_ipv6: Option<Ipv6Addr>,
    /// Hold time we propose.
    pub hold_time: u16,
    /// Keepalive interval.
    pub keepalive_time: Option<u16>,
    /// SendHoldTime (RFC 9687 §3): how long our sends may make no progress before the session
    /// is closed with NOTIFICATION 8; `None` for the default, max(8 minutes, 2 x hold time).
    pub send_hold_time: Option<Duration>,
    /// Connect retry time.
    pub connect_retry_time: Duration,
    /// Families.
    pub families: Vec<Family>,
    /// Import chain.
    pub import: Vec<Arc<Policy>>,
    /// Export chain.
    pub export: Vec<Arc<Policy>>,
    /// Description for operators.
    pub description: Option<String>,
    /// Route-reflector client.
    pub rr_client: bool,
    /// Next hop self toward iBGP too.
    pub next_hop_self: bool,
    /// Graceful restart.
    pub graceful_restart: Option<GracefulRestartSettings>,
    /// BFD.
    pub bfd: Option<BfdSettings>,
    /// Prefix limits.
    pub max_prefix: Vec<rib::MaxPrefix>,
    /// TTL of outgoing packets for multihop eBGP (1 otherwise for eBGP; 64 for iBGP).
    pub multihop_ttl: Option<u8>,
    /// GTSM (RFC 5082): send with TTL 255, accept only TTL 255.
    pub ttl_security: bool,
    /// TCP MD5 key (RFC 2385).
    pub password: Option<String>,
    /// How often our own AS may appear in a received AS_PATH (allowas-in), for nodes that share
    /// one AS behind a ToR.
    pub allow_own_as: u8,
    /// Keep the neighbour's routes as received, so that an import policy change is applied
    /// without a route refresh (RFC 2918).
    pub soft_reconfiguration_inbound: bool,
    /// ADD-PATH send (RFC 7911): the most paths per prefix offered ([`rib::ADD_PATH_ALL`] for
    /// every one), 0 for none (no capability).
    pub add_path_send: usize,
    /// An MRT log of every message of the session (RFC 6396 §4.4).
    pub message_log: Option<MessageLogConfig>,
}

/// A range of addresses from which neighbours may connect (for a ToR or route reflector
/// serving many nodes).
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicNeighborConfig {
    /// The range.
    pub range: Prefix,
    /// The template for neighbours from this range (address is filled in on connect).
    pub template: NeighborConfig,
}

/// A locally originated prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginateConfig {
    /// The prefix.
    pub prefix: Prefix,
    /// Communities to attach.
    pub communities: Vec<Community>,
    /// Large communities to attach.
    pub large_communities: Vec<LargeCommunity>,
}

/// How the Kubernetes integration chooses a node's BGP neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeeringMode {
    /// Each node peers with the ToR its labels select.
    Tor,
    /// Every node peers with every other node over iBGP.
    Mesh,
    /// Nodes with the reflector label reflect; the others peer only with them.
    RouteReflector,
}

/// One requirement of a [`NodeSelector`], as in a Kubernetes label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorRequirement {
    /// The label has one of the values.
    In(String, Vec<String>),
    /// The label is absent or has none of the values.
    NotIn(String, Vec<String>),
    /// The label is present.
    Exists(String),
    /// The label is absent.
    DoesNotExist(String),
}

/// Which Nodes a rule applies to, by their labels: Kubernetes label-selector semantics (every
/// `match_labels` entry and every requirement must hold; empty matches every node).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelector {
    /// Labels that must have exactly these values.
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements.
    pub requirements: Vec<SelectorRequirement>,
}

impl NodeSelector {
    /// Whether a Node with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.requirements.iter().all(|r| match r {
                SelectorRequirement::In(k, values) => {
                    labels.get(k).is_some_and(|v| values.contains(v))
                }
                SelectorRequirement::NotIn(k, values) => {
                    labels.get(k).is_none_or(|v| !values.contains(v))
                }
                SelectorRequirement::Exists(k) => labels.contains_key(k),
                SelectorRequirement::DoesNotExist(k) => !labels.contains_key(k),
            })
    }
}

/// Which Service IPs a node announces, as /32 and /128 routes: those of the Services the
/// selector matches (by their labels), from every node for `externalTrafficPolicy: Cluster`,
/// and only from nodes with a ready endpoint of the Service for `Local`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAdvertisement {
    /// The Services, by label.
    pub selector: NodeSelector,
    /// Announce `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: bool,
    /// Announce `spec.externalIPs`.
    pub external_ips: bool,
}

/// A ToR chosen for the nodes its selector matches; a node matched by several peers with each
/// (ECMP across them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorRule {
    /// The nodes that peer with it.
    pub selector: NodeSelector,
    /// The ToR's address.
    pub address: IpAddr,
    /// The ToR's AS.
    pub remote_asn: u32,
}

/// The `[kubernetes]` section: PodCIDRs and neighbours from Node objects.
#[derive(Clone, Debug, PartialEq)]
pub struct KubernetesConfig {
    /// Our Node's name.
    pub node_name: String,
    /// A kubeconfig file; in-cluster configuration when `None`.
    pub kubeconfig: Option<PathBuf>,
    /// The peering mode.
    pub mode: PeeringMode,
    /// Learned prefixes accepted although no Node lists them.
    pub allowed_prefixes: Vec<Prefix>,
    /// The cluster's Service ranges: learned routes overlapping them from outside are rejected.
    pub service_cidrs: Vec<Prefix>,
    /// A Node taint that starts the drain sequence (as `spec.unschedulable` does).
    pub drain_taint: Option<String>,
    /// How long routes stay announced with GRACEFUL_SHUTDOWN before the sessions close.
    pub drain_seconds: u64,
    /// Extra AS-path prepends while draining.
    pub drain_prepend: u8,
    /// Route-reflector mode: Nodes with this label set to "true" reflect.
    pub reflector_label: String,
    /// Settings of every session the integration creates (address and AS filled in per node).
    pub peer: NeighborConfig,
    /// ToR selection by node labels.
    pub tors: Vec<TorRule>,
    /// Service IPs the node announces, when configured.
    pub services: Option<ServiceAdvertisement>,
    /// Take the peering from the bgp.speakerd.io custom resources (BGPClusterConfig,
    /// BGPAdvertisement) and write this node's BGPNodeStatus.
    pub custom_resources: bool,
    /// Communities our PodCIDRs are announced with.
    pub pod_cidr_communities: Vec<Community>,
    /// Large communities our PodCIDRs are announced with.
    pub pod_cidr_large_communities: Vec<LargeCommunity>,
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Our AS.
    pub asn: u32,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Route-reflection cluster id.
    pub cluster_id: Option<Ipv4Addr>,
    /// Listen addresses for incoming sessions.
    pub listen: Vec<SocketAddr>,
    /// The admin/metrics HTTP listener.
    pub admin_listen: SocketAddr,
    /// Kernel settings.
    pub kernel: KernelConfig,
    /// ECMP.
    pub ecmp: EcmpConfig,
    /// Prefixes a learned route may never cover.
    pub protected_prefixes: Vec<Prefix>,
    /// Neighbours.
    pub neighbors: Vec<NeighborConfig>,
    /// Dynamic neighbour ranges.
    pub dynamic_neighbors: Vec<DynamicNeighborConfig>,
    /// Our prefixes.
    pub prefixes: Vec<OriginateConfig>,
    /// The Kubernetes integration, when configured.
    pub kubernetes: Option<KubernetesConfig>,
    /// How to drain on SIGTERM before the sessions close.
    pub shutdown_drain: ShutdownDrain,
    /// The BMP collectors (RFC 7854), `[[bmp]]`.
    pub bmp: Vec<BmpConfig>,
}

impl Config {
    /// Whether any session offers graceful restart (RFC 4724): configured neighbours, dynamic
    /// neighbours or the sessions of the Kubernetes integration. Then speakerd restarts as a
    /// restarting speaker: its kernel routes stay in place across the restart.
    pub fn graceful_restart_configured(&self) -> bool {
        self.neighbors.iter().any(|n| n.graceful_restart.is_some())
            || self
                .dynamic_neighbors
                .iter()
                .any(|d| d.template.graceful_restart.is_some())
            || self
                .kubernetes
                .as_ref()
                .is_some_and(|k| k.peer.graceful_restart.is_some())
    }
}

/// The drain on SIGTERM (RFC 8326): for `seconds` our routes are re-announced with the
/// GRACEFUL_SHUTDOWN community and `prepend` extra copies of our AS before the sessions close.
/// `seconds = 0` closes at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownDrain {
    /// How long to announce GRACEFUL_SHUTDOWN before closing.
    pub seconds: u64,
    /// Extra AS-path prepends meanwhile.
    pub prepend: u8,
}

mod bmp;
pub mod diff;
mod message_log;
pub use message_log::MessageLogConfig;
mod raw;
pub use bmp::BmpConfig;
mod tcp_ao;
mod validate;

use self::raw::RawConfig;
use self::validate::{interpolate, validate, Locator};
pub use self::validate::{
    parse_community, parse_family, parse_large_community, parse_prefix_match,
};

impl Config {
    /// Reads, interpolates, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        Self::load_with_source(path).map(|(config, _)| config)
    }

    /// [`Config::load`], and the text it was parsed from, with `${VAR}` already replaced: what
    /// the daemon serves as its running configuration (`/api/config`), which
    /// [`Config::parse_interpolated`] reads back.
    pub fn load_with_source(path: &Path) -> Result<(Config, String), Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.to_path_buf(),
                line: 0,
                kind: ConfigErrorKind::Io(e.to_string()),
            }]
        })?;
        let text =
            interpolate(&text, path, &|name| std::env::var(name).ok()).map_err(|e| vec![e])?;
        let config = Self::parse_interpolated(&text, path)?;
        Ok((config, text))
    }

    /// Parses and validates configuration text; `env` looks up `${VAR}` values.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let text = interpolate(text, path, env).map_err(|e| vec![e])?;
        Self::parse_interpolated(&text, path)
    }

    /// Parses and validates configuration text whose `${VAR}`s were replaced already.
    pub fn parse_interpolated(text: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
        let locator = Locator { file: path, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            vec![locator.at(offset, ConfigErrorKind::Syntax(e.message().to_string()))]
        })?;
        let mut errors = Vec::new();
        let config = validate(raw, &locator, &mut errors);
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests;
