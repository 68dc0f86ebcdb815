//! The Kubernetes integration: a watch over `v1/Node` (kube-runtime's watcher, which lists,
//! watches, follows bookmarks, relists after 410 Gone and backs off while the API server is
//! unreachable). From the Node objects it derives what this node announces (its PodCIDRs), whom
//! it peers with (by mode: ToR by label, full iBGP mesh, or route reflectors by label), which
//! learned routes are plausible (a PodCIDR is accepted only from the Node that owns it), and
//! whether the node is being drained. While the API server is unreachable the last known state
//! stays in force; after a relist only what changed is applied. What the operator should see on
//! the Node (sessions going up and down, a drain) is recorded as Kubernetes Events on it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bgp_proto::Prefix;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

mod resources;
mod services;

use self::resources::{Resources, StatusInputs, Watched};
use crate::config::{KubernetesConfig, NeighborConfig, OriginateConfig, PeeringMode, TorRule};
use crate::control_task::ToControl;
use crate::crd::{BgpAdvertisement, BgpClusterConfig};
use crate::msg::{Input, NodeEvent, NodeRoutes, PrefixSource};

/// Why the Kubernetes client could not be built.
#[derive(Debug, Error)]
pub enum KubernetesError {
    /// The kubeconfig file could not be read.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// The in-cluster configuration is missing.
    #[error("in-cluster configuration: {0}")]
    InCluster(#[from] kube::config::InClusterError),
    /// The client could not be created.
    #[error("client: {0}")]
    Client(#[from] kube::Error),
}

/// How a [`NodeEvent`] is recorded: type (`Normal` or `Warning`), reason (`PascalCase`, what
/// `kubectl` shows), action, note.
fn describe(event: &NodeEvent) -> (&'static str, &'static str, &'static str, String) {
    match event {
            NodeEvent::SessionUp { neighbor, asn } => (
                "Normal",
                "BGPSessionEstablished",
                "Peering",
                format!("BGP session with {neighbor} (AS {asn}) Established"),
            ),
            NodeEvent::SessionDown {
                neighbor,
                asn,
                cause,
            } => (
                "Warning",
                "BGPSessionDown",
                "Peering",
                format!("BGP session with {neighbor} (AS {asn}) down: {cause}"),
            ),
            NodeEvent::DrainStarted { seconds } => (
                "Normal",
                "BGPDrainStarted",
                "Draining",
                format!("announcing GRACEFUL_SHUTDOWN (RFC 8326) for {seconds} s, then closing every BGP session"),
            ),
            NodeEvent::Drained { message } => (
                "Normal",
                "BGPDrained",
                "Draining",
                format!("every BGP session closed with Cease: {message}"),
            ),
            NodeEvent::DrainEnded => (
                "Normal",
                "BGPDrainEnded",
                "Draining",
                "node schedulable again: normal announcements, sessions restart".to_string(),
            ),
            NodeEvent::ResourcesRefused { message } => (
                "Warning",
                "BGPConfigRefused",
                "Configuring",
                format!("bgp.speakerd.io configuration not applied: {message}"),
            ),
        }
}

/// How long a repeated event (same reason and note) counts as a repeat: it then becomes the
/// next of a series (`series.count`) of the first one instead of a new Event, so a flapping
/// session cannot flood the API server.
const EVENT_SERIES_WINDOW: Duration = Duration::from_secs(360);

/// Records [`NodeEvent`]s as events.k8s.io/v1 Events regarding our Node (in the `default`
/// namespace, where Events about cluster-scoped objects go), in order. A repeat of the same
/// reason and note within [`EVENT_SERIES_WINDOW`] updates the earlier Event's series. A failure
/// is logged and the event dropped: events are for operators, never a reason to stop.
async fn publish_node_events(
    client: Client,
    node_name: String,
    node_uid: watch::Receiver<Option<String>>,
    mut events: mpsc::UnboundedReceiver<NodeEvent>,
) {
    let api: Api<K8sEvent> = Api::namespaced(client, "default");
    // (reason, note) -> (Event name, count, first seen)
    let mut recent: HashMap<(&'static str, String), (String, i32, Instant)> = HashMap::new();
    while let Some(event) = events.recv().await {
        let (type_, reason, action, note) = describe(&event);
        let now = Timestamp::now();
        recent.retain(|_, (_, _, first)| first.elapsed() < EVENT_SERIES_WINDOW);
        let result = match recent.get_mut(&(reason, note.clone())) {
            Some((name, count, _)) => {
                *count += 1;
                let patch = serde_json::json!({
                    "series": EventSeries { count: *count, last_observed_time: MicroTime(now) }
                });
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
            None => {
                let name = format!("{node_name}.{:x}", now.as_nanosecond());
                let record = K8sEvent {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some("default".into()),
                        ..ObjectMeta::default()
                    },
                    event_time: Some(MicroTime(now)),
                    type_: Some(type_.into()),
                    reason: Some(reason.into()),
                    action: Some(action.into()),
                    note: Some(note.clone()),
                    reporting_controller: Some("speakerd".into()),
                    reporting_instance: Some(format!("speakerd-{node_name}")),
                    regarding: Some(ObjectReference {
                        api_version: Some("v1".into()),
                        kind: Some("Node".into()),
                        name: Some(node_name.clone()),
                        uid: node_uid.borrow().clone(),
                        ..ObjectReference::default()
                    }),
                    ..K8sEvent::default()
                };
                let created = api.create(&PostParams::default(), &record).await;
                if created.is_ok() {
                    recent.insert((reason, note), (name, 1, Instant::now()));
                }
                created.map(|_| ())
            }
        };
        if let Err(e) = result {
            warn!(error = %e, ?event, "cannot record a Kubernetes Event on our Node");
        }
    }
}

/// What the integration knows of one Node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeInfo {
    pub(crate) pod_cidrs: Vec<Prefix>,
    pub(crate) addresses: Vec<IpAddr>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) draining: bool,
}

impl NodeInfo {
    fn from_node(node: &Node, drain_taint: Option<&str>) -> Self {
        let spec = node.spec.clone().unwrap_or_default();
        let cidrs = spec
            .pod_cidrs
            .clone()
            .filter(|c| !c.is_empty())
            .or(spec.pod_cidr.clone().map(|c| vec![c]));
        let pod_cidrs = cidrs
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        let addresses = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .map(|list| {
                list.iter()
                    .filter(|a| a.type_ == "InternalIP")
                    .filter_map(|a| a.address.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let tainted =
            drain_taint.is_some_and(|key| spec.taints.iter().flatten().any(|t| t.key == key));
        Self {
            pod_cidrs,
            addresses,
            labels: node.metadata.labels.clone().unwrap_or_default(),
            draining: spec.unschedulable.unwrap_or(false) || tainted,
        }
    }

    /// The address neighbours use: the first IPv4 InternalIP, else the first one.
    fn peering_address(&self) -> Option<IpAddr> {
        self.addresses
            .iter()
            .find(|a| a.is_ipv4())
            .or(self.addresses.first())
            .copied()
    }
}

/// The neighbours, prefixes and validation data the current Node list implies for `own`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Desired {
    pub(crate) prefixes: Vec<OriginateConfig>,
    pub(crate) neighbors: Vec<NeighborConfig>,
    pub(crate) node_routes: NodeRoutes,
    pub(crate) draining: bool,
}

fn neighbor(
    template: &NeighborConfig,
    name: &str,
    address: IpAddr,
    asn: u32,
    rr_client: bool,
) -> NeighborConfig {
    let mut n = template.clone();
    n.address = address;
    n.remote_asn = asn;
    n.rr_client = rr_client;
    n.description = Some(name.to_string());
    n
}

/// Computes what the node `config.node_name` should do given every Node.
pub(crate) fn desired(
    config: &KubernetesConfig,
    local_as: u32,
    nodes: &BTreeMap<String, NodeInfo>,
) -> Desired {
    let own = nodes.get(&config.node_name);
    let prefixes = own
        .map(|n| {
            n.pod_cidrs
                .iter()
                .map(|p| OriginateConfig {
                    prefix: *p,
                    communities: config.pod_cidr_communities.clone(),
                    large_communities: config.pod_cidr_large_communities.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let is_reflector = |n: &NodeInfo| {
        n.labels
            .get(&config.reflector_label)
            .is_some_and(|v| v == "true")
    };
    let others = nodes.iter().filter(|(name, _)| **name != config.node_name);
    let neighbors = match config.mode {
        // Every ToR whose selector matches our Node (two ToRs of a rack: two sessions, ECMP).
        PeeringMode::Tor => own
            .map(|n| {
                config
                    .tors
                    .iter()
                    .filter(|t| t.selector.matches(&n.labels))
                    .fold(Vec::<&TorRule>::new(), |mut tors, t| {
                        // Two rules for one address: the first.
                        if !tors.iter().any(|u| u.address == t.address) {
                            tors.push(t);
                        }
                        tors
                    })
                    .into_iter()
                    .map(|t| {
                        let mut n = config.peer.clone();
                        n.address = t.address;
                        n.remote_asn = t.remote_asn;
                        n.description = Some("tor".into());
                        n
                    })
                    .collect()
            })
            .unwrap_or_default(),
        PeeringMode::Mesh => others
            .filter_map(|(name, n)| {
                Some(neighbor(
                    &config.peer,
                    name,
                    n.peering_address()?,
                    local_as,
                    false,
                ))
            })
            .collect(),
        PeeringMode::RouteReflector => {
            let we_reflect = own.is_some_and(is_reflector);
            others
                .filter(|(_, n)| we_reflect || is_reflector(n))
                .filter_map(|(name, n)| {
                    let client = we_reflect && !is_reflector(n);
                    Some(neighbor(
                        &config.peer,
                        name,
                        n.peering_address()?,
                        local_as,
                        client,
                    ))
                })
                .collect()
        }
    };
    let mut owners = BTreeMap::new();
    for (name, n) in nodes {
        if *name == config.node_name {
            continue;
        }
        for p in &n.pod_cidrs {
            owners.insert(*p, n.addresses.clone());
        }
    }
    let node_routes = NodeRoutes {
        validate_owners: config.mode != PeeringMode::Tor,
        owners,
        own_cidrs: own.map(|n| n.pod_cidrs.clone()).unwrap_or_default(),
        service_cidrs: config.service_cidrs.clone(),
        allowed: config.allowed_prefixes.clone(),
    };
    Desired {
        prefixes,
        neighbors,
        node_routes,
        draining: own.is_some_and(|n| n.draining),
    }
}

async fn client(config: &KubernetesConfig) -> Result<Client, KubernetesError> {
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await?
        }
        None => kube::Config::incluster()?,
    };
    Ok(Client::try_from(kube_config)?)
}

/// Watches Nodes (and, with `custom_resources`, the bgp.speakerd.io resources and the Secrets
/// they name) until the daemon stops; sends the control core what to announce and validate,
/// and the daemon which neighbours to have. `base` is the configuration's text (`${VAR}`
/// replaced), which the resources complete.
pub(crate) async fn run(
    config: KubernetesConfig,
    base: String,
    local_as: u32,
    to_control: mpsc::UnboundedSender<ToControl>,
    neighbors: mpsc::UnboundedSender<Vec<NeighborConfig>>,
    node_events: mpsc::UnboundedReceiver<NodeEvent>,
    warnings: mpsc::UnboundedSender<NodeEvent>,
) {
    let client = loop {
        match client(&config).await {
            Ok(c) => break c,
            Err(e) => {
                warn!(error = %e, "cannot create the Kubernetes client; retrying in 10 s");
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            }
        }
    };
    let (node_uid, node_uid_rx) = watch::channel(None);
    tokio::spawn(publish_node_events(
        client.clone(),
        config.node_name.clone(),
        node_uid_rx,
        node_events,
    ));
    let (status_tx, status_rx) = watch::channel(StatusInputs::default());
    if config.custom_resources {
        tokio::spawn(resources::write_status(
            client.clone(),
            config.node_name.clone(),
            to_control.clone(),
            status_rx,
        ));
    }
    let api: Api<Node> = Api::all(client.clone());
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut config_events = resource_events::<BgpClusterConfig>(&client, config.custom_resources);
    let mut advertisement_events =
        resource_events::<BgpAdvertisement>(&client, config.custom_resources);
    // Services and EndpointSlices, when Service IPs may be announced (the ConfigMap says so, or
    // a BGPAdvertisement may).
    let watch_services = config.services.is_some() || config.custom_resources;
    let mut service_events = resource_events::<Service>(&client, watch_services);
    let mut slice_events = resource_events::<EndpointSlice>(&client, watch_services);
    let mut services: Watched<Service> = Watched::default();
    let mut slices: Watched<EndpointSlice> = Watched::default();
    let mut secrets_tick = tokio::time::interval(resources::SECRET_REFRESH);
    let mut resources = Resources::default();
    let mut in_force = config.clone();
    let mut refused: Option<String> = None;
    let mut nodes: BTreeMap<String, NodeInfo> = BTreeMap::new();
    let mut relisting: Option<BTreeMap<String, NodeInfo>> = None;
    let mut applied: Option<Desired> = None;
    let taint = config.drain_taint.as_deref();
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break };
                match event {
                    Ok(Event::Init) => relisting = Some(BTreeMap::new()),
                    Ok(Event::InitApply(node)) => {
                        if node.metadata.name.as_ref() == Some(&config.node_name) {
                            node_uid.send_replace(node.metadata.uid.clone());
                        }
                        if let (Some(buffer), Some(name)) =
                            (relisting.as_mut(), node.metadata.name.clone())
                        {
                            buffer.insert(name, NodeInfo::from_node(&node, taint));
                        }
                    }
                    Ok(Event::InitDone) => {
                        if let Some(buffer) = relisting.take() {
                            info!(nodes = buffer.len(), "node list synced");
                            nodes = buffer;
                        }
                    }
                    Ok(Event::Apply(node)) => {
                        if node.metadata.name.as_ref() == Some(&config.node_name) {
                            node_uid.send_replace(node.metadata.uid.clone());
                        }
                        if let Some(name) = node.metadata.name.clone() {
                            nodes.insert(name, NodeInfo::from_node(&node, taint));
                        }
                    }
                    Ok(Event::Delete(node)) => {
                        if let Some(name) = &node.metadata.name {
                            nodes.remove(name);
                        }
                    }
                    Err(e) => {
                        // The watcher retries with back-off; the last known state stays in force.
                        warn!(error = %e, "node watch failed; keeping the last known state");
                        continue;
                    }
                }
            }
            Some(event) = config_events.next() => match event {
                Ok(e) => {
                    if !resources.configs.apply(e) {
                        continue;
                    }
                    resources.refresh_secrets(&client).await;
                }
                Err(e) => {
                    warn!(error = %e, "BGPClusterConfig watch failed; keeping the last known state");
                    continue;
                }
            },
            Some(event) = advertisement_events.next() => match event {
                Ok(e) => {
                    if !resources.advertisements.apply(e) {
                        continue;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "BGPAdvertisement watch failed; keeping the last known state");
                    continue;
                }
            },
            Some(event) = service_events.next() => match event {
                Ok(e) => {
                    if !services.apply(e) {
                        continue;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "Service watch failed; keeping the last known state");
                    continue;
                }
            },
            Some(event) = slice_events.next() => match event {
                Ok(e) => {
                    if !slices.apply(e) {
                        continue;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "EndpointSlice watch failed; keeping the last known state");
                    continue;
                }
            },
            _ = secrets_tick.tick(), if config.custom_resources => {
                if !resources.refresh_secrets(&client).await {
                    continue;
                }
            }
        }
        if relisting.is_some() {
            continue;
        }
        // With the resources, nothing is decided before their first lists are in: the
        // sessions start with the configuration they give, not with the ConfigMap's first.
        let resources_synced = resources.configs.synced && resources.advertisements.synced;
        if config.custom_resources && !resources_synced {
            continue;
        }
        if watch_services && !(services.synced && slices.synced) {
            continue;
        }
        if config.custom_resources {
            let labels = nodes
                .get(&config.node_name)
                .map(|n| n.labels.clone())
                .unwrap_or_default();
            let result = resources.render(&base, &labels);
            let condition = StatusInputs::condition_of(&result);
            let mut inputs = status_tx.borrow().clone();
            match result {
                Ok(a) => {
                    in_force = a.kubernetes;
                    inputs.cluster_config = a.cluster_config;
                    inputs.advertisements = a.advertisements;
                    refused = None;
                }
                Err(e) => {
                    let message = e.to_string();
                    if refused.as_ref() != Some(&message) {
                        warn!(error = %message, "bgp.speakerd.io configuration refused; the configuration in force stays");
                        let _ = warnings.send(NodeEvent::ResourcesRefused {
                            message: message.clone(),
                        });
                        refused = Some(message);
                    }
                }
            }
            inputs.config_applied = Some(condition);
            status_tx.send_if_modified(|current| {
                let changed = *current != inputs;
                *current = inputs;
                changed
            });
        }
        let mut want = desired(&in_force, local_as, &nodes);
        if let Some(advertisement) = &in_force.services {
            let announced = services::service_prefixes(
                advertisement,
                &config.node_name,
                &services.list(),
                &slices.list(),
            );
            want.prefixes
                .extend(announced.into_iter().map(|prefix| OriginateConfig {
                    prefix,
                    communities: in_force.pod_cidr_communities.clone(),
                    large_communities: in_force.pod_cidr_large_communities.clone(),
                }));
        }
        if config.custom_resources {
            let announced: Vec<String> =
                want.prefixes.iter().map(|p| p.prefix.to_string()).collect();
            status_tx.send_if_modified(|current| {
                let changed = current.announced != announced;
                current.announced = announced;
                changed
            });
        }
        let previous = applied.as_ref();
        if previous.map(|p| &p.prefixes) != Some(&want.prefixes) {
            let input = Input::SetPrefixes(PrefixSource::Kubernetes, want.prefixes.clone());
            let _ = to_control.send(ToControl::Input(input));
        }
        if previous.map(|p| &p.node_routes) != Some(&want.node_routes) {
            let input = Input::SetNodeRoutes(Box::new(want.node_routes.clone()));
            let _ = to_control.send(ToControl::Input(input));
        }
        if previous.map(|p| p.draining) != Some(want.draining) {
            let input = Input::NodeDrain {
                draining: want.draining,
                node: config.node_name.clone(),
            };
            let _ = to_control.send(ToControl::Input(input));
        }
        if previous.map(|p| &p.neighbors) != Some(&want.neighbors) {
            let _ = neighbors.send(want.neighbors.clone());
        }
        applied = Some(want);
    }
}

/// The watch of one kind of bgp.speakerd.io resource, or a stream that never yields when the
/// resources are not used.
fn resource_events<K>(
    client: &Client,
    enabled: bool,
) -> futures::stream::BoxStream<'static, Result<Event<K>, watcher::Error>>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    if !enabled {
        return futures::stream::pending().boxed();
    }
    let api: Api<K> = Api::all(client.clone());
    watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed()
}
