//! What a configuration reload (SIGHUP) does, decided from the configuration in force and the
//! new one: which neighbours are started, stopped or reset (and by which key), whose changed
//! policies are applied to the session that stays up, which prefixes are announced or
//! withdrawn, and which settings a reload leaves alone until a restart. The daemon's reload acts
//! on this plan and `speakerd check --diff` prints it; neither decides by itself.
//!
//! Every comparison destructures its struct without `..`, so that a key added to the
//! configuration cannot be forgotten here: it does not compile until it is placed.

use std::net::IpAddr;

use bgp_proto::Prefix;
use serde::{Serialize, Serializer};

use super::{Config, KernelConfig, NeighborConfig, OriginateConfig};

/// A neighbour key whose change restarts the session (everything but `import`, `export` and
/// `description`, which a reload applies to the running session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKey {
    /// `remote_asn`.
    RemoteAsn,
    /// `port`.
    Port,
    /// `passive`.
    Passive,
    /// `local_address`.
    LocalAddress,
    /// `next_hop_ipv4`.
    NextHopIpv4,
    /// `next_hop_ipv6`.
    NextHopIpv6,
    /// `hold_time`.
    HoldTime,
    /// `keepalive_time`.
    KeepaliveTime,
    /// `send_hold_time`.
    SendHoldTime,
    /// `connect_retry_time`.
    ConnectRetryTime,
    /// `families`.
    Families,
    /// `rr_client`.
    RrClient,
    /// `next_hop_self`.
    NextHopSelf,
    /// `graceful_restart`.
    GracefulRestart,
    /// `bfd`.
    Bfd,
    /// `max_prefix`.
    MaxPrefix,
    /// `multihop_ttl`.
    MultihopTtl,
    /// `ttl_security`.
    TtlSecurity,
    /// The TCP MD5 key (`password_file` or `password_env`).
    Password,
    /// `allow_own_as`.
    AllowOwnAs,
    /// `soft_reconfiguration_inbound`.
    SoftReconfigurationInbound,
    /// `add_path_send`.
    AddPathSend,
    /// `message_log`: the new log starts with the session's OPENs.
    MessageLog,
}

impl SessionKey {
    /// The key as the configuration file spells it.
    pub fn key(self) -> &'static str {
        match self {
            Self::RemoteAsn => "remote_asn",
            Self::Port => "port",
            Self::Passive => "passive",
            Self::LocalAddress => "local_address",
            Self::NextHopIpv4 => "next_hop_ipv4",
            Self::NextHopIpv6 => "next_hop_ipv6",
            Self::HoldTime => "hold_time",
            Self::KeepaliveTime => "keepalive_time",
            Self::SendHoldTime => "send_hold_time",
            Self::ConnectRetryTime => "connect_retry_time",
            Self::Families => "families",
            Self::RrClient => "rr_client",
            Self::NextHopSelf => "next_hop_self",
            Self::GracefulRestart => "graceful_restart",
            Self::Bfd => "bfd",
            Self::MaxPrefix => "max_prefix",
            Self::MultihopTtl => "multihop_ttl",
            Self::TtlSecurity => "ttl_security",
            Self::Password => "password_file/password_env",
            Self::AllowOwnAs => "allow_own_as",
            Self::SoftReconfigurationInbound => "soft_reconfiguration_inbound",
            Self::AddPathSend => "add_path_send",
            Self::MessageLog => "message_log",
        }
    }
}

