//! The status one speakerd writes about its node (`BGPNodeStatus`), and when it writes it: only
//! when something an operator would see changed, and at most once per
//! [`STATUS_MIN_INTERVAL`], so that thousands of nodes do not load the API server. The
//! deciding part ([`NodeStatusWriter`]) is sans-IO, driven by the times it is given.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The least time between two status writes of one node.
pub const STATUS_MIN_INTERVAL: Duration = Duration::from_secs(5);

/// One BGP session of the node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    /// The neighbour's address.
    pub peer: String,
    /// Its AS.
    #[serde(rename = "peerASN")]
    pub peer_asn: u32,
    /// The FSM state (RFC 4271 §8.2.2).
    pub state: String,
    /// When it became Established (RFC 3339), while it is.
    pub established_since: Option<String>,
    /// Prefixes accepted from it.
    pub prefixes_accepted: u64,
    /// Prefixes advertised to it.
    pub prefixes_advertised: u64,
}

/// Why a condition has its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ConditionReason {
    /// The BGPClusterConfig and BGPAdvertisements selecting the node are in force.
    Applied,
    /// No BGPClusterConfig selects the node: the ConfigMap's `[kubernetes]` peering applies.
    NoMatchingClusterConfig,
    /// Several BGPClusterConfigs select the node: the configuration in force is kept.
    ConflictingClusterConfigs,
    /// The password's Secret or key cannot be read: no session is set up with that config.
    SecretNotFound,
    /// The settings do not validate.
    InvalidConfig,
}

/// A condition (the Kubernetes convention: type, status, reason, message, transition time).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// What it is about: `ConfigApplied`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// Why.
    pub reason: ConditionReason,
    /// For people.
    pub message: String,
    /// When the status last changed (RFC 3339).
    pub last_transition_time: String,
}

/// The status of a `BGPNodeStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpNodeStatusStatus {
    /// `N/M Established`.
    pub summary: String,
    /// The BGPClusterConfig in force, if any.
    pub cluster_config: Option<String>,
    /// The BGPAdvertisements in force.
    #[serde(default)]
    pub advertisements: Vec<String>,
    /// The PodCIDRs announced.
    #[serde(default)]
    pub announced: Vec<String>,
    /// Every session.
    #[serde(default)]
    pub sessions: Vec<SessionStatus>,
    /// What is wrong, if anything.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

impl BgpNodeStatusStatus {
    /// Keeps the transition times of `previous` for conditions whose status did not change.
    pub fn carry_transition_times(&mut self, previous: &BgpNodeStatusStatus) {
        for c in &mut self.conditions {
            if let Some(p) = previous
                .conditions
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == c.status && p.reason == c.reason)
            {
                c.last_transition_time = p.last_transition_time.clone();
            }
        }
    }
}

/// When to write a node's status: a changed status is written at once unless the last write
/// was less than [`STATUS_MIN_INTERVAL`] ago, then when that interval ends (the latest status
/// by then); an unchanged one never; a failed write is retried after the interval.
#[derive(Debug, Default)]
pub struct NodeStatusWriter {
    written: Option<BgpNodeStatusStatus>,
    pending: Option<BgpNodeStatusStatus>,
    last_attempt: Option<Instant>,
}

impl NodeStatusWriter {
    /// The status as it is now.
    pub fn offer(&mut self, status: BgpNodeStatusStatus) {
        if self.written.as_ref() == Some(&status) {
            self.pending = None;
        } else {
            self.pending = Some(status);
        }
    }

    /// The status to write now, if one is pending and the interval since the last attempt
    /// has passed.
    pub fn poll_write(&mut self, now: Instant) -> Option<BgpNodeStatusStatus> {
        let pending = self.pending.as_ref()?;
        if self
            .last_attempt
            .is_some_and(|t| now < t + STATUS_MIN_INTERVAL)
        {
            return None;
        }
        self.last_attempt = Some(now);
        Some(pending.clone())
    }

    /// When [`NodeStatusWriter::poll_write`] will have a pending status to give: `None` when
    /// nothing is pending or it can be written now.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.as_ref()?;
        self.last_attempt.map(|t| t + STATUS_MIN_INTERVAL)
    }

    /// `status` (from [`NodeStatusWriter::poll_write`]) was written.
    pub fn written(&mut self, status: BgpNodeStatusStatus) {
        if self.pending.as_ref() == Some(&status) {
            self.pending = None;
        }
        self.written = Some(status);
    }

    /// The status written last.
    pub fn last_written(&self) -> Option<&BgpNodeStatusStatus> {
        self.written.as_ref()
    }
}
