"""One epoch of the plain PyTorch CD-1 (784x500, batch 100, shuffled, on the CPU) on a whole IDX data
set, end to end: the PyTorch peer of `rbm train --epochs 1` in bench/run.sh's whole-process rows.
Usage: torch_epoch.py DIR. Its update, cd1_batch, is also bench/dbn_bench.py's PyTorch stack."""
import sys

import torch


def cd1_batch(v0, W, vb, hb, vel, g, lr=0.1):
    """One CD-1 update in place (momentum 0.5, weight decay 2e-4 x lr); returns the reconstruction."""
    h0p = torch.sigmoid(v0 @ W + hb)
    h = (torch.rand(h0p.shape, generator=g) < h0p).float()
    v = (torch.rand(v0.shape, generator=g) < torch.sigmoid(h @ W.T + vb)).float()
    hp = torch.sigmoid(v @ W + hb)
    vel.mul_(0.5).add_((v0.T @ h0p - v.T @ hp) * (lr / len(v0)) - 2e-5 * W)
    W.add_(vel)
    vb.add_(lr * (v0 - v).mean(0))
    hb.add_(lr * (h0p - hp).mean(0))
    return v


if __name__ == "__main__":
    import idx

    x = torch.from_numpy(idx.load(sys.argv[1], "train")[0])
    g = torch.Generator().manual_seed(0)
    nh, batch = 500, 100
    W = torch.randn(784, nh, generator=g) * 0.01
    vb, hb, vel = torch.zeros(784), torch.zeros(nh), torch.zeros(784, nh)
    order = torch.randperm(len(x), generator=g)
    for i in range(len(x) // batch):
        v0 = x[order[i * batch:(i + 1) * batch]]
        v = cd1_batch(v0, W, vb, hb, vel, g)
    print(f"reconstruction error of the last batch: {((v0 - v) ** 2).mean().item():.4f}")
