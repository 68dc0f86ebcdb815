#!/usr/bin/env python3
"""Routes in the kernel over time while a full table arrives, speakerd beside BIRD (issue 15).

For each receiver, runs the shared harness's W3e workload once (scripts/bench-side-by-side.sh
WORKLOADS=w3e: a feeder sends N prefixes, the receiver installs them into the kernel of the
harness's namespace) and meanwhile reads the number of prefixes in that namespace's FIB from the
kernel itself (/proc/net/fib_triestat, "Prefixes" of the main table, minus what was there before
the feed) every --interval seconds. Time 0 is the feeder's first UPDATE (its status file).
Writes the samples as JSON lines (--data) and an SVG plot (--svg).

  sudo BENCH_DIR=/tmp/bench SPEAKERD=$PWD/target/release/speakerd \\
      scripts/ingest-plot.py --n 1000000 --data target/ingest.jsonl --svg docs/ingest-1m.svg

Needs what bench-side-by-side.sh needs (root, bird2, the harness in BENCH_DIR, a release build
of speakerd); it builds nothing.
"""
import argparse
import glob
import json
import os
import subprocess
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = "abench"
COLOURS = {"bird": "#d62728", "speakerd": "#1f77b4"}


def fib_prefixes():
    """The main table's prefix count in the harness's namespace, or None while it is absent."""
    out = subprocess.run(["ip", "netns", "exec", NS, "cat", "/proc/net/fib_triestat"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    main = out.stdout.split("Main:", 1)[-1]
    for line in main.splitlines():
        if line.strip().startswith("Prefixes:"):
            return int(line.split()[1])
    return None


def sample(samples, stop, interval):
    while not stop.is_set():
        n = fib_prefixes()
        if n is not None:
            samples.append((time.time(), n))
        stop.wait(interval)


def run(receiver, n, interval):
    """One W3e run of `receiver`: its samples aligned to the first UPDATE, and its result."""
    run_dir = os.environ.get("BENCH_RUN", "/tmp/anchor-bench")
    tag = "bird" if receiver == "bird" else "cmd"
    before = set(glob.glob(f"{run_dir}/w3e-{tag}-*"))
    samples, stop = [], threading.Event()
    sampler = threading.Thread(target=sample, args=(samples, stop, interval))
    sampler.start()
    env = dict(os.environ, N=str(n), REPS="1", WORKLOADS="w3e", RECEIVERS=receiver)
    try:
        subprocess.run(["bash", f"{REPO}/scripts/bench-side-by-side.sh"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    finally:
        stop.set()
        sampler.join()
    new = sorted(set(glob.glob(f"{run_dir}/w3e-{tag}-*")) - before)
    if not new:
        raise SystemExit(f"ingest-plot: no w3e run directory of {receiver} in {run_dir}")
    with open(f"{new[-1]}/feed.json") as f:
        t0 = json.load(f)["t_first_update"]
    results = os.path.join(os.environ["BENCH_DIR"], "results", "results.jsonl")
    with open(results) as f:
        result = json.loads(f.readlines()[-1])
    # What the namespace held before the feed (its local and connected routes): its last
    # sample before the first UPDATE.
    before_feed = [c for t, c in samples if t < t0]
    base = before_feed[-1] if before_feed else 0
    if not before_feed:
        print(f"ingest-plot: {receiver}: no sample before the first UPDATE; counts include "
              "the namespace's own routes")
    series = []
    for t, c in samples:
        if t < t0 - 0.5:
            continue
        series.append((round(t - t0, 3), c - base))
        # Done: what follows is the harness taking the namespace down.
        if c - base >= n:
            break
    return series, result


def peak_mb(result):
    """The receiver's peak RSS in MB (the harness gives it per process)."""
    return sum((result.get("hwm_mb") or {}).values())


def svg(runs, n):
    """A plot of the runs: seconds from the first UPDATE against routes in the kernel."""
    width, height, left, bottom, top, right = 720, 400, 80, 50, 30, 20
    t_max = max(max(t for t, _ in s) for s, _ in runs.values())
    t_max = max(1, int(t_max + 0.999))
    x = lambda t: left + (width - left - right) * max(t, 0) / t_max
    y = lambda c: height - bottom - (height - bottom - top) * c / n
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">Routes in the kernel '
           f'during a {n:,}-route ingest (W3e, from the first UPDATE)</text>']
    for i in range(0, 11, 2):
        c = n * i / 10
        out.append(f'<line x1="{left}" y1="{y(c):.1f}" x2="{width - right}" y2="{y(c):.1f}" '
                   f'stroke="#ddd"/><text x="{left - 6}" y="{y(c) + 4:.1f}" text-anchor="end">'
                   f'{int(c):,}</text>')
    step = max(1, t_max // 10)
    for t in range(0, t_max + 1, step):
        out.append(f'<line x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" y2="{height - bottom}" '
                   f'stroke="#eee"/><text x="{x(t):.1f}" y="{height - bottom + 16}" '
                   f'text-anchor="middle">{t}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">seconds</text>')
    for i, (name, (series, result)) in enumerate(runs.items()):
        points = " ".join(f"{x(t):.1f},{y(c):.1f}" for t, c in series)
        colour = COLOURS.get(name, "black")
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        label = (f'{name}: all {n:,} in {result["secs"]:.2f} s, peak RSS '
                 f'{peak_mb(result):.0f} MB')
        ly = top + 20 + 18 * i
        out.append(f'<line x1="{left + 20}" y1="{ly - 4}" x2="{left + 45}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2"/><text x="{left + 52}" y="{ly}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--receivers", default="bird speakerd")
    ap.add_argument("--data", required=True)
    ap.add_argument("--svg", required=True)
    a = ap.parse_args()
    if "BENCH_DIR" not in os.environ:
        raise SystemExit("ingest-plot: set BENCH_DIR to a copy of ../shared/bench")
    runs = {}
    for receiver in a.receivers.split():
        runs[receiver] = run(receiver, a.n, a.interval)
    with open(a.data, "w") as f:
        for name, (series, result) in runs.items():
            f.write(json.dumps({"receiver": name, "n": a.n, "result": result, "samples": series}) + "\n")
    with open(a.svg, "w") as f:
        f.write(svg(runs, a.n))
    for name, (series, result) in runs.items():
        print(f"{name}: {result['secs']:.2f} s, {peak_mb(result):.1f} MB, {len(series)} samples")


if __name__ == "__main__":
    main()
