"""rbm.GaussianRBM: the estimator checks, the CLI's weights bit for bit (standardised), densities that
integrate to one in the data's units, exact log Z against AIS, the standardisation applied by every
method, learned sigma, partial_fit, save / load in the CLI's format, bad input."""
import os
import subprocess

import numpy as np
import pytest
from scipy.special import expit, logsumexp
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import parametrize_with_checks

import rbm

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def real_digits(n=1797):
    """scikit-learn's 8x8 digits: real values 0-16, one feature constant (0) everywhere."""
    return load_digits().data[:n]


@parametrize_with_checks([rbm.GaussianRBM(n_components=6, n_iter=3, random_state=0, device="cpu")])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_same_weights_as_the_cli_bit_for_bit(tmp_path):
    """`rbm train --visible gaussian --standardize` and GaussianRBM run one entry point."""
    exe = os.path.join(ROOT, "build", "host", "rbm")
    if not os.path.exists(exe):
        pytest.skip("the CLI is not built (scripts/build.sh)")
    x = real_digits(600).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    m = rbm.GaussianRBM(n_components=12, batch_size=50, learning_rate=0.01, device="cpu")
    config = m._config(50)
    config.update(epochs=3, seed=7)
    r = rbm._core.train(x, config, None, None)
    subprocess.run([exe, "train", "--device", "cpu", "--visible", "gaussian", "--standardize", "--train-data",
                    str(tmp_path / "x.npy"), "--hidden", "12", "--epochs", "3", "--batch", "50", "--lr", "0.01",
                    "--momentum", "0", "--weight-decay", "0", "--pcd", "--seed", "7", "--quiet",
                    "--out", str(tmp_path / "run")], check=True)
    from safetensors.numpy import load_file
    t = load_file(str(tmp_path / "run" / "model.safetensors"))
    for ours, theirs in (("W", "W"), ("vb", "vb"), ("hb", "hb"), ("sigma", "sigma")):
        np.testing.assert_array_equal(r["params"][ours], t[theirs], err_msg=ours)
    np.testing.assert_array_equal(r["data_mean"], t["data_mean"])
    np.testing.assert_array_equal(r["data_sd"], t["data_std"])
    # and the estimator opens the CLI's file with its standardisation
    cli = rbm.load(tmp_path / "run" / "model.safetensors")
    assert isinstance(cli, rbm.GaussianRBM)
    np.testing.assert_allclose(cli.mean_, x.mean(axis=0), rtol=1e-5, atol=1e-5)


def test_the_density_integrates_to_one_in_the_datas_units():
    """exp(score_samples) over a fine grid of a 1-D and a 2-D data space sums to 1: log Z, the
    free energy and the standardisation's Jacobian are all right."""
    rng = np.random.RandomState(0)
    one = np.concatenate([rng.normal(5, 2, 400), rng.normal(20, 3, 400)])[:, None]  # bimodal, far from N(0, 1)
    m = rbm.GaussianRBM(n_components=3, n_iter=30, learning_rate=0.01, random_state=0, device="cpu").fit(one)
    grid = np.linspace(-40, 70, 20001)[:, None]
    p = np.exp(m.score_samples(grid))
    assert np.trapezoid(p[:, 0] if p.ndim > 1 else p, grid[:, 0]) == pytest.approx(1.0, abs=1e-4)
    two = np.c_[rng.normal(-3, 0.5, 500), rng.normal(10, 4, 500)]
    m2 = rbm.GaussianRBM(n_components=4, n_iter=10, random_state=1, learn_sigma=True, device="cpu").fit(two)
    gx, gy = np.linspace(-8, 2, 401), np.linspace(-20, 40, 401)
    xx, yy = np.meshgrid(gx, gy, indexing="ij")
    dens = np.exp(m2.score_samples(np.c_[xx.ravel(), yy.ravel()])).reshape(xx.shape)
    assert np.trapezoid(np.trapezoid(dens, gy, axis=1), gx) == pytest.approx(1.0, abs=2e-3)


