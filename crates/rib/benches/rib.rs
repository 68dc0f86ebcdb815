//! RIB throughput on a full table: 1M IPv4 prefixes with 100k attribute sets from one eBGP
//! neighbour, then the same table from a second one (half the sets equal: ECMP pairs), then
//! everything withdrawn; and a full re-decision of the 1M prefixes with two paths each.
//!
//! `RIB_BENCH_PREFIXES` / `RIB_BENCH_ATTRSETS` shrink the table for a quick run.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rib::{PeerConfig, PeerId, Policy, Rib, RibConfig};

mod feed;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn new_rib() -> (Rib, PeerId, PeerId) {
    let mut rib = Rib::new(RibConfig::new(65000, "198.18.0.1".parse().unwrap()));
    let mut peer = |addr: std::net::Ipv4Addr| {
        let mut pc = PeerConfig::new(IpAddr::V4(addr), feed::NEIGHBOUR_AS);
        pc.import = vec![Arc::new(Policy::accept_all("all"))];
        let id = rib.add_peer(pc);
        rib.peer_up(
            id,
            addr,
            true,
            bgp_proto::FamilySet::of(&[bgp_proto::Family::IPV4_UNICAST]),
        );
        id
    };
    let a = peer(feed::FIRST_HOP);
    let b = peer(feed::SECOND_HOP);
    (rib, a, b)
}

fn apply(rib: &mut Rib, peer: PeerId, updates: &[bgp_proto::Update]) {
    for u in updates {
        rib.apply_update(peer, u).expect("no limit");
    }
}

fn bench(c: &mut Criterion) {
    let n = env("RIB_BENCH_PREFIXES", 1_000_000);
    let k = env("RIB_BENCH_ATTRSETS", 100_000);
    let feeds = feed::feeds(n, k);
    let mut group = c.benchmark_group(format!("rib_{n}_prefixes_{k}_attrsets"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(n as u64));

    // apply_update + run_decision for the whole table from one neighbour, into an empty RIB.
    group.bench_function("insert_first_peer", |b| {
        b.iter_batched(
            new_rib,
            |(mut rib, a, _)| {
                apply(&mut rib, a, &feeds.first);
                let changes = rib.run_decision();
                (rib, changes)
            },
            BatchSize::PerIteration,
        )
    });

    let loaded_one = || {
        let (mut rib, a, b) = new_rib();
        apply(&mut rib, a, &feeds.first);
        drop(rib.run_decision());
        (rib, a, b)
    };
    // The same table from a second neighbour: every prefix gets a second path, half of them
    // join the ECMP set.
    group.bench_function("insert_second_peer_ecmp", |b| {
        b.iter_batched(
            loaded_one,
            |(mut rib, _, second)| {
                apply(&mut rib, second, &feeds.second);
                let changes = rib.run_decision();
                (rib, changes)
            },
            BatchSize::PerIteration,
        )
    });

    let loaded_two = || {
        let (mut rib, a, b) = loaded_one();
        apply(&mut rib, b, &feeds.second);
        drop(rib.run_decision());
        (rib, a, b)
    };
    // Re-deciding every prefix (two paths each), as after an IGP change.
    group.bench_function("decision_full_table", |b| {
        b.iter_batched(
            || {
                let (mut rib, a, b) = loaded_two();
                rib.set_next_hop(IpAddr::V4(feed::FIRST_HOP), Some(0));
                (rib, a, b)
            },
            |(mut rib, _, _)| {
                let changes = rib.run_decision();
                (rib, black_box(changes))
            },
            BatchSize::PerIteration,
        )
    });

    // Both neighbours withdraw everything (2 paths per prefix removed).
    group.bench_function("withdraw_all_two_peers", |b| {
        b.iter_batched(
            loaded_two,
            |(mut rib, a, second)| {
                apply(&mut rib, a, &feeds.withdraw);
                apply(&mut rib, second, &feeds.withdraw);
                let changes = rib.run_decision();
                assert_eq!(rib.stats().prefixes, 0);
                (rib, changes)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
