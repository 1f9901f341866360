"""rbm.DBN: a deep belief network (Hinton, Osindero & Teh 2006) trained greedily by this project's C++
code: a stack of rbm.BernoulliRBM layers, each fitted to the hidden probabilities of the one below (what
`rbm train --hidden 500,500` does); with ``labels=True`` the top layer is an rbm.ClassificationRBM on
the layer below's output, the whole stack is then fine-tuned as a classifier by backpropagation
(`rbm train --fine-tune`), and it classifies. rbm.DBNRegressor: the same greedy stack under a linear
output, fine-tuned on squared error."""
import numbers

import numpy as np
from scipy.special import expit
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, RegressorMixin, TransformerMixin
from sklearn.linear_model import Ridge
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._base import _AtomicFit, _dense_float32, _finite_number, _positive_int, _sample_counts, _validate_data
from ._bernoulli import BernoulliRBM
from ._classification import ClassificationRBM
from ._gaussian import GaussianRBM
from ._kinds import _one_hot
from ._rbm import RBM


class DBN(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _AtomicFit, BaseEstimator):
    """Deep belief network: RBMs stacked and trained greedily, bottom up.

    ``hidden_layer_sizes`` gives each layer's hidden units, bottom up. ``learning_rate``, ``n_iter``,
    ``k`` and ``hidden_units`` take one value for every layer or a sequence with one per layer; the
    other parameters are BernoulliRBM's and apply to every layer (``optimizer`` too: the greedy
    layers' updates; the top ClassificationRBM then trains at Adam's default rate under "adam",
    ``classifier_learning_rate`` being SGD's). ``learning_rate`` None: each layer's hidden kind's own
    default (SGD: 0.1 Bernoulli, 0.01 ReLU, 0.001 Gaussian units; Adam: 0.001). ``hidden_units``:
    "bernoulli", "gaussian" or "relu" per layer, as `rbm train --hidden-units`: the layer above
    Gaussian or ReLU units has Gaussian visible units with sigma 1 (a GaussianRBM without
    standardisation) and Bernoulli hidden units. ``visible``: "bernoulli" or "categorical" (integer
    states per column, ``n_states`` as rbm.RBM's) for the bottom layer. With ``labels=True``, ``fit(X, y)`` makes the top
    layer a ClassificationRBM (``classifier_learning_rate``, trained discriminatively), the whole stack
    is then fine-tuned as a classifier by backpropagation (``fine_tune_iter`` epochs at most, Adam
    on batches of 100 at ``fine_tune_learning_rate``; the network is the up-pass and the
    top RBM's exact p(y | x)), stopped early on ``validation_fraction`` of the rows, held out from
    the whole fit (the best epoch kept; 0: no hold-out, every epoch runs), and the stack gains
    ``predict``, ``predict_proba`` and ``score`` (from the fine-tuned network); ``transform`` then
    gives the greedy features below the top. ``fine_tune_iter=0``: the greedy stack classifies.
    Fitted: ``layers_`` (the greedy estimators, bottom up), ``classes_``, ``fine_tuned_layers_`` (the
    tuned parameters, dicts of W [n_in, n_out], hb, label_W, label_b) and ``fine_tune_history_``.
    """

    def __init__(self, hidden_layer_sizes=(256, 256), *, learning_rate=None, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, k=1, persistent=True, momentum=0.0, weight_decay=0.0, labels=False,
                 classifier_learning_rate=0.5, fine_tune_iter=30, fine_tune_learning_rate=0.001,
                 validation_fraction=0.1, device="auto", n_threads=None, optimizer="sgd", hidden_units="bernoulli",
                 visible="bernoulli", n_states=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.labels = labels
        self.classifier_learning_rate = classifier_learning_rate
        self.fine_tune_iter = fine_tune_iter
        self.fine_tune_learning_rate = fine_tune_learning_rate
        self.validation_fraction = validation_fraction
        self.device = device
        self.n_threads = n_threads
        self.optimizer = optimizer
        self.hidden_units = hidden_units
        self.visible = visible
        self.n_states = n_states

    def _sizes(self):
        sizes = (self.hidden_layer_sizes,) if isinstance(self.hidden_layer_sizes, numbers.Integral) \
            else tuple(self.hidden_layer_sizes)
        if not sizes or any(not isinstance(n, numbers.Integral) or n < 1 for n in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        return sizes

    @staticmethod
    def _per_layer(name, value, layer, layers):
        if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str):
            if len(value) != layers:
                raise ValueError(f"{name} has {len(value)} values for {layers} layers (give one, or one per layer)")
            return value[layer]
        return value

    def fit(self, X, y=None):
        """Fits the layers in turn: layer 1 on X, each next one on the previous one's transform; with
        labels, then fine-tunes the stack on (X, y)."""
        sizes = self._sizes()
        if self.labels:
            if y is None:  # scikit-learn's words for a supervised estimator fitted without y
                raise ValueError(f"{type(self).__name__} with labels=True requires y to be passed, but the target y is None")
            X, y = _validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32))
            check_classification_targets(y)
        else:
            X = _validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
        rng = check_random_state(self.random_state)
        config = _fine_tune_config(self) if self.labels else None
        train, held = _split(X.shape[0], self.validation_fraction if config else 0, rng)
        self.layers_ = _greedy(self, X[train], y[train] if self.labels else None, sizes, rng)
        if self.labels:
            self.classes_ = self.layers_[-1].classes_
        self.fine_tuned_layers_, self.fine_tune_history_ = None, []
        if config is not None:
            config["seed"] = int(rng.randint(1, 2**31 - 1))
            rows = _bottom_rows(self.layers_, X)
            labels = self.layers_[-1]._labels(y)
            tuned, _, self.fine_tune_history_ = _core.fine_tune(
                [est._params for est in self.layers_], rows[train], labels[train], None, None,
                rows[held] if len(held) else None, labels[held] if len(held) else None, None, config)
            self.fine_tuned_layers_ = tuned
        return self

    @property
    def _n_features_out(self):
        """Width of transform's output (get_feature_names_out)."""
        return self.layers_[-2 if self.labels else -1].components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float64, np.float32]}

    def _up(self, X, layers):
        check_is_fitted(self)
        h = _validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=False)
        for est in layers:
            h = est.transform(h)
        return h

    def transform(self, X):
        """The top layer's hidden probabilities (with labels: those of the layer below the classifier)."""
        check_is_fitted(self)
        return self._up(X, self.layers_[:-1] if self.labels else self.layers_)

    def _labelled(self):
        if not self.labels:
            raise AttributeError("predict needs a DBN fitted with labels=True")
        return True

    def _classifier(self):
        check_is_fitted(self)
        return self.layers_[-1]

    @available_if(_labelled)
    def predict_log_proba(self, X):
        """The exact log p(y | x) of the top RBM given the features below it (the fine-tuned network's
        where the stack was fine-tuned)."""
        top = self._classifier()
        if self.fine_tuned_layers_ is None:
            return top.predict_log_proba(self._up(X, self.layers_[:-1]))
        v = _validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=False)
        dtype = v.dtype
        h = _up_pass(self.fine_tuned_layers_[:-1], _bottom_rows(self.layers_, v))
        return _core.class_log_probs(self.fine_tuned_layers_[-1], h).astype(dtype, copy=False)

    @available_if(_labelled)
    def predict_proba(self, X):
        return np.exp(self.predict_log_proba(X))

    @available_if(_labelled)
    def predict(self, X):
        return self.classes_[np.argmax(self.predict_log_proba(X), axis=1)]

    @available_if(_labelled)
    def score(self, X, y):
        """Mean accuracy (labels=True)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def sample(self, n_samples=10, n_steps=1000, random_state=None, y=None):
        """Generation as Hinton et al. (2006), as `rbm sample` on a stack: `n_steps` Gibbs sweeps in the
        top RBM from noise (with labels: its label clamped to class ``y``, which is then required), then
        one down pass, each layer below drawn from the states above it (Bernoulli units by coin flips,
        the Gaussian units over continuous hidden ones as mean + sigma N(0, 1)). Returns the data
        layer's probabilities [n, n_features] (Bernoulli units), or for a categorical bottom each
        site's state drawn from its softmax (integers [n, sites])."""
        check_is_fitted(self)
        _sample_counts(n_samples, n_steps)
        label = -1
        if self.labels:
            if y is None:
                raise ValueError("a DBN with labels samples one class: give y, one of classes_")
            label = int(self.layers_[-1]._labels(np.asarray([y]))[0])  # ValueError for another label
        elif y is not None:
            raise ValueError("y is for a DBN with labels (the top layer's classes)")
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        out = _core.sample_stack([est._params for est in self.layers_], int(n_samples), int(n_steps), label,
                                 int(rng.randint(1, 2**31 - 1)))
        bottom = self.layers_[0]
        if not getattr(bottom, "_categorical", False):
            return out.astype(np.float64)
        if len(self.layers_) == 1:  # the chains' drawn states already
            return out.astype(np.int64)
        return bottom._as_data(bottom._visible_draw_from_means(out, rng))


