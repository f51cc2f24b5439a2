"""The tutorial's XOR run next to anynet's recommended settings."""
import time

import numpy as np

from ._backend import allow_float64, resolve_backend, to_numpy
from .network import predict, train_network

#: The tutorial's data: XOR of two bits.
X_XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
Y_XOR = np.array([[0], [1], [1], [0]])

#: Settings that solve XOR from every seed tried (0..29): wider tanh layer,
#: Glorot weights, a sigmoid output trained on binary cross-entropy.
RECOMMENDED = dict(activation="tanh", loss="binary_cross_entropy", init="xavier", seed=0)


def _report(title, net, seconds):
    p = to_numpy(predict(net, X_XOR))[:, 0]
    solved = bool(np.all((p > 0.5) == (Y_XOR[:, 0] == 1)))
    print(f"\n{title}  ({seconds:.2f} s, {net.backend.name} on {net.device}, {net.dtype})")
    print("  x1 x2 | target | prediction")
    for (x1, x2), t, pi in zip(X_XOR, Y_XOR[:, 0], p):
        print(f"   {x1}  {x2} |   {t}    | {pi:.4f}")
    print(f"  XOR solved: {'yes' if solved else 'no'}")
    return solved


def run(backend="numpy", device=None, verbose=False):
    """Train both networks on XOR, print their predictions, return (tutorial, anynet) solved."""
    allow_float64(backend)  # the tutorial's run is float64, which JAX has off by default
    # resolve once, so a bad backend fails before anything is printed
    opts = dict(backend=resolve_backend(backend, device), verbose=verbose)
    print("1. The tutorial: 2-2-1 sigmoid network, randn weights (seed 42), "
          "10,000 full-batch steps, learning rate 0.1, sum-of-squares loss")
    start = time.perf_counter()
    tutorial = train_network(X_XOR, Y_XOR, 2, 2, 1, 10000, 0.1, loss="sse", **opts)
    solved_t = _report("The tutorial's network", tutorial, time.perf_counter() - start)
    print("\n2. anynet's recommended settings: 2-8-1, tanh hidden layer, Xavier "
          "weights, binary cross-entropy, 2,000 steps, learning rate 0.5")
    start = time.perf_counter()
    ours = train_network(X_XOR, Y_XOR, 2, 8, 1, 2000, 0.5, **RECOMMENDED, **opts)
    solved_a = _report("anynet's network", ours, time.perf_counter() - start)
    _digits(opts["backend"], verbose)
    return solved_t, solved_a


def _digits(backend, verbose):
    """Part 3: a real dataset, with a held-out test set."""
    from .datasets import digits
    from .training import train
    try:
        X, y = digits()
    except ImportError as exc:
        print(f"\n3. Handwritten digits: skipped ({exc})")
        return None
    print("\n3. Handwritten digits (scikit-learn's 8x8 images): anynet.train's defaults "
          "on 75% of them, tested on the other 25%")
    test = np.random.default_rng(0).permutation(len(X))[: len(X) // 4]
    fit = np.setdiff1d(np.arange(len(X)), test)
    start = time.perf_counter()
    net = train(X[fit] / 16.0, y[fit], backend=backend, verbose=verbose)
    accuracy = net.score(X[test] / 16.0, y[test])
    print(f"  {len(fit)} training images, {len(test)} test images, "
          f"{time.perf_counter() - start:.2f} s ({net.backend.name} on {net.device})")
    print(f"  test accuracy: {accuracy:.4f}")
    return accuracy
