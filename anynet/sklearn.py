"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, drop-in, on any array library.

``from anynet.sklearn import MLPClassifier, MLPRegressor`` in place of
``from sklearn.neural_network import ...``: the same constructor parameters and
defaults (scikit-learn 1.9), the same fitted attributes (``coefs_``,
``intercepts_``, ``loss_curve_``, ``validation_scores_``, ``n_iter_``, ``t_``
...), the same objective (the loss, ``alpha`` on the weights, sample weights),
initialisation, stopping rules and warnings. Keyword-only extras:

- ``backend``, ``device``: where the work runs ("numpy" by default; "cupy" for
  an NVIDIA GPU, "torch", "jax", ...). Inputs and outputs stay NumPy.
- ``dropout``: inverted dropout on the hidden layers while training (a rate,
  or one per hidden layer).

With ``sklearn.set_config(array_api_dispatch=True)`` and X a non-NumPy Array
API array (torch, CuPy, array-api-strict ...), the work runs in X's namespace
on X's device, and the fitted attributes and predictions come back there
(scikit-learn's convention); ``backend`` and ``device`` are then not used.
``classes_`` stays a NumPy array, as scikit-learn's ``LabelBinarizer`` gives it.

The same ``random_state`` gives scikit-learn's run: its initial weights, its
validation split, and each epoch's order of the batches, drawn from the one
stream in scikit-learn's order (``anynet.train``'s ``shuffle`` takes the
stream). ``coefs_`` and ``intercepts_`` are the network's parameters (its own
arrays on the NumPy backend; setting them sets the network's): one owner.
Parameter errors are scikit-learn's ``InvalidParameterError``, from its
``_parameter_constraints``.