def _fine_tune_config(est):
    """The fine-tuning settings of `est` (checked; the caller adds the seed), or None where it does not
    fine-tune."""
    if not isinstance(est.fine_tune_iter, numbers.Integral) or isinstance(est.fine_tune_iter, bool) \
            or est.fine_tune_iter < 0:
        raise ValueError(f"fine_tune_iter must be a non-negative integer, got {est.fine_tune_iter!r}")
    _finite_number("fine_tune_learning_rate", est.fine_tune_learning_rate, 0, open_lo=True)
    _finite_number("validation_fraction", est.validation_fraction, 0, 1, open_hi=True)
    if est.fine_tune_iter == 0:
        return None
    if est.n_threads is not None:
        _positive_int("n_threads", est.n_threads, 4096)
    # batches, patience and the optimiser: rbm::fine_tune_options's defaults (100, 10, Adam)
    # the device as the greedy layers': "auto" fine-tunes on a usable GPU
    return {"epochs": int(est.fine_tune_iter), "lr": float(est.fine_tune_learning_rate),
            "threads": int(est.n_threads or 0), "device": str(est.device)}


def _split(n, fraction, rng):
    """Row indices for training and for early stopping: `fraction` of the n rows held out at random
    (none where that leaves no training row or holds out none)."""
    held = int(round(fraction * n))
    if held < 1 or held >= n:
        return np.arange(n), np.arange(0)
    order = rng.permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


