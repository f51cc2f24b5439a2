"""The ``anynet`` command (also ``python -m anynet``): demo, train, predict, evaluate,
export, info.

A user's mistake (a missing file or column, a bad option, a damaged file, a
run that diverges or runs out of memory) is one line on stderr,
``anynet: error: ...``, and exit status 2; never a traceback. Every file a
command writes is checked before any work, and written atomically. Ctrl-C
exits with status 130 (after saving what ``train`` had trained).
"""
import argparse
import codecs
import sys
import warnings

from ._cli import USER_ERRORS


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"anynet: error: {message} (see: {self.prog} --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default (where it has one worth showing)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _positive_int(text):
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _count(text):
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def _separator(text):
    value = {"tab": "\t", "\\t": "\t", "space": " "}.get(text, text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"must be one character (or tab), got {text!r}")
    return value


def _encoding(text):
    try:
        codecs.lookup(text)
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding {text!r}") from None
    return text


def _command(sub, name, help, description=None):
    return sub.add_parser(name, help=help, description=description or help,
                          formatter_class=_Formatter)


def _decimal(text):
    if len(text) != 1 or text.isdigit() or text in "+-eE":
        raise argparse.ArgumentTypeError(f"must be one character such as . or , got {text!r}")
    return text


def _csv_options(parser):
    parser.add_argument("--sep", type=_separator,
                        help="a CSV file's field separator (one character, or tab); "
                             "detected by default among , ; tab | (tab for .tsv)")
    parser.add_argument("--decimal", type=_decimal, default=".",
                        help="the numbers' decimal mark: , for European numbers like 72,18")
    parser.add_argument("--encoding", type=_encoding, default="utf-8",
                        help="a CSV file's text encoding, e.g. latin-1")


def _model_options(parser):
    parser.add_argument("--backend", default="numpy", help="where the network runs")
    parser.add_argument("--device", help="the backend's device, e.g. cuda:1 (its "
                                         "default device when left out)")
    parser.add_argument("--handle-unknown", choices=["error", "ignore"], default="error",
                        help="a text category the model never saw: an error, or all "
                             "zeros in its one-hot columns (scikit-learn's ignore)")
    _csv_options(parser)


