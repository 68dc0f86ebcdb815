#!/usr/bin/env bash
# Bounded fuzzing of the bgp-proto codec with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [SECONDS]     # each target runs SECONDS (default 60)
#
# Runs every target in crates/bgp-proto/fuzz/fuzz_targets/ for a bounded time, starting from the
# committed corpus (crates/bgp-proto/fuzz/corpus/<target>/, never modified here) and, for
# decode_mrt, the MRT captures in ../shared/testdata/mrt/ when they exist. New inputs go to
# crates/bgp-proto/fuzz/target/run-corpus/<target>/. Prints the number of executions of each run
# and exits non-zero on any crash, panic, timeout or out-of-memory; the input that failed is
# saved in crates/bgp-proto/fuzz/artifacts/<target>/.
#
# FUZZ_SANITIZER (default address) is cargo-fuzz's --sanitizer: `none` runs the targets without
# AddressSanitizer, 5-10x more executions a second. The fuzzed crates have no unsafe code, so a
# memory error would be in a dependency; the depth runs of docs/robustness.md use `none`, CI the
# default.
#
# Needs a nightly toolchain (libFuzzer needs -Z sanitizer flags); installs cargo-fuzz if missing.
set -euo pipefail

seconds="${1:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: $0 [SECONDS]  (a positive number of seconds per target)" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
crate="$root/crates/bgp-proto"
fuzz_dir="$crate/fuzz"

if ! command -v rustup >/dev/null 2>&1 || ! rustup toolchain list | grep -q '^nightly'; then
    echo "error: scripts/fuzz.sh needs a nightly Rust toolchain (cargo-fuzz builds with" >&2
    echo "       sanitizer flags that only nightly accepts). Install it with:" >&2
    echo "         rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# Every fuzz crate: the codec's and the session state machine's (crates/bgp-fsm/fuzz).
targets=()
for crate in "$root/crates/bgp-proto" "$root/crates/bgp-fsm"; do
    for f in "$crate"/fuzz/fuzz_targets/*.rs; do
        [ -e "$f" ] && targets+=("$crate:$(basename "$f" .rs)")
    done
done

echo "==> building ${targets[*]##*:}"
for ct in "${targets[@]}"; do
    (cd "${ct%%:*}" && cargo +nightly fuzz build --sanitizer "$sanitizer" "${ct##*:}")
done

failed=()
summary=()
for ct in "${targets[@]}"; do
    crate="${ct%%:*}" t="${ct##*:}"
    fuzz_dir="$crate/fuzz"
    cd "$crate"
    work="$fuzz_dir/target/run-corpus/$t"
    mkdir -p "$work" "$fuzz_dir/corpus/$t"
    seeds=("$fuzz_dir/corpus/$t")
    if [ "$t" = decode_mrt ] && [ -d "$root/../shared/testdata/mrt" ]; then
        seeds+=("$root/../shared/testdata/mrt")
    fi
    log="$fuzz_dir/target/fuzz-$t.log"
    echo "==> fuzzing $t for ${seconds}s (log: $log)"
    status=0
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "$work" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    if [ "$status" -ne 0 ]; then
        echo "FAILED: $t (exit $status); the end of its log:" >&2
        grep -v -E '^#[0-9]+' "$log" | tail -n 40 >&2
        failed+=("$t")
        summary+=("$t: FAILED after ${execs:-?} executions")
    else
        summary+=("$t: ${execs:-?} executions in ${seconds} s")
    fi
done

echo "==> fuzzing summary"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]} (inputs in $fuzz_dir/artifacts/)" >&2
    exit 1
fi
