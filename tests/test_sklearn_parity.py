"""anynet.sklearn gives scikit-learn's numbers at scikit-learn's defaults: the batches
drawn from random_state as scikit-learn draws them, multi-output regression's gradient,
the clipped log losses. Oracle: scikit-learn's own MLP estimators, in float64."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402

from anynet.losses import LOSSES, clipped_probabilities  # noqa: E402
from anynet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

RTOL = 1e-6


def _data(task, n, f, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, f))
    if task == "regression":
        return X, X[:, :1] * 0.7 - X[:, 1:2] ** 2
    if task == "multi-output":
        return X, np.column_stack([X[:, 0] - X[:, 1], X[:, 0] * X[:, 1], -X[:, 0]])
    if task == "multilabel":
        return X, (X[:, :2] + 0.3 * rng.standard_normal((n, 2)) > 0).astype(int)
    classes = 2 if task == "binary" else 3
    y = np.arange(n) % classes  # every class, several times
    return X + 0.8 * np.eye(classes, f)[y], y


def _fit_both(task, X, y, how="fit", sample_weight=None, **params):
    regress = task in ("regression", "multi-output")
    if task == "regression":
        y = y[:, 0]
    Sk, Any = (SkRegressor, MLPRegressor) if regress else (SkClassifier, MLPClassifier)
    models = []
    for make in (Sk, Any):
        model = make(**params)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if how == "fit":
                model.fit(X, y, sample_weight=sample_weight)
            else:
                for _ in range(how):
                    extra = {} if regress else {"classes": np.unique(y) if y.ndim == 1
                                                else np.arange(y.shape[1])}
                    model.partial_fit(X, y, sample_weight=sample_weight, **extra)
        model.said = sorted(str(w.message) for w in caught
                            if issubclass(w.category, ConvergenceWarning))
        models.append(model)
    return models


def _assert_same(sk, mine):
    assert mine.n_iter_ == sk.n_iter_
    assert mine.t_ == sk.t_
    for name in ("coefs_", "intercepts_"):
        for theirs, ours in zip(getattr(sk, name), getattr(mine, name)):
            np.testing.assert_allclose(ours, theirs, rtol=0,
                                       atol=RTOL * np.max(np.abs(theirs)))
    np.testing.assert_allclose(mine.loss_curve_, sk.loss_curve_, rtol=RTOL)
    assert mine.loss_ == pytest.approx(sk.loss_, rel=RTOL, nan_ok=True)  # NaN: diverged
    assert all(type(v) is float for v in mine.loss_curve_) and type(mine.loss_) is float
    if sk.validation_scores_ is not None:
        np.testing.assert_allclose(mine.validation_scores_, sk.validation_scores_,
                                   rtol=RTOL)
        assert mine.best_validation_score_ == pytest.approx(sk.best_validation_score_,
                                                            nan_ok=True)
    else:
        assert mine.best_loss_ == pytest.approx(sk.best_loss_, rel=RTOL, nan_ok=True)
    assert mine.said == sk.said


configs = st.fixed_dictionaries({
    "task": st.sampled_from(["binary", "multiclass", "multilabel", "regression",
                             "multi-output"]),
    "n": st.integers(25, 70), "f": st.integers(2, 5), "data_seed": st.integers(0, 999),
    "random_state": st.integers(0, 10_000),
    "solver": st.sampled_from(["adam", "sgd"]),
    "batch_size": st.one_of(st.just("auto"), st.integers(1, 80)),
    "hidden_layer_sizes": st.lists(st.integers(1, 8), min_size=1, max_size=2).map(tuple),
    "activation": st.sampled_from(["relu", "tanh", "logistic", "identity"]),
    "early_stopping": st.booleans(), "shuffle": st.booleans(),
    "alpha": st.sampled_from([0.0, 1e-4, 0.05]),
    "learning_rate": st.sampled_from(["constant", "invscaling", "adaptive"]),
    "learning_rate_init": st.sampled_from([1e-3, 1e-2, 0.1]),
    "max_iter": st.integers(2, 15), "n_iter_no_change": st.integers(1, 4),
    "weighted": st.booleans(),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs)
def test_random_configurations_give_scikit_learns_fit(config):
    """Every parameter drawn at random (the defaults among them): coefs_, intercepts_,
    n_iter_, t_, the loss curve, the validation scores and the warnings are
    scikit-learn's."""
    c = dict(config)
    task, n, f, seed, weighted = (c.pop(k) for k in ("task", "n", "f", "data_seed",
                                                     "weighted"))
    X, y = _data(task, n, f, seed)
    weights = np.random.default_rng(seed).random(n) + 0.5 if weighted else None
    sk, mine = _fit_both(task, X, y, sample_weight=weights, **c)
    # a run that overflows (sgd at 0.1 on one row a batch) leaves inf and NaN whose
    # order of arithmetic differs; scikit-learn's numbers are promised for finite runs
    assume(np.all(np.isfinite(sk.loss_curve_)) and np.all(np.isfinite(
        sk.validation_scores_ if sk.validation_scores_ is not None else 0.0)))
    _assert_same(sk, mine)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multi-output"])
