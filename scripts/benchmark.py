#!/usr/bin/env python3
"""anynet's speed beside its peers, measured side by side in one run.

Workloads (each printed as anynet's time per epoch and its ratio to each peer):

- mnist-shaped: MLP 784-256-128-10, ReLU, softmax cross-entropy, Adam lr 1e-3,
  batch 128, 20,000 float32 samples, one epoch. Peers: PyTorch eager on the
  CPU (same network, optimizer and batches, threads = cores), scikit-learn's
  MLPClassifier (same sizes, solver adam, max_iter=1), and a GEMM floor (only
  the matrix products one epoch of forward and backward needs, in NumPy).
- tutorial: the tutorial's XOR, 2-2-1 sigmoid, 10,000 full-batch steps:
  ``anynet.train_network`` against the tutorial's own code, read from
  ../shared/seed at run time (the project does not carry it).
- wide: batch 1024, 1024-4096-4096-10, float32, 4 batches: anynet against PyTorch.
- On a machine with CuPy and a GPU, mnist-shaped and wide on backend="cupy"
  against PyTorch on CUDA.

Targets on NumPy: mnist-shaped at most 0.7x PyTorch and 0.6x scikit-learn and
within 2x the GEMM floor; tutorial at most 1.25x the tutorial's code per step.

Usage: python scripts/benchmark.py [--repeats 3] [--only mnist,tutorial,wide]
"""
import argparse
import contextlib
import io
import os
import re
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import anynet  # noqa: E402
from anynet._backend import cuda_unavailable_reason  # noqa: E402

TUTORIAL = Path(__file__).resolve().parents[2] / "shared" / "seed" / \
    "neural-network-from-scratch.txt"
ROWS = []


def report(workload, what, seconds, anynet_seconds=None, target=None):
    ratio = "" if anynet_seconds is None else f"{anynet_seconds / seconds:6.2f}x"
    verdict = ""
    if target is not None and anynet_seconds is not None:
        verdict = "meets target" if anynet_seconds / seconds <= target else "MISSES target"
        verdict += f" (<= {target}x)"
    ROWS.append((workload, what, seconds, ratio, verdict))
    shown = f"{seconds * 1e3:10.1f} ms" if seconds >= 0.01 else f"{seconds * 1e6:10.1f} us"
    print(f"{workload:13s} {what:34s} {shown}  {ratio:>7s}  {verdict}", flush=True)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- mnist-shaped --------------------------------------------------------------

SIZES = (784, 256, 128, 10)


def mnist_data(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=n)
    return X, y


def anynet_epoch_seconds(X, y, sizes, batch, repeats, backend="numpy"):
    """Median per-epoch time of anynet.train's loop (set-up excluded)."""
    net = anynet.train(X, y, hidden=sizes[1:-1], loss="cross_entropy", optimizer="adam",
                       learning_rate=1e-3, epochs=repeats + 1, batch_size=batch,
                       backend=backend, dtype="float32", seed=0, verbose=False)
    return statistics.median(net.history["seconds"][1:])  # the first epoch warms up


