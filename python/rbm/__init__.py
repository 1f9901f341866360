"""rbm: Restricted Boltzmann Machines trained by this project's C++/CUDA code.

``rbm.BernoulliRBM`` drops in for ``sklearn.neural_network.BernoulliRBM``; ``rbm.GaussianRBM`` is the
same estimator with Gaussian visible units, for real-valued data; ``rbm.ClassificationRBM`` is a
classifier (an RBM with a label group, the exact p(y | x)); ``rbm.DBN`` stacks them into a deep belief
network trained greedily and fine-tuned; ``rbm.DBNRegressor`` is the stack under a linear output,
fine-tuned for regression; ``rbm.RBM`` takes any visible kind but Gaussian (Bernoulli, categorical) and
any hidden kind (Bernoulli, Gaussian, ReLU)."""
from . import _core
from ._bernoulli import BernoulliRBM
from ._classification import ClassificationRBM
from ._dbn import DBN, DBNRegressor
from ._gaussian import GaussianRBM
from ._rbm import RBM

__version__ = _core.__version__
__all__ = ["BernoulliRBM", "ClassificationRBM", "DBN", "DBNRegressor", "GaussianRBM", "RBM", "load", "backends", "__version__"]


def load(path):
    """The estimator for a model.safetensors written by `rbm train` or an estimator's save(): a
    ClassificationRBM where the model has a label group (classes_ 0 .. K-1; any unit kinds), a
    GaussianRBM where the visible units are Gaussian, an RBM where they are categorical or the hidden
    units are not Bernoulli, else a BernoulliRBM."""
    f = _core.load(str(path))
    p = f["params"]
    if "label_W" in p:
        return ClassificationRBM._from_file(f)
    if "states" in p or "hidden" in p:
        if "sigma" in p:
            raise ValueError(f"{path}: these unit kinds together have no estimator yet")
        return RBM._from_file(f)
    return (GaussianRBM if "sigma" in p else BernoulliRBM)._from_file(f)


def backends():
    """The backends this build has and whether each can run here: {"cpu": "usable", "cuda": reason}."""
    out = {"cpu": "usable"}
    if not _core.cuda_built():
        out["cuda"] = "not built (the package was built without a CUDA toolkit)"
    else:
        names, reason = _core.devices()
        out["cuda"] = ("usable: " + ", ".join(names)) if names else f"built, no usable GPU ({reason})"
    return out
