//! The peers of the interop matrix: how each is configured, started, queried and told to
//! withdraw or refresh, behind one [`Peer`] type.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::lab::{self, Bird, Lab, Root};
use crate::{Family, Session, PEER_AS, SD_AS};

pub const EXABGP: &str = "/usr/sbin/exabgp";

/// Which implementation the peer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// BIRD 2.0.12 (Debian 12).
    Bird,
    /// GoBGP 3.10 (Debian 12).
    Gobgp,
    /// FRR 8.4 bgpd (Debian 12).
    Frr,
    /// BIRD 3.1 (Debian 13 root).
    Bird3,
    /// GoBGP 3.36 (Debian 13 root).
    Gobgp336,
    /// FRR 10.3 bgpd (Debian 13 root).
    Frr10,
    /// ExaBGP 4.2 (Debian 12).
    Exabgp,
}

impl PeerKind {
    fn root(self) -> Root {
        match self {
            PeerKind::Bird3 | PeerKind::Gobgp336 | PeerKind::Frr10 => Root::debian13(),
            _ => Root::host(),
        }
    }

    /// A short lower-case name for files and labs.
    pub fn slug(self) -> &'static str {
        match self {
            PeerKind::Bird => "bird",
            PeerKind::Gobgp => "gobgp",
            PeerKind::Frr => "frr",
            PeerKind::Bird3 => "bird3",
            PeerKind::Gobgp336 => "gobgp336",
            PeerKind::Frr10 => "frr10",
            PeerKind::Exabgp => "exabgp",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PeerKind::Bird => "BIRD 2 (Debian 12)",
            PeerKind::Gobgp => "GoBGP 3.10 (Debian 12)",
            PeerKind::Frr => "FRR 8.4 (Debian 12)",
            PeerKind::Bird3 => "BIRD 3 (Debian 13)",
            PeerKind::Gobgp336 => "GoBGP 3.36 (Debian 13)",
            PeerKind::Frr10 => "FRR 10 (Debian 13)",
            PeerKind::Exabgp => "ExaBGP 4.2 (Debian 12)",
        }
    }

    /// What the matrix found about this peer that a user should know.
    pub fn quirks(self) -> &'static [&'static str] {
        match self {
            PeerKind::Bird | PeerKind::Bird3 => &[
                "Default graceful restart mode is `aware` (helper only: its capability lists no families); it keeps our routes when the session ends without a NOTIFICATION.",
                "Drops routes of a family the session did not negotiate with a log line (\"Unexpected AF\"), and refuses an IPv6 route with a 4-octet next hop (\"mismatched address family\").",
            ],
            PeerKind::Gobgp | PeerKind::Gobgp336 => &[
                "No graceful restart unless configured (`[neighbors.graceful-restart.config]` and per family `mp-graceful-restart`).",
                "Resets the session (UPDATE error) when it receives a route of a family the session did not negotiate.",
                "Its CLI cannot send a ROUTE-REFRESH.",
            ],
            PeerKind::Frr | PeerKind::Frr10 => &[
                "Default graceful restart mode is helper (`bgp graceful-restart` turns the restarting role on).",
                "Drops routes of a non-negotiated family with a log line (\"UPDATE for non-enabled AFI/SAFI\").",
                "bgpd learns its interfaces' addresses from zebra: without zebra (`bgpd -Z`), FRR 10 refuses an IPv4 session that carries IPv6 unicast (\"No local IPv6 address\", the OPEN fails); the dual-stack rows run zebra beside bgpd, the others bgpd alone.",
            ],
            PeerKind::Exabgp => &[
                "Keeps no RIB: received routes go to its API processes (here one that logs them as JSON), announcements come from its configuration and from commands written to a process.",
                "No graceful restart unless configured (`capability { graceful-restart N; }`).",
                "Treats a route of a non-negotiated family as a malformed UPDATE and resets the session.",
            ],
        }
    }
}

/// How the peer is configured.
#[derive(Clone, Debug, Default)]
pub struct PeerSettings {
    /// Graceful restart fully on (both roles); otherwise the peer's default.
    pub graceful_restart: bool,
    /// The TCP MD5 key.
    pub password: Option<&'static str>,
    /// The second of `Family::theirs` is no longer announced.
    pub withdrawn: bool,
}

impl PeerSettings {
    /// The prefixes of `family` the peer announces with these settings.
    pub fn routes(&self, family: &Family) -> Vec<&'static str> {
        if self.withdrawn {
            family.theirs[..1].to_vec()
        } else {
            family.theirs.to_vec()
        }
    }
}

