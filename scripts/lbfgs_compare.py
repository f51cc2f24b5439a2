"""anynet's L-BFGS against scikit-learn's (SciPy's L-BFGS-B) on 24 small fits.

    python scripts/lbfgs_compare.py [--max-iter 200]

Each row fits ``sklearn.neural_network.MLP*`` and ``anynet.sklearn.MLP*`` with
``solver="lbfgs"`` and the same arguments, and prints both final losses (the
objective, penalty included), iterations, whether each warned, and why anynet
stopped. A fit is "ok" when anynet's loss is within 1% of scikit-learn's or
lower. Above it: "warned" when anynet said so; "gtol" when it stopped at a
point whose every gradient component is within ``tol`` (scikit-learn's own test
of a minimum: another stationary point, not a stop short of one); "SILENT"
otherwise, which must never happen. The last line counts them.

Both follow the same iterates to the rounding; over tens of iterations on a
non-convex loss rounding grows, so the two may stop at different (nearby)
points, and either may end lower.
"""
import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits, load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.preprocessing import StandardScaler

from anynet.sklearn import MLPClassifier, MLPRegressor


def datasets():
    X, y = load_iris(return_X_y=True)
    yield "iris", X, y, "classifier"
    yield "iris scaled", StandardScaler().fit_transform(X), y, "classifier"
    X, y = load_digits(return_X_y=True)
    yield "digits[:300]/16", X[:300] / 16.0, y[:300], "classifier"
    yield "digits[300:500]", X[300:500], y[300:500], "classifier"
    X, y = make_classification(n_samples=200, n_features=10, n_informative=5, random_state=1)
    yield "make_classification", X, y, "classifier"
    X, y = make_classification(n_samples=150, n_features=6, n_classes=3, n_informative=4,
                               random_state=2)
    yield "make_classification 3", X, y, "classifier"
    X, y = make_regression(n_samples=200, n_features=8, noise=5.0, random_state=3)
    yield "make_regression", X, y / np.std(y), "regressor"
    X, y = make_regression(n_samples=120, n_features=4, n_targets=2, noise=1.0,
                           random_state=4)
    yield "make_regression 2 out", X, y / np.std(y, axis=0), "regressor"


SETTINGS = [dict(hidden_layer_sizes=(10,), alpha=1e-4, random_state=0),
            dict(hidden_layer_sizes=(20, 10), alpha=1e-2, random_state=1),
            dict(hidden_layer_sizes=(5,), alpha=1.0, random_state=2, activation="tanh")]


def fit(cls, X, y, options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = cls(solver="lbfgs", **options).fit(X, y)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    network = getattr(model, "_network", None)  # anynet's: why L-BFGS stopped
    status = getattr(getattr(network, "optimizer", None), "status", None)
    return float(model.loss_), model.n_iter_, warned, status or "max_iter"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-iter", type=int, default=200)
    args = parser.parse_args()
    print(f"{'dataset':<22} {'settings':<34} {'sklearn loss':>13} {'it':>4} {'w':>1}  "
          f"{'anynet loss':>13} {'it':>4} {'w':>1}  {'ratio':>7}  {'stopped':<11} verdict")
    ok = silent = total = 0
    warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's overflow in exp
    for name, X, y, kind in datasets():
        ours, theirs = (MLPClassifier, SkClassifier) if kind == "classifier" else \
            (MLPRegressor, SkRegressor)
        for settings in SETTINGS:
            options = dict(settings, max_iter=args.max_iter)
            sk_loss, sk_iter, sk_warned, _ = fit(theirs, X, y, options)
            loss, n_iter, warned, status = fit(ours, X, y, options)
            ratio = loss / sk_loss
            good = loss <= sk_loss * 1.01
            verdict = "ok" if good else "warned" if warned else \
                "gtol" if status == "gtol" else "SILENT"
            ok, total = ok + good, total + 1
            silent += verdict == "SILENT"
            described = ",".join(f"{k[:6]}={v}" for k, v in settings.items()
                                 if k != "random_state") + f",rs={settings['random_state']}"
            print(f"{name:<22} {described:<34} {sk_loss:13.6g} {sk_iter:4d} "
                  f"{'W' if sk_warned else '-'}  {loss:13.6g} {n_iter:4d} "
                  f"{'W' if warned else '-'}  {ratio:7.4f}  {status:<11} {verdict}")
    print(f"\n{ok} of {total} fits end within 1% of scikit-learn's loss or lower; "
          f"{silent} end above it without a warning")


if __name__ == "__main__":
    main()
