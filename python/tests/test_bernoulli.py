"""rbm.BernoulliRBM against scikit-learn's: the estimator checks, the input rules, the CLI's weights
bit for bit, a digits pipeline at least as accurate, pickling, partial_fit's state, bad input."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import BernoulliRBM as SkRBM
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import rbm

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def digits(n=2000):
    """The built-in MNIST digits (data/mnist), as scikit-learn users feed them: floats in [0, 1]."""
    sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
    import idx
    x, y = idx.load(os.path.join(ROOT, "data", "mnist"), "train")  # already scaled to [0, 1]
    assert x.max() == 1.0
    return x[:n].astype(np.float64), y[:n]


# The two checks scikit-learn itself lists as expected failures for its BernoulliRBM
# (sklearn/utils/_test_common/instance_generator.py): score_samples flips one random feature per sample
# (the stochastic pseudo-likelihood), so its values depend on a sample's position in X.
EXPECTED_FAILURES = {
    "check_methods_subset_invariance": "score_samples is stochastic per position (as scikit-learn's BernoulliRBM)",
    "check_methods_sample_order_invariance": "score_samples is stochastic per position (as scikit-learn's BernoulliRBM)",
}


@parametrize_with_checks([rbm.BernoulliRBM(n_components=8, n_iter=3, random_state=0, device="cpu")],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_same_parameters_defaults_and_attributes_as_scikit_learn():
    ours, theirs = rbm.BernoulliRBM().get_params(), SkRBM().get_params()
    for name, value in theirs.items():
        assert ours[name] == value, name
    x, _ = digits(300)
    a = rbm.BernoulliRBM(n_components=16, n_iter=2, random_state=1, device="cpu").fit(x)
    b = SkRBM(n_components=16, n_iter=2, random_state=1).fit(x)
    for attr in ("components_", "intercept_hidden_", "intercept_visible_", "h_samples_", "n_features_in_"):
        assert np.shape(getattr(a, attr)) == np.shape(getattr(b, attr)), attr
    assert list(a.get_feature_names_out()) == [f"bernoullirbm{i}" for i in range(16)]
    assert a.transform(x).shape == (300, 16)


def test_dtypes_follow_scikit_learn_rules():
    x, _ = digits(200)
    for dtype, out in ((np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)):
        xx = (x > 0.5).astype(dtype)
        m = rbm.BernoulliRBM(n_components=8, n_iter=1, random_state=0, device="cpu").fit(xx)
        assert m.components_.dtype == out
        assert m.transform(xx).dtype == out


def test_sparse_and_dense_give_the_same_model():
    x, _ = digits(300)
    dense = rbm.BernoulliRBM(n_components=10, n_iter=2, random_state=3, device="cpu").fit(x)
    sparse = rbm.BernoulliRBM(n_components=10, n_iter=2, random_state=3, device="cpu").fit(sp.csr_matrix(x))
    np.testing.assert_array_equal(dense.components_, sparse.components_)
    np.testing.assert_allclose(dense.transform(x), sparse.transform(sp.csr_matrix(x)), rtol=1e-6)


def test_same_weights_as_the_cli_bit_for_bit(tmp_path):
    """The package and `rbm train` run one entry point: the same data, seed and settings give the same
    float32 weights (the CLI on the same rows written as .npy)."""
    exe = os.path.join(ROOT, "build", "host", "rbm")
    if not os.path.exists(exe):
        pytest.skip("the CLI is not built (scripts/build.sh)")
    x, _ = digits(500)
    x = x.astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    m = rbm.BernoulliRBM(n_components=20, n_iter=2, batch_size=50, random_state=None, device="cpu")
    config = m._config(50)
    config.update(epochs=2, seed=7)
    r = rbm._core.train(x, config, None, None)
    subprocess.run([exe, "train", "--device", "cpu", "--train-data", str(tmp_path / "x.npy"), "--hidden", "20",
                    "--epochs", "2", "--batch", "50", "--lr", "0.1", "--momentum", "0", "--weight-decay", "0",
                    "--pcd", "--seed", "7", "--quiet", "--out", str(tmp_path / "run")], check=True)
    from safetensors.numpy import load_file
    t = load_file(str(tmp_path / "run" / "model.safetensors"))
    np.testing.assert_array_equal(r["params"]["W"], t["W"])
    np.testing.assert_array_equal(r["params"]["hb"], t["hb"])


def test_pipeline_on_digits_at_least_as_accurate_as_scikit_learns():
    x, y = digits(3000)
    xt, yt, xs, ys = x[:2000], y[:2000], x[2000:], y[2000:]
    def score(model):
        p = Pipeline([("rbm", model), ("logistic", LogisticRegression(max_iter=500))])
        return p.fit(xt, yt).score(xs, ys)
    ours = score(rbm.BernoulliRBM(n_components=100, n_iter=10, learning_rate=0.06, random_state=0, device="cpu"))
    theirs = score(SkRBM(n_components=100, n_iter=10, learning_rate=0.06, random_state=0))
    assert theirs > 0.8, theirs  # the features are worth something (chance is 0.1)
    assert ours >= theirs - 0.01, (ours, theirs)


def test_clone_pickle_set_params_and_grid_search():
    x, y = digits(300)
    m = rbm.BernoulliRBM(n_components=8, n_iter=1, random_state=0, device="cpu").fit(x)
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.transform(x), m.transform(x))
    c = clone(m).set_params(n_components=5)
    assert c.n_components == 5 and not hasattr(c, "components_")
    g = GridSearchCV(Pipeline([("rbm", rbm.BernoulliRBM(n_iter=1, random_state=0, device="cpu")),
                               ("lr", LogisticRegression(max_iter=200))]),
                     {"rbm__n_components": [4, 8]}, cv=2).fit(x, y)
    assert g.best_params_["rbm__n_components"] in (4, 8)


def test_partial_fit_keeps_the_optimiser_and_chains():
    x, _ = digits(200)
    m = rbm.BernoulliRBM(n_components=8, momentum=0.5, random_state=0, device="cpu")
    m.partial_fit(x[:100])
    first = m._state["rng_position"]
    assert first > 0
    m.partial_fit(x[100:])
    assert m._state["rng_position"] == 2 * first  # the stream went on, not restarted
    assert np.abs(m._state["vel_W"]).sum() > 0  # momentum is carried


def test_adam_keeps_its_moments_across_partial_fit_and_learns():
    x, _ = digits(500)
    m = rbm.BernoulliRBM(n_components=16, learning_rate=0.01, optimizer="adam", random_state=0, device="cpu")
    m.partial_fit(x)
    assert m._state["updates"] == 1 and np.abs(m._state["sq_W"]).sum() > 0
    start = m.score_samples(x).mean()
    rng = np.random.default_rng(0)
    for _ in range(30):
        m.partial_fit(x[rng.permutation(500)[:100]])
    assert m._state["updates"] == 31  # the moments' bias correction counts every update
    assert m.score_samples(x).mean() > start + 5  # pseudo-log-likelihood per digit, in nats (11 when written)
    with pytest.raises(ValueError, match="optimizer"):
        rbm.BernoulliRBM(optimizer="rmsprop").fit(x)
    assert rbm.ClassificationRBM(optimizer="adam")._setting("learning_rate") == pytest.approx(0.001)


def test_bad_input_raises_what_scikit_learn_raises():
    from sklearn.exceptions import NotFittedError
    x, _ = digits(50)
    with pytest.raises(NotFittedError):
        rbm.BernoulliRBM().transform(x)
    bad = x.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError):
        rbm.BernoulliRBM(n_iter=1, device="cpu").fit(bad)
    m = rbm.BernoulliRBM(n_components=4, n_iter=1, device="cpu").fit(x)
    with pytest.raises(ValueError):
        m.transform(x[:, :10])
    with pytest.raises(ValueError, match="device"):
        rbm.BernoulliRBM(device="tpu").fit(x)
    with pytest.raises(ValueError, match="n_threads"):
        rbm.BernoulliRBM(n_threads=0).fit(x)


def test_n_threads_gives_the_model_of_that_many_threads():
    """One thread and two: each run equal to itself (the GEMMs' rounding follows the thread count)."""
    x, _ = digits(400)
    one = [rbm.BernoulliRBM(n_components=16, n_iter=2, random_state=2, device="cpu", n_threads=1).fit(x).components_
           for _ in range(2)]
    np.testing.assert_array_equal(one[0], one[1])
    two = rbm.BernoulliRBM(n_components=16, n_iter=2, random_state=2, device="cpu", n_threads=2).fit(x).components_
    np.testing.assert_allclose(one[0], two, atol=1e-4)


def test_backends_say_what_this_build_has():
    b = rbm.backends()
    assert b["cpu"] == "usable"
    assert "cuda" in b
    assert rbm.__version__.count(".") == 2


def test_ctrl_c_stops_fit_keeps_the_model_and_raises_keyboard_interrupt(tmp_path):
    """SIGINT during a long fit: KeyboardInterrupt within a batch or two, the estimator fitted with the
    last completed update (run in a child process, which the signal is sent to)."""
    script = tmp_path / "fit.py"
    # A shell runs background jobs with SIGINT ignored, and Python then installs no handler: give the
    # child the default one an interactive session has, whatever this process inherited.
    script.write_text(
        "import signal\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import numpy as np, rbm, sys, time\n"
        "x = (np.random.default_rng(0).random((20000, 784)) > 0.5).astype(np.float32)\n"
        "m = rbm.BernoulliRBM(n_components=500, n_iter=1000, batch_size=100, device='cpu')\n"
        "print('ready', flush=True)\n"
        "t = time.time()\n"
        "try:\n"
        "    m.fit(x)\n"
        "    print('finished', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', time.time() - t, m.components_.shape, np.isfinite(m.components_).all(), flush=True)\n")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    import signal
    import time
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=120)  # a batch takes ~10 ms; the margin is for a loaded machine
    except subprocess.TimeoutExpired:
        p.kill()  # never leave it training
        p.communicate()
        pytest.fail("fit went on for 2 minutes after SIGINT")
    words = out.split()
    assert words[0] == "interrupted", out
    assert "(500, 784)" in out and words[-1] == "True", out


