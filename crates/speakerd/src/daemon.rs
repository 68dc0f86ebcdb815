//! Starts and stops the daemon's tasks.
//!
//! ```text
//!             +-------------+ PeerCommand (updates, EoR)+---------------------+
//!  TCP  <---> | peer task   | <------------------------ |    control task     |
//!  (one per   | (Peer FSM,  | ------------------------> | drives control::Core| --FibCommand--> FIB task --rtnetlink--> kernel
//!  neighbour) |  sockets)   |  Input (up, down, UPDATE) | (Rib, Adj-RIB-Out,  | --NodeEvent--> Kubernetes Events
//!             +-------------+                           |  startup, drain)    |
//!                    ^ Accept(stream)                   +---------------------+
//!             +-------------+                             ^ Query     ^ Input (PodCIDRs, Nodes, drain)
//!             | listener(s) |         +-------------------+   +-------------------+
//!             +-------------+         | admin HTTP server |   | Kubernetes watcher|
//!                                     +-------------------+   +-------------------+
//! ```
//!
//! The tasks run on a multi-thread runtime with a worker per core (at most four, `main.rs`), so
//! decoding and the FSMs, the control core and the kernel writer overlap; the channel to the
//! FIB task is bounded (`control_task::FIB_QUEUE`) so the core cannot run ahead of the kernel,
//! and the neighbours' sockets wait behind it (ADR 0011).
//!
//! Each piece of state has one owner; the tasks talk over channels with the types of
//! [`crate::msg`]. Every decision is made in the sans-IO [`crate::control::Core`]; the tasks
//! only move bytes, timers and syscalls.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rib::PeerId;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::admin;
use crate::config::{diff, Config, NeighborConfig};
use crate::control::{Core, CoreSettings};
use crate::control_task::{ControlTask, ToControl};
use crate::fib::{Fib, FibControl, FibError};
use crate::kubernetes;
use crate::metrics::Metrics;
use crate::msg::{Input, PrefixSource, RunningConfig};
use crate::peer_task::{self, PeerContext, ToPeer};

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

