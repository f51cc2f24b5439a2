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
    """A resolved backend: its name, its Array API namespace and one device.

    The backend owns its device. Libraries such as CuPy work on a *current*
    device: their creation functions (``zeros``, ``empty``, ``arange``,
    ``zeros_like``) ignore ``device=`` and every kernel runs on the current
    device. :meth:`activate` makes this backend's device current; anynet enters
    it at every public entry point, so arrays are made and combined where the
    network lives. For libraries that honour ``device=`` it does nothing.

    Attributes
    ----------
    name : str
        The library its arrays belong to ("numpy", "cupy", "torch", "jax",
        "array_api_strict", or another library's module name).
    xp : module
        The Array API namespace every computation calls.
    device : object
        The device the backend's arrays live on.
    """

    name: str
    xp: object
    device: object
    current_device: bool = False  # True: the library follows a current device (CuPy)

    def __repr__(self):
        return f"Backend(name={self.name!r}, device={self.device!r})"

    def activate(self):
        """A context in which the backend's device is the current one (CuPy's ``with device:``)."""
        return self.device if self.current_device else _NO_SCOPE

    def __reduce__(self):
        """Pickle as (namespace, device): the namespace module is imported again on loading."""
        module = self.name if _STANDARD.get(self.name) == self.xp.__name__ else self.xp.__name__
        default = not self.current_device and self.device == _default_device(self.name, self.xp)
        return _resolve_by_module, (module, None if default else self.device)


class _NoScope(contextlib.AbstractContextManager):
    """The scope of a library that honours ``device=``: nothing to make current."""

    def __exit__(self, *exc):
        return None


_NO_SCOPE = _NoScope()


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
        return f"CuPy is not installed ({exc}); {cupy_install_hint()}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError, missing driver libraries, ...
        return f"CuPy is installed but finds no usable CUDA device ({exc})"
    return None if count > 0 else "CuPy is installed but sees no CUDA device"


def caller_stacklevel():
    """The stacklevel that points a warning at the first frame outside anynet."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


# the namespace module anynet uses for each known library
_STANDARD = {"numpy": "array_api_compat.numpy", "cupy": "array_api_compat.cupy",
             "torch": "array_api_compat.torch", "jax": "jax.numpy",
             "array_api_strict": "array_api_strict"}


def _backend_name(backend):
    """anynet's name for a backend name or module; None for another namespace module."""
    if isinstance(backend, str):
        if backend in BACKENDS:
            return backend
        raise ValueError(
            f"backend={backend!r} is not known; use one of "
            f"{', '.join(repr(b) for b in BACKENDS + ('auto',))} or a namespace module")
    name = _MODULE_NAMES.get(getattr(backend, "__name__", None))
    if name is None and not hasattr(backend, "__array_namespace_info__"):
        raise TypeError(
            f"backend must be a name or an Array API namespace module, got {backend!r}")
    return name


def _other_namespace(module):
    """(name, xp) for a namespace module anynet does not know by name: the name is
    the library its arrays belong to (a wrapper of array_api_strict is "array_api_strict")."""
    try:
        probe = module.asarray([0.0])
        return namespace_name(probe), module
    except Exception as exc:
        raise TypeError(f"backend={module.__name__!r} is not a usable Array API namespace "
                        f"({type(exc).__name__}: {exc})") from exc


def _follows_current_device(name, device):
    """Whether a library with devices like ``device`` works on a *current* device
    that ``with device:`` sets.

    CuPy does (array-api-compat's CuPy creation functions ignore ``device=``), and
    so does any library whose devices are context managers in CuPy's way, where
    ``Device()`` is the current device. torch's devices are context managers too,
    but only to set the default of torch's factories, which anynet never relies
    on (it passes ``device=`` everywhere), and entering one slows every operation.
    """
    if name in ("numpy", "torch", "jax"):
        return False
    # CuPy's devices are; an ordinal (device=0) is not a device yet: _as_device makes it one
    return hasattr(type(device), "__enter__")


def _default_device(name, xp):
    if name == "jax":
        import jax
        return jax.devices()[0]
    return xp.__array_namespace_info__().default_device()


def _current_device(name, xp):
    """The device arrays are made on now (CuPy's ``cupy.cuda.Device()``)."""
    if name == "cupy":
        import cupy
        return cupy.cuda.Device()
    return type(_default_device(name, xp))()  # CuPy's convention: Device() is the current one


