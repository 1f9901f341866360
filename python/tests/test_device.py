"""CUDA arrays as input: both protocols parsed (DLPack checked on host exporters, whose capsules have the
same layout), the GPU path trained in place and compared with the same rows from NumPy, a GPU out of
memory as MemoryError. The GPU tests skip, saying why, where no GPU is usable."""
import ctypes
import ctypes.util
import glob

import numpy as np
import pytest
from sklearn.datasets import load_digits

import rbm
from rbm._device import device_matrix, is_device_array

GPU = rbm.backends()["cuda"]
needs_gpu = pytest.mark.skipif(not GPU.startswith("usable"), reason=f"no usable GPU: cuda {GPU}")


def test_dlpack_capsules_are_read_as_the_specification_lays_them_out():
    base = np.arange(60, dtype=np.float64).reshape(6, 10)
    for a in (base, base[:, ::3], base[1:5, 2:7], np.ascontiguousarray(base, dtype=np.float32),
              base.astype(np.uint8), base > 20):
        m = device_matrix(a)  # numpy exports DLPack (on the CPU device): the same struct a GPU exporter fills
        assert m.shape == a.shape and m.strides == a.strides, (m.shape, m.strides, a.strides)
        assert m.dtype == a.dtype and m.device_pointer == a.ctypes.data and m.device_type == 1
    assert not is_device_array(base)


def test_torch_tensors_export_dlpack_with_their_strides():
    torch = pytest.importorskip("torch")
    t = torch.arange(24, dtype=torch.float32).reshape(4, 6).t()  # transposed: strides (1, 6) elements
    m = device_matrix(t)
    assert m.shape == (6, 4) and m.strides == (4, 24) and m.typestr == "<f4"
    assert m.device_pointer == t.data_ptr()
    assert not is_device_array(t)  # a CPU tensor goes through scikit-learn's checks


class FakeCudaArray:
    """Only the protocol: what a CuPy array or a PyTorch CUDA tensor says about itself."""

    def __init__(self, ptr, shape, typestr="<f4", strides=None, stream=None):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (ptr, False),
                                         "strides": strides, "version": 3, "stream": stream}


def test_the_cuda_array_interface_is_read_with_c_order_by_default():
    m = device_matrix(FakeCudaArray(0x7000, (5, 3), "<f8"))
    assert m.shape == (5, 3) and m.strides == (24, 8) and m.device_pointer == 0x7000 and m.stream is None
    assert is_device_array(FakeCudaArray(0x7000, (5, 3)))
    with pytest.raises(ValueError, match="2D"):
        device_matrix(FakeCudaArray(0x7000, (5,)))
    with pytest.raises(ValueError, match="not numeric"):
        device_matrix(FakeCudaArray(0x7000, (5, 3), "<c8"))


@pytest.mark.skipif(GPU.startswith("usable"), reason="a GPU is usable here: the GPU tests cover this path")
def test_a_cuda_array_without_a_usable_gpu_is_refused_plainly():
    with pytest.raises(ValueError, match="CUDA array"):
        rbm.BernoulliRBM(n_components=4, n_iter=1).fit(FakeCudaArray(0x7000, (50, 8)))


# --- on a GPU: a producer of our own, through the CUDA runtime (the GPU machine has no CuPy or PyTorch)
def _cudart():
    names = [ctypes.util.find_library("cudart")] + sorted(glob.glob("/usr/local/cuda*/lib64/libcudart.so*"))
    for name in names:
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                continue
    pytest.skip("libcudart not found")


class DeviceArray:
    """A NumPy array copied to GPU memory, exposing __cuda_array_interface__ (as CuPy would)."""

    def __init__(self, host):
        self.rt = _cudart()
        self.host = np.ascontiguousarray(host)
        self.ptr = ctypes.c_void_p()
        assert self.rt.cudaMalloc(ctypes.byref(self.ptr), ctypes.c_size_t(max(self.host.nbytes, 1))) == 0
        assert self.rt.cudaMemcpy(self.ptr, self.host.ctypes.data_as(ctypes.c_void_p),
                                  ctypes.c_size_t(self.host.nbytes), 1) == 0  # cudaMemcpyHostToDevice
        self.__cuda_array_interface__ = {"shape": self.host.shape, "typestr": self.host.dtype.str,
                                         "data": (self.ptr.value, False), "strides": None, "version": 3, "stream": None}

    def __del__(self):
        self.rt.cudaFree(self.ptr)


@needs_gpu
def test_cuda_arrays_train_in_place_like_the_same_rows_from_numpy(addresses_read):
    x = load_digits().data.astype(np.float32)
    seen = addresses_read
    for cls, data in ((rbm.GaussianRBM, x), (rbm.BernoulliRBM, x / 16)):
        dev = DeviceArray(data)
        kw = dict(n_components=16, n_iter=3, batch_size=50, random_state=0, device="cuda")
        a, b = cls(**kw).fit(data), cls(**kw).fit(dev)
        assert seen[-1] == dev.ptr.value  # read in place: no copy, no host trip
        rel = np.linalg.norm(a.components_ - b.components_) / np.linalg.norm(a.components_)
        assert rel < 1e-3, (cls.__name__, rel)
        assert b.components_.dtype == np.float32
        np.testing.assert_allclose(b.transform(dev), b.transform(data), rtol=1e-5, atol=1e-6)
    # another dtype and layout: imported on the device into float32 rows
    view = DeviceArray(x.astype(np.float64).T)  # [64, 1797] in GPU memory; seen as its transpose [1797, 64]
    view.__cuda_array_interface__ = dict(view.__cuda_array_interface__, shape=(1797, 64), strides=(8, 1797 * 8))
    c = rbm.GaussianRBM(n_components=16, n_iter=3, batch_size=50, random_state=0, device="cuda").fit(view)
    a = rbm.GaussianRBM(n_components=16, n_iter=3, batch_size=50, random_state=0, device="cuda").fit(x.astype(np.float64))
    assert np.linalg.norm(a.components_ - c.components_) / np.linalg.norm(a.components_) < 1e-3
    assert c.components_.dtype == np.float64


@needs_gpu
def test_cuda_arrays_with_nan_and_huge_models_raise_what_python_expects():
    x = load_digits().data.astype(np.float32)
    bad = x.copy()
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rbm.GaussianRBM(n_components=4, n_iter=1, device="cuda").fit(DeviceArray(bad))
    with pytest.raises(MemoryError, match="MiB of GPU memory"):  # batches of 20,000 x 2^24 hidden units
        rbm.BernoulliRBM(n_components=2**24, batch_size=20000, n_iter=1, device="cuda").fit(x / 16)
    m = rbm.BernoulliRBM(n_components=4, n_iter=1, device="cpu").fit(DeviceArray(x / 16))  # copied to the host
    assert m.backend_.startswith("cpu")
