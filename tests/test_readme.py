"""The README's examples in the sections of the command line, saving, Dask and
scikit-learn run as written, and its synopsis gives the command's real defaults."""
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import anynet

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _python_block(heading):
    """The first ```python block after ``heading``."""
    section = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_dask_example_runs_without_extra_packages(tmp_path, monkeypatch):
    pytest.importorskip("dask.array")
    X = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)
    np.save(tmp_path / "features.npy", X)
    net = anynet.train(X, (X[:, 0] > 0).astype(int), hidden=(8,), epochs=2,
                       backend="numpy", verbose=False)
    monkeypatch.chdir(tmp_path)
    exec(_python_block("### Inference over Dask arrays"), {"anynet": anynet, "net": net})
    np.testing.assert_allclose(np.load(tmp_path / "predictions.npy"), net.predict(X),
                               rtol=1e-6)


def test_the_sklearn_example_runs_on_a_laptop():
    """No backend="cupy" in it: it must run where there is no GPU."""
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    code = _python_block("## scikit-learn estimators")
    assert 'backend="cupy")' not in code.split("#")[0]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    namespace = {"X": X, "y": (X[:, 0] > 0).astype(int)}
    small = "MLPClassifier(hidden_layer_sizes=(8,), max_iter=5)"
    assert "MLPClassifier(hidden_layer_sizes=(64,))" in code
    with warnings.catch_warnings():  # 5 epochs do not converge: said, not failed
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(code.replace("MLPClassifier(hidden_layer_sizes=(64,))", small), namespace)


def test_the_synopsis_gives_the_real_defaults():
    import argparse
    from anynet.__main__ import _parser
    commands = next(a for a in _parser()._actions
                    if isinstance(a, argparse._SubParsersAction)).choices
    synopsis = README[README.index("- `anynet train DATA"):README.index("DATA is a CSV")]
    shown = dict(re.findall(r"\[(--[a-z-]+) ([^\] .]+(?:\.\d+)?)\]", synopsis))
    assert len(shown) >= 15, shown
    defaults = {a.option_strings[-1]: a.default for a in commands["train"]._actions
                if a.option_strings}
    for option, value in shown.items():
        if option in ("--target", "--checkpoint", "--plot", "--distributed",
                      "--weight-decay", "--dropout"):
            continue  # shown with a placeholder: no default
        assert str(defaults[option]) == value, (option, value, defaults[option])
