//! The interop matrix: speakerd against seven peers (BIRD 2, GoBGP 3.10, FRR 8.4 of Debian 12;
//! BIRD 3, GoBGP 3.36, FRR 10 of the Debian 13 root; ExaBGP 4.2) over three kinds of session
//! (IPv4, IPv6, and one IPv4 session carrying both families, the usual dual-stack node), each
//! running the same list of checks ([`Check`]) in one lab, in order. A check a peer cannot do is
//! recorded as not applicable with the reason ([`not_applicable`]), never skipped silently.
//!
//! Every test writes what it found (versions, configurations, each check's outcome) to
//! `$CARGO_TARGET_TMPDIR/interop/PEER-SESSION.json`; `scripts/interop-table.py` turns those into
//! `docs/interop.md`, and `scripts/test.sh` fails when the committed page differs from the run.
//!
//! Addressing as in `peers.rs`: speakerd 198.18.0.1 / 2001:db8::1 (AS 4200000001), the peer
//! 198.18.0.2 / 2001:db8::2 (AS 4200000002), both on one veth link.

mod lab;

#[path = "interop/peers.rs"]
mod peers;

use std::collections::BTreeMap;
use std::time::Duration;

use lab::{holds_for, wait_for, Lab};
use peers::{Peer, PeerKind, PeerSettings};
use serde_json::{json, Value};

pub(crate) const SD_AS: u32 = 4_200_000_001;
pub(crate) const PEER_AS: u32 = 4_200_000_002;
const UP: Duration = Duration::from_secs(40);
const SOON: Duration = Duration::from_secs(20);
/// The number of prefixes of the announce/withdraw burst, per family.
const BURST: usize = 1000;
/// The TCP MD5 key both sides are given (RFC 2385), and the wrong one.
pub(crate) const MD5_KEY: &str = "s3cret-Key_1";
const MD5_WRONG: &str = "wrong-key";

/// One address family carried by a session: our prefix and next hop, the peer's prefixes and
/// next hop.
pub(crate) struct Family {
    /// `ipv4` or `ipv6`, as BIRD, FRR, GoBGP and ExaBGP name the family.
    pub(crate) afi: &'static str,
    /// speakerd's `families` entry and GoBGP's `afi-safi-name`.
    pub(crate) name: &'static str,
    pub(crate) ours: &'static str,
    /// Our next hop for this family: our address of the family on the link (RFC 2545 §3 for
    /// IPv6 on an IPv4 session).
    pub(crate) our_next_hop: &'static str,
    pub(crate) theirs: [&'static str; 2],
    pub(crate) their_next_hop: &'static str,
}

pub(crate) const V4: Family = Family {
    afi: "ipv4",
    name: "ipv4-unicast",
    ours: "198.19.1.0/24",
    our_next_hop: "198.18.0.1",
    theirs: ["198.19.100.0/24", "198.19.101.0/24"],
    their_next_hop: "198.18.0.2",
};

pub(crate) const V6: Family = Family {
    afi: "ipv6",
    name: "ipv6-unicast",
    ours: "2001:db8:1001::/48",
    our_next_hop: "2001:db8::1",
    theirs: ["2001:db8:2001::/48", "2001:db8:2002::/48"],
    their_next_hop: "2001:db8::2",
};

impl Family {
    /// The i-th prefix of our burst: /27s of 198.19.128.0/17, or /64s of 2001:db8:3000::/48.
    fn burst_prefix(&self, i: usize) -> String {
        if self.afi == "ipv4" {
            format!("198.19.{}.{}/27", 128 + i / 8, (i % 8) * 32)
        } else {
            format!("2001:db8:3000:{i:x}::/64")
        }
    }
}

/// The session between speakerd and the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Session {
    /// Over IPv4, IPv4 unicast only.
    Ipv4,
    /// Over IPv6, IPv6 unicast only.
    Ipv6,
    /// Over IPv4, carrying IPv4 and IPv6 unicast (RFC 4760).
    DualStack,
}

