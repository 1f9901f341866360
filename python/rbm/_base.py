"""What the estimators share: parameter checks, the call into the C++ training entry point
(rbm._core.train, the one `rbm train` uses), fit / partial_fit, the fitted state, and live `verbose`.

Each estimator (BernoulliRBM, GaussianRBM) says only what its units add: its extra configuration,
what it keeps after training, and its verbose line."""
import functools
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._device import device_matrix, is_device_array

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
    with np.errstate(over="ignore"):  # said below, as a ValueError
        rows = np.ascontiguousarray(X, dtype=np.float32)
    if rows is not X and not np.isfinite(rows).all():  # finite doubles beyond float32's range became inf
        raise ValueError("Input X contains values beyond float32's range (about 3.4e38); rbm trains and "
                         "transforms in float32")
    return rows


def _rows(X):
    """X as rbm._core.train reads it: a CUDA array's device_matrix as it is, else dense float32 rows."""
    return X if hasattr(X, "device_pointer") else _dense_float32(X)


_INT_MAX = 2**31 - 1  # the C++ side's sizes are int


def _positive_int(name, v, most=_INT_MAX):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 1 <= v <= most:
        raise ValueError(f"{name} must be an integer in [1, {most}], got {v!r}")


def _finite_number(name, v, lo, hi=np.inf, open_hi=False, open_lo=False):
    """v a real number in its range: finite, not NaN (every comparison with NaN is False)."""
    ok = isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and np.isfinite(v)
    ok = ok and (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)
    if not ok:
        lo_b, hi_b = "(" if open_lo else "[", ")" if open_hi or hi == np.inf else "]"
        raise ValueError(f"{name} must be a finite number in {lo_b}{lo}, {hi}{hi_b}, got {v!r}")


def _sample_counts(n_samples, n_steps):
    """sample()'s arguments, checked as fit's are."""
    _positive_int("n_samples", n_samples)
    if not isinstance(n_steps, (int, np.integer)) or isinstance(n_steps, bool) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")


def _all_or_nothing(fit):
    """fit / partial_fit that either completes or leaves the estimator as it was before the call
    (scikit-learn's rule: the fitted attributes change together): on any exception, Ctrl-C included,
    the instance's whole state is put back. The one exception is a model kept on purpose: Ctrl-C
    during this estimator's own training keeps the model of the last completed update (the
    KeyboardInterrupt names the estimator in `rbm_model_kept`); a stack interrupted in a layer is put
    back, as the layer is not its own."""
    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        before = dict(self.__dict__)
        try:
            return fit(self, *args, **kwargs)
        except BaseException as e:
            if getattr(e, "rbm_model_kept", None) is not self:
                self.__dict__.clear()
                self.__dict__.update(before)
            raise
    wrapper._all_or_nothing = True
    return wrapper


