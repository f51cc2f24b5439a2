"""What anynet.train gained for scikit-learn's estimators: sample weights, the L2
penalty on the weights, dropout, the Poisson and scikit-learn losses, the
invscaling and adaptive schedules, tolerance-based stopping, sparse X, L-BFGS."""
import math

import numpy as np
import pytest
from conftest import blobs, host

import anynet
from anynet import propagation
from anynet.losses import LOSSES
from anynet.steps import batch_objective


def _regression(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(n)


def _params(net):
    return {k: host(v) for k, v in net.items()}


def _train(X, y, **options):
    base = dict(hidden=(5,), epochs=3, backend="numpy", dtype="float64", verbose=False,
                optimizer="sgd", learning_rate=0.05, batch_size=len(X), shuffle=False)
    return anynet.train(X, y, **{**base, **options})


def test_integer_sample_weights_equal_repeated_rows():
    X, y = _regression()
    w = np.arange(len(X)) % 3  # 0, 1 or 2 copies of each row
    weighted = _train(X, y, sample_weight=w, loss="squared_error", alpha=0.01)
    repeated = _train(np.repeat(X, w, axis=0), np.repeat(y, w), loss="squared_error",
                      alpha=0.01, batch_size=int(w.sum()))
    for k, v in _params(weighted).items():
        np.testing.assert_allclose(v, host(repeated[k]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad, message", [
    (np.ones(5), r"shape \(40,\)"), (-np.ones(40), ">= 0"), (np.full(40, np.nan), "finite"),
    (np.zeros(40), "sums to 0"), (np.array(["a"] * 40), "dtype")])
def test_bad_sample_weights_are_named(bad, message):
    X, y = _regression()
    with pytest.raises((ValueError, TypeError), match=f"sample_weight.*{message}|{message}"):
        _train(X, y, sample_weight=bad)


@pytest.mark.parametrize("loss, output, y_kind", [
    ("squared_error", "identity", "real"), ("poisson", "exp", "count"),
    ("binary_log_loss", "sigmoid", "labels"), ("cross_entropy", "softmax", "onehot"),
    ("mse", "identity", "real"), ("sse", "identity", "real")])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dropout", [(), (0.5,)])
def test_the_objective_gradient_matches_central_differences(loss, output, y_kind, weighted,
                                                             dropout):
    """Loss + alpha penalty (weights only), with sample weights and a fixed dropout
    mask: every gradient component against central differences."""
    rng = np.random.default_rng(1)
    n, k = 6, 3
    X = rng.standard_normal((n, 4))
    Y = {"real": rng.standard_normal((n, k)), "count": rng.poisson(2.0, (n, k)) * 1.0,
         "labels": (rng.random((n, k)) > 0.5) * 1.0,
         "onehot": np.eye(k)[rng.integers(0, k, n)]}[y_kind]
    net = anynet.initialize_network([4, 5, k], activation="tanh", output_activation=output,
                                    loss=loss, init="xavier", seed=3)
    S = rng.random((n, 1)) + 0.5 if weighted else None
    K = rng.random((n, 5)) > 0.5 if dropout else None
    objective = batch_objective(net, weighted, True, dropout)
    params = {key: v.copy() for key, v in net.items()}
    l2 = 0.3 if weighted else 0.3 / n
    _, grads = objective(params, X, Y, S, K, l2)
    h = 1e-6

    def numeric_gradient(key, index, l2):
        plus = {q: v.copy() for q, v in params.items()}
        minus = {q: v.copy() for q, v in params.items()}
        plus[key][index] += h
        minus[key][index] -= h
        return (objective(plus, X, Y, S, K, l2)[0] -
                objective(minus, X, Y, S, K, l2)[0]) / (2 * h)

    for key, p in params.items():
        for index in np.ndindex(p.shape):
            numeric = numeric_gradient(key, index, l2)
            if loss == "squared_error":  # scikit-learn's: the data term's gradient k times
                numeric += (k - 1) * numeric_gradient(key, index, 0.0)
            assert grads["d" + key][index] == pytest.approx(numeric, rel=1e-5, abs=1e-8), \
                (key, index)


def test_the_penalty_is_on_the_weights_only_and_scaled_by_the_batch():
    X, y = _regression()
    net = anynet.initialize_network([3, 4, 1], activation="relu", loss="squared_error",
                                    init="xavier", seed=0)
    params = dict(net)
    Y = y.reshape(-1, 1)
    plain = batch_objective(net, False, False, ())(params, X, Y, None, None, 0.0)
    penalised = batch_objective(net, False, True, ())(params, X, Y, None, None, 0.5 / 40)
    weights = sum(np.sum(params[f"W{i}"] ** 2) for i in (1, 2))
    assert penalised[0] - plain[0] == pytest.approx(0.5 / 40 / 2 * weights)
    np.testing.assert_array_equal(penalised[1]["db1"], plain[1]["db1"])
    np.testing.assert_allclose(penalised[1]["dW1"] - plain[1]["dW1"], 0.5 / 40 * params["W1"])


def test_scikit_learn_losses_are_its_formulas():
    rng = np.random.default_rng(0)
    y, a = rng.poisson(3.0, (8, 2)) * 1.0, rng.random((8, 2)) + 0.5
    expected = np.mean(np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / a), 0)
                              - y + a, axis=1))
    assert LOSSES["poisson"](np, y, a) == pytest.approx(expected)
    t = (rng.random((8, 3)) > 0.5) * 1.0
    p = rng.random((8, 3)) * 0.8 + 0.1
    bll = -np.mean(np.sum(t * np.log(p) + (1 - t) * np.log(1 - p), axis=1))
    assert LOSSES["binary_log_loss"](np, t, p) == pytest.approx(bll)
    assert LOSSES["squared_error"](np, y, a) == pytest.approx(0.5 * np.mean((y - a) ** 2))