impl Session {
    pub(crate) fn families(self) -> &'static [Family] {
        match self {
            Session::Ipv4 => &[V4],
            Session::Ipv6 => &[V6],
            Session::DualStack => &[V4, V6],
        }
    }

    /// speakerd's address of the session.
    pub(crate) fn sd(self) -> &'static str {
        match self {
            Session::Ipv6 => "2001:db8::1",
            _ => "198.18.0.1",
        }
    }

    /// The peer's address of the session.
    pub(crate) fn peer(self) -> &'static str {
        match self {
            Session::Ipv6 => "2001:db8::2",
            _ => "198.18.0.2",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Session::Ipv4 => "IPv4",
            Session::Ipv6 => "IPv6",
            Session::DualStack => "IPv4 session, both families",
        }
    }
}

/// The checks of the matrix, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    /// Both sides Established with 4-octet ASNs (RFC 6793).
    Established,
    /// Our prefixes in the peer's RIB with our AS and the right next hop.
    OursAtPeer,
    /// The peer's prefixes in speakerd's RIB and in the kernel, via the peer.
    TheirsInKernel,
    /// The peer withdraws one: gone from speakerd's RIB and kernel, the other stays.
    Withdrawal,
    /// The peer sends ROUTE-REFRESH: speakerd answers (with BoRR/EoRR when enhanced route
    /// refresh is negotiated, RFC 7313) and the session stays up.
    RouteRefresh,
    /// speakerd announces 1,000 more prefixes per family and withdraws them: the peer ends
    /// with what it had before.
    Burst,
    /// speakerd restarts (SIGTERM, then SIGKILL) with the peer's graceful restart as it is by
    /// default: the peer never flushes our prefixes, our kernel never loses the peer's routes.
    GracefulRestartDefaultTerm,
    GracefulRestartDefaultKill,
    /// The same with the peer's graceful restart fully on.
    GracefulRestartFullTerm,
    GracefulRestartFullKill,
    /// TCP MD5 (RFC 2385) with the same key on both sides: Established.
    Md5,
    /// A different key at the peer: never Established.
    Md5Wrong,
}

impl Check {
    fn title(self) -> &'static str {
        match self {
            Check::Established => "Established, 4-octet ASNs",
            Check::OursAtPeer => "our prefixes at the peer, right next hop",
            Check::TheirsInKernel => "the peer's prefixes in our RIB and kernel",
            Check::Withdrawal => "withdrawal",
            Check::RouteRefresh => "route refresh (BoRR/EoRR when enhanced)",
            Check::Burst => "1,000-route announce/withdraw burst",
            Check::GracefulRestartDefaultTerm => "GR, peer default mode, SIGTERM",
            Check::GracefulRestartDefaultKill => "GR, peer default mode, SIGKILL",
            Check::GracefulRestartFullTerm => "GR fully on, SIGTERM",
            Check::GracefulRestartFullKill => "GR fully on, SIGKILL",
            Check::Md5 => "MD5, same key",
            Check::Md5Wrong => "MD5, wrong key",
        }
    }
}

/// How a check ended (a failure panics with its reason instead).
enum Outcome {
    Pass(String),
    NotApplicable(&'static str),
}

/// The checks `kind` cannot do, and why.
fn not_applicable(kind: PeerKind, check: Check) -> Option<&'static str> {
    let gobgp = matches!(kind, PeerKind::Gobgp | PeerKind::Gobgp336);
    match check {
        Check::RouteRefresh if gobgp => Some(
            "GoBGP's CLI sends no ROUTE-REFRESH: `gobgp neighbor ADDR softresetin` re-applies policy to its own Adj-RIB-In",
        ),
        Check::GracefulRestartDefaultTerm | Check::GracefulRestartDefaultKill if gobgp => Some(
            "GoBGP offers no Graceful Restart capability unless configured, so by default it keeps nothing of a restarting neighbour (RFC 4724 §3)",
        ),
        Check::GracefulRestartDefaultTerm | Check::GracefulRestartDefaultKill
            if kind == PeerKind::Exabgp =>
        {
            Some("ExaBGP offers no Graceful Restart capability unless configured")
        }
        Check::GracefulRestartFullTerm | Check::GracefulRestartFullKill
            if kind == PeerKind::Exabgp =>
        {
            Some("ExaBGP keeps no RIB of the routes it receives (it hands them to its API processes), so there is nothing it could keep or flush across our restart")
        }
        _ => None,
    }
}

