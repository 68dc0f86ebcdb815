//! The bgp.speakerd.io custom resources in the integration: the BGPClusterConfigs and
//! BGPAdvertisements (watched like the Nodes, relisted after 410 Gone, the last known state
//! kept while the API server is away), the Secrets they name (read by name in speakerd's
//! namespace, again every [`SECRET_REFRESH`]), and the node's BGPNodeStatus, written by
//! [`write_status`] on change and at most every [`crd::STATUS_MIN_INTERVAL`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::Event;
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use crate::control_task::{Query, ToControl};
use crate::crd::{
    self, Applied, BgpAdvertisement, BgpClusterConfig, BgpNodeStatus, BgpNodeStatusSpec,
    BgpNodeStatusStatus, Condition, ConditionReason, NodeStatusWriter, RenderError, SecretKey,
    SessionStatus,
};
use crate::msg::NeighborView;

/// How often the Secrets the configuration names are read again (a rotated password is
/// picked up within this time).
pub(super) const SECRET_REFRESH: Duration = Duration::from_secs(10);

/// How often the node's sessions are looked at for the status.
const STATUS_POLL: Duration = Duration::from_secs(2);

/// One kind of resource as the watch has shown it.
#[derive(Debug)]
pub(super) struct Watched<K> {
    objects: BTreeMap<String, K>,
    relisting: Option<BTreeMap<String, K>>,
    /// The first list is complete.
    pub(super) synced: bool,
}

impl<K> Default for Watched<K> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            relisting: None,
            synced: false,
        }
    }
}

/// An object's key: `namespace/name` (`name` for cluster-scoped ones).
fn key<K: Resource>(object: &K) -> String {
    match object.namespace() {
        Some(ns) => format!("{ns}/{}", object.name_any()),
        None => object.name_any(),
    }
}

impl<K: Resource + Clone> Watched<K> {
    /// Takes a watch event; true when the objects in force changed (a relist counts once,
    /// at its end).
    pub(super) fn apply(&mut self, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                if let Some(buffer) = self.relisting.as_mut() {
                    buffer.insert(key(&object), object);
                }
                false
            }
            Event::InitDone => match self.relisting.take() {
                Some(buffer) => {
                    self.objects = buffer;
                    self.synced = true;
                    true
                }
                None => false,
            },
            Event::Apply(object) => {
                self.objects.insert(key(&object), object);
                self.relisting.is_none()
            }
            Event::Delete(object) => {
                self.objects.remove(&key(&object));
                self.relisting.is_none()
            }
        }
    }

    /// The objects, by name.
    pub(super) fn list(&self) -> Vec<K> {
        self.objects.values().cloned().collect()
    }
}

/// Every resource of the group the node's configuration depends on, and the Secrets read.
#[derive(Debug, Default)]
pub(super) struct Resources {
    pub(super) configs: Watched<BgpClusterConfig>,
    pub(super) advertisements: Watched<BgpAdvertisement>,
    secrets: BTreeMap<SecretKey, Result<String, String>>,
}

impl Resources {
    /// Reads the Secrets the configs name again; true when one changed.
    pub(super) async fn refresh_secrets(&mut self, client: &Client) -> bool {
        let keys = crd::secret_keys(&self.configs.list());
        let mut read = BTreeMap::new();
        for key in keys {
            let api: Api<Secret> = Api::namespaced(client.clone(), &key.namespace);
            let value = match api.get(&key.name).await {
                Ok(secret) => secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(&key.key))
                    .ok_or_else(|| format!("no key {} in the Secret", key.key))
                    .and_then(|v| {
                        String::from_utf8(v.0.clone())
                            .map_err(|_| "the value is not UTF-8 text".to_string())
                    }),
                Err(kube::Error::Api(e)) => Err(e.message),
                Err(e) => Err(e.to_string()),
            };
            read.insert(key, value);
        }
        let changed = read != self.secrets;
        self.secrets = read;
        changed
    }

    /// The configuration they put in force for a node with `labels`.
    pub(super) fn render(
        &self,
        base: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Applied, RenderError> {
        crd::render(
            base,
            labels,
            &self.configs.list(),
            &self.advertisements.list(),
            &self.secrets,
        )
    }
}

/// What the integration knows for the status, besides the sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct StatusInputs {
    pub(super) cluster_config: Option<String>,
    pub(super) advertisements: Vec<String>,
    pub(super) announced: Vec<String>,
    /// The `ConfigApplied` condition: status, reason, message.
    pub(super) config_applied: Option<(bool, ConditionReason, String)>,
}

