//! Two sessions talking through memory on a virtual clock: establishment with many capability
//! combinations, keepalive and hold timing, damping, OPEN refusals, graceful restart and the
//! send hold timer. No test sleeps.

mod common;

use std::time::Duration;

use bgp_fsm::{Action, DownReason, Event, GracefulRestartConfig, State, StopReason, Timer};
use bgp_proto::capability::AddPathFamily;
use bgp_proto::notification::{cease_subcode, code, open_subcode};
use bgp_proto::{Family, Message, RouteRefresh};
use common::{config, Pair};

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn reaches_established_and_negotiates_the_smaller_hold_time() {
    let mut a = config(4_200_000_001, [198, 18, 0, 1], 65002);
    a.hold_time = 30;
    let b = config(65002, [198, 18, 0, 2], 4_200_000_001);
    let mut pair = Pair::new(a, b);
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let n = pair.a.session.negotiated().unwrap();
    assert_eq!(n.hold_time, 30);
    assert_eq!(n.keepalive_time, 10);
    assert_eq!(n.peer_as, 65002);
    assert!(n.context.four_octet_as);
    assert!(!n.ibgp);
    assert_eq!(pair.b.session.negotiated().unwrap().peer_as, 4_200_000_001);
    // Both sides told their RIB exactly once.
    for side in [&pair.a, &pair.b] {
        let established = side
            .log
            .iter()
            .filter(|(_, a)| matches!(a, Action::Established(_)))
            .count();
        assert_eq!(established, 1);
    }
}

#[test]
fn every_capability_combination_establishes_with_the_intersection() {
    let families = [
        vec![Family::IPV4_UNICAST],
        vec![Family::IPV6_UNICAST],
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
    ];
    for bits in 0..32u32 {
        for (fa, fb) in [(0, 2), (2, 2), (1, 2), (2, 0)] {
            let mut a = config(65001, [198, 18, 0, 1], 65001);
            let mut b = config(65001, [198, 18, 0, 2], 65001);
            a.families = families[fa].clone();
            b.families = families[fb].clone();
            a.route_refresh = bits & 1 != 0;
            b.extended_message = bits & 2 != 0;
            a.extended_message = true;
            if bits & 4 != 0 {
                a.graceful_restart = Some(GracefulRestartConfig::default());
            }
            if bits & 8 != 0 {
                b.graceful_restart = Some(GracefulRestartConfig::default());
            }
            if bits & 16 != 0 {
                let ap = |send, receive| {
                    vec![AddPathFamily {
                        family: Family::IPV4_UNICAST,
                        send,
                        receive,
                    }]
                };
                a.add_path = ap(true, true);
                b.add_path = ap(true, false);
            }
            let mut pair = Pair::new(a, b);
            pair.start();
            assert!(
                pair.run_until(MINUTE, Pair::both_established),
                "bits {bits} fa {fa} fb {fb}"
            );
            let na = pair.a.session.negotiated().unwrap().clone();
            let nb = pair.b.session.negotiated().unwrap().clone();
            let expected: Vec<Family> = families[fa]
                .iter()
                .filter(|f| families[fb].contains(f))
                .copied()
                .collect();
            assert_eq!(na.families, expected);
            assert_eq!(nb.families.len(), expected.len());
            assert!(na.ibgp && nb.ibgp);
            assert_eq!(na.route_refresh, bits & 1 != 0);
            assert_eq!(nb.route_refresh, bits & 1 != 0);
            assert_eq!(na.context.extended_message, bits & 2 != 0);
            assert_eq!(na.peer_graceful_restart.is_some(), bits & 8 != 0);
            assert_eq!(nb.peer_graceful_restart.is_some(), bits & 4 != 0);
            let v4 = Family::IPV4_UNICAST;
            let add_path = bits & 16 != 0 && expected.contains(&v4);
            // b sends paths, a receives them; not the other way round.
            assert_eq!(na.context.add_path_rx.contains(v4), add_path);
            assert_eq!(nb.context.add_path_tx.contains(v4), add_path);
            assert!(!na.context.add_path_tx.contains(v4));
            assert!(!nb.context.add_path_rx.contains(v4));
        }
    }
}

