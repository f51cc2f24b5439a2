"""The cross-backend matrix: the same code gives the same numbers on every backend."""
import numpy as np
import pytest

import anynet
from anynet import _checks, steps
from anynet.activations import ACTIVATIONS, OUTPUT_ONLY
from anynet.losses import FUSED, GRADIENTS, LOSSES
from conftest import BACKEND_PARAMS, GRADCHECK, assert_on_backend, host, resolve

HIDDEN = [name for name in ACTIVATIONS if name not in OUTPUT_ONLY]
# every output activation / loss pair the library differentiates
PAIRS = [(act, loss) for act in ACTIVATIONS if act != "exp" for loss in GRADIENTS] + [
    pair for pair in FUSED if pair[1] not in GRADIENTS]
# each hidden activation with every pair of PyTorch's losses; scikit-learn's losses
# (the output layer's arithmetic alone differs) behind one hidden activation
CASES = [pytest.param(hidden, pair, id=f"{hidden}-{'-'.join(pair)}") for hidden in HIDDEN
         for pair in PAIRS if hidden == "tanh" or pair[1] not in
         ("squared_error", "binary_log_loss", "log_loss", "poisson")]
# central differences: every case on NumPy; elsewhere every output pair behind tanh and
# every hidden activation before a softmax, so each backend runs each activation's and
# each loss's arithmetic (test_fifty_steps_match_numpy_float64 holds them to NumPy's)
CENTRAL = [pytest.param((*backend.values[0], *case.values),
                        id=f"{backend.id}-{case.id}", marks=backend.marks)
           for backend in BACKEND_PARAMS for case in CASES
           if backend.id == "numpy" or case.values[0] == "tanh"
           or case.values[1] == ("softmax", "cross_entropy")]
SIZES = [3, 4, 5, 3]  # three weight layers


def _data(loss, n=6, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]))
    if loss in ("cross_entropy", "log_loss"):
        y = rng.integers(0, SIZES[-1], size=n)
    elif loss in ("binary_cross_entropy", "binary_log_loss"):
        y = rng.integers(0, 2, size=(n, SIZES[-1])).astype(float)
    elif loss == "poisson":
        y = rng.poisson(1.5, size=(n, SIZES[-1])).astype(float)
    else:
        y = rng.uniform(0.0, 1.0, size=(n, SIZES[-1]))
    return X, y


def _net(backend, hidden, pair, dtype="float64", seed=3):
    return anynet.initialize_network(SIZES, activation=hidden, output_activation=pair[0],
                                     loss=pair[1], init="xavier", seed=seed,
                                     backend=backend, dtype=dtype)


def _loss_at(net, X, Y):
    """The network's loss at its parameters, for checked X and Y on its device: the
    library's own arithmetic (predict, compiled on JAX, is forward_propagation's
    output: tested below), without the public functions' checks at each call."""
    return float(LOSSES[net.loss](net.xp, Y, steps.predictor(net)(dict(net), X)))


def _record(backend, fd=0.0, torch_err=0.0):
    key = backend.name + ("" if backend.name != "array_api_strict" else f"@{backend.device}")
    old = GRADCHECK.get(key, (0.0, 0.0))
    GRADCHECK[key] = (max(old[0], fd), max(old[1], torch_err))


@pytest.mark.parametrize("case", CENTRAL)
def test_gradients_match_central_differences(case):
    name, device, hidden, pair = case
    xp_backend = resolve(name, device)
    X, y = _data(pair[1])
    net = _net(xp_backend, hidden, pair)
    y_pred, cache = anynet.forward_propagation(net, X)
    grads = anynet.backward_propagation(net, cache, X, y)
    params = {k: host(v) for k, v in net.items()}
    # the data checked and on the device once, not at each of the 118 evaluations below
    with xp_backend.activate():
        Xd = net._features(X)
        Yd = _checks.targets(xp_backend, "float64", y, len(X), SIZES[-1], net.loss)
    h, worst = 1e-6, 0.0
    for key, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            for sign in (1, -1):
                shifted = value.copy()
                shifted[idx] += sign * h
                net[key] = xp_backend.xp.asarray(shifted, device=xp_backend.device)
                with xp_backend.activate():
                    numeric[idx] += sign * _loss_at(net, Xd, Yd) / (2 * h)
        net[key] = xp_backend.xp.asarray(value, device=xp_backend.device)
        analytic = host(grads["d" + key])
        if net.loss == "squared_error":  # scikit-learn's gradient: of the outputs' sum
            numeric *= SIZES[-1]
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7, err_msg=key)
        worst = max(worst, float(np.max(np.abs(analytic - numeric))))
    _record(xp_backend, fd=worst)


