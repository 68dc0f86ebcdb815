//! The typed messages between the control core ([`crate::control`]) and the tasks of the shell:
//! what the neighbour tasks, the Kubernetes watcher and the daemon tell the core
//! ([`Input`]), what the core asks of them ([`Output`]), and the answers to the admin API.
//! States and reasons are enums; the only strings are texts meant for people (a Cease
//! communication, a description).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bgp_fsm::{Down, DownReason, Negotiated, State, StopReason};
use bgp_proto::{Family, FamilySet, Prefix, RouteRefresh, Update};
use bytes::Bytes;
use rib::{PeerId, RouteChange};
use serde::{Deserialize, Serialize};

use crate::config::{BfdSettings, OriginateConfig};

/// What the shell tells the control core. Neighbours are named by the [`PeerId`]
/// [`crate::control::Core::add_neighbor`] gave them, except where the configuration names them
/// by address.
#[derive(Debug)]
pub enum Input {
    /// A neighbour's session reached Established (RFC 4271 §8.2.2).
    SessionUp {
        /// The neighbour.
        peer: PeerId,
        /// What the OPENs negotiated.
        negotiated: Box<Negotiated>,
        /// Our addresses on the session's link, used as next hop self (RFC 4271 §5.1.3,
        /// RFC 2545 §3).
        local: LocalAddresses,
    },
    /// A neighbour's session left Established, or an attempt failed before it.
    SessionDown {
        /// The neighbour.
        peer: PeerId,
        /// Why, and which routes graceful restart keeps (RFC 4724 §4.2).
        down: Box<Down>,
    },
    /// An UPDATE from an Established session (RFC 4271 §4.3).
    Update {
        /// The neighbour.
        peer: PeerId,
        /// The UPDATE, validated per RFC 7606.
        update: Box<Update>,
        /// When the neighbour task read it (the start of the convergence histograms).
        arrived: Instant,
    },
    /// The neighbour's End-of-RIB for a family (RFC 4724 §2).
    EndOfRib {
        /// The neighbour.
        peer: PeerId,
        /// The family.
        family: Family,
    },
    /// A ROUTE-REFRESH (RFC 2918) or its Begin/End-of-RIB markers (RFC 7313 §4).
    RouteRefresh {
        /// The neighbour.
        peer: PeerId,
        /// The message.
        refresh: RouteRefresh,
    },
    /// The neighbour's socket took everything sent to it: the next updates may go.
    SendBufferDrained {
        /// The neighbour.
        peer: PeerId,
    },
    /// The neighbour's FSM changed state (RFC 4271 §8.2.2), for status displays.
    StateChanged {
        /// The neighbour.
        peer: PeerId,
        /// The new state.
        state: State,
    },
    /// The BFD session of a neighbour went from Up to Down (RFC 5880 §6.8.6, §6.8.4): the path
    /// failed, take the BGP session down (RFC 5882 §4.3, Cease 6/10 of RFC 9384).
    BfdDown {
        /// The neighbour.
        peer: PeerId,
    },
    /// The BFD session of a neighbour came Up: in strict mode, BGP may start.
    BfdUp {
        /// The neighbour.
        peer: PeerId,
    },
    /// A neighbour left the configuration: Cease 6/3 (RFC 4486) and forget it.
    RemoveNeighbor {
        /// Its address.
        address: IpAddr,
    },
    /// A neighbour's policies changed (reload): re-export now, apply the import policy to what
    /// it sent before.
    SetPolicies {
        /// Its address.
        address: IpAddr,
        /// The new import chain.
        import: Vec<Arc<rib::Policy>>,
        /// The new export chain.
        export: Vec<Arc<rib::Policy>>,
    },
    /// The prefixes one source wants originated.
    SetPrefixes(PrefixSource, Vec<OriginateConfig>),
    /// Which Node owns which PodCIDR, for learned-route validation.
    SetNodeRoutes(Box<NodeRoutes>),
    /// Our Node's drain state (cordon or drain taint), as the Node list says it is now.
    NodeDrain {
        /// Whether the Node is to be drained.
        draining: bool,
        /// The Node's name, for the Cease communication (RFC 9003).
        node: String,
    },
    /// Every source of neighbours and of our own prefixes has delivered its first state (the
    /// configuration; the first Node list with Kubernetes): End-of-RIB may now go out, and the
    /// kernel routes of a previous run may go once the neighbours have sent theirs.
    StartupComplete,
    /// SIGTERM with a drain period: announce GRACEFUL_SHUTDOWN (RFC 8326) with these extra
    /// prepends until the daemon closes the sessions.
    ShutdownDrain {
        /// AS_PATH prepends toward external neighbours.
        prepend: u8,
    },
}

