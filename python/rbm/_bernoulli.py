"""rbm.BernoulliRBM: scikit-learn's BernoulliRBM (same parameters, defaults, attributes and methods),
trained by this project's C++/CUDA code (rbm._core.train, the entry point `rbm train` uses).

Training runs in C++ with the GIL released; the methods that only read the fitted parameters
(transform, score_samples, gibbs, free energies) are NumPy on them, as in scikit-learn."""
import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.utils import check_random_state
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._base import _TransformerRBM, _dense_float32, _sample_counts, _validate_data


def _bernoulli_free_energy(v, components, hb, vb):
    return -safe_sparse_dot(v, vb) - np.logaddexp(0, safe_sparse_dot(v, components.T) + hb).sum(axis=1)


class BernoulliRBM(_TransformerRBM):
    """Bernoulli Restricted Boltzmann Machine, trained by persistent contrastive divergence.

    The parameters, their defaults and the fitted attributes are scikit-learn's
    (``sklearn.neural_network.BernoulliRBM``): switching is a change of import. Beyond them, as
    keyword arguments: ``k`` (Gibbs steps per update), ``persistent`` (PCD, scikit-learn's rule, or
    plain CD), ``momentum``, ``weight_decay``, ``device`` ("auto", "cpu" or "cuda") and
    ``n_threads`` (CPU threads; None: OpenBLAS's default), ``optimizer`` ("sgd", scikit-learn's rule
    with ``momentum``, or "adam": pass a ``learning_rate`` near 0.001 with it).
    """

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, k=1, persistent=True, momentum=0.0, weight_decay=0.0, device="auto",
                 n_threads=None, optimizer="sgd"):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.n_threads = n_threads
        self.optimizer = optimizer

    def _unit_config(self):
        return {"any_values": True}  # as scikit-learn's, values outside [0, 1] are taken as they are

    def _prepare_fit(self, X):
        # The AIS base model for log_likelihood: the training data's base rates (binarised at 0.5).
        self._base_vb = None if hasattr(X, "device_pointer") else _core.base_rate_bias(_dense_float32(X), 0.5)

    def _verbose_value(self, X, metrics, params):
        """scikit-learn's verbose number: the pseudo-likelihood of the iteration's parameters on X."""
        dt = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        comps, hb, vb = (np.asarray(a, dtype=dt) for a in (params["W"].T, params["hb"], params["vb"]))
        return f"pseudo-likelihood = {self._score(X, comps, hb, vb).mean():.2f}"

    # --- what scikit-learn computes from the fitted parameters
    def _mean_hiddens(self, v):
        return expit(safe_sparse_dot(v, self.components_.T) + self.intercept_hidden_)

    def _sample_hiddens(self, v, rng):
        p = self._mean_hiddens(v)
        return rng.uniform(size=p.shape) < p

    def _sample_visibles(self, h, rng):
        p = expit(np.dot(h, self.components_) + self.intercept_visible_)
        return rng.uniform(size=p.shape) < p

    def _free_energy(self, v):
        return _bernoulli_free_energy(v, self.components_, self.intercept_hidden_, self.intercept_visible_)

    def transform(self, X):
        """p(h = 1 | v) [n_samples, n_components], in X's float dtype."""
        return self._mean_hiddens(self._fitted_input(X))

    def gibbs(self, v):
        """One Gibbs step from v: h ~ p(h | v), then v ~ p(v | h) (booleans, as scikit-learn)."""
        v = self._fitted_input(v)  # the fit's feature count, finite values: scikit-learn's message
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        h_ = self._sample_hiddens(v, self.random_state_)
        return self._sample_visibles(h_, self.random_state_)

    def free_energy(self, X):
        """F(v) per sample: -v.vb - sum_j softplus(hb_j + (v W)_j)."""
        return self._free_energy(self._fitted_input(X))

    def score_samples(self, X):
        """scikit-learn's stochastic pseudo-likelihood: one random feature flipped per sample."""
        check_is_fitted(self)
        v = _validate_data(self, X, accept_sparse="csr", reset=False)
        return self._score(v, self.components_, self.intercept_hidden_, self.intercept_visible_)

    def _score(self, v, components, hb, vb):
        rng = check_random_state(self.random_state)
        ind = (np.arange(v.shape[0]), rng.randint(0, v.shape[1], v.shape[0]))
        if sp.issparse(v):
            data = -2 * v[ind] + 1
            data = np.asarray(data).ravel()
            v_ = v + sp.csr_matrix((data, ind), shape=v.shape)
        else:
            v_ = v.copy()
            v_[ind] = 1 - v_[ind]
        fe = _bernoulli_free_energy(v, components, hb, vb)
        fe_ = _bernoulli_free_energy(v_, components, hb, vb)
        return -v.shape[1] * np.logaddexp(0, -(fe_ - fe))

    # --- beyond scikit-learn
    def log_likelihood(self, X, method="auto", ais_runs=100, ais_steps=3000, exact_max=20):
        """log p(x) per sample, for X binarised at 0.5: -F(x) - log Z, with log Z exact where the smaller
        layer has at most `exact_max` units (method "auto" or "exact"), else by AIS (`ais_runs` runs of
        `ais_steps` temperatures from the training data's base rates). Also sets log_z_ (and, for AIS,
        log_z_interval_, its 3-sigma interval)."""
        v = self._fitted_input(X)
        v = ((v.toarray() if sp.issparse(v) else v) >= 0.5).astype(self.components_.dtype)
        base = getattr(self, "_base_vb", None)
        if base is None:
            base = _core.base_rate_bias(_dense_float32(v), 0.5)
        z = self._log_z(method, base, ais_runs, ais_steps, exact_max, min(self.components_.shape), "the smaller layer")
        return -self._free_energy(v) - z

    def pseudo_log_likelihood(self, X):
        """The exact pseudo-log-likelihood, sum over every feature i of log p(x_i | x_-i), the mean over
        the samples of X binarised at 0.5 (not scikit-learn's one-feature estimate: every feature flipped)."""
        v = self._fitted_input(X)
        v = (v.toarray() if sp.issparse(v) else v) >= 0.5
        return _core.pseudo_log_likelihood(self._params, v.astype(np.float32))

    def sample(self, n_samples=10, n_steps=1000, random_state=None):
        """`n_samples` binary samples after `n_steps` Gibbs sweeps from fair coin flips."""
        check_is_fitted(self)
        _sample_counts(n_samples, n_steps)
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        v = rng.uniform(size=(int(n_samples), self.components_.shape[1])) < 0.5
        for _ in range(int(n_steps)):
            v = self._sample_visibles(self._sample_hiddens(v.astype(self.components_.dtype), rng), rng)
        return v

    def _extra_tensors(self):
        return {}
