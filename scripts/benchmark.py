#!/usr/bin/env python3
"""anynet's speed beside its peers, measured side by side in one run.

Workloads (each printed as anynet's time per epoch and its ratio to each peer):

- mnist-shaped: MLP 784-256-128-10, ReLU, softmax cross-entropy, Adam lr 1e-3,
  batch 128, 20,000 float32 samples, one epoch. Peers: PyTorch eager on the
  CPU (same network, optimizer and batches, threads = cores), scikit-learn's
  MLPClassifier (same sizes, solver adam, max_iter=1), and a GEMM floor (only
  the matrix products one epoch of forward and backward needs, in NumPy).
- tutorial: the tutorial's XOR, 2-2-1 sigmoid, 10,000 full-batch steps:
  ``anynet.train_network`` against the tutorial's own code, copied as the
  tutorial gives it into scripts/tutorial_reference.py.
- wide: batch 1024, 1024-4096-4096-10, float32, 4 batches: anynet against PyTorch.
- mpi: mnist-shaped on 2 MPI ranks against 1 (distributed="mpi"), and 2 ranks each
  holding only its half of the rows (sharded=True), one BLAS thread
  per rank.
- jax: mnist-shaped for 3 epochs on backend="jax" (its step already compiled)
  against the same 3 epochs on NumPy; and the compile time, on its own row: the
  first call's time beyond a compiled call's, in a new process with an empty
  compilation cache, and again with the persistent cache it left.
- On a machine with CuPy and a GPU, mnist-shaped and wide on backend="cupy"
  against PyTorch on CUDA.

Each measurement runs in its own process, the contenders in turns (``--repeats``
of them, 5 by default). Times are the median over the turns; each ratio is the
median of the turns' ratios (a turn's anynet over the same turn's peer) with
their range, and "meets"/"MISSES" follows that median.

Targets on NumPy: mnist-shaped at most 0.55x PyTorch and 0.6x scikit-learn and
within 1.6x the GEMM floor; tutorial at most 1.25x the tutorial's code per step.
On JAX: 3 compiled epochs within 1.5x of NumPy's.

``anynet.train`` raises glibc's malloc thresholds in its own process (see the
README); ``--same-allocator`` gives every peer the same settings, through the
MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ variables.

Usage: python scripts/benchmark.py [--repeats 5] [--only mnist,tutorial,wide,jax,mpi,gpu]
                                   [--peers floor,torch,sklearn] [--same-allocator]
"""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import anynet  # noqa: E402
from anynet._backend import cuda_unavailable_reason  # noqa: E402

ROWS = []
SAME_ALLOCATOR = False


def report(workload, what, seconds, anynet_seconds=None, target=None, ratios=None):
    """One row: ``what``'s time, and anynet's ratio to it with the verdict.

    ``ratios``: anynet's time over the peer's, one per turn (both measured in the
    same turn, one after the other); the row then gives their median and range,
    and the verdict follows the median. Without them, the ratio of the two times.
    """
    if ratios:
        middle = statistics.median(ratios)
        ratio = f"{middle:6.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
    elif anynet_seconds is not None:
        middle = anynet_seconds / seconds
        ratio = f"{middle:6.2f}x"
    else:
        middle, ratio = None, ""
    verdict = ""
    if target is not None and middle is not None:
        verdict = "meets target" if middle <= target else "MISSES target"
        verdict += f" (<= {target}x)"
    ROWS.append((workload, what, seconds, ratio, verdict))
    shown = f"{seconds * 1e3:10.1f} ms" if seconds >= 0.01 else f"{seconds * 1e6:10.1f} us"
    print(f"{workload:13s} {what:34s} {shown}  {ratio:>19s}  {verdict}", flush=True)


def report_turns(workload, ours_name, times, targets=None):
    """anynet's row and each peer's: median times, and the median (range) of the
    turns' ratios, each turn's anynet over the same turn's peer."""
    ours = times.pop(ours_name)
    report(workload, ours_name, statistics.median(ours))
    for name, theirs in times.items():
        ratios = [a / b for a, b in zip(ours, theirs)]
        report(workload, name, statistics.median(theirs), statistics.median(ours),
               (targets or {}).get(name), ratios=ratios)


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


def anynet_epoch(X, y, sizes, batch, backend="numpy"):
    """A function timing one epoch of anynet.train's loop (its set-up excluded)."""
    def run():
        net = anynet.train(X, y, hidden=sizes[1:-1], loss="cross_entropy", optimizer="adam",
                           learning_rate=1e-3, epochs=2, batch_size=batch, backend=backend,
                           dtype="float32", seed=0, verbose=False)
        return net.history["seconds"][1]  # the second epoch: caches and state warm
    return run


