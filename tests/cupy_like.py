"""A test backend that behaves like CuPy, without a GPU: array_api_strict's arrays
and devices under CuPy's device model.

CuPy computes on the *current* device, and array-api-compat's CuPy namespace
ignores ``device=`` in its creation functions (``zeros``, ``empty``, ``arange``,
``zeros_like`` ...): only ``asarray`` honours it. array_api_strict's own
``Device("device1")`` honours ``device=`` everywhere, the opposite, so it cannot
catch code that forgets to make its device current. This namespace can:

- ``Device`` objects are context managers, as ``cupy.cuda.Device``: ``with
  Device("device1"):`` makes it current (per thread), and ``Device()`` is the
  current device;
- creation functions make arrays on the current device, ``*_like`` functions
  included (as CuPy's do), and where CuPy would silently ignore a ``device=``
  that is not the current one, they raise; ``asarray`` honours ``device=``;
- every namespace function and every operator (``+``, ``@``, ``-=``, indexing)
  refuses arrays of this namespace that are not on the current device, as
  CuPy's kernels do ("Array device must be same as the current device");
- the default device (``__array_namespace_info__().default_device()``) is fixed,
  as CuPy's ``Device(0)``;
- array_api_strict itself refuses to combine arrays of two devices and to turn
  a non-CPU array into NumPy implicitly.

Pass the module as a backend: ``anynet.resolve_backend(cupy_like,
cupy_like.Device("device1"))``. Its arrays are array_api_strict arrays, so the
backend's name is "array_api_strict".
"""
import functools
import threading

import array_api_strict as _strict
from array_api_strict._array_object import Array as _Array

_CREATION = ("arange", "empty", "empty_like", "eye", "full", "full_like", "linspace",
             "ones", "ones_like", "zeros", "zeros_like")
_local = threading.local()


class Device(_strict.Device):
    """An array_api_strict device that is made current the way ``cupy.cuda.Device`` is."""

    __slots__ = ()

    def __init__(self, device=None):
        super().__init__(current_device()._device if device is None else device)

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()

    def __repr__(self):
        return f"cupy_like.Device({self._device!r})"


def _stack():
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current_device():
    """The device made current by the innermost ``with device:``; CPU_DEVICE outside."""
    stack = _stack()
    return stack[-1] if stack else _strict.Device("CPU_DEVICE")


def _check(x, what):
    here = current_device()
    if isinstance(x, _Array) and x.device != here:
        raise ValueError(f"cupy_like {what}: array device must be the current device: "
                         f"array device = {x.device!r}, current = {here!r}")


def _on_current_device(function):
    """A namespace function that, like a CuPy kernel, runs on the current device only."""

    @functools.wraps(function)
    def checked(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            for x in (value if isinstance(value, (list, tuple)) else (value,)):
                _check(x, function.__name__)
        return function(*args, **kwargs)
    return checked


def _ignoring_device(function):
    """A creation function that, like array-api-compat's CuPy ones, makes its array on
    the current device; a device= that is not current, which CuPy would silently
    ignore, is an error here."""

    @functools.wraps(function)
    def create(*args, device=None, **kwargs):
        here = current_device()
        if device is not None and device != here:
            raise ValueError(f"cupy_like.{function.__name__}(device={device!r}) outside "
                             f"`with device:`: CuPy would make it on the current device, "
                             f"{here!r}")
        return function(*args, device=here, **kwargs)
    return create


_OPERATORS = ("__abs__", "__add__", "__and__", "__eq__", "__floordiv__", "__ge__",
              "__getitem__", "__gt__", "__iadd__", "__iand__", "__imatmul__", "__imul__",
              "__invert__", "__ior__", "__ipow__", "__isub__", "__itruediv__", "__le__",
              "__lt__", "__matmul__", "__mod__", "__mul__", "__ne__", "__neg__", "__or__",
              "__pos__", "__pow__", "__radd__", "__rmatmul__", "__rmul__", "__rpow__",
              "__rsub__", "__rtruediv__", "__setitem__", "__sub__", "__truediv__",
              "__xor__")


def _operators_on_current_device():
    """array_api_strict's operators, checked like CuPy's kernels for this namespace's
    arrays (those whose device is a cupy_like.Device); other arrays as before."""
    for name in _OPERATORS:
        original = getattr(_Array, name, None)
        if original is None or getattr(original, "cupy_like", False):
            continue

        def checked(self, *args, _original=original, _name=name):
            if isinstance(self.device, Device):
                _check(self, _name)
                for other in args:
                    if isinstance(other, _Array) and isinstance(other.device, Device):
                        _check(other, _name)
            return _original(self, *args)
        checked.cupy_like = True
        setattr(_Array, name, checked)


def asarray(obj, /, *, dtype=None, device=None, copy=None):
    """Honours ``device=`` (as array-api-compat's CuPy ``asarray``); else the current device."""
    return _strict.asarray(obj, dtype=dtype, copy=copy,
                           device=current_device() if device is None else device)


class _Info:
    """The inspection namespace: the default device is fixed, as CuPy's Device(0)."""

    def __init__(self):
        self._info = _strict.__array_namespace_info__()

    def default_device(self):
        return Device("CPU_DEVICE")

    def devices(self):
        return [Device(d._device) for d in self._info.devices()]

    def __getattr__(self, name):
        return getattr(self._info, name)


def __array_namespace_info__():
    return _Info()


_operators_on_current_device()


def __getattr__(name):
    value = getattr(_strict, name)
    if name in _CREATION:
        value = _ignoring_device(value)
    elif callable(value) and not isinstance(value, type) and not name.startswith("_"):
        value = _on_current_device(value)
    globals()[name] = value  # looked up once
    return value
