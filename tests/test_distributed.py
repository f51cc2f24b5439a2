"""Data-parallel training on MPI, run as users run it: mpiexec -n 2 python -m mpi4py."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import anynet

def _find_mpiexec():
    """mpiexec on PATH, or beside this Python (where pip puts the mpich package's)."""
    beside = Path(sys.executable).parent / "mpiexec"
    return shutil.which("mpiexec") or (str(beside) if beside.exists() else None)


MPIEXEC = _find_mpiexec()
# the ranks import the anynet under test, not whichever copy is installed
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    filter(None, [str(Path(anynet.__file__).parents[1]), os.environ.get("PYTHONPATH")]))}
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="no MPI here: pip install mpi4py mpich")

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mpi4py import MPI
    import anynet
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, 6))
    y = rng.integers(0, 3, 203)
    options = dict(hidden=(16, 8), epochs=4, batch_size=32, backend="numpy",
                   dtype="float64", verbose=False, validation_split=0.1,
                   optimizer=sys.argv[2], clip_norm=float(sys.argv[3]) or None)
    def fail(epoch, history, network):
        if sys.argv[4] == "fail" and MPI.COMM_WORLD.rank == 1 and epoch == 1:
            raise RuntimeError("rank 1 breaks")
    if sys.argv[4] == "abort" and MPI.COMM_WORLD.rank == 1:  # an error inside a step
        batch, calls = anynet.distributed.MPIContext.batch, []
        def breaking(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 9:
                raise RuntimeError("rank 1 breaks in a step")
            return batch(self, *args, **kwargs)
        anynet.distributed.MPIContext.batch = breaking
    try:
        net = anynet.train(X, y, distributed="mpi", callbacks=[fail], **options)
    except RuntimeError as exc:  # a callback's error: raised on every rank alike
        said = MPI.COMM_WORLD.gather([str(exc), getattr(exc, "all_ranks", False)], root=0)
        if MPI.COMM_WORLD.rank == 0:
            with open(sys.argv[1], "w") as f:
                json.dump({"errors": said}, f)
        sys.exit(0)
    gathered = MPI.COMM_WORLD.gather({k: v.tolist() for k, v in net.items()}, root=0)
    if MPI.COMM_WORLD.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump({"ranks": gathered, "loss": net.history["loss"]}, f)
""")


def _mpiexec(tmp_path, *args, n=2, timeout=120):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py",
                           str(script), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.mark.parametrize("n, optimizer, clip", [(2, "adam", 0), (3, "momentum", 0.5)])
def test_ranks_agree_with_one_process(tmp_path, n, optimizer, clip):
    out = tmp_path / "out.json"
    result = _mpiexec(tmp_path, out, optimizer, clip, "ok", n=n)
    assert result.returncode == 0, result.stderr
    got = json.loads(out.read_text())
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, 6))
    y = rng.integers(0, 3, 203)
    ref = anynet.train(X, y, hidden=(16, 8), epochs=4, batch_size=32, backend="numpy",
                       dtype="float64", verbose=False, validation_split=0.1,
                       optimizer=optimizer, clip_norm=clip or None)
    assert len(got["ranks"]) == n
    for rank in got["ranks"]:
        assert rank == got["ranks"][0]  # all ranks: identical parameters
        for key, want in ref.items():
            np.testing.assert_allclose(rank[key], want, rtol=0, atol=1e-8, err_msg=key)
    np.testing.assert_allclose(got["loss"], ref.history["loss"], rtol=1e-10)


def test_a_callback_raising_on_one_rank_raises_on_every_rank(tmp_path):
    out = tmp_path / "out.json"
    result = _mpiexec(tmp_path, out, "adam", 0, "fail", timeout=60)
    assert result.returncode == 0, result.stderr  # caught on every rank: nothing aborted
    assert json.loads(out.read_text())["errors"] == [["rank 1: rank 1 breaks", True],
                                                     ["rank 1 breaks", True]]


def test_an_error_on_one_rank_stops_them_all(tmp_path):
    result = _mpiexec(tmp_path, tmp_path / "out.json", "adam", 0, "abort", timeout=60)
    assert result.returncode != 0
    assert "rank 1 failed, aborting all ranks" in result.stderr
    assert "rank 1 breaks in a step" in result.stderr


def test_command_line_training_on_two_ranks(tmp_path):
    model = tmp_path / "m.npz"
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", "-m",
                             "anynet", "train", "moons", "--epochs", "5", "--quiet",
                             "--backend", "numpy", "--distributed", "mpi", "-o", str(model)],
                            capture_output=True, text=True, timeout=120, env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("saved") == 1  # rank 0 alone reports and writes
    assert anynet.load(model).layer_sizes == (2, 100, 1)


def test_distributed_needs_a_known_mode():
    with pytest.raises(ValueError, match="distributed='nccl' is not known"):
        anynet.train(np.ones((4, 2)), [0, 1, 0, 1], distributed="nccl", backend="numpy")


# --- each rank passes its own rows (sharded=True) -------------------------------------

SHARD_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, warnings
    import numpy as np
    from mpi4py import MPI
    import anynet
    sys.path.insert(0, sys.argv[3])
    from test_distributed import shard_data
    out, mode, tmp = sys.argv[1], sys.argv[2], sys.argv[4]
    comm = MPI.COMM_WORLD
    X, y, Xv, yv, options = shard_data(mode)
    sharded = not mode.startswith("same-")  # same-*: every rank passes all of the data
    cuts = [50, 50] if mode == "empty" else [50, 53] if comm.size == 3 else [120]
    cut = lambda a, r: np.array_split(a, cuts)[r] if sharded else a
    Xs, ys = cut(X, comm.rank), cut(y, comm.rank)
    if options.get("sample_weight") is not None:  # each rank its own rows' weights
        options["sample_weight"] = cut(options["sample_weight"], comm.rank)
    if mode == "nan" and comm.rank == 1:
        Xs = Xs.copy(); Xs[1, 2] = np.nan
    if mode == "same-mismatch" and comm.rank == 1:
        Xs = Xs + 1.0
    if mode == "same-jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        options["backend"] = "jax"
    if Xv is not None:  # the validation rows are sharded too
        parts = np.array_split(np.arange(len(Xv)), comm.size)[comm.rank] if sharded \
            else np.arange(len(Xv))
        options["validation_data"] = (Xv[parts], yv[parts])
    def on_epoch(epoch, history, network):
        if mode == "stop" and comm.rank == 1 and epoch == 1:
            return True  # rank 1 alone wants to stop
        if mode == "sigint" and comm.rank == 1 and epoch == 0:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches rank 1 alone
    options["callbacks"] = [on_epoch]
    train = lambda **more: anynet.train(Xs, ys, distributed="mpi", sharded=sharded,
                                        **{**options, **more})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ctrl-C's warning, JAX's
            if mode == "resume":  # the checkpoint on a disk only rank 0 sees
                path = os.path.join(tmp, f"rank{comm.rank}", "ck.npz")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                train(epochs=2, checkpoint=path)
                net = train(checkpoint=path, resume=True)
            else:
                net = train()
    except (ValueError, TypeError, FloatingPointError) as exc:
        result = {"error": str(exc), "type": type(exc).__name__,
                  "all_ranks": getattr(exc, "all_ranks", False)}
    else:
        result = {"params": {k: np.asarray(v).tolist() for k, v in net.items()},
                  "history": {k: net.history[k] for k in ("loss", "val_loss", "val_metric")},
                  "distributed": net.history["distributed"]}
    gathered = comm.gather(result, root=0)
    if comm.rank == 0:
        with open(out, "w") as f:
            json.dump(gathered, f)
""")


