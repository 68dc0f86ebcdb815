//! The custom resources in force for one node, turned into the `[kubernetes]` table they stand
//! for, written into the ConfigMap's text and validated by the same code as a file: the
//! resources and the TOML give the same internal configuration and are refused for the same
//! reasons.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use thiserror::Error;
use toml::{Table, Value};

use super::{
    BgpAdvertisement, BgpClusterConfig, FamilySpec, PeeringModeSpec, SecretKeyRefSpec, SessionSpec,
};
use crate::config::{Config, KubernetesConfig, NodeSelector, SelectorRequirement};

/// A Secret key the configuration needs (namespace, name, key).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretKey {
    /// The Secret's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The key in its data.
    pub key: String,
}

impl From<&SecretKeyRefSpec> for SecretKey {
    fn from(r: &SecretKeyRefSpec) -> Self {
        Self {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            key: r.key.clone(),
        }
    }
}

/// Why the resources cannot be put in force for a node; it keeps what it has.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RenderError {
    /// More than one BGPClusterConfig selects the node.
    #[error("BGPClusterConfigs {} all select this node", .0.join(", "))]
    Conflict(Vec<String>),
    /// The password's Secret or key cannot be read.
    #[error("{config}: Secret {}/{} key {}: {why}", .secret.namespace, .secret.name, .secret.key)]
    Secret {
        /// The config that names it.
        config: String,
        /// The Secret key.
        secret: SecretKey,
        /// Why it cannot be read.
        why: String,
    },
    /// The settings do not validate (as the same keys in the ConfigMap would not).
    #[error("{config}: {}", .errors.join("; "))]
    Invalid {
        /// The resources in force that were rendered (`BGPClusterConfig NAME,
        /// BGPAdvertisement NAME, ...`).
        config: String,
        /// What is wrong, one entry per error.
        errors: Vec<String>,
    },
    /// The ConfigMap has no `[kubernetes]` table to complete.
    #[error("the configuration has no [kubernetes] table")]
    NoKubernetesTable,
}

/// What the resources put in force for a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The Kubernetes integration's settings: the ConfigMap's, completed by the resources.
    pub kubernetes: KubernetesConfig,
    /// The BGPClusterConfig in force; `None` when none selects the node (the ConfigMap's own
    /// `[kubernetes]` peering applies).
    pub cluster_config: Option<String>,
    /// The BGPAdvertisements in force, by name.
    pub advertisements: Vec<String>,
}

/// A label selector of the API as the TOML writes it.
fn selector_table(selector: Option<&LabelSelector>) -> Value {
    let mut t = Table::new();
    let Some(s) = selector else {
        return Value::Table(t);
    };
    let labels: Table = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    t.insert("match_labels".into(), Value::Table(labels));
    let expressions = s
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            let mut r = Table::new();
            r.insert("key".into(), Value::String(e.key.clone()));
            r.insert("operator".into(), Value::String(e.operator.clone()));
            let values = e.values.iter().flatten().cloned().map(Value::String);
            r.insert("values".into(), Value::Array(values.collect()));
            Value::Table(r)
        })
        .collect();
    t.insert("match_expressions".into(), Value::Array(expressions));
    Value::Table(t)
}

/// The API's label selector in the internal form, for choosing the resources of a node.
pub(super) fn node_selector(selector: Option<&LabelSelector>) -> Option<NodeSelector> {
    let Some(s) = selector else {
        return Some(NodeSelector::default());
    };
    let mut requirements = Vec::new();
    for e in s.match_expressions.iter().flatten() {
        let key = e.key.clone();
        let values = e.values.clone().unwrap_or_default();
        requirements.push(match e.operator.as_str() {
            "In" => SelectorRequirement::In(key, values),
            "NotIn" => SelectorRequirement::NotIn(key, values),
            "Exists" => SelectorRequirement::Exists(key),
            "DoesNotExist" => SelectorRequirement::DoesNotExist(key),
            // Refused by validation when rendered; selects nothing meanwhile.
            _ => return None,
        });
    }
    Some(NodeSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        requirements,
    })
}

fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    node_selector(selector).is_some_and(|s| s.matches(labels))
}

fn int(v: impl Into<i64>) -> Value {
    Value::Integer(v.into())
}