/// Runs the daemon until SIGTERM or SIGINT, then shuts down cleanly. SIGHUP reloads the
/// configuration from `path`; `source` is the text `config` was parsed from (`${VAR}`
/// replaced), served as the running configuration.
pub async fn run(config: Config, source: String, path: PathBuf) -> Result<(), DaemonError> {
    let metrics = Metrics::new();
    let started = Instant::now();

    let fib = Fib::open(config.kernel.clone(), metrics.clone()).await?;
    let restarting = fib.preserved_routes() > 0;
    let (fib_tx, fib_rx) = mpsc::channel(crate::control_task::FIB_QUEUE);
    let (fib_control, fib_control_rx) = mpsc::unbounded_channel();
    let fib_task = tokio::spawn(fib.run(fib_rx, fib_control_rx));

    let (to_control, control_inbox) = mpsc::unbounded_channel();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let bmp = crate::bmp::BmpHub::new(&config.bmp);
    let (bmp_stop, bmp_stop_rx) = watch::channel(false);
    let ctx = PeerContext {
        local_as: config.asn,
        router_id: config.router_id,
        to_control: to_control.clone(),
        metrics: metrics.clone(),
        started,
        restarting,
        shutdown: shutdown_rx.clone(),
        bmp: bmp.clone(),
    };
    let bmp_tasks: Vec<_> = bmp
        .iter()
        .flat_map(|hub| {
            config.bmp.iter().enumerate().map(|(index, c)| {
                tokio::spawn(
                    crate::bmp::Collector {
                        index,
                        config: c.clone(),
                        hub: hub.clone(),
                        to_control: to_control.clone(),
                        metrics: metrics.clone(),
                        stop: bmp_stop_rx.clone(),
                        sys_name: crate::bmp::sys_name(),
                        sys_descr: crate::bmp::sys_descr(config.router_id, config.asn),
                    }
                    .run(),
                )
            })
        })
        .collect();

    let core = Core::new(
        CoreSettings::from_config(&config, restarting),
        metrics.clone(),
        started,
    );
    let (node_events_tx, node_events) = mpsc::unbounded_channel();
    let (bfd_tx, bfd_rx) = mpsc::unbounded_channel();
    let (bfd_query_tx, bfd_query_rx) = mpsc::unbounded_channel();
    let bfd_task = tokio::spawn(
        crate::bfd_task::BfdTask::new(to_control.clone(), metrics.clone())
            .run(bfd_rx, bfd_query_rx),
    );
    let control = ControlTask::new(
        core,
        fib_tx,
        bfd_tx,
        config
            .kubernetes
            .is_some()
            .then_some(node_events_tx.clone()),
    );
    let control_handle = tokio::spawn(control.run(control_inbox));

    let mut listeners = Vec::new();
    for address in &config.listen {
        let listener = bind(*address).map_err(|e| DaemonError::Listen(*address, e))?;
        // TCP MD5 (RFC 2385) for incoming connections: the key of each configured neighbour
        // is set on the listening socket, per neighbour address.
        for n in &config.neighbors {
            if let Some(key) = &n.password {
                if n.address.is_ipv4() == address.is_ipv4() {
                    crate::sockopt::set_md5_key(&listener, n.address, key.as_bytes())
                        .map_err(|e| DaemonError::Listen(*address, e))?;
                }
            }
        }
        info!(%address, "listening");
        listeners.push(listener);
    }
    let (acceptor_tx, acceptor_rx) = mpsc::unbounded_channel();
    let accept = Acceptor {
        directory: HashMap::new(),
        commands: acceptor_rx,
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
    let (running, running_rx) = watch::channel(RunningConfig {
        path: path.clone(),
        started: source.clone(),
        reloaded: None,
    });
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        to_control.clone(),
        bfd_query_tx,
        metrics.clone(),
        running_rx,
    ));

    let mut neighbors = Neighbors {
        to_control: to_control.clone(),
        acceptor: acceptor_tx,
        ctx: ctx.clone(),
        tasks: JoinSet::new(),
        configured: Vec::new(),
        discovered: Vec::new(),
    };
    neighbors
        .set(Source::Config, config.neighbors.clone())
        .await;
    let (k8s_tx, mut k8s_neighbors) = mpsc::unbounded_channel();
    let k8s_task = config.kubernetes.clone().map(|k| {
        tokio::spawn(kubernetes::run(
            k,
            source.clone(),
            config.asn,
            to_control.clone(),
            k8s_tx,
            node_events,
            node_events_tx.clone(),
        ))
    });

    // Without Kubernetes the configuration is all there is to know; with it, the first Node
    // list (our PodCIDRs, then our neighbours) completes the start.
    let mut starting = k8s_task.is_some();
    if !starting {
        let _ = to_control.send(ToControl::Input(Input::StartupComplete));
    }
    let mut current = config.clone();
    let mut signals = Signals::new()?;
    loop {
        tokio::select! {
            signal = signals.next() => match signal {
                Signal::Stop => break,
                Signal::Reload => {
                    reload(&path, &mut current, &mut neighbors, &running).await;
                }
            },
            Some(list) = k8s_neighbors.recv() => {
                neighbors.set(Source::Kubernetes, list).await;
                if std::mem::take(&mut starting) {
                    let _ = to_control.send(ToControl::Input(Input::StartupComplete));
                }
            }
        }
    }
    let drain = current.shutdown_drain;
    if drain.seconds > 0 {
        info!(
            seconds = drain.seconds,
            "draining before shutdown (SIGTERM again to skip)"
        );
        let input = Input::ShutdownDrain {
            prepend: drain.prepend,
        };
        let _ = to_control.send(ToControl::Input(input));
        let end = tokio::time::sleep(Duration::from_secs(drain.seconds));
        tokio::pin!(end);
        loop {
            tokio::select! {
                _ = &mut end => break,
                signal = signals.next() => if signal == Signal::Stop {
                    info!("drain cut short");
                    break;
                },
            }
        }
    }
    if let Some(task) = k8s_task {
        task.abort();
    }
    info!("shutting down");
    let _ = shutdown_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while neighbors.tasks.join_next().await.is_some() {}
        let _ = accept_task.await;
    })
    .await;
    // The sessions' Peer Downs are queued: the collectors send them, then Termination.
    let _ = bmp_stop.send(true);
    for task in bmp_tasks {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
    }
    let keep_routes = current.graceful_restart_configured();
    let (done, done_rx) = oneshot::channel();
    let _ = fib_control.send(FibControl::Shutdown { keep_routes, done });
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, done_rx).await;
    admin_task.abort();
    control_handle.abort();
    // The control task held the BFD task's command channel: with it gone, BFD says AdminDown.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, bfd_task).await;
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

#[derive(Debug, PartialEq, Eq)]
enum Signal {
    Reload,
    Stop,
}

