//! The harness of the real-peer tests: network namespaces joined by veth pairs, speakerd, BIRD,
//! GoBGP and FRR as child processes with their configurations in a private directory, bounded
//! polling, and a teardown in `Drop` that kills every process and deletes every namespace, also
//! when the test panics.
//!
//! The peers run either from this machine (Debian 12: BIRD 2, GoBGP 3.10, FRR 8.4) or from a
//! Debian 13 root (BIRD 3, GoBGP 3.36, FRR 10; see [`Root`]) entered with chroot inside the
//! test's namespace, with their files in the lab's directory inside that root.
//!
//! Namespaces are named `sdt<pid>x<n>-<name>`, so tests running in parallel processes (nextest)
//! never share one. Addresses come from 198.18.0.0/15 and 2001:db8::/32 and live only inside
//! the namespaces a lab creates; the machine's own routing table is never touched.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SPEAKERD: &str = env!("CARGO_BIN_EXE_speakerd");
pub const IP: &str = "/usr/sbin/ip";
pub const BIRD: &str = "/usr/sbin/bird";
pub const BIRDC: &str = "/usr/sbin/birdc";
pub const GOBGPD: &str = "/usr/bin/gobgpd";
pub const GOBGP: &str = "/usr/bin/gobgp";
pub const FRR_BGPD: &str = "/usr/lib/frr/bgpd";
pub const FRR_ZEBRA: &str = "/usr/lib/frr/zebra";
pub const FRR_BFDD: &str = "/usr/lib/frr/bfdd";

/// The FRR daemons started beside bgpd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrrHelpers {
    /// bgpd alone (`-Z`: no zebra).
    None,
    /// zebra, so that bgpd knows the interfaces.
    Zebra,
    /// zebra and bfdd.
    ZebraAndBfdd,
    /// zebra, with bgpd installing its best routes into the namespace's kernel through it.
    ZebraFib,
}
pub const VTYSH: &str = "/usr/bin/vtysh";

/// The environment variable naming the Debian 13 root (`scripts/test.sh` builds it with
/// `../shared/peers/make-debian13-root.sh DIR` and sets it).
pub const DEBIAN13_ROOT_ENV: &str = "SPEAKERD_DEBIAN13_ROOT";

/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(200);

static LABS: AtomicUsize = AtomicUsize::new(0);

/// Fails the test (never skips it) when a binary the test needs is not installed.
pub fn require(binary: &str) {
    Root::host().require(binary);
}

fn executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| {
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
        })
        .unwrap_or(false)
}

/// Where a peer's programs come from: this machine itself, or a root filesystem (the Debian 13
/// one with BIRD 3, GoBGP 3.36 and FRR 10) that they run in with chroot. The programs have the
/// same paths in both ([`BIRD`], [`GOBGPD`], ...); their files (configuration, sockets, pid
/// files, logs) lie in the lab's directory under the root, [`Lab::dir_under`].
#[derive(Clone, Debug, Default)]
pub struct Root {
    /// The root's directory on the host; `None` for the machine itself.
    dir: Option<PathBuf>,
}

impl Root {
    /// This machine's own programs.
    pub fn host() -> Root {
        Root { dir: None }
    }

    /// The Debian 13 root named by `$SPEAKERD_DEBIAN13_ROOT`; fails the test (never skips it)
    /// when the variable is unset or the root is incomplete.
    pub fn debian13() -> Root {
        let dir = std::env::var_os(DEBIAN13_ROOT_ENV).unwrap_or_else(|| {
            panic!(
                "{DEBIAN13_ROOT_ENV} is not set: this test runs BIRD 3, GoBGP 3.36 or FRR 10 from \
                 a Debian 13 root; build one with `bash ../shared/peers/make-debian13-root.sh DIR` \
                 and set {DEBIAN13_ROOT_ENV}=DIR (scripts/test.sh does both)"
            )
        });
        let root = Root {
            dir: Some(PathBuf::from(dir)),
        };
        for program in [BIRD, BIRDC, GOBGPD, GOBGP, FRR_BGPD, VTYSH] {
            root.require(program);
        }
        root
    }

    /// Fails the test when `program` (a path as seen under the root) is not installed there.
    pub fn require(&self, program: &str) {
        let ok = executable(&self.host_path(program));
        match &self.dir {
            None => assert!(
                ok,
                "{program} is missing: install it (scripts/test.sh installs bird2, gobgpd and frr)"
            ),
            Some(dir) => assert!(
                ok,
                "{program} is missing in the Debian 13 root {} (${DEBIAN13_ROOT_ENV}): build it \
                 with `bash ../shared/peers/make-debian13-root.sh {}` (scripts/test.sh does)",
                dir.display(),
                dir.display()
            ),
        }
    }

