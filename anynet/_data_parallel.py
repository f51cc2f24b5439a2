"""The part of a training run that takes part in MPI data parallelism.

``DataParallel`` is mixed into ``anynet.training._Run``: it checks and places
the ranks' data (replicated or sharded), broadcasts the weights, and pools the
epoch's figures over the ranks. ``shard_rows`` says which rows of each global
batch a shard holds. The collectives themselves are ``anynet.distributed``'s.
"""
import contextlib
import math
import warnings

import numpy as np

from ._checks import same_origin
from .metrics import pool
from .tasks import host_targets, stack_samples, task_sample


class DataParallel:
    """How a training run (``anynet.training._Run``) takes part in MPI training.

    Needs from the run: ``mpi`` (an MPIContext or None), ``args``, ``net``,
    ``history``, and its ``_features``, ``_task_of``, ``_targets`` and ``_split``.
    """

    def _together(self):
        """``MPIContext.together`` under MPI, else a block that changes nothing."""
        return contextlib.nullcontext() if self.mpi is None else self.mpi.together()

    def _shards(self, X, y, args):
        """X, Y, X_val, Y_val and the task when each rank passes its own rows.

        The ranks exchange their feature counts, a sample of their targets and
        their row counts, so every rank infers the task of the whole dataset (a
        rank may not hold every class) and knows where its rows sit in it.
        """
        with self.mpi.together():
            if (getattr(X, "shape", None) or np.shape(X))[:1] == (0,):
                raise ValueError("X has no rows on this rank; with sharded=True every rank "
                                 "needs at least one row")
            y_host = host_targets(y)
            same_origin(X=X, y=y)
            X = self._features(X)
            sample = task_sample(y_host)
        shards = self.mpi.allgather((int(X.shape[1]), sample))
        with self.mpi.together():  # every rank decides alike from the same facts
            widths = [w for w, _ in shards]
            if len(set(widths)) > 1:
                raise ValueError(f"X has a different number of features on different "
                                 f"ranks: {widths}")
            self.task = self._task_of(stack_samples([s for _, s in shards]))
            Y = self._targets(y_host, X.shape[0], "y")
            # each rank holds out part of its own shard: a stream of its own, so the
            # shared stream (the batches) stays in step on every rank
            own = np.random.default_rng(np.random.SeedSequence([args["seed"], 2,
                                                                self.mpi.rank]))
            self.X, self.Y, self.X_val, self.Y_val = self._split(X, Y, args, own)
        kept = self.mpi.allgather(int(self.X.shape[0]))
        self.n_total, self.offset = sum(kept), sum(kept[:self.mpi.rank])

    def _distribute(self, args):
        """Broadcast rank 0's weights; pick the gradient transport; quiet other ranks."""
        mpi = self.mpi
        if not args["sharded"]:
            self._check_replicated()
        mpi.broadcast_parameters(self.net)
        args["verbose"] = args["verbose"] and mpi.rank == 0
        if not args["sharded"] and mpi.rank != 0:
            self.n_val = 0  # the same validation rows everywhere: rank 0 scores them
        self.val_counts = mpi.allgather(self.n_val)
        self.has_val = sum(self.val_counts) > 0
        self.distributed = {"ranks": mpi.size, "sharded": bool(args["sharded"]),
                            "gradients": mpi.use_nccl(self.net),
                            "threads_per_rank": mpi.threads_per_rank()}

    def _thread_limit(self):
        """Limit BLAS and OpenMP to this rank's share of the cores while training."""
        threads = None if self.mpi is None else self.distributed["threads_per_rank"]
        if threads is None:
            return contextlib.nullcontext()
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            warnings.warn("threadpoolctl is not installed, so every MPI rank's BLAS may use "
                          "every core; install anynet[mpi], or set OMP_NUM_THREADS="
                          f"{threads}", RuntimeWarning, stacklevel=3)
            return contextlib.nullcontext()
        return threadpool_limits(limits=threads)

    def _check_replicated(self):
        """Without sharded=True every rank must pass the same data: compare the
        row counts and sums of X and y (one sync and one allgather, once)."""
        xp = self.xp
        mine = (int(self.X.shape[0]), float(xp.sum(self.X)), float(xp.sum(self.Y)))
        everyone = self.mpi.allgather(mine)
        first = everyone[0]
        # sums within 1e-6: a device's reduction order may differ from run to run
        if any(rows != first[0] or not all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
                                           for a, b in zip(sums, first[1:]))
               for rows, *sums in everyone):
            error = ValueError(
                f"the ranks passed different X or y (rows, sum of X, sum of y by rank: "
                f"{everyone}); with distributed='mpi' every rank passes the same data, "
                f"or its own rows with sharded=True")
            error.all_ranks = True
            raise error

    def _pooled(self, host):
        """Every rank's figures combined, the same on every rank (one allgather);
        None when any rank was interrupted (Ctrl-C) during the epoch."""
        mine = np.append(host.astype(np.float64), float(self.interrupted))
        rows = np.asarray(self.mpi.allgather(mine))
        if np.any(rows[:, -1] > 0.0):
            return None
        rows = rows[:, :-1]
        counts = np.asarray(self.val_counts, dtype=np.float64)
        loss = float(np.sum(rows[:, 0])) / self.n_total
        val_loss = val_metric = 0.0
        if self.has_val:
            val_loss = float(np.sum(rows[:, 1])) if self.net.loss == "sse" else \
                float(np.sum(rows[:, 1] * counts) / np.sum(counts))
            val_metric = pool(self.history["metric"], rows[:, 2:-2], counts)
        bad = rows[:, -2][rows[:, -2] >= 0.0]
        return np.asarray([loss, val_loss, val_metric, bad.min() if bad.size else -1.0,
                           rows[:, -1].min()])


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
