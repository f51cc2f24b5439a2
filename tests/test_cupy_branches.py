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


def test_anynet_info_lists_the_gpus(fake_cupy, capsys):
    from anynet.__main__ import main
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    # by the names device= takes (issue 18), cupy's devices as torch writes them
    assert "cupy              devices: cuda:0, cuda:1" in out
    assert resolve_backend("cupy", "cuda:1").device == resolve_backend("cupy", 1).device
    assert "backend='auto' picks: cupy" in out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", ["sparse", "lbfgs", "resume", "partial_fit"])
def test_every_upload_is_explicit(fake_cupy, tmp_path, case):
    """The stand-in refuses what CuPy would upload silently (NumPy index arrays and
    scalars in kernels): these runs pass only if anynet uploads everything itself."""
    X, y = blobs(n=40)
    kw = {"backend": "cupy", "device": 1, "hidden": (5,), "verbose": False}
    if case == "sparse":
        scipy_sparse = pytest.importorskip("scipy.sparse")
        net = anynet.train(scipy_sparse.csr_matrix(np.where(X > 0, X, 0.0)), y, epochs=2,
                           batch_size=8, validation_split=0.25, **kw)
    elif case == "lbfgs":
        net = anynet.train(X, y, optimizer="lbfgs", epochs=5, **kw)
    elif case == "resume":
        anynet.train(X, y, epochs=2, checkpoint=tmp_path / "run.npz", **kw)
        net = anynet.train(X, y, epochs=4, checkpoint=tmp_path / "run.npz", resume=True, **kw)
        assert len(net.history["loss"]) == 4
    else:
        from anynet.sklearn import MLPClassifier
        model = MLPClassifier(hidden_layer_sizes=(5,), backend="cupy", device=1)
        for _ in range(2):
            model.partial_fit(X, y, classes=[0, 1, 2])
        net = model._network
    assert net["W1"].device.id == 1 and np.isfinite(net.predict(X).get()).all()


def test_cupy_built_without_nccl_sums_through_host_memory(fake_cupy, fake_mpi, monkeypatch):
    monkeypatch.setattr(cupy_standin._nccl, "available", False)
    net = anynet.train(*blobs(n=30), backend="cupy", epochs=1, verbose=False,
                       distributed="mpi")
    assert net.history["distributed"]["gradients"] == "host"
    assert cupy_standin.NcclCommunicator.calls == [] and fake_mpi.allreduces


def test_data_on_another_gpu_is_copied_device_to_device(fake_cupy):
    net = anynet.train(*blobs(n=30), backend="cupy", device=0, epochs=1, verbose=False)
    X = blobs(n=30)[0]
    elsewhere = net.backend.xp.asarray(X, device=1)
    with cupy_standin.counting() as counts:
        P = net.predict(elsewhere, check_finite=False)
    assert (counts.reads, counts.writes) == (0, 0), counts  # never through the host
    assert P.device.id == 0
    np.testing.assert_array_equal(P.get(), net.predict(X).get())