    /// The host's path of `path` as programs under the root see it (`path` must not pass
    /// through a symlink of the root: those resolve on the host).
    pub fn host_path(&self, path: &str) -> PathBuf {
        match &self.dir {
            None => PathBuf::from(path),
            Some(dir) => dir.join(path.trim_start_matches('/')),
        }
    }

    /// A host path inside the root as programs under the root see it.
    pub fn inner(&self, host: &Path) -> String {
        let inner = match &self.dir {
            None => host,
            Some(dir) => host.strip_prefix(dir).unwrap_or_else(|_| {
                panic!(
                    "{} is not inside the root {}",
                    host.display(),
                    dir.display()
                )
            }),
        };
        format!("/{}", inner.to_str().unwrap().trim_start_matches('/'))
    }

    /// The command that runs `program args` under the root (with chroot), inside namespace `ns`
    /// when given (with `ip netns exec`).
    pub fn command(&self, ns: Option<&str>, program: &str, args: &[&str]) -> Command {
        let mut line: Vec<&str> = Vec::new();
        if let Some(ns) = ns {
            line.extend([IP, "netns", "exec", ns]);
        }
        if let Some(dir) = &self.dir {
            line.extend(["chroot", dir.to_str().unwrap()]);
        }
        line.push(program);
        line.extend_from_slice(args);
        let mut cmd = Command::new(line[0]);
        cmd.args(&line[1..]).stdin(Stdio::null());
        cmd
    }

    /// Runs `program args` under the root (inside `ns` when given) to completion; its stdout,
    /// or the failure as an error.
    pub fn output(&self, ns: Option<&str>, program: &str, args: &[&str]) -> Result<String, String> {
        stdout_or_err(output(self.command(ns, program, args), program))
    }
}

fn output(mut cmd: Command, program: &str) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Runs a command to completion and returns its output (never fails by itself).
pub fn run(program: &str, args: &[&str]) -> Output {
    output(Root::host().command(None, program, args), program)
}