@pytest.mark.parametrize("batch_size", ["auto", 7])
def test_the_defaults_are_scikit_learns_run(task, batch_size):
    """Nothing but random_state (and a batch_size): the shuffled batches are
    scikit-learn's, epoch after epoch, with and without early stopping."""
    X, y = _data(task, 230, 4, 3)  # more rows than a batch: the order matters
    for early in (False, True):
        sk, mine = _fit_both(task, X, y, random_state=5, max_iter=8, batch_size=batch_size,
                             early_stopping=early)
        _assert_same(sk, mine)


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "multi-output"])
def test_partial_fit_is_scikit_learns(task):
    X, y = _data(task, 230, 3, 9)
    for solver in ("adam", "sgd"):
        sk, mine = _fit_both(task, X, y, how=4, random_state=2, solver=solver,
                             learning_rate="adaptive", n_iter_no_change=1)
        _assert_same(sk, mine)


def test_multi_output_regression_takes_scikit_learns_gradient():
    """sgd shows the gradient's scale (Adam hides it): (a - y) / n, not / (n k)."""
    X, y = _data("multi-output", 60, 3, 1)
    sk, mine = _fit_both("multi-output", X, y, solver="sgd", random_state=0, max_iter=10,
                         learning_rate_init=0.05)
    _assert_same(sk, mine)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_saturated_log_losses_are_scikit_learns(task):
    """Outputs driven to 0 and 1: probabilities clipped to [eps, 1 - eps] as
    scikit-learn clips them, so loss_curve_, best_loss_ and the stopping rule agree."""
    X, y = _data(task, 60, 3, 4)
    X = X * 300.0  # saturates the logistic and softmax outputs at once
    for early in (False, True):
        sk, mine = _fit_both(task, X, y, solver="sgd", learning_rate_init=1.0,
                             random_state=1, max_iter=8, early_stopping=early)
        assert max(sk.loss_curve_) > 20.0  # saturated: beyond -log(0.5) many times
        _assert_same(sk, mine)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipped_probabilities_bound_the_log_losses(dtype):
    a = np.array([[0.0, 1.0, 0.5]], dtype=dtype)
    eps = np.finfo(dtype).eps
    np.testing.assert_array_equal(clipped_probabilities(np, a), np.array([[eps, 1 - eps, 0.5]],
                                                                         dtype=dtype))
    y = np.array([[1.0, 0.0, 1.0]], dtype=dtype)
    want = -(np.log(dtype(eps)) + np.log(dtype(eps)) + np.log(dtype(0.5)))
    assert LOSSES["binary_log_loss"](np, y, a) == pytest.approx(want, rel=1e-6)
    one_hot = np.array([[1.0, 0.0, 0.0]], dtype=dtype)
    assert LOSSES["log_loss"](np, one_hot, a) == pytest.approx(-np.log(dtype(eps)), rel=1e-6)
    assert LOSSES["cross_entropy"](np, one_hot, a) == pytest.approx(100.0)  # anynet's own


# --- one owner of the parameters; scikit-learn's parameter errors; classes_ ------------

def _fitted(backend=None):
    X, y = _data("multiclass", 40, 3, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                             backend=backend).fit(X, y), X


