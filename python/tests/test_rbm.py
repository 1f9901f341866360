"""rbm.RBM: the estimator checks, the hidden kinds' means against their closed
forms, exact likelihoods that sum to one over every visible configuration (binary and categorical),
learning what independent units miss, the CLI's weights bit for bit, save / load, bad input."""
import os
import subprocess

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm
from sklearn.utils.estimator_checks import parametrize_with_checks

import rbm

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
HIDDEN = ("bernoulli", "gaussian", "relu")


def copying_bits(n, nv, seed):
    """Bits that copy their neighbour with probability 0.85 (else a fair coin)."""
    r = np.random.default_rng(seed)
    v = np.zeros((n, nv))
    v[:, 0] = r.integers(0, 2, n)
    for i in range(1, nv):
        v[:, i] = np.where(r.uniform(size=n) < 0.85, v[:, i - 1], r.integers(0, 2, n))
    return v


# The checks' data are not Bernoulli (values near 100 among them, taken as they are, as BernoulliRBM
# does): there a continuous hidden unit's quadratic free energy diverges at any rate (the fit stops,
# saying so: RuntimeError), so the checks run the estimator with Bernoulli hidden units; the kinds are
# tested below.
@parametrize_with_checks([rbm.RBM(n_components=6, n_iter=3, random_state=0, device="cpu")])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("hidden", HIDDEN)
def test_transform_is_each_kinds_conditional_mean(hidden):
    x = copying_bits(300, 10, 1)
    m = rbm.RBM(5, hidden=hidden, n_iter=2, random_state=0, device="cpu").fit(x)
    a = x @ m.components_.T + m.intercept_hidden_
    want = {"bernoulli": expit(a), "gaussian": a, "relu": a + norm.pdf(a) / norm.cdf(a)}[hidden]
    np.testing.assert_allclose(m.transform(x), want, rtol=1e-6, atol=1e-6)


def all_rows(nv):
    return np.array([[(r >> i) & 1 for i in range(nv)] for r in range(2 ** nv)], dtype=np.float64)


@pytest.mark.parametrize("hidden", HIDDEN)
def test_exact_likelihood_sums_to_one_over_every_binary_row(hidden):
    m = rbm.RBM(4, hidden=hidden, n_iter=3, random_state=0, device="cpu").fit(copying_bits(400, 8, 1))
    p = np.exp(m.log_likelihood(all_rows(8), method="exact"))
    assert p.sum() == pytest.approx(1.0, abs=1e-6)
    ais = m.log_z_
    m.log_likelihood(all_rows(8), method="ais", ais_runs=100, ais_steps=2000)
    assert m.log_z_ == pytest.approx(ais, abs=0.05)  # AIS from the base rates agrees with the exact sum


