"""What lets a long training run survive: checkpoints, resume, Ctrl-C, divergence.

``Survival`` is the part of ``anynet.train``'s run that snapshots the state at
the start of every epoch (parameters, optimizer state, random state), writes
and reads checkpoints, turns Ctrl-C into a clean stop, and rolls back when
training diverges. A checkpoint is an ``anynet.save`` file with the training
state in its description: resuming from it replays exactly the epochs that an
uninterrupted run would have trained.
"""
import contextlib
import copy
import signal
import threading
import warnings
from pathlib import Path

from ._backend import resolve_backend
from .model import Network
from .persistence import _load as _load_checkpoint, save


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
        where = f"epoch {epoch}" + ("" if batch is None else f", batch {batch}")
        super().__init__(
            f"training diverged at {where}: the loss or a parameter became NaN or infinite. "
            f"A likely cause is a learning rate too large for this problem "
            f"(learning_rate={learning_rate:g}); try a smaller one, clip_norm, or scaled "
            f"inputs. The network keeps the parameters from the start of epoch {epoch}.")


class Survival:
    """Snapshots, checkpoints, resume and Ctrl-C for ``anynet.training._Run``."""

    @contextlib.contextmanager
    def _interruptible(self):
        """Ctrl-C sets a flag that the batch loop reads; a second Ctrl-C interrupts at once."""
        self.interrupted = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.interrupted:
                signal.default_int_handler(signum, frame)
            self.interrupted = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _snapshot(self):
        """Copies of the parameters, the optimizer's state and the random state."""
        params = {k: self.xp.asarray(v, copy=True) for k, v in self.net.items()}
        return params, self.optimizer.snapshot(), self.rng.bit_generator.state

    def _restore(self, snapshot):
        params, optimizer, rng = snapshot
        self.net.update(params)
        self.optimizer.restore(optimizer)
        self.rng.bit_generator.state = rng

    def _interrupted(self, epoch, snapshot):
        # the checkpoint of the last whole epoch, so that resuming is exact
        if self.args["checkpoint"] and (self.mpi is None or self.mpi.rank == 0):
            self._write_checkpoint(epoch, snapshot)
        where = f"; checkpoint {self.args['checkpoint']} holds epoch {epoch}" \
            if self.args["checkpoint"] else ""
        warnings.warn(f"training interrupted during epoch {epoch}: returning the network "
                      f"trained so far{where}", UserWarning, stacklevel=5)

    def _result(self):
        net = self.net
        net.history, net.optimizer = self.history, self.optimizer
        return net

    def _fingerprint(self):
        a = self.args
        return {"seed": a["seed"], "batch_size": a["batch_size"], "shuffle": a["shuffle"],
                "n_samples": self.n_total, "layer_sizes": list(self.net.layer_sizes),
                "optimizer": type(self.optimizer).__name__}

    def _write_checkpoint(self, epochs_done, snapshot):
        params, (t, state), rng = snapshot
        net = Network(params, backend=self.backend, **self.net.config)
        opt = copy.copy(self.optimizer)
        opt.t, opt.state = t, state
        net.optimizer, net.metadata = opt, self.net.metadata
        n = epochs_done  # the history of the epochs the snapshot has seen
        history = {k: (v[:n] if isinstance(v, list) else v) for k, v in self.history.items()}
        training = {"epoch": epochs_done, "history": history, "rng": rng,
                    "run": self._fingerprint(), "waited": self.waited,
                    "best_val_loss": None if self.best is None else self.best[0]}
        best = {} if self.best is None else {f"best.{k}": v for k, v in self.best[1].items()}
        save(net, self.args["checkpoint"], optimizer=True,
             _extra={"description": training, "arrays": best})

    def _resume(self):
        """Continue from the checkpoint, if there is one; the first epoch to run.

        Under MPI rank 0 alone reads the file (it alone writes it, perhaps on a
        disk only it sees) and sends what it holds to every rank.
        """
        found = self._read_checkpoint() if self.mpi is None \
            else self.mpi.from_root(self._read_checkpoint)
        if found is None:
            return 0
        params, (t, state), training, best = found
        xp, device = self.xp, self.backend.device
        on_device = lambda a: xp.asarray(a, device=device)  # noqa: E731
        self.net.update({k: on_device(v) for k, v in params.items()})
        self.optimizer.restore((t, {name: {k: on_device(v) for k, v in arrays.items()}
                                    for name, arrays in state.items()}))
        self.optimizer.xp = xp
        self.rng.bit_generator.state = training["rng"]
        self.history = training["history"]
        if self.distributed is not None:  # this run's ranks, not the checkpoint's
            self.history["distributed"] = self.distributed
        else:
            self.history.pop("distributed", None)
        self.waited = training["waited"]
        if training["best_val_loss"] is not None:
            self.best = (training["best_val_loss"],
                         Network({k: on_device(v) for k, v in best.items()},
                                 backend=self.backend, **self.net.config))
        if self.schedule is not None:
            for e in range(training["epoch"]):  # replay, so a plateau schedule has its state
                prefix = {k: (v[:e] if isinstance(v, list) else v)
                          for k, v in self.history.items()}
                self.schedule(e, self.args["learning_rate"], prefix)
        return training["epoch"]

    def _read_checkpoint(self):
        """(params, (t, optimizer state), training state, best weights) as host
        arrays of the run's dtype, or None when there is no checkpoint yet."""
        path = Path(self.args["checkpoint"])
        if not path.exists():
            return None
        host = resolve_backend("numpy")
        net, description, arrays = _load_checkpoint(path, host, dtype=self.dtype)
        training = description.get("training")
        if not isinstance(training, dict):
            raise ValueError(f"{path}: not a training checkpoint (no training state)")
        if training.get("run") != self._fingerprint():
            raise ValueError(f"{path}: the checkpoint is of another run "
                             f"({training.get('run')}), not {self._fingerprint()}")
        best = {k[len("best."):]: v.astype(self.dtype) for k, v in arrays.items()
                if k.startswith("best.")}
        return dict(net), (net.optimizer.t, net.optimizer.state), training, best