/// Runs a command that must succeed and returns its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {} failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stdout_or_err(out: Output) -> Result<String, String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "exit {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The `fields` of every packet of capture `file` that matches the Wireshark display filter
/// `filter`, one row per packet (`tshark -T fields`; a field with several values in one packet,
/// such as two BGP messages in one segment, has them separated by commas).
pub fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    require("/usr/bin/tshark");
    let mut args = vec![
        "-n",
        "-r",
        file.to_str().unwrap(),
        "-d",
        "tcp.port==179,bgp",
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=/t",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    run_ok("/usr/bin/tshark", &args)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Polls `probe` until it returns `Ok`, at most `timeout`; panics with `what` and the last
/// observation otherwise.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(v) => {
                eprintln!("ok after {:.1}s: {what}", start.elapsed().as_secs_f64());
                return v;
            }
            Err(last) => {
                if start.elapsed() >= timeout {
                    panic!(
                        "timed out after {timeout:?} waiting for: {what}\nlast observation: {last}"
                    );
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `probe` for `duration` and panics as soon as it fails: a condition that must hold the
/// whole time (for example "the session never comes up").
pub fn holds_for(what: &str, duration: Duration, mut probe: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    while start.elapsed() < duration {
        if let Err(e) = probe() {
            panic!(
                "after {:.1}s, no longer true: {what}\nobservation: {e}",
                start.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(POLL);
    }
    eprintln!("held for {duration:?}: {what}");
}

struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

/// A BIRD instance.
pub struct Bird {
    pub ns: String,
    /// Its directory (configuration, control socket, pid file) on the host.
    pub dir: PathBuf,
    pub root: Root,
}

impl Bird {
    pub fn ctl(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.join("bird.conf")
    }

    /// `birdc` with a command; the output, or the failure as an error.
    pub fn try_birdc(&self, args: &[&str]) -> Result<String, String> {
        let ctl = self.root.inner(&self.ctl());
        let mut all = vec!["-s", &ctl];
        all.extend_from_slice(args);
        self.root.output(None, BIRDC, &all)
    }

    pub fn birdc(&self, args: &[&str]) -> String {
        self.try_birdc(args)
            .unwrap_or_else(|e| panic!("birdc {}: {e}", args.join(" ")))
    }

    /// Whether protocol `proto` is Established.
    pub fn established(&self, proto: &str) -> Result<String, String> {
        let out = self.try_birdc(&["show", "protocols", "all", proto])?;
        if out.contains("Established") {
            Ok(out)
        } else {
            Err(out)
        }
    }

    /// `show route all PREFIX` (empty when BIRD has no route).
    pub fn route(&self, prefix: &str) -> Result<String, String> {
        let out = self.try_birdc(&["show", "route", "all", prefix])?;
        if out.contains(prefix) {
            Ok(out)
        } else {
            Err(out)
        }
    }

    /// Replaces the configuration and asks BIRD to reload it.
    pub fn reconfigure(&self, conf: &str) {
        fs::write(self.conf(), conf).unwrap();
        let out = self.birdc(&["configure"]);
        assert!(
            out.contains("Reconfigured") || out.contains("Reconfiguration in progress"),
            "birdc configure: {out}"
        );
    }
}

/// A GoBGP instance (gRPC API on 127.0.0.1:50051 inside its namespace).
pub struct Gobgp {
    pub ns: String,
    pub root: Root,
}

impl Gobgp {
    pub fn try_gobgp(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-u", "127.0.0.1", "-p", "50051"];
        all.extend_from_slice(args);
        self.root.output(Some(&self.ns), GOBGP, &all)
    }

    pub fn gobgp(&self, args: &[&str]) -> String {
        self.try_gobgp(args)
            .unwrap_or_else(|e| panic!("gobgp {}: {e}", args.join(" ")))
    }
}

/// An FRR bgpd (without zebra).
pub struct Frr {
    /// Its directory (configuration, vty socket, pid file) on the host.
    pub dir: PathBuf,
    pub root: Root,
}

impl Frr {
    pub fn try_vtysh(&self, commands: &[&str]) -> Result<String, String> {
        let dir = self.root.inner(&self.dir);
        let mut all = vec!["--vty_socket", &dir, "-d", "bgpd"];
        for c in commands {
            all.push("-c");
            all.push(c);
        }
        self.root.output(None, VTYSH, &all)
    }

    pub fn vtysh(&self, commands: &[&str]) -> String {
        self.try_vtysh(commands)
            .unwrap_or_else(|e| panic!("vtysh {commands:?}: {e}"))
    }
}

/// One test's namespaces, links and processes.
pub struct Lab {
    tag: String,
    dir: PathBuf,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    links: usize,
    /// The roots other than the host's that the lab's processes ran under, each with the lab's
    /// directory inside it (on the host).
    roots: Vec<(Root, PathBuf)>,
}

impl Lab {
    /// A new, empty lab; `test` names its directory.
    pub fn new(test: &str) -> Lab {
        require(IP);
        require(SPEAKERD);
        assert!(
            run("id", &["-u"]).stdout.starts_with(b"0"),
            "the real-peer tests create network namespaces: run them as root"
        );
        let tag = format!(
            "sdt{}x{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(format!("speakerd-lab-{tag}-{test}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Lab {
            tag,
            dir,
            namespaces: Vec::new(),
            procs: Vec::new(),
            links: 0,
            roots: Vec::new(),
        }
    }

    /// The lab's private directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lab's private directory for programs under `root`, on the host: [`Lab::dir`] for
    /// the host's own, `ROOT/tmp/<the lab directory's name>` (created on first use, removed
    /// with the lab) for another root.
    pub fn dir_under(&mut self, root: &Root) -> PathBuf {
        let Some(root_dir) = &root.dir else {
            return self.dir.clone();
        };
        if let Some((_, dir)) = self.roots.iter().find(|(r, _)| r.dir == root.dir) {
            return dir.clone();
        }
        let dir = root_dir.join("tmp").join(self.dir.file_name().unwrap());
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        self.roots.push((root.clone(), dir.clone()));
        dir
    }

    /// Creates namespace `name` (loopback up, IP forwarding on, no IPv6 DAD) and returns its
    /// full name.
    pub fn ns(&mut self, name: &str) -> String {
        let ns = format!("{}-{name}", self.tag);
        // A leftover of a killed earlier run with the same pid.
        let _ = run(IP, &["netns", "del", &ns]);
        run_ok(IP, &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        run_ok(IP, &["-n", &ns, "link", "set", "lo", "up"]);
        for sysctl in [
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ] {
            run_ok(IP, &["netns", "exec", &ns, "sysctl", "-qw", sysctl]);
        }
        ns
    }

    /// Two namespaces `sd` and `peer` joined by one link (`eth0` on both): speakerd 198.18.0.1 /
    /// 2001:db8::1, the peer .2 / ::2.
    pub fn pair(&mut self) -> (String, String) {
        let sd = self.ns("sd");
        let peer = self.ns("peer");
        self.link(
            &sd,
            "eth0",
            &["198.18.0.1/24", "2001:db8::1/64"],
            &peer,
            "eth0",
            &["198.18.0.2/24", "2001:db8::2/64"],
        );
        (sd, peer)
    }

    /// A veth pair between two namespaces: `a_if` in `a` with `a_addrs`, `b_if` in `b` with
    /// `b_addrs` (CIDR notation), both up.
    pub fn link(
        &mut self,
        a: &str,
        a_if: &str,
        a_addrs: &[&str],
        b: &str,
        b_if: &str,
        b_addrs: &[&str],
    ) {
        self.links += 1;
        run_ok(
            IP,
            &[
                "link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b,
            ],
        );
        for (ns, ifname, addrs) in [(a, a_if, a_addrs), (b, b_if, b_addrs)] {
            for addr in addrs {
                if addr.contains(':') {
                    run_ok(IP, &["-n", ns, "addr", "add", addr, "dev", ifname, "nodad"]);
                } else {
                    run_ok(IP, &["-n", ns, "addr", "add", addr, "dev", ifname]);
                }
            }
            run_ok(IP, &["-n", ns, "link", "set", ifname, "up"]);
        }
    }

    /// Runs `program args` inside namespace `ns` to completion.
    pub fn exec(&self, ns: &str, program: &str, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        stdout_or_err(run(IP, &all))
    }

    /// Starts `program args` inside `ns` as a child process named `name`, output to
    /// `<dir>/<name>.log`.
    pub fn spawn(
        &mut self,
        name: &str,
        ns: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) {
        self.spawn_under(&Root::host(), name, ns, program, args, env);
    }

    /// Like [`Lab::spawn`], with `program` under `root` (chroot) and its log in the lab's
    /// directory there.
    pub fn spawn_under(
        &mut self,
        root: &Root,
        name: &str,
        ns: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) {
        assert!(
            self.procs
                .iter()
                .all(|p| p.name != name || p.child.is_none()),
            "{name} is already running"
        );
        let log = self.dir_under(root).join(format!("{name}.log"));
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = root.command(Some(ns), program, args);
        cmd.stdout(out.try_clone().unwrap()).stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        self.procs.retain(|p| p.name != name);
        self.procs.push(Proc {
            name: name.to_string(),
            child: Some(child),
            log,
        });
    }

    fn proc_mut(&mut self, name: &str) -> &mut Proc {
        self.procs
            .iter_mut()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no process {name}"))
    }

    /// Sends `signal` (e.g. "TERM", "KILL") to process `name` and waits (bounded) for it to
    /// exit; returns its exit status.
    pub fn stop(&mut self, name: &str, signal: &str) -> std::process::ExitStatus {
        let proc = self.proc_mut(name);
        let mut child = proc
            .child
            .take()
            .unwrap_or_else(|| panic!("{name} is not running"));
        let pid = child.id().to_string();
        let _ = run("kill", &[&format!("-{signal}"), &pid]);
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not exit within 15 s of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to process `name` without waiting.
    pub fn signal(&mut self, name: &str, signal: &str) {
        let proc = self.proc_mut(name);
        let pid = proc
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("{name} is not running"))
            .id()
            .to_string();
        run_ok("kill", &[&format!("-{signal}"), &pid]);
    }

    /// The process id of running process `name`.
    pub fn pid(&mut self, name: &str) -> u32 {
        self.proc_mut(name)
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("{name} is not running"))
            .id()
    }

    /// The resident set size of running process `name` in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&mut self, name: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid(name)))
            .unwrap_or_else(|e| panic!("/proc status of {name}: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS for {name}: {status}"))
    }

    /// One ping from `ns` to `address` (answered within a second), or the failure.
    pub fn ping(&self, ns: &str, address: &str) -> Result<(), String> {
        self.exec(ns, "/usr/bin/ping", &["-c", "1", "-W", "1", address])
            .map(|_| ())
    }

    /// Starts tcpdump in `ns` as process `name`, writing the packets `filter` matches (on every
    /// interface) to `<dir>/<name>.pcap` as they arrive, and waits until it captures; returns
    /// the file. Stop it with [`Lab::stop`] (`INT`) before reading the file with [`tshark`].
    pub fn capture(&mut self, name: &str, ns: &str, filter: &str) -> PathBuf {
        require("/usr/bin/tcpdump");
        let file = self.dir.join(format!("{name}.pcap"));
        let path = file.to_str().unwrap().to_string();
        self.spawn(
            name,
            ns,
            "/usr/bin/tcpdump",
            &["-i", "any", "-U", "-s", "0", "-w", &path, filter],
            &[],
        );
        wait_for(
            &format!("{name} is capturing"),
            Duration::from_secs(10),
            || {
                if self.log(name).contains("listening on") {
                    Ok(())
                } else {
                    Err(self.log(name))
                }
            },
        );
        file
    }

    /// Whether process `name` has exited (and how).
    pub fn exited(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let proc = self.proc_mut(name);
        proc.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// The log of process `name` so far.
    pub fn log(&self, name: &str) -> String {
        let log = match self.procs.iter().find(|p| p.name == name) {
            Some(proc) => proc.log.clone(),
            None => self.dir.join(format!("{name}.log")),
        };
        fs::read_to_string(log).unwrap_or_default()
    }

    /// Starts `ip -ts monitor route` in `ns` as process `name` and waits until it reports
    /// changes (a probe route is added and removed); its log then has every later route change,
    /// each line prefixed with its time.
    pub fn route_monitor(&mut self, name: &str, ns: &str) {
        self.spawn(name, ns, IP, &["-ts", "monitor", "route"], &[]);
        let probe = "198.18.255.255";
        wait_for(
            &format!("{name} is listening"),
            Duration::from_secs(10),
            || {
                // A change each time: an identical replace would not be reported.
                let _ = run(IP, &["-n", ns, "route", "add", "blackhole", probe]);
                let _ = run(IP, &["-n", ns, "route", "del", "blackhole", probe]);
                if self.log(name).contains(probe) {
                    Ok(())
                } else {
                    Err(self.log(name))
                }
            },
        );
    }

    /// Writes `<dir>/<file>`.
    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.dir.join(file);
        fs::write(&path, text).unwrap();
        path
    }

    // ---------------------------------------------------------------- speakerd

    /// speakerd's Prometheus metrics (`GET /metrics` on its admin API inside `ns`).
    pub fn metrics(&self, ns: &str) -> Result<String, String> {
        self.exec(
            ns,
            "bash",
            &[
                "-c",
                "exec 3<>/dev/tcp/127.0.0.1/9179 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
            ],
        )
    }

    /// The sum of the samples of metric `name` whose labels contain every one of `labels`
    /// (`key="value"` strings).
    pub fn metric(&self, ns: &str, name: &str, labels: &[&str]) -> Result<f64, String> {
        let text = self.metrics(ns)?;
        let mut sum = 0.0;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                continue;
            }
            if labels.iter().all(|l| rest.contains(l)) {
                let value = rest.rsplit(' ').next().unwrap_or_default();
                sum += value.parse::<f64>().map_err(|e| format!("{line}: {e}"))?;
            }
        }
        Ok(sum)
    }

    /// Starts speakerd named `name` in `ns` with configuration `toml` (checked first).
    pub fn speakerd(&mut self, name: &str, ns: &str, toml: &str) {
        let config = self.write(&format!("{name}.toml"), toml);
        let config = config.to_str().unwrap().to_string();
        run_ok(SPEAKERD, &["check", "--config", &config]);
        self.spawn(
            name,
            ns,
            SPEAKERD,
            &["run", "--config", &config],
            &[("RUST_LOG", "info"), ("NO_COLOR", "1")],
        );
    }

    /// Waits (20 s at most) until `prefix` is gone from speakerd's RIB and from the kernel of
    /// `ns`.
    pub fn wait_route_gone(&self, ns: &str, prefix: &str) {
        let limit = Duration::from_secs(20);
        wait_for(
            &format!("{prefix} gone from speakerd's RIB"),
            limit,
            || match self.speakerd_route(ns, prefix)? {
                None => Ok(()),
                Some(r) => Err(r.to_string()),
            },
        );
        wait_for(
            &format!("{prefix} gone from the kernel"),
            limit,
            || match self.kernel_route(ns, prefix) {
                None => Ok(()),
                Some(r) => Err(r.to_string()),
            },
        );
    }

    /// `speakerd show WHAT --json` inside `ns`, parsed.
    pub fn show(&self, ns: &str, what: &[&str]) -> Result<Value, String> {
        let mut args = vec!["show"];
        args.extend_from_slice(what);
        args.push("--json");
        let out = self.exec(ns, SPEAKERD, &args)?;
        serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
    }

    /// speakerd's view of neighbour `address`.
    pub fn neighbor(&self, ns: &str, address: &str) -> Result<Value, String> {
        let all = self.show(ns, &["neighbors"])?;
        all.as_array()
            .and_then(|a| a.iter().find(|n| n["address"] == address).cloned())
            .ok_or_else(|| format!("no neighbor {address} in {all}"))
    }

    /// Ok when speakerd's session with `address` is Established.
    pub fn speakerd_established(&self, ns: &str, address: &str) -> Result<Value, String> {
        let n = self.neighbor(ns, address)?;
        if n["state"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("established"))
        {
            Ok(n)
        } else {
            Err(n.to_string())
        }
    }

    /// speakerd's selected route for `prefix`, if any.
    pub fn speakerd_route(&self, ns: &str, prefix: &str) -> Result<Option<Value>, String> {
        let all = self.show(ns, &["routes"])?;
        Ok(all
            .as_array()
            .and_then(|a| a.iter().find(|r| r["prefix"] == prefix).cloned()))
    }

    /// The kernel routes of protocol 201 (speakerd's) in `ns`, as `ip -j` JSON.
    pub fn kernel_routes(&self, ns: &str, v6: bool) -> Vec<Value> {
        let family = if v6 { "-6" } else { "-4" };
        let out = run_ok(
            IP,
            &["-j", family, "-n", ns, "route", "show", "proto", "201"],
        );
        if out.trim().is_empty() {
            return Vec::new();
        }
        serde_json::from_str::<Value>(&out)
            .unwrap_or_else(|e| panic!("ip -j route: {e}: {out}"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The kernel route (protocol 201) for `prefix` in `ns`, if any.
    pub fn kernel_route(&self, ns: &str, prefix: &str) -> Option<Value> {
        let v6 = prefix.contains(':');
        self.kernel_routes(ns, v6)
            .into_iter()
            .find(|r| r["dst"] == prefix)
    }

    /// The kernel nexthop objects of protocol 201 (speakerd's) in `ns`, as `ip -j` JSON.
    pub fn nexthop_objects(&self, ns: &str) -> Vec<Value> {
        let out = run_ok(IP, &["-j", "-n", ns, "nexthop", "show", "proto", "201"]);
        if out.trim().is_empty() {
            return Vec::new();
        }
        serde_json::from_str::<Value>(&out)
            .unwrap_or_else(|e| panic!("ip -j nexthop: {e}: {out}"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The gateways of a kernel route: one for a plain route, several for a multipath one (or
    /// a route through a nexthop group, which `ip` expands).
    pub fn gateways(route: &Value) -> Vec<String> {
        let mut hops: Vec<String> = match route["nexthops"].as_array() {
            Some(hops) => hops
                .iter()
                .filter_map(|h| h["gateway"].as_str().map(str::to_string))
                .collect(),
            None => route["gateway"]
                .as_str()
                .map(str::to_string)
                .into_iter()
                .collect(),
        };
        hops.sort();
        hops
    }

    // -------------------------------------------------------------------- BIRD

    /// Starts BIRD named `name` in `ns` with configuration `conf` (foreground, logging to its
    /// log file) and waits for its control socket.
    pub fn bird(&mut self, name: &str, ns: &str, conf: &str) -> Bird {
        self.bird_with(name, ns, conf, &[])
    }

    /// Like [`Lab::bird`], with extra command-line arguments (e.g. `-R` for graceful restart
    /// recovery).
    pub fn bird_with(&mut self, name: &str, ns: &str, conf: &str, extra: &[&str]) -> Bird {
        self.bird_under(&Root::host(), name, ns, conf, extra)
    }

    /// Like [`Lab::bird_with`], with BIRD from `root` (e.g. BIRD 3 from the Debian 13 root).
    pub fn bird_under(
        &mut self,
        root: &Root,
        name: &str,
        ns: &str,
        conf: &str,
        extra: &[&str],
    ) -> Bird {
        root.require(BIRD);
        root.require(BIRDC);
        let dir = self.dir_under(root).join(name);
        fs::create_dir_all(&dir).unwrap();
        let bird = Bird {
            ns: ns.to_string(),
            dir,
            root: root.clone(),
        };
        fs::write(bird.conf(), conf).unwrap();
        let pid = bird.dir.join("bird.pid");
        // Stale ones of an earlier BIRD with this name.
        let _ = fs::remove_file(bird.ctl());
        let _ = fs::remove_file(&pid);
        let conf_path = root.inner(&bird.conf());
        let ctl = root.inner(&bird.ctl());
        let pid = root.inner(&pid);
        let mut args = vec!["-f", "-c", &conf_path, "-s", &ctl, "-P", &pid];
        args.extend_from_slice(extra);
        self.spawn_under(root, name, ns, BIRD, &args, &[]);
        wait_for(
            &format!("{name}'s control socket"),
            Duration::from_secs(10),
            || {
                if let Some(status) = self.exited(name) {
                    panic!("{name} exited ({status}):\n{}", self.log(name));
                }
                bird.try_birdc(&["show", "status"])
            },
        );
        bird
    }

    // ------------------------------------------------------------------- GoBGP

    /// Starts gobgpd named `name` in `ns` with TOML configuration `conf` and waits for its API.
    pub fn gobgpd(&mut self, name: &str, ns: &str, conf: &str) -> Gobgp {
        self.gobgpd_under(&Root::host(), name, ns, conf)
    }

    /// Like [`Lab::gobgpd`], with GoBGP from `root` (e.g. GoBGP 3.36 from the Debian 13 root).
    pub fn gobgpd_under(&mut self, root: &Root, name: &str, ns: &str, conf: &str) -> Gobgp {
        root.require(GOBGPD);
        root.require(GOBGP);
        let path = self.dir_under(root).join(format!("{name}.gobgp.toml"));
        fs::write(&path, conf).unwrap();
        let path = root.inner(&path);
        self.spawn_under(
            root,
            name,
            ns,
            GOBGPD,
            &["-f", &path, "-p", "--api-hosts", "127.0.0.1:50051"],
            &[],
        );
        let gobgp = Gobgp {
            ns: ns.to_string(),
            root: root.clone(),
        };
        wait_for(&format!("{name}'s API"), Duration::from_secs(15), || {
            if let Some(status) = self.exited(name) {
                panic!("{name} exited ({status}):\n{}", self.log(name));
            }
            gobgp.try_gobgp(&["global"])
        });
        gobgp
    }

    // --------------------------------------------------------------------- FRR

    /// Starts FRR's bgpd (no zebra, no kernel) named `name` in `ns` with configuration `conf`
    /// and waits for its vty.
    pub fn frr_bgpd(&mut self, name: &str, ns: &str, conf: &str) -> Frr {
        self.frr_bgpd_under(&Root::host(), name, ns, conf)
    }

    /// Like [`Lab::frr_bgpd`], with FRR from `root` (e.g. FRR 10 from the Debian 13 root).
    pub fn frr_bgpd_under(&mut self, root: &Root, name: &str, ns: &str, conf: &str) -> Frr {
        self.frr_under(root, name, ns, conf, FrrHelpers::None)
    }

    /// Like [`Lab::frr_bgpd_under`], with FRR's zebra (process `NAME-zebra`) beside bgpd, so
    /// that bgpd knows the interfaces' addresses (FRR 10 refuses IPv6 unicast on an IPv4
    /// session without a local IPv6 address); bgpd still installs nothing (`-n`).
    pub fn frr_zebra_bgpd_under(&mut self, root: &Root, name: &str, ns: &str, conf: &str) -> Frr {
        self.frr_under(root, name, ns, conf, FrrHelpers::Zebra)
    }

    /// Like [`Lab::frr_zebra_bgpd_under`] with this machine's FRR, and bgpd installing its best
    /// routes into the kernel of `ns` (through zebra, route protocol `bgp`), so that traffic
    /// crosses FRR's namespace only while FRR has the route.
    pub fn frr_zebra_fib_bgpd(&mut self, name: &str, ns: &str, conf: &str) -> Frr {
        self.frr_under(&Root::host(), name, ns, conf, FrrHelpers::ZebraFib)
    }

    /// Like [`Lab::frr_zebra_bgpd_under`] with this machine's FRR, and FRR's BFD daemon too
    /// (process `NAME-bfdd`; bgpd asks it for BFD sessions through zebra, `neighbor X bfd`).
    pub fn frr_bfd_bgpd(&mut self, name: &str, ns: &str, conf: &str) -> Frr {
        self.frr_under(&Root::host(), name, ns, conf, FrrHelpers::ZebraAndBfdd)
    }

    fn frr_under(
        &mut self,
        root: &Root,
        name: &str,
        ns: &str,
        conf: &str,
        helpers: FrrHelpers,
    ) -> Frr {
        let zebra = helpers != FrrHelpers::None;
        root.require(FRR_BGPD);
        root.require(VTYSH);
        let dir = self.dir_under(root).join(name);
        fs::create_dir_all(&dir).unwrap();
        let _ = run("chmod", &["777", dir.to_str().unwrap()]);
        let conf_path = dir.join("frr.conf");
        fs::write(&conf_path, conf).unwrap();
        // Stale ones of an earlier bgpd with this name, and of its path space (`-N`; `/run`,
        // not `/var/run`: a root's `/var/run` is a symlink to `/run`, the host's from outside).
        for stale in ["bgpd.pid", "bgpd.vty"] {
            let _ = fs::remove_file(dir.join(stale));
        }
        let _ = fs::remove_dir_all(root.host_path(&format!("/run/frr/{ns}")));
        let conf_path = root.inner(&conf_path);
        let d = root.inner(&dir);
        let pid = format!("{d}/bgpd.pid");
        let zserv = format!("{d}/zserv.api");
        let zebra_args = if zebra {
            root.require(FRR_ZEBRA);
            let _ = fs::remove_file(dir.join("zserv.api"));
            fs::write(dir.join("zebra.conf"), "hostname zebra\n").unwrap();
            let zebra_conf = format!("{d}/zebra.conf");
            let zebra_pid = format!("{d}/zebra.pid");
            let zebra_name = format!("{name}-zebra");
            self.spawn_under(
                root,
                &zebra_name,
                ns,
                FRR_ZEBRA,
                &[
                    "-f",
                    &zebra_conf,
                    "-z",
                    &zserv,
                    "--vty_socket",
                    &d,
                    "-i",
                    &zebra_pid,
                ],
                &[],
            );
            let socket = dir.join("zserv.api");
            wait_for(
                &format!("{zebra_name}'s socket"),
                Duration::from_secs(10),
                || {
                    if socket.exists() {
                        Ok(())
                    } else {
                        Err(self.log(&zebra_name))
                    }
                },
            );
            if helpers == FrrHelpers::ZebraAndBfdd {
                root.require(FRR_BFDD);
                fs::write(dir.join("bfdd.conf"), "hostname bfdd\n").unwrap();
                let bfdd_conf = format!("{d}/bfdd.conf");
                let bfdd_pid = format!("{d}/bfdd.pid");
                let bfdctl = format!("{d}/bfdd.sock");
                self.spawn_under(
                    root,
                    &format!("{name}-bfdd"),
                    ns,
                    FRR_BFDD,
                    &[
                        "-f",
                        &bfdd_conf,
                        "-z",
                        &zserv,
                        "--vty_socket",
                        &d,
                        "-i",
                        &bfdd_pid,
                        "--bfdctl",
                        &bfdctl,
                        "-P",
                        "0",
                    ],
                    &[],
                );
            }
            vec!["-z", zserv.as_str()]
        } else {
            vec!["-Z"]
        };
        let mut args = vec!["-f", conf_path.as_str()];
        args.extend(zebra_args);
        if helpers != FrrHelpers::ZebraFib {
            // No routes into the kernel.
            args.push("-n");
        }
        self.spawn_under(
            root,
            name,
            ns,
            FRR_BGPD,
            &[
                &args[..],
                &["-S", "-P", "0", "-N", ns, "--vty_socket", &d, "-i", &pid],
            ]
            .concat(),
            &[],
        );
        let frr = Frr {
            dir,
            root: root.clone(),
        };
        wait_for(&format!("{name}'s vty"), Duration::from_secs(15), || {
            if let Some(status) = self.exited(name) {
                panic!("{name} exited ({status}):\n{}", self.log(name));
            }
            frr.try_vtysh(&["show bgp summary"])
        });
        frr
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        for proc in &mut self.procs {
            if let Some(mut child) = proc.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for ns in &self.namespaces {
            // Anything else still living in the namespace (e.g. a daemon that forked).
            if let Ok(out) = std::process::Command::new(IP)
                .args(["netns", "pids", ns])
                .output()
            {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = run("kill", &["-KILL", pid]);
                }
            }
            let _ = run(IP, &["netns", "del", ns]);
            let frr = format!("/run/frr/{ns}");
            let _ = fs::remove_dir_all(Root::host().host_path(&frr));
            for (root, _) in &self.roots {
                let _ = fs::remove_dir_all(root.host_path(&frr));
            }
        }
        let keep = std::env::var_os("KEEP_LAB").is_some();
        if panicking || keep {
            for proc in &self.procs {
                let log = fs::read_to_string(&proc.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!(
                    "---- {} (last {} lines of {})",
                    proc.name,
                    tail.len(),
                    proc.log.display()
                );
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
            eprintln!("lab directory kept: {}", self.dir.display());
            for (_, dir) in &self.roots {
                eprintln!("lab directory kept: {}", dir.display());
            }
        } else {
            let _ = fs::remove_dir_all(&self.dir);
            for (_, dir) in &self.roots {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}
