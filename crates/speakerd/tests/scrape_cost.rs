//! What a `/metrics` scrape costs with a large table: the core's part of a scrape
//! ([`Core::refresh_metrics`]) must do work per series, not per route. Measured as the bytes
//! it allocates (a walk over the table builds a list of it), counted by a test allocator on
//! this thread, with 1,000 and with 200,000 routes: the same small amount.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

use bgp_proto::{AsPath, Nlri, Origin, PathAttributes, Prefix, Update};
use speakerd::config::Config;
use speakerd::control::{Core, CoreSettings};
use speakerd::metrics::Metrics;
use speakerd::msg::{Input, LocalAddresses};

use common::PEER_AS;

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the counter is a
// thread-local `Cell` with a const initialiser, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

/// A core with one Established neighbour that sent `routes` IPv4 prefixes, and its metrics.
fn loaded(routes: u32) -> (Core, Metrics, Instant) {
    let text = format!(
        "[global]\nasn = 4200000001\nrouter_id = \"198.18.0.1\"\n\n\
         [[prefix]]\nprefix = \"198.19.1.0/24\"\n\n\
         [[neighbor]]\naddress = \"198.18.0.2\"\nremote_asn = {PEER_AS}\n\
         import = [\"accept-all\"]\nexport = [\"accept-all\"]\n"
    );
    let config = Config::parse(&text, Path::new("test.toml"), &|_| None).unwrap();
    let now = Instant::now();
    let metrics = Metrics::new();
    let mut core = Core::new(
        CoreSettings::from_config(&config, false),
        metrics.clone(),
        now,
    );
    let peer = core.add_neighbor(config.neighbors[0].clone(), false, now);
    let negotiated = common::negotiated(None);
    core.handle(
        Input::SessionUp {
            peer,
            negotiated: Box::new(negotiated),
            local: LocalAddresses {
                session: Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))),
                other_family: None,
            },
        },
        now,
    );
    let attributes = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::from_sequence(vec![PEER_AS])),
        next_hop: Some(Ipv4Addr::new(198, 18, 0, 2)),
        ..PathAttributes::default()
    };
    let prefixes: Vec<u32> = (0..routes).collect();
    for chunk in prefixes.chunks(1000) {
        let nlri = chunk
            .iter()
            .map(|i| {
                let addr = Ipv4Addr::from(0x0a00_0000 + (i << 8));
                Nlri::new(Prefix::new(IpAddr::V4(addr), 24).unwrap())
            })
            .collect();
        let update = Update {
            attributes: attributes.clone(),
            nlri,
            ..Update::default()
        };
        core.handle(
            Input::Update {
                peer,
                update: Box::new(update),
                arrived: now,
            },
            now,
        );
    }
    while core.poll_output().is_some() {}
    (core, metrics, now)
}

/// The value of an unlabelled-by-peer sample of `name` with `label`, from the text format.
fn sample(metrics: &Metrics, name: &str, label: &str) -> f64 {
    let text = metrics.render();
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} {label} in:\n{text}"))
}

/// Bytes allocated by one scrape's refresh.
fn scrape_cost(core: &Core, now: Instant) -> usize {
    // The first refresh creates the label sets; every later scrape finds them.
    core.refresh_metrics(now);
    let before = allocated();
    core.refresh_metrics(now);
    allocated() - before
}

#[test]
fn a_scrape_costs_the_same_with_a_thousand_or_200_000_routes() {
    let (small, small_metrics, now) = loaded(1_000);
    let small_cost = scrape_cost(&small, now);
    let (large, large_metrics, now) = loaded(200_000);
    let large_cost = scrape_cost(&large, now);
    // The gauges are right: every learned prefix plus our own.
    let routes = |m: &Metrics| sample(m, "bgp_rib_routes", "ipv4-unicast");
    assert_eq!(routes(&small_metrics), 1_001.0);
    assert_eq!(routes(&large_metrics), 200_001.0);
    let accepted = |m: &Metrics| sample(m, "bgp_peer_prefixes_accepted", "ipv4-unicast");
    assert_eq!(accepted(&large_metrics), 200_000.0);
    // A walk over the table would allocate a list of 200,000 routes (megabytes).
    assert!(
        large_cost <= 16 * 1024,
        "a scrape with 200,000 routes allocated {large_cost} bytes"
    );
    assert!(
        large_cost <= small_cost + 1024,
        "the cost grows with the table: {small_cost} -> {large_cost} bytes"
    );
}
