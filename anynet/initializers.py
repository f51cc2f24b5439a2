"""Weight initialisers: drawn on the host from a seed, then moved to the backend once.

Drawing on the host is what makes every backend start from identical weights:
the Array API has no random generator, and each library's own generators
differ. NumPy's global random state is never touched.
"""
import numpy as np


def randn(sizes, seed):
    """The tutorial's draw: standard normal matrices of shape (n_in, n_out) for W1,
    W2, ... in turn, from a private ``RandomState(seed)``: the very numbers that
    seeding NumPy's global generator with ``seed`` and calling ``randn`` give."""
    rng = np.random.RandomState(seed)
    return [rng.randn(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def xavier(sizes, seed):
    """Glorot & Bengio (2010) uniform: U(-l, l), l = sqrt(6 / (n_in + n_out))."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-np.sqrt(6.0 / (n_in + n_out)), np.sqrt(6.0 / (n_in + n_out)),
                        size=(n_in, n_out))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def he(sizes, seed):
    """He et al. (2015) normal: N(0, 2 / n_in), suited to ReLU layers."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


INITIALIZERS = {"randn": randn, "xavier": xavier, "he": he}


def initial_weights(init, sizes, seed):
    """Host float64 weight matrices W1..WL, shape (n_in, n_out) each; biases start at 0."""
    if init not in INITIALIZERS:
        raise ValueError(f"init={init!r} is not a known initialiser; "
                         f"use one of {', '.join(map(repr, INITIALIZERS))}")
    return INITIALIZERS[init](sizes, seed)