def _parser():
    from . import __version__
    parser = _Parser(prog="anynet", description="Train and use anynet networks.",
                     formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"anynet {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    demo = _command(sub, "demo", "train the tutorial's XOR network, then anynet's")
    demo.add_argument("--backend", default="numpy",
                      help="numpy, cupy, torch, jax, array_api_strict or auto")
    demo.add_argument("--verbose", action="store_true", help="print the loss every 100 epochs")
    _train_options(_command(sub, "train", "train a network on a CSV, .npz/.npy or a "
                                          "built-in dataset, and save it"))
    predict = _command(sub, "predict", "predict with a saved model")
    predict.add_argument("model", help="a model file written by 'anynet train'")
    predict.add_argument("data", help="a .csv/.tsv/.csv.gz file (with the model's feature "
                                      "columns, by name), a .npz/.npy file (by position), "
                                      "or a built-in dataset")
    predict.add_argument("-o", "--output", help="write the CSV here instead of stdout")
    predict.add_argument("--proba", action="store_true",
                         help="also write each class's probability")
    predict.add_argument("--id", metavar="COLUMN",
                         help="a CSV column to pass through as the predictions' first "
                              "column, to match rows")
    _model_options(predict)
    evaluate = _command(sub, "evaluate", "score a saved model on data with targets: "
                                         "accuracy, or R^2 for a regressor")
    evaluate.add_argument("model", help="a model file written by 'anynet train'")
    evaluate.add_argument("data", help="a .csv file with the model's feature columns and "
                                       "the target, a .npz/.npy file, or a built-in dataset")
    evaluate.add_argument("--target", help="the target column (default: the one the model "
                                           "was trained on; of an array, its index)")
    _model_options(evaluate)
    _export_options(_command(sub, "export", "write a saved model as an ONNX graph (for ONNX "
                                            "Runtime)"))
    _command(sub, "info", "anynet's version, the backends and devices here")
    return parser


def _export_options(export):
    export.add_argument("model", help="a model file anynet reads (.npz, .safetensors, a "
                                      "checkpoint)")
    export.add_argument("-o", "--output", required=True, help="the ONNX file to write")
    export.add_argument("--opset", type=_positive_int, default=None,
                        help="the ONNX opset (default 17)")
    export.add_argument("--dtype", choices=["float32", "float64"], default=None,
                        help="the graph's float type (default float32)")


def _train_options(train):
    train.add_argument("data", help="a .csv/.tsv/.csv.gz file with a header, a .npz (X and "
                                    "y) or .npy file, or a dataset: xor, moons, circles, "
                                    "spirals, digits")
    train.add_argument("--target", help="the target column (CSV: its name; .npy: its index, "
                                        "the last by default)")
    train.add_argument("--task", choices=["auto", "classify", "regress"], default="auto",
                       help="auto: text, and whole numbers with at most 10 distinct values, "
                            "are classes; numbers with fractions, and whole numbers with "
                            "more than one distinct value per 5 rows, are regressed; "
                            "between the two, anynet asks")
    train.add_argument("--drop", action="append", default=[], metavar="COLUMNS",
                       help="columns that are not features (an id, a name), comma-separated "
                            "like a,b; repeatable. Text columns left in are one-hot encoded")
    train.add_argument("--hidden", default="100", help="hidden layer sizes, e.g. 64,64")
    train.add_argument("--activation", default="relu", help="of the hidden layers")
    train.add_argument("--optimizer", default="adam",
                       help="sgd, momentum, adam, adamw, rmsprop or lbfgs")
    train.add_argument("--lr", type=float, default=0.01, help="learning rate")
    train.add_argument("--weight-decay", type=float, default=None,
                       help="L2 penalty (default: the optimizer's own, 0.01 for adamw, "
                            "else none)")
    train.add_argument("--alpha", type=float, default=0.0,
                       help="L2 penalty on the weights only, scikit-learn's alpha")
    train.add_argument("--dropout", type=float, default=None, metavar="RATE",
                       help="drop hidden units with this probability while training")
    train.add_argument("--epochs", type=_positive_int, default=200, help="passes over the data")
    train.add_argument("--batch-size", type=_positive_int, default=200, help="rows per step")
    train.add_argument("--validation-split", type=float, default=None,
                       help="fraction of the rows held out to validate (default: 0.1, and "
                            "none below 20 rows)")
    train.add_argument("--early-stopping", action="store_true",
                       help="stop when the validation loss stops improving; keep the best")
    train.add_argument("--patience", type=_positive_int, default=10,
                       help="epochs without improvement before --early-stopping stops")
    train.add_argument("--backend", default="auto",
                       help="numpy, cupy, torch, jax, array_api_strict or auto")
    train.add_argument("--device", help="the backend's device, e.g. cuda:1 or cpu (its "
                                        "default device when left out)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="the network's float type")
    train.add_argument("--seed", type=_count, default=0, help="seeds weights and batches")
    train.add_argument("--checkpoint", metavar="FILE",
                       help="write the run's state here (for --resume)")
    train.add_argument("--checkpoint-every", type=_positive_int, default=1, metavar="N",
                       help="write --checkpoint every N epochs (and when the run stops "
                            "early)")
    train.add_argument("--resume", action="store_true",
                       help="continue from --checkpoint if it exists")
    train.add_argument("--plot", metavar="FILE", help="write the loss curves to this image")
    train.add_argument("-o", "--output", required=True, help="the model file (.npz)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--distributed", choices=["mpi"],
                       help="data-parallel over the ranks of mpiexec (launch with "
                            "mpiexec -n N python -m mpi4py -m anynet train ...)")
    _csv_options(train)


def main(argv=None):
    args = _parser().parse_args(argv)
    command = args.command or "demo"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # 'auto' says what it chose below
            return COMMANDS[command](args)
    except KeyboardInterrupt:
        print("anynet: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:
        print(f"anynet: error: out of memory ({_one_line(exc) or 'MemoryError'}); try "
              f"smaller --hidden layers or --batch-size", file=sys.stderr)
        return _after_error(exc)
    except USER_ERRORS as exc:
        print(f"anynet: error: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return _after_error(exc)


def _after_error(exc):
    """2, once every MPI rank has said its error when all of them raised one alike
    (``python -m mpi4py`` aborts every rank as soon as one exits with status 2: the
    others' messages would be cut)."""
    sys.stderr.flush()
    if getattr(exc, "all_ranks", False) and "mpi4py.MPI" in sys.modules:
        sys.modules["mpi4py.MPI"].COMM_WORLD.Barrier()
    return 2


def _one_line(exc):
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _demo(args):
    from .demo import run
    run(backend=getattr(args, "backend", "numpy"), verbose=getattr(args, "verbose", False))
    return 0


def _train(args):
    from ._cli import train
    return train(args)


def _predict(args):
    from ._cli_model import predict
    return predict(args)


def _evaluate(args):
    from ._cli_model import evaluate
    return evaluate(args)


def _export(args):
    from ._cli_export import export
    return export(args)


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


COMMANDS = {"demo": _demo, "train": _train, "predict": _predict, "evaluate": _evaluate,
            "export": _export, "info": _info}

if __name__ == "__main__":
    sys.exit(main())