/// The session keys that differ between two configurations of one neighbour, in the order of
/// `docs/config.md`; empty when the session may stay up.
pub fn session_keys_changed(old: &NeighborConfig, new: &NeighborConfig) -> Vec<SessionKey> {
    let NeighborConfig {
        address: _,
        remote_asn,
        port,
        passive,
        local_address,
        next_hop_ipv4,
        next_hop_ipv6,
        hold_time,
        keepalive_time,
        send_hold_time,
        connect_retry_time,
        families,
        // Applied to the running session (see `policy_change`).
        import: _,
        export: _,
        description: _,
        rr_client,
        next_hop_self,
        graceful_restart,
        bfd,
        max_prefix,
        multihop_ttl,
        ttl_security,
        password,
        allow_own_as,
        soft_reconfiguration_inbound,
        add_path_send,
        message_log,
    } = old;
    let checks = [
        (*remote_asn != new.remote_asn, SessionKey::RemoteAsn),
        (*port != new.port, SessionKey::Port),
        (*passive != new.passive, SessionKey::Passive),
        (
            *local_address != new.local_address,
            SessionKey::LocalAddress,
        ),
        (*next_hop_ipv4 != new.next_hop_ipv4, SessionKey::NextHopIpv4),
        (*next_hop_ipv6 != new.next_hop_ipv6, SessionKey::NextHopIpv6),
        (*hold_time != new.hold_time, SessionKey::HoldTime),
        (
            *keepalive_time != new.keepalive_time,
            SessionKey::KeepaliveTime,
        ),
        (
            *send_hold_time != new.send_hold_time,
            SessionKey::SendHoldTime,
        ),
        (
            *connect_retry_time != new.connect_retry_time,
            SessionKey::ConnectRetryTime,
        ),
        (*families != new.families, SessionKey::Families),
        (*rr_client != new.rr_client, SessionKey::RrClient),
        (*next_hop_self != new.next_hop_self, SessionKey::NextHopSelf),
        (
            *graceful_restart != new.graceful_restart,
            SessionKey::GracefulRestart,
        ),
        (*bfd != new.bfd, SessionKey::Bfd),
        (*max_prefix != new.max_prefix, SessionKey::MaxPrefix),
        (*multihop_ttl != new.multihop_ttl, SessionKey::MultihopTtl),
        (*ttl_security != new.ttl_security, SessionKey::TtlSecurity),
        (*password != new.password, SessionKey::Password),
        (*allow_own_as != new.allow_own_as, SessionKey::AllowOwnAs),
        (
            *soft_reconfiguration_inbound != new.soft_reconfiguration_inbound,
            SessionKey::SoftReconfigurationInbound,
        ),
        (*add_path_send != new.add_path_send, SessionKey::AddPathSend),
        (*message_log != new.message_log, SessionKey::MessageLog),
    ];
    checks
        .into_iter()
        .filter_map(|(changed, key)| changed.then_some(key))
        .collect()
}

/// What is known of a neighbour's session when a changed import chain is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionFacts {
    /// Nothing (a preview from two files).
    Unknown,
    /// The session is not Established.
    NotEstablished,
    /// The session is Established; whether it negotiated route refresh (RFC 2918).
    Established {
        /// Both sides advertised the Route Refresh capability.
        route_refresh: bool,
    },
}

/// How a changed import chain reaches the routes a neighbour sent before the reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportReapply {
    /// `soft_reconfiguration_inbound`: the routes kept as received go through the new chain;
    /// the neighbour is not asked for anything.
    KeptRoutes,
    /// The neighbour is asked to send its routes again with a ROUTE-REFRESH (RFC 2918).
    RouteRefresh,
    /// By a ROUTE-REFRESH if the session negotiated it, otherwise only to the routes the
    /// neighbour sends from then on (the session is not known: a preview from two files).
    RouteRefreshIfSupported,
    /// The session did not negotiate route refresh: the new chain applies only to the routes
    /// the neighbour sends from then on (a warning is logged).
    NewRoutesOnly,
    /// The session is not Established: the new chain applies to everything once it is.
    NextSession,
}