#[test]
fn keepalives_flow_at_a_third_of_hold_time_with_rfc_jitter() {
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    pair.run_for(Duration::from_secs(3600));
    assert!(pair.both_established());
    for side in [&pair.a, &pair.b] {
        let times = side.keepalive_times();
        assert!(times.len() > 100, "{} keepalives in an hour", times.len());
        for w in times.windows(2).skip(1) {
            let gap = w[1] - w[0];
            // RFC 4271 §10: jitter between 75 % and 100 % of the 30 s keepalive interval.
            assert!(
                gap >= Duration::from_millis(22_500) && gap <= Duration::from_secs(30),
                "{gap:?}"
            );
        }
    }
}

#[test]
fn a_silent_peer_is_detected_exactly_at_the_hold_deadline() {
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    pair.run_for(Duration::from_secs(100));
    pair.b.mute = true;
    // The last message a received from b sets the deadline.
    let deadline = pair.a.session.timer(Timer::Hold).unwrap();
    assert!(pair.run_until(Duration::from_secs(200), |p| p.a.state()
        != State::Established));
    assert_eq!(pair.now, deadline);
    let down = pair.a.downs().pop().unwrap();
    assert_eq!(down.reason, DownReason::HoldTimerExpired);
    assert!(down.was_established);
    let n = pair.a.notifications_sent().pop().unwrap();
    assert_eq!((n.code, n.subcode), (code::HOLD_TIMER_EXPIRED, 0));
}

/// While the speaker holds the peer's bytes unread (flow control), the hold timer does not
/// expire; once nothing is pending, a silent peer is detected one hold time later.
#[test]
fn pending_input_keeps_the_hold_timer_from_expiring() {
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    pair.b.mute = true;
    let deadline = pair.a.session.timer(Timer::Hold).unwrap();
    let hold = deadline - pair.now;
    // Until past the deadline, a reports its reads paused just before each timer runs.
    while pair.now < deadline + hold {
        let next = pair.a.session.poll_timeout().unwrap();
        let now = pair.now.max(next);
        pair.a.session.handle(Event::InputPending, now);
        pair.run_for(next.saturating_duration_since(pair.now) + Duration::from_millis(1));
        assert_eq!(pair.a.state(), State::Established, "at {:?}", pair.now);
    }
    let restarted = pair.a.session.timer(Timer::Hold).unwrap();
    assert!(pair.run_until(Duration::from_secs(600), |p| p.a.state()
        != State::Established));
    assert_eq!(pair.now, restarted);
    assert_eq!(
        pair.a.downs().pop().unwrap().reason,
        DownReason::HoldTimerExpired
    );
}

#[test]
fn damping_doubles_the_idle_hold_time_up_to_the_maximum() {
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.connect_retry_time = Duration::from_secs(5);
    let mut pair = Pair::new(a, config(65002, [198, 18, 0, 2], 65001));
    pair.b_listening = false;
    pair.start();
    pair.run_for(Duration::from_secs(1000));
    // Every Connect is refused at once; the waits between attempts are the idle hold times.
    let connects: Vec<_> = pair
        .a
        .log
        .iter()
        .filter(|(_, a)| matches!(a, Action::Connect))
        .map(|(t, _)| *t)
        .collect();
    let gaps: Vec<u64> = connects
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(&gaps[..8], &[1, 2, 4, 8, 16, 32, 64, 120]);
    assert!(gaps[8..].iter().all(|g| *g == 120));
    // Once the peer listens again, the session comes up and a stable session resets the count.
    pair.b_listening = true;
    assert!(pair.run_until(Duration::from_secs(200), Pair::both_established));
    pair.run_for(Duration::from_secs(300));
    pair.b.mute = true;
    assert!(pair.run_until(Duration::from_secs(200), |p| p.a.state() == State::Idle));
    assert_eq!(pair.a.session.connect_retry_counter(), 1);
}

