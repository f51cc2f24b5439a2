"""The state of a training run, and its checkpoint: that state written and read back.

``RunState`` is everything that changes while ``anynet.train`` runs: the
working network, the run's own optimizer and schedule, the epochs done, the
random stream of the batches, the history, the early-stopping state, and
whether (and why) the run stopped. A checkpoint is an ``anynet.save`` file with
that state in its description; resuming from it replays exactly the epochs an
uninterrupted run would have trained, and a run that had stopped stays stopped.

Also here: ``DivergenceError`` and the Ctrl-C flag the batch loop reads.
"""
import contextlib
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._backend import resolve_backend
from ._fingerprint import MAY_CHANGE, describe_differences, differences
from ._description import STOP_REASONS  # noqa: F401 (RunState.stopped takes one of them)
from .model import Network
from .persistence import load_checkpoint, save

try:
    import fcntl
except ImportError:  # Windows: checkpoints are not locked
    fcntl = None


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss or parameter.

    Attributes
    ----------
    epoch, batch : int
        Where it happened (batch None when only a parameter was found non-finite).
    network : Network
        The network with its parameters from the start of that epoch: the last
        finite ones.
    """

    def __init__(self, epoch, batch, learning_rate, network):
        self.epoch, self.batch, self.network = epoch, batch, network
        self.learning_rate = learning_rate
        self.all_ranks = True  # decided from figures every rank shares
        where = f"epoch {epoch}" + ("" if batch is None else f", batch {batch}")
        super().__init__(
            f"training diverged at {where}: the loss or a parameter became NaN or infinite. "
            f"A likely cause is a learning rate too large for this problem "
            f"(learning_rate={learning_rate:g}); try a smaller one, clip_norm, or scaled "
            f"inputs. The network keeps the parameters from the start of epoch {epoch}.")

    def __reduce__(self):  # pickles (joblib's workers send it back)
        return DivergenceError, (self.epoch, self.batch, self.learning_rate, self.network)


@dataclass
class RunState:
    """Everything a training run changes, in one place; a checkpoint writes it.

    Attributes
    ----------
    network : Network
        The working network (a copy of a warm-started one until the run commits).
    optimizer : Optimizer
        This run's own optimizer (never the template the user passed).
    schedule : Schedule, callable or None
        This run's own copy of a Schedule object.
    rng : numpy.random.Generator
        The stream the batches (and the validation split) are drawn from.
    epoch : int
        Epochs done.
    history : dict
        Per-epoch figures (see ``anynet.train``).
    best : (float, dict) or None
        Early stopping: the best value of the watched figure (a score negated,
        so lower is better) and copies of its parameters ({} when the training
        loss is watched: its best parameters are not kept).
    waited : int
        Early stopping: epochs since the figure last improved by more than ``tol``.
    reductions : int
        Times an "adaptive" schedule divided the learning rate.
    stopped : str or None
        One of ``STOP_REASONS`` once the run stopped before its last epoch.
    stream : numpy.random.RandomState or None
        ``anynet.train``'s ``shuffle`` when it is a RandomState: the stream each
        epoch's permutation is drawn from, scikit-learn's way (see :meth:`next_order`).
        It is the caller's object, advanced as scikit-learn advances its own.
    order : int array of shape (n_samples,) or None
        With ``stream``: the order of the last epoch (each epoch's permutation is
        applied to the previous order, as scikit-learn's ``_fit_stochastic`` does).
    """

    network: Network
    optimizer: object
    schedule: object
    rng: np.random.Generator
    epoch: int = 0
    history: dict = field(default_factory=dict)
    best: tuple = None
    waited: int = 0
    stopped: str = None
    reductions: int = 0
    stream: np.random.RandomState = None
    order: np.ndarray = None

    def next_order(self, n):
        """The next epoch's order of the ``n`` training rows drawn from ``stream``
        exactly as scikit-learn 1.9's MLP draws it: ``indices = arange(n)``,
        ``stream.shuffle(indices)``, then the previous epoch's order taken in
        that order (``sklearn.utils.shuffle`` of the running ``sample_idx``)."""
        if self.order is None:
            self.order = np.arange(n)
        indices = np.arange(n)
        self.stream.shuffle(indices)
        self.order = self.order[indices]
        return self.order

    def snapshot(self):
        """Copies of what an epoch changes before its figures are read: the
        parameters, the optimizer's state, the random state (and the shuffle
        stream's state and order, when there is one)."""
        xp = self.network.xp
        params = {k: xp.asarray(v, copy=True) for k, v in self.network.items()}
        shuffled = None if self.stream is None else (self.stream.get_state(), self.order)
        return params, self.optimizer.snapshot(xp), self.rng.bit_generator.state, shuffled

    def restore(self, snapshot):
        params, optimizer, rng, shuffled = snapshot
        self.network.update(params)
        self.optimizer.restore(optimizer)
        self.rng.bit_generator.state = rng
        if shuffled is not None:  # order is replaced, never written in place: no copy
            stream_state, self.order = shuffled
            self.stream.set_state(stream_state)

    def best_copy(self, value, parameters=True):
        """Remember ``value`` as the best, and the current parameters unless told not to."""
        xp = self.network.xp
        self.best = (value, {k: xp.asarray(v, copy=True) for k, v in self.network.items()}
                     if parameters else {})


class Interrupt:
    """Ctrl-C sets ``requested``, which the batch loop reads; a second Ctrl-C
    interrupts at once. Outside the main thread there is no signal to catch."""

    def __init__(self):
        self.requested = False

    @contextlib.contextmanager
    def catching(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum, frame):
            if self.requested:
                signal.default_int_handler(signum, frame)
            self.requested = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def write_checkpoint(path, state, fingerprint, snapshot=None):
    """Write ``state`` to ``path`` atomically; with ``snapshot``, the state as it was
    when the snapshot was taken (the start of the epoch running: Ctrl-C)."""
    params, (t, arrays), rng = (snapshot or (dict(state.network), (state.optimizer.t,
                                                                   state.optimizer.state),
                                             state.rng.bit_generator.state))[:3]
    net = Network(params, backend=state.network.backend, **state.network.config)
    net.input_scaling = state.network.input_scaling
    net.target_scaling = state.network.target_scaling
    optimizer = state.optimizer.fresh()
    optimizer.t, optimizer.state = t, arrays
    net.optimizer, net.metadata = optimizer, state.network.metadata
    n = state.epoch  # the history of the epochs done
    history = {k: (v[:n] if isinstance(v, list) else v) for k, v in state.history.items()}
    history.pop("distributed", None)  # the ranks of this run, not of the next
    training = {"epoch": state.epoch, "history": history, "rng": rng, "run": fingerprint,
                "waited": state.waited, "stopped": state.stopped,
                "reductions": state.reductions,
                "best_val_loss": None if state.best is None else state.best[0]}
    best = {} if state.best is None else {f"best.{k}": v for k, v in state.best[1].items()}
    save(net, path, optimizer=True, _extra={"description": training, "arrays": best})


def read_checkpoint(path, dtype, fingerprint, optimizer):
    """The state a checkpoint holds, as host arrays of ``dtype``, or None when there
    is no checkpoint yet.

    Returns
    -------
    dict with "params", "optimizer" (t, state), "training" (its description) and
    "best" (the best parameters, or {}).
    """
    path = Path(path)
    if not path.exists():
        return None
    host = resolve_backend("numpy")
    net, description, best = load_checkpoint(path, host, dtype, optimizer)
    training = description.get("training")
    if not isinstance(training, dict):
        raise ValueError(f"{path}: not a training checkpoint (no training state)")
    recorded = training.get("run")
    if not isinstance(recorded.get("options"), dict):  # check_training: run is a dict
        raise ValueError(f"{path}: the checkpoint was written by an earlier anynet, whose "
                         f"record of the run does not say enough to tell whether this is "
                         f"the same run; resume with that version, or start afresh")
    found = differences(recorded, fingerprint)
    if found:
        raise ValueError(f"{path}: the checkpoint is of another run; what differs: "
                         f"{describe_differences(found)}. A resume may change only "
                         f"{', '.join(sorted(MAY_CHANGE))}")
    return {"params": dict(net), "optimizer": (net.optimizer.t, net.optimizer.state),
            "training": training, "best": best}


def resume(state, found):
    """Put what ``read_checkpoint`` found into ``state`` (on the network's device)."""
    net = state.network
    xp, device = net.xp, net.device
    on_device = lambda a: xp.asarray(a, device=device)  # noqa: E731
    net.update({k: on_device(v) for k, v in found["params"].items()})
    t, arrays = found["optimizer"]
    state.optimizer.restore((t, {name: {k: on_device(v) for k, v in by_param.items()}
                                 for name, by_param in arrays.items()}))
    # a checkpoint of the first epoch's start (Ctrl-C then) holds no state arrays:
    # the optimizer starts afresh, zeros as any run's first step finds them
    state.optimizer.start(net)
    training = found["training"]
    state.rng.bit_generator.state = training["rng"]
    state.epoch = training["epoch"]
    state.history.update(training["history"])
    state.waited = training["waited"]
    state.reductions = training.get("reductions", 0)
    state.stopped = training.get("stopped")
    if training["best_val_loss"] is not None:
        state.best = (training["best_val_loss"],
                      {k: on_device(v) for k, v in found["best"].items()})


class CheckpointLock:
    """Who writes a checkpoint: one run at a time, the others told who does.

    Two runs writing one checkpoint path would overwrite each other's state, and
    a resume would continue whichever wrote last. A run therefore holds an
    exclusive, non-blocking ``fcntl.flock`` on a sidecar file,
    ``.<checkpoint's name>.lock`` beside the checkpoint (beside the file a
    symlink points to), for as long as it trains. The lock file holds the
    holder's pid, host and start time, which the refusal names. The operating
    system drops the lock when its holder exits, however it exits (SIGKILL
    included): a lock file left behind locks nothing. The holder removes the file
    when it is done; a run that locked a file someone removed meanwhile locks
    the new one instead. Where ``fcntl`` is missing (Windows) nothing is locked.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint (checked already by ``_files.check_target``).
    """

    def __init__(self, path):
        real = Path(os.path.realpath(path))
        self.path = Path(path)
        self.lock_path = real.parent / f".{real.name}.lock"
        self._fd = None

    def acquire(self):
        """Take the lock, or raise a ValueError naming its holder. Returns self."""
        if fcntl is None:  # Windows: no flock; the run goes on unlocked
            return self
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise ValueError(
                    f"checkpoint={str(self.path)!r} is being written by another run "
                    f"({holder}, lock file {self.lock_path}); wait for that run to end, "
                    f"or give this one another checkpoint file") from None
            try:  # the file we locked may have been removed by its last holder
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()} since "
                     f"{started}\n".encode())
        self._fd = fd
        return self

    def release(self):
        """Remove the lock file and drop the lock (nothing if not held)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.lock_path)  # while still held: no one else holds this file
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_holder(fd):
    """The holder a lock file names (a line), or a note that it names none yet."""
    try:
        text = os.pread(fd, 400, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return f"held by {text}" if text else "its holder has not written its name yet"
