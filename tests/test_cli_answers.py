"""The command line never gives a silently wrong answer (issue 18): targets of any
size regress, a run that diverges saves nothing, and ``anynet info`` tells the truth."""
import re
import subprocess
import sys

import numpy as np
import pytest

import anynet
from test_cli import _one_error_line, run_many


def _regression(path, scale, offset, seed=0, n=400):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) * [1.0, 30.0, 1e3]
    y = (X / [1.0, 30.0, 1e3]) @ [1.0, -2.0, 0.5] + 0.2 * np.sin(X[:, 0])
    y = (y + 0.05 * rng.standard_normal(n)) * scale + offset
    np.savez(path, X=X, y=y)
    A = np.c_[X, np.ones(n)]
    fit = A @ np.linalg.lstsq(A, y, rcond=None)[0]
    return 1 - np.sum((y - fit) ** 2) / np.sum((y - y.mean()) ** 2)


@pytest.mark.parametrize("scale, offset", [(1e5, 3e5), (1e-7, 0.0), (1e-7, 5e-6), (1.0, 0.0)])
def test_targets_of_any_size_regress_as_well_as_a_linear_fit(tmp_path, scale, offset):
    data, model = tmp_path / "prices.npz", tmp_path / "m.npz"
    linear = _regression(data, scale, offset)
    trained, scored = run_many(
        ["train", data, "-o", model, "--quiet", "--backend", "numpy", "--epochs", "60"],
        ["evaluate", model, data])
    assert trained.returncode == 0, trained.stderr
    assert scored.returncode == 0, scored.stderr
    r2 = float(re.search(r"R\^2 (-?[\d.]+)", scored.stdout).group(1))
    assert r2 > linear - 0.02, (r2, linear)
    net = anynet.load(model)  # the scaling is the model's own: Python predicts alike
    assert net.target_scaling is not None
    with np.load(data) as f:
        assert net.score(f["X"], f["y"]) == pytest.approx(r2, abs=1e-4)


def test_a_run_that_diverges_saves_nothing(tmp_path):
    data, model = tmp_path / "prices.npz", tmp_path / "m.npz"
    _regression(data, 1e5, 3e5)
    results = run_many(*[["train", source, "-o", model, "--quiet", "--backend", "numpy",
                          "--epochs", "30", "--lr", "1e6", *extra]
                         for source, extra in [(data, []), ("moons", []),
                                               (data, ["--optimizer", "sgd"]),
                                               ("spirals", []),
                                               ("circles", ["--optimizer", "sgd"])]])
    for result in results:
        _one_error_line(result, "training diverged", "try a smaller --lr than 1e+06",
                        "Nothing was saved")
        assert "saved" not in result.stdout and "trained" not in result.stdout
    assert not model.exists()
    fine = run_many(["train", "moons", "-o", model, "--quiet", "--backend", "numpy",
                     "--epochs", "30", "--lr", "0.05"])[0]
    assert fine.returncode == 0 and model.exists(), fine.stderr


def test_python_refuses_nothing_the_command_line_checks():
    """The guard is the command line's: anynet.train returns what it trained (the user
    can look at its history), and raises DivergenceError only for NaN or infinity."""
    X = np.random.default_rng(0).standard_normal((50, 2))
    net = anynet.train(X, X @ [1e5, 2e5], learning_rate=1e6, epochs=5, backend="numpy",
                       verbose=False, standardize=True)
    assert net.history["loss"][-1] > 100


def test_info_is_fast_and_lists_real_devices():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "anynet", "info"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "numpy             devices: cpu" in done.stdout
    # the devices are read without importing what lists them slowly
    for heavy in ("torch", "jax", "sklearn", "scipy", "matplotlib"):
        assert heavy not in imported, heavy
    assert "meta" not in done.stdout
    assert re.search(r"backend='auto' picks: (numpy|cupy)", done.stdout)
