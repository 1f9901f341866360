"""rbm.DBN: scikit-learn's estimator checks, the layers as fitting them one by one gives, labels on the
top layer classifying the digits, generation through the down pass, bad per-layer lists."""
import numpy as np
import pytest
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import parametrize_with_checks

import rbm
from test_bernoulli import digits


@parametrize_with_checks([rbm.DBN((8, 6), n_iter=3, random_state=0, device="cpu")])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


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
