"""Shared by the Python peers: argument grid, timing (warm-up, median of repeats), JSON rows."""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import idx


def parse(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "mnist"))
    p.add_argument("--hidden", default="500")
    p.add_argument("--batch", default="10,100,1000")
    p.add_argument("--k", default="1")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--json", default="")
    p.add_argument("--compile", action="store_true", help="PyTorch peer: also torch.compile'd, on the CPU")
    p.add_argument("--serve", action="store_true",
                   help="one configuration: after the warm-up print 'ready', then time one repeat per line read on "
                        "stdin and print its samples/s (bench/ab.py interleaves these with rbm_bench --serve)")
    p.add_argument("--devices", default="cpu,cuda", help="PyTorch peer: where to run (cuda where available)")
    p.add_argument("--visible", default="bernoulli", choices=["bernoulli", "gaussian"],
                   help="PyTorch peer: Gaussian visible units (sigma 1, mean-field reconstructions) on the "
                        "standardised pixels, as rbm_bench --visible gaussian")
    return p.parse_args()


def grid(a):
    ints = lambda s: [int(x) for x in s.split(",")]
    for nh in ints(a.hidden):
        for batch in ints(a.batch):
            for k in ints(a.k):
                yield nh, batch, k


SERVE = "--serve" in sys.argv


def repeat(step, batch, seconds):
    """samples/s of `step()` (one update of `batch` samples) over one repeat of ~`seconds`."""
    t0 = time.perf_counter()
    n = 0
    while True:
        step()
        n += batch
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def measure(step, batch, reps, seconds):
    """Median samples/s of `step()` over `reps` repeats of ~`seconds`; with --serve, one repeat per line
    of stdin instead (printed), then the process ends."""
    for _ in range(3):
        step()
    if SERVE:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.2:
            step()
        print("ready", flush=True)
        for _ in sys.stdin:
            print(f"{repeat(step, batch, seconds):.3f}", flush=True)
        sys.exit(0)
    rates = [repeat(step, batch, seconds) for _ in range(reps)]
    return statistics.median(rates), min(rates), max(rates)


def row(impl, nv, nh, batch, k, pcd, rates):
    med, lo, hi = rates
    return {"impl": impl, "nv": nv, "nh": nh, "batch": batch, "k": k, "pcd": pcd, "samples_per_s": med,
            "samples_per_s_min": lo, "samples_per_s_max": hi, "gflops": med * (6 + 4 * k) * nv * nh / 1e9,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "python": platform.python_version(), "library": versions()}


def versions():
    """The peer's libraries and the threads its BLAS uses, for the table's header."""
    parts = [f"Python {platform.python_version()}"]
    for name in ("numpy", "sklearn", "torch"):
        mod = sys.modules.get(name)
        if mod is not None:
            parts.append(f"{name} {mod.__version__}")
    if "torch" in sys.modules:
        parts.append(f"torch threads {sys.modules['torch'].get_num_threads()}")
    try:
        from threadpoolctl import threadpool_info
        parts += [f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)" for p in threadpool_info()]
    except ImportError:
        pass
    return ", ".join(parts)


def emit(a, rows):
    for r in rows:
        print(f"{r['impl']:<28} nh {r['nh']:5d} batch {r['batch']:5d} k {r['k']:2d}  {r['samples_per_s']:10.0f} samples/s"
              f"  {r['gflops']:7.1f} GFLOP/s", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


def data(a):
    x, _ = idx.load(a.data, "train")
    return x


def vector_width():
    """The widest SIMD the CPU offers (what the CPU backend's passes and OpenBLAS's kernels use)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    except OSError:
        return "unknown vector width"
    if "avx512f" in flags:
        return "AVX-512 (512-bit)"
    if "avx2" in flags:
        return "AVX2 (256-bit)"
    return "SSE/other (128-bit)"
