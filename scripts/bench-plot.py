#!/usr/bin/env python3
"""Draws how the bench's figures grow with N: time against allocations, log-log, for the
agent's first sync and converged plan and each floor, from one or more bench JSON files
(`target/bench.json` of several runs: N=100, N=1000, a separate N=10000 run). Where
several files hold the same row, the last one given wins.

Usage:
  python3 -m venv target/plot-venv && target/plot-venv/bin/pip install matplotlib
  target/plot-venv/bin/python scripts/bench-plot.py target/bench-n100.json \
      target/bench-n1000.json target/bench-n10000.json -o docs/bench-growth.png
"""
import argparse
import json
import re
import sys

# (label, style, where its points come from: (row id prefix, which figure), first found
# per N wins). The load floor of a separate run (`--load-floor-from`) joins the sync's.
SERIES = [
    ("first sync: agent (auto = load)", "o-", [("first_sync_n", "wall_s")]),
    (
        "first sync floor: sacctmgr load of the dump",
        "s--",
        [("first_sync_n", "floor_s"), ("first_sync_load_floor_n", "wall_s")],
    ),
    (
        "first sync: one stdin session (old batch floor)",
        "^:",
        [("first_sync_session_floor_n", "wall_s")],
    ),
    ("converged plan: agent", "o-", [("converged_plan_n", "wall_s")]),
    ("converged floor: one association dump", "s--", [("converged_plan_n", "floor_s")]),
]


def rows(paths):
    """Row id -> row, over every file."""
    out = {}
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        for row in doc.get("rows", []):
            out[row["id"]] = row
    return out


def series(all_rows):
    found = []
    for label, style, sources in SERIES:
        points = {}
        for prefix, field in sources:
            for rid, row in all_rows.items():
                m = re.fullmatch(re.escape(prefix) + r"(\d+)", rid)
                if m and row.get(field):
                    points.setdefault(int(m.group(1)), float(row[field]))
        if points:
            found.append((label, style, sorted(points.items())))
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("-o", "--out", default="docs/bench-growth.png")
    args = ap.parse_args()
    data = series(rows(args.files))
    if not data:
        sys.exit("no first sync or converged rows in " + ", ".join(args.files))
    for label, _, points in data:
        print(f"{label}: " + ", ".join(f"N={n}: {t:.3f} s" for n, t in points))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    for label, style, points in data:
        ax.plot([n for n, _ in points], [t for _, t in points], style, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("allocations N (10 users per project)")
    ax.set_ylabel("wall time, s")
    ax.set_title("waldur-slurm-agent bench: time against site size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
