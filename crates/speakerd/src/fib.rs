//! The FIB task: installs the Loc-RIB's selections into a kernel routing table over rtnetlink,
//! with our own route protocol number so that routes (and nexthop objects) of other protocols
//! are never touched. Where the kernel has nexthop objects, each gateway gets one and each
//! distinct ECMP set one group (reference-counted in [`nexthops`]), and routes point at them
//! (`nhid`); otherwise, or with `[kernel] nexthop_objects = false`, ECMP sets are multipath
//! routes. Requests go out in batches ([`netlink`]). At start it finds our routes and objects
//! left by a previous run; the routes stay until the first full table exchange is done (so a
//! restart under graceful restart does not blackhole), then the ones the RIB does not want are
//! removed. It watches the kernel's notifications: when someone deletes or changes one of our
//! routes or objects, it puts it back and counts the repair.

mod installed;
mod netlink;
mod nexthops;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_proto::Prefix;
use futures::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteNextHop,
    RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rib::{ForwardingNextHop, NextHops, RouteChange};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use self::installed::Installed;
use self::netlink::{Kernel, KernelError, KernelEvents, KernelMessage, Nexthop, NexthopKind};
use self::nexthops::{GatewaySet, Nexthops, Request};
use crate::config::KernelConfig;
use crate::metrics::Metrics;
use crate::msg::FibCommand;

/// A kernel operation that failed.
#[derive(Debug, Error)]
pub enum FibError {
    /// The netlink socket could not be opened.
    #[error("netlink: {0}")]
    Open(#[from] std::io::Error),
    /// The kernel refused a request or did not answer.
    #[error("kernel: {0}")]
    Kernel(#[from] KernelError),
    /// A next hop the kernel cannot use for this prefix.
    #[error("no usable next hop for {0}")]
    NoNextHop(Prefix),
    /// The kernel has no route to a gateway, so no interface for its nexthop object.
    #[error("no route to gateway {0}")]
    NoRouteToGateway(IpAddr),
}

/// Commands beyond the RIB's changes.
#[derive(Debug)]
pub(crate) enum FibControl {
    /// Remove every route we installed (a clean shutdown without graceful restart) or keep them
    /// (graceful restart: the next run takes them over), then answer.
    Shutdown {
        keep_routes: bool,
        done: oneshot::Sender<()>,
    },
}

/// The kernel side of the RIB.
pub(crate) struct Fib {
    kernel: Kernel,
    events: KernelEvents,
    config: KernelConfig,
    /// The gateway set of each route we installed.
    installed: Installed,
    /// Our routes of a previous run, with the gateway set whose object each points at (and
    /// holds a reference on), if it points at one of ours.
    leftover: HashMap<Prefix, Option<GatewaySet>>,
    /// Our nexthop objects, when the kernel has them (also when we do not use them, to remove
    /// those of a previous run).
    nexthops: Option<Nexthops>,
    /// Whether routes point at nexthop objects; otherwise they are multipath routes.
    use_objects: bool,
    metrics: Metrics,
}

fn protocol(config: &KernelConfig) -> RouteProtocol {
    RouteProtocol::from(config.protocol)
}

fn prefix_of(message: &RouteMessage) -> Option<Prefix> {
    let len = message.header.destination_prefix_length;
    let addr = message.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        RouteAttribute::Destination(RouteAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    });
    match (addr, message.header.address_family) {
        (Some(addr), _) => Prefix::new(addr, len).ok(),
        (None, AddressFamily::Inet) => Prefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).ok(),
        (None, AddressFamily::Inet6) => Prefix::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).ok(),
        _ => None,
    }
}

fn table_of(message: &RouteMessage) -> u32 {
    message
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(message.header.table))
}

fn nexthop_id_of(message: &RouteMessage) -> Option<u32> {
    message.attributes.iter().find_map(|a| match a {
        RouteAttribute::NhId(id) => Some(*id),
        _ => None,
    })
}