@pytest.mark.parametrize("backend", [None, "array_api_strict"])
def test_hand_edits_of_coefs_reach_the_predictions(backend):
    model, X = _fitted(backend)
    before = model.predict_proba(X)
    if backend is None:  # NumPy out of the NumPy backend: the network's own arrays
        kept = model.coefs_[1].copy(), model.intercepts_[1].copy()
        model.coefs_[1][...] = 0.0
        model.intercepts_[1][...] = 0.0
        np.testing.assert_allclose(model.predict_proba(X), 1.0 / 3.0)
        model.coefs_[1][...], model.intercepts_[1][...] = kept
        np.testing.assert_array_equal(model.predict_proba(X), before)
    model.coefs_ = [c * 2.0 for c in model.coefs_]  # assigning the list
    doubled = model.predict_proba(X)
    assert not np.allclose(doubled, before)
    model.intercepts_[0] = model.intercepts_[0] + 1.0  # assigning an item
    assert not np.allclose(model.predict_proba(X), doubled)
    assert isinstance(model.coefs_[0], np.ndarray)
    with pytest.raises(ValueError, match=r"coefs_\[0\] must have shape \(3, 4\)"):
        model.coefs_ = [np.zeros((4, 4)), model.coefs_[1]]
    with pytest.raises(ValueError, match="intercepts_ needs 2 arrays"):
        model.intercepts_ = model.intercepts_[:1]


def test_a_transposed_coef_set_by_hand_trains_as_a_contiguous_one():
    """coefs_ given as W.T (not C-contiguous) train as the same values given
    C-contiguous: the fused Adam never updates part of the parameters twice."""
    model, X = _fitted()
    twin, _ = _fitted()
    W = np.asfortranarray(model.coefs_[1] + 0.1)
    model.coefs_[1] = W
    twin.coefs_[1] = np.ascontiguousarray(W)
    y = _data("multiclass", 40, 3, 0)[1]
    for m in (model, twin):
        m.partial_fit(X, y)
    for a, b in zip(model.coefs_, twin.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("params", [dict(alpha=-1.0), dict(solver="newton"),
                                    dict(batch_size=0), dict(momentum=2.0),
                                    dict(hidden_layer_sizes=0), dict(max_iter=1.5),
                                    dict(shuffle="yes"), dict(n_iter_no_change=0)])
def test_parameter_errors_are_scikit_learns(params):
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = _data("binary", 20, 2, 0)
    errors = []
    for make in (SkClassifier, MLPClassifier):
        with pytest.raises(InvalidParameterError) as caught:
            make(**params).fit(X, y)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_classes_stay_numpy_under_array_api_dispatch():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    import sklearn
    X, y = _data("multiclass", 40, 3, 0)
    with sklearn.config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(
            torch.asarray(X), torch.asarray(y))
        assert isinstance(model.classes_, np.ndarray)  # as scikit-learn's LabelBinarizer
        assert isinstance(model.coefs_[0], torch.Tensor)  # the input's namespace
        assert isinstance(model.predict(torch.asarray(X)), torch.Tensor)


@pytest.mark.parametrize("learning_rate", ["invscaling", "adaptive", "constant"])
def test_warm_starts_with_shuffled_batches_are_scikit_learns(learning_rate):
    """A second fit goes on from the first: invscaling's t0 > 0 (its first epoch at the
    base rate, as scikit-learn's new optimizer), the stopping count, the stream."""
    X, y = _data("multiclass", 90, 3, 2)
    models = []
    for make in (SkClassifier, MLPClassifier):
        model = make(solver="sgd", learning_rate=learning_rate, learning_rate_init=0.2,
                     hidden_layer_sizes=(5,), batch_size=16, max_iter=6, warm_start=True,
                     random_state=3, n_iter_no_change=2, tol=0.05)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y).fit(X, y)
        model.said = sorted(str(w.message) for w in caught
                            if issubclass(w.category, ConvergenceWarning))
        models.append(model)
    _assert_same(*models)


def test_invscaling_starts_at_the_base_rate_then_counts_the_samples_seen():
    from anynet.schedules import InvScaling
    schedule = InvScaling(power_t=0.5, t0=30)
    schedule.samples_per_epoch = 10
    assert schedule(0, 0.1, {}) == 0.1
    assert schedule(2, 0.1, {}) == pytest.approx(0.1 / (30 + 20 + 1) ** 0.5)