def test_dropout_masks_are_the_same_on_every_backend(xp_backend):
    X, y = blobs(n=50)
    options = dict(hidden=(6, 5), epochs=2, batch_size=16, dtype="float64", verbose=False,
                   seed=4, dropout=(0.3, 0.5))
    ref = anynet.train(X, y, backend="numpy", **options)
    net = anynet.train(X, y, backend=xp_backend.xp if xp_backend.name == "cupy_like"
                       else xp_backend.name, device=xp_backend.device, **options)
    for k, v in _params(ref).items():
        np.testing.assert_allclose(host(net[k]), v, rtol=1e-10, atol=1e-12)


def test_dropout_trains_differently_and_predicts_without_masks():
    X, y = blobs(n=80)
    options = dict(hidden=(16,), epochs=5, backend="numpy", dtype="float64", verbose=False)
    plain, dropped = anynet.train(X, y, **options), anynet.train(X, y, dropout=0.5, **options)
    assert not np.allclose(host(plain["W1"]), host(dropped["W1"]))
    np.testing.assert_array_equal(host(dropped.predict(X)), host(dropped.predict(X)))
    again = anynet.train(X, y, dropout=0.5, **options)
    np.testing.assert_array_equal(host(again["W1"]), host(dropped["W1"]))


@pytest.mark.parametrize("dropout, message", [
    (1.0, r"dropout must be in \[0, 1\)"), ((0.1, 0.2), "2 rates but the network has 1"),
    ("half", "a rate or a sequence of rates"), (True, "real number")])
def test_bad_dropout_is_named(dropout, message):
    X, y = blobs()
    with pytest.raises((ValueError, TypeError), match=message):
        anynet.train(X, y, hidden=(4,), epochs=1, verbose=False, backend="numpy",
                     dropout=dropout)


def test_invscaling_and_adaptive_learning_rates():
    X, y = _regression()
    net = _train(X, y, epochs=3, lr_schedule="invscaling")
    assert net.history["lr"] == pytest.approx([0.05 / (e * 40 + 1) ** 0.5 for e in range(3)])
    X2 = np.array([[3.0, 2.0], [1.0, 6.0]])
    net = anynet.train(X2, np.array([1, 0]), hidden=(4,), epochs=400, backend="numpy",
                       verbose=False, optimizer="sgd", learning_rate=0.1,
                       lr_schedule="adaptive", early_stopping="loss", tol=0.5, patience=3)
    lrs = sorted(set(net.history["lr"]), reverse=True)
    assert lrs[:3] == pytest.approx([0.1, 0.02, 0.004])
    assert net.history["stopped"] == "early_stopping" and lrs[-1] <= 1e-6


def test_tolerance_stopping_on_the_training_loss():
    X, y = _regression()
    net = _train(X, y, epochs=500, early_stopping="loss", tol=1e9, patience=4)
    assert len(net.history["loss"]) == 4 + 1  # the first epoch improves on infinity
    assert net.history["watch"]["waited"] == 4
    with pytest.raises(ValueError, match="early_stopping='val_score' is not known"):
        _train(X, y, early_stopping="val_score")
    never = _train(X, y, epochs=6, early_stopping="loss", tol=1e9, patience=math.inf)
    assert len(never.history["loss"]) == 6


def test_sparse_x_trains_as_dense_x():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = blobs(n=70)
    X[X < 0.3] = 0.0
    options = dict(hidden=(6,), epochs=3, batch_size=16, backend="numpy", dtype="float64",
                   verbose=False, validation_split=0.2)
    dense = anynet.train(X, y, **options)
    net = anynet.train(sparse.csr_matrix(X), y, **options)
    for k, v in _params(dense).items():
        np.testing.assert_allclose(host(net[k]), v, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="standardize=True needs dense X"):
        anynet.train(sparse.csr_matrix(X), y, standardize=True, **options)


