"""rbm.ClassificationRBM: a scikit-learn classifier on an RBM with a softmax label group beside its
visible units (Larochelle & Bengio, ICML 2008), trained by the C++ entry point of `rbm train --labels`
with the hybrid objective by default (the exact gradient of log p(y | x) plus alpha times the
generative CD gradient) or the discriminative or generative one; p(y | x) is exact."""
import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._base import _RBMBase, _dense_float32, _finite_number, _validate_data
from ._kinds import _UnitKinds

_OBJECTIVES = ("hybrid", "discriminative", "generative")


class ClassificationRBM(_UnitKinds, ClassifierMixin, _RBMBase):
    """Classification RBM: binary hidden units joined to the features and to a one-hot class group.

    ``fit(X, y)`` with any label values (``classes_``, at most 256 of them), ``predict``,
    ``predict_proba`` / ``predict_log_proba`` (the exact p(y | x)), ``score``; ``partial_fit(X, y,
    classes)``. ``objective``: "hybrid" (the default: discriminative + ``alpha`` x generative),
    "discriminative" or "generative" (Larochelle & Bengio's three). Other parameters as
    BernoulliRBM's (``n_components``, ``learning_rate``, ``batch_size``, ``n_iter``, ``verbose``,
    ``random_state``, ``momentum``, ``weight_decay``, ``device``, ``n_threads``, ``optimizer``: under
    "adam" a ``learning_rate`` of None is Adam's default rate) and
    ``learning_rate_decay`` (iteration i of a fit runs at learning_rate x decay^(i - 1)); the defaults
    (hybrid, alpha 0.01, 500 units; ``learning_rate``, ``batch_size`` and ``learning_rate_decay`` None:
    rate 0.3 decaying by 0.8, batches of 20, for the hybrid and discriminative objectives, and the
    general 0.1, 100, no decay for the generative one, which collapses at the others) are `rbm train
    --labels`'s, chosen on validation splits of the digits and Fashion-MNIST (docs/labels.md).
    Features are taken as Bernoulli units' inputs by default (scale them to [0, 1]; other values are
    used as they are). ``visible``: "bernoulli", "gaussian" (real values, sigma fixed at 1: standardise
    them first) or "categorical" (integer states per column, ``n_states`` as rbm.RBM's); ``hidden``:
    "bernoulli", "gaussian" or "relu" (p(y | x) then sums each unit's log integral in place of softplus).
    Categorical units train on either backend. Fitted: ``components_`` [n_components,
    n_features] ([n_components, n_features * n_states_] for categorical units), ``label_components_``
    [n_classes, n_components], ``intercept_hidden_``, ``intercept_label_``, ``classes_``.
    """

    _visible_kinds = ("bernoulli", "gaussian", "categorical")

    def __init__(self, n_components=500, *, objective="hybrid", alpha=0.01, learning_rate=None,
                 learning_rate_decay=None, batch_size=None, n_iter=10, verbose=0, random_state=None, momentum=0.5,
                 weight_decay=0.0, device="auto", n_threads=None, optimizer="sgd", visible="bernoulli",
                 hidden="bernoulli", n_states=None):
        self.n_components = n_components
        self.objective = objective
        self.alpha = alpha
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.n_threads = n_threads
        self.optimizer = optimizer
        self.visible = visible
        self.hidden = hidden
        self.n_states = n_states

    def _checked_objective(self):
        if self.objective not in _OBJECTIVES:
            raise ValueError(f"objective must be one of {_OBJECTIVES}, got {self.objective!r}")
        return self.objective

    def _setting(self, name, default=None):
        value = getattr(self, name, default)
        if value is None and name in ("learning_rate", "batch_size", "learning_rate_decay"):
            return _core.training_defaults(self._checked_objective(), self.optimizer)[name]
        return value

    def _unit_config(self):
        self._checked_objective()
        _finite_number("alpha", self.alpha, 0, open_lo=True)
        decay = self._setting("learning_rate_decay")
        _finite_number("learning_rate_decay", decay, 0, 1, open_lo=True)
        config = self._kind_config()
        config.update(objective=self.objective, alpha=float(self.alpha), lr_decay=float(decay),
                      classes=len(self.classes_))
        return config

    def _labels(self, y):
        index = np.searchsorted(self.classes_, y)
        if np.any(index >= len(self.classes_)) or np.any(self.classes_[np.minimum(index, len(self.classes_) - 1)] != y):
            raise ValueError(f"y holds labels that are not in classes_ {list(self.classes_)}")
        return index.astype(np.int64)

    def _set_classes(self, y, classes=None):
        self.classes_ = np.unique(y if classes is None else classes)
        if len(self.classes_) < 2:
            raise ValueError(f"The number of classes has to be greater than one; got {len(self.classes_)} class")
        if len(self.classes_) > 256:
            raise ValueError(f"at most 256 classes, got {len(self.classes_)}")

    def fit(self, X, y):
        """Fits p(y | x) to the rows of X [n_samples, n_features] (dense or sparse) and their labels y."""
        X, y = _validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32))
        check_classification_targets(y)
        if self._categorical:
            self._check_states(X, reset=True)
        self._set_classes(y)
        config = self._config(self._setting("batch_size"))
        config["epochs"] = int(self.n_iter)
        config["seed"] = int(check_random_state(self.random_state).randint(1, 2**31 - 1))
        self._seed = config["seed"]
        self._run(X, config, None, self._labels(y))
        return self

    def partial_fit(self, X, y, classes=None):
        """One update of the objective on X as a batch, keeping the momentum; `classes` (every label the
        model will see) is needed on the first call."""
        first = not hasattr(self, "components_")
        X, y = _validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32), reset=first)
        check_classification_targets(y)
        if self._categorical:
            self._check_states(X, reset=first)
        if first:
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit")
            self._set_classes(y, classes)
            self._seed = int(check_random_state(self.random_state).randint(1, 2**31 - 1))
        config = self._config(X.shape[0])
        config.update(epochs=1, seed=self._seed)
        start = None if first else {"params": self._params, "state": self._state}
        self._run(X, config, start, self._labels(y))
        return self

    def _keep_units(self, r, dtype, first):
        p = r["params"]
        self.label_components_ = np.asarray(p["label_W"], dtype=dtype)
        self.intercept_label_ = np.asarray(p["label_b"], dtype=dtype)

    def _verbose_value(self, X, metrics, params):
        return f"accuracy = {metrics['train_accuracy']:.4f}, log p(y | x) = {metrics['train_log_p_y_given_x']:.4f}"

    def predict_log_proba(self, X):
        """log p(y | x) [n_samples, n_classes], exact (the label group's free energies)."""
        v = self._model_rows(X)  # checked against the fit; one-hot for categorical units
        return _core.class_log_probs(self._params, _dense_float32(v)).astype(v.dtype, copy=False)

    def predict_proba(self, X):
        """p(y | x) [n_samples, n_classes], exact; each row sums to 1."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The most probable class of each row."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_log_proba(X), axis=1)]

    def _extra_tensors(self):
        return {}

    @classmethod
    def _from_file(cls, f):
        m = super()._from_file(f)
        p = f["params"]
        m.visible = "categorical" if "states" in p else "gaussian" if "sigma" in p else "bernoulli"
        m.hidden = str(p.get("hidden", "bernoulli"))
        if "states" in p:
            m.n_states = m.n_states_ = int(p["states"])
            m.n_features_in_ = int(p["W"].shape[0]) // m.n_states_
        m.classes_ = np.arange(m.label_components_.shape[0])
        return m