fn strings(list: &[String]) -> Value {
    Value::Array(list.iter().cloned().map(Value::String).collect())
}

/// Writes the session settings into the `[kubernetes.peer]` table.
fn session_into(session: &SessionSpec, peer: &mut Table) {
    if let Some(v) = session.hold_time_seconds {
        peer.insert("hold_time".into(), int(v));
    }
    if let Some(v) = session.keepalive_time_seconds {
        peer.insert("keepalive_time".into(), int(v));
    }
    if let Some(v) = session.connect_retry_seconds {
        peer.insert(
            "connect_retry_time".into(),
            int(v.min(i64::MAX as u64) as i64),
        );
    }
    if let Some(gr) = &session.graceful_restart {
        let mut t = Table::new();
        if let Some(v) = gr.restart_time_seconds {
            t.insert("restart_time".into(), int(v));
        }
        if let Some(v) = gr.long_lived_stale_time_seconds {
            t.insert("long_lived_stale_time".into(), int(v));
        }
        peer.insert("graceful_restart".into(), Value::Table(t));
    }
    if let Some(bfd) = &session.bfd {
        let mut t = Table::new();
        if let Some(v) = bfd.min_rx_millis {
            t.insert("min_rx".into(), int(v.min(i64::MAX as u64) as i64));
        }
        if let Some(v) = bfd.min_tx_millis {
            t.insert("min_tx".into(), int(v.min(i64::MAX as u64) as i64));
        }
        if let Some(v) = bfd.multiplier {
            t.insert("multiplier".into(), int(v));
        }
        if let Some(v) = bfd.strict {
            t.insert("strict".into(), Value::Boolean(v));
        }
        peer.insert("bfd".into(), Value::Table(t));
    }
    if let Some(v) = session.multihop_ttl {
        peer.insert("multihop_ttl".into(), int(v));
    }
    if let Some(v) = session.ttl_security {
        peer.insert("ttl_security".into(), Value::Boolean(v));
    }
    if let Some(families) = &session.families {
        let names = families
            .iter()
            .map(|f| match f {
                FamilySpec::Ipv4Unicast => "ipv4-unicast".to_string(),
                FamilySpec::Ipv6Unicast => "ipv6-unicast".to_string(),
            })
            .collect::<Vec<_>>();
        peer.insert("families".into(), strings(&names));
    }
    if let Some(v) = &session.import_policies {
        peer.insert("import".into(), strings(v));
    }
    if let Some(v) = &session.export_policies {
        peer.insert("export".into(), strings(v));
    }
    if session.password_secret_ref.is_some() {
        // The password comes from the Secret, not from the ConfigMap's sources.
        peer.remove("password_file");
        peer.remove("password_env");
    }
}

