//! A neighbour's restart with the core as its helper: graceful restart (RFC 4724 §4.2) and
//! long-lived graceful restart (RFC 9494 §4.2).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{Down, DownReason, Negotiated, RetainStale};
use bgp_proto::capability::LongLivedGracefulRestartFamily;
use bgp_proto::{Community, Family, Prefix};
use rib::PeerId;
use speakerd::msg::{Input, LocalAddresses, Output};

use crate::common::negotiated;

use crate::harness::*;

/// RFC 4724 §4.2, the receiving speaker: a neighbour's session ends with graceful restart:
/// its routes stay in the kernel (stale) until it comes back with End-of-RIB; when it does
/// not within its restart time, they are removed then.
#[test]
fn graceful_restart_of_a_neighbour_keeps_its_routes_until_the_restart_time() {
    let mut h = Harness::new(&config(&neighbor_toml("198.18.0.2", true)), false);
    let peer = h.peers[0];
    h.handle(Input::StartupComplete);
    h.session_up(peer, Some(graceful_restart(&[Family::IPV4_UNICAST], false)));
    h.announce(peer, "198.19.100.0/24", BIRD);
    h.outputs();
    let down = Down {
        reason: DownReason::TransportFailed,
        was_established: true,
        retain_stale: Some(RetainStale {
            families: vec![Family::IPV4_UNICAST],
            restart_time: Duration::from_secs(60),
            long_lived: vec![],
        }),
    };
    let went_down = h.now;
    h.handle(Input::SessionDown {
        peer,
        down: Box::new(down.clone()),
    });
    let out = h.outputs();
    assert!(removed_from_kernel(&out).is_empty(), "kept stale: {out:?}");
    assert_eq!(
        h.core.poll_timeout(),
        Some(went_down + Duration::from_secs(60))
    );

    // It comes back and sends its table: the stale routes are refreshed, nothing removed.
    h.advance(Duration::from_secs(10));
    h.session_up(peer, Some(graceful_restart(&[Family::IPV4_UNICAST], true)));
    h.announce(peer, "198.19.100.0/24", BIRD);
    h.handle(Input::EndOfRib {
        peer,
        family: Family::IPV4_UNICAST,
    });
    let out = h.outputs();
    assert!(kernel_changes(&out).is_empty(), "{out:?}");
    assert_eq!(h.core.poll_timeout(), None, "the restart timer is off");

    // Down again, and this time it stays away.
    h.handle(Input::SessionDown {
        peer,
        down: Box::new(down),
    });
    h.outputs();
    h.advance_to_deadline();
    let out = h.outputs();
    assert_eq!(
        kernel_changes(&out),
        vec![(prefix("198.19.100.0/24"), vec![])],
        "removed at the restart time"
    );
}

/// The neighbour's capabilities: Graceful Restart for IPv4 with the F bit `forwarding`, and
/// Long-Lived Graceful Restart for IPv4 (stale time `long_lived`, same F bit) when given.
fn restart_capabilities(forwarding: bool, long_lived: Option<u32>) -> Negotiated {
    let mut gr = graceful_restart(&[Family::IPV4_UNICAST], false);
    gr.families[0].forwarding_preserved = forwarding;
    let mut n = negotiated(Some(gr));
    n.peer_long_lived = long_lived
        .map(|stale_time| LongLivedGracefulRestartFamily {
            family: Family::IPV4_UNICAST,
            forwarding_preserved: forwarding,
            stale_time,
        })
        .into_iter()
        .collect();
    n
}

fn up_with(h: &mut Harness, peer: PeerId, negotiated: Negotiated) {
    h.handle(Input::SessionUp {
        peer,
        negotiated: Box::new(negotiated),
        local: LocalAddresses {
            session: Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))),
            other_family: None,
        },
    });
}

/// The transport failed; graceful restart keeps IPv4 for `restart` seconds, then long-lived
/// for `long_lived` seconds.
fn transport_failed(h: &mut Harness, peer: PeerId, restart: u64, long_lived: Option<u64>) {
    let down = Down {
        reason: DownReason::TransportFailed,
        was_established: true,
        retain_stale: Some(RetainStale {
            families: if restart > 0 {
                vec![Family::IPV4_UNICAST]
            } else {
                vec![]
            },
            restart_time: Duration::from_secs(restart),
            long_lived: long_lived
                .map(|s| (Family::IPV4_UNICAST, Duration::from_secs(s)))
                .into_iter()
                .collect(),
        }),
    };
    h.handle(Input::SessionDown {
        peer,
        down: Box::new(down),
    });
}

/// The neighbour's table is complete: End-of-RIB for IPv4.
fn end_of_rib(h: &mut Harness, peer: PeerId) {
    h.handle(Input::EndOfRib {
        peer,
        family: Family::IPV4_UNICAST,
    });
}

fn withdrawn_to(outputs: &[Output], peer: PeerId) -> Vec<Prefix> {
    updates_to(outputs, peer)
        .into_iter()
        .flat_map(|u| u.withdrawn.into_iter().map(|n| n.prefix))
        .collect()
}

const POD: &str = "198.19.100.0/24";

/// The prefixes these outputs remove from the kernel (the kernel writer skips the changes
/// that leave a route's next hops as they are).
fn removed_from_kernel(outputs: &[Output]) -> Vec<Prefix> {
    kernel_changes(outputs)
        .into_iter()
        .filter(|(_, hops)| hops.is_empty())
        .map(|(p, _)| p)
        .collect()
}

