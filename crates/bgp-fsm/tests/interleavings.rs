//! Property: whatever happens to the network for a while — bytes delivered in any order across
//! connections (but in order within one, and cut into arbitrary chunks), delayed while timers
//! run, connections cut at any point, whole connections replayed as stale duplicates — once it
//! heals (everything delivered, no more faults), two `Peer`s with random valid configurations
//! end up Established on the same connection within bounded virtual time, and nothing panics.

mod peernet;

use std::time::{Duration, Instant};

use bgp_fsm::{GracefulRestartConfig, SessionConfig};
use peernet::{config, Net};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Side {
    hold_time: u16,
    keepalive_time: Option<u16>,
    connect_retry: u64,
    delay_open: Option<u64>,
    graceful_restart: bool,
    route_refresh: bool,
    extended_message: bool,
    seed: u64,
}

fn side() -> impl Strategy<Value = Side> {
    (
        prop_oneof![1 => Just(0u16), 4 => 3u16..=240],
        proptest::option::weighted(0.3, 1u16..=100),
        1u64..=120,
        proptest::option::weighted(0.3, 1u64..=10),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(hold_time, keepalive_time, connect_retry, delay_open, gr, rr, ext, seed)| Side {
                hold_time,
                keepalive_time,
                connect_retry,
                delay_open,
                graceful_restart: gr,
                route_refresh: rr,
                extended_message: ext,
                seed,
            },
        )
}

impl Side {
    fn config(&self, local_as: u32, id: [u8; 4], peer_as: u32, passive: bool) -> SessionConfig {
        let mut c = config(local_as, id, peer_as);
        c.hold_time = self.hold_time;
        c.keepalive_time = self.keepalive_time;
        c.connect_retry_time = Duration::from_secs(self.connect_retry);
        c.delay_open = self.delay_open.map(Duration::from_secs);
        c.passive = passive;
        c.graceful_restart = self.graceful_restart.then(GracefulRestartConfig::default);
        c.route_refresh = self.route_refresh;
        c.extended_message = self.extended_message;
        c.jitter_seed = self.seed;
        c
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Deliver the next segment of one of the directions with bytes in flight, possibly only
    /// its first bytes.
    Deliver { pick: usize, split: Option<usize> },
    /// Time passes (timers fire) while nothing is delivered.
    Stall(u64),
    /// Fire the next timer deadline.
    Fire,
    /// Reset one of the live connections.
    Cut(usize),
    /// Replay one of the connections so far as a stale duplicate.
    Replay(usize),
}

fn op(replays: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<usize>(), proptest::option::weighted(0.3, 1usize..64))
            .prop_map(|(pick, split)| Op::Deliver { pick, split }),
        2 => (1u64..300_000).prop_map(Op::Stall),
        2 => Just(Op::Fire),
        1 => any::<usize>().prop_map(Op::Cut),
        replays => any::<usize>().prop_map(Op::Replay),
    ]
}

#[derive(Clone, Debug)]
struct Scenario {
    a: Side,
    b: Side,
    /// 0: a passive, 1: b passive, 2: neither.
    passive: u8,
    ibgp: bool,
    a_higher: bool,
    /// b starts this many milliseconds after a.
    b_late: u64,
    ops: Vec<Op>,
}

fn scenario(replays: u32) -> impl Strategy<Value = Scenario> {
    (
        side(),
        side(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0u64), 0u64..30_000],
        proptest::collection::vec(op(replays), 0..80),
    )
        .prop_map(|(a, b, passive, ibgp, a_higher, b_late, ops)| Scenario {
            a,
            b,
            passive,
            ibgp,
            a_higher,
            b_late,
            ops,
        })
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let (low, high) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let (a_id, b_id) = if s.a_higher { (high, low) } else { (low, high) };
    let (a_as, b_as) = if s.ibgp {
        (65001, 65001)
    } else {
        (65001, 65002)
    };
    let a = s.a.config(a_as, a_id, b_as, s.passive == 0);
    let b = s.b.config(b_as, b_id, a_as, s.passive == 1);
    let mut net = Net::new(a, b, Instant::now());
    net.start(0);
    net.stall(Duration::from_millis(s.b_late));
    net.start(1);

    for op in &s.ops {
        match op {
            Op::Deliver { pick, split } => {
                let pending = net.pending();
                if !pending.is_empty() {
                    let (i, end) = pending[pick % pending.len()];
                    net.deliver(i, end, *split);
                }
            }
            Op::Stall(ms) => net.stall(Duration::from_millis(*ms)),
            Op::Fire => {
                let limit = net.now + Duration::from_secs(600);
                net.fire_next(limit);
            }
            Op::Cut(k) => {
                let live: Vec<usize> = (0..net.conns.len())
                    .filter(|i| !net.conns[*i].dead)
                    .collect();
                if !live.is_empty() {
                    net.cut(live[k % live.len()]);
                    net.process();
                }
            }
            Op::Replay(k) => {
                if !net.conns.is_empty() {
                    let i = k % net.conns.len();
                    net.replay(i);
                    net.process();
                }
            }
        }
    }

    // The network heals. Idle hold times reach 120 s, connect retry 120 s, a stale hold timer
    // 240 s: half an hour is plenty.
    let healed_at = net.now;
    let up = net.run_until(Duration::from_secs(1800), Net::both_established);
    if !up {
        if let Ok(path) = std::env::var("INTERLEAVINGS_DUMP") {
            let sessions: Vec<String> = (0..2)
                .flat_map(|side| {
                    [
                        bgp_fsm::ConnectionId::Outgoing,
                        bgp_fsm::ConnectionId::Incoming,
                    ]
                    .into_iter()
                    .map(move |c| (side, c))
                })
                .map(|(side, c)| {
                    format!(
                        "side {side} {c:?}: {:?} timers {:?} bound {:?}",
                        net.peers[side].session(c).map(|s| s.state()),
                        net.peers[side].session(c).map(|s| bgp_fsm::Timer::ALL
                            .map(|t| s.timer(t).map(|d| d - net.start))),
                        net.bound.get(&(side, c))
                    )
                })
                .collect();
            let _ = std::fs::write(
                path,
                format!(
                    "{s:#?}\nnow {:?} healed {:?}\n{sessions:#?}\npending {:?}\n{}",
                    net.now - net.start,
                    healed_at - net.start,
                    net.pending(),
                    net.dump()
                ),
            );
        }
    }
    prop_assert!(
        up,
        "not Established {:?} after healing at {:?}: a {:?} b {:?}\n{}",
        net.now - healed_at,
        healed_at - net.start,
        net.peers[0].state(),
        net.peers[1].state(),
        net.dump()
    );
    // And it stays up.
    let conn = net.established_conn();
    net.run_for(Duration::from_secs(600));
    prop_assert_eq!(net.established_conn(), conn, "{}", net.dump());
    Ok(())
}

/// 300 cases, or as many as `PROPTEST_CASES` says (for longer runs by hand).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_heals_to_established(s in scenario(0)) {
        run(&s)?;
    }

    /// With stale duplicates of whole connections too: a ghost can take the incoming slot, and
    /// only a newer connection (before Established), its FIN or its hold timer ends it.
    #[test]
    fn any_interleaving_with_replayed_connections_heals_to_established(s in scenario(1)) {
        run(&s)?;
    }
}