/// Our addresses toward a neighbour: the session's own local address and, where the link has
/// one, the address of the other family on the same interface (an IPv6 next hop for IPv6
/// routes on an IPv4 session, RFC 2545 §3; an IPv4 one the other way round).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalAddresses {
    /// The session's local address.
    pub session: Option<IpAddr>,
    /// The interface's address of the other family.
    pub other_family: Option<IpAddr>,
}

/// What the control core asks of the shell.
#[derive(Debug)]
pub enum Output {
    /// A command for a neighbour's task.
    Peer {
        /// The neighbour.
        peer: PeerId,
        /// What to do.
        command: PeerCommand,
    },
    /// A command for the kernel writer.
    Fib(FibCommand),
    /// Something the operator should see on our Node.
    NodeEvent(NodeEvent),
    /// A command for the BFD sessions.
    Bfd(BfdCommand),
}

/// Commands for the BFD task (RFC 5880, RFC 5881 single hop).
#[derive(Debug, PartialEq, Eq)]
pub enum BfdCommand {
    /// Run a BFD session with this neighbour (kept while the neighbour is configured; a new
    /// command with other addresses or settings replaces it).
    Watch {
        /// The neighbour.
        peer: PeerId,
        /// Its address.
        remote: IpAddr,
        /// Our address toward it (the BGP session's).
        local: IpAddr,
        /// Intervals and multiplier.
        settings: BfdSettings,
    },
    /// The neighbour left the configuration: end its BFD session.
    Forget {
        /// The neighbour.
        peer: PeerId,
    },
}

/// Commands for a neighbour's task.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerCommand {
    /// Send these encoded UPDATEs; answer with [`Input::SendBufferDrained`] once written. The
    /// time is the earliest arrival of the UPDATEs whose changes they carry, if any did: the
    /// task observes `bgp_update_to_advertisement_seconds` when the socket has taken them.
    Updates(Bytes, Option<Instant>),
    /// Send End-of-RIB for a family (RFC 4724 §2).
    EndOfRib(Family),
    /// Send this ROUTE-REFRESH: a request to re-send a family (RFC 2918), after an import
    /// policy change, or the BoRR or EoRR around our re-advertisement (RFC 7313 §4).
    RouteRefresh(RouteRefresh),
    /// Stop the session with this Cease; it starts again by itself later.
    Cease(StopReason),
    /// The neighbour left the configuration: Cease 6/3, then end the task. No command for
    /// this neighbour follows.
    Deconfigure,
    /// Close with Cease 6/2 and this communication (RFC 9003), and stay down until
    /// [`PeerCommand::Resume`].
    Stop(String),
    /// Start again after [`PeerCommand::Stop`].
    Resume,
}

/// Commands for the kernel writer.
#[derive(Debug, PartialEq, Eq)]
pub enum FibCommand {
    /// Install, change or remove these selections. The time is the earliest arrival of the
    /// UPDATEs of the decision run that made them, if any: the writer observes
    /// `bgp_update_to_kernel_seconds` when the kernel has acknowledged them.
    Apply(Vec<RouteChange>, Option<Instant>),
    /// The first full table is in: our kernel routes of a previous run that the RIB does not
    /// want may go.
    Synced,
}

/// Something the operator should see on our Node, recorded as a Kubernetes Event
/// (`kubectl describe node`, `kubectl events --for node/NAME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// A BGP session reached Established.
    SessionUp {
        /// The neighbour.
        neighbor: IpAddr,
        /// Its AS.
        asn: u32,
    },
    /// An Established BGP session went down.
    SessionDown {
        /// The neighbour.
        neighbor: IpAddr,
        /// Its AS.
        asn: u32,
        /// Why.
        cause: DownCause,
    },
    /// The Node was cordoned or tainted: GRACEFUL_SHUTDOWN is announced for this long.
    DrainStarted {
        /// Seconds until the sessions close.
        seconds: u64,
    },
    /// The drain period ended: every session was closed with this Cease communication.
    Drained {
        /// The communication (RFC 9003).
        message: String,
    },
    /// The Node is schedulable again after a drain: normal announcements.
    DrainEnded,
    /// The bgp.speakerd.io resources selecting the Node cannot be put in force (the
    /// configuration in force stays); `message` says why.
    ResourcesRefused {
        /// What is wrong.
        message: String,
    },
}

