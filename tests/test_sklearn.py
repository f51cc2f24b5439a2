"""The scikit-learn estimators: scikit-learn's own MLP tests and checks, pipelines,
backends, and scikit-learn's Array API convention."""
import pathlib
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.neural_network import tests as sklearn_mlp_tests  # noqa: E402
from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import LabelBinarizer, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from anynet.sklearn import (MLPClassifier, MLPRegressor, NeuralNetClassifier,  # noqa: E402
                            NeuralNetRegressor)

# --- scikit-learn's own tests of its MLP, run on anynet's --------------------------------
# The installed scikit-learn's file, with only its import line changed; test_fit and
# test_gradient set or call scikit-learn's private attributes: ported below.

_SOURCE = pathlib.Path(sklearn_mlp_tests.__file__).parent / "test_mlp.py"
_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
_CODE = _SOURCE.read_text()
assert _IMPORT in _CODE, "scikit-learn's test file no longer has the import line we change"
_SKLEARN_TESTS = {}
exec(compile(_CODE.replace(_IMPORT, "from anynet.sklearn import MLPClassifier, MLPRegressor"),
             str(_SOURCE), "exec"), _SKLEARN_TESTS)
_PRIVATE = ("test_fit", "test_gradient")
for _name, _test in _SKLEARN_TESTS.items():
    if _name.startswith("test_") and _name not in _PRIVATE:
        globals()[f"test_sklearn_{_name[5:]}"] = _test


def test_the_scikit_learn_file_ran_against_anynet():
    assert _SKLEARN_TESTS["MLPClassifier"] is MLPClassifier
    ran = [k for k in globals() if k.startswith("test_sklearn_")]
    assert len(ran) >= 40, ran


def test_fit():
    """scikit-learn's worked example (test_fit), through public attributes only: the
    weights set as coefs_ and intercepts_, one partial_fit, the updated weights."""
    X = np.array([[0.6, 0.8, 0.7]])
    y = np.array([0])
    mlp = MLPClassifier(solver="sgd", learning_rate_init=0.1, alpha=0.1,
                        activation="logistic", random_state=1, max_iter=1,
                        hidden_layer_sizes=2, momentum=0)
    mlp.partial_fit(X, y, classes=[0, 1])  # builds the network; its weights are then set
    mlp.coefs_ = [np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0]]), np.array([[0.1], [0.2]])]
    mlp.intercepts_ = [np.array([0.1, 0.1]), np.array([1.0])]
    mlp.partial_fit(X, y)
    np.testing.assert_almost_equal(
        mlp.coefs_[0],
        np.array([[0.098, 0.195756], [0.2956664, 0.096008], [0.4939998, -0.002244]]),
        decimal=3)
    np.testing.assert_almost_equal(mlp.coefs_[1], np.array([[0.04706], [0.154089]]),
                                   decimal=3)
    np.testing.assert_almost_equal(mlp.intercepts_[0], np.array([0.098333, 0.09626]),
                                   decimal=3)
    np.testing.assert_almost_equal(mlp.intercepts_[1], np.array([0.9235]), decimal=3)
    np.testing.assert_almost_equal(mlp.predict_proba(X)[0, 1], 0.739, decimal=3)


