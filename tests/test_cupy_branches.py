"""anynet's lines for CuPy, run on the stand-in that resolves as the backend "cupy"
(tests/cupy_standin.py): ordinal devices, the current device, pickling a
``cupy.cuda.Device``, ``.get()``, "auto", the NCCL set-up and its fallback.
(tests/test_transfers.py counts the transfers on the same stand-in.)"""
import pickle

import numpy as np
import pytest

import anynet
from anynet._backend import backend_of, cuda_unavailable_reason, resolve_backend, to_numpy
from conftest import blobs

import cupy_standin  # noqa: E402  (tests/ is on the path)


def test_the_stand_in_is_cupy_to_anynet(fake_cupy):
    import cupy
    assert cuda_unavailable_reason() is None
    backend = resolve_backend("cupy")
    assert backend.name == "cupy" and backend.current_device
    assert backend.device == cupy.cuda.Device(0)  # outside any `with`: device 0
    x = backend.xp.asarray([1.0, 2.0], device=backend.device)
    assert backend_of(x).name == "cupy" and isinstance(x, cupy.ndarray)
    with cupy_standin.counting() as counts:
        assert to_numpy(x).tolist() == [1.0, 2.0]  # through .get()
    assert counts.reads == 1
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)


@pytest.mark.parametrize("ordinal", [0, 1])
def test_an_ordinal_device_is_a_cupy_device(fake_cupy, ordinal):
    import cupy
    backend = resolve_backend("cupy", ordinal)
    assert backend.device == cupy.cuda.Device(ordinal) and backend.device.id == ordinal
    assert resolve_backend("cupy", cupy.cuda.Device(ordinal)) == backend


@pytest.mark.parametrize("bad", [2, -1, "gpu", 1.0])
def test_a_device_cupy_does_not_have_is_named(fake_cupy, bad):
    with pytest.raises(ValueError, match=f"device={bad!r} is not a device of backend 'cupy'"):
        resolve_backend("cupy", bad)


def test_the_current_device_is_the_default(fake_cupy):
    import cupy
    with cupy.cuda.Device(1):
        assert resolve_backend("cupy").device == cupy.cuda.Device(1)
        net = anynet.train(*blobs(n=30), backend="cupy", epochs=1, verbose=False)
    assert net.device.id == 1 and net["W1"].device.id == 1


def test_auto_picks_cupy_when_a_gpu_is_usable(fake_cupy):
    assert resolve_backend("auto").name == "cupy"


@pytest.mark.parametrize("ordinal", [0, 1])
def test_train_save_load_and_predict_on_an_ordinal_device(fake_cupy, tmp_path, ordinal):
    X, y = blobs(n=40)
    net = anynet.train(X, y, backend="cupy", device=ordinal, hidden=(6,), epochs=2,
                       batch_size=8, validation_split=0.25, verbose=False)
    assert net.device.id == ordinal and all(v.device.id == ordinal for v in net.values())
    anynet.save(net, tmp_path / "net.npz")
    for device in (ordinal, 1 - ordinal):
        again = anynet.load(tmp_path / "net.npz", backend="cupy", device=device)
        assert again["W1"].device.id == device
        np.testing.assert_array_equal(again.predict(X).get(), net.predict(X).get())
    reference = anynet.train(X, y, backend="numpy", dtype=net.dtype, hidden=(6,), epochs=2,
                             batch_size=8, validation_split=0.25, verbose=False)
    np.testing.assert_allclose(net.predict(X).get(), reference.predict(X), rtol=1e-5)


def test_a_network_and_its_device_pickle_as_dask_ships_them(fake_cupy):
    import cupy
    device = pickle.loads(pickle.dumps(cupy.cuda.Device(1)))
    assert isinstance(device, cupy.cuda.Device) and device.id == 1
    net = anynet.train(*blobs(n=30), backend="cupy", device=1, epochs=1, verbose=False)
    twin = pickle.loads(pickle.dumps(net))
    assert twin.backend == net.backend and twin["W1"].device.id == 1
    np.testing.assert_array_equal(twin["W2"].get(), net["W2"].get())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_the_estimators_take_an_ordinal_device(fake_cupy, kind):
    from anynet.sklearn import MLPClassifier, MLPRegressor
    X, y = blobs(n=40)
    Estimator = MLPClassifier if kind == "classifier" else MLPRegressor
    target = y if kind == "classifier" else X[:, 0] - X[:, 1]
    model = Estimator(hidden_layer_sizes=(5,), max_iter=3, backend="cupy", device=1,
                      random_state=0).fit(X, target)
    assert model._network.device.id == 1
    assert isinstance(model.predict(X), np.ndarray) and model.score(X, target) > -10


def test_nccl_that_fails_to_set_up_falls_back_to_host_memory(fake_cupy, fake_mpi,
                                                              monkeypatch):
    def broken(*args):
        raise cupy_standin.CUDARuntimeError("ncclInternalError")
    monkeypatch.setattr(cupy_standin._nccl, "NcclCommunicator", broken)
    with pytest.warns(RuntimeWarning, match="NCCL could not be set up.*ncclInternalError"):
        net = anynet.train(*blobs(n=30), backend="cupy", epochs=1, verbose=False,
                           distributed="mpi")
    assert net.history["distributed"]["gradients"] == "host"
