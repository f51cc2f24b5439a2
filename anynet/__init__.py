"""anynet: the tutorial's neural network, on any Array API backend."""
from ._backend import BACKENDS, Backend, resolve_backend
from .network import (Network, backward_propagation, compute_loss, forward_propagation,
                      initialize_network, predict, train_network, update_parameters)

__version__ = "0.1.0"

__all__ = [
    "BACKENDS", "Backend", "Network", "backward_propagation", "compute_loss",
    "forward_propagation", "initialize_network", "predict", "resolve_backend",
    "train_network", "update_parameters", "__version__",
]
