"""Why CD does not learn a Gaussian RBM's sigma well, and what would (issue 24, item 2).

A 64x10 Gaussian-Bernoulli RBM (the energy of docs/real-valued.md) on standardised 8x8 photo patches
(examples/gaussian_patches/make_patches.py), trained in double precision with numpy at rbm's defaults
(batches of 100, momentum 0.5, weight decay 2e-4, 10 epochs) and scored by the exact held-out log
density per patch in the data's units (the 1,024 hidden states enumerated). The visible biases, W and
the hidden biases always move by CD-k (or PCD-k); what differs is how log sigma moves:
  fixed   sigma stays at --sigma0
  cd      CD's own estimate (rbm's --learn-sigma): -dE/dz at the data minus at the reconstruction
  rb      the model side Rao-Blackwellised over v given the hidden state that drew the reconstruction:
          E[-dE/dz | h] = 1 - (b / sigma) (W h)
  sm      score matching (Hyvarinen 2005) on sigma alone: no negative phase at all
  exact   every parameter by the exact likelihood gradient (the model's expectations enumerated): the
          reference for what learned sigma can reach
    python3 bench/learned_sigma_study.py MODE [--lr R] [--seed S] [--pcd] [--k K] [--sigma0 S]
        [--train patches_train.npy --test patches_test.npy]
"""
import argparse
import itertools

import numpy as np

NH = 10


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def log_density(W, b, c, s, V, sd):
    """The exact mean log density of rows V (standardised) in the data's units."""
    F = ((V - b) ** 2 / (2 * s * s)).sum(1) - np.logaddexp(0, c + (V / s) @ W).sum(1)
    H = np.array(list(itertools.product([0, 1], repeat=W.shape[1])), dtype=np.float64)
    WH = H @ W.T  # v integrated out given h: sqrt(2 pi) sigma exp(b (Wh) / sigma + (Wh)^2 / 2) per unit
    lz = H @ c + (WH * (b / s)).sum(1) + 0.5 * (WH ** 2).sum(1)
    log_z = np.logaddexp.reduce(lz) + np.log(np.sqrt(2 * np.pi) * s).sum()
    return (-F - log_z).mean() - np.log(sd).sum()


def score_matching_grad_z(W, b, c, s, V):
    """d/d(log sigma) of the score-matching objective J = mean over rows of sum_i psi_i^2 / 2 + d psi_i / dv_i,
    psi = d log p(v) / dv (checked against finite differences by --check)."""
    p = sigmoid(c + (V / s) @ W)
    q = p * (1 - p)
    u, r = p @ W.T, q @ (W ** 2).T
    psi = -(V - b) / s ** 2 + u / s
    g = q * ((psi / s) @ W + (1 - 2 * p) * ((W ** 2).T @ (1 / s ** 2)))
    ds = psi * (2 * (V - b) / s ** 3 - u / s ** 2) - 2 * (r - 1) / s ** 3 - (V / s ** 2) * (g @ W.T)
    return (s * ds).mean(0)


def exact_negatives(W, b, c, s):
    """The model's expectations of v / sigma h^T, (v - b) / sigma^2, h and -dE/dz, the hidden states enumerated."""
    H = np.array(list(itertools.product([0, 1], repeat=W.shape[1])), dtype=np.float64)
    WH = H @ W.T
    lz = H @ c + (WH * (b / s)).sum(1) + 0.5 * (WH ** 2).sum(1)
    ph = np.exp(lz - lz.max())
    ph /= ph.sum()
    mh = ph @ H
    return (b / s)[:, None] * mh[None, :] + WH.T @ (ph[:, None] * H), (ph @ WH) / s, mh, 1 - (b / s) * (ph @ WH)


