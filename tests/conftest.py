"""The backend matrix: an ``xp`` fixture over every Array API library anynet runs on.

Each parameter is an ``anynet.Backend`` (name, namespace, device). Libraries that
are not installed are skipped with the reason; CuPy is skipped unless a CUDA
device is usable. array_api_strict runs twice: on its CPU device and on
``Device("device1")``, which refuses arrays created on the wrong device and
implicit conversion to NumPy. And ``cupy_like`` (tests/cupy_like.py) stands in
for CuPy on a non-default GPU: array_api_strict's arrays on ``device1`` under
CuPy's device model, where creation functions ignore ``device=`` and kernels
run on the current device only, so code that forgets to make the network's
device current fails here as it would on a second GPU.
"""
import importlib.util
import os
import sys
import types

# scikit-learn's Array API mode (array_api_dispatch) needs SciPy's, set before SciPy loads
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import anynet  # noqa: E402
from anynet._backend import cuda_unavailable_reason, device_of, namespace_name, to_numpy

if importlib.util.find_spec("jax") is not None:
    import jax
    jax.config.update("jax_enable_x64", True)  # float64 tests need it


def _param(name, device=None, id=None):
    marks = []
    library = "array_api_strict" if name == "cupy_like" else name
    if name == "cupy":
        reason = cuda_unavailable_reason()
        if reason:
            marks.append(pytest.mark.skip(reason=f"cupy: {reason}"))
    elif importlib.util.find_spec(library) is None:
        marks.append(pytest.mark.skip(reason=f"{library} is not installed"))
    return pytest.param((name, device), id=id or name, marks=marks)


BACKEND_PARAMS = [
    _param("numpy"),
    _param("array_api_strict", id="strict-cpu"),
    _param("array_api_strict", "device1", id="strict-device1"),
    _param("torch"),
    _param("torch", "cuda", id="torch-cuda"),  # skipped at set-up where CUDA is not usable
    _param("jax"),  # on JAX's default device: a GPU where jax has CUDA
    _param("cupy"),
    _param("cupy_like", "device1", id="cupylike-device1"),
]
# ANYNET_TEST_BACKENDS=cupy,torch-cuda,jax: the matrix on those only (scripts/gpu_check.sh)
if os.environ.get("ANYNET_TEST_BACKENDS"):
    _chosen = os.environ["ANYNET_TEST_BACKENDS"].split(",")
    BACKEND_PARAMS = [p for p in BACKEND_PARAMS if p.id in _chosen]


@pytest.fixture(params=BACKEND_PARAMS)
def xp_backend(request):
    """A resolved ``anynet.Backend`` for each library of the matrix."""
    return resolve(*request.param)


def resolve(name, device=None):
    """The Backend of a matrix entry (name, device name)."""
    if name == "cupy_like":
        import cupy_like
        return anynet.resolve_backend(cupy_like, cupy_like.Device(device))
    if name == "torch" and device == "cuda":
        import torch
        if not torch.cuda.is_available():
            pytest.skip("torch-cuda: torch.cuda.is_available() is False here")
    if device is not None and name == "array_api_strict":
        import array_api_strict
        device = array_api_strict.Device(device)
    return anynet.resolve_backend(name, device)


def assert_on_backend(x, backend, dtype):
    """x is an array of ``backend``'s library, on its device, with float ``dtype``."""
    assert namespace_name(x) == backend.name, f"{namespace_name(x)} != {backend.name}"
    assert device_of(x) == backend.device, f"{device_of(x)} != {backend.device}"
    assert x.dtype == getattr(backend.xp, dtype), f"{x.dtype} != {dtype}"


def host(x):
    """A NumPy copy of any backend's array."""
    return np.asarray(to_numpy(x))


def blobs(n=60, n_features=4, n_classes=3, seed=0):
    """(X, y): n_classes Gaussian blobs, one shifted feature per class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    X = rng.standard_normal((n, n_features)) + 2.0 * np.eye(n_classes, n_features)[y]
    return X, y


def quiet(X, y, **kw):
    """``anynet.train`` without a progress bar, on NumPy unless told otherwise."""
    kw.setdefault("backend", "numpy")
    kw.setdefault("verbose", False)
    return anynet.train(X, y, **kw)


# largest gradient-check error seen per backend, printed after the run
GRADCHECK = {}
# what the hostile-input tests ran: {test: {outcome: count}}
HOSTILE = {}


def pytest_terminal_summary(terminalreporter):
    if HOSTILE:
        terminalreporter.section("hostile input: cases run, by outcome")
        for name, counts in sorted(HOSTILE.items()):
            terminalreporter.write_line(f"{name:24s} {counts}")
    if GRADCHECK:
        terminalreporter.section("largest gradient-check errors (float64)")
        for name, (fd, torch_err) in sorted(GRADCHECK.items()):
            terminalreporter.write_line(
                f"{name:16s} central differences {fd:.2e}   torch.autograd {torch_err:.2e}")


@pytest.fixture(params=[42])
def global_random_seed(request):
    """scikit-learn's fixture, for its own MLP tests run here (test_sklearn.py): the
    seed it uses by default."""
    return request.param


@pytest.fixture
def fake_cupy(monkeypatch):
    """tests/cupy_standin.py installed as ``cupy`` for one test (its transfer counts reset)."""
    import cupy_standin
    yield cupy_standin.install(monkeypatch)
    monkeypatch.undo()
    cupy_standin.uninstall()


class FakeComm:
    """MPI.COMM_WORLD of one rank, in this process: each collective returns what it
    is given (the sum over one rank), and the all-reduces are counted."""

    def __init__(self):
        self.allreduces = []

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def allgather(self, value):
        return [value]

    def bcast(self, value, root=0):
        return value

    def Bcast(self, buffer, root=0):
        pass

    def Allreduce(self, send, buffer, op=None):
        assert isinstance(buffer, np.ndarray) and buffer.flags.c_contiguous
        self.allreduces.append(buffer.size)

    def Split_type(self, kind):
        return types.SimpleNamespace(Get_size=lambda: 1, Free=lambda: None)

    def Abort(self, code):
        raise SystemExit(code)


@pytest.fixture
def fake_mpi(monkeypatch):
    """mpi4py replaced by one rank in this process (``FakeComm``), for MPIContext."""
    comm = FakeComm()
    MPI = types.ModuleType("mpi4py.MPI")
    MPI.__dict__.update(COMM_WORLD=comm, IN_PLACE=object(), SUM="sum", COMM_TYPE_SHARED=0)
    package = types.ModuleType("mpi4py")
    package.MPI = MPI
    monkeypatch.setitem(sys.modules, "mpi4py", package)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", MPI)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # no threadpoolctl limit needed
    return comm
