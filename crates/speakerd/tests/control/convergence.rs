//! What the convergence histograms are fed (`bgp_update_to_kernel_seconds`,
//! `bgp_update_to_advertisement_seconds`, `bgp_end_of_rib_convergence_seconds`): the arrival
//! time the core hands on with its kernel changes and UPDATEs, and the End-of-RIB times.

use std::time::{Duration, Instant};

use bgp_fsm::{Down, DownReason};
use bgp_proto::Family;
use speakerd::msg::{FibCommand, Input, Output, PeerCommand};

use crate::harness::*;

/// The arrival time on the kernel changes of each decision run.
fn fib_arrivals(outputs: &[Output]) -> Vec<Option<Instant>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Fib(FibCommand::Apply(_, arrived)) => Some(*arrived),
            _ => None,
        })
        .collect()
}

/// The arrival time on the UPDATEs sent to `peer`.
fn update_arrivals(outputs: &[Output], peer: rib::PeerId) -> Vec<Option<Instant>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Peer {
                peer: p,
                command: PeerCommand::Updates(_, arrived),
            } if *p == peer => Some(*arrived),
            _ => None,
        })
        .collect()
}

/// Deferred selection (RFC 4724 §4.1) gathers UPDATEs of several seconds: the kernel changes
/// and the UPDATEs that relay them carry the earliest arrival, so the histograms count the
/// whole wait; a change of our own that no UPDATE brought carries none; each neighbour's first
/// End-of-RIB of a family is timed from its Established, a repeated one is not.
#[test]
fn kernel_changes_and_relayed_updates_carry_the_earliest_arrival() {
    let extra = format!(
        "{}{}",
        neighbor_toml("198.18.0.2", true),
        neighbor_toml("198.18.0.3", true)
    );
    let mut h = Harness::new(&config(&extra), true);
    let (a, b) = (h.peers[0], h.peers[1]);
    h.handle(Input::StartupComplete);
    let up = h.now;
    for peer in [a, b] {
        h.session_up(peer, Some(graceful_restart(&[Family::IPV4_UNICAST], false)));
    }
    let first = h.now;
    h.announce(a, "198.19.100.0/24", BIRD);
    h.advance(Duration::from_secs(2));
    h.announce(a, "198.19.101.0/24", BIRD);
    h.advance(Duration::from_secs(3));
    assert!(h.outputs().is_empty(), "deferred until End-of-RIB");
    for peer in [a, b] {
        h.handle(Input::EndOfRib {
            peer,
            family: Family::IPV4_UNICAST,
        });
    }
    let out = h.outputs();
    assert_eq!(fib_arrivals(&out), vec![Some(first)], "{out:?}");
    assert_eq!(
        kernel_changes(&out).len(),
        3,
        "our prefix and the two learned"
    );
    assert_eq!(update_arrivals(&out, b), vec![Some(first)], "relayed to b");
    // a gets only our prefix, but from the same decision run: the run's arrival (the tag is
    // per run and neighbour, not per prefix).
    assert_eq!(update_arrivals(&out, a), vec![Some(first)]);

    let eor = h
        .metrics
        .end_of_rib_convergence_seconds
        .with_label_values(&["ipv4-unicast"]);
    assert_eq!(eor.get_sample_count(), 2);
    let waited = (h.now - up).as_secs_f64();
    assert!(
        (eor.get_sample_sum() - 2.0 * waited).abs() < 1e-6,
        "{}",
        eor.get_sample_sum()
    );
    h.handle(Input::EndOfRib {
        peer: a,
        family: Family::IPV4_UNICAST,
    });
    assert_eq!(
        eor.get_sample_count(),
        2,
        "a repeated End-of-RIB is not timed"
    );

    // Selection no longer deferred: the next UPDATE's change carries its own arrival.
    for peer in [a, b] {
        h.handle(Input::SendBufferDrained { peer });
    }
    h.advance(Duration::from_secs(1));
    let at = h.now;
    h.announce(a, "198.19.102.0/24", BIRD);
    let out = h.outputs();
    assert_eq!(fib_arrivals(&out), vec![Some(at)], "{out:?}");
    assert_eq!(update_arrivals(&out, b), vec![Some(at)]);
    assert_eq!(update_arrivals(&out, a), vec![], "not back to a");

    // a's session ends and its routes are not kept (no graceful restart): they leave the
    // kernel and b, and no UPDATE is behind that.
    h.handle(Input::SendBufferDrained { peer: b });
    let down = Down {
        reason: DownReason::TransportFailed,
        was_established: true,
        retain_stale: None,
    };
    h.handle(Input::SessionDown {
        peer: a,
        down: Box::new(down),
    });
    let out = h.outputs();
    assert_eq!(fib_arrivals(&out), vec![None], "{out:?}");
    assert_eq!(update_arrivals(&out, b), vec![None]);
}