def torch_epoch(X, y, sizes, batch, device="cpu"):
    """A function timing one epoch of the same network, optimizer and batches in PyTorch."""
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
    epoch()  # warm-up
    return lambda: median_time(epoch, 1)


def sklearn_fit(X, y, sizes, batch):
    """A function timing MLPClassifier(max_iter=1).fit: one epoch, its set-up included."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier(hidden_layer_sizes=sizes[1:-1], solver="adam", max_iter=1,
                          batch_size=batch, learning_rate_init=1e-3, random_state=0).fit(X, y)
    return lambda: median_time(fit, 1)


def gemm_floor(n, sizes, batch, dtype=np.float32):
    """A function timing only the matrix products of one epoch: forward, then backward
    (no gradient for the input layer's input)."""
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
    return lambda: median_time(epoch, 1)


def interleaved(contenders, repeats):
    """Each contender's time in each of ``repeats`` turns (a list per contender),
    measured in turns so that all see the same machine: on a busy machine the
    times swing from turn to turn, so ratios are taken within a turn.

    Each measurement runs in a fresh process (``--worker``): PyTorch's OpenMP threads
    and OpenBLAS's threads, left spinning in one process, slow each other down.
    """
    times = {name: [] for name in contenders}
    env = dict(os.environ)
    if SAME_ALLOCATOR:  # give every contender the glibc settings anynet.train makes
        env.update(MALLOC_MMAP_THRESHOLD_=str(32 << 20), MALLOC_TRIM_THRESHOLD_=str(128 << 20))
    for _ in range(repeats):
        for name, spec in contenders.items():
            out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                                 capture_output=True, text=True, check=False, env=env)
            if out.returncode != 0:
                raise RuntimeError(f"{name} failed:\n{out.stderr[-2000:]}")
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
        print(f"  turn {len(times[name])}: " + ", ".join(
            f"{name} {t[-1] * 1e3:.0f} ms" for name, t in times.items()),
            file=sys.stderr, flush=True)  # progress, and what each ratio comes from
    return times


def worker(spec):
    """Run one measurement described by ``spec`` and print its seconds."""
    if spec["kind"] == "three-epochs":
        return print(json.dumps(three_epochs(spec["backend"])))
    if spec["kind"] == "transfers":
        return print(json.dumps(count_transfers(spec["backend"])))
    if spec["data"] == "mnist":
        X, y = mnist_data()
        sizes, batch = SIZES, 128
    else:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((4 * 1024, WIDE[0]), dtype=np.float32)
        y = rng.integers(0, WIDE[-1], size=len(X))
        sizes, batch = WIDE, 1024
    kind = spec["kind"]
    if kind == "anynet":
        fn = anynet_epoch(X, y, sizes, batch, spec.get("backend", "numpy"))
    elif kind == "torch":
        fn = torch_epoch(X, y, sizes, batch, spec.get("device", "cpu"))
    elif kind == "sklearn":
        fn = sklearn_fit(X, y, sizes, batch)
    else:
        fn = gemm_floor(len(X), sizes, batch)
    fn()  # warm-up
    print(fn())


def _available(module):
    return importlib.util.find_spec(module) is not None


PEERS = ("floor", "torch", "sklearn")  # --peers: which of them the mnist-shaped run takes


def bench_mnist(repeats):
    # the GEMM floor right after anynet in each turn: the floor's own time swings
    # (121 to 170 ms between quiet runs here), so each turn's ratio is anynet's over
    # the floor measured beside it
    contenders = {"anynet (numpy)": {"data": "mnist", "kind": "anynet"}}
    targets = {}
    for name, kind, module, target in (
            ("GEMM floor (numpy)", "floor", "numpy", 1.6),
            ("PyTorch eager (cpu)", "torch", "torch", 0.55),
            ("scikit-learn MLPClassifier", "sklearn", "sklearn", 0.6)):
        if kind not in PEERS:
            continue
        if _available(module):
            contenders[name], targets[name] = {"data": "mnist", "kind": kind}, target
        else:
            print(f"mnist-shaped  {name}: skipped ({module} is not installed)")
    report_turns("mnist-shaped", "anynet (numpy)", interleaved(contenders, repeats), targets)


# --- tutorial -------------------------------------------------------------------

def bench_tutorial(repeats):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tutorial_reference as tut  # the tutorial's code, beside this script
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    steps = 10000

    def theirs():
        with contextlib.redirect_stdout(io.StringIO()):
            tut.train_network(X, y, 2, 2, 1, steps, 0.1)

    def ours():  # printing every 100 epochs too: the same work
        with contextlib.redirect_stdout(io.StringIO()):
            anynet.train_network(X, y, 2, 2, 1, steps, 0.1, loss="sse")
    theirs(), ours()  # warm-up: imports, first calls
    t_ours, t_theirs = [], []
    for _ in range(max(repeats, 7)):  # interleaved, so both see the same machine
        t_theirs.append(median_time(theirs, 1))
        t_ours.append(median_time(ours, 1))
    ours_s = statistics.median(t_ours) / steps
    report("tutorial", "anynet train_network (per step)", ours_s)
    report("tutorial", "the tutorial's code (per step)", statistics.median(t_theirs) / steps,
           ours_s, 1.25)


