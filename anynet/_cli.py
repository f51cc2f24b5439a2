"""The work of ``anynet train`` (``anynet.__main__`` parses; ``_cli_model`` predicts).

Everything that can be checked before training is: the files to write
(writable, regular, none of them an input or another output), matplotlib for
``--plot``, the data and its task, the network's size. The task is decided
here and passed to ``anynet.train`` as an explicit loss. The features are
standardised by the network itself (``anynet.train(..., standardize=True)``),
which keeps the means and scales, so a saved model (or checkpoint) predicts
from raw features in Python as in ``predict`` and ``evaluate``.
"""
import sys
import time
from pathlib import Path


from ._description import MAX_PARAMETERS
from ._files import check_outputs
from .tasks import infer_task

#: what the command line reports as one line (and exit 2) rather than a traceback
USER_ERRORS = (ValueError, TypeError, ImportError, RuntimeError, OSError, FloatingPointError)


def train(args):
    """``anynet train``: 0, or 130 when Ctrl-C stopped training (after saving)."""
    from .persistence import save
    from .distributed import communicator
    # under mpiexec every rank reads its own file: one that cannot (missing,
    # unreadable, a NaN cell) makes every rank stop with its error, none waits
    with communicator(args.distributed).together(catch=USER_ERRORS + (MemoryError,)):
        hidden = _preflight(args)
        X, y, features, task, loss = _read(args, hidden)
    start = time.perf_counter()
    net, stopped = _fit(X, y, hidden, loss, args, features)
    if args.distributed:
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_rank() != 0:
            return 0  # rank 0 reports and writes the model
    net.metadata = {"features": features, "target": args.target or "y", "data": args.data}
    path = save(net, args.output)
    print(_summary(net, len(X), task, time.perf_counter() - start))
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


def _read(args, hidden):
    """(X, y, feature names, task, loss), the network's size checked."""
    from .datasets import load
    task = None if args.task == "auto" else args.task
    X, y, features = load(args.data, args.target, task=task, drop=args.drop, sep=args.sep,
                          encoding=args.encoding)
    task = task or ("regress" if y.dtype.kind == "f" else "classify")
    # the loss and outputs from anynet.tasks' one table (real-valued labels: classes)
    kind = infer_task(y, "mse" if task == "regress" else
                      "cross_entropy" if y.dtype.kind == "f" else None)
    _check_size(args.hidden, [X.shape[1], *hidden, kind.n_outputs])
    return X, y, features, task, kind.loss


def _fit(X, y, hidden, loss, args, features):
    """(network, stopped by Ctrl-C): ``anynet.train`` with the command's options.

    The command says itself when Ctrl-C stopped training (``main`` silences the
    library's UserWarnings)."""
    from .training import DivergenceError, train
    try:
        net = train(X, y, hidden=hidden, activation=args.activation, loss=loss,
                    optimizer=args.optimizer, learning_rate=args.lr,
                    weight_decay=args.weight_decay, alpha=args.alpha, dropout=args.dropout,
                    epochs=args.epochs,
                    batch_size=args.batch_size, backend=args.backend, dtype=args.dtype,
                    validation_split=args.validation_split,
                    early_stopping=args.early_stopping, patience=args.patience,
                    seed=args.seed, checkpoint=args.checkpoint, resume=args.resume,
                    verbose=not args.quiet, distributed=args.distributed, standardize=True)
    except DivergenceError as exc:
        raise ValueError(f"training diverged during epoch {exc.epoch + 1}: the loss or a "
                         f"parameter became NaN or infinite; try a smaller --lr than "
                         f"{args.lr:g}. Nothing was saved") from None
    except ValueError as exc:  # a column named by its index: named by its name
        if getattr(exc, "column", None) is None:
            raise
        raise ValueError(f"{args.data}: column {features[exc.column]!r} "
                         f"{exc.reason}") from None
    return net, net.history["stopped"] == "interrupted"


def _summary(net, n_samples, task, seconds):
    h = net.history
    what = "regression" if task == "regress" else f"{len(net.task.classes)} classes"
    summary = f"trained {'-'.join(map(str, net.layer_sizes))} on {n_samples} samples ({what})"
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
