"""Loss functions and the gradient that starts the backward pass.

Reductions follow PyTorch's defaults:

=========================  ==========================================  =======================
name                       value                                       allowed output layer
=========================  ==========================================  =======================
``mse``                    mean over all elements of (a - y)^2         any
``sse``                    1/2 * sum of (a - y)^2 (the tutorial's)     any
``binary_cross_entropy``   -mean(y log a + (1 - y) log(1 - a))         sigmoid
``cross_entropy``          -sum(Y log a) / n_samples, Y one-hot        softmax
=========================  ==========================================  =======================

Logarithms are clamped at -100, as ``torch.nn.BCELoss`` does, so a saturated
output gives a large finite loss rather than ``log(0)``, in float32 as in float64.

What each loss means for a task (the output layer it implies, whether it
classifies, its metric and reduction) is ``anynet.tasks.TABLE``; this module
is the arithmetic.
"""

from .activations import ACTIVATIONS

LOG_FLOOR = -100.0
# below exp(-100) in both dtypes: float32 rounds it to its smallest subnormal (log
# -103.3), so the clamp, not the dtype, sets the floor; it keeps log() away from 0
_TINY = 1e-45


def _log(xp, a):
    """log(a) clamped at LOG_FLOOR (-100) in float32 and float64 alike."""
    return xp.maximum(xp.log(xp.maximum(a, _TINY)), LOG_FLOOR)


def mse(xp, y, a):
    d = a - y
    return xp.sum(d * d) / _size(a)


def mse_gradient(xp, y, a):
    return (2.0 / _size(a)) * (a - y)


def sse(xp, y, a):
    d = a - y
    return 0.5 * xp.sum(d * d)


def sse_gradient(xp, y, a):
    return a - y


def binary_cross_entropy(xp, y, a):
    return -xp.sum(y * _log(xp, a) + (1.0 - y) * _log(xp, 1.0 - a)) / _size(a)


def cross_entropy(xp, y, a):
    """``y`` one-hot (or rows of class probabilities), shape (n_samples, n_classes)."""
    return -xp.sum(y * _log(xp, a)) / a.shape[0]


def _size(a):
    return a.shape[0] * a.shape[1]


LOSSES = {
    "mse": mse,
    "sse": sse,
    "binary_cross_entropy": binary_cross_entropy,
    "cross_entropy": cross_entropy,
}
# dL/da for the losses that go through any output activation's backward pass
GRADIENTS = {"mse": mse_gradient, "sse": sse_gradient}

# dL/dz for output/loss pairs whose chain rule collapses to "output minus
# target" (scaled by the reduction). Each is exact: d/dz of the pair's loss.
# The cross-entropies are allowed only here: their dL/da divides by a or 1 - a,
# which underflow to 0 when the output saturates.
FUSED = {
    ("softmax", "cross_entropy"): lambda xp, y, a: (a - y) / a.shape[0],
    ("sigmoid", "binary_cross_entropy"): lambda xp, y, a: (a - y) / _size(a),
    ("identity", "mse"): mse_gradient,
    ("identity", "sse"): sse_gradient,
}


def check_loss(loss, output_activation):
    """Return ``loss`` if it is known and can be differentiated through the output layer."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not a known loss; "
                         f"use one of {', '.join(map(repr, LOSSES))}")
    if loss not in GRADIENTS and (output_activation, loss) not in FUSED:
        need = next(activation for activation, fused in FUSED if fused == loss)
        raise ValueError(f"loss={loss!r} needs output_activation={need!r}, "
                         f"not {output_activation!r}")
    return loss


def output_delta(xp, activation, loss, y, a):
    """dL/dz of the output layer, for outputs ``a`` and targets ``y`` of equal shape."""
    fused = FUSED.get((activation, loss))
    if fused is not None:
        return fused(xp, y, a)
    return ACTIVATIONS[activation][1](xp, a, GRADIENTS[loss](xp, y, a))
