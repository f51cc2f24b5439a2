"""Inference over Dask arrays: ``anynet.predict(net, X)`` with a ``dask.array`` X.

The prediction is a lazy dask array computed chunk by chunk (whole rows per
chunk), so data larger than memory streams through. Each chunk goes through
``anynet.predict`` on the network's backend; a chunk of NumPy comes back as
NumPy, a chunk of the network's own library (CuPy on a GPU) stays on it. A chunk
without rows (routine after boolean filtering) gives a prediction without rows.
Under a ``dask.distributed`` client the network is scattered to the workers once.
"""
import numpy as np

from ._backend import is_array, namespace_name, to_numpy


def predict_dask(net, X, check_finite=True):
    """Lazy predictions, shape (n_samples, n_outputs), for a dask array X
    (``check_finite`` as ``Network.predict``'s, for every chunk)."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, shape (n_samples, {net.layer_sizes[0]}); got "
                         f"shape {X.shape}")
    if X.shape[1] != net.layer_sizes[0]:
        raise ValueError(f"X has {X.shape[1]} features (columns) but the network expects "
                         f"{net.layer_sizes[0]}")
    X = X.rechunk({1: -1})  # each chunk holds whole rows
    n_out = net.layer_sizes[-1]
    return X.map_blocks(_predict_chunk, _shipped(net), check_finite, dtype=np.dtype(net.dtype),
                        chunks=(X.chunks[0], (n_out,)),
                        meta=X._meta[:0, :0].astype(net.dtype) if hasattr(X, "_meta")
                        else None)


def _predict_chunk(chunk, net, check_finite):
    if chunk.shape[0] == 0:  # anynet.predict refuses X without samples; a chunk may have none
        return _empty_prediction(chunk, net)
    out = net.predict(chunk, check_finite=check_finite)  # on the network's device
    if isinstance(chunk, np.ndarray) or not is_array(chunk):
        return np.asarray(to_numpy(out))
    if namespace_name(chunk) == net.backend.name:
        return out
    return np.asarray(to_numpy(out))


def _empty_prediction(chunk, net):
    """Zero rows of predictions, on the chunk's library as a prediction would be."""
    shape = (0, net.layer_sizes[-1])
    if not (isinstance(chunk, np.ndarray) or not is_array(chunk)) and \
            namespace_name(chunk) == net.backend.name:
        with net.backend.activate():  # CuPy's zeros() ignores device=
            return net.xp.zeros(shape, dtype=getattr(net.xp, net.dtype), device=net.device)
    return np.zeros(shape, dtype=net.dtype)


def _shipped(net):
    """The network itself, or, under a distributed client, a future of it on every worker."""
    try:
        from distributed import get_client
        client = get_client()
    except (ImportError, ValueError):
        return net
    return client.scatter(net, broadcast=True, hash=False)
