"""scikit-learn estimators around ``anynet.train``: NeuralNetClassifier, NeuralNetRegressor.

They take the options of ``anynet.train`` as constructor parameters, ``backend=``
and ``device=`` included: with ``backend="cupy"`` a scikit-learn pipeline trains
on the GPU, while ``predict`` and ``predict_proba`` return NumPy arrays as
scikit-learn expects. Needs scikit-learn (``pip install scikit-learn``).

Fitted attributes: ``network_`` (the anynet Network), ``classes_`` (classifier),
``loss_curve_`` (training loss per epoch), ``n_iter_`` (epochs run),
``n_features_in_``. A pickled estimator keeps its network, not its optimizer's
state: ``partial_fit`` after unpickling starts a fresh optimizer.
"""
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._backend import to_numpy
from .network import initialize_network
from .tasks import TABLE
from .training import _DEFAULT_INIT, train


class _NeuralNet(BaseEstimator):
    """The parameters and the loop shared by both estimators."""

    _loss = None  # set by the subclasses

    def __init__(self, hidden=(100,), activation="relu", optimizer="adam",
                 learning_rate=0.01, epochs=200, batch_size=200, backend="numpy",
                 device=None, dtype="float64", seed=0, validation_split=0.0,
                 early_stopping=False, patience=10, weight_decay=None, lr_schedule=None,
                 clip_norm=None, shuffle=True, verbose=False, init=None):
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.seed = seed
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.patience = patience
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.clip_norm = clip_norm
        self.shuffle = shuffle
        self.verbose = verbose
        self.init = init

    def _new_network(self, n_features, n_outputs):
        hidden = [self.hidden] if np.isscalar(self.hidden) else list(self.hidden)
        return initialize_network(
            [n_features, *hidden, n_outputs], activation=self.activation,
            loss=self._loss, output_activation=TABLE[self._loss].output_activation,
            init=self.init or _DEFAULT_INIT.get(self.activation, "xavier"),
            seed=self.seed, backend=self.backend, device=self.device, dtype=self.dtype)

    def _train(self, X, y, epochs, continuing):
        net = self.network_
        optimizer = self.optimizer  # a name, or an instance: a template, copied by train
        if continuing and net.optimizer is not None:  # partial_fit keeps Adam's moments
            optimizer = net.optimizer  # the network's own: train continues its state
        train(X, y, network=net, optimizer=optimizer, learning_rate=self.learning_rate,
              epochs=epochs, batch_size=min(self.batch_size, len(X)), seed=self.seed,
              validation_split=self.validation_split if not continuing else 0.0,
              early_stopping=self.early_stopping and not continuing,
              patience=self.patience, lr_schedule=self.lr_schedule,
              weight_decay=None if optimizer is net.optimizer else self.weight_decay,
              clip_norm=self.clip_norm, shuffle=self.shuffle, verbose=self.verbose)
        losses = net.history["loss"]
        self.loss_curve_ = (self.loss_curve_ if continuing else []) + list(losses)
        self.n_iter_ = len(self.loss_curve_)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        return self

    def _outputs(self, X):
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return np.asarray(to_numpy(self.network_.predict(X)), dtype=np.float64)


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A softmax network trained on cross-entropy; any label type.

    Parameters are those of ``anynet.train``; ``dtype`` defaults to float64 here,
    as scikit-learn's own estimators compute.
    """

    _loss = "cross_entropy"

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"y has 1 class ({self.classes_[0]!r}); a classifier "
                             f"needs at least 2")
        self.network_ = self._new_network(X.shape[1], len(self.classes_))
        self.network_.classes = tuple(self.classes_.tolist())
        return self._train(X, y, self.epochs, continuing=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); ``classes`` (all labels) is needed on the first call."""
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit")
            self.classes_ = np.unique(classes)
            self.network_ = self._new_network(X.shape[1], len(self.classes_))
            self.network_.classes = tuple(self.classes_.tolist())
            self.loss_curve_ = []
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {list(classes)} differ from the classes of the first "
                             f"call, {list(self.classes_)}")
        return self._train(X, y, 1, continuing=True)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in ``classes_`` order."""
        return self._outputs(X)

    def predict(self, X):
        P = self.predict_proba(X)
        return self.classes_[np.argmax(P, axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A network with a linear output trained on mean squared error.

    Parameters are those of ``anynet.train``; ``dtype`` defaults to float64 here.
    """

    _loss = "mse"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n_samples, n_outputs) is fine
        return tags

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), multi_output=True,
                             y_numeric=True)
        self._y_1d = y.ndim == 1
        self.network_ = self._new_network(X.shape[1], 1 if y.ndim == 1 else y.shape[1])
        return self._train(X, y, self.epochs, continuing=False)

    def partial_fit(self, X, y):
        """One epoch over (X, y)."""
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), multi_output=True,
                             y_numeric=True, reset=first)
        if first:
            self._y_1d = y.ndim == 1
            self.network_ = self._new_network(X.shape[1], 1 if y.ndim == 1 else y.shape[1])
            self.loss_curve_ = []
        return self._train(X, y, 1, continuing=True)

    def predict(self, X):
        P = self._outputs(X)
        return P[:, 0] if self._y_1d else P
