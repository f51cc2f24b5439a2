"""The tutorial's seven functions, for any depth and any Array API backend.

``initialize_network``, ``forward_propagation``, ``compute_loss``,
``backward_propagation``, ``update_parameters``, ``train_network`` and
``predict`` keep the tutorial's names and positional parameters. Each public
function checks its input, makes the network's device current and moves the
input there once, then calls the arithmetic in ``anynet.propagation``
(``forward``, ``backward``, ``update``, ``predict``), which does nothing else;
training loops call those directly.
"""
import numbers

from . import _checks, propagation, steps
from ._backend import (backend_of, float_dtype, host_bool, is_array, is_writeable,
                       resolve_backend)
from .activations import check_activation
from .initializers import initial_weights
from .losses import LOSSES, check_loss
from .model import Network, _rebuild  # noqa: F401 (pickles name anynet.network._rebuild)
from .tasks import default_output, kind_of


def _layer_sizes(input_size, hidden_size, output_size):
    """(n_in, h1, ..., n_out) from the tutorial's three sizes or one sequence."""
    if hidden_size is None and output_size is None:
        sizes = input_size
        if isinstance(sizes, numbers.Integral) or not hasattr(sizes, "__len__"):
            raise TypeError("initialize_network takes (input_size, hidden_size, output_size) "
                            f"or one sequence of layer sizes; got {input_size!r}")
    elif hidden_size is None or output_size is None:
        raise TypeError("give input_size, hidden_size and output_size, or one "
                        "sequence of layer sizes")
    else:
        hidden = [hidden_size] if isinstance(hidden_size, numbers.Integral) else list(hidden_size)
        sizes = [input_size, *hidden, output_size]
    sizes = [_checks.positive_int(n, f"layer_sizes[{i}]") for i, n in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size; got {sizes}")
    return sizes


def initialize_network(input_size, hidden_size=None, output_size=None, *,
                       activation="sigmoid", output_activation=None, loss="mse",
                       init="randn", seed=42, backend="numpy", device=None,
                       dtype="float64"):
    """Create a network with drawn weights and zero biases.

    ``initialize_network(2, 2, 1)`` is the tutorial's network (sigmoid layers,
    the weights NumPy's global generator gives after seeding it with 42, NumPy
    float64), drawn from a private generator: the global one is never touched.
    ``initialize_network([784, 256, 128, 10], activation="relu",
    loss="cross_entropy", init="he")`` builds any depth.

    Parameters
    ----------
    input_size : int or sequence of int
        Number of inputs, or the whole ``layer_sizes`` (n_in, hidden..., n_out).
    hidden_size : int or sequence of int, optional
        Size of the hidden layer (or of each hidden layer).
    output_size : int, optional
        Number of outputs.
    activation : {"sigmoid", "tanh", "relu", "leaky_relu", "identity"}
        Activation of the hidden layers.
    output_activation : str, optional
        Activation of the output layer, also "softmax"; by default the one
        ``loss`` implies (``anynet.tasks.TABLE``: softmax for cross_entropy,
        sigmoid for binary_cross_entropy, identity for mse and sse), except that
        the tutorial's network, sigmoid hidden layers with mse or sse, keeps its
        sigmoid output.
    loss : {"mse", "sse", "binary_cross_entropy", "cross_entropy"}
        Loss that ``backward_propagation`` differentiates; ``sse`` is the loss
        whose gradient the tutorial's backprop computes.
    init : {"randn", "xavier", "he"}
        Weight initialiser; see ``anynet.initializers``.
    seed : int
        Seed of the host-side random generator (the same weights on every backend).
    backend : str or module
        "numpy", "cupy", "torch", "jax", "array_api_strict", "auto", or a namespace.
    device : optional
        A device of that backend; when None its current device (CuPy), else its
        default device.
    dtype : {"float64", "float32"}

    Returns
    -------
    Network
    """
    sizes = _layer_sizes(input_size, hidden_size, output_size)
    check_activation(activation)
    if output_activation is None:
        output_activation = default_output(loss, activation)
    check_activation(output_activation, output=True, argument="output_activation")
    check_loss(loss, output_activation)
    if output_activation == "softmax" and sizes[-1] < 2:
        raise ValueError("output_activation='softmax' needs at least 2 outputs; "
                         f"output_size is {sizes[-1]}")
    seed = _checks.seed(seed, init=init)
    be = resolve_backend(backend, device)
    dtype_name, xp_dtype = float_dtype(be, dtype)
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    itemsize = 8 if dtype_name == "float64" else 4
    if be.name in ("numpy", "array_api_strict"):  # the host draw (float64) and the network
        _checks.fits_in_memory(be, n_params * (8 + itemsize), _network_words(sizes, n_params),
                               "use smaller layers")
    else:  # one layer's host draw at a time; the network on the device
        _checks.fits_in_memory(be, n_params * itemsize, _network_words(sizes, n_params),
                               "use smaller layers")
    params = {}
    with be.activate():  # CuPy's zeros() ignores device=: its device must be current
        for layer, W in enumerate(initial_weights(init, sizes, seed), start=1):
            params[f"W{layer}"] = be.xp.asarray(W.astype(dtype_name), device=be.device)
            params[f"b{layer}"] = be.xp.zeros((1, W.shape[1]), dtype=xp_dtype,
                                              device=be.device)
    return Network(params, layer_sizes=sizes, activation=activation,
                   output_activation=output_activation, loss=loss, init=init,
                   seed=seed, backend=be, dtype=dtype_name)


def _network_words(sizes, n_params):
    return f"a {'-'.join(map(str, sizes))} network ({n_params:,} parameters)"


# --- forward ----------------------------------------------------------------

def forward_propagation(network, X):
    """Pass X through the network.

    Parameters
    ----------
    network : Network
    X : array of shape (n_samples, n_inputs)
        Any backend's array, or host data; moved to the network's device once.

    Returns
    -------
    y_pred : array of shape (n_samples, n_outputs)
        The output layer's activations (in the targets' units for a network with
        ``target_scaling``: ``aL * scale + mean``, what ``predict`` gives).
    cache : tuple of arrays
        Every layer's output (a1, ..., aL), which ``backward_propagation``
        needs: the activations' derivatives are taken from their outputs, as in
        the tutorial, so the pre-activations z are not kept.
    """
    _check_network(network)
    with network.backend.activate():
        outputs = propagation.forward(network, network._features(X))
        return network._outputs(outputs[-1]), outputs


def predict(network, X, *, check_finite=True):
    """The output layer's activations for X, shape (n_samples, n_outputs).

    Uses a path that keeps no cache; it equals ``forward_propagation(network, X)[0]``.
    With a ``dask.array`` X the result is a lazy dask array, computed chunk by
    chunk of rows (see ``anynet._dask``). The same as ``network.predict(X)``;
    ``check_finite=False`` skips the check for NaN and infinity, which for data
    already on a GPU reads one boolean back (see ``Network.predict``).
    """
    _check_network(network)
    return network.predict(X, check_finite=check_finite)


# --- loss and backward --------------------------------------------------------

def compute_loss(y_true, y_pred, loss="mse"):
    """The loss of predictions ``y_pred`` against targets ``y_true``, a 0-d array.

    Parameters
    ----------
    y_true : array of shape (n_samples, n_outputs), or (n_samples,)
        Targets; for ``cross_entropy`` also integer class labels of shape
        (n_samples,). Moved to ``y_pred``'s backend and device.
    y_pred : array of shape (n_samples, n_outputs)
        Output activations (probabilities for the cross-entropies).
    loss : {"mse", "sse", "binary_cross_entropy", "cross_entropy"}

    Returns
    -------
    0-d array of ``y_pred``'s backend, device and dtype.
    """
    kind = kind_of(loss)
    if not is_array(y_pred):
        y_pred = resolve_backend("numpy").xp.asarray(_checks._numeric(y_pred, "y_pred"))
    be = backend_of(y_pred)
    xp = be.xp
    dtype = "float32" if y_pred.dtype == xp.float32 else "float64"
    with be.activate():
        if y_pred.ndim == 1:
            y_pred = xp.reshape(y_pred, (-1, 1))
        y_pred = _checks.features(be, dtype, y_pred, y_pred.shape[-1], name="y_pred")
        if kind.is_classifier and not host_bool(xp.all((y_pred >= 0.0) & (y_pred <= 1.0))):
            raise ValueError(f"y_pred must be probabilities in [0, 1] for loss={loss!r}")
        _checks.same_origin(y_true=y_true, y_pred=y_pred)
        y = _checks.targets(be, dtype, y_true, y_pred.shape[0], y_pred.shape[1], loss,
                            name="y_true")
        return LOSSES[loss](xp, y, y_pred)


def backward_propagation(network, cache, X, y):
    """The gradients of the network's loss with respect to every parameter.

    Parameters
    ----------
    network : Network
    cache : tuple of arrays
        The cache ``forward_propagation(network, X)`` returned.
    X : array of shape (n_samples, n_inputs)
    y : array of shape (n_samples, n_outputs)
        Targets (class labels of shape (n_samples,) for cross_entropy).

    Returns
    -------
    dict
        ``{"dW1": dL/dW1, "db1": dL/db1, ...}``, each the shape of its parameter.
        The true gradients: ``update_parameters`` subtracts them. (The tutorial
        adds ``learning_rate * X.T @ ((y - a) * ...)``, which is the same step
        for loss="sse".) A network with ``target_scaling`` is trained on
        standardised targets: y is given in its own units and standardised here.
    """
    _check_network(network)
    _checks.same_origin(X=X, y=y)
    with network.backend.activate():
        X = network._features(X)
        Y = network._targets(_checks.targets(network.backend, network.dtype, y, X.shape[0],
                                             network.layer_sizes[-1], network.loss))
        _check_cache(network, cache, X.shape[0])
        return propagation.backward(network, tuple(cache), X, Y)


# --- update -------------------------------------------------------------------


def update_parameters(network, gradients, learning_rate):
    """One gradient-descent step, in place where the backend allows it.

    Parameters
    ----------
    network : Network
    gradients : dict
        ``backward_propagation``'s result, arrays of the network's backend.
    learning_rate : float
        Step size, > 0.

    Returns
    -------
    Network
        ``network`` itself, updated.
    """
    _check_network(network)
    learning_rate = _checks.positive_number(learning_rate, "learning_rate")
    for key, value in network.items():
        g = gradients.get("d" + key) if isinstance(gradients, dict) else None
        if g is None:
            raise ValueError(f"gradients has no entry 'd{key}'")
        _checks.same_origin(**{key: value, f"gradients['d{key}']": g})
        if tuple(g.shape) != tuple(value.shape) or g.dtype != value.dtype:
            raise ValueError(f"gradients['d{key}'] has shape {tuple(g.shape)} and dtype "
                             f"{g.dtype}; expected {tuple(value.shape)} and {value.dtype}")
    in_place = all(is_writeable(value) for value in network.values())
    with network.backend.activate():
        return propagation.update(network, gradients, learning_rate, in_place)


# --- training -------------------------------------------------------------------

def train_network(X, y, input_size, hidden_size, output_size, epochs, learning_rate,
                  *, verbose=True, print_every=100, **options):
    """Train a new network by full-batch gradient descent, as the tutorial does.

    Parameters
    ----------
    X : array of shape (n_samples, input_size)
    y : array of shape (n_samples, output_size)
        Targets (class labels of shape (n_samples,) for cross_entropy).
    input_size, hidden_size, output_size : int
        ``hidden_size`` may be a sequence for several hidden layers.
    epochs : int
        Number of full-batch steps.
    learning_rate : float
    verbose : bool
        Print "Epoch e, Loss: l" every ``print_every`` epochs, as the tutorial.
    **options
        Keyword arguments of ``initialize_network`` (activation, loss, init,
        seed, backend, device, dtype...).

    Returns
    -------
    Network
    """
    epochs = _checks.positive_int(epochs, "epochs", allow_zero=True)
    learning_rate = _checks.positive_number(learning_rate, "learning_rate")
    print_every = _checks.positive_int(print_every, "print_every")
    net = initialize_network(input_size, hidden_size, output_size, **options)
    _checks.same_origin(X=X, y=y)
    with net.backend.activate():
        X = net._features(X)
        Y = _checks.targets(net.backend, net.dtype, y, X.shape[0], net.layer_sizes[-1],
                            net.loss)
        step, params = steps.gradient_descent_step(net), dict(net)  # compiled on JAX
        for epoch in range(epochs):
            if verbose and epoch % print_every == 0:
                loss = LOSSES[net.loss](net.xp, Y, propagation.predict(net, X))
                print(f"Epoch {epoch}, Loss: {float(loss)}")
            params = step(params, X, Y, learning_rate)
            net.update(params)
    return net


# --- checks -----------------------------------------------------------------------

def _check_network(network):
    if not isinstance(network, Network):
        raise TypeError(f"network must be an anynet Network (from initialize_network), "
                        f"got {type(network).__name__}")


def _check_cache(net, cache, n_samples):
    if not isinstance(cache, (tuple, list)) or len(cache) != net.n_layers:
        raise ValueError(f"cache must be the {net.n_layers} layer outputs that "
                         f"forward_propagation returned")
    for layer, (a, size) in enumerate(zip(cache, net.layer_sizes[1:]), start=1):
        if not is_array(a) or tuple(a.shape) != (n_samples, size):
            raise ValueError(f"cache[{layer - 1}] should have shape ({n_samples}, {size}); "
                             f"was it computed from this X?")
