"""A regressor owns its target scaling (issue 18): ``standardize=True`` learns
``(y - mean) / scale`` and predicts in y's units, wherever the network goes."""
import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import anynet
from conftest import assert_on_backend, host, quiet


def _linear(n=400, scale=1.0, offset=0.0, n_outputs=1, seed=0):
    """Features of very different sizes, a linear target of size ``scale`` (plus a
    little curvature and noise), split 3:1."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)) * [1.0, 10.0, 100.0, 1e3] + [0.0, 50.0, 0.0, 1e4]
    Z = (X - [0.0, 50.0, 0.0, 1e4]) / [1.0, 10.0, 100.0, 1e3]
    W = rng.standard_normal((4, n_outputs))
    y = (Z @ W + 0.3 * np.sin(Z[:, :1]) + 0.05 * rng.standard_normal((n, n_outputs)))
    y = y * scale + offset
    y = y[:, 0] if n_outputs == 1 else y
    cut = 3 * n // 4
    return X[:cut], y[:cut], X[cut:], y[cut:]


def _r2(y, p):
    y, p = np.asarray(y, dtype=float).reshape(len(y), -1), np.asarray(p).reshape(len(y), -1)
    return np.mean(1 - ((y - p) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0))


def _linear_fit_r2(X, y, Xt, yt):
    A = np.c_[X, np.ones(len(X))]
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return _r2(yt, np.c_[Xt, np.ones(len(Xt))] @ coef)


@settings(max_examples=6, deadline=None)
@given(scale=st.sampled_from([1e-7, 1e-3, 1.0, 1e5, 3e8]),
       offset=st.sampled_from([0.0, 1.0, -5e5, 1e6]), n_outputs=st.sampled_from([1, 2]),
       dtype=st.sampled_from(["float32", "float64"]))
def test_any_size_of_target_trains_as_well_as_a_linear_fit(scale, offset, n_outputs, dtype):
    X, y, Xt, yt = _linear(scale=scale, offset=offset * scale, n_outputs=n_outputs)
    net = quiet(X, y, standardize=True, hidden=(32,), epochs=60, batch_size=32, dtype=dtype)
    mean, spread = (host(a) for a in net.target_scaling)
    assert mean.shape == spread.shape == (1, n_outputs)
    Y = np.reshape(y, (len(y), -1)).astype(dtype).astype(np.float64)  # as trained on
    np.testing.assert_allclose(mean[0], Y.mean(0), rtol=1e-5)
    # to float32's digits however large the offset (moments about a row of the data)
    np.testing.assert_allclose(spread[0], Y.std(0), rtol=1e-5)
    P = host(net.predict(Xt))
    assert P.dtype == np.dtype(dtype) and P.shape == (len(Xt), n_outputs)
    assert net.score(Xt, yt) == pytest.approx(_r2(yt, P), rel=1e-5, abs=1e-6)
    assert net.score(Xt, yt) > _linear_fit_r2(X, y, Xt, yt) - 0.02


def test_without_target_scaling_large_targets_fail_so_the_default_matters():
    """The case of the issue: house prices of 1e5 are not learnt unscaled."""
    X, y, Xt, yt = _linear(scale=1e5, offset=3e5)
    features_only = quiet(X, y, standardize="features", hidden=(32,), epochs=60,
                          batch_size=32)
    assert features_only.target_scaling is None and features_only.input_scaling is not None
    assert features_only.score(Xt, yt) < 0.5 < _linear_fit_r2(X, y, Xt, yt)


def test_the_tutorials_functions_speak_the_targets_units():
    X, y, _, _ = _linear(n=80, scale=1e4, offset=7e4)
    net = quiet(X, y, standardize=True, hidden=(8,), epochs=3, dtype="float64")
    mean, scale = (host(a) for a in net.target_scaling)
    y_pred, cache = anynet.forward_propagation(net, X)
    np.testing.assert_allclose(y_pred, net.predict(X), rtol=1e-12)
    np.testing.assert_allclose(anynet.predict(net, X), net.predict(X), rtol=1e-12)
    np.testing.assert_allclose(cache[-1] * scale + mean, y_pred, rtol=1e-12)
    # backward_propagation takes y in its units: the gradients of the trained objective
    plain = net.copy()
    plain.target_scaling = None
    grads = anynet.backward_propagation(net, cache, X, y)
    want = anynet.backward_propagation(plain, cache, X, (y[:, None] - mean) / scale)
    for key in want:
        np.testing.assert_allclose(grads[key], want[key], rtol=1e-12, atol=1e-15)


def test_only_regressors_with_an_identity_output_scale_their_targets():
    X, y, _, _ = _linear(n=60)
    assert quiet(X, (y > 0).astype(int), standardize=True, epochs=1).target_scaling is None
    assert quiet(X, np.c_[y > 0, y > 1].astype(int), standardize=True,
                 epochs=1).target_scaling is None
    counts = np.random.default_rng(0).poisson(3.0, len(y)).astype(float)
    assert quiet(X, counts, loss="poisson", standardize=True, epochs=1).target_scaling is None
    for loss in ("mse", "sse", "squared_error"):
        net = quiet(X, y * 1e3, loss=loss, standardize=True, epochs=1,
                    learning_rate=1e-4 if loss == "sse" else 1e-2)
        assert net.target_scaling is not None, loss
    assert quiet(X, y, epochs=1).target_scaling is None  # standardize=False: nothing
    with pytest.raises(TypeError, match="standardize must be True, False or 'features'"):
        quiet(X, y, standardize="targets")


def test_a_column_too_large_to_standardise_is_named():
    X, y, _, _ = _linear(n=60, n_outputs=2)
    y[:2, 1] = [1e300, -1e300]
    with pytest.raises(ValueError, match="y column 1 cannot be standardised"):
        quiet(X, y, standardize=True, dtype="float64", epochs=1)


def test_saved_loaded_pickled_copied_and_warm_started(tmp_path):
    X, y, Xt, yt = _linear(n=120, scale=2e5, offset=1e6, n_outputs=2)
    net = quiet(X, y, standardize=True, hidden=(8,), epochs=5, dtype="float64")
    path = anynet.save(net, tmp_path / "m.npz")
    with np.load(path) as f:  # an anynet before target scaling refuses the file
        description = json.loads(f["__anynet__"].tobytes())
    assert description["format_version"] == 3 and description["target_scaling"] is True
    for twin in (anynet.load(path), anynet.load(path, backend="torch", dtype="float32"),
                 pickle.loads(pickle.dumps(net)), net.copy()):
        np.testing.assert_allclose(host(twin.predict(Xt)), net.predict(Xt), rtol=1e-5)
    safetensors = pytest.importorskip("safetensors")
    assert safetensors
    loaded = anynet.load(anynet.save(net, tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.predict(Xt), net.predict(Xt))
    # a warm start keeps the scaling and keeps learning the same objective
    before = net.history["loss"]
    more = anynet.train(X, y, network=net, optimizer=net.optimizer, epochs=20,
                        verbose=False)
    assert more.target_scaling is net.target_scaling
    assert more.history["loss"][-1] < more.history["loss"][0] < before[-1]


def test_a_damaged_target_scale_is_refused(tmp_path):
    X, y, _, _ = _linear(n=60)
    path = anynet.save(quiet(X, y, standardize=True, epochs=1), tmp_path / "m.npz")
    with np.load(path) as f:
        arrays = dict(f)
    arrays["target.scale"] = np.zeros_like(arrays["target.scale"])
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="'target.scale' holds scales that are not >= "
                                         "1.18e-38 in float32"):
        anynet.load(tmp_path / "bad.npz")
    del arrays["target.mean"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="array 'target.mean' is missing"):
        anynet.load(tmp_path / "bad.npz")


def test_checkpoint_then_resume_is_exact_with_target_scaling(tmp_path):
    X, y, _, _ = _linear(n=100, scale=1e5, offset=5e5)
    options = dict(standardize=True, hidden=(8,), epochs=6, batch_size=16, dtype="float64",
                   validation_split=0.2)
    whole = quiet(X, y, **options)
    quiet(X, y, **dict(options, epochs=3), checkpoint=tmp_path / "run.npz")
    resumed = quiet(X, y, **options, checkpoint=tmp_path / "run.npz", resume=True)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key])
    assert resumed.history["loss"] == whole.history["loss"]
    for mine, theirs in zip(resumed.target_scaling, whole.target_scaling):
        np.testing.assert_array_equal(mine, theirs)


def test_every_backend_scales_alike(xp_backend):
    X, y, Xt, _ = _linear(n=60, scale=1e4, offset=2e4, n_outputs=2)
    options = dict(standardize=True, hidden=(6,), epochs=4, batch_size=16, dtype="float64",
                   validation_split=0.2)
    reference = quiet(X, y, **options)
    net = quiet(X, y, backend=xp_backend, **options)
    for mine, theirs in zip(net.target_scaling, reference.target_scaling):
        assert_on_backend(mine, xp_backend, "float64")
        np.testing.assert_allclose(host(mine), theirs, rtol=1e-12)
    P = net.predict(Xt)
    assert_on_backend(P, xp_backend, "float64")
    np.testing.assert_allclose(host(P), reference.predict(Xt), rtol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scaling_keeps_the_deviations_digits_beside_a_large_offset(dtype):
    """Features and targets alike: a column of 5e4 +- 1e-2 (float32 holds it to 4e-3)
    is standardised by its own deviation, not by float32's rounding of the offset."""
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((500, 3)) * [1e-2, 1.0, 3e30] + [5e4, -7.0, 0.0]).astype(dtype)
    y = X[:, 0].astype(np.float64) * 2.0
    net = quiet(X, y, standardize=True, epochs=1, dtype=dtype)
    for (mean, scale), data in ((net.input_scaling, X), (net.target_scaling, y[:, None])):
        data = data.astype(dtype).astype(np.float64)
        # the mean to the dtype's own spacing there, the deviation to its digits
        spacing = np.spacing(np.abs(data.mean(0)).astype(dtype)).astype(np.float64)
        np.testing.assert_array_less(np.abs(host(mean)[0] - data.mean(0)),
                                     np.maximum(1e-6 * data.std(0), spacing))
        np.testing.assert_allclose(host(scale)[0], data.std(0), rtol=1e-5)


@pytest.mark.parametrize("first, then", [(True, "features"), ("features", True),
                                         (True, False)])
def test_a_resume_with_another_scaling_is_another_run(tmp_path, first, then):
    """standardize is fingerprinted by value: scaling the targets or not is another run."""
    X, y, _, _ = _linear(n=60, scale=1e3)
    path = tmp_path / "run.npz"
    quiet(X, y, standardize=first, epochs=1, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="checkpoint is of another run.*standardize"):
        quiet(X, y, standardize=then, epochs=2, checkpoint=path, resume=True)
    assert path.read_bytes() == before


def test_the_sklearn_estimators_scale_nothing():
    """They give scikit-learn's numbers: its MLPRegressor learns y as given."""
    pytest.importorskip("sklearn")
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor as Theirs
    from anynet.sklearn import MLPRegressor
    X, y, _, _ = _linear(n=60, scale=1e3, offset=5e3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
        theirs = Theirs(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    assert ours._network.target_scaling is None and ours._network.input_scaling is None
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-6)