def test_log_likelihood_against_a_double_enumeration_and_ais():
    x = real_digits()
    m = rbm.GaussianRBM(n_components=10, n_iter=5, random_state=0, device="cpu").fit(x[:1500])
    exact = m.log_likelihood(x[1500:], method="exact")
    # the same in double from the definition: log sum_h exp(-E(z, h)) - log Z - sum log scale
    W, b, c, s = (np.asarray(a, np.float64) for a in (m.components_.T, m.intercept_visible_, m.intercept_hidden_,
                                                      m.sigma_))
    z = (x[1500:] - m.mean_) / m.scale_
    hs = np.array([[(k >> j) & 1 for j in range(10)] for k in range(2 ** 10)], dtype=np.float64)
    xh = hs @ W.T  # [2^nh, nv]
    log_z = logsumexp(hs @ c + (b * xh / s + 0.5 * xh ** 2 + np.log(np.sqrt(2 * np.pi) * s)).sum(axis=1))
    energy = (((z[:, None, :] - b) / s) ** 2).sum(axis=2) / 2 - hs @ c - (z / s) @ xh.T
    ref = logsumexp(-energy, axis=1) - log_z - np.log(m.scale_).sum()
    np.testing.assert_allclose(exact, ref, rtol=1e-6, atol=1e-4)
    assert m.log_z_ == pytest.approx(log_z, rel=1e-6)
    ais = m.log_likelihood(x[1500:], method="ais", ais_runs=100, ais_steps=2000)
    lo, hi = m.log_z_interval_
    assert lo <= m.log_z_ <= hi
    assert np.mean(ais) == pytest.approx(np.mean(exact), abs=0.5)
    with pytest.raises(ValueError, match="hidden layer"):
        m.log_likelihood(x[:5], method="exact", exact_max=5)


def test_every_method_applies_the_standardisation():
    x = real_digits()
    m = rbm.GaussianRBM(n_components=8, n_iter=3, random_state=0, device="cpu").fit(x)
    np.testing.assert_allclose(m.mean_, x.mean(axis=0), rtol=1e-5, atol=1e-6)
    sd = x.std(axis=0)
    np.testing.assert_allclose(m.scale_, np.where(sd > 1e-6, sd, 1.0), rtol=1e-4)
    z = (x - m.mean_) / m.scale_
    np.testing.assert_allclose(m.transform(x), expit((z / m.sigma_) @ m.components_.T + m.intercept_hidden_),
                               rtol=1e-6)
    d = (z - m.intercept_visible_) / m.sigma_
    np.testing.assert_allclose(m.free_energy(x), 0.5 * (d ** 2).sum(1) -
                               np.logaddexp(0, (z / m.sigma_) @ m.components_.T + m.intercept_hidden_).sum(1),
                               rtol=1e-6)
    s = m.sample(200, 200, random_state=0)
    assert s.shape == (200, 64)
    # the chains come back in data units: near the data's range, not the standardised one
    assert 2 < s.mean() < 8 and abs(s.mean() - x.mean()) < 2.0
    g = m.gibbs(x[:50])
    assert g.shape == (50, 64) and 2 < g.mean() < 8
    raw = rbm.GaussianRBM(n_components=8, n_iter=3, random_state=0, standardize=False, device="cpu").fit(x / 16)
    assert raw.mean_ is None and raw.scale_ is None


def test_learned_sigma_moves_and_fixed_sigma_stays_one():
    x = real_digits()
    fixed = rbm.GaussianRBM(n_components=8, n_iter=5, random_state=0, device="cpu").fit(x)
    np.testing.assert_array_equal(fixed.sigma_, 1.0)
    learned = rbm.GaussianRBM(n_components=8, n_iter=5, random_state=0, learn_sigma=True, device="cpu").fit(x)
    assert np.all(learned.sigma_ >= 0.05) and np.ptp(learned.sigma_) > 0.1
    # the constant pixels (standardised to 0 everywhere) need the least noise: their sigma falls furthest
    constant = np.flatnonzero(x.std(axis=0) == 0)
    assert len(constant) == 3 and int(np.argmin(learned.sigma_)) in constant
    assert learned.sigma_[constant].max() < np.median(np.delete(learned.sigma_, constant))


def test_partial_fit_keeps_the_first_calls_standardisation_and_the_state():
    x = real_digits()
    m = rbm.GaussianRBM(n_components=8, random_state=0, device="cpu")
    m.partial_fit(x[:200])
    mean = m.mean_.copy()
    np.testing.assert_allclose(mean, x[:200].mean(axis=0), rtol=1e-5, atol=1e-6)
    before = m._state["rng_position"]
    m.partial_fit(x[200:400])
    np.testing.assert_array_equal(m.mean_, mean)  # unchanged by later batches
    assert m._state["rng_position"] > before
    assert m.transform(x[:3]).shape == (3, 8)


