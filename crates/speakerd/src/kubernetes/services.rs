//! Service IPs: the load-balancer ingress IPs and external IPs of the Services a
//! [`ServiceAdvertisement`] selects, announced as /32 and /128 routes. With
//! `externalTrafficPolicy: Cluster` (the default) every node announces them (ECMP at the ToR);
//! with `Local` only a node with a ready endpoint of the Service does, and it withdraws them
//! when its last one goes, so traffic never reaches a node that would drop it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgp_proto::Prefix;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::config::ServiceAdvertisement;

/// The label of an EndpointSlice naming its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Whether `node` has a ready endpoint of the Service `namespace/name` (by the EndpointSlice
/// rules, a missing `conditions.ready` counts as ready).
fn has_local_endpoint(namespace: &str, name: &str, node: &str, slices: &[EndpointSlice]) -> bool {
    slices
        .iter()
        .filter(|s| s.metadata.namespace.as_deref().unwrap_or_default() == namespace)
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                .is_some_and(|n| n == name)
        })
        .flat_map(|s| s.endpoints.iter())
        .any(|e| {
            e.node_name.as_deref() == Some(node)
                && e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)
        })
}

/// The Service IPs `node` announces under `config`, sorted, without duplicates.
pub(super) fn service_prefixes(
    config: &ServiceAdvertisement,
    node: &str,
    services: &[Service],
    slices: &[EndpointSlice],
) -> Vec<Prefix> {
    let mut prefixes = Vec::new();
    for service in services {
        let labels: BTreeMap<String, String> = service.metadata.labels.clone().unwrap_or_default();
        if !config.selector.matches(&labels) {
            continue;
        }
        let spec = service.spec.clone().unwrap_or_default();
        let local = spec.external_traffic_policy.as_deref() == Some("Local");
        let namespace = service.metadata.namespace.clone().unwrap_or_default();
        let name = service.metadata.name.clone().unwrap_or_default();
        if local && !has_local_endpoint(&namespace, &name, node, slices) {
            continue;
        }
        let mut addresses: Vec<String> = Vec::new();
        if config.load_balancer_ips {
            let ingress = service
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref());
            addresses.extend(ingress.into_iter().flatten().filter_map(|i| i.ip.clone()));
        }
        if config.external_ips {
            addresses.extend(spec.external_ips.iter().flatten().cloned());
        }
        for text in addresses {
            let Ok(address) = text.parse::<IpAddr>() else {
                continue;
            };
            let length = if address.is_ipv4() { 32 } else { 128 };
            if let Ok(prefix) = Prefix::new(address, length) {
                prefixes.push(prefix);
            }
        }
    }
    prefixes.sort();
    prefixes.dedup();
    prefixes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::NodeSelector;

    fn service(name: &str, policy: &str, ingress: &str, external: &[&str]) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {"bgp": "yes"}},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy, "externalIPs": external},
            "status": {"loadBalancer": {"ingress": [{"ip": ingress}]}}
        }))
        .unwrap()
    }

    fn slice(service: &str, endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{service}-abc"), "namespace": "shop",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": endpoints
        }))
        .unwrap()
    }

    fn all_services() -> ServiceAdvertisement {
        ServiceAdvertisement {
            selector: NodeSelector::default(),
            load_balancer_ips: true,
            external_ips: true,
        }
    }

    fn texts(p: &[Prefix]) -> Vec<String> {
        p.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn cluster_policy_from_every_node_local_only_with_a_ready_endpoint() {
        let services = [
            service("web", "Cluster", "198.19.250.1", &["198.19.251.1"]),
            service("db", "Local", "2001:db8:250::1", &[]),
        ];
        let slices = [slice(
            "db",
            json!([
                {"addresses": ["198.19.1.5"], "nodeName": "node-1", "conditions": {"ready": true}},
                {"addresses": ["198.19.2.5"], "nodeName": "node-2", "conditions": {"ready": false}}
            ]),
        )];
        let config = all_services();
        assert_eq!(
            texts(&service_prefixes(&config, "node-1", &services, &slices)),
            ["198.19.250.1/32", "198.19.251.1/32", "2001:db8:250::1/128"]
        );
        // node-2's endpoint is not ready, node-3 has none: only the Cluster Service.
        for node in ["node-2", "node-3"] {
            assert_eq!(
                texts(&service_prefixes(&config, node, &services, &slices)),
                ["198.19.250.1/32", "198.19.251.1/32"],
                "{node}"
            );
        }
        // Only what is configured, and only the Services the selector matches.
        let lb_only = ServiceAdvertisement {
            external_ips: false,
            ..all_services()
        };
        assert_eq!(
            texts(&service_prefixes(&lb_only, "node-3", &services, &slices)),
            ["198.19.250.1/32"]
        );
        let other = ServiceAdvertisement {
            selector: NodeSelector {
                match_labels: BTreeMap::from([("bgp".to_string(), "no".to_string())]),
                requirements: Vec::new(),
            },
            ..all_services()
        };
        assert!(service_prefixes(&other, "node-1", &services, &slices).is_empty());
    }
}
