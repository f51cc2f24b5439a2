"""``anynet.train``'s arguments: checked, normalised, and what they imply.

Everything here runs before any data is touched: a bad argument is a
ValueError/TypeError naming it, and nothing has changed yet.
"""
import difflib
import functools
import hashlib
import inspect
import json
import math
import numbers
import os
import types
from collections.abc import Iterable
from types import SimpleNamespace

import numpy as np

from . import _checks
from ._backend import (BACKENDS, backend_of, float_dtype, is_array, namespace_name,
                       resolve_backend)
from ._description import _short, sizes_problem
from ._files import check_target
from ._fingerprint import readable
from .activations import check_activation
from .initializers import INITIALIZERS
from .model import Network
from .optimizers import OPTIMIZERS, Optimizer, make_optimizer
from .persistence import check_metadata
from .quasi_newton import LBFGS
from .schedules import make_schedule
from .tasks import TABLE


def checked_options(args):
    """``anynet.train``'s arguments checked and normalised, as attributes."""
    args = dict(args)
    check_keywords(args)
    check_arguments(args)
    opts = SimpleNamespace(**args)
    run_optimizer(opts)  # an unknown optimizer or option is said before the data is read
    return opts


def run_optimizer(opts, xp=None):
    """The run's own optimizer: a fresh one from ``opts.optimizer`` (a name, or an
    instance: a template), or a copy of the warm-started network's own optimizer
    when that is what was passed, with its state (copied with ``xp``; none without).
    An explicit ``weight_decay`` is the copy's."""
    own = None if opts.network is None else opts.network.optimizer
    if own is not None and opts.optimizer is own:
        if opts.optimizer_options:
            raise ValueError(f"optimizer options {sorted(opts.optimizer_options)} cannot be "
                             f"combined with the network's own optimizer")
        optimizer = own.fresh()
        if xp is not None:
            optimizer.restore(own.snapshot(xp))  # continue it, on a copy
    else:
        optimizer = make_optimizer(opts.optimizer, **opts.optimizer_options)
    if opts.weight_decay is not None and isinstance(optimizer, Optimizer):
        optimizer.weight_decay = opts.weight_decay
    return optimizer