def _torch_reference(net_params, hidden, pair, X, y):
    """Gradients of the same network and loss, by torch.autograd in float64."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu,
           "leaky_relu": F.leaky_relu, "identity": lambda z: z, "exp": torch.exp}
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in net_params.items()}
    a = torch.tensor(X, dtype=torch.float64)
    L = len(SIZES) - 1
    for layer in range(1, L + 1):
        z = a @ params[f"W{layer}"] + params[f"b{layer}"]
        if layer < L:
            a = act[hidden](z)
    out_act, loss = pair
    target = torch.tensor(y)
    if loss in ("cross_entropy", "log_loss"):
        value = F.cross_entropy(z, target.long())  # from logits: independent of our softmax
    elif loss == "binary_cross_entropy":
        value = F.binary_cross_entropy_with_logits(z, target.double())
    elif loss == "binary_log_loss":  # summed over the outputs, averaged over the samples
        value = F.binary_cross_entropy_with_logits(z, target.double(), reduction="sum") \
            / z.shape[0]
    elif loss == "poisson":  # exp(z) - y z per element (the constant has no gradient)
        value = F.poisson_nll_loss(z, target.double(), log_input=True, reduction="sum") \
            / z.shape[0]
    else:
        a = torch.softmax(z, dim=1) if out_act == "softmax" else act[out_act](z)
        d = a - target.double()
        # squared_error: scikit-learn's gradient, that of the sum over the outputs
        value = {"mse": (d * d).mean(), "squared_error": 0.5 * (d * d).sum() / d.shape[0],
                 "sse": 0.5 * (d * d).sum()}[loss]
    value.backward()
    return {"d" + k: p.grad.numpy() for k, p in params.items()}


@pytest.mark.parametrize("hidden, pair", CASES)
def test_gradients_match_torch_autograd(xp_backend, hidden, pair):
    X, y = _data(pair[1], seed=2)
    net = _net(xp_backend, hidden, pair, seed=4)
    expected = _torch_reference({k: host(v) for k, v in net.items()}, hidden, pair, X, y)
    _, cache = anynet.forward_propagation(net, X)
    grads = anynet.backward_propagation(net, cache, X, y)
    assert list(grads) == list(expected)
    worst = 0.0
    for key, want in expected.items():
        got = host(grads[key])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=key)
        worst = max(worst, float(np.max(np.abs(got - want))))
    _record(xp_backend, torch_err=worst)


TRAIN_CASES = {
    # name: (layer sizes, options, learning rate)
    "tutorial-sse": ([2, 2, 1], dict(loss="sse"), 0.1),
    "relu-softmax-ce": ([3, 8, 6, 3], dict(activation="relu", loss="cross_entropy",
                                           init="he", seed=5), 0.5),
    "tanh-identity-mse": ([3, 6, 2], dict(activation="tanh", output_activation="identity",
                                          init="xavier", seed=6), 0.2),
}


def _train_data(sizes, loss, seed=7):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((16, sizes[0]))
    if loss == "cross_entropy":
        return X, rng.integers(0, sizes[-1], size=16)
    return X, rng.uniform(0.0, 1.0, size=(16, sizes[-1]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_fifty_steps_match_numpy_float64(xp_backend, case, dtype):
    sizes, options, lr = TRAIN_CASES[case]
    X, y = _train_data(sizes, options.get("loss"))
    args = (X, y, sizes[0], sizes[1:-1], sizes[-1], 50, lr)
    reference = anynet.train_network(*args, verbose=False, **options)
    net = anynet.train_network(*args, verbose=False, backend=xp_backend, dtype=dtype, **options)
    for key, want in reference.items():
        assert_on_backend(net[key], xp_backend, dtype)
        if dtype == "float64":
            np.testing.assert_allclose(host(net[key]), want, rtol=0, atol=1e-10, err_msg=key)
        else:
            np.testing.assert_allclose(host(net[key]), want, rtol=1e-4, atol=1e-5, err_msg=key)


def test_training_accepts_data_already_on_the_backend(xp_backend):
    sizes, options, lr = TRAIN_CASES["relu-softmax-ce"]
    X, y = _train_data(sizes, "cross_entropy")
    args = (sizes[0], sizes[1:-1], sizes[-1], 10, lr)
    reference = anynet.train_network(X, y, *args, verbose=False, **options)
    Xb = xp_backend.xp.asarray(X, device=xp_backend.device)
    yb = xp_backend.xp.asarray(y, device=xp_backend.device)
    net = anynet.train_network(Xb, yb, *args, verbose=False, backend=xp_backend, **options)
    for key, want in reference.items():
        np.testing.assert_allclose(host(net[key]), want, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_outputs_keep_namespace_device_and_dtype(xp_backend, dtype):
    X, y = _data("cross_entropy")
    net = anynet.initialize_network(SIZES, activation="relu", loss="cross_entropy",
                                    backend=xp_backend.name, device=xp_backend.device,
                                    dtype=dtype)
    for value in net.values():
        assert_on_backend(value, xp_backend, dtype)
    y_pred, cache = anynet.forward_propagation(net, X)
    for a in (y_pred, *cache):
        assert_on_backend(a, xp_backend, dtype)
    loss = anynet.compute_loss(y, y_pred, "cross_entropy")
    assert_on_backend(loss, xp_backend, dtype)
    assert loss.shape == ()
    grads = anynet.backward_propagation(net, cache, X, y)
    for key, g in grads.items():
        assert_on_backend(g, xp_backend, dtype)
        assert g.shape == net[key[1:]].shape
    assert anynet.update_parameters(net, grads, 0.1) is net
    for value in net.values():
        assert_on_backend(value, xp_backend, dtype)
    assert_on_backend(anynet.predict(net, X), xp_backend, dtype)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output", list(ACTIVATIONS))
def test_predict_equals_forward_propagation(xp_backend, hidden, output):
    X, _ = _data("mse", n=9)
    net = anynet.initialize_network(SIZES, activation=hidden, output_activation=output,
                                    init="he", seed=8, backend=xp_backend)
    y_pred, cache = anynet.forward_propagation(net, X)
    np.testing.assert_array_equal(host(anynet.predict(net, X)), host(y_pred))
    assert cache[-1] is y_pred


def test_same_seed_gives_same_initial_weights(xp_backend):
    for init in ("randn", "xavier", "he"):
        ref = anynet.initialize_network([3, 5, 2], init=init, seed=11)
        net = anynet.initialize_network([3, 5, 2], init=init, seed=11, backend=xp_backend)
        for key, want in ref.items():
            np.testing.assert_array_equal(host(net[key]), want)


def test_large_logits_stay_finite(xp_backend):
    """Softmax, sigmoid and their losses at logits of 1e4: no overflow, no log(0)."""
    for output, loss, n_out in (("softmax", "cross_entropy", 3),
                                ("sigmoid", "binary_cross_entropy", 1)):
        net = anynet.initialize_network([2, n_out], output_activation=output, loss=loss,
                                        backend=xp_backend)
        W = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])[:, :n_out]
        net["W1"] = xp_backend.xp.asarray(W, device=xp_backend.device)
        X = np.array([[1.0, 0.0], [0.0, 1.0]])
        y = np.array([1, 0]) if loss == "cross_entropy" else np.array([[0.0], [1.0]])
        y_pred, cache = anynet.forward_propagation(net, X)
        value = float(anynet.compute_loss(y, y_pred, loss))
        grads = anynet.backward_propagation(net, cache, X, y)
        assert np.all(np.isfinite(host(y_pred)))
        assert np.isfinite(value) and value > 10.0  # confidently wrong: large, finite
        assert all(np.all(np.isfinite(host(g))) for g in grads.values())
