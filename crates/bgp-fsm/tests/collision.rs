//! Connection collisions (RFC 4271 §6.8) between two `Peer`s with both TCP connections
//! modelled, and a graceful-restart peer that comes back while we still think its old session
//! is Established (RFC 4724 §4.2). Virtual clock only.

mod peernet;

use std::time::{Duration, Instant};

use bgp_fsm::{
    Action, ConnectionId, DownReason, Event, GracefulRestartConfig, Peer, SessionConfig, State,
    StopReason,
};
use bgp_proto::notification::{cease_subcode, code};
use bgp_proto::Family;
use peernet::{config, Net};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

const LOW: [u8; 4] = [198, 18, 0, 1];
const HIGH: [u8; 4] = [198, 18, 0, 2];

fn configs(a_id: [u8; 4], b_id: [u8; 4]) -> (SessionConfig, SessionConfig) {
    (config(65001, a_id, 65002), config(65002, b_id, 65001))
}

/// Both sides start at the same instant; each connects to the other.
fn collide(a_id: [u8; 4], b_id: [u8; 4], reverse_delivery: bool) {
    let what = format!("a {a_id:?} b {b_id:?} reverse {reverse_delivery}");
    let (a, b) = configs(a_id, b_id);
    let mut net = Net::new(a, b, Instant::now());
    net.start_both();
    // Both connections are open before any byte moves.
    assert_eq!(net.conns.len(), 2, "{what}");
    if reverse_delivery {
        // The second connection's bytes first.
        while let Some(&(i, end)) = net.pending().last() {
            net.deliver(i, end, None);
        }
    }
    assert!(net.run_until(MINUTE, Net::both_established), "{what}");
    let winner = net.established_conn().unwrap();
    let higher = if a_id > b_id { 0 } else { 1 };
    assert_eq!(
        net.conns[winner].opener,
        Some(higher),
        "{what}: the connection of the higher identifier survives"
    );
    let loser = 1 - winner;

    // The loser was closed with Cease 6/7, and nothing else was ever sent as a NOTIFICATION.
    let mut collision_ceases = 0;
    for side in 0..2 {
        for (conn, n) in net.notifications(side) {
            assert_eq!(
                (conn, n.code, n.subcode),
                (
                    Some(loser),
                    code::CEASE,
                    cease_subcode::CONNECTION_COLLISION
                ),
                "{what}: side {side}"
            );
            collision_ceases += 1;
        }
        for (_, conn, down) in net.downs(side) {
            assert_eq!(conn, Some(loser), "{what}: side {side} {down:?}");
            assert!(!down.was_established, "{what}");
            let cease = match &down.reason {
                DownReason::Stopped(n) | DownReason::NotificationReceived(n) => n,
                other => panic!("{what}: side {side} down {other:?}"),
            };
            assert_eq!(cease.subcode, cease_subcode::CONNECTION_COLLISION, "{what}");
        }
    }
    assert!(collision_ceases >= 1, "{what}");

    // An hour later: the same connection, no reconnection attempt, nothing went down again.
    let up_at = net.now;
    let downs = [net.downs(0).len(), net.downs(1).len()];
    net.run_for(HOUR);
    assert_eq!(net.established_conn(), Some(winner), "{what}");
    assert_eq!(net.connects_since(0, up_at), 0, "{what}");
    assert_eq!(net.connects_since(1, up_at), 0, "{what}");
    assert_eq!([net.downs(0).len(), net.downs(1).len()], downs, "{what}");
    assert_eq!(net.conns.len(), 2, "{what}: no new connection");
    for side in 0..2 {
        let losing_slot = if net.conns[winner].opener == Some(side) {
            ConnectionId::Incoming
        } else {
            ConnectionId::Outgoing
        };
        let state = net.peers[side]
            .session(losing_slot)
            .map_or(State::Idle, |s| s.state());
        assert_eq!(state, State::Idle, "{what}: side {side} {losing_slot:?}");
        assert_eq!(net.peers[side].state(), State::Established, "{what}");
    }
}

#[test]
fn simultaneous_open_keeps_the_connection_of_the_higher_identifier() {
    for reverse in [false, true] {
        collide(LOW, HIGH, reverse);
        collide(HIGH, LOW, reverse);
    }
}

/// Every action the peer has queued.
fn drain(peer: &mut Peer) -> Vec<bgp_fsm::PeerAction> {
    std::iter::from_fn(|| peer.poll_action()).collect()
}

/// The message types of the bytes sent on `connection`.
fn sent_types(actions: &[bgp_fsm::PeerAction], connection: ConnectionId) -> Vec<u8> {
    actions
        .iter()
        .filter(|pa| pa.connection == connection)
        .filter_map(|pa| match &pa.action {
            Action::Send(bytes) => Some(bytes[18]),
            _ => None,
        })
        .collect()
}