def shard_data(mode):
    """The whole dataset of a sharded run, and the options of its single-process twin."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((203, 5))
    options = dict(hidden=(12,), epochs=3, batch_size=24, backend="numpy", dtype="float64",
                   verbose=False, optimizer="adam", shuffle=mode != "noshuffle")
    if mode in ("regress", "sse", "same-sse", "diverge"):
        y = X @ rng.standard_normal((5, 2)) + 0.1 * rng.standard_normal((203, 2)) + 3.0
    else:
        y = rng.integers(0, 3, 203)
        y[50:53] = 0  # the middle rank of three holds one class only
    Xv = yv = None
    if mode in ("classify", "regress", "noshuffle", "same-jax"):
        Xv = rng.standard_normal((41, 5))
        yv = (Xv @ rng.standard_normal((5, 2)) + 3.0) if mode == "regress" \
            else rng.integers(0, 3, 41)
    if mode == "split":
        options["validation_split"] = 0.2
    if mode == "standardize":  # the means and scales of every rank's rows together
        X = X * [1.0, 10.0, 100.0, 0.1, 1.0] + 5.0
        options["standardize"] = True
    if mode in ("weights", "same-weights"):  # each batch's weight sum spans the ranks
        weights = rng.random(203) * 2.0
        weights[40:60] = 0.0  # some batches weigh nothing on one rank
        # and dropout's masks follow the rows, however the rows are sharded
        options.update(sample_weight=weights, alpha=0.01, dropout=0.3)
    if mode in ("sse", "same-sse"):  # a loss summed over the samples, not averaged
        options.update(loss="sse", optimizer="sgd", learning_rate=1e-3)
    if mode == "stop":
        options["epochs"] = 5
    if mode == "diverge":
        options.update(optimizer="sgd", learning_rate=1e3)
    return X, y, Xv, yv, options


def _run_shards(tmp_path, mode, n):
    script = tmp_path / "shards.py"
    script.write_text(SHARD_SCRIPT)
    out = tmp_path / "out.json"
    result = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, "-m", "mpi4py",
                             str(script), str(out), mode, str(Path(__file__).parent),
                             str(tmp_path)],
                            capture_output=True, text=True, timeout=120, env=ENV)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def _assert_like_one_process(ranks, mode, **changes):
    """Every rank holds the same result, that of one process on all of the data."""
    X, y, Xv, yv, options = shard_data(mode)
    options.update(changes, callbacks=())
    if mode == "same-jax":
        options["backend"] = "numpy"  # JAX's ranks against NumPy's one process
    ref = anynet.train(X, y, validation_data=None if Xv is None else (Xv, yv), **options)
    for got in ranks:
        assert got == ranks[0]  # identical parameters and figures on every rank
        for key, want in ref.items():
            np.testing.assert_allclose(got["params"][key], want, rtol=0, atol=1e-8,
                                       err_msg=key)
        for key in ("loss", "val_loss", "val_metric") if Xv is not None else ("loss",):
            # the validation figures are those of every rank's validation rows together
            np.testing.assert_allclose(got["history"][key], ref.history[key], rtol=1e-9,
                                       err_msg=key)
    return ref


@pytest.mark.parametrize("mode, n", [("classify", 3), ("regress", 2), ("noshuffle", 3),
                                     ("sse", 3), ("same-sse", 3), ("same-jax", 2),
                                     ("standardize", 3), ("weights", 3), ("same-weights", 2)])
def test_shards_train_like_one_process_on_the_whole_dataset(tmp_path, mode, n):
    if mode == "same-jax":
        pytest.importorskip("jax")
    ranks = _run_shards(tmp_path, mode, n)
    _assert_like_one_process(ranks, mode)
    assert {k: ranks[0]["distributed"][k] for k in ("ranks", "sharded", "gradients")} == \
        {"ranks": n, "sharded": not mode.startswith("same-"), "gradients": "host"}


def test_a_callback_stopping_one_rank_stops_them_all(tmp_path):
    ranks = _run_shards(tmp_path, "stop", 3)
    _assert_like_one_process(ranks, "stop", epochs=2)  # rank 1 stopped after epoch 1


def test_ctrl_c_on_one_rank_stops_every_rank_after_the_same_batch(tmp_path):
    ranks = _run_shards(tmp_path, "sigint", 3)
    for got in ranks:
        assert got == ranks[0] and len(got["history"]["loss"]) == 1


def test_resuming_takes_rank_0s_checkpoint_to_every_rank(tmp_path):
    ranks = _run_shards(tmp_path, "resume", 2)  # 2 epochs, then resumed to 3
    assert not (tmp_path / "rank1" / "ck.npz").exists()  # rank 0 alone writes
    _assert_like_one_process(ranks, "resume")
    assert ranks[0]["distributed"]["ranks"] == 2


def test_divergence_is_raised_on_every_rank_and_can_be_caught(tmp_path):
    ranks = _run_shards(tmp_path, "diverge", 2)
    for got in ranks:
        assert got["type"] == "DivergenceError" and got["all_ranks"], got
        assert got["error"] == ranks[0]["error"]


def test_an_empty_shard_is_named(tmp_path):
    ranks = _run_shards(tmp_path, "empty", 3)
    assert ranks[1]["error"].startswith("X has no rows on this rank")
    assert ranks[0]["error"].startswith("rank 1: X has no rows on this rank")


def test_ranks_passing_different_data_without_sharded_are_told(tmp_path):
    ranks = _run_shards(tmp_path, "same-mismatch", 2)
    for got in ranks:
        assert "the ranks passed different X or y" in got["error"] and got["all_ranks"]
        assert "sharded=True" in got["error"]


def test_a_shard_with_nan_raises_the_same_error_on_every_rank(tmp_path):
    ranks = _run_shards(tmp_path, "nan", 2)
    assert ranks[1]["error"] == "X contains NaN or infinity"
    assert ranks[0]["error"] == "rank 1: X contains NaN or infinity"
    assert all(r["all_ranks"] for r in ranks)


def test_shards_hold_out_their_own_validation_rows(tmp_path):
    ranks = _run_shards(tmp_path, "split", 3)
    for got in ranks:
        assert got == ranks[0]
    history = ranks[0]["history"]
    assert all(v is not None and 0.0 <= m <= 1.0
               for v, m in zip(history["val_loss"], history["val_metric"]))


def test_sharded_needs_mpi():
    with pytest.raises(ValueError, match="sharded=True is for distributed='mpi'"):
        anynet.train(np.ones((4, 2)), [0, 1, 0, 1], sharded=True, backend="numpy")
    with pytest.raises(TypeError, match="sharded must be True or False"):
        anynet.train(np.ones((4, 2)), [0, 1, 0, 1], sharded="yes", backend="numpy")


CUPY_SCRIPT = textwrap.dedent("""
    import json, sys
    import cupy
    import numpy as np
    from mpi4py import MPI
    import anynet
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, 6))
    y = rng.integers(0, 3, 203)
    gpu = cupy.cuda.Device(comm.rank % cupy.cuda.runtime.getDeviceCount())
    with gpu:
        net = anynet.train(X, y, hidden=(16, 8), epochs=4, batch_size=32, backend="cupy",
                           device=gpu, dtype="float64", verbose=False, distributed="mpi")
        params = {k: cupy.asnumpy(v).tolist() for k, v in net.items()}
    gathered = comm.gather({"params": params, "distributed": net.history["distributed"]})
    if comm.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(gathered, f)
