"""anynet: the tutorial's neural network, on any Array API backend."""
from . import datasets, optimizers, schedules
from ._backend import BACKENDS, Backend, resolve_backend
from ._version import __version__
from .export import check_onnx, to_onnx
from .model import Network
from .network import (backward_propagation, compute_loss, forward_propagation,
                      initialize_network, predict, train_network, update_parameters)
from .persistence import load, save
from .plotting import plot_history
from .training import DivergenceError, train

__all__ = [
    "BACKENDS", "Backend", "DivergenceError", "Network", "backward_propagation", "check_onnx",
    "compute_loss", "datasets", "forward_propagation", "initialize_network", "load",
    "optimizers", "plot_history", "predict", "resolve_backend", "save", "schedules", "to_onnx",
    "train", "train_network", "update_parameters", "__version__",
]