/// SIGHUP reloads; SIGTERM and SIGINT stop.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, DaemonError> {
        use tokio::signal::unix::{signal, SignalKind};
        let make = |kind| signal(kind).map_err(DaemonError::Signal);
        Ok(Self {
            term: make(SignalKind::terminate())?,
            int: make(SignalKind::interrupt())?,
            hup: make(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}

/// Where a neighbour comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `[[neighbor]]` of the configuration.
    Config,
    /// The Kubernetes integration (mesh, route reflectors, ToR by label).
    Kubernetes,
}

/// The neighbours in force: the configured ones and the discovered ones (a configured
/// neighbour wins over a discovered one with the same address). Changing either set starts,
/// stops or re-polices only the neighbours that differ.
struct Neighbors {
    to_control: mpsc::UnboundedSender<ToControl>,
    acceptor: mpsc::UnboundedSender<AcceptorCommand>,
    ctx: PeerContext,
    tasks: JoinSet<()>,
    configured: Vec<NeighborConfig>,
    discovered: Vec<NeighborConfig>,
}

impl Neighbors {
    fn active(&self) -> Vec<NeighborConfig> {
        let mut all = self.configured.clone();
        for n in &self.discovered {
            if !all.iter().any(|c| c.address == n.address) {
                all.push(n.clone());
            }
        }
        all
    }

    async fn set(&mut self, source: Source, desired: Vec<NeighborConfig>) {
        let before = self.active();
        match source {
            Source::Config => self.configured = desired,
            Source::Kubernetes => self.discovered = desired,
        }
        let after = self.active();
        // How a changed import chain is applied is decided by the core, which knows the session.
        let plan = diff::plan_neighbors(&before, &after, &|_| diff::SessionFacts::Unknown);
        for p in &plan {
            if p.change.stops_session() {
                let input = Input::RemoveNeighbor { address: p.address };
                let _ = self.to_control.send(ToControl::Input(input));
                let _ = self.acceptor.send(AcceptorCommand::Forget(p.address));
            } else if let Some(n) = after.iter().find(|n| n.address == p.address) {
                if matches!(p.change, diff::NeighborChange::Policies { .. }) {
                    let input = Input::SetPolicies {
                        address: n.address,
                        import: n.import.clone(),
                        export: n.export.clone(),
                    };
                    let _ = self.to_control.send(ToControl::Input(input));
                }
            }
        }
        for n in &after {
            let starts = plan
                .iter()
                .any(|p| p.address == n.address && p.change.starts_session());
            if !starts {
                continue;
            }
            let (tx, rx) = mpsc::unbounded_channel();
            let (reply, id) = oneshot::channel();
            let request = ToControl::AddNeighbor {
                config: Box::new(n.clone()),
                commands: tx.clone(),
                dynamic: false,
                reply,
            };
            if self.to_control.send(request).is_err() {
                return;
            }
            let Ok(id) = id.await else { return };
            let _ = self.acceptor.send(AcceptorCommand::Add(n.address, tx));
            info!(address = %n.address, description = ?n.description, "neighbor added");
            self.tasks
                .spawn(peer_task::run(id, n.clone(), self.ctx.clone(), rx));
        }
    }
}

/// A configuration reload (SIGHUP), as [`diff::diff`] plans it: neighbours added or removed
/// without touching the others, policy changes applied with route refresh and re-export (no
/// session reset), originated prefixes changed. Changes to global settings need a restart and
/// are reported, not applied.
async fn reload(
    path: &Path,
    current: &mut Config,
    neighbors: &mut Neighbors,
    running: &watch::Sender<RunningConfig>,
) {
    let (new, text) = match Config::load_with_source(path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in errors {
                warn!(error = %e, "configuration reload refused");
            }
            return;
        }
    };
    let plan = diff::diff(current, &new, &|_| diff::SessionFacts::Unknown);
    if !plan.restart_required.is_empty() {
        let keys: Vec<&str> = plan.restart_required.iter().map(|k| k.key()).collect();
        warn!(keys = %keys.join(", "), "these settings changed: they apply after a restart");
    }
    neighbors.set(Source::Config, new.neighbors.clone()).await;
    let input = Input::SetPrefixes(PrefixSource::Config, new.prefixes.clone());
    let _ = neighbors.to_control.send(ToControl::Input(input));
    *current = diff::after_reload(current, new);
    running.send_modify(|r| r.reloaded = Some(text));
    info!("configuration reloaded");
}

/// Changes to the acceptor's directory of neighbours.
#[derive(Debug)]
enum AcceptorCommand {
    Add(IpAddr, mpsc::UnboundedSender<ToPeer>),
    Forget(IpAddr),
}

/// Accepts incoming connections and hands each to its neighbour's task, creating tasks for
/// dynamic neighbours on first contact.
struct Acceptor {
    directory: HashMap<IpAddr, mpsc::UnboundedSender<ToPeer>>,
    commands: mpsc::UnboundedReceiver<AcceptorCommand>,
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
                Some(command) = self.commands.recv() => match command {
                    AcceptorCommand::Add(address, tx) => {
                        self.directory.insert(address, tx);
                    }
                    AcceptorCommand::Forget(address) => {
                        self.directory.remove(&address);
                    }
                },
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
            // Counted, and logged only at debug: a flood of such connections must not flood
            // the log either. Nothing of a session was made for it.
            self.ctx.metrics.connections_refused.inc();
            debug!(%remote, "connection from an unknown address refused");
            return;
        };
        let mut config = range.template.clone();
        config.address = address;
        config.passive = true;
        let (tx, rx) = mpsc::unbounded_channel();
        let (reply, id) = oneshot::channel::<PeerId>();
        let request = ToControl::AddNeighbor {
            dynamic: true,
            config: Box::new(config.clone()),
            commands: tx.clone(),
            reply,
        };
        if self.ctx.to_control.send(request).is_err() {
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
