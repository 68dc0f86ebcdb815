//! A neighbour's message log: every BGP message of its sessions, received and sent, and every
//! state change, as MRT BGP4MP records (RFC 6396 §4.4, RFC 8050 for ADD-PATH) that `bgpdump`
//! and `speakerd decode --mrt` read. The neighbour's task hands records to a thread of the
//! log's own through a bounded queue and never waits for the disk: a record that finds the
//! queue full is dropped and counted. The thread writes them with their arrival time in
//! microseconds (BGP4MP_ET) and rotates the file by size and age, keeping the newest few.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bgp_proto::context::MAX_EXTENDED_MESSAGE_LEN;
use bgp_proto::message::{message_type, HEADER_LEN};
use bgp_proto::mrt::{
    encode_bgp4mp_message, encode_bgp4mp_state_change_as4, Bgp4mpMessageKind, Bgp4mpPeers,
};
use bgp_proto::{frame_len, Frame, SessionContext, Update};
use bytes::{Bytes, BytesMut};
use prometheus::IntCounter;
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::MessageLogConfig;
use crate::metrics::Metrics;

/// Records queued for the writer at most; more are dropped (`bgp_message_log_dropped_total`).
pub const QUEUE: usize = 65_536;

/// How long the writer waits before it tries a file it could not open or write again.
const RETRY: Duration = Duration::from_secs(10);

/// What one record says.
#[derive(Debug)]
enum Body {
    /// A whole message as it went over the wire.
    Message {
        kind: Bgp4mpMessageKind,
        octets: Bytes,
    },
    /// The session moved between these states (RFC 4271 §8.2.2 numbering).
    StateChange { from: u16, to: u16 },
}

#[derive(Debug)]
struct Entry {
    at: SystemTime,
    peers: Bgp4mpPeers,
    body: Body,
}

/// The neighbour task's side of its message log.
#[derive(Debug)]
pub struct MessageLog {
    /// `None` once dropped: the writer then drains the queue, flushes and ends.
    tx: Option<mpsc::Sender<Entry>>,
    dropped: IntCounter,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl MessageLog {
    /// Starts the writer thread of `config` for the neighbour whose metric labels are
    /// `labels` (address, AS).
    pub fn start(config: &MessageLogConfig, labels: [&str; 2], metrics: &Metrics) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = metrics.message_log_dropped.with_label_values(&labels);
        let written = metrics.message_log_records.with_label_values(&labels);
        let writer = Writer::new(config.clone(), dropped.clone(), written);
        let name = format!("message-log {}", labels[0]);
        let writer = match std::thread::Builder::new()
            .name(name)
            .spawn(move || writer.run(rx))
        {
            Ok(handle) => Some(handle),
            Err(e) => {
                warn!(file = %config.file.display(), error = %e, "cannot start the message log writer");
                None
            }
        };
        Self {
            tx: Some(tx),
            dropped,
            writer,
        }
    }

    /// Logs whole messages (one or more in `octets`, as a send hands them over), `sent` or
    /// received, in the session's `context` (`None` before it negotiated one: 4-octet AS, no
    /// path identifiers). An UPDATE is marked ADDPATH when its family carries path identifiers
    /// in that direction (RFC 8050 §3): readers apply them to the whole record.
    pub fn messages(
        &self,
        peers: Bgp4mpPeers,
        context: Option<SessionContext>,
        sent: bool,
        octets: &Bytes,
    ) {
        let at = SystemTime::now();
        let mut rest = octets.clone();
        while let Ok(Frame::Complete(len)) = frame_len(&rest, MAX_EXTENDED_MESSAGE_LEN) {
            let message = rest.split_to(len);
            let add_path = context.is_some_and(|c| {
                let families = if sent { c.add_path_tx } else { c.add_path_rx };
                message[18] == message_type::UPDATE
                    && Update::family_of_body(&message[HEADER_LEN..])
                        .is_some_and(|f| families.contains(f))
            });
            let kind = Bgp4mpMessageKind {
                local: sent,
                add_path,
                four_octet_as: context.is_none_or(|c| c.four_octet_as),
            };
            self.push(Entry {
                at,
                peers,
                body: Body::Message {
                    kind,
                    octets: message,
                },
            });
        }
    }

