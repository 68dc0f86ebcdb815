//! The BFD task: the sockets and timers of every neighbour's BFD session (RFC 5880
//! asynchronous mode, RFC 5881 single hop). The decisions are the `bfd` crate's; this task
//! receives Control packets on UDP port 3784, drops those that did not arrive with TTL 255
//! (RFC 5881 §5), finds their session (by Your Discriminator, or by source address while the
//! remote system does not know ours, RFC 5880 §6.8.6), sends each session's packets from its
//! own source port in 49152-65535 with TTL 255, and tells the control core when a session
//! that was Up goes Down.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bfd::{ControlPacket, Event, Session, SessionConfig, State};
use rib::PeerId;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::control_task::ToControl;
use crate::metrics::Metrics;
use crate::msg::{BfdCommand, BfdView, Input};
use crate::sockopt;

/// One neighbour's BFD session and the socket it sends from.
struct Entry {
    session: Session,
    discriminator: u32,
    remote: IpAddr,
    local: IpAddr,
    socket: UdpSocket,
}

/// A request for the BFD sessions' views (`/api/bfd`).
pub(crate) type BfdQuery = oneshot::Sender<Vec<BfdView>>;

/// The BFD sessions of every neighbour that has `bfd` configured.
pub(crate) struct BfdTask {
    sessions: HashMap<PeerId, Entry>,
    by_discriminator: HashMap<u32, PeerId>,
    next_discriminator: u32,
    receive_v4: Option<UdpSocket>,
    receive_v6: Option<UdpSocket>,
    to_control: mpsc::UnboundedSender<ToControl>,
    metrics: Metrics,
}

/// The metric value of a state.
fn state_number(state: State) -> i64 {
    match state {
        State::AdminDown => 0,
        State::Down => 1,
        State::Init => 2,
        State::Up => 3,
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::AdminDown => "admin_down",
        State::Down => "down",
        State::Init => "init",
        State::Up => "up",
    }
}

