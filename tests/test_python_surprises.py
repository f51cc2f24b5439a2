"""What a user types gets what they meant, or says what to type (issue 18): a
misspelled keyword, the device names each library uses, "auto" with a library's
tensors, the CuPy wheel for the driver there is."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import anynet
from anynet._backend import cupy_install_hint

X = np.random.default_rng(0).standard_normal((24, 3))
y = (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("typo, meant, options", [
    ("lerning_rate", "learning_rate", {}),
    ("epoch", "epochs", {}),
    ("hiden", "hidden", {}),
    ("validation_spilt", "validation_split", {}),
    ("betta1", "beta1", {}),
    ("momentun", "momentum", {"optimizer": "momentum"}),
    ("nesterof", "nesterov", {"optimizer": "sgd"}),
    ("learningrate", "learning_rate", {"optimizer": anynet.optimizers.Adam()}),
])
def test_a_misspelled_keyword_is_named_with_the_nearest_real_one(typo, meant, options):
    with pytest.raises(TypeError) as caught:
        anynet.train(X, y, epochs=1, verbose=False, backend="numpy",
                     **options, **{typo: 0.1})
    message = str(caught.value)
    assert f"unexpected keyword argument {typo!r}; did you mean {meant!r}?" in message
    assert "__init__" not in message


def test_an_option_of_another_optimizer_says_which_options_there_are():
    with pytest.raises(TypeError, match="optimizer='adam' does not take the keyword argument "
                                        "'momentum' .it takes beta1.*an option of 'momentum'"):
        anynet.train(X, y, momentum=0.9, verbose=False, backend="numpy")
    with pytest.raises(TypeError, match="unexpected keyword argument 'zzz'$"):
        anynet.train(X, y, zzz=1, verbose=False, backend="numpy", optimizer=object.__new__(
            anynet.optimizers.Adam))
    # real options still reach the optimizer
    net = anynet.train(X, y, optimizer="momentum", momentum=0.5, nesterov=True, epochs=1,
                       verbose=False, backend="numpy")
    assert net.optimizer.momentum == 0.5 and net.optimizer.nesterov is True


@pytest.mark.parametrize("name", ["cpu", "cpu:0", "CPU", "TFRT_CPU_0"])
def test_jax_takes_the_device_names_jax_uses(name):
    jax = pytest.importorskip("jax")
    if name == "TFRT_CPU_0" and str(jax.devices("cpu")[0]) != name:
        name = str(jax.devices("cpu")[0])  # the name this JAX prints
    net = anynet.initialize_network([3, 4, 1], backend="jax", device=name, dtype="float32")
    assert net.device == jax.devices("cpu")[0]


def test_a_device_that_is_not_there_is_a_value_error_naming_it():
    pytest.importorskip("jax")
    import jax
    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a JAX GPU")
    for name in ("gpu", "cuda:1", "cpu:7", "nonsense"):
        with pytest.raises(ValueError, match=f"device='{name}' is not a device of backend "
                                             f"'jax'"):
            anynet.resolve_backend("jax", name)


def test_every_name_anynet_info_prints_is_a_device_it_takes():
    from anynet._probe import device_names
    for name in ("numpy", "torch", "jax", "array_api_strict"):
        pytest.importorskip(name)
        names = device_names(name)
        assert names and "meta" not in names
        for device in names:
            backend = anynet.resolve_backend(name, device)
            assert backend.name == name, (name, device)


def test_what_anynet_info_reads_without_importing_is_what_importing_finds():
    from anynet._probe import device_names, known_without_importing
    for name in ("torch", "jax", "array_api_strict"):
        pytest.importorskip(name)
        quick = known_without_importing(name)
        assert quick is None or quick == device_names(name), name


def test_a_jax_with_several_cpu_devices_is_probed_or_counted(monkeypatch):
    pytest.importorskip("jax")
    from anynet._probe import known_without_importing
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    assert known_without_importing("jax") in (None, ["cpu:0", "cpu:1", "cpu:2"])
    monkeypatch.setenv("JAX_PLATFORMS", "cuda")
    assert known_without_importing("jax") is None


def test_torchs_meta_device_is_refused():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="holds no data"):
        anynet.resolve_backend("torch", "meta")


def test_auto_with_a_librarys_tensors_trains_on_that_library():
    torch = pytest.importorskip("torch")
    Xt, yt = torch.asarray(X), torch.asarray(y)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "auto chose NumPy, install CuPy"
        for backend in (None, "auto"):
            net = anynet.train(Xt, yt, epochs=1, verbose=False, backend=backend)
            assert net.backend.name == "torch" and isinstance(net.predict(Xt), torch.Tensor)
        net = anynet.train(X, yt, epochs=1, verbose=False, backend="auto")  # y's
        assert net.backend.name == "torch"
    net = anynet.train(Xt, yt, epochs=1, verbose=False, backend="numpy")  # as asked
    assert net.backend.name == "numpy"


@pytest.mark.parametrize("driver, wheel", [((12, 4), "pip install cupy-cuda12x"),
                                           ((13, 0), "pip install cupy-cuda13x"),
                                           ((11, 8), "pip install cupy-cuda11x"),
                                           ((10, 2), "update the driver"),
                                           (None, "no NVIDIA driver was found")])
def test_cupys_install_hint_names_the_wheel_of_the_drivers_cuda(driver, wheel, monkeypatch):
    from anynet import _backend
    monkeypatch.setattr(_backend, "cuda_driver_version", lambda: driver)
    assert wheel in cupy_install_hint()
    if driver and driver[0] >= 11:
        assert f"supports CUDA {driver[0]}.{driver[1]}" in cupy_install_hint()
        assert "cupy-cuda12x" not in cupy_install_hint() or driver[0] == 12


@pytest.mark.parametrize("reported, read", [(13020, (13, 2)), (12040, (12, 4)),
                                            (0, None), ("no driver", None)])
def test_the_driver_version_is_read_from_libcuda_without_cupy(monkeypatch, reported, read):
    import ctypes
    from anynet import _backend

    class Driver:  # libcuda's cuDriverGetVersion(int *): 0 and the version, as 1000 * major
        def cuDriverGetVersion(self, out):
            out._obj.value = reported
            return 0

    def load(name):
        if reported == "no driver":
            raise OSError(f"{name}: cannot open shared object file")
        return Driver()

    monkeypatch.setattr(ctypes, "CDLL", load)
    assert _backend.cuda_driver_version() == read


def test_a_jax_float64_model_on_the_command_line_needs_no_jax_config(tmp_path):
    pytest.importorskip("jax")
    code = textwrap.dedent(f"""
        import os, sys
        os.environ.pop("JAX_ENABLE_X64", None)
        from anynet.__main__ import main
        model = {str(tmp_path / "j.npz")!r}
        assert main(["train", "xor", "--backend", "jax", "--dtype", "float64", "--quiet",
                     "--epochs", "3", "-o", model]) == 0
        assert main(["predict", model, "xor", "--backend", "jax"]) == 0
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 0, done.stderr
    assert anynet.load(tmp_path / "j.npz").dtype == "float64"