def _exact_log_z(m):
    """log Z of a small model by enumerating its hidden states in double precision."""
    W = m.components_.astype(np.float64).T  # [n_features, n_components]
    vb, hb = m.intercept_visible_.astype(np.float64), m.intercept_hidden_.astype(np.float64)
    nh = W.shape[1]
    h = ((np.arange(2 ** nh)[:, None] >> np.arange(nh)) & 1).astype(np.float64)
    terms = h @ hb + np.logaddexp(0, h @ W.T + vb).sum(axis=1)
    top = terms.max()
    return top + np.log(np.exp(terms - top).sum())


def test_log_likelihood_exact_and_by_ais_against_enumeration():
    x, _ = digits(600)
    m = rbm.BernoulliRBM(n_components=10, n_iter=3, learning_rate=0.05, random_state=0, device="cpu").fit(x[:500])
    want = _exact_log_z(m)
    ll = m.log_likelihood(x[500:])
    assert abs(m.log_z_ - want) < 1e-6 * abs(want)
    v = (x[500:] >= 0.5).astype(np.float64)
    np.testing.assert_allclose(ll, -m._free_energy(v) - want, rtol=1e-6)
    m.log_likelihood(x[500:], method="ais", ais_runs=100, ais_steps=2000)
    lo, hi = m.log_z_interval_
    assert lo - 0.05 <= want <= hi + 0.05 and abs(m.log_z_ - want) < 0.5, (m.log_z_, want, lo, hi)
    with pytest.raises(ValueError, match="exact"):
        rbm.BernoulliRBM(n_components=30, n_iter=1, device="cpu").fit(x[:50]).log_likelihood(x[:5], method="exact",
                                                                                          exact_max=20)


