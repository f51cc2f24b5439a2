"""What makes a training run the run it is: its fingerprint, recorded in a checkpoint.

A resume continues a checkpoint only when nothing that shapes the result has
changed: the network's configuration, the task and its classes, the data (a
SHA-256 digest of the rows the run trains and scores on, their targets and
weights) and every option of the objective and the optimizer. The options are
read from ``anynet.train``'s own signature: every parameter is fingerprinted
except those in :data:`MAY_CHANGE`, so an option added later is covered without
anyone remembering to add it here.

The fingerprint is JSON in readable form (numbers, strings, lists; arrays and
networks as digests with their shapes), written into the checkpoint's
``training.run``; :func:`differences` names each field where two differ.
"""
import functools
import hashlib
import inspect
import json
import numbers

import numpy as np

from ._backend import is_array, to_numpy
from .schedules import make_schedule

#: ``anynet.train`` arguments a resume may change on purpose: how long and how
#: verbosely the run goes on, where it runs and where its checkpoints go; none of
#: them changes the parameters an epoch produces. Kept in the README's list.
MAY_CHANGE = frozenset({"epochs", "callbacks", "verbose", "checkpoint", "checkpoint_every",
                        "resume", "backend", "device", "distributed"})
#: arguments fingerprinted through the run's data digest rather than as given (the
#: optimizer's keyword options, ``**optimizer_options``, go through the run's
#: optimizer: its class and settings)
THROUGH_DATA = frozenset({"X", "y", "sample_weight", "validation_data"})

_BLOCK = 16 << 20  # bytes hashed per host copy: a device array is read in slices this big


def fingerprinted(function):
    """The names of ``function``'s parameters that a fingerprint records as options."""
    return [name for name, p in inspect.signature(function).parameters.items()
            if name not in MAY_CHANGE | THROUGH_DATA and p.kind != p.VAR_KEYWORD]


def run_fingerprint(function, opts, *, network, optimizer, task, dtype, data):
    """The fingerprint of a run of ``function`` (``anynet.train``) with ``opts``.

    Parameters
    ----------
    function : callable
        ``anynet.train``: its signature says which options there are.
    opts : namespace
        The run's checked options.
    network : Network
        The run's network as it starts (before any resume).
    optimizer : Optimizer
        The run's own optimizer: its class and settings (the optimizer's keyword
        options and ``weight_decay`` included).
    task : Task
    dtype : str
    data : dict
        The data's readable fingerprint (:func:`data_fingerprint`).

    Returns
    -------
    dict
        JSON values only, as a checkpoint stores them (a JSON round trip gives
        the same dict).
    """
    options = {}
    for name in fingerprinted(function):
        value = getattr(opts, name)
        if name == "optimizer":
            value = optimizer
        elif name == "dtype":
            value = dtype
        elif name == "early_stopping":  # True and "val_metric" are both True once checked
            value = opts.monitor
        elif name == "lr_schedule":  # a name and the object it names are one schedule
            value = make_schedule(value)
        elif name == "network" and value is not None:
            # its configuration and scalings, not its weights: the run updates the
            # network it was given in place, so a resume (after a Ctrl-C, or for more
            # epochs) is given the weights that run trained, and takes the checkpoint's
            value = {"config": value.config,
                     "input_scaling": None if value.input_scaling is None
                     else digest(list(value.input_scaling)),
                     "target_scaling": None if value.target_scaling is None
                     else digest(list(value.target_scaling))}
        options[name] = readable(value)
    fingerprint = {
        "options": options,
        "network": readable(network.config),
        "task": readable({"loss": task.loss, "output_activation": task.output_activation,
                          "n_outputs": task.n_outputs, "classes": task.classes}),
        "data": data,
    }
    return json.loads(json.dumps(fingerprint))  # as the checkpoint will give it back


def data_fingerprint(*arrays):
    """{"digest": SHA-256 of the arrays, "shapes": their shapes} of the run's data.

    Parameters
    ----------
    *arrays : arrays of any backend, SciPy sparse matrices, or None
        X, Y, the sample weights, and the validation rows (None where absent).
    """
    return {"digest": digest(arrays),
            "shapes": [None if a is None else list(map(int, a.shape)) for a in arrays]}


