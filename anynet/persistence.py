"""Saving and loading networks: one ``.npz`` file, weights plus a JSON description.

The file holds the arrays ``W1, b1, ... WL, bL`` (host NumPy arrays, whatever
backend trained them) and ``__anynet__``: the UTF-8 bytes of a JSON document
with the format version, the network's configuration, its metadata and, when
asked for, the optimizer's hyperparameters (its state arrays are stored as
``optimizer.<name>.<param>``). Nothing is pickled: the file opens with
``numpy.load(path, allow_pickle=False)``. A ``.safetensors`` path writes the same
content in that format (the JSON goes in its metadata), for PyTorch users.

Saving writes a temporary file beside the target and renames it over the
target (``anynet._files``), so a crash never leaves a half-written model.

Loading treats the file as hostile: the path is opened once and must be a
regular file; each array's header is read and checked before its data
(``anynet._npz``); compressed members may not inflate beyond a small factor of
what they hold, nor all of them together beyond that factor of the file (anynet
writes none); the description's structure (its size, nesting, number of
layers, the numbers it gives) is checked before anything is built; and every
array is checked after its cast to the dtype it loads in. Every way a file can
be damaged is a ValueError that names the file. Saving checks the same limits
first, so that every file anynet writes, it reads.
"""
import contextlib
import json
from pathlib import Path

import numpy as np

from . import _description, _npz
from ._backend import resolve_backend, float_dtype, to_numpy
from ._description import FORMAT, FORMAT_VERSION
from ._files import atomic_write, check_target  # noqa: F401 (check_target: for callers)
from ._files import open_regular
from ._version import __version__
from .model import Network
from ._optimizer_files import describe as describe_optimizer, rebuild as rebuild_optimizer
from .optimizers import Optimizer
from .quasi_newton import LBFGS

_META_KEY = "__anynet__"
_MAX_DESCRIPTION = 64 << 20  # bytes of JSON
# anynet writes its arrays uncompressed: a deflated member (someone recompressed
# the file) may state at most 16 times its compressed size, plus 1 MiB for the
# small ones, and all the members together 16 times the file's size plus 1 MiB,
# so that memory stays in proportion to the file
_INFLATION = (16, 1 << 20)


