"""Bad input: a ValueError or TypeError that names the argument, before anything changes."""
import numpy as np
import pytest

import anynet
from conftest import host

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def _net(**kw):
    return anynet.initialize_network([2, 3, 1], seed=0, **kw)


BAD_X = [
    (np.ones(4), ValueError, "X must be 2-D"),
    (np.ones((4, 3)), ValueError, "X has 3 features"),
    (np.ones((0, 2)), ValueError, "X has no samples"),
    (np.ones((2, 2, 2)), ValueError, "X must be 2-D"),
    (np.array([[0.0, np.nan]]), ValueError, "X contains NaN"),
    (np.array([[0.0, np.inf]]), ValueError, "X contains NaN or infinity"),
    (np.array([["a", "b"]]), TypeError, "X has dtype <U1"),
    (np.array([[1 + 1j, 0]]), TypeError, "X has dtype complex128"),
    (np.array([[object(), 1]], dtype=object), TypeError, "X has dtype object"),
    ([[1.0, 2.0], [3.0]], ValueError, "X cannot be read"),
    (None, TypeError, "X is None"),
]


@pytest.mark.parametrize("bad, error, message", BAD_X)
def test_bad_X_everywhere(bad, error, message):
    net = _net()
    for call in (lambda: anynet.predict(net, bad),
                 lambda: anynet.forward_propagation(net, bad),
                 lambda: anynet.train_network(bad, Y[:1], 2, 3, 1, 5, 0.1, verbose=False)):
        with pytest.raises(error, match=message):
            call()


def test_bool_and_integer_inputs_are_numbers():
    net = _net()
    as_float = anynet.predict(net, X)
    np.testing.assert_array_equal(anynet.predict(net, X.astype(int)), as_float)
    np.testing.assert_array_equal(anynet.predict(net, X.astype(bool)), as_float)
    np.testing.assert_array_equal(anynet.predict(net, X.tolist()), as_float)


@pytest.mark.parametrize("loss, bad, message", [
    ("mse", np.ones((3, 1)), "y has 3 samples but X has 4"),
    ("mse", np.ones((4, 2)), r"y must have shape \(4, 1\)"),
    ("mse", np.array([[0.0], [np.nan], [1.0], [0.0]]), "y contains NaN"),
    ("mse", np.full((4, 1), "x"), "y has dtype"),
    ("binary_cross_entropy", np.array([[0.0], [2.0], [1.0], [0.0]]), r"y must lie in \[0, 1\]"),
    ("mse", np.ones((4, 1, 1)), "y must be 1-D or 2-D"),
])
def test_bad_y(loss, bad, message):
    net = _net(loss=loss)
    _, cache = anynet.forward_propagation(net, X)
    with pytest.raises((ValueError, TypeError), match=message):
        anynet.backward_propagation(net, cache, X, bad)
    with pytest.raises((ValueError, TypeError), match=message):
        anynet.train_network(X, bad, 2, 3, 1, 5, 0.1, loss=loss, verbose=False)


@pytest.mark.parametrize("labels, message", [
    ([0, 1, 3, 0], r"class labels 0..2"),
    ([0, -1, 2, 0], r"class labels 0..2"),
    ([0, 0.5, 2, 0], r"class labels 0..2"),
    (np.array([[0.5, 0.5, 0.5]] * 4), "rows must be one-hot or sum to 1"),
    (np.array([[1.5, -0.5, 0.0]] * 4), r"must lie in \[0, 1\]"),
])
def test_bad_class_labels(labels, message):
    net = anynet.initialize_network([2, 3, 3], loss="cross_entropy")
    _, cache = anynet.forward_propagation(net, X)
    with pytest.raises(ValueError, match=message):
        anynet.backward_propagation(net, cache, X, labels)
    with pytest.raises(ValueError, match=message):
        anynet.compute_loss(labels, anynet.predict(net, X), "cross_entropy")


def test_arrays_from_two_backends_or_devices():
    torch = pytest.importorskip("torch")
    strict = pytest.importorskip("array_api_strict")
    net = _net()
    _, cache = anynet.forward_propagation(net, X)
    with pytest.raises(ValueError, match=r"y is on torch \(cpu\) but X is on array_api_strict"):
        anynet.backward_propagation(net, cache, strict.asarray(X), torch.asarray(Y))
    on_cpu = strict.asarray(X)
    on_dev1 = strict.asarray(Y, device=strict.Device("device1"))
    with pytest.raises(ValueError, match="device1"):
        anynet.train_network(on_cpu, on_dev1, 2, 3, 1, 5, 0.1, verbose=False)
    # host data mix with any backend: copied to the network's device
    anynet.backward_propagation(net, cache, torch.asarray(X), Y)


def test_bad_update_changes_nothing():
    net = _net()
    before = {k: v.copy() for k, v in net.items()}
    _, cache = anynet.forward_propagation(net, X)
    grads = anynet.backward_propagation(net, cache, X, Y)
    wrong_shape = dict(grads, db2=np.zeros((1, 2)))
    missing = {k: v for k, v in grads.items() if k != "db2"}
    cases = [(wrong_shape, ValueError, r"gradients\['db2'\] has shape \(1, 2\)"),
             (missing, ValueError, "gradients has no entry 'db2'"),
             (grads, ValueError, "learning_rate must be > 0")]
    for g, error, message in cases:
        lr = -0.1 if g is grads else 0.1
        with pytest.raises(error, match=message):
            anynet.update_parameters(net, g, lr)
        for key, value in before.items():
            np.testing.assert_array_equal(net[key], value)
    with pytest.raises(TypeError, match="learning_rate must be a real number"):
        anynet.update_parameters(net, grads, "0.1")


