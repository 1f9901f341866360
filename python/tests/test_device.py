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


class RecordingExporter:
    """A DLPack producer that says its array is in GPU memory (the capsule is a NumPy array's: the same
    struct) and records the stream it is asked to order its work on."""

    def __init__(self, a, takes_stream=True, device=(2, 0)):
        self.a, self.asked, self.device = a, [], device
        if not takes_stream:  # an old producer: __dlpack__() alone
            self.__dlpack__ = lambda: a.__dlpack__()

    def __dlpack__(self, stream=None):
        self.asked.append(stream)
        return self.a.__dlpack__()

    def __dlpack_device__(self):
        return self.device


def test_the_producers_stream_is_asked_for_and_waited_on():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    # DLPack: a GPU producer is asked to order its work before the legacy default stream (stream=1;
    # stream=None would let PyTorch synchronise nothing), and that stream is the one waited on.
    exporter = RecordingExporter(a)
    m = device_matrix(exporter)
    assert exporter.asked == [1] and m.stream == 1
    # Host memory has no stream: None, as the specification (and NumPy) require.
    host = RecordingExporter(a, device=(1, 0))
    assert device_matrix(host).stream is None and host.asked == [None]
    assert device_matrix(a).stream is None  # NumPy itself refuses any stream but None
    # A producer that takes no stream argument: the stream is unknown (None: the binding waits on the device).
    assert device_matrix(RecordingExporter(a, takes_stream=False)).stream is None
    # The CUDA array interface: version 3 names its stream; version 2 (PyTorch) has no "stream" key.
    assert device_matrix(FakeCudaArray(0x7000, (5, 3), stream=0x1234)).stream == 0x1234
    v2 = FakeCudaArray(0x7000, (5, 3))
    v2.__cuda_array_interface__ = {k: v for k, v in v2.__cuda_array_interface__.items() if k != "stream"}
    v2.__cuda_array_interface__["version"] = 2
    assert device_matrix(v2).stream is None


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
    """A NumPy array copied to GPU memory, exposing __cuda_array_interface__ v3 as CuPy does: the copy
    is queued on a non-blocking stream of the producer's own and still in flight when the array is
    handed over; the interface names that stream, which the consumer must wait on."""

    def __init__(self, host):
        self.rt = _cudart()
        self.host = np.ascontiguousarray(host)
        self.ptr, self.stream = ctypes.c_void_p(), ctypes.c_void_p()
        assert self.rt.cudaStreamCreateWithFlags(ctypes.byref(self.stream), 1) == 0  # cudaStreamNonBlocking
        assert self.rt.cudaMalloc(ctypes.byref(self.ptr), ctypes.c_size_t(max(self.host.nbytes, 1))) == 0
        assert self.rt.cudaMemcpyAsync(self.ptr, self.host.ctypes.data_as(ctypes.c_void_p),
                                       ctypes.c_size_t(self.host.nbytes), 1, self.stream) == 0  # host to device
        self.__cuda_array_interface__ = {"shape": self.host.shape, "typestr": self.host.dtype.str,
                                         "data": (self.ptr.value, False), "strides": None, "version": 3,
                                         "stream": self.stream.value}

    def __del__(self):
        self.rt.cudaStreamSynchronize(self.stream)
        self.rt.cudaFree(self.ptr)
        self.rt.cudaStreamDestroy(self.stream)


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


def _no_dlpack_interface(t):
    """t seen through DLPack alone (a PyTorch tensor also has __cuda_array_interface__, tried first)."""

    class Exporter:
        def __dlpack__(self, stream=None):
            return t.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return t.__dlpack_device__()

    return Exporter()


@needs_gpu
def test_pytorch_and_cupy_arrays_written_on_their_own_streams_are_waited_for():
    """Real producers, their arrays written on a side stream behind ~0.1 s of queued work and handed
    over at once: read before the work is done, the rows would be garbage. PyTorch's interface (v2)
    names no stream (the binding waits on the device); through DLPack it is asked for stream 1 and
    orders its stream before the legacy default one; CuPy's (v3) names its stream."""
    x = (load_digits().data / 16).astype(np.float32)
    kw = dict(n_components=16, n_iter=2, batch_size=50, random_state=0, device="cuda")
    ref = rbm.BernoulliRBM(**kw).fit(x).components_
    tried = 0
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        for wrap in (lambda t: t, _no_dlpack_interface):
            side = torch.cuda.Stream()
            with torch.cuda.stream(side):
                torch.cuda._sleep(200_000_000)  # ~0.1 s of spinning queued before the rows are written
                t = torch.from_numpy(x).to("cuda", non_blocking=True) * 1.0
                got = rbm.BernoulliRBM(**kw).fit(wrap(t)).components_
            assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-3  # as from NumPy (above)
            tried += 1
    try:
        import cupy
    except ImportError:
        cupy = None
    if cupy is not None:
        with cupy.cuda.Stream(non_blocking=True):
            busy = cupy.full((4096, 4096), 1e-3, dtype=cupy.float32)
            for _ in range(20):  # ~0.1 s of GEMMs queued before the rows are written
                busy = busy @ busy
            c = cupy.asarray(x) * 1.0
            got = rbm.BernoulliRBM(**kw).fit(c).components_
        assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-3
        tried += 1
    if tried == 0:
        pytest.skip("neither PyTorch with CUDA nor CuPy is installed here")
