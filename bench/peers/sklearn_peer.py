"""scikit-learn's BernoulliRBM (PCD-1, its only algorithm) on the same digits: training samples/s."""
import numpy as np
from sklearn.neural_network import BernoulliRBM

import common

a = common.parse(__doc__)
x = common.data(a)
rows = []
for nh, batch, k in common.grid(a):
    if k != 1:
        continue  # BernoulliRBM only does one Gibbs step
    rbm = BernoulliRBM(n_components=nh, batch_size=batch, learning_rate=0.05, random_state=0)
    rbm.fit(x[:batch])  # initialises components_ and the persistent chain
    rng = np.random.RandomState(1)
    state = {"i": 0}

    def step():
        i = state["i"] % (len(x) // batch)
        rbm.partial_fit(x[i * batch:(i + 1) * batch])  # one PCD-1 update, as fit() does per batch
        state["i"] += 1

    rows.append(common.row("scikit-learn BernoulliRBM", 784, nh, batch, 1, True, common.measure(step, batch, a.reps, a.seconds)))
common.emit(a, rows)
