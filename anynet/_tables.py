"""A user's file as X and y: features checked, targets typed for their task.

The helpers of ``anynet.datasets`` for arrays (.npz, .npy, the built-in
datasets) and the rule that decides a target's task. Every problem is a
ValueError naming the file (``source``) and the bad entry.
"""
import numpy as np

from . import _npz
from ._files import open_regular

TASKS = ("classify", "regress")
# a user's .npz may be numpy.savez_compressed, and zeros deflate about 1,030 to 1
# (deflate's limit): a member may state 1,032x its compressed size plus 64 MiB, and
# all of them together 1,032x the file's size plus 64 MiB, no more
_DATA_INFLATION = (1032, 64 << 20)


#: At most this many distinct whole numbers are class labels.
FEW_CLASSES = 10
#: More distinct whole numbers than one per this many rows are a quantity.
ROWS_PER_CLASS = 5


def infer_task(y):
    """"classify" or "regress": what the targets ``y`` (a host array) ask for.

    The rule of ``task_and_reason``; a ValueError when ``y`` could be either.
    """
    return task_and_reason(y)[0]


def task_and_reason(y, name="the target"):
    """("classify" or "regress", why in words) for the targets ``y`` (a host array).

    - Text and booleans are class labels.
    - A number with a fraction is a quantity to regress.
    - Whole numbers taking at most ``FEW_CLASSES`` (10) distinct values are class
      labels (iris' 3, digits' 10); more than one distinct value per
      ``ROWS_PER_CLASS`` (5) rows is a quantity (diabetes' 214 in 442 rows).
      Between the two (ages 18-89 in 2,000 rows: 72 values) either could be
      meant: a ValueError asks for the task rather than guess.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iuf":
        return "classify", f"{name} holds {'true/false' if y.dtype.kind == 'b' else 'text'} " \
                           f"labels"
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        example = y.ravel()[np.flatnonzero(y.ravel() != np.round(y.ravel()))[0]]
        return "regress", f"{name} holds numbers with fractions (e.g. {example})"
    k, n = len(np.unique(y)), len(y)
    if k <= FEW_CLASSES:
        return "classify", f"{name} holds {k} distinct whole numbers (at most " \
                           f"{FEW_CLASSES}: class labels)"
    if k * ROWS_PER_CLASS > n:
        return "regress", f"{name} holds {k:,} distinct whole numbers in {n:,} rows " \
                          f"(more than one per {ROWS_PER_CLASS} rows: a quantity)"
    raise ValueError(f"{name} holds {k:,} distinct whole numbers in {n:,} rows: a quantity "
                     f"to regress or {k:,} classes? Say which: --task regress or --task "
                     f"classify (task= in Python)")


def check_task(task):
    if task is not None and task not in TASKS:
        raise ValueError(f"task={task!r} is not known; use 'classify', 'regress' or None "
                         f"(inferred)")


def read_npz(path, need_y):
    """(X, y) of a .npz file (y None when absent and not needed), or a .npy file's array."""
    handle, held = open_regular(path)  # a ValueError naming the path
    try:
        with handle:
            magic = handle.read(6)
            handle.seek(0)
            if magic == _npz.NPY_MAGIC:
                try:
                    return _npz.read_array(handle, held)
                except ValueError as exc:
                    raise ValueError(f"cannot load: it is damaged ({exc})") from None
            if magic[:2] != _npz.ZIP_MAGIC:
                raise ValueError("cannot load: it is neither a .npz archive nor a .npy array")
            with _npz.open_archive(handle) as archive:
                members = _npz.NpzMembers(archive, *_DATA_INFLATION, held)
                missing = {"X", "y"} - set(members.keys()) - (set() if need_y else {"y"})
                if missing:
                    raise ValueError(f"cannot load: it lacks the arrays {sorted(missing)} "
                                     f"(it has {sorted(members.keys())})")
                return members.fetch("X"), members.fetch("y")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    except _npz.READ_ERRORS as exc:
        raise ValueError(f"{path}: cannot load: the file is truncated or corrupted "
                         f"({type(exc).__name__}: {exc})") from None


def split_column(path, data, target):
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"{path}: a .npy file must be a 2-D array of features and a "
                         f"target column, got shape {data.shape}")
    try:
        column = data.shape[1] - 1 if target is None else int(target)
    except ValueError:
        raise ValueError(f"{path}: the target of a .npy file is a column index, got "
                         f"{target!r}") from None
    if not -data.shape[1] <= column < data.shape[1]:
        raise ValueError(f"{path}: target column {target} is out of range for "
                         f"{data.shape[1]} columns")
    column %= data.shape[1]
    return np.delete(data, column, axis=1), data[:, column]


def features(source, X):
    """X as float64, 2-D and finite; a ValueError naming ``source`` and the bad entry."""
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{source}: X has dtype {X.dtype}; features must be numbers")
    if X.ndim != 2:
        raise ValueError(f"{source}: X must be 2-D, got shape {X.shape}")
    X = X.astype(np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"{source}: X[{i}, {j}] is {X[i, j]}; features must be finite")
    return X


def targets(source, y, task):
    """y checked and typed for ``task`` (inferred when None)."""
    if y.dtype.kind not in "biufUS" or y.ndim not in (1, 2) or y.shape[0] == 0:
        raise ValueError(f"{source}: y must be 1-D or 2-D numbers or text labels, got "
                         f"dtype {y.dtype} and shape {y.shape}")
    if y.dtype.kind in "bUS":
        if task == "regress":
            raise ValueError(f"{source}: y holds {y.dtype} labels, not numbers to regress")
        return y
    if y.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(y))
        if len(bad):
            raise ValueError(f"{source}: the target of sample {bad[0][0]} (counting from "
                             f"0) is {y[tuple(bad[0])]}, not a finite number")
    if (task or task_and_reason(y, f"{source}: y")[0]) == "regress":
        return y.astype(np.float64)
    if y.dtype.kind == "f" and np.all(y == np.round(y)) and np.all(np.abs(y) < 2 ** 53):
        return y.astype(np.int64)  # whole-number labels: classes 0, 1, 2, not 0.0, 1.0
    return y


def drop_columns(source, X, names, drop):
    """X without the columns named in ``drop``, and the names left."""
    for name in drop:
        if name not in names:
            raise ValueError(f"{source}: no column {name!r} to drop; the columns are "
                             f"{names}")
    keep = [j for j, name in enumerate(names) if name not in drop]
    if not keep:
        raise ValueError(f"{source}: no feature columns are left")
    return X[:, keep], [names[j] for j in keep]


