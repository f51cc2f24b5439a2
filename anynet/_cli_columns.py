"""The columns the command line's network reads, by the model's own record of them.

``anynet train`` keeps a record of the columns it trained on in the model's
metadata (``metadata["cli_columns"]``, JSON, saved with the model):

- ``kind``: "csv" (columns by name) or "array" (columns by position: .npy,
  .npz, a built-in dataset);
- ``width``: how many columns the training file had (its header, or its array);
- ``names``: a CSV's header (so an array with the same columns maps by position);
- ``inputs``: the columns that feed the network, in order (names, or positions);
- ``target``: the target column (a name, a position, or None where y was an
  array of its own: .npz, a built-in dataset);
- ``categories``: for each text column, its categories in the order of the
  one-hot columns (sorted, as scikit-learn's ``OneHotEncoder``).

``predict`` and ``evaluate`` read every file type through that record: a CSV
by names (in any order, with other columns beside), an array by positions
(the training file's width, or only the feature columns). A file the record
cannot map is a ValueError saying what the model expects. Models from before
the record (``features`` and ``target`` in the metadata) and models saved
from Python (no metadata) are read as they were, except that a .npy model's
``--target`` index is honoured rather than assumed last.
"""
import re

import numpy as np

from . import _csv, _tables
from .datasets import DATASETS, target_column

RECORD = "cli_columns"
VERSION = 1
#: A column of text is a category column when under this share of its cells are
#: numbers; above it, its text cells are mistakes to point at.
NUMERIC_SHARE = 0.5


class Data:
    """What a command reads: X for the network, y (or None), ids (or None), notes."""

    def __init__(self, X, y=None, ids=None, notes=(), record=None, features=None):
        self.X, self.y, self.ids, self.notes = X, y, ids, list(notes)
        self.record, self.features = record, features


def drop_list(values):
    """``--drop a,b --drop c`` as ["a", "b", "c"] (each name stripped, blanks skipped)."""
    return [name.strip() for value in values or () for name in value.split(",")
            if name.strip()]


# --- training ----------------------------------------------------------------------

def training_data(args, task):
    """``Data`` of ``anynet train``'s file, with the record of its columns.

    ``task`` is "classify", "regress" or None (inferred from the target).
    """
    drop = drop_list(args.drop)
    source = args.data
    if source in DATASETS:
        X, y = DATASETS[source]()
        return _array_training(source, X, y, None, drop, task)
    path = _file(source)
    if _csv.is_text_file(path):
        return _csv_training(path, args, drop, task)
    data = _tables.read_npz(path, need_y=True)
    if isinstance(data, tuple):
        X, y = data
        return _array_training(path, X, y, None, drop, task)
    if data.ndim != 2 or data.shape[1] < 2:
        _tables.split_column(path, data, None)  # says what a .npy file must be
    try:
        t = data.shape[1] - 1 if args.target is None else int(args.target)
    except ValueError:
        raise ValueError(f"{path}: the target of a .npy file is a column index, got "
                         f"{args.target!r}") from None
    if not -data.shape[1] <= t < data.shape[1]:
        raise ValueError(f"{path}: target column {args.target} is out of range for "
                         f"{data.shape[1]} columns")
    t %= data.shape[1]
    return _array_training(path, data, data[:, t], t, drop, task)


def _array_training(source, A, y, target, drop, task):
    """Data of the array ``A`` whose column ``target`` (None: ``y`` is separate) is y."""
    positions = [p for p in range(A.shape[1]) if p != target]
    names = [f"x{i}" for i in range(len(positions))]
    known = set(names)
    for name in drop:
        if name not in known:
            raise ValueError(f"{source}: no column {name!r} to drop; the columns are "
                             f"{_shown(names)}")
    dropped = set(drop)
    keep = [p for p, name in zip(positions, names) if name not in dropped]
    features = [name for name in names if name not in dropped]
    if not keep:
        raise ValueError(f"{source}: no feature columns are left")
    X = _tables.features(source, A[:, keep] if len(keep) < A.shape[1] else A)
    y = _tables.targets(source, np.asarray(y), task)
    if len(y) != len(X):
        raise ValueError(f"{source}: X has {len(X)} samples but y has {len(y)}")
    record = {"version": VERSION, "kind": "array", "width": int(A.shape[1]),
              "names": None, "inputs": [int(p) for p in keep],
              "target": None if target is None else int(target), "categories": {}}
    return Data(X, y, notes=[], record=record, features=features)


