"""The scikit-learn estimators: scikit-learn's own checks, pipelines, searches, backends."""
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_digits, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from anynet.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


@parametrize_with_checks([NeuralNetClassifier(epochs=50), NeuralNetRegressor(epochs=50)])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def test_pipeline_grid_search_and_cross_validation(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(epochs=30, hidden=(32,)))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    search = GridSearchCV(pipe, {"neuralnetclassifier__hidden": [(8,), (32,)],
                                 "neuralnetclassifier__learning_rate": [0.01]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["neuralnetclassifier__hidden"] in [(8,), (32,)]
    assert search.score(X, y) > 0.9


def test_fitted_attributes_and_proba(digits):
    X, y = digits
    labels = np.array(list("abcdefghij"))[y]
    clf = NeuralNetClassifier(epochs=40, hidden=(32,)).fit(X, labels)
    assert clf.classes_.tolist() == list("abcdefghij")
    assert clf.n_iter_ == 40 == len(clf.loss_curve_) and clf.n_features_in_ == 64
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(axis=1)])
    assert clf.score(X, labels) > 0.9
    assert clf.get_params()["hidden"] == (32,)
    assert clf.set_params(epochs=5) is clf and clf.epochs == 5


def test_early_stopping_stops(digits):
    X, y = digits
    clf = NeuralNetClassifier(epochs=500, early_stopping=True, patience=3).fit(X, y)
    assert clf.n_iter_ < 500


def test_partial_fit_keeps_learning(digits):
    X, y = digits
    clf = NeuralNetClassifier(hidden=(32,), batch_size=64)
    with pytest.raises(ValueError, match="classes must be given"):
        clf.partial_fit(X[:100], y[:100])
    for epoch in range(15):
        clf.partial_fit(X, y, classes=np.arange(10))
    assert clf.n_iter_ == 15 and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.network_.optimizer.t == 15 * 10  # Adam's state carried over
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="differ from the classes"):
        clf.partial_fit(X, y, classes=[0, 1])


def test_regressor(tmp_path):
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    reg = make_pipeline(StandardScaler(), NeuralNetRegressor(epochs=150, hidden=(32,)))
    reg.fit(X, y / 100)
    assert reg.score(X, y / 100) > 0.95
    assert reg.predict(X).shape == (200,)
    two = NeuralNetRegressor(epochs=5).fit(X, np.column_stack([y, -y]) / 100)
    assert two.predict(X).shape == (200, 2)
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))


def test_estimators_on_every_backend(xp_backend, digits):
    X, y = digits
    clf = NeuralNetClassifier(epochs=3, hidden=(8,), backend=xp_backend.name,
                              device=xp_backend.device, batch_size=100).fit(X, y)
    ref = NeuralNetClassifier(epochs=3, hidden=(8,), batch_size=100).fit(X, y)
    assert clf.network_.backend.name == xp_backend.name
    assert isinstance(clf.predict_proba(X), np.ndarray)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-8)
