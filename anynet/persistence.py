"""Saving and loading networks: one ``.npz`` file, weights plus a JSON description.

The file holds the arrays ``W1, b1, ... WL, bL`` (host NumPy arrays, whatever
backend trained them) and ``__anynet__``: the UTF-8 bytes of a JSON document
with the format version, the network's configuration, its metadata and, when
asked for, the optimizer's hyperparameters (its state arrays are stored as
``optimizer.<name>.<param>``). Nothing is pickled: the file opens with
``numpy.load(path, allow_pickle=False)``. A ``.safetensors`` path writes the same
content in that format (the JSON goes in its metadata), for PyTorch users.

Saving writes a temporary file beside the target and renames it over the
target, so a crash never leaves a half-written model.
"""
import contextlib
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._backend import resolve_backend, float_dtype, to_numpy
from ._version import __version__
from .activations import check_activation
from .losses import check_loss
from .model import Network
from .optimizers import Optimizer, describe as describe_optimizer, rebuild as rebuild_optimizer
from .tasks import Task

FORMAT = "anynet"
FORMAT_VERSION = 1
_META_KEY = "__anynet__"
_MAX_PARAMETERS = 2 ** 31  # a description asking for more is refused before allocating
_MAX_DESCRIPTION = 64 << 20  # bytes of JSON


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
    arrays = {k: to_numpy(v) for k, v in net.items()}
    description = {"format": FORMAT, "format_version": FORMAT_VERSION,
                   "anynet_version": _version(), "config": net.config,
                   "metadata": net.metadata}
    if optimizer:
        description["optimizer"], state = _optimizer_description(net)
        arrays.update(state)
    if _extra is not None:  # a training checkpoint's state (see anynet.training)
        description["training"] = _extra["description"]
        arrays.update({k: to_numpy(v) for k, v in _extra["arrays"].items()})
    text = json.dumps(description)
    if path.suffix == ".safetensors":
        writer = _safetensors_writer(arrays, text)
    else:
        arrays[_META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        writer = lambda f: np.savez(f, **arrays)  # noqa: E731
    _atomic_write(path, writer)
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
    with _open_model(path) as (arrays, description):
        config = _check_description(path, description)
        be = resolve_backend(backend, device)
        dtype_name, _ = float_dtype(be, dtype or config["dtype"])
        sizes = config["layer_sizes"]
        shapes = {}
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            shapes[f"W{layer}"], shapes[f"b{layer}"] = (n_in, n_out), (1, n_out)
        with be.activate():
            params = {k: be.xp.asarray(_array(path, arrays, k, shape).astype(dtype_name),
                                       device=be.device) for k, shape in shapes.items()}
            net = Network(params, backend=be, **dict(config, dtype=dtype_name))
            net.metadata = description.get("metadata") or {}
            if "optimizer" in description:
                net.optimizer = _restore_optimizer(path, description["optimizer"], arrays,
                                                   net, optimizer)
        best = {k: _array(path, arrays, f"best.{k}", shape).astype(dtype_name)
                for k, shape in shapes.items() if f"best.{k}" in arrays.keys()}
    return net, description, best


# --- writing ----------------------------------------------------------------------

def _version():
    return __version__


def _optimizer_description(net):
    opt = net.optimizer
    if not isinstance(opt, Optimizer):
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


def _atomic_write(path, writer):
    """Write through a temporary file in the same folder, then rename it over ``path``."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot save to {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- reading ----------------------------------------------------------------------

@contextlib.contextmanager
def _open_model(path):
    """(arrays, description) of a model file, open for reading; else a ValueError.

    ``arrays.fetch(key, shape)`` reads one array, after checking the shape in its
    header: a damaged file cannot make anynet allocate more than it describes.
    """
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        yield _read_safetensors(path)
        return
    if _is_npy(path):
        raise ValueError(f"{path}: cannot load: it holds a single array, not an anynet model")
    with open(path, "rb") as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError,
                NotImplementedError, RuntimeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cannot load: the file is truncated or corrupted "
                             f"({type(exc).__name__}: {exc})") from None
        with archive:
            arrays = _NpzMembers(path, archive)
            if _META_KEY not in arrays.keys():
                raise ValueError(f"{path}: cannot load: it has no anynet description "
                                 f"(not an anynet model)")
            try:
                meta = arrays.fetch(_META_KEY, None, limit=_MAX_DESCRIPTION)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
            description = _parse(path, meta.tobytes() if meta.dtype == np.uint8 else b"")
            yield arrays, description


def _is_npy(path):
    with open(path, "rb") as f:
        return f.read(6) == b"\x93NUMPY"


class _NpzMembers:
    """The .npy members of an open zip archive, read one at a time, headers first."""

    def __init__(self, path, archive):
        self.path, self.archive = path, archive
        self.names = {n[:-4]: n for n in archive.namelist() if n.endswith(".npy")}

    def keys(self):
        return self.names.keys()

    def fetch(self, key, shape, limit=None):
        """The array ``key`` (None if absent); a ValueError for any damage."""
        if key not in self.names:
            return None
        try:
            return self._read(key, shape, limit)
        except ValueError as exc:
            if str(exc).startswith("array "):  # a shape that disagrees: said as is
                raise
            raise ValueError(f"cannot load: array {key!r} is damaged ({exc})") from None
        except (zipfile.BadZipFile, OSError, EOFError, KeyError, zlib.error,
                NotImplementedError, RuntimeError, MemoryError) as exc:
            raise ValueError(f"cannot load: the file is truncated or corrupted "
                             f"({type(exc).__name__}: {exc})") from None

    def _read(self, key, shape, limit):
        with self.archive.open(self.names[key]) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                found, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                found, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            if dtype.hasobject:
                raise ValueError("it holds Python objects, which anynet never unpickles")
            if shape is not None and tuple(found) != shape:
                raise ValueError(f"array {key!r} has shape {tuple(found)}, but the "
                                 f"description says {shape}")
            size = int(np.prod(found, dtype=np.int64)) * dtype.itemsize
            held = self.archive.getinfo(self.names[key]).file_size
            if size > min(held, limit or held):
                raise ValueError(f"its header claims {size} bytes, more than the file holds")
            data = f.read(size)
            if len(data) != size:
                raise ValueError(f"it is cut short ({len(data)} of {size} bytes)")
        return np.frombuffer(data, dtype=dtype).reshape(found, order="F" if fortran else "C")


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


def _read_safetensors(path):
    try:
        from safetensors import safe_open
    except ImportError as exc:
        raise ImportError("loading .safetensors needs the safetensors package; "
                          "pip install safetensors") from exc
    try:
        with safe_open(str(path), framework="numpy") as f:
            text = (f.metadata() or {}).get(_META_KEY)
            if text is None:
                raise ValueError("it has no anynet description (not an anynet model)")
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except ValueError:
        raise
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise ValueError(f"{path}: cannot load: the file is truncated or corrupted "
                         f"({type(exc).__name__}: {exc})") from None
    return _LoadedMembers(arrays), _parse(path, text.encode("utf-8"))


def _parse(path, raw):
    try:
        description = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: its anynet description is not valid JSON ({exc})") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise ValueError(f"{path}: not an anynet model file")
    version = description.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: format_version {version!r} is not valid")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: written in format version {version} by anynet "
                         f"{description.get('anynet_version')}; this anynet "
                         f"{_version()} reads up to version {FORMAT_VERSION}: upgrade anynet")
    return description


def _check_description(path, description):
    config = description.get("config")
    keys = {"layer_sizes", "activation", "output_activation", "loss", "init", "seed",
            "dtype", "classes"}
    if not isinstance(config, dict) or set(config) != keys:
        raise ValueError(f"{path}: its description lacks a valid config (expected the keys "
                         f"{sorted(keys)})")
    sizes = config["layer_sizes"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0
                       for n in sizes)):
        raise ValueError(f"{path}: layer_sizes {sizes!r} is not a list of positive integers")
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > _MAX_PARAMETERS:
        raise ValueError(f"{path}: its description asks for {n_params} parameters, more "
                         f"than anynet loads ({_MAX_PARAMETERS})")
    try:
        check_activation(config["activation"])
        check_activation(config["output_activation"], output=True,
                         argument="output_activation")
        check_loss(config["loss"], config["output_activation"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if config["dtype"] not in ("float32", "float64"):
        raise ValueError(f"{path}: dtype {config['dtype']!r} is not float32 or float64")
    classes = config["classes"]
    expected = Task(config["loss"], config["output_activation"], sizes[-1]).expected_classes()
    if classes is not None and (not isinstance(classes, list) or len(classes) != expected):
        raise ValueError(f"{path}: classes {classes!r} do not match the output layer")
    return config


def _array(path, arrays, key, shape):
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
    return value


def _restore_optimizer(path, described, arrays, net, template=None):
    try:
        opt = rebuild_optimizer(described, template)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if opt.t > 0:
        opt.state = {s: {k: net.xp.asarray(
            _array(path, arrays, f"optimizer.{s}.{k}", tuple(net[k].shape)).astype(net.dtype),
            device=net.device) for k in net} for s in opt.state_names}
    return opt