    /// Logs a state change (RFC 4271 §8.2.2 numbering, 1 Idle to 6 Established).
    pub fn state_change(&self, peers: Bgp4mpPeers, from: u16, to: u16) {
        self.push(Entry {
            at: SystemTime::now(),
            peers,
            body: Body::StateChange { from, to },
        });
    }

    fn push(&self, entry: Entry) {
        let queued = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.try_send(entry).is_ok());
        if !queued {
            self.dropped.inc();
        }
    }
}

impl Drop for MessageLog {
    /// Closes the queue and waits for the writer to put what is in it on disk, so that the last
    /// records of a session (its NOTIFICATION, the state changes) are not lost at shutdown.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread's state.
struct Writer {
    config: MessageLogConfig,
    file: Option<BufWriter<File>>,
    /// Octets in the current file, its buffer included.
    size: u64,
    /// Octets of the current file known to be on disk: where it is cut back to when a write
    /// fails, so that no record is left half written.
    flushed: u64,
    /// Records in the buffer, counted as written once flushed.
    buffered: u64,
    /// When the current file was started (for `rotate_seconds`).
    opened: Instant,
    /// The last failure to open or write, so that a broken disk is retried, not hammered.
    failed_at: Option<Instant>,
    /// The last rotation that failed (the rename): the file grows on until it is retried.
    rotation_failed_at: Option<Instant>,
    dropped: IntCounter,
    written: IntCounter,
}

impl Writer {
    fn new(config: MessageLogConfig, dropped: IntCounter, written: IntCounter) -> Self {
        Self {
            config,
            file: None,
            size: 0,
            flushed: 0,
            buffered: 0,
            opened: Instant::now(),
            failed_at: None,
            rotation_failed_at: None,
            dropped,
            written,
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Entry>) {
        let mut out = BytesMut::new();
        while let Some(entry) = rx.blocking_recv() {
            self.write(&entry, &mut out);
            // Everything that queued up meanwhile goes with it; then it is on disk.
            while let Ok(entry) = rx.try_recv() {
                self.write(&entry, &mut out);
            }
            self.flush();
        }
        self.flush();
    }

    fn write(&mut self, entry: &Entry, out: &mut BytesMut) {
        out.clear();
        let since = entry.at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        let micros = Some(since.subsec_micros());
        let encoded = match &entry.body {
            Body::Message { kind, octets } => {
                encode_bgp4mp_message(out, seconds, micros, &entry.peers, *kind, octets)
            }
            Body::StateChange { from, to } => {
                encode_bgp4mp_state_change_as4(out, seconds, micros, &entry.peers, *from, *to)
            }
        };
        if let Err(e) = encoded {
            warn!(file = %self.config.file.display(), error = %e, "message not logged");
            self.dropped.inc();
            return;
        }
        let Some(file) = self.file_for(out.len() as u64) else {
            self.dropped.inc();
            return;
        };
        match file.write_all(out) {
            Ok(()) => {
                self.size += out.len() as u64;
                self.buffered += 1;
            }
            Err(e) => {
                self.dropped.inc();
                self.fail(&e);
            }
        }
    }

    /// Puts the buffer on disk and counts its records as written.
    fn flush(&mut self) {
        let Some(file) = &mut self.file else {
            return;
        };
        match file.flush() {
            Ok(()) => {
                self.flushed = self.size;
                self.written.inc_by(self.buffered);
                self.buffered = 0;
            }
            Err(e) => self.fail(&e),
        }
    }

    /// The file to append `len` more octets to: the current one, or a new one after a
    /// rotation; `None` while the file cannot be opened.
    fn file_for(&mut self, len: u64) -> Option<&mut BufWriter<File>> {
        if self.file.is_none() {
            if self.failed_at.is_some_and(|t| t.elapsed() < RETRY) {
                return None;
            }
            match OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.config.file)
            {
                Ok(file) => {
                    self.size = file.metadata().map_or(0, |m| m.len());
                    self.flushed = self.size;
                    self.opened = Instant::now();
                    self.failed_at = None;
                    self.file = Some(BufWriter::with_capacity(64 * 1024, file));
                }
                Err(e) => {
                    self.fail(&e);
                    return None;
                }
            }
        }
        let c = &self.config;
        let full = c.rotate_bytes > 0 && self.size > 0 && self.size + len > c.rotate_bytes;
        let old = c
            .rotate_seconds
            .is_some_and(|age| self.opened.elapsed() >= age);
        let may = self.rotation_failed_at.is_none_or(|t| t.elapsed() >= RETRY);
        if (full || old) && may {
            self.flush();
            let rotated = self.file.is_some()
                && {
                    self.file = None;
                    match rotate(&self.config.file, self.config.keep, SystemTime::now()) {
                        Ok(()) => true,
                        Err(e) => {
                            warn!(file = %self.config.file.display(), error = %e, "cannot rotate the message log; retrying in 10 s");
                            false
                        }
                    }
                };
            self.rotation_failed_at = (!rotated).then(Instant::now);
            // The new file, or the old one again when the rename failed.
            return self.file_for(len);
        }
        self.file.as_mut()
    }

