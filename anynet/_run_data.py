"""The data of a training run: checked, split, placed, and planned batch by batch.

One process holds all the rows. Under MPI every rank passes the same rows
(replicated: each computes a contiguous share of every batch) or its own
(sharded: the dataset is the shards stacked in rank order); the communicator
(``anynet.distributed``) does the exchanges, and on one process it does nothing,
so one code path serves both. ``pool_figures`` combines the epoch's figures of
every part into those of the whole dataset.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from . import _checks
from ._checks import is_sparse
from ._fingerprint import data_fingerprint
from ._backend import host_floats, index_dtype, readable, to_numpy
from .metrics import pool
from .quasi_newton import LBFGS
from .tasks import (Task, class_indices, encode_targets, host_targets, infer_task,
                    stack_samples, task_sample)


@dataclass
class RunData:
    """The rows a process trains and scores on, and where they sit in the whole.

    Attributes
    ----------
    task : Task
    X, Y : arrays of shape (n_rows, n_features) and (n_rows, n_outputs)
        This process's training rows, on the network's device.
    X_val, Y_val : arrays or None
        The validation rows this process scores (None: it scores none).
    n_total : int
        Training rows of the whole dataset, over every rank.
    offset : int
        Where this process's rows start in it (sharded runs).
    val_counts : list of int
        Validation rows each rank scores.
    sharded : bool
    scaling : (mean, scale) or None
        What a new network standardises its inputs with (``standardize=True``);
        X and X_val hold the standardised rows.
    target_scaling : (mean, scale) or None
        What a new regressor standardises its targets with (``standardize=True``);
        Y and Y_val hold the standardised targets (a warm-started network's own
        scaling is applied to them too, and kept by that network).
    S, S_val : arrays of shape (n_rows, 1) or None
        The training and validation rows' sample weights (None: equal).
    fingerprint : dict or None
        With a checkpoint: the digest and shapes of the data the run trains and
        scores on (``anynet._fingerprint.data_fingerprint``), of every rank's shard
        when sharded; the same on every rank.
    classes : array of shape (1, n_classes) or None
        When Y holds class labels, shape (n_rows, 1), rather than one-hot rows:
        the class numbers, against which each batch's labels become its one-hot
        rows on the device (``anynet.steps``), so that no one-hot array of the
        whole dataset is ever made (100,000 classes would take 40 GB).
    """

    task: Task
    X: object
    Y: object
    X_val: object
    Y_val: object
    n_total: int
    offset: int
    val_counts: list
    sharded: bool
    scaling: tuple = None
    target_scaling: tuple = None
    S: object = None
    S_val: object = None
    fingerprint: dict = None
    classes: object = None
    _S_host: object = field(default=None, repr=False)  # S read once, by S_host

    @property
    def S_host(self):
        """This process's training weights on the host, shape (n_rows,) float64 (read
        once, at the first call): each batch's weight sum is taken from them."""
        if self.S is None:
            return None
        if self._S_host is None:
            self._S_host = to_numpy(self.S)[:, 0].astype(np.float64)
        return self._S_host

    @property
    def sparse(self):
        """X is a SciPy sparse matrix on the host: each batch is made dense on its own."""
        return is_sparse(self.X)

    @property
    def has_val(self):
        return sum(self.val_counts) > 0

    def plan(self, drawn, backend, batch_size, comm):
        """The epoch's order of this process's rows, on the host and as device
        indices, and ``rows(k, lo, hi)``: the [a, b) of that order that global
        batch k, rows [lo, hi) of the whole dataset, takes here. ``drawn``: the
        epoch's order of the whole dataset's rows (host ints, shape (n_total,))."""
        if self.sharded:
            local, bounds = shard_rows(drawn, self.offset, int(self.X.shape[0]), batch_size)
            return local, device_indices(backend, local), \
                lambda k, lo, hi: (int(bounds[k]), int(bounds[k + 1]))
        return drawn, device_indices(backend, drawn), lambda k, lo, hi: comm.part(lo, hi)


def device_indices(backend, host_indices):
    """Host integer indices on the device, in its index dtype (one explicit transfer)."""
    return backend.xp.asarray(host_indices, dtype=index_dtype(backend), device=backend.device)


