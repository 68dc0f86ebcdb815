#!/usr/bin/env bash
# The project's test command (README, CI): installs what the tests need, then runs formatting,
# lints, every test (real peers in network namespaces included) and bounded fuzzing.
# Run as root on Debian 12. Fails loudly when a dependency cannot be installed or the Debian 13
# root of the newer peers cannot be built.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "scripts/test.sh: run as root (the tests create network namespaces and install packages)" >&2
        exit 1
    fi
}
need_root

# Debian packages the tests use: real BGP peers, the MRT reference decoder, capture tools.
packages=(bird2 gobgpd frr exabgp bgpdump tcpdump tshark iproute2 iputils-ping nftables podman runc file python3 tmux)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for bin in bird birdc gobgpd gobgp exabgp bgpdump tshark nft ping podman runc file tmux; do
    command -v "$bin" >/dev/null || { echo "scripts/test.sh: $bin is missing after install" >&2; exit 1; }
done
[ -x /usr/lib/frr/bgpd ] || { echo "scripts/test.sh: /usr/lib/frr/bgpd is missing" >&2; exit 1; }
[ -d ../shared/testdata/mrt ] || { echo "scripts/test.sh: ../shared/testdata/mrt is missing" >&2; exit 1; }

# The newer peers (BIRD 3, GoBGP 3.36, FRR 10) of the interop matrix run from a Debian 13 root
# with chroot: built once here (about 45 s, 300 MB), reused by later runs (the script returns at
# once when the root is complete), and named to the tests by SPEAKERD_DEBIAN13_ROOT.
debian13_root=${SPEAKERD_DEBIAN13_ROOT:-/var/cache/speakerd/debian13}
make_root=../shared/peers/make-debian13-root.sh
[ -f "$make_root" ] || { echo "scripts/test.sh: $make_root is missing" >&2; exit 1; }
echo "==> Debian 13 root in $debian13_root"
mkdir -p "$(dirname "$debian13_root")"
if ! bash "$make_root" "$debian13_root"; then
    echo "scripts/test.sh: cannot build the Debian 13 root in $debian13_root (a partial one from an" \
        "interrupted build: check that nothing is mounted under it, remove it, run again)" >&2
    exit 1
fi
export SPEAKERD_DEBIAN13_ROOT=$debian13_root

if ! command -v cargo-nextest >/dev/null; then
    echo "==> installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> manifests"; bash scripts/validate-manifests.sh
# The image test (tests/image.rs) builds Containerfile from the statically linked binary
# (docs/kubernetes.md, "Image"); --target keeps RUSTFLAGS off build scripts and proc-macros.
echo "==> static binary for the image"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu -p speakerd
export SPEAKERD_STATIC=$PWD/target/x86_64-unknown-linux-gnu/release/speakerd
echo "==> tests"
interop_dir=target/tmp/interop
rm -rf "$interop_dir"
cargo nextest run --workspace --no-fail-fast
echo "==> docs/interop.md from the interop matrix's findings"
python3 scripts/interop-table.py "$interop_dir" > target/interop.md
if ! diff -u docs/interop.md target/interop.md; then
    echo "scripts/test.sh: docs/interop.md differs from what this run found (above); if the change" \
        "is right, commit target/interop.md as docs/interop.md" >&2
    exit 1
fi
echo "==> doc tests"
cargo test --workspace --doc
echo "==> bounded fuzzing"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