/// Why an Established session went down, as a Node Event tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownCause {
    /// The session's own reason (RFC 4271 §8).
    Session(DownReason),
    /// The neighbour left the configuration (Cease 6/3 sent, RFC 4486).
    Deconfigured,
}

impl fmt::Display for DownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownCause::Session(reason) => reason.fmt(f),
            DownCause::Deconfigured => f.write_str("neighbor removed (Cease 6/3 sent)"),
        }
    }
}

/// Where originated prefixes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrefixSource {
    /// `[[prefix]]` of the configuration.
    Config,
    /// Our Node's PodCIDRs.
    Kubernetes,
}

/// Which Node owns which PodCIDR, and the ranges learned routes must not touch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeRoutes {
    /// Check that a PodCIDR comes from its Node (mesh and route-reflector modes).
    pub validate_owners: bool,
    /// PodCIDR -> the owning Node's addresses (other Nodes only).
    pub owners: BTreeMap<Prefix, Vec<IpAddr>>,
    /// Our own PodCIDRs.
    pub own_cidrs: Vec<Prefix>,
    /// The cluster's Service ranges.
    pub service_cidrs: Vec<Prefix>,
    /// Prefixes accepted regardless (other clusters, VMs).
    pub allowed: Vec<Prefix>,
}

/// Why Node validation refused a learned route (the `reason` label of
/// `bgp_kubernetes_routes_rejected_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The prefix overlaps our own PodCIDRs or the Service ranges.
    OverlapsCluster,
    /// A PodCIDR announced with a next hop that is not its Node's.
    WrongNextHop,
    /// A prefix that is no Node's PodCIDR.
    NoSuchNode,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::OverlapsCluster => "overlaps-cluster",
            Refusal::WrongNextHop => "wrong-next-hop",
            Refusal::NoSuchNode => "no-such-node",
        }
    }
}

/// How the node drains when it is cordoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainSettings {
    /// How long GRACEFUL_SHUTDOWN is announced before the sessions close.
    pub seconds: u64,
    /// AS_PATH prepends toward external neighbours meanwhile.
    pub prepend: u8,
}

/// A neighbour as `speakerd show neighbors` prints it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NeighborView {
    /// Address.
    pub address: IpAddr,
    /// AS.
    pub asn: u32,
    /// FSM state.
    pub state: String,
    /// Seconds Established, 0 when not.
    pub uptime_seconds: u64,
    /// Negotiated families.
    pub families: Vec<String>,
    /// Capabilities both sides advertised, beyond the families (RFC 5492); empty when not
    /// Established.
    #[serde(default)]
    pub capabilities: Vec<SessionCapability>,
    /// Accepted prefixes.
    pub prefixes_accepted: u64,
    /// Advertised prefixes.
    pub prefixes_advertised: u64,
    /// Description.
    pub description: Option<String>,
}

/// A capability an Established session negotiated (both sides advertised it, RFC 5492), as
/// `speakerd show neighbors` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionCapability {
    /// 4-octet AS numbers (RFC 6793).
    FourOctetAs,
    /// Route refresh (RFC 2918).
    RouteRefresh,
    /// Enhanced route refresh: Begin- and End-of-RIB around a refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// Extended messages up to 65535 octets (RFC 8654).
    ExtendedMessage,
    /// ADD-PATH in either direction for some family (RFC 7911).
    AddPath,
    /// The peer sent a Graceful Restart capability (RFC 4724 §3): it keeps our routes when
    /// the session ends without a NOTIFICATION.
    GracefulRestart,
    /// Both sides set the N bit: graceful restart also after a NOTIFICATION (RFC 8538).
    GracefulNotification,
    /// Both sides offer long-lived graceful restart (RFC 9494): past its restart time the
    /// peer's routes are kept, least preferred, for its long-lived stale time.
    LongLivedGracefulRestart,
}