def prepare(X, y, opts, backend, dtype, comm, rng):
    """The run's :class:`RunData`, the same task on every rank; errors on one rank
    are raised on all of them (``comm.together``)."""
    if opts.sharded:
        return _shards(X, y, opts, backend, dtype, comm)
    with comm.together():
        if is_sparse(X) and opts.distributed is not None:
            raise ValueError("X is sparse: give it dense for distributed='mpi'")
        y_host = host_targets(y)
        task = _task(opts, y_host)
        _checks.same_origin(X=X, y=y)
        X = _features(X, opts, backend, dtype)
        Y, classes = _training_targets(y_host, task, X.shape[0], backend, dtype, opts)
        S = _sample_weights(opts.sample_weight, X.shape[0], backend, dtype)
        X, Y, S, X_val, Y_val, S_val = _split(X, Y, S, task, opts, backend, dtype, rng,
                                              _labels_of(y_host, task), classes)
    comm.check_replicated(backend.xp, X, Y)
    # digested before other ranks drop the validation rows: the same on every rank
    digest = data_fingerprint(X, Y, S, X_val, Y_val, S_val) if opts.checkpoint else None
    if not comm.is_root:  # the same validation rows everywhere: rank 0 scores them
        X_val = Y_val = None
    n_val = 0 if X_val is None else int(X_val.shape[0])
    data = RunData(task, X, Y, X_val, Y_val, int(X.shape[0]), 0, comm.allgather(n_val),
                   sharded=False, S=S, S_val=S_val, classes=classes, fingerprint=digest)
    return _standardized(data, opts, backend, comm)


def _shards(X, y, opts, backend, dtype, comm):
    """Each rank passes its own rows: the ranks exchange their feature counts, a
    sample of their targets and their row counts, so every rank infers the task
    of the whole dataset (a rank may not hold every class) and knows where its
    rows sit in it."""
    with comm.together():
        X = readable(X, "X")
        if (getattr(X, "shape", None) or np.shape(X))[:1] == (0,):
            raise ValueError("X has no rows on this rank; with sharded=True every rank "
                             "needs at least one row")
        y_host = host_targets(y)
        _checks.same_origin(X=X, y=y)
        X = _features(X, opts, backend, dtype)
        sample = task_sample(y_host)
    shards = comm.allgather((int(X.shape[1]), sample))
    with comm.together():  # every rank decides alike from the same facts
        widths = [w for w, _ in shards]
        if len(set(widths)) > 1:
            raise ValueError(f"X has a different number of features on different "
                             f"ranks: {widths}")
        task = _task(opts, stack_samples([s for _, s in shards]))
        Y, classes = _training_targets(y_host, task, X.shape[0], backend, dtype, opts)
        # a shard's weights may all be 0: the whole dataset's may not (said below)
        S = _sample_weights(opts.sample_weight, X.shape[0], backend, dtype, some=False)
        # each rank holds out part of its own shard: a stream of its own, so the
        # shared stream (the batches) stays in step on every rank
        own = np.random.default_rng(np.random.SeedSequence([opts.seed, 2, comm.rank]))
        X, Y, S, X_val, Y_val, _ = _split(X, Y, S, task, opts, backend, dtype, own,
                                          _labels_of(y_host, task), classes)
    kept = comm.allgather(int(X.shape[0]))
    n_val = 0 if X_val is None else int(X_val.shape[0])
    # each rank digests its own shard; the run's data is every shard, in rank order
    shards = comm.allgather(data_fingerprint(X, Y, S, X_val, Y_val)
                            if opts.checkpoint else None)
    data = RunData(task, X, Y, X_val, Y_val, sum(kept), sum(kept[:comm.rank]),
                   comm.allgather(n_val), sharded=True, S=S, classes=classes,
                   fingerprint={"shards": shards} if opts.checkpoint else None)
    if S is not None and not sum(comm.allgather(float(np.sum(data.S_host)))) > 0:
        raise ValueError("sample_weight sums to 0 over every rank: no sample would count")
    return _standardized(data, opts, backend, comm)


def _task(opts, y_host):
    """The Task: inferred from host targets, or the warm-started network's own."""
    network = opts.network
    if network is None:
        return infer_task(y_host, opts.loss)
    if opts.loss is not None and opts.loss != network.loss:
        raise ValueError(f"loss={opts.loss!r} differs from the network's loss "
                         f"{network.loss!r}")
    return network.task