@pytest.mark.parametrize("n_labels", [2, 3])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_gradient(n_labels, activation):
    """scikit-learn's test_gradient through public attributes: the objective L-BFGS
    minimises (log loss + alpha / 2 ||W||^2 / n) at weights set as coefs_ and
    intercepts_, its gradient against central differences."""
    from anynet.objective import training_objective
    n_samples, n_features = 5, 10
    rng = np.random.RandomState(seed=42)
    X = rng.rand(n_samples, n_features)
    y = 1 + np.mod(np.arange(n_samples) + 1, n_labels)
    Y = LabelBinarizer().fit_transform(y).astype(float)
    mlp = MLPClassifier(activation=activation, hidden_layer_sizes=10, solver="lbfgs",
                        alpha=1e-5, learning_rate_init=0.2, max_iter=1, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    theta = np.hstack([w.ravel() for w in mlp.coefs_ + mlp.intercepts_])

    # the fitted network, rebuilt from the public attributes alone
    import anynet
    output, loss = ("softmax", "cross_entropy") if mlp.out_activation_ == "softmax" else \
        ("sigmoid", "binary_log_loss")
    net = anynet.initialize_network(
        [n_features, mlp.hidden_layer_sizes, mlp.n_outputs_], output_activation=output,
        activation={"logistic": "sigmoid"}.get(activation, activation), loss=loss)
    net.update({**{f"W{i}": w for i, w in enumerate(mlp.coefs_, start=1)},
                **{f"b{i}": b.reshape(1, -1) for i, b in enumerate(mlp.intercepts_, start=1)}})
    # anynet's flat vector is W1, b1, W2, b2; scikit-learn's is W1, W2, b1, b2
    blocks, start = {}, 0
    for w in mlp.coefs_:
        blocks[f"W{len(blocks) + 1}"] = np.arange(start, start + w.size)
        start += w.size
    for i, b in enumerate(mlp.intercepts_, start=1):
        blocks[f"b{i}"] = np.arange(start, start + b.size)
        start += b.size
    to_anynet = np.concatenate([blocks[k] for k in net])  # anynet's entry j is theta's
    fun = training_objective(net, _Data(net, X, Y), 1e-5, ())

    def loss_grad(t):
        """The objective at scikit-learn's flat vector t, and its gradient in that order."""
        f, g = fun(t[to_anynet])
        grad = np.empty_like(t)
        grad[to_anynet] = np.asarray(g)
        return float(f), grad

    value, grad = loss_grad(theta)
    # the objective is the estimator's: its log loss (predict_proba) plus alpha's penalty
    P = np.clip(mlp.predict_proba(X), 1e-15, 1.0)
    log_loss = -np.mean(np.sum(Y * np.log(P[:, 1:] if n_labels == 2 else P), axis=1) +
                        (np.sum((1 - Y) * np.log(P[:, :1]), axis=1) if n_labels == 2 else 0))
    penalty = 1e-5 / 2 * sum(np.sum(w * w) for w in mlp.coefs_) / n_samples
    assert value == pytest.approx(log_loss + penalty, rel=1e-10)
    eps = 1e-5
    numgrad = np.array([(loss_grad(theta + eps * e)[0] - loss_grad(theta - eps * e)[0])
                        / (2 * eps) for e in np.eye(theta.size)])
    np.testing.assert_almost_equal(numgrad, grad)


class _Data:
    """The few fields of anynet's RunData that the L-BFGS program reads."""

    def __init__(self, net, X, Y):
        from anynet.tasks import Task
        self.X, self.Y, self.S, self.sparse = X, Y, None, False
        self.n_total = X.shape[0]
        self.task = Task(net.loss, net.output_activation, Y.shape[1])


# --- scikit-learn's estimator checks -----------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([MLPClassifier(max_iter=20), MLPRegressor(max_iter=20)])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pipeline_grid_search_and_cross_validation(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, hidden_layer_sizes=(32,),
                                                         learning_rate_init=0.01,
                                                         random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert search.best_score_ > 0.8


def test_the_former_names_are_the_same_classes():
    assert NeuralNetClassifier is MLPClassifier and NeuralNetRegressor is MLPRegressor


def test_a_backend_module_is_refused_clearly(digits):
    import numpy
    from sklearn.utils._param_validation import InvalidParameterError
    with pytest.raises(InvalidParameterError,
                       match="'backend' parameter of MLPClassifier must be None or an "
                             "instance of 'str'"):
        MLPClassifier(backend=numpy).fit(*digits)


def test_pickles_and_keeps_predicting():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y / 100)
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_the_same_fit_on_every_backend(xp_backend, digits, solver):
    """float64: every backend trains the same network (initialisation, batches,
    optimizer, stopping) to within 1e-8 of NumPy's (L-BFGS on every backend:
    test_objectives.py and test_lbfgs.py)."""
    if xp_backend.name == "cupy_like":
        pytest.skip("the estimators take backends by name; cupy_like is a module")
    X, y = digits[0][:200], digits[1][:200]
    options = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, solver=solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(backend=xp_backend.name, device=xp_backend.device, **options)
        clf.fit(X, y)
        ref = MLPClassifier(**options).fit(X, y)
    assert clf._network.backend.name == xp_backend.name
    assert isinstance(clf.predict_proba(X), np.ndarray)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    assert clf.loss_curve_ == pytest.approx(ref.loss_curve_, rel=1e-9)


