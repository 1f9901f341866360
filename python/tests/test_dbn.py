"""rbm.DBN: scikit-learn's estimator checks, the layers as fitting them one by one gives, labels on the
top layer classifying the digits, fine-tuning improving on the greedy stack, generation through the
down pass, bad per-layer lists; rbm.DBNRegressor: its estimator checks and a known function fitted."""
import numpy as np
import pytest
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import parametrize_with_checks

import rbm
from test_bernoulli import digits


@parametrize_with_checks([rbm.DBN((8, 6), n_iter=3, random_state=0, device="cpu"),
                          rbm.DBNRegressor((8, 6), n_iter=3, random_state=0, device="cpu")])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_fine_tuning_beats_the_greedy_stack_and_keeps_the_best_epoch():
    x, y = digits(3000)
    common = dict(labels=True, n_iter=(3, 5), learning_rate=0.05, batch_size=20, random_state=0, device="cpu")
    greedy = rbm.DBN((100, 60), fine_tune_iter=0, **common).fit(x[:2000], y[:2000])
    tuned = rbm.DBN((100, 60), fine_tune_iter=15, **common).fit(x[:2000], y[:2000])
    assert greedy.fine_tuned_layers_ is None and greedy.fine_tune_history_ == []
    before, after = greedy.score(x[2000:], y[2000:]), tuned.score(x[2000:], y[2000:])
    assert after > before + 0.02, (before, after)
    history = tuned.fine_tune_history_
    assert 1 <= len(history) <= 15 and all(np.isfinite(h["held_out_accuracy"]) for h in history)
    # The held-out rows (10 %, 200) scored by the kept network give the best epoch's accuracy: recompute
    # from the same split (the estimator's random state draws the split first).
    rng = check_random_state(0)
    held = np.sort(rng.permutation(2000)[:200])
    assert tuned.score(x[held], y[held]) == pytest.approx(max(h["held_out_accuracy"] for h in history), abs=1e-12)
    # transform is the greedy stack's (the generative model), predictions the tuned network's
    assert not np.array_equal(tuned.layers_[0].components_.T, tuned.fine_tuned_layers_[0]["W"])


def test_the_regressor_fits_a_known_function():
    """y = sin(2 pi x0) x1 + x2^2 + noise 0.05 over digits-like inputs: 8 informative features in
    [0, 1] among 32 correlated ones (noisy copies), so the greedy layers have structure to find.
    The fine-tuned network beats ridge regression on the raw features and explains most of the variance."""
    from sklearn.linear_model import Ridge
    rng = np.random.default_rng(0)
    z = rng.uniform(size=(3000, 8))
    x = np.clip(np.repeat(z, 4, axis=1) + 0.05 * rng.normal(size=(3000, 32)), 0, 1)
    y = np.sin(2 * np.pi * z[:, 0]) * z[:, 1] + z[:, 2] ** 2 + 0.05 * rng.normal(size=3000)
    m = rbm.DBNRegressor((64, 32), random_state=0, device="cpu").fit(x[:2500], y[:2500])
    r2 = m.score(x[2500:], y[2500:])
    ridge = Ridge().fit(x[:2500], y[:2500]).score(x[2500:], y[2500:])
    assert r2 > 0.85 and r2 > ridge + 0.2, (r2, ridge)
    assert m.predict(x[:3]).shape == (3,)
    two = rbm.DBNRegressor((16,), n_iter=2, fine_tune_iter=3, random_state=0, device="cpu").fit(
        x[:500], np.c_[y[:500], 2 * y[:500]])
    assert two.predict(x[:4]).shape == (4, 2)


def test_each_layer_is_a_bernoulli_rbm_on_the_one_below():
    x, _ = digits(500)
    m = rbm.DBN((40, 20), n_iter=(2, 3), learning_rate=(0.1, 0.05), batch_size=20, random_state=3,
                device="cpu").fit(x)
    rng = check_random_state(3)
    one = rbm.BernoulliRBM(40, n_iter=2, learning_rate=0.1, batch_size=20, random_state=rng.randint(1, 2**31 - 1),
                           device="cpu").fit(x)
    two = rbm.BernoulliRBM(20, n_iter=3, learning_rate=0.05, batch_size=20, random_state=rng.randint(1, 2**31 - 1),
                           device="cpu").fit(one.transform(x))
    np.testing.assert_array_equal(m.layers_[0].components_, one.components_)
    np.testing.assert_array_equal(m.layers_[1].components_, two.components_)
    np.testing.assert_array_equal(m.transform(x[:10]), two.transform(one.transform(x[:10])))
    s = m.sample(4, n_steps=5, random_state=0)
    assert s.shape == (4, 784) and np.all((s > 0) & (s < 1))


