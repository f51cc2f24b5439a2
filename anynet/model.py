"""``Network``: a network's parameters, in the tutorial's dict, with its configuration.

The functions of ``anynet.network`` take and return it; ``anynet.train`` adds
its history, optimizer and classes. The estimator-style methods (``predict``,
``predict_classes``, ``score``) take their task-level behaviour (how classes
are read from the outputs, which score) from ``anynet.tasks.TABLE``.
"""
import copy

import numpy as np

from . import _checks, steps
from ._backend import is_dask_array, namespace_of, to_numpy
from ._dask import predict_dask
from .activations import ACTIVATIONS
from .metrics import r2
from .tasks import Task, class_indices, host_targets, output_classes


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
        Class labels in output order, for classifiers made by ``anynet.train``
        (for a multi-label network: the names of its 0/1 columns).
    history : dict or None
        Per-epoch figures of the last ``anynet.train`` run.
    optimizer : Optimizer or None
        The optimizer of the last ``anynet.train`` run, with its state.
    metadata : dict
        Free-form JSON-serialisable notes saved with the network (the command
        line keeps its feature names here).
    input_scaling : (mean, scale) or None
        Arrays of shape (1, n_inputs) on the network's device: the network
        standardises its inputs, ``(X - mean) / scale``, at every entry point
        (``anynet.train(..., standardize=True)`` sets them), so it takes the raw
        features. Saved with the network.
    target_scaling : (mean, scale) or None
        Arrays of shape (1, n_outputs) on the network's device: a regressor
        trained on standardised targets (``anynet.train(..., standardize=True)``)
        predicts ``output * scale + mean``, in the targets' own units, from
        ``predict``, ``score``, ``forward_propagation`` and ``anynet.predict``;
        ``backward_propagation`` and further training standardise y with it.
        Saved with the network.
    """

    def __init__(self, params, *, layer_sizes, activation, output_activation, loss,
                 init, seed, backend, dtype, classes=None):
        super().__init__(params)
        self.classes = None if classes is None else tuple(classes)
        self.history = None
        self.optimizer = None
        self.metadata = {}
        self.input_scaling = None
        self.target_scaling = None
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

    @property
    def task(self):
        """The network's :class:`anynet.tasks.Task` (loss, output layer, outputs, classes)."""
        return Task.of(self)

    def copy(self):
        """A deep copy: new parameter arrays on the same backend and device, and
        copies of the history, the metadata and the optimizer with its state."""
        with self.backend.activate():
            params = {k: self.xp.asarray(v, copy=True) for k, v in self.items()}
            twin = Network(params, backend=self.backend, **self.config)
            twin.input_scaling = self.input_scaling  # never changed in place: shared
            twin.target_scaling = self.target_scaling
            if self.optimizer is not None:
                twin.optimizer = self.optimizer.fresh()
                twin.optimizer.restore(self.optimizer.snapshot(self.xp))
        twin.history = copy.deepcopy(self.history)
        twin.metadata = copy.deepcopy(self.metadata)
        return twin

    def __reduce__(self):
        """Pickle with host copies of the parameters; the optimizer is not kept."""
        params = {k: to_numpy(v) for k, v in self.items()}
        scaling, targets = (None if pair is None else tuple(to_numpy(a) for a in pair)
                            for pair in (self.input_scaling, self.target_scaling))
        return _rebuild, (params, self.config, self.backend, self.history, self.metadata,
                          scaling, targets)

    # --- the estimator-style methods of anynet.train's networks ---------------------

    def predict(self, X, *, check_finite=True):
        """The output layer's activations for X, shape (n_samples, n_outputs).

        Arrays of the network's backend, device and dtype; X may be host data or
        any backend's array. With a ``dask.array`` X the result is a lazy dask
        array, computed chunk by chunk of rows (see ``anynet._dask``). A network
        with ``target_scaling`` gives its outputs in the targets' units.

        check_finite : bool, default True
            Raise a ValueError if X holds NaN or infinity (as SciPy's
            ``check_finite``). Host data are checked on the host before the
            copy, at no cost to the device; data already on the device are
            checked there, which reads one boolean back and so waits for the
            device (a GPU) to finish. ``check_finite=False`` skips the check:
            a prediction on device data then reads nothing back, and NaN in X
            gives NaN in its rows of the result.
        """
        with self.backend.activate():
            if is_dask_array(X):
                return predict_dask(self, X, check_finite=check_finite)
            return self._outputs(steps.predictor(self)(
                dict(self), self._features(X, check_finite=check_finite)))

    def _outputs(self, P):
        """The output layer's activations P in the targets' units (``target_scaling``)."""
        if self.target_scaling is None:
            return P
        mean, scale = self.target_scaling
        return P * scale + mean

    def _targets(self, Y):
        """Targets Y, shape (n_samples, n_outputs) on the device, in the units the
        network is trained in: standardised by ``target_scaling`` when it has one."""
        if self.target_scaling is None:
            return Y
        mean, scale = self.target_scaling
        return (Y - mean) / scale

    def predict_classes(self, X):
        """Predicted class labels, a host NumPy array of shape (n_samples,).

        For a multi-label network, the 0/1 matrix of shape (n_samples, n_outputs).
        """
        task = self._classifier_task()
        index = self._class_indices(X, task)
        return index if task.multilabel else np.asarray(task.classes)[index]

    def score(self, X, y):
        """Accuracy for a classifier (exact-match for multi-label), R^2 (averaged
        over outputs) for a regressor.

        Computed on the host in float64, as scikit-learn's ``score``.
        """
        task, y = self.task, host_targets(y)
        if task.is_classifier:
            truth, predicted = class_indices(y, task), self._class_indices(X, task)
            if truth.shape != predicted.shape:
                raise ValueError(f"y has {truth.shape[0]} samples but X has "
                                 f"{predicted.shape[0]}")
            hits = predicted == truth
            return float(np.mean(hits.all(axis=1) if hits.ndim == 2 else hits))
        P = to_numpy(self.predict(X)).astype(np.float64)
        if y.shape[0] != P.shape[0] or y.size != P.size:
            raise ValueError(f"y has shape {y.shape}; expected ({P.shape[0]}, {P.shape[1]})")
        return float(r2(np, y.astype(np.float64).reshape(P.shape), P))

    def _features(self, X, name="X", check_finite=True):
        """X checked, moved to the network's backend, device and dtype, and
        standardised as the network's ``input_scaling`` says."""
        X = _checks.features(self.backend, self.dtype, X, self.layer_sizes[0], name,
                             check_finite=check_finite)
        if self.input_scaling is None:
            return X
        mean, scale = self.input_scaling
        return (X - mean) / scale

    def _class_indices(self, X, task):
        """Each row's class as ``tasks.output_classes`` reads it, as host int64."""
        with self.backend.activate():
            P = self.predict(X)
            if is_dask_array(P):  # the outputs of every chunk, gathered
                P = P.compute()
            return to_numpy(output_classes(namespace_of(P), task, P)).astype(np.int64)

    def _classifier_task(self):
        task = self.task
        if not task.is_classifier:
            raise TypeError(f"this network is a regressor (loss={self.loss!r}); it has "
                            f"no classes")
        return task

    def __repr__(self):
        return (f"Network(layer_sizes={self.layer_sizes}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}, loss={self.loss!r}, "
                f"backend={self.backend.name!r}, device={self.device!r}, "
                f"dtype={self.dtype!r})")


def _rebuild(params, config, backend, history, metadata, scaling=None, targets=None):
    """Unpickle a Network: its parameters go back to its backend and device."""
    with backend.activate():
        params = {k: backend.xp.asarray(v, device=backend.device) for k, v in params.items()}
        net = Network(params, backend=backend, **config)
        net.input_scaling, net.target_scaling = (
            None if pair is None else tuple(backend.xp.asarray(a, device=backend.device)
                                            for a in pair)
            for pair in (scaling, targets))
    net.history, net.metadata = history, metadata
    return net
