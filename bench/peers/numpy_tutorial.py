"""The tutorial's training loop transcribed to NumPy (CD-k, sampled states, summed W gradient):
training samples/s on the same digits."""
import numpy as np

import common

a = common.parse(__doc__)
x = common.data(a)
rows = []
rng = np.random.default_rng(0)
np.seterr(over="ignore")  # exp(-z) overflowing to inf gives sigmoid 0, the right limit
sig = lambda z: 1.0 / (1.0 + np.exp(-z))
for nh, batch, k in common.grid(a):
    W = np.zeros((784, nh), np.float32)
    vb = np.zeros(784, np.float32)
    hb = np.zeros(nh, np.float32)
    state = {"i": 0}

    def step():
        global W, vb, hb
        i = state["i"] % (len(x) // batch)
        v0 = x[i * batch:(i + 1) * batch]
        h0p = sig(v0 @ W + hb)
        h0 = (h0p > rng.random(h0p.shape, dtype=np.float32)).astype(np.float32)
        h = h0
        for _ in range(k):
            vp = sig(h @ W.T + vb)
            v = (vp > rng.random(vp.shape, dtype=np.float32)).astype(np.float32)
            hp = sig(v @ W + hb)
            h = (hp > rng.random(hp.shape, dtype=np.float32)).astype(np.float32)
        W += 0.01 * (v0.T @ h0p - v.T @ hp)
        vb += 0.01 * (v0 - v).mean(0)
        hb += 0.01 * (h0 - h).mean(0)
        state["i"] += 1

    rows.append(common.row("NumPy tutorial transcription", 784, nh, batch, k, False, common.measure(step, batch, a.reps, a.seconds)))
common.emit(a, rows)
