"""The layers of anynet: data flows one way, and no module reaches up.

Each module may import (at its top or inside a function) only from modules of
lower layers; ``array_api_compat`` only in ``_backend``. docs: README,
"Architecture".
"""
import ast
from pathlib import Path

import pytest

import anynet

PACKAGE = Path(anynet.__file__).parent

LAYERS = [
    ["_version", "_backend", "_npz", "_files", "_probe"],  # _backend: the array libraries
    ["activations", "initializers", "_params", "progress", "_csv", "_tables"],
    ["losses", "metrics", "_nccl", "datasets", "line_search", "_onnx_graph"],
    ["tasks"],  # the one table: what each loss means for a task
    ["_checks", "propagation", "_dask"],
    ["_description"],  # what a file says of a network (seeds bounded as _checks bounds them)
    ["steps", "quasi_newton"],  # the steps as pure functions; L-BFGS over a flat vector
    ["model"],  # Network: parameters and configuration
    ["network", "optimizers", "schedules", "plotting"],  # the seven functions
    ["_optimizer_files", "_fingerprint"],  # what a file records of an optimizer, of a run
    ["persistence", "_accelerate", "export"],
    ["checkpoints", "distributed", "_run_data", "_arguments",  # a run's state and parts
     "_cli_columns"],  # and the command line's record of a file's columns
    ["objective"],  # the whole training loss over a flat vector (L-BFGS's)
    ["training", "_skl2onnx"],
    ["sklearn", "demo", "_cli", "_cli_model"],
    ["_cli_export"],  # reads old models' scaling as the other commands read it
    ["__init__"],
    ["__main__"],
]
LAYER = {module: depth for depth, modules in enumerate(LAYERS) for module in modules}


def _anynet_imports(path):
    """(line, module) for every import of an anynet module in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.append((node.lineno, node.module.split(".")[0]))
            elif node.level == 1:  # from . import a, b
                found += [(node.lineno, alias.name) for alias in node.names]
            elif node.level == 0 and (node.module or "").startswith("anynet."):
                found.append((node.lineno, node.module.split(".")[1]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1]) for a in node.names
                      if a.name.startswith("anynet.")]
    return found


def test_every_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == set(LAYER), modules ^ set(LAYER)


@pytest.mark.parametrize("module", sorted(LAYER))
def test_no_module_imports_from_a_layer_above_it(module):
    path = PACKAGE / f"{module}.py"
    for line, imported in _anynet_imports(path):
        if imported == "__version__":
            imported = "__init__"
        assert LAYER[imported] < LAYER[module], (
            f"anynet/{module}.py:{line} imports {imported}, which is not in a lower layer")


def test_array_api_compat_is_imported_in_one_module():
    users = sorted(p.stem for p in PACKAGE.glob("*.py")
                   if "array_api_compat" in {n.split(".")[0] for n in _imported_names(p)})
    assert users == ["_backend"]


def _imported_names(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_the_training_loop_has_no_mpi_branches():
    """One code path: the communicator's collectives are the identity on one process."""
    source = (PACKAGE / "training.py").read_text()
    conditions = [ast.get_source_segment(source, node.test)
                  for node in ast.walk(ast.parse(source))
                  if isinstance(node, (ast.If, ast.IfExp, ast.While))]
    assert conditions and not [c for c in conditions
                               if any(w in c.lower() for w in ("mpi", "rank", ".size"))]
