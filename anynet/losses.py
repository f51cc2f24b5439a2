"""Loss functions and the gradient that starts the backward pass.

Every loss is an average of per-sample losses ``l_i`` over the batch; with
sample weights ``w_i`` it is their weighted average ``sum_i w_i l_i / sum_i w_i``
(scikit-learn's objective), and the sum-reduced ``sse`` becomes ``sum_i w_i l_i``.
The functions take ``w``: None for equal weights, or a column of shape
(n_samples, 1) already normalised by the caller (divided by its sum for the
averaged losses; as given for ``sse``).

===================  ================================================  ==============
name                 per-sample loss ``l_i`` (k outputs)               output layer
===================  ================================================  ==============
``mse``              mean_j (a_ij - y_ij)^2 (PyTorch's MSELoss)        any
``sse``              1/2 sum_j (a_ij - y_ij)^2, summed over samples    any
                     (the tutorial's)
``squared_error``    1/2 mean_j (a_ij - y_ij)^2 (scikit-learn's; its   identity
                     gradient is scikit-learn's too: (a - y) / n,
                     that of 1/2 sum_j, see below)
``binary_cross_      -mean_j [y log a + (1 - y) log(1 - a)]            sigmoid
entropy``            (PyTorch's BCELoss)
``binary_log_loss``  -sum_j [y log p + (1 - y) log(1 - p)]             sigmoid
                     (scikit-learn's, for one or several labels;
                     p = a clipped, see below)
``cross_entropy``    -sum_j y_ij log a_ij, y one-hot                   softmax
``log_loss``         -sum_j y_ij log p_ij, y one-hot, p = a clipped    softmax
                     (scikit-learn's)
``poisson``          sum_j [a - y log a + y log y - y] (half the        exp
                     Poisson deviance, scikit-learn's)
===================  ================================================  ==============

``squared_error`` is scikit-learn's MLPRegressor objective as scikit-learn runs it:
the value it reports averages over the k outputs, but the gradient it descends,
(a - y) / n, is that of the sum over the outputs. With one output the two agree;
with k > 1 the gradient is k times the reported loss's, and the penalty's is not
scaled. ``mse`` (and ``sse``) are consistent: their gradient is their value's.

Logarithms are clamped at -100, as ``torch.nn.BCELoss`` does, so a saturated
output gives a large finite loss rather than ``log(0)``, in float32 as in float64.
scikit-learn's two log losses (``binary_log_loss``, ``log_loss``) instead clip the
probabilities to [eps, 1 - eps], eps the machine epsilon of their dtype
(:func:`clipped_probabilities`), as scikit-learn does: a saturated output costs at
most -log(eps), 36.04 in float64 and 15.94 in float32. Their gradients are
scikit-learn's too (output minus target, not the clipped function's).

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


def _mean(xp, terms, w, per_output):
    """The average over samples (weighted by the column ``w``, or equal) of the
    per-element ``terms`` summed over outputs, divided by ``per_output``."""
    if w is None:
        return xp.sum(terms) / (terms.shape[0] * per_output)
    return xp.sum(w * terms) / per_output


def _scaled(d, w, factor):
    """``factor * d`` averaged over samples: ``factor / n`` each, or ``factor * w_i``."""
    if w is None:
        return (factor / d.shape[0]) * d
    return (factor * w) * d


def mse(xp, y, a, w=None):
    d = a - y
    return _mean(xp, d * d, w, a.shape[1])


def mse_gradient(xp, y, a, w=None):
    return _scaled(a - y, w, 2.0 / a.shape[1])


def sse(xp, y, a, w=None):
    d = a - y
    return 0.5 * xp.sum(d * d if w is None else w * (d * d))


def sse_gradient(xp, y, a, w=None):
    return a - y if w is None else w * (a - y)


def squared_error(xp, y, a, w=None):
    d = a - y
    return 0.5 * _mean(xp, d * d, w, a.shape[1])


def squared_error_gradient(xp, y, a, w=None):
    """scikit-learn's gradient, (a - y) / n whatever the number of outputs k: that of
    1/2 sum_j mean_i (a_ij - y_ij)^2, k times the reported loss's (``mse`` keeps the
    true gradient of its own value)."""
    return _scaled(a - y, w, 1.0)


def _bernoulli(xp, y, a):
    return y * _log(xp, a) + (1.0 - y) * _log(xp, 1.0 - a)


def clipped_probabilities(xp, a):
    """``a`` clipped to [eps, 1 - eps], eps the machine epsilon of its dtype: the
    probabilities scikit-learn's log losses take the logarithm of."""
    eps = float(xp.finfo(a.dtype).eps)
    return xp.minimum(xp.maximum(a, eps), 1.0 - eps)