impl StatusInputs {
    /// The `ConfigApplied` condition for a render result.
    pub(super) fn condition_of(
        result: &Result<Applied, RenderError>,
    ) -> (bool, ConditionReason, String) {
        match result {
            Ok(Applied {
                cluster_config: Some(name),
                ..
            }) => (
                true,
                ConditionReason::Applied,
                format!("BGPClusterConfig {name} in force"),
            ),
            Ok(_) => (
                true,
                ConditionReason::NoMatchingClusterConfig,
                "no BGPClusterConfig selects this node: the ConfigMap's [kubernetes] peering applies"
                    .into(),
            ),
            Err(e) => {
                let reason = match e {
                    RenderError::Conflict(_) => ConditionReason::ConflictingClusterConfigs,
                    RenderError::Secret { .. } => ConditionReason::SecretNotFound,
                    RenderError::Invalid { .. } | RenderError::NoKubernetesTable => {
                        ConditionReason::InvalidConfig
                    }
                };
                (false, reason, format!("{e}; the configuration in force is kept"))
            }
        }
    }
}

/// The status of the node now, from the inputs and the sessions; `since` remembers when each
/// session was first seen Established (so an unchanged session gives an unchanged status).
fn status_now(
    inputs: &StatusInputs,
    neighbors: &[NeighborView],
    since: &mut BTreeMap<IpAddr, String>,
    now: Timestamp,
) -> BgpNodeStatusStatus {
    since.retain(|a, _| {
        neighbors
            .iter()
            .any(|n| n.address == *a && n.state == "Established")
    });
    let sessions: Vec<SessionStatus> = neighbors
        .iter()
        .map(|n| {
            let established = n.state == "Established";
            let since = established.then(|| {
                since
                    .entry(n.address)
                    .or_insert_with(|| {
                        let up = Duration::from_secs(n.uptime_seconds);
                        now.checked_sub(up).unwrap_or(now).to_string()
                    })
                    .clone()
            });
            SessionStatus {
                peer: n.address.to_string(),
                peer_asn: n.asn,
                state: n.state.clone(),
                established_since: since,
                prefixes_accepted: n.prefixes_accepted,
                prefixes_advertised: n.prefixes_advertised,
            }
        })
        .collect();
    let up = sessions.iter().filter(|s| s.state == "Established").count();
    let conditions = inputs
        .config_applied
        .iter()
        .map(|(ok, reason, message)| Condition {
            type_: "ConfigApplied".into(),
            status: if *ok { "True" } else { "False" }.into(),
            reason: *reason,
            message: message.clone(),
            last_transition_time: now.to_string(),
        })
        .collect();
    BgpNodeStatusStatus {
        summary: format!("{up}/{} Established", sessions.len()),
        cluster_config: inputs.cluster_config.clone(),
        advertisements: inputs.advertisements.clone(),
        announced: inputs.announced.clone(),
        sessions,
        conditions,
    }
}

async fn write(
    api: &Api<BgpNodeStatus>,
    node: &str,
    status: &BgpNodeStatusStatus,
) -> kube::Result<()> {
    let patch = serde_json::json!({ "status": status });
    match api
        .patch_status(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let object = BgpNodeStatus::new(
                node,
                BgpNodeStatusSpec {
                    node_name: node.to_string(),
                },
            );
            api.create(&PostParams::default(), &object).await?;
            api.patch_status(node, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
        }
        other => other.map(|_| ()),
    }
}

/// Writes the node's BGPNodeStatus until the daemon stops: the sessions (asked of the control
/// task every [`STATUS_POLL`]) and `inputs`, on change and at most every
/// [`crd::STATUS_MIN_INTERVAL`]. A failed write is logged and retried; it never stops BGP.
pub(super) async fn write_status(
    client: Client,
    node: String,
    to_control: mpsc::UnboundedSender<ToControl>,
    mut inputs: watch::Receiver<StatusInputs>,
) {
    let api: Api<BgpNodeStatus> = Api::all(client);
    let mut writer = NodeStatusWriter::default();
    let mut since = BTreeMap::new();
    let mut poll = tokio::time::interval(STATUS_POLL);
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            changed = inputs.changed() => if changed.is_err() { return },
        }
        let (tx, rx) = oneshot::channel();
        if to_control
            .send(ToControl::Query(Query::Neighbors(tx)))
            .is_err()
        {
            return;
        }
        let Ok(neighbors) = rx.await else { return };
        let current = inputs.borrow().clone();
        let mut status = status_now(&current, &neighbors, &mut since, Timestamp::now());
        if let Some(previous) = writer.last_written() {
            status.carry_transition_times(previous);
        }
        writer.offer(status);
        if let Some(status) = writer.poll_write(Instant::now()) {
            match write(&api, &node, &status).await {
                Ok(()) => {
                    debug!(summary = %status.summary, "BGPNodeStatus written");
                    writer.written(status);
                }
                Err(e) => warn!(error = %e, "cannot write our BGPNodeStatus; retrying"),
            }
        }
    }
}
