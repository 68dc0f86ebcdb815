//! The FIB task: installs the Loc-RIB's selections into a kernel routing table over rtnetlink,
//! with our own route protocol number so that routes of other protocols are never touched.
//! ECMP sets become multipath routes. At start it finds our routes left by a previous run; they
//! stay until the first full table exchange is done (so a restart under graceful restart does
//! not blackhole), then the ones the RIB does not want are removed. It watches the kernel's
//! route notifications: when someone deletes or changes one of our routes, it puts it back and
//! counts the repair.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use bgp_proto::Prefix;
use futures::channel::mpsc::UnboundedReceiver;
use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::AsyncSocket;
use rib::{ForwardingNextHop, RouteChange};
use rtnetlink::{Handle, IpVersion};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::KernelConfig;
use crate::metrics::Metrics;
use crate::rib_task::FibCommand;

/// A kernel operation that failed.
#[derive(Debug, Error)]
pub enum FibError {
    /// The netlink socket could not be opened.
    #[error("netlink: {0}")]
    Open(#[from] std::io::Error),
    /// The kernel refused a request.
    #[error("kernel: {0}")]
    Kernel(#[from] rtnetlink::Error),
    /// A next hop the kernel cannot use for this prefix.
    #[error("no usable next hop for {0}")]
    NoNextHop(Prefix),
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
/// Kernel route notifications (RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE).
type RouteEvents =
    UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr)>;

const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;

pub(crate) struct Fib {
    handle: Handle,
    events: RouteEvents,
    config: KernelConfig,
    installed: HashMap<Prefix, Vec<ForwardingNextHop>>,
    leftover: HashSet<Prefix>,
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
        (None, AddressFamily::Inet) => {
            Prefix::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0).ok()
        }
        (None, AddressFamily::Inet6) => {
            Prefix::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0).ok()
        }
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

fn address(addr: IpAddr) -> RouteAddress {
    match addr {
        IpAddr::V4(v4) => RouteAddress::Inet(v4),
        IpAddr::V6(v6) => RouteAddress::Inet6(v6),
    }
}

/// The gateways we install for a prefix: the next hops of its family, sorted.
fn wanted_gateways(prefix: &Prefix, hops: &[ForwardingNextHop]) -> Vec<IpAddr> {
    let mut gateways: Vec<IpAddr> = hops
        .iter()
        .map(|h| h.address)
        .filter(|a| a.is_ipv4() == prefix.addr().is_ipv4())
        .collect();
    gateways.sort();
    gateways
}

/// The gateways of a kernel route, single or multipath, sorted.
fn gateways_of(route: &RouteMessage) -> Vec<IpAddr> {
    let ip = |a: &RouteAddress| match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    };
    let mut gateways: Vec<IpAddr> = route
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
    message.header.address_family = match prefix {
        Prefix::V4(_) => AddressFamily::Inet,
        Prefix::V6(_) => AddressFamily::Inet6,
    };
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

impl Fib {
    /// How many of our routes a previous run left in the kernel (kept until the table is synced).
    pub(crate) fn preserved_routes(&self) -> usize {
        self.leftover.len()
    }

    /// Opens rtnetlink and finds our routes left from a previous run.
    pub(crate) async fn open(config: KernelConfig, metrics: Metrics) -> Result<Self, FibError> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        // A second socket, subscribed to route changes, so that notifications never mix with
        // the answers to our own requests.
        let (mut monitor, _, events) = rtnetlink::new_connection()?;
        let groups = netlink_sys::SocketAddr::new(0, RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE);
        monitor.socket_mut().socket_mut().bind(&groups)?;
        tokio::spawn(monitor);
        let mut fib = Self {
            handle,
            events,
            config,
            installed: HashMap::new(),
            leftover: HashSet::new(),
            metrics,
        };
        for version in [IpVersion::V4, IpVersion::V6] {
            let mut routes = fib.handle.route().get(version).execute();
            while let Some(route) = routes.try_next().await? {
                if route.header.protocol == protocol(&fib.config)
                    && table_of(&route) == fib.config.table
                {
                    if let Some(prefix) = prefix_of(&route) {
                        fib.leftover.insert(prefix);
                    }
                }
            }
        }
        if !fib.leftover.is_empty() {
            info!(
                routes = fib.leftover.len(),
                "kernel routes of a previous run kept until the table is synced"
            );
        }
        Ok(fib)
    }