def save(net, path, *, optimizer=False, _extra=None):
    """Write ``net`` to ``path`` (.npz, or .safetensors), atomically.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
    optimizer : bool
        Also store the state of the optimizer of the last ``anynet.train`` run
        (``net.optimizer``), so that training can resume where it stopped.

    Returns
    -------
    pathlib.Path
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be an anynet Network, got {type(net).__name__}")
    path = Path(path)
    description, arrays = _contents(net, optimizer, _extra)
    text = _loadable(path, net, description, arrays)
    if path.suffix == ".safetensors":
        writer = _safetensors_writer(arrays, text)
    else:
        arrays[_META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        writer = lambda f: np.savez(f, **arrays)  # noqa: E731
    atomic_write(path, writer, what="model")
    return path


def load(path, backend="numpy", device=None, dtype=None):
    """Read a network written by :func:`save`, onto ``backend`` and ``device``.

    Parameters
    ----------
    path : str or os.PathLike
    backend, device
        Where the network's arrays go (as ``initialize_network``); any backend can
        read any file: a network trained on CuPy loads on NumPy.
    dtype : {"float32", "float64"}, optional
        The saved dtype when None.

    Raises
    ------
    ValueError
        The file is missing, truncated, corrupted, not an anynet model, from a
        newer format version, or its arrays disagree with its description.
    """
    return _load(path, backend, device, dtype)[0]


def load_checkpoint(path, backend, dtype, optimizer):
    """(network, description, best parameters) of a training checkpoint; ``optimizer``
    is the run's, whose class the file's optimizer must be (a custom one too)."""
    return _load(path, backend, None, dtype, optimizer)


def _load(path, backend="numpy", device=None, dtype=None, optimizer=None):
    """(network, description, best parameters): ``load``, for checkpoints too."""
    path = Path(path)
    try:
        return _read(path, backend, device, dtype, optimizer)
    except (OverflowError, RecursionError, MemoryError) as exc:  # what no check foresaw
        raise ValueError(f"{path}: cannot load: {type(exc).__name__}: {exc}") from None
    except OSError as exc:  # permission denied, an I/O error: the file, named
        raise ValueError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def _read(path, backend, device, dtype, optimizer):
    with _open_model(path) as (arrays, description):
        config = _description.check_config(path, description)
        if "training" in description:
            _description.check_training(path, description["training"])
        be = resolve_backend(backend, device)
        dtype_name, _ = float_dtype(be, dtype or config["dtype"])
        sizes = config["layer_sizes"]
        shapes = {}
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            shapes[f"W{layer}"], shapes[f"b{layer}"] = (n_in, n_out), (1, n_out)
        with be.activate():
            params = {k: be.xp.asarray(_array(path, arrays, k, shape, dtype_name),
                                       device=be.device) for k, shape in shapes.items()}
            net = Network(params, backend=be, **dict(config, dtype=dtype_name))
            net.metadata = description.get("metadata") or {}
            if description.get("input_scaling") is not None:
                net.input_scaling = _input_scaling(path, description, arrays, be,
                                                   dtype_name, sizes[0])
            if "optimizer" in description:
                net.optimizer = _restore_optimizer(path, description["optimizer"], arrays,
                                                   net, optimizer)
        best = {k: _array(path, arrays, f"best.{k}", shape, dtype_name)
                for k, shape in shapes.items() if f"best.{k}" in arrays.keys()}
    return net, description, best


# --- writing ----------------------------------------------------------------------

def _contents(net, optimizer=False, extra=None):
    """(description, host arrays) of the file ``save`` writes for ``net``."""
    arrays = {k: to_numpy(v) for k, v in net.items()}
    description = {"format": FORMAT, "format_version": 1, "anynet_version": _version(),
                   "config": net.config, "metadata": net.metadata}
    if net.input_scaling is not None:  # an older anynet must refuse it, not ignore it
        description["format_version"] = FORMAT_VERSION
        description["input_scaling"] = True
        arrays["input.mean"], arrays["input.scale"] = map(to_numpy, net.input_scaling)
    if optimizer:
        description["optimizer"], state = _optimizer_description(net)
        arrays.update(state)
    if extra is not None:  # a training checkpoint's state (see anynet.training)
        description["training"] = extra["description"]
        arrays.update({k: to_numpy(v) for k, v in extra["arrays"].items()})
    return description, arrays


def check_metadata(metadata, label):
    """A ValueError/TypeError (starting with ``label``) unless ``metadata`` is what a
    file anynet loads can hold: a dict of JSON values, nested at most MAX_DEPTH - 1
    deep, at most _MAX_DESCRIPTION bytes of JSON with the rest of the description."""
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"{label}: net.metadata must be a dict, got {type(metadata).__name__}")
    deepest = _description.depth(metadata) + 1  # inside the description's object
    if deepest > _description.MAX_DEPTH:
        raise ValueError(f"{label}: net.metadata is nested more than "
                         f"{_description.MAX_DEPTH - 1} levels deep, more than anynet loads")
    try:
        text = json.dumps(metadata)
    except (TypeError, ValueError) as exc:  # an object, a circular list, a 5,000-digit int
        raise TypeError(f"{label}: net.metadata must hold JSON values only (dicts, lists, "
                        f"strings, numbers, None): {exc}") from None
    if len(text) > _MAX_DESCRIPTION:  # bytes are as many or more: said before encoding
        raise ValueError(f"{label}: net.metadata is {len(text)} characters of JSON, more "
                         f"than anynet loads ({_MAX_DESCRIPTION} bytes)")
    return text


def _loadable(path, net, description, arrays):
    """The description's JSON, after checking that ``load`` would read the file back:
    every limit it enforces is enforced here first, so no file is written that
    anynet refuses (checked on the description as it will be read)."""
    label = f"cannot save {path}"
    check_metadata(description.get("metadata"), label)
    try:
        text = json.dumps(description)
    except (TypeError, ValueError) as exc:  # a class label or setting JSON cannot hold
        raise TypeError(f"{label}: its description holds a value JSON cannot write "
                        f"(net.classes, an optimizer setting?): {exc}") from None
    raw = text.encode("utf-8")
    if len(raw) > _MAX_DESCRIPTION:
        raise ValueError(f"{label}: its description (net.metadata, the classes, a "
                         f"checkpoint's history) is {len(raw)} bytes of JSON, more than "
                         f"anynet loads ({_MAX_DESCRIPTION})")
    parsed = _description.parse(label, raw, _version())
    _description.check_config(label, parsed)
    if "training" in parsed:
        _description.check_training(label, parsed["training"])
    if "optimizer" in parsed:
        try:
            rebuild_optimizer(parsed["optimizer"], net.optimizer)
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
    dtype = parsed["config"]["dtype"]
    for key, value in arrays.items():  # load refuses what is not finite in its dtype
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{label}: array {key!r} contains NaN or infinity, which "
                             f"anynet refuses to load")
    if "input.scale" in arrays and not np.all(
            arrays["input.scale"] >= np.finfo(dtype).tiny):
        raise ValueError(f"{label}: net.input_scaling holds scales below "
                         f"{np.finfo(dtype).tiny:.3g}, which anynet refuses to load")
    return text

def _version():
    return __version__


def _optimizer_description(net):
    opt = net.optimizer
    if not isinstance(opt, (Optimizer, LBFGS)):
        raise ValueError("optimizer=True needs a network trained by anynet.train "
                         "(net.optimizer is not set)")
    description, state = describe_optimizer(opt, net)
    return description, {f"optimizer.{k}": to_numpy(v) for k, v in state.items()}


def _safetensors_writer(arrays, text):
    try:
        from safetensors.numpy import save as to_bytes
    except ImportError as exc:
        raise ImportError("saving .safetensors needs the safetensors package; "
                          "pip install safetensors") from exc
    data = to_bytes({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                    metadata={_META_KEY: text})
    return lambda f: f.write(data)


# --- reading ----------------------------------------------------------------------

@contextlib.contextmanager
def _open_model(path):
    """(arrays, description) of a model file, open for reading; else a ValueError.

    The path is opened once, without blocking, and what was opened must be a
    regular file (``anynet._files.open_regular``); everything is read from that
    handle. ``arrays.fetch(key, shape)`` reads one array, after checking the
    shape in its header: a damaged file cannot make anynet allocate more than it
    describes, nor its members together more than ``_INFLATION`` allows.
    """
    handle, held = open_regular(path)
    with handle:
        if path.suffix == ".safetensors":
            yield _read_safetensors(path, handle, held)
            return
        if handle.read(6) == _npz.NPY_MAGIC:
            raise ValueError(f"{path}: cannot load: it holds a single array, not an anynet "
                             f"model")
        handle.seek(0)
        try:
            archive = _npz.open_archive(handle)
            arrays = _npz.NpzMembers(archive, *_INFLATION, held)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        with archive:
            if _META_KEY not in arrays.keys():
                raise ValueError(f"{path}: cannot load: it has no anynet description "
                                 f"(not an anynet model)")
            try:
                meta = arrays.fetch(_META_KEY, None, limit=_MAX_DESCRIPTION)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
            description = _parse(path, meta.tobytes() if meta.dtype == np.uint8 else b"")
            yield arrays, description


class _LoadedMembers:
    """Arrays already read (safetensors checks its own offsets against the file)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def keys(self):
        return self.arrays.keys()

    def fetch(self, key, shape, limit=None):
        value = self.arrays.get(key)
        if value is not None and shape is not None and tuple(value.shape) != shape:
            raise ValueError(f"array {key!r} has shape {tuple(value.shape)}, but the "
                             f"description says {shape}")
        return value


