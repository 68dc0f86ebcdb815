//! TCP connections for sessions: outgoing connects bound to the configured local address with
//! the configured TTL, and per-connection reader and writer tasks that report to the session's
//! task. The writer sends KEEPALIVEs and NOTIFICATIONs (and the OPEN before them) ahead of
//! queued UPDATEs, and reports when the peer stops reading (for the RFC 9687 send hold timer).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bgp_fsm::ConnectionId;
use bytes::{Bytes, BytesMut};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::backlog::{Backlog, ReadPermit};
use crate::sockopt;

/// What the connection tasks report to the session task. `generation` tells a current
/// connection from one already replaced.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// The outgoing connect succeeded.
    Connected { generation: u64, stream: TcpStream },
    /// The outgoing connect failed.
    ConnectFailed { generation: u64, error: io::Error },
    /// Bytes arrived.
    Received {
        connection: ConnectionId,
        generation: u64,
        data: Bytes,
        /// Held until the bytes are decoded (flow control).
        permit: ReadPermit,
    },
    /// The connection closed or failed.
    Closed {
        connection: ConnectionId,
        generation: u64,
    },
    /// The writer made progress; `drained` when its queues are empty.
    Written {
        connection: ConnectionId,
        generation: u64,
        drained: bool,
    },
    /// The socket stopped accepting bytes.
    WriteBlocked {
        connection: ConnectionId,
        generation: u64,
    },
}

/// How to set up a session's sockets.
#[derive(Clone, Debug)]
pub(crate) struct SocketOptions {
    pub(crate) local_address: Option<std::net::IpAddr>,
    pub(crate) ttl: u32,
    pub(crate) ttl_security: bool,
    pub(crate) md5_key: Option<String>,
}

/// Connects to `remote` with the options; the result arrives as a [`ConnEvent`].
pub(crate) fn spawn_connect(
    remote: SocketAddr,
    options: SocketOptions,
    timeout: Duration,
    generation: u64,
    events: mpsc::UnboundedSender<ConnEvent>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let result = async {
            let socket = Socket::new(
                Domain::for_address(remote),
                Type::STREAM,
                Some(Protocol::TCP),
            )?;
            socket.set_nonblocking(true)?;
            socket.set_nodelay(true)?;
            apply_ttl(&socket, remote, &options)?;
            if let Some(key) = &options.md5_key {
                sockopt::set_md5_key(&socket, remote.ip(), key.as_bytes())?;
            }
            if let Some(local) = options.local_address {
                socket.bind(&SocketAddr::new(local, 0).into())?;
            }
            let socket = TcpSocket::from_std_stream(socket.into());
            tokio::time::timeout(timeout, socket.connect(remote))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
        }
        .await;
        let event = match result {
            Ok(stream) => ConnEvent::Connected { generation, stream },
            Err(error) => ConnEvent::ConnectFailed { generation, error },
        };
        let _ = events.send(event);
    })
}

/// Sets the outgoing TTL (255 with GTSM, RFC 5082 §3) and, with GTSM, the minimum accepted TTL.
pub(crate) fn apply_ttl(
    socket: &Socket,
    remote: SocketAddr,
    options: &SocketOptions,
) -> io::Result<()> {
    let ttl = if options.ttl_security {
        255
    } else {
        options.ttl
    };
    if remote.is_ipv4() {
        socket.set_ttl(ttl)?;
    } else {
        socket.set_unicast_hops_v6(ttl)?;
    }
    if options.ttl_security {
        sockopt::set_min_ttl(socket, remote.is_ipv4(), 255)?;
    }
    Ok(())
}

/// A message to the writer.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Bytes to write.
    Data(Bytes),
    /// Close after what was queued before on the same queue.
    Close,
}

/// A live connection: its writer queues and its tasks (aborted on drop).
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) generation: u64,
    /// Our address on this connection.
    pub(crate) local_address: Option<std::net::IpAddr>,
    /// Our address and port (for BMP Peer Up, RFC 7854 §4.10).
    pub(crate) local: Option<SocketAddr>,
    /// The neighbour's address and port.
    pub(crate) remote: Option<SocketAddr>,
    urgent: mpsc::UnboundedSender<Outgoing>,
    bulk: mpsc::UnboundedSender<Outgoing>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        // The writer ends by itself once its queues are closed and flushed.
        let _ = &self.writer;
    }
}

impl Connection {
    /// Starts the reader and writer of a connected stream.
    pub(crate) fn start(
        stream: TcpStream,
        connection: ConnectionId,
        generation: u64,
        events: mpsc::UnboundedSender<ConnEvent>,
        backlog: Arc<Backlog>,
    ) -> Self {
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let remote = stream.peer_addr().ok();
        let local_address = local.map(|a| a.ip());
        let (read, write) = stream.into_split();
        let (urgent, urgent_rx) = mpsc::unbounded_channel();
        let (bulk, bulk_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(
            read,
            connection,
            generation,
            events.clone(),
            backlog,
        ));
        let writer = tokio::spawn(write_loop(
            write, urgent_rx, bulk_rx, connection, generation, events,
        ));
        Self {
            generation,
            local_address,
            local,
            remote,
            urgent,
            bulk,
            reader,
            writer,
        }
    }