    /// A write or flush failed: what the buffer held is lost (counted as dropped), the file is
    /// cut back to its last whole record, and it is opened again after [`RETRY`].
    fn fail(&mut self, error: &io::Error) {
        warn!(file = %self.config.file.display(), %error, "message log write failed; retrying in 10 s");
        if let Some(file) = self.file.take() {
            // Not flushed again: its buffer is dropped as it is.
            let (file, _unwritten) = file.into_parts();
            let _ = file.set_len(self.flushed);
        }
        self.dropped.inc_by(self.buffered);
        self.buffered = 0;
        self.size = self.flushed;
        self.failed_at = Some(Instant::now());
    }
}

/// Renames `file` to `FILE.YYYYMMDDTHHMMSSZ` (the UTC time `now`; `-NNN` added when that name
/// is taken, so that the names sort in order) and removes the oldest rotated files beyond
/// `keep`.
pub fn rotate(file: &Path, keep: usize, now: SystemTime) -> io::Result<()> {
    let stamp = utc_stamp(now);
    let mut target = suffixed(file, &stamp);
    let mut n = 1;
    while target.exists() {
        target = suffixed(file, &format!("{stamp}-{n:03}"));
        n += 1;
    }
    std::fs::rename(file, &target)?;
    let mut rotated = rotated_files(file)?;
    // Oldest first: by modification time, then by name.
    rotated.sort();
    let excess = rotated.len().saturating_sub(keep);
    for (_, path) in rotated.into_iter().take(excess) {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// The rotated files of `file` (`FILE.` followed by a time stamp and perhaps `-NNN`, nothing
/// else: an operator's `FILE.…Z.gz` is not one), with their modification times.
pub fn rotated_files(file: &Path) -> io::Result<Vec<(SystemTime, PathBuf)>> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}.");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let rotated = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .is_some_and(is_rotation_stamp);
        if rotated {
            found.push((entry.metadata()?.modified()?, entry.path()));
        }
    }
    Ok(found)
}

/// `YYYYMMDDTHHMMSSZ`, perhaps followed by `-NNN`.
fn is_rotation_stamp(stamp: &str) -> bool {
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let stamped = b.len() >= 16 && digits(0..8) && b[8] == b'T' && digits(9..15) && b[15] == b'Z';
    stamped && (b.len() == 16 || (b.len() == 20 && b[16] == b'-' && digits(17..20)))
}