    async fn install(
        &mut self,
        prefix: Prefix,
        hops: &[ForwardingNextHop],
    ) -> Result<(), FibError> {
        let mut message = route_message(&self.config, &prefix);
        let gateways: Vec<IpAddr> = hops
            .iter()
            .map(|h| h.address)
            .filter(|a| a.is_ipv4() == prefix.addr().is_ipv4())
            .collect();
        match gateways.as_slice() {
            [] => return Err(FibError::NoNextHop(prefix)),
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
        let mut request = self.handle.route().add().replace();
        *request.message_mut() = message;
        request.execute().await?;
        Ok(())
    }

    async fn remove(&mut self, prefix: Prefix) -> Result<(), FibError> {
        let message = route_message(&self.config, &prefix);
        self.handle.route().del(message).execute().await?;
        Ok(())
    }

    async fn apply(&mut self, changes: Vec<RouteChange>) {
        for change in changes {
            let result = if change.next_hops.is_empty() {
                if self.installed.remove(&change.prefix).is_some()
                    || self.leftover.remove(&change.prefix)
                {
                    self.remove(change.prefix).await
                } else {
                    Ok(())
                }
            } else {
                let r = self.install(change.prefix, &change.next_hops).await;
                if r.is_ok() {
                    self.leftover.remove(&change.prefix);
                    self.installed.insert(change.prefix, change.next_hops);
                }
                r
            };
            if let Err(e) = result {
                self.metrics.kernel_install_errors.inc();
                warn!(prefix = %change.prefix, error = %e, "kernel route change failed");
            }
        }
        self.metrics
            .kernel_routes_installed
            .set(self.installed.len() as i64);
    }

    async fn remove_leftovers(&mut self) {
        for prefix in std::mem::take(&mut self.leftover) {
            if let Err(e) = self.remove(prefix).await {
                warn!(%prefix, error = %e, "cannot remove a stale kernel route");
            }
        }
    }

    async fn remove_all(&mut self) {
        let all: Vec<Prefix> = self
            .installed
            .drain()
            .map(|(p, _)| p)
            .chain(self.leftover.drain())
            .collect();
        for prefix in all {
            if let Err(e) = self.remove(prefix).await {
                warn!(%prefix, error = %e, "cannot remove kernel route");
            }
        }
        self.metrics.kernel_routes_installed.set(0);
    }

    /// Runs until shutdown. Without kernel installation it only drains the channel.
    pub(crate) async fn run(
        mut self,
        mut changes: mpsc::UnboundedReceiver<FibCommand>,
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
                Some(command) = changes.recv() => self.command(command).await,
                Some((message, _)) = self.events.next() => self.on_kernel_event(message).await,
                else => return,
            }
        }
    }

    /// Repairs one of our routes that someone else deleted or changed. Our own changes come
    /// back as notifications too; they match what we installed and are ignored.
    async fn on_kernel_event(&mut self, message: NetlinkMessage<RouteNetlinkMessage>) {
        let (route, deleted) = match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => (r, false),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(r)) => (r, true),
            _ => return,
        };
        if route.header.protocol != protocol(&self.config) || table_of(&route) != self.config.table
        {
            return;
        }
        let Some(prefix) = prefix_of(&route) else {
            return;
        };
        let Some(wanted) = self.installed.get(&prefix).cloned() else {
            return;
        };
        if !deleted && gateways_of(&route) == wanted_gateways(&prefix, &wanted) {
            return;
        }
        warn!(%prefix, deleted, "our kernel route was changed by someone else: repairing");
        self.metrics.kernel_drift_repairs.inc();
        if let Err(e) = self.install(prefix, &wanted).await {
            self.metrics.kernel_install_errors.inc();
            warn!(%prefix, error = %e, "repair failed");
        }
    }

    async fn command(&mut self, command: FibCommand) {
        match command {
            FibCommand::Apply(changes) if self.config.install => self.apply(changes).await,
            FibCommand::Apply(_) => {}
            FibCommand::Synced => self.remove_leftovers().await,
        }
    }
}