#[test]
fn manual_stop_sends_cease_with_the_shutdown_message_and_does_not_restart() {
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let now = pair.now;
    pair.a.session.handle(
        Event::ManualStop(Some("maintenance: node drained".into())),
        now,
    );
    pair.run_for(Duration::from_secs(600));
    assert_eq!(pair.a.state(), State::Idle);
    assert!(!pair
        .a
        .log
        .iter()
        .any(|(t, a)| *t > now && matches!(a, Action::Connect)));
    let n = pair.a.notifications_sent().pop().unwrap();
    assert_eq!(
        (n.code, n.subcode),
        (code::CEASE, cease_subcode::ADMINISTRATIVE_SHUTDOWN)
    );
    assert_eq!(n.shutdown_message(), Some("maintenance: node drained"));
    // b saw it and reports the message.
    let down = pair.b.downs().pop().unwrap();
    match down.reason {
        DownReason::NotificationReceived(n) => {
            assert_eq!(n.shutdown_message(), Some("maintenance: node drained"))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn max_prefix_stop_sends_cease_6_1_with_afi_safi_and_limit() {
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let now = pair.now;
    pair.a.session.handle(
        Event::AutomaticStop {
            reason: StopReason::MaxPrefixes {
                family: Family::IPV6_UNICAST,
                limit: 1000,
            },
            restart_after: Some(Duration::from_secs(300)),
        },
        now,
    );
    pair.run_for(Duration::from_secs(10));
    let n = pair.a.notifications_sent().pop().unwrap();
    assert_eq!(
        (n.code, n.subcode),
        (code::CEASE, cease_subcode::MAX_PREFIXES)
    );
    assert_eq!(&n.data[..], &[0, 2, 1, 0, 0, 0x03, 0xe8]);
    // It comes back after the restart interval.
    assert!(pair.run_until(Duration::from_secs(400), Pair::both_established));
    assert!(pair.now >= now + Duration::from_secs(300));
}

fn refused(
    mut a: bgp_fsm::SessionConfig,
    b: bgp_fsm::SessionConfig,
    subcode: u8,
    b_refuses_too: bool,
) {
    a.automatic_restart = false;
    let mut pair = Pair::new(a, b);
    pair.start();
    pair.run_for(Duration::from_secs(30));
    assert_ne!(pair.a.state(), State::Established);
    let sent = pair.a.notifications_sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].code, sent[0].subcode),
        (code::OPEN_MESSAGE, subcode)
    );
    let down = pair.a.downs().pop().unwrap();
    assert!(matches!(down.reason, DownReason::ErrorSent(ref n) if n.subcode == subcode));
    let b_downs = pair.b.downs();
    let b_saw_it = b_downs.iter().any(|d| match &d.reason {
        DownReason::NotificationReceived(n) => n.subcode == subcode,
        DownReason::ErrorSent(n) => b_refuses_too && n.subcode == subcode,
        _ => false,
    });
    assert!(b_saw_it, "{b_downs:?}");
}

#[test]
fn open_refusals_send_the_right_notification() {
    // a expects AS 65099, b is 65002.
    refused(
        config(65001, [198, 18, 0, 1], 65099),
        config(65002, [198, 18, 0, 2], 65001),
        open_subcode::BAD_PEER_AS,
        false,
    );
    // b proposes a hold time a finds too short.
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.min_hold_time = 10;
    let mut b = config(65002, [198, 18, 0, 2], 65001);
    b.hold_time = 6;
    refused(a, b, open_subcode::UNACCEPTABLE_HOLD_TIME, false);
    // iBGP with the same identifier.
    refused(
        config(65001, [198, 18, 0, 1], 65001),
        config(65001, [198, 18, 0, 1], 65001),
        open_subcode::BAD_BGP_IDENTIFIER,
        true,
    );
    // a requires IPv6 unicast, b offers only IPv4.
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.required_families = vec![Family::IPV6_UNICAST];
    let mut b = config(65002, [198, 18, 0, 2], 65001);
    b.families = vec![Family::IPV4_UNICAST];
    refused(a, b, open_subcode::UNSUPPORTED_CAPABILITY, false);
}

