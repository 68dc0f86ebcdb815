//! The harness of the core tests: a configuration, the core with its neighbours, the clock,
//! and readers of the outputs.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use bgp_proto::capability::{GracefulRestart, GracefulRestartFamily};
use bgp_proto::{
    AsPath, Community, Family, Message, Nlri, Origin, PathAttributes, Prefix, SessionContext,
    Update,
};
use rib::PeerId;
use speakerd::config::Config;
use speakerd::control::{Core, CoreSettings};
use speakerd::metrics::Metrics;
use speakerd::msg::{FibCommand, Input, LocalAddresses, NodeEvent, Output, PeerCommand};

use crate::common::{negotiated, PEER_AS};

pub const LOCAL_AS: u32 = 4_200_000_001;

/// A configuration with our prefix 198.19.1.0/24 and `extra` (neighbours, Kubernetes).
pub fn config(extra: &str) -> Config {
    let text = format!(
        "[global]\nasn = {LOCAL_AS}\nrouter_id = \"198.18.0.1\"\n\n\
         [[prefix]]\nprefix = \"198.19.1.0/24\"\n\n{extra}"
    );
    Config::parse(&text, Path::new("test.toml"), &|_| None).expect("valid configuration")
}

pub fn neighbor_toml(address: &str, graceful_restart: bool) -> String {
    let gr = if graceful_restart {
        "[neighbor.graceful_restart]\nrestart_time = 60\n"
    } else {
        ""
    };
    format!(
        "[[neighbor]]\naddress = \"{address}\"\nremote_asn = {PEER_AS}\n\
         local_address = \"198.18.0.1\"\nimport = [\"accept-all\"]\nexport = [\"accept-all\"]\n{gr}\n"
    )
}

pub const KUBERNETES: &str = "[kubernetes]\nnode_name = \"node-1\"\nkubeconfig = \"/dev/null\"\n\
    mode = \"tor\"\ndrain_seconds = 30\n";

/// The core with its configured neighbours registered, as the daemon does at start.
pub struct Harness {
    pub core: Core,
    pub now: Instant,
    pub peers: Vec<PeerId>,
    /// The core's metrics (shared counters: what a scrape would read).
    pub metrics: Metrics,
}

impl Harness {
    pub fn new(config: &Config, restarting: bool) -> Self {
        let now = Instant::now();
        let metrics = Metrics::new();
        let mut core = Core::new(
            CoreSettings::from_config(config, restarting),
            metrics.clone(),
            now,
        );
        let peers = config
            .neighbors
            .iter()
            .map(|n| core.add_neighbor(n.clone(), false, now))
            .collect();
        Self {
            core,
            now,
            peers,
            metrics,
        }
    }

    pub fn handle(&mut self, input: Input) {
        self.core.handle(input, self.now);
    }

    /// Every output now.
    pub fn outputs(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    /// Jumps the clock to the core's next deadline and handles it.
    pub fn advance_to_deadline(&mut self) -> Instant {
        let deadline = self.core.poll_timeout().expect("a deadline");
        assert!(deadline >= self.now, "deadlines do not go back");
        self.now = deadline;
        self.core.handle_timeout(deadline);
        deadline
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.core.poll_timeout().is_some_and(|t| t <= self.now) {
            self.core.handle_timeout(self.now);
        }
    }

    pub fn session_up(&mut self, peer: PeerId, gr: Option<GracefulRestart>) {
        let input = Input::SessionUp {
            peer,
            negotiated: Box::new(negotiated(gr)),
            local: LocalAddresses {
                session: Some(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))),
                other_family: None,
            },
        };
        self.handle(input);
    }

    pub fn announce(&mut self, peer: PeerId, prefix: &str, next_hop: Ipv4Addr) {
        let update = Update {
            attributes: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::from_sequence(vec![PEER_AS])),
                next_hop: Some(next_hop),
                ..PathAttributes::default()
            },
            nlri: vec![Nlri::new(prefix.parse().unwrap())],
            ..Update::default()
        };
        let arrived = self.now;
        self.handle(Input::Update {
            peer,
            update: Box::new(update),
            arrived,
        });
    }
}

/// A neighbour's Graceful Restart capability: `families` empty is the helper-only form
/// (RFC 4724 §3).
pub fn graceful_restart(families: &[Family], restart_state: bool) -> GracefulRestart {
    GracefulRestart {
        restart_state,
        notification: false,
        restart_time: 60,
        families: families
            .iter()
            .map(|f| GracefulRestartFamily {
                family: *f,
                forwarding_preserved: true,
            })
            .collect(),
    }
}

pub fn prefix(text: &str) -> Prefix {
    text.parse().unwrap()
}

/// The UPDATEs in an encoded batch.
pub fn decode_updates(bytes: &bytes::Bytes) -> Vec<Update> {
    let mut rest = bytes.clone();
    let mut updates = Vec::new();
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let frame = rest.split_to(len);
        match Message::decode(frame, &SessionContext::modern_ebgp()).expect("valid UPDATE") {
            Message::Update(u) => updates.push(u),
            other => panic!("not an UPDATE: {other:?}"),
        }
    }
    updates
}

/// The UPDATEs sent to `peer` in these outputs.
pub fn updates_to(outputs: &[Output], peer: PeerId) -> Vec<Update> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Peer {
                peer: p,
                command: PeerCommand::Updates(bytes, _),
            } if *p == peer => Some(decode_updates(bytes)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The prefixes announced to `peer` in these outputs.
pub fn announced_to(outputs: &[Output], peer: PeerId) -> Vec<(Prefix, Vec<Community>)> {
    updates_to(outputs, peer)
        .into_iter()
        .flat_map(|u| {
            let communities = u.attributes.communities.clone();
            u.nlri
                .iter()
                .map(move |n| (n.prefix, communities.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn end_of_rib_to(outputs: &[Output], peer: PeerId) -> bool {
    outputs.iter().any(|o| {
        matches!(o, Output::Peer { peer: p, command: PeerCommand::EndOfRib(Family::IPV4_UNICAST) } if *p == peer)
    })
}

/// The kernel changes in these outputs: (prefix, installed with next hops or removed).
pub fn kernel_changes(outputs: &[Output]) -> Vec<(Prefix, Vec<IpAddr>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Fib(FibCommand::Apply(changes, _)) => Some(changes),
            _ => None,
        })
        .flatten()
        .map(|c| (c.prefix, c.next_hops.iter().map(|h| h.address).collect()))
        .collect()
}

pub fn synced(outputs: &[Output]) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::Fib(FibCommand::Synced)))
}

pub fn node_events(outputs: &[Output]) -> Vec<&NodeEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::NodeEvent(e) => Some(e),
            _ => None,
        })
        .collect()
}

pub fn peer_commands(outputs: &[Output], peer: PeerId) -> Vec<&PeerCommand> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Peer { peer: p, command } if *p == peer => Some(command),
            _ => None,
        })
        .collect()
}

pub const BIRD: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
