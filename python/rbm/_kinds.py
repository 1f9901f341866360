"""Unit kinds given by name (visible: bernoulli, gaussian, categorical; hidden: bernoulli, gaussian,
relu): their part of the training configuration, and categorical data's integer states checked and
read one-hot. Shared by rbm.RBM and rbm.ClassificationRBM (not for direct use)."""
import numpy as np
import scipy.sparse as sp

from ._device import is_device_array

_STATES_MAX = 1024  # rbm/host/limits.hpp's max_states


def _one_hot(x, q, dtype):
    """Integer states x [n, sites] as one-hot rows [n, sites * q], the state index fastest."""
    n, sites = x.shape
    v = np.zeros((n, sites * q), dtype=dtype)
    v[np.repeat(np.arange(n), sites), (np.arange(sites) * q + x.astype(np.int64)).ravel()] = 1
    return v


class _UnitKinds:
    """Mixin for an estimator with ``visible``, ``hidden`` and ``n_states`` parameters (before _RBMBase
    in its bases). ``_visible_kinds``: the visible kinds it takes; ``_visible_elsewhere``: where the
    others are, for the error."""

    _visible_kinds = ("bernoulli", "categorical")
    _visible_elsewhere = ""

    @property
    def _categorical(self):
        return self.visible == "categorical"

    def _kind_config(self):
        if self.visible not in self._visible_kinds:
            raise ValueError(f"visible must be one of {self._visible_kinds}{self._visible_elsewhere}, "
                             f"got {self.visible!r}")
        config = {"visible": self.visible, "hidden": str(self.hidden)}
        if self._categorical:
            config["states"] = int(self.n_states_)
        else:
            config["any_values"] = True  # as BernoulliRBM: values outside [0, 1] taken as they are
        return config

    def _check_input(self, X, reset):
        if self._categorical and is_device_array(X):
            raise ValueError("categorical visible units train from host arrays (integer states), not CUDA arrays")
        X = super()._check_input(X, reset)
        if self._categorical:
            self._check_states(X, reset)
        return X

    def _check_states(self, X, reset):
        """X's values are integer states; at a fit, n_states_ is n_states or the largest value + 1."""
        x = X.toarray() if sp.issparse(X) else np.asarray(X)
        if x.size and (np.any(x < 0) or np.any(x != np.floor(x))):
            raise ValueError("categorical visible units need non-negative integer states in X")
        if reset:
            q = self.n_states if self.n_states is not None else int(x.max()) + 1 if x.size else 2
            if not isinstance(q, (int, np.integer)) or isinstance(q, bool) or not 2 <= q <= _STATES_MAX:
                raise ValueError(f"n_states must be an integer in [2, {_STATES_MAX}], got {q!r}")
            self.n_states_ = int(q)
        if x.size and x.max() >= self.n_states_:
            raise ValueError(f"X holds state {int(x.max())}, beyond n_states_ = {self.n_states_} (states 0 .. "
                             f"{self.n_states_ - 1})")

    def _model_rows(self, X):
        """X checked against the fit, as the model's visible rows (one-hot for categorical units)."""
        v = self._fitted_input(X)
        v = v.toarray() if sp.issparse(v) else np.asarray(v)
        if self._categorical:
            self._check_states(v, reset=False)
            return _one_hot(v, self.n_states_, v.dtype)
        return v
