"""Fixtures shared by the package's tests."""
import pytest

import rbm


@pytest.fixture
def addresses_read(monkeypatch):
    """The address of the rows each rbm._core.train call read (its data_address), in call order: what
    the tests of "no copy" compare with the caller's array."""
    seen = []
    real = rbm._core.train

    def spy(X, *args):
        r = real(X, *args)
        seen.append(r["data_address"])
        return r
    monkeypatch.setattr(rbm._core, "train", spy)
    return seen