/// Whether `prefix` may become a unicast route in the kernel. Not when it lies inside a range
/// that is no unicast destination: IPv4 0.0.0.0/8 ("this network", RFC 6890 §2.2.2: not a
/// destination), 127.0.0.0/8 (loopback, RFC 1122 §3.2.1.3) and 224.0.0.0/4 (multicast,
/// RFC 5771 §2); IPv6 ::1/128 (loopback, RFC 4291 §2.5.3) and ff00::/8 (multicast, RFC 4291
/// §2.7). Such NLRI are syntactically correct (no NOTIFICATION, RFC 4271 §6.3) and stay in the
/// RIB; the kernel never gets them. A shorter prefix that only covers such a range (e.g. the
/// default route) is installable.
fn installable(prefix: &Prefix) -> bool {
    let within = |addr: IpAddr, len: u8, range_len: u8, range: IpAddr| {
        len >= range_len && Prefix::new(addr, range_len).ok() == Prefix::new(range, range_len).ok()
    };
    let (addr, len) = (prefix.addr(), prefix.prefix_len());
    let excluded: &[(IpAddr, u8)] = match addr {
        IpAddr::V4(_) => &[
            (IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)), 8),
            (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
            (IpAddr::V4(Ipv4Addr::new(224, 0, 0, 0)), 4),
        ],
        IpAddr::V6(_) => &[
            (IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
            (IpAddr::V6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0)), 8),
        ],
    };
    !excluded
        .iter()
        .any(|&(range, range_len)| within(addr, len, range_len, range))
}

fn address(addr: IpAddr) -> RouteAddress {
    match addr {
        IpAddr::V4(v4) => RouteAddress::Inet(v4),
        IpAddr::V6(v6) => RouteAddress::Inet6(v6),
    }
}

fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// The gateways we install for a prefix: the next hops of its family, sorted, no duplicates.
fn wanted_gateways(prefix: &Prefix, hops: &[ForwardingNextHop]) -> GatewaySet {
    let mut gateways: GatewaySet = hops
        .iter()
        .map(|h| h.address)
        .filter(|a| a.is_ipv4() == prefix.addr().is_ipv4())
        .collect();
    gateways.sort();
    gateways.dedup();
    gateways
}

