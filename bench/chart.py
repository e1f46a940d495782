#!/usr/bin/env python3
"""A bar chart of bench_cpu's results: tilejit's speed-up over each peer.

    chart.py [RESULTS.json] [OUT.png]

RESULTS.json defaults to build/bench-results.json (what bench_cpu writes),
OUT.png to docs/bench-cpu.png. For each workload, one bar per peer that ran
(the hand-written loop, libtorch, XLA:CPU, tilejit eager): the peer's median
time over tilejit lazy's. Above 1 tilejit is faster. Needs matplotlib
(pip install matplotlib); the build and the tests never need this script.
"""

import json
import math
import sys


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "build/bench-results.json"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/bench-cpu.png"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("chart.py: matplotlib is not installed (pip install matplotlib)", file=sys.stderr)
        return 1
    with open(src) as f:
        res = json.load(f)
    peers = [("hand", "hand loop"), ("torch", "libtorch"), ("xla", "XLA:CPU"),
             ("eager", "tilejit eager")]
    names, ratios = [], {p: [] for p, _ in peers}
    for w in res["workloads"]:
        lazy = (w.get("lazy") or {}).get("median")
        if not lazy:
            continue
        names.append(w["name"])
        for p, _ in peers:
            m = (w.get(p) or {}).get("median")
            ratios[p].append(m / lazy if m else math.nan)
    shown = [(p, label) for p, label in peers if any(not math.isnan(r) for r in ratios[p])]
    if not names or not shown:
        print(f"chart.py: nothing to chart in {src}", file=sys.stderr)
        return 1
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names)), 4.2), dpi=110)
    width = 0.8 / len(shown)
    for i, (p, label) in enumerate(shown):
        xs = [k + (i - (len(shown) - 1) / 2) * width for k in range(len(names))]
        vals = [0 if math.isnan(r) else r for r in ratios[p]]
        bars = ax.bar(xs, vals, width, label=label)
        for b, r in zip(bars, ratios[p]):
            if not math.isnan(r):
                ax.annotate(f"{r:.2g}", (b.get_x() + b.get_width() / 2, b.get_height()),
                            ha="center", va="bottom", fontsize=7)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("peer time / tilejit lazy time (log)")
    m = res.get("machine", {})
    ax.set_title(f"tilejit CPU speed-up over each peer (above 1: tilejit faster)\n"
                 f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {res.get('date', '')}, "
                 f"commit {res.get('commit', '?')}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