def _constructor_options(cls):
    """The keyword arguments an optimizer class's constructor takes (None: any)."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind is not p.VAR_POSITIONAL]


def check_keywords(args):
    """A keyword ``anynet.train`` passes to the optimizer that no optimizer takes is a
    misspelling: a TypeError naming it and the nearest keyword there is (difflib)."""
    extra = args["optimizer_options"]
    if not extra:
        return
    own = args["optimizer"]
    cls = OPTIMIZERS.get(own) if isinstance(own, str) else type(own)
    taken = _constructor_options(cls) if cls is not None else []
    if taken is None:
        return
    everywhere = {name for c in set(OPTIMIZERS.values()) for name in
                  (_constructor_options(c) or ())}
    # an instance takes no options: make_optimizer says so for real ones
    own_options = set(taken) if isinstance(own, str) else everywhere
    train_keywords = [k for k in args if not k.startswith("_")
                      and k not in ("X", "y", "optimizer_options")]
    for key in extra:
        if key in own_options:
            continue
        if key in everywhere:  # another optimizer's option
            users = [n for n, c in OPTIMIZERS.items() if key in (_constructor_options(c) or ())]
            raise TypeError(f"optimizer={own!r} does not take the keyword argument {key!r} "
                            f"(it takes {', '.join(taken) or 'none'}; {key!r} is an option "
                            f"of {', '.join(map(repr, users))})")
        near = difflib.get_close_matches(key, train_keywords + sorted(everywhere), n=1)
        raise TypeError(f"train() got an unexpected keyword argument {key!r}"
                        + (f"; did you mean {near[0]!r}?" if near else "")
                        + (f" (optimizer={own!r} takes {', '.join(taken)})"
                           if isinstance(own, str) and taken else ""))


def check_arguments(args):
    """Check and normalise ``anynet.train``'s arguments in place (not the data)."""
    args["epochs"] = _checks.positive_int(args["epochs"], "epochs", allow_zero=True)
    args["learning_rate"] = _checks.positive_number(args["learning_rate"],
                                                    "learning_rate")
    args["batch_size"] = _checks.positive_int(args["batch_size"], "batch_size")
    args["patience"] = math.inf if args["patience"] == math.inf else \
        _checks.positive_int(args["patience"], "patience")
    args["tol"] = _checks.positive_number(args["tol"], "tol", allow_zero=True)
    args["alpha"] = _checks.positive_number(args["alpha"], "alpha", allow_zero=True)
    args["monitor"] = _monitor(args["early_stopping"])
    args["early_stopping"] = args["monitor"] in ("val_loss", "val_metric")
    args["dropout"] = checked_dropout(args["dropout"])
    args["seed"] = _checks.seed(args["seed"], init=args["init"])
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
    callbacks = args["callbacks"]
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not (
            callbacks is None or isinstance(callbacks, Iterable)):
        raise TypeError(f"callbacks must be a list of callables, got {callbacks!r}; pass "
                        f"one callback as callbacks=[f]")
    callbacks = list(callbacks or ())
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
    checkpoint = args["checkpoint"]
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file name (str or os.PathLike) or None, got "
                        f"{checkpoint!r}")
    if checkpoint is not None and not os.fspath(checkpoint):
        raise ValueError("checkpoint='' names no file; give a file name, or leave it out "
                         "(None) to write no checkpoint")
    args["resume"] = _flag(args["resume"], "resume")
    if args["resume"] and not args["checkpoint"]:
        raise ValueError("resume=True needs checkpoint= (the file to resume from)")
    if args["checkpoint"]:  # a missing folder is said now, not after training
        check_target(args["checkpoint"], "checkpoint")
    shuffle = args["shuffle"]
    if not isinstance(shuffle, (bool, np.bool_, np.random.RandomState)):
        raise TypeError(f"shuffle must be True, False or a numpy.random.RandomState (a "
                        f"stream drawn as scikit-learn draws its epochs' orders), got "
                        f"{shuffle!r}")
    if isinstance(shuffle, np.bool_):
        args["shuffle"] = bool(shuffle)
    if not (isinstance(args["standardize"], bool) or (isinstance(args["standardize"], str)
                                                      and args["standardize"] == "features")):
        raise TypeError(f"standardize must be True, False or 'features', got "
                        f"{args['standardize']!r}")
    net = args["network"]
    if args["standardize"] is not False and isinstance(net, Network) and \
            net.input_scaling is None:
        raise ValueError("standardize=True is for a new network: this one was trained on "
                         "features as they are, and keeps taking them so")
    if args["loss"] is not None and args["loss"] not in TABLE:
        raise ValueError(f"loss={args['loss']!r} is not a known loss; use one of "
                         f"{', '.join(map(repr, TABLE))} or None to infer it")
    if args["weight_decay"] is not None:
        args["weight_decay"] = _checks.positive_number(args["weight_decay"], "weight_decay",
                                                       allow_zero=True)
    make_schedule(args["lr_schedule"])  # a bad name or type is said now
    lbfgs = args["optimizer"] == "lbfgs" or isinstance(args["optimizer"], LBFGS)
    if lbfgs and (args["checkpoint"] or args["distributed"] is not None):
        raise ValueError("optimizer='lbfgs' trains on one process without checkpoints: "
                         "leave out checkpoint= and distributed=")
    if lbfgs and args["lr_schedule"] is not None:
        raise ValueError("optimizer='lbfgs' has no learning rate: leave out lr_schedule=")
    if lbfgs and (args["weight_decay"] or args["clip_norm"] is not None):
        raise ValueError("optimizer='lbfgs' takes neither weight_decay nor clip_norm; its "
                         "L2 penalty is alpha=")
    if args["network"] is not None and not isinstance(args["network"], Network):
        raise TypeError(f"network must be an anynet Network, got "
                        f"{type(args['network']).__name__}")
    vd = args["validation_data"]
    if vd is not None and (not isinstance(vd, (tuple, list)) or len(vd) not in (2, 3)):
        raise TypeError("validation_data must be a pair (X_val, y_val) or a triple "
                        "(X_val, y_val, sample_weight_val)")
    if vd is not None and len(vd) == 3 and args["distributed"] is not None:
        raise ValueError("validation_data's sample weights are not supported with "
                         "distributed='mpi' yet")
    if vd is not None and split:
        raise ValueError("give validation_data or validation_split, not both")
    if args["checkpoint"]:
        check_checkpoint_fits(args["checkpoint"], args["network"], args["hidden"])