""")


def test_cupy_ranks_sum_over_nccl_with_a_gpu_each(tmp_path):
    from anynet._backend import cuda_unavailable_reason
    if (reason := cuda_unavailable_reason()) is not None:
        pytest.skip(f"cupy: {reason}")
    import cupy
    gpus = cupy.cuda.runtime.getDeviceCount()
    script, out = tmp_path / "gpu.py", tmp_path / "out.json"
    script.write_text(CUPY_SCRIPT)
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", str(script),
                             str(out)], capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 0, result.stderr
    ranks = json.loads(out.read_text())
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((203, 6)), rng.integers(0, 3, 203)
    ref = anynet.train(X, y, hidden=(16, 8), epochs=4, batch_size=32, backend="numpy",
                       dtype="float64", verbose=False)
    # two GPUs: NCCL; one GPU shared by both ranks: NCCL refuses, so host memory
    transport = "nccl" if gpus >= 2 else "host"
    for got in ranks:
        assert got["distributed"]["gradients"] == transport
        for key, want in ref.items():
            np.testing.assert_allclose(got["params"][key], want, rtol=0, atol=1e-8,
                                       err_msg=key)


THREADS_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mpi4py import MPI
    from threadpoolctl import threadpool_info
    import anynet
    seen = []
    def blas_threads(epoch, history, network):
        seen.extend(pool["num_threads"] for pool in threadpool_info())
    rng = np.random.default_rng(0)
    threads = lambda: {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    before = threads()
    net = anynet.train(rng.standard_normal((64, 4)), rng.integers(0, 2, 64), epochs=2,
                       backend="numpy", verbose=False, distributed="mpi",
                       callbacks=[blas_threads])
    after = threads()  # (libraries loaded since, numba's say, are not the ranks' BLAS)
    result = MPI.COMM_WORLD.gather([net.history["distributed"]["threads_per_rank"], seen,
                                    all(after[k] == v for k, v in before.items())])
    if MPI.COMM_WORLD.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(result, f)
""")


