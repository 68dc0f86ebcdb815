//! Memory of a full table: loads 1M IPv4 prefixes with 100k attribute sets from one neighbour
//! (the feed of `benches/feed.rs`, built and dropped one UPDATE at a time) and prints the bytes
//! the RIB holds, counted by a global allocator, and the process RSS.
//!
//! `cargo run --release -p rib --example rib_memory [-- PREFIXES ATTRSETS]`

use std::alloc::System;
use std::net::IpAddr;
use std::sync::Arc;

use rib::{PeerConfig, Policy, Rib, RibConfig};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[path = "../benches/feed/mod.rs"]
mod feed;

fn live() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let k: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    println!("before: VmRSS {}", status("VmRSS:"));

    let mut rib = Rib::new(RibConfig::new(65000, "198.18.0.1".parse().unwrap()));
    let mut pc = PeerConfig::new(IpAddr::V4(feed::FIRST_HOP), feed::NEIGHBOUR_AS);
    pc.import = vec![Arc::new(Policy::accept_all("all"))];
    let peer = rib.add_peer(pc);
    rib.peer_up(peer, feed::FIRST_HOP, true);

    let base = live();
    {
        let prefixes = feed::prefixes(n, 1);
        let sets = feed::attr_sets(k, feed::NEIGHBOUR_AS, 2);
        let groups = feed::groups(&prefixes, k, 101);
        drop(prefixes);
        for (set, group) in sets.iter().zip(&groups) {
            if !group.is_empty() {
                rib.apply_update(peer, &feed::announce(set, feed::FIRST_HOP, group))
                    .expect("no limit");
            }
        }
        let changes = rib.run_decision();
        assert_eq!(changes.len(), n);
    }
    let bytes = live() - base;
    let stats = rib.stats();
    println!(
        "loaded: {} prefixes, {} paths, {} attribute sets",
        stats.prefixes, stats.paths, stats.attribute_sets
    );
    println!(
        "rib heap: {} bytes ({:.1} MiB), {:.1} bytes per route",
        bytes,
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / stats.paths as f64
    );
    println!(
        "after: VmRSS {}, VmHWM {}",
        status("VmRSS:"),
        status("VmHWM:")
    );
    drop(rib);
    println!(
        "dropped: rib heap left {} bytes, VmRSS {}",
        live() - base,
        status("VmRSS:")
    );
}