#[test]
fn unsupported_capability_notification_lists_the_missing_family() {
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.required_families = vec![Family::IPV6_UNICAST];
    a.automatic_restart = false;
    let mut b = config(65002, [198, 18, 0, 2], 65001);
    b.families = vec![Family::IPV4_UNICAST];
    let mut pair = Pair::new(a, b);
    pair.start();
    pair.run_for(Duration::from_secs(30));
    let n = pair.a.notifications_sent().pop().unwrap();
    // Capability 1, length 4, AFI 2, reserved, SAFI 1.
    assert_eq!(&n.data[..], &[1, 4, 0, 2, 0, 1]);
}

#[test]
fn graceful_restart_keeps_routes_on_transport_loss_and_reports_end_of_rib() {
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.graceful_restart = Some(GracefulRestartConfig::default());
    let mut b = config(65002, [198, 18, 0, 2], 65001);
    b.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 90,
        ..Default::default()
    });
    let mut pair = Pair::new(a, b);
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    // b sends End-of-RIB for both families; a reports them.
    let now = pair.now;
    pair.b
        .session
        .send_end_of_rib(Family::IPV4_UNICAST, now)
        .unwrap();
    pair.b
        .session
        .send_end_of_rib(Family::IPV6_UNICAST, now)
        .unwrap();
    pair.run_for(Duration::from_secs(1));
    let eors: Vec<Family> = pair
        .a
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::EndOfRib(f) => Some(*f),
            _ => None,
        })
        .collect();
    assert_eq!(eors, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    // The TCP connection breaks: a keeps b's routes as stale for b's restart time.
    let now = pair.now;
    pair.connected = false;
    pair.a.session.handle(Event::TcpConnectionFails, now);
    pair.settle();
    let down = pair.a.downs().pop().unwrap();
    let retain = down.retain_stale.expect("graceful restart applies");
    assert_eq!(
        retain.families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    assert_eq!(retain.restart_time, Duration::from_secs(90));
}

/// RFC 9494 §4.2: with the LLGR capability beside GR, the routes are kept for the restart time
/// and then for the long-lived stale time; with a restart time of 0, for the long-lived stale
/// time alone (before LLGR, a restart time of 0 kept nothing).
#[test]
fn long_lived_graceful_restart_keeps_routes_after_the_restart_time_or_instead_of_it() {
    for restart_time in [90, 0] {
        let mut a = config(65001, [198, 18, 0, 1], 65002);
        a.graceful_restart = Some(GracefulRestartConfig {
            long_lived_stale_time: Some(60),
            ..Default::default()
        });
        let mut b = config(65002, [198, 18, 0, 2], 65001);
        b.graceful_restart = Some(GracefulRestartConfig {
            restart_time,
            long_lived_stale_time: Some(3600),
            ..Default::default()
        });
        let mut pair = Pair::new(a, b);
        pair.start();
        assert!(pair.run_until(MINUTE, Pair::both_established));
        let negotiated = pair.a.session.negotiated().unwrap().clone();
        assert_eq!(negotiated.peer_long_lived.len(), 2);
        let now = pair.now;
        pair.connected = false;
        pair.a.session.handle(Event::TcpConnectionFails, now);
        pair.settle();
        let retain = pair.a.downs().pop().unwrap().retain_stale;
        let retain = retain.expect("long-lived graceful restart applies");
        let both = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        let expected_gr = if restart_time == 0 {
            vec![]
        } else {
            both.clone()
        };
        assert_eq!(retain.families, expected_gr);
        assert_eq!(
            retain.long_lived,
            vec![
                (Family::IPV4_UNICAST, Duration::from_secs(3600)),
                (Family::IPV6_UNICAST, Duration::from_secs(3600))
            ]
        );
        assert_eq!(retain.kept_families(), both);
    }

    // RFC 9494 §5: a speaker that does not offer LLGR itself does not act on the peer's.
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.graceful_restart = Some(GracefulRestartConfig::default());
    let mut b = config(65002, [198, 18, 0, 2], 65001);
    b.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 0,
        long_lived_stale_time: Some(3600),
        ..Default::default()
    });
    let mut pair = Pair::new(a, b);
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    assert!(pair
        .a
        .session
        .negotiated()
        .unwrap()
        .peer_long_lived
        .is_empty());
    let now = pair.now;
    pair.a.session.handle(Event::TcpConnectionFails, now);
    pair.settle();
    assert_eq!(pair.a.downs().pop().unwrap().retain_stale, None);
}

