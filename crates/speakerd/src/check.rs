//! `speakerd check`: validates a configuration file and, with `--diff OLD` or `--diff-running`,
//! says what a reload (SIGHUP) from the old configuration to it would do. The plan is the one
//! the daemon's reload acts on ([`crate::config::diff`]); this module only finds the old
//! configuration and prints the plan, for people or as JSON.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use thiserror::Error;

use crate::client::{self, ClientError};
use crate::config::diff::{
    after_reload, diff, ImportReapply, NeighborChange, ReloadPlan, SessionFacts,
};
use crate::config::{Config, ConfigError};
use crate::msg::{NeighborView, RunningConfig, SessionCapability};

/// The configuration a reload would start from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// A configuration file (`--diff OLD`).
    File(PathBuf),
    /// The configuration in force in the daemon behind this admin API (`--diff-running`).
    Running(SocketAddr),
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Baseline::File(path) => write!(f, "{}", path.display()),
            Baseline::Running(admin) => write!(f, "the running configuration ({admin})"),
        }
    }
}

/// Configuration errors, one per line.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Why no reload plan could be made.
#[derive(Debug, Error)]
pub enum CheckError {
    /// The old configuration file is not valid.
    #[error("the old configuration is not valid:\n{0}")]
    Old(ConfigErrors),
    /// The daemon's running configuration does not validate here (a `password_file` this
    /// user cannot read, a `password_env` not set here).
    #[error("the running configuration does not validate here:\n{0}")]
    Running(ConfigErrors),
    /// The admin API could not be asked.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The configuration in force in the daemon behind `admin`, rebuilt from the texts it
/// serves exactly as its reloads built it, and what is known of its sessions.
pub fn running(admin: SocketAddr) -> Result<(Config, Vec<NeighborView>), CheckError> {
    let body = client::get(admin, "/api/config")?;
    let served: RunningConfig = serde_json::from_str(&body).map_err(ClientError::Json)?;
    let parse = |text: &str| {
        Config::parse_interpolated(text, &served.path)
            .map_err(|e| CheckError::Running(ConfigErrors(e)))
    };
    let mut config = parse(&served.started)?;
    if let Some(text) = &served.reloaded {
        config = after_reload(&config, parse(text)?);
    }
    let body = client::get(admin, "/api/neighbors")?;
    let sessions: Vec<NeighborView> = serde_json::from_str(&body).map_err(ClientError::Json)?;
    Ok((config, sessions))
}

/// What a session view says about how an import change reaches it.
fn session_facts(sessions: &[NeighborView], address: IpAddr) -> SessionFacts {
    match sessions.iter().find(|v| v.address == address) {
        Some(v) if v.state.eq_ignore_ascii_case("established") => SessionFacts::Established {
            route_refresh: v.capabilities.contains(&SessionCapability::RouteRefresh),
        },
        _ => SessionFacts::NotEstablished,
    }
}

/// The plan of a reload from `baseline` to `new`.
pub fn preview(new: &Config, baseline: &Baseline) -> Result<ReloadPlan, CheckError> {
    match baseline {
        Baseline::File(path) => {
            let old = Config::load(path).map_err(|e| CheckError::Old(ConfigErrors(e)))?;
            Ok(diff(&old, new, &|_| SessionFacts::Unknown))
        }
        Baseline::Running(admin) => {
            let (old, sessions) = running(*admin)?;
            Ok(diff(&old, new, &|a| session_facts(&sessions, a)))
        }
    }
}

fn import_text(how: ImportReapply) -> &'static str {
    match how {
        ImportReapply::KeptRoutes => {
            "import chain applied to the routes kept as received (soft_reconfiguration_inbound), \
             no ROUTE-REFRESH"
        }
        ImportReapply::RouteRefresh => "import chain applied by a ROUTE-REFRESH (RFC 2918)",
        ImportReapply::RouteRefreshIfSupported => {
            "import chain applied by a ROUTE-REFRESH (RFC 2918) if the session negotiated route \
             refresh, otherwise only to routes the neighbour sends later"
        }
        ImportReapply::NewRoutesOnly => {
            "import chain applied only to routes the neighbour sends from now on (no route \
             refresh on the session, no soft_reconfiguration_inbound)"
        }
        ImportReapply::NextSession => {
            "import chain applied to all its routes when the session is Established (it is not)"
        }
    }
}

/// The plan for people, one change per line.
pub fn describe(plan: &ReloadPlan) -> String {
    if plan.is_empty() {
        return "  nothing changes\n".to_string();
    }
    let mut out = String::new();
    for n in &plan.neighbors {
        let what = match &n.change {
            NeighborChange::Added => "added: its session is started".to_string(),
            NeighborChange::Removed => {
                "removed: its session is closed (Cease 6/3) and its routes withdrawn".to_string()
            }
            NeighborChange::Reset { keys } => {
                let keys: Vec<&str> = keys.iter().map(|k| k.key()).collect();
                format!(
                    "reset: {} changed, so the session is closed (Cease 6/3) and started again",
                    keys.join(", ")
                )
            }
            NeighborChange::Policies {
                import,
                export,
                description,
            } => {
                let mut parts: Vec<&str> = Vec::new();
                if let Some(how) = import {
                    parts.push(import_text(*how));
                }
                if *export {
                    parts.push("export chain applied: changed routes sent at once");
                }
                if *description {
                    parts.push("description changed");
                }
                format!("kept up (no reset): {}", parts.join("; "))
            }
        };
        out.push_str(&format!("  neighbor {}: {what}\n", n.address));
    }
    let p = &plan.prefixes;
    for (list, what) in [
        (&p.announced, "announced"),
        (&p.reannounced, "announced again (communities changed)"),
        (&p.withdrawn, "withdrawn"),
    ] {
        for prefix in list {
            out.push_str(&format!("  prefix {prefix}: {what}\n"));
        }
    }
    if !plan.restart_required.is_empty() {
        let keys: Vec<&str> = plan.restart_required.iter().map(|k| k.key()).collect();
        out.push_str(&format!(
            "  not applied by a reload, only by a restart of speakerd (which restarts every \
             session): {}\n",
            keys.join(", ")
        ));
    }
    out
}

/// `speakerd check --config PATH [--diff OLD | --diff-running] [--json]`: prints every error
/// of the file, or that it is valid and, given a baseline, the plan of a reload to it.
pub fn run(path: &Path, baseline: Option<&Baseline>, json: bool) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{}", ConfigErrors(errors));
            return ExitCode::FAILURE;
        }
    };
    let Some(baseline) = baseline else {
        println!(
            "{}: ok ({} neighbors, {} dynamic ranges, {} prefixes)",
            path.display(),
            config.neighbors.len(),
            config.dynamic_neighbors.len(),
            config.prefixes.len()
        );
        return ExitCode::SUCCESS;
    };
    let plan = match preview(&config, baseline) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("speakerd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        match serde_json::to_string_pretty(&plan) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("speakerd: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!(
            "{}: ok; a reload from {baseline} to it does:\n{}",
            path.display(),
            describe(&plan)
        );
    }
    ExitCode::SUCCESS
}
