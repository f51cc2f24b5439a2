"""How many random configurations of the MLP estimators give scikit-learn's numbers.

Each configuration draws a small dataset (classification: binary, multi-class or
multi-label; regression: one to three outputs) and a random set of the
estimators' parameters (solver adam or sgd, batch_size, shuffle, early_stopping,
learning-rate schedule, alpha, sizes, activations, sample weights, random_state),
fits ``sklearn.neural_network``'s estimator and ``anynet.sklearn``'s in float64,
and counts a match when every ``coefs_``/``intercepts_`` array agrees to 1e-6
relative (to the array's largest value), ``n_iter_`` is the same and the loss
curves agree to 1e-6. With ``--partial-fit`` some configurations are a few
``partial_fit`` calls instead of ``fit``.

    python3 scripts/sklearn_sweep.py [--n 200] [--seed 0] [--partial-fit] [--show]
"""
import argparse
import warnings

import numpy as np
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

from anynet.sklearn import MLPClassifier, MLPRegressor

RTOL = 1e-6


def random_config(rng, partial_fit=False):
    """(task, X, y, sample_weight, estimator parameters, how) drawn from ``rng``."""
    task = rng.choice(["binary", "multiclass", "multilabel", "regression"])
    n = int(rng.integers(20, 90))
    f = int(rng.integers(2, 7))
    seed = int(rng.integers(0, 2**31 - 1))
    if task == "multilabel":
        X, y = make_multilabel_classification(n, f, n_classes=3, random_state=seed)
    elif task == "regression":
        X = np.random.default_rng(seed).standard_normal((n, f))
        k = int(rng.integers(1, 4))
        y = X @ np.random.default_rng(seed + 1).standard_normal((f, k)) * 0.5
        y = y[:, 0] if k == 1 else y
    else:
        classes = 2 if task == "binary" else int(rng.integers(3, 5))
        X, y = make_classification(n, f, n_informative=2, n_redundant=0,
                                   n_classes=classes, n_clusters_per_class=1,
                                   random_state=seed)
    solver = str(rng.choice(["adam", "sgd"]))
    params = dict(
        solver=solver, random_state=int(rng.integers(0, 10_000)),
        hidden_layer_sizes=tuple(int(h) for h in rng.integers(1, 12, rng.integers(1, 3))),
        activation=str(rng.choice(["relu", "tanh", "logistic", "identity"])),
        batch_size="auto" if rng.random() < 0.4 else int(rng.integers(1, n + 10)),
        shuffle=bool(rng.random() < 0.8), alpha=float(rng.choice([0.0, 1e-4, 0.1])),
        max_iter=int(rng.integers(3, 30)), n_iter_no_change=int(rng.integers(1, 6)),
        tol=float(rng.choice([1e-4, 1e-2])),
        learning_rate_init=float(rng.choice([1e-3, 1e-2, 0.1])))
    if solver == "sgd":
        params.update(learning_rate=str(rng.choice(["constant", "invscaling", "adaptive"])),
                      momentum=float(rng.choice([0.0, 0.9])),
                      nesterovs_momentum=bool(rng.random() < 0.5))
    how = "fit"
    if partial_fit and rng.random() < 0.3:
        how = "partial_fit"
    elif rng.random() < 0.4:
        params["early_stopping"] = True
        params["validation_fraction"] = float(rng.choice([0.2, 0.3]))
    weights = rng.random(n) + 0.5 if rng.random() < 0.3 else None
    return task, X.astype(np.float64), y, weights, params, how


def fitted(make, X, y, weights, how, classes):
    model = make()
    if how == "fit":
        return model.fit(X, y, sample_weight=weights)
    for _ in range(3):
        if classes is None:
            model.partial_fit(X, y, sample_weight=weights)
        else:
            model.partial_fit(X, y, sample_weight=weights, classes=classes)
    return model


def compare(task, X, y, weights, params, how):
    """(matched, why) for one configuration."""
    regress = task == "regression"
    Sk, Any = (SkRegressor, MLPRegressor) if regress else (SkClassifier, MLPClassifier)
    classes = None if regress or how == "fit" else \
        np.arange(y.shape[1]) if task == "multilabel" else np.unique(y)  # its columns
    outcome = []
    for make in (lambda: Sk(**params), lambda: Any(**params)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = fitted(make, X, y, weights, how, classes)
            except ValueError as error:  # e.g. a validation set too small: both must say it
                outcome.append(("error", type(error).__name__))
                continue
        said = sorted({type(w.message).__name__ for w in caught
                       if issubclass(w.category, ConvergenceWarning)})
        outcome.append((model, said))
    (sk, sk_said), (mine, my_said) = outcome
    if not isinstance(sk, str) and not (np.all(np.isfinite(sk.loss_curve_)) and np.all(
            np.isfinite(sk.validation_scores_ or 0.0))):
        return None, "scikit-learn's run overflowed (inf or NaN): not compared"
    if isinstance(sk, str) or isinstance(mine, str):
        return (sk == mine and sk_said == my_said), f"one raised: {sk_said!r} / {my_said!r}"
    if sk.n_iter_ != mine.n_iter_:
        return False, f"n_iter_ {sk.n_iter_} != {mine.n_iter_}"
    for name in ("coefs_", "intercepts_"):
        for a, b in zip(getattr(sk, name), getattr(mine, name)):
            scale = max(np.max(np.abs(a)), 1e-300)
            if not np.max(np.abs(a - b)) <= RTOL * scale:
                return False, f"{name} off by {np.max(np.abs(a - b)) / scale:.1e}"
    if not np.allclose(sk.loss_curve_, mine.loss_curve_, rtol=RTOL, atol=0.0):
        return False, "loss_curve_ differs"
    if sk_said != my_said:
        return False, f"warnings {sk_said} != {my_said}"
    return True, ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partial-fit", action="store_true")
    parser.add_argument("--show", action="store_true", help="print each mismatch")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    matched = raised = overflowed = 0
    for i in range(args.n):
        config = random_config(rng, args.partial_fit)
        ok, why = compare(*config)
        if ok is None:
            overflowed += 1
            continue
        matched += ok
        raised += ok and why.startswith("one raised")
        if not ok and args.show:
            task, X, _, weights, params, how = config
            print(f"#{i} {task} n={X.shape[0]} weights={weights is not None} {how} "
                  f"{params}: {why}")
    print(f"{matched} of {args.n - overflowed} random configurations give scikit-learn's coefs_ "
          f"(rtol {RTOL:g}), n_iter_, loss_curve_ and warnings ({raised} of them: both "
          f"raise the same error); {overflowed} more overflowed in scikit-learn (not "
          f"compared)")


if __name__ == "__main__":
    main()
