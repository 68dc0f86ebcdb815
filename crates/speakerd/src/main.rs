//! `speakerd`: the BGP speaker daemon and its command-line tools.

use speakerd::{check, client, config, daemon, decode, init};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// A BGP-4 speaker for Kubernetes nodes and edge routers.
#[derive(Parser)]
#[command(name = "speakerd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Log as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Validate a configuration file: every error with file, line and reason; with --diff or
    /// --diff-running, also what a reload (SIGHUP) to it would do.
    #[command(group = clap::ArgGroup::new("baseline").args(["diff", "diff_running"]))]
    Check {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Compare with this configuration file, as if the daemon ran it.
        #[arg(long, value_name = "OLD")]
        diff: Option<PathBuf>,
        /// Compare with the running daemon's configuration (from its admin API).
        #[arg(long)]
        diff_running: bool,
        /// The daemon's admin API, for --diff-running.
        #[arg(long, env = "SPEAKERD_ADMIN", default_value = "127.0.0.1:9179")]
        admin: SocketAddr,
        /// Print the reload plan as JSON.
        #[arg(long, requires = "baseline")]
        json: bool,
    },
    /// Write a commented starter configuration for a role.
    Init {
        /// What speakerd is for: a Kubernetes node, an edge router or a route reflector.
        #[arg(long, value_enum)]
        role: init::Role,
        /// The file to write (stdout without it).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Ask the running daemon.
    Show {
        #[command(subcommand)]
        what: Show,
        /// The daemon's admin API (the DaemonSet sets SPEAKERD_ADMIN to the node's).
        #[arg(
            long,
            global = true,
            env = "SPEAKERD_ADMIN",
            default_value = "127.0.0.1:9179"
        )]
        admin: SocketAddr,
        /// Print the JSON the API returns.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Write an MRT dump of the running daemon's RIB.
    Dump {
        #[command(subcommand)]
        what: Dump,
        /// The daemon's admin API (the DaemonSet sets SPEAKERD_ADMIN to the node's).
        #[arg(
            long,
            global = true,
            env = "SPEAKERD_ADMIN",
            default_value = "127.0.0.1:9179"
        )]
        admin: SocketAddr,
    },
    /// Decode MRT files, BMP recordings or hex BGP messages to JSON lines.
    Decode {
        /// An MRT file.
        #[arg(long, conflicts_with = "bmp")]
        mrt: Option<String>,
        /// A BMP recording: the octets a collector received (RFC 7854).
        #[arg(long)]
        bmp: Option<String>,
        /// Whole BGP messages in hex (4-octet AS session context).
        hex: Vec<String>,
    },
    /// A live view of the running daemon: sessions, rates, the RIB and the kernel; q quits.
    Top {
        /// The daemon's admin API.
        #[arg(long, env = "SPEAKERD_ADMIN", default_value = "127.0.0.1:9179")]
        admin: SocketAddr,
        /// Seconds between refreshes (0.1 to 3600).
        #[arg(long, default_value_t = 1.0, value_parser = refresh_interval)]
        interval: f64,
    },
    /// Print the CustomResourceDefinitions of bgp.speakerd.io (config/kubernetes/crds.yaml).
    Crds,
    /// Print the version.
    Version,
}

/// Prints an admin API answer for people.
type Printer = Box<dyn Fn(&str) -> Result<(), client::ClientError>>;

#[derive(Subcommand)]
enum Show {
    /// Neighbours and their sessions.
    Neighbors,
    /// Selected routes, optionally only those inside PREFIX.
    Routes {
        /// Only routes inside this prefix.
        prefix: Option<bgp_proto::Prefix>,
    },
    /// Every path of one prefix and why the best one won.
    Route {
        /// The prefix.
        prefix: bgp_proto::Prefix,
    },
    /// BFD sessions (RFC 5880) of the neighbours that have `bfd` configured.
    Bfd,
}

