//! The daemon's TOML configuration (see `docs/config.md` for every key): parsed with serde,
//! then validated into typed values. Every error names the file, the line and the reason.
//! `${VAR}` is replaced by the environment variable VAR before parsing, for the per-node values
//! of a DaemonSet (node name, node IP).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bgp_proto::{Community, Family, LargeCommunity, Prefix};
use rib::{EcmpConfig, Match, Policy, PrefixMatch, SetAction, Term, Verdict};
use serde::Deserialize;
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
    /// An unknown peering mode.
    #[error("unknown mode '{0}' (tor, mesh or route-reflector)")]
    Mode(String),
    /// A label selector that is not KEY=VALUE.
    #[error("'{0}' is not a label selector KEY=VALUE")]
    Label(String),
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
}

/// Graceful restart settings of a neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestartSettings {
    /// Restart time advertised, seconds.
    pub restart_time: u16,
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

/// A ToR chosen for the nodes whose label matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorRule {
    /// The label key.
    pub label_key: String,
    /// The label value.
    pub label_value: String,
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
    /// ToR selection by node label.
    pub tors: Vec<TorRule>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    global: RawGlobal,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    kernel: RawKernel,
    #[serde(default, rename = "neighbor")]
    neighbors: Vec<Spanned<RawNeighbor>>,
    #[serde(default, rename = "dynamic_neighbor")]
    dynamic_neighbors: Vec<Spanned<RawNeighbor>>,
    #[serde(default)]
    kubernetes: Option<Spanned<RawKubernetes>>,
    #[serde(default, rename = "prefix")]
    prefixes: Vec<RawOriginate>,
    #[serde(default, rename = "policy")]
    policies: Vec<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    asn: u32,
    router_id: Spanned<String>,
    #[serde(default)]
    cluster_id: Option<Spanned<String>>,
    #[serde(default)]
    listen: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    shutdown_drain_seconds: u64,
    #[serde(default)]
    shutdown_drain_prepend: Option<u8>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    #[serde(default)]
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    #[serde(default)]
    install: Option<bool>,
    #[serde(default)]
    table: Option<u32>,
    #[serde(default)]
    protocol: Option<u8>,
    #[serde(default)]
    nexthop_objects: Option<bool>,
    #[serde(default)]
    ecmp_max_paths: Option<usize>,
    #[serde(default)]
    ecmp_as_path_relax: bool,
    #[serde(default)]
    ecmp_ibgp: bool,
    #[serde(default)]
    protected_prefixes: Vec<Spanned<String>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawGracefulRestart {
    #[serde(default = "default_restart_time")]
    restart_time: u16,
}

fn default_restart_time() -> u16 {
    120
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawMaxPrefix {
    family: Spanned<String>,
    limit: u32,
    #[serde(default = "default_warning_percent")]
    warning_percent: u8,
}

fn default_warning_percent() -> u8 {
    80
}

/// A `[[neighbor]]` (with `address`) or `[[dynamic_neighbor]]` (with `range`) table. One struct
/// serves both because serde's `flatten` would lose the spans that error lines come from.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    #[serde(default)]
    address: Option<Spanned<String>>,
    #[serde(default)]
    range: Option<Spanned<String>>,
    #[serde(default)]
    remote_asn: Option<u32>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    passive: bool,
    #[serde(default)]
    local_address: Option<Spanned<String>>,
    #[serde(default)]
    next_hop_ipv4: Option<Spanned<String>>,
    #[serde(default)]
    next_hop_ipv6: Option<Spanned<String>>,
    #[serde(default)]
    hold_time: Option<Spanned<u16>>,
    #[serde(default)]
    keepalive_time: Option<u16>,
    #[serde(default)]
    connect_retry_time: Option<u64>,
    #[serde(default)]
    families: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    import: Vec<Spanned<String>>,
    #[serde(default)]
    export: Vec<Spanned<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    rr_client: bool,
    #[serde(default)]
    next_hop_self: bool,
    #[serde(default)]
    graceful_restart: Option<RawGracefulRestart>,
    #[serde(default)]
    max_prefix: Vec<RawMaxPrefix>,
    #[serde(default)]
    multihop_ttl: Option<u8>,
    #[serde(default)]
    ttl_security: bool,
    #[serde(default)]
    password_file: Option<Spanned<String>>,
    #[serde(default)]
    password_env: Option<Spanned<String>>,
    #[serde(default)]
    allow_own_as: u8,
    #[serde(default)]
    soft_reconfiguration_inbound: bool,
    #[serde(default)]
    add_path_send: Option<Spanned<RawPathCount>>,
}