/// The state of one matrix test: its lab, the peer, speakerd's settings.
struct Run {
    lab: Lab,
    sd: String,
    peer_ns: String,
    session: Session,
    peer: Peer,
    /// The peer's settings it runs with now.
    settings: PeerSettings,
    /// speakerd's neighbour has this MD5 key.
    sd_password: Option<&'static str>,
    /// speakerd also announces the burst.
    burst: bool,
}

impl Run {
    fn speakerd_conf(&self) -> String {
        let mut prefixes = String::new();
        for family in self.session.families() {
            prefixes += &format!("[[prefix]]\nprefix = \"{}\"\n\n", family.ours);
            if self.burst {
                for i in 0..BURST {
                    prefixes += &format!("[[prefix]]\nprefix = \"{}\"\n\n", family.burst_prefix(i));
                }
            }
        }
        let families: Vec<String> = self
            .session
            .families()
            .iter()
            .map(|f| format!("\"{}\"", f.name))
            .collect();
        let password = match self.sd_password {
            Some(_) => format!(
                "password_file = \"{}\"\n",
                self.lab.dir().join("md5.key").display()
            ),
            None => String::new(),
        };
        format!(
            "[global]\nasn = {SD_AS}\nrouter_id = \"198.18.0.1\"\n\n[kernel]\necmp_max_paths = 8\n\n\
             {prefixes}[[neighbor]]\naddress = \"{}\"\nremote_asn = {PEER_AS}\nlocal_address = \"{}\"\n\
             hold_time = 9\nconnect_retry_time = 2\nfamilies = [{}]\n\
             import = [\"accept-all\"]\nexport = [\"accept-all\"]\n{password}\
             [neighbor.graceful_restart]\nrestart_time = 60\n",
            self.session.peer(),
            self.session.sd(),
            families.join(", ")
        )
    }

    fn start_speakerd(&mut self) {
        if let Some(key) = self.sd_password {
            self.lab.write("md5.key", &format!("{key}\n"));
        }
        let conf = self.speakerd_conf();
        let sd = self.sd.clone();
        self.lab.speakerd("speakerd", &sd, &conf);
    }

    /// Restarts the peer with `settings`.
    fn restart_peer(&mut self, settings: PeerSettings) {
        self.peer.stop(&mut self.lab);
        self.settings = settings;
        self.peer = Peer::start(
            &mut self.lab,
            self.peer.kind,
            &self.peer_ns,
            self.session,
            &self.settings,
        );
    }

    fn wait_established(&self) {
        wait_for("the peer's session Established", UP, || {
            self.peer.established(self.session)
        });
        wait_for("speakerd's session Established", SOON, || {
            self.lab.speakerd_established(&self.sd, self.session.peer())
        });
    }

    /// The peer's prefixes (those it announces now) are in speakerd's RIB and kernel, via the
    /// peer.
    fn wait_theirs(&self) {
        for family in self.session.families() {
            for prefix in &self.settings.routes(family) {
                let r = wait_for(&format!("{prefix} in speakerd's RIB"), SOON, || {
                    self.lab
                        .speakerd_route(&self.sd, prefix)?
                        .ok_or_else(|| "no route".to_string())
                });
                assert_eq!(r["as_path"], PEER_AS.to_string(), "{r}");
                let route = wait_for(&format!("{prefix} in the kernel"), SOON, || {
                    match self.lab.kernel_route(&self.sd, prefix) {
                        Some(r) if !Lab::gateways(&r).is_empty() => Ok(r),
                        other => Err(format!("{other:?}")),
                    }
                });
                let gateway = Lab::gateways(&route)[0].clone();
                let on_link = gateway.starts_with("fe80:") && route["dev"] == "eth0";
                assert!(
                    gateway == family.their_next_hop || (family.afi == "ipv6" && on_link),
                    "{prefix}: {route}"
                );
            }
        }
    }

    /// Our prefix of every family in the peer's RIB with our AS and next hop.
    fn wait_ours(&self) -> String {
        let mut seen = Vec::new();
        for family in self.session.families() {
            let route = wait_for(&format!("{} in the peer's RIB", family.ours), SOON, || {
                self.peer.route(family, family.ours)
            });
            assert!(
                route.contains(&SD_AS.to_string()),
                "our AS is missing: {route}"
            );
            assert!(
                self.peer.next_hop_is(&route, family.our_next_hop),
                "{} has not next hop {}: {route}",
                family.ours,
                family.our_next_hop
            );
            seen.push(format!("{} via {}", family.ours, family.our_next_hop));
        }
        seen.join(", ")
    }

