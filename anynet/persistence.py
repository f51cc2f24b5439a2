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
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ._backend import resolve_backend, float_dtype, to_numpy
from .activations import check_activation
from .losses import check_loss
from .network import Network
from .optimizers import OPTIMIZERS, Optimizer

FORMAT = "anynet"
FORMAT_VERSION = 1
_META_KEY = "__anynet__"
_MAX_PARAMETERS = 2 ** 31  # a description asking for more is refused before allocating


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


def _load(path, backend="numpy", device=None, dtype=None):
    """(network, description, remaining arrays): ``load`` for checkpoints too."""
    path = Path(path)
    arrays, description = _read(path)
    config = _check_description(path, description)
    be = resolve_backend(backend, device)
    dtype_name, _ = float_dtype(be, dtype or config["dtype"])
    params = {}
    sizes = config["layer_sizes"]
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        for key, shape in ((f"W{layer}", (n_in, n_out)), (f"b{layer}", (1, n_out))):
            params[key] = be.xp.asarray(_array(path, arrays, key, shape).astype(dtype_name),
                                        device=be.device)
    net = Network(params, backend=be, **dict(config, dtype=dtype_name))
    net.metadata = description.get("metadata") or {}
    if "optimizer" in description:
        net.optimizer = _restore_optimizer(path, description["optimizer"], arrays, net)
    return net, description, arrays


# --- writing ----------------------------------------------------------------------

def _version():
    from . import __version__
    return __version__


def _optimizer_description(net):
    opt = net.optimizer
    if not isinstance(opt, Optimizer):
        raise ValueError("optimizer=True needs a network trained by anynet.train "
                         "(net.optimizer is not set)")
    name = next(k for k, cls in OPTIMIZERS.items() if type(opt) is cls)
    settings = {k: v for k, v in vars(opt).items()
                if isinstance(v, (int, float, bool)) and not k.startswith("_") and k != "t"}
    state = {f"optimizer.{s}.{k}": to_numpy(v) for s in opt.state_names
             for k, v in opt.state.get(s, {}).items()}
    return {"name": name, "settings": settings, "t": opt.t}, state


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

def _read(path):
    """(arrays, description) from a .npz or .safetensors file, or a ValueError."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        with open(path, "rb") as handle:  # ours to close, whatever np.load raises
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an anynet model")
            if _META_KEY not in archive.files:
                raise ValueError("it has no anynet description (not an anynet model)")
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as exc:
        raise ValueError(f"{path}: cannot load: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{path}: cannot load: the file is truncated or corrupted "
                         f"({type(exc).__name__}: {exc})") from None
    meta = arrays.pop(_META_KEY)
    return arrays, _parse(path, meta.tobytes() if meta.dtype == np.uint8 else b"")


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
    return arrays, _parse(path, text.encode("utf-8"))


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
    if classes is not None and (not isinstance(classes, list)
                                or len(classes) != (2 if config["loss"] ==
                                                    "binary_cross_entropy" else sizes[-1])):
        raise ValueError(f"{path}: classes {classes!r} do not match the output layer")
    return config


def _array(path, arrays, key, shape):
    value = arrays.get(key)
    if value is None:
        raise ValueError(f"{path}: array {key!r} is missing")
    if tuple(value.shape) != shape:
        raise ValueError(f"{path}: array {key!r} has shape {tuple(value.shape)}, but the "
                         f"description says {shape}")
    if value.dtype.kind != "f":
        raise ValueError(f"{path}: array {key!r} has dtype {value.dtype}, not float")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{path}: array {key!r} contains NaN or infinity")
    return value


def _restore_optimizer(path, described, arrays, net):
    try:
        cls = OPTIMIZERS[described["name"]]
        opt = cls(**described.get("settings", {}))
        opt.t = int(described["t"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: its optimizer description is not valid ({exc})") from None
    if opt.t > 0:
        opt.xp = net.xp
        opt.state = {s: {k: net.xp.asarray(
            _array(path, arrays, f"optimizer.{s}.{k}", tuple(net[k].shape)).astype(net.dtype),
            device=net.device) for k in net} for s in opt.state_names}
    return opt
