"""scripts/: the benchmark needs nothing outside the repository."""
import contextlib
import importlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import anynet

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_the_tutorial_reference_is_the_tutorials_network():
    """scripts/tutorial_reference.py (what benchmark.py times) steps exactly as anynet's
    tutorial functions, which test_network.py checks against the tutorial's own output."""
    spec = importlib.util.spec_from_file_location("tutorial_reference",
                                                  SCRIPTS / "tutorial_reference.py")
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = tutorial.train_network(X, y, 2, 2, 1, 300, 0.1)
    ours = anynet.train_network(X, y, 2, 2, 1, 300, 0.1, loss="sse", verbose=False)
    for key in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, atol=1e-14)


def test_the_benchmark_reads_nothing_outside_the_repository():
    source = (SCRIPTS / "benchmark.py").read_text()
    assert "parents[2]" not in source and "shared" not in source
    assert "import tutorial_reference" in source


def _benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPTS / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_judges_the_median_of_each_turns_ratio(capsys):
    """A peer whose time swings: the verdict follows the turns' ratios (anynet over
    the peer measured beside it), not the ratio of two medians taken apart."""
    bench = _benchmark()
    times = {"anynet": [2.0, 3.0, 1.0, 4.0, 2.2], "floor": [1.0, 2.0, 0.5, 2.0, 1.0]}
    bench.report_turns("w", "anynet", times, {"floor": 1.9})
    (_, _, ours, _, _), (_, name, floor, ratio, verdict) = bench.ROWS[-2:]
    assert (ours, name, floor) == (2.2, "floor", 1.0)  # medians: 2.2x apart
    assert ratio.split() == ["2.00x", "(1.50-2.20)"]  # the turns: 2, 1.5, 2, 2, 2.2
    assert verdict == "MISSES target (<= 1.9x)"
    bench.report_turns("w", "anynet", {"anynet": [1.0], "floor": [1.0]}, {"floor": 1.9})
    assert bench.ROWS[-1][4] == "meets target (<= 1.9x)"


def _a_gpu_is_usable():
    from anynet._backend import cuda_unavailable_reason
    if cuda_unavailable_reason() is None:
        return True
    torch, jax = (importlib.import_module(name) if importlib.util.find_spec(name) else None
                  for name in ("torch", "jax"))
    return bool((torch is not None and torch.cuda.is_available())
                or (jax is not None and any(d.platform == "gpu" for d in jax.devices())))


def test_gpu_check_runs_here_and_says_why_it_skips_the_gpu_parts(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("scripts/gpu_check.sh needs bash")
    if _a_gpu_is_usable():
        pytest.skip("a GPU is usable here: run scripts/gpu_check.sh itself")
    report = tmp_path / "report.txt"
    wheels = tmp_path / "wheels"  # empty: nothing is missing from the test environment
    wheels.mkdir()
    result = subprocess.run(["bash", str(SCRIPTS / "gpu_check.sh"), str(wheels), str(report)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    text = report.read_text()
    for line in ("## nothing to install", "numpy             " + np.__version__,
                 "cupy: skipped: ", "torch-cuda: skipped: ", "jax: skipped: ",
                 "## tests: skipped: no GPU backend is usable here",
                 "gpu           skipped: ", "tests exit status 0, benchmark exit status 0"):
        assert line in text, text