def _csv_training(path, args, drop, task):
    target = args.target
    if target is None:
        raise ValueError(f"{path}: name the target column with --target")
    table = _csv.read_table(path, sep=args.sep, decimal=args.decimal,
                            encoding=args.encoding, text=[target])
    for name in [target, *drop]:
        table.position(name)
    if target in drop:
        raise ValueError(f"{path}: the target column {target!r} cannot be dropped")
    dropped = set(drop)
    inputs = [name for name in table.header if name != target and name not in dropped]
    if not inputs:
        raise ValueError(f"{path}: no feature columns are left")
    features = set(inputs)
    for number, name in enumerate(table.header, start=1):
        if name == f"{_csv.UNNAMED}{number}" and name in features:
            raise ValueError(f"{path}: column {number} has no name in the header (a row "
                             f"index, as pandas' to_csv writes?); leave it out with --drop "
                             f"{name}, or name it")
    categories = {}
    for name in inputs:
        j = table.position(name)
        if not table.is_number(j) and table.numeric_share(j) < NUMERIC_SHARE:
            categories[name] = _categories(table, j, name)
    y = target_column(table, target, task)
    record = {"version": VERSION, "kind": "csv", "width": len(table.header),
              "names": list(table.header), "inputs": inputs, "target": target,
              "categories": categories}
    X, features = _encode(table, record, "error")
    notes = [f"read {path}: {len(table):,} rows, {len(table.header):,} columns, "
             f"{table.note()}"]
    if categories:
        shown = ", ".join(f"{name!r} ({len(c)})" for name, c in list(categories.items())[:5])
        notes.append(f"one-hot encoded the text column{'s' * (len(categories) > 1)} "
                     f"{shown}{', ...' if len(categories) > 5 else ''}")
    return Data(X, y, notes=notes, record=record, features=features)


#: A text column with more distinct values than this share of its rows (and more
#: than ``MANY_CATEGORIES``) is an id or a name, not a category.
CATEGORY_SHARE = 0.5
MANY_CATEGORIES = 20


def _categories(table, j, name):
    """The categories of the text column ``j``; a ValueError for text that is no
    category: numbers with the other decimal mark, or ids (one per row or so)."""
    example = table.text(j, 0)
    grouped = re.fullmatch(r"[+-]?\d{1,3}([,.])\d{3}(\1\d{3})+", example.strip())
    if grouped:  # "1,000,016": two groups or more cannot be a decimal mark's
        raise ValueError(f"{table.path}: column {name!r} holds numbers written with "
                         f"{grouped.group(1)!r} between thousands (e.g. {example!r}), which "
                         f"anynet does not read; write them without it, or leave the "
                         f"column out with --drop {name}")
    other = "," if table.decimal == "." else "."
    if table.numeric_share(j, decimal=other) >= NUMERIC_SHARE:
        raise ValueError(f"{table.path}: column {name!r} holds numbers written with "
                         f"{other!r} as the decimal mark (e.g. {example!r}): give "
                         f"--decimal {other}")
    categories = table.categories(j)
    if len(categories) > max(MANY_CATEGORIES, CATEGORY_SHARE * len(table)):
        raise ValueError(f"{table.path}: column {name!r} holds {len(categories):,} distinct "
                         f"texts in {len(table):,} rows: an id or a name, not a category to "
                         f"one-hot encode; leave it out with --drop {name}")
    return categories


# --- a saved model's columns --------------------------------------------------------

def record_of(net, model):
    """The column record of the network ``net`` (read from the file ``model``).

    A record written by ``anynet train`` is checked (a model file may come from
    anywhere); an older model gets the record its metadata implies.
    """
    meta = net.metadata or {}
    n = net.layer_sizes[0]
    record = meta.get(RECORD)
    if record is not None:
        return _checked(model, record, n)
    names = meta.get("features")
    data = str(meta.get("data", ""))
    if names is not None and not data.lower().endswith((".npy", ".npz")) and \
            data not in DATASETS and isinstance(meta.get("target"), str):
        return {"version": 0, "kind": "csv", "width": None, "names": None,
                "inputs": list(names), "target": meta["target"], "categories": {}}
    target = None
    if data.lower().endswith(".npy"):  # the old command's --target index, or the last
        try:
            target = int(meta.get("target"))
        except (TypeError, ValueError):
            target = -1
    return {"version": 0, "kind": "array", "width": None, "names": None,
            "inputs": list(range(n)), "target": target, "categories": {}}