def _device_from_text(name, xp, text):
    """The device a string names, as the library itself names its devices.

    JAX: "cpu", "gpu", "cuda", "tpu", with ":N" for the N-th of that platform,
    or a device's own str ("TFRT_CPU_0", "cuda:0"); CuPy: "cuda:N" or "N";
    array_api_strict: a Device's name ("CPU_DEVICE", "device1"): the names
    ``anynet info`` prints. NumPy and PyTorch take strings themselves.
    """
    kind, _, index = text.strip().lower().partition(":")
    if name == "jax":
        import jax
        platform = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu", "rocm": "gpu",
                    "tpu": "tpu"}.get(kind)
        if platform is not None and (index == "" or index.isdigit()):
            return jax.devices(platform)[int(index or 0)]
        for device in {*jax.devices(), *jax.devices("cpu")}:
            if text in (str(device), repr(device)):
                return device
        raise ValueError(f"no JAX device is named {text!r}; JAX has "
                         f"{', '.join(map(str, jax.devices()))}")
    if name == "cupy":
        if text.strip().isdigit():
            return int(text)
        if kind == "cuda" and (index == "" or index.isdigit()):  # as torch writes it
            return int(index or 0)
        raise ValueError("name a CUDA device as 'cuda:N' (or an ordinal N)")
    if name in ("numpy", "torch"):
        return text
    devices = xp.__array_namespace_info__().devices()
    for device in devices:  # array_api_strict's Device("device1") is named "device1"
        if text in (str(device), repr(device)) or f"'{text}'" in repr(device):
            return device
    return text


def _as_device(name, xp, device):
    """``device`` checked: a device of the library that exists; a ValueError naming it else.

    A library that follows a current device takes what its Device class takes
    (CuPy: an ordinal), and the device must be one it can make current. A string
    names a device as its library does (``_device_from_text``).
    """
    try:
        if isinstance(device, str):
            device = _device_from_text(name, xp, device)
        if not _follows_current_device(name, device) and _follows_current_device(
                name, _default_device(name, xp)):
            device = type(_current_device(name, xp))(device)  # CuPy: an ordinal
        if _follows_current_device(name, device):
            with device:
                xp.empty((1,), dtype=xp.float32, device=device)
        else:  # the device an array lands on: torch's "cpu" becomes torch.device("cpu")
            device = device_of(xp.empty((1,), dtype=xp.float32, device=device))
    except Exception as exc:
        raise ValueError(f"device={device!r} is not a device of backend {name!r} "
                         f"({type(exc).__name__}: {exc})") from exc
    if getattr(device, "type", None) == "meta":  # torch's: shapes without data
        raise ValueError(f"device={device!r} holds no data (torch's meta device tracks "
                         f"shapes only), so nothing can be trained or predicted there; use "
                         f"'cpu' or a GPU")
    return device


def _resolve_by_module(module, device=None):
    """Unpickle a Backend: its namespace by module name (a known name or an import path)."""
    if module in BACKENDS:
        return resolve_backend(module, device)
    return resolve_backend(importlib.import_module(module), device)


def resolve_backend(backend="numpy", device=None):
    """Resolve ``backend`` and ``device`` to a :class:`Backend`.

    Parameters
    ----------
    backend : str, module or Backend
        One of ``BACKENDS``, ``"auto"`` (CuPy when a CUDA device is usable,
        else NumPy with a warning, once per process), or an Array API namespace
        module such as ``array_api_strict`` or ``torch``.
    device : object, optional
        A device of that backend. When None: the *current* device for
        libraries that have one (CuPy), else the library's default device.

    Raises
    ------
    ValueError
        An unknown name, or a device that is not one of the backend's.
    """
    if isinstance(backend, Backend):  # already resolved
        if device is None or device == backend.device:
            return backend
        backend = backend.xp if backend.xp.__name__ != _STANDARD.get(backend.name) \
            else backend.name
    if isinstance(backend, str) and backend == "auto":
        backend = _auto()
    name = _backend_name(backend)
    if name is None:  # a namespace module anynet does not know by name
        name, xp = _other_namespace(backend)
    else:
        xp = _namespace(name)
    if device is None:
        default = _default_device(name, xp)
        device = _current_device(name, xp) if _follows_current_device(name, default) \
            else default
    else:
        device = _as_device(name, xp, device)
    return Backend(name, xp, device, _follows_current_device(name, device))


_AUTO_WARNED = False


def _auto():
    """The backend "auto" stands for; the NumPy fallback is said once per process."""
    global _AUTO_WARNED
    reason = cuda_unavailable_reason()
    if reason is None:
        return "cupy"
    if not _AUTO_WARNED:
        _AUTO_WARNED = True
        warnings.warn(f"backend='auto' chose NumPy on the CPU: {reason} (said once)",
                      UserWarning, stacklevel=caller_stacklevel())
    return "numpy"