#[test]
fn graceful_restart_does_not_apply_to_an_administrative_stop_or_without_the_capability() {
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.graceful_restart = Some(GracefulRestartConfig::default());
    let mut pair = Pair::new(a, config(65002, [198, 18, 0, 2], 65001));
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let now = pair.now;
    pair.a.session.handle(Event::TcpConnectionFails, now);
    pair.settle();
    assert_eq!(pair.a.downs().pop().unwrap().retain_stale, None);

    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.graceful_restart = Some(GracefulRestartConfig::default());
    let mut b = config(65002, [198, 18, 0, 2], 65001);
    b.graceful_restart = Some(GracefulRestartConfig::default());
    let mut pair = Pair::new(a, b);
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let now = pair.now;
    pair.a.session.handle(Event::ManualStop(None), now);
    pair.settle();
    assert_eq!(pair.a.downs().pop().unwrap().retain_stale, None);
}

#[test]
fn notification_with_n_bit_keeps_routes_but_hard_reset_does_not() {
    for (reason, kept) in [
        (StopReason::AdministrativeReset(None), true),
        (StopReason::HardReset, false),
    ] {
        let mut a = config(65001, [198, 18, 0, 1], 65002);
        a.graceful_restart = Some(GracefulRestartConfig::default());
        let mut b = config(65002, [198, 18, 0, 2], 65001);
        b.graceful_restart = Some(GracefulRestartConfig::default());
        let mut pair = Pair::new(a, b);
        pair.start();
        assert!(pair.run_until(MINUTE, Pair::both_established));
        let now = pair.now;
        pair.b.session.handle(
            Event::AutomaticStop {
                reason,
                restart_after: None,
            },
            now,
        );
        pair.run_for(Duration::from_secs(1));
        let down = pair.a.downs().pop().unwrap();
        assert!(matches!(down.reason, DownReason::NotificationReceived(_)));
        assert_eq!(down.retain_stale.is_some(), kept);
    }
}

#[test]
fn a_peer_that_stops_reading_is_closed_at_the_send_hold_deadline() {
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let blocked_at = pair.now;
    pair.a.session.handle(Event::SendBlocked, blocked_at);
    // Default: max(8 minutes, 2 × 90 s).
    assert_eq!(
        pair.a.session.timer(Timer::SendHold),
        Some(blocked_at + Duration::from_secs(480))
    );
    // Progress restarts it; the peer then stops reading for good.
    pair.run_for(Duration::from_secs(100));
    let progress_at = pair.now;
    pair.a
        .session
        .handle(Event::SendProgress { drained: false }, progress_at);
    assert!(pair.run_until(Duration::from_secs(600), |p| p.a.state()
        != State::Established));
    assert_eq!(pair.now, progress_at + Duration::from_secs(480));
    assert_eq!(
        pair.a.downs().pop().unwrap().reason,
        DownReason::SendHoldTimerExpired
    );
    let n = pair.a.notifications_sent().pop().unwrap();
    assert_eq!(n.code, code::SEND_HOLD_TIMER_EXPIRED);
}

#[test]
fn route_refresh_requests_reach_the_rib_only_when_negotiated() {
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let now = pair.now;
    pair.b
        .session
        .send_route_refresh(RouteRefresh::request(Family::IPV6_UNICAST), now)
        .unwrap();
    let borr = RouteRefresh {
        family: Family::IPV4_UNICAST,
        subtype: 1,
    };
    pair.b.session.send_route_refresh(borr, now).unwrap();
    pair.run_for(Duration::from_secs(1));
    let refreshes: Vec<RouteRefresh> = pair
        .a
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::RouteRefresh(r) => Some(*r),
            _ => None,
        })
        .collect();
    assert_eq!(
        refreshes,
        vec![RouteRefresh::request(Family::IPV6_UNICAST), borr]
    );

    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.route_refresh = false;
    let mut pair = Pair::new(a, config(65002, [198, 18, 0, 2], 65001));
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let now = pair.now;
    pair.b
        .session
        .send_route_refresh(RouteRefresh::request(Family::IPV4_UNICAST), now)
        .unwrap();
    pair.run_for(Duration::from_secs(1));
    assert!(!pair
        .a
        .log
        .iter()
        .any(|(_, a)| matches!(a, Action::RouteRefresh(_))));
    assert!(pair.both_established());
}