/// `add_path_send`: a number of paths or "all".
#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum RawPathCount {
    Count(i64),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubernetes {
    node_name: Spanned<String>,
    #[serde(default)]
    kubeconfig: Option<PathBuf>,
    #[serde(default)]
    mode: Option<Spanned<String>>,
    #[serde(default)]
    allowed_prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    service_cidrs: Vec<Spanned<String>>,
    #[serde(default)]
    drain_taint: Option<String>,
    #[serde(default)]
    drain_seconds: Option<u64>,
    #[serde(default)]
    drain_prepend: Option<u8>,
    #[serde(default)]
    reflector_label: Option<String>,
    #[serde(default)]
    peer: Option<Spanned<RawNeighbor>>,
    #[serde(default, rename = "tor")]
    tors: Vec<Spanned<RawTor>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTor {
    node_label: Spanned<String>,
    address: Spanned<String>,
    remote_asn: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOriginate {
    prefix: Spanned<String>,
    #[serde(default)]
    communities: Vec<Spanned<String>>,
    #[serde(default)]
    large_communities: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    #[serde(default, rename = "term")]
    terms: Vec<RawTerm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerm {
    name: String,
    #[serde(default)]
    prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    family: Option<Spanned<String>>,
    #[serde(default)]
    communities: Vec<Spanned<String>>,
    #[serde(default)]
    large_communities: Vec<Spanned<String>>,
    #[serde(default)]
    as_path_contains: Option<u32>,
    #[serde(default)]
    as_path_max_length: Option<u32>,
    #[serde(default)]
    origin_as: Option<u32>,
    #[serde(default)]
    next_hop_in: Option<Spanned<String>>,
    #[serde(default)]
    neighbor: Option<Spanned<String>>,
    then: Spanned<String>,
    #[serde(default)]
    set_local_pref: Option<u32>,
    #[serde(default)]
    set_med: Option<u32>,
    #[serde(default)]
    set_next_hop: Option<Spanned<String>>,
    #[serde(default)]
    add_communities: Vec<Spanned<String>>,
    #[serde(default)]
    remove_communities: Vec<Spanned<String>>,
    #[serde(default)]
    add_large_communities: Vec<Spanned<String>>,
    #[serde(default)]
    prepend: Option<u8>,
    #[serde(default)]
    allow_protected: bool,
}

/// Turns byte offsets into errors with line numbers.
struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn error<T>(&self, spanned: &Spanned<T>, kind: ConfigErrorKind) -> ConfigError {
        self.at(spanned.span().start, kind)
    }

    fn at(&self, offset: usize, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: self.line_of(offset),
            kind,
        }
    }

    fn parse<T: FromStr>(
        &self,
        value: &Spanned<String>,
        kind: fn(String) -> ConfigErrorKind,
    ) -> Result<T, ConfigError> {
        self.parse_by(value, |text| text.trim().parse().ok(), kind)
    }

    fn parse_by<T>(
        &self,
        value: &Spanned<String>,
        parse: impl Fn(&str) -> Option<T>,
        kind: fn(String) -> ConfigErrorKind,
    ) -> Result<T, ConfigError> {
        parse(value.get_ref()).ok_or_else(|| self.error(value, kind(value.get_ref().clone())))
    }
}

/// Replaces `${VAR}` with the environment's value; an unset variable is an error at its line.
fn interpolate(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut consumed = 0;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        match env(name) {
            Some(value) => out.push_str(&value),
            None => {
                let locator = Locator { file, text };
                return Err(locator.at(
                    consumed + start,
                    ConfigErrorKind::MissingVariable(name.to_string()),
                ));
            }
        }
        consumed += start + len + 1;
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a family name.
pub fn parse_family(name: &str) -> Option<Family> {
    match name {
        "ipv4-unicast" | "ipv4" => Some(Family::IPV4_UNICAST),
        "ipv6-unicast" | "ipv6" => Some(Family::IPV6_UNICAST),
        _ => None,
    }
}

/// Parses `ASN:VALUE` or a well-known community name.
pub fn parse_community(text: &str) -> Option<Community> {
    let named = [
        Community::NO_EXPORT,
        Community::NO_ADVERTISE,
        Community::NO_EXPORT_SUBCONFED,
        Community::GRACEFUL_SHUTDOWN,
        Community::BLACKHOLE,
    ];
    if let Some(c) = named
        .into_iter()
        .find(|c| c.well_known_name() == Some(text))
    {
        return Some(c);
    }
    let (asn, value) = text.split_once(':')?;
    Some(Community::new(asn.parse().ok()?, value.parse().ok()?))
}

/// Parses `GLOBAL:LOCAL1:LOCAL2`.
pub fn parse_large_community(text: &str) -> Option<LargeCommunity> {
    let mut parts = text.split(':').map(|p| p.parse::<u32>());
    let c = LargeCommunity {
        global_admin: parts.next()?.ok()?,
        local_data1: parts.next()?.ok()?,
        local_data2: parts.next()?.ok()?,
    };
    parts.next().is_none().then_some(c)
}

/// Parses `PREFIX [ge N] [le N]`.
pub fn parse_prefix_match(text: &str) -> Option<PrefixMatch> {
    let mut words = text.split_whitespace();
    let prefix: Prefix = words.next()?.parse().ok()?;
    let (mut ge, mut le) = (None, None);
    while let Some(word) = words.next() {
        let value: u8 = words.next()?.parse().ok()?;
        match word {
            "ge" => ge = Some(value),
            "le" => le = Some(value),
            _ => return None,
        }
    }
    Some(PrefixMatch { prefix, ge, le })
}

impl Config {
    /// Reads, interpolates, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: path.to_path_buf(),
                line: 0,
                kind: ConfigErrorKind::Io(e.to_string()),
            }]
        })?;
        Self::parse(&text, path, &|name| std::env::var(name).ok())
    }

    /// Parses and validates configuration text; `env` looks up `${VAR}` values.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let text = interpolate(text, path, env).map_err(|e| vec![e])?;
        let locator = Locator {
            file: path,
            text: &text,
        };
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
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