def check_checkpoint_fits(checkpoint, network, hidden, sizes=None):
    """A ValueError now, before training, if the checkpoint's network could not be
    loaded back: more layers or parameters than ``anynet.load`` reads (from
    ``hidden`` alone, or the whole ``sizes`` once the data is known), or a
    warm-started network's metadata too deep or too large."""
    label = f"checkpoint={str(checkpoint)!r}"
    if network is not None:
        check_metadata(network.metadata, label)
        return
    problem = sizes_problem(sizes or [1, *hidden, 1])
    if problem:
        raise ValueError(f"{label}: the network (hidden={_short(hidden)}) {problem}, so its "
                         f"checkpoint could not be loaded; train it without checkpoint=, "
                         f"or smaller")


def _flag(value, name):
    """A True/False argument as a Python bool (NumPy's bools too); a TypeError else."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


#: What may differ between the MPI ranks of one run: the data each rank passes
#: (its rows: compared by ``check_replicated`` when they must be the same), where
#: the rank computes, what it calls back, whether it prints, and where rank 0
#: (the only writer) keeps its checkpoint.
PER_RANK = ("X", "y", "sample_weight", "validation_data", "device", "callbacks",
            "verbose", "checkpoint")


def run_facts(opts, backend, dtype, X, y):
    """What every MPI rank of one run must agree on, ``{name: text}``: each checked
    option but those of ``PER_RANK`` (with whether a checkpoint, sample weights and
    validation data are given at all), the backend, dtype and warm-started
    network, and the shape after the first axis and the dtype of X and y."""
    facts = {name: _text(value) for name, value in sorted(vars(opts).items())
             if name not in PER_RANK and name not in ("network", "optimizer_options")}
    facts.update(
        checkpoint=_text(bool(opts.checkpoint)), backend=backend.name, dtype=dtype,
        sample_weight=_text(opts.sample_weight is not None),
        validation_data=_text(None if opts.validation_data is None
                              else len(opts.validation_data)),
        optimizer_options=_text(sorted(opts.optimizer_options.items())),
        network=_text(None if opts.network is None else
                      {**opts.network.config, "scaled": opts.network.input_scaling is not None,
                       "scaled_targets": opts.network.target_scaling is not None}),
        X=_data_text(X), y=_data_text(y, labels=True))
    if isinstance(opts.shuffle, np.random.RandomState):  # its stream orders every epoch
        state = opts.shuffle.get_state()
        digest = hashlib.sha256(state[1].tobytes() + repr(state[2:]).encode()).hexdigest()
        facts["shuffle"] = f"a RandomState in state {digest[:16]}"
    return facts


def _text(value):
    """A value as the same text on every rank: functions, classes and objects without
    a repr of their own by their name (not by their address, which differs)."""
    if isinstance(value, type):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                          functools.partial)):  # by its code and constants, as a resume
        return json.dumps(readable(value), sort_keys=True)
    text = repr(value)
    if " at 0x" in text:
        kind = type(value)
        return f"{kind.__module__}.{kind.__qualname__} object"
    return text


def _data_text(a, labels=False):
    """An array's shape after the first axis and its dtype (labels: numbers, text or
    objects, since a shard's strings may be shorter), as text; None's and lists' too."""
    if a is None:
        return "None"
    shape, dtype = getattr(a, "shape", None), getattr(a, "dtype", None)
    if shape is None or dtype is None:
        try:
            a = np.asarray(a)
        except (ValueError, TypeError):
            return "unreadable"  # each rank's own check names the problem
        shape, dtype = a.shape, a.dtype
    name = str(dtype).rsplit(".", 1)[-1]
    if labels:
        kind = getattr(dtype, "kind", "f")
        name = "numbers" if kind in "biuf" else "text" if kind in "US" else \
            "objects" if kind == "O" else name
    dims = ("n", *map(str, tuple(shape)[1:]))
    return f"shape ({', '.join(dims)}{',' if len(dims) == 1 else ''}) of {name}"