# --- wide -----------------------------------------------------------------------

WIDE = (1024, 4096, 4096, 10)


def bench_wide(repeats, backend="numpy", torch_device="cpu", workload="wide"):
    ours_name = f"anynet ({backend})"
    contenders = {ours_name: {"data": workload, "kind": "anynet", "backend": backend}}
    if _available("torch"):
        contenders[f"PyTorch eager ({torch_device})"] = {"data": workload, "kind": "torch",
                                                         "device": torch_device}
    else:
        print(f"{workload:13s} PyTorch not installed: skipped")
    report_turns(workload, ours_name, interleaved(contenders, repeats))


MPI_SCRIPT = """
import sys, time, statistics
import numpy as np
from mpi4py import MPI
import anynet
sys.path.insert(0, sys.argv[1])
from benchmark import mnist_data
X, y = mnist_data()
comm, sharded = MPI.COMM_WORLD, sys.argv[2] == "sharded"
if sharded:  # each rank holds only its half of the rows
    rows = np.array_split(np.arange(len(X)), comm.size)[comm.rank]
    X, y = X[rows], y[rows]
net = anynet.train(X, y, hidden=(256, 128), loss="cross_entropy", learning_rate=1e-3,
                   epochs=3, batch_size=128, backend="numpy", dtype="float32",
                   verbose=False, distributed="mpi", sharded=sharded)
if MPI.COMM_WORLD.rank == 0:
    print(statistics.median(net.history["seconds"][1:]))
"""


def bench_mpi(repeats):
    """mnist-shaped on 2 MPI ranks against 1, one BLAS thread per rank."""
    import shutil
    beside = Path(sys.executable).parent / "mpiexec"
    mpiexec = shutil.which("mpiexec") or (str(beside) if beside.exists() else None)
    if not _available("mpi4py") or mpiexec is None:
        print("mpi           skipped: mpi4py or mpiexec is not installed "
              "(pip install mpi4py mpich)")
        return
    script = Path(__file__).with_name("_mpi_epoch.py")
    script.write_text(MPI_SCRIPT)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    runs = {(1, "same"): [], (2, "same"): [], (2, "sharded"): []}
    try:
        for _ in range(repeats):
            for ranks, mode in runs:
                out = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, "-m",
                                      "mpi4py", str(script), str(script.parent), mode],
                                     capture_output=True, text=True, env=env, check=False)
                if out.returncode != 0:
                    raise RuntimeError(out.stderr[-2000:])
                runs[ranks, mode].append(float(out.stdout.strip().splitlines()[-1]))
    finally:
        script.unlink()
    one, two, shards = (statistics.median(t) for t in runs.values())
    report("mpi", "anynet, 2 ranks x 1 BLAS thread", two)
    report("mpi", "anynet, 1 rank x 1 BLAS thread", one, two)
    report("mpi", "anynet, 2 ranks, sharded halves", shards)


def three_epochs(backend):
    """{"first": a 1-epoch run's seconds in this new process, "compiled": the same
    run's once compiled, "three": a 3-epoch run's}, mnist-shaped, set-up included."""
    X, y = mnist_data()

    def run(epochs):
        start = time.perf_counter()
        anynet.train(X, y, hidden=SIZES[1:-1], loss="cross_entropy", learning_rate=1e-3,
                     epochs=epochs, batch_size=128, backend=backend, dtype="float32",
                     seed=0, verbose=False)
        return time.perf_counter() - start
    first = run(1)
    return {"first": first, "compiled": run(1), "three": run(3)}


def bench_jax(repeats):
    """3 compiled epochs on JAX against NumPy's, and JAX's compile time, cold and warm."""
    if not _available("jax"):
        print("jax           skipped: jax is not installed")
        return
    import tempfile
    runs = {"numpy": [], "jax": [], "jax-warm": []}
    with tempfile.TemporaryDirectory() as cache:
        for turn in range(repeats):
            for name in runs:
                env = dict(os.environ, ANYNET_JAX_CACHE=os.path.join(cache, str(turn)))
                spec = {"kind": "three-epochs", "backend": name.split("-")[0]}
                out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                                     capture_output=True, text=True, check=False, env=env)
                if out.returncode != 0:
                    raise RuntimeError(out.stderr[-2000:])
                runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = lambda name, key: statistics.median(r[key] for r in runs[name])  # noqa: E731
    jax_three, numpy_three = med("jax", "three"), med("numpy", "three")
    report("jax", "anynet (jax), 3 epochs, compiled", jax_three)
    report("jax", "anynet (numpy), 3 epochs", numpy_three, jax_three, 1.5)
    compile_cold = statistics.median(r["first"] - r["compiled"] for r in runs["jax"])
    compile_warm = statistics.median(r["first"] - r["compiled"] for r in runs["jax-warm"])
    report("jax", "compile, empty cache (first run)", compile_cold)
    report("jax", "compile, persistent cache warm", compile_warm)