#[derive(Subcommand)]
enum Dump {
    /// A TABLE_DUMP_V2 file (RFC 6396 §4.3) of the Adj-RIB-In of every neighbour: what each one
    /// sent (as received with soft reconfiguration inbound, else after import policy).
    Rib {
        /// The file to write.
        file: PathBuf,
        /// The selected routes (the Loc-RIB) instead, our own prefixes included.
        #[arg(long)]
        loc_rib: bool,
    },
}

/// `--interval` of `speakerd top`: a number of seconds from 0.1 to 3600.
fn refresh_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.1..=3600.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "'{text}' is not a number of seconds from 0.1 to 3600"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. }) {
        speakerd::sockopt::default_sigpipe();
    }
    match cli.command {
        Command::Run { config, log_json } => {
            let filter =
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
            if log_json {
                tracing_subscriber::fmt()
                    .json()
                    .with_env_filter(filter)
                    .init();
            } else {
                tracing_subscriber::fmt().with_env_filter(filter).init();
            }
            let path = config;
            let (config, source) = match config::Config::load_with_source(&path) {
                Ok(loaded) => loaded,
                Err(errors) => return report_config_errors(&errors),
            };
            // Sessions, the control core and the kernel writer are tasks of one runtime whose
            // workers use the machine's cores (up to four: the pipeline has three stages), so
            // decoding, the decision process and the kernel's work overlap.
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("speakerd: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(daemon::run(config, source, path)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("speakerd: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check {
            config,
            diff,
            diff_running,
            admin,
            json,
        } => {
            let baseline = match (diff, diff_running) {
                (Some(old), _) => Some(check::Baseline::File(old)),
                (None, true) => Some(check::Baseline::Running(admin)),
                (None, false) => None,
            };
            check::run(&config, baseline.as_ref(), json)
        }
        Command::Init {
            role,
            output,
            force,
        } => match init::write(role, output.as_deref(), force) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("speakerd: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Show { what, admin, json } => {
            let (path, printer): (String, Printer) = match what {
                Show::Neighbors => ("/api/neighbors".into(), Box::new(client::print_neighbors)),
                Show::Routes { prefix } => (
                    "/api/routes".into(),
                    Box::new(move |b| client::print_routes(b, prefix)),
                ),
                Show::Route { prefix } => (
                    format!("/api/route?prefix={prefix}"),
                    Box::new(move |b| client::print_route(b, &prefix.to_string())),
                ),
                Show::Bfd => ("/api/bfd".into(), Box::new(client::print_bfd)),
            };
            let result = client::get(admin, &path).and_then(|body| {
                if json {
                    println!("{}", body.trim_end());
                    Ok(())
                } else {
                    printer(&body)
                }
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("speakerd: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Dump {
            what: Dump::Rib { file, loc_rib },
            admin,
        } => match speakerd::mrt_dump::fetch(admin, loc_rib, &file) {
            Ok(written) => {
                // On stderr: the file may be stdout.
                match written.counts {
                    Some(c) => eprintln!(
                        "{}: {} octets, {} RIB records, {} paths",
                        file.display(),
                        written.octets,
                        c.records,
                        c.entries
                    ),
                    None => eprintln!("{}: {} octets", file.display(), written.octets),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("speakerd: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Decode { mrt, bmp, hex } => {
            let result = match (mrt, bmp) {
                (Some(path), _) => decode::mrt(&path),
                (None, Some(path)) => decode::bmp(&path),
                (None, None) => decode::hex(&hex, &bgp_proto::SessionContext::modern_ebgp()),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("speakerd: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Top { admin, interval } => {
            let interval = std::time::Duration::from_secs_f64(interval);
            match speakerd::top::run(admin, interval) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("speakerd top: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Crds => {
            print!("{}", speakerd::crd::manifests());
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("speakerd {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

fn report_config_errors(errors: &[config::ConfigError]) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    ExitCode::FAILURE
}