def test_categorical_sites_sum_to_one_and_sample_states():
    r = np.random.default_rng(3)
    x = r.integers(0, 3, size=(300, 4))
    x[:, 1] = x[:, 0]  # a correlation to learn
    m = rbm.RBM(3, visible="categorical", hidden="relu", n_iter=3, random_state=0, device="cpu").fit(x)
    assert m.n_states_ == 3 and m.components_.shape == (3, 12)
    every = np.array([[(k // 3 ** s) % 3 for s in range(4)] for k in range(3 ** 4)])
    assert np.exp(m.log_likelihood(every, method="exact")).sum() == pytest.approx(1.0, abs=1e-6)
    s = m.sample(5, 20, random_state=1)
    assert s.shape == (5, 4) and s.min() >= 0 and s.max() <= 2 and s.dtype.kind == "i"
    assert m.gibbs(x[:3]).shape == (3, 4)


@pytest.mark.parametrize("hidden", ["gaussian", "relu"])
def test_learns_what_independent_units_miss(hidden):
    x, held = copying_bits(2000, 12, 1), copying_bits(500, 12, 2)
    m = rbm.RBM(8, hidden=hidden, learning_rate=0.02, n_iter=20, batch_size=20, persistent=False, random_state=0,
                device="cpu").fit(x)
    independent = 12 * np.log(0.5)  # the data's marginals are fair coins
    assert m.score_samples(held).mean() > independent + 2.0
    c = rbm.RBM(8, visible="categorical", hidden=hidden, learning_rate=0.02, n_iter=20, batch_size=20,
                persistent=False, random_state=0, device="cpu").fit(x.astype(int))
    assert c.score_samples(held.astype(int)).mean() > independent + 2.0


def test_default_learning_rate_is_the_hidden_kinds():
    assert rbm._core.unit_defaults("bernoulli")["learning_rate"] == pytest.approx(0.1)
    assert rbm._core.unit_defaults("relu")["learning_rate"] == pytest.approx(0.01)
    assert rbm._core.unit_defaults("gaussian")["learning_rate"] == pytest.approx(0.001)
    assert rbm._core.unit_defaults("relu", "adam")["learning_rate"] == pytest.approx(0.001)
    m = rbm.RBM(hidden="relu")
    assert m._config(10)["lr"] == pytest.approx(0.01)


def test_same_weights_as_the_cli_bit_for_bit(tmp_path):
    """`rbm train --visible categorical --hidden-units relu` and RBM run one entry point."""
    exe = os.path.join(ROOT, "build", "host", "rbm")
    if not os.path.exists(exe):
        pytest.skip("the CLI is not built (scripts/build.sh)")
    x = copying_bits(400, 6, 1).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    m = rbm.RBM(n_components=5, visible="categorical", hidden="relu", batch_size=20, device="cpu")
    m._check_states(x.astype(np.float64), reset=True)
    config = m._config(20)
    config.update(epochs=3, seed=7, momentum=0.5, weight_decay=2e-4, pcd=False)
    r = rbm._core.train(x.astype(np.float32), config, None, None)
    subprocess.run([exe, "train", "--device", "cpu", "--visible", "categorical", "--hidden-units", "relu",
                    "--train-data", str(tmp_path / "x.npy"), "--hidden", "5", "--epochs", "3", "--batch", "20",
                    "--seed", "7", "--quiet", "--out", str(tmp_path / "run")], check=True)
    cli = rbm.load(tmp_path / "run" / "model.safetensors")
    assert isinstance(cli, rbm.RBM) and cli.hidden == "relu" and cli.n_states_ == 2
    np.testing.assert_array_equal(cli.components_, r["params"]["W"].T)
    np.testing.assert_array_equal(cli.intercept_hidden_, r["params"]["hb"])


def test_save_load_round_trip(tmp_path):
    x = copying_bits(300, 6, 1)
    m = rbm.RBM(4, hidden="gaussian", learning_rate=0.01, n_iter=3, random_state=0, device="cpu").fit(x)
    m.save(tmp_path / "m.safetensors")
    back = rbm.load(tmp_path / "m.safetensors")
    assert isinstance(back, rbm.RBM) and back.hidden == "gaussian" and back.visible == "bernoulli"
    np.testing.assert_allclose(back.score_samples(x), m.score_samples(x), rtol=1e-5)
    np.testing.assert_allclose(back.transform(x), m.transform(x), rtol=1e-6)


def test_bad_input_is_a_value_error_and_leaves_the_estimator_as_it_was():
    x = copying_bits(100, 6, 1)
    for kwargs, match in [({"hidden": "softmax"}, "hidden must be bernoulli, gaussian or relu"),
                          ({"visible": "gaussian"}, "rbm.GaussianRBM"),
                          ({"visible": "categorical", "n_states": 1}, "n_states must be an integer in")]:
        with pytest.raises(ValueError, match=match):
            rbm.RBM(4, device="cpu", **kwargs).fit(x)
    c = rbm.RBM(4, visible="categorical", n_iter=2, random_state=0, device="cpu")
    with pytest.raises(ValueError, match="non-negative integer states"):
        c.fit(x + 0.5)
    assert not hasattr(c, "components_")
    c.fit(x)
    before = c.components_.copy()
    with pytest.raises(ValueError, match="beyond n_states_ = 2"):
        c.partial_fit(x * 2)
    np.testing.assert_array_equal(c.components_, before)
    with pytest.raises(ValueError, match="beyond n_states_"):
        c.transform(x * 3)
