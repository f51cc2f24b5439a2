"""The work of ``anynet train`` (``anynet.__main__`` parses; ``_cli_model`` predicts).

Everything that can be checked before training is: the files to write
(writable, regular, none of them an input or another output), matplotlib for
``--plot``, the data and its task, the network's size. The task is decided
here and passed to ``anynet.train`` as an explicit loss. The features are
standardised by the network itself (``anynet.train(..., standardize=True)``),
which keeps the means and scales, so a saved model (or checkpoint) predicts
from raw features in Python as in ``predict`` and ``evaluate``.
"""
import math
import sys
import time
from pathlib import Path

from ._cli_columns import RECORD, training_data
from ._description import MAX_PARAMETERS
from ._files import check_outputs
from ._tables import task_and_reason
from .datasets import DATASETS
from .tasks import infer_task

#: what the command line reports as one line (and exit 2) rather than a traceback
USER_ERRORS = (ValueError, TypeError, ImportError, RuntimeError, OSError, FloatingPointError)


def train(args):
    """``anynet train``: 0, or 130 when Ctrl-C stopped training (after saving).

    The first line printed says the task, why, and how to override it; then how
    the file was read and how many rows are held out to validate."""
    from .persistence import save
    from .distributed import communicator
    say = _speaker(args)
    # under mpiexec every rank reads its own file: one that cannot (missing,
    # unreadable, a NaN cell) makes every rank stop with its error, none waits
    with communicator(args.distributed).together(catch=USER_ERRORS + (MemoryError,)):
        hidden = _preflight(args)
        data, task, loss = _read(args, hidden, say)
        split, n_val = _validation(args, len(data.X), say)
    start = time.perf_counter()
    net, stopped = _fit(data, hidden, loss, split, args)
    if args.distributed:
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_rank() != 0:
            return 0  # rank 0 reports and writes the model
    net.metadata = {"features": data.features, "target": args.target or "y",
                    "data": args.data, RECORD: data.record}
    path = save(net, args.output)
    print(_summary(net, len(data.X), n_val, task, time.perf_counter() - start))
    print(f"saved {path}")
    h = net.history
    if stopped:
        print(f"anynet: training stopped early (interrupted) during epoch "
              f"{len(h['loss']) + 1} of {args.epochs}; saved the network trained so far "
              f"to {path}", file=sys.stderr)
    if args.plot and h["loss"]:
        from .plotting import plot_history
        print(f"plotted {plot_history(h, args.plot)}")
    return 130 if stopped else 0


def _speaker(args):
    """``print``, or nothing on the ranks but 0 of an MPI run (rank 0 reports)."""
    if args.distributed:
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_rank() != 0:
            return lambda *a, **k: None
    return print


#: Below this many rows, ``--validation-split`` left out holds out nothing (and says so).
MIN_ROWS_TO_HOLD_OUT = 20


def _validation(args, n, say=print):
    """(the validation split to train with, rows held out), said on stdout.

    Left out, the split is 0.1, except for fewer than ``MIN_ROWS_TO_HOLD_OUT``
    rows (XOR's 4), where nothing is held out. ``--early-stopping`` watches the
    held-out rows, so it is refused when there are none: never a silent 10%."""
    split = args.validation_split
    given = split is not None
    if not given:
        split = 0.1 if n >= MIN_ROWS_TO_HOLD_OUT else 0.0
    if not (isinstance(split, float) and 0.0 <= split < 1.0):
        raise ValueError(f"--validation-split must be in [0, 1), got {split!r}")
    n_val = int(math.ceil(n * split)) if split else 0
    if args.early_stopping and n_val == 0:
        why = "--validation-split 0 holds out none" if given else \
            f"{n} rows are too few to hold out by default"
        raise ValueError(f"--early-stopping watches rows held out to validate, and {why}; "
                         f"give --validation-split (e.g. 0.2) or leave out --early-stopping")
    if n_val >= n:
        raise ValueError(f"--validation-split {split:g} leaves no rows to train on out of {n}")
    if n_val:
        say(f"validation: holding out {n_val:,} of {n:,} rows ({split:g}); training on "
              f"{n - n_val:,}")
    elif given:
        say(f"validation: none (--validation-split 0); training on all {n:,} rows")
    else:
        say(f"validation: none ({n} rows are too few to hold out; --validation-split to "
              f"choose); training on all {n:,} rows")
    return split, n_val


def _preflight(args):
    """The hidden sizes, once every file and package the run will need is checked."""
    hidden = _hidden(args.hidden)
    if args.resume and not args.checkpoint:
        raise ValueError("--resume needs --checkpoint FILE (the file to resume from)")
    check_outputs([("-o", args.output, "output"), ("--plot", args.plot, "--plot"),
                   ("--checkpoint", args.checkpoint, "checkpoint")], [args.data])
    if args.plot:
        _check_plot(args.plot)
    if Path(args.output).suffix == ".safetensors":
        try:
            import safetensors  # noqa: F401
        except ImportError:
            raise ImportError("-o .safetensors needs safetensors: pip install "
                              "safetensors") from None
    return hidden