def test_bad_cache():
    net = _net()
    with pytest.raises(ValueError, match="cache must be the 2 layer outputs"):
        anynet.backward_propagation(net, (), X, Y)
    _, cache = anynet.forward_propagation(net, X[:2])
    with pytest.raises(ValueError, match=r"cache\[0\] should have shape \(4, 3\)"):
        anynet.backward_propagation(net, cache, X, Y)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(activation="swish"), ValueError, "activation='swish' is not a known activation"),
    (dict(activation="softmax"), ValueError, "softmax is for the output layer only"),
    (dict(output_activation="gelu"), ValueError, "output_activation='gelu'"),
    (dict(loss="hinge"), ValueError, "loss='hinge' is not a known loss"),
    (dict(loss="cross_entropy", output_activation="sigmoid"), ValueError,
     "loss='cross_entropy' needs output_activation='softmax', not 'sigmoid'"),
    (dict(loss="binary_cross_entropy", output_activation="identity"), ValueError,
     "needs output_activation='sigmoid'"),
    (dict(loss="cross_entropy"), ValueError, "softmax' needs at least 2 outputs"),
    (dict(init="orthogonal"), ValueError, "init='orthogonal' is not a known initialiser"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(seed=1.5), TypeError, "seed must be an integer"),
    (dict(dtype="float16"), TypeError, "dtype='float16' is not supported"),
    (dict(dtype="int32"), TypeError, "dtype='int32' is not supported"),
    (dict(backend="tensorflow"), ValueError, "backend='tensorflow' is not known"),
    (dict(backend=np.linalg), TypeError, "backend must be a name or an Array API namespace"),
    (dict(device="cuda:7"), ValueError, "device='cuda:7' is not a device of backend 'numpy'"),
])
def test_bad_configuration(kwargs, error, message):
    with pytest.raises(error, match=message):
        anynet.initialize_network([2, 3, 1], **kwargs)


@pytest.mark.parametrize("sizes, error, message", [
    ([2], ValueError, "at least an input and an output"),
    ([2, 0, 1], ValueError, r"layer_sizes\[1\] must be > 0"),
    ([2, 3.5, 1], TypeError, r"layer_sizes\[1\] must be an integer"),
    (5, TypeError, "or one sequence of layer sizes"),
])
def test_bad_layer_sizes(sizes, error, message):
    with pytest.raises(error, match=message):
        anynet.initialize_network(sizes)
    with pytest.raises(TypeError, match="give input_size, hidden_size and output_size"):
        anynet.initialize_network(2, 3)


@pytest.mark.parametrize("args, error, message", [
    ((-1, 0.1), ValueError, "epochs must be >= 0"),
    ((10, -0.1), ValueError, "learning_rate must be > 0"),
    ((10, float("nan")), ValueError, "learning_rate must be > 0 and finite"),
    ((2.5, 0.1), TypeError, "epochs must be an integer"),
])
def test_bad_training_arguments(args, error, message):
    with pytest.raises(error, match=message):
        anynet.train_network(X, Y, 2, 3, 1, *args, verbose=False)


def test_not_a_network():
    with pytest.raises(TypeError, match="network must be an anynet Network"):
        anynet.predict({"W1": np.ones((2, 1)), "b1": np.zeros((1, 1))}, X)


def test_compute_loss_checks_predictions():
    with pytest.raises(ValueError, match=r"y_pred must be probabilities in \[0, 1\]"):
        anynet.compute_loss(Y, Y * 2.0, "binary_cross_entropy")
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        anynet.compute_loss(Y, Y * np.nan)
    with pytest.raises(ValueError, match=r"y_true must have shape \(4, 1\)"):
        anynet.compute_loss(np.ones((4, 2)), Y)
    with pytest.raises(ValueError, match="loss='l1' is not a known loss"):
        anynet.compute_loss(Y, Y, "l1")


def test_bad_input_on_the_device(xp_backend):
    """The same checks on data that already live on the backend's device."""
    xp, dev = xp_backend.xp, xp_backend.device
    net = anynet.initialize_network([2, 3, 1], backend=xp_backend)
    before = {k: host(v) for k, v in net.items()}
    with pytest.raises(ValueError, match="X contains NaN"):
        anynet.predict(net, xp.asarray(np.array([[np.nan, 0.0]]), device=dev))
    with pytest.raises(ValueError, match="X has 3 features"):
        anynet.predict(net, xp.asarray(np.ones((2, 3)), device=dev))
    _, cache = anynet.forward_propagation(net, X)
    with pytest.raises(ValueError, match="y contains NaN"):
        anynet.backward_propagation(net, cache, X, xp.asarray(Y * np.nan, device=dev))
    for key, value in before.items():
        np.testing.assert_array_equal(host(net[key]), value)
