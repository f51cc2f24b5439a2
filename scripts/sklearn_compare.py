"""anynet.sklearn's MLP estimators against scikit-learn's, side by side, at their defaults.

For each of scikit-learn's bundled datasets (standardised features, a seeded 75/25 split):
the test score at the defaults and the fit time of each solver (adam, lbfgs, sgd) of
scikit-learn's MLPClassifier/MLPRegressor and of anynet's, for the same random_state,
best of ``--repeats`` fits; with ``--dropout``, then what dropout does.

    python3 scripts/sklearn_compare.py [--repeats 3] [--datasets iris,wine] [--dropout]

It prints the README's table (scikit-learn estimators, "Side by side"), in Markdown.
"""
import argparse
import time
import warnings

from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.preprocessing import StandardScaler

from anynet.sklearn import MLPClassifier, MLPRegressor

DATASETS = {"iris": (datasets.load_iris, True), "wine": (datasets.load_wine, True),
            "breast_cancer": (datasets.load_breast_cancer, True),
            "digits": (datasets.load_digits, True), "diabetes": (datasets.load_diabetes, False)}


def fit_time(make, X, y, repeats):
    best, model = float("inf"), None
    for _ in range(repeats):
        model = make()
        start = time.perf_counter()
        model.fit(X, y)
        best = min(best, time.perf_counter() - start)
    return best, model


SOLVERS = ("adam", "lbfgs", "sgd")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help="a comma list of: " + ", ".join(DATASETS))
    parser.add_argument("--dropout", action="store_true",
                        help="then what dropout does on digits")
    args = parser.parse_args()
    names = args.datasets.split(",")
    unknown = set(names) - set(DATASETS)
    if unknown:
        parser.error(f"unknown datasets {sorted(unknown)}; choose from {list(DATASETS)}")
    warnings.simplefilter("ignore", ConvergenceWarning)
    # the README's table, row by row: the scores at the defaults (adam), then each
    # solver's best fit time, scikit-learn's / anynet's
    print("| dataset | score (sklearn / anynet) | fit, adam (defaults) | fit, lbfgs | fit, sgd |")
    print("|---|---|---|---|---|")
    for name in names:
        load, classify = DATASETS[name]
        X, y = load(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        if not classify:
            y_tr, y_te = y_tr / 100.0, y_te / 100.0
        Sk, Any = (SkClassifier, MLPClassifier) if classify else (SkRegressor, MLPRegressor)
        cells = []
        for solver in SOLVERS:
            options = dict(random_state=0, solver=solver)
            t_sk, sk = fit_time(lambda: Sk(**options), X_tr, y_tr, args.repeats)
            t_any, mine = fit_time(lambda: Any(**options), X_tr, y_tr, args.repeats)
            if solver == "adam":
                cells.append(f"{sk.score(X_te, y_te):.4f} / {mine.score(X_te, y_te):.4f}")
            cells.append(f"{t_sk:.3f} s / {t_any:.3f} s")
        label = name if classify else f"{name} (R^2)"
        print(f"| {label} | " + " | ".join(cells) + " |")
    if args.dropout:
        dropout()


def dropout():
    X, y = datasets.load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.5, random_state=0)
    print("\ndigits, 50% held out, hidden (256,), 200 epochs: dropout -> train / test accuracy")
    for rate in (None, 0.2, 0.5):
        m = MLPClassifier(hidden_layer_sizes=(256,), random_state=0, dropout=rate,
                          n_iter_no_change=1000).fit(X_tr, y_tr)
        print(f"  dropout={rate}: {m.score(X_tr, y_tr):.4f} / {m.score(X_te, y_te):.4f}, "
              f"final loss {m.loss_:.4f}")


if __name__ == "__main__":
    main()
