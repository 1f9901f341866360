#!/usr/bin/env python3
"""Fine-tuned deep belief networks against what they must beat (issue 24): test accuracy of
  - the greedy 784-500-500-2000 stack with labels at rbm train's defaults (CD-1, rate 0.1, batches of
    100, 10 epochs a layer, grey pixels, a generative top), then the same stack fine-tuned
    (`rbm train --fine-tune`, the best validation epoch kept),
  - the same network trained by the same fine-tuning code from random weights (no pretraining: Glorot's
    uniform initialisation scaled by 4 for sigmoid units, biases 0),
  - scikit-learn's MLPClassifier of the same shape (logistic units, Adam, early stopping on the same
    validation rows),
  - the best single classification RBM of README's "Labels" table (not rerun here).
Every model trains on the same rows (the training set less the last VALIDATION rows, which are the
validation set) and is scored once on the test set.

    python3 bench/fine_tune_quality.py [digits|fashion] [--rbm build/host/rbm] [--out runs/fine-tune] [--epochs 50]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
import idx  # noqa: E402

DATA = {"digits": os.path.join(ROOT, "data", "mnist"), "fashion": "/usr/share/datasets/fashion-mnist"}
DATA_FLAG = {"digits": [], "fashion": ["--data", "fashion-mnist"]}
VALIDATION = {"digits": 2000, "fashion": 10000}
SHAPE = (500, 500, 2000)
# rbm train's defaults but for the shape and the labels
GREEDY = ["--hidden", "500,500,2000", "--labels"]


def ours(rbm, name, epochs, out):
    run = os.path.join(out, f"{name}-tuned")
    cmd = [rbm, "train", *DATA_FLAG[name], *GREEDY, "--validation", str(VALIDATION[name]), "--fine-tune", str(epochs),
           "--quiet", "--out", run]
    t = time.time()
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    tuned = float(re.search(r"test set \(\d+ images, not used in training\): accuracy ([0-9.]+)", text).group(1))
    return tuned, time.time() - t, run


def rows(name):
    x, y = idx.load(DATA[name], "train")
    xt, yt = idx.load(DATA[name], "test")
    v = VALIDATION[name]
    return x[:-v], y[:-v], x[-v:], y[-v:], xt, yt


def random_network(n_in, classes, seed):
    rng = np.random.default_rng(seed)
    sizes = (n_in, *SHAPE)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        r = 4 * np.sqrt(6.0 / (a + b))
        layers.append({"W": rng.uniform(-r, r, (a, b)).astype(np.float32), "vb": np.zeros(a, np.float32),
                       "hb": np.zeros(b, np.float32)})
    r = 4 * np.sqrt(6.0 / (SHAPE[-1] + classes))
    layers[-1]["label_W"] = rng.uniform(-r, r, (classes, SHAPE[-1])).astype(np.float32)
    layers[-1]["label_b"] = np.zeros(classes, np.float32)
    return layers


def from_random(name, epochs):
    from rbm import _core
    x, y, xv, yv, xt, yt = rows(name)
    t = time.time()
    layers, _, history = _core.fine_tune(random_network(x.shape[1], 10, 1), x, y.astype(np.int64), None, None, xv,
                                         yv.astype(np.int64), None, {"epochs": epochs, "seed": 1})
    h = xt
    for p in layers[:-1]:
        h = (1 / (1 + np.exp(-(h @ p["W"] + p["hb"])))).astype(np.float32)
    pred = np.argmax(_core.class_log_probs(layers[-1], h), axis=1)
    return float(np.mean(pred == yt)), time.time() - t, len(history)


def mlp(name, epochs):
    from sklearn.neural_network import MLPClassifier
    x, y, xv, yv, xt, yt = rows(name)
    t = time.time()
    m = MLPClassifier(SHAPE, activation="logistic", solver="adam", batch_size=100, max_iter=epochs,
                      early_stopping=True, validation_fraction=len(xv) / (len(x) + len(xv)), n_iter_no_change=10,
                      random_state=1)
    # scikit-learn draws its validation rows itself; give it the same rows in the same total
    m.fit(np.vstack([x, xv]), np.concatenate([y, yv]))
    return float(m.score(xt, yt)), time.time() - t, m.n_iter_


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="?", default="digits", choices=sorted(DATA))
    ap.add_argument("--rbm", default=os.path.join(ROOT, "build", "host", "rbm"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "fine-tune"))
    ap.add_argument("--epochs", type=int, default=50)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    acc, secs, run = ours(a.rbm, a.which, a.epochs, a.out)
    greedy = subprocess.run([a.rbm, "classify", *DATA_FLAG[a.which], "--model", os.path.join(run, "model.safetensors"),
                             "--greedy"], check=True, capture_output=True, text=True).stdout
    g = float(re.search(r"accuracy ([0-9.]+)", greedy).group(1))
    print(f"| {a.which} | greedy stack (labels, generative top) | {g:.4f} |")
    print(f"| {a.which} | the same, fine-tuned (up to {a.epochs} epochs) | {acc:.4f} | {secs:.0f} s in all |")
    r_acc, r_secs, r_epochs = from_random(a.which, a.epochs)
    print(f"| {a.which} | the same network from random weights (same fine-tuning) | {r_acc:.4f} | {r_epochs} epochs, {r_secs:.0f} s |")
    m_acc, m_secs, m_epochs = mlp(a.which, a.epochs)
    print(f"| {a.which} | scikit-learn MLPClassifier {SHAPE}, logistic, Adam | {m_acc:.4f} | {m_epochs} epochs, {m_secs:.0f} s |")


if __name__ == "__main__":
    main()
