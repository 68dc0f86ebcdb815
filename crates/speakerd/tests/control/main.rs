//! The control core on a virtual clock: no sockets, no kernel, no root. Each test builds a
//! [`Core`] from a real configuration, plays the inputs the neighbour tasks, the Kubernetes
//! watcher and the daemon would send, jumps the clock to the deadlines the core asks for, and
//! checks every output: the commands to the neighbours (the UPDATEs decoded), the kernel
//! changes and the Node Events.

#[path = "../common/mod.rs"]
mod common;
mod convergence;
mod harness;
mod restart;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_fsm::{Down, DownReason, State, StopReason};
use bgp_proto::{
    route_refresh, AsPath, Community, Family, Nlri, Origin, PathAttributes, Prefix, RouteRefresh,
    Update,
};
use common::{negotiated, PEER_AS};
use harness::*;
use rib::PeerId;
use speakerd::config::Config;
use speakerd::control::{shutdown_without_notification, BFD_WAIT, STARTUP_LIMIT};
use speakerd::msg::{
    BfdCommand, DownCause, Input, LocalAddresses, NodeEvent, NodeRoutes, Output, PeerCommand,
};

/// A fresh start (no kernel routes of a previous run): routes are selected and installed as
/// they arrive, but End-of-RIB waits for the startup gate, and the initial sync (leftover
/// removal, `/readyz`) for the neighbour's End-of-RIB.
#[test]
fn fresh_start_installs_at_once_and_sends_end_of_rib_after_the_startup_gate() {
    let mut h = Harness::new(&config(&neighbor_toml("198.18.0.2", false)), false);
    let peer = h.peers[0];
    h.session_up(peer, None);
    h.announce(peer, "198.19.100.0/24", BIRD);
    let out = h.outputs();
    assert_eq!(
        kernel_changes(&out),
        vec![
            (prefix("198.19.1.0/24"), vec![]),
            (prefix("198.19.100.0/24"), vec![IpAddr::V4(BIRD)])
        ],
        "{out:?}"
    );
    assert_eq!(
        announced_to(&out, peer)
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        vec![prefix("198.19.1.0/24")]
    );
    assert!(
        !end_of_rib_to(&out, peer),
        "no End-of-RIB before startup: {out:?}"
    );
    assert!(!h.core.ready());
    // The neighbour's task wrote the UPDATEs: the next may go.
    h.handle(Input::SendBufferDrained { peer });

    h.handle(Input::StartupComplete);
    let out = h.outputs();
    assert!(end_of_rib_to(&out, peer), "{out:?}");
    assert!(!synced(&out), "the neighbour's End-of-RIB is still awaited");

    h.handle(Input::EndOfRib {
        peer,
        family: Family::IPV4_UNICAST,
    });
    let out = h.outputs();
    assert!(synced(&out), "{out:?}");
    assert!(h.core.ready());
    assert_eq!(h.core.poll_timeout(), None, "nothing left to time");
}

/// RFC 4724 §4.1: a restarted speakerd (its kernel still holds the previous run's routes)
/// stores what the neighbour sends but selects, installs and advertises nothing until the
/// neighbour's End-of-RIB; then one decision, the updates, End-of-RIB, and the sync.
#[test]
fn restart_with_preserved_routes_defers_selection_until_end_of_rib() {
    let mut h = Harness::new(&config(&neighbor_toml("198.18.0.2", true)), true);
    let peer = h.peers[0];
    h.handle(Input::StartupComplete);
    h.session_up(peer, Some(graceful_restart(&[Family::IPV4_UNICAST], false)));
    h.announce(peer, "198.19.100.0/24", BIRD);
    h.advance(Duration::from_secs(5));
    let out = h.outputs();
    assert!(
        out.is_empty(),
        "deferred: nothing selected or sent: {out:?}"
    );
    assert!(h.core.rib().lookup(&prefix("198.19.100.0/24")).is_none());

    h.handle(Input::EndOfRib {
        peer,
        family: Family::IPV4_UNICAST,
    });
    let out = h.outputs();
    assert_eq!(kernel_changes(&out).len(), 2, "{out:?}");
    assert_eq!(announced_to(&out, peer).len(), 1);
    assert!(end_of_rib_to(&out, peer));
    assert!(synced(&out));
}

