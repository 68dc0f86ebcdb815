#!/usr/bin/env bash
# Side-by-side benchmark: runs the shared anchor-bench harness (../shared/bench/bench.py, see its
# README) against BIRD, GoBGP, FRR and our target/release/speakerd (as `--receiver cmd`,
# BENCH_NAME=speakerd) in one go, then prints `bench.py report`.
#
#   W1 ingest   feeder -> receiver, --n $N --attrsets $ATTRSETS   (FRR: --poll 0.5 --timeout 240)
#   W2 relay    feeder -> receiver -> monitor, same N and attribute sets
#   W4 mesh     $PEERS idle iBGP peers announcing one /24 each, --idle $IDLE
#   W3e         feeder -> receiver -> its kernel (../shared/bench/w3e.py): from the first UPDATE
#               until the receiver's kernel holds all N routes; w3e-ecmp: two feeders, 2-way ECMP.
#               speakerd installs ([kernel] install = true) and is counted by its
#               bgp_kernel_routes_installed gauge (set once the kernel acknowledged); GoBGP has no
#               FIB and is not run here
#
# Usage (as root, nothing else busy on the CPUs):
#   scripts/bench-side-by-side.sh
#   N=100000 REPS=1 WORKLOADS="w1 w2" RECEIVERS="bird speakerd" scripts/bench-side-by-side.sh
# Env: N (1000000), REPS (1), ATTRSETS (100000), PEERS (200), IDLE (15), WORKLOADS ("w1 w2 w4"),
#      RECEIVERS ("bird gobgp frr speakerd"), BENCH_DIR (../shared/bench from the repo),
#      SPEAKERD (target/release/speakerd; it is not built here), SPEAKERD_ADMIN_ADDR (127.0.0.1:9179,
#      inside the benchmark netns). Results are appended to $BENCH_DIR/results/results.jsonl.
#
# Reading the report: one row per workload, implementation (our rows are "speakerd"), N and
# attribute sets; it summarises the last 3 successful reps of every run in results.jsonl, so older
# runs show up too. "median s" is from the feeder's first UPDATE until the receiver reports N
# accepted prefixes (W1, polled every 0.1 s, FRR 0.5 s), until the monitor has N prefixes (W2), or
# from mesh start until all peers' /24s are accepted (W4). CPU s is utime+stime of the receiver's
# processes over that interval (FRR: bgpd+zebra); peak RSS is VmHWM (W4: RSS after the mesh is up).
# W4's idle CPU per minute and RSS before the mesh are only in results.jsonl. A row with "FAIL" or
# fewer reps ok than run timed out or errored: see results.jsonl and $BENCH_RUN/<workload>-*/.
#
# No receiver installs routes into the kernel, so neither does speakerd ([kernel] install = false):
# bench.py runs BIRD without a kernel protocol in W1/W2/W4, gobgpd has no FIB integration, and FRR's
# bgpd runs with `-l 198.18.0.1`, which implies -n (no FIB install; zebra still runs and is counted).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-$(dirname "$0")/../../shared/bench}
if ! dir=$(cd "$BENCH_DIR" 2>/dev/null && pwd) || [ ! -f "$dir/bench.py" ]; then
    echo "bench-side-by-side: no harness at $BENCH_DIR (bench.py missing); set BENCH_DIR" >&2
    exit 1
