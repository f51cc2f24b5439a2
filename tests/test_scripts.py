"""scripts/: the benchmark needs nothing outside the repository."""
import contextlib
import importlib.util
import io
from pathlib import Path

import numpy as np

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
