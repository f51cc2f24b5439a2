"""Datasets: small generated problems, scikit-learn's digits, and the user's own files.

Every loader returns host NumPy arrays ready for ``anynet.train``: X of shape
(n_samples, n_features), float64, every value finite; y of shape
(n_samples,) (or (n_samples, k) from an .npz file), typed for its task:

- regression: float64 values;
- classification: integer labels, or text labels kept as written (a CSV's
  "007" and "7" are two classes).

A file's task is ``infer_task``'s unless given (``task="classify"`` or
``"regress"``). A file is read as hostile input: every problem is a
ValueError naming the file and, for a CSV, the row and column.
"""
import math
import os
from pathlib import Path

import numpy as np

from . import _csv, _tables
from ._tables import TASKS, infer_task  # noqa: F401 (public here)


def xor():
    """The tutorial's four XOR points; y is a 0/1 column, shape (4, 1)."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([[0], [1], [1], [0]])


def moons(n_samples=200, noise=0.1, seed=0):
    """Two interleaving half circles (two classes)."""
    rng = np.random.default_rng(seed)
    n_top = n_samples // 2
    t_top = np.linspace(0.0, math.pi, n_top)
    t_bottom = np.linspace(0.0, math.pi, n_samples - n_top)
    X = np.concatenate([np.stack([np.cos(t_top), np.sin(t_top)], axis=1),
                        np.stack([1.0 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)], axis=1)])
    y = np.concatenate([np.zeros(n_top, dtype=int), np.ones(n_samples - n_top, dtype=int)])
    return _shuffle(X + rng.normal(scale=noise, size=X.shape), y, rng)


def circles(n_samples=200, noise=0.05, factor=0.5, seed=0):
    """A small circle inside a large one (two classes); ``factor`` is their radius ratio."""
    rng = np.random.default_rng(seed)
    n_out = n_samples // 2
    t_out = np.linspace(0.0, 2 * math.pi, n_out, endpoint=False)
    t_in = np.linspace(0.0, 2 * math.pi, n_samples - n_out, endpoint=False)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
                        factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)])
    y = np.concatenate([np.zeros(n_out, dtype=int), np.ones(n_samples - n_out, dtype=int)])
    return _shuffle(X + rng.normal(scale=noise, size=X.shape), y, rng)


def spirals(n_samples=300, n_classes=3, noise=0.2, seed=0):
    """``n_classes`` interleaved spiral arms (CS231n's classic)."""
    rng = np.random.default_rng(seed)
    per = [n_samples // n_classes + (c < n_samples % n_classes) for c in range(n_classes)]
    X, y = [], []
    for c, n in enumerate(per):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n) + rng.normal(scale=noise, size=n)
        X.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        y.append(np.full(n, c))
    return _shuffle(np.concatenate(X), np.concatenate(y), rng)


def digits():
    """scikit-learn's 8x8 handwritten digits: 1797 samples, 64 features (0..16), 10 classes."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("the digits dataset comes with scikit-learn; "
                          "pip install scikit-learn") from exc
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64), y


def _shuffle(X, y, rng):
    order = rng.permutation(len(X))
    return X[order], y[order]


DATASETS = {"xor": xor, "moons": moons, "circles": circles, "spirals": spirals,
            "digits": digits}


# --- the user's files -------------------------------------------------------------

def load_csv(path, target=None, features=None, *, drop=(), task=None, sep=None,
             encoding="utf-8", decimal="."):
    """Read a CSV file with a header row: the column ``target`` is y, the others X.

    The file is read by pandas (``pip install pandas``); a ``.tsv`` file and a
    gzip-compressed one (``.csv.gz``) too. Every feature must be a number (the
    command line one-hot encodes text columns; see ``anynet train --help``).

    Parameters
    ----------
    path : str or os.PathLike
    target : str, optional
        The target column; y is None without one.
    features : list of str, optional
        The feature columns, in order (all columns but the target and ``drop``
        by default).
    drop : sequence of str
        Columns that are neither features nor the target (an id, a name).
    task : {None, "classify", "regress"}
        How to read the target; ``infer_task`` decides when None.
    sep : str, optional
        The one-character field separator; detected (``,`` ``;`` tab ``|``)
        when None.
    encoding : str
        The file's text encoding (a UTF-8 byte-order mark is skipped).
    decimal : str
        The numbers' decimal mark ("," for ``72,18``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,) or None
        float64 for regression; for classification int64 where every label is
        written as an integer, else the labels as written (strings).
    feature_names : list of str

    Raises
    ------
    ValueError
        Naming the file, and the row (counting the header as row 1) and column:
        an empty file, a duplicate or missing column, a row of the wrong length,
        a missing value, text or a non-finite number in a feature column, a
        non-finite target, bytes that are not ``encoding``.
    """
    _tables.check_task(task)
    path = Path(path)
    table = _csv.read_table(path, sep=sep, decimal=decimal, encoding=encoding,
                            text=[] if target is None else [target])
    for name in ([] if target is None else [target]) + list(features or []) + list(drop):
        table.position(name)
    if target is not None and target in drop:
        raise ValueError(f"{path}: the target column {target!r} cannot be dropped")
    if features is None:
        dropped = set(drop)
        features = [name for name in table.header if name != target and name not in dropped]
    if not features:
        raise ValueError(f"{path}: no feature columns are left")
    X = table.matrix([table.position(name) for name in features])
    if target is None:
        return X, None, list(features)
    y = target_column(table, target, task)
    return X, y, list(features)


def target_column(table, target, task):
    """y from the column ``target`` of a ``_csv.Table``, typed for ``task`` (as ``load_csv``)."""
    texts = table.texts(table.position(target))
    return _csv.targets(table.path, target, texts, table.row, task,
                        lambda y: _tables.task_and_reason(y, f"the target {target!r}")[0],
                        table.decimal)


def load_npz(path, target=None, *, task=None):
    """``X`` and ``y`` from a ``.npz`` file holding both, or from a 2-D ``.npy`` array
    whose column ``target`` (an index; the last by default) is y.

    Each array's header is checked before its data is read, and compressed
    members may not inflate beyond 16 times their size plus 64 MiB: a damaged
    or hostile file is a ValueError naming it, never a huge allocation.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray, typed for ``task`` as by ``load_csv``
    feature_names : list of str
        "x0", "x1", ...
    """
    _tables.check_task(task)
    path = Path(path)
    data = _tables.read_npz(path, need_y=True)
    X, y = data if isinstance(data, tuple) else _tables.split_column(path, data, target)
    X, y = _tables.features(path, X), _tables.targets(path, y, task)
    if len(y) != len(X):
        raise ValueError(f"{path}: X has {len(X)} samples but y has {len(y)}")
    return X, y, [f"x{i}" for i in range(X.shape[1])]


def load(source, target=None, *, task=None, drop=(), sep=None, encoding="utf-8",
         decimal="."):
    """(X, y, feature_names) from a built-in dataset's name, or a .csv/.npz/.npy file.

    ``task``, ``drop``, ``sep`` and ``encoding`` are as for ``load_csv``; the
    columns of an array are named "x0", "x1", ...
    """
    _tables.check_task(task)
    if source in DATASETS:
        X, y = DATASETS[source]()
        X, y, names = _tables.features(source, X), _tables.targets(source, y, task), \
            [f"x{i}" for i in range(X.shape[1])]
    else:
        path = _file(source)
        if _csv.is_text_file(path):
            if target is None:
                raise ValueError(f"{path}: name the target column with --target")
            return load_csv(path, target, drop=drop, task=task, sep=sep, encoding=encoding,
                            decimal=decimal)
        X, y, names = load_npz(path, target, task=task)
    X, names = _tables.drop_columns(source, X, names, drop)
    return X, y, names


def load_features(source, features=None, *, sep=None, encoding="utf-8", decimal="."):
    """(X, feature_names) to predict from: a CSV's ``features`` columns (all by
    default), a .npz file's X, a .npy file's whole array, or a dataset's X."""
    if source in DATASETS:
        X = DATASETS[source]()[0]
    else:
        path = _file(source)
        if _csv.is_text_file(path):
            X, _, names = load_csv(path, features=features, sep=sep, encoding=encoding,
                                   decimal=decimal)
            return X, names
        data = _tables.read_npz(path, need_y=False)
        X = data[0] if isinstance(data, tuple) else data
    X = _tables.features(source, X)
    return X, [f"x{i}" for i in range(X.shape[1])]


def _file(source):
    """``source`` as a path to read; what is there is checked when it is opened
    (``_files.open_regular``: a regular file, not a FIFO or a device)."""
    path = Path(source)
    if not os.path.lexists(path):
        raise ValueError(f"{source!r} is neither a file nor a built-in dataset "
                         f"({', '.join(DATASETS)})")
    if not (_csv.is_text_file(path) or path.suffix.lower() in (".npz", ".npy")):
        raise ValueError(f"{path}: unknown file type; use .csv, .tsv, .csv.gz, .npz or "
                         f".npy")
    return path