@pytest.mark.parametrize("user_choice", [None, "1"])
def test_ranks_share_the_cores_of_their_machine(tmp_path, user_choice):
    pytest.importorskip("threadpoolctl")
    script, out = tmp_path / "threads.py", tmp_path / "out.json"
    script.write_text(THREADS_SCRIPT)
    env = {k: v for k, v in ENV.items() if k not in anynet.distributed.THREAD_VARIABLES}
    if user_choice is not None:
        env["OMP_NUM_THREADS"] = user_choice
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", str(script),
                             str(out)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    for threads, seen, restored in json.loads(out.read_text()):
        assert restored  # the limit holds while training only
        if user_choice is None:  # two ranks on this machine: half of its cores each
            assert threads == share and seen and set(seen) == {share}
        else:  # the user's OMP_NUM_THREADS is left alone
            assert threads is None


# --- ranks that disagree: every case refused on every rank alike, none hangs --------------

AGREE_SCRIPT = textwrap.dedent("""
    import json, os, sys, warnings
    import numpy as np
    from mpi4py import MPI
    import anynet
    comm = MPI.COMM_WORLD
    out, tmp = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 4)), rng.integers(0, 3, 60)
    mine = comm.rank == 1  # rank 1 alone passes the value that differs
    halves = lambda a: np.array_split(a, comm.size)[comm.rank]
    cases = {
        "learning_rate": dict(learning_rate=0.1 if mine else 0.01),
        "optimizer": dict(optimizer="sgd" if mine else "adam"),
        "epochs": dict(epochs=3 if mine else 2),
        "batch_size": dict(batch_size=16 if mine else 32),
        "standardize": dict(standardize=mine),
        "sharded": dict(sharded=mine),
        "hidden": dict(hidden=(8,) if mine else (16,)),
        "dtype": dict(dtype="float32" if mine else "float64"),
        "seed": dict(seed=int(mine)),
        "shuffle": dict(shuffle=np.random.RandomState(int(mine))),  # another stream
        "lr_schedule": dict(lr_schedule="cosine" if mine else None),
        "resume": dict(checkpoint=os.path.join(tmp, "ck.npz"), resume=not mine),
        "checkpoint": dict(checkpoint=None if mine else os.path.join(tmp, "ck.npz")),
        "sample_weight": dict(sample_weight=np.ones(60) if mine else None),
        "X": dict(X=X.astype(np.float32) if mine else X),
        "X width": dict(X=X[:, :3] if mine else X),
        # what may differ: the callbacks, verbose, the checkpoint's path, the shards' rows
        "ok": dict(callbacks=[lambda e, h, n: None] if mine else [],
                   verbose=False, checkpoint=os.path.join(tmp, f"ok{comm.rank}.npz"),
                   X=halves(X), y=halves(y), sharded=True),
    }
    gone = os.path.join(tmp, "gone")
    os.makedirs(gone, exist_ok=True)
    def remove_folder(epoch, history, network):  # rank 0's disk loses the folder
        if comm.rank == 0:
            import shutil
            shutil.rmtree(gone, ignore_errors=True)
    cases["write fails"] = dict(checkpoint=os.path.join(gone, "ck.npz"),
                                callbacks=[remove_folder])
    results = {}
    for name, change in cases.items():
        options = dict(X=X, y=y, hidden=(16,), epochs=2, batch_size=32, backend="numpy",
                       dtype="float64", verbose=False, distributed="mpi")
        options.update(change)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = anynet.train(options.pop("X"), options.pop("y"), **options)
            results[name] = {"params": {k: np.asarray(v).tolist() for k, v in net.items()}}
        except (ValueError, TypeError) as exc:
            results[name] = {"type": type(exc).__name__, "error": str(exc),
                             "all_ranks": getattr(exc, "all_ranks", False)}
    gathered = comm.gather(results, root=0)
    if comm.rank == 0:
        with open(out, "w") as f:
            json.dump(gathered, f)
""")

