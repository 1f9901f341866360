"""Merges bench JSON files (rbm_bench and the peers) into one table: samples/s per implementation for
each configuration, this project's ratio to each peer, and the share of the same-shape GEMM rate.
Writes a markdown table to stdout and, with --plot, samples/s against batch size as a PNG."""
import argparse
import json
import platform
from collections import defaultdict

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

print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; same-run numbers, median of repeats")
libraries = {}
for r in rows:
    libraries.setdefault(r["impl"].split(" ")[0] if r["impl"].startswith("rbm ") else r["impl"], r.get("library", "?"))
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
    mem = f"{r['peak_rss_mib']:.0f}" + (f" ({r['device_mib']:.0f})" if r.get("device_mib") else "")
    print(f"| {r['impl']}{' PCD' if r['pcd'] else ''} | {r['nh']} | {r['batch']} | {r['k']} | {r['samples_per_s']:.0f} | "
          f"{r['gflops']:.1f} | {share} | {ng} | {mem} | " + " | ".join(ratios) + " |")
print()
print("| peer | nh | batch | k | samples/s | GFLOP/s | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for r in sorted((r for r in rows if not r["impl"].startswith("rbm ")), key=lambda r: (r["impl"],) + key(r)):
    print(f"| {r['impl']} | {r['nh']} | {r['batch']} | {r['k']} | {r['samples_per_s']:.0f} | {r['gflops']:.1f} | "
          f"{r['peak_rss_mib']:.0f} |")
print()
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
        fig, ax = plt.subplots(figsize=(7, 4.5))
        series = defaultdict(list)
        for r in rows:
            if r["k"] == 1 and r["nh"] == 500:
                series[r["impl"] + (" PCD" if r["pcd"] else "")].append((r["batch"], r["samples_per_s"]))
        for name, pts in sorted(series.items()):
            pts.sort()
            ax.plot([b for b, _ in pts], [s for _, s in pts], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("training samples/s (784x500, CD-1/PCD-1)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=110)
        print(f"(plot: {a.plot})")