fn collect<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

fn validate(raw: RawConfig, l: &Locator<'_>, errors: &mut Vec<ConfigError>) -> Option<Config> {
    let router_id = collect(
        errors,
        l.parse::<Ipv4Addr>(&raw.global.router_id, ConfigErrorKind::RouterId),
    );
    let cluster_id = raw
        .global
        .cluster_id
        .as_ref()
        .and_then(|c| collect(errors, l.parse::<Ipv4Addr>(c, ConfigErrorKind::RouterId)));
    let listen = match &raw.global.listen {
        Some(list) => list
            .iter()
            .filter_map(|a| {
                collect(
                    errors,
                    l.parse::<SocketAddr>(a, ConfigErrorKind::SocketAddress),
                )
            })
            .collect(),
        None => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), BGP_PORT),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), BGP_PORT),
        ],
    };
    let admin_listen = match &raw.admin.listen {
        Some(a) => collect(
            errors,
            l.parse::<SocketAddr>(a, ConfigErrorKind::SocketAddress),
        ),
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9179))),
    };
    let protected_prefixes = raw
        .kernel
        .protected_prefixes
        .iter()
        .filter_map(|p| collect(errors, l.parse::<Prefix>(p, ConfigErrorKind::Prefix)))
        .collect();

    let mut policies: HashMap<String, Arc<Policy>> = HashMap::new();
    policies.insert(
        "accept-all".into(),
        Arc::new(Policy::accept_all("accept-all")),
    );
    policies.insert(
        "reject-all".into(),
        Arc::new(Policy {
            name: "reject-all".into(),
            terms: Vec::new(),
        }),
    );
    for raw_policy in &raw.policies {
        let terms = raw_policy
            .terms
            .iter()
            .filter_map(|t| build_term(t, l, errors))
            .collect();
        policies.insert(
            raw_policy.name.clone(),
            Arc::new(Policy {
                name: raw_policy.name.clone(),
                terms,
            }),
        );
    }

    let mut neighbors: Vec<NeighborConfig> = Vec::new();
    for table in &raw.neighbors {
        let n = table.get_ref();
        let (Some(given), Some(remote_asn)) = (&n.address, n.remote_asn) else {
            let missing = if n.address.is_none() {
                "address"
            } else {
                "remote_asn"
            };
            errors.push(l.error(table, ConfigErrorKind::Missing(missing)));
            continue;
        };
        let Some(address) = collect(errors, l.parse::<IpAddr>(given, ConfigErrorKind::Address))
        else {
            continue;
        };
        if neighbors.iter().any(|other| other.address == address) {
            errors.push(l.error(given, ConfigErrorKind::DuplicateNeighbor(address)));
            continue;
        }
        if let Some(config) = build_neighbor(address, remote_asn, n, &policies, l, errors) {
            neighbors.push(config);
        }
    }
    let mut dynamic_neighbors = Vec::new();
    for table in &raw.dynamic_neighbors {
        let d = table.get_ref();
        let (Some(given), Some(remote_asn)) = (&d.range, d.remote_asn) else {
            let missing = if d.range.is_none() {
                "range"
            } else {
                "remote_asn"
            };
            errors.push(l.error(table, ConfigErrorKind::Missing(missing)));
            continue;
        };
        let Some(range) = collect(errors, l.parse::<Prefix>(given, ConfigErrorKind::Prefix)) else {
            continue;
        };
        if let Some(template) = build_neighbor(range.addr(), remote_asn, d, &policies, l, errors) {
            dynamic_neighbors.push(DynamicNeighborConfig { range, template });
        }
    }
    let prefixes = raw
        .prefixes
        .iter()
        .filter_map(|p| {
            let prefix = collect(
                errors,
                l.parse::<Prefix>(&p.prefix, ConfigErrorKind::Prefix),
            )?;
            let communities = p
                .communities
                .iter()
                .filter_map(|c| {
                    collect(
                        errors,
                        l.parse_by(c, parse_community, ConfigErrorKind::Community),
                    )
                })
                .collect();
            let large_communities = p
                .large_communities
                .iter()
                .filter_map(|c| {
                    collect(
                        errors,
                        l.parse_by(c, parse_large_community, ConfigErrorKind::LargeCommunity),
                    )
                })
                .collect();
            Some(OriginateConfig {
                prefix,
                communities,
                large_communities,
            })
        })
        .collect();

    let kubernetes = raw
        .kubernetes
        .as_ref()
        .and_then(|k| build_kubernetes(k, raw.global.asn, &policies, l, errors));
    let kernel = KernelConfig {
        install: raw.kernel.install.unwrap_or(true),
        table: raw.kernel.table.unwrap_or(254),
        protocol: raw.kernel.protocol.unwrap_or(DEFAULT_ROUTE_PROTOCOL),
        nexthop_objects: raw.kernel.nexthop_objects.unwrap_or(true),
    };
    let ecmp = EcmpConfig {
        max_paths: raw.kernel.ecmp_max_paths.unwrap_or(8),
        ibgp_multipath: raw.kernel.ecmp_ibgp,
        as_path_relax: raw.kernel.ecmp_as_path_relax,
    };
    Some(Config {
        asn: raw.global.asn,
        router_id: router_id?,
        cluster_id,
        listen,
        admin_listen: admin_listen?,
        kernel,
        ecmp,
        protected_prefixes,
        neighbors,
        dynamic_neighbors,
        prefixes,
        kubernetes,
        shutdown_drain: ShutdownDrain {
            seconds: raw.global.shutdown_drain_seconds,
            prepend: raw.global.shutdown_drain_prepend.unwrap_or(3),
        },
    })
}

