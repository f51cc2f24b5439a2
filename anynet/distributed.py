"""Data-parallel training over MPI (mpi4py): ``anynet.train(..., distributed="mpi")``.

Launch one process per rank, each running the same script:

    mpiexec -n 4 python -m mpi4py train_script.py

(``python -m mpi4py`` makes an unhandled exception on any rank abort them all.)

Every rank passes the same X and y (the default), or, with ``sharded=True``,
its own rows: the dataset is then the ranks' shards stacked in rank order, and
no rank ever holds all of it. Rank 0's initial weights are broadcast. Every
rank draws the same permutation of the whole dataset from the seed, so every
rank knows each global mini-batch; a rank computes the gradient of its part of
it (a contiguous share of the batch when the data are replicated, the batch's
rows that live in its shard when sharded), weighted by that part's share of
the batch, and the parts are summed over the ranks with one all-reduce of one
flat buffer per step. Every rank then takes the same optimizer step, so all
ranks end with the same parameters, equal to a single process's run on the
whole dataset with the same global batch size. Only rank 0 shows progress and
writes checkpoints.

Gradients of CuPy networks are summed by NCCL on the GPUs (``cupy.cuda.nccl``,
its communicator set up over MPI) when every rank can use it: CuPy built with
NCCL, one distinct GPU per rank, and ``ANYNET_NCCL`` not set to 0. Otherwise,
and for every other backend, they travel through host memory (NumPy buffers and
MPI's ``Allreduce``). ``net.history["distributed"]["gradients"]`` says which.

The ranks stop together: early stopping and divergence are decided from
figures they share, a callback returning True on any rank stops all, and
Ctrl-C on any rank stops all after the same batch. On resume rank 0 reads the
checkpoint (which it alone writes) and sends it to every rank.

Before anything else the ranks agree on the run (``MPIContext.same_run``):
every option but the per-rank ones (``anynet._arguments.PER_RANK``: the data,
device, callbacks, verbose, the checkpoint's path), and the shape after the
first axis and dtype of X and y. Ranks given different runs all raise the same
ValueError naming what differs, rather than training different models, waiting
in different collectives or exchanging buffers of different sizes.

A bad input on any rank (NaN in its shard, a wrong number of features) raises
the same ``ValueError``/``TypeError`` on every rank, naming the rank, before
anything trains, as does a ``DivergenceError``, a callback raising on one rank
(the others raise its type, or a RuntimeError naming it) and rank 0 failing to
write a checkpoint; any other error during training aborts every rank (no
hang). Each rank limits BLAS and OpenMP to its share of its machine's cores
while it trains, unless OMP_NUM_THREADS is set.
"""
import builtins
import contextlib
import hashlib
import math
import os
import sys
import time
import traceback
import warnings
from contextlib import contextmanager

import numpy as np

from ._backend import host_floats, to_numpy
from ._nccl import NcclSum, nccl_candidate


#: Environment variables by which a user sets the threads of BLAS and OpenMP.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def communicator(distributed):
    """The communicator of a run: :class:`OneProcess` for None, :class:`MPIContext` for "mpi"."""
    return MPIContext() if distributed == "mpi" else OneProcess()


class OneProcess:
    """The communicator of a run on one process: every collective is the identity.

    It offers what :class:`MPIContext` offers, so the training loop has one code
    path: a sum over one rank is the value itself, the figures of one part are
    pooled as they are, and nothing is ever aborted.
    """

    rank, size, is_root = 0, 1, True

    def together(self, catch=None):
        return contextlib.nullcontext()

    def same_run(self, facts):
        """One process agrees with itself."""

    def from_root(self, read):
        return read()

    def allgather(self, value):
        return [value]

    def agree(self, flag):
        """Whether any rank says ``flag``: here, this one."""
        return bool(flag)

    def part(self, lo, hi):
        return lo, hi

    def start(self, net, replicated):
        """Nothing to broadcast; None: no "distributed" entry in the history."""
        return None

    def check_replicated(self, xp, X, Y):
        pass

    def batch(self, step, net, state, X, Y, index, total, bad, number, weight, share,
              scalars, stop=False, extra=()):
        """One batch step (``anynet.steps.TrainingStep``) as one program:
        (params, state, total, bad, stop). ``extra``: the gradients' further
        arguments (L2 coefficient, sample weights, dropout draws)."""
        return (*step.whole(dict(net), state, X, Y, index, total, bad, number, weight,
                            scalars, *extra), stop)

    def thread_limit(self):
        return contextlib.nullcontext()

    def fail(self, exc):
        pass

    def close(self):
        pass