def _namespace(name):
    if name == "cupy" and (reason := cuda_unavailable_reason()) is not None:
        # the user's choice cannot be met here: a ValueError naming it, as a bad name is
        raise ValueError(f"backend='cupy' cannot run: {reason}")
    try:
        return _import_namespace(name)
    except ImportError as exc:
        package = exc.name or name
        hint = cupy_install_hint() if name == "cupy" else \
            f"pip install {_PIP_NAMES.get(name, package)}"
        raise ImportError(
            f"backend={name!r} needs the {package} package, which is not installed "
            f"here; {hint}") from exc


# what to pip-install for each backend (CuPy's wheel: cupy_install_hint)
_PIP_NAMES = {"torch": "torch", "jax": "jax", "array_api_strict": "array-api-strict"}


def cuda_driver_version():
    """The CUDA version the NVIDIA driver supports, as (major, minor), or None where
    there is no driver: asked of libcuda itself (``cuDriverGetVersion``), which
    needs neither CuPy nor a CUDA toolkit."""
    for library in ("libcuda.so.1", "libcuda.so", "nvcuda.dll", "libcuda.dylib"):
        try:
            cuda = ctypes.CDLL(library)
        except OSError:
            continue
        version = ctypes.c_int(0)
        try:
            if cuda.cuDriverGetVersion(ctypes.byref(version)) != 0 or version.value <= 0:
                return None
        except AttributeError:
            return None
        return version.value // 1000, version.value % 1000 // 10
    return None


def cupy_install_hint(driver=None):
    """What to pip-install for CuPy here: the wheel built for the driver's CUDA major
    version (cupy-cuda12x on a CUDA 12 driver, cupy-cuda13x on 13), or why none fits.
    ``driver``: (major, minor), else the driver's own (``cuda_driver_version``)."""
    driver = driver or cuda_driver_version()
    if driver is None:
        return ("no NVIDIA driver was found, which CuPy needs; with one, pip install "
                "the CuPy wheel of its CUDA major version (cupy-cuda12x for CUDA 12)")
    major, minor = driver
    if major < 11:
        return (f"the NVIDIA driver supports CUDA {major}.{minor}, older than any CuPy "
                f"wheel (CUDA 11 and newer): update the driver")
    return f"pip install cupy-cuda{major}x (the NVIDIA driver supports CUDA {major}.{minor})"


def backend_of(x):
    """The Backend an array belongs to: its library, namespace and device."""
    name = namespace_name(x)
    xp = array_api_compat.array_namespace(x)
    device = device_of(x)
    return Backend(name, xp, device, _follows_current_device(name, device))


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
            with backend.activate():  # CuPy's zeros() makes it on the current device
                probe = backend.xp.zeros((1,), dtype=xp_dtype, device=backend.device)
        except Exception as exc:
            raise TypeError(f"dtype={name!r} is not available on {backend}: {exc}") from exc
    if probe.dtype != xp_dtype:
        hint = (" (enable it with jax.config.update('jax_enable_x64', True), or "
                "JAX_ENABLE_X64=1 in the environment)" if backend.name == "jax" else "")
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


def size(x):
    """The number of elements of an array (torch's ``x.size`` is a method)."""
    return array_api_compat.size(x)


def is_writeable(x):
    """Whether ``x`` can be updated in place (False for JAX)."""
    return array_api_compat.is_writeable_array(x)


def host_floats(xp, *scalars):
    """0-d device arrays as Python floats, in one explicit device-to-host transfer
    (one float for one array, else a list).

    Stacking them first makes one transfer (one synchronisation with a GPU) of
    several scalars; it also turns NumPy's reductions, which give NumPy scalars
    rather than 0-d arrays, into an array that ``to_numpy`` takes.
    """
    values = [float(v) for v in to_numpy(xp.stack(list(scalars)))]
    return values[0] if len(values) == 1 else values


def available_memory(backend):
    """Bytes the backend's device can still allocate, or None where it cannot be told.

    A GPU's free memory (CuPy: the driver's free bytes plus those its memory pool
    holds unused; torch: likewise with its caching allocator; JAX: its limit less
    what it uses); for a CPU device, the host's available memory (Linux's
    MemAvailable, else the free pages).
    """
    device = backend.device
    try:
        if backend.name == "cupy":
            import cupy
            with device:
                free, _ = cupy.cuda.runtime.memGetInfo()
            return int(free) + int(cupy.get_default_memory_pool().free_bytes())
        if backend.name == "torch" and getattr(device, "type", "cpu") == "cuda":
            torch = _torch()
            free, _ = torch.cuda.mem_get_info(device)
            unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
            return int(free) + int(unused)
        if backend.name == "jax" and getattr(device, "platform", "cpu") != "cpu":
            stats = device.memory_stats() or {}
            if "bytes_limit" in stats:
                return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
            return None
    except Exception:  # a driver that cannot say: no estimate, no refusal
        return None
    return _host_available()