def _features(X, opts, backend, dtype, name="X", n_features=None):
    """X checked and on the device; standardised as a warm-started network does.

    A SciPy sparse X (the training rows) stays on the host, checked, as CSR of
    ``dtype``: its batches are made dense one by one. Sparse validation rows are
    made dense whole."""
    X = readable(X, name)
    if is_sparse(X):
        if name != "X":
            X = X.toarray()
        elif opts.network is not None and opts.network.input_scaling is not None:
            raise ValueError("X is sparse, and this network standardises its inputs; "
                             "give X dense")
        else:
            width = opts.network.layer_sizes[0] if opts.network is not None else n_features
            return _checks.sparse_features(X, dtype, width, name)
    if opts.network is not None:
        return opts.network._features(X, name)
    if n_features is None:  # -1 when X is not 2-D: the check says so
        shape = getattr(X, "shape", None) or np.shape(X)
        n_features = shape[1] if len(shape) == 2 else -1
    return _checks.features(backend, dtype, X, n_features, name=name)


def _sample_weights(sample_weight, n_samples, backend, dtype, name="sample_weight",
                    some=True):
    """The sample weights as a column (n_samples, 1) on the device, or None; ``some``:
    they must not all be 0."""
    if sample_weight is None:
        return None
    sample_weight = readable(sample_weight, name)
    w = to_numpy(sample_weight) if not isinstance(sample_weight, np.ndarray) and hasattr(
        sample_weight, "shape") else np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {w.dtype}; expected real numbers")
    if w.shape != (n_samples,):
        raise ValueError(f"{name} must have shape ({n_samples},), one weight per "
                         f"sample; got {w.shape}")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    with np.errstate(over="ignore", under="ignore"):
        cast = w.astype(dtype)
    if not np.all(np.isfinite(cast)) or not np.isfinite(np.sum(cast, dtype=cast.dtype)):
        raise ValueError(f"{name} holds values too large for {dtype} (their sum beyond "
                         f"{np.finfo(dtype).max:.3g}); rescale them")
    if some and not np.sum(cast) > 0:
        raise ValueError(f"{name} sums to 0 in {dtype}: no sample would count")
    return backend.xp.asarray(cast.reshape(-1, 1), device=backend.device)


def _targets(y_host, task, n_samples, backend, dtype, name, one_hot=True):
    encoded = encode_targets(y_host, task, name)
    return _checks.targets(backend, dtype, encoded, n_samples, task.n_outputs, task.loss,
                           name=name, x_name="X_val" if name == "y_val" else "X",
                           one_hot=one_hot)


def _training_targets(y_host, task, n_samples, backend, dtype, opts):
    """(Y, classes): the training rows' targets, and for class labels trained by
    mini-batches the row of class numbers each batch's one-hot rows are made
    against (Y then holds the labels, shape (n, 1)); else (Y, None). L-BFGS takes
    the whole dataset at once: its one-hot rows are made whole."""
    if opts.optimizer == "lbfgs" or isinstance(opts.optimizer, LBFGS):
        return _targets(y_host, task, n_samples, backend, dtype, "y"), None
    Y = _targets(y_host, task, n_samples, backend, dtype, "y", one_hot=False)
    if task.kind.classes_by != "argmax" or Y.shape[1] != 1:  # no labels: rows as given
        return Y, None
    return Y, _checks.class_row(backend, task.n_outputs, Y.dtype)


def _labels_of(y_host, task):
    """Each row's class (host ints) when the task has one class per row, else None."""
    if not task.is_classifier or task.multilabel:
        return None
    return class_indices(y_host, task)


def stratified_order(labels, n_val, rng):
    """A random order of the rows whose first ``n_val`` are the validation rows, drawn
    class by class: each class gives its share of them (largest remainders first),
    and keeps at least one training row. A ValueError when that leaves fewer than
    ``n_val`` rows to hold out."""
    n = labels.shape[0]
    drawn = rng.permutation(n)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * (n_val / n)
    take = np.minimum(np.floor(quota).astype(np.int64), counts - 1)
    spare = counts - 1 - take
    for c in np.argsort(-(quota - take), kind="stable"):  # the remainders, largest first
        if take.sum() >= n_val:
            break
        extra = min(spare[c], n_val - take.sum())
        take[c] += extra
    if take.sum() < n_val:
        raise ValueError(f"holding out {n_val} of {n} rows would leave a class without "
                         f"training rows ({len(classes)} classes); hold out fewer")
    in_val = np.zeros(n, dtype=bool)
    row_class = np.searchsorted(classes, labels[drawn])
    seen = np.zeros(len(classes), dtype=np.int64)
    for position, c in enumerate(row_class):  # the first take[c] of class c, in drawn order
        if seen[c] < take[c]:
            in_val[drawn[position]] = True
        seen[c] += 1
    return np.concatenate([drawn[in_val[drawn]], drawn[~in_val[drawn]]])