def test_lbfgs_in_train_converges_and_says_why():
    X, y = blobs(n=60)
    net = anynet.train(X, y, hidden=(5,), epochs=500, optimizer="lbfgs", backend="numpy",
                       dtype="float64", verbose=False, alpha=1e-3, gtol=1e-6)
    assert net.history["stopped"] == "converged"
    assert net.history["loss"][-1] < net.history["loss"][0]
    small = anynet.train(X, y, hidden=(5,), epochs=500, optimizer="lbfgs", backend="numpy",
                         verbose=False, max_fun=5)
    assert small.history["stopped"] == "max_fun"
    assert 5 < small.optimizer.n_evals <= 5 + 20  # SciPy's rule: between iterations
    with pytest.raises(ValueError, match="dropout needs a stochastic optimizer"):
        anynet.train(X, y, hidden=(5,), optimizer="lbfgs", dropout=0.2, verbose=False,
                     backend="numpy")
    with pytest.raises(ValueError, match="without checkpoints"):
        anynet.train(X, y, optimizer="lbfgs", checkpoint="x.npz", verbose=False)


def test_dropout_leaves_the_forward_pass_alone_without_masks():
    X, _ = blobs(n=5)
    net = anynet.initialize_network([4, 3, 2], activation="relu", loss="cross_entropy",
                                    init="he", seed=0)
    keep = [np.ones((5, 3))]
    np.testing.assert_array_equal(propagation.forward(net, X, keep)[-1],
                                  propagation.forward(net, X)[-1])


def test_lbfgs_on_sparse_x_evaluates_chunks_as_dense_x(monkeypatch):
    """A sparse X is made dense a chunk at a time: the same objective, so the same run."""
    sparse = pytest.importorskip("scipy.sparse")
    from anynet import objective
    X, y = blobs(n=70)
    X[X < 0.3] = 0.0
    w = np.random.default_rng(0).random(70) + 0.5
    monkeypatch.setattr(objective, "CHUNK_ROWS", 16)  # five chunks, the last of 6 rows
    options = dict(hidden=(6,), epochs=15, optimizer="lbfgs", backend="numpy",
                   dtype="float64", verbose=False, alpha=0.01, sample_weight=w)
    dense = anynet.train(X, y, **options)
    net = anynet.train(sparse.csr_matrix(X), y, **options)
    assert net.history["loss"] == pytest.approx(dense.history["loss"], rel=1e-10)
    for k, v in _params(dense).items():
        np.testing.assert_allclose(host(net[k]), v, rtol=1e-7, atol=1e-9)


def test_the_new_options_give_the_same_run_on_every_backend(xp_backend):
    """Sample weights, alpha, a sparse X and L-BFGS (its line search's host reads) on
    each library and device, cupy_like's current-device model included: float64
    within 1e-9 of NumPy's."""
    sparse = pytest.importorskip("scipy.sparse")
    X, y = blobs(n=50)
    X[X < 0.2] = 0.0
    w = np.random.default_rng(1).random(50) + 0.5
    backend = xp_backend.xp if xp_backend.name == "cupy_like" else xp_backend.name
    for options in (dict(optimizer="lbfgs", epochs=8),
                    dict(optimizer="adam", epochs=3, batch_size=16, lr_schedule="invscaling",
                         early_stopping="val_metric", validation_split=0.2, tol=1e-3)):
        common = dict(hidden=(6,), dtype="float64", verbose=False, sample_weight=w,
                      alpha=0.01, **options)
        ref = anynet.train(sparse.csr_matrix(X), y, backend="numpy", **common)
        net = anynet.train(sparse.csr_matrix(X), y, backend=backend,
                           device=xp_backend.device, **common)
        assert net.history["loss"] == pytest.approx(ref.history["loss"], rel=1e-9)
        for k, v in _params(ref).items():
            np.testing.assert_allclose(host(net[k]), v, rtol=1e-9, atol=1e-11)


def test_the_validation_split_of_a_classifier_is_stratified(monkeypatch):
    from anynet import _run_data
    labels = np.array([0] * 50 + [1] * 30 + [2] * 3 + [3] * 1)
    for seed in range(5):
        order = _run_data.stratified_order(labels, 9, np.random.default_rng(seed))
        assert sorted(order) == list(range(84))  # a permutation
        assert np.bincount(labels[order[:9]], minlength=4).tolist() == [6, 3, 0, 0]
    # every class keeps a training row, even when the split asks for most of them
    order = _run_data.stratified_order(labels, 80, np.random.default_rng(0))
    assert set(labels[order[80:]]) == {0, 1, 2, 3}
    # train() holds out 10% of a 10% minority class: 2 of its 20 rows
    held = []
    real = _run_data.stratified_order

    def spy(labels, n_val, rng):
        order = real(labels, n_val, rng)
        held.append(labels[order[:n_val]])
        return order
    monkeypatch.setattr(_run_data, "stratified_order", spy)
    X, _ = blobs(n=200)
    y = (np.arange(200) < 20).astype(int)
    anynet.train(X, y, hidden=(3,), epochs=1, backend="numpy", verbose=False,
                 validation_split=0.1)
    assert np.bincount(held[0]).tolist() == [18, 2]