/// The deferral has a limit: with one of two neighbours never coming up, selection runs and
/// the sync completes when the Selection_Deferral_Timer ([`STARTUP_LIMIT`]) expires, not
/// before.
#[test]
fn deferral_ends_at_its_limit_when_a_neighbour_never_comes_up() {
    let extra = format!(
        "{}{}",
        neighbor_toml("198.18.0.2", true),
        neighbor_toml("198.18.0.3", true)
    );
    let mut h = Harness::new(&config(&extra), true);
    let started = h.now;
    let (up, never) = (h.peers[0], h.peers[1]);
    h.handle(Input::StartupComplete);
    h.session_up(up, Some(graceful_restart(&[Family::IPV4_UNICAST], false)));
    h.announce(up, "198.19.100.0/24", BIRD);
    h.handle(Input::EndOfRib {
        peer: up,
        family: Family::IPV4_UNICAST,
    });
    assert!(
        h.outputs().is_empty(),
        "still waiting for the second neighbour"
    );
    assert_eq!(h.core.poll_timeout(), Some(started + STARTUP_LIMIT));

    let deadline = h.advance_to_deadline();
    assert_eq!(deadline - started, STARTUP_LIMIT);
    let out = h.outputs();
    assert_eq!(kernel_changes(&out).len(), 2, "{out:?}");
    assert!(end_of_rib_to(&out, up));
    assert!(synced(&out), "the sync gives up on the silent neighbour");
    assert!(peer_commands(&out, never).is_empty(), "{out:?}");
    assert_eq!(h.core.poll_timeout(), None);
}

/// Without Kubernetes telling us our neighbours, startup completes at the latest after
/// [`STARTUP_LIMIT`]: End-of-RIB then goes out with what is known.
#[test]
fn startup_gate_opens_at_its_limit() {
    let mut h = Harness::new(&config(&neighbor_toml("198.18.0.2", false)), false);
    let peer = h.peers[0];
    h.session_up(peer, None);
    let out = h.outputs();
    assert!(!end_of_rib_to(&out, peer));
    h.handle(Input::SendBufferDrained { peer });
    h.advance(STARTUP_LIMIT - Duration::from_millis(1));
    assert!(!end_of_rib_to(&h.outputs(), peer), "not before the limit");
    h.advance_to_deadline();
    assert!(end_of_rib_to(&h.outputs(), peer));
}

/// Drain (RFC 8326): a cordoned Node announces GRACEFUL_SHUTDOWN at once, closes every session
/// with Cease 6/2 after the drain period, and restarts them when it is uncordoned.
#[test]
fn drain_and_undrain() {
    let extra = format!("{}{KUBERNETES}", neighbor_toml("198.18.0.2", false));
    let mut h = Harness::new(&config(&extra), false);
    let peer = h.peers[0];
    h.handle(Input::StartupComplete);
    h.session_up(peer, None);
    let out = h.outputs();
    assert_eq!(
        announced_to(&out, peer),
        vec![(prefix("198.19.1.0/24"), vec![])]
    );
    h.handle(Input::SendBufferDrained { peer });
    h.outputs();

    let cordoned = h.now;
    h.handle(Input::NodeDrain {
        draining: true,
        node: "node-1".into(),
    });
    let out = h.outputs();
    assert_eq!(
        announced_to(&out, peer),
        vec![(prefix("198.19.1.0/24"), vec![Community::GRACEFUL_SHUTDOWN])]
    );
    assert_eq!(
        node_events(&out),
        vec![&NodeEvent::DrainStarted { seconds: 30 }]
    );
    assert_eq!(
        h.core.poll_timeout(),
        Some(cordoned + Duration::from_secs(30))
    );
    h.handle(Input::SendBufferDrained { peer });

    h.advance_to_deadline();
    let out = h.outputs();
    assert_eq!(
        peer_commands(&out, peer),
        vec![&PeerCommand::Stop("node drained: node-1".into())]
    );
    assert_eq!(
        node_events(&out),
        vec![&NodeEvent::Drained {
            message: "node drained: node-1".into()
        }]
    );

    h.handle(Input::NodeDrain {
        draining: false,
        node: "node-1".into(),
    });
    let out = h.outputs();
    assert_eq!(peer_commands(&out, peer)[0], &PeerCommand::Resume);
    assert_eq!(
        announced_to(&out, peer),
        vec![(prefix("198.19.1.0/24"), vec![])],
        "normal announcements again"
    );
    assert_eq!(node_events(&out), vec![&NodeEvent::DrainEnded]);
}

