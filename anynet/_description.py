"""The JSON description of a model file, read as if a hostile hand wrote it.

``parse`` turns the bytes into a dict and ``check_*`` check each part that
loading uses, before anything is built from it: the number of layers before
their sizes are multiplied, the parameter count before any array is read,
integers before ``int()`` or ``range()`` meet them (``Infinity``, ``1e30``, a
5,000-digit number), the nesting before ``json`` recurses into it. Each problem
is a ValueError that names the file.

NaN and Infinity are accepted where they are only reported (metadata, a
checkpoint's history), since ``json.dumps`` writes them there.
"""
import json
import math

import numpy as np

from ._checks import MAX_SEED
from .activations import check_activation
from .initializers import INITIALIZERS
from .losses import check_loss
from .tasks import Task

FORMAT = "anynet"
# 2: a network that standardises its inputs ("input_scaling"); files without it are
# written as version 1, which anynet before version 2 reads the same way
# 3: a regressor that standardises its targets ("target_scaling"); files without it
# are written as version 2 or 1, as before
FORMAT_VERSION = 3
MAX_PARAMETERS = 2 ** 31  # a description asking for more is refused before allocating
MAX_LAYERS = 10_000  # weight layers
MAX_DEPTH = 64  # nesting of lists and objects; json.dumps would recurse on deeper
CONFIG_KEYS = {"layer_sizes", "activation", "output_activation", "loss", "init", "seed",
               "dtype", "classes"}
HISTORY = ("loss", "val_loss", "val_metric", "lr", "seconds")
#: Why a run stopped before its last epoch (a RunState's ``stopped``, ``history["stopped"]``).
STOP_REASONS = ("early_stopping", "callback", "interrupted",
                "converged", "max_fun", "line_search")  # the last three: L-BFGS's


def parse(path, raw, version):
    """The description in the bytes ``raw``; ``version`` is this anynet's, for the message."""
    try:
        description = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{path}: its anynet description is nested too deeply") from None
    except ValueError as exc:  # bad JSON, bad UTF-8, an integer of 4,300+ digits
        raise ValueError(f"{path}: its anynet description is not valid JSON "
                         f"({_short(exc, 200)})") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise ValueError(f"{path}: not an anynet model file")
    found = description.get("format_version")
    if not is_count(found) or found < 1:
        raise ValueError(f"{path}: format_version {_short(found)} is not valid")
    if found > FORMAT_VERSION:
        raise ValueError(f"{path}: written in format version {found} by anynet "
                         f"{_short(description.get('anynet_version'))}; this anynet "
                         f"{version} reads up to version {FORMAT_VERSION}: upgrade anynet")
    if depth(description) > MAX_DEPTH:
        raise ValueError(f"{path}: its anynet description is nested more than "
                         f"{MAX_DEPTH} levels deep")
    metadata = description.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"{path}: its metadata is {type(metadata).__name__}, not an object")
    return description