def bench_gpu(repeats):
    reason = cuda_unavailable_reason()
    if reason:
        print(f"gpu           skipped: {reason}")
        return
    bench_wide(repeats, "cupy", "cuda", workload="mnist")
    bench_wide(repeats, "cupy", "cuda")
    out = subprocess.run([sys.executable, __file__, "--worker",
                          json.dumps({"kind": "transfers", "backend": "cupy"})],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"counting transfers failed:\n{out.stderr[-2000:]}")
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    for what, value in counts.items():
        print(f"gpu           transfers: {what:40s} {value}", flush=True)
        ROWS.append(("gpu", f"transfers: {what}", value, "", ""))


def count_transfers(backend):
    """Transfers of mnist-shaped training on ``backend``'s device, as anynet makes them:
    reads through ``to_numpy`` (every read anynet means to make, ``host_floats``
    included) and writes of host data through the namespace's ``asarray``.

    Reads a library makes by itself (``float(x)`` on a device array) do not pass
    there; tests/test_transfers.py counts those too, on the CuPy stand-in. Returns
    per-epoch reads and writes (from runs of 2 and 4 epochs, 157 batches each), the
    reads and writes of one ``predict`` on device data without the finiteness check,
    and with it.
    """
    from anynet import _backend
    counts = {"reads": 0, "writes": 0}
    real_to_numpy = _backend.to_numpy

    def counted_to_numpy(x):
        counts["reads"] += not isinstance(x, np.ndarray)
        return real_to_numpy(x)
    for module in [m for name, m in sys.modules.items() if name.startswith("anynet")]:
        if getattr(module, "to_numpy", None) is real_to_numpy:
            module.to_numpy = counted_to_numpy
    be = anynet.resolve_backend(backend)
    real_asarray = be.xp.asarray

    def counted_asarray(obj, *args, **kwargs):
        counts["writes"] += not (_backend.is_array(obj) and not isinstance(obj, np.ndarray))
        return real_asarray(obj, *args, **kwargs)
    be.xp.asarray = counted_asarray
    X, y = mnist_data()
    seen = {}
    for epochs in (2, 4):
        counts.update(reads=0, writes=0)
        net = anynet.train(X, y, hidden=SIZES[1:-1], loss="cross_entropy", epochs=epochs,
                           batch_size=128, backend=be, dtype="float32", verbose=False)
        seen[epochs] = dict(counts)
    Xd = be.xp.asarray(X[:1000], device=be.device)
    result = {f"per epoch ({len(range(0, len(X), 128))} batches), reads":
              (seen[4]["reads"] - seen[2]["reads"]) / 2,
              "per epoch, writes": (seen[4]["writes"] - seen[2]["writes"]) / 2,
              "set-up of a run, reads": seen[2]["reads"] - (seen[4]["reads"] - seen[2]["reads"]),
              }
    for check in (False, True):
        counts.update(reads=0, writes=0)
        net.predict(Xd, check_finite=check)
        result[f"predict on device data (check_finite={check}), reads/writes"] = \
            f"{counts['reads']}/{counts['writes']}"
    be.xp.asarray = real_asarray
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5,
                        help="turns: each ratio is the median (and range) over them")
    parser.add_argument("--only", default="mnist,tutorial,wide,jax,mpi,gpu")
    parser.add_argument("--same-allocator", action="store_true",
                        help="run the peers with the glibc malloc thresholds anynet.train sets")
    parser.add_argument("--peers", default="floor,torch,sklearn",
                        help="mnist-shaped's peers: floor (the GEMM floor), torch, sklearn")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global SAME_ALLOCATOR, PEERS
    SAME_ALLOCATOR = args.same_allocator
    PEERS = tuple(args.peers.split(","))
    if args.worker:
        return worker(json.loads(args.worker))
    print(f"anynet {anynet.__version__}, numpy {np.__version__}, {os.cpu_count()} cores")
    print(f"{'workload':13s} {'what':34s} {'time':>13s}  {'anynet/peer':>7s}")
    benches = {"mnist": bench_mnist, "tutorial": bench_tutorial, "wide": bench_wide,
               "jax": bench_jax, "mpi": bench_mpi, "gpu": bench_gpu}
    for name in args.only.split(","):
        benches[name](args.repeats)


if __name__ == "__main__":
    main()
