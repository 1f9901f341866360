"""Merges bench JSON files (rbm_bench and the peers) into one table: samples/s per implementation for
each configuration, this project's ratio to each peer, and the share of the same-shape GEMM rate.
Writes a markdown table to stdout and, with --plot, samples/s against batch size as a PNG."""
import argparse
import json
import os
import platform
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "peers"))
from common import vector_width  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("files", nargs="+")
p.add_argument("--plot", default="")
a = p.parse_args()

rows = []
for f in a.files:
    try:
        rows += json.load(open(f))
    except (OSError, ValueError) as e:
        print(f"(skipped {f}: {e})")
ab_rows = [r for r in rows if r["impl"] == "ab"]  # bench/ab.py: interleaved ratios
rows = [r for r in rows if r["impl"] != "ab"]

def spread(r):
    """Range of the repeats (max - min) as a share of the median."""
    lo, hi = r.get("samples_per_s_min"), r.get("samples_per_s_max")
    return f"±{50 * (hi - lo) / r['samples_per_s']:.0f}%" if lo is not None and hi is not None else "–"


def target_lines():
    """Each throughput target against this run's rows: the worst case, and whether it is met."""
    lines = []
    name = lambda r: f"{r['nv']}x{r['nh']} batch {r['batch']} k {r['k']}{' PCD' if r['pcd'] else ''}"

    def check(what, cases, goal, better_high, fmt):
        if not cases:
            lines.append(f"{what}: not measured in this run")
            return
        value, r = (min if better_high else max)(cases, key=lambda c: c[0])
        met = value >= goal if better_high else value < goal
        lines.append(f"{what}: worst {fmt(value)} ({name(r)}) — {'met' if met else 'MISSED by ' + fmt(abs(goal - value))}")

    def ratios(mine, peer_test, batches):
        # The interleaved A/B ratio where bench/ab.py measured the pair (Bernoulli rows), else the table's.
        ab = [(q["ratio_median"], q) for q in ab_rows
              if q["visible"] == "bernoulli" and peer_test(q["peer"]) and q["batch"] in batches]
        if ab:
            return ab
        out = []
        for r in mine:
            if r["batch"] not in batches:
                continue
            for q in rows:
                if peer_test(q["impl"]) and (q["nh"], q["batch"], q["k"]) == (r["nh"], r["batch"], r["k"]):
                    out.append((r["samples_per_s"] / q["samples_per_s"], r))
        return out

    pct = lambda v: f"{100 * v:.1f}%"
    times = lambda v: f"{v:.2f}x"
    big = lambda r: r["batch"] >= 1000
    for dev, mine in (("CPU", [r for r in ours if "cuda" not in r["impl"]]),
                      ("GPU", [r for r in ours if "cuda" in r["impl"] and r["impl"].endswith("fp32")])):
        if not mine:
            lines.append(f"{dev}: no rows in this run" + (" (not measured on a GPU yet)" if dev == "GPU" else ""))
            continue
        gemm_share = lambda r: r["gflops"] / r["gemm_same_shape_gflops"]
        if dev == "CPU":
            check("CPU, batch >= 100: update >= 75% of the same-shape SGEMM rate",
                  [(gemm_share(r), r) for r in mine if r["batch"] >= 100 and r["k"] == 1], 0.75, True, pct)
            check("CPU, batch 100: >= 1.6x scikit-learn", ratios(mine, lambda i: i.startswith("scikit"), {100}), 1.6,
                  True, times)
            check("CPU, batch 10: >= 3x scikit-learn", ratios(mine, lambda i: i.startswith("scikit"), {10}), 3.0,
                  True, times)
            check("CPU: faster than PyTorch CPU everywhere (eager, and compiled where measured)",
                  ratios(mine, lambda i: i.startswith("PyTorch") and " cpu" in i, {r["batch"] for r in mine}),
                  1.0, True, times)
            gauss_ab = [(q["ratio_median"], q) for q in ab_rows
                        if q["visible"] == "gaussian" and q["peer"].startswith("PyTorch") and q["batch"] >= 100]
            if gauss_ab:
                check("CPU, Gaussian units, 784x500 batch >= 100: >= 1.5x the PyTorch GRBM (A/B)", gauss_ab, 1.5, True,
                      times)
            check("CPU, batch >= 1000: non-GEMM time < 15%",
                  [(r["non_gemm_share"], r) for r in mine if big(r) and r.get("non_gemm_share") is not None], 0.15,
                  False, pct)
        else:
            check("GPU, batch >= 1000: update >= 60% of the same-shape cuBLAS rate",
                  [(gemm_share(r), r) for r in mine if big(r)], 0.60, True, pct)
            check("GPU, batch 100: >= 5x PyTorch eager on the same card",
                  ratios(mine, lambda i: i.startswith("PyTorch") and i.endswith(" cuda"), {100}), 5.0, True, times)
    return lines


seen, unique = set(), []
for r in rows:  # a configuration measured twice (overlapping runs) counts once: the first measurement
    k = (r["impl"], r["nh"], r["batch"], r["k"], r["pcd"])
    if k not in seen:
        seen.add(k)
        unique.append(r)