def _read_safetensors(path, handle, held):
    """(arrays, description) of a .safetensors file, read whole from ``handle``
    (memory: twice the file). Its header, a length and JSON, is read first."""
    try:
        from safetensors.numpy import load as from_bytes
    except ImportError as exc:
        raise ImportError("loading .safetensors needs the safetensors package; "
                          "pip install safetensors") from exc
    data = handle.read()
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < n <= len(data) - 8:
        raise ValueError(f"{path}: cannot load: the file is truncated or corrupted (its "
                         f"header claims {n} bytes of {held})")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
        text = (header.get("__metadata__") or {}).get(_META_KEY)
    except (ValueError, AttributeError, RecursionError) as exc:
        raise ValueError(f"{path}: cannot load: the file is truncated or corrupted "
                         f"(its header: {type(exc).__name__})") from None
    if not isinstance(text, str):
        raise ValueError(f"{path}: cannot load: it has no anynet description "
                         f"(not an anynet model)")
    if len(text.encode("utf-8")) > _MAX_DESCRIPTION:
        raise ValueError(f"{path}: cannot load: its description is {len(text)} "
                         f"characters, more than anynet reads ({_MAX_DESCRIPTION} bytes)")
    try:
        arrays = from_bytes(data)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise ValueError(f"{path}: cannot load: the file is truncated or corrupted "
                         f"({type(exc).__name__}: {exc})") from None
    return _LoadedMembers(arrays), _parse(path, text.encode("utf-8"))


