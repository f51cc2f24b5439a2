"""The tutorial's seven functions: the tutorial reproduced, and the API around them."""
import numpy as np
import pytest

import anynet
from anynet.demo import X_XOR, Y_XOR

# The tutorial's code (../shared/seed), run once with NumPy 2.4 float64:
# train_network(X, y, 2, 2, 1, 10000, 0.1), then predict(network, X).
TUTORIAL_WEIGHTS = {
    "W1": [[3.3176785118261454, -3.425626989393367], [6.349234193789369, 6.538269249408454]],
    "b1": [[-0.6711456906625667, 2.631151822106001]],
    "W2": [[4.837858611505348], [-4.770736547165113]],
    "b2": [[-0.06895853045376642]],
}
TUTORIAL_PREDICTIONS = [[0.053003762527797635], [0.4955428599317289],
                        [0.9509175150489789], [0.5031984550295787]]
# np.random.seed(42); np.random.randn(2, 2); np.random.randn(2, 1)
TUTORIAL_INITIAL = {
    "W1": [[0.4967141530112327, -0.13826430117118466], [0.6476885381006925, 1.5230298564080254]],
    "W2": [[-0.23415337472333597], [-0.23413695694918055]],
}


def test_train_network_reproduces_the_tutorial():
    net = anynet.train_network(X_XOR, Y_XOR, 2, 2, 1, 10000, 0.1, loss="sse", verbose=False)
    for key, want in TUTORIAL_WEIGHTS.items():
        np.testing.assert_allclose(net[key], want, rtol=0, atol=1e-10, err_msg=key)
    np.testing.assert_allclose(anynet.predict(net, X_XOR), TUTORIAL_PREDICTIONS,
                               rtol=0, atol=1e-10)