def test_pseudo_log_likelihood_is_exact():
    x, _ = digits(120)
    m = rbm.BernoulliRBM(n_components=12, n_iter=2, random_state=0, device="cpu").fit(x[:100])
    v = (x[100:] >= 0.5).astype(np.float64)
    fe = m._free_energy(v)
    total = 0.0
    for i in range(v.shape[1]):  # every feature flipped in turn: log sigmoid(F(flipped) - F(v))
        f = v.copy()
        f[:, i] = 1 - f[:, i]
        total += -np.logaddexp(0, -(m._free_energy(f) - fe))
    assert abs(m.pseudo_log_likelihood(x[100:]) - total.mean()) < 1e-3 * abs(total.mean())


def test_save_load_and_the_cli_open_each_others_models(tmp_path):
    x, _ = digits(300)
    m = rbm.BernoulliRBM(n_components=9, n_iter=2, random_state=0, device="cpu").fit(x)
    m.save(tmp_path / "m.safetensors")
    back = rbm.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.transform(x), m.transform(x))
    back.partial_fit(x[:50])  # a loaded model trains on
    exe = os.path.join(ROOT, "build", "host", "rbm")
    if not os.path.exists(exe):
        pytest.skip("the CLI is not built (scripts/build.sh)")
    r = subprocess.run([exe, "evaluate", "--model", str(tmp_path / "m.safetensors"), "--test-limit", "100",
                        "--train-limit", "100", "--ais-runs", "0", "--device", "cpu"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    subprocess.run([exe, "train", "--device", "cpu", "--hidden", "7", "--epochs", "1", "--train-limit", "300",
                    "--test-limit", "100", "--quiet", "--out", str(tmp_path / "run")], check=True)
    cli = rbm.load(tmp_path / "run" / "model.safetensors")
    assert cli.components_.shape == (7, 784)
    from scipy.special import expit
    np.testing.assert_allclose(cli.transform(x[:5]),
                               expit(x[:5] @ cli.components_.T.astype(np.float64) + cli.intercept_hidden_), rtol=1e-5)


def test_sample_gives_binary_rows():
    x, _ = digits(200)
    m = rbm.BernoulliRBM(n_components=16, n_iter=3, random_state=0, device="cpu").fit(x)
    s = m.sample(5, 50, random_state=1)
    assert s.shape == (5, 784) and s.dtype == bool
    np.testing.assert_array_equal(s, m.sample(5, 50, random_state=1))


def test_verbose_prints_scikit_learns_line_live_for_each_iterations_parameters(capsys):
    # scikit-learn prints, after every iteration, the pseudo-likelihood of that iteration's parameters
    # (its score_samples(X).mean()): the line for iteration i must equal the score of a fit of i iterations.
    x, _ = digits(300)
    kw = dict(n_components=8, random_state=0, device="cpu")
    rbm.BernoulliRBM(n_iter=3, verbose=1, **kw).fit(x)
    lines = [l for l in capsys.readouterr().out.splitlines() if "Iteration" in l]
    assert len(lines) == 3, lines
    for i, line in enumerate(lines, start=1):
        assert line.startswith(f"[BernoulliRBM] Iteration {i}, pseudo-likelihood = ") and line.endswith("s"), line
        shown = float(line.split("pseudo-likelihood = ")[1].split(",")[0])
        expected = rbm.BernoulliRBM(n_iter=i, **kw).fit(x).score_samples(x).mean()
        assert shown == pytest.approx(expected, abs=0.006), (i, line, expected)
    assert len({l.split(",")[1] for l in lines}) == 3  # each iteration its own number


def test_an_exception_in_the_callback_stops_training_and_propagates():
    x, _ = digits(100)
    calls = []

    def boom(metrics, params):
        calls.append(metrics["epoch"])
        raise ZeroDivisionError("from the callback")
    with pytest.raises(ZeroDivisionError, match="from the callback"):
        rbm._core.train(np.ascontiguousarray(x, dtype=np.float32),
                        {"nh": 4, "epochs": 5, "device": "cpu", "any_values": True}, None, boom)
    assert calls == [1]  # stopped after the first epoch's callback


def test_training_reads_the_callers_float32_array_in_place(addresses_read):
    # A C-contiguous float32 array reaches the C++ trainer as it is (the address it read is the array's);
    # other dtypes and layouts are converted once by the estimator, never by the binding.
    x, _ = digits(200)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    r = rbm._core.train(x32, {"nh": 4, "epochs": 1, "device": "cpu", "any_values": True})
    assert r["data_address"] == x32.ctypes.data
    with pytest.raises(ValueError, match="C-contiguous float32"):
        rbm._core.train(x32.astype(np.float64), {"nh": 4, "epochs": 1, "device": "cpu"})
    with pytest.raises(ValueError, match="C-contiguous float32"):
        rbm._core.train(np.asfortranarray(x32), {"nh": 4, "epochs": 1, "device": "cpu"})
    seen = addresses_read
    seen.clear()
    rbm.BernoulliRBM(n_components=4, n_iter=1, device="cpu").fit(x32)
    assert seen == [x32.ctypes.data]


def test_a_model_beyond_the_machines_memory_raises_memory_error_naming_the_bytes():
    # 16 x 2^24 weights (1 GiB each for W, its gradient and momentum) and batches of 20,000 rows of
    # 2^24 hidden units: over 2.5 TiB, refused before anything is allocated.
    x = np.random.RandomState(0).uniform(size=(20000, 16))
    with pytest.raises(MemoryError, match=r"16x16777216 model with batch 20000 needs at least \d+ bytes"):
        rbm.BernoulliRBM(n_components=2**24, batch_size=20000, device="cpu").fit(x)


def test_fit_in_a_background_thread_leaves_python_running():
    """Training releases the GIL: while a fit runs in another thread, this one keeps computing (a fit
    holding the GIL would stall it but for the per-batch callback's brief visits)."""
    import threading
    import time
    x, _ = digits(2000)

    def spin(seconds):
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            n += 1
        return n
    alone = spin(0.3)
    result = {}
    t = threading.Thread(target=lambda: result.update(m=rbm.BernoulliRBM(
        n_components=200, n_iter=15, batch_size=100, random_state=0, device="cpu", n_threads=1).fit(x)))
    t.start()
    time.sleep(0.05)
    during = spin(0.3)
    assert t.is_alive(), "the fit ended before the measurement: make it longer"
    t.join()
    assert during > 0.3 * alone, (during, alone)
    assert result["m"].components_.shape == (200, 784)


@pytest.mark.parametrize("make", [lambda: rbm.BernoulliRBM(n_components=4, n_iter=2, device="cpu", random_state=0),
                                  lambda: rbm.GaussianRBM(n_components=4, n_iter=2, device="cpu", random_state=0)])
def test_a_fit_that_fails_leaves_the_estimator_as_it_was(make):
    """A refit on other data that fails (here: the model beyond memory, refused after the new data set
    n_features_in_) keeps the previous fit whole: the old feature count, weights and transform."""
    x, _ = digits(300)
    m = make().fit(x[:, :12])
    before = (m.n_features_in_, m.components_.copy(), m.transform(x[:5, :12]))
    wide = np.random.RandomState(0).uniform(size=(20000, 20))
    m.set_params(n_components=2**24, batch_size=20000)
    with pytest.raises(MemoryError):
        m.fit(wide)
    assert m.n_features_in_ == before[0] == 12
    np.testing.assert_array_equal(m.components_, before[1])
    m.set_params(n_components=4, batch_size=10)
    np.testing.assert_array_equal(m.transform(x[:5, :12]), before[2])


def test_bad_arguments_raise_value_error_naming_the_parameter():
    """What pybind11, NumPy or the trainer would otherwise report in their own words ("Unable to cast",
    a matmul shape, "diverged at epoch 0", "too many values to unpack") is a ValueError naming it."""
    x, y = digits(100)
    for kw, name in ((dict(n_components=2**31), "n_components"), (dict(n_threads=100000), "n_threads"),
                     (dict(learning_rate=np.inf), "learning_rate"), (dict(momentum=np.nan), "momentum"),
                     (dict(weight_decay=np.inf), "weight_decay")):
        with pytest.raises(ValueError, match=name):
            rbm.BernoulliRBM(device="cpu", n_iter=1, **kw).fit(x)
    m = rbm.BernoulliRBM(n_components=4, n_iter=1, device="cpu").fit(x)
    with pytest.raises(ValueError, match="n_steps"):
        m.sample(2, n_steps=-1)
    with pytest.raises(ValueError, match="n_samples"):
        m.sample(0)
    with pytest.raises(ValueError, match="features"):
        m.gibbs(x[:, :10])
    with pytest.raises(ValueError, match="float32"):
        rbm.GaussianRBM(n_components=4, n_iter=1, device="cpu").fit(x * 1e300)
    with pytest.raises(ValueError, match="requires y"):
        rbm.DBN((4, 3), labels=True, n_iter=1, device="cpu").fit(x)