fi
BENCH_DIR=$dir
SPEAKERD=${SPEAKERD:-$REPO/target/release/speakerd}
case $SPEAKERD in /*) ;; *) SPEAKERD=$PWD/$SPEAKERD ;; esac
N=${N:-1000000}
REPS=${REPS:-1}
ATTRSETS=${ATTRSETS:-100000}
PEERS=${PEERS:-200}
IDLE=${IDLE:-15}
WORKLOADS=${WORKLOADS:-w1 w2 w4}
RECEIVERS=${RECEIVERS:-bird gobgp frr speakerd}
ADMIN=${SPEAKERD_ADMIN_ADDR:-127.0.0.1:9179}
BENCH=(python3 "$BENCH_DIR/bench.py")

for w in $WORKLOADS; do
    case $w in w1 | w2 | w4 | w3e | w3e-ecmp) ;; *) echo "bench-side-by-side: unknown workload '$w' (w1 w2 w4 w3e w3e-ecmp)" >&2; exit 1 ;; esac
done
for r in $RECEIVERS; do
    case $r in bird | gobgp | frr | speakerd) ;; *) echo "bench-side-by-side: unknown receiver '$r' (bird gobgp frr speakerd)" >&2; exit 1 ;; esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench-side-by-side: run as root (the harness creates network namespaces)" >&2; exit 1; }
case $SPEAKERD in *"'"*) echo "bench-side-by-side: SPEAKERD path must not contain a single quote" >&2; exit 1 ;; esac

# BENCH_START for speakerd in workload $1. bench.py replaces {addr}, {asn}, {dir}, ... as plain text
# and runs the result with `sh -c` inside netns abench; @SPEAKERD@ and @ADMIN@ are replaced here.
# The feeder is eBGP, passive, import all, export nothing; the W2 monitor is eBGP, passive, import
# nothing, export all; the W4 peers are iBGP from one dynamic-neighbour range ({mesh_net}), import
# and export all (BIRD's `neighbor range` in bench.py). IPv4 unicast only, like the other
# receivers' sessions.
speakerd_start() {
    local peers_part feeder monitor
    feeder=$(cat <<'TPL'
cat <<'EOF'

[[neighbor]]
address = "{feeder}"
remote_asn = {feeder_asn}
description = "feeder"
passive = true
families = ["ipv4-unicast"]
import = ["accept-all"]
export = []
EOF
TPL
)
    monitor=$(cat <<'TPL'
cat <<'EOF'

[[neighbor]]
address = "{monitor}"
remote_asn = {monitor_asn}
description = "monitor"
passive = true
families = ["ipv4-unicast"]
import = []
export = ["accept-all"]
EOF
TPL
)
    feeder2=${feeder//\{feeder\}/198.18.0.4}
    feeder2=${feeder2//description = \"feeder\"/description = \"feeder2\"}
    case $1 in
    w1 | w3e) peers_part=$feeder ;;
    w3e-ecmp) peers_part="$feeder"$'\n'"$feeder2" ;;
    w2) peers_part="$feeder"$'\n'"$monitor" ;;
    w4) peers_part=$(cat <<'TPL'
cat <<'EOF'

[[dynamic_neighbor]]
range = "{mesh_net}"
remote_asn = {asn}
families = ["ipv4-unicast"]
import = ["accept-all"]
export = ["accept-all"]
EOF
TPL
) ;;
    esac
    local tpl
    tpl=$(cat <<'TPL'
set -e
{
cat <<'EOF'
# written by scripts/bench-side-by-side.sh for anchor-bench
[global]
asn = {asn}
router_id = "{addr}"
listen = ["{addr}:{port}"]

[admin]
listen = "@ADMIN@"

[kernel]
install = @INSTALL@
EOF
@PEERS@
} > {dir}/speakerd.toml
exec '@SPEAKERD@' run --config {dir}/speakerd.toml
TPL
)
    case $1 in w3e*) tpl=${tpl//@INSTALL@/true} ;; *) tpl=${tpl//@INSTALL@/false} ;; esac
    tpl=${tpl//@PEERS@/"$peers_part"}
    tpl=${tpl//@ADMIN@/"$ADMIN"}
    printf '%s\n' "${tpl//@SPEAKERD@/"$SPEAKERD"}"
}

# BENCH_COUNT: the prefixes speakerd accepted, summed over its neighbours (one integer; 0 while the
# admin API does not answer yet).
SPEAKERD_COUNT="SPEAKERD_ADMIN=$ADMIN '$SPEAKERD' show neighbors --json 2>/dev/null | grep -o '\"prefixes_accepted\":[0-9]*' | awk -F: '{ s += \$2 } END { print s + 0 }'"
# W3e: the routes speakerd has in the kernel (the gauge is set after the kernel's acknowledgements).
SPEAKERD_KERNEL_COUNT="bash '$REPO/scripts/bench-kernel-count.sh' $ADMIN"

# Fail before any run if the binary is missing or does not take the configs (rendered with the
# harness's values from its README).
if [[ " $RECEIVERS " == *" speakerd "* ]]; then
    [ -x "$SPEAKERD" ] || { echo "bench-side-by-side: $SPEAKERD missing (build it with cargo build --release)" >&2; exit 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for w in $WORKLOADS; do
        p=0; [ "$w" = w4 ] && p=$PEERS
        mkdir -p "$tmp/$w"
        t=$(speakerd_start "$w")
        t=${t//\{addr\}/198.18.0.1}; t=${t//\{asn\}/65000}; t=${t//\{port\}/179}
        t=${t//\{feeder\}/198.18.0.2}; t=${t//\{feeder_asn\}/65001}
        t=${t//\{monitor\}/198.18.0.3}; t=${t//\{monitor_asn\}/65002}
        t=${t//\{mesh_base\}/198.19.0.10}; net=198.19.0.0/16; t=${t//\{mesh_net\}/$net}; t=${t//\{peers\}/$p}
        t=${t//\{dir\}/"$tmp/$w"}
        sh -c "${t%exec *}"   # everything but the final exec: writes the config
        if ! out=$("$SPEAKERD" check --config "$tmp/$w/speakerd.toml" 2>&1); then
            echo "bench-side-by-side: speakerd rejects the $w config:" >&2
            echo "$out" >&2
            exit 1
        fi
        echo "$w: $out"
    done
fi

# If a run aborts, leave no network namespaces behind.
cleanup() {
    rc=$?
    [ -n "${tmp:-}" ] && rm -rf "$tmp"
    if [ "$rc" -ne 0 ]; then "${BENCH[@]}" down || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run() {  # run WORKLOAD RECEIVER ARGS...
    local w=$1 r=$2
    shift 2
    echo "== $w $r: $*" >&2
    local harness=("${BENCH[@]}" "$w") count=$SPEAKERD_COUNT
    case $w in
    w3e) harness=(python3 "$BENCH_DIR/w3e.py"); count=$SPEAKERD_KERNEL_COUNT ;;
    w3e-ecmp) harness=(python3 "$BENCH_DIR/w3e.py" --ecmp); count=$SPEAKERD_KERNEL_COUNT ;;
    esac
    if [ "$r" = speakerd ]; then
        BENCH_NAME=speakerd BENCH_START=$(speakerd_start "$w") BENCH_COUNT=$count \
            "${harness[@]}" --receiver cmd "$@"
    else
        "${harness[@]}" --receiver "$r" "$@"
    fi
}

for w in $WORKLOADS; do
    for r in $RECEIVERS; do
        case $w in
        w1)
            extra=()
            [ "$r" = frr ] && extra=(--poll 0.5 --timeout 240)
            run w1 "$r" --n "$N" --attrsets "$ATTRSETS" --reps "$REPS" "${extra[@]}"
            ;;
        w2) run w2 "$r" --n "$N" --attrsets "$ATTRSETS" --reps "$REPS" ;;
        w4) run w4 "$r" --peers "$PEERS" --idle "$IDLE" --reps "$REPS" --timeout 120 ;;
        w3e | w3e-ecmp)
            if [ "$r" = gobgp ]; then
                echo "== $w gobgp: not run (GoBGP has no kernel FIB integration)" >&2
                continue
            fi
            run "$w" "$r" --n "$N" --attrsets "$ATTRSETS" --reps "$REPS"
            ;;
        esac
    done
done

"${BENCH[@]}" report
