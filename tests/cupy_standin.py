"""A stand-in for CuPy that anynet resolves as the backend named "cupy", and that
counts every transfer between the host and the "GPU".

``tests/cupy_like.py`` imitates CuPy's device model under array_api_strict's
name, so anynet's lines gated on the name "cupy" never run there. This module,
once :func:`install`-ed, *is* ``cupy`` and ``array_api_compat.cupy`` for the
process (``sys.modules``): ``import cupy``, ``cupy.cuda.Device(n)``,
``cupy.cuda.runtime.getDeviceCount()``, ``cupy.cuda.nccl`` (a fake
communicator that sums in-process), ``array_api_compat.is_cupy_array`` and
``array_namespace`` all find it. Its arrays are array_api_strict arrays of a
subclass named ``ndarray``, on ordinal devices 0 and 1 (array_api_strict's
"device1" and "device2", which refuse every implicit conversion to NumPy).

Like CuPy:

- ``Device(n)`` is a context manager that makes device n current, ``Device()``
  is the current device (0 outside any ``with``), a device pickles as its
  ordinal, and an ordinal that does not exist raises ``CUDARuntimeError``;
- creation functions (``zeros``, ``empty``, ``arange``, ``*_like`` ...) make
  their array on the current device (a ``device=`` that is not current is an
  error here, where CuPy would ignore it), ``asarray`` honours ``device=``;
- kernels (namespace functions, operators) refuse arrays that are not on the
  current device;
- ``x.get()`` copies to the host; ``np.asarray(x)`` is refused.

Stricter than CuPy, so that anynet cannot lean on CuPy's leniency: a NumPy
array or NumPy scalar passed to a kernel or used as an index (which CuPy would
upload silently) is a TypeError; only ``asarray`` uploads.

Counting: every device-to-host read (``get()``, ``float()``, ``bool()``,
``int()``, ``item()``) and every host-to-device write (``asarray`` of host data)
adds to :data:`COUNTS`; :func:`counting` gives a fresh count and where each
transfer came from.
"""
import contextlib
import functools
import importlib.machinery
import sys
import threading
import traceback
import types

import array_api_compat
import array_api_compat.common._helpers as _helpers
import array_api_strict as _strict
import numpy as np
from array_api_strict._array_object import Array as _Array

#: ordinal -> array_api_strict device name (neither converts to NumPy implicitly)
_NAMES = {0: "device1", 1: "device2"}
_CREATION = ("arange", "empty", "empty_like", "eye", "full", "full_like", "linspace",
             "ones", "ones_like", "zeros", "zeros_like")
_local = threading.local()


class CUDARuntimeError(RuntimeError):
    """cupy_backends.cuda.api.runtime.CUDARuntimeError."""


# --- counting ---------------------------------------------------------------------