enum Daemon {
    Bird(Bird),
    Gobgp(lab::Gobgp, Vec<String>),
    /// With zebra beside bgpd (process `bgpd-zebra`) or not.
    Frr(lab::Frr, bool),
    Exabgp {
        dir: PathBuf,
    },
}

/// A running peer.
pub struct Peer {
    pub kind: PeerKind,
    daemon: Daemon,
    /// Its configuration file on the host.
    config: PathBuf,
}

fn bird_conf(session: Session, settings: &PeerSettings) -> String {
    let mut statics = String::new();
    let mut channels = String::new();
    for family in session.families() {
        let routes: String = settings
            .routes(family)
            .iter()
            .map(|r| format!("  route {r} blackhole;\n"))
            .collect();
        statics += &format!(
            "protocol static static_{} {{\n  {};\n{routes}}}\n",
            family.afi, family.afi
        );
        channels += &format!("  {} {{ import all; export all; }};\n", family.afi);
    }
    let gr = if settings.graceful_restart {
        "  graceful restart on;\n"
    } else {
        ""
    };
    let password = settings
        .password
        .map(|p| format!("  password \"{p}\";\n"))
        .unwrap_or_default();
    format!(
        "log stderr all;\nrouter id 198.18.0.2;\nprotocol device {{}}\n{statics}\
         protocol bgp speakerd {{\n  local {} as {PEER_AS};\n  neighbor {} as {SD_AS};\n\
         \x20 hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
         \x20 error wait time 1,2;\n{gr}{password}{channels}}}\n",
        session.peer(),
        session.sd()
    )
}

fn gobgp_conf(session: Session, settings: &PeerSettings) -> String {
    let password = settings
        .password
        .map(|p| format!("    auth-password = \"{p}\"\n"))
        .unwrap_or_default();
    let gr = if settings.graceful_restart {
        "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 60\n"
    } else {
        ""
    };
    let mut families = String::new();
    for family in session.families() {
        families += &format!(
            "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{}\"\n",
            family.name
        );
        if settings.graceful_restart {
            families +=
                "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n";
        }
    }
    format!(
        "[global.config]\n  as = {PEER_AS}\n  router-id = \"198.18.0.2\"\n  port = 179\n\n\
         [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {SD_AS}\n{password}\
         \x20 [neighbors.timers.config]\n    connect-retry = 2\n    hold-time = 9\n    keepalive-interval = 3\n\
         {gr}{families}",
        session.sd()
    )
}

fn frr_conf(dir: &str, session: Session, settings: &PeerSettings) -> String {
    let sd = session.sd();
    let gr = if settings.graceful_restart {
        " bgp graceful-restart\n"
    } else {
        ""
    };
    let password = settings
        .password
        .map(|p| format!(" neighbor {sd} password {p}\n"))
        .unwrap_or_default();
    let mut families = String::new();
    for family in session.families() {
        let networks: String = settings
            .routes(family)
            .iter()
            .map(|n| format!("  network {n}\n"))
            .collect();
        let activate = if family.afi == "ipv6" {
            format!("  neighbor {sd} activate\n")
        } else {
            String::new()
        };
        families += &format!(
            " address-family {} unicast\n{activate}{networks} exit-address-family\n !\n",
            family.afi
        );
    }
    format!(
        "frr defaults traditional\nhostname frr\nlog file {dir}/bgpd-frr.log\n!\n\
         router bgp {PEER_AS}\n bgp router-id 198.18.0.2\n no bgp ebgp-requires-policy\n\
         \x20no bgp network import-check\n{gr} neighbor {sd} remote-as {SD_AS}\n\
         \x20neighbor {sd} timers 3 9\n neighbor {sd} timers connect 2\n{password} !\n{families}!\n"
    )
}

fn exabgp_conf(dir: &str, session: Session, settings: &PeerSettings) -> String {
    let families: String = session
        .families()
        .iter()
        .map(|f| format!("    {} unicast;\n", f.afi))
        .collect();
    let routes: String = session
        .families()
        .iter()
        .flat_map(|f| {
            settings
                .routes(f)
                .into_iter()
                .map(move |r| format!("    route {r} next-hop {};\n", f.their_next_hop))
        })
        .collect();
    let password = settings
        .password
        .map(|p| format!("  md5-password \"{p}\";\n"))
        .unwrap_or_default();
    let gr = if settings.graceful_restart {
        "    graceful-restart 60;\n"
    } else {
        ""
    };
    format!(
        "process commands {{\n  run /usr/bin/tail -n0 -F {dir}/commands;\n  encoder text;\n}}\n\
         process received {{\n  run {dir}/received.sh;\n  encoder json;\n}}\n\
         neighbor {} {{\n  router-id 198.18.0.2;\n  local-address {};\n  local-as {PEER_AS};\n\
         \x20 peer-as {SD_AS};\n  hold-time 9;\n{password}  family {{\n{families}  }}\n\
         \x20 capability {{\n    route-refresh;\n{gr}  }}\n\
         \x20 api {{\n    processes [ commands ];\n  }}\n\
         \x20 api {{\n    processes [ received ];\n    neighbor-changes;\n    receive {{\n      parsed;\n      update;\n    }}\n  }}\n\
         \x20 static {{\n{routes}  }}\n}}\n",
        session.sd(),
        session.peer()
    )
}