impl SessionCapability {
    /// The capabilities of a negotiated session, in this order.
    pub fn of(n: &Negotiated) -> Vec<SessionCapability> {
        let context = &n.context;
        [
            (context.four_octet_as, SessionCapability::FourOctetAs),
            (n.route_refresh, SessionCapability::RouteRefresh),
            (
                n.enhanced_route_refresh,
                SessionCapability::EnhancedRouteRefresh,
            ),
            (context.extended_message, SessionCapability::ExtendedMessage),
            (
                context.add_path_rx != FamilySet::EMPTY || context.add_path_tx != FamilySet::EMPTY,
                SessionCapability::AddPath,
            ),
            (
                n.peer_graceful_restart.is_some(),
                SessionCapability::GracefulRestart,
            ),
            (
                n.graceful_notification,
                SessionCapability::GracefulNotification,
            ),
            (
                !n.peer_long_lived.is_empty(),
                SessionCapability::LongLivedGracefulRestart,
            ),
        ]
        .into_iter()
        .filter_map(|(on, c)| on.then_some(c))
        .collect()
    }
}

/// A BFD session state (RFC 5880 §4.1) as `speakerd show bfd` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BfdStateView {
    /// AdminDown.
    AdminDown,
    /// Down.
    Down,
    /// Init.
    Init,
    /// Up.
    Up,
}

impl From<bfd::State> for BfdStateView {
    fn from(s: bfd::State) -> Self {
        match s {
            bfd::State::AdminDown => BfdStateView::AdminDown,
            bfd::State::Down => BfdStateView::Down,
            bfd::State::Init => BfdStateView::Init,
            bfd::State::Up => BfdStateView::Up,
        }
    }
}

/// One neighbour's BFD session as `speakerd show bfd` prints it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BfdView {
    /// The neighbour.
    pub neighbor: IpAddr,
    /// Our address (the BGP session's).
    pub local: IpAddr,
    /// bfd.SessionState.
    pub state: BfdStateView,
    /// bfd.RemoteSessionState.
    pub remote_state: BfdStateView,
    /// bfd.LocalDiag, the RFC 5880 §4.1 code (1: detection time expired, 3: neighbour said
    /// down, 7: administratively down).
    pub diagnostic: u8,
    /// bfd.LocalDiscr.
    pub local_discriminator: u32,
    /// bfd.RemoteDiscr (0 until heard).
    pub remote_discriminator: u32,
    /// The interval between our packets before jitter, milliseconds.
    pub transmit_interval_ms: u64,
    /// The Detection Time, milliseconds, once the neighbour has been heard.
    pub detection_time_ms: Option<u64>,
}

/// A selected route as `speakerd show routes` prints it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteView {
    /// Prefix.
    pub prefix: String,
    /// ECMP next hops (empty for our own prefixes).
    pub next_hops: Vec<IpAddr>,
    /// AS path of the best route.
    pub as_path: String,
    /// The neighbour of the best route, or "local".
    pub from: String,
}

/// One path of a prefix as `speakerd show route PREFIX` explains it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PathView {
    /// The neighbour, or "local".
    pub from: String,
    /// Next hop.
    pub next_hop: IpAddr,
    /// AS path.
    pub as_path: String,
    /// LOCAL_PREF used by the decision.
    pub local_pref: u32,
    /// MED.
    pub med: Option<u32>,
    /// Communities.
    pub communities: Vec<String>,
    /// best, multipath, lost at STEP, next hop unreachable, or (kept as received with soft
    /// reconfiguration inbound) rejected and why.
    pub status: String,
    /// Kept stale across a graceful restart.
    pub stale: bool,
}

/// The daemon's configuration in force, as `/api/config` serves it for `speakerd check
/// --diff-running`: the text (with `${VAR}` replaced) it started from and that of its latest
/// successful reload. The global settings are those of `started`, the neighbours and prefixes
/// those of `reloaded` when there is one (`config::diff::after_reload`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningConfig {
    /// The configuration file the daemon reads on SIGHUP.
    pub path: std::path::PathBuf,
    /// The text it started with.
    pub started: String,
    /// The text of its latest successful reload, if any.
    pub reloaded: Option<String>,
}