    /// Queues bytes: KEEPALIVE and NOTIFICATION go ahead of UPDATEs. The OPEN goes on the same
    /// queue, so that a KEEPALIVE queued right after it (the peer's OPEN arrived before ours was
    /// written) follows it instead of overtaking it.
    pub(crate) fn send(&self, bytes: Bytes) {
        let urgent = bytes.len() >= 19
            && matches!(
                bytes[18],
                bgp_proto::message::message_type::OPEN
                    | bgp_proto::message::message_type::KEEPALIVE
                    | bgp_proto::message::message_type::NOTIFICATION
            );
        let queue = if urgent { &self.urgent } else { &self.bulk };
        let _ = queue.send(Outgoing::Data(bytes));
    }

    /// Closes after the urgent queue (a NOTIFICATION sent just before) is written.
    pub(crate) fn close(&self) {
        let _ = self.urgent.send(Outgoing::Close);
    }
}

/// The first read of a connection, and the reads of an idle one (KEEPALIVEs), take a small
/// buffer; a read that fills its buffer doubles the next one up to [`MAX_READ`] (a full table
/// arriving). A thousand idle sessions then hold a thousand small buffers, not 64 KiB each.
const MIN_READ: usize = 4 * 1024;
/// The largest read (one flow-control chunk, ADR 0011).
const MAX_READ: usize = 64 * 1024;

/// The size to reserve for the next read after one of `got` bytes into `room`: larger after a
/// full one, small again after a small one (idle), the same otherwise (a stream that arrives
/// in pieces smaller than the buffer).
fn next_read_size(want: usize, got: usize, room: usize) -> usize {
    if got >= room {
        (want * 2).min(MAX_READ)
    } else if got < MIN_READ {
        MIN_READ
    } else {
        want
    }
}