class Counts:
    """Transfers since the last :meth:`reset`: ``reads`` (device to host) and
    ``writes`` (host to device), each with the places they came from."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.reads, self.writes, self.log = 0, 0, []

    def add(self, kind, what):
        setattr(self, kind, getattr(self, kind) + 1)
        frame = next((f for f in reversed(traceback.extract_stack()[:-3])
                      if "cupy_standin" not in f.filename), None)
        self.log.append(f"{kind[:-1]} {what} at {frame.filename.rsplit('/', 2)[-2:]}:"
                        f"{frame.lineno} {frame.name}" if frame else f"{kind[:-1]} {what}")

    def __repr__(self):
        return f"Counts(reads={self.reads}, writes={self.writes})\n  " + "\n  ".join(self.log)


COUNTS = Counts()


@contextlib.contextmanager
def counting():
    """A fresh :data:`COUNTS` for the block."""
    COUNTS.reset()
    yield COUNTS


# --- devices ----------------------------------------------------------------------

class Device(_strict.Device):
    """``cupy.cuda.Device``: an ordinal; ``Device()`` is the current device."""

    __slots__ = ("id",)

    def __init__(self, device=None):
        if device is None:
            device = current_device().id
        elif isinstance(device, Device):
            device = device.id
        if isinstance(device, bool) or not isinstance(device, int) or device not in _NAMES:
            raise CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal "
                                   f"({device!r})")
        super().__init__(_NAMES[device])
        self.id = device

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()

    def __reduce__(self):
        return Device, (self.id,)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"

    use = __enter__


def _stack():
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current_device():
    stack = _stack()
    return stack[-1] if stack else Device(0)


def _check_operand(x, what):
    if isinstance(x, (np.ndarray, np.generic)):
        raise TypeError(f"cupy stand-in {what}: a NumPy {type(x).__name__} given to a kernel "
                        f"(CuPy would upload it implicitly); upload it with asarray")
    if isinstance(x, _Array) and x.device != current_device():
        raise ValueError(f"cupy stand-in {what}: array device must be the current device: "
                         f"array device = {x.device!r}, current = {current_device()!r}")


# --- arrays -----------------------------------------------------------------------

class ndarray(_Array):
    """``cupy.ndarray``: an array_api_strict array on an ordinal device."""

    def get(self, stream=None, order="C", out=None):
        """A host copy (a counted read)."""
        COUNTS.add("reads", "get()")
        return np.array(self._array, order=order, copy=True)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __buffer__(self, flags):
        raise TypeError("cupy stand-in: no buffer protocol; use .get()")

    def __dlpack__(self, *args, **kwargs):
        raise BufferError("cupy stand-in: the array lives on a GPU; use .get()")

    def __getitem__(self, key):
        _check_index(key)
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        _check_index(key)
        _check_operand(value, "__setitem__")
        return super().__setitem__(key, value)

    @property
    def data(self):
        """The memory (``data.ptr``: its address, as NCCL takes it)."""
        return types.SimpleNamespace(ptr=self._array.ctypes.data)

    def item(self):
        COUNTS.add("reads", "item()")
        return self._array.item()

    def tolist(self):
        COUNTS.add("reads", "tolist()")
        return self._array.tolist()


def _scalar_read(name):
    original = getattr(_Array, name)

    def read(self):
        COUNTS.add("reads", f"{name}")
        return original(self)
    read.__name__ = name
    return read


for _name in ("__float__", "__bool__", "__int__", "__index__", "__complex__"):
    setattr(ndarray, _name, _scalar_read(_name))


def _check_index(key):
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, (np.ndarray, np.generic)):
            raise TypeError(f"cupy stand-in: a NumPy {type(k).__name__} as an index (CuPy "
                            f"would upload it implicitly); upload it with asarray")
        _check_operand(k, "index")


def _ours(x):
    """Results of array_api_strict's functions as this module's ndarray."""
    if isinstance(x, _Array) and not isinstance(x, ndarray):
        device = x.device if isinstance(x.device, Device) else current_device()
        return ndarray._new(x._array, device=device)
    if isinstance(x, tuple):
        return type(x)(*map(_ours, x)) if hasattr(x, "_fields") else tuple(map(_ours, x))
    if isinstance(x, list):
        return [_ours(v) for v in x]
    return x


# the operators of array_api_strict that return the base class
def _returning_ours(name):
    original = getattr(_Array, name)

    def method(self, *args, **kwargs):
        for other in args:
            _check_operand(other, name)
        _check_operand(self, name)
        return _ours(original(self, *args, **kwargs))
    method.__name__ = name
    return method


for _name in ("__add__", "__sub__", "__mul__", "__truediv__", "__matmul__", "__pow__",
              "__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rmatmul__", "__rpow__",
              "__iadd__", "__isub__", "__imul__", "__itruediv__", "__neg__", "__pos__",
              "__abs__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
              "__and__", "__or__", "__xor__", "__invert__", "__floordiv__", "__mod__"):
    setattr(ndarray, _name, _returning_ours(_name))
ndarray.T = property(lambda self: _ours(_Array.T.fget(self)))
ndarray.mT = property(lambda self: _ours(_Array.mT.fget(self)))
ndarray.to_device = lambda self, device, /, stream=None: _to_device(self, device)


def _to_device(x, device):
    if device == "cpu":
        return x.get()
    with Device(device):
        return asarray(x)


# --- the namespace ----------------------------------------------------------------

def asarray(obj, /, *, dtype=None, device=None, copy=None):
    """Honours ``device=`` (array-api-compat's CuPy asarray does); host data is a
    counted write, an array of another device a device-to-device copy."""
    device = current_device() if device is None else Device(device)
    if isinstance(obj, ndarray):
        if obj.device == device and dtype in (None, obj.dtype) and not copy:
            return obj
        return ndarray._new(np.array(_strict.astype(obj, dtype or obj.dtype)._array,
                                     copy=True), device=device)
    if isinstance(obj, _Array):
        raise TypeError("cupy stand-in asarray: an array_api_strict array is not host data")
    COUNTS.add("writes", f"asarray({type(obj).__name__})")
    return _ours(_strict.asarray(obj, dtype=dtype, device=device, copy=copy))


array = asarray


def _kernel(function):
    @functools.wraps(function)
    def run(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            for x in (value if isinstance(value, (list, tuple)) else (value,)):
                _check_operand(x, function.__name__)
        return _ours(function(*args, **kwargs))
    return run


def _creation(function):
    @functools.wraps(function)
    def create(*args, device=None, **kwargs):
        here = current_device()
        if device is not None and Device(device) != here:
            raise ValueError(f"cupy stand-in {function.__name__}(device={device!r}) outside "
                             f"`with device:`: CuPy makes it on the current device, {here!r}")
        return _ours(function(*args, device=here, **kwargs))
    return create


class _Info:
    """The inspection namespace; the default device is Device(0), as CuPy's."""

    def __init__(self):
        self._info = _strict.__array_namespace_info__()

    def default_device(self):
        return Device(0)

    def devices(self):
        return [Device(n) for n in _NAMES]

    def default_dtypes(self, *, device=None):
        return self._info.default_dtypes(device=None if device is None else
                                         _strict.Device(Device(device)._device))

    def __getattr__(self, name):
        return getattr(self._info, name)


def _namespace_getattr(name):
    value = getattr(_strict, name)
    if name in _CREATION:
        value = _creation(value)
    elif callable(value) and not isinstance(value, type) and not name.startswith("_"):
        value = _kernel(value)
    setattr(NAMESPACE, name, value)  # looked up once
    return value


# --- cupy.cuda: runtime, streams, NCCL ---------------------------------------------

class _Stream:
    ptr = 0


class NcclCommunicator:
    """A communicator of ``size`` ranks in this process: ``allReduce`` sums the
    buffers the ranks pass (each rank a thread, or rank 0 alone when size is 1)."""

    calls = []  # (count, dtype) of every allReduce, for the tests

    def __init__(self, size, uid, rank):
        if size != 1:
            raise CUDARuntimeError("the stand-in's NCCL runs one rank")
        self.size, self.rank, self.device = size, rank, current_device()

    def allReduce(self, send, recv, count, dtype, op, stream):
        NcclCommunicator.calls.append((count, dtype))  # one rank: the sum is the buffer

    def destroy(self):
        pass


def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # for importlib.util.find_spec
    return module


_runtime = _module("cupy.cuda.runtime", getDeviceCount=lambda: len(_NAMES),
                   deviceGetPCIBusId=lambda n: f"0000:{Device(n).id + 1:02x}:00.0",
                   CUDARuntimeError=CUDARuntimeError)
_nccl = _module("cupy.cuda.nccl", available=True, NcclCommunicator=NcclCommunicator,
                get_unique_id=lambda: b"stand-in", NCCL_FLOAT32=7, NCCL_FLOAT64=8,
                NCCL_SUM=0)
_cuda = _module("cupy.cuda", Device=Device, runtime=_runtime, nccl=_nccl,
                get_current_stream=lambda: _Stream())

#: ``cupy`` and ``array_api_compat.cupy`` at once (anynet imports the first for
#: ``cupy.cuda`` and computes with the second; CuPy's own functions are not used)
NAMESPACE = _module("array_api_compat.cupy", ndarray=ndarray, asarray=asarray, array=array,
                    cuda=_cuda, __array_namespace_info__=_Info,
                    __getattr__=_namespace_getattr, __array_api_version__="2024.12")
for _name in ("float32", "float64", "int32", "int64", "bool", "uint8", "int8", "int16",
              "uint16", "uint32", "uint64", "complex64", "complex128", "e", "pi", "inf",
              "nan", "newaxis"):
    setattr(NAMESPACE, _name, getattr(_strict, _name))


def install(monkeypatch):
    """Make this stand-in ``cupy`` (and ``array_api_compat.cupy``) until the test ends."""
    for name, module in (("cupy", NAMESPACE), ("cupy.cuda", _cuda),
                         ("cupy.cuda.runtime", _runtime), ("cupy.cuda.nccl", _nccl),
                         ("array_api_compat.cupy", NAMESPACE)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(array_api_compat, "cupy", NAMESPACE, raising=False)
    # array_api_compat caches "is this class cupy.ndarray?" per class: forget the answers
    # given without (or with) the stand-in
    _helpers._issubclass_fast.cache_clear()
    _stack().clear()
    COUNTS.reset()
    NcclCommunicator.calls = []
    return NAMESPACE


def uninstall():
    """Forget the cached class answers (called after monkeypatch restored sys.modules)."""
    _helpers._issubclass_fast.cache_clear()
