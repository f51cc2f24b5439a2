"""``anynet.train``'s arguments: checked, normalised, and what they imply.

Everything here runs before any data is touched: a bad argument is a
ValueError/TypeError naming it, and nothing has changed yet.
"""
import numpy as np

from . import _checks
from ._backend import Backend, float_dtype, resolve_backend
from .activations import check_activation
from .initializers import INITIALIZERS
from .model import Network
from .tasks import Task, infer_task


def check_arguments(args):
    """Check and normalise ``anynet.train``'s arguments in place (not the data)."""
    args["epochs"] = _checks.positive_int(args["epochs"], "epochs", allow_zero=True)
    args["learning_rate"] = _checks.positive_number(args["learning_rate"],
                                                    "learning_rate")
    args["batch_size"] = _checks.positive_int(args["batch_size"], "batch_size")
    args["patience"] = _checks.positive_int(args["patience"], "patience")
    args["seed"] = _checks.positive_int(args["seed"], "seed", allow_zero=True)
    split = _checks.positive_number(args["validation_split"], "validation_split",
                                    allow_zero=True)
    if split >= 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {split!r}")
    args["validation_split"] = split
    if args["clip_norm"] is not None:
        args["clip_norm"] = _checks.positive_number(args["clip_norm"], "clip_norm")
    args["hidden"] = [_checks.positive_int(h, f"hidden[{i}]")
                      for i, h in enumerate(_as_sequence(args["hidden"], "hidden"))]
    check_activation(args["activation"])
    if args["init"] is not None and args["init"] not in INITIALIZERS:
        raise ValueError(f"init={args['init']!r} is not a known initialiser; use one "
                         f"of {', '.join(map(repr, INITIALIZERS))}")
    callbacks = list(args["callbacks"] or ())
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"callbacks[{i}] is not callable: {cb!r}")
    args["callbacks"] = callbacks
    if args["distributed"] not in (None, "mpi"):
        raise ValueError(f"distributed={args['distributed']!r} is not known; use None "
                         f"or 'mpi'")
    if not isinstance(args["sharded"], bool):
        raise TypeError(f"sharded must be True or False, got {args['sharded']!r}")
    if args["sharded"] and args["distributed"] is None:
        raise ValueError("sharded=True is for distributed='mpi' (each rank passes its "
                         "own rows); a single process trains on the X it is given")
    args["checkpoint_every"] = _checks.positive_int(args["checkpoint_every"],
                                                    "checkpoint_every")
    if args["resume"] and not args["checkpoint"]:
        raise ValueError("resume=True needs checkpoint= (the file to resume from)")
    if args["network"] is not None and not isinstance(args["network"], Network):
        raise TypeError(f"network must be an anynet Network, got "
                        f"{type(args['network']).__name__}")
    vd = args["validation_data"]
    if vd is not None and (not isinstance(vd, (tuple, list)) or len(vd) != 2):
        raise TypeError("validation_data must be a pair (X_val, y_val)")
    if vd is not None and split:
        raise ValueError("give validation_data or validation_split, not both")


def backend_and_dtype(args):
    """(Backend, dtype name) of the run: the network's when warm-starting (and a
    different backend, device or dtype asked for is a ValueError), else as asked."""
    net = args["network"]
    if net is None:
        backend = resolve_backend("auto" if args["backend"] is None else args["backend"],
                                  args["device"])
        return backend, float_dtype(backend, args["dtype"] or "float32")[0]
    for name, value, own in (("backend", args["backend"], net.backend.name),
                             ("device", args["device"], net.device),
                             ("dtype", args["dtype"], net.dtype)):
        if value is not None and value != own and not (
                name == "backend" and isinstance(value, Backend) and value.name == own):
            raise ValueError(f"{name}={value!r} differs from the network's {own!r}; "
                             f"leave it out to train the network where it is")
    return net.backend, net.dtype


def task_for(network, y_host, loss):
    """The Task: inferred from host targets, or the warm-started network's own."""
    if network is None:
        return infer_task(y_host, loss)
    if loss is not None and loss != network.loss:
        raise ValueError(f"loss={loss!r} differs from the network's loss {network.loss!r}")
    classes = getattr(network, "classes", None)
    task = Task(network.loss, network.output_activation, network.layer_sizes[-1],
                None if classes is None else tuple(classes))
    if task.loss == "cross_entropy" and task.classes is None:
        task = Task(task.loss, task.output_activation, task.n_outputs,
                    tuple(range(task.n_outputs)))
    return task


def n_features(network, X):
    """The number of input features X must have (-1 when X is not 2-D: its check says so)."""
    if network is not None:
        return network.layer_sizes[0]
    shape = getattr(X, "shape", None) or np.shape(X)
    return shape[1] if len(shape) == 2 else -1


def _as_sequence(value, name):
    if isinstance(value, (int, np.integer)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}") from None