Training is ``anynet.train``: "adam" and "sgd" (momentum, Nesterov's) by
mini-batches, "lbfgs" by ``anynet.quasi_newton.LBFGS`` on the whole data (SciPy's
L-BFGS-B, step for step).
``NeuralNetClassifier`` and ``NeuralNetRegressor`` are the same classes under
their former names. Needs scikit-learn (``pip install scikit-learn``).
"""
import math
import numbers
import warnings

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkClassifier
from sklearn.neural_network import MLPRegressor as _SkRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._array_api import get_namespace_and_device
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (_check_partial_fit_first_call, type_of_target,
                                      unique_labels)
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from . import _skl2onnx
from ._arguments import checked_dropout, dropout_rates
from ._checks import CHUNK_ROWS, is_sparse
from ._backend import (floating_point_warnings_off, is_array, namespace_of,
                       resolve_backend, to_numpy)
from .checkpoints import DivergenceError
from .network import initialize_network
from .optimizers import Adam, Momentum
from .quasi_newton import LBFGS, MESSAGES
from .schedules import Adaptive, InvScaling
from .training import train

_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh",
                "relu": "relu"}
_ADAPTIVE = Adaptive()  # scikit-learn's "adaptive": its factor (1/5) and smallest rate


class _Solver:
    """What scikit-learn keeps as ``_optimizer``: the learning rate the next epoch
    would use, and the anynet optimizer whose state ``partial_fit`` continues."""

    def __init__(self, learning_rate, optimizer):
        self.learning_rate, self.optimizer = learning_rate, optimizer


class _BaseMLP(BaseEstimator):
    """The parameters, the fitting and the prediction both estimators share."""

    _loss_name = None  # set by the subclasses
    #: scikit-learn's constraints (its MLPClassifier's), and the extras': a backend's
    #: name (a module cannot be cloned or pickled), a device, dropout (checked by
    #: anynet._arguments, which names what is wrong)
    _parameter_constraints: dict = {
        **_SkClassifier._parameter_constraints,
        "backend": [None, str],
        "device": "no_validation",
        "dropout": "no_validation",
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 backend=None, device=None, dropout=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.device = device
        self.dropout = dropout

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    # --- parameters --------------------------------------------------------------

    def _check_params(self):
        """Every constructor parameter checked, before any data or state is touched:
        scikit-learn's own ``_parameter_constraints`` (its ``InvalidParameterError``,
        a ValueError and a TypeError), then what they do not say."""
        self._validate_params()
        hidden = self._hidden_sizes()
        if self.dropout is not None and self.solver == "lbfgs":
            raise ValueError("dropout needs solver='sgd' or 'adam': L-BFGS minimises one "
                             "fixed loss")
        dropout_rates(checked_dropout(self.dropout), len(hidden))  # said before fitting
        return hidden

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if not hasattr(sizes, "__iter__") else list(sizes)
        if not all(isinstance(h, numbers.Integral) and not isinstance(h, bool)
                   for h in sizes) or any(h <= 0 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(h) for h in sizes]

    # --- where the work runs ---------------------------------------------------------

    def _placement(self, X):
        """(backend, output namespace or None): the input's namespace under
        scikit-learn's array_api_dispatch, else ``backend`` and NumPy out."""
        if get_config()["array_api_dispatch"] and is_array(X) and \
                not isinstance(X, np.ndarray):
            backend = resolve_backend(namespace_of(X), getattr(X, "device", None))
            return backend, backend
        return resolve_backend(self.backend or "numpy", self.device), None

    def _out(self, a):
        """A host array in the namespace and on the device the estimator answers in."""
        space = getattr(self, "_output", None)
        if space is None:
            return a
        with space.activate():
            return space.xp.asarray(a, device=space.device)

    # --- fitting -----------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y (with sample weights), from scratch, or from the
        current weights with ``warm_start=True``."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic "
                                 f"optimizers. {self.solver} is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight, incremental):
        saved = dict(vars(self))  # a fit that fails leaves the estimator as it was
        if "_network" in saved:  # the parameters' owner: a copy, as train may update it
            saved["_network"] = saved["_network"].copy()
        try:
            return self._fit_checked(X, y, sample_weight, incremental)
        except BaseException:
            vars(self).clear()
            vars(self).update(saved)
            raise

    def _fit_checked(self, X, y, sample_weight, incremental):
        hidden = self._check_params()
        first = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        if not first:  # a warm start continues where the weights are
            _check_same_namespace(self, X, "partial_fit" if incremental else "fit")
        backend, output = self._placement(X)
        X, y = self._validate_input(X, y, incremental, reset=first)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(to_numpy(sample_weight)
                                                 if is_array(sample_weight) else
                                                 sample_weight, X, ensure_non_negative=True)
            if not np.sum(sample_weight) > 0:
                raise ValueError("sample_weight sums to 0: no sample would count")
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self._random_state = check_random_state(self.random_state)
        if first:
            self._output = output
            self._initialize(X, Y, hidden, backend)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sample_weight)
        else:
            self._fit_stochastic(X, Y, sample_weight, incremental)
        return self

    def _initialize(self, X, Y, hidden, backend):
        """A new network, drawn as scikit-learn draws it: per layer, weights then
        biases uniform in +-sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for the
        logistic), from ``random_state``; in X's dtype."""
        self.n_outputs_ = Y.shape[1]
        sizes = [X.shape[1], *hidden, self.n_outputs_]
        self.n_layers_ = len(sizes)
        self.out_activation_ = self._out_activation()
        loss, output = self._loss_and_output()
        dtype = "float32" if X.dtype == np.float32 else "float64"
        net = initialize_network(sizes, activation=_ACTIVATIONS[self.activation],
                                 output_activation=output, loss=loss, init="xavier",
                                 backend=backend, dtype=dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs, intercepts = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = math.sqrt(factor / (fan_in + fan_out))
            coefs.append(self._random_state.uniform(-bound, bound, (fan_in, fan_out))
                         .astype(dtype))
            intercepts.append(self._random_state.uniform(-bound, bound, fan_out)
                              .astype(dtype))
        self._network = net
        self.coefs_, self.intercepts_ = coefs, intercepts
        self.n_iter_, self.t_ = 0, 0
        for name in ("loss_curve_", "best_loss_", "validation_scores_",
                     "best_validation_score_", "_no_improvement_count", "_optimizer"):
            if hasattr(self, name):  # a refit with another solver: none of the old run's
                delattr(self, name)
        if self.solver != "lbfgs":  # scikit-learn's: the stochastic solvers' attributes
            self.loss_curve_ = []
            self.best_loss_ = None if self.early_stopping else np.inf
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None
            self._no_improvement_count = 0

    # --- the parameters: the network owns them -----------------------------------------

    @property
    def coefs_(self):
        """The weights, one array of shape (fan_in, fan_out) per layer: the network's own
        arrays where it answers in their namespace (NumPy out on the NumPy backend, or
        the input's namespace under array_api_dispatch), so an edit in place is the
        network's; else host copies. Assigning the list, or an item of it, sets the
        network's parameters."""
        return self._parameters("W")

    @coefs_.setter
    def coefs_(self, arrays):
        self._set_parameters("W", arrays)

    @property
    def intercepts_(self):
        """The biases, one array of shape (fan_out,) per layer (see ``coefs_``)."""
        return self._parameters("b")

    @intercepts_.setter
    def intercepts_(self, arrays):
        self._set_parameters("b", arrays)

    def _parameters(self, kind):
        net = vars(self).get("_network")
        if net is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute "
                                 f"'{'coefs_' if kind == 'W' else 'intercepts_'}'")
        xp, arrays = net.xp, [net[f"{kind}{i}"] for i in range(1, net.n_layers + 1)]
        if kind == "b":
            arrays = [xp.reshape(b, (-1,)) for b in arrays]
        if self._output is None and net.backend.name != "numpy":  # NumPy out: host copies
            arrays = [to_numpy(a).copy() for a in arrays]
        return _Parameters(self, kind, arrays)

    def _set_parameters(self, kind, arrays):
        """Put ``arrays`` (any namespace) into the network as its weights or biases,
        in its dtype, on its device; a ValueError before any is changed when their
        number or shapes are not the network's."""
        net = self._network
        name = "coefs_" if kind == "W" else "intercepts_"
        arrays = list(arrays)
        if len(arrays) != net.n_layers:
            raise ValueError(f"{name} needs {net.n_layers} arrays, one per layer; got "
                             f"{len(arrays)}")
        xp, device, dtype = net.xp, net.device, getattr(net.xp, net.dtype)
        params = {}
        with net.backend.activate():
            for i, a in enumerate(arrays, start=1):
                want = tuple(net[f"{kind}{i}"].shape)
                a = xp.asarray(_host_or_same(a, xp), dtype=dtype, device=device)
                if kind == "b":
                    a = xp.reshape(a, (1, -1)) if a.ndim == 1 else a
                if tuple(a.shape) != want:
                    shown = want if kind == "W" else want[1:]
                    raise ValueError(f"{name}[{i - 1}] must have shape {shown}, got "
                                     f"{tuple(a.shape)}")
                params[f"{kind}{i}"] = a
        net.update(params)

    def _optimizer_for(self, incremental):
        """The run's optimizer: partial_fit continues the previous one's state."""
        solver = getattr(self, "_optimizer", None)
        if incremental and solver is not None:
            return solver.optimizer
        if self.solver == "adam":
            return Adam(beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon,
                        eps_before_correction=True)  # scikit-learn's form of Adam
        # scikit-learn's velocity, v = mu v - lr g, even at mu = 0 (then plain SGD)
        return Momentum(momentum=self.momentum, nesterov=self.nesterovs_momentum,
                        lr_in_velocity=True)

    def _split(self, X, Y, sample_weight):
        """scikit-learn's validation split: stratified for one column of classes."""
        stratify = Y if is_classifier(self) and self.n_outputs_ == 1 else None
        arrays = [X, Y] if sample_weight is None else [X, Y, sample_weight]
        parts = train_test_split(*arrays, random_state=self._random_state,
                                 test_size=self.validation_fraction, stratify=stratify)
        X_train, X_val, Y_train, Y_val = parts[:4]
        sw_train = None if sample_weight is None else parts[4]
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        sw_val = None if sample_weight is None else parts[5]
        return X_train, Y_train, sw_train, X_val, Y_val, sw_val

    def _fit_stochastic(self, X, Y, sample_weight, incremental):
        if self.early_stopping:
            X, Y, sample_weight, X_val, Y_val, sw_val = self._split(X, Y, sample_weight)
            validation = (X_val, Y_val) if sw_val is None else (X_val, Y_val, sw_val)
        else:
            validation = None
        n = X.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped")
            batch = int(np.clip(self.batch_size, 1, n))
        optimizer = self._optimizer_for(incremental)
        # adam keeps its rate: scikit-learn's learning_rate is sgd's
        schedule_name = self.learning_rate if self.solver == "sgd" else "constant"
        solver = getattr(self, "_optimizer", None)
        lr, schedule = float(self.learning_rate_init), None
        if incremental:  # one epoch at the rate the previous calls left
            lr = solver.learning_rate if solver is not None else lr
        elif schedule_name == "invscaling":  # from the samples seen since the first fit
            schedule = InvScaling(self.power_t, t0=self.t_)
        if schedule_name == "adaptive":  # the stopping rule divides the rate instead
            schedule = Adaptive()
        patience = self.n_iter_no_change + 1  # scikit-learn stops after n_iter_no_change + 1
        # one stopping rule, the run's, for fit and for each partial_fit epoch alike; a
        # warm start and every partial_fit go on counting from where the last call stopped
        best = -self.best_validation_score_ if validation else self.best_loss_
        run = dict(epochs=1 if incremental else self.max_iter, batch_size=batch,
                   optimizer=optimizer, learning_rate=lr, lr_schedule=schedule,
                   # scikit-learn's batches: each epoch's order from random_state's
                   # stream, after the initial weights and the validation split
                   shuffle=self._random_state if self.shuffle else False,
                   early_stopping="val_metric" if validation else "loss", tol=float(self.tol),
                   patience=patience, validation_data=validation, dropout=self.dropout,
                   _watched=(best, self._no_improvement_count))
        net, stopped = self._train(X, Y, sample_weight, run,
                                   continuing=incremental and solver is not None)
        history = net.history
        losses = history["loss"] + ([float("nan")] if stopped == "diverged" else [])
        done = len(losses)
        self.n_iter_ = done
        self.t_ += done * n
        self.loss_curve_ = list(self.loss_curve_) + losses
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        watch = history.get("watch", {})
        if validation:
            self.validation_scores_ = list(self.validation_scores_ or []) + [
                np.nan if v is None else float(v) for v in history["val_metric"]]
            if stopped == "diverged":
                self.validation_scores_.append(float("nan"))
            finite = [v for v in self.validation_scores_ if math.isfinite(v)]
            self.best_validation_score_ = max(finite) if finite else -np.inf
        elif watch.get("best") is not None:
            self.best_loss_ = float(watch["best"])
        self._no_improvement_count = watch.get("waited", self._no_improvement_count)
        reductions = watch.get("reductions", 0)
        if schedule_name == "invscaling":
            lr = InvScaling(self.power_t).rate(float(self.learning_rate_init), self.t_)
        elif schedule_name == "adaptive":
            lr *= _ADAPTIVE.factor ** reductions
        elif not incremental:
            lr = float(self.learning_rate_init)
        self._optimizer = _Solver(lr, net.optimizer)
        rates = history["lr"]
        if self.verbose and schedule_name == "adaptive" and \
                reductions > sum(b < a for a, b in zip(rates, rates[1:])):
            print(f"{self._stalled()} Setting learning rate to {lr:f}")  # after the last
        if self.verbose and stopped == "early_stopping":
            small = " Learning rate too small." if schedule_name == "adaptive" else ""
            print(f"{self._stalled()}{small} Stopping.")
        if not incremental and stopped is None and done == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          f"reached and the optimization hasn't converged yet.",
                          ConvergenceWarning)

    def _fit_lbfgs(self, X, Y, sample_weight):
        """scikit-learn's L-BFGS fit: SciPy's L-BFGS-B (``anynet.quasi_newton.LBFGS``
        follows it) with ``maxiter=max_iter``, ``maxfun=max_fun``, ``gtol=tol``;
        ``n_iter_``, ``loss_`` and the ConvergenceWarning as scikit-learn's
        ``_check_optimize_result`` makes them. Nothing is printed, verbose or not
        (SciPy >= 1.15 prints nothing)."""
        optimizer = LBFGS(max_fun=self.max_fun, gtol=float(self.tol))
        net, _ = self._train(X, Y, sample_weight,
                             dict(epochs=self.max_iter, optimizer=optimizer,
                                  batch_size=max(1, X.shape[0])))
        lbfgs = net.optimizer
        self.n_iter_ = min(lbfgs.n_iter, self.max_iter)
        self.loss_ = lbfgs.f
        # SciPy's status: its driver tests max_iter first, then the evaluations
        if lbfgs.n_iter >= self.max_iter:
            status, message = 1, MESSAGES["max_iter"]
        elif lbfgs.status in ("gtol", "ftol"):
            status, message = 0, lbfgs.message
        else:
            status, message = 1 if lbfgs.n_evals > self.max_fun else 2, lbfgs.message
        if status == 0:
            return
        said = (f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                f"(status={status}):\n{message}\n")
        if self.n_iter_ == self.max_iter:
            said += (f"\nIncrease the number of iterations to improve the convergence "
                     f"(max_iter={self.max_iter}).")
        said += ("\nYou might also want to scale the data as shown in:\n"
                 "    https://scikit-learn.org/stable/modules/preprocessing.html")
        warnings.warn(said, ConvergenceWarning, stacklevel=3)

    def _train(self, X, Y, sample_weight, run, continuing=False):
        """``anynet.train`` from the current weights; (network, why it stopped).
        ``continuing``: ``run["optimizer"]`` is the previous call's, whose state goes on
        (also after a pickle, which keeps it apart from the network)."""
        net = self._network
        net.optimizer = run["optimizer"] if continuing else None
        # dropout's draws need a seed: taken from random_state only then, so that
        # without dropout the stream is scikit-learn's own (its weights, split, orders)
        seed = 0 if self.dropout is None else \
            int(self._random_state.randint(np.iinfo(np.int32).max))
        callbacks = [self._say] if self.verbose and self.solver != "lbfgs" else []
        try:
            trained = train(X, Y, network=net, seed=seed, alpha=float(self.alpha),
                            sample_weight=sample_weight, verbose=False, callbacks=callbacks,
                            **run)
            stopped = trained.history["stopped"]
        except DivergenceError as error:
            if not self.early_stopping or self.solver == "lbfgs":
                raise ValueError("Solver produced non-finite parameter weights. The input "
                                 "data may contain large values and need to be "
                                 "preprocessed.") from error
            trained, stopped = error.network, "diverged"
            if error.best is not None and error.best[1]:  # the best epoch's parameters
                trained.update(error.best[1])
            net.update(trained)
            net.history, net.optimizer = trained.history, trained.optimizer
            trained = net
        self._network = trained  # finite: train checked every parameter at each epoch's end
        return trained, stopped

    def _say(self, epoch, history, network):
        """scikit-learn's verbose lines (its iteration numbers start again each call)."""
        rates = history["lr"]
        if len(rates) > 1 and rates[-1] < rates[-2] and self.learning_rate == "adaptive":
            print(f"{self._stalled()} Setting learning rate to {rates[-1]:f}")
        print(f"Iteration {epoch + 1}, loss = {history['loss'][-1]:.8f}")
        if history["val_metric"] and history["val_metric"][-1] is not None:
            print(f"Validation score: {history['val_metric'][-1]:f}")

    def _stalled(self):
        what = "Validation score" if self.early_stopping else "Training loss"
        return (f"{what} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs.")

    # --- predicting --------------------------------------------------------------------

    def _forward(self, X, method):
        """The output layer for X, shape (n_samples, n_outputs), in the output namespace."""
        check_is_fitted(self, "coefs_")
        _check_same_namespace(self, X, method)
        X = self._validate_features(X)
        net = self._network
        if is_sparse(X):  # made dense by chunks of rows
            parts = [to_numpy(net.predict(X[i:i + CHUNK_ROWS].toarray()))
                     for i in range(0, X.shape[0], CHUNK_ROWS)]
            return self._out(np.concatenate(parts))
        P = net.predict(X)
        if self._output is not None:
            return P
        # scikit-learn's dtype: float64 X through float32 weights gives float64
        return to_numpy(P).astype(np.result_type(X.dtype, net.dtype), copy=False)

    def _validate_features(self, X):
        if self._output is not None and is_array(X) and not isinstance(X, np.ndarray):
            if X.ndim != 2:
                raise ValueError(f"Expected a 2D array, got an array of shape "
                                 f"{tuple(X.shape)}; reshape a single sample with "
                                 f"X.reshape(1, -1)")
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[-1]} features, but {type(self).__name__} "
                                 f"is expecting {self.n_features_in_} features as input.")
            return X
        return validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                             dtype=(np.float64, np.float32))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's MLPClassifier (same parameters, defaults and attributes), on any
    array library, with ``backend``, ``device`` and ``dropout`` (keyword-only).

    Multi-class targets train a softmax output on the log loss; binary and
    multi-label targets one sigmoid per column on the binary log loss summed
    over the labels (scikit-learn's objective).
    """

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _loss_and_output(self):
        if self.out_activation_ == "softmax":
            return "log_loss", "softmax"  # scikit-learn's: probabilities clipped
        return "binary_log_loss", "sigmoid"

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validated(self, X, y, reset, multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same "
                                     f"classes as in the previous call to fit. Previously "
                                     f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing the optimizer; ``classes`` (every label)
        is needed on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in ``classes_`` order
        (one column per label for multi-label targets)."""
        return self._probabilities(X, "predict_proba")

    def _probabilities(self, X, method):
        P = self._forward(X, method)
        if self.n_outputs_ == 1:
            xp = namespace_of(P) if self._output is not None else np
            p = xp.reshape(P, (-1,))
            return xp.stack([1.0 - p, p], axis=1)
        return P

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba`` (-inf where a probability is 0)."""
        P = self._probabilities(X, "predict_log_proba")
        xp = namespace_of(P) if self._output is not None else np
        with floating_point_warnings_off(self._network.backend):
            return xp.log(P)

    def predict(self, X):
        """The predicted class (or the 0/1 labels of a multi-label target)."""
        P = to_numpy(self._forward(X, "predict"))
        if self.n_outputs_ == 1:
            P = P.ravel()
        labels = self._label_binarizer.inverse_transform(P)
        if self._output is not None and labels.dtype.kind in "biuf":
            return self._out(labels)
        return labels

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's MLPRegressor (same parameters, defaults and attributes), on any
    array library, with ``backend``, ``device`` and ``dropout`` (keyword-only).

    ``loss="squared_error"``: an identity output on half the mean squared error;
    ``loss="poisson"``: an exponential output on half the Poisson deviance.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu",
                 *, solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 backend=None, device=None, dropout=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, backend=backend, device=device, dropout=dropout)
        self.loss = loss

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    **_SkRegressor._parameter_constraints}

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _loss_and_output(self):
        return (self.loss, "exp" if self.loss == "poisson" else "identity")

    def _validate_input(self, X, y, incremental, reset):
        X, y = _validated(self, X, y, reset, multi_output=True, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        return X, y.astype(X.dtype, copy=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the optimizer."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predictions, shape (n_samples,) or (n_samples, n_outputs)."""
        P = self._forward(X, "predict")
        if self.n_outputs_ == 1:
            xp = namespace_of(P) if self._output is not None else np
            return xp.reshape(P, (-1,))
        return P


class _Parameters(list):
    """``coefs_`` or ``intercepts_``: a list whose item assignment sets the network's
    parameter (``est.coefs_[0] = W`` works as ``est.coefs_ = [W, ...]``)."""

    def __init__(self, estimator, kind, arrays):
        super().__init__(arrays)
        self._estimator, self._kind = estimator, kind

    def __setitem__(self, index, value):
        arrays = list(self)
        arrays[index] = value
        self._estimator._set_parameters(self._kind, arrays)
        super().__setitem__(index, value)

    def __reduce__(self):  # a plain list when kept and pickled on its own
        return list, (list(self),)


#: The former names of the estimators.
NeuralNetClassifier = MLPClassifier
NeuralNetRegressor = MLPRegressor


def _validated(est, X, y, reset, **options):
    """X and y checked as scikit-learn checks them, on the host (X in float64 or
    float32, sparse kept CSR/CSC); X of another namespace is read once."""
    if is_array(X) and not isinstance(X, np.ndarray):
        X = to_numpy(X)
    if is_array(y) and not isinstance(y, np.ndarray):
        y = to_numpy(y)
    return validate_data(est, X, y, accept_sparse=["csr", "csc"], reset=reset,
                         dtype=(np.float64, np.float32), **options)


def _check_same_namespace(est, X, method):
    """Under array_api_dispatch, X must be of the namespace and device the estimator
    was fitted on (scikit-learn's rule: it moves nothing silently)."""
    if not get_config()["array_api_dispatch"]:
        return
    fitted, _, fitted_device = get_namespace_and_device(est.coefs_[0])
    given, _, given_device = get_namespace_and_device(X)
    numpy_both = "numpy" in fitted.__name__ and "numpy" in given.__name__
    if (fitted, fitted_device) == (given, given_device) or numpy_both:
        return
    raise ValueError(f"Inputs passed to {type(est).__name__}.{method}() must use the same "
                     f"namespace and the same device as those passed to fit(): fitted on "
                     f"{fitted.__name__} ({fitted_device}), given {given.__name__} "
                     f"({given_device})")


def _host_or_same(a, xp):
    """``a`` itself when it is already of namespace ``xp``, else a host copy."""
    if isinstance(a, np.ndarray) or not is_array(a):
        return np.asarray(a)
    return a if namespace_of(a) is xp else to_numpy(a)


# skl2onnx converts pipelines holding these estimators; registered when (and only
# if) skl2onnx is imported, so that using the estimators never imports it
_skl2onnx.register_when_imported(MLPClassifier, MLPRegressor)
