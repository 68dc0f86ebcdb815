//! Memory of a full table: loads 1M IPv4 prefixes with 100k attribute sets from one neighbour
//! (the feed of `benches/feed/mod.rs`, built and dropped one UPDATE at a time) and prints the
//! bytes the RIB holds, counted by a global allocator, and the process RSS (VmHWM is the peak,
//! with the feed and the 1M changes of the one decision run).
//!
//! `cargo run --release -p rib --example rib_memory [-- PREFIXES ATTRSETS [soft|two]]`; `soft`
//! gives the neighbour soft reconfiguration inbound (its routes also kept as received); `two`
//! loads the same table from a second neighbour too (another next hop: every prefix gets two
//! paths, as behind two ToRs).

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
    let option = args.next();
    let soft = option.as_deref() == Some("soft");
    let hops: &[_] = if option.as_deref() == Some("two") {
        &[feed::FIRST_HOP, feed::SECOND_HOP]
    } else {
        &[feed::FIRST_HOP]
    };
    println!("before: VmRSS {}", status("VmRSS:"));

    let mut rib = Rib::new(RibConfig::new(65000, "198.18.0.1".parse().unwrap()));
    let peers: Vec<_> = hops
        .iter()
        .map(|hop| {
            let mut pc = PeerConfig::new(IpAddr::V4(*hop), feed::NEIGHBOUR_AS);
            pc.import = vec![Arc::new(Policy::accept_all("all"))];
            pc.soft_reconfiguration_inbound = soft;
            let peer = rib.add_peer(pc);
            rib.peer_up(
                peer,
                *hop,
                true,
                bgp_proto::FamilySet::of(&[bgp_proto::Family::IPV4_UNICAST]),
            );
            (peer, *hop)
        })
        .collect();

    // The feed must not leave holes under the RIB's heap: glibc keeps freed blocks between
    // live ones resident, and once a large block has been freed it serves requests up to that
    // size (up to 32 MiB) from the heap instead of mapping them. So the only feed buffers alive
    // while the RIB loads are allocated first, as separate mappings: the per-set counts and
    // the prefixes (sorted by set in place, through a transient copy freed before the RIB
    // allocates). Each attribute set and its UPDATE are built and dropped one at a time, as a
    // session decodes them.
    let mut sizes = vec![0usize; k];
    let base = live();
    let flat = {
        let mut prefixes = feed::prefixes(n, 1);
        let mut by_set: Vec<(usize, bgp_proto::Prefix)> = feed::set_of_each(k, 101)
            .zip(prefixes.iter().copied())
            .collect();
        by_set.sort_unstable();
        for (slot, (set, prefix)) in prefixes.iter_mut().zip(by_set) {
            *slot = prefix;
            sizes[set] += 1;
        }
        prefixes
    };
    for (peer, hop) in &peers {
        let mut start = 0;
        for (set, size) in feed::attr_set_iter(k, feed::NEIGHBOUR_AS, 2).zip(&sizes) {
            // At most 1,000 prefixes per UPDATE, as a 4,096-octet message holds.
            for chunk in flat[start..start + size].chunks(1000) {
                rib.apply_update(*peer, &feed::announce(&set, *hop, chunk))
                    .expect("no limit");
            }
            start += size;
        }
        let changes = rib.run_decision();
        assert_eq!(changes.len(), n);
        drop(changes);
    }
    drop(flat);
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