impl Peer {
    /// Starts a peer of `kind` in `ns` for `session` with `settings`.
    pub fn start(
        lab: &mut Lab,
        kind: PeerKind,
        ns: &str,
        session: Session,
        settings: &PeerSettings,
    ) -> Peer {
        let root = kind.root();
        match kind {
            PeerKind::Bird | PeerKind::Bird3 => {
                let bird = lab.bird_under(&root, "bird", ns, &bird_conf(session, settings), &[]);
                let config = bird.conf();
                Peer {
                    kind,
                    daemon: Daemon::Bird(bird),
                    config,
                }
            }
            PeerKind::Gobgp | PeerKind::Gobgp336 => {
                let gobgp = lab.gobgpd_under(&root, "gobgpd", ns, &gobgp_conf(session, settings));
                let mut commands = Vec::new();
                for family in session.families() {
                    for prefix in settings.routes(family) {
                        let mut args = vec!["global", "rib", "add", "-a", family.afi, prefix];
                        if family.afi == "ipv6" && session == Session::DualStack {
                            // Its own choice on an IPv4 session is the IPv4-mapped address.
                            args.extend(["nexthop", family.their_next_hop]);
                        }
                        gobgp.gobgp(&args);
                        commands.push(format!("gobgp {}", args.join(" ")));
                    }
                }
                let config = lab.dir_under(&root).join("gobgpd.gobgp.toml");
                Peer {
                    kind,
                    daemon: Daemon::Gobgp(gobgp, commands),
                    config,
                }
            }
            PeerKind::Frr | PeerKind::Frr10 => {
                let dir = lab.dir_under(&root);
                let inner = root.inner(&dir);
                let conf = frr_conf(&inner, session, settings);
                let zebra = session == Session::DualStack;
                let frr = if zebra {
                    lab.frr_zebra_bgpd_under(&root, "bgpd", ns, &conf)
                } else {
                    lab.frr_bgpd_under(&root, "bgpd", ns, &conf)
                };
                let config = frr.dir.join("frr.conf");
                Peer {
                    kind,
                    daemon: Daemon::Frr(frr, zebra),
                    config,
                }
            }
            PeerKind::Exabgp => {
                lab::require(EXABGP);
                let dir = lab.dir().join("exabgp");
                fs::create_dir_all(&dir).unwrap();
                let d = dir.to_str().unwrap();
                fs::write(dir.join("commands"), "").unwrap();
                let _ = fs::remove_file(dir.join("received.json"));
                let script = dir.join("received.sh");
                // Not `exec cat`: the shell keeps its stdout, the pipe ExaBGP reads, open
                // (ExaBGP counts a process whose stdout closed as dead).
                fs::write(&script, format!("#!/bin/sh\ncat >> {d}/received.json\n")).unwrap();
                lab::run_ok("chmod", &["755", script.to_str().unwrap()]);
                let config = dir.join("exabgp.conf");
                fs::write(&config, exabgp_conf(d, session, settings)).unwrap();
                lab.spawn(
                    "exabgp",
                    ns,
                    EXABGP,
                    &[config.to_str().unwrap()],
                    &[
                        ("exabgp_daemon_user", "root"),
                        ("exabgp_daemon_drop", "false"),
                        ("exabgp_daemon_daemonize", "false"),
                        ("exabgp_api_cli", "false"),
                        ("exabgp_log_level", "INFO"),
                    ],
                );
                Peer {
                    kind,
                    daemon: Daemon::Exabgp { dir },
                    config,
                }
            }
        }
    }

    /// Stops the peer at once (SIGKILL): it sends nothing more.
    pub fn stop(&self, lab: &mut Lab) {
        let name = match self.daemon {
            Daemon::Bird(_) => "bird",
            Daemon::Gobgp(..) => "gobgpd",
            Daemon::Frr(..) => "bgpd",
            Daemon::Exabgp { .. } => "exabgp",
        };
        lab.stop(name, "KILL");
        if let Daemon::Frr(_, true) = self.daemon {
            lab.stop("bgpd-zebra", "KILL");
        }
    }

