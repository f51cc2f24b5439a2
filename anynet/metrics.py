"""Scores computed on the device: accuracy for classifiers, R^2 for regressors.

Each returns a 0-d array of the network's backend, so a training loop can
gather every epoch figure into one array and read it with a single host sync.
"""


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


def metric_for(loss):
    """(name, function) of the metric reported for a loss."""
    return ("accuracy", accuracy) if loss in ("cross_entropy", "binary_cross_entropy") \
        else ("r2", r2)
