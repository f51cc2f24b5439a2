"""``anynet.train``: mini-batch training with the features people expect.

The loop keeps to one rule on a GPU: nothing inside the batch loop waits for
the device. The permutation of an epoch is drawn on the host and copied to the
device once; batches are gathered on the device; the loss is summed there; and
the epoch's figures (training loss, validation loss and metric) are stacked
into one array and read with a single host sync at the end of the epoch.
"""
import math
import time

import numpy as np

from . import _checks
from ._arguments import backend_and_dtype, check_arguments, n_features, task_for
from ._backend import floating_point_warnings_off, to_numpy, tune_host_allocator
from ._data_parallel import DataParallel, shard_rows
from .checkpoints import DivergenceError, Survival
from .distributed import MPIContext
from .losses import LOSSES, SUMMED_LOSSES
from .metrics import accuracy_parts, metric_for, metric_parts_for
from .network import _backward, _forward, _predict, initialize_network
from .optimizers import make_optimizer
from .progress import Progress
from .schedules import Schedule, make_schedule
from .tasks import encode_targets, host_targets

_DEFAULT_INIT = {"relu": "he", "leaky_relu": "he"}  # else "xavier"


def train(X, y, *, hidden=(100,), activation="relu", loss=None, optimizer="adam",
          learning_rate=1e-2, epochs=200, batch_size=200, backend=None, device=None,
          dtype=None, seed=0, network=None, validation_split=0.0, validation_data=None,
          early_stopping=False, patience=10, weight_decay=0.0, lr_schedule=None,
          clip_norm=None, shuffle=True, verbose=True, callbacks=(), init=None,
          checkpoint=None, checkpoint_every=1, resume=False, distributed=None,
          sharded=False, **optimizer_options):
    """Train a network on (X, y) by mini-batch gradient descent.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Host data or any backend's array; moved to the network's device once.
    y : array of shape (n_samples,) or (n_samples, n_outputs)
        Class labels (integers, strings), one-hot rows, a 0/1 column, or real
        values. With ``loss=None`` the task is read from y: labels or one-hot
        rows -> softmax + cross_entropy; one 0/1 column -> sigmoid +
        binary_cross_entropy; real values -> identity + mse.
    hidden : sequence of int
        Sizes of the hidden layers.
    activation : str
        Activation of the hidden layers.
    loss : str, optional
        "mse", "sse", "binary_cross_entropy" or "cross_entropy"; inferred when None.
    optimizer : str or Optimizer
        "sgd", "momentum", "adam", "adamw", "rmsprop", or an instance from
        ``anynet.optimizers``. Extra keyword arguments (``momentum=0.9``,
        ``nesterov=True``, ``beta1=...``) go to its constructor.
    learning_rate : float
        Base learning rate (scaled by ``lr_schedule``). The default, 0.01, solves
        XOR in 200 epochs and matches scikit-learn's MLPClassifier on its digits.
    epochs : int
        Passes over the training data.
    batch_size : int
        Samples per step; the last, partial batch of an epoch is used too.
    backend, device : optional
        As ``initialize_network``; ``backend=None`` means "auto" (CuPy when a
        CUDA device is usable, else NumPy). Taken from ``network`` when given.
    dtype : {"float32", "float64"}, optional
        float32 when None (or ``network``'s dtype).
    seed : int
        Seeds the weights (with ``init``) and, separately, the batches and the
        validation split: the same seed gives the same run on every backend.
    network : Network, optional
        Continue training this network instead of a new one (its layers,
        activations, loss, backend, device and dtype are kept; ``hidden``,
        ``activation`` and ``init`` are not used). It is updated only when
        training succeeds; an exception leaves it as it was.
    validation_split : float in [0, 1)
        Fraction of the samples held out (at random, seeded) for validation.
    validation_data : (X_val, y_val), optional
        Validation data given explicitly (instead of validation_split).
    early_stopping : bool
        Stop when the validation loss has not improved for ``patience`` epochs
        and restore the best weights. Without validation data, 10% of the
        samples are held out.
    weight_decay : float
        L2 penalty (decoupled for "adamw").
    lr_schedule : str, Schedule or callable, optional
        "step", "exponential", "cosine", "plateau", an ``anynet.schedules``
        object, or ``f(epoch, base_lr, history) -> lr``.
    clip_norm : float, optional
        Rescale the gradients of each step so their global L2 norm is at most this.
    shuffle : bool
        Draw a new order of the samples every epoch.
    verbose : bool
        Show a progress bar with the loss and the validation metric.
    callbacks : sequence of callables
        Each is called as ``callback(epoch, history, network)`` after every
        epoch; returning True stops training.
    init : str, optional
        Weight initialiser; "he" for relu layers, else "xavier", when None.
    checkpoint : str or os.PathLike, optional
        A file that receives, atomically, every ``checkpoint_every`` epochs: the
        network, the optimizer's state, the epoch, the history, the random state
        and the early-stopping state.
    resume : bool
        Continue from ``checkpoint`` if it exists (else start afresh). A run
        killed at any moment and resumed with the same arguments ends with the
        same parameters as a run never interrupted.

    distributed : {None, "mpi"}
        Data-parallel training over the ranks of ``mpiexec`` (see
        ``anynet.distributed``): each global batch is split across the ranks,
        and all ranks end with the same parameters, those of one process
        trained on the whole dataset. Only rank 0 shows progress and writes
        checkpoints.
    sharded : bool
        With ``distributed="mpi"``: False (default) when every rank passes the
        same X and y; True when each rank passes its own rows (X, y and
        ``validation_data``), the dataset being the shards stacked in rank order.
        ``validation_split`` then holds out that fraction of each shard. The
        validation figures are those of all the ranks' validation rows together.

    Ctrl-C ends training after the batch that is running, writes the checkpoint
    (of the last whole epoch) and returns the network trained so far, with a
    warning. A NaN or infinite loss or parameter raises :class:`DivergenceError`
    at the end of the epoch (checked there, so no batch waits for the device);
    the network given as ``network=`` is not changed.

    Returns
    -------
    Network
        With ``.history``: lists "loss", "val_loss", "val_metric", "lr",
        "seconds", one entry per epoch (the validation lists hold None without
        validation data), and "metric": "accuracy" or "r2". With MPI also
        "distributed": {"ranks", "sharded", "gradients": "nccl" or "host",
        "threads_per_rank": the BLAS/OpenMP threads of each rank, or None when
        set by the user's OMP_NUM_THREADS (or a BLAS's own variable)}.
    """
    run = _Run()
    try:
        run.prepare(X, y, locals())
        tune_host_allocator()
        return run.fit()
    except Exception as exc:
        if run.mpi is not None and run.mpi.size > 1 and not getattr(exc, "all_ranks", False):
            run.mpi.abort(exc)  # the other ranks would wait forever for this one
        raise
    finally:
        if run.mpi is not None:
            run.mpi.close()


