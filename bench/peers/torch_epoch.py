"""One epoch of the plain PyTorch CD-1 (784x500, batch 100, shuffled, on the CPU) on a whole IDX data
set, end to end: the PyTorch peer of `rbm train --epochs 1` in bench/run.sh's whole-process rows.
Usage: torch_epoch.py DIR"""
import sys

import torch

import idx

x = torch.from_numpy(idx.load(sys.argv[1], "train")[0])
g = torch.Generator().manual_seed(0)
nh, batch = 500, 100
W = torch.randn(784, nh, generator=g) * 0.01
vb, hb, vel = torch.zeros(784), torch.zeros(nh), torch.zeros(784, nh)
order = torch.randperm(len(x), generator=g)
for i in range(len(x) // batch):
    v0 = x[order[i * batch:(i + 1) * batch]]
    h0p = torch.sigmoid(v0 @ W + hb)
    h = (torch.rand(h0p.shape, generator=g) < h0p).float()
    v = (torch.rand(v0.shape, generator=g) < torch.sigmoid(h @ W.T + vb)).float()
    hp = torch.sigmoid(v @ W + hb)
    vel.mul_(0.5).add_((v0.T @ h0p - v.T @ hp) * (0.1 / batch) - 2e-5 * W)
    W.add_(vel)
    vb.add_(0.1 * (v0 - v).mean(0))
    hb.add_(0.1 * (h0p - hp).mean(0))
print(f"reconstruction error of the last batch: {((v0 - v) ** 2).mean().item():.4f}")
