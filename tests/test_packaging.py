"""The distribution's name and the hints that tell a user what to install."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_the_distribution_is_not_pypis_other_anynet():
    """`pip install anynet` resolves to an unrelated project on PyPI; this one is
    anynet-mlp (404 on pypi.org/simple/anynet-mlp/ when chosen), imported as anynet."""
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "anynet-mlp"
    assert project["scripts"] == {"anynet": "anynet.__main__:main"}


def test_install_hints_name_real_packages():
    """`pip install anynet[plot]` would fetch the other project: hints name the
    package itself (pip install matplotlib, safetensors, scikit-learn)."""
    files = ["__main__.py", "_cli.py", "_cli_model.py", "_csv.py", "_dask.py", "_description.py",
             "_files.py", "_npz.py", "_tables.py", "datasets.py", "persistence.py"]
    for name in files:
        text = (ROOT / "anynet" / name).read_text()
        assert not re.search(r"anynet\[", text), name
    assert "pip install scikit-learn" in (ROOT / "anynet" / "datasets.py").read_text()
    assert "pip install safetensors" in (ROOT / "anynet" / "persistence.py").read_text()
    assert "pip install matplotlib" in (ROOT / "anynet" / "_cli.py").read_text()