def _parse(path, raw):
    return _description.parse(path, raw, _version())


def _array(path, arrays, key, shape, dtype):
    """The array ``key`` of the file as a host array of ``dtype``, checked after the
    cast: finite in the file and still finite in ``dtype`` (float64's 1e300 is
    float32's infinity)."""
    try:
        value = arrays.fetch(key, shape)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if value is None:
        raise ValueError(f"{path}: array {key!r} is missing")
    if value.dtype.kind != "f":
        raise ValueError(f"{path}: array {key!r} has dtype {value.dtype}, not float")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{path}: array {key!r} contains NaN or infinity")
    with np.errstate(over="ignore", under="ignore"):
        cast = value.astype(dtype)
    if not np.all(np.isfinite(cast)):
        peak = float(np.max(np.abs(value.astype(np.float64))))
        raise ValueError(f"{path}: array {key!r} holds {peak:.3g}, beyond the range of "
                         f"{np.dtype(dtype).name} (it would load as infinity)")
    return cast


def _input_scaling(path, description, arrays, be, dtype, n_inputs):
    """The (mean, scale) a network standardises its inputs with, on its device."""
    if description["input_scaling"] is not True:
        raise ValueError(f"{path}: its input_scaling is not true")
    mean, scale = (_array(path, arrays, f"input.{k}", (1, n_inputs), dtype)
                   for k in ("mean", "scale"))
    # checked in the dtype the inputs are divided in: 1e-46 is float32's 0, and a
    # subnormal scale overflows what it divides
    tiny = np.finfo(dtype).tiny
    if not np.all(scale >= tiny):
        raise ValueError(f"{path}: array 'input.scale' holds scales that are not >= "
                         f"{tiny:.3g} in {np.dtype(dtype).name} (the smallest is "
                         f"{float(np.min(scale)):.3g} there): dividing by them would "
                         f"overflow")
    return tuple(be.xp.asarray(a, device=be.device) for a in (mean, scale))


def _restore_optimizer(path, described, arrays, net, template=None):
    try:
        opt = rebuild_optimizer(described, template)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if isinstance(opt, Optimizer) and opt.t > 0:
        opt.state = {s: {k: net.xp.asarray(
            _array(path, arrays, f"optimizer.{s}.{k}", tuple(net[k].shape), net.dtype),
            device=net.device) for k in net} for s in opt.state_names}
    return opt