/// The first Node list says the Node is not draining: that is no end of a drain, so no
/// `BGPDrainEnded` Event is posted and no session is told to resume (an Event at every start
/// would hide a real uncordon in its series).
#[test]
fn a_node_that_never_drained_posts_no_drain_ended_event() {
    let extra = format!("{}{KUBERNETES}", neighbor_toml("198.18.0.2", false));
    let mut h = Harness::new(&config(&extra), false);
    let peer = h.peers[0];
    h.handle(Input::NodeDrain {
        draining: false,
        node: "node-1".into(),
    });
    let out = h.outputs();
    assert!(node_events(&out).is_empty(), "{out:?}");
    assert!(peer_commands(&out, peer).is_empty(), "{out:?}");
}

/// A reload adds a neighbour (it gets the table) and removes one (Cease 6/3, its routes leave
/// the kernel, a Node Event says why).
#[test]
fn reload_adds_and_removes_neighbours() {
    let extra = format!("{}{KUBERNETES}", neighbor_toml("198.18.0.2", false));
    let config = config(&extra);
    let mut h = Harness::new(&config, false);
    let old = h.peers[0];
    h.handle(Input::StartupComplete);
    h.session_up(old, None);
    h.announce(old, "198.19.100.0/24", BIRD);
    h.outputs();

    let mut added = config.neighbors[0].clone();
    added.address = "198.18.0.3".parse().unwrap();
    let new = h.core.add_neighbor(added, false, h.now);
    h.handle(Input::RemoveNeighbor {
        address: "198.18.0.2".parse().unwrap(),
    });
    let out = h.outputs();
    assert_eq!(peer_commands(&out, old), vec![&PeerCommand::Deconfigure]);
    assert_eq!(
        node_events(&out),
        vec![&NodeEvent::SessionDown {
            neighbor: "198.18.0.2".parse().unwrap(),
            asn: PEER_AS,
            cause: DownCause::Deconfigured,
        }]
    );
    assert_eq!(
        kernel_changes(&out),
        vec![(prefix("198.19.100.0/24"), vec![])]
    );

    h.session_up(new, None);
    h.handle(Input::StateChanged {
        peer: new,
        state: State::Established,
    });
    let out = h.outputs();
    assert_eq!(
        announced_to(&out, new)
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        vec![prefix("198.19.1.0/24")]
    );
    assert!(end_of_rib_to(&out, new));
    let views = h.core.neighbors(h.now);
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].state, "Established");
}

