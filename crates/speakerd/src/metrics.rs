//! Prometheus metrics (documented in `docs/metrics.md`). The collectors are atomic counters and
//! gauges shared by the tasks that update them; nothing else is shared between tasks.

use std::time::Instant;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The bucket bounds (seconds) of the convergence histograms: 1 ms, where one UPDATE on an idle
/// speaker lands, to 60 s, beyond which a full table load or a stuck neighbour is only `+Inf`.
pub const CONVERGENCE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// Every metric the daemon exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `bgp_peer_state`: RFC 4271 state number (1 Idle … 6 Established).
    pub peer_state: IntGaugeVec,
    /// `bgp_peer_up`: 1 when Established.
    pub peer_up: IntGaugeVec,
    /// `bgp_peer_uptime_seconds`.
    pub peer_uptime_seconds: GaugeVec,
    /// `bgp_peer_established_total`.
    pub peer_established_total: IntCounterVec,
    /// `bgp_peer_messages_received_total{type}`.
    pub messages_received: IntCounterVec,
    /// `bgp_peer_messages_sent_total{type}`.
    pub messages_sent: IntCounterVec,
    /// `bgp_peer_notifications_sent_total{code,subcode}`.
    pub notifications_sent: IntCounterVec,
    /// `bgp_peer_notifications_received_total{code,subcode}`.
    pub notifications_received: IntCounterVec,
    /// `bgp_peer_prefixes_received{afi_safi}`: prefixes in UPDATEs received.
    pub prefixes_received: IntCounterVec,
    /// `bgp_peer_prefixes_accepted{afi_safi}`.
    pub prefixes_accepted: IntGaugeVec,
    /// `bgp_peer_prefixes_advertised`.
    pub prefixes_advertised: IntGaugeVec,
    /// `bgp_peer_updates_queued`: UPDATEs read from the neighbour that the RIB has not applied
    /// yet (its socket is not read above 4,096, ADR 0011).
    pub updates_queued: IntGaugeVec,
    /// `bgp_peer_routes_pending_out`: prefixes whose change waits in the Adj-RIB-Out for the
    /// neighbour to take the UPDATEs before them.
    pub routes_pending_out: IntGaugeVec,
    /// `bgp_peer_prefix_limit{afi_safi}`.
    pub prefix_limit: IntGaugeVec,
    /// `bgp_peer_established_seconds`: from daemon start to Established.
    pub established_seconds: GaugeVec,
    /// `bgp_peer_end_of_rib_seconds`: from daemon start to the peer's first End-of-RIB.
    pub end_of_rib_seconds: GaugeVec,
    /// `bgp_rib_routes{afi_safi}`.
    pub rib_routes: IntGaugeVec,
    /// `bgp_rib_attribute_sets`.
    pub rib_attribute_sets: IntGauge,
    /// `bgp_kernel_routes_installed`.
    pub kernel_routes_installed: IntGauge,
    /// `bgp_kernel_routes_pending`: route changes the decision process made that the kernel
    /// writer has not applied yet.
    pub kernel_routes_pending: IntGauge,
    /// `bgp_kernel_install_errors_total`.
    pub kernel_install_errors: IntCounter,
    /// `bgp_kernel_drift_repairs_total`.
    pub kernel_drift_repairs: IntCounter,
    /// `bgp_kernel_nexthop_objects`: 1 when routes point at kernel nexthop objects.
    pub kernel_nexthop_objects: IntGauge,
    /// `bgp_kernel_nexthop_group_moves_total`: ECMP set changes made by changing a group
    /// object instead of its routes.
    pub kernel_group_moves: IntCounter,
    /// `bgp_kubernetes_routes_rejected_total{reason}`.
    pub kubernetes_routes_rejected: IntCounterVec,
    /// `bgp_connections_refused_total`: TCP connections from addresses that are neither a
    /// neighbour nor in a dynamic range, closed before any session state exists.
    pub connections_refused: IntCounter,
    /// `bgp_bfd_state{peer}`: RFC 5880 state (0 AdminDown, 1 Down, 2 Init, 3 Up).
    pub bfd_state: IntGaugeVec,
    /// `bgp_bfd_transitions_total{peer,state}`: state changes, by the state entered.
    pub bfd_transitions: IntCounterVec,
    /// `bgp_bfd_detection_time_seconds{peer}`: the negotiated Detection Time (RFC 5880 §6.8.4).
    pub bfd_detection_time_seconds: GaugeVec,
    /// `bgp_bmp_messages_sent_total{collector}`: BMP messages written to a collector.
    pub bmp_messages_sent: IntCounterVec,
    /// `bgp_bmp_messages_dropped_total{collector,reason}`: BMP messages a collector never got
    /// (`disconnected`: none was connected; `queue_full`: it fell a whole queue behind and was
    /// disconnected). It gets the state again when it reconnects.
    pub bmp_messages_dropped: IntCounterVec,
    /// `bgp_bmp_collector_up{collector}`: 1 while connected.
    pub bmp_collector_up: IntGaugeVec,
    /// `bgp_bmp_connections_total{collector}`: connections established to a collector.
    pub bmp_connections: IntCounterVec,
    /// `bgp_message_log_records_total`: records written to the neighbour's message log.
    pub message_log_records: IntCounterVec,
    /// `bgp_message_log_dropped_total`: records the message log lost (its queue was full, or
    /// the file could not be written).
    pub message_log_dropped: IntCounterVec,
    /// `bgp_update_to_kernel_seconds`: from the earliest arrival of the UPDATEs of a decision
    /// run to the kernel's acknowledgement of the route changes it made; one per batch.
    pub update_to_kernel_seconds: Histogram,
    /// `bgp_update_to_advertisement_seconds`: from the earliest arrival of the UPDATEs behind a
    /// neighbour's pending changes to the socket taking the UPDATEs that carry them.
    pub update_to_advertisement_seconds: Histogram,
    /// `bgp_end_of_rib_convergence_seconds{afi_safi}`: from Established to the neighbour's
    /// End-of-RIB of a family, once per session and family.
    pub end_of_rib_convergence_seconds: HistogramVec,
}

