"""The work of ``anynet predict`` and ``anynet evaluate``: a saved model applied to data.

The data's columns are the model's, by its own record of them
(``_cli_columns``: by name for a CSV, by position for an array), of the width
the network expects, as they are: the network standardises them itself.
Models written by an older ``anynet train`` kept their means and scales in the
metadata instead; those are checked, since a model file may come from
anywhere, and applied here. Predictions are written in full: the shortest
text that reads back as the same number of the model's dtype.
"""
import csv
import io
import sys

import numpy as np

from ._cli_columns import model_data
from ._files import atomic_write, check_outputs


def predict(args):
    """``anynet predict``: one CSV row per input row (after the ``--id`` column, if any)."""
    from ._backend import to_numpy
    from .persistence import load
    if args.output == "-":  # the usual name of standard output, not a file named "-"
        args.output = None
    check_outputs([("-o", args.output, "output")], [args.model, args.data])
    net = load(args.model, backend=args.backend, device=args.device)
    classifier = net.task.is_classifier
    if args.proba and not classifier:
        raise ValueError(f"--proba needs a classifier; {args.model} is a regressor")
    X, data = _model_features(args, net, need_target=False)
    if classifier:
        labels = net.predict_classes(X).tolist()
        if net.task.multilabel:  # one 0/1 column per label
            header, rows = [f"prediction_{c}" for c in net.task.classes], labels
        else:
            header, rows = ["prediction"], [[label] for label in labels]
        if args.proba:
            P = to_numpy(net.predict(X))
            P = np.concatenate([1.0 - P, P], axis=1) if P.shape[1] == 1 else P
            header += [f"proba_{c}" for c in net.task.classes]
            rows = [row + probs for row, probs in zip(rows, formatted(P, net.dtype))]
    else:
        P = to_numpy(net.predict(X))
        header = ["prediction"] if P.shape[1] == 1 else [f"prediction_{i}"
                                                         for i in range(P.shape[1])]
        rows = formatted(P, net.dtype)
    if data.ids is not None:
        header = [args.id] + header
        rows = [[i] + row for i, row in zip(data.ids.tolist(), rows)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if args.output:
        atomic_write(args.output, lambda f: f.write(out.getvalue().encode("utf-8")))
        print(f"wrote {len(rows)} predictions to {args.output}")
    else:
        sys.stdout.write(out.getvalue())
    return 0


def formatted(P, dtype):
    """The rows of ``P`` as text, each value the shortest that reads back as the same
    value of ``dtype`` ("float32": numpy's float32 repr; else Python's float repr)."""
    if str(dtype) == "float32":
        P = np.asarray(P, dtype=np.float32)
        return [[str(v) for v in row] for row in P]  # numpy's shortest float32 text
    return [[repr(v) for v in row] for row in np.asarray(P, dtype=np.float64).tolist()]


def evaluate(args):
    """``anynet evaluate``: the model's accuracy (R^2 for a regressor) on the data."""
    from .persistence import load as load_model
    net = load_model(args.model, backend=args.backend, device=args.device)
    classifier = net.task.is_classifier
    X, data = _model_features(args, net, need_target=True)
    y = data.y
    if classifier and all(isinstance(c, str) for c in net.task.classes):
        y = y.astype(str)  # labels read as integers, where the model's classes are text
    score = net.score(X, y)
    print(f"{'accuracy' if classifier else 'R^2'} {score:.4f} on {len(X)} samples of "
          f"{args.data}")
    return 0


def _model_features(args, net, need_target):
    """(X, Data) for ``net`` from ``args.data``: the model's columns, by its record."""
    meta = net.metadata or {}
    names = _feature_names(args.model, meta, net.layer_sizes[0])
    task = "classify" if net.task.is_classifier else "regress"
    data = model_data(args, net, need_target=need_target, task=task,
                      ids=getattr(args, "id", None))
    for note in data.notes:
        print(f"anynet: {note}", file=sys.stderr)
    return _standardised(args, net, meta, data.X, names), data


def _standardised(args, net, meta, X, names):
    n = net.layer_sizes[0]
    if X.shape[1] != n:
        expected = f": {', '.join(map(repr, names))}" if names else ""
        raise ValueError(f"{args.data}: {X.shape[1]} feature columns, but the model "
                         f"{args.model} expects {n}{expected}")
    if "standardize" not in meta or net.input_scaling is not None:
        return X  # the network standardises its inputs itself
    # a model from before anynet kept the scaling in the network: its metadata has it
    mean, scale = _standardize_meta(args.model, meta["standardize"], n)
    return (X - mean) / scale


def _feature_names(model, meta, n):
    names = meta.get("features")
    if names is None:
        return None
    if not (isinstance(names, list) and len(names) == n
            and all(isinstance(name, str) for name in names)):
        raise ValueError(f"{model}: its metadata 'features' is not a list of {n} column "
                         f"names")
    return names


def _standardize_meta(model, value, n):
    try:
        mean = np.asarray(value["mean"], dtype=np.float64)
        scale = np.asarray(value["scale"], dtype=np.float64)
        valid = mean.shape == scale.shape == (n,) and np.all(np.isfinite(mean)) and \
            np.all(np.isfinite(scale)) and np.all(scale != 0)
    except (TypeError, ValueError, KeyError, IndexError):
        valid = False
    if not valid:
        raise ValueError(f"{model}: its metadata 'standardize' is not {n} finite means and "
                         f"non-zero scales")
    return mean, scale
