//! Starts and stops the daemon's tasks.
//!
//! ```text
//!             +-------------+   ToPeer (updates, EoR)   +-------------------+
//!  TCP  <---> | peer task   | <------------------------ |                   |
//!  (one per   | (Peer FSM,  | ------------------------> |     RIB task      | --FibCommand--> FIB task --rtnetlink--> kernel
//!  neighbour) |  sockets)   |   ToRib (up, down, UPDATE)| (Rib, Adj-RIB-Out)|
//!             +-------------+                           +-------------------+
//!                    ^ Accept(stream)                          ^ Query
//!             +-------------+                           +-------------------+
//!             | listener(s) |                           | admin HTTP server | <--- /metrics, /api/*, CLI
//!             +-------------+                           +-------------------+
//! ```
//!
//! Each piece of state has one owner; the tasks talk over channels.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_proto::PathAttributes;
use rib::{PeerConfig, PeerId, Rib, RibConfig};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::admin;
use crate::config::{Config, NeighborConfig};
use crate::fib::{Fib, FibControl, FibError};
use crate::metrics::Metrics;
use crate::peer_task::{self, PeerContext, ToPeer};
use crate::rib_task::{RibTask, ToRib};

/// Why the daemon could not start.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// A listener could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// The kernel routing table could not be opened.
    #[error("kernel routes: {0}")]
    Fib(#[from] FibError),
    /// Signal handling could not be set up.
    #[error("signals: {0}")]
    Signal(std::io::Error),
}

/// How long shutdown waits for sessions to send their NOTIFICATIONs.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The RIB's view of a configured neighbour.
pub(crate) fn rib_peer_config(n: &NeighborConfig) -> PeerConfig {
    let mut c = PeerConfig::new(n.address, n.remote_asn);
    c.rr_client = n.rr_client;
    c.import = n.import.clone();
    c.export = n.export.clone();
    c.max_prefix = n.max_prefix.clone();
    c.next_hop_self = n.next_hop_self;
    c.allow_own_as = n.allow_own_as;
    match n.local_address {
        Some(IpAddr::V4(v4)) => c.local_ipv4 = Some(v4),
        Some(IpAddr::V6(v6)) => c.local_ipv6 = Some(v6),
        None => {}
    }
    c
}

/// Runs the daemon until SIGTERM or SIGINT, then shuts down cleanly.
pub async fn run(config: Config) -> Result<(), DaemonError> {
    let metrics = Metrics::new();
    let started = Instant::now();
    let mut rib_config = RibConfig::new(config.asn, config.router_id);
    rib_config.cluster_id = config.cluster_id;
    rib_config.decision.ecmp = config.ecmp;
    rib_config.protected_prefixes = config.protected_prefixes.clone();
    let mut rib = Rib::new(rib_config);
    for p in &config.prefixes {
        let attrs = PathAttributes {
            communities: p.communities.clone(),
            large_communities: p.large_communities.clone(),
            ..PathAttributes::default()
        };
        rib.originate(p.prefix, attrs, IpAddr::V4(config.router_id));
    }

    let fib = Fib::open(config.kernel.clone(), metrics.clone()).await?;
    let (fib_tx, fib_rx) = mpsc::unbounded_channel();
    let (fib_control, fib_control_rx) = mpsc::unbounded_channel();
    let fib_task = tokio::spawn(fib.run(fib_rx, fib_control_rx));

    let (to_rib, rib_inbox) = mpsc::unbounded_channel();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ctx = PeerContext {
        local_as: config.asn,
        router_id: config.router_id,
        to_rib: to_rib.clone(),
        metrics: metrics.clone(),
        started,
        shutdown: shutdown_rx.clone(),
    };

    let mut rib_task = RibTask::new(rib, fib_tx, metrics.clone());
    let mut peer_tasks = JoinSet::new();
    let mut directory: HashMap<IpAddr, mpsc::UnboundedSender<ToPeer>> = HashMap::new();
    for n in &config.neighbors {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = rib_task.add_peer(n.clone(), tx.clone(), false);
        directory.insert(n.address, tx);
        peer_tasks.spawn(peer_task::run(id, n.clone(), ctx.clone(), rx));
    }
    // The first batch exports our own prefixes and sets the initial metrics.
    let rib_handle = tokio::spawn(rib_task.run(rib_inbox));

    let mut listeners = Vec::new();
    for address in &config.listen {
        let listener = bind(*address).map_err(|e| DaemonError::Listen(*address, e))?;
        info!(%address, "listening");
        listeners.push(listener);
    }
    let accept = Acceptor {
        directory,
        dynamic: config.dynamic_neighbors.clone(),
        ctx: ctx.clone(),
        listeners: JoinSet::new(),
        dynamic_peers: JoinSet::new(),
    };
    let accept_task = tokio::spawn(accept.run(listeners, shutdown_rx.clone()));

    let admin_listener = TcpListener::bind(config.admin_listen)
        .await
        .map_err(|e| DaemonError::Listen(config.admin_listen, e))?;
    info!(address = %config.admin_listen, "admin API listening");
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        to_rib.clone(),
        metrics.clone(),
    ));

    wait_for_signal().await?;
    info!("shutting down");
    let _ = shutdown_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while peer_tasks.join_next().await.is_some() {}
        let _ = accept_task.await;
    })
    .await;
    let keep_routes = config
        .neighbors
        .iter()
        .any(|n| n.graceful_restart.is_some())
        || config
            .dynamic_neighbors
            .iter()
            .any(|d| d.template.graceful_restart.is_some());
    let (done, done_rx) = oneshot::channel();
    let _ = fib_control.send(FibControl::Shutdown { keep_routes, done });
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, done_rx).await;
    admin_task.abort();
    rib_handle.abort();
    let _ = fib_task.await;
    info!("stopped");
    Ok(())
}

fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

async fn wait_for_signal() -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Accepts incoming connections and hands each to its neighbour's task, creating tasks for
/// dynamic neighbours on first contact.
struct Acceptor {
    directory: HashMap<IpAddr, mpsc::UnboundedSender<ToPeer>>,
    dynamic: Vec<crate::config::DynamicNeighborConfig>,
    ctx: PeerContext,
    listeners: JoinSet<()>,
    dynamic_peers: JoinSet<()>,
}

impl Acceptor {
    async fn run(mut self, listeners: Vec<TcpListener>, mut shutdown: watch::Receiver<bool>) {
        let (accepted_tx, mut accepted) = mpsc::unbounded_channel::<(TcpStream, SocketAddr)>();
        for listener in listeners {
            let tx = accepted_tx.clone();
            self.listeners.spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok(pair) => {
                            if tx.send(pair).is_err() {
                                return;
                            }
                        }
                        Err(e) => warn!(error = %e, "accept failed"),
                    }
                }
            });
        }
        loop {
            tokio::select! {
                Some((stream, remote)) = accepted.recv() => self.dispatch(stream, remote).await,
                _ = shutdown.changed() => break,
            }
        }
        self.listeners.abort_all();
        // Dynamic neighbours stop by themselves on the shutdown signal.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.dynamic_peers.join_next().await.is_some() {}
        })
        .await;
    }

    async fn dispatch(&mut self, stream: TcpStream, remote: SocketAddr) {
        let address = remote.ip();
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        if let Some(tx) = self.directory.get(&address) {
            let _ = tx.send(ToPeer::Accept(stream));
            return;
        }
        let Ok(prefix) = bgp_proto::Prefix::new(address, if address.is_ipv4() { 32 } else { 128 })
        else {
            return;
        };
        let Some(range) = self.dynamic.iter().find(|d| d.range.contains(&prefix)) else {
            info!(%remote, "connection from an unknown address refused");
            return;
        };
        let mut config = range.template.clone();
        config.address = address;
        config.passive = true;
        let (tx, rx) = mpsc::unbounded_channel();
        let (reply, id) = oneshot::channel::<PeerId>();
        let request = ToRib::AddPeer {
            config: Box::new(config.clone()),
            commands: tx.clone(),
            reply,
        };
        if self.ctx.to_rib.send(request).is_err() {
            return;
        }
        let Ok(id) = id.await else { return };
        info!(%address, "dynamic neighbor");
        let _ = tx.send(ToPeer::Accept(stream));
        self.directory.insert(address, tx);
        self.dynamic_peers
            .spawn(peer_task::run(id, config, self.ctx.clone(), rx));
    }
}