/// How a changed import chain is applied to a neighbour's earlier routes: the control core's
/// reload (with what it knows of the session) and the preview both ask this.
pub fn import_reapply(soft_reconfiguration_inbound: bool, session: SessionFacts) -> ImportReapply {
    if soft_reconfiguration_inbound {
        return ImportReapply::KeptRoutes;
    }
    match session {
        SessionFacts::Unknown => ImportReapply::RouteRefreshIfSupported,
        SessionFacts::NotEstablished => ImportReapply::NextSession,
        SessionFacts::Established {
            route_refresh: true,
        } => ImportReapply::RouteRefresh,
        SessionFacts::Established {
            route_refresh: false,
        } => ImportReapply::NewRoutesOnly,
    }
}

/// What a reload does to one neighbour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum NeighborChange {
    /// New in the configuration: its session is started.
    Added,
    /// Gone from the configuration: its session is closed (Cease 6/3, Peer De-configured) and
    /// its routes withdrawn.
    Removed,
    /// A session key changed: the session is closed (Cease 6/3) and started again.
    Reset {
        /// The keys that force it.
        keys: Vec<SessionKey>,
    },
    /// Only policies or the description changed: the session stays up.
    Policies {
        /// The import chain changed, and how it reaches the routes received before.
        import: Option<ImportReapply>,
        /// The export chain changed: what the neighbour should have now is sent at once.
        export: bool,
        /// The description changed.
        description: bool,
    },
}

impl NeighborChange {
    /// Whether the reload starts a new session for the neighbour.
    pub fn starts_session(&self) -> bool {
        matches!(self, Self::Added | Self::Reset { .. })
    }

    /// Whether the reload closes the neighbour's running session.
    pub fn stops_session(&self) -> bool {
        matches!(self, Self::Removed | Self::Reset { .. })
    }
}

/// One neighbour of a [`ReloadPlan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NeighborPlan {
    /// The neighbour's address.
    pub address: IpAddr,
    /// What happens to it.
    #[serde(flatten)]
    pub change: NeighborChange,
}

/// What a reload does to the neighbours `before` to make them `after` (matched by address):
/// first the neighbours of `before` that are removed, reset or re-policed, in its order, then
/// those added, in the order of `after`. Unchanged neighbours are left out. `facts` tells what is
/// known of each session, for how a changed import chain is applied.
pub fn plan_neighbors(
    before: &[NeighborConfig],
    after: &[NeighborConfig],
    facts: &dyn Fn(IpAddr) -> SessionFacts,
) -> Vec<NeighborPlan> {
    let mut plan = Vec::new();
    for old in before {
        let change = match after.iter().find(|n| n.address == old.address) {
            None => NeighborChange::Removed,
            Some(new) => {
                let keys = session_keys_changed(old, new);
                if !keys.is_empty() {
                    NeighborChange::Reset { keys }
                } else if let Some(change) = policy_change(old, new, facts(old.address)) {
                    change
                } else {
                    continue;
                }
            }
        };
        plan.push(NeighborPlan {
            address: old.address,
            change,
        });
    }
    for new in after {
        if !before.iter().any(|old| old.address == new.address) {
            plan.push(NeighborPlan {
                address: new.address,
                change: NeighborChange::Added,
            });
        }
    }
    plan
}

/// The [`NeighborChange::Policies`] of two configurations with the same session keys, `None`
/// when nothing changed.
fn policy_change(
    old: &NeighborConfig,
    new: &NeighborConfig,
    facts: SessionFacts,
) -> Option<NeighborChange> {
    let import = old.import != new.import;
    let export = old.export != new.export;
    let description = old.description != new.description;
    (import || export || description).then(|| NeighborChange::Policies {
        import: import.then(|| import_reapply(new.soft_reconfiguration_inbound, facts)),
        export,
        description,
    })
}

