"""What each loss means for a task, in one table, and what a target array asks for.

``TABLE`` is the one place that says, per loss: the output activation a task
with that loss gets, how classes are read from the outputs (argmax, a 0.5
threshold per output, or not at all for a regressor), the metric reported, and
how the loss reduces over samples. ``initialize_network``, task inference, the
training loop's metrics, ``Network``'s methods, the estimators and the command
line all ask it.

``infer_task`` reads y on the host (once, at the entry point) and decides:

- class labels (integers, strings, bools), or one-hot rows -> softmax + cross_entropy;
- a single column of 0/1 values -> sigmoid + binary_cross_entropy;
- several columns of 0/1 values, not one-hot -> multi-label: one sigmoid per
  column, binary_cross_entropy;
- anything else real-valued -> identity + mse.

``encode_targets`` then turns y into numbers the loss takes: class indices for
cross_entropy, 0/1 for binary_cross_entropy, the values themselves otherwise.
"""
from dataclasses import dataclass

import numpy as np

from ._backend import is_array, readable, to_numpy
from .losses import GRADIENTS, LOSSES
from .metrics import ARGMAX_ACCURACY, R2, THRESHOLD_ACCURACY, Metric


@dataclass(frozen=True)
class LossKind:
    """One row of ``TABLE``."""

    output_activation: str   # the output layer a task with this loss gets
    classes_by: str          # "argmax", "threshold" (0.5 per output) or "" (a regressor)
    metric: Metric           # reported on validation data (accuracy or R^2)
    reduction: str           # "mean" or "sum" over the samples

    @property
    def is_classifier(self):
        return bool(self.classes_by)


TABLE = {
    "mse": LossKind("identity", "", R2, "mean"),
    "sse": LossKind("identity", "", R2, "sum"),
    "squared_error": LossKind("identity", "", R2, "mean"),  # scikit-learn's: mse / 2
    "binary_cross_entropy": LossKind("sigmoid", "threshold", THRESHOLD_ACCURACY, "mean"),
    # scikit-learn's: summed over the labels, not averaged
    "binary_log_loss": LossKind("sigmoid", "threshold", THRESHOLD_ACCURACY, "mean"),
    "cross_entropy": LossKind("softmax", "argmax", ARGMAX_ACCURACY, "mean"),
    # scikit-learn's: cross_entropy with its probabilities clipped (see anynet.losses)
    "log_loss": LossKind("softmax", "argmax", ARGMAX_ACCURACY, "mean"),
    "poisson": LossKind("exp", "", R2, "mean"),  # counts: half the Poisson deviance
}
assert set(TABLE) == set(LOSSES)  # a new loss needs its row


def kind_of(loss):
    """The TABLE row of ``loss``; a ValueError naming the choices for an unknown one."""
    if loss not in TABLE:
        raise ValueError(f"loss={loss!r} is not a known loss; use one of "
                         f"{', '.join(map(repr, TABLE))}")
    return TABLE[loss]


def default_output(loss, activation):
    """``initialize_network``'s output layer when none is named: the table's, except
    for the tutorial's network (sigmoid hidden layers with mse or sse), whose
    output layer is a sigmoid too."""
    if activation == "sigmoid" and loss in GRADIENTS:  # mse, sse: any output layer
        return "sigmoid"
    return kind_of(loss).output_activation


@dataclass(frozen=True)
class Task:
    """What a network is for: its loss and output layer, its outputs and classes."""

    loss: str
    output_activation: str
    n_outputs: int
    classes: tuple = None  # class labels (the columns of a multi-label task) in output order

    @property
    def kind(self):
        return TABLE[self.loss]

    @property
    def is_classifier(self):
        return self.kind.is_classifier

    @property
    def multilabel(self):
        """Several 0/1 outputs, each its own yes/no (a sigmoid loss, n_outputs > 1)."""
        return self.kind.classes_by == "threshold" and self.n_outputs > 1

    @classmethod
    def of(cls, net):
        """The task of a network, with default classes where it has none."""
        task = cls(net.loss, net.output_activation, net.layer_sizes[-1],
                   None if net.classes is None else tuple(net.classes))
        if task.is_classifier and task.classes is None:
            return task.with_default_classes()
        return task

    def with_default_classes(self):
        """Classes 0..n-1 for argmax and multi-label outputs, (0, 1) for one 0/1 output."""
        if not self.is_classifier:
            return self
        return Task(self.loss, self.output_activation, self.n_outputs,
                    tuple(range(self.expected_classes())))

    def expected_classes(self):
        """How many class labels this task has (None for a regressor)."""
        if not self.is_classifier:
            return None
        return 2 if self.kind.classes_by == "threshold" and self.n_outputs == 1 \
            else self.n_outputs


def host_targets(y, name="y"):
    """y as a host NumPy array (one explicit transfer for device arrays)."""
    if y is None:
        raise TypeError(f"{name} is None; expected an array of targets")
    y = readable(y, name)
    y = to_numpy(y) if is_array(y) else np.asarray(y)
    if y.dtype.kind == "c":
        raise TypeError(f"{name} has dtype {y.dtype}; expected real numbers or class labels")
    if y.ndim not in (1, 2) or y.shape[0] == 0:
        raise ValueError(f"{name} must be 1-D or 2-D with at least one sample; got shape "
                         f"{y.shape}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinity")
    return y


