"""The pieces of data-parallel training that need no MPI: which rows of a batch a
shard holds, the task every rank infers, pooled validation scores, the NCCL sum."""
import ctypes

import numpy as np
import pytest

from anynet import _nccl, metrics
from anynet._run_data import shard_rows
from anynet._nccl import NcclSum
from anynet.distributed import MPIContext
from anynet.network import initialize_network
from anynet.tasks import infer_task, stack_samples, task_sample


@pytest.mark.parametrize("n, batch, cuts", [(203, 24, [50, 53]), (10, 3, [0, 10]),
                                            (64, 64, [32]), (7, 100, [2, 4, 6])])
def test_shards_see_each_global_batch_exactly_once(n, batch, cuts):
    order = np.random.default_rng(0).permutation(n)
    edges = [0, *cuts, n]
    plans = [shard_rows(order, lo, hi - lo, batch) for lo, hi in zip(edges, edges[1:])]
    for k, lo in enumerate(range(0, n, batch)):
        rows = [local[bounds[k]:bounds[k + 1]] + offset
                for (local, bounds), offset in zip(plans, edges)]
        got = np.concatenate(rows)
        assert sorted(got) == sorted(order[lo:lo + batch])
    for (local, bounds), lo, hi in zip(plans, edges, edges[1:]):
        assert len(bounds) == -(-n // batch) + 1 and bounds[-1] == hi - lo
        assert sorted(local) == list(range(hi - lo))


LABELS = {
    "ints": np.array([0, 2, 1, 1, 0, 2, 0, 0, 1, 1]),
    "strings": np.array(list("abcabcaabb")),
    "binary column": np.array([[0.0], [1.0]] * 5),
    "binary ints": np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1]),
    "one-hot": np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 0, 0, 1]],
    "real": np.r_[np.zeros(4), np.linspace(-1, 2, 6)],
    "real with 0/1 start": np.c_[np.r_[0.0, 1.0, np.linspace(3, 4, 8)], np.ones(10)],
}


@pytest.mark.parametrize("name", LABELS)
def test_ranks_infer_the_task_of_the_whole_dataset(name):
    y = LABELS[name]
    for cuts in ([4], [1, 2], [3, 6, 9]):
        samples = [task_sample(part) for part in np.split(y, cuts)]
        assert infer_task(stack_samples(samples)) == infer_task(y), cuts


def test_ranks_with_labels_of_different_types_are_told():
    with pytest.raises(TypeError, match="types that differ between ranks"):
        stack_samples([task_sample(np.array([0, 1])), task_sample(np.array(["a", "b"]))])
    with pytest.raises(ValueError, match="shapes that differ between ranks"):
        stack_samples([task_sample(np.array([0, 1])), task_sample(np.eye(2))])


def _split_scores(name, Y, P, cuts):
    parts_of = (metrics.ARGMAX_ACCURACY if name == "accuracy" else metrics.R2).parts
    parts, counts = [], []
    for y, p in zip(np.split(Y, cuts), np.split(P, cuts)):
        counts.append(len(y))
        parts.append(parts_of(np, y, p) if len(y) else np.zeros(parts_of(np, Y, P).shape))
    return metrics.pool(name, np.stack(parts), counts)


@pytest.mark.parametrize("cuts", [[10], [1, 40], [0, 17, 17, 60]])
def test_pooled_scores_equal_the_score_of_all_rows(cuts):
    rng = np.random.default_rng(0)
    Y = 1e3 + rng.standard_normal((80, 3))  # a large mean: the pooling must be stable
    P = Y + 0.3 * rng.standard_normal((80, 3))
    P[:, 2], Y[:, 2] = 5.0, 5.0  # a constant column predicted exactly scores 1
    assert _split_scores("r2", Y, P, cuts) == pytest.approx(float(metrics.r2(np, Y, P)),
                                                            abs=1e-12)
    labels = np.eye(4)[rng.integers(0, 4, 80)]
    guess = labels + rng.standard_normal((80, 4))
    assert _split_scores("accuracy", labels, guess, cuts) == pytest.approx(
        float(metrics.argmax_accuracy(np, labels, guess)), abs=1e-15)


class _FakeNccl:
    """cupy.cuda.nccl's constants, and a communicator of `size` ranks holding
    the same buffer, whose sum is therefore size times it."""
    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_SUM = 7, 8, 0

    def __init__(self, size):
        self.size, self.calls = size, []

    def allReduce(self, send, recv, count, datatype, op, stream):  # noqa: N802 (NCCL's name)
        self.calls.append((send, recv, count, datatype, op, stream))
        c_type = {7: ctypes.c_float, 8: ctypes.c_double}[datatype]
        buffer = np.ctypeslib.as_array(ctypes.cast(recv, ctypes.POINTER(c_type)), (count,))
        buffer *= self.size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_nccl_path_sums_one_flat_buffer_in_place(monkeypatch, dtype):
    monkeypatch.setattr(_nccl, "_pointer", lambda a: a.ctypes.data)
    net = initialize_network([3, 4, 2], backend="numpy", dtype=dtype, seed=0)
    grads = {"d" + k: np.arange(v.size, dtype=dtype).reshape(v.shape) + 1.0
             for k, v in net.items()}
    want = {k: 3 * 0.25 * g for k, g in grads.items()}
    fake = _FakeNccl(size=3)
    mpi = MPIContext.__new__(MPIContext)  # no MPI needed: NCCL does the sum
    mpi.nccl = NcclSum(fake, fake, stream=lambda: 1234)
    mpi.sum_gradients(net, grads, 0.25)
    (send, recv, count, datatype, op, stream), = fake.calls  # one call per step
    assert send == recv and count == sum(v.size for v in net.values())
    assert (datatype, op, stream) == ({"float32": 7, "float64": 8}[dtype], 0, 1234)
    for key, g in grads.items():
        assert g.dtype == np.dtype(dtype) and g.shape == want[key].shape
        np.testing.assert_array_equal(g, want[key])
