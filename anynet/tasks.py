"""What a target array asks for: the loss, the output layer and the classes.

``infer_task`` reads y on the host (once, at the entry point) and decides:

- class labels (integers, strings, bools), or one-hot rows -> softmax + cross_entropy;
- a single column of 0/1 values -> sigmoid + binary_cross_entropy;
- anything else real-valued -> identity + mse.

``encode_targets`` then turns y into numbers the loss takes: class indices for
cross_entropy, 0/1 for binary_cross_entropy, the values themselves otherwise.
"""
from dataclasses import dataclass

import numpy as np

from ._backend import is_array, to_numpy

OUTPUT_FOR_LOSS = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid",
                   "mse": "identity", "sse": "identity"}


@dataclass(frozen=True)
class Task:
    loss: str
    output_activation: str
    n_outputs: int
    classes: tuple = None  # class labels, in output order; None for regression

    @property
    def is_classifier(self):
        return self.classes is not None


def host_targets(y, name="y"):
    """y as a host NumPy array (one explicit transfer for device arrays)."""
    if y is None:
        raise TypeError(f"{name} is None; expected an array of targets")
    y = to_numpy(y) if is_array(y) else np.asarray(y)
    if y.dtype.kind == "c":
        raise TypeError(f"{name} has dtype {y.dtype}; expected real numbers or class labels")
    if y.ndim not in (1, 2) or y.shape[0] == 0:
        raise ValueError(f"{name} must be 1-D or 2-D with at least one sample; got shape "
                         f"{y.shape}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinity")
    return y


def _is_binary_column(y):
    return (y.ndim == 1 or y.shape[1] == 1) and y.dtype.kind in "biuf" and bool(
        np.all((y == 0) | (y == 1)))


def _is_one_hot(y):
    return (y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf"
            and bool(np.all((y == 0) | (y == 1))) and bool(np.all(y.sum(axis=1) == 1)))


def _labels(y, name):
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"{name} has {y.shape[1]} columns of labels; class labels must "
                         f"be one column")
    labels = y.reshape(-1)
    if labels.dtype.kind == "O":
        try:
            np.unique(labels)
        except TypeError as exc:
            raise TypeError(f"{name} holds labels of mixed types that cannot be sorted: "
                            f"{exc}") from exc
    return labels


def infer_task(y, loss=None, name="y"):
    """The Task that host targets ``y`` ask for (``loss`` given or inferred)."""
    if loss is not None and loss not in OUTPUT_FOR_LOSS:
        raise ValueError(f"loss={loss!r} is not a known loss; use one of "
                         f"{', '.join(map(repr, OUTPUT_FOR_LOSS))} or None to infer it")
    n_cols = 1 if y.ndim == 1 else y.shape[1]
    if loss is None:
        if y.dtype.kind == "f" and not (_is_binary_column(y) or _is_one_hot(y)):
            loss = "mse"
        elif _is_binary_column(y):
            loss = "binary_cross_entropy"
        elif y.dtype.kind in "biuOSU" or _is_one_hot(y):
            loss = "cross_entropy"
        else:
            raise TypeError(f"{name} has dtype {y.dtype}; cannot tell the task")
    output = OUTPUT_FOR_LOSS[loss]
    if loss == "cross_entropy":
        if _is_one_hot(y):
            return Task(loss, output, n_cols, tuple(range(n_cols)))
        classes = tuple(np.unique(_labels(y, name)).tolist())
        if len(classes) < 2:
            raise ValueError(f"{name} has a single class ({classes[0]!r}); a classifier "
                             f"needs at least 2")
        return Task(loss, output, len(classes), classes)
    if loss == "binary_cross_entropy":  # 0/1 labels, or probabilities when asked for
        if (y.ndim == 2 and y.shape[1] != 1) or y.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be one column of numbers in [0, 1] for "
                             f"loss='binary_cross_entropy'")
        return Task(loss, output, 1, (0, 1))
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {y.dtype}; loss={loss!r} needs real numbers")
    return Task(loss, output, n_cols, None)


def task_sample(y):
    """A few rows of host targets from which ``infer_task`` decides as from all of y.

    Used when each MPI rank holds a shard of y: the ranks exchange these samples
    (the distinct labels or rows, or one row of real values) instead of their
    targets, and every rank infers the same task as from the whole dataset.
    """
    if y.dtype.kind == "f":
        off = ~((y == 0) | (y == 1))
        if np.any(off):  # real values: one row with a value other than 0/1 decides
            row = int(np.argwhere(off)[0][0])
            return y[row:row + 1]
    if y.ndim == 2 and y.shape[1] > 1:
        return np.unique(y, axis=0) if y.dtype.kind in "biuf" else y[:1]
    return np.unique(_labels(y, "y")).reshape((-1,) + y.shape[1:])


def stack_samples(samples, name="y"):
    """The task samples of every rank as one array (raising if they cannot mix)."""
    if len({s.ndim for s in samples}) > 1 or len({s.shape[1:] for s in samples}) > 1:
        raise ValueError(f"{name} has shapes that differ between ranks: "
                         f"{[s.shape[1:] for s in samples]} after the sample axis")
    kinds = {"numbers" if s.dtype.kind in "biuf" else "text" if s.dtype.kind in "US"
             else "objects" for s in samples}
    if len(kinds) > 1:  # NumPy would turn numbers into text, quietly
        raise TypeError(f"{name} holds labels of types that differ between ranks: "
                        f"{', '.join(str(s.dtype) for s in samples)}")
    return np.concatenate(samples)


def encode_targets(y, task, name="y"):
    """Host targets as numbers for ``task.loss``: class indices, 0/1, or values."""
    if task.loss == "cross_entropy":
        if _is_one_hot(y) and y.shape[1] == task.n_outputs:
            return y
        labels = _labels(y, name)
        classes = np.asarray(task.classes)
        try:
            index = np.searchsorted(classes, labels)
        except TypeError as exc:
            raise TypeError(f"{name} labels are not comparable with the classes "
                            f"{list(task.classes)}: {exc}") from exc
        index = np.clip(index, 0, len(classes) - 1)
        unknown = classes[index] != labels
        if np.any(unknown):
            raise ValueError(f"{name} holds labels the network does not know: "
                             f"{sorted(set(labels[unknown].tolist()))[:5]}; its classes are "
                             f"{list(task.classes)}")
        return index
    if task.loss == "binary_cross_entropy" and y.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {y.dtype}; expected 0/1 values")
    return y


def class_indices(y, task, name="y"):
    """The index (in ``task.classes``) of each sample's class, shape (n_samples,)."""
    if task.loss == "binary_cross_entropy":
        return (encode_targets(y, task, name).reshape(-1) > 0.5).astype(np.int64)
    encoded = encode_targets(y, task, name)
    return np.argmax(encoded, axis=1) if encoded.ndim == 2 and encoded.shape[1] > 1 \
        else encoded.reshape(-1)