#[test]
fn updates_are_delivered_and_malformed_ones_reset_with_the_codec_notification() {
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let now = pair.now;
    let mut update = bgp_proto::Update::default();
    update.attributes.origin = Some(bgp_proto::Origin::Igp);
    update.attributes.as_path = Some(bgp_proto::AsPath::from_sequence(vec![65002]));
    update.attributes.next_hop = Some("198.18.0.2".parse().unwrap());
    update.nlri = vec![bgp_proto::Nlri::new("10.244.1.0/24".parse().unwrap())];
    let ctx = pair.b.session.negotiated().unwrap().context;
    pair.b
        .session
        .send_updates(Message::Update(update.clone()).to_bytes(&ctx), now)
        .unwrap();
    pair.run_for(Duration::from_secs(1));
    let delivered: Vec<_> = pair
        .a
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Update(u) => Some((**u).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![update]);

    // An UPDATE whose Total Path Attribute Length overruns the message: 3/1 and down.
    let mut bad = vec![0xff; 16];
    bad.extend_from_slice(&[0, 27, 2, 0, 0, 0, 8, 0x40, 1, 1, 0]);
    let now = pair.now;
    pair.b
        .session
        .send_updates(bytes::Bytes::from(bad), now)
        .unwrap();
    pair.run_for(Duration::from_secs(1));
    let n = pair.a.notifications_sent().pop().unwrap();
    assert_eq!((n.code, n.subcode), (code::UPDATE_MESSAGE, 1));
    assert!(matches!(
        pair.a.downs().pop().unwrap().reason,
        DownReason::ErrorSent(_)
    ));
}

#[test]
fn delay_open_waits_for_the_peer_open() {
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.delay_open = Some(Duration::from_secs(5));
    let mut b = config(65002, [198, 18, 0, 2], 65001);
    b.delay_open = Some(Duration::from_secs(5));
    let mut pair = Pair::new(a, b);
    pair.start();
    // Both wait; the first DelayOpenTimer to fire sends OPEN, the other answers at once.
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let first_open_a = pair
        .a
        .sent
        .iter()
        .find(|(_, m)| matches!(m, Message::Open(_)))
        .unwrap()
        .0;
    let first_open_b = pair
        .b
        .sent
        .iter()
        .find(|(_, m)| matches!(m, Message::Open(_)))
        .unwrap()
        .0;
    assert_eq!(
        first_open_a.min(first_open_b),
        pair.start + Duration::from_secs(5)
    );
    assert_eq!(first_open_a, first_open_b);
}

#[test]
fn send_is_refused_before_established() {
    let pair = Pair::default_ebgp();
    let mut session = pair.a.session;
    let err = session
        .send_end_of_rib(Family::IPV4_UNICAST, pair.now)
        .unwrap_err();
    assert_eq!(err.0, State::Idle);
}

#[test]
fn an_unexpected_message_is_named_in_the_fsm_error() {
    // RFC 6608 §4: the data of 5/1, 5/2 and 5/3 is the type of the unexpected message.
    let mut pair = Pair::default_ebgp();
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let now = pair.now;
    let open = bgp_proto::Open::new(65002, 90, "198.18.0.2".parse().unwrap(), Vec::new());
    let ctx = pair.b.session.negotiated().unwrap().context;
    pair.b
        .session
        .send_updates(Message::Open(open).to_bytes(&ctx), now)
        .unwrap();
    pair.run_for(Duration::from_secs(1));
    let n = pair.a.notifications_sent().pop().unwrap();
    assert_eq!((n.code, n.subcode), (code::FSM, 3));
    assert_eq!(&n.data[..], &[1u8][..]);
}

