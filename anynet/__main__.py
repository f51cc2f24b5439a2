"""The ``anynet`` command (also ``python -m anynet``): demo, train, predict, info.

A user's mistake (a missing file or column, a bad option) is one line on
stderr, ``anynet: error: ...``, and exit status 2; never a traceback.
"""
import argparse
import csv
import io
import sys
import time
import warnings

import numpy as np

USER_ERRORS = (ValueError, TypeError, ImportError, RuntimeError, OSError)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"anynet: error: {message} (see: {self.prog} --help)\n")


def _parser():
    parser = _Parser(prog="anynet", description="Train and use anynet networks.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    demo = sub.add_parser("demo", help="train the tutorial's XOR network, then anynet's")
    demo.add_argument("--backend", default="numpy",
                      help="numpy, cupy, torch, jax, array_api_strict or auto (default numpy)")
    demo.add_argument("--verbose", action="store_true", help="print the loss every 100 epochs")

    train = sub.add_parser("train", help="train a network on a CSV, .npz/.npy or a "
                                         "built-in dataset, and save it")
    train.add_argument("data", help="a .csv file with a header, a .npz (X and y) or .npy "
                                    "file, or a dataset: xor, moons, circles, spirals, digits")
    train.add_argument("--target", help="the target column (CSV: its name; .npy: its index)")
    train.add_argument("--hidden", default="100", help="hidden layer sizes, e.g. 64,64")
    train.add_argument("--activation", default="relu")
    train.add_argument("--optimizer", default="adam")
    train.add_argument("--lr", type=float, default=0.01, help="learning rate")
    train.add_argument("--epochs", type=int, default=200)
    train.add_argument("--batch-size", type=int, default=200)
    train.add_argument("--backend", default="auto")
    train.add_argument("--validation-split", type=float, default=0.1)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--plot", help="write the loss curves to this PNG")
    train.add_argument("-o", "--output", required=True, help="the model file (.npz)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--distributed", choices=["mpi"],
                       help="data-parallel over the ranks of mpiexec (launch with "
                            "mpiexec -n N python -m mpi4py -m anynet train ...)")

    predict = sub.add_parser("predict", help="predict with a saved model")
    predict.add_argument("model", help="a model file written by 'anynet train'")
    predict.add_argument("data", help="a .csv file (with the model's feature columns), "
                                      "a .npz/.npy file, or a built-in dataset")
    predict.add_argument("-o", "--output", help="write the CSV here instead of stdout")
    predict.add_argument("--proba", action="store_true",
                         help="also write each class's probability")
    predict.add_argument("--backend", default="numpy")

    sub.add_parser("info", help="anynet's version, the backends and devices here")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    command = args.command or "demo"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # 'auto' says what it chose below
            return COMMANDS[command](args)
    except USER_ERRORS as exc:
        print(f"anynet: error: {exc}", file=sys.stderr)
        return 2


def _demo(args):
    from .demo import run
    run(backend=getattr(args, "backend", "numpy"), verbose=getattr(args, "verbose", False))
    return 0


def _hidden(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--hidden {text!r} is not a list of integers like 64,64") from None
    if not sizes:
        raise ValueError("--hidden needs at least one layer size")
    return sizes


def _train(args):
    from .datasets import load
    from .persistence import save
    from .plotting import plot_history
    from .training import train
    hidden = _hidden(args.hidden)
    X, y, features = load(args.data, args.target)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0  # constant columns stay as they are
    start = time.perf_counter()
    net = train((X - mean) / scale, y, hidden=hidden, activation=args.activation,
                optimizer=args.optimizer, learning_rate=args.lr, epochs=args.epochs,
                batch_size=args.batch_size, backend=args.backend,
                validation_split=args.validation_split, seed=args.seed,
                verbose=not args.quiet, distributed=args.distributed)
    if args.distributed:
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_rank() != 0:
            return 0  # rank 0 reports and writes the model
    seconds = time.perf_counter() - start
    net.metadata = {"features": features, "target": args.target or "y", "data": args.data,
                    "standardize": {"mean": mean.tolist(), "scale": scale.tolist()}}
    path = save(net, args.output)
    h = net.history
    summary = f"trained {'-'.join(map(str, net.layer_sizes))} on {len(X)} samples"
    summary += f" in {seconds:.1f} s ({len(h['loss'])} epochs, {net.backend.name} on " \
               f"{net.device}): final loss {h['loss'][-1]:.4g}" if h["loss"] else ""
    if h["val_loss"] and h["val_loss"][-1] is not None:
        summary += f", validation {h['metric']} {h['val_metric'][-1]:.4f}"
    print(summary)
    print(f"saved {path}")
    if args.plot:
        print(f"plotted {plot_history(h, args.plot)}")
    return 0


def _predict(args):
    from .persistence import load as load_model
    net = load_model(args.model, backend=args.backend)
    meta = net.metadata or {}
    X = _features(args.data, net.layer_sizes[0], meta.get("features"))
    if "standardize" in meta:
        X = (X - np.asarray(meta["standardize"]["mean"])) / np.asarray(
            meta["standardize"]["scale"])
    if X.shape[1] != net.layer_sizes[0]:
        raise ValueError(f"{args.data}: {X.shape[1]} feature columns, but the model "
                         f"{args.model} expects {net.layer_sizes[0]}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    classifier = net.task.is_classifier
    if classifier:
        labels = net.predict_classes(X)
        header, rows = ["prediction"], [[label] for label in labels.tolist()]
        if args.proba:
            P = _proba(net, X)
            header += [f"proba_{c}" for c in net.task.classes]
            rows = [row + [f"{p:.6g}" for p in probs] for row, probs in zip(rows, P)]
    else:
        if args.proba:
            raise ValueError(f"--proba needs a classifier; {args.model} is a regressor")
        P = _host(net.predict(X))
        header = ["prediction"] if P.shape[1] == 1 else [f"prediction_{i}"
                                                         for i in range(P.shape[1])]
        rows = [[f"{v:.6g}" for v in row] for row in P]
    writer.writerow(header)
    writer.writerows(rows)
    if args.output:
        with open(args.output, "w", newline="") as f:
            f.write(out.getvalue())
        print(f"wrote {len(rows)} predictions to {args.output}")
    else:
        sys.stdout.write(out.getvalue())
    return 0


def _features(source, n_features, names):
    """X for prediction: a CSV's feature columns (by name when the model knows them),
    a .npy array with or without its target column, or a dataset's / .npz file's X."""
    from .datasets import load, load_csv, load_npz
    suffix = str(source).lower().rsplit(".", 1)[-1]
    if suffix == "csv":
        return load_csv(source, features=names)[0]
    if suffix == "npy":
        X, y, _ = load_npz(source)  # the last column split off as a target
        return X if X.shape[1] == n_features else np.column_stack([X, y])
    return load(source)[0]


def _host(x):
    from ._backend import to_numpy
    return np.asarray(to_numpy(x), dtype=np.float64)


def _proba(net, X):
    P = _host(net.predict(X))
    return np.concatenate([1.0 - P, P], axis=1) if P.shape[1] == 1 else P


def _info(args):
    import importlib.util
    from ._version import __version__
    from ._backend import BACKENDS, cuda_unavailable_reason, resolve_backend
    print(f"anynet {__version__}, Python {sys.version.split()[0]}")
    for name in BACKENDS:
        module = "cupy" if name == "cupy" else name
        if importlib.util.find_spec(module) is None:
            print(f"  {name:17s} not installed")
            continue
        try:
            backend = resolve_backend(name)
            devices = backend.xp.__array_namespace_info__().devices() if name != "jax" \
                else __import__("jax").devices()
            print(f"  {name:17s} devices: {', '.join(map(str, devices))}")
        except USER_ERRORS as exc:
            print(f"  {name:17s} unusable: {exc}")
    reason = cuda_unavailable_reason()
    print(f"backend='auto' picks: {'cupy' if reason is None else 'numpy'}"
          + ("" if reason is None else f" ({reason})"))
    return 0


COMMANDS = {"demo": _demo, "train": _train, "predict": _predict, "info": _info}

if __name__ == "__main__":
    sys.exit(main())