#: each case: what the refusal must say, the option and its value on each rank
DISAGREEMENTS = {
    "learning_rate": "learning_rate: 0.01 on rank 0; 0.1 on rank 1",
    "optimizer": "optimizer: 'adam' on rank 0; 'sgd' on rank 1",
    "epochs": "epochs: 2 on rank 0; 3 on rank 1",
    "batch_size": "batch_size: 32 on rank 0; 16 on rank 1",
    "standardize": "standardize: False on rank 0; True on rank 1",
    "sharded": "sharded: False on rank 0; True on rank 1",
    "hidden": "hidden: [16] on rank 0; [8] on rank 1",
    "dtype": "dtype: float64 on rank 0; float32 on rank 1",
    "seed": "seed: 0 on rank 0; 1 on rank 1",
    "shuffle": "shuffle: a RandomState in state ",
    "lr_schedule": "lr_schedule: None on rank 0; 'cosine' on rank 1",
    "resume": "resume: True on rank 0; False on rank 1",
    "checkpoint": "checkpoint: True on rank 0; False on rank 1",
    "sample_weight": "sample_weight: False on rank 0; True on rank 1",
    "X": "X: shape (n, 4) of float64 on rank 0; shape (n, 4) of float32 on rank 1",
    "X width": "X: shape (n, 4) of float64 on rank 0; shape (n, 3) of float64 on rank 1",
}