/// Node validation, an import rule: in mesh mode a PodCIDR is accepted only from the Node that
/// owns it; a route with another next hop is refused (not selected) and counted, the rest of
/// the UPDATE is kept.
#[test]
fn node_validation_refuses_a_pod_cidr_from_another_node() {
    let extra = neighbor_toml("198.18.0.2", false);
    let mut h = Harness::new(&config(&extra), false);
    let peer = h.peers[0];
    let mut routes = NodeRoutes {
        validate_owners: true,
        ..NodeRoutes::default()
    };
    routes
        .owners
        .insert(prefix("198.19.100.0/24"), vec![IpAddr::V4(BIRD)]);
    routes.owners.insert(
        prefix("198.19.200.0/24"),
        vec!["198.18.0.9".parse().unwrap()],
    );
    h.handle(Input::SetNodeRoutes(Box::new(routes)));
    h.session_up(peer, None);
    let update = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::from_sequence(vec![PEER_AS])),
            next_hop: Some(BIRD),
            ..PathAttributes::default()
        },
        nlri: vec![
            Nlri::new(prefix("198.19.100.0/24")),
            Nlri::new(prefix("198.19.200.0/24")),
        ],
        ..Update::default()
    };
    let arrived = h.now;
    h.handle(Input::Update {
        peer,
        update: Box::new(update),
        arrived,
    });
    let out = h.outputs();
    let learned: Vec<Prefix> = kernel_changes(&out)
        .into_iter()
        .filter(|(_, hops)| !hops.is_empty())
        .map(|(p, _)| p)
        .collect();
    assert_eq!(learned, vec![prefix("198.19.100.0/24")]);
    assert!(h.core.rib().lookup(&prefix("198.19.200.0/24")).is_none());
}

/// RFC 4724 §3: a neighbour whose Graceful Restart capability lists no address families is a
/// helper (the default of BIRD and FRR): it keeps our routes when we restart, so shutting down
/// closes without a NOTIFICATION, exactly as with a neighbour that preserves its own state.
/// Without graceful restart on our side, or without the neighbour's capability, the session
/// ends with a Cease.
#[test]
fn shutdown_skips_the_notification_for_helper_only_neighbours() {
    let helper = negotiated(Some(graceful_restart(&[], false)));
    let full = negotiated(Some(graceful_restart(&[Family::IPV4_UNICAST], false)));
    let none = negotiated(None);
    assert!(shutdown_without_notification(true, &helper));
    assert!(shutdown_without_notification(true, &full));
    assert!(!shutdown_without_notification(true, &none));
    assert!(!shutdown_without_notification(false, &full));
}

/// The commands a neighbour gets for its ROUTE-REFRESH request, with our prefix
/// 198.19.1.0/24 advertised to it before, and the prefixes re-announced in them.
fn answer_to_a_refresh(enhanced: bool) -> (Vec<PeerCommand>, Vec<Prefix>) {
    let mut h = Harness::new(&config(&neighbor_toml("198.18.0.2", false)), false);
    let peer = h.peers[0];
    h.handle(Input::StartupComplete);
    let mut session = negotiated(None);
    session.enhanced_route_refresh = enhanced;
    h.handle(Input::SessionUp {
        peer,
        negotiated: Box::new(session),
        local: LocalAddresses {
            session: Some(SESSION_V4),
            other_family: None,
        },
    });
    h.outputs();
    h.handle(Input::SendBufferDrained { peer });
    h.outputs();
    h.handle(Input::RouteRefresh {
        peer,
        refresh: RouteRefresh::request(Family::IPV4_UNICAST),
    });
    let out = h.outputs();
    let prefixes = announced_to(&out, peer)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let commands = out
        .into_iter()
        .filter_map(|o| match o {
            Output::Peer { peer: p, command } if p == peer => Some(command),
            _ => None,
        })
        .collect();
    (commands, prefixes)
}

/// RFC 7313 §4: with enhanced route refresh negotiated, our answer to a ROUTE-REFRESH request
/// is framed by a BoRR before the re-advertised routes and an EoRR after them (MUST), so that a
/// peer relying on them removes what we no longer send.
#[test]
fn enhanced_route_refresh_is_answered_between_begin_and_end_markers() {
    let (commands, prefixes) = answer_to_a_refresh(true);
    let marker = |subtype| {
        PeerCommand::RouteRefresh(RouteRefresh {
            family: Family::IPV4_UNICAST,
            subtype,
        })
    };
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert_eq!(commands[0], marker(route_refresh::subtype::BEGIN));
    assert!(matches!(commands[1], PeerCommand::Updates(..)));
    assert_eq!(commands[2], marker(route_refresh::subtype::END));
    assert_eq!(prefixes, vec![prefix("198.19.1.0/24")]);
}

