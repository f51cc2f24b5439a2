"""Activation functions, each next to its backward pass.

``ACTIVATIONS`` maps a name to ``(forward, backward)``:

- ``forward(xp, z) -> a`` applies the activation to pre-activations ``z``;
- ``backward(xp, a, grad) -> dL/dz`` takes the activation's *output* ``a`` and
  ``grad = dL/da``. Derivatives written in terms of the output are the textbook
  form the tutorial uses (``sigmoid_derivative(a) = a * (1 - a)``), so the
  backward pass needs only the layer outputs that the forward pass kept.

``softmax`` (not elementwise) and ``exp`` (the Poisson loss's link) are allowed
on the output layer only.
"""

LEAKY_SLOPE = 0.01  # PyTorch's default negative_slope
SIGMOID_CLAMP = 88.0  # sigmoid's bound on -z (anynet._onnx_graph writes it too)


def sigmoid(xp, z):
    """sigma(z) = 1 / (1 + exp(-z)), the tutorial's formula, with -z clamped at 88."""
    # exp(88) is finite in float32 (exp(-z) overflows below z = -88.7), so the
    # clamp alone keeps it finite; below z = -88 the output stays at 6e-39, never 0,
    # so a classifier's predict_log_proba stays finite (scikit-learn's expit too);
    # (1 + tanh(z / 2)) / 2 rounds to exactly 0 from z = -37 on
    return 1.0 / (1.0 + xp.exp(xp.minimum(-z, SIGMOID_CLAMP)))


def sigmoid_backward(xp, a, grad):
    return grad * (a * (1.0 - a))


def tanh(xp, z):
    return xp.tanh(z)


def tanh_backward(xp, a, grad):
    return grad * (1.0 - a * a)


def relu(xp, z):
    return xp.maximum(z, 0.0)


def relu_backward(xp, a, grad):
    # a 0/1 mask times grad: eight times faster on NumPy than where(a > 0, grad, 0)
    mask = xp.astype(a > 0.0, grad.dtype)
    mask *= grad
    return mask


def leaky_relu(xp, z):
    return xp.where(z > 0.0, z, LEAKY_SLOPE * z)


def leaky_relu_backward(xp, a, grad):
    # a > 0 exactly where z > 0, since the slope is positive
    return xp.where(a > 0.0, grad, LEAKY_SLOPE * grad)


def identity(xp, z):
    return z


def identity_backward(xp, a, grad):
    return grad


def exp(xp, z):
    """The Poisson regressor's output layer: a = exp(z) > 0, the mean of a count."""
    return xp.exp(z)


def exp_backward(xp, a, grad):
    return grad * a


def softmax(xp, z):
    """Row-wise softmax; subtracting the row maximum keeps exp() from overflowing."""
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


def softmax_backward(xp, a, grad):
    """The Jacobian-vector product of softmax: a * (grad - sum(grad * a, row))."""
    return a * (grad - xp.sum(grad * a, axis=1, keepdims=True))


ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    "identity": (identity, identity_backward),
    "softmax": (softmax, softmax_backward),
    "exp": (exp, exp_backward),
}
#: Activations allowed on the output layer only.
OUTPUT_ONLY = ("softmax", "exp")


def check_activation(name, *, output=False, argument="activation"):
    """Return ``name``, or raise a ValueError naming ``argument`` and the choices."""
    allowed = [n for n in ACTIVATIONS if output or n not in OUTPUT_ONLY]
    if name in allowed:
        return name
    why = f" ({name} is for the output layer only)" if name in OUTPUT_ONLY else ""
    raise ValueError(f"{argument}={name!r} is not a known activation{why}; "
                     f"use one of {', '.join(map(repr, allowed))}")
