"""CUDA arrays (CuPy, PyTorch, Numba, JAX, ...) as training input, read where they are.

Two protocols describe an array in GPU memory: ``__cuda_array_interface__`` (a dict: pointer, shape,
typestr, strides in bytes, the producer's stream) and DLPack (``__dlpack__`` returns a capsule holding a
``DLManagedTensor``, whose layout the DLPack specification fixes; ``__dlpack_device__`` says where it
lives). Either becomes a ``device_matrix``: what rbm._core.train needs to read the rows on the GPU
without a trip through host memory (converted there to float32 rows where the dtype or layout differ)."""
import ctypes

import numpy as np

from . import _core

_DL_CUDA, _DL_CUDA_MANAGED = 2, 13  # DLDeviceType values of GPU memory the CUDA runtime reads
LEGACY_DEFAULT_STREAM = 1  # the stream value both protocols use for CUDA's legacy default stream


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

# DLPack type codes (kDLInt 0, kDLUInt 1, kDLFloat 2, kDLBool 6) and bits -> NumPy typestr.
_DL_TYPES = {(0, 8): "|i1", (0, 16): "<i2", (0, 32): "<i4", (0, 64): "<i8", (1, 8): "|u1", (1, 16): "<u2",
             (1, 32): "<u4", (1, 64): "<u8", (2, 16): "<f2", (2, 32): "<f4", (2, 64): "<f8", (6, 8): "|b1"}


def _dlpack_device(X):
    try:
        return tuple(int(v) for v in X.__dlpack_device__())
    except Exception:  # noqa: BLE001 - not a DLPack exporter we can ask
        return None


def is_device_array(X):
    """Whether X lives in GPU memory (a CUDA array by either protocol), not host memory."""
    if isinstance(X, np.ndarray):
        return False
    if hasattr(X, "__cuda_array_interface__"):
        return True
    dev = _dlpack_device(X) if hasattr(X, "__dlpack__") else None
    return dev is not None and dev[0] in (_DL_CUDA, _DL_CUDA_MANAGED)


class device_matrix:
    """A 2-D array in GPU memory: device_pointer, shape, typestr, strides (bytes), stream (the one the
    producer's work is ordered on, as the protocols number it, or None: unknown), device_id; keeps the
    producer's object (or DLPack capsule) alive. The binding waits on `stream` before every read."""

    def __init__(self, X):
        self._owner = X
        if hasattr(X, "__cuda_array_interface__"):
            self._from_interface(X.__cuda_array_interface__)
        else:
            self._from_dlpack(X)
        if len(self.shape) != 2:
            raise ValueError(f"Expected a 2D array, got a {len(self.shape)}-D CUDA array instead")
        if self.shape[0] < 1 or self.shape[1] < 1:
            raise ValueError(f"Found array with {self.shape[0]} sample(s) and {self.shape[1]} feature(s) "
                             "while a minimum of 1 is required.")
        try:
            self.dtype = np.dtype(self.typestr)
        except TypeError:
            raise ValueError(f"unsupported CUDA array dtype {self.typestr!r}") from None
        if self.dtype.kind not in "biuf":
            raise ValueError(f"a CUDA array of dtype {self.dtype} is not numeric")

    def _from_interface(self, cai):
        self.shape = tuple(int(v) for v in cai["shape"])
        self.typestr = cai["typestr"]
        itemsize = np.dtype(self.typestr).itemsize if self.typestr[1:2] != "V" else 0
        strides = cai.get("strides")
        if strides is None:  # C order
            strides = tuple(int(np.prod(self.shape[i + 1:], dtype=np.int64)) * itemsize for i in range(len(self.shape)))
        self.strides = tuple(int(v) for v in strides)
        self.device_pointer = int(cai["data"][0])
        # Version 3 names the producer's stream (1: legacy default, 2: per-thread default, else a
        # handle); version 2 (PyTorch) has none, and None is unknown too: the binding waits on the device.
        self.stream = cai.get("stream")
        self.device_id = None  # the CUDA runtime finds it from the pointer

    def _from_dlpack(self, X):
        # stream=1: the producer orders its work before the legacy default stream, which the binding
        # then waits on (stream=None would mean "the legacy default stream" too, by the DLPack
        # specification, but PyTorch synchronises nothing for it). A producer that takes no stream
        # argument leaves the stream unknown: the binding waits on the whole device.
        # Host memory (NumPy exports DLPack too) has no stream to name: the specification wants None.
        dev = _dlpack_device(X)
        ask = LEGACY_DEFAULT_STREAM if dev is not None and dev[0] in (_DL_CUDA, _DL_CUDA_MANAGED) else None
        try:
            capsule = X.__dlpack__(stream=ask)
            self.stream = ask
        except TypeError:
            capsule = X.__dlpack__()
            self.stream = None
        self._capsule = capsule  # its destructor calls the producer's deleter once we are done
        managed = _DLManagedTensor.from_address(_capsule_pointer(capsule, b"dltensor"))
        t = managed.dl_tensor
        key = (t.dtype.code, t.dtype.bits)
        if t.dtype.lanes != 1 or key not in _DL_TYPES:
            raise ValueError(f"unsupported DLPack dtype (code {t.dtype.code}, {t.dtype.bits} bits, {t.dtype.lanes} lanes)")
        self.typestr = _DL_TYPES[key]
        itemsize = t.dtype.bits // 8
        self.shape = tuple(int(t.shape[i]) for i in range(t.ndim))
        if t.strides:
            self.strides = tuple(int(t.strides[i]) * itemsize for i in range(t.ndim))
        else:
            self.strides = tuple(int(np.prod(self.shape[i + 1:], dtype=np.int64)) * itemsize for i in range(t.ndim))
        self.device_pointer = int(t.data or 0) + int(t.byte_offset)
        self.device_id = int(t.device.device_id)
        self.device_type = int(t.device.device_type)

    def to_host(self):
        """A NumPy copy (for the methods that compute on the host, or a CPU fit)."""
        if not _core.cuda_built():
            raise ValueError("X is a CUDA array, but this rbm was built without CUDA; pass a NumPy array "
                             "(e.g. cupy.asnumpy(X) or X.cpu().numpy())")
        return _core.device_to_host(self)
