"""Scores computed on the device: accuracy for classifiers, R^2 for regressors.

Each returns a 0-d array of the network's backend, so a training loop can
gather every epoch figure into one array and read it with a single host sync.
Which score goes with which loss is ``anynet.tasks.TABLE``'s business.

Training scores the union of its validation rows part by part (the ranks of an
MPI run each hold a part; a single process holds one): each part's ``*_parts``
are computed on its device, and ``pool`` combines them on the host into the
score of all the rows together.
"""
from dataclasses import dataclass

import numpy as np


def _mean(xp, values, w):
    """The mean over rows of ``values`` (n, ...), weighted by the column ``w`` (n, 1)
    normalised to sum 1, or equal when ``w`` is None."""
    if w is None:
        return xp.mean(values, axis=0)
    return xp.sum(values * (w if values.ndim == 2 else w[:, 0]), axis=0)


def argmax_accuracy(xp, Y, P, w=None):
    """Fraction of rows whose most probable class is the target's (one-hot Y, shape (n, C)),
    weighted by ``w`` (a column summing to 1) when given."""
    hits = xp.argmax(P, axis=1) == xp.argmax(Y, axis=1)
    return _mean(xp, xp.astype(hits, P.dtype), w)


def threshold_accuracy(xp, Y, P, w=None):
    """Fraction of rows whose every output, thresholded at 0.5, equals its 0/1 target.

    One output: binary accuracy. Several (multi-label): exact-match accuracy,
    as scikit-learn's ``accuracy_score`` on multi-label targets.
    """
    hits = xp.all((P > 0.5) == (Y > 0.5), axis=1)
    return _mean(xp, xp.astype(hits, P.dtype), w)


def r2(xp, Y, P, w=None):
    """Coefficient of determination, averaged over outputs (scikit-learn's default),
    with sample weights ``w`` (a column summing to 1) as ``r2_score`` weighs them.

    A constant target column scores 1.0 when predicted exactly, else 0.0, as in
    scikit-learn.
    """
    ss_res = _sum(xp, (Y - P) ** 2, w)
    ss_tot = _sum(xp, (Y - _mean(xp, Y, w)) ** 2, w)
    exact = xp.astype(ss_res == 0.0, P.dtype)
    safe_tot = xp.where(ss_tot > 0.0, ss_tot, 1.0)
    score = xp.where(ss_tot > 0.0, 1.0 - ss_res / safe_tot, exact)
    return xp.mean(score)


def _sum(xp, values, w):
    """The sum over rows, each weighted by ``w`` (relative weights: scaled to sum to
    the number of rows, so a sum of equal weights is the plain sum)."""
    if w is None:
        return xp.sum(values, axis=0)
    return xp.sum(values * w, axis=0) * values.shape[0]


def _accuracy_parts(accuracy):
    def parts(xp, Y, P, w=None):  # shape (1,): pooled as a weighted mean
        return xp.reshape(accuracy(xp, Y, P, w), (1,))
    return parts


def r2_parts(xp, Y, P, w=None):
    """Shape (3 * n_outputs,): per output, the mean of Y, the sum of squared
    deviations of Y from that mean, and the residual sum of squares (weighted by
    ``w``, a column summing to 1, when given)."""
    mean = _mean(xp, Y, w)
    return xp.concat([mean, _sum(xp, (Y - mean) ** 2, w), _sum(xp, (Y - P) ** 2, w)])


@dataclass(frozen=True)
class Metric:
    """A score, its name, and its parts for pooling over several parts' rows."""

    name: str          # "accuracy" or "r2": how ``pool`` combines the parts
    score: object      # (xp, Y, P) -> 0-d array
    parts: object      # (xp, Y, P) -> 1-D array of ``width(n_outputs)`` figures
    width: object      # n_outputs -> number of figures in ``parts``


ARGMAX_ACCURACY = Metric("accuracy", argmax_accuracy, _accuracy_parts(argmax_accuracy),
                         lambda n_outputs: 1)
THRESHOLD_ACCURACY = Metric("accuracy", threshold_accuracy,
                            _accuracy_parts(threshold_accuracy), lambda n_outputs: 1)
R2 = Metric("r2", r2, r2_parts, lambda n_outputs: 3 * n_outputs)


def pool(name, parts, counts):
    """The score of several parts' rows together, from their ``*_parts``.

    Parameters
    ----------
    name : {"accuracy", "r2"}
    parts : float array of shape (n_parts, n_figures)
        One row of ``*_parts`` per part (anything for a part without rows).
    counts : int array of shape (n_parts,)
        Rows in each part.
    """
    parts, counts = np.asarray(parts, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    keep = counts > 0
    parts, counts = parts[keep], counts[keep]
    if name == "accuracy":
        return float(np.sum(parts[:, 0] * counts) / np.sum(counts))
    k = parts.shape[1] // 3
    means, m2, res = parts[:, :k], parts[:, k:2 * k], parts[:, 2 * k:]
    n = counts[:, None]
    mean = np.sum(n * means, axis=0) / np.sum(counts)
    ss_tot = np.sum(m2, axis=0) + np.sum(n * (means - mean) ** 2, axis=0)  # Chan et al.
    ss_res = np.sum(res, axis=0)
    safe_tot = np.where(ss_tot > 0.0, ss_tot, 1.0)
    score = np.where(ss_tot > 0.0, 1.0 - ss_res / safe_tot, (ss_res == 0.0) * 1.0)
    return float(np.mean(score))