class _AtomicFit:
    """Every subclass's own fit and partial_fit are wrapped by _all_or_nothing, so no estimator can
    be left half-fitted by an error (a mixin, rather than each method remembering to)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("fit", "partial_fit"):
            f = cls.__dict__.get(name)
            if f is not None and not getattr(f, "_all_or_nothing", False):
                setattr(cls, name, _all_or_nothing(f))


class _RBMBase(_AtomicFit, BaseEstimator):
    """Training and fitted state common to rbm's estimators (not for direct use)."""

    _visible = "bernoulli"

    # --- checks shared by fit and partial_fit
    def _setting(self, name, default=None):
        """A parameter's value as fitting uses it (an estimator may resolve None to its own default)."""
        return getattr(self, name, default)

    def _config(self, batch):
        for name in ("n_components", "batch_size", "n_iter", "k"):
            _positive_int(name, self._setting(name, 1))
        _finite_number("learning_rate", self._setting("learning_rate"), 0, open_lo=True)
        _finite_number("momentum", self.momentum, 0, 1, open_hi=True)
        _finite_number("weight_decay", self.weight_decay, 0)
        optimizer = getattr(self, "optimizer", "sgd")  # its name checked where the names live (C++: ValueError)
        if self.device not in _DEVICES:
            raise ValueError(f"device must be one of {_DEVICES}, got {self.device!r}")
        tempering = self._setting("tempering", 0)
        if isinstance(tempering, bool) or not isinstance(tempering, (int, np.integer)):  # its range: C++'s check
            raise ValueError(f"tempering must be an integer, got {tempering!r}")
        if self.n_threads is not None:
            _positive_int("n_threads", self.n_threads, 4096)  # the CLI's --threads range
        config = {"nh": int(self.n_components), "lr": float(self._setting("learning_rate")), "batch": int(batch),
                  "k": int(getattr(self, "k", 1)), "pcd": bool(getattr(self, "persistent", False)),
                  "momentum": float(self.momentum),
                  "weight_decay": float(self.weight_decay), "device": self.device, "visible": self._visible,
                  "threads": int(self.n_threads or 0), "optimizer": optimizer, "tempering": int(tempering)}
        config.update(self._unit_config())
        return config

    def _unit_config(self):
        return {}

    def _check_input(self, X, reset):
        """X as training reads it: a CUDA array (CuPy, PyTorch, anything with DLPack or
        __cuda_array_interface__) stays on its device; anything else goes through scikit-learn's checks."""
        if is_device_array(X) and self.device == "cpu":
            X = device_matrix(X).to_host()  # the CPU backend reads host memory
        if is_device_array(X):
            m = device_matrix(X)
            if not reset and m.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {m.shape[1]} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input")
            if reset:
                self.n_features_in_ = m.shape[1]
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            return m
        return _validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=reset)

    def _run(self, X, config, start, y=None, source=None):
        """Trains in C++ (with class indices y [n] for a label group) on `source`, X as the C++ side
        reads it (converted here when not given); keeps what it returns (also when Ctrl-C stopped it,
        then re-raised)."""
        callback = self._verbose_callback(X) if self.verbose else None
        if source is None:
            source = _rows(X)
        r = _core.train(source, config, start, callback, y)
        for line in r.get("warnings", []):  # e.g. a fit that did not learn at all
            warnings.warn(f"{type(self).__name__}: {line}", ConvergenceWarning, stacklevel=3)
        self._keep(r, X.dtype, first=start is None)
        if r["keyboard_interrupt"]:
            stop = KeyboardInterrupt("rbm: training stopped after the last completed update")
            stop.rbm_model_kept = self  # this estimator keeps that model (see _all_or_nothing)
            raise stop
        return r

    def _verbose_callback(self, X):
        """Prints scikit-learn's line after every iteration, while training runs."""
        began = [time.time()]
        name = type(self).__name__
        host = []  # a CUDA array's rows, copied once for the verbose numbers (only with verbose)

        def on_epoch(metrics, params):
            if hasattr(X, "device_pointer") and not host:
                host.append(X.to_host())
            line = self._verbose_value(host[0] if host else X, metrics, params)
            now = time.time()
            print(f"[{name}] Iteration {metrics['epoch']}, {line}, time = {now - began[0]:.2f}s", flush=True)
            began[0] = now
        return on_epoch

    def _keep(self, r, dtype, first):
        dtype = np.dtype(dtype) if np.dtype(dtype) in (np.float32, np.float64) else np.float64
        p, st = r["params"], r["state"]
        self._params = p
        self._state = st
        self._fits = getattr(self, "_fits", 0) + 1
        self.components_ = np.asarray(p["W"].T, dtype=dtype, order="C")
        self.intercept_hidden_ = np.asarray(p["hb"], dtype=dtype)
        self.intercept_visible_ = np.asarray(p["vb"], dtype=dtype)
        chains = st["chain_h"]
        empty = np.zeros((self._setting("batch_size"), self.n_components))
        self.h_samples_ = np.asarray(chains if chains.shape[0] else empty, dtype=dtype)
        self._n_features_out = self.components_.shape[0]
        self.backend_ = r["backend"]
        self._keep_units(r, dtype, first)

    def _keep_units(self, r, dtype, first):
        pass

    def _prepare_fit(self, X):
        """Anything computed from the whole training set before training (BernoulliRBM: AIS base rates)."""

    def fit(self, X, y=None):
        """Fits the model to X [n_samples, n_features] (dense, sparse or a CUDA array); y is ignored."""
        X = self._check_input(X, reset=True)
        config = self._config(self._setting("batch_size"))
        config["epochs"] = int(self.n_iter)
        config["seed"] = int(check_random_state(self.random_state).randint(1, 2**31 - 1))
        self._seed = config["seed"]  # partial_fit after fit continues this stream
        self.random_state_ = check_random_state(self.random_state)
        source = _rows(X)  # converted once, for the base model and for training
        self._prepare_fit(source)
        self._run(X, config, None, source=source)
        return self

    def _later_input(self, X):
        return X

    def _later_config(self, config):
        return config

    def partial_fit(self, X, y=None):
        """One update on X as a batch (scikit-learn's partial_fit), keeping the momentum, the PCD chains
        and the random stream across calls."""
        first = not hasattr(self, "components_")
        X = self._check_input(X, reset=first)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        config = self._config(X.shape[0])
        config["epochs"] = 1
        if first:
            config["seed"] = int(self.random_state_.randint(1, 2**31 - 1))
            self._seed = config["seed"]
            self._run(X, config, None)
        else:
            config["seed"] = self._seed
            self._run(self._later_input(X), self._later_config(config), {"params": self._params, "state": self._state})
        return self

    def _fitted_input(self, X):
        """X checked against the fit (features, finite values), as a float array or CSR matrix."""
        check_is_fitted(self)
        if is_device_array(X):
            X = device_matrix(X).to_host()
        return _validate_data(self, X, accept_sparse="csr", reset=False, dtype=(np.float64, np.float32))

    # --- beyond scikit-learn, the same for every unit type
    def _log_z(self, method, base, ais_runs, ais_steps, exact_max, enumerated, layer):
        """log Z of the fitted parameters: exact by enumerating `layer` (`enumerated` units, at most
        `exact_max`; method "auto" or "exact"), else by AIS from `base`. Sets log_z_ and log_z_interval_."""
        if method not in ("auto", "exact", "ais"):
            raise ValueError(f"method must be auto, exact or ais, got {method!r}")
        small = enumerated <= exact_max
        if method == "exact" and not small:
            raise ValueError(f"exact log Z enumerates {layer}: at most {exact_max} units (this model has {enumerated})")
        use_exact = method == "exact" or (method == "auto" and small)
        z, lo, hi = _core.log_z(self._params, "exact" if use_exact else "ais", base, int(ais_runs), int(ais_steps),
                                 int(getattr(self, "_seed", 1)), int(exact_max))
        self.log_z_ = z
        self.log_z_interval_ = (lo, hi)
        return z

    def save(self, path):
        """Writes the model as the CLI's model.safetensors (W [n_features, n_components], vb, hb, and for
        Gaussian units sigma and the standardisation): `rbm evaluate --model PATH` and `rbm.load(PATH)`
        open it."""
        check_is_fitted(self)
        _core.save(str(path), self._params, {"hidden_units": "bernoulli", "visible_units": self._visible,
                                             "trained_by": "rbm." + type(self).__name__}, self._extra_tensors())

    @classmethod
    def _from_file(cls, f):
        p = f["params"]
        m = cls(n_components=int(p["W"].shape[1]))
        m._keep({"params": p, "state": {"chain_h": np.zeros((0, m.n_components), np.float32)}, "backend": None,
                 "data_mean": f.get("data_mean", np.zeros(0, np.float32)),
                 "data_sd": f.get("data_std", np.zeros(0, np.float32))}, np.float32, first=True)
        m._state = None
        m.n_features_in_ = int(p["W"].shape[0])
        m._seed = 1
        return m

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class _TransformerRBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _RBMBase):
    """An RBM whose transform gives the hidden units' probabilities (BernoulliRBM, GaussianRBM)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float64, np.float32]}