def test_the_optimizer_reaches_every_greedy_layer():
    x, y = digits(400)
    m = rbm.DBN((30, 20), labels=True, optimizer="adam", learning_rate=0.003, n_iter=2, fine_tune_iter=0,
                batch_size=20, random_state=1, device="cpu").fit(x, y)
    assert [layer.optimizer for layer in m.layers_] == ["adam", "adam"]
    assert all("sq_W" in layer._state for layer in m.layers_)  # Adam's second moments: Adam trained them
    assert m.layers_[1]._setting("learning_rate") == pytest.approx(0.001)  # the classifier at Adam's default


def test_labels_on_the_top_layer_classify_the_digits():
    x, y = digits(3000)
    m = rbm.DBN((200, 100), labels=True, n_iter=(5, 10), learning_rate=0.05, batch_size=20, random_state=0,
                device="cpu").fit(x[:2000], y[:2000])
    assert list(m.classes_) == list(range(10))
    acc = m.score(x[2000:], y[2000:])
    assert acc > 0.85, acc
    p = m.predict_proba(x[2000:2010])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)
    assert m.transform(x[:5]).shape == (5, 200)
    with pytest.raises(AttributeError, match="no attribute .predict"):
        rbm.DBN((10, 5), n_iter=1, device="cpu").fit(x[:100]).predict(x[:5])


def test_bad_layer_lists_are_refused():
    x, _ = digits(100)
    with pytest.raises(ValueError, match="2 values for 3 layers"):
        rbm.DBN((10, 10, 10), n_iter=(1, 2), device="cpu").fit(x)
    with pytest.raises(ValueError, match="positive integers"):
        rbm.DBN((10, 0), device="cpu").fit(x)


def test_a_fit_interrupted_in_a_layer_leaves_the_stack_as_it_was(monkeypatch):
    """Ctrl-C (or any error) between or inside layers: the stack keeps its previous fit whole (its
    n_features_in_, layers_ and transform), never a new feature count over the old layers; a first fit
    that fails leaves an unfitted estimator."""
    from sklearn.exceptions import NotFittedError
    x, _ = digits(300)
    m = rbm.DBN((6, 4), n_iter=2, random_state=0, device="cpu").fit(x[:, :12])
    layers, out = m.layers_, m.transform(x[:5, :12])
    real = rbm.BernoulliRBM.transform

    def interrupted(self, X):
        raise KeyboardInterrupt("Ctrl-C between layers")
    monkeypatch.setattr(rbm.BernoulliRBM, "transform", interrupted)
    with pytest.raises(KeyboardInterrupt):
        m.fit(x[:, :200])
    with pytest.raises(KeyboardInterrupt):
        fresh = rbm.DBN((6, 4), n_iter=2, random_state=0, device="cpu")
        fresh.fit(x)
    monkeypatch.setattr(rbm.BernoulliRBM, "transform", real)
    assert m.n_features_in_ == 12 and m.layers_ is layers
    np.testing.assert_array_equal(m.transform(x[:5, :12]), out)
    assert not hasattr(fresh, "n_features_in_") and not hasattr(fresh, "layers_")
    with pytest.raises(NotFittedError):
        fresh.transform(x[:5])


