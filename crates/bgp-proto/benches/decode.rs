//! Codec throughput on a realistic full-table feed, compared with bgpkit-parser in the same run.
//!
//! The feed is 1M IPv4 prefixes in 100,000 attribute sets (about 100k UPDATEs of ~10 prefixes,
//! ~10 MB), made by `../shared/bench/bgpfeed.py` (relative to the repository root) with the same
//! generator as `bgpfeed.py gen --n 1000000 --attrsets 100000`. It is not committed: the first
//! run generates it into `target/bench-data/` (the script's own `cache/` may be read-only).
//! `BGP_FEED=/path/to/feed.bin` uses another file of raw UPDATEs back to back instead.
//!
//! ```sh
//! cargo bench -p bgp-proto --bench decode
//! ```
//!
//! Benchmarks (throughput is in prefixes, so criterion prints prefixes/s; the feed's message
//! and byte counts are printed first to convert to messages/s and MB/s):
//! - `feed/decode/bgp-proto`: `frame_len` + `Message::decode` of every message;
//! - `feed/decode/bgpkit-parser`: the same frames through `bgpkit_parser::parse_bgp_message`;
//! - `feed/encode/bgp-proto`: `Message::encode` of every decoded UPDATE into one reused buffer;
//! - `pack/...`: `UpdatePacker::announce_ipv4` of the 1M prefixes, with the feed's attribute
//!   sets and with a single attribute set.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bgp_proto::{Frame, Message, Nlri, PathAttributes, SessionContext, UpdatePacker};
use bgpkit_parser::models::AsnLength;
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PREFIXES: usize = 1_000_000;
const ATTRSETS: usize = 100_000;
const NEXT_HOP: &str = "198.18.0.102";
const FIRST_AS: u32 = 65001;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The feed file, generated on first use.
fn feed_path() -> PathBuf {
    if let Some(path) = std::env::var_os("BGP_FEED") {
        return PathBuf::from(path);
    }
    let root = repo_root();
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("bench-data");
    let file = dir.join(format!(
        "feed-{PREFIXES}-{NEXT_HOP}-{FIRST_AS}-k{ATTRSETS}.bin"
    ));
    if file.exists() {
        return file;
    }
    let script_dir = root.join("../shared/bench");
    let script = script_dir.join("bgpfeed.py");
    assert!(
        script.exists(),
        "the benchmark feed generator {} is missing: it comes with the shared bench tools \
         (../shared/bench/ beside the repository); or set BGP_FEED to a file of raw UPDATEs",
        script.display()
    );
    std::fs::create_dir_all(&dir).expect("create target/bench-data");
    eprintln!(
        "generating {} with {} ...",
        file.display(),
        script.display()
    );
    // `bgpfeed.py gen` writes into cache/ beside itself; point its cache at our directory and
    // call the same function `gen` calls.
    let program = format!(
        "import sys; sys.path.insert(0, sys.argv[1]); import bgpfeed; bgpfeed.CACHE = sys.argv[2]; \
         bgpfeed.load_or_build({PREFIXES}, '{NEXT_HOP}', {FIRST_AS}, {ATTRSETS})"
    );
    let status = Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(&script_dir)
        .arg(&dir)
        .status()
        .expect("run python3 for bgpfeed.py");
    assert!(status.success(), "bgpfeed.py failed: {status}");
    assert!(file.exists(), "bgpfeed.py did not write {}", file.display());
    file
}

/// The feed cut into frames (shared slices of one buffer).
fn frames(feed: &Bytes, ctx: &SessionContext) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = feed.clone();
    while !rest.is_empty() {
        match bgp_proto::frame_len(&rest, ctx.max_message_len()) {
            Ok(Frame::Complete(len)) => out.push(rest.split_to(len)),
            other => panic!("feed is not whole BGP messages: {other:?}"),
        }
    }
    out
}

fn decode_all(feed: &Bytes, ctx: &SessionContext) -> usize {
    let mut rest = feed.clone();
    let mut prefixes = 0;
    while let Ok(Frame::Complete(len)) = bgp_proto::frame_len(&rest, ctx.max_message_len()) {
        let frame = rest.split_to(len);
        if let Ok(Message::Update(u)) = Message::decode(frame, ctx) {
            prefixes += u.nlri.len();
        }
    }
    prefixes
}

fn bgpkit_decode_all(feed: &Bytes, ctx: &SessionContext) -> usize {
    let mut rest = feed.clone();
    let mut prefixes = 0;
    while let Ok(Frame::Complete(len)) = bgp_proto::frame_len(&rest, ctx.max_message_len()) {
        let mut frame = rest.split_to(len);
        if let Ok(bgpkit_parser::models::BgpMessage::Update(u)) =
            bgpkit_parser::parser::bgp::parse_bgp_message(&mut frame, false, &AsnLength::Bits32)
        {
            prefixes += u.announced_prefixes.len();
        }
    }
    prefixes
}

fn bench_feed(c: &mut Criterion) {
    let ctx = SessionContext::modern_ebgp();
    let path = feed_path();
    let feed = Bytes::from(std::fs::read(&path).expect("read feed"));
    let frames = frames(&feed, &ctx);
    let messages: Vec<Message> = frames
        .iter()
        .map(|f| Message::decode(f.clone(), &ctx).expect("feed message decodes"))
        .collect();
    let prefixes = decode_all(&feed, &ctx);
    assert_eq!(
        bgpkit_decode_all(&feed, &ctx),
        prefixes,
        "bgpkit-parser and bgp-proto disagree on the feed"
    );
    eprintln!(
        "feed {}: {} messages, {} prefixes, {} bytes ({:.2} MB)",
        path.display(),
        frames.len(),
        prefixes,
        feed.len(),
        feed.len() as f64 / 1e6
    );

    let mut g = c.benchmark_group("feed");
    g.throughput(Throughput::Elements(prefixes as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("decode/bgp-proto", |b| {
        b.iter(|| black_box(decode_all(black_box(&feed), &ctx)))
    });
    g.bench_function("decode/bgpkit-parser", |b| {
        b.iter(|| black_box(bgpkit_decode_all(black_box(&feed), &ctx)))
    });
    let mut out = BytesMut::with_capacity(ctx.max_message_len());
    g.bench_function("encode/bgp-proto", |b| {
        b.iter(|| {
            let mut total = 0;
            for m in &messages {
                out.clear();
                m.encode(&ctx, &mut out);
                total += out.len();
            }
            black_box(total)
        })
    });

    // The packer: the feed's prefixes with its attribute sets, and all under one set.
    let sets: Vec<(&PathAttributes, &[Nlri])> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some((&u.attributes, &u.nlri[..])),
            _ => None,
        })
        .collect();
    let all: Vec<Nlri> = sets.iter().flat_map(|(_, n)| n.iter().copied()).collect();
    let mut packer = UpdatePacker::new(ctx);
    let mut wire = BytesMut::with_capacity(feed.len() + feed.len() / 4);
    g.bench_function("pack/bgp-proto/feed-attribute-sets", |b| {
        b.iter(|| {
            wire.clear();
            let mut n = 0;
            for (attrs, nlri) in &sets {
                n += packer.announce_ipv4(attrs, nlri, &mut wire).expect("packs");
            }
            black_box(n)
        })
    });
    let one_set = sets[0].0;
    g.bench_function("pack/bgp-proto/one-attribute-set", |b| {
        b.iter(|| {
            wire.clear();
            black_box(
                packer
                    .announce_ipv4(one_set, &all, &mut wire)
                    .expect("packs"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench_feed);
criterion_main!(benches);