def _read(args, hidden, say=print):
    """(Data, task, loss), the network's size checked; the task said on the first line."""
    task = None if args.task == "auto" else args.task
    data = training_data(args, task)
    y = data.y
    if task is None:
        task, reason = task_and_reason(y, _target_words(args))
        other = "classify" if task == "regress" else "regress"
        say(f"task: {_TASK_WORDS[task]} (inferred: {reason}; override with --task "
            f"{other})")
    else:
        say(f"task: {_TASK_WORDS[task]} (as --task {task} says)")
    for note in data.notes:
        say(note)
    # the loss and outputs from anynet.tasks' one table (real-valued labels: classes)
    kind = infer_task(y, "mse" if task == "regress" else
                      "cross_entropy" if y.dtype.kind == "f" else None)
    _check_size(args.hidden, [data.X.shape[1], *hidden, kind.n_outputs])
    return data, task, kind.loss


_TASK_WORDS = {"classify": "classification", "regress": "regression"}


def _target_words(args):
    if args.data in DATASETS:
        return f"{args.data}'s target"
    if str(args.data).lower().endswith((".npz", ".npy")):
        return "y" if str(args.data).lower().endswith(".npz") else \
            f"the target (column {args.target if args.target is not None else 'last'})"
    return f"the target {args.target!r}"


def _target_scaling(task):
    """Extra ``anynet.train`` arguments that scale a regression target.

    LEAD (issue 18b): the one call site for the network's target scaling;
    once ``anynet.train(..., scale_target=...)`` exists, return
    ``{"scale_target": task == "regress"}`` here."""
    return {}


def _fit(data, hidden, loss, split, args):
    """(network, stopped by Ctrl-C): ``anynet.train`` with the command's options.

    The command says itself when Ctrl-C stopped training (``main`` silences the
    library's UserWarnings)."""
    from .training import DivergenceError, train
    task = "regress" if loss == "mse" else "classify"
    try:
        net = train(data.X, data.y, hidden=hidden, activation=args.activation, loss=loss,
                    optimizer=args.optimizer, learning_rate=args.lr,
                    weight_decay=args.weight_decay, alpha=args.alpha, dropout=args.dropout,
                    epochs=args.epochs,
                    batch_size=args.batch_size, backend=args.backend, device=args.device,
                    dtype=args.dtype, validation_split=split,
                    early_stopping=args.early_stopping, patience=args.patience,
                    seed=args.seed, checkpoint=args.checkpoint,
                    checkpoint_every=args.checkpoint_every, resume=args.resume,
                    verbose=not args.quiet, distributed=args.distributed, standardize=True,
                    **_target_scaling(task))
    except DivergenceError as exc:
        raise ValueError(f"training diverged during epoch {exc.epoch + 1}: the loss or a "
                         f"parameter became NaN or infinite; try a smaller --lr than "
                         f"{args.lr:g}. Nothing was saved") from None
    except ValueError as exc:  # a column named by its index: named by its name
        if getattr(exc, "column", None) is None:
            raise
        raise ValueError(f"{args.data}: column {data.features[exc.column]!r} "
                         f"{exc.reason}") from None
    return net, net.history["stopped"] == "interrupted"


def _summary(net, n_samples, n_val, task, seconds):
    h = net.history
    what = "regression" if task == "regress" else f"{len(net.task.classes)} classes"
    rows = f"{n_samples - n_val:,} rows" if not n_val else \
        f"{n_samples - n_val:,} of {n_samples:,} rows, {n_val:,} held out"
    summary = f"trained {'-'.join(map(str, net.layer_sizes))} on {rows} ({what})"
    if h["loss"]:
        summary += f" in {seconds:.1f} s ({len(h['loss'])} epochs, {net.backend.name} on " \
                   f"{net.device}): final loss {h['loss'][-1]:.4g}"
    if h["val_loss"] and h["val_loss"][-1] is not None:
        summary += f", validation {h['metric']} {h['val_metric'][-1]:.4f}"
    return summary


def _hidden(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--hidden {text!r} is not a list of integers like 64,64") from None
    if not sizes:
        raise ValueError("--hidden needs at least one layer size")
    return sizes


def _check_size(text, sizes):
    """Refuse, before allocating, a network that anynet could not save and load."""
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMETERS:
        raise ValueError(f"--hidden {text}: a {'-'.join(map(str, sizes))} network has "
                         f"{n_params:,} parameters, more than anynet saves and loads "
                         f"({MAX_PARAMETERS:,})")


def _check_plot(path):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from None
    kinds = Figure().canvas.get_supported_filetypes()
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in kinds:
        raise ValueError(f"--plot {path}: unknown image type {kind!r}; use one of "
                         f"{', '.join(sorted(kinds))}")
