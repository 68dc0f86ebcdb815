//! One collector's task: connect with back-off, send the state (Initiation, Peer Up of every
//! Established session, the Adj-RIB-In dump; RFC 7854 §5), then the live messages and the
//! Statistics Reports, and Termination when the daemon stops (RFC 7854 §4.5). Whatever the
//! collector does not get is counted; nothing here ever makes a neighbour wait.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bgp_proto::bmp::{
    info_type, stat_type, termination_reason, BmpMessage, InfoTlv, Stat, StatValue,
};
use bytes::{Bytes, BytesMut};
use prometheus::IntCounter;
use rib::SnapshotKind;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::{info, warn};

use super::dump::DumpEncoder;
use super::{timestamp, BmpHub};
use crate::config::BmpConfig;
use crate::control_task::{Query, ToControl};
use crate::metrics::Metrics;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that lasted this long starts the back-off again from the beginning.
const STABLE: Duration = Duration::from_secs(60);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a write that waits looks whether the queue has filled meanwhile.
const LAG_CHECK: Duration = Duration::from_millis(200);
/// Live messages are written in batches of about this many octets.
const BATCH: usize = 64 * 1024;
/// How long the last messages and Termination may take at shutdown.
const FINAL_WRITE: Duration = Duration::from_secs(2);

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The daemon stops; Termination was sent (or could not be).
    Stopped,
    /// The collector fell a whole queue behind.
    Behind,
    /// The connection failed or the collector closed it.
    Failed(String),
}

/// A collector's task.
pub(crate) struct Collector {
    pub(crate) index: usize,
    pub(crate) config: BmpConfig,
    pub(crate) hub: BmpHub,
    pub(crate) to_control: mpsc::UnboundedSender<ToControl>,
    pub(crate) metrics: Metrics,
    /// Turns true when the daemon stops (after the sessions have closed).
    pub(crate) stop: watch::Receiver<bool>,
    /// sysName (RFC 7854 §4.4).
    pub(crate) sys_name: String,
    /// sysDescr (RFC 7854 §4.4).
    pub(crate) sys_descr: String,
}

fn label(config: &BmpConfig) -> String {
    SocketAddr::new(config.address, config.port).to_string()
}

/// Takes everything queued for `rx` now; how many messages that was, lost ones included.
fn drain(rx: &mut broadcast::Receiver<Bytes>) -> u64 {
    let mut n = 0;
    loop {
        match rx.try_recv() {
            Ok(_) => n += 1,
            Err(TryRecvError::Lagged(k)) => n += k,
            Err(TryRecvError::Empty | TryRecvError::Closed) => return n,
        }
    }
}