def test_a_batch_that_weighs_nothing_is_skipped():
    X, y = _regression(n=40)
    w = np.ones(40)
    w[:10] = 0.0  # the first batch of 10, in order
    options = dict(loss="squared_error", optimizer="adam", batch_size=10, epochs=3,
                   alpha=0.01)
    skipped = _train(X, y, sample_weight=w, **options)
    without = _train(X[10:], y[10:], **options)
    for k, v in _params(without).items():
        np.testing.assert_allclose(host(skipped[k]), v, rtol=1e-12, atol=1e-14)


def test_third_review_edges():
    """L-BFGS continued on other data starts afresh; what it would ignore is refused;
    the tutorial's network takes scikit-learn's losses; Poisson targets and weights
    are checked wherever they come from; a stratified split that cannot keep every
    class is refused; adaptive watches the training loss by itself; sparse X predicts."""
    from anynet.optimizers import LBFGS
    X, y = blobs(n=60)
    net = anynet.train(X, y, hidden=(4,), optimizer="lbfgs", epochs=200, verbose=False,
                       backend="numpy", dtype="float64")
    Xb, yb = blobs(n=60, seed=5)
    fresh = anynet.train(Xb, yb, hidden=(4,), optimizer="lbfgs", epochs=30, verbose=False,
                         backend="numpy", dtype="float64", network=net.copy())
    own = net.copy()  # its own optimizer, with the last run's state, continues
    assert own.optimizer.started
    again = anynet.train(Xb, yb, optimizer=own.optimizer, epochs=30, verbose=False,
                         network=own)
    assert again.history["loss"] == pytest.approx(fresh.history["loss"])

    class Mine(LBFGS):
        pass
    for bad in (dict(optimizer=Mine(), checkpoint="ck.npz"),
                dict(optimizer="lbfgs", weight_decay=0.1),
                dict(optimizer="lbfgs", clip_norm=1.0)):
        with pytest.raises(ValueError, match="lbfgs"):
            anynet.train(X, y, verbose=False, **bad)

    for loss in ("squared_error", "poisson"):
        tutorial = anynet.initialize_network(2, 2, 1, loss=loss)
        assert tutorial.output_activation == {"poisson": "exp"}.get(loss, "identity")

    counts = np.random.default_rng(0).poisson(2.0, 60) * 1.0
    poisson = anynet.train(X, counts, loss="poisson", hidden=(4,), epochs=1, verbose=False,
                           backend="numpy")
    with pytest.raises(ValueError, match="negative values"):
        anynet.train(X, counts - 5.0, network=poisson, epochs=1, verbose=False)
    with pytest.raises(ValueError, match="negative values"):
        anynet.train(X, counts, network=poisson, epochs=1, verbose=False,
                     validation_data=(X, counts - 5.0))

    with pytest.raises(ValueError, match="leave a class without training rows"):
        anynet.train(X[:6], np.array([0, 0, 1, 1, 2, 2]), validation_split=0.8,
                     verbose=False, backend="numpy")
    w = np.zeros(60)
    w[0] = 1.0
    with pytest.raises(ValueError, match="weigh nothing"):
        anynet.train(X, counts, sample_weight=w, validation_split=0.5, verbose=False,
                     backend="numpy")
    for tiny, message in ((1e-300, "sums to 0 in float32"), (1e39, "too large for float32")):
        with pytest.raises(ValueError, match=message):
            anynet.train(X, counts, sample_weight=np.full(60, tiny), verbose=False,
                         backend="numpy", dtype="float32")

    X2 = np.array([[3.0, 2.0], [1.0, 6.0]])
    adaptive = anynet.train(X2, np.array([1, 0]), hidden=(4,), epochs=300, backend="numpy",
                            verbose=False, optimizer="sgd", learning_rate=0.1,
                            lr_schedule="adaptive", tol=0.5, patience=3)
    assert min(adaptive.history["lr"]) < 0.1  # no early_stopping: the training loss

    sparse = pytest.importorskip("scipy.sparse")
    np.testing.assert_array_equal(host(net.predict(sparse.csr_matrix(X))),
                                  host(net.predict(X)))
