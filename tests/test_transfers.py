"""Every transfer between host and GPU, counted on the CuPy stand-in (tests/cupy_standin.py).

The stand-in counts each device-to-host read (``get()``, ``float()``, ``bool()``
...) and each host-to-device write (``asarray`` of host data). These tests pin
the budgets the README promises: no transfer inside a batch, a small constant
per epoch, none for a prediction on device data, at most 3 reads per L-BFGS
iteration on average, one copy each way per MPI step. A new sync anywhere on
those paths fails here. (The stand-in also refuses NumPy arrays and scalars in
kernels and indices, which CuPy would upload silently, so passing here shows
every upload is explicit.)
"""
import numpy as np
import pytest

import anynet
from anynet._backend import move
from conftest import blobs

import cupy_standin  # noqa: E402  (tests/ is on the path)


def _train(X, y, **kw):
    kw = {"backend": "cupy", "device": 1, "verbose": False, "hidden": (8,), **kw}
    with cupy_standin.counting() as counts:
        net = anynet.train(X, y, **kw)
    return net, counts.reads, counts.writes, repr(counts)


# --- training: per batch 0, per epoch a small constant ---------------------------

@pytest.mark.parametrize("options", [
    {},
    {"validation_split": 0.2, "early_stopping": True, "patience": 50},
    {"optimizer": "sgd", "lr_schedule": "step", "dropout": 0.2, "weight_decay": 1e-3,
     "clip_norm": 1.0},
    {"sample_weight": np.linspace(0.5, 1.5, 60), "dtype": "float32"},
], ids=["plain", "validation", "options", "weights"])
def test_no_transfer_per_batch_and_a_constant_per_epoch(fake_cupy, options):
    X, y = blobs(n=60)
    runs = {(epochs, batch): _train(X, y, epochs=epochs, batch_size=batch, **options)
            for epochs in (2, 4) for batch in (6, 30)}
    for epochs in (2, 4):  # 10 batches an epoch or 2: the same transfers
        assert runs[epochs, 6][1:3] == runs[epochs, 30][1:3], runs[epochs, 6][3]
    (_, r2, w2, log2), (_, r4, w4, log4) = runs[2, 6], runs[4, 6]
    per_epoch_reads, per_epoch_writes = (r4 - r2) / 2, (w4 - w2) / 2
    assert per_epoch_reads <= 1, log4  # the epoch's figures, one read
    # the permutation, the learning rate, and with dropout the epoch's draws
    assert per_epoch_writes <= 2 + ("dropout" in options), log4
    assert r2 - 2 * per_epoch_reads <= 3, log2  # setup: the class and range checks
    assert w2 - 2 * per_epoch_writes <= 8, log2  # data, weights, targets, parameters


def test_host_data_is_checked_on_the_host_before_the_copy(fake_cupy):
    X, y = blobs(n=30)
    X[3, 1] = np.nan
    with cupy_standin.counting() as counts, pytest.raises(ValueError, match="X contains NaN"):
        anynet.train(X, y, backend="cupy", epochs=1, verbose=False)
    assert counts.reads == 0 and counts.writes == 0, counts


# --- prediction: none on device data -----------------------------------------------

@pytest.fixture
def net(fake_cupy):
    X, y = blobs(n=40)
    return anynet.train(X, y, backend="cupy", device=1, hidden=(8,), epochs=2, verbose=False)


def test_predict_on_device_data_reads_nothing_without_check_finite(net):
    X = move(blobs(n=40)[0], net.backend)
    for predict in (net.predict, lambda X, **kw: anynet.predict(net, X, **kw)):
        with cupy_standin.counting() as counts:
            P = predict(X, check_finite=False)
        assert (counts.reads, counts.writes) == (0, 0), counts
        assert isinstance(P, cupy_standin.ndarray) and P.device == net.device
        with cupy_standin.counting() as counts:
            assert np.array_equal(predict(X).get(), P.get())
        assert (counts.reads, counts.writes) == (1 + 2, 0), counts  # the check, two get()s