/// Counts every message of `rx` as dropped, forever (while no collector is connected).
async fn discard(rx: &mut broadcast::Receiver<Bytes>, dropped: &IntCounter) {
    loop {
        match rx.recv().await {
            Ok(_) => dropped.inc(),
            Err(RecvError::Lagged(k)) => dropped.inc_by(k),
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

impl Collector {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn until_stopped(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|s| *s).await;
    }

    /// Runs until the daemon stops.
    pub(crate) async fn run(self) {
        let label = label(&self.config);
        let away = self
            .metrics
            .bmp_messages_dropped
            .with_label_values(&[&label, "disconnected"]);
        let up = self.metrics.bmp_collector_up.with_label_values(&[&label]);
        up.set(0);
        let address = SocketAddr::new(self.config.address, self.config.port);
        let (mut rx, _) = self.hub.subscribe(self.index);
        let mut backoff = INITIAL_BACKOFF;
        while !self.stopped() {
            let attempt = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address));
            let result = tokio::select! {
                r = attempt => r,
                _ = discard(&mut rx, &away) => unreachable!("discard never ends"),
                _ = self.until_stopped() => return,
            };
            match result {
                Ok(Ok(stream)) => {
                    info!(collector = %label, "BMP collector connected");
                    self.metrics
                        .bmp_connections
                        .with_label_values(&[&label])
                        .inc();
                    up.set(1);
                    let started = Instant::now();
                    let end = self.session(stream, &mut rx, &label).await;
                    up.set(0);
                    match end {
                        End::Stopped => return,
                        End::Behind => {
                            warn!(collector = %label, queue = self.config.queue, "BMP collector fell a whole queue behind: disconnected, it gets the whole state when it reconnects")
                        }
                        End::Failed(error) => {
                            warn!(collector = %label, %error, "BMP collector connection ended")
                        }
                    }
                    if started.elapsed() >= STABLE {
                        backoff = INITIAL_BACKOFF;
                    }
                }
                Ok(Err(error)) => {
                    tracing::debug!(collector = %label, %error, "BMP collector unreachable")
                }
                Err(_) => tracing::debug!(collector = %label, "BMP collector connect timed out"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = discard(&mut rx, &away) => {}
                _ = self.until_stopped() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection: the state, then the live messages, until it ends.
    async fn session(
        &self,
        mut stream: TcpStream,
        rx: &mut broadcast::Receiver<Bytes>,
        label: &str,
    ) -> End {
        let _ = stream.set_nodelay(true);
        let sent = self.metrics.bmp_messages_sent.with_label_values(&[label]);
        let behind = self
            .metrics
            .bmp_messages_dropped
            .with_label_values(&[label, "queue_full"]);
        // Everything published from here on is in the new receiver's queue.
        let (fresh, peers) = self.hub.subscribe(self.index);
        *rx = fresh;
        let result = self.send_state(&mut stream, rx, peers, &sent).await;
        let result = match result {
            Ok(()) => self.live(&mut stream, rx, &sent).await,
            Err(end) => end,
        };
        match result {
            End::Stopped => self.terminate(&mut stream, rx, &sent).await,
            End::Behind => behind.inc_by(drain(rx)),
            End::Failed(_) => {}
        }
        result
    }

    /// Initiation (RFC 7854 §4.3), a Peer Up per Established session, the dump.
    async fn send_state(
        &self,
        stream: &mut TcpStream,
        rx: &broadcast::Receiver<Bytes>,
        peers: std::collections::BTreeMap<rib::PeerId, super::UpPeer>,
        sent: &IntCounter,
    ) -> Result<(), End> {
        let mut out = BytesMut::new();
        BmpMessage::Initiation(vec![
            InfoTlv::text(info_type::SYS_DESCR, &self.sys_descr),
            InfoTlv::text(info_type::SYS_NAME, &self.sys_name),
        ])
        .encode(&mut out);
        for up in peers.values() {
            out.extend_from_slice(&up.message);
        }
        self.write(stream, rx, &out).await?;
        sent.inc_by(1 + peers.len() as u64);
        if peers.is_empty() {
            return Ok(());
        }
        let (seconds, _) = timestamp();
        let (reply, answer) = oneshot::channel();
        let query = Query::DumpRib {
            kind: SnapshotKind::AdjRibIn,
            timestamp: seconds,
            reply,
        };
        if self.to_control.send(ToControl::Query(query)).is_err() {
            return Err(End::Stopped);
        }
        let dump = tokio::select! {
            d = answer => d.map_err(|_| End::Stopped)?,
            _ = self.until_stopped() => return Err(End::Stopped),
        };
        let mut encoder = DumpEncoder::new(dump.snapshot, peers, seconds);
        while let Some((chunk, count)) = encoder.next_chunk() {
            self.write(stream, rx, &chunk).await?;
            sent.inc_by(count);
        }
        Ok(())
    }

    /// The live messages and the Statistics Reports.
    async fn live(
        &self,
        stream: &mut TcpStream,
        rx: &mut broadcast::Receiver<Bytes>,
        sent: &IntCounter,
    ) -> End {
        let interval = self.config.statistics_interval;
        let mut stats = tokio::time::interval(interval.max(Duration::from_secs(1)));
        stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: the first report goes once the state is sent.
        let mut out = BytesMut::new();
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Ok(first) => {
                        out.extend_from_slice(&first);
                        let mut count = 1;
                        while out.len() < BATCH {
                            match rx.try_recv() {
                                Ok(m) => {
                                    out.extend_from_slice(&m);
                                    count += 1;
                                }
                                Err(TryRecvError::Lagged(_)) => return End::Behind,
                                Err(_) => break,
                            }
                        }
                        if let Err(end) = self.write(stream, rx, &out).await {
                            return end;
                        }
                        out.clear();
                        sent.inc_by(count);
                    }
                    Err(RecvError::Lagged(_)) => return End::Behind,
                    Err(RecvError::Closed) => return End::Stopped,
                },
                _ = stats.tick(), if !interval.is_zero() => {
                    let reports = self.statistics().await;
                    let count = reports.len() as u64;
                    let mut out = BytesMut::new();
                    reports.iter().for_each(|r| r.encode(&mut out));
                    if let Err(end) = self.write(stream, rx, &out).await {
                        return end;
                    }
                    sent.inc_by(count);
                }
                _ = self.until_stopped() => return End::Stopped,
            }
        }
    }

    /// A Statistics Report (RFC 7854 §4.8) per Established neighbour: types 0, 4, 11, 12 (the
    /// core's counters), 7 and 9 (the routes the RIB holds from it).
    async fn statistics(&self) -> Vec<BmpMessage> {
        let (reply, answer) = oneshot::channel();
        let query = Query::BmpStatistics(reply);
        if self.to_control.send(ToControl::Query(query)).is_err() {
            return Vec::new();
        }
        let Ok(all) = answer.await else {
            return Vec::new();
        };
        let headers = self.hub.headers();
        let (seconds, micros) = timestamp();
        all.into_iter()
            .filter_map(|s| {
                let mut peer = headers.get(&s.peer)?.clone();
                (peer.seconds, peer.micros) = (seconds, micros);
                let c = s.counts;
                let mut stats = vec![
                    Stat {
                        kind: stat_type::REJECTED_BY_POLICY,
                        value: StatValue::Counter(c.rejected_by_policy),
                    },
                    Stat {
                        kind: stat_type::AS_PATH_LOOP,
                        value: StatValue::Counter(c.as_path_loop_updates),
                    },
                    Stat {
                        kind: stat_type::TREAT_AS_WITHDRAW_UPDATES,
                        value: StatValue::Counter(c.treat_as_withdraw_updates),
                    },
                    Stat {
                        kind: stat_type::TREAT_AS_WITHDRAW_PREFIXES,
                        value: StatValue::Counter(c.treat_as_withdraw_prefixes),
                    },
                    Stat {
                        kind: stat_type::ADJ_RIB_IN_ROUTES,
                        value: StatValue::Gauge(s.adj_rib_in.iter().map(|(_, n)| n).sum()),
                    },
                ];
                stats.extend(s.adj_rib_in.iter().map(|(family, n)| Stat {
                    kind: stat_type::ADJ_RIB_IN_ROUTES_PER_FAMILY,
                    value: StatValue::FamilyGauge {
                        afi: family.afi.0,
                        safi: family.safi.0,
                        value: *n,
                    },
                }));
                Some(BmpMessage::StatisticsReport { peer, stats })
            })
            .collect()
    }

    /// Writes `bytes`; gives up when the collector falls a queue behind meanwhile, or the
    /// daemon stops (after a last moment to finish).
    async fn write(
        &self,
        stream: &mut TcpStream,
        rx: &broadcast::Receiver<Bytes>,
        bytes: &[u8],
    ) -> Result<(), End> {
        let mut check = tokio::time::interval(LAG_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let write = stream.write_all(bytes);
        tokio::pin!(write);
        loop {
            tokio::select! {
                r = &mut write => return r.map_err(|e| End::Failed(e.to_string())),
                _ = check.tick() => if rx.len() >= self.config.queue {
                    return Err(End::Behind);
                },
                _ = self.until_stopped() => {
                    return match tokio::time::timeout(FINAL_WRITE, &mut write).await {
                        Ok(Ok(())) => Err(End::Stopped),
                        _ => Err(End::Failed("stopping with a write pending".into())),
                    };
                }
            }
        }
    }

    /// At shutdown: what is still queued (the sessions' Peer Downs), then Termination (RFC 7854
    /// §4.5: administratively closed), each within [`FINAL_WRITE`].
    async fn terminate(
        &self,
        stream: &mut TcpStream,
        rx: &mut broadcast::Receiver<Bytes>,
        sent: &IntCounter,
    ) {
        let mut out = BytesMut::new();
        let mut count = 1;
        loop {
            match rx.try_recv() {
                Ok(m) => {
                    out.extend_from_slice(&m);
                    count += 1;
                }
                Err(TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        BmpMessage::Termination(vec![
            InfoTlv::termination_reason(termination_reason::ADMINISTRATIVELY_CLOSED),
            InfoTlv::text(0, "speakerd shutting down"),
        ])
        .encode(&mut out);
        let done = tokio::time::timeout(FINAL_WRITE, async {
            stream.write_all(&out).await?;
            stream.shutdown().await
        })
        .await;
        if matches!(done, Ok(Ok(()))) {
            sent.inc_by(count);
        }
    }
}