def backend_and_dtype(opts):
    """(Backend, dtype name) of the run: the network's when warm-starting, else as asked.

    A warm start accepts any spelling of its own backend, device and dtype (a
    name, a namespace module, a Backend; "float32", numpy.float32, torch.float32);
    a different one is a ValueError.
    """
    net = opts.network
    if net is None:
        backend = data_backend(opts) or resolve_backend(
            "auto" if opts.backend is None else opts.backend, opts.device)
        return backend, float_dtype(backend, opts.dtype or "float32")[0]
    asked = [("backend", opts.backend, lambda: resolve_backend(opts.backend).name,
              net.backend.name),
             ("device", opts.device, lambda: resolve_backend(net.backend, opts.device).device,
              net.device)]
    for name, value, resolved, own in asked:  # a name alone: any device of that backend
        if value is not None and resolved() != own:
            raise ValueError(f"{name}={value!r} differs from the network's {own!r}; leave "
                             f"it out to train the network where it is")
    if opts.dtype is not None and float_dtype(net.backend, opts.dtype)[0] != net.dtype:
        raise ValueError(f"dtype={opts.dtype!r} differs from the network's {net.dtype!r}; "
                         f"leave it out to train the network where it is")
    return net.backend, net.dtype


def data_backend(opts):
    """With ``backend`` None or "auto" and no ``device``, X's own backend and device
    when X is an array of another library than NumPy (a torch tensor trains on
    torch, where it is): "auto" means "where the data is" before "CuPy if it can"."""
    if opts.backend not in (None, "auto") or opts.device is not None:
        return None
    for data in (opts.X, opts.y):
        if is_array(data) and namespace_name(data) in BACKENDS and \
                namespace_name(data) != "numpy":
            return backend_of(data)
    return None


def _as_sequence(value, name):
    if isinstance(value, (int, np.integer)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}") from None


#: What ``early_stopping=`` may watch: True is the validation loss.
MONITORS = ("val_loss", "val_metric", "loss")


def _monitor(early_stopping):
    """The figure ``early_stopping`` watches, or None."""
    if early_stopping is False or early_stopping is None:
        return None
    if early_stopping is True or (isinstance(early_stopping, np.bool_) and early_stopping):
        return "val_loss"
    if isinstance(early_stopping, np.bool_):
        return None
    if early_stopping in MONITORS:
        return early_stopping
    raise ValueError(f"early_stopping={early_stopping!r} is not known; use True, False or "
                     f"one of {', '.join(map(repr, MONITORS))}")


def checked_dropout(dropout):
    """None, one rate, or a sequence of rates (one per hidden layer), each in [0, 1)."""
    if dropout is None:
        return None
    if isinstance(dropout, (str, bytes)):
        raise TypeError(f"dropout must be a rate or a sequence of rates, got {dropout!r}")
    rates = [dropout] if isinstance(dropout, numbers.Real) else _as_sequence(dropout,
                                                                            "dropout")
    for i, rate in enumerate(rates):
        name = "dropout" if isinstance(dropout, numbers.Real) else f"dropout[{i}]"
        rate = _checks.positive_number(rate, name, allow_zero=True)
        if rate >= 1.0:
            raise ValueError(f"{name} must be in [0, 1) (the fraction of units dropped), "
                             f"got {rate!r}")
    return float(dropout) if isinstance(dropout, numbers.Real) else \
        tuple(float(r) for r in rates)


def dropout_rates(dropout, n_hidden):
    """Per hidden layer, the rate of ``dropout`` (checked by ``checked_dropout``); () for none."""
    if dropout is None:
        return ()
    if n_hidden == 0:
        raise ValueError("dropout is for hidden layers, and this network has none")
    if isinstance(dropout, float):
        rates = (dropout,) * n_hidden
    elif len(dropout) != n_hidden:
        raise ValueError(f"dropout has {len(dropout)} rates but the network has {n_hidden} "
                         f"hidden layers; give one rate, or one per hidden layer")
    else:
        rates = dropout
    return rates if any(rates) else ()
