//! The FIB task: installs the Loc-RIB's selections into a kernel routing table over rtnetlink,
//! with our own route protocol number so that routes of other protocols are never touched.
//! ECMP sets become multipath routes. At start it finds our routes left by a previous run; they
//! stay until the first full table exchange is done (so a restart under graceful restart does
//! not blackhole), then the ones the RIB does not want are removed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use bgp_proto::Prefix;
use futures::TryStreamExt;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
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
pub(crate) struct Fib {
    handle: Handle,
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
    /// Opens rtnetlink and finds our routes left from a previous run.
    pub(crate) async fn open(config: KernelConfig, metrics: Metrics) -> Result<Self, FibError> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        let mut fib = Self {
            handle,
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
                else => return,
            }
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