/// The gateways of a kernel route, single or multipath, sorted.
fn gateways_of(route: &RouteMessage) -> GatewaySet {
    let ip = |a: &RouteAddress| match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    };
    let mut gateways: GatewaySet = route
        .attributes
        .iter()
        .flat_map(|a| match a {
            RouteAttribute::Gateway(g) => ip(g).into_iter().collect::<Vec<_>>(),
            RouteAttribute::MultiPath(hops) => hops
                .iter()
                .flat_map(|h| h.attributes.iter())
                .filter_map(|a| match a {
                    RouteAttribute::Gateway(g) => ip(g),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    gateways.sort();
    gateways
}

/// The message that names one of our routes (for add and delete).
fn route_message(config: &KernelConfig, prefix: &Prefix) -> RouteMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family(prefix.addr());
    message.header.destination_prefix_length = prefix.prefix_len();
    message.header.protocol = protocol(config);
    message.header.scope = RouteScope::Universe;
    message.header.kind = RouteType::Unicast;
    message.header.table = RouteHeader::RT_TABLE_UNSPEC;
    message
        .attributes
        .push(RouteAttribute::Destination(address(prefix.addr())));
    message.attributes.push(RouteAttribute::Table(config.table));
    message
}

/// The route metrics our routes are installed with (RTA_METRICS: RTAX_MTU, RTAX_ADVMSS), if
/// any is configured.
fn route_metrics(config: &KernelConfig) -> Option<RouteAttribute> {
    let metrics: Vec<RouteMetric> = config
        .mtu
        .map(RouteMetric::Mtu)
        .into_iter()
        .chain(config.advmss.map(RouteMetric::Advmss))
        .collect();
    (!metrics.is_empty()).then_some(RouteAttribute::Metrics(metrics))
}

/// A dump request for the routes of one family.
fn route_dump(family: AddressFamily) -> KernelMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family;
    KernelMessage::Route(RouteNetlinkMessage::GetRoute(message))
}

/// A dump request for every nexthop object.
fn nexthop_dump() -> KernelMessage {
    KernelMessage::GetNexthop(Nexthop {
        id: 0,
        protocol: 0,
        kind: NexthopKind::Other,
    })
}

/// The routes of `messages`.
fn routes(messages: Vec<KernelMessage>) -> impl Iterator<Item = RouteMessage> {
    messages.into_iter().filter_map(|m| match m {
        KernelMessage::Route(RouteNetlinkMessage::NewRoute(r)) => Some(r),
        _ => None,
    })
}

/// The nexthop objects of `messages`.
fn objects(messages: Vec<KernelMessage>) -> impl Iterator<Item = Nexthop> {
    messages.into_iter().filter_map(|m| match m {
        KernelMessage::NewNexthop(n) => Some(n),
        _ => None,
    })
}

/// One prefix's change in a batch: its new gateway set, or `None` to remove it.
struct Planned {
    prefix: Prefix,
    set: Option<GatewaySet>,
}

impl Fib {
    /// How many of our routes a previous run left in the kernel (kept until the table is synced).
    pub(crate) fn preserved_routes(&self) -> usize {
        self.leftover.len()
    }

    /// Opens rtnetlink, finds out whether the kernel has nexthop objects, and finds our routes
    /// and objects left from a previous run.
    pub(crate) async fn open(config: KernelConfig, metrics: Metrics) -> Result<Self, FibError> {
        let kernel = Kernel::open()?;
        let events = Kernel::events()?;
        let nexthops = match kernel.dump(nexthop_dump()).await {
            Ok(all) => Some(Nexthops::from_kernel(config.protocol, objects(all))),
            Err(e) => {
                info!(error = %e, "the kernel has no nexthop objects");
                None
            }
        };
        let use_objects = nexthops.is_some() && config.nexthop_objects;
        if use_objects {
            info!("kernel ECMP: routes point at nexthop objects and groups");
        } else {
            info!(
                configured = config.nexthop_objects,
                "kernel ECMP: multipath routes"
            );
        }
        metrics.kernel_nexthop_objects.set(i64::from(use_objects));
        let mut fib = Self {
            kernel,
            events,
            config,
            installed: Installed::default(),
            leftover: HashMap::new(),
            nexthops,
            use_objects,
            metrics,
        };
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            for route in routes(fib.kernel.dump(route_dump(family)).await?) {
                if !fib.is_ours(&route) {
                    continue;
                }
                let Some(prefix) = prefix_of(&route) else {
                    continue;
                };
                let set = nexthop_id_of(&route).and_then(|id| {
                    let table = fib.nexthops.as_mut()?;
                    let set = table.set_of_id(id)?;
                    table.acquire(&set);
                    Some(set)
                });
                fib.leftover.insert(prefix, set);
            }
        }
        // Objects of a previous run no route uses have no part in forwarding.
        let unused = fib
            .nexthops
            .as_mut()
            .map(Nexthops::sweep)
            .unwrap_or_default();
        fib.send_all(unused, "cannot remove an unused nexthop object")
            .await;
        if !fib.leftover.is_empty() {
            info!(
                routes = fib.leftover.len(),
                "kernel routes of a previous run kept until the table is synced"
            );
        }
        Ok(fib)
    }

    fn is_ours(&self, route: &RouteMessage) -> bool {
        route.header.protocol == protocol(&self.config) && table_of(route) == self.config.table
    }

    /// Sends `requests` whose failures only need a log line (deletions).
    async fn send_all(&self, requests: Vec<Request>, what: &str) {
        for result in self.kernel.apply(requests).await {
            if let Err(e) = result {
                if !e.is_not_found() {
                    warn!(error = %e, "{what}");
                }
            }
        }
    }

    /// The route request that installs `prefix` via `set`.
    fn install_request(&self, prefix: &Prefix, set: &GatewaySet) -> Result<Request, FibError> {
        let mut message = route_message(&self.config, prefix);
        message.attributes.extend(route_metrics(&self.config));
        if self.use_objects {
            let id = self
                .nexthops
                .as_ref()
                .and_then(|t| t.id_of(set))
                .ok_or(FibError::NoNextHop(*prefix))?;
            message.attributes.push(RouteAttribute::NhId(id));
        } else {
            match set.as_slice() {
                [] => return Err(FibError::NoNextHop(*prefix)),
                [one] => message
                    .attributes
                    .push(RouteAttribute::Gateway(address(*one))),
                many => message.attributes.push(RouteAttribute::MultiPath(
                    many.iter()
                        .map(|gw| {
                            let mut hop = RouteNextHop::default();
                            hop.attributes = vec![RouteAttribute::Gateway(address(*gw))];
                            hop
                        })
                        .collect(),
                )),
            }
        }
        Ok((
            KernelMessage::Route(RouteNetlinkMessage::NewRoute(message)),
            NLM_F_CREATE | NLM_F_REPLACE,
        ))
    }

    fn remove_request(&self, prefix: &Prefix) -> Request {
        (
            KernelMessage::Route(RouteNetlinkMessage::DelRoute(route_message(
                &self.config,
                prefix,
            ))),
            0,
        )
    }

    /// The interface through which the kernel reaches `gateway`.
    async fn interface_to(&self, gateway: IpAddr) -> Result<u32, FibError> {
        let mut message = RouteMessage::default();
        message.header.address_family = family(gateway);
        message.header.destination_prefix_length = if gateway.is_ipv4() { 32 } else { 128 };
        message
            .attributes
            .push(RouteAttribute::Destination(address(gateway)));
        let answers = self
            .kernel
            .get(KernelMessage::Route(RouteNetlinkMessage::GetRoute(message)))
            .await?;
        routes(answers)
            .flat_map(|r| r.attributes)
            .find_map(|a| match a {
                RouteAttribute::Oif(oif) => Some(oif),
                _ => None,
            })
            .ok_or(FibError::NoRouteToGateway(gateway))
    }

    /// ToR failover and return in one request (ADR 0009): when every route on a group object
    /// moves to the same new gateway set, which has no object yet (a gateway left the set or
    /// joined it), the group object itself is changed to the new gateways and the routes,
    /// however many, are not touched. Takes those routes out of `plan`; returns the deletions
    /// of gateway objects no longer used. When the kernel refuses, the routes stay in the plan
    /// and change one by one.
    async fn move_groups(&mut self, plan: &mut Vec<Planned>) -> Vec<Request> {
        let Some(table) = self.nexthops.as_ref() else {
            return Vec::new();
        };
        let mut moving: HashMap<(&GatewaySet, &GatewaySet), usize> = HashMap::new();
        for p in plan.iter() {
            if let (Some(from), Some(to)) = (self.installed.get(&p.prefix), &p.set) {
                *moving.entry((from, to)).or_default() += 1;
            }
        }
        let moves: Vec<(GatewaySet, GatewaySet)> = moving
            .into_iter()
            .filter(|((from, to), routes)| table.can_move(from, to, *routes))
            .map(|((from, to), _)| (from.clone(), to.clone()))
            .collect();
        if moves.is_empty() {
            return Vec::new();
        }
        // A returning gateway needs its object first.
        let targets: Vec<GatewaySet> = moves.iter().map(|(_, to)| to.clone()).collect();
        let mut deletions = self.create_gateways(&targets).await;
        for (from, to) in moves {
            // Checked again: an earlier move of this batch may have taken `to` (two groups
            // losing their different gateways to the same remaining one); then these routes
            // change one by one onto that group.
            let routes = plan
                .iter()
                .filter(|p| {
                    p.set.as_ref() == Some(&to) && self.installed.get(&p.prefix) == Some(&from)
                })
                .count();
            let Some(request) = self.nexthops.as_ref().and_then(|t| {
                t.can_move(&from, &to, routes)
                    .then(|| t.move_request(&from, &to))
                    .flatten()
            }) else {
                continue;
            };
            match self.kernel.apply(vec![request]).await.pop() {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    self.metrics.kernel_install_errors.inc();
                    warn!(error = %e, ?from, ?to, "cannot change a nexthop group; changing its routes instead");
                    continue;
                }
                None => continue,
            }
            if let Some(table) = self.nexthops.as_mut() {
                deletions.extend(table.moved(&from, &to));
            }
            let before = plan.len();
            let installed = &mut self.installed;
            plan.retain(|p| {
                let moved = p.set.as_ref() == Some(&to) && installed.get(&p.prefix) == Some(&from);
                if moved {
                    // The group object changed: the route points at it still, under its new set.
                    installed.insert(p.prefix, to.clone());
                }
                !moved
            });
            self.metrics.kernel_group_moves.inc();
            info!(
                routes = before - plan.len(),
                ?from,
                ?to,
                "routes moved by changing their nexthop group"
            );
        }
        deletions
    }

    /// Creates the objects of the gateways of `sets` that have none; returns the cleanup of
    /// creations the kernel refused.
    async fn create_gateways(&mut self, sets: &[GatewaySet]) -> Vec<Request> {
        let Some(table) = self.nexthops.as_ref() else {
            return Vec::new();
        };
        let mut missing: Vec<IpAddr> = sets
            .iter()
            .flat_map(|s| table.missing_gateways(s).collect::<Vec<_>>())
            .collect();
        missing.sort();
        missing.dedup();
        let mut interfaces = Vec::with_capacity(missing.len());
        for gateway in missing {
            match self.interface_to(gateway).await {
                Ok(oif) => interfaces.push((gateway, oif)),
                Err(e) => {
                    self.metrics.kernel_install_errors.inc();
                    warn!(%gateway, error = %e, "no nexthop object for this gateway");
                }
            }
        }
        let Some(table) = self.nexthops.as_mut() else {
            return Vec::new();
        };
        let creations = interfaces
            .into_iter()
            .filter_map(|(gateway, oif)| {
                let request = table.add_gateway(gateway, oif);
                created_id(&request).map(|id| (id, request))
            })
            .collect();
        self.create(creations).await
    }

    /// Creates the objects `sets` need (gateways, then groups) and takes a reference on each
    /// set's object (one per entry: one per route). Returns the deletions that follow from
    /// failures; a set left without an object fails its routes later.
    async fn acquire_objects(&mut self, sets: &[GatewaySet]) -> Vec<Request> {
        let mut cleanup = self.create_gateways(sets).await;
        let Some(table) = self.nexthops.as_mut() else {
            return cleanup;
        };
        let mut creations = Vec::new();
        for set in sets {
            if table.missing_gateways(set).next().is_some() {
                continue;
            }
            if let Some(request) = table.acquire(set) {
                creations.extend(created_id(&request).map(|id| (id, request)));
            }
        }
        cleanup.extend(self.create(creations).await);
        cleanup
    }

    /// Sends object creations (each with the id it creates); returns the cleanup of those the
    /// kernel refused.
    async fn create(&mut self, creations: Vec<(u32, Request)>) -> Vec<Request> {
        if creations.is_empty() {
            return Vec::new();
        }
        let (ids, requests): (Vec<u32>, Vec<Request>) = creations.into_iter().unzip();
        let results = self.kernel.apply(requests).await;
        let mut cleanup = Vec::new();
        for (id, result) in ids.into_iter().zip(results) {
            if let Err(e) = result {
                self.metrics.kernel_install_errors.inc();
                warn!(id, error = %e, "the kernel refused a nexthop object");
                if let Some(table) = self.nexthops.as_mut() {
                    cleanup.extend(table.failed(id));
                }
            }
        }
        cleanup
    }

    async fn apply(&mut self, changes: Vec<RouteChange>) {
        // The last change of a prefix in the batch is the one that counts.
        let mut latest: HashMap<Prefix, NextHops> = HashMap::new();
        for change in changes {
            latest.insert(change.prefix, change.next_hops);
        }
        let mut plan = Vec::with_capacity(latest.len());
        for (prefix, hops) in latest {
            let installable = installable(&prefix);
            if !installable && !hops.is_empty() {
                warn!(%prefix, "not a unicast destination: kept out of the kernel");
            }
            if hops.is_empty() || !installable {
                if self.installed.contains(&prefix) || self.leftover.contains_key(&prefix) {
                    plan.push(Planned { prefix, set: None });
                }
                continue;
            }
            let set = wanted_gateways(&prefix, &hops);
            if set.is_empty() {
                self.metrics.kernel_install_errors.inc();
                warn!(%prefix, error = %FibError::NoNextHop(prefix), "kernel route change failed");
            } else if self.installed.get(&prefix) != Some(&set) {
                plan.push(Planned {
                    prefix,
                    set: Some(set),
                });
            }
        }
        let mut deletions = Vec::new();
        if self.use_objects {
            deletions = self.move_groups(&mut plan).await;
            let sets: Vec<GatewaySet> = plan.iter().filter_map(|p| p.set.clone()).collect();
            deletions.extend(self.acquire_objects(&sets).await);
        }
        // The route requests; a set without an object fails here, before anything is sent.
        let mut sent = Vec::with_capacity(plan.len());
        let mut requests = Vec::with_capacity(plan.len());
        for p in plan {
            let request = match &p.set {
                Some(set) => self.install_request(&p.prefix, set),
                None => Ok(self.remove_request(&p.prefix)),
            };
            match request {
                Ok(r) => {
                    requests.push(r);
                    sent.push(p);
                }
                Err(e) => {
                    self.metrics.kernel_install_errors.inc();
                    warn!(prefix = %p.prefix, error = %e, "kernel route change failed");
                }
            }
        }
        let results = self.kernel.apply(requests).await;
        for (p, result) in sent.into_iter().zip(results) {
            let failed = match (&p.set, result) {
                (_, Ok(())) => false,
                (None, Err(e)) if e.is_not_found() => false,
                (_, Err(e)) => {
                    self.metrics.kernel_install_errors.inc();
                    warn!(prefix = %p.prefix, error = %e, "kernel route change failed");
                    true
                }
            };
            match (p.set, failed) {
                // The kernel keeps the route it had: the new set's reference goes back.
                (Some(set), true) => deletions.extend(self.release(&set, true)),
                (Some(set), false) => {
                    // A leftover of a previous run is taken over; an installed route's old set
                    // is released.
                    let leftover = self.take_leftover(&p.prefix);
                    let old = self.installed.insert(p.prefix, set);
                    deletions.extend(leftover);
                    if let Some(old) = old {
                        deletions.extend(self.release(&old, self.use_objects));
                    }
                }
                (None, _) => deletions.extend(self.take_route(&p.prefix)),
            }
        }
        self.send_all(deletions, "cannot remove an unused nexthop object")
            .await;
        self.metrics
            .kernel_routes_installed
            .set(self.installed.len() as i64);
    }

    /// Forgets our route for `prefix` (installed or leftover); returns the deletions of the
    /// objects it no longer holds.
    fn take_route(&mut self, prefix: &Prefix) -> Vec<Request> {
        if let Some(old) = self.installed.remove(prefix) {
            return self.release(&old, self.use_objects);
        }
        self.take_leftover(prefix)
    }

    /// Forgets the route a previous run left for `prefix`; returns the deletions of the objects
    /// it no longer holds.
    fn take_leftover(&mut self, prefix: &Prefix) -> Vec<Request> {
        match self.leftover.remove(prefix).flatten() {
            Some(old) => self.release(&old, true),
            None => Vec::new(),
        }
    }

    /// Drops a route's reference on `set`'s object, when it `held` one.
    fn release(&mut self, set: &GatewaySet, held: bool) -> Vec<Request> {
        match self.nexthops.as_mut() {
            Some(table) if held => table.release(set),
            _ => Vec::new(),
        }
    }

    /// Removes routes of a previous run the RIB did not take over, then stray objects.
    async fn remove_leftovers(&mut self) {
        let prefixes: Vec<Prefix> = self.leftover.keys().copied().collect();
        let requests = prefixes.iter().map(|p| self.remove_request(p)).collect();
        self.send_all(requests, "cannot remove a stale kernel route")
            .await;
        let mut deletions = Vec::new();
        for prefix in prefixes {
            deletions.extend(self.take_route(&prefix));
        }
        if let Some(table) = self.nexthops.as_mut() {
            deletions.extend(table.take_stray());
        }
        self.send_all(deletions, "cannot remove a stale nexthop object")
            .await;
    }

    /// Removes every route and object of ours.
    async fn remove_all(&mut self) {
        let prefixes: Vec<Prefix> = self
            .installed
            .drain()
            .into_iter()
            .chain(self.leftover.drain().map(|(p, _)| p))
            .collect();
        let requests = prefixes.iter().map(|p| self.remove_request(p)).collect();
        self.send_all(requests, "cannot remove kernel route").await;
        let objects = self
            .nexthops
            .as_mut()
            .map(Nexthops::remove_all)
            .unwrap_or_default();
        self.send_all(objects, "cannot remove a nexthop object")
            .await;
        self.metrics.kernel_routes_installed.set(0);
    }

    /// Runs until shutdown. Without kernel installation it only drains the channel.
    pub(crate) async fn run(
        mut self,
        mut changes: mpsc::Receiver<FibCommand>,
        mut control: mpsc::UnboundedReceiver<FibControl>,
    ) {
        loop {
            tokio::select! {
                biased;
                Some(FibControl::Shutdown { keep_routes, done }) = control.recv() => {
                    // Apply what is already queued, then clean up or keep.
                    while let Ok(command) = changes.try_recv() {
                        self.command(command).await;
                    }
                    if keep_routes {
                        info!(routes = self.installed.len(), "kernel routes kept for graceful restart");
                    } else {
                        self.remove_all().await;
                        info!("kernel routes removed");
                    }
                    let _ = done.send(());
                    return;
                }
                // Notifications first: those of our own last batch then compare with the
                // state that batch left.
                Some((message, _)) = self.events.next() => self.on_kernel_event(message).await,
                Some(command) = changes.recv() => self.command(command).await,
                else => return,
            }
        }
    }

    /// Whether `route`, one of ours in the kernel, is what we installed for `prefix`.
    fn route_is_intact(&self, prefix: &Prefix, route: &RouteMessage) -> bool {
        let Some(set) = self.installed.get(prefix) else {
            return true;
        };
        let id = nexthop_id_of(route);
        if self.use_objects {
            id.is_some() && id == self.nexthops.as_ref().and_then(|t| t.id_of(set))
        } else {
            id.is_none() && &gateways_of(route) == set
        }
    }

    /// Puts back the routes of `prefixes` as installed.
    async fn reinstall(&mut self, prefixes: Vec<Prefix>) {
        let requests: Vec<Request> = prefixes
            .iter()
            .filter_map(|p| {
                let set = self.installed.get(p)?;
                self.install_request(p, set).ok()
            })
            .collect();
        for result in self.kernel.apply(requests).await {
            if let Err(e) = result {
                self.metrics.kernel_install_errors.inc();
                warn!(error = %e, "repair failed");
            }
        }
    }

    /// Puts back our object `id` (deleted or changed by someone else), the groups it belongs
    /// to and the routes that may have gone with it.
    async fn repair_object(&mut self, id: u32) {
        let Some(table) = self.nexthops.as_ref() else {
            return;
        };
        let (objects, sets) = table.repair(id);
        warn!(
            id,
            "our nexthop object was changed by someone else: repairing"
        );
        self.metrics.kernel_drift_repairs.inc();
        for result in self.kernel.apply(objects).await {
            if let Err(e) = result {
                self.metrics.kernel_install_errors.inc();
                warn!(id, error = %e, "nexthop object repair failed");
            }
        }
        let prefixes = self
            .installed
            .iter()
            .filter(|(_, set)| sets.contains(set))
            .map(|(p, _)| p)
            .collect();
        self.reinstall(prefixes).await;
    }

    /// Repairs what someone else deleted or changed. Our own changes come back as notifications
    /// too; they match what we installed and are ignored. Lost notifications (a full receive
    /// buffer) lead to a full comparison with the kernel.
    async fn on_kernel_event(&mut self, message: NetlinkMessage<KernelMessage>) {
        let message = match message.payload {
            NetlinkPayload::InnerMessage(m) => m,
            NetlinkPayload::Overrun(_) => return self.resync().await,
            _ => return,
        };
        match message {
            KernelMessage::Route(RouteNetlinkMessage::NewRoute(route)) => {
                self.on_route(route, false).await
            }
            KernelMessage::Route(RouteNetlinkMessage::DelRoute(route)) => {
                self.on_route(route, true).await
            }
            KernelMessage::NewNexthop(n) => self.on_object(n.id, Some(n)).await,
            KernelMessage::DelNexthop(n) => self.on_object(n.id, None).await,
            _ => {}
        }
    }

    async fn on_route(&mut self, route: RouteMessage, deleted: bool) {
        if !self.is_ours(&route) {
            return;
        }
        let Some(prefix) = prefix_of(&route) else {
            return;
        };
        if !self.installed.contains(&prefix) || (!deleted && self.route_is_intact(&prefix, &route))
        {
            return;
        }
        warn!(%prefix, deleted, "our kernel route was changed by someone else: repairing");
        self.metrics.kernel_drift_repairs.inc();
        self.reinstall(vec![prefix]).await;
    }

    /// Object `id` is now `now` (`None`: deleted).
    async fn on_object(&mut self, id: u32, now: Option<Nexthop>) {
        let Some(expected) = self.nexthops.as_ref().and_then(|t| t.expected(id)) else {
            return;
        };
        if now.as_ref() != Some(&expected) {
            self.repair_object(id).await;
        }
    }

    /// Compares every route and object of ours with the kernel and repairs the differences
    /// (notifications were lost).
    async fn resync(&mut self) {
        warn!("kernel notifications lost: comparing our routes and objects with the kernel");
        if self.nexthops.is_some() {
            match self.kernel.dump(nexthop_dump()).await {
                Ok(all) => {
                    let present: HashMap<u32, Nexthop> = objects(all).map(|n| (n.id, n)).collect();
                    let broken: Vec<u32> = self
                        .nexthops
                        .as_ref()
                        .map(|t| {
                            t.ids()
                                .into_iter()
                                .filter(|id| present.get(id) != t.expected(*id).as_ref())
                                .collect()
                        })
                        .unwrap_or_default();
                    for id in broken {
                        self.repair_object(id).await;
                    }
                }
                Err(e) => warn!(error = %e, "cannot list nexthop objects"),
            }
        }
        let mut seen = HashMap::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            match self.kernel.dump(route_dump(family)).await {
                Ok(all) => {
                    for route in routes(all) {
                        if let (true, Some(prefix)) = (self.is_ours(&route), prefix_of(&route)) {
                            seen.insert(prefix, self.route_is_intact(&prefix, &route));
                        }
                    }
                }
                Err(e) => return warn!(error = %e, "cannot list kernel routes"),
            }
        }
        let broken: Vec<Prefix> = self
            .installed
            .iter()
            .map(|(p, _)| p)
            .filter(|p| seen.get(p) != Some(&true))
            .collect();
        if !broken.is_empty() {
            warn!(
                routes = broken.len(),
                "our kernel routes were changed by someone else: repairing"
            );
            self.metrics
                .kernel_drift_repairs
                .inc_by(broken.len() as u64);
            self.reinstall(broken).await;
        }
    }

    async fn command(&mut self, command: FibCommand) {
        match command {
            FibCommand::Apply(changes, arrived) if self.config.install => {
                let count = changes.len() as i64;
                self.apply(changes).await;
                // Every request of the batch has been acknowledged (or has failed) by now.
                self.metrics.kernel_routes_pending.sub(count);
                if let Some(arrived) = arrived {
                    self.metrics
                        .observe_kernel_install(arrived, std::time::Instant::now());
                }
            }
            FibCommand::Apply(changes, _) => {
                self.metrics.kernel_routes_pending.sub(changes.len() as i64);
            }
            FibCommand::Synced => self.remove_leftovers().await,
        }
    }
}

/// The id of the object a creation request makes.
fn created_id(request: &Request) -> Option<u32> {
    match &request.0 {
        KernelMessage::NewNexthop(n) => Some(n.id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unicast_destinations_are_installable() {
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        for no in [
            "0.0.0.0/8",
            "0.1.2.0/24",
            "127.0.0.0/8",
            "224.0.0.0/4",
            "239.1.0.0/16",
            "::1/128",
            "ff02::/16",
        ] {
            assert!(!installable(&p(no)), "{no}");
        }
        for yes in [
            "0.0.0.0/0",
            "192.0.0.0/2",
            "198.19.0.0/24",
            "240.0.0.0/4",
            "::/0",
            "2001:db8::/32",
            "fe80::/10",
        ] {
            assert!(installable(&p(yes)), "{yes}");
        }
    }
}