class MPIContext:
    """The communicator and the few collective operations training needs."""

    is_root = property(lambda self: self.rank == 0)

    def __init__(self):
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise ImportError("distributed='mpi' needs mpi4py and an MPI runtime; "
                              "pip install mpi4py mpich") from exc
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.nccl = None  # an NcclSum once set up for a CuPy network

    # --- set-up: agreeing before anything trains --------------------------------

    @contextmanager
    def together(self, catch=(ValueError, TypeError)):
        """Run a block on every rank; if it fails on any, raise on all of them.

        The one collective at the end keeps the ranks in step: a rank whose shard
        holds NaN makes every rank raise (the same type, naming that rank) instead
        of leaving the others waiting in the next collective. ``catch``: the
        errors that are shared so (the command line adds OSError, a file missing
        on one rank, and the rest of what it reports as a user's mistake).
        """
        error = None
        try:
            yield
        except catch as exc:
            error = exc
        reports = self.comm.allgather(
            None if error is None else (type(error).__name__, str(error)))
        if error is None:
            failed = [(rank, r) for rank, r in enumerate(reports) if r is not None]
            if not failed:
                return
            error = _as_raised_by(*failed[0])
        error.all_ranks = True  # raised everywhere alike: nothing to abort
        raise error

    def same_run(self, facts):
        """Raise the same ValueError on every rank unless all ranks pass the same
        ``facts`` (``{name: text}``: the run's configuration, see
        ``anynet._arguments.run_facts``), naming each that differs and its value
        on each rank.

        The first collective of a run: ranks that would train different models
        (another learning rate), wait in different collectives (other epochs,
        batch sizes, ``standardize``, ``sharded``) or exchange buffers of other
        sizes (other layers, dtype) stop here together instead. One allgather of
        a digest and the facts, once per run.
        """
        digest = hashlib.sha256(repr(sorted(facts.items())).encode()).hexdigest()
        everyone = self.comm.allgather((digest, facts))
        if len({d for d, _ in everyone}) == 1:
            return
        names = sorted({name for _, f in everyone for name in f})
        differ = []
        for name in names:
            values = [f.get(name, "missing") for _, f in everyone]
            if len(set(values)) > 1:
                ranks = {}
                for rank, value in enumerate(values):
                    ranks.setdefault(value, []).append(rank)
                differ.append(f"{name}: " + "; ".join(
                    f"{value} on rank{'s' if len(r) > 1 else ''} {', '.join(map(str, r))}"
                    for value, r in ranks.items()))
        error = ValueError(
            "the MPI ranks were given different runs: " + " | ".join(differ) + ". With "
            "distributed='mpi' every rank passes the same options; only the data (X, y, "
            "sample_weight, validation_data: the same on every rank, or each rank's own "
            "rows with sharded=True), device, callbacks, verbose and checkpoint's path "
            "(rank 0 alone writes it) may differ")
        error.all_ranks = True  # raised everywhere alike: nothing to abort
        raise error

    def from_root(self, read):
        """``read()`` on rank 0, its result sent to every rank.

        A ValueError/TypeError/OSError there is raised on every rank alike.
        """
        payload, error = None, None
        if self.rank == 0:
            try:
                payload = ("ok", read())
            except (ValueError, TypeError, OSError) as exc:
                error, payload = exc, (type(exc).__name__, str(exc))
        kind, value = self.comm.bcast(payload, root=0)
        if kind == "ok":
            return value
        if error is None:
            error = _as_raised_by(0, (kind, value))
        error.all_ranks = True
        raise error

    def allgather(self, value):
        """Every rank's ``value`` (a small picklable object), in rank order."""
        return self.comm.allgather(value)

    def agree(self, flag):
        """Whether any rank says ``flag`` (a callback stopping one rank stops all)."""
        return any(self.allgather(bool(flag)))

    def start(self, net, replicated):
        """Rank 0's weights on every rank; the gradient transport and threads chosen.

        Returns the run's ``history["distributed"]``.
        """
        self.broadcast_parameters(net)
        self.threads = self.threads_per_rank()
        return {"ranks": self.size, "sharded": not replicated,
                "gradients": self.use_nccl(net), "threads_per_rank": self.threads}

    def check_replicated(self, xp, X, Y):
        """Without sharded=True every rank must pass the same data: compare the
        row counts and sums of X and y (one sync and one allgather, once)."""
        mine = (int(X.shape[0]), *host_floats(xp, xp.sum(X), xp.sum(Y)))  # one read
        everyone = self.allgather(mine)
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

    def thread_limit(self):
        """Limit BLAS and OpenMP to this rank's share of the cores while training."""
        threads = getattr(self, "threads", None)
        if threads is None:
            return contextlib.nullcontext()
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            warnings.warn("threadpoolctl is not installed, so every MPI rank's BLAS may use "
                          "every core; pip install threadpoolctl, or set OMP_NUM_THREADS="
                          f"{threads}", RuntimeWarning, stacklevel=3)
            return contextlib.nullcontext()
        return threadpool_limits(limits=threads)

    def threads_per_rank(self):
        """BLAS/OpenMP threads per rank so the ranks on one machine share its cores.

        Each rank's BLAS would otherwise start one thread per core: with 2 ranks
        on 2 cores that measured 410 ms per epoch instead of 6 ms (digits).
        None when the user chose (OMP_NUM_THREADS or a BLAS's variable is set).
        Collective: every rank calls it.
        """
        node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        ranks_here = node.Get_size()
        node.Free()
        if any(name in os.environ for name in THREAD_VARIABLES):
            return None
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
        return max(1, cores // ranks_here)

    def broadcast_parameters(self, net):
        """Every rank takes rank 0's parameters."""
        for key, value in net.items():
            host = np.array(to_numpy(value), order="C", copy=True)  # writeable (JAX's is not)
            self.comm.Bcast(host, root=0)
            net[key] = net.xp.asarray(host, device=net.device)

    # --- which rows of a global batch this rank computes --------------------------

    def part(self, lo, hi):
        """This rank's contiguous share [a, b) of the global batch [lo, hi)."""
        n = hi - lo
        base, extra = divmod(n, self.size)
        a = lo + self.rank * base + min(self.rank, extra)
        return a, a + base + (self.rank < extra)

    # --- the per-step and per-epoch collectives --------------------------------

    def batch(self, step, net, state, X, Y, index, total, bad, number, weight, share,
              scalars, stop=False, extra=()):
        """One batch step over the ranks: this rank's gradients (of its ``index`` rows,
        perhaps none), weighted by its ``share`` of the batch and summed over the
        ranks, then every rank's same update. (params, state, total, bad, stop):
        ``stop`` is True when any rank asked to stop (Ctrl-C)."""
        if index.shape[0] > 0:
            grads, total, bad = step.gradients(dict(net), X, Y, index, total, bad, number,
                                               weight, *extra)
        else:  # none of this batch's rows are this rank's
            grads = {"d" + k: net.xp.zeros_like(v) for k, v in net.items()}
        stop = self.sum_gradients(net, grads, share, stop=stop)
        return (*step.update(dict(net), state, grads, scalars), total, bad, stop)

    def use_nccl(self, net):
        """Sum this CuPy network's gradients with NCCL if every rank can; say which."""
        ok, where = nccl_candidate(net)
        everyone = self.allgather((ok, where))
        places = [w for _, w in everyone]
        if all(o for o, _ in everyone) and len(set(places)) == len(places):
            import cupy
            from cupy.cuda import nccl
            uid = self.comm.bcast(nccl.get_unique_id() if self.rank == 0 else None, root=0)
            failure = None
            try:
                with cupy.cuda.Device(net.device.id):  # the communicator binds this GPU
                    communicator = nccl.NcclCommunicator(self.size, uid, self.rank)
            except Exception as exc:  # NcclError, CUDA errors: fall back to the host path
                failure = f"rank {self.rank}: {type(exc).__name__}: {exc}"
            failures = [f for f in self.allgather(failure) if f is not None]
            if failures:
                warnings.warn(f"NCCL could not be set up ({failures[0]}); gradients go "
                              f"through host memory", RuntimeWarning, stacklevel=2)
                if failure is None:
                    communicator.destroy()
            else:
                self.nccl = NcclSum(nccl, communicator)
        return "nccl" if self.nccl is not None else "host"

    def sum_gradients(self, net, grads, weight, stop=False):
        """grads <- sum over ranks of weight * grads, with one flat all-reduce.

        Returns True when any rank asked to ``stop`` (Ctrl-C), so that all stop
        after the same batch: on the host path the flag rides in the same
        all-reduce. The NCCL path returns None (reading a flag would make every
        step wait for the GPU); the ranks then agree at the end of the epoch.
        """
        keys, xp = list(grads), net.xp
        # one buffer on the device: one copy each way (not one per array), one all-reduce
        flat = xp.concat([xp.reshape(grads[k], (-1,)) for k in keys])
        if self.nccl is not None:
            flat = flat * weight
            self.nccl.sum(flat, net.dtype)
            _unflatten(net, grads, keys, flat)
            return None
        host = np.empty(flat.shape[0] + 1, dtype=np.dtype(net.dtype))
        host[:-1] = to_numpy(flat)
        host[:-1] *= weight
        host[-1] = float(stop)  # the Ctrl-C flag rides along
        self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
        _unflatten(net, grads, keys, xp.asarray(host[:-1], device=net.device))
        return bool(host[-1] > 0.0)

    def close(self):
        """Free the NCCL communicator, if one was set up."""
        if self.nccl is not None:
            self.nccl.comm.destroy()
            self.nccl = None

    def fail(self, exc):
        """An error on this rank: abort every rank unless all of them raise it alike."""
        if self.size > 1 and not getattr(exc, "all_ranks", False):
            self.abort(exc)

    def abort(self, exc):
        """Stop every rank now: the others would wait forever in the next collective."""
        sys.stderr.write(f"anynet: rank {self.rank} failed, aborting all ranks: {exc!r}\n")
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        time.sleep(0.2)  # let mpiexec forward the message before it kills the ranks
        self.comm.Abort(1)


def _as_raised_by(rank, report):
    """The error another rank reported as (type name, message), to raise here too: of
    the same built-in type (FileNotFoundError, ValueError, ...), or a RuntimeError for
    a type of the user's own (a callback's), naming it."""
    kind, message = report
    cls = getattr(builtins, kind, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(f"rank {rank}: {message}")
        except TypeError:  # a built-in that takes other arguments (UnicodeDecodeError)
            pass
    return RuntimeError(f"rank {rank}: {kind}: {message}")


def _unflatten(net, grads, keys, flat):
    """Cut the summed flat buffer (on the net's device) back into the gradients' shapes."""
    offset = 0
    for key in keys:
        shape = tuple(grads[key].shape)
        size = math.prod(shape)
        grads[key] = net.xp.reshape(flat[offset:offset + size], shape)
        offset += size
