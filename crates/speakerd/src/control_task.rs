//! The task that drives the control core ([`Core`]): it feeds it what the neighbour tasks, the
//! Kubernetes watcher and the daemon send, in batches, and carries its outputs to the
//! neighbour tasks, the FIB task and the Node Event recorder. It decides nothing itself.

use std::collections::HashMap;
use std::time::Instant;

use bgp_proto::Prefix;
use rib::{PeerId, SnapshotKind};
use tokio::sync::{mpsc, oneshot};

use crate::backlog::{Backlog, Ticket};
use crate::config::NeighborConfig;
use crate::control::Core;
use crate::mrt_dump::RibDump;
use crate::msg::{
    BfdCommand, FibCommand, Input, NeighborView, NodeEvent, Output, PathView, PeerCommand,
    RouteView,
};
use crate::peer_task::ToPeer;

/// Most messages applied before the decision runs.
const MAX_BATCH: usize = Backlog::HIGH_WATER;

/// Batches of kernel changes queued for the FIB task, at most. With more, the control task
/// waits for the kernel before it takes more input, and so (ADR 0011) the neighbours' sockets
/// wait too: a full table arriving faster than the kernel takes it costs a few batches of
/// changes, not the table again in queued changes.
pub(crate) const FIB_QUEUE: usize = 4;

/// Messages to the control task.
#[derive(Debug)]
pub(crate) enum ToControl {
    /// An input for the core.
    Input(Input),
    /// An UPDATE, with its place in its neighbour's backlog, freed once it is applied.
    Update { input: Input, ticket: Ticket },
    /// Register a neighbour whose task takes `commands`; answer with its id.
    AddNeighbor {
        config: Box<NeighborConfig>,
        commands: mpsc::UnboundedSender<ToPeer>,
        dynamic: bool,
        reply: oneshot::Sender<PeerId>,
    },
    /// A question from the admin API.
    Query(Query),
}

/// Questions from the admin API.
#[derive(Debug)]
pub(crate) enum Query {
    Neighbors(oneshot::Sender<Vec<NeighborView>>),
    Routes(oneshot::Sender<Vec<RouteView>>),
    Route(Prefix, oneshot::Sender<Vec<PathView>>),
    Ready(oneshot::Sender<bool>),
    /// Bring the RIB's gauges up to date (a `/metrics` scrape is about to render them).
    RefreshMetrics(oneshot::Sender<()>),
    /// A snapshot of the RIB for an MRT dump taken at `timestamp` (Unix seconds).
    DumpRib {
        kind: SnapshotKind,
        timestamp: u32,
        reply: oneshot::Sender<RibDump>,
    },
    /// The BMP statistics of every Established neighbour (RFC 7854 §4.8).
    BmpStatistics(oneshot::Sender<Vec<crate::control::PeerStatistics>>),
}

/// Where the core's outputs go.
pub(crate) struct ControlTask {
    core: Core,
    peers: HashMap<PeerId, mpsc::UnboundedSender<ToPeer>>,
    fib: mpsc::Sender<FibCommand>,
    bfd: mpsc::UnboundedSender<BfdCommand>,
    node_events: Option<mpsc::UnboundedSender<NodeEvent>>,
}

impl ControlTask {
    pub(crate) fn new(
        core: Core,
        fib: mpsc::Sender<FibCommand>,
        bfd: mpsc::UnboundedSender<BfdCommand>,
        node_events: Option<mpsc::UnboundedSender<NodeEvent>>,
    ) -> Self {
        Self {
            core,
            peers: HashMap::new(),
            fib,
            bfd,
            node_events,
        }
    }

    /// Runs until every sender is gone.
    pub(crate) async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<ToControl>) {
        loop {
            let deadline = self.core.poll_timeout();
            let message = tokio::select! {
                m = inbox.recv() => m,
                _ = async { match deadline { Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await, None => std::future::pending().await } } => {
                    self.core.handle_timeout(Instant::now());
                    self.carry_outputs().await;
                    continue;
                }
            };
            let Some(message) = message else { return };
            self.take(message).await;
            // Take what is already queued, up to a bound, before the decision runs once: the
            // kernel and the neighbours hear of a full table in steps, not at its end.
            for _ in 1..MAX_BATCH {
                let Ok(message) = inbox.try_recv() else { break };
                self.take(message).await;
            }
            self.carry_outputs().await;
            // Let the FIB and neighbour tasks take this batch's results before the next one
            // (a busy channel never makes `recv` yield by itself).
            tokio::task::yield_now().await;
        }
    }

    async fn take(&mut self, message: ToControl) {
        let now = Instant::now();
        match message {
            ToControl::Input(input) => self.core.handle(input, now),
            ToControl::Update { input, ticket } => {
                self.core.handle(input, now);
                // Applied: out of the neighbour's backlog (its socket may be read again).
                drop(ticket);
            }
            ToControl::AddNeighbor {
                config,
                commands,
                dynamic,
                reply,
            } => {
                let id = self.core.add_neighbor(*config, dynamic, now);
                self.peers.insert(id, commands);
                let _ = reply.send(id);
            }
            ToControl::Query(query) => self.answer(query, now).await,
        }
    }

    async fn answer(&mut self, query: Query, now: Instant) {
        // The answer reflects every input taken so far.
        self.carry_outputs().await;
        match query {
            Query::Neighbors(reply) => {
                let _ = reply.send(self.core.neighbors(now));
            }
            Query::Routes(reply) => {
                let _ = reply.send(self.core.routes());
            }
            Query::Route(prefix, reply) => {
                let _ = reply.send(self.core.route(&prefix));
            }
            Query::Ready(reply) => {
                let _ = reply.send(self.core.ready());
            }
            Query::RefreshMetrics(reply) => {
                self.core.refresh_metrics(now);
                let _ = reply.send(());
            }
            Query::DumpRib {
                kind,
                timestamp,
                reply,
            } => {
                // One pass over the table here; sorting, encoding and writing happen on a
                // blocking thread of the admin API (crate::mrt_dump).
                let _ = reply.send(self.core.rib_dump(kind, timestamp));
            }
            Query::BmpStatistics(reply) => {
                let _ = reply.send(self.core.bmp_statistics());
            }
        }
    }

    async fn carry_outputs(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Peer { peer, command } => {
                    let last = command == PeerCommand::Deconfigure;
                    if let Some(tx) = self.peers.get(&peer) {
                        let _ = tx.send(ToPeer::Command(command));
                    }
                    if last {
                        self.peers.remove(&peer);
                    }
                }
                Output::Fib(command) => {
                    // Waits while the kernel writer is FIB_QUEUE batches behind.
                    let _ = self.fib.send(command).await;
                }
                Output::NodeEvent(event) => {
                    if let Some(events) = &self.node_events {
                        let _ = events.send(event);
                    }
                }
                Output::Bfd(command) => {
                    let _ = self.bfd.send(command);
                }
            }
        }
    }
}