def _checked(model, record, n):
    def bad(what):
        raise ValueError(f"{model}: its metadata '{RECORD}' is damaged ({what})")
    if not isinstance(record, dict) or record.get("version") != VERSION:
        bad(f"not a version {VERSION} record")
    kind, inputs, width = record.get("kind"), record.get("inputs"), record.get("width")
    categories = record.get("categories")
    if kind not in ("csv", "array") or not isinstance(inputs, list) or \
            not isinstance(width, int) or not isinstance(categories, dict):
        bad("kind, inputs, width or categories")
    if kind == "csv":
        names = record.get("names")
        if not (isinstance(names, list) and len(names) == width and
                all(isinstance(c, str) for c in names) and
                all(isinstance(c, str) for c in inputs) and
                isinstance(record.get("target"), str)):
            bad("column names")
        for name, values in categories.items():
            if name not in inputs or not isinstance(values, list) or not values or \
                    not all(isinstance(v, str) for v in values):
                bad(f"categories of {name!r}")
    else:
        target = record.get("target")
        if categories or not all(type(p) is int and 0 <= p < width for p in inputs) or \
                not (target is None or (type(target) is int and 0 <= target < width)):
            bad("column positions")
    expanded = sum(len(categories.get(name, [None])) for name in inputs) \
        if kind == "csv" else len(inputs)
    if expanded != n:
        bad(f"{expanded} inputs for a network of {n}")
    return record


def model_data(args, net, *, need_target, task, ids=None):
    """``Data`` of ``args.data`` for the saved network ``net``, by its column record.

    ``need_target``: read y too (``evaluate``), from the record's target column
    (``--target`` overrides it). ``ids``: a column passed through (``--id``).
    """
    record = record_of(net, args.model)
    source = args.data
    unknown = getattr(args, "handle_unknown", "error")
    override = getattr(args, "target", None)
    if ids is not None and (source in DATASETS or not _csv.is_text_file(source)):
        raise ValueError(f"--id names a column of a CSV file; {source} has no names")
    if source in DATASETS:
        X, y = DATASETS[source]()
        return _array_model_data(args, record, net, X, y if need_target else None,
                                 need_target, override, None)
    path = _file(source)
    if _csv.is_text_file(path):
        by_name = record["kind"] == "csv"
        target = (override or record["target"]) if need_target and by_name else None
        text = [name for name in record["categories"]] + \
            [c for c in (target, ids) if isinstance(c, str)]
        table = _csv.read_table(path, sep=args.sep, decimal=args.decimal,
                                encoding=args.encoding, text=text)
        if need_target and by_name and not isinstance(target, str):
            raise ValueError(f"{args.model} does not say its target column: give --target")
        notes = [] if not table.detected or table.sep == "," else \
            [f"read {path}: {table.note()}"]
        id_values = None if ids is None else table.texts(table.position(ids))
        if record["kind"] == "csv":  # by name, wherever the columns are
            X, _ = _encode(table, record, unknown)
            y = target_column(table, target, task) if need_target else None
            return Data(X, y, id_values, notes)
        # a model of positions: the file's columns in order (but the --id column)
        A = table.matrix([j for j, name in enumerate(table.header) if name != ids])
        data = _array_model_data(args, record, net, A, None, need_target, override, None)
        data.ids, data.notes = id_values, notes
        return data
    data = _tables.read_npz(path, need_y=need_target and path.suffix.lower() == ".npz")
    if isinstance(data, tuple):
        X, y = data
        return _array_model_data(args, record, net, X, y, need_target, override, None)
    if data.ndim != 2:
        raise ValueError(f"{path}: a .npy file must be a 2-D array, got shape {data.shape}")
    return _array_model_data(args, record, net, data, None, need_target, override, None)