def digest(arrays):
    """"sha256:<hex>" of ``arrays`` (a sequence of arrays, sparse matrices or None):
    their dtypes, shapes and bytes, read on the host a slice at a time.

    SHA-256 rather than BLAKE2b: CPUs with SHA instructions (x86's SHA-NI, ARMv8's)
    hash twice as fast with it (0.5 GB/s against 0.2 GB/s on the 2-core test
    machine under load), and hashlib releases the GIL while it hashes."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        if type(a).__module__.startswith("scipy.sparse"):  # CSR: its three arrays
            a = a.tocsr()
            h.update(f"csr{a.shape};".encode())
            for part in (a.data, a.indices, a.indptr):
                _update(h, part)
            continue
        _update(h, a)
    return "sha256:" + h.hexdigest()


def _update(h, a):
    """Hash one array's dtype, shape and bytes; a device array is copied a slice of
    rows at a time, so the host never holds more than one slice of it."""
    shape = tuple(int(n) for n in a.shape)
    host_dtype = to_numpy(a[:0, ...] if shape else a).dtype
    h.update(f"{host_dtype.str}{shape};".encode())
    if not shape:
        h.update(np.ascontiguousarray(to_numpy(a)).tobytes())
        return
    row = max(1, int(np.prod(shape[1:], dtype=np.int64)) * host_dtype.itemsize)
    step = max(1, _BLOCK // row)
    for lo in range(0, shape[0], step):
        block = np.ascontiguousarray(to_numpy(a[lo:min(lo + step, shape[0]), ...]))
        h.update(memoryview(block).cast("B"))


def readable(value, depth=0):
    """``value`` as JSON values: numbers, strings, lists and objects; arrays and
    networks as digests; optimizers, schedules and other objects as their class
    and settings (to 8 levels deep: an object that holds itself ends there);
    functions as their qualified name and a digest of their code."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    cls = type(value)
    if depth > 8:
        return {"class": f"{cls.__module__}.{cls.__qualname__}"}
    if isinstance(value, dict):
        return {str(k): readable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [readable(v, depth + 1) for v in value]
    if isinstance(value, np.random.RandomState):  # a stream: its state (at the start)
        name, keys, pos, has_gauss, cached = value.get_state()
        return {"class": "numpy.random.RandomState", "state": digest([keys]),
                "pos": int(pos), "gauss": [int(has_gauss), float(cached)]}
    if isinstance(value, np.random.Generator):
        return {"class": "numpy.random.Generator",
                "state": readable(value.bit_generator.state, depth + 1)}
    if is_array(value) or isinstance(value, np.ndarray):
        return {"shape": list(map(int, value.shape)), "digest": digest([value])}
    if hasattr(value, "hyperparameters"):  # an Optimizer
        return {"class": f"{cls.__module__}.{cls.__qualname__}",
                "settings": readable(value.hyperparameters(), depth + 1)}
    if isinstance(value, functools.partial):  # the function and what it is given
        return {"partial": readable(value.func, depth + 1),
                "args": readable(list(value.args), depth + 1),
                "keywords": readable(dict(value.keywords), depth + 1)}
    if inspect.isfunction(value) or inspect.ismethod(value) or inspect.isbuiltin(value):
        return _function(value)
    # a Schedule or another object: its public settings
    settings = {k: v for k, v in vars(value).items() if not k.startswith("_")} \
        if hasattr(value, "__dict__") else {}
    return {"class": f"{cls.__module__}.{cls.__qualname__}",
            "settings": readable(settings, depth + 1)}


def _function(f):
    """A function as its qualified name, and a digest of its code and of the simple
    values it closes over (numbers, strings): another lambda of the same name, or
    the same one with another constant, is another function. The code is Python's
    bytecode: a resume under another Python version sees another function."""
    name = f"{getattr(f, '__module__', None)}.{getattr(f, '__qualname__', repr(f))}"
    code = getattr(inspect.unwrap(getattr(f, "__func__", f)), "__code__", None)
    if code is None:  # a builtin: its name says it
        return {"function": name}
    function = getattr(f, "__func__", f)
    values = []
    for cell in getattr(function, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell
            values.append(None)
    # default arguments are constants of the function too: k=0.5 against k=0.99
    values += list(getattr(function, "__defaults__", None) or ())
    values += [v for _, v in sorted((getattr(function, "__kwdefaults__", None) or {}).items())]
    simple = [readable(v) if v is None or isinstance(v, (bool, str, numbers.Number))
              else type(v).__qualname__ for v in values]
    h = hashlib.sha256(_code(code).encode())
    h.update(repr(simple).encode())
    return {"function": name, "code": h.hexdigest()[:16]}


def _code(code):
    """A code object's bytecode, constants and names as text; nested code objects
    (an inner function) by their own text, not their repr, which holds an address."""
    consts = [_code(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
    return repr((code.co_code.hex(), consts, code.co_names))


def differences(recorded, current, prefix=""):
    """The dotted names of the fields where two fingerprints differ, each with its
    two values: [(name, recorded value, current value)]."""
    if isinstance(recorded, dict) and isinstance(current, dict) \
            and recorded.get("class") == current.get("class"):  # another class: said whole
        found = []
        for key in sorted(set(recorded) | set(current), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in recorded:
                found.append((name, "(not recorded)", current[key]))
            elif key not in current:
                found.append((name, recorded[key], "(none)"))
            else:
                found.extend(differences(recorded[key], current[key], name))
        return found
    return [] if recorded == current else [(prefix or "run", recorded, current)]


def describe_differences(found, limit=120):
    """One line per field: ``name: checkpoint <value>, now <value>``."""
    def short(value):
        text = json.dumps(value) if not isinstance(value, str) or not value.startswith(
            "(") else value
        return text if len(text) <= limit else text[:limit] + "..."
    return "; ".join(f"{name}: checkpoint {short(a)}, now {short(b)}" for name, a, b in found)