def _host_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def readable(x, name):
    """``x`` as an array (or SciPy matrix) anynet can read, or a ValueError/TypeError
    naming ``name`` and why not.

    Refused: a torch tensor on the meta device (it has no values), a torch sparse
    tensor (give it dense, or as a SciPy sparse matrix), a NumPy masked array
    with masked values (they would be used as they are: fill them or drop their
    rows), and a ragged list (rows of different lengths). A masked array with
    nothing masked is its data. Host data that is not an array is made one.
    """
    if isinstance(x, np.ma.MaskedArray):
        masked = int(np.ma.count_masked(x))
        if masked:
            raise ValueError(f"{name} is a masked array with {masked} masked value"
                             f"{'s' if masked > 1 else ''}, which would be used as if "
                             f"they were data; fill them ({name}.filled(value)) or drop "
                             f"their rows")
        return np.ma.getdata(x)
    if array_api_compat.is_torch_array(x):
        if x.is_meta:
            raise ValueError(f"{name} is a torch tensor on the meta device, which holds "
                             f"no values; give it on 'cpu' or a GPU")
        if x.layout != _torch().strided:
            raise TypeError(f"{name} is a torch tensor of layout {x.layout}; give it "
                            f"dense ({name}.to_dense()), or as a SciPy sparse matrix")
        return x
    if is_array(x) or x is None or hasattr(x, "toarray") or hasattr(x, "__array__"):
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:  # NumPy's words for a ragged list
        raise ValueError(f"{name} cannot be read as an array: its rows differ in length "
                         f"or mix numbers and sequences ({exc})") from None


def _torch():
    import torch
    return torch


def host_bool(x):
    """A 0-d boolean device array as a Python bool, in one explicit device-to-host
    transfer (``bool(x)`` would make the same read implicitly)."""
    return bool(to_numpy(x))


def to_numpy(x):
    """Copy an array of any backend to a host NumPy array (an explicit transfer).

    A torch float type NumPy lacks (bfloat16, float8) is read as float32, which
    holds each of its values exactly.
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, np.generic):  # NumPy's reductions give scalars
        return np.asarray(x)
    if array_api_compat.is_dask_array(x):  # computed, chunk by chunk, then gathered
        return to_numpy(x.compute())
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        torch = _torch()
        if x.is_floating_point() and x.dtype not in (torch.float16, torch.float32,
                                                     torch.float64):
            x = x.float()
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
    A torch tensor that requires grad is detached first (anynet computes its own
    gradients; autograd would record every step into one growing graph), and a
    read-only NumPy array bound for torch is copied (torch would share its memory
    as if it were writeable, and warn on every call).
    """
    xp, device = backend.xp, backend.device
    if array_api_compat.is_torch_array(x) and x.requires_grad:
        x = x.detach()
    if is_array(x) and namespace_name(x) == backend.name:
        return x if device_of(x) == device else array_api_compat.to_device(x, device)
    host = to_numpy(x)
    if backend.name == "torch" and isinstance(host, np.ndarray) and not host.flags.writeable:
        host = host.copy()
    return xp.asarray(host, device=device)


def index_dtype(backend):
    """The backend's integer dtype for indices (int32 on JAX without x64)."""
    return backend.xp.__array_namespace_info__().default_dtypes(
        device=backend.device)["indexing"]


_JAX_CACHE_SET = False


def compile_function(backend, function, donate=()):
    """``function`` compiled for ``backend`` where it can be, else itself.

    On JAX: ``jax.jit``, donating the arguments at positions ``donate`` (their
    buffers are reused for the results), with JAX's persistent compilation
    cache turned on (see ``_persistent_cache``) so a new process compiles
    nothing it compiled before. Elsewhere the function runs eagerly, as written.
    ``ANYNET_COMPILE=0`` turns compiling off.
    """
    if backend.name != "jax" or os.environ.get("ANYNET_COMPILE", "1") == "0":
        return function
    import jax
    _persistent_cache(jax)
    return jax.jit(function, donate_argnums=donate)


def _persistent_cache(jax):
    """Keep JAX's compiled programs on disk, unless the user set a cache of their own.

    The folder is ``$ANYNET_JAX_CACHE``, else ``~/.cache/anynet/jax``;
    ``ANYNET_JAX_CACHE=0`` leaves JAX's settings alone. Small programs are kept
    too (JAX keeps only those that took a second to compile by default): the
    demo's take a tenth of one, and there are several.
    """
    global _JAX_CACHE_SET
    where = os.environ.get("ANYNET_JAX_CACHE", "")
    if _JAX_CACHE_SET or where == "0" or jax.config.jax_compilation_cache_dir:
        return
    _JAX_CACHE_SET = True
    folder = where or os.path.join(os.path.expanduser("~"), ".cache", "anynet", "jax")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:  # a read-only home: compile in memory only
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


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