def _split(X, Y, S, task, opts, backend, dtype, rng, labels=None, classes=None):
    """(X, Y, S, X_val, Y_val, S_val): the validation set given (with its sample
    weights, if any), held out at random (stratified by ``labels``, each row's class,
    when given), or none. ``classes``: Y holds class labels (see RunData); the
    held-out rows' are made one-hot rows here, for the epoch's figures."""
    if opts.validation_data is not None:
        Xv, yv, *weights = opts.validation_data
        _checks.same_origin(X_val=Xv, y_val=yv)
        Xv = _features(Xv, opts, backend, dtype, name="X_val", n_features=X.shape[1])
        Yv = _targets(host_targets(yv, "y_val"), task, Xv.shape[0], backend, dtype, "y_val")
        Sv = _sample_weights(weights[0] if weights else None, Xv.shape[0], backend, dtype,
                             "sample_weight of validation_data")
        return X, Y, S, Xv, Yv, Sv
    split = opts.validation_split or (0.1 if opts.early_stopping else 0.0)
    if not split:
        return X, Y, S, None, None, None
    n = X.shape[0]
    n_val = int(math.ceil(n * split))
    if n_val >= n:
        raise ValueError(f"validation_split={split} leaves no training samples out of {n}")
    drawn = rng.permutation(n) if labels is None else stratified_order(labels, n_val, rng)
    order = device_indices(backend, drawn)
    take = backend.xp.take
    val, fit = order[:n_val], order[n_val:]
    if is_sparse(X):
        X, X_val = X[drawn[n_val:]], backend.xp.asarray(
            X[drawn[:n_val]].toarray(), device=backend.device)
    else:
        X, X_val = take(X, fit, axis=0), take(X, val, axis=0)
    S_fit = S_val = None
    if S is not None:
        S_fit, S_val = take(S, fit, axis=0), take(S, val, axis=0)
        for part, rows in (("training", S_fit), ("validation", S_val)):
            if not host_floats(backend.xp, backend.xp.sum(rows)) > 0:
                raise ValueError(f"sample_weight: the {part} rows of validation_split="
                                 f"{split} weigh nothing (every weight 0)")
    Y_val = take(Y, val, axis=0)
    if classes is not None:
        Y_val = _checks.one_hot_rows(backend, Y_val, task.n_outputs, "y")
    return X, take(Y, fit, axis=0), S_fit, X_val, Y_val, S_val


def shard_rows(order, offset, n_local, batch_size):
    """The rows of each global batch that live in this rank's shard.

    Parameters
    ----------
    order : int array of shape (n_total,)
        The epoch's order of the whole dataset (global row numbers).
    offset, n_local : int
        This rank's shard holds global rows [offset, offset + n_local).
    batch_size : int
        Rows per global batch.

    Returns
    -------
    local : int64 array of shape (n_local,)
        This shard's row numbers in the order they are visited.
    bounds : int64 array of shape (n_batches + 1,)
        Global batch k uses ``local[bounds[k]:bounds[k + 1]]`` here.
    """
    mine = (order >= offset) & (order < offset + n_local)
    local = (order[mine] - offset).astype(np.int64)
    seen = np.concatenate([[0], np.cumsum(mine, dtype=np.int64)])
    edges = np.append(np.arange(0, order.shape[0], batch_size), order.shape[0])
    return local, seen[edges]


def pool_figures(rows, data, kind):
    """The epoch's figures of the whole dataset from every part's, on the host.

    Parameters
    ----------
    rows : float array of shape (n_parts, 4 + width)
        Per part (rank): its summed training loss, its validation loss, its
        metric's parts, its first non-finite batch (or -1), whether all its
        parameters are finite.
    data : RunData
    kind : tasks.LossKind

    Returns
    -------
    (loss, val_loss, val_metric, bad_batch, finite) as Python floats.
    """
    counts = np.asarray(data.val_counts, dtype=np.float64)
    loss = float(np.sum(rows[:, 0])) / data.n_total
    val_loss = val_metric = 0.0
    if data.has_val:
        val_loss = float(np.sum(rows[:, 1] * (counts > 0))) if kind.reduction == "sum" \
            else float(np.sum(rows[:, 1] * counts) / np.sum(counts))
        val_metric = pool(kind.metric.name, rows[:, 2:-2], counts)
    bad = rows[:, -2][rows[:, -2] >= 0.0]
    return loss, val_loss, val_metric, float(bad.min()) if bad.size else -1.0, \
        float(rows[:, -1].min())