/// Without enhanced route refresh, a request is answered with the routes alone (RFC 2918).
#[test]
fn plain_route_refresh_is_answered_with_the_routes_alone() {
    let (commands, prefixes) = answer_to_a_refresh(false);
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(matches!(commands[0], PeerCommand::Updates(..)));
    assert_eq!(prefixes, vec![prefix("198.19.1.0/24")]);
}

/// A configuration originating an IPv4 and an IPv6 prefix, with one neighbour.
fn dual_stack_config() -> Config {
    config(&format!(
        "[[prefix]]\nprefix = \"2001:db8:1001::/48\"\n\n{}",
        neighbor_toml("198.18.0.2", false)
    ))
}

/// The MP_REACH_NLRI next hops (and prefixes) announced to `peer` in these outputs.
fn mp_announced_to(outputs: &[Output], peer: PeerId) -> Vec<(Prefix, bgp_proto::NextHop)> {
    updates_to(outputs, peer)
        .into_iter()
        .filter_map(|u| u.mp_reach)
        .flat_map(|r| {
            r.nlri
                .iter()
                .map(|n| (n.prefix, r.next_hop))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn session_up_with(h: &mut Harness, peer: PeerId, families: &[Family], local: LocalAddresses) {
    let mut n = negotiated(None);
    n.families = families.to_vec();
    h.handle(Input::SessionUp {
        peer,
        negotiated: Box::new(n),
        local,
    });
}

const SESSION_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));

/// RFC 4760 §8 with RFC 5492: a session that negotiated IPv4 unicast only is never sent our
/// IPv6 prefix (GoBGP resets such a session).
#[test]
fn a_family_the_session_did_not_negotiate_is_not_sent() {
    let mut h = Harness::new(&dual_stack_config(), false);
    let peer = h.peers[0];
    h.handle(Input::StartupComplete);
    let local = LocalAddresses {
        session: Some(SESSION_V4),
        other_family: Some("2001:db8::1".parse().unwrap()),
    };
    session_up_with(&mut h, peer, &[Family::IPV4_UNICAST], local);
    let out = h.outputs();
    assert_eq!(
        announced_to(&out, peer)
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>(),
        vec![prefix("198.19.1.0/24")]
    );
    assert!(mp_announced_to(&out, peer).is_empty(), "{out:?}");
    assert_eq!(h.core.neighbors(h.now)[0].prefixes_advertised, 1);
}

/// RFC 2545 §3: on an IPv4 session carrying both families, our IPv6 prefix goes with the
/// interface's global IPv6 address as its 16-octet next hop; without one it is not sent at
/// all (never with the IPv4 address as next hop).
#[test]
fn ipv6_routes_on_an_ipv4_session_carry_the_interface_ipv6_next_hop() {
    let both = [Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let mut h = Harness::new(&dual_stack_config(), false);
    let peer = h.peers[0];
    h.handle(Input::StartupComplete);
    let local = LocalAddresses {
        session: Some(SESSION_V4),
        other_family: Some("2001:db8::1".parse().unwrap()),
    };
    session_up_with(&mut h, peer, &both, local);
    let out = h.outputs();
    assert_eq!(
        mp_announced_to(&out, peer),
        vec![(
            prefix("2001:db8:1001::/48"),
            bgp_proto::NextHop::V6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: None
            }
        )]
    );

    let mut h = Harness::new(&dual_stack_config(), false);
    let peer = h.peers[0];
    h.handle(Input::StartupComplete);
    let local = LocalAddresses {
        session: Some(SESSION_V4),
        other_family: None,
    };
    session_up_with(&mut h, peer, &both, local);
    let out = h.outputs();
    assert!(mp_announced_to(&out, peer).is_empty(), "{out:?}");
    assert!(h
        .core
        .rib()
        .families_without_next_hop(peer)
        .contains(Family::IPV6_UNICAST));
}

/// RFC 4271 §6.8 under a race: both connections of a neighbour reached Established before the
/// collision between them was resolved; the loser's Down must not take the neighbour down while
/// the winner stays Established. Any other Down does.
#[test]
fn the_loser_of_a_collision_between_two_established_connections_leaves_the_neighbour_up() {
    use bgp_fsm::ConnectionId::{Incoming, Outgoing};
    use speakerd::control::neighbor_went_down;
    let down = |was_established| Down {
        reason: DownReason::TransportFailed,
        was_established,
        retain_stale: None,
    };
    assert!(!neighbor_went_down(&down(true), Outgoing, Some(Incoming)));
    assert!(neighbor_went_down(&down(true), Outgoing, None));
    assert!(neighbor_went_down(&down(true), Incoming, Some(Incoming)));
    assert!(neighbor_went_down(&down(false), Outgoing, Some(Incoming)));
}

/// The BFD commands among `outputs`.
fn bfd_commands(outputs: &[Output]) -> Vec<&BfdCommand> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Bfd(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// RFC 5882 §4.3: with `bfd`, the BFD session is asked for once BGP is Established, from the
/// session's address; BFD Down closes the Established session with Cease 6/10 (RFC 9384), BFD
/// Up asks nothing of the session.
#[test]
fn bfd_down_closes_an_established_session() {
    let conf = config(&format!(
        "{}[neighbor.bfd]\n",
        neighbor_toml("198.18.0.2", false)
    ));
    let mut h = Harness::new(&conf, false);
    let peer = h.peers[0];
    h.handle(Input::StartupComplete);
    assert!(
        bfd_commands(&h.outputs()).is_empty(),
        "BFD before BGP is up"
    );
    h.session_up(peer, None);
    let out = h.outputs();
    let watch = bfd_commands(&out);
    assert!(
        matches!(watch[..], [BfdCommand::Watch { peer: p, local, settings, .. }]
            if *p == peer && *local == SESSION_V4 && settings.multiplier == 3 && !settings.strict),
        "{out:?}"
    );
    h.handle(Input::BfdUp { peer });
    assert!(peer_commands(&h.outputs(), peer).is_empty());
    h.handle(Input::BfdDown { peer });
    let out = h.outputs();
    assert_eq!(
        peer_commands(&out, peer),
        vec![&PeerCommand::Cease(StopReason::BfdDown)]
    );
}

/// Strict BFD: the BFD session is asked for as soon as the neighbour is added, from its
/// configured local address; BFD Up resumes the held session; BFD Down closes the Established
/// session with Cease 6/10 and holds it until BFD is Up again.
#[test]
fn strict_bfd_holds_the_session_until_bfd_is_up() {
    let conf = config(&format!(
        "{}[neighbor.bfd]\nstrict = true\n",
        neighbor_toml("198.18.0.2", false)
    ));
    let mut h = Harness::new(&conf, false);
    let peer = h.peers[0];
    let out = h.outputs();
    assert!(
        matches!(bfd_commands(&out)[..], [BfdCommand::Watch { peer: p, local, settings, .. }]
            if *p == peer && *local == SESSION_V4 && settings.strict),
        "{out:?}"
    );
    h.handle(Input::BfdUp { peer });
    assert_eq!(
        peer_commands(&h.outputs(), peer),
        vec![&PeerCommand::Resume]
    );
    h.handle(Input::StartupComplete);
    h.session_up(peer, None);
    let _ = h.outputs();
    h.handle(Input::BfdDown { peer });
    let out = h.outputs();
    assert_eq!(
        peer_commands(&out, peer),
        vec![
            &PeerCommand::Cease(StopReason::BfdDown),
            &PeerCommand::Stop(BFD_WAIT.to_string())
        ]
    );
}
