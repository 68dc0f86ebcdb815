#!/usr/bin/env python3
"""Plot the side-by-side benchmark results as one SVG: per workload, the median time and the median
peak RSS of every receiver, as horizontal bars scaled within the workload (Python stdlib only).

  scripts/bench-plot.py [--last 3] RESULTS.jsonl [W5.jsonl] > docs/bench.svg

RESULTS.jsonl is the harness's results file ($BENCH_DIR/results/results.jsonl: W1, W2, W3 kernel
floor, W3e, W4); W5.jsonl is the one scripts/w5-churn.py writes. Like `bench.py report`, each
workload and receiver is summarised by the median of its last 3 successful reps.
"""
import argparse, collections, json, statistics, sys
from xml.sax.saxutils import escape

COLOURS = {"bird": "#4e79a7", "bird3": "#76b7b2", "frr": "#f28e2b", "gobgp": "#59a14f", "speakerd": "#e15759",
           "floor": "#9c755f"}
ROW, GAP, LABEL_W, BAR_W, TITLE_H = 18, 14, 190, 300, 22


def workload(r):
    """(sort key, title, receiver, time unit) of one result line, or None for lines not plotted."""
    w, rcv, n = r["w"], r["rcv"], r["n"]
    size = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
    if w == "w3e":
        ecmp = rcv.endswith("-ecmp")
        base = rcv[:-5] if ecmp else rcv
        return (3 if not ecmp else 4, n), f"W3e feed → kernel, {size} routes{', 2-way ECMP' if ecmp else ''}", base, "s"
    if w == "w3":  # the kernel floor: BIRD's kernel protocol on a loaded table, ip -batch with nexthop objects
        ecmp = rcv.endswith("-ecmp")
        base = rcv[:-5] if ecmp else rcv
        name = {"bird": "BIRD kernel protocol", "ipbatch-nhid": "ip -batch, nhid", "ipbatch": "ip -batch"}.get(base, base)
        return (5, n, ecmp), f"kernel floor, {size} routes{', ECMP' if ecmp else ''}", name, "s"
    if w in ("w1", "w2"):
        return (1 if w == "w1" else 2, n), f"{w.upper()} {'ingest' if w == 'w1' else 'relay'}, {size} routes", rcv, "s"
    if w == "w4":
        return (6, n), f"W4 {n:,} idle iBGP sessions up", rcv, "s"
    if w == "w5":
        return (7, n), f"W5 churn, {n:,} sessions, p99", rcv, "ms"
    return None


def summarise(lines, last):
    groups = collections.OrderedDict()
    for r in lines:
        k = workload(r)
        if not k:
            continue
        key, title, rcv, unit = k
        groups.setdefault((key, title, unit), collections.OrderedDict()).setdefault(rcv, []).append(r)
    out = []
    for (key, title, unit), by_rcv in sorted(groups.items(), key=lambda kv: kv[0][0]):
        rows = []
        for rcv, rs in by_rcv.items():
            ok = [r for r in rs if r.get("ok")][-last:]
            if not ok:
                rows.append((rcv, None, None))
                continue
            t = statistics.median((r["all_ms"]["p99"] if r["w"] == "w5" else r["secs"]) for r in ok)
            mem = [sum((r.get("hwm_mb") or r.get("rss_mb") or {}).values()) for r in ok]
            rows.append((rcv, t, statistics.median(mem) if any(mem) else None))
        out.append((title, unit, rows))
    return out


def bar(x, y, width, colour, text):
    return (f'<rect x="{x}" y="{y}" width="{max(width, 1):.1f}" height="{ROW - 4}" fill="{colour}"/>'
            f'<text x="{x + max(width, 1) + 4:.1f}" y="{y + ROW - 7}">{escape(text)}</text>')


def svg(summary):
    height = sum(TITLE_H + ROW * len(rows) + GAP for _, _, rows in summary) + 40
    width = LABEL_W + 2 * (BAR_W + 110)
    col_t, col_m = LABEL_W, LABEL_W + BAR_W + 110
    p = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{col_t}" y="20" font-weight="bold">time (median; shorter is better)</text>',
         f'<text x="{col_m}" y="20" font-weight="bold">peak RSS, MB (median; W4/W5: RSS at the end)</text>']
    y = 40
    for title, unit, rows in summary:
        p.append(f'<text x="8" y="{y + 14}" font-weight="bold">{escape(title)}</text>')
        y += TITLE_H
        tmax = max((t for _, t, _ in rows if t), default=1)
        mmax = max((m for _, _, m in rows if m), default=1)
        for rcv, t, m in rows:
            colour = COLOURS.get(rcv, COLOURS["floor"])
            p.append(f'<text x="16" y="{y + ROW - 7}">{escape(rcv)}</text>')
            if t is None:
                p.append(f'<text x="{col_t}" y="{y + ROW - 7}" fill="#b00">failed</text>')
            else:
                p.append(bar(col_t, y, BAR_W * t / tmax, colour, f"{t:.2f} {unit}"))
                if m:
                    p.append(bar(col_m, y, BAR_W * m / mmax, colour, f"{m:.0f} MB"))
            y += ROW
        y += GAP
    p.append("</svg>")
    return "\n".join(p) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--last", type=int, default=3)
    a = ap.parse_args()
    lines = []
    for f in a.files:
        with open(f) as fh:
            lines += [json.loads(x) for x in fh if x.strip()]
    summary = summarise(lines, a.last)
    if not summary:
        sys.exit("bench-plot: no results to plot")
    sys.stdout.write(svg(summary))


if __name__ == "__main__":
    main()
