"""``anynet.train(shuffle=RandomState)``: each epoch's order drawn from the stream exactly
as scikit-learn's MLP draws it (oracle: ``sklearn.utils.shuffle`` of the running order),
through rollbacks and resumes."""
import numpy as np
import pytest

import anynet
from anynet.checkpoints import RunState

OPTIONS = dict(hidden=(5,), epochs=6, batch_size=7, dtype="float64", verbose=False,
               backend="numpy", learning_rate=0.05)


def _data(n=40):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_the_orders_are_scikit_learns(n):
    sk_utils = pytest.importorskip("sklearn.utils")
    state = RunState(None, None, None, None, stream=np.random.RandomState(n))
    theirs, order = np.random.RandomState(n), np.arange(n)
    for _ in range(4):  # scikit-learn's _fit_stochastic, epoch after epoch
        order = sk_utils.shuffle(order, random_state=theirs)
        np.testing.assert_array_equal(state.next_order(n), order)
    assert theirs.randint(1 << 30) == state.stream.randint(1 << 30)  # advanced alike


def test_the_run_draws_from_the_stream_it_is_given():
    X, y = _data()
    stream = np.random.RandomState(3)
    a = anynet.train(X, y, shuffle=stream, **OPTIONS)
    b = anynet.train(X, y, shuffle=np.random.RandomState(3), **OPTIONS)
    c = anynet.train(X, y, shuffle=np.random.RandomState(4), **OPTIONS)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.allclose(a["W1"], c["W1"])
    again = np.random.RandomState(3)
    for _ in range(OPTIONS["epochs"]):
        again.shuffle(np.arange(len(y)))
    assert stream.randint(1 << 30) == again.randint(1 << 30)  # one draw an epoch, no more


def test_a_resumed_run_replays_the_stream(tmp_path):
    X, y = _data()
    path = tmp_path / "run.npz"
    whole = anynet.train(X, y, shuffle=np.random.RandomState(8), **OPTIONS)
    anynet.train(X, y, shuffle=np.random.RandomState(8), checkpoint=path,
                 **dict(OPTIONS, epochs=2))
    resumed = anynet.train(X, y, shuffle=np.random.RandomState(8), checkpoint=path,
                           resume=True, **OPTIONS)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key])


def test_a_rolled_back_epoch_gives_its_draw_back():
    net = anynet.initialize_network([3, 2, 1], loss="mse", backend="numpy")
    state = RunState(net, anynet.optimizers.SGD(), None, np.random.default_rng(0),
                     stream=np.random.RandomState(1))
    state.next_order(5)
    snapshot = state.snapshot()
    first = state.next_order(5).copy()
    state.restore(snapshot)
    np.testing.assert_array_equal(state.next_order(5), first)


@pytest.mark.parametrize("bad", ["yes", 1, np.random.default_rng(0)])
def test_other_shuffles_are_refused_by_name(bad):
    X, y = _data()
    with pytest.raises(TypeError, match="shuffle must be True, False or a "
                                        "numpy.random.RandomState"):
        anynet.train(X, y, shuffle=bad, **OPTIONS)


def test_the_estimator_advances_a_given_random_state_as_scikit_learn():
    sklearn_mlp = pytest.importorskip("sklearn.neural_network")
    from anynet.sklearn import MLPClassifier
    X, y = _data(60)
    streams = []
    for make in (sklearn_mlp.MLPClassifier, MLPClassifier):
        stream = np.random.RandomState(11)
        model = make(hidden_layer_sizes=(3,), max_iter=4, batch_size=16, random_state=stream,
                     early_stopping=True, n_iter_no_change=50)
        with pytest.warns(Warning, match="Maximum iterations"):
            model.fit(X, y)
        streams.append(stream.randint(1 << 30))
    assert streams[0] == streams[1]
