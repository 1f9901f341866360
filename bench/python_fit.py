"""rbm.BernoulliRBM.fit against sklearn.neural_network.BernoulliRBM.fit on the same built-in digits
(10,000 MNIST images in [0, 1]), at scikit-learn's defaults (256 components, batch 10, 10 iterations)
and at batch 100; and the binding's cost: the same fit through `rbm train` (the CLI, same settings,
the data as .npy). Interleaved (ours, theirs, ours, theirs, ...), the median of --repeats."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.neural_network import BernoulliRBM as SkRBM

import rbm

root = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, os.path.join(root, "bench", "peers"))
import idx  # noqa: E402
from common import vector_width  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--n-iter", type=int, default=10)
a = p.parse_args()
x = idx.load(os.path.join(root, "data", "mnist"), "train")[0].astype(np.float32)  # in [0, 1]
tmp = tempfile.mkdtemp()
np.save(os.path.join(tmp, "x.npy"), x)
print(f"# {len(x)} digits, {os.cpu_count()} CPUs, {vector_width()}; rbm {rbm.__version__}; median of {a.repeats}")
print("| batch | rbm.BernoulliRBM.fit s | sklearn fit s | speed-up | rbm train (CLI) s | binding cost |")
print("|---|---|---|---|---|---|")
for batch in (10, 100):
    ours, theirs, cli = [], [], []
    for _ in range(a.repeats):
        t = time.perf_counter()
        rbm.BernoulliRBM(batch_size=batch, n_iter=a.n_iter, random_state=0, device="cpu").fit(x)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        SkRBM(batch_size=batch, n_iter=a.n_iter, random_state=0).fit(x)
        theirs.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([os.path.join(root, "build", "host", "rbm"), "train", "--device", "cpu", "--train-data",
                        os.path.join(tmp, "x.npy"), "--hidden", "256", "--batch", str(batch), "--epochs",
                        str(a.n_iter), "--lr", "0.1", "--momentum", "0", "--weight-decay", "0", "--pcd",
                        "--eval-limit", "1000", "--quiet", "--out", os.path.join(tmp, "run")], check=True,
                       stdout=subprocess.DEVNULL)
        cli.append(time.perf_counter() - t)
    o, s, c = statistics.median(ours), statistics.median(theirs), statistics.median(cli)
    print(f"| {batch} | {o:.2f} | {s:.2f} | {s / o:.2f}x | {c:.2f} | {100 * (o - c) / c:+.0f}% |")
