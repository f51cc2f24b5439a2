"""Datasets: small generated problems, scikit-learn's digits, and the user's own files.

Every loader returns ``(X, y)`` host NumPy arrays ready for ``anynet.train``:
X of shape (n_samples, n_features), float64; y of shape (n_samples,), class
labels (integers or strings) or real values.
"""
import csv
import math
from pathlib import Path

import numpy as np


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
        raise ImportError("the digits dataset comes with scikit-learn; install "
                          "anynet[sklearn]") from exc
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64), y


def _shuffle(X, y, rng):
    order = rng.permutation(len(X))
    return X[order], y[order]


DATASETS = {"xor": xor, "moons": moons, "circles": circles, "spirals": spirals,
            "digits": digits}


# --- the user's files -------------------------------------------------------------

def load_csv(path, target=None, features=None):
    """Read a CSV file with a header row: the column ``target`` is y, the others X.

    Parameters
    ----------
    path : str or os.PathLike
    target : str, optional
        The target column; y is None without one.
    features : list of str, optional
        The feature columns, in order (all columns but the target by default).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,) or None
        Integers or floats where every value is a number, else strings (class labels).
    feature_names : list of str

    Raises
    ------
    ValueError
        Naming the file, and the row (counting the header as row 1) and column,
        for an empty file, a missing column, a row of the wrong length, a
        missing value or text in a feature column.
    """
    path = Path(path)
    with _open(path) as f:
        rows = list(csv.reader(f))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValueError(f"{path}: the file is empty")
    header = [name.strip() for name in rows[0]]
    if target is not None and target not in header:
        raise ValueError(f"{path}: no column {target!r}; the columns are {header}")
    if features is None:
        features = [name for name in header if name != target]
    missing = [name for name in features if name not in header]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]!r}; the columns are {header}")
    body = [(number, row) for number, row in enumerate(rows[1:], start=2)
            if any(cell.strip() for cell in row)]
    if not body:
        raise ValueError(f"{path}: the file has a header but no rows")
    columns = [header.index(name) for name in features]
    X = np.empty((len(body), len(features)))
    labels = []
    for r, (number, row) in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{path}, row {number}: {len(row)} fields, but the header "
                             f"has {len(header)}")
        cells = [cell.strip() for cell in row]
        if target is not None:
            label = cells[header.index(target)]
            if not label:
                raise ValueError(f"{path}, row {number}, column {target!r}: missing value")
            labels.append(label)
        for j, (name, c) in enumerate(zip(features, columns)):
            X[r, j] = _number(path, number, name, cells[c])
    return X, None if target is None else _targets(labels), list(features)


def _number(path, row, column, cell):
    if not cell:
        raise ValueError(f"{path}, row {row}, column {column!r}: missing value")
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(f"{path}, row {row}, column {column!r}: {cell!r} is not a "
                         f"number") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}, row {row}, column {column!r}: {cell!r} is not finite")
    return value


def _targets(labels):
    """Numbers where every label is one (integers if whole), else the strings."""
    try:
        values = np.array([float(v) for v in labels])
    except ValueError:
        return np.array(labels)
    if not np.all(np.isfinite(values)):
        return np.array(labels)
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


def load_npz(path, target=None):
    """``X`` and ``y`` from a ``.npz`` file holding both, or from a 2-D ``.npy`` array
    whose column ``target`` (an index; the last by default) is y."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = np.load(handle, allow_pickle=False)
            if isinstance(data, np.lib.npyio.NpzFile):
                missing = {"X", "y"} - set(data.files)
                if missing:
                    raise ValueError(f"it lacks the arrays {sorted(missing)} "
                                     f"(it has {data.files})")
                X, y = data["X"], data["y"]
            else:
                X, y = _split_column(data, target)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot load: {exc}") from None
    if X.ndim != 2:
        raise ValueError(f"{path}: X must be 2-D, got shape {X.shape}")
    names = [f"x{i}" for i in range(X.shape[1])]
    return X, y, names


def _split_column(data, target):
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"a .npy file must be a 2-D array of features and a target "
                         f"column, got shape {data.shape}")
    column = data.shape[1] - 1 if target is None else int(target)
    if not -data.shape[1] <= column < data.shape[1]:
        raise ValueError(f"target column {target} is out of range for {data.shape[1]} "
                         f"columns")
    column %= data.shape[1]
    return np.delete(data, column, axis=1), data[:, column]


def load(source, target=None):
    """(X, y, feature_names) from a built-in dataset's name, or a .csv/.npz/.npy file."""
    if source in DATASETS:
        X, y = DATASETS[source]()
        return X, y, [f"x{i}" for i in range(X.shape[1])]
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"{source!r} is neither a file nor a built-in dataset "
                         f"({', '.join(DATASETS)})")
    if path.suffix.lower() == ".csv":
        if target is None:
            raise ValueError(f"{path}: name the target column with --target")
        return load_csv(path, target)
    if path.suffix.lower() in (".npz", ".npy"):
        return load_npz(path, target)
    raise ValueError(f"{path}: unknown file type; use .csv, .npz or .npy")


def _open(path):
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