    /// Its configuration, as the test wrote it (GoBGP: and the CLI commands that add its
    /// routes).
    pub fn config_text(&self) -> String {
        let text = fs::read_to_string(&self.config).unwrap_or_default();
        match &self.daemon {
            Daemon::Gobgp(_, commands) => {
                format!("{text}\n# routes:\n# {}\n", commands.join("\n# "))
            }
            _ => text,
        }
    }

    /// The peer's version, as it prints it.
    pub fn version(&self) -> String {
        let (program, args): (&str, &[&str]) = match self.kind {
            PeerKind::Bird | PeerKind::Bird3 => (lab::BIRD, &["--version"]),
            PeerKind::Gobgp | PeerKind::Gobgp336 => (lab::GOBGPD, &["--version"]),
            PeerKind::Frr | PeerKind::Frr10 => (lab::FRR_BGPD, &["--version"]),
            PeerKind::Exabgp => (EXABGP, &["--version"]),
        };
        let out = self
            .kind
            .root()
            .command(None, program, args)
            .output()
            .unwrap_or_else(|e| panic!("{program} --version: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .find(|l| l.chars().any(|c| c.is_ascii_digit()))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// ExaBGP's view: the session is up, and the routes it holds from us (prefix to its
    /// update), from the JSON its `received` process logged since the last session start.
    fn exabgp_state(dir: &std::path::Path) -> (bool, std::collections::BTreeMap<String, Value>) {
        let text = fs::read_to_string(dir.join("received.json")).unwrap_or_default();
        let mut up = false;
        let mut routes = std::collections::BTreeMap::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            match v["type"].as_str() {
                Some("state") => {
                    up = v["neighbor"]["state"] == "up";
                    routes.clear();
                }
                Some("update") => {
                    let update = &v["neighbor"]["message"]["update"];
                    for (_, nlris) in update["withdraw"].as_object().into_iter().flatten() {
                        for n in nlris.as_array().into_iter().flatten() {
                            if let Some(p) = n["nlri"].as_str() {
                                routes.remove(p);
                            }
                        }
                    }
                    for (_, by_next_hop) in update["announce"].as_object().into_iter().flatten() {
                        for (next_hop, nlris) in by_next_hop.as_object().into_iter().flatten() {
                            for n in nlris.as_array().into_iter().flatten() {
                                if let Some(p) = n["nlri"].as_str() {
                                    routes.insert(
                                        p.to_string(),
                                        serde_json::json!({
                                            "next_hop": next_hop,
                                            "attribute": update["attribute"].clone(),
                                        }),
                                    );
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        (up, routes)
    }

    /// Its session with speakerd is Established.
    pub fn established(&self, session: Session) -> Result<String, String> {
        let up = |out: String, word: &str| {
            if out.to_lowercase().contains(word) {
                Ok(out)
            } else {
                Err(out)
            }
        };
        match &self.daemon {
            Daemon::Bird(bird) => bird.established("speakerd"),
            Daemon::Gobgp(g, _) => up(
                g.try_gobgp(&["neighbor", session.sd()])?,
                "bgp state = established",
            ),
            Daemon::Frr(f, _) => up(
                f.try_vtysh(&[&format!("show bgp neighbors {} json", session.sd())])?,
                "\"bgpstate\":\"established\"",
            ),
            Daemon::Exabgp { dir } => match Self::exabgp_state(dir) {
                (true, _) => Ok("up".into()),
                (false, _) => Err("not up".into()),
            },
        }
    }

    /// Its RIB's text for `prefix`, when it has selected a route (FRR 10 lists a path before
    /// its best-path run, without `bestpath`).
    pub fn route(&self, family: &Family, prefix: &str) -> Result<String, String> {
        let present = |out: String, sign: &str| {
            if out.contains(sign) {
                Ok(out)
            } else {
                Err(out)
            }
        };
        match &self.daemon {
            Daemon::Bird(bird) => bird.route(prefix),
            Daemon::Gobgp(g, _) => {
                let out = g.try_gobgp(&["global", "rib", "-a", family.afi, prefix])?;
                present(out, prefix)
            }
            Daemon::Frr(f, _) => {
                let show = format!("show bgp {} unicast {prefix} json", family.afi);
                present(f.try_vtysh(&[&show])?, "\"bestpath\"")
            }
            Daemon::Exabgp { dir } => Self::exabgp_state(dir)
                .1
                .get(prefix)
                .map(|r| r.to_string())
                .ok_or_else(|| format!("{prefix} not received")),
        }
    }

    /// Whether a route text of [`Peer::route`] has next hop `next_hop`.
    pub fn next_hop_is(&self, route: &str, next_hop: &str) -> bool {
        match self.kind {
            PeerKind::Bird => route.contains(&format!("BGP.next_hop: {next_hop}")),
            PeerKind::Bird3 => route.contains(&format!("bgp_next_hop: {next_hop}")),
            PeerKind::Gobgp | PeerKind::Gobgp336 => route
                .lines()
                .any(|l| l.split_whitespace().any(|w| w == next_hop)),
            PeerKind::Frr | PeerKind::Frr10 => route.contains(&format!("\"ip\":\"{next_hop}\"")),
            PeerKind::Exabgp => route.contains(&format!("\"next_hop\":\"{next_hop}\"")),
        }
    }

    /// Stops announcing `prefix` of `family` (`settings` already say so).
    pub fn withdraw(
        &self,
        session: Session,
        settings: &PeerSettings,
        family: &Family,
        prefix: &str,
    ) {
        match &self.daemon {
            Daemon::Bird(bird) => bird.reconfigure(&bird_conf(session, settings)),
            Daemon::Gobgp(g, _) => {
                g.gobgp(&["global", "rib", "del", "-a", family.afi, prefix]);
            }
            Daemon::Frr(f, _) => {
                f.vtysh(&[
                    "configure terminal",
                    &format!("router bgp {PEER_AS}"),
                    &format!("address-family {} unicast", family.afi),
                    &format!("no network {prefix}"),
                ]);
            }
            Daemon::Exabgp { dir } => exabgp_command(
                dir,
                &format!("withdraw route {prefix} next-hop {}", family.their_next_hop),
            ),
        }
    }

    /// Makes the peer send ROUTE-REFRESH for every family of the session.
    pub fn request_refresh(&self, session: Session) {
        match &self.daemon {
            // BIRD 3 spells it `reload bgp in` (its `reload filters in` re-runs the filters).
            Daemon::Bird(bird) if self.kind == PeerKind::Bird3 => {
                bird.birdc(&["reload", "bgp", "in", "speakerd"]);
            }
            Daemon::Bird(bird) => {
                bird.birdc(&["reload", "in", "speakerd"]);
            }
            Daemon::Gobgp(..) => unreachable!("not applicable: GoBGP's CLI sends no ROUTE-REFRESH"),
            Daemon::Frr(f, _) => {
                for family in session.families() {
                    f.vtysh(&[&format!(
                        "clear bgp {} unicast {} soft in",
                        family.afi,
                        session.sd()
                    )]);
                }
            }
            Daemon::Exabgp { dir } => {
                for family in session.families() {
                    exabgp_command(
                        dir,
                        &format!("announce route-refresh {} unicast", family.afi),
                    );
                }
            }
        }
    }

    /// How many routes of `family` the peer holds from speakerd.
    pub fn route_count(&self, session: Session, family: &Family) -> usize {
        let number = |s: Option<&str>| s.and_then(|n| n.parse::<usize>().ok());
        match &self.daemon {
            Daemon::Bird(bird) => {
                let table = if family.afi == "ipv4" {
                    "master4"
                } else {
                    "master6"
                };
                let out = bird.birdc(&[
                    "show", "route", "table", table, "protocol", "speakerd", "count",
                ]);
                // "N of M routes for K networks in table master4"
                out.lines()
                    .find_map(|l| {
                        let words: Vec<&str> = l.split_whitespace().collect();
                        (words.get(1) == Some(&"of")).then(|| number(words.first().copied()))?
                    })
                    .unwrap_or_else(|| panic!("no route count: {out}"))
            }
            Daemon::Gobgp(g, _) => {
                // One row per route, its prefix the only word with a '/'.
                let out = g.gobgp(&["neighbor", session.sd(), "adj-in", "-a", family.afi]);
                out.lines()
                    .filter(|l| l.split_whitespace().any(|w| w.contains('/')))
                    .count()
            }
            Daemon::Frr(f, _) => {
                let out = f.vtysh(&[&format!("show bgp {} unicast summary json", family.afi)]);
                let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
                v["peers"][session.sd()]["pfxRcd"].as_u64().unwrap_or(0) as usize
            }
            Daemon::Exabgp { dir } => {
                let v6 = family.afi == "ipv6";
                Self::exabgp_state(dir)
                    .1
                    .keys()
                    .filter(|p| p.contains(':') == v6)
                    .count()
            }
        }
    }
}

/// Appends a command line to ExaBGP's command file (read by its `commands` process).
fn exabgp_command(dir: &std::path::Path, line: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("commands"))
        .unwrap();
    writeln!(f, "{line}").unwrap();
}