def test_ranks_given_different_runs_all_stop_naming_what_differs(tmp_path):
    script, out = tmp_path / "agree.py", tmp_path / "out.json"
    script.write_text(AGREE_SCRIPT)
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", str(script),
                             str(out), str(tmp_path)],
                            capture_output=True, text=True, timeout=180, env=ENV)
    assert result.returncode == 0, result.stderr  # no abort, no "Message truncated"
    ranks = json.loads(out.read_text())
    for name, said in DISAGREEMENTS.items():
        got = [r[name] for r in ranks]
        for g in got:  # the same ValueError on every rank, naming the option and values
            assert g.get("type") == "ValueError" and g["all_ranks"], (name, g)
            assert g["error"] == got[0]["error"], name
        assert said in got[0]["error"], (name, got[0]["error"])
        assert got[0]["error"].startswith("the MPI ranks were given different runs"), name
        assert " | " not in got[0]["error"].split(". With")[0] or name in (
            "checkpoint", "resume"), (name, got[0]["error"])  # only what differs
    # rank 0 failing to write its checkpoint stops every rank with its error
    failed = [r["write fails"] for r in ranks]
    assert all(f.get("type") == "ValueError" and f["all_ranks"] for f in failed), failed
    assert len(failed) == 2 and failed[0]["error"].startswith("cannot write "), failed
    assert failed[1]["error"] == "rank 0: " + failed[0]["error"]
    # what may differ between the ranks trains, to the same parameters everywhere
    assert "params" in ranks[0]["ok"], ranks[0]["ok"]
    assert ranks[0]["ok"] == ranks[1]["ok"]
    assert not (tmp_path / "ok1.npz").exists() and (tmp_path / "ok0.npz").exists()
    assert not list(tmp_path.glob(".*.lock"))  # the lock was let go


def test_command_line_ranks_stop_together_when_one_cannot_read_its_file(tmp_path):
    """mpiexec's MPMD form gives each rank its own file: one good, one missing, one with
    a NaN cell. Every rank stops with a one-line error within the timeout: none waits."""
    good, nan = tmp_path / "good.csv", tmp_path / "nan.csv"
    rows = "\n".join(f"{i % 7},{i % 5},{i % 2}" for i in range(40))
    good.write_text("a,b,y\n" + rows + "\n")
    nan.write_text("a,b,y\n" + rows + "\n3,nan,1\n")

    def command(data, out):
        return ["-n", "1", sys.executable, "-m", "mpi4py", "-m", "anynet", "train", str(data),
                "--target", "y", "--epochs", "2", "--quiet", "--backend", "numpy",
                "--distributed", "mpi", "-o", str(out)]
    result = subprocess.run([MPIEXEC, *command(good, tmp_path / "m0.npz"), ":",
                             *command(tmp_path / "missing.csv", tmp_path / "m1.npz"), ":",
                             *command(nan, tmp_path / "m2.npz")],
                            capture_output=True, text=True, timeout=120, env=ENV)
    assert result.returncode != 0
    errors = ["anynet: error" + e for e in result.stderr.split("anynet: error")[1:]]
    assert len(errors) == 3, result.stderr  # every rank said it before any exited
    # rank 1 its own error, rank 2 its own, rank 0 the first failing rank's
    assert sum("anynet: error: rank 1: " in e and "missing.csv" in e for e in errors) == 1
    assert sum("missing.csv' is neither a file" in e for e in errors) == 2, errors
    assert sum("nan.csv, row 42, column 'b'" in e for e in errors) == 1, errors
    assert "aborting" not in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("m*.npz"))
