"""Trains scikit-learn's BernoulliRBM on an IDX data set and saves it for `rbm import --sklearn`:
components_ [n_components, 784], intercept_visible_ [784], intercept_hidden_ [n_components] as F32
safetensors. Usage: sklearn_export.py --data DIR --out sk.safetensors [--hidden 500 --epochs 10 ...]"""
import argparse
import json
import time

import numpy as np
from safetensors.numpy import save_file
from sklearn.neural_network import BernoulliRBM

import idx

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--out", required=True)
p.add_argument("--hidden", type=int, default=500)
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--batch", type=int, default=100)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--binarize", action="store_true", help="train on pixel >= 128 (as rbm train --binarize)")
a = p.parse_args()

x, _ = idx.load(a.data, "train")
if a.binarize:
    x = (x >= np.float32(128 / 255)).astype(np.float32)
rbm = BernoulliRBM(n_components=a.hidden, learning_rate=a.lr, batch_size=a.batch, n_iter=a.epochs,
                   random_state=a.seed, verbose=0)
t0 = time.time()
rbm.fit(x)
seconds = time.time() - t0
tensors = {"components_": rbm.components_.astype(np.float32),
           "intercept_visible_": rbm.intercept_visible_.astype(np.float32),
           "intercept_hidden_": rbm.intercept_hidden_.astype(np.float32)}
meta = {"trainer": "scikit-learn BernoulliRBM (PCD-1)", "settings": json.dumps(vars(a)), "seconds": f"{seconds:.2f}"}
save_file(tensors, a.out, metadata=meta)
print(f"sklearn_export: {a.hidden} units, {a.epochs} epochs, batch {a.batch}, lr {a.lr} in {seconds:.1f}s -> {a.out}")
