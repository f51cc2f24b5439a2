"""Backend names, namespaces, devices and moving data between them (anynet._backend)."""
import importlib.util
import warnings

import numpy as np
import pytest

import anynet
from anynet._backend import cuda_unavailable_reason, float_dtype, move, to_numpy
from conftest import host

HAS_CUDA = cuda_unavailable_reason() is None


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA device is usable here: 'auto' picks CuPy")
def test_auto_falls_back_to_numpy_with_a_warning_once_per_process(monkeypatch):
    from anynet import _backend
    monkeypatch.setattr(_backend, "_AUTO_WARNED", False)
    with pytest.warns(UserWarning, match="backend='auto' chose NumPy on the CPU: ") as seen:
        net = anynet.initialize_network([2, 2, 1], backend="auto")
    assert net.backend.name == "numpy" and len(seen) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second time: nothing said
        assert anynet.train(np.eye(4), [0, 1, 1, 0], epochs=1, verbose=False).backend.name \
            == "numpy"


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA device is usable here")
def test_cupy_without_a_gpu_says_what_is_missing():
    with pytest.raises(ValueError, match="backend='cupy' cannot run: CuPy"):
        anynet.initialize_network([2, 2, 1], backend="cupy")


@pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device")
def test_auto_picks_cupy_on_a_gpu():  # pragma: no cover - GPU machines only
    assert anynet.initialize_network([2, 2, 1], backend="auto").backend.name == "cupy"


@pytest.mark.parametrize("module_name, name", [
    ("numpy", "numpy"), ("array_api_strict", "array_api_strict"), ("torch", "torch"),
    ("jax.numpy", "jax"), ("array_api_compat.numpy", "numpy")])
def test_namespace_modules_are_accepted(module_name, name):
    if importlib.util.find_spec(module_name.split(".")[0]) is None:
        pytest.skip(f"{module_name} is not installed")
    module = importlib.import_module(module_name)
    assert anynet.resolve_backend(module).name == name


def test_missing_library_is_an_import_error(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("array_api_compat.torch"):
            raise ImportError(f"No module named {name!r}", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    monkeypatch.delitem(__import__("sys").modules, "array_api_compat.torch", raising=False)
    message = r"backend='torch' needs the torch package.*pip install torch"
    with pytest.raises(ImportError, match=message):
        anynet.resolve_backend("torch")


def test_float64_where_the_device_lacks_it():
    strict = pytest.importorskip("array_api_strict")
    backend = anynet.resolve_backend("array_api_strict", strict.Device("no_float64"))
    with pytest.raises(TypeError, match="dtype='float64' is not available"):
        float_dtype(backend, "float64")
    assert float_dtype(backend, "float32")[0] == "float32"


def test_jax_float64_needs_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(TypeError, match="jax_enable_x64"):
            anynet.initialize_network([2, 2, 1], backend="jax")
        net = anynet.initialize_network([2, 2, 1], backend="jax", dtype="float32")
        assert net.dtype == "float32"
    finally:
        jax.config.update("jax_enable_x64", True)


def test_dtype_objects_are_accepted():
    for dtype in (np.float32, np.dtype("float32"), "float32"):
        assert anynet.initialize_network([2, 1], dtype=dtype).dtype == "float32"
    torch = pytest.importorskip("torch")
    net = anynet.initialize_network([2, 1], backend="torch", dtype=torch.float32)
    assert net["W1"].dtype == torch.float32


def test_moving_between_every_pair_of_backends(xp_backend):
    data = np.arange(6.0).reshape(2, 3)
    there = move(data, xp_backend)
    assert host(there).tolist() == data.tolist()
    back = to_numpy(there)
    assert isinstance(back, np.ndarray) and back.tolist() == data.tolist()
    assert move(there, xp_backend) is there  # already in place: no copy
    numpy_backend = anynet.resolve_backend("numpy")
    assert isinstance(move(there, numpy_backend), np.ndarray)


def test_strict_device_to_device():
    strict = pytest.importorskip("array_api_strict")
    dev1 = anynet.resolve_backend("array_api_strict", strict.Device("device1"))
    x = strict.asarray([1.0, 2.0])
    moved = move(x, dev1)
    assert moved.device == strict.Device("device1")
