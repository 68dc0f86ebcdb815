//! Decoding NLRI costs no heap operation per prefix: an UPDATE with 500 prefixes costs the same
//! number of allocations and reallocations as one with a single prefix and the same attributes.
//!
//! A counting global allocator (stats_alloc, which keeps the `unsafe` of `GlobalAlloc` out of
//! this workspace) measures every heap operation; the file holds one test so that no other test
//! thread allocates while it measures.

use std::alloc::System;
use std::net::Ipv4Addr;

use bgp_proto::{
    AsPath, Community, Message, Nlri, Origin, PathAttributes, Prefix, SessionContext, Update,
};
use bytes::Bytes;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn update_with(prefixes: u32, ctx: &SessionContext) -> Bytes {
    let update = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(vec![65001, 3356, 174, 4_200_000_001])),
            next_hop: Some(Ipv4Addr::new(198, 51, 100, 1)),
            med: Some(10),
            communities: vec![Community::new(65001, 1), Community::new(65001, 2)],
            ..PathAttributes::default()
        },
        nlri: (0..prefixes)
            .map(|i| {
                let addr = Ipv4Addr::from(0x0b00_0000 + (i << 8));
                Nlri::new(Prefix::new(addr.into(), 24).expect("prefix"))
            })
            .collect(),
        ..Update::default()
    };
    Message::Update(update).to_bytes(ctx)
}

/// Heap operations (allocations and reallocations) of decoding `wire`, and the prefix count.
fn heap_ops(wire: &Bytes, ctx: &SessionContext) -> (usize, usize, usize) {
    let wire = wire.clone();
    let region = Region::new(GLOBAL);
    let msg = Message::decode(wire, ctx).expect("decodes");
    let stats = region.change();
    let Message::Update(u) = &msg else {
        panic!("not an UPDATE")
    };
    (stats.allocations, stats.reallocations, u.nlri.len())
}

#[test]
fn nlri_decoding_allocates_nothing_per_prefix() {
    let ctx = SessionContext::modern_ebgp();
    let one = update_with(1, &ctx);
    let many = update_with(500, &ctx);
    assert!(many.len() <= ctx.max_message_len());
    // Warm up whatever is allocated once per process.
    heap_ops(&one, &ctx);

    let (allocs_one, reallocs_one, n_one) = heap_ops(&one, &ctx);
    let (allocs_many, reallocs_many, n_many) = heap_ops(&many, &ctx);
    assert_eq!((n_one, n_many), (1, 500));
    assert_eq!(
        (allocs_many, reallocs_many),
        (allocs_one, reallocs_one),
        "(allocations, reallocations) of decoding 500 prefixes vs 1 prefix"
    );
}