#[test]
fn monitor_hands_out_the_octets_of_each_update_and_both_opens() {
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.monitor = true;
    let b = config(65002, [198, 18, 0, 2], 65001);
    let mut pair = Pair::new(a, b);
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    // The OPENs as written by one side are the OPENs as received by the other.
    assert_eq!(
        pair.a.session.received_open(),
        Some(&pair.b.session.sent_open())
    );
    assert_eq!(
        pair.b.session.received_open(),
        Some(&pair.a.session.sent_open())
    );
    let mut update = bgp_proto::Update::default();
    update.attributes.origin = Some(bgp_proto::Origin::Igp);
    update.attributes.as_path = Some(bgp_proto::AsPath::from_sequence(vec![65002]));
    update.attributes.next_hop = Some("198.18.0.2".parse().unwrap());
    update.nlri = vec![bgp_proto::Nlri::new("10.244.1.0/24".parse().unwrap())];
    let ctx = pair.b.session.negotiated().unwrap().context;
    let wire = Message::Update(update).to_bytes(&ctx);
    let eor = Message::Update(bgp_proto::Update::end_of_rib(Family::IPV4_UNICAST)).to_bytes(&ctx);
    let now = pair.now;
    let both = [&wire[..], &eor[..]].concat();
    pair.b
        .session
        .send_updates(bytes::Bytes::from(both), now)
        .unwrap();
    pair.run_for(Duration::from_secs(1));
    let kinds: Vec<&str> = pair
        .a
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Received(raw) if raw == &wire => Some("received update"),
            Action::Received(raw) if raw == &eor => Some("received eor"),
            Action::Received(_) => Some("received other"),
            Action::Update(_) => Some("update"),
            Action::EndOfRib(_) => Some("eor"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["received update", "update", "received eor", "eor"]);
    // Without monitor (side b), nothing of the kind.
    assert!(!pair
        .b
        .log
        .iter()
        .any(|(_, a)| matches!(a, Action::Received(_))));
}

/// `record` (a message log, RFC 6396 §4.4): the octets of every message received, in order and
/// from the first (the OPEN, then the KEEPALIVE of OpenConfirm), each before what it leads to;
/// what the other side sent is exactly what was recorded.
#[test]
fn record_hands_out_every_received_message_before_it_is_handled() {
    let mut a = config(65001, [198, 18, 0, 1], 65002);
    a.record = true;
    let b = config(65002, [198, 18, 0, 2], 65001);
    let mut pair = Pair::new(a, b);
    pair.start();
    assert!(pair.run_until(MINUTE, Pair::both_established));
    let eor = Message::Update(bgp_proto::Update::end_of_rib(Family::IPV4_UNICAST))
        .to_bytes(&pair.b.session.negotiated().unwrap().context);
    let now = pair.now;
    pair.b.session.send_updates(eor.clone(), now).unwrap();
    pair.run_for(Duration::from_secs(1));
    let recorded: Vec<&bytes::Bytes> = pair
        .a
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Recorded(raw) => Some(raw),
            _ => None,
        })
        .collect();
    let sent: Vec<bytes::Bytes> = pair
        .b
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Send(raw) => Some(raw.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(recorded.len(), sent.len(), "{recorded:?}");
    assert!(recorded.iter().zip(&sent).all(|(r, s)| *r == s));
    assert_eq!(recorded[0][18], 1, "the OPEN first");
    assert_eq!(recorded[1][18], 4, "then the KEEPALIVE");
    // The End-of-RIB is recorded just before it is handled.
    let position = |f: &dyn Fn(&Action) -> bool| pair.a.log.iter().position(|(_, a)| f(a));
    let recorded_eor = position(&|a| matches!(a, Action::Recorded(r) if *r == eor)).unwrap();
    let handled_eor = position(&|a| matches!(a, Action::EndOfRib(_))).unwrap();
    assert_eq!(recorded_eor + 1, handled_eor);
    assert!(!pair
        .b
        .log
        .iter()
        .any(|(_, a)| matches!(a, Action::Recorded(_))));
}
