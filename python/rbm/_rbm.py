"""rbm.RBM: one estimator over the unit kinds, visible (Bernoulli or categorical) and hidden (Bernoulli,
Gaussian or ReLU), trained by the C++ entry point `rbm train --visible ... --hidden-units ...` uses.

Every hidden unit's maths (its mean, its draw and its term of the free energy) comes from the C++ unit
table (rbm._core.hidden_units), so the estimator and the trainer cannot disagree on a kind."""
import numpy as np
from scipy.special import expit
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._base import _TransformerRBM, _dense_float32, _sample_counts
from ._kinds import _UnitKinds, _one_hot


def _uniforms(rng, shape):
    """Uniforms in (0, 1], as the C++ side draws them."""
    return (1.0 - rng.uniform(size=shape)).astype(np.float32)


class RBM(_UnitKinds, _TransformerRBM):
    """Restricted Boltzmann Machine of any unit kinds rbm has.

    ``visible``: "bernoulli" (values in [0, 1], as BernoulliRBM) or "categorical" (X holds integer
    states in [0, n_states) per column; ``n_states`` None: the training data's largest value + 1).
    ``hidden``: "bernoulli", "gaussian" (Normal(input, 1)) or "relu" (the same kept >= 0).
    ``learning_rate`` None: the kind's default (SGD: 0.1 Bernoulli, 0.01 ReLU, 0.001 Gaussian hidden
    units; Adam: 0.001). ``tempering``: 0 for CD/PCD, N >= 2 for parallel tempering over N
    temperatures (either backend). The other parameters are BernoulliRBM's. Gaussian visible units: rbm.GaussianRBM.

    ``transform`` gives the hidden units' conditional means; ``score_samples`` the log-likelihood per
    sample (exact where the visible configurations or the hidden states are few enough, else AIS);
    ``gibbs`` and ``sample`` draw visible rows (booleans, or integer states for categorical units).
    Fitted beyond BernoulliRBM's attributes: ``n_states_`` (categorical units).
    """

    def __init__(self, n_components=256, *, visible="bernoulli", hidden="bernoulli", n_states=None,
                 learning_rate=None, batch_size=10, n_iter=10, verbose=0, random_state=None, k=1, persistent=True,
                 momentum=0.0, weight_decay=0.0, device="auto", n_threads=None, optimizer="sgd", tempering=0):
        self.n_components = n_components
        self.visible = visible
        self.hidden = hidden
        self.n_states = n_states
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
        self.tempering = tempering

    _visible_elsewhere = " (Gaussian visible units: rbm.GaussianRBM)"

    # --- training
    def _setting(self, name, default=None):
        if name == "learning_rate" and self.learning_rate is None:
            return _core.unit_defaults(str(self.hidden), str(self.optimizer))["learning_rate"]
        return super()._setting(name, default)

    def _unit_config(self):
        return self._kind_config()

    def _prepare_fit(self, X):
        self._base_vb = None if hasattr(X, "device_pointer") else self._independent_units(
            _one_hot(_dense_float32(X), self.n_states_, np.float64) if self._categorical else _dense_float32(X))

    def _independent_units(self, v):
        """The AIS base model's visible biases from model rows v: independent units at their frequencies
        (categorical: log state frequencies per site, clipped as the trainer's start; Bernoulli: the
        base rates of v binarised at 0.5)."""
        if self._categorical:
            return np.log(np.clip(np.asarray(v, np.float64).mean(axis=0), 0.001, 0.999)).astype(np.float32)
        return _core.base_rate_bias(_dense_float32(v), 0.5)

    def _verbose_value(self, X, metrics, params):
        return f"reconstruction error = {metrics['train_error']:.4f}"

    # --- what the fitted parameters say
    def _hidden(self, v, u=None):
        """(means, log integrals, draws or None) of the hidden units given visible rows v."""
        x = v @ self.components_.T.astype(v.dtype) + self.intercept_hidden_
        return _core.hidden_units(str(self.hidden), x, u)

    def transform(self, X):
        """The hidden units' conditional means [n_samples, n_components], in X's float dtype."""
        v = self._model_rows(X)
        return self._hidden(v)[0].astype(v.dtype)

    def _free_energy(self, v):
        return -(v @ self.intercept_visible_) - self._hidden(v)[1].sum(axis=1)

    def free_energy(self, X):
        """F(v) per sample: -v.vb - sum_j of each hidden unit's log integral at hb_j + (v W)_j."""
        return self._free_energy(self._model_rows(X))

    def log_likelihood(self, X, method="auto", ais_runs=100, ais_steps=3000, exact_max=20):
        """log p(x) per sample (Bernoulli units: X binarised at 0.5): -F(x) - log Z, with log Z exact
        where its sum has at most 2^exact_max terms (method "auto" or "exact"), else by AIS from the
        training data's independent-units model. Sets log_z_ and log_z_interval_."""
        v = self._model_rows(X)
        if not self._categorical:
            v = (v >= 0.5).astype(v.dtype)
        return -self._free_energy(v) - self._model_log_z(v, method, ais_runs, ais_steps, exact_max)

    def _model_log_z(self, v, method, ais_runs=100, ais_steps=3000, exact_max=20):
        base = getattr(self, "_base_vb", None)
        if base is None:  # a loaded model: the base from the rows given
            base = self._independent_units(v)
        bits = _core.exact_log_z_bits(self._params)
        return self._log_z(method, base, ais_runs, ais_steps, exact_max, bits, "2^n configurations")

    def score_samples(self, X):
        """The log-likelihood of each sample (log_likelihood with method "auto"; log Z once per fit)."""
        check_is_fitted(self)
        v = self._model_rows(X)
        if not self._categorical:
            v = (v >= 0.5).astype(v.dtype)
        if getattr(self, "_score_log_z", (None, None))[0] != self._fits:
            self._score_log_z = (self._fits, self._model_log_z(v, "auto"))
        return -self._free_energy(v) - self._score_log_z[1]

    def _visible_draw(self, h, rng):
        """v ~ p(v | h) as model rows: Bernoulli states, or each site's state drawn from its softmax."""
        a = h @ self.components_ + self.intercept_visible_
        if not self._categorical:
            return (_uniforms(rng, a.shape) < expit(a)).astype(h.dtype)
        q = self.n_states_
        a = a.reshape(a.shape[0], -1, q)
        p = np.exp(a - a.max(axis=2, keepdims=True))
        return self._visible_draw_from_means((p / p.sum(axis=2, keepdims=True)).reshape(h.shape[0], -1), rng)

    def _visible_draw_from_means(self, p, rng):
        """One-hot rows of each categorical site's state drawn from its probabilities p [n, sites * q]
        (one uniform a site: the first state whose cumulative probability exceeds it)."""
        q = self.n_states_
        c = np.cumsum(p.reshape(p.shape[0], -1, q), axis=2)
        states = np.minimum((c <= _uniforms(rng, c.shape[:2])[..., None]).sum(axis=2), q - 1)
        return _one_hot(states, q, p.dtype)

    def _step(self, v, rng):
        h = self._hidden(v, _uniforms(rng, (v.shape[0], self.n_components)))[2].astype(v.dtype)
        return self._visible_draw(h, rng)

    def _as_data(self, v):
        """Model rows as the data's form: booleans, or integer states [n, sites]."""
        if self._categorical:
            return v.reshape(v.shape[0], -1, self.n_states_).argmax(axis=2)
        return v.astype(bool)

    def gibbs(self, v):
        """One Gibbs step from v: h ~ p(h | v) (of the hidden kind), then v ~ p(v | h)."""
        rows = self._model_rows(v)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        return self._as_data(self._step(rows, self.random_state_))

    def sample(self, n_samples=10, n_steps=1000, random_state=None):
        """`n_samples` visible rows after `n_steps` Gibbs sweeps from uniformly random ones."""
        check_is_fitted(self)
        _sample_counts(n_samples, n_steps)
        rng = check_random_state(random_state if random_state is not None else self.random_state)
        dt = self.components_.dtype
        if self._categorical:
            sites = self.n_features_in_
            v = _one_hot(rng.randint(0, self.n_states_, size=(int(n_samples), sites)), self.n_states_, dt)
        else:
            v = (rng.uniform(size=(int(n_samples), self.n_features_in_)) < 0.5).astype(dt)
        for _ in range(int(n_steps)):
            v = self._step(v, rng)
        return self._as_data(v)

    def _extra_tensors(self):
        return {}

    @classmethod
    def _from_file(cls, f):
        p = f["params"]
        states = int(p["states"]) if "states" in p else None
        sites = int(p["W"].shape[0]) // (states or 1)
        m = cls(n_components=int(p["W"].shape[1]), visible="categorical" if states else "bernoulli",
                hidden=str(p.get("hidden", "bernoulli")), n_states=states)
        m._keep({"params": p, "state": {"chain_h": np.zeros((0, m.n_components), np.float32)}, "backend": None},
                np.float32, first=True)
        m._state = None
        m.n_features_in_ = sites
        if states:
            m.n_states_ = states
        m._seed = 1
        return m
