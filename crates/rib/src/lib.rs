//! The routing tables of the speaker: Adj-RIB-In, Loc-RIB with the RFC 4271 §9 decision process
//! and ECMP, policy, and graceful-restart state. Synchronous, no I/O: the daemon feeds it UPDATEs
//! and takes the changes out.

mod adj_in;
pub mod attrs;
pub mod decision;
pub mod export;
mod intern;
mod nexthop;
pub mod peer;
pub mod policy;
mod prefix_map;
pub mod rib;
mod table;

pub use attrs::{RouteAttrs, DEFAULT_LOCAL_PREF};
pub use decision::{DecisionConfig, DecisionStep, EcmpConfig};
pub use export::{encode_updates, OutgoingUpdate};
pub use peer::{PeerId, PeerInfo};
pub use policy::{Match, Policy, PolicyResult, PrefixMatch, SetAction, Term, Verdict};
pub use prefix_map::PrefixMap;
pub use rib::{
    BestRoute, ForwardingNextHop, ImportOutcome, MaxPrefix, MaxPrefixExceeded, NextHops,
    PathExplanation, PathStatus, PeerConfig, RejectReason, RejectedPath, Rib, RibConfig,
    RibSnapshot, RibStats, RouteChange, SelectedPath, SelectedRoute, SnapshotKind, SnapshotPath,
    ADD_PATH_ALL,
};
