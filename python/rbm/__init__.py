"""rbm: Restricted Boltzmann Machines trained by this project's C++/CUDA code.

``rbm.BernoulliRBM`` drops in for ``sklearn.neural_network.BernoulliRBM``."""
from . import _core
from ._bernoulli import BernoulliRBM, load

__version__ = _core.__version__
__all__ = ["BernoulliRBM", "load", "backends", "__version__"]


def backends():
    """The backends this build has and whether each can run here: {"cpu": "usable", "cuda": reason}."""
    out = {"cpu": "usable"}
    if not _core.cuda_built():
        out["cuda"] = "not built (the package was built without a CUDA toolkit)"
    else:
        names, reason = _core.devices()
        out["cuda"] = ("usable: " + ", ".join(names)) if names else f"built, no usable GPU ({reason})"
    return out
