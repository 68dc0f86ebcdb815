//! The harness of the real-peer tests: network namespaces joined by veth pairs, speakerd, BIRD 2,
//! GoBGP and FRR as child processes with their configurations in a private directory, bounded
//! polling, and a teardown in `Drop` that kills every process and deletes every namespace, also
//! when the test panics.
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
pub const VTYSH: &str = "/usr/bin/vtysh";

/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(200);

static LABS: AtomicUsize = AtomicUsize::new(0);

/// Fails the test (never skips it) when a binary the test needs is not installed.
pub fn require(binary: &str) {
    let ok = fs::metadata(binary)
        .map(|m| {
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
        })
        .unwrap_or(false);
    assert!(
        ok,
        "{binary} is missing: install it (scripts/test.sh installs bird2, gobgpd and frr)"
    );
}

/// Runs a command to completion and returns its output (never fails by itself).
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
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
    pub dir: PathBuf,
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
        let ctl = self.ctl();
        let mut all = vec!["-s", ctl.to_str().unwrap()];
        all.extend_from_slice(args);
        stdout_or_err(run(BIRDC, &all))
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
}

impl Gobgp {
    pub fn try_gobgp(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec![
            "netns",
            "exec",
            &self.ns,
            GOBGP,
            "-u",
            "127.0.0.1",
            "-p",
            "50051",
        ];
        all.extend_from_slice(args);
        stdout_or_err(run(IP, &all))
    }

    pub fn gobgp(&self, args: &[&str]) -> String {
        self.try_gobgp(args)
            .unwrap_or_else(|e| panic!("gobgp {}: {e}", args.join(" ")))
    }
}

/// An FRR bgpd (without zebra).
pub struct Frr {
    pub dir: PathBuf,
}

impl Frr {
    pub fn try_vtysh(&self, commands: &[&str]) -> Result<String, String> {
        let dir = self.dir.to_str().unwrap();
        let mut all = vec!["--vty_socket", dir, "-d", "bgpd"];
        for c in commands {
            all.push("-c");
            all.push(c);
        }
        stdout_or_err(run(VTYSH, &all))
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
        }
    }

    /// The lab's private directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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
        assert!(
            self.procs
                .iter()
                .all(|p| p.name != name || p.child.is_none()),
            "{name} is already running"
        );
        let log = self.dir.join(format!("{name}.log"));
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new(IP);
        cmd.args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
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

    /// Whether process `name` has exited (and how).
    pub fn exited(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let proc = self.proc_mut(name);
        proc.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// The log of process `name` so far.
    pub fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
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
        require(BIRD);
        require(BIRDC);
        let dir = self.dir.join(name);
        fs::create_dir_all(&dir).unwrap();
        let bird = Bird {
            ns: ns.to_string(),
            dir,
        };
        fs::write(bird.conf(), conf).unwrap();
        let _ = fs::remove_file(bird.ctl());
        let conf_path = bird.conf().to_str().unwrap().to_string();
        let ctl = bird.ctl().to_str().unwrap().to_string();
        let pid = bird.dir.join("bird.pid").to_str().unwrap().to_string();
        let mut args = vec!["-f", "-c", &conf_path, "-s", &ctl, "-P", &pid];
        args.extend_from_slice(extra);
        self.spawn(name, ns, BIRD, &args, &[]);
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
        require(GOBGPD);
        require(GOBGP);
        let path = self.write(&format!("{name}.gobgp.toml"), conf);
        let path = path.to_str().unwrap().to_string();
        self.spawn(
            name,
            ns,
            GOBGPD,
            &["-f", &path, "-p", "--api-hosts", "127.0.0.1:50051"],
            &[],
        );
        let gobgp = Gobgp { ns: ns.to_string() };
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
        require(FRR_BGPD);
        require(VTYSH);
        let dir = self.dir.join(name);
        fs::create_dir_all(&dir).unwrap();
        let _ = run("chmod", &["777", dir.to_str().unwrap()]);
        let conf_path = dir.join("frr.conf");
        fs::write(&conf_path, conf).unwrap();
        let d = dir.to_str().unwrap().to_string();
        let pid = format!("{d}/bgpd.pid");
        self.spawn(
            name,
            ns,
            FRR_BGPD,
            &[
                "-f",
                conf_path.to_str().unwrap(),
                "-Z",
                "-n",
                "-S",
                "-P",
                "0",
                "-N",
                ns,
                "--vty_socket",
                &d,
                "-i",
                &pid,
            ],
            &[],
        );
        let frr = Frr { dir };
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
            let _ = fs::remove_dir_all(Path::new("/var/run/frr").join(ns));
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
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
