"""Data-parallel training on MPI, run as users run it: mpiexec -n 2 python -m mpi4py."""
import importlib.util
import json
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
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="no MPI here: pip install anynet[mpi] (mpi4py with the mpich package)")

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
    net = anynet.train(X, y, distributed="mpi", callbacks=[fail], **options)
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
                          capture_output=True, text=True, timeout=timeout)


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


def test_an_error_on_one_rank_stops_them_all(tmp_path):
    result = _mpiexec(tmp_path, tmp_path / "out.json", "adam", 0, "fail", timeout=60)
    assert result.returncode != 0
    assert "rank 1 failed, aborting all ranks" in result.stderr
    assert "rank 1 breaks" in result.stderr


def test_command_line_training_on_two_ranks(tmp_path):
    model = tmp_path / "m.npz"
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", "-m",
                             "anynet", "train", "moons", "--epochs", "5", "--quiet",
                             "--backend", "numpy", "--distributed", "mpi", "-o", str(model)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("saved") == 1  # rank 0 alone reports and writes
    assert anynet.load(model).layer_sizes == (2, 100, 1)


def test_distributed_needs_a_known_mode():
    with pytest.raises(ValueError, match="distributed='nccl' is not known"):
        anynet.train(np.ones((4, 2)), [0, 1, 0, 1], distributed="nccl", backend="numpy")