/// RFC 4271 §6.8 and §8.2.2 (OpenCollisionDump): a side that decides a collision on the OPEN
/// it has just received closes that connection with a Cease instead of answering the OPEN with
/// a KEEPALIVE. Otherwise a peer that has not accepted our connection yet takes the losing one
/// for Established (seen as a session flap between Kubernetes nodes starting together).
#[test]
fn a_collision_decided_on_an_open_is_not_answered_with_a_keepalive() {
    let now = Instant::now();
    let (a_config, b_config) = configs(LOW, HIGH);
    // A's OPEN, as A sends it on the connection it opened.
    let mut a = Peer::new(a_config);
    a.start(now);
    a.handle(ConnectionId::Outgoing, Event::TcpCrAcked, now);
    let open = drain(&mut a)
        .into_iter()
        .find_map(|pa| match pa.action {
            Action::Send(bytes) if bytes[18] == 1 => Some(bytes),
            _ => None,
        })
        .expect("A sends its OPEN");
    // B's own connection is in OpenSent when A's connection brings that OPEN.
    let mut b = Peer::new(b_config);
    b.start(now);
    b.handle(ConnectionId::Outgoing, Event::TcpCrAcked, now);
    b.accept(now).expect("the incoming connection is taken");
    let before = drain(&mut b);
    assert_eq!(
        sent_types(&before, ConnectionId::Incoming),
        vec![1],
        "B's OPEN"
    );
    b.handle(ConnectionId::Incoming, Event::BytesReceived(open), now);
    let after = drain(&mut b);
    // B has the higher identifier: its own connection survives, A's gets only the Cease.
    assert_eq!(
        sent_types(&after, ConnectionId::Incoming),
        vec![3],
        "no KEEPALIVE before the Cease: {after:?}"
    );
    assert!(
        b.session(ConnectionId::Incoming).is_none(),
        "the losing session is gone"
    );
    assert_eq!(
        b.session(ConnectionId::Outgoing).map(|s| s.state()),
        Some(State::OpenSent)
    );
}

#[test]
fn identifiers_compare_as_unsigned_numbers() {
    // 10.0.0.1 < 192.0.2.1 < 200.0.0.1 (as host-order integers, RFC 4271 §6.8).
    collide([10, 0, 0, 1], [200, 0, 0, 1], false);
    collide([200, 0, 0, 1], [192, 0, 2, 1], true);
}

#[test]
fn a_late_peer_does_not_cause_a_reconnection_storm() {
    for (a_id, b_id) in [(LOW, HIGH), (HIGH, LOW)] {
        let (a, b) = configs(a_id, b_id);
        let mut net = Net::new(a, b, Instant::now());
        // a starts alone: its attempts are refused and back off.
        net.start(0);
        net.run_for(Duration::from_secs(10));
        assert!(net.connects_since(0, net.start) >= 3);
        net.start(1);
        assert!(net.run_until(MINUTE, Net::both_established));
        let up_at = net.now;
        let conns = net.conns.len();
        net.run_for(HOUR);
        assert!(net.both_established());
        assert_eq!(net.connects_since(0, up_at), 0, "a keeps connecting");
        assert_eq!(
            net.connects_since(1, up_at),
            0,
            "b keeps connecting\n{}",
            net.dump()
        );
        assert_eq!(net.conns.len(), conns);
    }
}

#[test]
fn the_loser_of_a_collision_does_not_restart_while_the_winner_lives_but_does_after() {
    let (a, b) = configs(LOW, HIGH);
    let mut net = Net::new(a, b, Instant::now());
    net.start_both();
    assert!(net.run_until(MINUTE, Net::both_established));
    let winner = net.established_conn().unwrap();
    // The winner breaks: the sides reconnect and agree on one connection again.
    net.cut(winner);
    net.process();
    assert!(!net.both_established());
    assert!(net.run_until(10 * MINUTE, Net::both_established));
    let up_at = net.now;
    net.run_for(HOUR);
    assert!(net.both_established());
    assert_eq!(
        net.connects_since(0, up_at) + net.connects_since(1, up_at),
        0
    );
}

fn graceful(mut c: SessionConfig) -> SessionConfig {
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 100,
        ..Default::default()
    });
    c
}