async fn read_loop(
    mut read: OwnedReadHalf,
    connection: ConnectionId,
    generation: u64,
    events: mpsc::UnboundedSender<ConnEvent>,
    backlog: Arc<Backlog>,
) {
    let mut want = MIN_READ;
    let mut buf = BytesMut::with_capacity(want);
    loop {
        // Not while the RIB is behind on this neighbour's UPDATEs or earlier chunks wait to
        // be decoded (flow control).
        let permit = backlog.read_permit().await;
        buf.reserve(want);
        let room = buf.capacity() - buf.len();
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = events.send(ConnEvent::Closed {
                    connection,
                    generation,
                });
                return;
            }
            Ok(n) => {
                want = next_read_size(want, n, room);
                let data = buf.split().freeze();
                if events
                    .send(ConnEvent::Received {
                        connection,
                        generation,
                        data,
                        permit,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

async fn write_loop(
    write: OwnedWriteHalf,
    mut urgent: mpsc::UnboundedReceiver<Outgoing>,
    mut bulk: mpsc::UnboundedReceiver<Outgoing>,
    connection: ConnectionId,
    generation: u64,
    events: mpsc::UnboundedSender<ConnEvent>,
) {
    // Urgent messages that arrived while a write was stuck, in order.
    let mut held = std::collections::VecDeque::new();
    loop {
        let next = match held.pop_front() {
            Some(d) => Outgoing::Data(d),
            None => tokio::select! {
                biased;
                Some(m) = urgent.recv() => m,
                Some(m) = bulk.recv() => m,
                else => return,
            },
        };
        let data = match next {
            Outgoing::Data(d) => d,
            // Dropping the write half shuts the connection down for writing.
            Outgoing::Close => return,
        };
        let stuck = Stuck {
            urgent: &mut urgent,
            held: &mut held,
        };
        let written = write_all(&write, &data, stuck, connection, generation, &events).await;
        if matches!(&written, Err(e) if e.kind() == io::ErrorKind::ConnectionAborted) {
            // Closed while the neighbour was not taking our bytes (RFC 9687 §3): what is
            // still unsent will never be, so the connection is reset rather than left to
            // linger with it (a zero linger time resets at close, it never blocks).
            let _ = socket2::SockRef::from(write.as_ref()).set_linger(Some(Duration::ZERO));
            return;
        }
        if written.is_err() {
            let _ = events.send(ConnEvent::Closed {
                connection,
                generation,
            });
            return;
        }
        let drained = urgent.is_empty() && bulk.is_empty();
        let _ = events.send(ConnEvent::Written {
            connection,
            generation,
            drained,
        });
    }
}

/// What a write that is stuck watches: the urgent queue, whose Close ends the connection at
/// once and whose messages wait in `held` for the write to finish.
struct Stuck<'a> {
    urgent: &'a mut mpsc::UnboundedReceiver<Outgoing>,
    held: &'a mut std::collections::VecDeque<Bytes>,
}

/// Writes everything, reporting once when the socket stops taking bytes. While the socket takes
/// nothing, a Close on the urgent queue ends the write with `ConnectionAborted` (the session is
/// over, e.g. its send hold timer expired, RFC 9687 §3); urgent messages queued meanwhile are
/// kept for after the write (a message is never interrupted by another).
async fn write_all(
    write: &OwnedWriteHalf,
    mut data: &[u8],
    stuck: Stuck<'_>,
    connection: ConnectionId,
    generation: u64,
    events: &mpsc::UnboundedSender<ConnEvent>,
) -> io::Result<()> {
    let mut reported = false;
    while !data.is_empty() {
        match write.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !reported {
                    reported = true;
                    let _ = events.send(ConnEvent::WriteBlocked {
                        connection,
                        generation,
                    });
                }
                tokio::select! {
                    ready = write.writable() => ready?,
                    Some(m) = stuck.urgent.recv() => match m {
                        Outgoing::Data(d) => stuck.held.push_back(d),
                        Outgoing::Close => {
                            return Err(io::Error::from(io::ErrorKind::ConnectionAborted))
                        }
                    },
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::message::message_type;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    #[test]
    fn reads_grow_while_they_fill_their_buffer_and_shrink_when_idle() {
        let mut want = MIN_READ;
        for _ in 0..10 {
            want = next_read_size(want, want, want);
        }
        assert_eq!(want, MAX_READ, "a full table: the largest reads");
        assert_eq!(
            next_read_size(want, 20_000, want),
            want,
            "a stream in pieces"
        );
        assert_eq!(next_read_size(want, 19, want), MIN_READ, "a KEEPALIVE");
    }

    fn message(kind: u8) -> Bytes {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&19u16.to_be_bytes());
        m.push(kind);
        Bytes::from(m)
    }

    /// The OPEN is the first message of a connection (RFC 4271 §4.2, §8.2.2: a KEEPALIVE in
    /// OpenSent is an FSM error, "Unexpected message in OpenSent state" at BIRD): a KEEPALIVE
    /// queued right after it, before the writer ran, must not overtake it, though KEEPALIVEs go
    /// ahead of queued UPDATEs.
    #[tokio::test]
    async fn a_keepalive_never_overtakes_the_open() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let (events, _events_rx) = mpsc::unbounded_channel();
        let conn = Connection::start(
            client,
            ConnectionId::Outgoing,
            1,
            events,
            Backlog::unregistered(),
        );
        // Queued one after the other with no await between: the writer has not run yet.
        conn.send(message(message_type::OPEN));
        conn.send(message(message_type::UPDATE));
        conn.send(message(message_type::KEEPALIVE));
        let mut received = [0u8; 19 * 3];
        server.read_exact(&mut received).await.unwrap();
        let order: Vec<u8> = received.chunks(19).map(|m| m[18]).collect();
        assert_eq!(
            order,
            vec![
                message_type::OPEN,
                message_type::KEEPALIVE,
                message_type::UPDATE
            ]
        );
    }

    /// RFC 9687 §3: when the send hold timer expires the connection is closed, also while the
    /// writer is stuck on a message the neighbour never reads (the NOTIFICATION cannot be
    /// written then). The close used to wait behind that message, so the connection and what
    /// was queued on it stayed alive as long as the neighbour kept its window shut (found by
    /// the lab test `slow_reader_is_closed_by_the_send_hold_timer_with_memory_bounded`).
    #[tokio::test]
    async fn close_ends_a_connection_whose_writes_are_stuck() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let (events, mut events_rx) = mpsc::unbounded_channel();
        let mut conn = Connection::start(
            client,
            ConnectionId::Outgoing,
            1,
            events,
            Backlog::unregistered(),
        );
        // Far more than both socket buffers hold; the server never reads.
        conn.send(Bytes::from(vec![0u8; 64 << 20]));
        loop {
            match events_rx.recv().await.unwrap() {
                ConnEvent::WriteBlocked { .. } => break,
                ConnEvent::Written { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        conn.send(message(message_type::NOTIFICATION));
        conn.close();
        tokio::time::timeout(Duration::from_secs(5), &mut conn.writer)
            .await
            .expect("the writer still holds the connection after the close")
            .unwrap();
        drop(conn);
        // The socket is gone: the neighbour is reset, not left writing into a closed window.
        let mut reset = false;
        for _ in 0..50 {
            if tokio::io::AsyncWriteExt::write_all(&mut server, &message(message_type::KEEPALIVE))
                .await
                .is_err()
            {
                reset = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(reset, "the neighbour's connection was not reset");
    }
}