/// A setting that a reload leaves as it is: it takes effect when speakerd is restarted, which
/// restarts every session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartKey {
    /// `[global] asn`.
    Asn,
    /// `[global] router_id`.
    RouterId,
    /// `[global] cluster_id`.
    ClusterId,
    /// `[global] listen`.
    Listen,
    /// `[global] shutdown_drain_seconds` or `shutdown_drain_prepend`.
    ShutdownDrain,
    /// `[admin] listen`.
    AdminListen,
    /// `[kernel] install`.
    KernelInstall,
    /// `[kernel] table`.
    KernelTable,
    /// `[kernel] protocol`.
    KernelProtocol,
    /// `[kernel] nexthop_objects`.
    KernelNexthopObjects,
    /// `[kernel] mtu` or `advmss`.
    KernelMetrics,
    /// `[kernel] ecmp_max_paths`, `ecmp_as_path_relax` or `ecmp_ibgp`.
    Ecmp,
    /// `[kernel] protected_prefixes`.
    ProtectedPrefixes,
    /// A `[[dynamic_neighbor]]` (its range, a key, or a policy it uses).
    DynamicNeighbors,
    /// The `[kubernetes]` section.
    Kubernetes,
    /// A `[[bmp]]` collector.
    Bmp,
}

impl RestartKey {
    /// The key as the configuration file spells it.
    pub fn key(self) -> &'static str {
        match self {
            Self::Asn => "global.asn",
            Self::RouterId => "global.router_id",
            Self::ClusterId => "global.cluster_id",
            Self::Listen => "global.listen",
            Self::ShutdownDrain => "global.shutdown_drain_seconds/shutdown_drain_prepend",
            Self::AdminListen => "admin.listen",
            Self::KernelInstall => "kernel.install",
            Self::KernelTable => "kernel.table",
            Self::KernelProtocol => "kernel.protocol",
            Self::KernelNexthopObjects => "kernel.nexthop_objects",
            Self::KernelMetrics => "kernel.mtu/advmss",
            Self::Ecmp => "kernel.ecmp_max_paths/ecmp_as_path_relax/ecmp_ibgp",
            Self::ProtectedPrefixes => "kernel.protected_prefixes",
            Self::DynamicNeighbors => "dynamic_neighbor",
            Self::Kubernetes => "kubernetes",
            Self::Bmp => "bmp",
        }
    }
}

/// The settings that differ and that a reload does not apply.
fn restart_keys(old: &Config, new: &Config) -> Vec<RestartKey> {
    let Config {
        asn,
        router_id,
        cluster_id,
        listen,
        admin_listen,
        kernel,
        ecmp,
        protected_prefixes,
        // Applied by the reload (see `plan_neighbors` and `plan_prefixes`).
        neighbors: _,
        prefixes: _,
        dynamic_neighbors,
        kubernetes,
        shutdown_drain,
        bmp,
    } = old;
    let KernelConfig {
        install,
        table,
        protocol,
        nexthop_objects,
        mtu,
        advmss,
    } = kernel;
    let checks = [
        (*asn != new.asn, RestartKey::Asn),
        (*router_id != new.router_id, RestartKey::RouterId),
        (*cluster_id != new.cluster_id, RestartKey::ClusterId),
        (*listen != new.listen, RestartKey::Listen),
        (
            *shutdown_drain != new.shutdown_drain,
            RestartKey::ShutdownDrain,
        ),
        (*admin_listen != new.admin_listen, RestartKey::AdminListen),
        (*install != new.kernel.install, RestartKey::KernelInstall),
        (*table != new.kernel.table, RestartKey::KernelTable),
        (*protocol != new.kernel.protocol, RestartKey::KernelProtocol),
        (
            *nexthop_objects != new.kernel.nexthop_objects,
            RestartKey::KernelNexthopObjects,
        ),
        (
            (*mtu, *advmss) != (new.kernel.mtu, new.kernel.advmss),
            RestartKey::KernelMetrics,
        ),
        (*ecmp != new.ecmp, RestartKey::Ecmp),
        (
            *protected_prefixes != new.protected_prefixes,
            RestartKey::ProtectedPrefixes,
        ),
        (
            *dynamic_neighbors != new.dynamic_neighbors,
            RestartKey::DynamicNeighbors,
        ),
        (*kubernetes != new.kubernetes, RestartKey::Kubernetes),
        (*bmp != new.bmp, RestartKey::Bmp),
    ];
    checks
        .into_iter()
        .filter_map(|(changed, key)| changed.then_some(key))
        .collect()
}

