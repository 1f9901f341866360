#!/usr/bin/env python3
"""Throughput of a greedy DBN stack (issue 15): `rbm train --hidden 500,500,2000` beside a plain PyTorch
greedy stack (CD-1, momentum 0.5, batch 100, the same shapes and epochs, on the CPU), per layer
(training samples/s) and for the whole stack (wall time), with the share of the time spent propagating
the data from one layer to the next.

    python3 bench/dbn_bench.py [--data DIR] [--epochs 1] [--hidden 500,500,2000] [--rbm build/host/rbm]

Ours: each layer's training throughput is its metrics.csv's samples_per_s (the epoch's updates alone);
the wall time includes the per-epoch evaluation of 10,000 training and the held-out images, which the
PyTorch stack does not do (its row is training and propagation only).
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import idx  # noqa: E402
from torch_epoch import cd1_batch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_stack(x, hidden, epochs, batch=100, lr=0.1):
    g = torch.Generator().manual_seed(0)
    rows, prop, data = [], 0.0, x
    for nh in hidden:
        nv = data.shape[1]
        W = torch.randn(nv, nh, generator=g) * 0.01
        vb, hb, vel = torch.zeros(nv), torch.zeros(nh), torch.zeros(nv, nh)
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(len(data), generator=g)
            for i in range(len(data) // batch):
                cd1_batch(data[order[i * batch:(i + 1) * batch]], W, vb, hb, vel, g, lr)
        seconds = time.perf_counter() - t0
        rows.append(len(data) // batch * batch * epochs / seconds)
        t0 = time.perf_counter()
        data = torch.sigmoid(data @ W + hb)  # the next layer's input
        prop += time.perf_counter() - t0
    return rows, prop


def ours(rbm, data_dir, hidden, epochs):
    out = tempfile.mkdtemp(prefix="dbn-bench-")
    cmd = [rbm, "train", "--device", "cpu", "--hidden", ",".join(map(str, hidden)), "--epochs", str(epochs),
           "--batch", "100", "--lr", "0.1", "--momentum", "0.5", "--quiet", "--out", os.path.join(out, "run")]
    if data_dir != os.path.join(ROOT, "data", "mnist"):
        cmd[2:2] = ["--data", data_dir]
    t0 = time.perf_counter()
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    prop = float(re.search(r"propagation ([0-9.]+) s", text).group(1))
    rates = []
    for i in range(len(hidden)):
        with open(os.path.join(out, "run", f"layer{i + 1}", "metrics.csv")) as f:
            rates.append(float(list(csv.DictReader(f))[-1]["samples_per_s"]))
    return rates, prop, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--hidden", default="500,500,2000")
    ap.add_argument("--rbm", default=os.path.join(ROOT, "build", "host", "rbm"))
    a = ap.parse_args()
    hidden = [int(h) for h in a.hidden.split(",")]
    x = torch.from_numpy(idx.load(a.data, "train")[0])
    r_rates, r_prop, r_wall = ours(a.rbm, a.data, hidden, a.epochs)
    t0 = time.perf_counter()
    t_rates, t_prop = torch_stack(x, hidden, a.epochs)
    t_wall = time.perf_counter() - t0
    shapes = [784] + hidden
    print(f"{len(x)} images, {a.epochs} epoch(s) per layer, batch 100, CD-1, CPU ({torch.get_num_threads()} threads)")
    print("| layer | rbm samples/s | PyTorch samples/s | ratio |\n|---|---|---|---|")
    for i, (r, t) in enumerate(zip(r_rates, t_rates)):
        print(f"| {i + 1}: {shapes[i]}x{shapes[i + 1]} | {r:,.0f} | {t:,.0f} | {r / t:.2f}x |")
    print(f"| whole stack, wall | {r_wall:.1f} s (evaluation included) | {t_wall:.1f} s | |")
    print(f"| propagation between layers | {r_prop:.2f} s ({100 * r_prop / r_wall:.1f} % of the wall time) | "
          f"{t_prop:.2f} s ({100 * t_prop / t_wall:.1f} %) | |")


if __name__ == "__main__":
    main()
