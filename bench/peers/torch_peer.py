"""A straightforward PyTorch CD-k (the way most users would write it): training samples/s on the same
digits, on the CPU (with --compile also through torch.compile, ~20 s of compiling per shape) and,
where available, on CUDA eagerly and replayed as a CUDA graph. With --visible gaussian, the same for a
Gaussian-Bernoulli RBM (sigma 1, mean-field reconstructions) on the standardised pixels: rbm_bench's
--visible gaussian rows."""
import sys

import torch

import common

a = common.parse(__doc__)
x_all = torch.from_numpy(common.data(a))
gauss = a.visible == "gaussian"
if gauss:  # standardised per pixel, a constant pixel only centred (rbm's fit_independent_gaussians)
    sd = x_all.std(0, unbiased=False)
    x_all = (x_all - x_all.mean(0)) / torch.where(sd > 1e-6, sd, torch.ones_like(sd))
devices = [d for d in a.devices.split(",") if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
if not devices:
    print(f"torch_peer: nothing to run on ({a.devices}): PyTorch sees no usable CUDA device", file=sys.stderr)
rows = []
for device in devices:
    x = x_all.to(device)
    for nh, batch, k in common.grid(a):
        variants = ["graph"] if device == "cuda" else (["compiled"] if a.compile else [])
        for variant in [None] + variants:
            graph = variant == "graph"
            g = torch.Generator(device=device).manual_seed(0)
            W = (torch.randn(784, nh, device=device, generator=g) * 0.01)
            vb = torch.zeros(784, device=device)
            hb = torch.zeros(nh, device=device)
            vel = torch.zeros_like(W)
            nb = len(x) // batch
            idx = torch.zeros(1, dtype=torch.long, device=device)
            v0 = torch.empty(batch, 784, device=device)

            def update(v0):
                h0p = torch.sigmoid(v0 @ W + hb)
                h = (torch.rand(h0p.shape, device=device) < h0p).float()
                for _ in range(k):
                    if gauss:
                        v = h @ W.T + vb  # the mean of Normal(vb + W h, 1)
                    else:
                        v = (torch.rand(batch, 784, device=device) < torch.sigmoid(h @ W.T + vb)).float()
                    hp = torch.sigmoid(v @ W + hb)
                    h = (torch.rand(hp.shape, device=device) < hp).float()
                vel.mul_(0.5).add_((v0.T @ h0p - v.T @ hp) * (0.1 / batch) - 2e-5 * W)
                W.add_(vel)
                vb.add_(0.1 * (v0 - v).mean(0))
                hb.add_(0.1 * (h0p - hp).mean(0))

            state = {"i": 0}
            if graph:
                v0.copy_(x[:batch])
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    for _ in range(3):
                        update(v0)
                torch.cuda.current_stream().wait_stream(s)
                cg = torch.cuda.CUDAGraph()
                with torch.cuda.graph(cg):
                    update(v0)

                def step():
                    i = state["i"] % nb
                    v0.copy_(x[i * batch:(i + 1) * batch])
                    cg.replay()
                    state["i"] += 1
            else:
                run = torch.compile(update) if variant == "compiled" else update
                if variant == "compiled":
                    run(x[:batch])  # compiles (the timing's warm-up does not have to)

                def step():
                    i = state["i"] % nb
                    run(x[i * batch:(i + 1) * batch])
                    state["i"] += 1

            if device == "cuda":
                rates = common.measure(step, batch, 1, 0.05)  # warm-up
                torch.cuda.synchronize()
                med = []
                for _ in range(a.reps):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    n = max(20, int(rates[0] * a.seconds / batch))
                    start.record()
                    for _ in range(n):
                        step()
                    end.record()
                    end.synchronize()
                    med.append(n * batch / (start.elapsed_time(end) / 1e3))
                med.sort()
                rates = (med[len(med) // 2], med[0], med[-1])
            else:
                rates = common.measure(step, batch, a.reps, a.seconds)
            name = f"PyTorch {torch.__version__} {device}" + (" gauss" if gauss else "") + (f" {variant}" if variant else "")
            rows.append(common.row(name, 784, nh, batch, k, False, rates))
common.emit(a, rows)
