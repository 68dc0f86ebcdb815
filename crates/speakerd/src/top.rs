//! `speakerd top`: a live view of the running daemon, refreshed every interval, read from the
//! admin API (`/api/neighbors` and `/metrics`): every session (state, uptime, prefixes accepted
//! and advertised, UPDATEs and messages per second in and out, the UPDATEs read and not yet
//! applied, the prefixes waiting in its Adj-RIB-Out), the Loc-RIB's size and the kernel writer
//! (routes installed, changes pending and per second, install errors). `q` quits. The frame
//! is built by [`render`] from two samples, so what it shows is tested without a terminal.

// The terminal needs termios (raw mode), poll (a key within the interval) and TIOCGWINSZ (its
// width): three libc calls, each on memory owned here.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{get, ClientError};
use crate::msg::NeighborView;

/// The metric samples of one `/metrics` scrape: (name, labels as `k="v",...`) -> value.
type Samples = BTreeMap<(String, String), f64>;

/// Parses Prometheus text exposition (the lines `name{labels} value` and `name value`).
pub fn parse_metrics(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        samples.insert((name.to_string(), labels.to_string()), value);
    }
    samples
}

/// The sum of `name` over the series whose labels contain every one of `labels`.
fn sum(samples: &Samples, name: &str, labels: &[&str]) -> f64 {
    // Only the series of `name`: the samples sort by name first.
    samples
        .range((name.to_string(), String::new())..)
        .take_while(|((n, _), _)| n == name)
        .filter(|((_, l), _)| labels.iter().all(|want| l.contains(want)))
        .map(|(_, v)| v)
        .sum()
}

/// What one refresh read.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was read.
    pub at: Instant,
    /// The sessions.
    pub neighbors: Vec<NeighborView>,
    /// The metrics.
    pub metrics: Samples,
}

/// The per-second rate of a counter between two samples (none for the first sample).
fn rate(previous: Option<&Sample>, current: &Sample, name: &str, labels: &[&str]) -> Option<f64> {
    let previous = previous?;
    let seconds = current.at.duration_since(previous.at).as_secs_f64();
    if seconds <= 0.0 {
        return None;
    }
    let delta = sum(&current.metrics, name, labels) - sum(&previous.metrics, name, labels);
    Some(delta.max(0.0) / seconds)
}

fn per_second(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.1}"))
}

fn uptime(seconds: u64) -> String {
    match seconds {
        0 => "-".into(),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The frame for `current` (rates against `previous`), lines of at most `width` characters.
pub fn render(previous: Option<&Sample>, current: &Sample, width: usize) -> String {
    let m = &current.metrics;
    let up = current
        .neighbors
        .iter()
        .filter(|n| n.state == "Established")
        .count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "speakerd top  sessions {up}/{} Established   (q quits)",
        current.neighbors.len()
    );
    let _ = writeln!(
        out,
        "RIB   ipv4 {:.0}  ipv6 {:.0} selected    KERNEL installed {:.0}  pending {:.0}  changes/s {}  errors {:.0}",
        sum(m, "bgp_rib_routes", &["afi_safi=\"ipv4-unicast\""]),
        sum(m, "bgp_rib_routes", &["afi_safi=\"ipv6-unicast\""]),
        sum(m, "bgp_kernel_routes_installed", &[]),
        sum(m, "bgp_kernel_routes_pending", &[]),
        per_second(rate(previous, current, "bgp_kernel_routes_installed", &[]).map(f64::abs)),
        sum(m, "bgp_kernel_install_errors_total", &[]),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<28} {:>10} {:<12} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}",
        "NEIGHBOR",
        "AS",
        "STATE",
        "UPTIME",
        "ACCEPTED",
        "ADVERTISED",
        "UPD IN/s",
        "UPD OUT/s",
        "MSG IN/s",
        "MSG OUT/s",
        "IN Q",
        "OUT Q"
    );
    for n in &current.neighbors {
        let peer = format!("peer=\"{}\"", n.address);
        let update = "type=\"update\"";
        let name = match &n.description {
            Some(d) => format!("{} ({d})", n.address),
            None => n.address.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<28} {:>10} {:<12} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7.0} {:>7.0}",
            name,
            n.asn,
            n.state,
            uptime(n.uptime_seconds),
            n.prefixes_accepted,
            n.prefixes_advertised,
            per_second(rate(
                previous,
                current,
                "bgp_peer_messages_received_total",
                &[&peer, update]
            )),
            per_second(rate(
                previous,
                current,
                "bgp_peer_messages_sent_total",
                &[&peer, update]
            )),
            per_second(rate(
                previous,
                current,
                "bgp_peer_messages_received_total",
                &[&peer]
            )),
            per_second(rate(
                previous,
                current,
                "bgp_peer_messages_sent_total",
                &[&peer]
            )),
            sum(m, "bgp_peer_updates_queued", &[&peer]),
            sum(m, "bgp_peer_routes_pending_out", &[&peer]),
        );
    }
    out.lines()
        .map(|l| l.chars().take(width).collect::<String>())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Reads one sample from the daemon.
pub fn sample(admin: SocketAddr) -> Result<Sample, ClientError> {
    let neighbors = get(admin, "/api/neighbors")?;
    let neighbors: Vec<NeighborView> = serde_json::from_str(&neighbors)?;
    let metrics = parse_metrics(&get(admin, "/metrics")?);
    Ok(Sample {
        at: Instant::now(),
        neighbors,
        metrics,
    })
}