rows = unique
ours = [r for r in rows if r["impl"].startswith("rbm ")]
peers = sorted({r["impl"] for r in rows if not r["impl"].startswith("rbm ")})
key = lambda r: (r["nh"], r["batch"], r["k"], r["pcd"])
by = defaultdict(dict)
for r in rows:
    by[(r["nh"], r["batch"], r["k"])][(r["impl"], r["pcd"])] = r

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "cpu"


print(f"machine: {platform.machine()}, {cpu_name()}, {vector_width()}, {os.cpu_count()} logical CPUs; "
      "same-run numbers, median of repeats")
libraries = {}
for r in rows:
    libraries.setdefault(" ".join(r["impl"].split()[:2]) if r["impl"].startswith("rbm ") else r["impl"], r.get("library", "?"))
for impl, lib in libraries.items():
    print(f"- {impl}: {lib}")
print()
head = ("| impl | nh | batch | k | samples/s | GFLOP/s | % of same-shape GEMM | non-GEMM time | peak RSS MiB (device) | " +
        " | ".join(f"x {p}" for p in peers) + " |")
print(head)
print("|" + "---|" * (head.count("|") - 1))
for r in sorted(ours, key=key):
    cfg = (r["nh"], r["batch"], r["k"])
    ratios = []
    on_gpu = "cuda" in r["impl"]
    for peer in peers:
        q = by[cfg].get((peer, True)) or by[cfg].get((peer, False))
        same_device = q is not None and (("cuda" in peer) == on_gpu)  # only compare like with like
        ratios.append(f"{r['samples_per_s'] / q['samples_per_s']:.2f}" if same_device else "–")
    gemm = r.get("gemm_same_shape_gflops")
    share = f"{100 * r['gflops'] / gemm:.0f}%" if gemm else "–"
    ng = r.get("non_gemm_share")
    ng = f"{100 * ng:.0f}%" if ng is not None else "–"
    rate = f"{r['samples_per_s']:.0f} ({spread(r)})"
    mem = f"{r['peak_rss_mib']:.0f}" + (f" ({r['device_mib']:.0f})" if r.get("device_mib") else "")
    print(f"| {r['impl']}{' PCD' if r['pcd'] else ''} | {r['nh']} | {r['batch']} | {r['k']} | {rate} | "
          f"{r['gflops']:.1f} | {share} | {ng} | {mem} | " + " | ".join(ratios) + " |")
print()
print("| peer | nh | batch | k | samples/s | GFLOP/s | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for r in sorted((r for r in rows if not r["impl"].startswith("rbm ")), key=lambda r: (r["impl"],) + key(r)):
    print(f"| {r['impl']} | {r['nh']} | {r['batch']} | {r['k']} | {r['samples_per_s']:.0f} ({spread(r)}) | {r['gflops']:.1f} | "
          f"{r['peak_rss_mib']:.0f} |")
if ab_rows:
    print()
    print(f"Interleaved A/B ratios (bench/ab.py; {ab_rows[0]['vector_width']}): this project's CPU update / the peer's, "
          "one repeat each, alternately, the median of the rounds' ratios ± half their range; a row over "
          f"{100 * ab_rows[0]['spread_limit']:.0f}% is measured again")
    print()
    print("| units | nh | batch | k | peer | ratio | spread | rounds x attempts | rbm samples/s | peer samples/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for q in sorted(ab_rows, key=lambda q: (q["visible"], q["peer"], q["nh"], q["batch"], q["k"])):
        settled = "" if q["settled"] else " (not settled)"
        print(f"| {q['visible']} | {q['nh']} | {q['batch']} | {q['k']}{' PCD' if q['pcd'] else ''} | {q['peer']} | "
              f"{q['ratio_median']:.2f}x | ±{100 * q['spread']:.0f}%{settled} | {q['rounds']} x {q['attempts']} | "
              f"{q['ours_median']:.0f} | {q['peer_median']:.0f} |")
print()
print("Targets (issue 6), from the rows above (ratios: the A/B rows where measured):")
for line in target_lines():
    print(f"- {line}")
print()
print("samples/s: median of the repeats (± half their range, as a share of the median).")
print("peak RSS: the process's peak so far when the row was measured (rows run in table order), device")
print("memory in parentheses: what the update took on the GPU (model, workspaces, resident data).")

if a.plot:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no plot)")
    else:
        sizes = sorted({r["nh"] for r in rows if r["k"] == 1})
        label = lambda r: r["impl"] + (" PCD" if r["pcd"] else "")
        colour = {n: f"C{i}" for i, n in enumerate(sorted({label(r) for r in rows}))}  # the same in every panel
        fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4.5), squeeze=False)
        for ax, nh in zip(axes[0], sizes):
            series = defaultdict(list)
            for r in rows:
                if r["k"] == 1 and r["nh"] == nh:
                    series[label(r)].append((r["batch"], r["samples_per_s"]))
            for name, pts in sorted(series.items()):
                pts.sort()
                ax.plot([b for b, _ in pts], [s for _, s in pts], marker="o", label=name, color=colour[name])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"784x{nh}, CD-1 / PCD-1")
            ax.set_xlabel("batch size")
            ax.set_ylabel("training samples/s")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=110)
        print(f"(plot: {a.plot})")
