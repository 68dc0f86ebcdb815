//! The `speakerd show` side: a small HTTP/1.0 client for the admin API, and the tables it prints.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use thiserror::Error;

use crate::msg::{BfdStateView, BfdView, NeighborView, PathView, RouteView};

/// Why a `show` command failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The daemon's admin API did not answer.
    #[error("cannot reach the admin API at {0}: {1} (is speakerd running?)")]
    Connect(SocketAddr, std::io::Error),
    /// The answer was not HTTP 200.
    #[error("admin API answered: {0}")]
    Status(String),
    /// The answer was not the JSON expected.
    #[error("unexpected answer: {0}")]
    Json(#[from] serde_json::Error),
}

/// GETs `path` from the admin API and returns the body.
pub fn get(admin: SocketAddr, path: &str) -> Result<String, ClientError> {
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_secs(5))
        .map_err(|e| ClientError::Connect(admin, e))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {admin}\r\n\r\n")
        .map_err(|e| ClientError::Connect(admin, e))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| ClientError::Connect(admin, e))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(ClientError::Status(format!("{status}: {}", body.trim())));
    }
    Ok(body.to_string())
}

/// `show neighbors` as a table.
pub fn print_neighbors(body: &str) -> Result<(), ClientError> {
    let views: Vec<NeighborView> = serde_json::from_str(body)?;
    println!(
        "{:<28} {:>10} {:<12} {:>8} {:>8} {:>8}  families",
        "neighbor", "asn", "state", "up(s)", "accepted", "sent"
    );
    for v in views {
        println!(
            "{:<28} {:>10} {:<12} {:>8} {:>8} {:>8}  {}{}",
            v.address.to_string(),
            v.asn,
            v.state,
            v.uptime_seconds,
            v.prefixes_accepted,
            v.prefixes_advertised,
            v.families.join(","),
            v.description
                .map(|d| format!("  ({d})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `show bfd` as a table.
pub fn print_bfd(body: &str) -> Result<(), ClientError> {
    let views: Vec<BfdView> = serde_json::from_str(body)?;
    println!(
        "{:<28} {:<28} {:<10} {:<10} {:>5} {:>8} {:>10}",
        "neighbor", "local", "state", "remote", "diag", "tx(ms)", "detect(ms)"
    );
    for v in views {
        let state = |s: BfdStateView| format!("{s:?}");
        println!(
            "{:<28} {:<28} {:<10} {:<10} {:>5} {:>8} {:>10}",
            v.neighbor.to_string(),
            v.local.to_string(),
            state(v.state),
            state(v.remote_state),
            v.diagnostic,
            v.transmit_interval_ms,
            v.detection_time_ms
                .map_or_else(|| "-".to_string(), |d| d.to_string())
        );
    }
    Ok(())
}

/// `show routes` as a table, optionally only the prefixes inside `filter`.
pub fn print_routes(body: &str, filter: Option<bgp_proto::Prefix>) -> Result<(), ClientError> {
    let views: Vec<RouteView> = serde_json::from_str(body)?;
    println!(
        "{:<24} {:<40} {:<20} as path",
        "prefix", "next hops", "from"
    );
    for v in views {
        if let Some(f) = filter {
            if !v
                .prefix
                .parse::<bgp_proto::Prefix>()
                .is_ok_and(|p| f.contains(&p))
            {
                continue;
            }
        }
        let hops: Vec<String> = v.next_hops.iter().map(|h| h.to_string()).collect();
        let hops = if hops.is_empty() {
            "(local)".to_string()
        } else {
            hops.join(", ")
        };
        println!("{:<24} {:<40} {:<20} {}", v.prefix, hops, v.from, v.as_path);
    }
    Ok(())
}

/// `show route PREFIX`: every path and where it stands.
pub fn print_route(body: &str, prefix: &str) -> Result<(), ClientError> {
    let views: Vec<PathView> = serde_json::from_str(body)?;
    if views.is_empty() {
        println!("{prefix}: no paths");
    }
    for v in views {
        println!(
            "{prefix} from {} via {}: {}{}\n    as path [{}] local pref {} med {} communities [{}]",
            v.from,
            v.next_hop,
            v.status,
            if v.stale { " (stale)" } else { "" },
            v.as_path,
            v.local_pref,
            v.med.map_or("-".to_string(), |m| m.to_string()),
            v.communities.join(" ")
        );
    }
    Ok(())
}
