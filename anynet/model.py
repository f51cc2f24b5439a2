"""``Network``: a network's parameters, in the tutorial's dict, with its configuration.

The functions of ``anynet.network`` take and return it; ``anynet.train`` adds
its history, optimizer and classes, and the estimator-style methods
(``predict``, ``predict_classes``, ``score``) below.
"""
import numpy as np

from ._backend import to_numpy
from .activations import ACTIVATIONS


class Network(dict):
    """A network's parameters, indexed like the tutorial's dict, and its configuration.

    ``net["W1"] ... net["WL"]`` have shape (n_in, n_out) and ``net["b1"] ...
    net["bL"]`` shape (1, n_out), all arrays of ``net.xp`` on ``net.device``
    with dtype ``net.dtype``. The attributes below are everything the
    functions of this module need besides the parameters.

    Attributes
    ----------
    layer_sizes : tuple of int
        (n_inputs, hidden sizes..., n_outputs).
    activation, output_activation : str
        Activation of the hidden layers and of the output layer.
    loss : str
        The loss that ``backward_propagation`` differentiates.
    init, seed : str, int
        How the weights were drawn.
    backend : Backend
        The backend's name, its Array API namespace ``xp`` and the device.
    dtype : str
        "float32" or "float64".
    layers : tuple
        Per layer (1..L): the names of W and b and the activation's
        (forward, backward) functions. The configuration is fixed at creation.
    classes : tuple or None
        Class labels in output order, for classifiers made by ``anynet.train``.
    history : dict or None
        Per-epoch figures of the last ``anynet.train`` run.
    optimizer : Optimizer or None
        The optimizer of the last ``anynet.train`` run, with its state.
    metadata : dict
        Free-form JSON-serialisable notes saved with the network (the command
        line keeps its feature names and standardisation here).
    """

    def __init__(self, params, *, layer_sizes, activation, output_activation, loss,
                 init, seed, backend, dtype, classes=None):
        super().__init__(params)
        self.classes = None if classes is None else tuple(classes)
        self.history = None
        self.optimizer = None
        self.metadata = {}
        self.layer_sizes = tuple(layer_sizes)
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.init = init
        self.seed = seed
        self.backend = backend
        self.dtype = dtype
        # per layer: parameter names and the activation's (forward, backward) pair,
        # looked up once here rather than on every step of a training loop
        self.layers = tuple(
            (f"W{layer}", f"b{layer}", *ACTIVATIONS[self.layer_activation(layer)])
            for layer in range(1, self.n_layers + 1))

    @property
    def xp(self):
        return self.backend.xp

    @property
    def device(self):
        return self.backend.device

    @property
    def n_layers(self):
        """Number of weight layers L (hidden layers + output layer)."""
        return len(self.layer_sizes) - 1

    def layer_activation(self, layer):
        """The activation of layer ``layer`` (1..L)."""
        return self.output_activation if layer == self.n_layers else self.activation

    @property
    def config(self):
        """The configuration as plain Python values (JSON-serialisable)."""
        return {"layer_sizes": list(self.layer_sizes), "activation": self.activation,
                "output_activation": self.output_activation, "loss": self.loss,
                "init": self.init, "seed": self.seed, "dtype": self.dtype,
                "classes": None if self.classes is None else list(self.classes)}

    def copy(self):
        """A deep copy: new parameter arrays on the same backend and device."""
        params = {k: self.xp.asarray(v, copy=True) for k, v in self.items()}
        twin = Network(params, backend=self.backend, **self.config)
        twin.history = self.history
        twin.metadata = dict(self.metadata)
        return twin

    def __reduce__(self):
        """Pickle with host copies of the parameters; the optimizer is not kept."""
        params = {k: to_numpy(v) for k, v in self.items()}
        return _rebuild, (params, self.config, self.backend, self.history, self.metadata)

    # --- the estimator-style methods of anynet.train's networks ---------------------

    def predict(self, X):
        """The output layer's activations for X, as ``anynet.predict(self, X)``."""
        from .network import predict
        return predict(self, X)

    def predict_classes(self, X):
        """Predicted class labels, a host NumPy array of shape (n_samples,)."""
        return np.asarray(self._classes())[self._class_indices(X)]

    def score(self, X, y):
        """Accuracy for a classifier, R^2 (averaged over outputs) for a regressor.

        Computed on the host in float64, as scikit-learn's ``score``.
        """
        from .metrics import r2
        from .tasks import Task, class_indices, host_targets
        y = host_targets(y)
        if self.loss in ("cross_entropy", "binary_cross_entropy"):
            task = Task(self.loss, self.output_activation, self.layer_sizes[-1],
                        self._classes())
            truth, predicted = class_indices(y, task), self._class_indices(X)
            if truth.shape != predicted.shape:
                raise ValueError(f"y has {truth.shape[0]} samples but X has "
                                 f"{predicted.shape[0]}")
            return float(np.mean(predicted == truth))
        P = to_numpy(self.predict(X)).astype(np.float64)
        if y.shape[0] != P.shape[0] or y.size != P.size:
            raise ValueError(f"y has shape {y.shape}; expected ({P.shape[0]}, {P.shape[1]})")
        return float(r2(np, y.astype(np.float64).reshape(P.shape), P))

    def _class_indices(self, X):
        """Index of the predicted class of each row, on the host."""
        P = self.predict(X)
        xp = self.xp
        index = (xp.astype(P[:, 0] > 0.5, xp.int64) if P.shape[1] == 1
                 else xp.argmax(P, axis=1))
        return to_numpy(index)

    def _classes(self):
        if self.loss not in ("cross_entropy", "binary_cross_entropy"):
            raise TypeError(f"this network is a regressor (loss={self.loss!r}); it has "
                            f"no classes")
        if self.classes is not None:
            return self.classes
        return (0, 1) if self.loss == "binary_cross_entropy" else tuple(
            range(self.layer_sizes[-1]))

    def __repr__(self):
        return (f"Network(layer_sizes={self.layer_sizes}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}, loss={self.loss!r}, "
                f"backend={self.backend.name!r}, device={self.device!r}, "
                f"dtype={self.dtype!r})")


def _rebuild(params, config, backend, history, metadata):
    """Unpickle a Network: its parameters go back to its backend and device."""
    params = {k: backend.xp.asarray(v, device=backend.device) for k, v in params.items()}
    net = Network(params, backend=backend, **config)
    net.history, net.metadata = history, metadata
    return net