def binary_cross_entropy(xp, y, a, w=None):
    return -_mean(xp, _bernoulli(xp, y, a), w, a.shape[1])


def binary_log_loss(xp, y, a, w=None):
    """scikit-learn's binary log loss, summed over the labels (columns), averaged
    over the samples; the probabilities clipped (:func:`clipped_probabilities`)."""
    p = clipped_probabilities(xp, a)
    return -_mean(xp, y * xp.log(p) + (1.0 - y) * xp.log(1.0 - p), w, 1)


def cross_entropy(xp, y, a, w=None):
    """``y`` one-hot (or rows of class probabilities), shape (n_samples, n_classes)."""
    return -_mean(xp, y * _log(xp, a), w, 1)


def log_loss(xp, y, a, w=None):
    """scikit-learn's multi-class log loss: ``cross_entropy`` with the probabilities
    clipped (:func:`clipped_probabilities`) instead of the logarithm clamped."""
    return -_mean(xp, y * xp.log(clipped_probabilities(xp, a)), w, 1)


def poisson(xp, y, a, w=None):
    """Half the Poisson deviance: a - y log a + (y log y - y), the last term a
    constant that makes a perfect prediction score 0 (y log y = 0 at y = 0)."""
    y_log_y = xp.where(y > 0.0, y * _log(xp, xp.where(y > 0.0, y, 1.0)), 0.0)
    return _mean(xp, a - y * _log(xp, a) + y_log_y - y, w, 1)


LOSSES = {
    "mse": mse,
    "sse": sse,
    "squared_error": squared_error,
    "binary_cross_entropy": binary_cross_entropy,
    "binary_log_loss": binary_log_loss,
    "cross_entropy": cross_entropy,
    "log_loss": log_loss,
    "poisson": poisson,
}
# dL/da for the losses that go through any output activation's backward pass
GRADIENTS = {"mse": mse_gradient, "sse": sse_gradient}

# dL/dz for output/loss pairs whose chain rule collapses to "output minus
# target" (scaled by the reduction). Each is exact: d/dz of the pair's loss.
# The cross-entropies are allowed only here: their dL/da divides by a or 1 - a,
# which underflow to 0 when the output saturates; so is Poisson's (it divides by a).
FUSED = {
    ("softmax", "cross_entropy"): lambda xp, y, a, w=None: _scaled(a - y, w, 1.0),
    ("softmax", "log_loss"): lambda xp, y, a, w=None: _scaled(a - y, w, 1.0),
    ("sigmoid", "binary_cross_entropy"):
        lambda xp, y, a, w=None: _scaled(a - y, w, 1.0 / a.shape[1]),
    ("sigmoid", "binary_log_loss"): lambda xp, y, a, w=None: _scaled(a - y, w, 1.0),
    ("exp", "poisson"): lambda xp, y, a, w=None: _scaled(a - y, w, 1.0),
    ("identity", "squared_error"): squared_error_gradient,
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


def output_delta(xp, activation, loss, y, a, w=None):
    """dL/dz of the output layer, for outputs ``a`` and targets ``y`` of equal shape
    (and sample weights ``w``, as the losses take them)."""
    fused = FUSED.get((activation, loss))
    if fused is not None:
        return fused(xp, y, a, w)
    return ACTIVATIONS[activation][1](xp, a, GRADIENTS[loss](xp, y, a, w))