const PEER: &[&str] = &["peer", "peer_asn"];
const PEER_FAMILY: &[&str] = &["peer", "peer_asn", "afi_safi"];
const PEER_TYPE: &[&str] = &["peer", "peer_asn", "type"];
const PEER_CODE: &[&str] = &["peer", "peer_asn", "code", "subcode"];

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
            // Names are fixed and distinct, so registration cannot collide.
            let _ = r.register(Box::new(c.clone()));
            c
        }
        let igv = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric"),
            )
        };
        let icv = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("static metric"),
            )
        };
        let gv = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                GaugeVec::new(Opts::new(name, help), labels).expect("static metric"),
            )
        };
        Self {
            peer_state: igv("bgp_peer_state", "BGP FSM state (1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established)", PEER),
            peer_up: igv("bgp_peer_up", "1 when the session is Established", PEER),
            peer_uptime_seconds: gv("bgp_peer_uptime_seconds", "Seconds since the session became Established", PEER),
            peer_established_total: icv("bgp_peer_established_total", "Times the session became Established", PEER),
            messages_received: icv("bgp_peer_messages_received_total", "Messages received by type", PEER_TYPE),
            messages_sent: icv("bgp_peer_messages_sent_total", "Messages sent by type", PEER_TYPE),
            notifications_sent: icv("bgp_peer_notifications_sent_total", "NOTIFICATIONs sent", PEER_CODE),
            notifications_received: icv("bgp_peer_notifications_received_total", "NOTIFICATIONs received", PEER_CODE),
            prefixes_received: icv("bgp_peer_prefixes_received", "Prefixes announced by the peer", PEER_FAMILY),
            prefixes_accepted: igv("bgp_peer_prefixes_accepted", "Prefixes accepted from the peer", PEER_FAMILY),
            prefixes_advertised: igv("bgp_peer_prefixes_advertised", "Prefixes advertised to the peer", PEER),
            updates_queued: igv("bgp_peer_updates_queued", "UPDATEs read from the peer and not yet applied to the RIB", PEER),
            routes_pending_out: igv("bgp_peer_routes_pending_out", "Prefixes whose change waits in the Adj-RIB-Out to be sent to the peer", PEER),
            prefix_limit: igv("bgp_peer_prefix_limit", "Configured prefix limit", PEER_FAMILY),
            established_seconds: gv("bgp_peer_established_seconds", "Seconds from daemon start to Established", PEER),
            end_of_rib_seconds: gv("bgp_peer_end_of_rib_seconds", "Seconds from daemon start to the peer's End-of-RIB", PEER_FAMILY),
            rib_routes: igv("bgp_rib_routes", "Prefixes in the Loc-RIB", &["afi_safi"]),
            rib_attribute_sets: reg(&registry, IntGauge::new("bgp_rib_attribute_sets", "Distinct attribute sets").expect("static metric")),
            kernel_routes_installed: reg(&registry, IntGauge::new("bgp_kernel_routes_installed", "Routes installed in the kernel").expect("static metric")),
            kernel_routes_pending: reg(&registry, IntGauge::new("bgp_kernel_routes_pending", "Route changes the kernel writer has not applied yet").expect("static metric")),
            kernel_install_errors: reg(&registry, IntCounter::new("bgp_kernel_install_errors_total", "Kernel route installs that failed").expect("static metric")),
            kernel_drift_repairs: reg(&registry, IntCounter::new("bgp_kernel_drift_repairs_total", "Our kernel routes or nexthop objects deleted or changed by someone else, and repaired").expect("static metric")),
            kernel_nexthop_objects: reg(&registry, IntGauge::new("bgp_kernel_nexthop_objects", "1 when routes point at kernel nexthop objects, 0 when ECMP sets are multipath routes").expect("static metric")),
            kernel_group_moves: reg(&registry, IntCounter::new("bgp_kernel_nexthop_group_moves_total", "ECMP set changes of all the routes of a nexthop group made by changing the group, not the routes").expect("static metric")),
            kubernetes_routes_rejected: icv("bgp_kubernetes_routes_rejected_total", "Learned routes refused by Node validation", &["reason"]),
            connections_refused: reg(&registry, IntCounter::new("bgp_connections_refused_total", "Connections from addresses that are no neighbour, closed at once").expect("static metric")),
            bfd_state: igv("bgp_bfd_state", "BFD session state (0 AdminDown, 1 Down, 2 Init, 3 Up)", &["peer"]),
            bfd_transitions: icv("bgp_bfd_transitions_total", "BFD session state changes, by the state entered", &["peer", "state"]),
            bfd_detection_time_seconds: gv("bgp_bfd_detection_time_seconds", "Negotiated BFD Detection Time", &["peer"]),
            bmp_messages_sent: icv("bgp_bmp_messages_sent_total", "BMP messages written to the collector", &["collector"]),
            bmp_messages_dropped: icv("bgp_bmp_messages_dropped_total", "BMP messages the collector never got, by reason (disconnected, queue_full)", &["collector", "reason"]),
            bmp_collector_up: igv("bgp_bmp_collector_up", "1 while connected to the BMP collector", &["collector"]),
            bmp_connections: icv("bgp_bmp_connections_total", "Connections established to the BMP collector", &["collector"]),
            message_log_records: icv("bgp_message_log_records_total", "Records written to the neighbour's MRT message log", PEER),
            message_log_dropped: icv("bgp_message_log_dropped_total", "Records the neighbour's MRT message log lost (queue full or write failed)", PEER),
            update_to_kernel_seconds: reg(&registry, Histogram::with_opts(convergence("bgp_update_to_kernel_seconds", "Seconds from an UPDATE's arrival to the kernel's acknowledgement of the route changes it caused (earliest arrival of each decision run's batch)")).expect("static metric")),
            update_to_advertisement_seconds: reg(&registry, Histogram::with_opts(convergence("bgp_update_to_advertisement_seconds", "Seconds from an UPDATE's arrival to the neighbour's socket taking the UPDATEs that re-advertise the change (earliest arrival of each batch handed over)")).expect("static metric")),
            end_of_rib_convergence_seconds: reg(&registry, HistogramVec::new(convergence("bgp_end_of_rib_convergence_seconds", "Seconds from Established to the neighbour's End-of-RIB, per family"), &["afi_safi"]).expect("static metric")),
            registry,
        }
    }

    /// Records that the kernel acknowledged, at `acked`, the changes of a batch whose earliest
    /// UPDATE arrived at `arrived`.
    pub fn observe_kernel_install(&self, arrived: Instant, acked: Instant) {
        self.update_to_kernel_seconds
            .observe(acked.saturating_duration_since(arrived).as_secs_f64());
    }

    /// Records that a neighbour's socket took, at `written`, UPDATEs re-advertising changes
    /// whose earliest UPDATE arrived at `arrived`.
    pub fn observe_advertisement(&self, arrived: Instant, written: Instant) {
        self.update_to_advertisement_seconds
            .observe(written.saturating_duration_since(arrived).as_secs_f64());
    }

    /// The Prometheus text format of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn convergence(name: &str, help: &str) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(CONVERGENCE_BUCKETS.to_vec())
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