def _layer_kinds(est, layers):
    """Each layer's (visible, hidden) unit kinds: the hidden ones as given, the visible ones the
    bottom's `est.visible`, above it Bernoulli over Bernoulli units and Gaussian over continuous ones."""
    hidden = [str(DBN._per_layer("hidden_units", est.hidden_units, i, layers)) for i in range(layers)]
    visible = [str(getattr(est, "visible", "bernoulli"))] + \
        ["bernoulli" if h == "bernoulli" else "gaussian" for h in hidden[:-1]]
    if visible[0] not in ("bernoulli", "categorical"):
        raise ValueError(f"visible must be 'bernoulli' or 'categorical', got {visible[0]!r}")
    for i in range(1, layers):
        if visible[i] == "gaussian" and hidden[i] != "bernoulli":
            raise ValueError(f"layer {i + 1}: above layer {i}'s {hidden[i - 1]} units its visible units are Gaussian, "
                             f"which take Bernoulli hidden units (not {hidden[i]}): a continuous hidden layer has "
                             "a Bernoulli one above it")
    return list(zip(visible, hidden))


def _greedy(est, X, y, sizes, rng):
    """The greedy layers of a DBN-like estimator `est` on X (the top a ClassificationRBM on y where y
    is given), bottom up, each layer's unit kinds from _layer_kinds."""
    layers, h = [], X
    kinds = _layer_kinds(est, len(sizes))
    for i, n in enumerate(sizes):
        visible, hidden = kinds[i]
        common = dict(n_components=n, batch_size=est.batch_size, verbose=est.verbose,
                      random_state=rng.randint(1, 2**31 - 1), momentum=est.momentum,
                      weight_decay=est.weight_decay, device=est.device, n_threads=est.n_threads,
                      optimizer=est.optimizer,
                      n_iter=DBN._per_layer("n_iter", est.n_iter, i, len(sizes)))
        states = getattr(est, "n_states", None) if visible == "categorical" else None
        if y is not None and i == len(sizes) - 1:
            rate = est.classifier_learning_rate if est.optimizer == "sgd" else None  # None: Adam's own
            layer = ClassificationRBM(learning_rate=rate, visible=visible, hidden=hidden, n_states=states,
                                      **common).fit(h, y)
        else:
            rate = DBN._per_layer("learning_rate", est.learning_rate, i, len(sizes))
            if rate is None:  # the layer's own default, given the units below (rbm::default_layer_sgd_lr)
                below = kinds[i - 1][1] if i > 0 else "bernoulli"
                rate = _core.unit_defaults(hidden, str(est.optimizer), below=below)["learning_rate"]
            chain = dict(k=DBN._per_layer("k", est.k, i, len(sizes)), persistent=est.persistent)
            if visible == "gaussian":  # sigma 1 on the continuous units below, as they are
                layer = GaussianRBM(learning_rate=rate, standardize=False, **chain, **common)
            elif visible == "bernoulli" and hidden == "bernoulli":
                layer = BernoulliRBM(learning_rate=rate, **chain, **common)
            else:
                layer = RBM(learning_rate=rate, visible=visible, hidden=hidden, n_states=states, **chain, **common)
            layer.fit(h)
            h = layer.transform(h)
        layers.append(layer)
    return layers


def _bottom_rows(layers, X):
    """float32 rows of X as the bottom layer reads them (one-hot for categorical units)."""
    if getattr(layers[0], "visible", "bernoulli") == "categorical":
        x = X.toarray() if sp.issparse(X) else np.asarray(X)
        return _one_hot(x, layers[0].n_states_, np.float32)
    return _dense_float32(X.toarray() if sp.issparse(X) else X)