    fn run(&mut self, check: Check) -> Outcome {
        if let Some(reason) = not_applicable(self.peer.kind, check) {
            return Outcome::NotApplicable(reason);
        }
        let sd = self.sd.clone();
        let peer_addr = self.session.peer();
        match check {
            Check::Established => {
                self.wait_established();
                let n = self.lab.neighbor(&sd, peer_addr).unwrap();
                assert_eq!(n["asn"], PEER_AS, "{n}");
                Outcome::Pass(format!(
                    "families {}",
                    n["families"]
                        .as_array()
                        .map(|f| f
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                ))
            }
            Check::OursAtPeer => Outcome::Pass(self.wait_ours()),
            Check::TheirsInKernel => {
                self.wait_theirs();
                Outcome::Pass(String::new())
            }
            Check::Withdrawal => {
                self.settings.withdrawn = true;
                for family in self.session.families() {
                    self.peer
                        .withdraw(self.session, &self.settings, family, family.theirs[1]);
                }
                for family in self.session.families() {
                    self.lab.wait_route_gone(&sd, family.theirs[1]);
                    assert!(self.lab.kernel_route(&sd, family.theirs[0]).is_some());
                }
                self.lab.speakerd_established(&sd, peer_addr).unwrap();
                Outcome::Pass(String::new())
            }
            Check::RouteRefresh => {
                let counted = |kind: &str, metric: &str| {
                    self.lab
                        .metric(
                            &sd,
                            metric,
                            &[
                                &format!("peer=\"{peer_addr}\""),
                                &format!("type=\"{kind}\""),
                            ],
                        )
                        .unwrap()
                };
                let received = counted("route_refresh", "bgp_peer_messages_received_total");
                let sent = counted("route_refresh", "bgp_peer_messages_sent_total");
                let updates = counted("update", "bgp_peer_messages_sent_total");
                let ups = self.established_count();
                let enhanced = self.enhanced_route_refresh();
                self.peer.request_refresh(self.session);
                let families = self.session.families().len() as f64;
                // One ROUTE-REFRESH per family, each answered with UPDATEs and, when enhanced
                // route refresh is negotiated, a Begin-of-RIB before and an End-of-RIB after
                // (RFC 7313 §4).
                let (got, markers) = wait_for("speakerd answers the ROUTE-REFRESH", SOON, || {
                    let got =
                        counted("route_refresh", "bgp_peer_messages_received_total") - received;
                    let markers = counted("route_refresh", "bgp_peer_messages_sent_total") - sent;
                    let answers = counted("update", "bgp_peer_messages_sent_total") - updates;
                    let want_markers = if enhanced { 2.0 * families } else { 0.0 };
                    if got == families && answers >= families && markers == want_markers {
                        Ok((got, markers))
                    } else {
                        Err(format!(
                            "ROUTE-REFRESH received {got} of {families}, UPDATEs sent {answers}, \
                             BoRR/EoRR sent {markers} of {want_markers}"
                        ))
                    }
                });
                assert_eq!(self.established_count(), ups, "the session was reset");
                Outcome::Pass(format!(
                    "{got} ROUTE-REFRESH, {markers} BoRR/EoRR sent; {}",
                    if enhanced {
                        "enhanced: answered between BoRR and EoRR"
                    } else {
                        "not enhanced: answered with UPDATEs"
                    }
                ))
            }
            Check::Burst => {
                let before: Vec<usize> = self
                    .session
                    .families()
                    .iter()
                    .map(|f| self.peer.route_count(self.session, f))
                    .collect();
                self.burst = true;
                self.reload_speakerd();
                for (family, before) in self.session.families().iter().zip(&before) {
                    wait_for(
                        &format!("{BURST} more {} prefixes at the peer", family.afi),
                        UP,
                        || {
                            let n = self.peer.route_count(self.session, family);
                            if n == before + BURST {
                                Ok(())
                            } else {
                                Err(format!("{n}, before {before}"))
                            }
                        },
                    );
                }
                self.burst = false;
                self.reload_speakerd();
                for (family, before) in self.session.families().iter().zip(&before) {
                    wait_for(
                        &format!("the {} burst withdrawn at the peer", family.afi),
                        UP,
                        || {
                            let n = self.peer.route_count(self.session, family);
                            if n == *before {
                                Ok(())
                            } else {
                                Err(format!("{n}, before {before}"))
                            }
                        },
                    );
                }
                Outcome::Pass(format!("{BURST} per family, back to {before:?}"))
            }
            Check::GracefulRestartDefaultTerm | Check::GracefulRestartFullTerm => {
                self.prepare_graceful_restart(check);
                Outcome::Pass(self.restart_speakerd("TERM"))
            }
            Check::GracefulRestartDefaultKill | Check::GracefulRestartFullKill => {
                self.prepare_graceful_restart(check);
                Outcome::Pass(self.restart_speakerd("KILL"))
            }
            Check::Md5 => {
                self.lab.stop("speakerd", "TERM");
                self.sd_password = Some(MD5_KEY);
                self.restart_peer(PeerSettings {
                    password: Some(MD5_KEY),
                    ..self.settings.clone()
                });
                self.start_speakerd();
                self.wait_established();
                Outcome::Pass(String::new())
            }
            Check::Md5Wrong => {
                self.restart_peer(PeerSettings {
                    password: Some(MD5_WRONG),
                    ..self.settings.clone()
                });
                holds_for(
                    "the session with a wrong MD5 key is not Established",
                    Duration::from_secs(8),
                    || match (
                        self.peer.established(self.session),
                        self.lab.speakerd_established(&sd, peer_addr),
                    ) {
                        (Err(_), Err(_)) => Ok(()),
                        (a, b) => Err(format!("peer: {a:?}\nspeakerd: {b:?}")),
                    },
                );
                Outcome::Pass(String::new())
            }
        }
    }

    fn established_count(&self) -> f64 {
        self.lab
            .metric(
                &self.sd,
                "bgp_peer_established_total",
                &[&format!("peer=\"{}\"", self.session.peer())],
            )
            .unwrap()
    }

    /// Whether the session negotiated enhanced route refresh (RFC 7313), as speakerd reports.
    fn enhanced_route_refresh(&self) -> bool {
        let n = self.lab.neighbor(&self.sd, self.session.peer()).unwrap();
        n["capabilities"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c.as_str() == Some("enhanced-route-refresh"))
    }

    fn reload_speakerd(&mut self) {
        let conf = self.speakerd_conf();
        self.lab.write("speakerd.toml", &conf);
        self.lab.signal("speakerd", "HUP");
    }

    /// Before a graceful-restart check: the peer in the mode the check wants.
    fn prepare_graceful_restart(&mut self, check: Check) {
        let full = matches!(
            check,
            Check::GracefulRestartFullTerm | Check::GracefulRestartFullKill
        );
        if full != self.settings.graceful_restart {
            self.restart_peer(PeerSettings {
                graceful_restart: full,
                ..self.settings.clone()
            });
            self.wait_established();
            self.wait_ours();
            self.wait_theirs();
        }
    }

    /// speakerd stops with `signal` and starts again; meanwhile the peer keeps our prefixes
    /// and our kernel the peer's routes.
    fn restart_speakerd(&mut self, signal: &str) -> String {
        let sd = self.sd.clone();
        let monitor = format!("monitor-{signal}");
        self.lab.route_monitor(&monitor, &sd);
        self.lab.stop("speakerd", signal);
        let keeps = |run: &Run| -> Result<(), String> {
            for family in run.session.families() {
                run.peer.route(family, family.ours)?;
            }
            Ok(())
        };
        holds_for(
            "the peer keeps our prefixes while speakerd is down",
            Duration::from_secs(3),
            || keeps(self),
        );
        self.start_speakerd();
        self.wait_established();
        keeps(self).unwrap();
        self.wait_theirs();
        self.wait_ours();
        // The peer's routes stay in our kernel once speakerd is back (its End-of-RIB).
        std::thread::sleep(Duration::from_secs(1));
        let log = self.lab.log(&monitor);
        for family in self.session.families() {
            for prefix in &self.settings.routes(family) {
                assert!(
                    !log.contains(&format!("Deleted {prefix}")),
                    "{prefix} left the kernel across the restart: {log}"
                );
            }
        }
        self.lab.stop(&monitor, "TERM");
        "the peer kept our prefixes, our kernel kept its routes".into()
    }
}

const CHECKS: [Check; 12] = [
    Check::Established,
    Check::OursAtPeer,
    Check::TheirsInKernel,
    Check::Withdrawal,
    Check::RouteRefresh,
    Check::Burst,
    Check::GracefulRestartDefaultTerm,
    Check::GracefulRestartDefaultKill,
    Check::GracefulRestartFullTerm,
    Check::GracefulRestartFullKill,
    Check::Md5,
    Check::Md5Wrong,
];

/// One row of the matrix: `kind` over `session`, every check in order; the findings go to
/// `$CARGO_TARGET_TMPDIR/interop/`.
fn matrix_row(kind: PeerKind, session: Session) {
    let name = format!("{}-{session:?}", kind.slug()).to_lowercase();
    let mut lab = Lab::new(&format!("interop_{name}").replace('-', "_"));
    let sd = lab.ns("sd");
    let peer_ns = lab.ns("peer");
    lab.link(
        &sd,
        "eth0",
        &["198.18.0.1/24", "2001:db8::1/64"],
        &peer_ns,
        "eth0",
        &["198.18.0.2/24", "2001:db8::2/64"],
    );
    let settings = PeerSettings::default();
    let peer = Peer::start(&mut lab, kind, &peer_ns, session, &settings);
    let mut run = Run {
        lab,
        sd,
        peer_ns,
        session,
        peer,
        settings,
        sd_password: None,
        burst: false,
    };
    run.start_speakerd();
    let mut results = BTreeMap::new();
    let default_config = run.peer.config_text();
    let mut configs = vec![json!({"mode": "default", "text": default_config})];
    for check in CHECKS {
        let outcome = run.run(check);
        if check == Check::GracefulRestartFullTerm {
            configs
                .push(json!({"mode": "graceful restart fully on", "text": run.peer.config_text()}));
        }
        let (status, detail) = match outcome {
            Outcome::Pass(detail) => ("pass", detail),
            Outcome::NotApplicable(reason) => ("n/a", reason.to_string()),
        };
        results.insert(
            format!("{:02}", check as u8),
            json!({"check": check.title(), "status": status, "detail": detail}),
        );
    }
    let report = json!({
        "peer": kind.label(),
        "version": run.peer.version(),
        "session": session.label(),
        "session_order": session as u8,
        "peer_order": kind as u8,
        "checks": results,
        "configs": configs,
        "quirks": kind.quirks(),
    });
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
}

/// One `#[test]` per (peer, session) of the matrix.
macro_rules! interop_matrix {
    ($($name:ident: $kind:ident, $session:ident;)*) => {
        $(
            #[test]
            fn $name() {
                matrix_row(PeerKind::$kind, Session::$session);
            }
        )*
    };
}

interop_matrix! {
    bird_ipv4: Bird, Ipv4;
    bird_ipv6: Bird, Ipv6;
    bird_dual_stack: Bird, DualStack;
    gobgp_ipv4: Gobgp, Ipv4;
    gobgp_ipv6: Gobgp, Ipv6;
    gobgp_dual_stack: Gobgp, DualStack;
    frr_ipv4: Frr, Ipv4;
    frr_ipv6: Frr, Ipv6;
    frr_dual_stack: Frr, DualStack;
    bird3_ipv4: Bird3, Ipv4;
    bird3_ipv6: Bird3, Ipv6;
    bird3_dual_stack: Bird3, DualStack;
    gobgp336_ipv4: Gobgp336, Ipv4;
    gobgp336_ipv6: Gobgp336, Ipv6;
    gobgp336_dual_stack: Gobgp336, DualStack;
    frr10_ipv4: Frr10, Ipv4;
    frr10_ipv6: Frr10, Ipv6;
    frr10_dual_stack: Frr10, DualStack;
    exabgp_ipv4: Exabgp, Ipv4;
    exabgp_ipv6: Exabgp, Ipv6;
    exabgp_dual_stack: Exabgp, DualStack;
}