/// `b` restarts: its old connection vanishes without a FIN or RST, the new `b` connects while
/// `a` still has the old session Established.
fn graceful_restart(a_id: [u8; 4], b_id: [u8; 4]) {
    let what = format!("a {a_id:?} b {b_id:?}");
    let (a, b) = configs(a_id, b_id);
    let (a, b) = (graceful(a), graceful(b));
    let mut net = Net::new(a, b.clone(), Instant::now());
    net.start_both();
    assert!(net.run_until(MINUTE, Net::both_established), "{what}");
    let old = net.established_conn().unwrap();
    let old_slot = net.peers[0].established().unwrap();
    net.run_for(MINUTE);

    // b's process dies silently and comes back.
    net.peers[1] = Peer::new(b);
    net.bound.retain(|(side, _), _| *side != 1);
    net.transports.retain(|(side, _, _), _| *side != 1);
    let downs_before = net.downs(0).len();
    let restarted_at = net.now;
    net.start(1);
    assert!(net.run_until(MINUTE, Net::both_established), "{what}");
    let new = net.established_conn().unwrap();
    assert_ne!(new, old, "{what}");
    // Replaced at once, not after a's hold timer.
    assert!(net.now - restarted_at < Duration::from_secs(5), "{what}");

    let downs: Vec<_> = net.downs(0).into_iter().skip(downs_before).collect();
    let established_downs: Vec<_> = downs.iter().filter(|d| d.2.was_established).collect();
    assert_eq!(established_downs.len(), 1, "{what}: {downs:?}");
    // (The Down of a replaced Incoming session comes with the accept of the new connection.)
    let (slot, _, down) = established_downs[0];
    assert_eq!(*slot, old_slot, "{what}");
    assert_eq!(down.reason, DownReason::TransportFailed, "{what}");
    let retain = down.retain_stale.clone().expect("routes kept as stale");
    assert_eq!(
        retain.families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    assert_eq!(retain.restart_time, Duration::from_secs(100));
    // a never sent the restarted peer a NOTIFICATION.
    assert!(net.notifications(0).iter().all(|(c, _)| *c != Some(new)));

    // And it stays that way.
    net.run_for(HOUR);
    assert_eq!(net.established_conn(), Some(new), "{what}");
}

#[test]
fn a_restarted_graceful_peer_replaces_the_old_session_which_keeps_its_routes() {
    // a holds the old session on its Outgoing connection (a has the higher identifier) …
    graceful_restart(HIGH, LOW);
    // … or on its Incoming connection.
    graceful_restart(LOW, HIGH);
}

#[test]
fn without_graceful_restart_a_second_connection_is_refused_while_established() {
    let (a, b) = configs(LOW, HIGH);
    let mut net = Net::new(a, b, Instant::now());
    net.start_both();
    assert!(net.run_until(MINUTE, Net::both_established));
    let now = net.now;
    for side in 0..2 {
        assert_eq!(net.peers[side].accept(now), None);
    }
    net.process();
    assert!(net.both_established());
}

/// `a` connects to the passive `b`; before `a` finishes (b's incoming session is in OpenSent,
/// or in OpenConfirm once a's OPEN arrived) `a`'s process dies without a FIN or RST and comes
/// back. Its new connection replaces the half-open one at once; `b` does not wait for the old
/// one's hold timer (240 s with the OPEN still to come, the negotiated hold time after it: never
/// with hold time 0).
fn half_open_incoming_is_replaced(open_delivered: bool, hold_time: u16) {
    let what = format!("a's OPEN delivered: {open_delivered}, hold time {hold_time}");
    let (mut a, mut b) = configs(LOW, HIGH);
    a.hold_time = hold_time;
    b.hold_time = hold_time;
    b.passive = true;
    let mut net = Net::new(a.clone(), b, Instant::now());
    net.start_both();
    assert_eq!(net.conns.len(), 1, "{what}");
    if open_delivered {
        net.deliver(0, 1, None);
    }
    let old_state = if open_delivered {
        State::OpenConfirm
    } else {
        State::OpenSent
    };
    let b_incoming = |net: &Net| {
        net.peers[1]
            .session(ConnectionId::Incoming)
            .map(|s| s.state())
    };
    assert_eq!(b_incoming(&net), Some(old_state), "{what}");

    // a dies and restarts; its end of the connection is gone, with what was in flight.
    net.conns[0].queues = Default::default();
    net.conns[0].held[0] = false;
    net.peers[0] = Peer::new(a);
    net.bound.retain(|(side, _), _| *side != 0);
    net.transports.retain(|(side, _, _), _| *side != 0);
    let restarted_at = net.now;
    let logged = net.log[0].len();
    net.start(0);
    assert!(
        net.run_until(MINUTE, Net::both_established),
        "{what}\n{}",
        net.dump()
    );
    assert!(net.now - restarted_at < Duration::from_secs(5), "{what}");
    let new = net.established_conn().unwrap();
    assert_eq!(new, 1, "{what}: the new connection is the one up");
    let connects = net.log[0][logged..]
        .iter()
        .filter(|l| matches!(l.action, Action::Connect))
        .count();
    assert_eq!(connects, 1, "{what}: accepted at the first attempt");

    // The old connection got b's Cease 6/7 and its Close (a FIN); the new one no NOTIFICATION.
    let sent: Vec<_> = net
        .notifications(1)
        .into_iter()
        .map(|(conn, n)| (conn, n.code, n.subcode))
        .collect();
    let collision = (Some(0), code::CEASE, cease_subcode::CONNECTION_COLLISION);
    assert_eq!(sent, vec![collision], "{what}");
    assert!(net.conns[0].dead && !net.conns[0].held[1], "{what}");
    let downs = net.downs(1);
    assert_eq!(downs.len(), 1, "{what}: {downs:?}");
    let (slot, conn, down) = &downs[0];
    assert_eq!((*slot, *conn), (ConnectionId::Incoming, Some(0)), "{what}");
    assert!(!down.was_established, "{what}");
    assert!(
        matches!(&down.reason, DownReason::Stopped(n) if n.subcode == cease_subcode::CONNECTION_COLLISION),
        "{what}: {down:?}"
    );

    net.run_for(HOUR);
    assert_eq!(net.established_conn(), Some(new), "{what}");
}

#[test]
fn a_newer_incoming_connection_replaces_one_not_yet_established() {
    half_open_incoming_is_replaced(false, 90);
    half_open_incoming_is_replaced(true, 90);
    half_open_incoming_is_replaced(true, 0);
}

/// The incoming session fails (here its hold timer expires) and, before the driver has carried
/// out its NOTIFICATION and Close, a new connection is accepted: those actions still name the
/// old transport, and only the new session's name the new one. (The interleavings property
/// found this: the old Close went to the new connection, which then never came up.)
#[test]
fn actions_of_a_replaced_incoming_transport_name_its_generation() {
    let (mut config, _) = configs(LOW, HIGH);
    config.passive = true;
    let start = Instant::now();
    let mut peer = Peer::new(config);
    peer.start(start);
    let old = peer.accept(start).expect("taken");
    while peer.poll_action().is_some() {}
    let expiry = start + bgp_fsm::session::LARGE_HOLD_TIME;
    assert_eq!(peer.poll_timeout(), Some(expiry));
    peer.handle_timeout(expiry);
    let new = peer.accept(expiry).expect("taken");
    assert!(new > old);

    let actions: Vec<_> = std::iter::from_fn(|| peer.poll_action()).collect();
    let kinds: Vec<_> = actions
        .iter()
        .map(|pa| {
            let kind = match &pa.action {
                Action::Send(bytes) => match bytes[18] {
                    1 => "open",
                    3 => "notification",
                    _ => "other",
                },
                Action::Close => "close",
                Action::StateChanged { .. } => "state",
                Action::Down(_) => "down",
                _ => "other",
            };
            (pa.connection, pa.generation, kind)
        })
        .collect();
    let inc = ConnectionId::Incoming;
    assert_eq!(
        kinds,
        vec![
            (inc, old, "notification"),
            (inc, old, "close"),
            (inc, old, "state"),
            (inc, old, "down"),
            (inc, new, "state"),
            (inc, new, "open"),
            (inc, new, "state"),
        ]
    );
}

/// A neighbour stopped with a restart time (Cease 6/1 for a prefix limit, RFC 4486 §4, which
/// speakerd restarts after 5 minutes) stays down for that time, whichever of its connections
/// was the Established one: Idle refuses the neighbour's connections (RFC 4271 §8.2.2) and
/// opens none until its IdleHoldTimer (§8.1.1) expires; then the session comes back. The
/// neighbour, reconnecting every few seconds, was accepted at once, and our own connection
/// that had given way in the collision restarted at once too (found by the lab test
/// `prefix_flood_past_max_prefix_is_ceased_and_backed_off`: a Cease 6/1 a second).
#[test]
fn a_cease_with_a_restart_time_holds_the_neighbour_down_for_that_time() {
    for (a_id, b_id) in [(LOW, HIGH), (HIGH, LOW)] {
        let (a, b) = configs(a_id, b_id);
        let mut net = Net::new(a, b, Instant::now());
        net.start_both();
        assert!(net.run_until(MINUTE, Net::both_established));
        let ceased = net.now;
        let limit = StopReason::MaxPrefixes {
            family: Family::IPV4_UNICAST,
            limit: 10,
        };
        net.peers[0].cease(limit, 5 * MINUTE, ceased);
        net.process();
        assert!(!net.both_established());
        // 4 minutes of the 5 (`run_until` stops at the last event before its limit).
        assert!(
            !net.run_until(4 * MINUTE, Net::both_established),
            "{a_id:?}: up again {:?} after the cease\n{}",
            net.now - ceased,
            net.dump()
        );
        assert_eq!(net.connects_since(0, ceased), 0, "{a_id:?}: a connected");
        assert!(
            net.connects_since(1, ceased) >= 3,
            "{a_id:?}: b kept trying"
        );
        assert!(
            net.run_until(10 * MINUTE, Net::both_established),
            "{a_id:?}: not back after the restart time\n{}",
            net.dump()
        );
    }
}