def _standardized(data, opts, backend, comm):
    """``data`` with its features (and a regressor's targets) standardised for a new
    network (``standardize=True``), or its targets as a warm-started network's
    ``target_scaling`` says."""
    network = opts.network
    if network is not None:
        if network.target_scaling is not None:
            data.Y = network._targets(data.Y)
            if data.Y_val is not None:
                data.Y_val = network._targets(data.Y_val)
        return data
    if not opts.standardize:
        return data
    if data.sparse:
        raise ValueError("standardize=True needs dense X: centring a sparse X would make "
                         "it dense")
    with comm.together():
        mean, scale = input_scaling(backend, data.X, comm)
    data.X = (data.X - mean) / scale
    if data.X_val is not None:
        data.X_val = (data.X_val - mean) / scale
    data.scaling = (mean, scale)
    if opts.standardize is True and scales_targets(data.task):
        with comm.together():
            try:
                mean, scale = input_scaling(backend, data.Y, comm)
            except ValueError as exc:
                raise ValueError(f"y column {exc.column} {exc.reason}") from None
        data.Y = (data.Y - mean) / scale
        if data.Y_val is not None:
            data.Y_val = (data.Y_val - mean) / scale
        data.target_scaling = (mean, scale)
    return data


def scales_targets(task):
    """Whether ``standardize=True`` standardises this task's targets: a regressor
    whose output layer is the identity (a Poisson regressor's exp output needs
    counts as they are, and classes are not scaled)."""
    return not task.is_classifier and task.output_activation == "identity"


def input_scaling(backend, X, comm):
    """(mean, scale), arrays of shape (1, n_features) on the device: the means and
    standard deviations (1 where a column is constant) of the training rows of
    every rank together, pooled in float64 on the host (Chan et al.).

    Each column is divided by a power of two near its largest magnitude (exactly:
    no digit is lost), so float32 data up to its largest value standardise without
    overflow; its first row is subtracted before the moments are summed, so a
    large offset (targets of 0.05 +- 1e-7) costs no digits of the deviations.

    Raises
    ------
    ValueError
        Naming the first column whose standard deviation overflows float64.
    """
    xp = backend.xp
    top = xp.max(xp.abs(X), axis=0)
    power = xp.where(top > 0.0, 2.0 ** xp.floor(xp.log2(xp.where(top > 0.0, top, 1.0))),
                     1.0)
    shifted = X / power  # |values| < 4: exact, a power of two
    shift = shifted[:1, :]  # moments about a row of the data, not about 0
    D = shifted - shift
    peak = xp.max(xp.abs(D), axis=0)
    peak = xp.where(peak > 0.0, peak, 1.0)
    unit = D / peak
    mean = xp.mean(unit, axis=0)
    m2 = xp.sum((unit - mean) ** 2, axis=0)
    host = to_numpy(xp.concat([power, xp.reshape(shift, (-1,)), peak, mean, m2])).astype(
        np.float64)  # one transfer
    k = int(X.shape[1])
    parts = comm.allgather((int(X.shape[0]), host))
    n = np.asarray([rows for rows, _ in parts], dtype=np.float64)[:, None]
    powers, shifts, peaks, means, m2s = (np.stack([h[i * k:(i + 1) * k] for _, h in parts])
                                         for i in range(5))
    with np.errstate(over="ignore", invalid="ignore"):
        means = (shifts + means * peaks) * powers
        m2s = m2s * (peaks * powers) ** 2
        total = np.sum(n)
        mean = np.sum(n * means, axis=0) / total
        std = np.sqrt((np.sum(m2s, axis=0) + np.sum(n * (means - mean) ** 2, axis=0)) / total)
    bad = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))
    if bad.size:
        reason = ("cannot be standardised: its values are too large (the standard "
                  "deviation overflows); rescale it")
        error = ValueError(f"X column {int(bad[0])} {reason}")
        error.column, error.reason = int(bad[0]), reason  # for a caller who knows names
        raise error
    dtype = X.dtype
    # a constant column stays as it is, and so does one whose deviation is 0 or
    # subnormal in the run's dtype (dividing by it there would overflow)
    scale = np.where(std >= float(xp.finfo(dtype).smallest_normal), std, 1.0)
    return tuple(xp.asarray(v.reshape(1, k), dtype=dtype, device=backend.device)
                 for v in (mean, scale))