@pytest.mark.parametrize("library", ["torch", "array_api_strict"])
def test_array_api_dispatch_answers_in_the_inputs_namespace(library, digits):
    """With array_api_dispatch, the work runs on X's library and device, and the
    fitted attributes and predictions are arrays of it; without, NumPy in and out."""
    xp = pytest.importorskip(library)
    X, y = digits[0][:150], digits[1][:150]
    Xa = xp.asarray(X)
    options = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with sklearn.config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(**options).fit(Xa, xp.asarray(y.astype(np.float64)))
        clf = MLPClassifier(**options).fit(Xa, xp.asarray(y))
        P, pred, proba = reg.predict(Xa), clf.predict(Xa), clf.predict_proba(Xa)
    for a in (P, pred, proba, *reg.coefs_, *clf.intercepts_):
        assert type(a).__module__.split(".")[0] == library.split(".")[0], type(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = MLPClassifier(**options).fit(X, y)
    np.testing.assert_allclose(np.asarray(proba), ref.predict_proba(X), atol=1e-8)
    assert isinstance(ref.coefs_[0], np.ndarray)


def test_dropout_changes_the_fit_and_is_off_when_predicting(digits):
    X, y = digits
    options = dict(hidden_layer_sizes=(64,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifier(**options).fit(X, y)
        dropped = MLPClassifier(dropout=0.5, **options).fit(X, y)
    assert not np.allclose(plain.coefs_[0], dropped.coefs_[0])
    assert dropped.score(X, y) > 0.8
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    with pytest.raises(ValueError, match="dropout needs solver"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier(dropout=1.0, max_iter=2).fit(X, y)


# --- the same numbers as scikit-learn's own estimators -----------------------------------

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _both(options, X, y, fit=lambda m, X, y: m.fit(X, y), regress=False):
    ours, theirs = (MLPRegressor, SkRegressor) if regress else (MLPClassifier, SkClassifier)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(ours(**options), X, y), fit(theirs(**options), X, y)


@pytest.mark.parametrize("options", [
    dict(solver="adam"), dict(solver="sgd", learning_rate_init=0.05),
    dict(solver="sgd", nesterovs_momentum=False, momentum=0.5),
    dict(solver="sgd", learning_rate="invscaling", power_t=0.3, learning_rate_init=0.2),
    dict(solver="adam", learning_rate="adaptive", tol=1e-2),  # adam ignores learning_rate
    dict(solver="adam", early_stopping=True, batch_size=32),
    dict(solver="sgd", alpha=0.1, activation="logistic", batch_size=50)],
    ids=["adam", "sgd", "momentum", "invscaling", "adam-adaptive", "early", "logistic"])
def test_loss_curves_are_scikit_learns(options):
    X, y = _iris()
    options = dict(hidden_layer_sizes=(7,), max_iter=25, shuffle=False, random_state=0,
                   **options)
    ours, theirs = _both(options, X, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)
    assert ours.n_iter_ == theirs.n_iter_
    if options.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)


def test_weighted_validation_scores_are_scikit_learns():
    X, y = _iris()
    weights = np.r_[np.ones(100), np.full(50, 5.0)]
    options = dict(early_stopping=True, random_state=0, max_iter=8, hidden_layer_sizes=(5,))
    ours, theirs = _both(options, X, y, fit=lambda m, X, y: m.fit(X, y,
                                                                  sample_weight=weights))
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)


def test_partial_fit_adapts_and_counts_as_scikit_learn():
    X, y = _iris()
    options = dict(solver="sgd", learning_rate="adaptive", tol=1e-1, n_iter_no_change=2,
                   random_state=0, shuffle=False, hidden_layer_sizes=(5,))

    def twenty(m, X, y):
        for _ in range(20):
            m.partial_fit(X, y, classes=[0, 1, 2])
        return m
    ours, theirs = _both(options, X, y, fit=twenty)
    assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate)
    assert ours._no_improvement_count == theirs._no_improvement_count
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_pickled_estimator_continues_its_optimizer(solver):
    X, y = _iris()
    model = MLPClassifier(solver=solver, random_state=0, hidden_layer_sizes=(5,))
    for _ in range(3):
        model.partial_fit(X, y, classes=[0, 1, 2])
    twin = pickle.loads(pickle.dumps(model))
    for _ in range(3):
        model.partial_fit(X, y)
        twin.partial_fit(X, y)
    np.testing.assert_array_equal(twin.coefs_[0], model.coefs_[0])


@pytest.mark.parametrize("change, message", [
    (dict(dropout=[0.1, 0.2]), "2 rates but the network has 1"),
    (dict(dropout=1.5), r"dropout must be in \[0, 1\)"),
    (dict(momentum=1.5, solver="sgd"), r"'momentum' parameter of MLPClassifier must be a "
                                       r"float in the range \[0.0, 1.0\]"),
    (dict(activation="softmax"), "'activation' parameter of MLPClassifier must be a str "
                                 "among")])
def test_a_failing_refit_leaves_the_fitted_estimator_alone(change, message):
    X, y = _iris()
    model = MLPClassifier(max_iter=5, random_state=0, hidden_layer_sizes=(5,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    before = [c.copy() for c in model.coefs_], model.n_iter_, model.t_
    with pytest.raises(ValueError, match=message):
        model.set_params(**change).fit(X, y)
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        model.set_params(**{k: MLPClassifier().get_params()[k] for k in change}).fit(
            X, y, sample_weight=-np.ones(len(y)))
    for c, b in zip(model.coefs_, before[0]):
        np.testing.assert_array_equal(c, b)
    assert (model.n_iter_, model.t_) == before[1:]


def test_a_warm_start_in_another_namespace_is_refused():
    torch = pytest.importorskip("torch")
    X, y = _iris()
    with sklearn.config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(warm_start=True, max_iter=3).fit(torch.asarray(X),
                                                                torch.asarray(y))
        with pytest.raises(ValueError, match=r"MLPClassifier.fit\(\) must use the same"):
            model.fit(X, y)
        with pytest.raises(ValueError, match="Expected a 2D array"):
            model.predict(torch.asarray(X[0]))


# --- warm starts, verbose output, L-BFGS's edges, as scikit-learn ------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("options", [
    dict(solver="adam", tol=1e-2, max_iter=20),  # converged: one more epoch, then stop
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1, tol=0,
         max_iter=3)])  # each fit's new optimizer starts at the base rate