def train(a, tr):
    rng = np.random.default_rng(a.seed)
    nv = tr.shape[1]
    W, b, c, s = rng.normal(0, .01, (nv, NH)), tr.mean(0).copy(), np.zeros(NH), np.full(nv, a.sigma0)
    vW, vb, vc, vz = np.zeros_like(W), np.zeros(nv), np.zeros(NH), np.zeros(nv)
    chain = None
    betas = np.linspace(0, 1, a.pt) if a.pt > 1 else None
    ptv = None  # parallel tempering: persistent (v, h) per temperature [T, chains, .]
    swaps = [0, 0]
    ema = None  # moment: running means of A = (v - b)^2, B = v (W p) at the data, C = b (W h) at the chains
    for _ in range(a.epochs):
        perm = rng.permutation(len(tr))
        for i0 in range(0, len(tr), 100):
            V = tr[perm[i0:i0 + 100]]
            p0 = sigmoid(c + (V / s) @ W)
            h = chain if a.pcd and chain is not None else (rng.random(p0.shape) < p0) * 1.0
            for _ in range(a.k):
                drew = h
                vs = b + s * (h @ W.T) + s * rng.normal(size=V.shape)
                pk = sigmoid(c + (vs / s) @ W)
                h = (rng.random(pk.shape) < pk) * 1.0
            chain = h
            if betas is not None:
                if ptv is None:
                    ptv = np.repeat(V[None], a.pt, 0).copy()
                    pth = (rng.random((a.pt, len(V), NH)) < 0.5) * 1.0
                B = betas[:, None, None]
                pth = (rng.random(pth.shape) < sigmoid(B * (c + (ptv / s) @ W))) * 1.0
                ptv = b + B * s * (pth @ W.T) + s * rng.normal(size=ptv.shape)
                G = (pth @ c) + ((ptv / s) @ W * pth).sum(2)  # [T, chains]
                for t in range(a.pt - 1):
                    acc = np.exp(np.minimum(0, (betas[t + 1] - betas[t]) * (G[t] - G[t + 1])))
                    sw = rng.random(len(V)) < acc
                    swaps[0] += sw.sum(); swaps[1] += len(V)
                    ptv[t, sw], ptv[t + 1, sw] = ptv[t + 1, sw].copy(), ptv[t, sw].copy()
                    pth[t, sw], pth[t + 1, sw] = pth[t + 1, sw].copy(), pth[t, sw].copy()
                    G[t, sw], G[t + 1, sw] = G[t + 1, sw].copy(), G[t, sw].copy()
                vs, pk, drew = ptv[-1], sigmoid(c + (ptv[-1] / s) @ W), pth[-1]
            data_z = (((V - b) / s) ** 2 - V / s * (p0 @ W.T)).mean(0)
            if a.mode == "exact":
                nW, nb, nc, nz = exact_negatives(W, b, c, s)
                gW, gb, gc, gz = (V / s).T @ p0 / len(V) - nW, ((V - b) / s ** 2).mean(0) - nb, p0.mean(0) - nc, data_z - nz
            else:
                gW = ((V / s).T @ p0 - (vs / s).T @ pk) / len(V)
                gb, gc = ((V - vs) / s ** 2).mean(0), (p0 - pk).mean(0)
                gz = {"fixed": 0 * data_z,
                      "cd": data_z - (((vs - b) / s) ** 2 - vs / s * (pk @ W.T)).mean(0),
                      "rb": data_z - (1 - (b / s) * (drew @ W.T)).mean(0),
                      "sm": -score_matching_grad_z(W, b, c, s, V) if a.mode == "sm" else None}.get(a.mode)
            if a.mode == "moment":  # sigma solves sigma^2 + sigma (B - C) - A = 0 for the running means
                now = np.stack([((V - b) ** 2).mean(0), (V * (p0 @ W.T)).mean(0), (b * (drew @ W.T)).mean(0)])
                ema = now if ema is None else a.ema * ema + (1 - a.ema) * now
                bc = ema[1] - ema[2]
                target = np.maximum(1e-3, (-bc + np.sqrt(bc * bc + 4 * np.maximum(ema[0], 0))) / 2)
                gz = np.log(target / s) / a.lr  # so that the step below moves z by the momentum-smoothed gap
            vW = .5 * vW + a.lr * (gW - 2e-4 * W)
            vb, vc, vz = .5 * vb + a.lr * gb, .5 * vc + a.lr * gc, .5 * vz + a.lr * gz
            W, b, c, s = W + vW, b + vb, c + vc, np.maximum(1e-3, s * np.exp(vz))
    return W, b, c, s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["fixed", "cd", "rb", "sm", "exact", "moment", "check"])
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--pcd", action="store_true")
    ap.add_argument("--pt", type=int, default=0, help="parallel tempering over this many temperatures")
    ap.add_argument("--ema", type=float, default=0.99, help="moment: the running means' decay per batch")
    ap.add_argument("--sigma0", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train", default="patches_train.npy")
    ap.add_argument("--test", default="patches_test.npy")
    a = ap.parse_args()
    tr, te = np.load(a.train).astype(np.float64), np.load(a.test).astype(np.float64)
    mu, sd = tr.mean(0), tr.std(0)
    sd[sd == 0] = 1  # as rbm --standardize: a constant feature is centred only
    tr, te = (tr - mu) / sd, (te - mu) / sd
    if a.mode == "check":
        rng = np.random.default_rng(0)
        W, b, c = rng.normal(0, .3, (tr.shape[1], NH)), rng.normal(0, .1, tr.shape[1]), rng.normal(0, .1, NH)
        z, V, e, k = rng.normal(0, .2, tr.shape[1]), tr[:50], 1e-6, 3

        def J(z):
            s = np.exp(z)
            p = sigmoid(c + (V / s) @ W)
            psi = -(V - b) / s ** 2 + (p @ W.T) / s
            return (0.5 * psi ** 2 + ((p * (1 - p)) @ (W ** 2).T - 1) / s ** 2).sum(1).mean()
        zp, zm = z.copy(), z.copy()
        zp[k] += e
        zm[k] -= e
        print("finite difference", (J(zp) - J(zm)) / (2 * e), "closed form", score_matching_grad_z(W, b, c, np.exp(z), V)[k])
        return
    W, b, c, s = train(a, tr)
    print(f"{a.mode},{a.lr},{a.seed},{f'pt{a.pt}' if a.pt > 1 else 'pcd' if a.pcd else 'cd'}-{a.k},{a.sigma0},"
          f"{log_density(W, b, c, s, te, sd):.2f},{s.mean():.3f}")


if __name__ == "__main__":
    main()
