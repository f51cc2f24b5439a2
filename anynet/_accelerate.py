"""An optional accelerator for the NumPy backend: Adam's step fused into one pass.

NumPy makes Adam's update as ten passes over arrays the size of the parameters
(``m *= b1``, ``m += g``, ``g *= g`` ...), each one bound by memory: on the
mnist-shaped benchmark (235k parameters) that was 0.41 ms of every batch step,
a quarter of the epoch. With numba installed (``pip install numba``), the same
arithmetic, in the same order and the same dtype, runs as one vectorised loop
over the elements: 0.10 ms, with results equal to NumPy's bit for bit (tested).
Everything else, and every other backend and optimizer, runs the Array API code
of ``anynet.optimizers``, which stays the reference.

It is used for networks of ``MIN_PARAMETERS`` parameters and more: importing
numba and loading its compiled kernel cost about half a second, which a
smaller network's Adam (7.5k parameters for the digits: 10 us a step) never
earns back. ``ANYNET_ACCELERATE=0`` turns it off. Without numba nothing changes.
"""
import os
from dataclasses import dataclass

import numpy as np

from .optimizers import Adam, AdamW

_KERNEL = None
#: Networks smaller than this keep NumPy's passes (see the module's docstring).
MIN_PARAMETERS = 100_000


def accelerates(backend, optimizer, n_parameters):
    """Whether Adam's fused step applies: NumPy, Adam or AdamW, ``n_parameters`` of
    at least MIN_PARAMETERS, numba installed, ANYNET_ACCELERATE not 0. When it
    does, the kernel is compiled (or read from numba's cache) now, before
    training and its thread limits."""
    if backend.name != "numpy" or type(optimizer) not in (Adam, AdamW) \
            or n_parameters < MIN_PARAMETERS \
            or os.environ.get("ANYNET_ACCELERATE", "1") == "0":
        return False
    kernel = _kernel()
    if kernel is None:
        return False
    for dtype in (np.float32, np.float64):
        one = np.ones(1, dtype=dtype)
        kernel(one, one.copy(), one.copy(), one, *(dtype(1.0),) * 6)
    return True


@dataclass(frozen=True)
class FusedAdam:
    """The update rule of a training step (``anynet.steps.training_step``'s
    ``update``): ``FusedAdam()(optimizer)`` is :func:`fused_adam`. A value without
    fields: every instance is equal, so it keys the compiled-step cache."""

    def __call__(self, optimizer):
        return fused_adam(optimizer)


def adam_apply(backend, optimizer, n_parameters):
    """A drop-in for ``optimizer.apply`` on NumPy (Adam, AdamW), or None where it does
    not apply (see :func:`accelerates`)."""
    return fused_adam(optimizer) if accelerates(backend, optimizer, n_parameters) else None


def fused_adam(optimizer):
    """``apply(xp, params, state, grads, s)``: ``optimizer.apply`` (an Adam or AdamW)
    as one fused pass per parameter (NumPy arrays, numba installed).

    All or nothing: when any array of the step (a parameter, its gradient, its
    moments) is not C-contiguous and writeable, as a weight given as ``W.T`` or
    set by hand, every parameter takes the reference path, and none is updated
    twice."""
    kernel = _kernel()
    decoupled = type(optimizer) is AdamW
    b1, b2, wd = optimizer.beta1, optimizer.beta2, optimizer.weight_decay

    def apply(xp, params, state, grads, s):
        m_state, v_state = dict(state["m"]), dict(state["v"])
        arrays = [(p, grads["d" + key], m_state[key], v_state[key])
                  for key, p in params.items()]
        if not all(a.flags.c_contiguous and a.flags.writeable
                   for group in arrays for a in group):
            return optimizer.apply(xp, params, state, grads, s)  # the reference path
        for p, g, m, v in arrays:
            dtype = p.dtype.type
            kernel(p.reshape(-1), m.reshape(-1), v.reshape(-1), g.reshape(-1),
                   dtype(b1), dtype(b2), dtype(s["step"]), dtype(s["eps"]),
                   dtype(0.0 if decoupled else wd),
                   dtype(1.0 - s["lr"] * wd if decoupled and wd else 1.0))
        return params, {"m": m_state, "v": v_state}
    return apply


def _kernel():
    """The compiled fused step (numba, cached on disk), or None without numba."""
    global _KERNEL
    if _KERNEL is None:
        try:
            import numba
        except ImportError:
            _KERNEL = False
            return None

        # one thread: parallel loops fight OpenBLAS's spinning threads (2.3 s an epoch
        # instead of 0.2 on 2 cores); NumPy's error model (no ZeroDivisionError check)
        # lets LLVM vectorize the loop, which Python's would not (0.97 ms, not 0.10)
        @numba.njit(cache=True, error_model="numpy")
        def adam_step(p, m, v, g, b1, b2, step, eps, l2, decay):
            # the order of anynet.optimizers.Adam._update (and AdamW's decay first),
            # element by element: the same roundings as NumPy's passes
            for i in range(p.size):
                gi = g[i]
                if l2 != 0.0:
                    gi = gi + l2 * p[i]
                if decay != 1.0:
                    p[i] = p[i] * decay
                mi = m[i] * b1 + gi
                vi = v[i] * b2 + gi * gi
                m[i], v[i] = mi, vi
                q = mi / (np.sqrt(vi) + eps)
                p[i] = p[i] - q * step
        _KERNEL = adam_step
    return _KERNEL or None
