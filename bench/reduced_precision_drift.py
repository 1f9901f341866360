"""Where the GPU test's tolerance for TF32 / BF16 GEMMs comes from (tests/gpu/test_gpu_model.cpp,
ReducedPrecisionStaysCloseToFp32), emulated on the CPU: the test's model (784x200, CD-1, batch 100,
1,000 built-in digits, 20 updates, the same initial weights), with every GEMM input rounded to nearest
with 10 (TF32) or 7 (BF16) mantissa bits and products accumulated in float32, against the FP32 run with
the same draws and against an FP32 run with other draws. Prints each distance of W from the FP32 run's
and its ratio to the seed-to-seed distance (the test's bound: 0.3). Run: python3 bench/reduced_precision_drift.py"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "peers"))
from idx import load  # noqa: E402

ROWS, NH, BATCH = 1000, 200, 100


def rounded(a, bits):
    """a with `bits` mantissa bits, rounded to nearest (ties to even), as the tensor cores see it."""
    if bits is None:
        return a
    b = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    drop = np.uint64(23 - bits)
    lsb = (b >> drop) & np.uint64(1)
    b = (b + (np.uint64(1) << (drop - np.uint64(1))) - np.uint64(1) + lsb) >> drop << drop
    return b.astype(np.uint32).view(np.float32)


def train(x, bits, seed):
    init = np.random.RandomState(4)
    w = (0.01 * init.randn(x.shape[1], NH)).astype(np.float32)
    m = x.mean(0).clip(1e-3, 1 - 1e-3)
    vb, hb = np.log(m / (1 - m)).astype(np.float32), np.zeros(NH, np.float32)
    vw, vvb, vhb = np.zeros_like(w), np.zeros_like(vb), np.zeros_like(hb)
    draws = np.random.RandomState(seed)

    def mm(a, b):
        return rounded(a, bits) @ rounded(b, bits)

    def sig(a):
        return 1 / (1 + np.exp(-a))

    for epoch in range(2):
        order = [(i * 7 + epoch) % ROWS for i in range(ROWS)]
        for first in range(0, ROWS, BATCH):
            v0 = x[order[first:first + BATCH]]
            h0 = sig(mm(v0, w) + hb)
            hs = (draws.rand(*h0.shape) < h0).astype(np.float32)
            v1 = (draws.rand(BATCH, x.shape[1]) < sig(mm(hs, w.T) + vb)).astype(np.float32)
            h1 = sig(mm(v1, w) + hb)
            vw = 0.5 * vw + 0.1 * ((mm(v0.T, h0) - mm(v1.T, h1)) / BATCH - 0.0002 * w)
            vvb = 0.5 * vvb + 0.1 * (v0 - v1).mean(0)
            vhb = 0.5 * vhb + 0.1 * (h0 - h1).mean(0)
            w, vb, hb = w + vw, vb + vvb, hb + vhb
    return w


def main():
    x, _ = load(os.path.join(os.path.dirname(__file__), "..", "data", "mnist"))
    x = x[:ROWS]
    fp32 = train(x, None, 1)
    seeds = np.linalg.norm(train(x, None, 2) - fp32)
    print(f"|W| {np.linalg.norm(fp32):.3f}; another seed: {seeds:.4f}")
    for name, bits in (("tf32", 10), ("bf16", 7)):
        d = np.linalg.norm(train(x, bits, 1) - fp32)
        print(f"{name}: {d:.4f} from FP32 ({d / np.linalg.norm(fp32):.3f} of |W|, {d / seeds:.3f} of the seed distance)")


if __name__ == "__main__":
    main()
