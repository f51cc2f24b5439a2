"""Scores computed on the device: accuracy for classifiers, R^2 for regressors.

Each returns a 0-d array of the network's backend, so a training loop can
gather every epoch figure into one array and read it with a single host sync.

Data-parallel training scores the union of the ranks' validation rows: each
rank computes ``parts`` of its rows on its device and ``pool`` combines every
rank's parts on the host into the score of all the rows together.
"""
import numpy as np


def accuracy(xp, Y, P):
    """Fraction of rows whose predicted class is the target's.

    Y : one-hot rows (n, C) or 0/1 column (n, 1); P : output activations, same shape.
    """
    if P.shape[1] == 1:
        hits = (P > 0.5) == (Y > 0.5)
    else:
        hits = xp.argmax(P, axis=1) == xp.argmax(Y, axis=1)
    return xp.mean(xp.astype(hits, P.dtype))


def r2(xp, Y, P):
    """Coefficient of determination, averaged over outputs (scikit-learn's default).

    A constant target column scores 1.0 when predicted exactly, else 0.0, as in
    scikit-learn.
    """
    ss_res = xp.sum((Y - P) ** 2, axis=0)
    ss_tot = xp.sum((Y - xp.mean(Y, axis=0)) ** 2, axis=0)
    exact = xp.astype(ss_res == 0.0, P.dtype)
    safe_tot = xp.where(ss_tot > 0.0, ss_tot, 1.0)
    score = xp.where(ss_tot > 0.0, 1.0 - ss_res / safe_tot, exact)
    return xp.mean(score)


def accuracy_parts(xp, Y, P):
    """Shape (1,): the accuracy of these rows (pooled as a weighted mean)."""
    return xp.reshape(accuracy(xp, Y, P), (1,))


def r2_parts(xp, Y, P):
    """Shape (3 * n_outputs,): per output, the mean of Y, the sum of squared
    deviations of Y from that mean, and the residual sum of squares."""
    mean = xp.mean(Y, axis=0)
    return xp.concat([mean, xp.sum((Y - mean) ** 2, axis=0), xp.sum((Y - P) ** 2, axis=0)])


def pool(name, parts, counts):
    """The score of several parts' rows together, from their ``*_parts``.

    Parameters
    ----------
    name : {"accuracy", "r2"}
    parts : float array of shape (n_parts, n_figures)
        One row of ``accuracy_parts``/``r2_parts`` per part (anything for a
        part without rows).
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


def metric_parts_for(loss):
    """The ``*_parts`` function that goes with ``metric_for(loss)``."""
    return accuracy_parts if loss in ("cross_entropy", "binary_cross_entropy") else r2_parts


def metric_for(loss):
    """(name, function) of the metric reported for a loss."""
    return ("accuracy", accuracy) if loss in ("cross_entropy", "binary_cross_entropy") \
        else ("r2", r2)