def _array_model_data(args, record, net, A, y, need_target, override, ids):
    """Data from the array ``A`` (a .npy, an .npz's X, a dataset's X, a CSV read by
    position) for the record: by the positions of the training file's columns."""
    source, n = args.data, net.layer_sizes[0]
    A = np.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"{source}: X must be 2-D, got shape {A.shape}")
    if record["categories"]:
        raise ValueError(f"{source}: the model {args.model} reads the text columns "
                         f"{sorted(record['categories'])} by name; give a CSV file with "
                         f"a header")
    width = record["width"]
    if record["kind"] == "csv":
        where = {name: j for j, name in enumerate(record["names"] or [])}
        inputs = [where.get(name) for name in record["inputs"]]
        target = where.get(record["target"])
        if width is None or None in inputs:
            width, inputs, target = None, list(range(n)), None
    else:
        inputs, target = record["inputs"], record["target"]
    removed = None  # the column taken out of A as the target (--target)
    if override is not None and y is None:
        try:
            removed = int(override)
            if not -A.shape[1] <= removed < A.shape[1]:
                raise ValueError
        except ValueError:
            raise ValueError(f"{source}: --target of an array is a column index in range "
                             f"for {A.shape[1]} columns, got {override!r}") from None
        removed %= A.shape[1]
        y, A = A[:, removed], np.delete(A, removed, axis=1)
    w = A.shape[1]
    if width is not None and removed is None and w == width:
        X, t = A[:, inputs], target
    elif width is not None and target is not None and w == width - 1 and \
            removed in (None, target):
        X, t = A[:, [p - (p > target) for p in inputs]], None  # the file without its target
    elif width is None and target is not None and removed is None and w == n + 1:
        t = target % w
        X = np.delete(A, t, axis=1)
    elif w == n:
        X, t = A, None
    else:
        raise ValueError(_width_problem(args, record, n, w, width, target))
    if need_target and y is None:
        if t is None:
            raise ValueError(f"{source}: {w} columns, all of them the model's features: "
                             f"which is the target? Give --target (a column index), or "
                             f"an .npz file with X and y")
        y = A[:, t]
    X = _tables.features(source, X)
    if need_target:
        task = "classify" if net.task.is_classifier else "regress"
        y = _tables.targets(source, np.asarray(y), task)
        if len(y) != len(X):
            raise ValueError(f"{source}: X has {len(X)} samples but y has {len(y)}")
    return Data(X, y, ids, [])


def _width_problem(args, record, n, w, width, target):
    names = record["inputs"] if record["kind"] == "csv" else None
    listed = f" ({', '.join(map(repr, names))})" if names and len(names) <= 20 else ""
    choices = [f"its {n} feature columns{listed}"]
    if width is not None and width != n:
        choices.append(f"the {width} columns it was trained on" +
                       ("" if target is None else f" (the target in column {target})"))
    if width is not None and target is not None and width - 1 != n:
        choices.append(f"those {width - 1} without the target")
    elif width is None and target is not None:
        choices.append(f"{n + 1} with the target")
    hint = "; if one of them is the target, give --target (its index)" \
        if w == n + 1 and getattr(args, "target", None) is None and \
        getattr(args, "command", "") == "evaluate" else ""
    return (f"{args.data}: {w} columns, but the model {args.model} expects "
            f"{' or '.join(choices)}{hint}")


# --- text columns, one-hot ----------------------------------------------------------

def _encode(table, record, handle_unknown):
    """(X, feature names): the record's inputs from ``table``, text columns one-hot.

    A category the model has not seen is a ValueError naming it, its row and
    column, unless ``handle_unknown`` is "ignore": then its row's one-hot
    columns are all zero (scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``).
    """
    categories = record["categories"]
    widths = [len(categories[name]) if name in categories else 1
              for name in record["inputs"]]
    X = np.zeros((len(table), sum(widths)), order="F")  # filled a column at a time
    features, start = [], 0
    numeric = [name for name in record["inputs"] if name not in categories]
    if numeric and not categories:
        X[:] = table.matrix([table.position(name) for name in numeric])
        return X, list(numeric)
    for name, width in zip(record["inputs"], widths):
        j = table.position(name)
        if name not in categories:
            X[:, start] = table.numbers(j)
            features.append(name)
        else:
            codes = table.codes(j, categories[name])
            found = codes >= 0
            if not found.all() and handle_unknown != "ignore":
                i = int(np.flatnonzero(~found)[0])
                raise ValueError(f"{table.path}, row {table.row(i)}, column {name!r}: the "
                                 f"category {_csv._short(table.text(j, i))} was not seen in "
                                 f"training (the model knows {_few(categories[name])}); "
                                 f"--handle-unknown ignore encodes it as all zeros")
            rows = np.flatnonzero(found)
            X[rows, start + codes[rows]] = 1.0
            features.extend(f"{name}_{c}" for c in categories[name])
        start += width
    return X, features


def _few(values, limit=8):
    shown = ", ".join(map(repr, values[:limit]))
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _shown(names, limit=20):
    return names if len(names) <= limit else names[:limit] + [f"... ({len(names)} in all)"]


def _file(source):
    """``source`` as a path to read: it must exist (what it is, is checked when it is
    opened: a regular file, not a FIFO or a device) and be of a type anynet reads."""
    from .datasets import _file as checked
    return checked(source)

