"""Input checks: every public entry point validates its data here, before any
parameter changes, and raises a ValueError or TypeError that names the
argument and the problem. Valid data leave as arrays of the network's backend,
device and dtype (moved once)."""
import math
import numbers

import numpy as np

from . import _backend
from ._backend import (device_of, host_bool, is_array, move, namespace_name, namespace_of,
                       readable)
from .tasks import kind_of

#: Rows of a SciPy sparse X made dense at once (the estimators' predictions, L-BFGS's
#: evaluations), and of dropout's draws made from one seed (a shard draws only its
#: blocks): 4096 rows of MNIST's 784 float64 features are 25 MB.
CHUNK_ROWS = 4096


def is_sparse(X):
    """A SciPy sparse matrix or array (without importing SciPy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "toarray")


def same_origin(**arrays):
    """Raise unless the device arrays among ``arrays`` share one library and device.

    Host data (NumPy arrays, lists, scalars) mix with anything: they are
    copied to the network's device. Two arrays that already live on different
    libraries or devices (torch and CuPy, cuda:0 and cuda:1) are a mistake.
    """
    seen = None
    for name, x in arrays.items():
        if x is None or isinstance(x, np.ndarray) or not is_array(x):
            continue
        origin = (namespace_name(x), device_of(x))
        if seen is None:
            seen = (name, origin)
        elif origin != seen[1]:
            raise ValueError(
                f"{name} is on {origin[0]} ({origin[1]}) but {seen[0]} is on "
                f"{seen[1][0]} ({seen[1][1]}); pass them from the same backend and device")


def _numeric(x, name):
    """Return ``x`` (an array of any backend, or a host NumPy array) with a real numeric dtype."""
    x = readable(x, name)
    if not is_array(x):
        if x is None:
            raise TypeError(f"{name} is None; expected an array of numbers")
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} cannot be read as an array: {exc}") from exc
    if isinstance(x, np.ndarray):
        ok = x.dtype.kind in "biuf"
    else:
        ok = namespace_of(x).isdtype(x.dtype, ("bool", "integral", "real floating"))
    if not ok:
        raise TypeError(f"{name} has dtype {x.dtype}; expected real numbers "
                        f"(bool, integer or float)")
    return x


def _all_finite(xp, x):
    """Whether every value of ``x`` is finite: on the host for host data (free), else
    one boolean read back from the device (a synchronisation with a GPU)."""
    if isinstance(x, np.ndarray):
        return bool(np.all(np.isfinite(x)))
    return host_bool(xp.all(xp.isfinite(x)))


def features(backend, dtype, X, n_features, name="X", check_finite=True):
    """X as a (n_samples, n_features) array of ``backend``, float ``dtype`` (a name).
    A SciPy sparse X is made dense (training alone takes it batch by batch).

    NaN and infinity are looked for (``check_finite``) in host data on the host,
    before the copy to the device, and in device data on the device, which
    reads one boolean back."""
    if is_sparse(X):
        X = X.toarray()
    X = _numeric(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, shape (n_samples, {n_features}); got shape "
                         f"{tuple(X.shape)}")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features (columns) but the network "
                         f"expects {n_features}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no samples (shape {tuple(X.shape)})")
    xp = backend.xp
    original, X = X, _host_cast(X, dtype)
    if check_finite and _is_host(X) and not _all_finite(xp, X):
        raise _not_finite(original, dtype, name)
    X = xp.astype(move(X, backend), getattr(xp, dtype), copy=False)
    if check_finite and not _is_host(original) and not _all_finite(xp, X):
        raise _not_finite(original, dtype, name)
    return X


def _is_host(x):
    """Host data: a NumPy array (anything that is not another library's array)."""
    return isinstance(x, np.ndarray) or not is_array(x)


def sparse_features(X, dtype, n_features, name="X"):
    """A SciPy sparse X checked (2-D, ``n_features`` columns, real and finite) and
    kept on the host as CSR of ``dtype`` (a name)."""
    if len(X.shape) != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must be 2-D with at least one sample; got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features (columns) but the network "
                         f"expects {n_features}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {X.dtype}; expected real numbers "
                        f"(bool, integer or float)")
    X = X.tocsr().astype(dtype)
    if not np.all(np.isfinite(X.data)):
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def _host_cast(x, dtype):
    # cast host data before the transfer: float32 moves half the bytes (values beyond
    # its range become infinite, said by _not_finite)
    if not isinstance(x, np.ndarray):
        return x
    with np.errstate(over="ignore"):
        return x.astype(dtype, copy=False)


def _not_finite(original, dtype, name):
    """The error for features that are not finite in ``dtype``: NaN or infinity in
    the data, or finite host values too large for it (naming the first column)."""
    if not (isinstance(original, np.ndarray) and original.dtype.kind == "f"
            and np.all(np.isfinite(original))):
        return ValueError(f"{name} contains NaN or infinity")
    with np.errstate(over="ignore"):
        column = int(np.flatnonzero(~np.all(np.isfinite(original.astype(dtype)), axis=0))[0])
    reason = (f"holds values too large for {dtype} (beyond {np.finfo(dtype).max:.3g}); "
              f"rescale them, or use dtype='float64'")
    error = ValueError(f"{name} column {column} {reason}")
    error.column, error.reason = column, reason  # for a caller who knows the columns' names
    return error


