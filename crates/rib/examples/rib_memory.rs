//! Memory of a full table: loads 1M IPv4 prefixes with 100k attribute sets from one neighbour
//! (the feed of `benches/feed/mod.rs`, built and dropped one UPDATE at a time) and prints the
//! bytes the RIB holds, counted by a global allocator, and the process RSS (VmHWM is the peak,
//! with the feed and the 1M changes of the one decision run).
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
    // The feed sits in two large buffers (allocated outside the heap the RIB grows, and given
    // back whole when dropped); its small allocations are freed before the RIB allocates, so
    // that RSS measures the RIB, not holes left by the generator. Each attribute set and its
    // UPDATE are built and dropped one at a time, as a session decodes them.
    let (flat, bounds) = {
        let prefixes = feed::prefixes(n, 1);
        let groups = feed::groups(&prefixes, k, 101);
        drop(prefixes);
        let mut flat = Vec::with_capacity(n);
        let mut bounds = Vec::with_capacity(k);
        for group in groups {
            bounds.push(flat.len()..flat.len() + group.len());
            flat.extend(group);
        }
        (flat, bounds)
    };
    for (set, range) in feed::attr_set_iter(k, feed::NEIGHBOUR_AS, 2).zip(bounds) {
        if !range.is_empty() {
            rib.apply_update(peer, &feed::announce(&set, feed::FIRST_HOP, &flat[range]))
                .expect("no limit");
        }
    }
    drop(flat);
    let changes = rib.run_decision();
    assert_eq!(changes.len(), n);
    drop(changes);
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