def test_predict_on_host_data_writes_it_once_and_reads_nothing(net):
    X = blobs(n=40)[0]
    with cupy_standin.counting() as counts:
        net.predict(X)
    assert (counts.reads, counts.writes) == (0, 1), counts


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused_on_host_or_device_unless_unchecked(net, bad):
    X = blobs(n=40)[0]
    X[5, 2] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.predict(X)
    on_device = move(X, net.backend)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.predict(on_device)
    with np.errstate(invalid="ignore", over="ignore"):  # the stand-in computes with NumPy
        P = net.predict(on_device, check_finite=False).get()  # unchecked: as it comes
    if np.isnan(bad):
        assert np.isnan(P[5]).all()
    assert np.isfinite(np.delete(P, 5, axis=0)).all()


def test_predict_classes_and_dask_chunks(net):
    da = pytest.importorskip("dask.array")
    X = blobs(n=40)[0]
    chunks = da.from_array(X, chunks=(10, 4))
    with cupy_standin.counting() as counts:
        P = net.predict(chunks, check_finite=False).compute()
    assert isinstance(P, np.ndarray) and counts.writes == 4 and counts.reads == 4, counts
    np.testing.assert_allclose(P, net.predict(X).get(), rtol=1e-12)


# --- L-BFGS: at most 3 reads per iteration on average -------------------------------

def test_lbfgs_reads_at_most_three_scalars_per_iteration(fake_cupy):
    X, y = blobs(n=80)
    runs = [_train(X, y, optimizer="lbfgs", epochs=epochs, hidden=(6,), dtype="float64")
            for epochs in (5, 15)]
    iterations = [len(net.history["loss"]) for net, *_ in runs]
    assert iterations == [5, 15]  # no early convergence: every iteration counted
    assert runs[1][1] - runs[0][1] <= 3 * 10, runs[1][3]
    assert runs[0][1] <= 3 * 5 + 3, runs[0][3]  # the start: at most a few more


# --- MPI: one copy each way per step ---------------------------------------------------

@pytest.mark.parametrize("nccl", ["0", "1"])
def test_an_mpi_step_copies_the_gradients_once_each_way(fake_cupy, fake_mpi, monkeypatch,
                                                        nccl):
    monkeypatch.setenv("ANYNET_NCCL", nccl)
    X, y = blobs(n=60)
    kw = {"hidden": (8, 5), "distributed": "mpi"}
    runs = {epochs: _train(X, y, epochs=epochs, batch_size=6, **kw) for epochs in (1, 3)}
    net = runs[3][0]
    steps = net.optimizer.t
    assert steps == 30
    assert net.history["distributed"]["gradients"] == ("nccl" if nccl == "1" else "host")
    reads, writes = runs[3][1] - runs[1][1], runs[3][2] - runs[1][2]  # two epochs, 20 steps
    per_epoch = (1, 2)  # the figures; the permutation and the learning rate
    if nccl == "1":  # summed on the device: nothing crosses per step
        assert (reads, writes) == (2 * per_epoch[0], 2 * per_epoch[1]), runs[3][3]
        assert len(cupy_standin.NcclCommunicator.calls) == 10 + 30  # both runs, every step
        n_params = sum(v.shape[0] * (v.shape[1] if v.ndim == 2 else 1) for v in net.values())
        assert {c for c, _ in cupy_standin.NcclCommunicator.calls} == {n_params}
    else:  # one read and one write of one flat buffer per step
        assert (reads, writes) == (2 * per_epoch[0] + 20, 2 * per_epoch[1] + 20), runs[3][3]
        n_params = sum(int(np.prod(v.shape)) for v in net.values())
        assert set(fake_mpi.allreduces[-30:]) == {n_params + 1}  # + the Ctrl-C flag
    reference = anynet.train(X, y, epochs=3, batch_size=6, hidden=(8, 5), verbose=False,
                             backend="numpy")
    for key, value in reference.items():
        np.testing.assert_allclose(net[key].get(), value, rtol=1e-10, atol=1e-12)
