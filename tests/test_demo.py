"""The README's main command: the demo trains both networks and reports."""
import subprocess
import sys

import pytest


def _run(*args):
    return subprocess.run([sys.executable, "-m", "anynet", *args], capture_output=True,
                          text=True, timeout=300)


def test_demo_shows_the_tutorial_failing_and_anynet_solving_xor():
    result = _run("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("XOR solved: no") == 1 and out.count("XOR solved: yes") == 1
    assert out.index("XOR solved: no") < out.index("XOR solved: yes")
    assert "0.0530" in out and "0.4955" in out  # the tutorial's predictions
    if "skipped" not in out:  # part 3 needs scikit-learn's digits
        accuracy = float(out.split("test accuracy: ")[1].split()[0])
        assert accuracy > 0.95


@pytest.mark.parametrize("backend, shown", [("torch", "torch on cpu"), ("jax", "jax on")])
def test_demo_on_another_backend(backend, shown):
    pytest.importorskip(backend)
    result = _run("demo", "--backend", backend)
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout and "XOR solved: yes" in result.stdout


def test_demo_with_a_bad_backend_is_one_line_on_stderr():
    result = _run("demo", "--backend", "tensorflow")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "anynet: error: backend='tensorflow' is not known; use one of 'numpy', 'cupy', "
        "'torch', 'jax', 'array_api_strict', 'auto' or a namespace module"]


def test_every_name_the_readme_uses_is_there_after_import_anynet():
    # a fresh interpreter: in this one, other tests have imported the submodules already
    import re
    from pathlib import Path
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", readme, re.S))
    used = "\n".join(line for line in code.splitlines()
                     if not line.lstrip().startswith(("import ", "from ")))
    names = sorted(set(re.findall(r"\banynet(?:\.[A-Za-z_]+)+", used)))
    assert {"anynet.datasets.digits", "anynet.train"} <= set(names)
    check = "import anynet, operator\n" + "".join(
        f"operator.attrgetter({n.split('.', 1)[1]!r})(anynet)\n" for n in names)
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
