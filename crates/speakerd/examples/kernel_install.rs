//! Measures how fast speakerd puts a large table into the kernel and takes it out again.
//! Run by hand, as root (it makes two network namespaces and removes them at the end):
//!
//! ```sh
//! cargo build --release -p speakerd --bin speakerd --example kernel_install
//! target/release/examples/kernel_install target/release/speakerd 50000
//! ```
//!
//! A BIRD in one namespace announces N /24s from 10.0.0.0/8 over eBGP to speakerd in the other;
//! the session starts disabled. The clock starts when the session is Established after
//! `birdc enable` and stops when speakerd's `bgp_kernel_routes_installed` reaches N (then `ip
//! route` confirms the count); the same from `birdc disable` down to 0. This is end to end
//! (UPDATEs, RIB, kernel), so the kernel's share is what changes between two speakerd builds.
//!
//! With `--failover` (`kernel_install SPEAKERD N --failover`), a second BIRD on a second link
//! announces the same N routes, so each is installed with two next hops (ECMP); then the second
//! BIRD's session is disabled and the clock runs until every route has the first BIRD as its
//! only next hop in `ip route` (polled, so the resolution is one `ip route` dump of N routes),
//! and again from `birdc enable` until all have both: a ToR failing and returning.

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SD: &str = "kib-sd";
const PEER: &str = "kib-peer";
const PEER2: &str = "kib-peer2";

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn in_ns(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]).args(args);
    c
}

/// The first sample of speakerd's metric `name` (with its labels, if any, in `name`).
fn metric(name: &str) -> Option<u64> {
    let out = in_ns(
        SD,
        "bash",
        &[
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/9179 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
        ],
    )
    .output()
    .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// speakerd's `bgp_kernel_routes_installed`.
fn installed() -> Option<u64> {
    metric("bgp_kernel_routes_installed")
}

fn kernel_routes() -> usize {
    ip(&["-n", SD, "route", "show", "proto", "201"])
        .lines()
        .filter(|l| !l.trim_start().starts_with("nexthop"))
        .count()
}

/// How many of our kernel routes have two next hops (`ip route` lists each next hop of a
/// multipath route on a line of its own; a route with one next hop has none).
fn ecmp_routes() -> usize {
    ip(&["-n", SD, "route", "show", "proto", "201"])
        .lines()
        .filter(|l| l.trim_start().starts_with("nexthop via"))
        .count()
        / 2
}

/// Waits until `ecmp_routes` is `want`; the time it took.
fn wait_ecmp(what: &str, want: usize) -> Duration {
    let start = Instant::now();
    loop {
        let now = ecmp_routes();
        if now == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{what}: stuck at {now}"
        );
    }
}

