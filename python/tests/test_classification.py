"""rbm.ClassificationRBM: scikit-learn's classifier checks, the exact p(y | x) against the CLI's
`rbm classify` on the same model, accuracy on the built-in digits against LogisticRegression, labels
of any kind, partial_fit, save / load."""
import json
import os
import subprocess
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

import rbm
from test_bernoulli import ROOT, digits


@parametrize_with_checks([rbm.ClassificationRBM(n_components=16, random_state=0, device="cpu")])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_digits_accuracy_beats_logistic_regression_on_the_same_pixels():
    x, y = digits(3000)
    xt, yt, xs, ys = x[:2000], y[:2000], x[2000:], y[2000:]
    m = rbm.ClassificationRBM(n_components=100, n_iter=10, learning_rate=0.5, batch_size=20, random_state=0,
                              device="cpu").fit(xt, yt)
    ours = m.score(xs, ys)
    theirs = LogisticRegression(max_iter=1000).fit(xt, yt).score(xs, ys)
    assert ours > 0.88, ours
    assert ours >= theirs - 0.01, (ours, theirs)
    p = m.predict_proba(xs[:50])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(m.predict(xs[:50]), m.classes_[p.argmax(axis=1)])


def test_each_objective_trains_well_at_its_defaults():
    # learning_rate, batch_size and learning_rate_decay None: the objective's own (rbm train --labels's);
    # the generative objective at the discriminative ones (0.3, batches of 20) collapsed to chance
    # (8 % on 10,000 digits) and keeps the general 0.1, 100, no decay.
    assert rbm._core.training_defaults("hybrid") == pytest.approx(
        {"learning_rate": 0.3, "batch_size": 20, "learning_rate_decay": 0.8, "alpha": 0.01})
    assert rbm._core.training_defaults("generative") == pytest.approx(
        {"learning_rate": 0.1, "batch_size": 100, "learning_rate_decay": 1.0, "alpha": 0.01})
    x, y = digits(6000)
    m = rbm.ClassificationRBM(objective="generative", random_state=0, device="cpu").fit(x[:5000], y[:5000])
    assert m.get_params()["learning_rate"] is None and m.get_params()["batch_size"] is None
    assert m.score(x[5000:], y[5000:]) > 0.85


def test_a_fit_that_does_not_learn_warns():
    # a rate far too large for the batch collapses CD (finite numbers, nothing learned): a ConvergenceWarning
    # naming the epoch; a good fit raises none
    from sklearn.exceptions import ConvergenceWarning
    x, _ = digits(1000)
    with pytest.warns(ConvergenceWarning, match="epoch 1 did not lower the training reconstruction error"):
        rbm.BernoulliRBM(n_components=50, learning_rate=5.0, batch_size=10, n_iter=2, random_state=0,
                         persistent=False, device="cpu").fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        rbm.BernoulliRBM(n_components=50, learning_rate=0.1, batch_size=10, n_iter=2, random_state=0,
                         persistent=False, device="cpu").fit(x)


def test_any_label_values_and_partial_fit():
    x, y = digits(600)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    m = rbm.ClassificationRBM(n_components=30, n_iter=5, learning_rate=0.5, batch_size=20, random_state=1,
                              device="cpu").fit(x, names[y])
    assert list(m.classes_) == sorted(names)
    assert set(m.predict(x[:20])) <= set(names)
    assert m.score(x, names[y]) > 0.8
    inc = rbm.ClassificationRBM(n_components=30, random_state=1, device="cpu")
    with pytest.raises(ValueError, match="classes"):
        inc.partial_fit(x[:20], y[:20])
    for _ in range(3):  # 90 updates of 20 rows (0.76 measured)
        for start in range(0, 600, 20):
            inc.partial_fit(x[start:start + 20], y[start:start + 20], classes=np.arange(10))
    assert inc.score(x, y) > 0.6
    assert np.abs(inc._state["vel_label_W"]).sum() > 0  # the momentum carried across calls