def test_parallel_tempering_trains_learned_sigma_and_partial_fit_carries_its_chains():
    x = real_digits()
    m = rbm.GaussianRBM(n_components=8, n_iter=3, random_state=0, learn_sigma=True, tempering=4, device="cpu")
    m.fit(x)
    assert np.all(np.isfinite(m.sigma_)) and np.all(m.sigma_ >= 0.05) and np.ptp(m.sigma_) > 0.1
    # partial_fit (its rows one batch, as scikit-learn's) continues the tempered chains, 4 per row
    p = rbm.GaussianRBM(n_components=8, random_state=0, tempering=4, device="cpu")
    p.partial_fit(x[:100])
    state = p._state
    assert state["tempered_v"].shape == (100 * 4, x.shape[1]) and "chain_h" in state
    p.partial_fit(x[100:200])
    assert not np.array_equal(p._state["tempered_v"], state["tempered_v"])
    for bad in (-1, 1001, 2.5, True):
        with pytest.raises(ValueError, match="tempering"):
            rbm.GaussianRBM(tempering=bad, device="cpu").fit(x[:50])


def test_save_and_load_keep_sigma_and_the_standardisation(tmp_path):
    x = real_digits()
    m = rbm.GaussianRBM(n_components=8, n_iter=3, learn_sigma=True, random_state=0, device="cpu").fit(x)
    m.save(tmp_path / "g.safetensors")
    back = rbm.load(tmp_path / "g.safetensors")
    assert isinstance(back, rbm.GaussianRBM)
    for attr in ("components_", "intercept_hidden_", "intercept_visible_", "sigma_", "mean_", "scale_"):
        np.testing.assert_allclose(getattr(back, attr), getattr(m, attr), rtol=1e-6, err_msg=attr)
    np.testing.assert_allclose(back.transform(x[:10]), m.transform(x[:10]), rtol=1e-5)
    np.testing.assert_allclose(back.log_likelihood(x[:10], method="exact"), m.log_likelihood(x[:10], method="exact"),
                               rtol=1e-5)
    exe = os.path.join(ROOT, "build", "host", "rbm")
    if os.path.exists(exe):  # the CLI reads the estimator's file, standardisation included
        np.save(tmp_path / "x.npy", x.astype(np.float32))
        out = subprocess.run([exe, "evaluate", "--model", str(tmp_path / "g.safetensors"), "--train-data",
                              str(tmp_path / "x.npy"), "--test-data", str(tmp_path / "x.npy"), "--json",
                              str(tmp_path / "e.json")], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        import json
        e = json.load(open(tmp_path / "e.json"))
        assert e["log_likelihood_exact"] == pytest.approx(m.log_likelihood(x, method="exact").mean(), abs=1e-3)


def test_bad_input_raises_what_scikit_learn_would():
    x = real_digits(100)
    with pytest.raises(ValueError, match="sigma_floor"):
        rbm.GaussianRBM(sigma_floor=0).fit(x)
    bad = x.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rbm.GaussianRBM(n_components=4, n_iter=1).fit(bad)
    m = rbm.GaussianRBM(n_components=4, n_iter=1, device="cpu").fit(x)
    with pytest.raises(ValueError, match="features"):
        m.transform(x[:, :10])


def test_verbose_prints_each_iterations_reconstruction_error(capsys):
    x = real_digits(500)
    rbm.GaussianRBM(n_components=6, n_iter=3, verbose=1, random_state=0, device="cpu").fit(x)
    lines = [l for l in capsys.readouterr().out.splitlines() if "Iteration" in l]
    assert [l.split(",")[0] for l in lines] == [f"[GaussianRBM] Iteration {i}" for i in (1, 2, 3)]
    errors = [float(l.split("reconstruction error = ")[1].split(",")[0]) for l in lines]
    assert errors[0] > errors[-1] and len(set(errors)) == 3


def test_learn_sigma_takes_its_own_estimator_and_rate_unless_told():
    """learn_sigma=True alone: parallel tempering over 10 temperatures at rate 0.001 (the CLI's
    --learn-sigma defaults, rbm::learned_sigma_defaults); without it 0.01 and CD/PCD; given values win."""
    assert rbm.GaussianRBM(learn_sigma=True)._setting("tempering") == 10
    assert rbm.GaussianRBM(learn_sigma=True)._setting("learning_rate") == pytest.approx(0.001)
    assert rbm.GaussianRBM()._setting("tempering") == 0
    assert rbm.GaussianRBM()._setting("learning_rate") == pytest.approx(0.01)
    assert rbm.GaussianRBM(learn_sigma=True, tempering=0, learning_rate=0.02)._setting("tempering") == 0
    assert rbm.GaussianRBM(optimizer="adam")._setting("learning_rate") == pytest.approx(0.001)
    x = np.random.default_rng(0).normal(size=(300, 6))
    m = rbm.GaussianRBM(4, learn_sigma=True, n_iter=2, random_state=0, device="cpu").fit(x)
    assert m._state["tempered_v"].shape[0] > 0  # it trained tempered chains
    assert m.get_params()["tempering"] is None and m.get_params()["learning_rate"] is None