class _Run(Survival, DataParallel):
    """One training run: checked inputs, the working network and the loop state."""

    mpi = None

    def prepare(self, X, y, args):
        """Check every argument and the data; build the network (and the ranks' agreement)."""
        self.args = args = dict(args)
        self.mpi = MPIContext() if args["distributed"] == "mpi" else None
        with self._together():  # an error on one rank is raised on every rank
            check_arguments(args)
            options = dict(args["optimizer_options"])
            if args["weight_decay"]:
                options["weight_decay"] = _checks.positive_number(
                    args["weight_decay"], "weight_decay", allow_zero=True)
            self.optimizer = make_optimizer(args["optimizer"], **options)
            self.schedule = make_schedule(args["lr_schedule"])
            self.backend, self.dtype = backend_and_dtype(args)
            self.xp = self.backend.xp
            self.rng = np.random.default_rng(np.random.SeedSequence([args["seed"], 1]))
            if not args["sharded"]:
                self._data(X, y, args)
        if args["sharded"]:
            self._shards(X, y, args)
        self.net = self._network(args)
        self.n_val = 0 if self.X_val is None else int(self.X_val.shape[0])
        self.has_val, self.distributed = self.n_val > 0, None
        if self.mpi is not None:
            self._distribute(args)

    def _data(self, X, y, args):
        """X, Y, X_val, Y_val and the task, when this process sees the whole dataset."""
        y_host = host_targets(y)
        self.task = self._task_of(y_host)
        _checks.same_origin(X=X, y=y)
        X = self._features(X)
        Y = self._targets(y_host, X.shape[0], "y")
        self.X, self.Y, self.X_val, self.Y_val = self._split(X, Y, args, self.rng)
        self.n_total, self.offset = int(self.X.shape[0]), 0

    def _task_of(self, y_host):
        return task_for(self.args["network"], y_host, self.args["loss"])

    def _features(self, X):
        return _checks.features(self.backend, self.dtype, X,
                                n_features(self.args["network"], X))

    # --- set-up ---------------------------------------------------------------

    def _targets(self, y_host, n_samples, name):
        encoded = encode_targets(y_host, self.task, name)
        return _checks.targets(self.backend, self.dtype, encoded, n_samples,
                               self.task.n_outputs, self.task.loss, name=name,
                               x_name="X_val" if name == "y_val" else "X")

    def _split(self, X, Y, args, rng):
        """(X, Y, X_val, Y_val): the validation set held out or given."""
        if args["validation_data"] is not None:
            Xv, yv = args["validation_data"]
            _checks.same_origin(X_val=Xv, y_val=yv)
            Xv = _checks.features(self.backend, self.dtype, Xv, X.shape[1], name="X_val")
            Yv = self._targets(host_targets(yv, "y_val"), Xv.shape[0], "y_val")
            return X, Y, Xv, Yv
        split = args["validation_split"] or (0.1 if args["early_stopping"] else 0.0)
        if not split:
            return X, Y, None, None
        n = X.shape[0]
        n_val = int(math.ceil(n * split))
        if n_val >= n:
            raise ValueError(f"validation_split={split} leaves no training samples out "
                             f"of {n}")
        order = self.xp_asarray(rng.permutation(n))
        take = self.backend.xp.take
        val, fit = order[:n_val], order[n_val:]
        return take(X, fit, axis=0), take(Y, fit, axis=0), take(X, val, axis=0), \
            take(Y, val, axis=0)

    def xp_asarray(self, host_indices):
        """Host integer indices on the device (one explicit transfer)."""
        return self.backend.xp.asarray(host_indices.astype(np.int64),
                                       device=self.backend.device)

    def _network(self, args):
        if args["network"] is not None:
            return args["network"].copy()  # the original changes only on success
        init = args["init"] or _DEFAULT_INIT.get(args["activation"], "xavier")
        net = initialize_network(
            [self.X.shape[1], *args["hidden"], self.task.n_outputs],
            activation=args["activation"], output_activation=self.task.output_activation,
            loss=self.task.loss, init=init, seed=args["seed"], backend=self.backend,
            dtype=self.dtype)
        net.classes = self.task.classes
        return net

    # --- the loop ---------------------------------------------------------------

    def fit(self):
        args = self.args
        epochs, base_lr = args["epochs"], args["learning_rate"]
        metric_name, self.metric = metric_for(self.task.loss)
        self.history = {"loss": [], "val_loss": [], "val_metric": [], "lr": [],
                        "seconds": [], "metric": metric_name}
        if self.distributed is not None:
            self.history["distributed"] = self.distributed
        self.best, self.waited, first = None, 0, 0  # early stopping: (val_loss, weights)
        if isinstance(self.schedule, Schedule):
            self.schedule.start(epochs)
        if args["resume"]:
            first = self._resume()
        progress = Progress(epochs, metric_name, enabled=args["verbose"], initial=first)
        try:
            with self._interruptible(), floating_point_warnings_off(self.backend), \
                    self._thread_limit():
                for epoch in range(first, epochs):
                    if self._run_epoch(epoch, base_lr, progress):
                        break
        finally:
            progress.close()
        if self.best is not None:
            self.net.update(self.best[1])
        return self._finish(self.history)

    def _run_epoch(self, epoch, base_lr, progress):
        """Train one epoch and record it; True when training should stop."""
        args, history = self.args, self.history
        start = time.perf_counter()
        lr = base_lr if self.schedule is None else float(self.schedule(epoch, base_lr, history))
        if not (lr > 0.0 and math.isfinite(lr)):
            raise self._everywhere(ValueError(f"lr_schedule gave learning rate {lr!r} at "
                                              f"epoch {epoch}"))
        snapshot = self._snapshot()  # the epoch's start: for rollback and Ctrl-C
        figures = self._epoch(lr)
        if figures is None:  # Ctrl-C: stop after the batch that was running
            self._interrupted(epoch, snapshot)
            return True
        loss, val_loss, val_metric, bad_batch, finite = (float(v) for v in figures)
        if bad_batch >= 0 or not finite:
            self._restore(snapshot)
            raise self._everywhere(DivergenceError(
                epoch, None if bad_batch < 0 else int(bad_batch), lr, self._result()))
        history["loss"].append(loss)
        history["val_loss"].append(val_loss if self.has_val else None)
        history["val_metric"].append(val_metric if self.has_val else None)
        history["lr"].append(lr)
        history["seconds"].append(time.perf_counter() - start)
        progress.update(history)
        stop = False
        if args["early_stopping"]:
            if self.best is None or val_loss < self.best[0]:
                self.best, self.waited = (val_loss, self.net.copy()), 0
            else:
                self.waited += 1
                stop = self.waited >= args["patience"]
        if args["checkpoint"] and (epoch + 1) % args["checkpoint_every"] == 0 and (
                self.mpi is None or self.mpi.rank == 0):
            self._write_checkpoint(epoch + 1, self._snapshot())
        stop = any([stop] + [cb(epoch, history, self.net) is True for cb in args["callbacks"]])
        if self.mpi is not None:  # a callback may stop one rank only: then all stop
            stop = any(self.mpi.allgather(stop))
        return stop

    def _everywhere(self, error):
        """Mark an error that every rank raises alike (decided from figures they
        share), so that ``train`` lets it propagate instead of aborting them."""
        error.all_ranks = self.mpi is not None
        return error

    def _epoch(self, lr):
        """One pass over the training data.

        Returns the host array (loss, val_loss, val_metric, first non-finite batch
        or -1, 1 if every parameter is finite), read with the epoch's one sync, or
        None when Ctrl-C stopped the epoch.
        """
        xp, net, X, Y = self.xp, self.net, self.X, self.Y
        n, batch = self.n_total, self.args["batch_size"]
        order, rows = self._plan(n, batch)
        loss_fn = LOSSES[net.loss]
        summed = net.loss in SUMMED_LOSSES  # a rank's part adds to the batch's sum as is
        total = xp.zeros((), dtype=X.dtype, device=self.backend.device)
        bad = xp.asarray(-1.0, dtype=X.dtype, device=self.backend.device)
        for number, lo in enumerate(range(0, n, batch)):
            hi = min(lo + batch, n)
            a, b = rows(number, lo, hi)
            if b > a:
                if order is None:
                    Xb, Yb = X[a:b, ...], Y[a:b, ...]
                else:
                    idx = order[a:b]
                    Xb, Yb = xp.take(X, idx, axis=0), xp.take(Y, idx, axis=0)
                outputs = _forward(net, Xb)
                batch_loss = loss_fn(xp, Yb, outputs[-1])
                total = total + batch_loss * float(hi - lo if summed else b - a)
                # remember the first batch whose loss is not finite, without reading it here
                bad = xp.where((bad < 0.0) & ~xp.isfinite(batch_loss), float(number), bad)
                grads = _backward(net, outputs, Xb, Yb)
            else:  # none of this batch's rows are this rank's
                grads = {"d" + k: xp.zeros_like(v) for k, v in net.items()}
            stop = self.interrupted
            if self.mpi is not None:  # this rank's share of the batch's gradient
                stop = self.mpi.sum_gradients(net, grads, 1.0 if summed else (b - a) / (hi - lo),
                                              stop=self.interrupted)
            if self.args["clip_norm"] is not None:
                _clip_global_norm(xp, grads, self.args["clip_norm"])
            self.optimizer.step(net, grads, lr)
            if stop:  # Ctrl-C: stop after this batch (every rank after the same one)
                return None
        finite = xp.all(xp.stack([xp.all(xp.isfinite(p)) for p in net.values()]))
        figures = self._validation(total, bad, finite)
        host = to_numpy(figures)  # the one sync
        return host if self.mpi is None else self._pooled(host)

    def _plan(self, n, batch):
        """The epoch's order of rows (device indices, or None unshuffled) and
        ``rows(k, lo, hi)``: the [a, b) of that order that global batch k takes here."""
        drawn = self.rng.permutation(n) if self.args["shuffle"] else None
        if self.args["sharded"]:
            local, bounds = shard_rows(np.arange(n) if drawn is None else drawn,
                                       self.offset, self.X.shape[0], batch)
            order = None if drawn is None else self.xp_asarray(local)
            return order, lambda k, lo, hi: (int(bounds[k]), int(bounds[k + 1]))
        order = None if drawn is None else self.xp_asarray(drawn)
        if self.mpi is None:
            return order, lambda k, lo, hi: (lo, hi)
        return order, lambda k, lo, hi: self.mpi.part(lo, hi)

    def _validation(self, total, bad, finite):
        """The epoch's figures on the device, as one 1-D array.

        One process: (loss, val_loss, val_metric, bad, finite). With MPI: (this
        rank's summed loss, val_loss, the metric's parts, bad, finite), which
        ``_pooled`` combines over the ranks.
        """
        xp, dtype = self.xp, self.X.dtype
        parts = metric_parts_for(self.net.loss)
        if self.n_val:
            P = _predict(self.net, self.X_val)
            val_loss = LOSSES[self.net.loss](xp, self.Y_val, P)
            metric = xp.reshape(self.metric(xp, self.Y_val, P), (1,)) if self.mpi is None \
                else parts(xp, self.Y_val, P)
        else:
            val_loss = total * 0.0
            width = 1 if self.mpi is None or parts is accuracy_parts \
                else 3 * self.net.layer_sizes[-1]
            metric = xp.zeros((width,), dtype=dtype, device=self.backend.device)
        first = total / float(self.n_total) if self.mpi is None else total
        head = xp.stack([xp.astype(first, dtype), xp.astype(val_loss, dtype)])
        tail = xp.stack([xp.astype(bad, dtype), xp.astype(finite, dtype)])
        return xp.concat([head, xp.astype(metric, dtype), tail])

    def _finish(self, history):
        net = self.net
        net.history = history
        net.optimizer = self.optimizer
        original = self.args["network"]
        if original is None:
            return net
        original.update(net)  # commit: the original takes the trained arrays
        original.history, original.optimizer = history, self.optimizer
        return original


def _clip_global_norm(xp, grads, max_norm):
    """Scale all gradients by min(1, max_norm / (norm + 1e-6)) without a host sync."""
    total = sum(xp.sum(g * g) for g in grads.values())
    scale = xp.minimum(max_norm / (xp.sqrt(total) + 1e-6), 1.0)
    for key, g in grads.items():
        g *= scale
        grads[key] = g