def test_the_cli_classifies_the_estimators_model_alike(tmp_path):
    exe = os.path.join(ROOT, "build", "host", "rbm")
    if not os.path.exists(exe):
        pytest.skip("the CLI is not built (scripts/build.sh)")
    x, y = digits(1000)
    m = rbm.ClassificationRBM(n_components=40, n_iter=3, learning_rate=0.5, batch_size=20, random_state=0,
                              device="cpu").fit(x, y)
    m.save(tmp_path / "c.safetensors")
    back = rbm.load(tmp_path / "c.safetensors")
    assert isinstance(back, rbm.ClassificationRBM)
    np.testing.assert_allclose(back.predict_proba(x[:100]), m.predict_proba(x[:100]), rtol=1e-6)
    out = subprocess.run([exe, "classify", "--model", str(tmp_path / "c.safetensors"), "--test-limit", "500",
                          "--out", str(tmp_path / "p.csv"), "--json", str(tmp_path / "c.json")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import sys
    sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
    import idx
    xt, yt = idx.load(os.path.join(ROOT, "data", "mnist"), "test")
    res = json.load(open(tmp_path / "c.json"))
    assert res["accuracy"] == pytest.approx(m.score(xt[:500], yt[:500]), abs=1e-9)
    csv = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(csv[:, 3:], m.predict_proba(xt[:500]), rtol=1e-4, atol=1e-6)


def _labelled_sequences(rows, seed, sites=8, q=3):
    """Two classes of integer sequences: each site of a class-0 row is state 0 half the time and else
    uniform, class 1's the same with state 2 (tests/test_categorical.cpp's data)."""
    r = np.random.default_rng(seed)
    y = r.integers(0, 2, rows)
    x = np.where(r.uniform(size=(rows, sites)) < 0.5, 2 * y[:, None], r.integers(0, q, size=(rows, sites)))
    return x, y


def test_every_unit_kind_classifies_with_the_exact_class_probabilities(tmp_path):
    """ReLU and Gaussian hidden units, Gaussian and categorical visible units: each classifies above
    what its data allow a guess, p(y | x) is softmax_y(b_y + sum_j L(c_j + U_yj + (x W)_j)) with L the
    kind's log integral (computed here from scipy's log Phi), and the model saves and loads whole."""
    from scipy.special import log_ndtr, logsumexp
    x, y = digits(3000)
    relu = rbm.ClassificationRBM(100, hidden="relu", random_state=0, device="cpu").fit(x[:2000], y[:2000])
    assert relu.score(x[2000:], y[2000:]) > 0.88  # 0.912 when written
    a = x[2000:2020] @ relu.components_.T + relu.intercept_hidden_
    o = a[:, None, :] + relu.label_components_[None, :, :]  # [rows, classes, hidden]
    logits = relu.intercept_label_ + (0.5 * o ** 2 + log_ndtr(o) + 0.5 * np.log(2 * np.pi)).sum(axis=2)
    np.testing.assert_allclose(relu.predict_log_proba(x[2000:2020]), logits - logsumexp(logits, axis=1, keepdims=True),
                               atol=1e-4)
    sd = x[:2000].std(axis=0) + 1e-6
    xs = (x - x[:2000].mean(axis=0)) / sd
    gauss = rbm.ClassificationRBM(100, visible="gaussian", random_state=0, device="cpu").fit(xs[:2000], y[:2000])
    assert gauss.score(xs[2000:], y[2000:]) > 0.88  # 0.912
    s, ys = _labelled_sequences(2000, 1)
    st, yt = _labelled_sequences(500, 2)
    cat = rbm.ClassificationRBM(16, visible="categorical", random_state=0, device="cpu").fit(s, ys)
    assert cat.n_states_ == 3 and cat.components_.shape == (16, 8 * 3)
    assert cat.score(st, yt) > 0.9  # 0.95; Bayes' rule errs on about 2 %
    with pytest.raises(ValueError, match="beyond n_states_"):
        cat.predict(np.full((1, 8), 3))
    for m, rows in [(relu, x[2000:2050]), (gauss, xs[2000:2050]), (cat, st[:50])]:
        path = tmp_path / f"{m.visible}-{m.hidden}.safetensors"
        m.save(path)
        back = rbm.load(path)
        assert isinstance(back, rbm.ClassificationRBM) and (back.visible, back.hidden) == (m.visible, m.hidden)
        np.testing.assert_allclose(back.predict_proba(rows), m.predict_proba(rows), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="visible must be one of"):
        rbm.ClassificationRBM(4, visible="softmax", device="cpu").fit(x[:50], y[:50])
