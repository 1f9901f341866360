"""Interleaved A/B ratio of this project's CPU update against one peer, for one configuration.

Both run as servers (rbm_bench --serve, the peer's --serve): warmed up once, then asked for one timed
repeat at a time, alternately (A B, B A, A B, ...), with a pause between so that one's idle threads
have stopped spinning before the other starts. Each round's ratio compares two numbers taken seconds
apart, so the drift of a shared VM cancels; the row reports the median ratio and its spread (half the
range, as a share of the median). A row whose spread exceeds --spread is measured again (up to
--attempts times, fresh processes each time), and the attempt with the smallest spread is kept; one
that never settles says so. Writes one JSON row (bench/report.py tabulates it)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "peers"))
import common  # noqa: E402

PEERS = {"torch_peer": "PyTorch eager cpu", "numpy_tutorial": "NumPy tutorial transcription",
         "sklearn_peer": "scikit-learn BernoulliRBM"}

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--rbm-bench", default="build/bench/rbm_bench")
p.add_argument("--peer", required=True, choices=sorted(PEERS))
p.add_argument("--hidden", type=int, default=500)
p.add_argument("--batch", type=int, default=100)
p.add_argument("--k", type=int, default=1)
p.add_argument("--visible", default="bernoulli", choices=["bernoulli", "gaussian"])
p.add_argument("--rounds", type=int, default=7)
p.add_argument("--seconds", type=float, default=0.4, help="length of one timed repeat")
p.add_argument("--pause", type=float, default=1.0,
               help="idle time before each repeat, so that the other's threads have stopped spinning (0.4 s measured "
                    "too short: the peer ran 35%% slow right after our repeats)")
p.add_argument("--spread", type=float, default=0.15, help="repeat a row whose spread exceeds this")
p.add_argument("--attempts", type=int, default=3)
p.add_argument("--json", default="")
a = p.parse_args()

# scikit-learn's BernoulliRBM is PCD-1: compare it with our PCD-1; the others run CD-k.
pcd = a.peer == "sklearn_peer"
k = 1 if pcd else a.k
ours_cmd = [a.rbm_bench, "--serve", "--device", "cpu", "--hidden", str(a.hidden), "--batch", str(a.batch), "--k",
            str(k), "--visible", a.visible, "--seconds", str(a.seconds)] + (["--pcd"] if pcd else [])
peer_cmd = [sys.executable, os.path.join(os.path.dirname(__file__), "peers", a.peer + ".py"), "--serve",
            "--hidden", str(a.hidden), "--batch", str(a.batch), "--k", str(k), "--seconds", str(a.seconds)]
if a.peer == "torch_peer":
    peer_cmd += ["--devices", "cpu", "--visible", a.visible]
elif a.visible != "bernoulli":
    sys.exit(f"ab.py: {a.peer} has Bernoulli units only")


class server:
    def __init__(self, cmd):
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, bufsize=1)
        for line in self.p.stdout:
            if line.strip() == "ready":
                return
        raise RuntimeError(f"{' '.join(cmd)}: ended before it was ready (exit {self.p.wait()})")

    def repeat(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"{' '.join(self.cmd)}: ended (exit {self.p.wait()})")
        return float(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def attempt():
    ours, peer = server(ours_cmd), server(peer_cmd)
    try:
        pairs = []
        for r in range(a.rounds):
            got = {}
            for name, s in ((("ours", ours), ("peer", peer)) if r % 2 == 0 else (("peer", peer), ("ours", ours))):
                time.sleep(a.pause)
                got[name] = s.repeat()
            pairs.append((got["ours"], got["peer"]))
    finally:
        ours.close()
        peer.close()
    ratios = [o / q for o, q in pairs]
    med = statistics.median(ratios)
    return {"ratios": ratios, "ratio_median": med, "ratio_min": min(ratios), "ratio_max": max(ratios),
            "spread": (max(ratios) - min(ratios)) / 2 / med,
            "ours_median": statistics.median(o for o, _ in pairs), "peer_median": statistics.median(q for _, q in pairs)}


tries = []
for _ in range(a.attempts):
    tries.append(attempt())
    if tries[-1]["spread"] <= a.spread:
        break
best = min(tries, key=lambda t: t["spread"])
row = {"impl": "ab", "peer": PEERS[a.peer], "nv": 784, "nh": a.hidden, "batch": a.batch, "k": k, "pcd": pcd,
       "visible": a.visible, "rounds": a.rounds, "attempts": len(tries), "settled": best["spread"] <= a.spread,
       "spread_limit": a.spread, "vector_width": common.vector_width(), **best}
print(f"ab: 784x{a.hidden} batch {a.batch} k {k}{' PCD' if pcd else ''} {a.visible} vs {PEERS[a.peer]}: "
      f"{best['ratio_median']:.2f}x (±{100 * best['spread']:.0f}%, {a.rounds} rounds, attempt {len(tries)}"
      f"{'' if row['settled'] else ', NOT settled'}; ours {best['ours_median']:.0f}, peer {best['peer_median']:.0f} samples/s)")
if a.json:
    with open(a.json, "w") as f:
        json.dump([row], f, indent=2)