def test_hidden_kinds_per_layer_and_a_categorical_bottom():
    """hidden_units=("relu", "bernoulli"): the bottom an RBM of ReLU units at that kind's default rate,
    the top a ClassificationRBM of Gaussian visible units (sigma 1) on its means; fine-tuning goes
    through the ReLU means (the network's held-out accuracy, computed in C++, is what predict gives
    on those rows) and beats the greedy stack. A categorical bottom reads integer states."""
    x, y = digits(3000)
    common = dict(labels=True, n_iter=(3, 5), batch_size=20, random_state=0, device="cpu")
    greedy = rbm.DBN((100, 60), hidden_units=("relu", "bernoulli"), fine_tune_iter=0, **common).fit(x[:2000], y[:2000])
    tuned = rbm.DBN((100, 60), hidden_units=("relu", "bernoulli"), fine_tune_iter=15, **common).fit(x[:2000], y[:2000])
    bottom, top = tuned.layers_
    assert isinstance(bottom, rbm.RBM) and bottom.hidden == "relu" and bottom._setting("learning_rate") == pytest.approx(0.01)
    assert isinstance(top, rbm.ClassificationRBM) and top.visible == "gaussian" and "sigma" in top._params
    np.testing.assert_array_equal(tuned.transform(x[:5]), bottom.transform(x[:5]))
    before, after = greedy.score(x[2000:], y[2000:]), tuned.score(x[2000:], y[2000:])
    assert after > before + 0.1 and after > 0.84, (before, after)  # 0.652 -> 0.877 when written
    rng = check_random_state(0)
    held = np.sort(rng.permutation(2000)[:200])
    history = tuned.fine_tune_history_
    assert tuned.score(x[held], y[held]) == pytest.approx(max(h["held_out_accuracy"] for h in history), abs=1e-12)
    with pytest.raises(ValueError, match="which take Bernoulli hidden units"):
        rbm.DBN((10, 10), hidden_units="relu", n_iter=1, device="cpu").fit(x[:100])

    from test_classification import _labelled_sequences
    s, ys = _labelled_sequences(2000, 1)
    st, yt = _labelled_sequences(500, 2)
    seq = rbm.DBN((16, 8), visible="categorical", labels=True, n_iter=10, random_state=0, device="cpu").fit(s, ys)
    assert seq.layers_[0].n_states_ == 3 and seq.score(st, yt) > 0.9  # 0.946 when written


def test_generation_through_every_kind():
    """Without labels a ReLU-under-Bernoulli DBN trains at its defaults (its Gaussian layer at its own
    rate: the Bernoulli one diverged there) and generates digits through the down pass whose pixel
    means follow the data's; a categorical DBN generates states whose per-site frequencies follow the
    data's (0.92 and a total variation of 0.04 against 0.16 for uniform states when written)."""
    x, _ = digits(2000)
    m = rbm.DBN((100, 60), hidden_units=("relu", "bernoulli"), n_iter=(3, 5), batch_size=20, random_state=0,
                device="cpu").fit(x)
    assert m.layers_[1]._setting("learning_rate") == pytest.approx(0.003)
    s = m.sample(300, n_steps=300, random_state=1)
    assert s.shape == (300, 784) and np.all((s > 0) & (s < 1))
    assert np.corrcoef(s.mean(axis=0), np.asarray(x, dtype=float).mean(axis=0))[0, 1] > 0.8
    from test_classification import _labelled_sequences
    q, _ = _labelled_sequences(2000, 1)
    seq = rbm.DBN((16, 8), visible="categorical", n_iter=10, random_state=0, device="cpu").fit(q)
    g = seq.sample(500, n_steps=200, random_state=2)
    assert g.shape == (500, 8) and np.issubdtype(g.dtype, np.integer) and g.min() >= 0 and g.max() <= 2
    freq = lambda a: np.stack([(a == k).mean(axis=0) for k in range(3)])
    assert 0.5 * np.abs(freq(g) - freq(q)).sum(axis=0).mean() < 0.11
    with pytest.raises(ValueError, match="y is for a DBN with labels"):
        m.sample(2, y=3)


def test_a_labelled_dbn_generates_the_class_asked_for():
    """sample(y=c) clamps the top's label to c (rbm sample --class): the DBN's own classifier reads the
    samples as their class far above chance (0.42 over the ten digits when written; chance 0.1)."""
    x, y = digits(2000)
    m = rbm.DBN((100, 60), labels=True, n_iter=(3, 5), batch_size=20, fine_tune_iter=0, random_state=0,
                device="cpu").fit(x, y)
    right = [np.mean(m.predict(m.sample(50, n_steps=300, random_state=c, y=c)) == c) for c in range(10)]
    assert np.mean(right) > 0.25, right
    with pytest.raises(ValueError, match="give y"):
        m.sample(2)
    with pytest.raises(ValueError, match="not in classes_"):
        m.sample(2, y=11)


def test_the_regressor_takes_hidden_kinds():
    rng = np.random.default_rng(0)
    z = rng.uniform(size=(3000, 8))
    x = np.clip(np.repeat(z, 4, axis=1) + 0.05 * rng.normal(size=(3000, 32)), 0, 1)
    y = np.sin(2 * np.pi * z[:, 0]) * z[:, 1] + z[:, 2] ** 2 + 0.05 * rng.normal(size=3000)
    m = rbm.DBNRegressor((64, 32), hidden_units=("relu", "bernoulli"), random_state=0, device="cpu").fit(x[:2500], y[:2500])
    assert m.dbn_.layers_[0].hidden == "relu"
    assert m.score(x[2500:], y[2500:]) > 0.9  # 0.962 when written
