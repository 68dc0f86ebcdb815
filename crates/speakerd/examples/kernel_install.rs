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

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SD: &str = "kib-sd";
const PEER: &str = "kib-peer";

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
        .count()
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
        for ns in [SD, PEER] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let speakerd = args
        .get(1)
        .expect("usage: kernel_install SPEAKERD [ROUTES]");
    let n: u64 = args.get(2).map_or(50_000, |s| s.parse().expect("ROUTES"));
    let dir = std::env::temp_dir().join("kernel_install");
    let _ = fs::create_dir_all(&dir);
    let mut cleanup = Cleanup(Vec::new());
    for ns in [SD, PEER] {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
        ip(&["netns", "add", ns]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    ip(&[
        "link", "add", "eth0", "netns", SD, "type", "veth", "peer", "name", "eth0", "netns", PEER,
    ]);
    for (ns, addr) in [(SD, "198.18.0.1/24"), (PEER, "198.18.0.2/24")] {
        ip(&["-n", ns, "addr", "add", addr, "dev", "eth0"]);
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
    }

    let statics: String = (0..n)
        .map(|i| format!("  route 10.{}.{}.0/24 blackhole;\n", i / 256 % 256, i % 256))
        .collect();
    let bird_conf = dir.join("bird.conf");
    fs::write(
        &bird_conf,
        format!(
            "router id 198.18.0.2;\nprotocol device {{}}\nprotocol static {{\n  ipv4;\n{statics}}}\n\
             protocol bgp speakerd {{\n  disabled;\n  local 198.18.0.2 as 65002;\n  \
             neighbor 198.18.0.1 as 65001;\n  connect delay time 1;\n  \
             ipv4 {{ import none; export all; }};\n}}\n"
        ),
    )
    .unwrap();
    let ctl = dir.join("bird.ctl");
    let ctl = ctl.to_str().unwrap();
    cleanup.0.push(
        in_ns(
            PEER,
            "bird",
            &["-f", "-c", bird_conf.to_str().unwrap(), "-s", ctl],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bird"),
    );
    let sd_conf = dir.join("speakerd.toml");
    fs::write(
        &sd_conf,
        "[global]\nasn = 65001\nrouter_id = \"198.18.0.1\"\n\n\
         [[neighbor]]\naddress = \"198.18.0.2\"\nremote_asn = 65002\nlocal_address = \"198.18.0.1\"\n\
         connect_retry_time = 1\nimport = [\"all\"]\nexport = [\"all\"]\n\n\
         [[policy]]\nname = \"all\"\n[[policy.term]]\nname = \"all\"\nthen = \"accept\"\n",
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
    let birdc = |command: &str| {
        let start = Instant::now();
        while !in_ns(PEER, "birdc", &["-s", ctl, command, "speakerd"])
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

    birdc("enable");
    // The clock starts when the session is up (BIRD waits its connect delay before that).
    let up = "bgp_peer_up{peer=\"198.18.0.2\",peer_asn=\"65002\"}";
    while metric(up) != Some(1) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let install = wait_until("install", n);
    assert_eq!(kernel_routes() as u64, n, "routes in the kernel");
    birdc("disable");
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
