"""The whole training loss as a function of one flat parameter vector, for L-BFGS.

``training_objective`` builds ``fun(x) -> (f, g)`` from the same batch objective
the mini-batch steps use (``anynet.steps.batch_objective``, hence the same
``anynet.losses`` functions), over all the training rows at once, with
scikit-learn's L2 penalty: ``alpha / 2 * sum ||W||^2`` divided by the number of
samples (or their total weight; not divided for the summed loss "sse").

A sparse X is evaluated ``CHUNK_ROWS`` rows at a time, each chunk made dense.
When the dense chunks fit in ``SPARSE_DEVICE_BYTES`` they are uploaded once, on
the first evaluation, and kept on the device for the run; otherwise each
evaluation uploads them again (one transfer per chunk), so that memory never
holds more than one dense chunk.
"""
import math

from ._backend import compile_function, host_floats
from ._checks import CHUNK_ROWS
from .steps import batch_objective

#: the most bytes of a sparse X's dense chunks that one L-BFGS run keeps on the device
SPARSE_DEVICE_BYTES = 1 << 30


def flat(xp, arrays):
    """The arrays in one vector, each flattened in order."""
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def unflat(xp, x, keys, shapes):
    """``{key: array of its shape}`` from the consecutive pieces of the vector x."""
    params, start = {}, 0
    for key, shape in zip(keys, shapes):
        size = math.prod(shape)
        params[key] = xp.reshape(x[start:start + size], shape)
        start += size
    return params


def training_objective(net, data, alpha, dropout):
    """``fun(x) -> (f, g)``: the training loss of ``data`` at the flat parameters x
    (with the L2 penalty ``alpha``, scikit-learn's scaling) and its gradient;
    compiled on JAX.

    Parameters
    ----------
    net : Network
        Gives the layers, the loss, the backend; x is ``flat(xp, net.values())``.
    data : anynet._run_data.RunData
    alpha : float
    dropout : sequence of float
        Must be empty: L-BFGS minimises one fixed function.

    Returns
    -------
    callable
        ``fun(x)`` with x of shape (n_parameters,): f a 0-d array, g shaped as x.
    """
    if dropout:
        raise ValueError("dropout needs a stochastic optimizer: L-BFGS minimises one "
                         "fixed loss")
    xp, keys, device = net.xp, list(net), net.device
    shapes = [tuple(net[k].shape) for k in keys]
    dtype = data.Y.dtype
    weighted, summed = data.S is not None, data.task.kind.reduction == "sum"
    objective = batch_objective(net, weighted, False, ())
    # 1 on the weights' entries of x, 0 on the biases': the penalty's own
    mask = xp.concat([xp.full((math.prod(shape),), 1.0 if key.startswith("W") else 0.0,
                              dtype=dtype, device=device)
                      for key, shape in zip(keys, shapes)])
    n = data.n_total
    total_weight = host_floats(xp, xp.sum(data.S)) if weighted else float(n)
    l2 = alpha if summed else alpha / total_weight

    def fun(x, X, Y, S, share, l2):
        loss, grads = objective(unflat(xp, x, keys, shapes), X, Y, S, None, 0.0)
        g = flat(xp, [grads["d" + k] for k in keys]) * share
        weights = x * mask
        return loss * share + (0.5 * l2) * xp.sum(weights * weights), g + l2 * weights

    compiled = compile_function(net.backend, fun)
    if not data.sparse:
        return lambda x: compiled(x, data.X, data.Y, data.S, 1.0, l2)
    bounds = [(lo, min(lo + CHUNK_ROWS, n)) for lo in range(0, n, CHUNK_ROWS)]
    if summed:
        shares = [1.0] * len(bounds)
    elif weighted:  # one read for every chunk's weight
        sums = host_floats(xp, *[xp.sum(data.S[lo:hi, :]) for lo, hi in bounds])
        shares = [s / total_weight for s in (sums if len(bounds) > 1 else [sums])]
    else:
        shares = [(hi - lo) / n for lo, hi in bounds]
    dense_bytes = n * data.X.shape[1] * dtype_size(xp, dtype)
    kept = {} if dense_bytes <= SPARSE_DEVICE_BYTES else None

    def chunk(number, lo, hi):
        if kept is not None and number in kept:
            return kept[number]
        X = xp.asarray(data.X[lo:hi].toarray(), dtype=dtype, device=device)
        if kept is not None:
            kept[number] = X
        return X

    def chunked(x):
        f = g = None
        for number, ((lo, hi), share) in enumerate(zip(bounds, shares)):
            S = None if data.S is None else data.S[lo:hi, :]
            fc, gc = compiled(x, chunk(number, lo, hi), data.Y[lo:hi, :], S, share,
                              l2 if number == 0 else 0.0)
            f, g = (fc, gc) if f is None else (f + fc, g + gc)
        return f, g
    return chunked


def dtype_size(xp, dtype):
    """Bytes of one element of ``dtype``."""
    return xp.finfo(dtype).bits // 8