def _up_pass(layers, X):
    """float32 rows of X (as the bottom layer reads them) through the layers (params dicts), as the
    fine-tuned network reads them: each layer's hidden means (sigmoids for Bernoulli units)."""
    h = _dense_float32(X.toarray() if sp.issparse(X) else X)
    for p in layers:
        x = (h / p["sigma"] if "sigma" in p else h) @ p["W"] + p["hb"]
        kind = str(p.get("hidden", "bernoulli"))
        h = (expit(x) if kind == "bernoulli" else _core.hidden_units(kind, x)[0]).astype(np.float32)
    return h


class DBNRegressor(RegressorMixin, _AtomicFit, BaseEstimator):
    """Regression by a deep belief network: RBMs stacked and trained greedily on X (as rbm.DBN without
    labels), a linear output layer fitted to the top layer's features by ridge regression, then the
    whole network fine-tuned by backpropagation on squared error (``fine_tune_iter`` epochs at most,
    Adam on batches of 100 at ``fine_tune_learning_rate``), stopped early on
    ``validation_fraction`` of the rows, held out from the whole fit (the best epoch kept). Targets are
    standardised for training and predicted in their own units; y may be [n] or [n, n_outputs].
    Features are Bernoulli units' inputs: scale them to [0, 1] (other values are used as they are).
    ``hidden_units`` and ``learning_rate`` (None: each kind's default) as rbm.DBN's. Fitted: ``dbn_`` (the greedy DBN), ``fine_tuned_layers_``, ``coef_`` [n_outputs, n_top] and
    ``intercept_`` of the output layer (in standardised target units), ``fine_tune_history_``.
    """

    def __init__(self, hidden_layer_sizes=(256, 256), *, learning_rate=None, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, k=1, persistent=True, momentum=0.0, weight_decay=0.0, alpha=1.0,
                 fine_tune_iter=300, fine_tune_learning_rate=0.003, validation_fraction=0.1, device="auto",
                 n_threads=None, optimizer="sgd", hidden_units="bernoulli"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.alpha = alpha
        self.fine_tune_iter = fine_tune_iter
        self.fine_tune_learning_rate = fine_tune_learning_rate
        self.validation_fraction = validation_fraction
        self.device = device
        self.n_threads = n_threads
        self.optimizer = optimizer
        self.hidden_units = hidden_units

    def fit(self, X, y):
        """Greedy layers on X, the ridge output layer, then fine-tuning on (X, y)."""
        X, y = _validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32), multi_output=True,
                              y_numeric=True)
        _finite_number("alpha", self.alpha, 0)
        config = _fine_tune_config(self)
        rng = check_random_state(self.random_state)
        train, held = _split(X.shape[0], self.validation_fraction if config else 0, rng)
        self._single_output = y.ndim == 1
        t = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self.y_mean_ = t[train].mean(axis=0)
        self.y_scale_ = t[train].std(axis=0)
        self.y_scale_[self.y_scale_ == 0] = 1.0
        t = ((t - self.y_mean_) / self.y_scale_).astype(np.float32)
        params = {k: getattr(self, k) for k in ("learning_rate", "batch_size", "n_iter", "verbose", "k", "persistent",
                                                "momentum", "weight_decay", "device", "n_threads", "optimizer",
                                                "hidden_units")}
        self.dbn_ = DBN(self.hidden_layer_sizes, random_state=rng.randint(1, 2**31 - 1), **params).fit(X[train])
        ridge = Ridge(alpha=self.alpha).fit(self.dbn_.transform(X[train]), t[train])
        head = {"W": np.ascontiguousarray(np.reshape(ridge.coef_, (t.shape[1], -1)).T, dtype=np.float32),
                "b": np.asarray(ridge.intercept_, dtype=np.float32).reshape(-1)}
        layers = [est._params for est in self.dbn_.layers_]
        self.fine_tune_history_ = []
        if config is not None:
            config["seed"] = int(rng.randint(1, 2**31 - 1))
            rows = _dense_float32(X.toarray() if sp.issparse(X) else X)
            layers, head, self.fine_tune_history_ = _core.fine_tune(
                layers, rows[train], None, t[train], head, rows[held] if len(held) else None, None,
                t[held] if len(held) else None, config)
        self.fine_tuned_layers_ = layers
        self.coef_ = np.asarray(head["W"]).T.copy()
        self.intercept_ = np.asarray(head["b"]).copy()
        return self

    def predict(self, X):
        """The fitted network's outputs, in the targets' units ([n] where y was one column)."""
        check_is_fitted(self)
        v = _validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=False)
        out = (_up_pass(self.fine_tuned_layers_, v) @ self.coef_.T + self.intercept_) * self.y_scale_ + self.y_mean_
        out = out.astype(v.dtype, copy=False)
        return out[:, 0] if self._single_output else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}
