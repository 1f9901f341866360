"""One epoch of scikit-learn's BernoulliRBM (784x500, batch 100) on a whole IDX data set, end to end:
the peer of `rbm train --epochs 1` in bench/run.sh's whole-process row. Usage: sklearn_epoch.py DIR"""
import sys

from sklearn.neural_network import BernoulliRBM

import idx

x, _ = idx.load(sys.argv[1], "train")
BernoulliRBM(n_components=500, batch_size=100, learning_rate=0.05, n_iter=1, random_state=0).fit(x)