fn wait_until(what: &str, want: u64) -> Duration {
    let start = Instant::now();
    while installed() != Some(want) {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{what}: stuck at {:?}",
            installed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

struct Cleanup(Vec<Child>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [SD, PEER, PEER2] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let speakerd = args
        .get(1)
        .expect("usage: kernel_install SPEAKERD [ROUTES]");
    let n: u64 = args
        .get(2)
        .filter(|a| !a.starts_with("--"))
        .map_or(50_000, |s| s.parse().expect("ROUTES"));
    // The routes are 10.X.Y.0/24: 65,536 of them at most.
    assert!(n <= 65_536, "at most 65536 routes");
    let failover = args.iter().any(|a| a == "--failover");
    let dir = std::env::temp_dir().join("kernel_install");
    let _ = fs::create_dir_all(&dir);
    let mut cleanup = Cleanup(Vec::new());
    // Link N joins speakerd (198.18.N.1, interface ethN) and BIRD N+1 (198.18.N.2).
    let peers: &[&str] = if failover { &[PEER, PEER2] } else { &[PEER] };
    for ns in [SD].iter().chain(peers) {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
        ip(&["netns", "add", ns]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    let statics: String = (0..n)
        .map(|i| format!("  route 10.{}.{}.0/24 blackhole;\n", i / 256 % 256, i % 256))
        .collect();
    let mut neighbors = String::new();
    let mut ctls = Vec::new();
    for (link, peer) in peers.iter().enumerate() {
        let (sd_if, ours, theirs) = (
            format!("eth{link}"),
            format!("198.18.{link}.1"),
            format!("198.18.{link}.2"),
        );
        ip(&[
            "link", "add", &sd_if, "netns", SD, "type", "veth", "peer", "name", "eth0", "netns",
            peer,
        ]);
        for (ns, dev, addr) in [(SD, sd_if.as_str(), &ours), (*peer, "eth0", &theirs)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        let bird_conf = dir.join(format!("bird{link}.conf"));
        fs::write(
            &bird_conf,
            format!(
                "router id {theirs};\nprotocol device {{}}\nprotocol static {{\n  ipv4;\n{statics}}}\n\
                 protocol bgp speakerd {{\n  disabled;\n  local {theirs} as 65002;\n  \
                 neighbor {ours} as 65001;\n  connect delay time 1;\n  \
                 ipv4 {{ import none; export all; }};\n}}\n"
            ),
        )
        .unwrap();
        let ctl = dir.join(format!("bird{link}.ctl"));
        cleanup.0.push(
            in_ns(
                peer,
                "bird",
                &[
                    "-f",
                    "-c",
                    bird_conf.to_str().unwrap(),
                    "-s",
                    ctl.to_str().unwrap(),
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bird"),
        );
        ctls.push((*peer, ctl.to_str().unwrap().to_string()));
        neighbors.push_str(&format!(
            "[[neighbor]]\naddress = \"{theirs}\"\nremote_asn = 65002\nlocal_address = \"{ours}\"\n\
             connect_retry_time = 1\nimport = [\"all\"]\nexport = [\"all\"]\n\n"
        ));
    }
    let sd_conf = dir.join("speakerd.toml");
    fs::write(
        &sd_conf,
        format!(
            "[global]\nasn = 65001\nrouter_id = \"198.18.0.1\"\n\n{neighbors}\
             [[policy]]\nname = \"all\"\n[[policy.term]]\nname = \"all\"\nthen = \"accept\"\n"
        ),
    )
    .unwrap();
    let log = fs::File::create(dir.join("speakerd.log")).unwrap();
    cleanup.0.push(
        in_ns(
            SD,
            speakerd,
            &["run", "--config", sd_conf.to_str().unwrap()],
        )
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("speakerd"),
    );
    wait_until("speakerd's admin API", 0);
    let birdc = |link: usize, command: &str| {
        let (peer, ctl) = &ctls[link];
        let start = Instant::now();
        while !in_ns(peer, "birdc", &["-s", ctl, command, "speakerd"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(start.elapsed() < Duration::from_secs(30), "birdc {command}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // BIRD has loaded its static routes once its control socket answers.
    std::thread::sleep(Duration::from_secs(1));

    birdc(0, "enable");
    // The clock starts when the session is up (BIRD waits its connect delay before that).
    let up = "bgp_peer_up{peer=\"198.18.0.2\",peer_asn=\"65002\"}";
    while metric(up) != Some(1) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let install = wait_until("install", n);
    assert_eq!(kernel_routes() as u64, n, "routes in the kernel");
    if failover {
        let all = n as usize;
        birdc(1, "enable");
        wait_ecmp("second next hop", all);
        birdc(1, "disable");
        let down = wait_ecmp("failover", 0);
        birdc(1, "enable");
        // From the enable: includes BIRD's connect delay (1 s) and the session setup.
        let back = wait_ecmp("return", all);
        assert_eq!(kernel_routes() as u64, n, "routes in the kernel");
        println!(
            "{n} ECMP routes: one next hop gone {:.3} s, back {:.3} s (from birdc enable)",
            down.as_secs_f64(),
            back.as_secs_f64()
        );
        birdc(1, "disable");
        wait_ecmp("second next hop gone", 0);
    }
    birdc(0, "disable");
    let removal = wait_until("removal", 0);
    assert_eq!(kernel_routes(), 0, "routes left in the kernel");
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{n} routes: install {:.2} s ({:.0} routes/s), removal {:.2} s ({:.0} routes/s)",
        install.as_secs_f64(),
        rate(install),
        removal.as_secs_f64(),
        rate(removal)
    );
}