/// A socket bound to `address` with TTL (hop limit) 255 for our packets (RFC 5881 §5).
fn udp(address: SocketAddr, v6_only: bool) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(v6_only)?;
        socket.set_unicast_hops_v6(u32::from(bfd::TTL))?;
    } else {
        socket.set_ttl(u32::from(bfd::TTL))?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

/// The receiving socket of one family on port 3784, reporting each datagram's TTL.
fn receiver(v4: bool) -> io::Result<UdpSocket> {
    let any = if v4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let socket = udp(SocketAddr::new(any, bfd::CONTROL_PORT), true)?;
    sockopt::set_receive_ttl(&socket, v4)?;
    UdpSocket::from_std(socket.into())
}

/// A sending socket from `local`, on the first free source port of RFC 5881 §4, connected to
/// the remote system's port 3784.
fn sender(local: IpAddr, remote: IpAddr) -> io::Result<UdpSocket> {
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free BFD source port");
    for port in bfd::SOURCE_PORTS {
        match udp(SocketAddr::new(local, port), true) {
            Ok(socket) => {
                socket.connect(&SocketAddr::new(remote, bfd::CONTROL_PORT).into())?;
                return UdpSocket::from_std(socket.into());
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Waits for a datagram on `socket`, or forever when there is none.
async fn receive(
    socket: &Option<UdpSocket>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    match socket {
        Some(s) => {
            s.async_io(Interest::READABLE, || sockopt::recv_with_ttl(s, buf))
                .await
        }
        None => std::future::pending().await,
    }
}

impl BfdTask {
    pub(crate) fn new(to_control: mpsc::UnboundedSender<ToControl>, metrics: Metrics) -> Self {
        Self {
            sessions: HashMap::new(),
            by_discriminator: HashMap::new(),
            next_discriminator: 1,
            receive_v4: None,
            receive_v6: None,
            to_control,
            metrics,
        }
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<BfdCommand>,
        mut queries: mpsc::UnboundedReceiver<BfdQuery>,
    ) {
        let mut buf4 = [0u8; 512];
        let mut buf6 = [0u8; 512];
        loop {
            let deadline = self
                .sessions
                .values()
                .filter_map(|e| e.session.poll_timeout())
                .min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => {
                        // Shutdown: AdminDown tells the remote systems that this is no path
                        // failure (RFC 5880 §6.8.16, RFC 5882 §3.2), so a graceful restart of
                        // BGP is not cut short by BFD.
                        for entry in self.sessions.values_mut() {
                            entry.session.set_admin_down(true);
                        }
                        self.flush();
                        return;
                    }
                },
                Some(reply) = queries.recv() => {
                    let _ = reply.send(self.views());
                }
                received = receive(&self.receive_v4, &mut buf4) => self.received(received, &buf4),
                received = receive(&self.receive_v6, &mut buf6) => self.received(received, &buf6),
                () = sleep => {
                    let now = std::time::Instant::now();
                    for entry in self.sessions.values_mut() {
                        entry.session.handle_timeout(now);
                    }
                }
            }
            self.flush();
        }
    }

    fn command(&mut self, command: BfdCommand) {
        match command {
            BfdCommand::Watch {
                peer,
                remote,
                local,
                settings,
            } => {
                if let Some(e) = self.sessions.get(&peer) {
                    if e.remote == remote && e.local == local {
                        return;
                    }
                }
                self.forget(peer);
                if let Err(e) = self.listen(remote.is_ipv4()) {
                    warn!(error = %e, "cannot listen for BFD on port 3784");
                    return;
                }
                let socket = match sender(local, remote) {
                    Ok(s) => s,
                    Err(e) => {
                        warn!(%remote, %local, error = %e, "cannot open a BFD socket");
                        return;
                    }
                };
                let discriminator = self.next_discriminator;
                self.next_discriminator = self.next_discriminator.wrapping_add(1).max(1);
                let config = SessionConfig {
                    local_discriminator: discriminator,
                    desired_min_tx: settings.min_tx,
                    required_min_rx: settings.min_rx,
                    detect_mult: settings.multiplier,
                    passive: false,
                    jitter_seed: u64::from(discriminator) ^ 0x5eed_bfd0,
                };
                let session = Session::new(config, std::time::Instant::now());
                info!(%remote, %local, discriminator, "BFD session started");
                self.metrics
                    .bfd_state
                    .with_label_values(&[&remote.to_string()])
                    .set(state_number(State::Down));
                self.by_discriminator.insert(discriminator, peer);
                self.sessions.insert(
                    peer,
                    Entry {
                        session,
                        discriminator,
                        remote,
                        local,
                        socket,
                    },
                );
            }
            BfdCommand::Forget { peer } => self.forget(peer),
        }
    }

    fn views(&self) -> Vec<BfdView> {
        let mut views: Vec<BfdView> = self
            .sessions
            .values()
            .map(|e| BfdView {
                neighbor: e.remote,
                local: e.local,
                state: e.session.state().into(),
                remote_state: e.session.remote_state().into(),
                diagnostic: e.session.diagnostic().code(),
                local_discriminator: e.discriminator,
                remote_discriminator: e.session.remote_discriminator(),
                transmit_interval_ms: e.session.transmit_interval().as_millis() as u64,
                detection_time_ms: e.session.detection_time().map(|d| d.as_millis() as u64),
            })
            .collect();
        views.sort_by_key(|v| v.neighbor);
        views
    }

    fn forget(&mut self, peer: PeerId) {
        if let Some(e) = self.sessions.remove(&peer) {
            self.by_discriminator.retain(|_, p| *p != peer);
            let label = e.remote.to_string();
            let _ = self.metrics.bfd_state.remove_label_values(&[&label]);
            let _ = self
                .metrics
                .bfd_detection_time_seconds
                .remove_label_values(&[&label]);
            info!(remote = %e.remote, "BFD session ended");
        }
    }

    fn listen(&mut self, v4: bool) -> io::Result<()> {
        let slot = if v4 {
            &mut self.receive_v4
        } else {
            &mut self.receive_v6
        };
        if slot.is_none() {
            *slot = Some(receiver(v4)?);
        }
        Ok(())
    }

    fn received(&mut self, received: io::Result<(usize, SocketAddr, Option<u8>)>, buf: &[u8]) {
        let (n, source, ttl) = match received {
            Ok(r) => r,
            Err(e) => {
                debug!(error = %e, "BFD receive failed");
                return;
            }
        };
        if ttl != Some(bfd::TTL) {
            debug!(%source, ?ttl, "BFD packet without TTL 255 dropped (RFC 5881 §5)");
            return;
        }
        let packet = match ControlPacket::decode(&buf[..n]) {
            Ok(p) => p,
            Err(e) => {
                debug!(%source, error = %e, "BFD packet discarded");
                return;
            }
        };
        let peer = if packet.your_discriminator != 0 {
            self.by_discriminator
                .get(&packet.your_discriminator)
                .copied()
        } else {
            self.sessions
                .iter()
                .find(|(_, e)| e.remote == source.ip())
                .map(|(p, _)| *p)
        };
        let Some(entry) = peer.and_then(|p| self.sessions.get_mut(&p)) else {
            debug!(%source, "BFD packet for no session");
            return;
        };
        if entry.remote != source.ip() {
            debug!(%source, "BFD packet from another address than its session's");
            return;
        }
        if let Err(e) = entry
            .session
            .handle_packet(&packet, std::time::Instant::now())
        {
            debug!(%source, error = %e, "BFD packet refused");
        }
    }

    /// Sends what every session has to send and reports its state changes.
    fn flush(&mut self) {
        let now = std::time::Instant::now();
        for (peer, entry) in &mut self.sessions {
            while let Some(packet) = entry.session.poll_transmit(now) {
                if let Err(e) = entry.socket.try_send(&packet.encode()) {
                    debug!(remote = %entry.remote, error = %e, "BFD send failed");
                }
            }
            let label = entry.remote.to_string();
            while let Some(Event::StateChanged {
                from,
                to,
                diagnostic,
            }) = entry.session.poll_event()
            {
                info!(remote = %entry.remote, ?from, ?to, ?diagnostic, "BFD session state changed");
                self.metrics
                    .bfd_state
                    .with_label_values(&[&label])
                    .set(state_number(to));
                self.metrics
                    .bfd_transitions
                    .with_label_values(&[&label, state_name(to)])
                    .inc();
                let input = if to == State::Up {
                    Some(Input::BfdUp { peer: *peer })
                } else if from == State::Up {
                    Some(Input::BfdDown { peer: *peer })
                } else {
                    None
                };
                if let Some(input) = input {
                    let _ = self.to_control.send(ToControl::Input(input));
                }
            }
            if let Some(detection) = entry.session.detection_time() {
                self.metrics
                    .bfd_detection_time_seconds
                    .with_label_values(&[&label])
                    .set(detection.as_secs_f64());
            }
        }
    }
}