def test_tutorial_initial_weights_without_global_state():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    net = anynet.initialize_network(2, 2, 1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    for key, want in TUTORIAL_INITIAL.items():
        np.testing.assert_array_equal(net[key], want)
    np.testing.assert_array_equal(net["b1"], np.zeros((1, 2)))
    assert (net.activation, net.output_activation, net.loss) == ("sigmoid", "sigmoid", "mse")
    assert net.dtype == "float64" and net["W1"].dtype == np.float64


def test_train_network_prints_every_hundred_epochs(capsys):
    anynet.train_network(X_XOR, Y_XOR, 2, 2, 1, 250, 0.1, loss="sse")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Epoch 0", "Epoch 100", "Epoch 200"]
    # epoch 0's loss is 1/2 sum of squared errors of the initial network
    y_pred, _ = anynet.forward_propagation(anynet.initialize_network(2, 2, 1), X_XOR)
    assert lines[0] == f"Epoch 0, Loss: {0.5 * float(np.sum((Y_XOR - y_pred) ** 2))}"
    anynet.train_network(X_XOR, Y_XOR, 2, 2, 1, 250, 0.1, verbose=False)
    assert capsys.readouterr().out == ""


def test_recommended_settings_solve_xor():
    from anynet.demo import RECOMMENDED
    net = anynet.train_network(X_XOR, Y_XOR, 2, 8, 1, 2000, 0.5, verbose=False, **RECOMMENDED)
    p = anynet.predict(net, X_XOR)
    assert np.all((p > 0.5) == (Y_XOR == 1))
    assert np.max(np.abs(p - Y_XOR)) < 0.05


def test_tutorial_convention_is_the_same_step():
    """The tutorial's `W += lr * X.T @ ((y - a) * a(1 - a))` equals our `W -= lr * dW`."""
    net = anynet.initialize_network(2, 2, 1, loss="sse")
    y_pred, (a1, a2) = anynet.forward_propagation(net, X_XOR)
    grads = anynet.backward_propagation(net, (a1, a2), X_XOR, Y_XOR)
    output_delta = (Y_XOR - a2) * (a2 * (1 - a2))
    hidden_delta = (output_delta @ net["W2"].T) * (a1 * (1 - a1))
    np.testing.assert_array_equal(-grads["dW2"], a1.T @ output_delta)
    np.testing.assert_array_equal(-grads["dW1"], X_XOR.T @ hidden_delta)
    np.testing.assert_array_equal(-grads["db1"], np.sum(hidden_delta, axis=0, keepdims=True))


def test_any_depth_and_layer_sizes():
    net = anynet.initialize_network([4, 8, 6, 5, 3], activation="relu", loss="cross_entropy",
                                    init="he", seed=1)
    assert net.layer_sizes == (4, 8, 6, 5, 3) and net.n_layers == 4
    assert list(net) == ["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"]
    assert net["W3"].shape == (6, 5) and net["b4"].shape == (1, 3)
    assert net.output_activation == "softmax"  # implied by the loss
    same = anynet.initialize_network(4, [8, 6, 5], 3, activation="relu",
                                     loss="cross_entropy", init="he", seed=1)
    for key in net:
        np.testing.assert_array_equal(net[key], same[key])


def test_softmax_outputs_are_probabilities():
    net = anynet.initialize_network([3, 5, 4], loss="cross_entropy", seed=0)
    p = anynet.predict(net, np.random.default_rng(0).standard_normal((7, 3)))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(p > 0)


def test_cross_entropy_takes_labels_or_one_hot():
    net = anynet.initialize_network([3, 5, 4], loss="cross_entropy", seed=0)
    X = np.random.default_rng(0).standard_normal((6, 3))
    labels = np.array([0, 3, 1, 2, 3, 0])
    _, cache = anynet.forward_propagation(net, X)
    g_labels = anynet.backward_propagation(net, cache, X, labels)
    g_column = anynet.backward_propagation(net, cache, X, labels[:, None])
    g_onehot = anynet.backward_propagation(net, cache, X, np.eye(4)[labels])
    for key in g_labels:
        np.testing.assert_array_equal(g_labels[key], g_onehot[key])
        np.testing.assert_array_equal(g_labels[key], g_column[key])


def test_copy_config_and_repr():
    net = anynet.initialize_network([2, 3, 1], activation="tanh", seed=5)
    twin = net.copy()
    twin["W1"] += 1.0
    assert not np.shares_memory(twin["W1"], net["W1"])
    assert twin.config == net.config == {
        "layer_sizes": [2, 3, 1], "activation": "tanh", "output_activation": "identity",
        "loss": "mse", "init": "randn", "seed": 5, "dtype": "float64", "classes": None}
    assert "layer_sizes=(2, 3, 1)" in repr(net) and "backend='numpy'" in repr(net)


@pytest.mark.parametrize("hidden, loss, output", [
    ("sigmoid", "mse", "sigmoid"), ("sigmoid", "sse", "sigmoid"),  # the tutorial's network
    ("tanh", "mse", "identity"), ("relu", "sse", "identity"),
    ("relu", "binary_cross_entropy", "sigmoid"), ("sigmoid", "cross_entropy", "softmax")])
def test_the_default_output_layer_comes_from_the_one_table(hidden, loss, output):
    from anynet.tasks import TABLE, infer_task
    sizes = [2, 3, 2 if loss == "cross_entropy" else 1]
    net = anynet.initialize_network(sizes, activation=hidden, loss=loss)
    assert net.output_activation == output
    if hidden != "sigmoid" or TABLE[loss].is_classifier:  # all but the tutorial's network
        assert output == TABLE[loss].output_activation
    # anynet.train asks the same table for the task it infers
    y = {"mse": np.array([0.5, 2.0]), "sse": np.array([0.5, 2.0]),
         "binary_cross_entropy": np.array([0, 1]), "cross_entropy": np.array([0, 1])}[loss]
    assert infer_task(y, loss).output_activation == TABLE[loss].output_activation


def test_update_parameters_in_place_on_numpy():
    net = anynet.initialize_network([2, 3, 1], seed=0)
    W1 = net["W1"]
    before = W1.copy()
    y_pred, cache = anynet.forward_propagation(net, X_XOR)
    grads = anynet.backward_propagation(net, cache, X_XOR, Y_XOR)
    anynet.update_parameters(net, grads, 0.5)
    assert net["W1"] is W1  # no new array
    np.testing.assert_allclose(W1, before - 0.5 * grads["dW1"])


def test_compute_loss_values():
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    a = np.array([[0.2, 0.6], [0.7, 0.1]])
    d2 = (a - y) ** 2
    assert float(anynet.compute_loss(y, a)) == pytest.approx(d2.mean())
    assert float(anynet.compute_loss(y, a, "sse")) == pytest.approx(0.5 * d2.sum())
    bce = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
    assert float(anynet.compute_loss(y, a, "binary_cross_entropy")) == pytest.approx(bce)
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    ce = -(np.log(0.8) + np.log(0.6)) / 2
    assert float(anynet.compute_loss([1, 0], p, "cross_entropy")) == pytest.approx(ce)
    assert float(anynet.compute_loss(np.eye(2)[[1, 0]], p, "cross_entropy")) == pytest.approx(ce)


def test_compute_loss_is_finite_at_saturation():
    y = np.array([[0.0], [1.0]])
    a = np.array([[1.0], [0.0]])  # certain and wrong: log(0) clamped to -100
    assert float(anynet.compute_loss(y, a, "binary_cross_entropy")) == pytest.approx(100.0)
    p = np.array([[1.0, 0.0]])
    assert float(anynet.compute_loss([1], p, "cross_entropy")) == pytest.approx(100.0)


def test_compute_loss_accepts_a_one_dimensional_prediction():
    assert float(anynet.compute_loss([0.0, 1.0], np.array([0.5, 0.5]))) == pytest.approx(0.25)


def test_update_parameters_replaces_read_only_arrays():
    net = anynet.initialize_network([2, 3, 1], seed=0)
    frozen = net["W1"].copy()
    frozen.flags.writeable = False  # e.g. a view of a file
    net["W1"] = frozen
    y_pred, cache = anynet.forward_propagation(net, X_XOR)
    grads = anynet.backward_propagation(net, cache, X_XOR, Y_XOR)
    anynet.update_parameters(net, grads, 0.5)
    np.testing.assert_allclose(net["W1"], frozen - 0.5 * grads["dW1"])
    assert net["W1"] is not frozen
