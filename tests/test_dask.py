"""Inference over Dask arrays: lazy, chunk by chunk, locally and on a LocalCluster."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import anynet  # noqa: E402

rng = np.random.default_rng(0)
X = rng.standard_normal((1000, 4))
LABELS = (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.fixture(scope="module")
def net():
    return anynet.train(X, LABELS, hidden=(16,), epochs=5, backend="numpy", verbose=False)


def test_lazy_predictions_match(net):
    D = da.from_array(X, chunks=(128, 2))  # column chunks are joined: whole rows per chunk
    P = anynet.predict(net, D)
    assert isinstance(P, da.Array)
    assert P.shape == (1000, 1) and P.dtype == np.float32 and P.chunks[0][0] == 128
    np.testing.assert_array_equal(P.compute(), anynet.predict(net, X))
    np.testing.assert_array_equal(net.predict(D).compute(), anynet.predict(net, X))


def test_a_network_on_another_backend(xp_backend, net, tmp_path):
    there = anynet.load(anynet.save(net, tmp_path / "net.npz"), backend=xp_backend)
    P = anynet.predict(there, da.from_array(X, chunks=(300, 4))).compute()
    assert isinstance(P, np.ndarray)
    np.testing.assert_allclose(P, anynet.predict(net, X), rtol=1e-5, atol=1e-6)  # float32


def test_bad_dask_input(net):
    with pytest.raises(ValueError, match="X has 3 features"):
        anynet.predict(net, da.zeros((10, 3), chunks=5))
    with pytest.raises(ValueError, match="X must be 2-D"):
        anynet.predict(net, da.zeros(10, chunks=5))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_local_cluster_of_two_workers(net):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None, processes=True) as cluster, \
            distributed.Client(cluster) as client:
        P = anynet.predict(net, da.from_array(X, chunks=(100, 4)))
        result = P.compute()
        assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_array_equal(result, anynet.predict(net, X))


def test_chunks_without_rows_give_predictions_without_rows(net):
    """Boolean filtering routinely leaves chunks of no rows (and unknown sizes)."""
    D = da.from_array(X, chunks=(100, 4))
    keep = X[:, 0] > 2.0  # some chunks of 100 rows hold none of these
    filtered = D[da.from_array(keep, chunks=100)]
    assert np.isnan(filtered.chunks[0][0])
    P = anynet.predict(net, filtered).compute()  # float32, rows batched otherwise: 1e-6
    np.testing.assert_allclose(P, anynet.predict(net, X[keep]), rtol=1e-6)
    explicit = da.from_array(X, chunks=((500, 0, 500), (4,)))
    np.testing.assert_array_equal(anynet.predict(net, explicit).compute(),
                                  anynet.predict(net, X))
    assert anynet.predict(net, D[D[:, 0] > 100]).compute().shape == (0, 1)


def test_classes_and_scores_of_dask_arrays(net):
    D = da.from_array(X, chunks=(300, 4))
    np.testing.assert_array_equal(net.predict_classes(D), net.predict_classes(X))
    assert net.score(D, da.from_array(LABELS, chunks=300)) == net.score(X, LABELS)