fn policy_chain(
    names: &[Spanned<String>],
    policies: &HashMap<String, Arc<Policy>>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Arc<Policy>> {
    names
        .iter()
        .filter_map(|name| match policies.get(name.get_ref()) {
            Some(p) => Some(Arc::clone(p)),
            None => {
                errors.push(l.error(name, ConfigErrorKind::UnknownPolicy(name.get_ref().clone())));
                None
            }
        })
        .collect()
}

/// An optional address key: `Some(None)` when it is absent, `None` (the error recorded) when it
/// does not parse as a `T`.
fn optional_address<T: FromStr>(
    value: &Option<Spanned<String>>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Option<T>> {
    match value {
        Some(a) => collect(errors, l.parse::<T>(a, ConfigErrorKind::Address)).map(Some),
        None => Some(None),
    }
}

fn build_neighbor(
    address: IpAddr,
    remote_asn: u32,
    s: &RawNeighbor,
    policies: &HashMap<String, Arc<Policy>>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<NeighborConfig> {
    let local_address = optional_address::<IpAddr>(&s.local_address, l, errors)?;
    let next_hop_ipv4 = optional_address::<Ipv4Addr>(&s.next_hop_ipv4, l, errors)?;
    let next_hop_ipv6 = optional_address::<Ipv6Addr>(&s.next_hop_ipv6, l, errors)?;
    let hold_time = match &s.hold_time {
        Some(h) if matches!(*h.get_ref(), 1 | 2) => {
            errors.push(l.error(h, ConfigErrorKind::HoldTime(*h.get_ref())));
            return None;
        }
        Some(h) => *h.get_ref(),
        None => 90,
    };
    let families = match &s.families {
        Some(list) => list
            .iter()
            .filter_map(|f| collect(errors, l.parse_by(f, parse_family, ConfigErrorKind::Family)))
            .collect(),
        None => vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
    };
    let max_prefix = s
        .max_prefix
        .iter()
        .filter_map(|m| {
            let family = collect(
                errors,
                l.parse_by(&m.family, parse_family, ConfigErrorKind::Family),
            )?;
            Some(rib::MaxPrefix {
                family,
                limit: m.limit,
                warning_percent: m.warning_percent,
            })
        })
        .collect();
    let add_path_send = match &s.add_path_send {
        None => 0,
        Some(value) => match value.get_ref() {
            RawPathCount::Word(w) if w == "all" => rib::ADD_PATH_ALL,
            RawPathCount::Count(n @ 2..=255) => *n as usize,
            RawPathCount::Count(n) => {
                errors.push(l.error(value, ConfigErrorKind::AddPathSend(n.to_string())));
                return None;
            }
            RawPathCount::Word(w) => {
                errors.push(l.error(value, ConfigErrorKind::AddPathSend(w.clone())));
                return None;
            }
        },
    };
    let password = match (&s.password_file, &s.password_env) {
        (Some(file), _) => Some(collect(
            errors,
            std::fs::read_to_string(file.get_ref())
                .map(|p| p.trim_end().to_string())
                .map_err(|e| {
                    l.error(
                        file,
                        ConfigErrorKind::Password(format!("{}: {e}", file.get_ref())),
                    )
                }),
        )?),
        (None, Some(var)) => Some(collect(
            errors,
            std::env::var(var.get_ref())
                .map_err(|_| l.error(var, ConfigErrorKind::MissingVariable(var.get_ref().clone()))),
        )?),
        (None, None) => None,
    };
    Some(NeighborConfig {
        address,
        remote_asn,
        port: s.port.unwrap_or(BGP_PORT),
        passive: s.passive,
        local_address,
        next_hop_ipv4,
        next_hop_ipv6,
        hold_time,
        keepalive_time: s.keepalive_time,
        connect_retry_time: Duration::from_secs(s.connect_retry_time.unwrap_or(30)),
        families,
        import: policy_chain(&s.import, policies, l, errors),
        export: policy_chain(&s.export, policies, l, errors),
        description: s.description.clone(),
        rr_client: s.rr_client,
        next_hop_self: s.next_hop_self,
        graceful_restart: s
            .graceful_restart
            .as_ref()
            .map(|g| GracefulRestartSettings {
                restart_time: g.restart_time,
            }),
        max_prefix,
        multihop_ttl: s.multihop_ttl,
        ttl_security: s.ttl_security,
        password,
        allow_own_as: s.allow_own_as,
        soft_reconfiguration_inbound: s.soft_reconfiguration_inbound,
        add_path_send,
    })
}

fn build_kubernetes(
    table: &Spanned<RawKubernetes>,
    local_as: u32,
    policies: &HashMap<String, Arc<Policy>>,
    l: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<KubernetesConfig> {
    let k = table.get_ref();
    let mode = match k.mode.as_ref().map(|m| m.get_ref().as_str()) {
        None | Some("tor") => PeeringMode::Tor,
        Some("mesh") => PeeringMode::Mesh,
        Some("route-reflector") => PeeringMode::RouteReflector,
        Some(other) => {
            let at = k.mode.as_ref().map_or_else(
                || l.error(table, ConfigErrorKind::Missing("mode")),
                |m| l.error(m, ConfigErrorKind::Mode(other.to_string())),
            );
            errors.push(at);
            return None;
        }
    };
    let prefixes = |list: &[Spanned<String>], errors: &mut Vec<ConfigError>| -> Vec<Prefix> {
        list.iter()
            .filter_map(|p| collect(errors, l.parse::<Prefix>(p, ConfigErrorKind::Prefix)))
            .collect()
    };
    let allowed_prefixes = prefixes(&k.allowed_prefixes, errors);
    let service_cidrs = prefixes(&k.service_cidrs, errors);
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let peer = match &k.peer {
        Some(p) => build_neighbor(unspecified, local_as, p.get_ref(), policies, l, errors)?,
        None => {
            let empty: RawNeighbor = toml::from_str("").ok()?;
            build_neighbor(unspecified, local_as, &empty, policies, l, errors)?
        }
    };
    let mut tors = Vec::new();
    for t in &k.tors {
        let t = t.get_ref();
        let Some((key, value)) = t.node_label.get_ref().split_once('=') else {
            errors.push(l.error(
                &t.node_label,
                ConfigErrorKind::Label(t.node_label.get_ref().clone()),
            ));
            continue;
        };
        let Some(address) = collect(
            errors,
            l.parse::<IpAddr>(&t.address, ConfigErrorKind::Address),
        ) else {
            continue;
        };
        tors.push(TorRule {
            label_key: key.to_string(),
            label_value: value.to_string(),
            address,
            remote_asn: t.remote_asn,
        });
    }
    Some(KubernetesConfig {
        node_name: k.node_name.get_ref().clone(),
        kubeconfig: k.kubeconfig.clone(),
        mode,
        allowed_prefixes,
        service_cidrs,
        drain_taint: k.drain_taint.clone(),
        drain_seconds: k.drain_seconds.unwrap_or(30),
        drain_prepend: k.drain_prepend.unwrap_or(3),
        reflector_label: k
            .reflector_label
            .clone()
            .unwrap_or_else(|| "bgp.speakerd.io/route-reflector".into()),
        peer,
        tors,
    })
}

fn build_term(t: &RawTerm, l: &Locator<'_>, errors: &mut Vec<ConfigError>) -> Option<Term> {
    let mut matches = Vec::new();
    if !t.prefixes.is_empty() {
        let list = t
            .prefixes
            .iter()
            .filter_map(|p| {
                collect(
                    errors,
                    l.parse_by(p, parse_prefix_match, ConfigErrorKind::Prefix),
                )
            })
            .collect();
        matches.push(Match::PrefixList(list));
    }
    if let Some(f) = &t.family {
        let family = collect(errors, l.parse_by(f, parse_family, ConfigErrorKind::Family))?;
        matches.push(Match::Family(family));
    }
    for c in &t.communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_community, ConfigErrorKind::Community),
        )?;
        matches.push(Match::Community(community));
    }
    for c in &t.large_communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_large_community, ConfigErrorKind::LargeCommunity),
        )?;
        matches.push(Match::LargeCommunity(community));
    }
    if let Some(asn) = t.as_path_contains {
        matches.push(Match::AsPathContains(asn));
    }
    if let Some(max) = t.as_path_max_length {
        matches.push(Match::AsPathLength { min: 0, max });
    }
    if let Some(asn) = t.origin_as {
        matches.push(Match::OriginAs(asn));
    }
    if let Some(p) = &t.next_hop_in {
        matches.push(Match::NextHop(collect(
            errors,
            l.parse::<Prefix>(p, ConfigErrorKind::Prefix),
        )?));
    }
    if let Some(a) = &t.neighbor {
        matches.push(Match::Neighbor(collect(
            errors,
            l.parse::<IpAddr>(a, ConfigErrorKind::Address),
        )?));
    }
    let mut actions = Vec::new();
    if let Some(v) = t.set_local_pref {
        actions.push(SetAction::LocalPref(v));
    }
    if let Some(v) = t.set_med {
        actions.push(SetAction::Med(v));
    }
    if let Some(a) = &t.set_next_hop {
        actions.push(SetAction::NextHop(collect(
            errors,
            l.parse::<IpAddr>(a, ConfigErrorKind::Address),
        )?));
    }
    for c in &t.add_communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_community, ConfigErrorKind::Community),
        )?;
        actions.push(SetAction::AddCommunity(community));
    }
    for c in &t.remove_communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_community, ConfigErrorKind::Community),
        )?;
        actions.push(SetAction::RemoveCommunity(community));
    }
    for c in &t.add_large_communities {
        let community = collect(
            errors,
            l.parse_by(c, parse_large_community, ConfigErrorKind::LargeCommunity),
        )?;
        actions.push(SetAction::AddLargeCommunity(community));
    }
    if let Some(count) = t.prepend {
        actions.push(SetAction::Prepend { asn: None, count });
    }
    let verdict = match t.then.get_ref().as_str() {
        "accept" => Verdict::Accept,
        "reject" => Verdict::Reject,
        "next" => Verdict::Next,
        other => {
            errors.push(l.error(&t.then, ConfigErrorKind::Verdict(other.to_string())));
            return None;
        }
    };
    Some(Term {
        name: t.name.clone(),
        matches,
        actions,
        verdict,
        allow_protected: t.allow_protected,
    })
}