/// The configuration the resources put in force for the node with `labels`, given the
/// ConfigMap's text `base` (with `${VAR}` replaced) and the Secret values read so far
/// (`Err` with why one could not be read).
pub fn render(
    base: &str,
    labels: &BTreeMap<String, String>,
    configs: &[BgpClusterConfig],
    advertisements: &[BgpAdvertisement],
    secrets: &BTreeMap<SecretKey, Result<String, String>>,
) -> Result<Applied, RenderError> {
    let name = |meta: &kube::api::ObjectMeta| meta.name.clone().unwrap_or_default();
    let mut selecting: Vec<&BgpClusterConfig> = configs
        .iter()
        .filter(|c| selects(c.spec.node_selector.as_ref(), labels))
        .collect();
    selecting.sort_by_key(|c| name(&c.metadata));
    if selecting.len() > 1 {
        return Err(RenderError::Conflict(
            selecting.iter().map(|c| name(&c.metadata)).collect(),
        ));
    }
    let mut ads: Vec<&BgpAdvertisement> = advertisements
        .iter()
        .filter(|a| selects(a.spec.node_selector.as_ref(), labels))
        .collect();
    ads.sort_by_key(|a| name(&a.metadata));
    let config_name = selecting.first().map(|c| name(&c.metadata));
    let at = config_name
        .iter()
        .map(|n| format!("BGPClusterConfig {n}"))
        .chain(
            ads.iter()
                .map(|a| format!("BGPAdvertisement {}", name(&a.metadata))),
        )
        .collect::<Vec<_>>()
        .join(", ");
    let at = if at.is_empty() {
        "the ConfigMap".to_string()
    } else {
        at
    };

    let mut doc: Table = base
        .parse()
        .map_err(|e: toml::de::Error| RenderError::Invalid {
            config: at.clone(),
            errors: vec![e.message().to_string()],
        })?;
    let k = doc
        .get_mut("kubernetes")
        .and_then(Value::as_table_mut)
        .ok_or(RenderError::NoKubernetesTable)?;
    if let Some(c) = selecting.first() {
        let spec = &c.spec;
        let mode = match spec.mode {
            PeeringModeSpec::Tor => "tor",
            PeeringModeSpec::Mesh => "mesh",
            PeeringModeSpec::RouteReflector => "route-reflector",
        };
        k.insert("mode".into(), Value::String(mode.into()));
        if let Some(label) = &spec.reflector_label {
            k.insert("reflector_label".into(), Value::String(label.clone()));
        }
        let tors = spec
            .peers
            .iter()
            .map(|p| {
                let mut t = Table::new();
                t.insert("address".into(), Value::String(p.address.clone()));
                t.insert("remote_asn".into(), int(p.peer_asn));
                t.insert(
                    "node_selector".into(),
                    selector_table(p.node_selector.as_ref()),
                );
                Value::Table(t)
            })
            .collect();
        k.insert("tor".into(), Value::Array(tors));
        let peer = k
            .entry("peer")
            .or_insert_with(|| Value::Table(Table::new()));
        if let Some(peer) = peer.as_table_mut() {
            session_into(&spec.session, peer);
        }
    }
    let communities: Vec<String> = ads
        .iter()
        .flat_map(|a| a.spec.communities.clone())
        .collect();
    let large: Vec<String> = ads
        .iter()
        .flat_map(|a| a.spec.large_communities.clone())
        .collect();
    if !ads.is_empty() {
        k.insert("pod_cidr_communities".into(), strings(&communities));
        k.insert("pod_cidr_large_communities".into(), strings(&large));
    }
    if let Some(services) = ads.iter().find_map(|a| a.spec.services.as_ref()) {
        let mut t = Table::new();
        t.insert(
            "selector".into(),
            selector_table(services.selector.as_ref()),
        );
        t.insert(
            "load_balancer_ips".into(),
            Value::Boolean(services.load_balancer_ips.unwrap_or(true)),
        );
        t.insert(
            "external_ips".into(),
            Value::Boolean(services.external_ips.unwrap_or(false)),
        );
        k.insert("services".into(), Value::Table(t));
    }

    let text = toml::to_string(&doc).map_err(|e| RenderError::Invalid {
        config: at.clone(),
        errors: vec![e.to_string()],
    })?;
    let config = Config::parse_interpolated(&text, Path::new(&at)).map_err(|errors| {
        RenderError::Invalid {
            config: at.clone(),
            errors: errors.iter().map(|e| e.kind.to_string()).collect(),
        }
    })?;
    let mut kubernetes = config.kubernetes.ok_or(RenderError::NoKubernetesTable)?;
    if let Some(reference) = selecting
        .first()
        .and_then(|c| c.spec.session.password_secret_ref.as_ref())
    {
        let secret = SecretKey::from(reference);
        match secrets.get(&secret) {
            Some(Ok(password)) if !password.is_empty() => {
                kubernetes.peer.password = Some(password.clone())
            }
            found => {
                let why = match found {
                    Some(Err(why)) => why.clone(),
                    Some(Ok(_)) => "the value is empty".into(),
                    None => "not read yet".into(),
                };
                return Err(RenderError::Secret {
                    config: at,
                    secret,
                    why,
                });
            }
        }
    }
    Ok(Applied {
        kubernetes,
        cluster_config: config_name,
        advertisements: ads.iter().map(|a| name(&a.metadata)).collect(),
    })
}

/// The Secret keys the configs name (to be read before [`render`]).
pub(crate) fn secret_keys(configs: &[BgpClusterConfig]) -> Vec<SecretKey> {
    let mut keys: Vec<SecretKey> = configs
        .iter()
        .filter_map(|c| c.spec.session.password_secret_ref.as_ref())
        .map(SecretKey::from)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