def check_config(path, description):
    """The network's configuration, every field checked; a ValueError naming the file."""
    config = description.get("config")
    if not isinstance(config, dict) or set(config) != CONFIG_KEYS:
        raise ValueError(f"{path}: its description lacks a valid config (expected the keys "
                         f"{sorted(CONFIG_KEYS)})")
    sizes = _layer_sizes(path, config["layer_sizes"])
    try:
        check_activation(config["activation"])
        check_activation(config["output_activation"], output=True,
                         argument="output_activation")
        check_loss(config["loss"], config["output_activation"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {_short(exc, 200)}") from None
    if config["dtype"] not in ("float32", "float64"):
        raise ValueError(f"{path}: dtype {_short(config['dtype'])} is not float32 or float64")
    if not isinstance(config["init"], str) or config["init"] not in INITIALIZERS:
        raise ValueError(f"{path}: init {_short(config['init'])} is not one of "
                         f"{sorted(INITIALIZERS)}")
    if not is_seed(config["seed"]):
        raise ValueError(f"{path}: seed {_short(config['seed'])} is not an integer in "
                         f"[0, 2**256 - 1]")
    _check_classes(path, config["classes"], Task(config["loss"], config["output_activation"],
                                                 sizes[-1]).expected_classes())
    return config


def _layer_sizes(path, sizes):
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        raise ValueError(f"{path}: layer_sizes {_short(sizes)} is not a list of positive "
                         f"integers")
    problem = sizes_problem(sizes)
    if problem:
        raise ValueError(f"{path}: its description {problem}")
    return sizes


def sizes_problem(sizes):
    """Why a network of ``sizes`` (positive ints) is more than anynet loads, or None."""
    if len(sizes) > MAX_LAYERS + 1:  # counted before the sizes are multiplied
        return f"lists {len(sizes) - 1} layers, more than anynet loads ({MAX_LAYERS})"
    if max(sizes) > MAX_PARAMETERS:  # before multiplying: a 4,000-digit size is valid JSON
        return f"holds a layer of {_short(max(sizes))} units, more than anynet loads"
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMETERS:
        return f"asks for {n_params} parameters, more than anynet loads ({MAX_PARAMETERS})"
    return None


def _check_classes(path, classes, expected):
    if classes is None:
        return
    scalars = isinstance(classes, list) and all(
        isinstance(c, (str, int)) or (isinstance(c, float) and math.isfinite(c))
        for c in classes)
    if not scalars or len(classes) != expected or len(set(classes)) != len(classes):
        raise ValueError(f"{path}: classes {_short(classes)} do not match the output layer "
                         f"({expected} distinct labels)")


def check_training(path, training):
    """A checkpoint's training state: what resuming reads, of the types it needs."""
    problem = _training_problem(training)
    if problem:
        raise ValueError(f"{path}: its training state is not valid ({problem})")


def _training_problem(training):
    if not isinstance(training, dict):
        return "not an object"
    epoch, waited = training.get("epoch"), training.get("waited")
    if not (is_count(epoch) and is_count(waited) and is_count(training.get("reductions", 0))):
        return "epoch, waited and reductions must be integers >= 0"
    best = training.get("best_val_loss")
    if best is not None and not is_finite_number(best):
        return f"best_val_loss {_short(best)} is not a finite number"
    history = training.get("history")
    if not isinstance(history, dict) or not isinstance(history.get("metric"), str) or any(
            not isinstance(history.get(k), list) or len(history[k]) != epoch or not all(
                v is None or isinstance(v, (int, float)) for v in history[k])
            for k in HISTORY):
        return f"its history is not {epoch} epochs of figures"
    if not isinstance(training.get("run"), dict):
        return "run is not an object"
    if training.get("stopped") not in (None, *STOP_REASONS) \
            or history.get("stopped") not in (None, *STOP_REASONS):
        return f"stopped {_short(training.get('stopped'))} is not a reason a run stops"
    try:
        np.random.PCG64().state = training.get("rng")
    except (TypeError, ValueError, KeyError, OverflowError):
        return "rng is not the state of a random generator"
    return None


def is_count(value):
    """An integer (not a bool) in [0, 2**62]: safe for int(), range() and arithmetic."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2 ** 62


def is_seed(value):
    """An integer (not a bool) in [0, MAX_SEED]: every seed ``anynet.train`` takes."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEED


def is_finite_number(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= 2 ** 53  # float() of a larger one may overflow
    return isinstance(value, float) and math.isfinite(value)


def depth(value):
    """How deeply lists (tuples) and objects nest in ``value`` (without recursion;
    counted up to just past MAX_DEPTH)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:  # a list holding itself ends here too
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list, tuple)))
    return deepest if isinstance(value, (dict, list, tuple)) else 0


def _short(value, limit=80):
    """repr(value), cut to ``limit`` characters: a hostile value may be megabytes long."""
    text = str(value) if isinstance(value, BaseException) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
