//! The container image: `Containerfile` built with podman from the statically linked binary
//! (`scripts/test.sh` builds it, `$SPEAKERD_STATIC` names it) and run with runc inside a lab
//! namespace, as a DaemonSet pod with `hostNetwork` runs on a node: the config mounted at
//! `/etc/speakerd/speakerd.toml` (the image's default command), NET_ADMIN for the kernel
//! routes. It must peer with a BIRD, install BIRD's route into the namespace's kernel and
//! announce our prefix. Images and containers are removed at the end.
//!
//! podman needs a configuration for this machine (`../shared/design/CONTAINERS.md`): no
//! default ulimits above the machine's hard limits, cgroupfs, and runc instead of crun.

mod lab;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::{wait_for, Lab};

const PODMAN: &str = "/usr/bin/podman";
const RUNC: &str = "/usr/sbin/runc";
/// The environment variable naming the static binary.
const STATIC_ENV: &str = "SPEAKERD_STATIC";

/// podman with the lab's configuration.
struct Podman {
    conf: PathBuf,
    image: String,
    container: String,
}

impl Podman {
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = std::process::Command::new(PODMAN)
            .args(args)
            .env("CONTAINERS_CONF", &self.conf)
            .output()
            .map_err(|e| format!("podman: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "podman {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-f", &self.container]);
        let _ = self.run(&["rmi", "-f", &self.image]);
        // The untagged layer the build leaves behind.
        let _ = self.run(&["image", "prune", "-f"]);
    }
}

#[test]
fn the_image_runs_speakerd_in_a_node_namespace() {
    lab::require(PODMAN);
    lab::require(RUNC);
    let binary = std::env::var_os(STATIC_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
            "{STATIC_ENV} is not set: build the static binary with RUSTFLAGS=\"-C \
             target-feature=+crt-static\" cargo build --release --target \
             x86_64-unknown-linux-gnu -p speakerd and set {STATIC_ENV} to it (scripts/test.sh does)"
        )
        });
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repo = repo.canonicalize().unwrap();
    let relative = binary
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()))
        .strip_prefix(&repo)
        .unwrap_or_else(|_| panic!("{} is not inside the checkout", binary.display()))
        .to_path_buf();
    let file = lab::run_ok("file", &[binary.to_str().unwrap()]);
    assert!(
        file.contains("statically linked") || file.contains("static-pie"),
        "{file}"
    );

    let mut lab = Lab::new("image");
    let conf = lab.write(
        "containers.conf",
        "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\n",
    );
    let tag = format!("localhost/speakerd:lab-{}", std::process::id());
    let podman = Podman {
        conf,
        image: tag.clone(),
        container: format!("speakerd-lab-{}", std::process::id()),
    };
    let build_arg = format!("BINARY={}", relative.display());
    podman
        .run(&[
            "build",
            "-t",
            &tag,
            "-f",
            repo.join("Containerfile").to_str().unwrap(),
            "--build-arg",
            &build_arg,
            repo.to_str().unwrap(),
        ])
        .unwrap();

    let sd = lab.ns("node");
    let peer = lab.ns("tor");
    lab.link(
        &sd,
        "eth0",
        &["198.18.0.1/24"],
        &peer,
        "eth0",
        &["198.18.0.2/24"],
    );
    let bird = lab.bird(
        "bird",
        &peer,
        "log stderr all;\nrouter id 198.18.0.2;\nprotocol device {}\n\
         protocol static { ipv4; route 198.19.100.0/24 blackhole; }\n\
         protocol bgp speakerd {\n  local 198.18.0.2 as 4200000002;\n  neighbor 198.18.0.1 as 4200000001;\n\
         \x20 hold time 9; keepalive time 3; connect retry time 2; connect delay time 1;\n\
         \x20 ipv4 { import all; export all; };\n}\n",
    );
    let config_dir = lab.dir().join("etc");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("speakerd.toml"),
        "[global]\nasn = 4200000001\nrouter_id = \"198.18.0.1\"\n\n\
         [[prefix]]\nprefix = \"198.19.1.0/24\"\n\n\
         [[neighbor]]\naddress = \"198.18.0.2\"\nremote_asn = 4200000002\nhold_time = 9\n\
         connect_retry_time = 2\nfamilies = [\"ipv4-unicast\"]\n\
         import = [\"accept-all\"]\nexport = [\"accept-all\"]\n",
    )
    .unwrap();
    let network = format!("ns:/run/netns/{sd}");
    let volume = format!("{}:/etc/speakerd:ro", config_dir.display());
    podman
        .run(&[
            "--runtime",
            RUNC,
            "run",
            "-d",
            "--name",
            &podman.container,
            "--network",
            &network,
            "--cap-add",
            "NET_ADMIN",
            "-v",
            &volume,
            &tag,
        ])
        .unwrap();

    let logs = || podman.run(&["logs", &podman.container]).unwrap_or_default();
    wait_for(
        "BIRD's session with the container",
        Duration::from_secs(40),
        || {
            bird.established("speakerd")
                .map_err(|e| format!("{e}\n{}", logs()))
        },
    );
    wait_for("our prefix at BIRD", Duration::from_secs(20), || {
        bird.route("198.19.1.0/24")
    });
    wait_for(
        "BIRD's route in the node's kernel",
        Duration::from_secs(20),
        || match lab.kernel_route(&sd, "198.19.100.0/24") {
            Some(r) if Lab::gateways(&r) == ["198.18.0.2"] => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let n = lab.speakerd_established(&sd, "198.18.0.2").unwrap();
    assert_eq!(n["asn"], 4_200_000_002u32, "{n}");
}