/// RFC 9494 §4.2-§4.3: past the restart time the routes stay in the kernel as long-lived
/// stale, are re-sent with LLGR_STALE to a neighbour that has the capability and withdrawn
/// from one that does not, and leave at the end of the long-lived stale time.
#[test]
fn long_lived_stale_routes_outlive_the_restart_time_until_their_stale_time() {
    let neighbours = ["198.18.0.2", "198.18.0.3", "198.18.0.4"]
        .map(|a| neighbor_toml(a, true))
        .concat();
    let mut h = Harness::new(&config(&neighbours), false);
    let [tor, helper, plain] = [h.peers[0], h.peers[1], h.peers[2]];
    h.handle(Input::StartupComplete);
    up_with(&mut h, tor, restart_capabilities(true, Some(600)));
    up_with(&mut h, helper, restart_capabilities(true, Some(600)));
    up_with(&mut h, plain, restart_capabilities(true, None));
    h.announce(tor, POD, BIRD);
    for peer in [tor, helper, plain] {
        end_of_rib(&mut h, peer);
    }
    let out = h.outputs();
    assert!(kernel_changes(&out).contains(&(prefix(POD), vec![IpAddr::V4(BIRD)])));
    for peer in [helper, plain] {
        assert!(announced_to(&out, peer).contains(&(prefix(POD), vec![])));
        h.handle(Input::SendBufferDrained { peer });
    }

    let went_down = h.now;
    transport_failed(&mut h, tor, 60, Some(600));
    let out = h.outputs();
    assert!(removed_from_kernel(&out).is_empty(), "kept stale: {out:?}");
    assert_eq!(
        h.core.poll_timeout(),
        Some(went_down + Duration::from_secs(60))
    );

    h.advance_to_deadline();
    let out = h.outputs();
    assert!(
        removed_from_kernel(&out).is_empty(),
        "kept long-lived: {out:?}"
    );
    assert_eq!(
        announced_to(&out, helper),
        vec![(prefix(POD), vec![Community::LLGR_STALE])]
    );
    assert!(announced_to(&out, plain).is_empty());
    assert_eq!(withdrawn_to(&out, plain), vec![prefix(POD)]);
    assert_eq!(
        h.core.poll_timeout(),
        Some(went_down + Duration::from_secs(660))
    );
    for peer in [helper, plain] {
        h.handle(Input::SendBufferDrained { peer });
    }

    h.advance_to_deadline();
    let out = h.outputs();
    assert_eq!(removed_from_kernel(&out), vec![prefix(POD)]);
    assert_eq!(withdrawn_to(&out, helper), vec![prefix(POD)]);
}

/// RFC 9494 §4.2: with a restart time of 0 only the long-lived procedures apply: the routes
/// are kept (before, nothing was kept), long-lived at once; End-of-RIB after the neighbour
/// returns removes what it did not send again.
#[test]
fn a_restart_time_of_zero_keeps_routes_long_lived_at_once() {
    let mut h = Harness::new(&config(&neighbor_toml("198.18.0.2", true)), false);
    let tor = h.peers[0];
    h.handle(Input::StartupComplete);
    up_with(&mut h, tor, restart_capabilities(true, Some(600)));
    h.announce(tor, POD, BIRD);
    h.announce(tor, "198.19.101.0/24", BIRD);
    end_of_rib(&mut h, tor);
    h.outputs();
    let went_down = h.now;
    transport_failed(&mut h, tor, 0, Some(600));
    let out = h.outputs();
    assert!(removed_from_kernel(&out).is_empty(), "kept: {out:?}");
    assert_eq!(
        h.core.poll_timeout(),
        Some(went_down + Duration::from_secs(600))
    );

    h.advance(Duration::from_secs(300));
    up_with(&mut h, tor, restart_capabilities(true, Some(600)));
    h.announce(tor, POD, BIRD);
    end_of_rib(&mut h, tor);
    let out = h.outputs();
    assert_eq!(removed_from_kernel(&out), vec![prefix("198.19.101.0/24")]);
    assert_eq!(h.core.poll_timeout(), None, "the stale time is over");
}

/// RFC 4724 §4.2 (and RFC 9494 §4.2 for long-lived stale routes): a neighbour that comes back
/// without the F bit for a family did not keep its forwarding state, so the stale routes go
/// at once instead of waiting for its End-of-RIB.
#[test]
fn stale_routes_go_at_once_when_the_neighbour_returns_without_forwarding_state() {
    for long_lived in [None, Some(600)] {
        let mut h = Harness::new(&config(&neighbor_toml("198.18.0.2", true)), false);
        let tor = h.peers[0];
        h.handle(Input::StartupComplete);
        up_with(&mut h, tor, restart_capabilities(true, long_lived));
        h.announce(tor, POD, BIRD);
        end_of_rib(&mut h, tor);
        h.outputs();
        transport_failed(&mut h, tor, 60, long_lived.map(u64::from));
        if long_lived.is_some() {
            h.advance_to_deadline();
        }
        let out = h.outputs();
        assert!(
            removed_from_kernel(&out).is_empty(),
            "{long_lived:?}: {out:?}"
        );

        up_with(&mut h, tor, restart_capabilities(false, long_lived));
        let out = h.outputs();
        assert_eq!(
            removed_from_kernel(&out),
            vec![prefix(POD)],
            "{long_lived:?}"
        );
        assert_eq!(h.core.poll_timeout(), None, "{long_lived:?}");
    }
}