/// What a reload does to the originated prefixes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrefixPlan {
    /// New prefixes, announced.
    #[serde(serialize_with = "displayed")]
    pub announced: Vec<Prefix>,
    /// Prefixes whose communities changed, announced again.
    #[serde(serialize_with = "displayed")]
    pub reannounced: Vec<Prefix>,
    /// Prefixes gone, withdrawn.
    #[serde(serialize_with = "displayed")]
    pub withdrawn: Vec<Prefix>,
}

impl PrefixPlan {
    /// Nothing changes.
    pub fn is_empty(&self) -> bool {
        self.announced.is_empty() && self.reannounced.is_empty() && self.withdrawn.is_empty()
    }
}

/// What changes from the originated prefixes `before` to `after`: the prefixes to withdraw
/// (in no entry of `after` any more) and the entries of `after` to originate (new, or with
/// other attributes). The control core originates by it.
pub fn prefix_changes<'a>(
    before: &[OriginateConfig],
    after: &'a [OriginateConfig],
) -> (Vec<Prefix>, Vec<&'a OriginateConfig>) {
    let withdrawn = before
        .iter()
        .filter(|old| !after.iter().any(|p| p.prefix == old.prefix))
        .map(|old| old.prefix)
        .collect();
    let originated = after.iter().filter(|p| !before.contains(p)).collect();
    (withdrawn, originated)
}

fn plan_prefixes(before: &[OriginateConfig], after: &[OriginateConfig]) -> PrefixPlan {
    let (withdrawn, originated) = prefix_changes(before, after);
    let (reannounced, announced): (Vec<&OriginateConfig>, Vec<&OriginateConfig>) = originated
        .into_iter()
        .partition(|p| before.iter().any(|old| old.prefix == p.prefix));
    PrefixPlan {
        announced: announced.iter().map(|p| p.prefix).collect(),
        reannounced: reannounced.iter().map(|p| p.prefix).collect(),
        withdrawn,
    }
}

/// Everything a reload from one configuration to another does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReloadPlan {
    /// The `[[neighbor]]`s started, stopped, reset or re-policed.
    pub neighbors: Vec<NeighborPlan>,
    /// The `[[prefix]]`es announced or withdrawn.
    pub prefixes: PrefixPlan,
    /// Changed settings the reload does not apply (a restart of speakerd does, and restarts
    /// every session).
    pub restart_required: Vec<RestartKey>,
}

impl ReloadPlan {
    /// The reload changes nothing.
    pub fn is_empty(&self) -> bool {
        self.neighbors.is_empty() && self.prefixes.is_empty() && self.restart_required.is_empty()
    }
}

/// The plan of a reload from `old` (in force) to `new`; `facts` tells what is known of each
/// neighbour's session.
pub fn diff(old: &Config, new: &Config, facts: &dyn Fn(IpAddr) -> SessionFacts) -> ReloadPlan {
    ReloadPlan {
        neighbors: plan_neighbors(&old.neighbors, &new.neighbors, facts),
        prefixes: plan_prefixes(&old.prefixes, &new.prefixes),
        restart_required: restart_keys(old, new),
    }
}

/// The configuration in force after a reload from `old` to `new`: the neighbours and prefixes
/// of `new`, everything else (the [`RestartKey`]s) still of `old`.
pub fn after_reload(old: &Config, new: Config) -> Config {
    Config {
        neighbors: new.neighbors,
        prefixes: new.prefixes,
        ..old.clone()
    }
}

fn displayed<S: Serializer>(prefixes: &[Prefix], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(prefixes.iter().map(|p| p.to_string()))
}

#[cfg(test)]
mod tests;
