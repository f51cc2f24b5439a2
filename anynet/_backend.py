"""Array backends: the one module that knows about array_api_compat.

Everything else in anynet calls Array API standard functions on the ``xp``
namespace resolved here, once, at a public entry point. Backend quirks (how
to tell whether CuPy has a GPU, where JAX keeps its devices, how an array
gets back to the host) live in this module and nowhere else.
"""
import contextlib
import ctypes
import importlib
import os
import sys
import warnings
from dataclasses import dataclass

import array_api_compat
import numpy as np

#: Backend names accepted by ``backend=``, besides "auto" and a namespace module.
BACKENDS = ("numpy", "cupy", "torch", "jax", "array_api_strict")
#: Floating dtypes a network can hold.
FLOAT_DTYPES = ("float32", "float64")

# module name of an array namespace -> anynet's backend name
_MODULE_NAMES = {
    "numpy": "numpy", "array_api_compat.numpy": "numpy",
    "cupy": "cupy", "array_api_compat.cupy": "cupy",
    "torch": "torch", "array_api_compat.torch": "torch",
    "jax.numpy": "jax", "jax": "jax",
    "array_api_strict": "array_api_strict",
}


@dataclass(frozen=True)
class Backend:
    """A resolved backend: its name, its Array API namespace and one device."""

    name: str
    xp: object
    device: object

    def __repr__(self):
        return f"Backend(name={self.name!r}, device={self.device!r})"

    def __reduce__(self):
        """Pickle as (name, device): the namespace module is imported again on loading."""
        default = self.device == _default_device(self.name, self.xp)
        return resolve_backend, (self.name, None if default else self.device)


def _import_namespace(name):
    """Return the Array API namespace for a backend name, or raise ImportError."""
    if name == "numpy":
        return array_api_compat.array_namespace(np.empty(0))
    if name == "cupy":
        import cupy  # noqa: F401  (ImportError names the missing package)
        return importlib.import_module("array_api_compat.cupy")
    if name == "torch":
        import torch  # noqa: F401
        return importlib.import_module("array_api_compat.torch")
    if name == "jax":
        return importlib.import_module("jax.numpy")
    return importlib.import_module(name)  # array_api_strict


def cuda_unavailable_reason():
    """Why CuPy cannot run here (a sentence), or None when a CUDA device is usable."""
    try:
        import cupy
    except ImportError as exc:
        return f"CuPy is not installed ({exc}); install anynet[cupy]"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError, missing driver libraries, ...
        return f"CuPy is installed but finds no usable CUDA device ({exc})"
    return None if count > 0 else "CuPy is installed but sees no CUDA device"


