"""rbm.DBN: a deep belief network (Hinton, Osindero & Teh 2006) trained greedily by this project's C++
code: a stack of rbm.BernoulliRBM layers, each fitted to the hidden probabilities of the one below (what
`rbm train --hidden 500,500` does); with ``labels=True`` the top layer is an rbm.ClassificationRBM on
the layer below's output, and the stack classifies."""
import numbers

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._base import _AtomicFit, _validate_data
from ._bernoulli import BernoulliRBM
from ._classification import ClassificationRBM


class DBN(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _AtomicFit, BaseEstimator):
    """Deep belief network: RBMs stacked and trained greedily, bottom up.

    ``hidden_layer_sizes`` gives each layer's hidden units, bottom up. ``learning_rate``, ``n_iter``
    and ``k`` take one value for every layer or a sequence with one per layer; the other parameters
    are BernoulliRBM's and apply to every layer. With ``labels=True``, ``fit(X, y)`` makes the top
    layer a ClassificationRBM (``classifier_learning_rate``, trained discriminatively) and the stack
    gains ``predict``, ``predict_proba`` and ``score``; ``transform`` then gives the features below it.
    Fitted: ``layers_`` (the estimators, bottom up), ``classes_`` with labels.
    """

    def __init__(self, hidden_layer_sizes=(256, 256), *, learning_rate=0.1, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, k=1, persistent=True, momentum=0.0, weight_decay=0.0, labels=False,
                 classifier_learning_rate=0.5, device="auto", n_threads=None):
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
        self.device = device
        self.n_threads = n_threads

    def _sizes(self):
        sizes = (self.hidden_layer_sizes,) if isinstance(self.hidden_layer_sizes, numbers.Integral) \
            else tuple(self.hidden_layer_sizes)
        if not sizes or any(not isinstance(n, numbers.Integral) or n < 1 for n in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        return sizes

    @staticmethod
    def _per_layer(name, value, layer, layers):
        if isinstance(value, (list, tuple, np.ndarray)):
            if len(value) != layers:
                raise ValueError(f"{name} has {len(value)} values for {layers} layers (give one, or one per layer)")
            return value[layer]
        return value

    def fit(self, X, y=None):
        """Fits the layers in turn: layer 1 on X, each next one on the previous one's transform."""
        sizes = self._sizes()
        if self.labels:
            if y is None:  # scikit-learn's words for a supervised estimator fitted without y
                raise ValueError(f"{type(self).__name__} with labels=True requires y to be passed, but the target y is None")
            X, y = _validate_data(self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32))
            check_classification_targets(y)
        else:
            X = _validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
        rng = check_random_state(self.random_state)
        layers, h = [], X
        for i, n in enumerate(sizes):
            common = dict(n_components=n, batch_size=self.batch_size, verbose=self.verbose,
                          random_state=rng.randint(1, 2**31 - 1), momentum=self.momentum,
                          weight_decay=self.weight_decay, device=self.device, n_threads=self.n_threads,
                          n_iter=self._per_layer("n_iter", self.n_iter, i, len(sizes)))
            if self.labels and i == len(sizes) - 1:
                est = ClassificationRBM(learning_rate=self.classifier_learning_rate, **common).fit(h, y)
            else:
                est = BernoulliRBM(learning_rate=self._per_layer("learning_rate", self.learning_rate, i, len(sizes)),
                                   k=self._per_layer("k", self.k, i, len(sizes)), persistent=self.persistent,
                                   **common).fit(h)
                h = est.transform(h)
            layers.append(est)
        self.layers_ = layers
        if self.labels:
            self.classes_ = layers[-1].classes_
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
        """The exact log p(y | x) of the top RBM given the features below it."""
        top = self._classifier()
        return top.predict_log_proba(self._up(X, self.layers_[:-1]))

    @available_if(_labelled)
    def predict_proba(self, X):
        top = self._classifier()
        return top.predict_proba(self._up(X, self.layers_[:-1]))

    @available_if(_labelled)
    def predict(self, X):
        top = self._classifier()
        return top.predict(self._up(X, self.layers_[:-1]))

    @available_if(_labelled)
    def score(self, X, y):
        """Mean accuracy (labels=True)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def sample(self, n_samples=10, n_steps=1000, random_state=None):
        """Generation as Hinton et al. (2006): `n_steps` Gibbs sweeps in the top RBM from coin flips, then
        one down pass (each layer below sampled); returns the data layer's probabilities [n, n_features]."""
        check_is_fitted(self)
        if self.labels:
            raise AttributeError("sample is for DBNs without labels so far (rbm sample --class does it for the CLI)")
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        v = self.layers_[-1].sample(n_samples, n_steps, rng).astype(np.float64)
        for est in reversed(self.layers_[:-1]):
            p = expit(v @ est.components_ + est.intercept_visible_)
            v = p if est is self.layers_[0] else (rng.uniform(size=p.shape) < p).astype(np.float64)
        return v