def targets(backend, dtype, y, n_samples, n_outputs, loss, name="y", x_name="X",
            one_hot=True):
    """y as a (n_samples, n_outputs) float array of ``backend``, ready for ``loss``.

    For a loss whose classes are an argmax (``cross_entropy``) y holds integer
    class labels, shape (n_samples,) or (n_samples, 1), which become one-hot
    rows, or rows of class probabilities. For every other loss y has the
    output's shape; (n_samples,) is accepted for a single output. A
    classifier's targets lie in [0, 1]. ``one_hot=False`` keeps class labels as
    they are, checked, shape (n_samples, 1), for a run that makes each batch's
    one-hot rows alone (:func:`one_hot_rows`).
    """
    kind = kind_of(loss)
    y = _numeric(y, name)
    xp = backend.xp
    if y.ndim == 0 or y.ndim > 2:
        raise ValueError(f"{name} must be 1-D or 2-D; got shape {tuple(y.shape)}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} samples but {x_name} has {n_samples}")
    labels = kind.classes_by == "argmax" and (y.ndim == 1 or y.shape[1] == 1)
    if y.ndim == 1 and not labels:
        y = y[:, None] if n_outputs == 1 else y
    if not labels and (y.ndim != 2 or y.shape[1] != n_outputs):
        raise ValueError(f"{name} must have shape ({n_samples}, {n_outputs}) to match the "
                         f"network's output; got {tuple(y.shape)}")
    y = _host_cast(y, dtype)
    if not _all_finite(xp, y):  # host data on the host, before the copy
        raise ValueError(f"{name} contains NaN or infinity")
    y = xp.astype(move(y, backend), getattr(xp, dtype), copy=False)
    if labels:
        y = _class_labels(xp, y, n_outputs, name, loss)
        return one_hot_rows(backend, y, n_outputs, name) if one_hot else y
    if kind.is_classifier:
        if not host_bool(xp.all((y >= 0.0) & (y <= 1.0))):
            raise ValueError(f"{name} must lie in [0, 1] for loss={loss!r}")
    if loss == "poisson" and not host_bool(xp.all(y >= 0.0)):
        raise ValueError(f"{name} holds negative values; loss='poisson' needs counts or "
                         f"other values >= 0")
    if kind.classes_by == "argmax":
        tol = 1e-4 if dtype == "float32" else 1e-8
        if not host_bool(xp.all(xp.abs(xp.sum(y, axis=1) - 1.0) <= tol)):
            raise ValueError(f"{name} rows must be one-hot or sum to 1 for "
                             f"loss={loss!r}")
    return y


def fits_in_memory(backend, nbytes, what, advice):
    """Raise a ValueError, before allocating, when ``nbytes`` for ``what`` exceed the
    memory the backend's device has available (``_backend.available_memory``)
    instead of a MemoryError (or a machine swapping) half-way; nothing is said
    where the available memory cannot be told."""
    available = _backend.available_memory(backend)
    if available is not None and nbytes > available:
        raise ValueError(f"{what} would need about {_size(nbytes)}, more than the "
                         f"{_size(available)} available on {backend.name} "
                         f"({backend.device}); {advice}")


def _size(nbytes):
    for unit, scale in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def _class_labels(xp, labels, n_classes, name, loss):
    """Class labels (float, shape (n,) or (n, 1)) checked, as a column (n, 1)."""
    labels = xp.reshape(labels, (labels.shape[0], 1))
    if not host_bool(xp.all((labels >= 0.0) & (labels < n_classes)
                       & (labels == xp.floor(labels)))):
        raise ValueError(f"{name} must hold class labels 0..{n_classes - 1} for "
                         f"loss={loss!r} with {n_classes} outputs")
    return labels


def class_row(backend, n_classes, dtype):
    """The class numbers 0..n_classes-1 as a row (1, n_classes) of ``dtype`` on the
    device: a column of labels compared with it is their one-hot rows."""
    xp = backend.xp
    return xp.reshape(xp.arange(n_classes, dtype=dtype, device=backend.device),
                      (1, n_classes))


def one_hot_rows(backend, labels, n_classes, name):
    """Checked class labels, shape (n, 1), as one-hot rows (n, n_classes), once the
    memory they take (and the bool comparison they are made from) is known to fit."""
    xp, n = backend.xp, int(labels.shape[0])
    itemsize = 8 if labels.dtype == xp.float64 else 4
    fits_in_memory(backend, n * n_classes * (itemsize + 1),
                   f"{name}'s one-hot rows ({n:,} samples x {n_classes:,} classes)",
                   "use fewer classes or fewer samples")
    return xp.astype(labels == class_row(backend, n_classes, labels.dtype), labels.dtype)


def positive_number(value, name, *, allow_zero=False):
    """``value`` as a Python float, finite and > 0 (>= 0 with allow_zero)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, "
                         f"got {value!r}")
    return value


#: The largest seed: 256 bits (``numpy.random.SeedSequence().entropy`` has 128).
#: Files record it as a JSON integer, and anynet loads every seed it trains with.
MAX_SEED = 2 ** 256 - 1


def seed(value, name="seed", init=None):
    """``value`` as a seed: a Python int in [0, MAX_SEED] (below 2**32 for the
    tutorial's "randn" initialiser, whose ``RandomState`` takes no more)."""
    value = positive_int(value, name, allow_zero=True)
    if value > MAX_SEED:
        raise ValueError(f"{name} must be at most 2**256 - 1, got a {value.bit_length()}-bit "
                         f"integer")
    if init == "randn" and value >= 2 ** 32:
        raise ValueError(f"{name}={value} is too large for init='randn' (NumPy's "
                         f"RandomState takes seeds below 2**32); use a smaller one, or "
                         f"init='he' or 'xavier'")
    return value


def positive_int(value, name, *, allow_zero=False):
    """``value`` as a Python int, > 0 (>= 0 with allow_zero)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return int(value)