def test_a_warm_start_goes_on_as_scikit_learns(options):
    X, y = _iris()
    options = dict(random_state=0, hidden_layer_sizes=(5,), warm_start=True, shuffle=False,
                   **options)

    def twice(m, X, y):
        return m.fit(X, y).fit(X, y)
    ours, theirs = _both(options, X, y, fit=twice)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)


def test_verbose_says_what_scikit_learn_says(capsys):
    X, y = _iris()
    options = dict(solver="sgd", learning_rate="adaptive", tol=0.5, n_iter_no_change=2,
                   max_iter=12, random_state=0, verbose=True, hidden_layer_sizes=(5,),
                   warm_start=True)
    said = []
    for cls in (MLPClassifier, SkClassifier):
        model = cls(**options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
            model.partial_fit(X, y)
        said.append([line.split(", loss")[0] for line in capsys.readouterr().out.split("\n")])
    assert said[0] == said[1]
    assert any("Setting learning rate to 0.000200" in line for line in said[0])
    for cls in (MLPClassifier, SkClassifier):  # lbfgs: nothing (SciPy >= 1.15 prints nothing)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cls(solver="lbfgs", verbose=True, max_iter=3).fit(X, y)
        assert capsys.readouterr().out == ""


def test_lbfgs_edges_are_scikit_learns():
    X, y = _iris()
    options = dict(solver="lbfgs", tol=100.0, random_state=0, hidden_layer_sizes=(3,))
    assert MLPClassifier(**options).fit(X, y).n_iter_ == 0  # converged where it starts
    for early_stopping in (False, True):  # not an L-BFGS option: the same refusal
        with pytest.raises(ValueError, match="Solver produced non-finite"):
            MLPRegressor(solver="lbfgs", early_stopping=early_stopping, max_iter=5,
                         hidden_layer_sizes=(3,)).fit(X * 1e200, y)


def test_a_diverging_early_stopped_run_keeps_its_lists_in_step():
    X, y = make_regression(n_samples=100, n_features=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPRegressor(solver="sgd", early_stopping=True, random_state=0, max_iter=5,
                             hidden_layer_sizes=(3,), learning_rate_init=10.0).fit(X, y)
    assert len(model.loss_curve_) == len(model.validation_scores_) == model.n_iter_
    assert np.isnan(model.validation_scores_[-1])


def test_a_failed_fit_leaves_every_attribute_as_it_was():
    X, y = _iris()
    model = MLPClassifier(max_iter=3, random_state=0, hidden_layer_sizes=(4,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    before = dict(vars(model))
    with pytest.raises(ValueError):
        model.fit(X[:7, :3], y[:7] % 2, sample_weight=np.ones(6))
    assert vars(model).keys() == before.keys()
    assert model.n_features_in_ == 4 and list(model.classes_) == [0, 1, 2]
    assert model.predict(X).shape == (150,)