def _caller_stacklevel():
    """The stacklevel that points a warning at the first frame outside anynet."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _backend_name(backend):
    if isinstance(backend, str):
        if backend in BACKENDS:
            return backend
        raise ValueError(
            f"backend={backend!r} is not known; use one of "
            f"{', '.join(repr(b) for b in BACKENDS + ('auto',))} or a namespace module")
    name = _MODULE_NAMES.get(getattr(backend, "__name__", None))
    if name is None:
        raise TypeError(
            f"backend must be a name or an Array API namespace module, got {backend!r}")
    return name


def _default_device(name, xp):
    if name == "jax":
        import jax
        return jax.devices()[0]
    return xp.__array_namespace_info__().default_device()


def resolve_backend(backend="numpy", device=None):
    """Resolve ``backend`` and ``device`` to a :class:`Backend`.

    Parameters
    ----------
    backend : str, module or Backend
        One of ``BACKENDS``, ``"auto"`` (CuPy when a CUDA device is usable,
        else NumPy with a warning), or an array namespace module such as
        ``array_api_strict`` or ``torch``.
    device : object, optional
        A device of that backend; its default device when None.
    """
    if isinstance(backend, Backend):  # already resolved
        if device is None or device == backend.device:
            return backend
        backend = backend.name
    if backend == "auto":
        reason = cuda_unavailable_reason()
        if reason is None:
            backend = "cupy"
        else:
            warnings.warn(f"backend='auto' chose NumPy on the CPU: {reason}",
                          UserWarning, stacklevel=_caller_stacklevel())
            backend = "numpy"
    name = _backend_name(backend)
    if name == "cupy" and (reason := cuda_unavailable_reason()) is not None:
        raise RuntimeError(f"backend='cupy' cannot run: {reason}")
    try:
        xp = _import_namespace(name)
    except ImportError as exc:
        raise ImportError(
            f"backend={name!r} needs the {exc.name or name} package, which is not "
            f"installed here; install anynet[{name}]") from exc
    if device is None:
        device = _default_device(name, xp)
    else:
        try:
            xp.empty((0,), device=device)
        except Exception as exc:
            raise ValueError(f"device={device!r} is not a device of backend {name!r}: "
                             f"{exc}") from exc
    return Backend(name, xp, device)


def allow_float64(backend):
    """Let JAX compute in float64, which it disables by default (a process-wide switch).

    Other backends always can; anynet never flips it on its own except for the
    demo, whose tutorial run is float64.
    """
    if backend == "jax" or getattr(backend, "name", None) == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)


def float_dtype(backend, dtype):
    """Return ``(name, xp_dtype)`` for a float32/float64 request, checked on the device."""
    name = dtype if isinstance(dtype, str) else (
        getattr(dtype, "name", None) or getattr(dtype, "__name__", None)
        or str(dtype).rsplit(".", 1)[-1])
    if name not in FLOAT_DTYPES:
        raise TypeError(f"dtype={dtype!r} is not supported; use 'float32' or 'float64'")
    xp_dtype = getattr(backend.xp, name)
    # JAX silently gives float32 unless x64 is enabled; some devices lack float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            probe = backend.xp.zeros((1,), dtype=xp_dtype, device=backend.device)
        except Exception as exc:
            raise TypeError(f"dtype={name!r} is not available on {backend}: {exc}") from exc
    if probe.dtype != xp_dtype:
        hint = (" (enable it with jax.config.update('jax_enable_x64', True))"
                if backend.name == "jax" else "")
        raise TypeError(f"dtype={name!r} is not available on {backend}{hint}")
    return name, xp_dtype


def is_array(x):
    """True for an array of any Array API library (NumPy included)."""
    return array_api_compat.is_array_api_obj(x)


def namespace_of(x):
    """The Array API namespace of an array (array_api_compat's wrapper where needed)."""
    return array_api_compat.array_namespace(x)


def namespace_name(x):
    """anynet's name for the library an array comes from."""
    xp = array_api_compat.array_namespace(x)
    return _MODULE_NAMES.get(xp.__name__, xp.__name__)


def is_dask_array(x):
    """True for a dask.array (whose chunks may be NumPy or CuPy arrays)."""
    return array_api_compat.is_dask_array(x)


def device_of(x):
    return array_api_compat.device(x)


def is_writeable(x):
    """Whether ``x`` can be updated in place (False for JAX)."""
    return array_api_compat.is_writeable_array(x)


def to_numpy(x):
    """Copy an array of any backend to a host NumPy array (an explicit transfer)."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_jax_array(x):
        import jax
        return np.asarray(jax.device_get(x))
    if is_array(x):  # array_api_strict and other DLPack libraries
        xp = array_api_compat.array_namespace(x)
        cpu = xp.__array_namespace_info__().default_device()
        return np.from_dlpack(array_api_compat.to_device(x, cpu))
    return np.asarray(x)


def move(x, backend):
    """Return ``x`` as an array of ``backend`` on its device (its dtype unchanged).

    Arrays already there are returned as they are; arrays of the same library on
    another device go with ``to_device``; anything else goes through the host.
    """
    xp, device = backend.xp, backend.device
    if is_array(x) and namespace_name(x) == backend.name:
        return x if device_of(x) == device else array_api_compat.to_device(x, device)
    return xp.asarray(to_numpy(x), device=device)


def floating_point_warnings_off(backend):
    """A context in which NumPy-based backends do not warn about overflow or NaN.

    Training checks for non-finite values itself (DivergenceError) and says more
    than NumPy's RuntimeWarnings would; other backends never warn.
    """
    if backend.name in ("numpy", "array_api_strict"):
        return np.errstate(over="ignore", invalid="ignore", divide="ignore")
    return contextlib.nullcontext()


_ALLOCATOR_TUNED = False


def tune_host_allocator():
    """Let glibc keep freed memory for reuse instead of returning it to the OS.

    NumPy allocates a new array for every operation, and glibc hands blocks
    of 128 KiB and more back to the OS as soon as they are freed: the next
    step's arrays of the same size then cost a page fault per 4 KiB page.
    On the mnist-shaped benchmark that made a training step two to four times
    slower. Raising the mmap and trim thresholds (to 32 and 128 MiB) keeps
    those blocks in the heap. It affects the whole process, once; set
    ANYNET_TUNE_MALLOC=0 to leave the allocator alone. Elsewhere than glibc,
    nothing happens.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or os.environ.get("ANYNET_TUNE_MALLOC", "1") == "0":
        return False
    _ALLOCATOR_TUNED = True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(
        mallopt(m_trim_threshold, 128 << 20))
