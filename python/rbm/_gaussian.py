"""rbm.GaussianRBM: BernoulliRBM's estimator with Gaussian visible units, for real-valued data.

    E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j c_j h_j - sum_ij (v_i / sigma_i) W_ij h_j

on the data standardised per feature (``standardize=True``: the training set's mean 0 and standard
deviation 1, kept as ``mean_`` / ``scale_`` and applied by every method), sigma fixed at 1 or learned
(``learn_sigma``). Training is the C++ entry point of ``rbm train --visible gaussian``; the methods
that read the fitted parameters are NumPy on them and answer in the data's own units."""
import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._base import _TransformerRBM, _dense_float32, _sample_counts


class GaussianRBM(_TransformerRBM):
    """Gaussian-Bernoulli Restricted Boltzmann Machine (real-valued visible units, binary hidden ones).

    The parameters, attributes and methods are BernoulliRBM's (``components_``, ``intercept_hidden_``,
    ``intercept_visible_``, ``h_samples_``; fit, partial_fit, transform, gibbs, ...) plus
    ``standardize`` (scale each feature to the training set's mean 0, standard deviation 1 first),
    ``learn_sigma`` (learn each visible unit's standard deviation, never below ``sigma_floor``; implies
    sampled reconstructions) and ``sample_visible`` (sample the reconstructions instead of using their
    mean) and ``optimizer`` ("sgd" or "adam", as BernoulliRBM's) and ``tempering`` (0: CD/PCD; N >= 2:
    parallel tempering over N temperatures; implies sampled reconstructions; either backend). None
    (the default) for ``learning_rate`` and ``tempering``: 0.01 and CD/PCD, but with ``learn_sigma``
    parallel tempering over 10 temperatures at 0.001 under SGD (`rbm train --learn-sigma`'s defaults,
    the estimator and rate that beat sigma fixed at 1 on the data measured; bench/RESULTS.md). Fitted: ``sigma_`` [n_features] in the model's units, ``mean_`` / ``scale_`` (the
    standardisation; None without it).
    """

    _visible = "gaussian"

    def __init__(self, n_components=256, *, learning_rate=None, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, standardize=True, learn_sigma=False, sample_visible=False, sigma_floor=0.05,
                 k=1, persistent=True, momentum=0.0, weight_decay=0.0, device="auto", n_threads=None, optimizer="sgd",
                 tempering=None):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.standardize = standardize
        self.learn_sigma = learn_sigma
        self.sample_visible = sample_visible
        self.sigma_floor = sigma_floor
        self.tempering = tempering
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.n_threads = n_threads
        self.optimizer = optimizer

    # --- training
    def _setting(self, name, default=None):
        value = super()._setting(name, default)
        if value is not None or name not in ("learning_rate", "tempering"):
            return value
        d = _core.unit_defaults("bernoulli", str(self.optimizer))
        if name == "tempering":
            return d["learned_sigma_tempering"] if self.learn_sigma else 0
        if self.learn_sigma and self.optimizer == "sgd":
            return d["learned_sigma_learning_rate"]
        return d["learning_rate"] if self.optimizer != "sgd" else 0.01

    def _unit_config(self):
        if not (isinstance(self.sigma_floor, (int, float, np.number)) and self.sigma_floor > 0):
            raise ValueError(f"sigma_floor must be a positive number, got {self.sigma_floor!r}")
        return {"standardize": bool(self.standardize), "learn_sigma": bool(self.learn_sigma),
                "visible_sample": bool(self.sample_visible or self.learn_sigma or self._setting("tempering") > 1),
                "sigma_floor": float(self.sigma_floor)}

    def _prepare_fit(self, X):
        # The AIS base model for log_likelihood: independent Gaussians fitted to the training data.
        self._base = None if hasattr(X, "device_pointer") else _core.independent_gaussians(_dense_float32(X))

    def _later_config(self, config):
        config["standardize"] = False  # later partial_fit batches use the first call's statistics
        return config

    def _later_input(self, X):
        if self.mean_ is None:
            return X
        if hasattr(X, "device_pointer"):
            X = X.to_host()
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
        return (X - self.mean_.astype(X.dtype)) / self.scale_.astype(X.dtype)

    def _keep_units(self, r, dtype, first):
        p = r["params"]
        self.sigma_ = np.asarray(p["sigma"], dtype=dtype)
        if r["data_mean"].size:
            self.mean_ = np.asarray(r["data_mean"], dtype=dtype)
            self.scale_ = np.asarray(r["data_sd"], dtype=dtype)
        elif first:
            self.mean_ = self.scale_ = None

    def _verbose_value(self, X, metrics, params):
        return f"reconstruction error = {metrics['train_error']:.4f}"

    # --- what the fitted parameters say, in the data's units
    def _z(self, X):
        """X (checked against the fit) in the model's units: standardised where the fit was."""
        v = self._fitted_input(X)
        v = v.toarray() if sp.issparse(v) else np.asarray(v)
        return v if self.mean_ is None else (v - self.mean_.astype(v.dtype)) / self.scale_.astype(v.dtype)

    def _data_units(self, z):
        return z if self.mean_ is None else z * self.scale_ + self.mean_

    def _hidden_input(self, z):
        return (z / self.sigma_.astype(z.dtype)) @ self.components_.T.astype(z.dtype) + self.intercept_hidden_

    def _visible_mean(self, h):
        return self.intercept_visible_ + self.sigma_ * (h @ self.components_)

    def transform(self, X):
        """p(h = 1 | v) [n_samples, n_components], in X's float dtype."""
        return expit(self._hidden_input(self._z(X)))

    def free_energy(self, X):
        """F(v) per sample in the model's (standardised) units: sum_i (v_i - b_i)^2 / 2 sigma_i^2 - sum_j
        softplus(c_j + sum_i (v_i / sigma_i) W_ij)."""
        z = self._z(X)
        return self._free_energy(z)

    def _free_energy(self, z):
        d = (z - self.intercept_visible_) / self.sigma_
        return 0.5 * (d * d).sum(axis=1) - np.logaddexp(0, self._hidden_input(z)).sum(axis=1)

    def log_likelihood(self, X, method="auto", ais_runs=100, ais_steps=3000, exact_max=20):
        """log p(x) per sample, a density in X's own units (nats; the standardisation's Jacobian
        included): -F(z) - log Z - sum_i log scale_i. log Z exact where the hidden layer has at most
        `exact_max` units (its states enumerated, the visible units integrated out), else by AIS
        (`ais_runs` runs of `ais_steps` temperatures) from independent Gaussians fitted to the training
        data. Sets log_z_ and log_z_interval_."""
        z = self._z(X)
        log_z = self._model_log_z(z, method, ais_runs, ais_steps, exact_max)
        return -self._free_energy(z) - log_z - self._jacobian()

    def _jacobian(self):
        return 0.0 if self.mean_ is None else float(np.log(self.scale_.astype(np.float64)).sum())

    def _model_log_z(self, z, method, ais_runs=100, ais_steps=3000, exact_max=20):
        base = getattr(self, "_base", None)
        if base is None:  # a loaded model: the base fitted to the rows given
            base = _core.independent_gaussians(np.ascontiguousarray(z, dtype=np.float32))
        elif self.mean_ is not None:  # the training data's statistics, in the model's units
            base = ((base[0] - self.mean_.astype(np.float32)) / self.scale_.astype(np.float32),
                    base[1] / self.scale_.astype(np.float32))
        return self._log_z(method, base, ais_runs, ais_steps, exact_max, self.n_components, "the hidden layer")

    def score_samples(self, X):
        """The log density of each sample (log_likelihood with method "auto"; log Z computed once per fit)."""
        check_is_fitted(self)
        z = self._z(X)
        if getattr(self, "_score_log_z", (None, None))[0] != self._fits:
            self._score_log_z = (self._fits, self._model_log_z(z, "auto"))
        return -self._free_energy(z) - self._score_log_z[1] - self._jacobian()

    def gibbs(self, v):
        """One Gibbs step from v (data units): h ~ p(h | v), then v ~ Normal(b + sigma (W h), sigma^2),
        returned in the data's units."""
        v = self._fitted_input(v)  # the fit's feature count, finite values: scikit-learn's message
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        return self._data_units(self._step(self._z(v), self.random_state_))

    def _step(self, z, rng):
        p = expit(self._hidden_input(z))
        h = (rng.uniform(size=p.shape) < p).astype(z.dtype)
        mean = self._visible_mean(h)
        return mean + self.sigma_ * rng.standard_normal(mean.shape).astype(z.dtype)

    def sample(self, n_samples=10, n_steps=1000, random_state=None):
        """`n_samples` samples (data units) after `n_steps` Gibbs sweeps from b + sigma N(0, 1)."""
        check_is_fitted(self)
        _sample_counts(n_samples, n_steps)
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        dt = self.components_.dtype
        z = (self.intercept_visible_ + self.sigma_ * rng.standard_normal((int(n_samples), self.n_features_in_))).astype(dt)
        for _ in range(int(n_steps)):
            z = self._step(z, rng)
        return self._data_units(z)

    def _extra_tensors(self):
        if self.mean_ is None:
            return {}
        return {"data_mean": np.asarray(self.mean_, np.float32), "data_std": np.asarray(self.scale_, np.float32)}