/// The terminal in raw mode (keys arrive at once, not echoed) until dropped.
struct RawTerminal {
    saved: Option<libc::termios>,
}

impl RawTerminal {
    fn enter() -> Self {
        if !std::io::stdin().is_terminal() {
            return Self { saved: None };
        }
        // SAFETY: tcgetattr/tcsetattr on stdin with a termios we own.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Self { saved: None };
            }
            let saved = t;
            // No ISIG either: Ctrl-C arrives as a key and quits through `Drop`, which gives the
            // terminal back; a SIGINT would leave it without echo.
            t.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            saved
        };
        print!("\x1b[?25l");
        Self { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = self.saved {
            // SAFETY: restores the attributes read in `enter`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &saved);
            }
        }
        print!("\x1b[?25h\r\n");
        let _ = std::io::stdout().flush();
    }
}

/// Waits out `timeout`, reading keys from stdin meanwhile; true as soon as one was `q` or
/// Ctrl-C. Other keys do not shorten the wait, and a stdin that is closed or fails is simply
/// waited out.
fn quit_pressed(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one pollfd we own.
        let ready = unsafe { libc::poll(&mut fds, 1, ms) };
        if ready <= 0 {
            continue;
        }
        if fds.revents & (libc::POLLNVAL | libc::POLLERR | libc::POLLHUP) != 0 {
            std::thread::sleep(left);
            return false;
        }
        let mut key = [0u8; 16];
        match std::io::stdin().read(&mut key) {
            Ok(n) if n > 0 => {
                if key[..n].iter().any(|k| matches!(k, b'q' | 0x03)) {
                    return true;
                }
            }
            // End of input or an error: nothing more will come.
            _ => {
                std::thread::sleep(left);
                return false;
            }
        }
    }
}

/// Runs the view until `q` (or an error reaching the daemon).
pub fn run(admin: SocketAddr, interval: Duration) -> Result<(), ClientError> {
    let _terminal = RawTerminal::enter();
    let mut previous: Option<Sample> = None;
    loop {
        let current = sample(admin)?;
        let width = terminal_width();
        let frame = render(previous.as_ref(), &current, width);
        print!("\x1b[H\x1b[2J{frame}\r\n");
        let _ = std::io::stdout().flush();
        previous = Some(current);
        if quit_pressed(interval) {
            return Ok(());
        }
    }
}

fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ into a winsize we own.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(1, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 0 {
            return usize::from(size.ws_col);
        }
    }
    120
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(address: &str, state: &str, accepted: u64) -> NeighborView {
        NeighborView {
            address: address.parse().unwrap(),
            asn: 65002,
            state: state.into(),
            uptime_seconds: if state == "Established" { 75 } else { 0 },
            families: vec!["ipv4-unicast".into()],
            capabilities: Vec::new(),
            prefixes_accepted: accepted,
            prefixes_advertised: 1,
            description: None,
        }
    }

    #[test]
    fn the_frame_shows_sessions_rates_and_the_kernel() {
        let metrics = |updates: u64, installed: u64| {
            parse_metrics(&format!(
                "# HELP x\nbgp_peer_messages_received_total{{peer=\"198.18.0.2\",peer_asn=\"65002\",type=\"update\"}} {updates}\n\
                 bgp_peer_messages_received_total{{peer=\"198.18.0.2\",peer_asn=\"65002\",type=\"keepalive\"}} 10\n\
                 bgp_peer_updates_queued{{peer=\"198.18.0.2\",peer_asn=\"65002\"}} 17\n\
                 bgp_peer_routes_pending_out{{peer=\"198.18.0.2\",peer_asn=\"65002\"}} 23\n\
                 bgp_rib_routes{{afi_safi=\"ipv4-unicast\"}} {installed}\n\
                 bgp_kernel_routes_pending 9\n\
                 bgp_kernel_routes_installed {installed}\n"
            ))
        };
        let t0 = Instant::now();
        let first = Sample {
            at: t0,
            neighbors: vec![
                view("198.18.0.2", "Established", 100),
                view("198.18.0.3", "Active", 0),
            ],
            metrics: metrics(100, 100),
        };
        let second = Sample {
            at: t0 + Duration::from_secs(2),
            metrics: metrics(300, 1100),
            ..first.clone()
        };
        let frame = render(None, &first, 200);
        assert!(frame.contains("sessions 1/2 Established"), "{frame}");
        assert!(frame.contains("1m15s"), "{frame}");
        let frame = render(Some(&first), &second, 200);
        let row = frame.lines().find(|l| l.starts_with("198.18.0.2")).unwrap();
        // 200 UPDATEs in 2 s; messages in: the same (the keepalive counter did not move).
        assert_eq!(row.matches("100.0").count(), 2, "{row}");
        // The queues: UPDATEs waiting for the RIB, prefixes waiting to be sent.
        assert!(row.ends_with("     17      23"), "{row}");
        assert!(
            frame.contains("installed 1100  pending 9  changes/s 500.0"),
            "{frame}"
        );
        assert!(render(Some(&first), &second, 40)
            .lines()
            .all(|l| l.chars().count() <= 40));
    }
}