fn suffixed(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// `YYYYMMDDTHHMMSSZ` of a time (UTC, proleptic Gregorian calendar).
fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The year, month and day of the `days`-th day after 1970-01-01: counted in 400-year eras of
/// 146,097 days, whose years begin on 1 March so that the leap day ends them.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Days since 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March.
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// The peer header of a record: the session's addresses when it has a connection, else the
/// neighbour's address and the unspecified address of its family.
pub fn peers(
    peer_as: u32,
    local_as: u32,
    remote: Option<IpAddr>,
    local: Option<IpAddr>,
    neighbor: IpAddr,
) -> Bgp4mpPeers {
    let peer_ip = remote.unwrap_or(neighbor);
    let unspecified = match peer_ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    };
    let local_ip = local
        .filter(|l| l.is_ipv4() == peer_ip.is_ipv4())
        .unwrap_or(unspecified);
    Bgp4mpPeers {
        peer_as,
        local_as,
        interface_index: 0,
        peer_ip,
        local_ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_of_known_days() {
        let at = |secs| utc_stamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "19700101T000000Z");
        // 2000-02-29 (a leap day of a century divisible by 400) 12:34:56.
        assert_eq!(at(951_827_696), "20000229T123456Z");
        // 2026-12-04 19:15:00.
        assert_eq!(at(1_796_411_700), "20261204T191500Z");
        // 2100-03-01: 2100 is no leap year.
        assert_eq!(at(4_107_542_400), "21000301T000000Z");
    }

    /// A writer of `config` whose counters are in no registry.
    fn writer(config: MessageLogConfig) -> Writer {
        let counter = |name| IntCounter::new(name, "test").expect("a valid name");
        Writer::new(config, counter("dropped"), counter("written"))
    }

    fn keepalive_entry() -> Entry {
        let peer: IpAddr = "198.18.0.2".parse().unwrap();
        Entry {
            at: SystemTime::now(),
            peers: peers(65002, 65001, Some(peer), None, peer),
            body: Body::Message {
                kind: Bgp4mpMessageKind {
                    four_octet_as: true,
                    ..Bgp4mpMessageKind::default()
                },
                octets: bgp_proto::Message::Keepalive
                    .to_bytes(&bgp_proto::SessionContext::modern_ebgp()),
            },
        }
    }

    /// `rotate_seconds`: the first record after the file's age passed it starts a new file;
    /// `rotate_bytes`: a record that would take the file past it does, and a file is never
    /// left empty by it.
    #[test]
    fn the_writer_rotates_by_age_and_by_size() {
        let dir = std::env::temp_dir().join(format!("speakerd-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("peer.mrt");
        let mut out = BytesMut::new();
        let mut by_age = writer(MessageLogConfig {
            file: file.clone(),
            rotate_bytes: 0,
            rotate_seconds: Some(Duration::from_millis(200)),
            keep: 5,
        });
        by_age.write(&keepalive_entry(), &mut out);
        by_age.write(&keepalive_entry(), &mut out);
        assert_eq!(
            rotated_files(&file).unwrap().len(),
            0,
            "younger than 200 ms"
        );
        std::thread::sleep(Duration::from_millis(250));
        by_age.write(&keepalive_entry(), &mut out);
        by_age.flush();
        let rotated = rotated_files(&file).unwrap();
        assert_eq!(rotated.len(), 1);
        // A record is 12 (MRT header) + 4 (microseconds) + 20 (the AS4 peer header with IPv4
        // addresses) + 19 (KEEPALIVE) octets.
        assert_eq!(std::fs::metadata(&rotated[0].1).unwrap().len(), 2 * 55);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 55);
        assert_eq!(by_age.written.get(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();

        let mut by_size = writer(MessageLogConfig {
            file: file.clone(),
            rotate_bytes: 120,
            rotate_seconds: None,
            keep: 5,
        });
        for _ in 0..5 {
            by_size.write(&keepalive_entry(), &mut out);
        }
        by_size.flush();
        let mut sizes: Vec<u64> = rotated_files(&file)
            .unwrap()
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len())
            .collect();
        sizes.push(std::fs::metadata(&file).unwrap().len());
        // Two records fit in 120 octets, a third does not.
        assert_eq!(sizes, [110, 110, 55]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotation_renames_and_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("speakerd-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("peer.mrt");
        let t0 = UNIX_EPOCH + Duration::from_secs(1_796_411_700);
        for i in 0..4u64 {
            std::fs::write(&file, format!("{i}")).unwrap();
            // Two in the same second: the second gets a suffix.
            rotate(&file, 3, t0 + Duration::from_secs(i / 2)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!file.exists(), "renamed away");
        let mut names: Vec<String> = rotated_files(&file)
            .unwrap()
            .into_iter()
            .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // Four rotations, three kept: the oldest ("0") went.
        assert_eq!(
            names,
            [
                "peer.mrt.20261204T191500Z-001",
                "peer.mrt.20261204T191501Z",
                "peer.mrt.20261204T191501Z-001"
            ]
        );
        let kept: Vec<String> = names
            .iter()
            .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
            .collect();
        assert_eq!(kept, ["1", "2", "3"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