def torch_epoch_seconds(X, y, sizes, batch, repeats, device="cpu"):
    import torch
    torch.set_num_threads(os.cpu_count())
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt = torch.as_tensor(X, device=device)
    yt = torch.as_tensor(y, device=device)
    rng = np.random.default_rng(0)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        order = torch.as_tensor(rng.permutation(len(X)), device=device)
        total = torch.zeros((), device=device)
        for lo in range(0, len(X), batch):
            idx = order[lo:lo + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        float(total)  # one sync per epoch, as anynet
    epoch()
    return median_time(epoch, repeats)


def sklearn_epoch_seconds(X, y, sizes, batch, repeats):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier(hidden_layer_sizes=sizes[1:-1], solver="adam", max_iter=1,
                          batch_size=batch, learning_rate_init=1e-3, random_state=0).fit(X, y)
    fit()
    return median_time(fit, repeats)


def gemm_floor_seconds(n, sizes, batch, repeats, dtype=np.float32):
    """Only the matrix products of one epoch: forward, then backward (no dX for layer 1)."""
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((a, b), dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    full = [rng.standard_normal((batch, s), dtype=dtype) for s in sizes]
    last = n % batch
    part = [rng.standard_normal((last, s), dtype=dtype) for s in sizes] if last else None

    def step(acts):
        for a, w in zip(acts[:-1], W):
            a @ w
        for layer in range(len(W) - 1, -1, -1):
            acts[layer].T @ acts[layer + 1]
            if layer > 0:
                acts[layer + 1] @ W[layer].T

    def epoch():
        for _ in range(n // batch):
            step(full)
        if part:
            step(part)
    epoch()
    return median_time(epoch, repeats)


def bench_mnist(repeats):
    X, y = mnist_data()
    ours = anynet_epoch_seconds(X, y, SIZES, 128, repeats)
    report("mnist-shaped", "anynet (numpy)", ours)
    try:
        report("mnist-shaped", "PyTorch eager (cpu)",
               torch_epoch_seconds(X, y, SIZES, 128, repeats), ours, 0.7)
    except ImportError:
        print("mnist-shaped  PyTorch not installed: skipped")
    try:
        report("mnist-shaped", "scikit-learn MLPClassifier",
               sklearn_epoch_seconds(X, y, SIZES, 128, repeats), ours, 0.6)
    except ImportError:
        print("mnist-shaped  scikit-learn not installed: skipped")
    report("mnist-shaped", "GEMM floor (numpy)",
           gemm_floor_seconds(len(X), SIZES, 128, repeats), ours, 2.0)


# --- tutorial -------------------------------------------------------------------

def tutorial_namespace():
    """The tutorial's functions, executed from its text (never copied into anynet)."""
    text = TUTORIAL.read_text()
    blocks = re.findall(r"```\n(.*?)```", text, flags=re.S)
    code = "\n".join(b.split("# Example data")[0] for b in blocks)
    namespace = {}
    exec(compile(code, str(TUTORIAL), "exec"), namespace)
    return namespace


def bench_tutorial(repeats):
    if not TUTORIAL.exists():
        print(f"tutorial      {TUTORIAL} not found: skipped")
        return
    tut = tutorial_namespace()
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    steps = 10000

    def theirs():
        with contextlib.redirect_stdout(io.StringIO()):
            tut["train_network"](X, y, 2, 2, 1, steps, 0.1)

    def ours():  # printing every 100 epochs too: the same work
        with contextlib.redirect_stdout(io.StringIO()):
            anynet.train_network(X, y, 2, 2, 1, steps, 0.1, loss="sse")
    t_ours, t_theirs = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine
        t_theirs.append(median_time(theirs, 1))
        t_ours.append(median_time(ours, 1))
    ours_s = statistics.median(t_ours) / steps
    report("tutorial", "anynet train_network (per step)", ours_s)
    report("tutorial", "the tutorial's code (per step)", statistics.median(t_theirs) / steps,
           ours_s, 1.25)


# --- wide -----------------------------------------------------------------------

WIDE = (1024, 4096, 4096, 10)


def bench_wide(repeats, backend="numpy", torch_device="cpu"):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4 * 1024, WIDE[0]), dtype=np.float32)
    y = rng.integers(0, WIDE[-1], size=len(X))
    ours = anynet_epoch_seconds(X, y, WIDE, 1024, repeats, backend)
    report("wide", f"anynet ({backend})", ours)
    try:
        report("wide", f"PyTorch eager ({torch_device})",
               torch_epoch_seconds(X, y, WIDE, 1024, repeats, torch_device), ours)
    except ImportError:
        print("wide          PyTorch not installed: skipped")


def bench_gpu(repeats):
    reason = cuda_unavailable_reason()
    if reason:
        print(f"gpu           skipped: {reason}")
        return
    X, y = mnist_data()
    ours = anynet_epoch_seconds(X, y, SIZES, 128, repeats, "cupy")
    report("mnist-shaped", "anynet (cupy)", ours)
    report("mnist-shaped", "PyTorch eager (cuda)",
           torch_epoch_seconds(X, y, SIZES, 128, repeats, "cuda"), ours)
    bench_wide(repeats, "cupy", "cuda")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="mnist,tutorial,wide,gpu")
    args = parser.parse_args(argv)
    print(f"anynet {anynet.__version__}, numpy {np.__version__}, {os.cpu_count()} cores")
    print(f"{'workload':13s} {'what':34s} {'time':>13s}  {'anynet/peer':>7s}")
    benches = {"mnist": bench_mnist, "tutorial": bench_tutorial, "wide": bench_wide,
               "gpu": bench_gpu}
    for name in args.only.split(","):
        benches[name](args.repeats)


if __name__ == "__main__":
    main()