def _zero_one(y):
    return y.dtype.kind in "biuf" and bool(np.all((y == 0) | (y == 1)))


def _is_binary_column(y):
    return (y.ndim == 1 or y.shape[1] == 1) and _zero_one(y)


def _is_one_hot(y):
    return y.ndim == 2 and y.shape[1] > 1 and _zero_one(y) and bool(np.all(y.sum(axis=1) == 1))


def _is_multilabel(y):
    return y.ndim == 2 and y.shape[1] > 1 and _zero_one(y) and not _is_one_hot(y)


def _labels(y, name):
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"{name} has {y.shape[1]} columns of labels; class labels must "
                         f"be one column (or give one-hot rows, or 0/1 columns for "
                         f"multi-label targets)")
    labels = y.reshape(-1)
    if labels.dtype.kind == "O":
        try:
            np.unique(labels)
        except TypeError as exc:
            raise TypeError(f"{name} holds labels of mixed types that cannot be sorted: "
                            f"{exc}") from exc
    return labels


def _inferred_loss(y, name):
    if _is_binary_column(y) or _is_multilabel(y):
        return "binary_cross_entropy"
    if _is_one_hot(y):
        return "cross_entropy"
    if y.dtype.kind == "f":
        return "mse"
    if y.dtype.kind in "biuOSU":
        return "cross_entropy"
    raise TypeError(f"{name} has dtype {y.dtype}; cannot tell the task")


def infer_task(y, loss=None, name="y"):
    """The Task that host targets ``y`` ask for (``loss`` given or inferred).

    One rule for classes read from y: a task inferred from y (``loss=None``) is a
    classifier only when y holds at least two classes. A single class is refused
    whatever it is (``zeros(n)``, ``ones(n)``, ``full(n, 2)``, ``["a"] * n``):
    there is nothing to tell apart. Only a loss named by the caller fixes the
    classes without y: ``binary_cross_entropy`` has (0, 1) and takes targets of
    one value (or probabilities). Multi-label columns are each a yes/no of their
    own, and any of them may be constant.
    """
    inferred = loss is None
    loss = _inferred_loss(y, name) if loss is None else loss
    output = kind_of(loss).output_activation
    n_cols = 1 if y.ndim == 1 else y.shape[1]
    if kind_of(loss).classes_by == "argmax":  # cross_entropy, log_loss
        if _is_one_hot(y):
            return Task(loss, output, n_cols, tuple(range(n_cols)))
        classes = tuple(np.unique(_labels(y, name)).tolist())
        if len(classes) < 2:
            raise _single_class(name, classes[0])
        return Task(loss, output, len(classes), classes)
    if kind_of(loss).classes_by == "threshold":  # 0/1 labels (or probabilities if asked)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold numbers in [0, 1] for loss={loss!r}")
        if inferred and n_cols == 1 and np.unique(y).size < 2:  # the same rule as labels
            raise _single_class(name, y.reshape(-1)[0].item())
        return Task(loss, output, n_cols, tuple(range(2 if n_cols == 1 else n_cols)))
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {y.dtype}; loss={loss!r} needs real numbers")
    if loss == "poisson" and np.any(y < 0):
        raise ValueError(f"{name} holds negative values; loss='poisson' needs counts or "
                         f"other values >= 0")
    return Task(loss, output, n_cols, None)


def _single_class(name, label):
    hint = ("; for a yes/no classifier trained on one of its answers, pass "
            "loss='binary_cross_entropy'" if isinstance(label, (bool, int, float))
            and label in (0, 1) else "")
    return ValueError(f"{name} has a single class ({label!r}); a classifier needs at "
                      f"least 2{hint}")


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
    if task.kind.classes_by == "argmax":  # cross_entropy, log_loss
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
    if task.kind.classes_by == "threshold" and y.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {y.dtype}; expected 0/1 values")
    return y


def class_indices(y, task, name="y"):
    """Each sample's class as ``task`` reads it from outputs: the index in ``task.classes``,
    shape (n_samples,), or for a multi-label task a 0/1 matrix (n_samples, n_outputs)."""
    encoded = encode_targets(y, task, name)
    if task.kind.classes_by == "threshold":
        # 0/1 (or a probability, read at 0.5): a 7 or a 5 is no class of this network,
        # as an unknown label is none of an argmax network's
        outside = ~((encoded >= 0) & (encoded <= 1))
        if np.any(outside):
            raise ValueError(f"{name} holds labels the network does not know: "
                             f"{sorted(set(np.asarray(encoded)[outside].tolist()))[:5]}; "
                             f"its classes are {list(task.classes)}")
        if task.multilabel:
            if encoded.ndim != 2 or encoded.shape[1] != task.n_outputs:
                raise ValueError(f"{name} must have shape (n_samples, {task.n_outputs}) "
                                 f"for this multi-label network; got {encoded.shape}")
            return (encoded > 0.5).astype(np.int64)
        return (encoded.reshape(-1) > 0.5).astype(np.int64)
    return np.argmax(encoded, axis=1) if encoded.ndim == 2 and encoded.shape[1] > 1 \
        else encoded.reshape(-1)


def output_classes(xp, task, P):
    """On the device: the class of each row of outputs ``P`` (see ``class_indices``):
    an index, or for a threshold a bool (True: class 1, or that label)."""
    if task.kind.classes_by == "argmax":
        return xp.argmax(P, axis=1)
    above = P > 0.5
    return above if task.multilabel else above[:, 0]
