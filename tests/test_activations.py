"""Each activation against its formula, and each backward pass against differences."""
import numpy as np
import pytest

from anynet.activations import ACTIVATIONS, LEAKY_SLOPE

xp = np  # NumPy 2 is an Array API namespace for these elementwise functions
Z = np.linspace(-4.0, 4.0, 17).reshape(1, -1) + 0.03  # no point sits on relu's kink

FORMULAS = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "identity": lambda z: z,
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
    "exp": np.exp,
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_matches_formula(name):
    np.testing.assert_allclose(ACTIVATIONS[name][0](xp, Z), FORMULAS[name](Z), rtol=1e-14,
                               atol=1e-15)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_backward_is_the_vector_jacobian_product(name):
    forward, backward = ACTIVATIONS[name]
    grad = np.random.default_rng(0).standard_normal(Z.shape)
    h = 1e-6
    numeric = np.zeros_like(Z)
    for j in range(Z.shape[1]):
        e = np.zeros_like(Z)
        e[0, j] = h
        numeric[0, j] = np.sum(grad * (forward(xp, Z + e) - forward(xp, Z - e))) / (2 * h)
    np.testing.assert_allclose(backward(xp, forward(xp, Z), grad), numeric, rtol=1e-6,
                               atol=1e-9)


def test_leaky_relu_slope_is_pytorchs():
    assert LEAKY_SLOPE == 0.01
    assert ACTIVATIONS["leaky_relu"][0](xp, np.array([-2.0]))[0] == -0.02


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_overflow_at_extreme_logits(dtype):
    z = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = ACTIVATIONS["sigmoid"][0](xp, z)
        p = ACTIVATIONS["softmax"][0](xp, z)
    np.testing.assert_allclose(s, [[0.0, 0.0, 0.5, 1.0, 1.0]], atol=1e-30)
    np.testing.assert_allclose(p, [[0.0, 0.0, 0.0, 0.0, 1.0]])
    assert s.dtype == dtype and p.dtype == dtype
