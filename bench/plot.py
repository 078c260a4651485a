#!/usr/bin/python3
"""Charts from the JSON of `lowrank bench` and `lowrank compare`.

    /usr/bin/python3 bench/plot.py --bench bench.json --compare compare.json --out DIR

Writes, as PNG files in DIR (each only if its input was given):
  time_vs_n.png           time against n per method (log-log), one thread, the
                          fastest target: exact attention's quadratic growth beside
                          the linear methods;
  throughput_per_isa.png  GFLOP/s of every method on every target at the largest n;
  error_vs_rank.png       relative error against exact attention per method and
                          rank, beside the truncated-SVD bounds.
Needs Debian's python3-matplotlib (no other package).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(method, rank):
    return method if rank == 0 else f"{method} r={rank}"


def plot_time_vs_n(bench, out):
    recs = [r for r in bench["records"] if r["threads"] == 1 and r["heads"] == 1]
    if not recs:
        return None
    # The target with the highest throughput on exact attention (else any).
    by_isa = {}
    for r in recs:
        by_isa.setdefault(r["isa"], 0.0)
        if r["method"] == "exact":
            by_isa[r["isa"]] = max(by_isa[r["isa"]], r["gflops"])
    isa = max(by_isa, key=by_isa.get)
    series = {}
    for r in recs:
        if r["isa"] == isa:
            series.setdefault(label(r["method"], r["rank"]), []).append((r["n"], r["seconds_median"]))
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, pts in sorted(series.items()):
        pts.sort()
        style = "k-o" if name == "exact" else "-o"
        ax.plot([p[0] for p in pts], [p[1] * 1e3 for p in pts], style, label=name, markersize=4)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length n")
    ax.set_ylabel("time per call (ms), median")
    ax.set_title(f"lowrank: time against n ({isa}, 1 thread, d={recs[0]['d']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    path = os.path.join(out, "time_vs_n.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_throughput(bench, out):
    recs = [r for r in bench["records"] if r["threads"] == 1 and r["heads"] == 1]
    if not recs:
        return None
    n_max = max(r["n"] for r in recs)
    recs = [r for r in recs if r["n"] == n_max]
    isas = list(dict.fromkeys(r["isa"] for r in recs))  # in the benchmark's order
    names = sorted({label(r["method"], r["rank"]) for r in recs})
    fig, ax = plt.subplots(figsize=(8, 5))
    width = 0.8 / max(1, len(isas))
    for i, isa in enumerate(isas):
        vals = []
        for name in names:
            v = [r["gflops"] for r in recs if r["isa"] == isa and label(r["method"], r["rank"]) == name]
            vals.append(v[0] if v else 0.0)
        ax.bar([k + i * width for k in range(len(names))], vals, width, label=isa)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(names))])
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("GFLOP/s (nominal flops), 1 thread")
    ax.set_title(f"lowrank: throughput per target, n={n_max}")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    path = os.path.join(out, "throughput_per_isa.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_error_vs_rank(compare, out):
    rows = [r for r in compare["results"] if r["ran"]]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 5))
    for method in sorted({r["method"] for r in rows}):
        pts = sorted((r["rank"], r["rel_err"]) for r in rows if r["method"] == method)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", label=method, markersize=4)
    bounds = {}
    for r in compare["results"]:
        if r["svd_bound_AV"] is not None:
            bounds[r["rank"]] = (r["svd_bound_A"], r["svd_bound_AV"])
    if bounds:
        ranks = sorted(bounds)
        ax.plot(ranks, [bounds[k][1] for k in ranks], "k--", label="SVD bound ||(A-A_r)V||/||AV||")
        ax.plot(ranks, [bounds[k][0] for k in ranks], "k:", label="SVD bound ||A-A_r||/||A||")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("rank (landmarks, features, projected length)")
    ax.set_ylabel("relative Frobenius error of the output")
    inp = compare["input"]
    ax.set_title(f"error against rank: {inp['source']}, n={inp['n']}, d={inp['d']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    path = os.path.join(out, "error_vs_rank.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", help="JSON from lowrank bench --json")
    ap.add_argument("--compare", help="JSON from lowrank compare --json")
    ap.add_argument("--out", default=".", help="folder for the PNG files")
    args = ap.parse_args()
    if not args.bench and not args.compare:
        ap.error("give --bench and/or --compare")
    os.makedirs(args.out, exist_ok=True)
    written = []
    try:
        if args.bench:
            with open(args.bench) as f:
                bench = json.load(f)
            written += [plot_time_vs_n(bench, args.out), plot_throughput(bench, args.out)]
        if args.compare:
            with open(args.compare) as f:
                compare = json.load(f)
            written.append(plot_error_vs_rank(compare, args.out))
    except (OSError, ValueError, KeyError) as e:
        print(f"plot.py: {e}", file=sys.stderr)
        return 1
    for p in written:
        if p:
            print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
