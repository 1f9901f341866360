"""rbm.BernoulliRBM: scikit-learn's BernoulliRBM (same parameters, defaults, attributes and methods),
trained by this project's C++/CUDA code (rbm._core.train, the entry point `rbm train` uses).

Training runs in C++ with the GIL released; the methods that only read the fitted parameters
(transform, score_samples, gibbs, free energies) are NumPy on them, as in scikit-learn."""
import time

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted

from . import _core

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, X, **kwargs):
        return estimator._validate_data(X, **kwargs)

_DEVICES = ("auto", "cpu", "cuda")


def _dense_float32(X):
    """The rows as the C++ side reads them: dense, C-contiguous float32 (no copy when X already is)."""
    if sp.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=np.float32)


class BernoulliRBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Bernoulli Restricted Boltzmann Machine, trained by persistent contrastive divergence.

    The parameters, their defaults and the fitted attributes are scikit-learn's
    (``sklearn.neural_network.BernoulliRBM``): switching is a change of import. Beyond them, as
    keyword arguments: ``k`` (Gibbs steps per update), ``persistent`` (PCD, scikit-learn's rule, or
    plain CD), ``momentum``, ``weight_decay``, ``device`` ("auto", "cpu" or "cuda") and
    ``n_threads`` (CPU threads; None: OpenBLAS's default).
    """

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, k=1, persistent=True, momentum=0.0, weight_decay=0.0, device="auto",
                 n_threads=None):
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

    # --- checks shared by fit and partial_fit
    def _config(self, batch):
        for name in ("n_components", "batch_size", "n_iter", "k"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.learning_rate, (int, float, np.number)) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if not (0 <= self.momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be non-negative, got {self.weight_decay!r}")
        if self.device not in _DEVICES:
            raise ValueError(f"device must be one of {_DEVICES}, got {self.device!r}")
        return {"nh": int(self.n_components), "lr": float(self.learning_rate), "batch": int(batch),
                "k": int(self.k), "pcd": bool(self.persistent), "momentum": float(self.momentum),
                "weight_decay": float(self.weight_decay), "device": self.device, "any_values": True,
                "threads": self._threads()}

    def _threads(self):
        if self.n_threads is None:
            return 0
        if not isinstance(self.n_threads, (int, np.integer)) or isinstance(self.n_threads, bool) or self.n_threads < 1:
            raise ValueError(f"n_threads must be a positive integer or None, got {self.n_threads!r}")
        return int(self.n_threads)

    def _run(self, X, config, start):
        """Trains in C++; keeps what it returns (also when Ctrl-C stopped it, then re-raised)."""
        r = _core.train(_dense_float32(X), config, start, None)
        self._keep(r, X.dtype)
        if r["keyboard_interrupt"]:
            raise KeyboardInterrupt("rbm: training stopped after the last completed update")
        return r

    def _keep(self, r, dtype):
        p, st = r["params"], r["state"]
        self._params = p
        self._state = st
        self.components_ = np.asarray(p["W"].T, dtype=dtype, order="C")
        self.intercept_hidden_ = np.asarray(p["hb"], dtype=dtype)
        self.intercept_visible_ = np.asarray(p["vb"], dtype=dtype)
        chains = st["chain_h"]
        self.h_samples_ = np.asarray(chains if chains.shape[0] else np.zeros((self.batch_size, self.n_components)),
                                     dtype=dtype)
        self._n_features_out = self.components_.shape[0]
        self.backend_ = r["backend"]

    def fit(self, X, y=None):
        """Fits the model to X [n_samples, n_features] (dense or sparse); y is ignored."""
        X = _validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
        config = self._config(self.batch_size)
        config["epochs"] = int(self.n_iter)
        config["seed"] = int(check_random_state(self.random_state).randint(1, 2**31 - 1))
        self._seed = config["seed"]  # partial_fit after fit continues this stream
        self.random_state_ = check_random_state(self.random_state)
        begin = time.time()
        # The AIS base model for log_likelihood: the training data's base rates (binarised at 0.5).
        self._base_vb = _core.base_rate_bias((_dense_float32(X) >= 0.5).astype(np.float32))
        r = self._run(X, config, None)
        if self.verbose:
            # Each iteration's own numbers from the C++ run (its reconstruction error; only the final
            # parameters reach Python, so the pseudo-likelihood is the fitted model's, printed once).
            before = 0.0
            for m in r["history"][1:]:
                print(f"[{type(self).__name__}] Iteration {m['epoch']}, reconstruction error = "
                      f"{m['train_error']:.4f}, time = {m['seconds'] - before:.2f}s")
                before = m["seconds"]
            print(f"[{type(self).__name__}] fitted in {time.time() - begin:.2f}s, pseudo-likelihood = "
                  f"{self.score_samples(X).mean():.2f}")
        return self

    def partial_fit(self, X, y=None):
        """One update on X as a batch (scikit-learn's partial_fit), keeping the momentum, the PCD chains
        and the random stream across calls."""
        first = not hasattr(self, "components_")
        X = _validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=first)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        config = self._config(X.shape[0])
        config["epochs"] = 1
        if first:
            config["seed"] = int(self.random_state_.randint(1, 2**31 - 1))
            self._seed = config["seed"]
            start = None
        else:
            config["seed"] = self._seed
            start = {"params": self._params, "state": self._state}
        self._run(X, config, start)
        return self

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
        return -safe_sparse_dot(v, self.intercept_visible_) - np.logaddexp(
            0, safe_sparse_dot(v, self.components_.T) + self.intercept_hidden_).sum(axis=1)

    def _fitted_input(self, X):
        """X checked against the fit (features, finite values), as a float array or CSR matrix."""
        check_is_fitted(self)
        return _validate_data(self, X, accept_sparse="csr", reset=False, dtype=(np.float64, np.float32))

    def transform(self, X):
        """p(h = 1 | v) [n_samples, n_components], in X's float dtype."""
        return self._mean_hiddens(self._fitted_input(X))

    def gibbs(self, v):
        """One Gibbs step from v: h ~ p(h | v), then v ~ p(v | h) (booleans, as scikit-learn)."""
        check_is_fitted(self)
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
        rng = check_random_state(self.random_state)
        ind = (np.arange(v.shape[0]), rng.randint(0, v.shape[1], v.shape[0]))
        if sp.issparse(v):
            data = -2 * v[ind] + 1
            data = np.asarray(data).ravel()
            v_ = v + sp.csr_matrix((data, ind), shape=v.shape)
        else:
            v_ = v.copy()
            v_[ind] = 1 - v_[ind]
        fe = self._free_energy(v)
        fe_ = self._free_energy(v_)
        return -v.shape[1] * np.logaddexp(0, -(fe_ - fe))

    # --- beyond scikit-learn
    def log_likelihood(self, X, method="auto", ais_runs=100, ais_steps=3000, exact_max=20):
        """log p(x) per sample, for X binarised at 0.5: -F(x) - log Z, with log Z exact where the smaller
        layer has at most `exact_max` units (method "auto" or "exact"), else by AIS (`ais_runs` runs of
        `ais_steps` temperatures from the training data's base rates). Also sets log_z_ (and, for AIS,
        log_z_interval_, its 3-sigma interval)."""
        v = self._fitted_input(X)
        v = ((v.toarray() if sp.issparse(v) else v) >= 0.5).astype(self.components_.dtype)
        small = min(self.components_.shape) <= exact_max
        if method not in ("auto", "exact", "ais"):
            raise ValueError(f"method must be auto, exact or ais, got {method!r}")
        if method == "exact" and not small:
            raise ValueError(f"exact log Z enumerates the smaller layer: at most {exact_max} units "
                             f"(this model has {min(self.components_.shape)})")
        use_exact = method == "exact" or (method == "auto" and small)
        base = getattr(self, "_base_vb", None)
        if base is None:
            base = _core.base_rate_bias(_dense_float32(v))
        z, lo, hi = _core.log_z(self._params, "exact" if use_exact else "ais", base, int(ais_runs), int(ais_steps),
                                 int(getattr(self, "_seed", 1)), int(exact_max))
        self.log_z_ = z
        self.log_z_interval_ = (lo, hi)
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
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        v = rng.uniform(size=(int(n_samples), self.components_.shape[1])) < 0.5
        for _ in range(int(n_steps)):
            v = self._sample_visibles(self._sample_hiddens(v.astype(self.components_.dtype), rng), rng)
        return v

    def save(self, path):
        """Writes the model as the CLI's model.safetensors (W [n_features, n_components], vb, hb):
        `rbm evaluate --model PATH` and `rbm.load(PATH)` open it."""
        check_is_fitted(self)
        _core.save(str(path), self._params, {"hidden_units": "bernoulli", "visible_units": "bernoulli",
                                             "trained_by": "rbm.BernoulliRBM"})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float64, np.float32]}


def load(path):
    """A BernoulliRBM from a model.safetensors written by `rbm train` or BernoulliRBM.save."""
    f = _core.load(str(path))
    p = f["params"]
    if "sigma" in p:
        raise ValueError(f"{path}: the model has Gaussian visible units; rbm.BernoulliRBM holds Bernoulli ones")
    m = BernoulliRBM(n_components=int(p["W"].shape[1]))
    m._params, m._state = p, None
    m.components_ = np.ascontiguousarray(p["W"].T)
    m.intercept_hidden_ = p["hb"].copy()
    m.intercept_visible_ = p["vb"].copy()
    m.h_samples_ = np.zeros((m.batch_size, m.n_components), dtype=np.float32)
    m.n_features_in_ = int(p["W"].shape[0])
    m._n_features_out = m.n_components
    m._seed = 1
    return m
